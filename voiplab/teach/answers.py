"""The student's side of the graded exercises: your variant, your captures, your answers.

A graded notebook starts with a locked setup cell::

    import voiplab as vl
    work = vl.assignment("ch5_rtp")     # your variant and your captures
    call_exp = work.call                 # the recorded call (vl.Experiment)

and each locked check cell ends with ``work.submit("ex2", using=call_exp, lost=lost, ...)``:
the answers, and the SHA-256 of the capture they were computed from, are written into the
cell's output as one JSON record (:data:`ANSWER_MIME`). That is all the kernel does: the
expected values are computed later, by the grader, in its own process, from your own
capture and your variant (:mod:`voiplab.teach.grading`). Nothing here knows the right
answers, so nothing here can be patched to get them.

Where the captures come from (:func:`assignment`), first found:

1. ``recorded/``: captures you recorded in your lab (``captures.json`` names you);
2. a new recording, when this machine may capture and runs a local lab
   (:func:`voiplab.teach.variants.record_captures`: the lab restarts with your variant for
   about 15 s, then comes back as it was); never while grading (``VOIPLAB_SAMPLES=1``);
3. ``captures/<your id>/``: the captures your instructor recorded for your variant and
   released with the assignment (for students who cannot capture).

Taught in the graded exercises (``notebooks/exercises/``).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypedDict

import numpy as np

from ..capture.live import capture_methods
from ..config import LabConfig, load_config
from ..devices import sipconfig
from ..errors import VoipLabError
from .experiments import Experiment
from .variants import (
    MANIFEST,
    Captures,
    Variant,
    g711_target,
    read_captures,
    record_captures,
    sha256_of,
    student_id,
    variant_for,
)

__all__ = [
    "ANSWER_MIME",
    "ANSWER_VERSION",
    "OFFLINE_DIR",
    "RECORDED_DIR",
    "AnswerRecord",
    "Assignment",
    "answer_records",
    "assignment",
    "broken_sipconfig",
    "jsonable",
]

#: the MIME type of an answer record in a check cell's output (the one message from kernel to grader)
ANSWER_MIME = "application/vnd.voiplab.answer+json"
ANSWER_VERSION = 1
#: the captures a student recorded in their own lab (beside the notebook)
RECORDED_DIR = "recorded"
#: the instructor's captures, one directory per student id (released with the assignment)
OFFLINE_DIR = "captures"
#: environment variable: never record (grading, or a student told to use the released captures)
NO_RECORDING_ENV = "VOIPLAB_SAMPLES"
#: set by nbgrader in the kernels it runs itself (never in voiplab's sandbox)
NBGRADER_EXECUTION_ENV = "NBGRADER_EXECUTION"
#: the largest answer record kept (characters of JSON)
MAX_RECORD_CHARS = 64_000


class AnswerRecord(TypedDict):
    """What a check cell submits: ``{"version", "assignment", "exercise", "student", "captures", "values", "kernel"}``.

    ``captures`` maps each capture name the answers used to its SHA-256; ``kernel`` is what
    the kernel says about itself (custom exception handler, input transformers...): a hint
    for the grader, which decides from the notebook's source (a kernel can lie).
    """

    version: int
    assignment: str
    exercise: str
    student: str
    captures: dict[str, str]
    values: dict[str, object]
    kernel: dict[str, object]


def jsonable(value: object, depth: int = 0) -> object:
    """``value`` as JSON data: numpy scalars and arrays, tuples, sets and paths made plain."""
    if depth > 8:
        return repr(value)[:200]
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        f = float(value)
        return f if math.isfinite(f) else repr(f)
    if isinstance(value, np.ndarray):
        return [jsonable(v, depth + 1) for v in value.tolist()]
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value, key=repr) if isinstance(value, (set, frozenset)) else value
        return [jsonable(v, depth + 1) for v in items]
    if isinstance(value, Mapping):
        return {str(k): jsonable(v, depth + 1) for k, v in value.items()}
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


def answer_records(outputs: Iterable[Mapping[str, object]]) -> list[AnswerRecord]:
    """The answer records among a cell's outputs (JSON of type :data:`ANSWER_MIME`)."""
    found: list[AnswerRecord] = []
    for out in outputs:
        data = out.get("data")
        if not isinstance(data, Mapping) or ANSWER_MIME not in data:
            continue
        record = data[ANSWER_MIME]
        if isinstance(record, str):
            try:
                record = json.loads(record)
            except ValueError:
                continue
        if isinstance(record, dict) and isinstance(record.get("values"), dict):
            found.append(AnswerRecord(
                version=int(record.get("version", 0)) if isinstance(record.get("version"), int) else 0,
                assignment=str(record.get("assignment", "")), exercise=str(record.get("exercise", "")),
                student=str(record.get("student", "")),
                captures={str(k): str(v) for k, v in dict(record.get("captures") or {}).items()},
                values=dict(record["values"]), kernel=dict(record.get("kernel") or {})))
    return found


def _kernel_state() -> dict[str, object]:
    """What this kernel looks like: hooks a graded notebook never needs (a hint for the grader)."""
    try:
        from IPython import get_ipython  # IPython: only inside a Jupyter kernel
    except ImportError:  # pragma: no cover - IPython comes with ipykernel
        return {}
    ip = get_ipython()
    if ip is None:
        return {}
    state: dict[str, object] = {
        "custom_exceptions": [getattr(e, "__name__", str(e)) for e in getattr(ip, "custom_exceptions", ())],
        "input_transformers_post": len(getattr(ip, "input_transformers_post", []) or []),
        "ast_transformers": len(getattr(ip, "ast_transformers", []) or []),
    }
    manager = getattr(ip, "input_transformer_manager", None)
    if manager is not None:
        state["input_transforms"] = len(getattr(manager, "cleanup_transforms", [])) + len(
            getattr(manager, "line_transforms", []))
    events = getattr(ip, "events", None)
    if events is not None:
        state["event_callbacks"] = {k: len(v) for k, v in getattr(events, "callbacks", {}).items()}
    return state


@dataclass
class Assignment:
    """One graded assignment as a student's kernel sees it: who, which variant, which captures.

    Attributes:
        name: the assignment (``"ch5_rtp"``).
        student: the student id (:func:`~voiplab.teach.variants.student_id`).
        variant: the student's :class:`~voiplab.teach.variants.Variant`.
        captures: the captures the answers come from (their files, SHA-256, how they were made).
        lab: the lab configuration of the variant (numbers, passwords, codec, the Alcatel's signal).

    Taught in the graded exercises.
    """

    name: str
    student: str
    variant: Variant
    captures: Captures | None
    lab: LabConfig
    _experiments: dict[str, Experiment] = field(default_factory=dict, repr=False)
    _baseline: dict[str, object] = field(default_factory=dict, repr=False)

    def __repr__(self) -> str:
        where = (f"captures {self.captures.how} in {self.captures.directory}" if self.captures is not None
                 else "no captures")
        return f"Assignment({self.name} for {self.student}: {self.variant!r}; {where})"

    def experiment(self, name: str) -> Experiment:
        """The capture ``name`` (``"register"`` or ``"call"``) as an Experiment (its flow and RTP streams).

        Raises:
            VoipLabError: this assignment has no captures.
        """
        if self.captures is None:
            raise VoipLabError(f"the assignment {self.name} uses no capture: vl.assignment(..., captures=True)")
        if name not in self._experiments:
            self._experiments[name] = self.captures.experiment(name, self.variant)
        return self._experiments[name]

    @property
    def register(self) -> Experiment:
        """The registration: REGISTER, 401, REGISTER with Authorization, 200 OK."""
        return self.experiment("register")

    @property
    def call(self) -> Experiment:
        """The call rpi -> the Alcatel (both B2BUA legs, direct media, DTMF)."""
        return self.experiment("call")

    @property
    def g711_target(self) -> tuple[int, int]:
        """Chapter 5: which byte to decode by hand: ``(packet index, byte offset)`` in the Alcatel's stream to rpi."""
        return g711_target(self.call.stream("alcatel", "rpi"), self.variant)

    def broken_sipconfig(self) -> dict[str, str]:
        """The provisioning files of your Alcatel, broken in four places (chapter 7's exercise)."""
        return broken_sipconfig(self.variant, self.lab)

    def submit(self, exercise: str, *, using: Experiment | Iterable[Experiment] | None = None,
               names: Iterable[str] = (), **answers: object) -> None:
        """Record answers for ``exercise`` in this cell's output (the grader reads it there).

        Parameters:
            exercise: the exercise (``"ex2"``).
            using: the experiment(s) the answers were computed from: their captures' SHA-256
                go with the answers, so an answer computed from another capture is seen.
            names: variables of the notebook to submit (one left undefined is submitted as
                None: the other parts are still graded).
            answers: more values, by name.

        Taught in the graded exercises (the check cells call it; you do not need to).
        """
        if os.environ.get(NBGRADER_EXECUTION_ENV):
            raise VoipLabError("this notebook is being graded by nbgrader's own Execute step, which would give "
                               "every check cell full marks: grade it with voiplab's configuration "
                               "(course/nbgrader_config.py, see docs/grading.md)")
        if names:
            answers = {**_user_values(names), **answers}
        used = [using] if isinstance(using, Experiment) else list(using or [])
        captures: dict[str, str] = {}
        for exp in used:
            name = next((n for n, e in self._experiments.items() if e is exp), None)
            label = name or f"capture{len(captures) + 1}"
            captures[label] = sha256_of(exp.pcap) if exp.pcap is not None else ""
        record = AnswerRecord(version=ANSWER_VERSION, assignment=self.name, exercise=str(exercise),
                              student=self.student, captures=captures,
                              values={str(k): jsonable(v) for k, v in answers.items()},
                              kernel={"now": _kernel_state(), "setup": self._baseline})
        text = json.dumps(record)
        if len(text) > MAX_RECORD_CHARS:
            raise VoipLabError(f"the answers of {exercise} are {len(text)} characters of JSON, more than "
                               f"{MAX_RECORD_CHARS}: submit the values asked for, not whole arrays")
        shown = ", ".join(f"{k}={v!r}"[:60] for k, v in record["values"].items())
        try:
            from IPython.display import display  # IPython: only inside a Jupyter kernel
        except ImportError:  # pragma: no cover
            print(text)
            return
        display({ANSWER_MIME: record, "text/plain": f"{exercise}: answers recorded ({shown}); they are "
                                                    "checked when your notebook is graded"}, raw=True)


def _user_values(names: Iterable[str]) -> dict[str, object]:
    """The notebook's variables ``names`` (None for those not defined)."""
    try:
        from IPython import get_ipython  # IPython: only inside a Jupyter kernel
    except ImportError:  # pragma: no cover
        return {n: None for n in names}
    ip = get_ipython()
    user = ip.user_ns if ip is not None else {}
    return {n: user.get(n) for n in names}


def _usable(directory: Path, student: str) -> Captures | None:
    if not (directory / MANIFEST).is_file():
        return None
    caps = read_captures(directory)
    if caps.student != student:
        raise VoipLabError(f"the captures in {directory} were recorded for {caps.student}, not for {student}: "
                           f"remove {directory} and run this cell again (or set VOIPLAB_STUDENT to your id)")
    return caps


def assignment(name: str, *, directory: str | os.PathLike[str] | None = None, record: bool | None = None,
               student: str | None = None, captures: bool = True) -> Assignment:
    """Your variant and your captures for the graded assignment ``name`` (the setup cell calls it).

    Parameters:
        name: the assignment (``"ch3_digest"``, ``"ch4_invite"``, ``"ch5_rtp"``, ``"ch7_provisioning"``).
        directory: the assignment's directory (default: the current one, the notebook's).
        record: ``True`` record new captures in the lab now; ``False`` never record; ``None``
            (default) record only when there is none yet and this machine may capture.
        student: your student id (default: :func:`~voiplab.teach.variants.student_id`).
        captures: False for an assignment that needs none (chapter 7: provisioning files).

    Raises:
        VoipLabError: no capture could be found or recorded (the message says what to do).

    Taught in the graded exercises.
    """
    here = Path(directory) if directory is not None else Path.cwd()
    config = load_config()
    who = student or student_id(config)
    variant = variant_for(who)
    if not captures:
        work = Assignment(name, who, variant, None, variant.lab_config(config))
        work._baseline = _kernel_state()
        return work
    recorded = here / RECORDED_DIR
    caps = None if record else _usable(recorded, who)
    grading = os.environ.get(NO_RECORDING_ENV, "") not in ("", "0")
    may_record = config.is_local and bool(capture_methods()) and not grading and record is not False
    if caps is None and (record or (may_record and not (here / OFFLINE_DIR / who / MANIFEST).is_file())):
        if not may_record:
            raise VoipLabError("this machine cannot record the captures (no local lab or no capture rights, "
                               "see 'voiplab doctor'): use the captures your instructor released")
        caps = record_captures(variant, recorded, how="lab", base=config)
    if caps is None:
        caps = _usable(here / OFFLINE_DIR / who, who)
    if caps is None:
        raise VoipLabError(f"there are no captures for {who}: record them in your lab (this needs capture "
                           f"rights: 'voiplab doctor' says how), or put the ones your instructor recorded for "
                           f"you in {here / OFFLINE_DIR / who}")
    work = Assignment(name, who, variant, caps, variant.lab_config(config))
    work._baseline = _kernel_state()
    return work


# ---------------------------------------------------------------------------- chapter 7's broken files

#: the registrar ports a broken file may name instead of 5060
_WRONG_PORTS = ("5070", "5061", "5080", "5160")


def broken_sipconfig(variant: Variant, base: LabConfig | None = None) -> dict[str, str]:
    """The variant's provisioning files (``sipconfig.txt``, ``sipconfig-<mac>.txt``), broken in four places.

    * ``registrar_port`` is not the PBX's port;
    * ``authentication_password`` is not the Alcatel's password in this variant;
    * ``preferred_vocoder`` offers no G.711 codec (the lab allows only the variant's one);
    * ``local_rtp_port`` is odd and equal to ``local_rtcp_port`` (RTP takes an even port,
      RTCP the next one: the variant's Alcatel uses ``alcatel_rtp_port``).

    Taught in the graded exercises (chapter 7).
    """
    cfg = variant.lab_config(base)
    files = sipconfig.render(cfg)
    wrong_port = _WRONG_PORTS[variant.block % len(_WRONG_PORTS)]
    odd = str(variant.alcatel_rtp_port + 1)
    out: dict[str, str] = {}
    for filename, text in files.items():
        lines = []
        for line in text.splitlines():
            key, sep, _value = line.partition("=")
            if sep and not key.startswith("#"):
                if key == "registrar_port":
                    line = f"{key}={wrong_port}"
                elif key == "authentication_password":
                    line = f"{key}={variant.alcatel_password[::-1]}x"
                elif key == "preferred_vocoder":
                    line = f"{key}=18,4"
                elif key in ("local_rtp_port", "local_rtcp_port"):
                    line = f"{key}={odd}"
            lines.append(line)
        out[filename] = "\n".join(lines) + "\n"
    return out
