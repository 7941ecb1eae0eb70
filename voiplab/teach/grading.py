"""Graded exercises: release the student version, grade a submission outside the student's kernel.

The trust model (``docs/grading.md``): the student's kernel is untrusted. It produces
answers and the artifacts they came from (its captures, their SHA-256), nothing more.
Grading a submission here, or with nbgrader (:mod:`voiplab.teach.nbgrader_plugin`), is:

1. the grade cells and locked cells are restored from the instructor's version (as
   ``nbgrader autograde`` does): whatever the student did to a check cell is undone;
2. the student's code is read for tampering (:mod:`voiplab.teach.tamper`): custom
   exception handlers, input transformers, patched voiplab names, rebound captures,
   files outside the submission; each finding is reported and scores 0 for the exercises
   it can affect;
3. the notebook runs in a sandbox (:mod:`voiplab.teach.sandbox`): a fresh temporary
   directory holding only the submission's notebook and captures, a minimal environment,
   the course hidden, a timeout that kills every process of the run;
4. the grader picks its own copy of the student's captures (the instructor's offline
   ones, or those the student recorded, checked against the manifest and the variant),
   computes the expected answers in its own process (:mod:`voiplab.teach.graders`) and
   compares them, part by part, with the answers each check cell recorded; the feedback
   says what is wrong and, for common mistakes, why.

The notebooks follow nbgrader's markup, so :func:`release` makes the student version
(solutions replaced by ``raise NotImplementedError()``) and nbgrader can use the same
files. Cell metadata is nbgrader's (schema version 3)::

    {"nbgrader": {"grade": true, "grade_id": "ex1_check", "points": 2, "solution": false,
                  "locked": true, "schema_version": 3, "task": false}}

Taught in ``docs/grading.md`` (for instructors) and the graded notebooks (``notebooks/exercises/``).
"""

from __future__ import annotations

import copy
import html
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core.digest import verify_authorization
from ..errors import VoipLabError
from . import graders
from .answers import ANSWER_VERSION, OFFLINE_DIR, RECORDED_DIR, AnswerRecord, answer_records
from .graders.base import AssignmentSpec, Exercise, GradingContext
from .sandbox import run_notebook
from .tamper import imported_names, kernel_findings, scan_source
from .variants import MANIFEST, Captures, Variant, read_captures, variant_for

__all__ = [
    "BEGIN_HIDDEN_TESTS",
    "BEGIN_SOLUTION",
    "CODE_STUB",
    "END_HIDDEN_TESTS",
    "END_SOLUTION",
    "SCHEMA_VERSION",
    "TEXT_STUB",
    "CellGrade",
    "GradeReport",
    "PartGrade",
    "clear_hidden_tests",
    "clear_solutions",
    "feedback_outputs",
    "grade",
    "grade_cells",
    "grader_captures",
    "merge_outputs",
    "release",
    "restore_from_source",
    "score",
    "submission_files",
    "tamper_findings",
    "trusted_ids",
]

BEGIN_SOLUTION = "### BEGIN SOLUTION"
END_SOLUTION = "### END SOLUTION"
BEGIN_HIDDEN_TESTS = "### BEGIN HIDDEN TESTS"
END_HIDDEN_TESTS = "### END HIDDEN TESTS"
#: what replaces a solution region in a code cell (nbgrader's Python stub)
CODE_STUB = "# YOUR CODE HERE\nraise NotImplementedError()"
#: what replaces a solution region in a markdown cell
TEXT_STUB = "YOUR ANSWER HERE"
#: nbgrader's cell metadata schema version
SCHEMA_VERSION = 3
#: seconds one cell may run when grading (offline captures: the setup cell takes ~1 s)
DEFAULT_TIMEOUT_S = 60
#: longest reason kept from an error message
MAX_REASON = 300


# ---------------------------------------------------------------------------- nbgrader markup


def _meta(cell: Mapping[str, Any]) -> dict[str, Any]:
    return dict(cell.get("metadata", {}).get("nbgrader", {}) or {})


def _is_grade(cell: Mapping[str, Any]) -> bool:
    return bool(_meta(cell).get("grade"))


def _is_solution(cell: Mapping[str, Any]) -> bool:
    return bool(_meta(cell).get("solution"))


def _is_locked(cell: Mapping[str, Any]) -> bool:
    m = _meta(cell)
    return bool(m.get("locked")) or (bool(m.get("grade")) and not m.get("solution"))


def _source(cell: Mapping[str, Any]) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else str(src)


def _replace_region(source: str, begin: str, end: str, stub: str | None, where: str) -> tuple[str, bool]:
    """Replace (``stub``) or remove (``None``) every ``begin``..``end`` region, markers included."""
    out: list[str] = []
    inside, found = False, False
    for line in source.split("\n"):
        if begin in line:
            if inside:
                raise VoipLabError(f"{where} has '{begin}' twice without '{end}': close the first region")
            inside, found = True, True
            if stub is not None:
                indent = line[: len(line) - len(line.lstrip())]
                out.extend(indent + s for s in stub.split("\n"))
        elif end in line:
            if not inside:
                raise VoipLabError(f"{where} has '{end}' without '{begin}': open the region first")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise VoipLabError(f"{where} has '{begin}' without '{end}': close the region")
    text = "\n".join(out)
    return (text.rstrip() if found else text), found


def clear_solutions(source: str, cell_type: str = "code", where: str = "the cell") -> str:
    """The student version of an answer cell: each solution region replaced by the stub.

    A code region becomes ``# YOUR CODE HERE`` / ``raise NotImplementedError()`` (at the
    indentation of ``### BEGIN SOLUTION``); a markdown region becomes ``YOUR ANSWER HERE``.
    An answer cell without markers is replaced whole, as nbgrader does.

    Raises:
        VoipLabError: the markers are unbalanced.

    Taught in the exercises notebook (how the student version is made).
    """
    stub = CODE_STUB if cell_type == "code" else TEXT_STUB
    text, found = _replace_region(source, BEGIN_SOLUTION, END_SOLUTION, stub, where)
    return text if found else stub


def clear_hidden_tests(source: str, where: str = "the cell") -> str:
    """A grade cell without its hidden tests (the markers and every line between them removed).

    Raises:
        VoipLabError: the markers are unbalanced.

    Taught in the exercises notebook.
    """
    return _replace_region(source, BEGIN_HIDDEN_TESTS, END_HIDDEN_TESTS, None, where)[0]


def _where(cell: Mapping[str, Any], index: int) -> str:
    gid = _meta(cell).get("grade_id")
    return f"cell {index}" + (f" ({gid})" if gid else "")


def _check_metadata(nb: Mapping[str, Any], name: str) -> None:
    seen: set[str] = set()
    for i, cell in enumerate(nb["cells"]):
        meta = _meta(cell)
        src = _source(cell)
        if (BEGIN_SOLUTION in src) and not meta.get("solution"):
            raise VoipLabError(f"{name}: {_where(cell, i)} has '{BEGIN_SOLUTION}' but is not an answer cell: "
                               'set "solution": true in its nbgrader metadata')
        if (BEGIN_HIDDEN_TESTS in src) and not meta.get("grade"):
            raise VoipLabError(f"{name}: {_where(cell, i)} has hidden tests but is not a grade cell: "
                               'set "grade": true and "points" in its nbgrader metadata')
        if not meta:
            continue
        gid = meta.get("grade_id")
        if not gid:
            raise VoipLabError(f"{name}: cell {i} has nbgrader metadata without a grade_id: give it a unique one")
        if gid in seen:
            raise VoipLabError(f"{name}: grade_id {gid!r} is used twice: grade ids must be unique")
        seen.add(gid)
        if meta.get("grade") and not isinstance(meta.get("points"), (int, float)):
            raise VoipLabError(f"{name}: grade cell {gid!r} has no points: add \"points\": N to its metadata")


def _read(path: str | os.PathLike[str]) -> Any:
    try:
        import nbformat  # nbformat: only when a notebook is released or graded
    except ImportError:  # pragma: no cover - nbformat comes with jupyterlab
        raise VoipLabError("nbformat is not installed: pip install nbformat (it comes with jupyterlab)") from None
    try:
        return nbformat.read(str(path), as_version=4)
    except (OSError, ValueError) as e:
        raise VoipLabError(f"the notebook {path} could not be read ({e}): pass an .ipynb file") from None


def release(source_nb: str | os.PathLike[str], out_nb: str | os.PathLike[str]) -> Path:
    """Write the student version of an instructor's notebook.

    * answer cells: every ``### BEGIN SOLUTION``..``### END SOLUTION`` region replaced by
      ``# YOUR CODE HERE`` / ``raise NotImplementedError()``;
    * grade cells: every ``### BEGIN HIDDEN TESTS``..``### END HIDDEN TESTS`` region removed;
    * every output and execution count cleared;
    * the nbgrader cell metadata kept, so the result can be graded (here or by nbgrader).

    Parameters:
        source_nb: the instructor's version (``notebooks/source/exercises.ipynb``).
        out_nb: where to write the student version (``notebooks/exercises.ipynb``).

    Returns:
        The path written.

    Raises:
        VoipLabError: unbalanced markers, or inconsistent nbgrader metadata.

    Taught in the exercises notebook.
    """
    import nbformat  # nbformat: only when a notebook is released or graded

    nb = _read(source_nb)
    name = Path(source_nb).name
    _check_metadata(nb, name)
    for i, cell in enumerate(nb.cells):
        where = f"{name}: {_where(cell, i)}"
        if _is_solution(cell):
            cell.source = clear_solutions(_source(cell), cell.cell_type, where)
        if _is_grade(cell) and cell.cell_type == "code":
            cell.source = clear_hidden_tests(_source(cell), where)
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        for transient in ("execution", "collapsed", "scrolled"):
            cell.metadata.pop(transient, None)
    out = Path(out_nb)
    out.parent.mkdir(parents=True, exist_ok=True)
    nbformat.validate(nb)
    nbformat.write(nb, str(out))
    return out


def restore_from_source(nb: Any, source: Any) -> list[str]:
    """Overwrite grade cells and locked cells with the instructor's version (as nbgrader autograde).

    A cell whose ``grade_id`` is not the source's, or repeats one already seen, loses its
    nbgrader metadata: it is then the student's own cell, read for tampering like the others.

    Returns the grade ids of the source's grade cells missing from ``nb``.
    """
    by_id = {_meta(c)["grade_id"]: c for c in source.cells if _meta(c).get("grade_id")}
    present = set()
    for cell in nb.cells:
        gid = _meta(cell).get("grade_id")
        if gid not in by_id or gid in present:
            cell.metadata.pop("nbgrader", None)
            continue
        present.add(gid)
        original = by_id[gid]
        if _is_solution(original):
            # the student's answer stays; only what it is worth comes from the source
            cell.metadata["nbgrader"] = copy.deepcopy(dict(original.metadata["nbgrader"]))
        elif _is_grade(original) or _is_locked(original):
            cell.source = _source(original)
            cell.cell_type = original.cell_type
            cell.metadata["nbgrader"] = copy.deepcopy(dict(original.metadata["nbgrader"]))
    return [gid for gid, c in by_id.items() if _is_grade(c) and gid not in present]


def trusted_ids(source: Any) -> frozenset[str]:
    """The grade ids of the instructor's cells whose code is the instructor's (grade or locked, not answers)."""
    return frozenset(str(_meta(c)["grade_id"]) for c in source.cells if _meta(c).get("grade_id")
                     and not _is_solution(c) and (_is_grade(c) or _is_locked(c)))


# ---------------------------------------------------------------------------- reports


@dataclass(frozen=True)
class PartGrade:
    """The score of one part of an exercise: its points and what the student is told."""

    name: str
    points: float
    max_points: float
    message: str

    def to_dict(self) -> dict[str, Any]:
        """The JSON form."""
        return {"name": self.name, "points": self.points, "max_points": self.max_points, "message": self.message}


def _points(value: float) -> str:
    return f"{value:g}"


@dataclass(frozen=True)
class CellGrade:
    """The score of one check cell (one exercise).

    Attributes:
        grade_id: the cell's nbgrader ``grade_id`` (``"ex2_check"``).
        points: the points earned (partial credit: the sum of the parts right).
        max_points: what the cell is worth.
        passed: every part right.
        reason: why points were lost, in one line (``""`` when none).
        error: the check cell's own error, last line (``""`` if none).
        parts: each part's score and message.
        tampering: what the grader found that a graded answer may not do (the cell scores 0).
        manual: a written answer, graded by hand (in nbgrader's formgrader).

    Taught in ``docs/grading.md``.
    """

    grade_id: str
    points: float
    max_points: float
    passed: bool
    reason: str = ""
    error: str = ""
    parts: tuple[PartGrade, ...] = ()
    tampering: tuple[str, ...] = ()
    manual: bool = False

    @property
    def feedback(self) -> list[str]:
        """What the student reads for this exercise, one line each."""
        if self.manual:
            return ["a written answer: graded by hand"]
        lines = [f"tampering: {t}" for t in self.tampering]
        if not self.tampering:
            lines += [f"{_points(p.points)}/{_points(p.max_points)} {p.message}" for p in self.parts]
        if self.reason and not self.parts:
            lines.append(self.reason)
        return lines or ["right"]

    def to_dict(self) -> dict[str, Any]:
        """The JSON form."""
        return {"grade_id": self.grade_id, "points": self.points, "max_points": self.max_points,
                "passed": self.passed, "reason": self.reason, "error": self.error,
                "parts": [p.to_dict() for p in self.parts], "tampering": list(self.tampering),
                "manual": self.manual}


@dataclass(frozen=True)
class GradeReport:
    """The grade of one notebook: one :class:`CellGrade` per check cell, in notebook order.

    Attributes:
        notebook: the graded notebook's path.
        cells: the check cells' scores (written answers: ``manual``, 0 until graded by hand).
        note: what went wrong with the run as a whole (a timeout, a dead kernel), or ``""``.
        student, assignment: whose, which.
        isolation: how the notebook ran (``"namespaces, as nobody"``, ``"weak: ..."``).
        captures: which captures the grader used (``"offline"``, ``"lab"``) and why, or why none.

    Displayed as a table in a notebook; ``to_json()`` for scripts (``voiplab exercises grade --json``).

    Taught in ``docs/grading.md``.
    """

    notebook: str
    cells: tuple[CellGrade, ...]
    note: str = ""
    student: str = ""
    assignment: str = ""
    isolation: str = ""
    captures: str = ""
    executed: Any = field(default=None, repr=False, compare=False)

    @property
    def total(self) -> float:
        """The points earned (written answers not counted until graded by hand)."""
        return sum(c.points for c in self.cells)

    @property
    def max_total(self) -> float:
        """The points available, written answers included."""
        return sum(c.max_points for c in self.cells)

    @property
    def auto_max_total(self) -> float:
        """The points the grader can give by itself (written answers excluded)."""
        return sum(c.max_points for c in self.cells if not c.manual)

    @property
    def failed(self) -> tuple[CellGrade, ...]:
        """The check cells that lost points."""
        return tuple(c for c in self.cells if not c.passed and not c.manual)

    @property
    def tampering(self) -> list[str]:
        """Every tampering finding, with its cell."""
        return [f"{c.grade_id}: {t}" for c in self.cells for t in c.tampering]

    def __getitem__(self, grade_id: str) -> CellGrade:
        for c in self.cells:
            if c.grade_id == grade_id:
                return c
        raise KeyError(grade_id)

    def to_dict(self) -> dict[str, Any]:
        """``{"notebook", "student", "assignment", "total", "max_total", "note", "isolation", "captures", "cells"}``."""
        return {"notebook": self.notebook, "student": self.student, "assignment": self.assignment,
                "total": self.total, "max_total": self.max_total, "auto_max_total": self.auto_max_total,
                "note": self.note, "isolation": self.isolation, "captures": self.captures,
                "cells": [c.to_dict() for c in self.cells]}

    def to_json(self, indent: int | None = 2) -> str:
        """:meth:`to_dict` as a JSON string."""
        return json.dumps(self.to_dict(), indent=indent)

    def __repr__(self) -> str:
        failed = self.failed
        which = f", failed: {', '.join(c.grade_id for c in failed)}" if failed else ""
        note = f"; {self.note}" if self.note else ""
        return (f"GradeReport({Path(self.notebook).name}: {_points(self.total)}/{_points(self.auto_max_total)} "
                f"points, {len([c for c in self.cells if not c.manual]) - len(failed)}/"
                f"{len([c for c in self.cells if not c.manual])} check cells passed{which}{note})")

    def _repr_html_(self) -> str:
        rows = []
        for c in self.cells:
            colour = "#eeeeee" if c.manual else ("#d4f7d4" if c.passed else "#f7d4d4")
            rows.append(f"<tr style='background:{colour}'><td>{html.escape(c.grade_id)}</td>"
                        f"<td>{_points(c.points)}</td><td>{_points(c.max_points)}</td>"
                        f"<td style='text-align:left'>{'<br>'.join(html.escape(x) for x in c.feedback)}</td></tr>")
        note = f"<p><b>Note:</b> {html.escape(self.note)}</p>" if self.note else ""
        return (f"<p><b>{html.escape(Path(self.notebook).name)}</b> ({html.escape(self.student)}): "
                f"{_points(self.total)} / {_points(self.auto_max_total)} points graded automatically</p>"
                "<table><tr><th>check cell</th><th>points</th><th>out of</th><th>feedback</th></tr>"
                + "".join(rows) + "</table>" + note)


def grade_cells(notebook: str | os.PathLike[str] | Any) -> list[dict[str, Any]]:
    """The nbgrader metadata of every grade cell (``grade_id``, ``points``, ...), in order.

    Taught in ``docs/grading.md``.
    """
    nb = notebook if hasattr(notebook, "cells") else _read(notebook)
    return [_meta(c) for c in nb.cells if _is_grade(c)]


def _error_line(cell: Any) -> str:
    """The last line of the cell's error (``"AssertionError: ..."``), or ``""``."""
    for output in cell.get("outputs", []):
        if output.get("output_type") == "error":
            ename, evalue = str(output.get("ename", "Error")), str(output.get("evalue", "")).strip()
            line = f"{ename}: {evalue.splitlines()[-1]}" if evalue else ename
            return line[:MAX_REASON]
    return ""


# ---------------------------------------------------------------------------- the captures the grader trusts


def _verify_variant(caps: Captures, variant: Variant) -> str | None:
    """Why ``caps`` were not recorded in ``variant``'s lab, or None when they were."""
    try:
        reg = caps.experiment("register", variant)
        exchange = reg.auth_exchange("REGISTER")
        if exchange.authorized is None or not verify_authorization(exchange.authorized.message,
                                                                   variant.rpi_password):
            return "rpi's REGISTER in them was not made with your variant's password"
        call = caps.experiment("call", variant)
        invite = next((m for m in call.flow.messages if m.method == "INVITE"), None)
        if invite is None or invite.message.uri is None or invite.message.uri.user != variant.alcatel_number:
            return f"the call in them does not dial your variant's Alcatel ({variant.alcatel_number})"
    except (VoipLabError, ValueError, TypeError, KeyError) as e:
        return f"they could not be read ({e})"
    return None


def grader_captures(directory: str | os.PathLike[str], student: str, *,
                    offline: str | os.PathLike[str] | None = None) -> tuple[Captures | None, str]:
    """The captures the grader uses for ``student``, and a line saying which (or why none).

    First the student's own recording (``recorded/``), if its manifest names the student,
    its files are the ones it names and they were recorded in the student's variant; else
    the instructor's offline captures for the student (``offline/<student>/`` when
    ``offline`` is given, else ``captures/<student>/`` of the submission, which nbgrader
    overwrites with the instructor's copy before grading).

    Taught in ``docs/grading.md``.
    """
    variant = variant_for(student)
    notes: list[str] = []
    recorded = Path(directory) / RECORDED_DIR
    if (recorded / MANIFEST).is_file():
        try:
            caps = read_captures(recorded)
            problem = None if caps.student == student else f"they were recorded for {caps.student}"
            problem = problem or _verify_variant(caps, variant)
        except VoipLabError as e:
            problem = str(e)
        if problem is None:
            return caps, f"the captures {student} recorded in their lab ({RECORDED_DIR}/)"
        notes.append(f"the captures in {RECORDED_DIR}/ were not used: {problem}")
    base = Path(offline) if offline is not None else Path(directory) / OFFLINE_DIR
    where = base / student
    if (where / MANIFEST).is_file():
        try:
            caps = read_captures(where)
            problem = None if caps.student == student else f"they were recorded for {caps.student}"
            problem = problem or _verify_variant(caps, variant)
        except VoipLabError as e:
            problem = str(e)
        if problem is None:
            return caps, "; ".join(notes + [f"the offline captures recorded for {student} at release time"])
        notes.append(f"the offline captures for {student} were not used: {problem}")
    else:
        notes.append(f"there are no offline captures for {student}")
    return None, "; ".join(notes)


# ---------------------------------------------------------------------------- tampering


def _editable(cell: Any, trusted: frozenset[str]) -> bool:
    """A code cell whose code is the student's: any cell but the instructor's grade and locked cells."""
    return cell.cell_type == "code" and str(_meta(cell).get("grade_id", "")) not in trusted


def tamper_findings(nb: Any, spec: AssignmentSpec, trusted: frozenset[str]) -> dict[str, list[str]]:
    """check cell ``grade_id`` -> what the student's code does that a graded answer may not (by exercise).

    ``nb`` has its grade and locked cells restored from the source; ``trusted`` are their
    grade ids (:func:`trusted_ids`): every other code cell is read. A kernel-wide finding
    counts against every exercise whose check cell comes after it; a local one (a
    forbidden helper) against the exercise of its answer cell.
    """
    positions = {_meta(c).get("grade_id"): i for i, c in enumerate(nb.cells) if _is_grade(c)}
    modules = imported_names(_source(c) for c in nb.cells if c.cell_type == "code")
    order = [(positions[e.grade_id], e) for e in spec.exercises if e.grade_id in positions]
    found: dict[str, list[str]] = {e.grade_id: [] for e in spec.exercises}
    for i, cell in enumerate(nb.cells):
        if not _editable(cell, trusted):
            continue
        gid = str(_meta(cell).get("grade_id", ""))
        owner: Exercise | None = next((e for e in spec.exercises if gid and gid in e.answer_ids), None)
        if owner is None:
            owner = next((e for pos, e in sorted(order, key=lambda x: x[0]) if pos > i), None)
        forbidden = owner.forbidden if owner is not None else ()
        where = f"cell {i}" + (f" ({gid})" if gid else "")
        for f in scan_source(_source(cell), protected=spec.protected, forbidden=forbidden, modules=modules):
            text = f"{where}: {f}"
            if f.kernel_wide:
                for pos, e in order:
                    if pos > i and text not in found[e.grade_id]:
                        found[e.grade_id].append(text)
            elif owner is not None and text not in found[owner.grade_id]:
                found[owner.grade_id].append(text)
    return found


# ---------------------------------------------------------------------------- scoring


def _answer_errors(nb: Any, upto: int) -> list[str]:
    """The errors of the answer cells just before cell ``upto`` (for the feedback)."""
    errors = []
    for cell in reversed(nb.cells[:upto]):
        if _is_grade(cell):
            break
        if cell.cell_type == "code" and not _is_locked(cell):
            err = _error_line(cell)
            if err:
                errors.append(f"answer {_meta(cell).get('grade_id', 'cell')}: {err}")
    return list(reversed(errors))


def score(nb: Any, spec: AssignmentSpec, context: GradingContext, *, sources: Any = None,
          tampering: Mapping[str, Sequence[str]]) -> list[CellGrade]:
    """Score each check cell of an executed notebook from the answers it recorded.

    Parameters:
        nb: the executed notebook (its outputs are the kernel's: untrusted, read as data).
        spec: the assignment's grader.
        context: the student, their variant and the grader's own copy of their captures.
        sources: the notebook as the grader sent it to the kernel (default: ``nb``, whose
            sources the grader must have restored itself).
        tampering: :func:`tamper_findings` of ``sources``.

    Returns:
        One :class:`CellGrade` per grade cell of the source, in order (written answers
        ``manual``, 0 points until graded by hand).
    """
    trusted = sources if sources is not None else nb
    found = dict(tampering)
    results: list[CellGrade] = []
    for i, cell in enumerate(trusted.cells):
        meta = _meta(cell)
        if not _is_grade(cell):
            continue
        gid = str(meta.get("grade_id", ""))
        worth = float(meta.get("points", 0))
        exercise = spec.exercise(gid)
        if exercise is None and cell.cell_type != "code":
            results.append(CellGrade(gid, 0.0, worth, False, "graded by hand (a written answer)", manual=True))
            continue
        if exercise is None:
            results.append(CellGrade(gid, 0.0, worth, False, f"the grader of {spec.name} has no exercise for the "
                                                             f"check cell {gid}: fix the source or the grader"))
            continue
        executed = nb.cells[i] if i < len(nb.cells) else None
        outputs = executed.get("outputs", []) if executed is not None else []
        results.append(_score_exercise(exercise, gid, worth, outputs, context, list(found.get(gid, [])),
                                       _answer_errors(nb, i), _error_line(executed) if executed is not None else ""))
    return results


def _score_exercise(exercise: Exercise, gid: str, worth: float, outputs: Sequence[Mapping[str, Any]],
                    context: GradingContext, tampering: list[str], answer_errors: list[str],
                    cell_error: str) -> CellGrade:
    records = [r for r in answer_records(outputs) if r["exercise"] == exercise.key]
    if records:
        for f in kernel_findings(records[-1]["kernel"]):
            tampering.append(f"the kernel said: {f}")
    if len(answer_records(outputs)) > 1:
        tampering.append("the check cell recorded several answers: something else wrote into its output")
    if tampering:
        return CellGrade(gid, 0.0, worth, False, f"tampering: {tampering[0]}", cell_error,
                         tampering=tuple(tampering))
    if not records:
        why = answer_errors[0] if answer_errors else (cell_error or "the check cell did not run")
        return CellGrade(gid, 0.0, worth, False, f"no answer was recorded ({why})", cell_error)
    record: AnswerRecord = records[-1]
    if record["version"] != ANSWER_VERSION or record["student"] != context.student:
        return CellGrade(gid, 0.0, worth, False, f"the answers were recorded for {record['student']!r}, not for "
                         f"{context.student!r}: run the notebook as yourself", cell_error)
    if exercise.captures:
        if context.captures is None:
            return CellGrade(gid, 0.0, worth, False, "there is no capture of yours to check the answers against",
                             cell_error)
        graded = {n: context.captures[n].sha256 for n in exercise.captures}
        used = set(record["captures"].values())
        foreign = [h for h in used if h not in {f.sha256 for f in context.captures.files.values()}]
        if foreign or not used & set(graded.values()):
            return CellGrade(gid, 0.0, worth, False, "tampering: the answers were computed from another capture "
                             f"than yours (SHA-256 {', '.join(sorted(used))[:80] or 'none'}): the capture "
                             "variable was rebound", cell_error,
                             tampering=("the capture variable was rebound to another capture",))
    try:
        parts = exercise.parts(context)
    except VoipLabError as e:
        return CellGrade(gid, 0.0, worth, False, f"the grader could not compute the expected answer: {e}",
                         cell_error)
    graded_parts = []
    for part in parts:
        value = record["values"].get(part.name)
        verdict = part.check(value)
        message = verdict.message
        if value is None and answer_errors:
            message = f"{message}; {answer_errors[-1]}"
        graded_parts.append(PartGrade(part.name, part.points if verdict.ok else 0.0, part.points, message))
    total = sum(p.points for p in graded_parts)
    max_parts = sum(p.max_points for p in graded_parts)
    points = round(total * worth / max_parts, 4) if max_parts else 0.0
    wrong = [p.message for p in graded_parts if p.points < p.max_points]
    reason = wrong[0] if wrong else ""
    return CellGrade(gid, points, worth, not wrong, reason, cell_error, parts=tuple(graded_parts))


# ---------------------------------------------------------------------------- grading a submission


def feedback_outputs(cell: CellGrade) -> list[dict[str, Any]]:
    """The outputs that replace a check cell's when grading with nbgrader: the feedback, then the score.

    nbgrader gives a code grade cell the number of its ``execute_result`` as partial credit.
    """
    text = "\n".join(cell.feedback) + "\n"
    return [{"output_type": "stream", "name": "stdout", "text": text},
            {"output_type": "execute_result", "execution_count": None, "metadata": {},
             "data": {"text/plain": _points(cell.points)}}]


def _hidden_directories(*paths: str | os.PathLike[str] | None) -> list[str]:
    """What a sandboxed notebook must not see: the given directories and the checkout's ``course/``."""
    out = [str(Path(p).resolve()) for p in paths if p is not None and Path(p).exists()]
    checkout_course = Path(__file__).resolve().parents[2] / "course"
    if checkout_course.is_dir():
        out.append(str(checkout_course))
    return sorted(set(out))


def submission_files(directory: str | os.PathLike[str], student: str) -> dict[str, Path]:
    """The files of a submission the notebook may read in the sandbox: its captures, and only its student's."""
    d = Path(directory)
    files: dict[str, Path] = {}
    for sub in (Path(RECORDED_DIR), Path(OFFLINE_DIR) / student):
        folder = d / sub
        if folder.is_dir() and not folder.is_symlink():
            for f in folder.iterdir():
                if f.is_file() and not f.is_symlink() and f.stat().st_size < 64 * 1024 * 1024:
                    files[str(sub / f.name)] = f
    return files


def grade(student_nb: str | os.PathLike[str], assignment: str, student: str, *,
          source_nb: str | os.PathLike[str], offline: str | os.PathLike[str] | None = None,
          timeout: float = DEFAULT_TIMEOUT_S, kernel_name: str = "python3",
          hide: Sequence[str | os.PathLike[str]] = (), allow_weak: bool = False,
          executed_nb: str | os.PathLike[str] | None = None) -> GradeReport:
    """Grade one submission: restore, read for tampering, run sandboxed, check the answers outside the kernel.

    Parameters:
        student_nb: the submitted notebook (its directory holds its ``recorded/`` captures).
        assignment: the assignment id (``"ch5_rtp"``): which grader.
        student: the student id (their variant).
        source_nb: the instructor's version: its grade and locked cells replace the
            submission's (a deleted check cell scores 0); every other cell is the student's.
        offline: the instructor's offline captures (``<offline>/<student>/``); default:
            the submission's ``captures/<student>/``.
        timeout: seconds each cell may run; the first cell over it stops the run.
        kernel_name: the Jupyter kernel.
        hide: more directories the notebook must not see (the source's, the submission's,
            the offline captures' and the checkout's ``course/`` are always hidden).
        allow_weak: grade even where the notebook cannot be isolated (no root, no user
            namespaces): see :mod:`voiplab.teach.sandbox`.
        executed_nb: also write the executed notebook, with the feedback, here.

    Returns:
        A :class:`GradeReport`.

    Raises:
        VoipLabError: a notebook cannot be read, or the assignment has no grader.

    Taught in ``docs/grading.md``.
    """
    import nbformat  # nbformat: only when a submission is graded

    spec = graders.spec(assignment)
    path = Path(student_nb)
    nb = _read(path)
    source = _read(source_nb)
    missing = restore_from_source(nb, source)
    points = {str(m["grade_id"]): float(m.get("points", 0)) for m in grade_cells(source)}
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    trusted = copy.deepcopy(nb)
    findings = tamper_findings(trusted, spec, trusted_ids(source))
    caps, which = grader_captures(path.parent, student, offline=offline)
    result = run_notebook(nb, submission_files(path.parent, student), timeout=timeout,
                          env={"VOIPLAB_STUDENT": student}, kernel_name=kernel_name, name=path.name,
                          allow_weak=allow_weak,
                          hide=_hidden_directories(path.parent, Path(source_nb).parent, offline, *hide))
    executed = merge_outputs(trusted, result.notebook)
    context = GradingContext(student, variant_for(student), caps)
    cells = score(executed, spec, context, sources=trusted, tampering=findings)
    for gone in missing:
        cells.append(CellGrade(gone, 0.0, points.get(gone, 0.0), False, "the check cell was deleted from the "
                               "notebook: never delete check cells", "missing"))
    by_id = {c.grade_id: c for c in cells}
    for cell in executed.cells:
        cell_id = _meta(cell).get("grade_id")
        if _is_grade(cell) and cell.cell_type == "code" and cell_id in by_id:
            cell.outputs = [nbformat.from_dict(o) for o in feedback_outputs(by_id[cell_id])]
    if executed_nb is not None:
        nbformat.write(executed, str(executed_nb))
    return GradeReport(str(path), tuple(cells), result.note, student, assignment, result.isolation, which,
                       executed=executed)


def merge_outputs(trusted: Any, executed: Any) -> Any:
    """The grader's notebook with the kernel's outputs, cell by cell (sources stay the grader's)."""
    out = copy.deepcopy(trusted)
    if executed is None:
        return out
    ran = list(executed.cells)
    for i, cell in enumerate(out.cells):
        if cell.cell_type != "code" or i >= len(ran) or ran[i].get("cell_type") != "code":
            continue
        outputs = ran[i].get("outputs", [])
        cell.outputs = list(outputs) if isinstance(outputs, list) else []
        count = ran[i].get("execution_count")
        cell.execution_count = count if isinstance(count, int) else None
    return out
