"""nbgrader's autograde with voiplab's grader: a sandboxed run, then the answers checked outside the kernel.

``course/nbgrader_config.py`` calls :func:`configure`, which replaces nbgrader's
``Execute`` step of ``nbgrader autograde`` with two preprocessors:

* :class:`SandboxedExecute` runs the notebook (its grade and locked cells already restored
  by nbgrader's ``OverwriteCells``) in :func:`voiplab.teach.sandbox.run_notebook`: a fresh
  temporary directory with the submission's captures only, a minimal environment, the
  course directory and the exchange hidden, ``nobody`` when nbgrader runs as root, every
  process killed at the first cell over the timeout;
* :class:`CheckAnswers`, in nbgrader's own process, reads the student's code for
  tampering, picks the grader's copy of the student's captures, computes the expected
  answers (:mod:`voiplab.teach.graders`) and replaces each check cell's output with the
  feedback and its score, which nbgrader reads as partial credit (an ``execute_result``
  holding a number); written answers stay for manual grading.

Everything after (``SaveAutoGrades``, ``generate_feedback``, ``export``) is nbgrader's. This
module imports nbgrader: only nbgrader loads it (from ``course/nbgrader_config.py``).

Taught in ``docs/grading.md``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nbconvert.preprocessors import ClearMetadataPreprocessor, Preprocessor
from nbformat import from_dict, read
from nbgrader.preprocessors import AssignLatePenalties, CheckCellMetadata, IgnorePattern, LimitOutput, SaveAutoGrades
from traitlets import Bool, Float, List, Unicode

from . import graders
from .graders.base import GradingContext
from .grading import (
    DEFAULT_TIMEOUT_S,
    feedback_outputs,
    grader_captures,
    merge_outputs,
    score,
    submission_files,
    tamper_findings,
    trusted_ids,
)
from .sandbox import run_notebook
from .variants import variant_for

__all__ = ["CheckAnswers", "SandboxedExecute", "configure"]


def _course_root(preprocessor: Preprocessor, resources: dict[str, Any]) -> Path:
    """nbgrader's course directory: ``CourseDirectory.root``, else the autograded notebook's ``../../..``."""
    root = preprocessor.config.get("CourseDirectory", {}).get("root")
    if root:
        return Path(str(root)).resolve()
    return Path(str(resources["metadata"]["path"])).resolve().parents[2]


class SandboxedExecute(Preprocessor):  # type: ignore[misc]  # nbconvert's classes are untyped
    """nbgrader's ``Execute``, sandboxed (see the module docstring)."""

    enabled = Bool(True)
    timeout = Float(DEFAULT_TIMEOUT_S, help="seconds each cell may run; the first cell over it stops the run"
                    ).tag(config=True)
    kernel_name = Unicode("python3", help="the Jupyter kernel").tag(config=True)
    hide = List(Unicode(), help="more directories the notebooks must not see").tag(config=True)
    allow_weak = Bool(False, help="grade even where the notebooks cannot be isolated (no root, no user "
                                  "namespaces): they could then read and write the course").tag(config=True)

    def preprocess(self, nb: Any, resources: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        student = str(resources["nbgrader"]["student"])
        here = Path(str(resources["metadata"]["path"]))
        exchange = self.config.get("Exchange", {}).get("root")
        hide = [str(_course_root(self, resources)), *(self.hide or []), *([str(exchange)] if exchange else [])]
        result = run_notebook(nb, submission_files(here, student), timeout=float(self.timeout),
                              env={"VOIPLAB_STUDENT": student}, hide=hide, kernel_name=str(self.kernel_name),
                              name=f"{resources['nbgrader']['notebook']}.ipynb", allow_weak=bool(self.allow_weak))
        resources.setdefault("voiplab", {}).update(note=result.note, isolation=result.isolation)
        if result.note:
            self.log.warning("%s: %s", student, result.note)
        return merge_outputs(nb, result.notebook), resources


class CheckAnswers(Preprocessor):  # type: ignore[misc]  # nbconvert's classes are untyped
    """The answers of each check cell compared, in nbgrader's process, with the expected ones."""

    enabled = Bool(True)
    offline = Unicode("", help="the offline captures recorded at release time (DIR/<student>/); default: the "
                               "submission's captures/, which nbgrader restores from the source").tag(config=True)

    def preprocess(self, nb: Any, resources: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        student = str(resources["nbgrader"]["student"])
        assignment = str(resources["nbgrader"]["assignment"])
        here = Path(str(resources["metadata"]["path"]))
        spec = graders.spec(assignment)
        notebook = f"{resources['nbgrader']['notebook']}.ipynb"
        source_path = _course_root(self, resources) / "source" / assignment / notebook
        trusted = trusted_ids(read(str(source_path), as_version=4))
        findings = tamper_findings(nb, spec, trusted)
        caps, which = grader_captures(here, student, offline=self.offline or None)
        cells = {c.grade_id: c for c in score(nb, spec, GradingContext(student, variant_for(student), caps),
                                               tampering=findings)}
        for cell in nb.cells:
            meta = cell.metadata.get("nbgrader", {})
            if meta.get("grade") and cell.cell_type == "code" and meta.get("grade_id") in cells:
                gid = meta["grade_id"]
                cell.outputs = [from_dict(o) for o in feedback_outputs(cells[gid])]
        tampering = [f"{c.grade_id}: {t}" for c in cells.values() for t in c.tampering]
        for line in tampering:
            self.log.warning("%s, %s: tampering: %s", student, assignment, line)
        resources.setdefault("voiplab", {}).update(captures=which, tampering=tampering,
                                                   scores={g: c.points for g, c in cells.items()})
        self.log.info("%s, %s: %s", student, assignment, which)
        return nb, resources


def configure(c: Any, *, timeout: float = DEFAULT_TIMEOUT_S) -> None:
    """Make ``nbgrader autograde`` use the sandbox and voiplab's grader (call it in ``nbgrader_config.py``)."""
    c.Autograde.autograde_preprocessors = [SandboxedExecute, CheckAnswers, IgnorePattern, ClearMetadataPreprocessor,
                                           LimitOutput, SaveAutoGrades, AssignLatePenalties, CheckCellMetadata]
    c.SandboxedExecute.timeout = timeout
