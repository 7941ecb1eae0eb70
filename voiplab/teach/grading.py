"""Graded exercises: release a student version, grade a submission, check answers against the lab.

The exercises notebook follows nbgrader's conventions, so an instructor can use nbgrader
itself or this module (nbgrader is not a dependency):

* an **answer cell** (``"solution": true``) holds the instructor's code between
  ``### BEGIN SOLUTION`` and ``### END SOLUTION``;
* a **grade cell** (``"grade": true, "points": N``, locked) is a docstring and plain
  ``assert`` statements; the part between ``### BEGIN HIDDEN TESTS`` and
  ``### END HIDDEN TESTS`` is not shown to students.

Cell metadata is nbgrader's (schema version 3)::

    {"nbgrader": {"grade": true, "grade_id": "ex1_check", "points": 2, "solution": false,
                  "locked": true, "schema_version": 3, "task": false}}

:func:`release` writes the student version (solutions replaced by
``raise NotImplementedError()``, hidden tests removed, outputs cleared, metadata kept).
:func:`grade` runs a student's notebook headless with nbclient, with the grade cells
(hidden tests included) restored from the instructor's version as ``nbgrader autograde``
does, and scores each grade cell: its points if it ran without error, else 0 and why.

The check helpers (:func:`expected_challenge`, :func:`expected_digest_response`, ...)
compute each expected answer from the capture the notebook recorded (or loaded): answers
are checked against the real lab, never against hard-coded values.

Taught in the exercises notebook (``notebooks/exercises.ipynb``).
"""

from __future__ import annotations

import copy
import html
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..capture.streams import streams
from ..capture.tshark import TsharkRow, tshark_rtp_streams
from ..config import load_config
from ..core.audio import dominant_frequency
from ..core.digest import Challenge, compute_response
from ..core.flow import format_address, split_address
from ..core.g711 import SAMPLE_RATE
from ..core.rtpstats import RtpStream, StreamStats
from ..core.sip import AuthHeader
from ..errors import VoipLabError
from .experiments import Experiment, from_pcap
from .explain import AuthExchange, answer_timing, auth_exchange

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
    "InviteAnswer",
    "captured_response",
    "clear_hidden_tests",
    "clear_solutions",
    "expected_challenge",
    "expected_dial_delay",
    "expected_digest_response",
    "expected_dominant_frequency",
    "expected_invites",
    "expected_stream_stats",
    "grade",
    "grade_cells",
    "release",
    "tshark_stream_row",
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
#: seconds one cell may run when grading (recording a call takes about 10 s)
DEFAULT_TIMEOUT_S = 300
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


# ---------------------------------------------------------------------------- grading


@dataclass(frozen=True)
class CellGrade:
    """The score of one grade cell.

    Attributes:
        grade_id: the cell's nbgrader ``grade_id`` (``"ex2_check"``).
        points: the points earned (``max_points`` or 0).
        max_points: what the cell is worth.
        passed: whether the cell ran without error.
        reason: why it failed: the answer cell's error when an answer cell of this exercise
            failed (``"answer ex1_answer: NotImplementedError"``), else the grade cell's own
            error, its last line (``"AssertionError: ..."``); ``""`` when it passed.
        error: the grade cell's own error, last line (``""`` if none).

    Taught in the exercises notebook.
    """

    grade_id: str
    points: float
    max_points: float
    passed: bool
    reason: str = ""
    error: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The JSON form."""
        return {"grade_id": self.grade_id, "points": self.points, "max_points": self.max_points,
                "passed": self.passed, "reason": self.reason, "error": self.error}


def _points(value: float) -> str:
    return f"{value:g}"


@dataclass(frozen=True)
class GradeReport:
    """The grade of one notebook: one :class:`CellGrade` per grade cell, in notebook order.

    Attributes:
        notebook: the graded notebook's path.
        cells: the grade cells' scores.
        note: what went wrong with the run as a whole (a dead kernel, a timeout), or ``""``.

    Displayed as a table in a notebook; ``to_json()`` for scripts (``voiplab exercises grade --json``).

    Taught in the exercises notebook.
    """

    notebook: str
    cells: tuple[CellGrade, ...]
    note: str = ""
    executed: Any = field(default=None, repr=False, compare=False)

    @property
    def total(self) -> float:
        """The points earned."""
        return sum(c.points for c in self.cells)

    @property
    def max_total(self) -> float:
        """The points available."""
        return sum(c.max_points for c in self.cells)

    @property
    def failed(self) -> tuple[CellGrade, ...]:
        """The grade cells that did not pass."""
        return tuple(c for c in self.cells if not c.passed)

    def __getitem__(self, grade_id: str) -> CellGrade:
        for c in self.cells:
            if c.grade_id == grade_id:
                return c
        raise KeyError(grade_id)

    def to_dict(self) -> dict[str, Any]:
        """``{"notebook", "total", "max_total", "note", "cells": [...]}``."""
        return {"notebook": self.notebook, "total": self.total, "max_total": self.max_total,
                "note": self.note, "cells": [c.to_dict() for c in self.cells]}

    def to_json(self, indent: int | None = 2) -> str:
        """:meth:`to_dict` as a JSON string."""
        return json.dumps(self.to_dict(), indent=indent)

    def __repr__(self) -> str:
        failed = self.failed
        which = f", failed: {', '.join(c.grade_id for c in failed)}" if failed else ""
        note = f"; {self.note}" if self.note else ""
        return (f"GradeReport({Path(self.notebook).name}: {_points(self.total)}/{_points(self.max_total)} points, "
                f"{len(self.cells) - len(failed)}/{len(self.cells)} grade cells passed{which}{note})")

    def _repr_html_(self) -> str:
        rows = []
        for c in self.cells:
            colour = "#d4f7d4" if c.passed else "#f7d4d4"
            rows.append(f"<tr style='background:{colour}'><td>{html.escape(c.grade_id)}</td>"
                        f"<td>{_points(c.points)}</td><td>{_points(c.max_points)}</td>"
                        f"<td>{'passed' if c.passed else 'failed'}</td>"
                        f"<td style='text-align:left'>{html.escape(c.reason)}</td></tr>")
        note = f"<p><b>Note:</b> {html.escape(self.note)}</p>" if self.note else ""
        return (f"<p><b>{html.escape(Path(self.notebook).name)}</b>: {_points(self.total)} / "
                f"{_points(self.max_total)} points</p>"
                "<table><tr><th>grade cell</th><th>points</th><th>out of</th><th>result</th><th>reason</th></tr>"
                + "".join(rows)
                + f"<tr><td><b>total</b></td><td><b>{_points(self.total)}</b></td>"
                  f"<td><b>{_points(self.max_total)}</b></td><td></td><td></td></tr></table>" + note)


def grade_cells(notebook: str | os.PathLike[str] | Any) -> list[dict[str, Any]]:
    """The nbgrader metadata of every grade cell (``grade_id``, ``points``, ...), in order.

    Taught in the exercises notebook.
    """
    nb = notebook if hasattr(notebook, "cells") else _read(notebook)
    return [_meta(c) for c in nb.cells if _is_grade(c)]


def _error_line(cell: Any) -> str:
    """The last line of the cell's error (``"AssertionError: ..."``), or ``""``."""
    for output in cell.get("outputs", []):
        if output.get("output_type") == "error":
            ename, evalue = output.get("ename", "Error"), str(output.get("evalue", "")).strip()
            line = f"{ename}: {evalue.splitlines()[-1]}" if evalue else ename
            return line[:MAX_REASON]
    return ""


def _restore_from_source(nb: Any, source: Any) -> list[str]:
    """Overwrite grade cells and locked cells with the instructor's version (as nbgrader autograde).

    Returns the grade ids of the source's grade cells missing from ``nb``.
    """
    by_id = {_meta(c)["grade_id"]: c for c in source.cells if _meta(c).get("grade_id")}
    present = set()
    for cell in nb.cells:
        gid = _meta(cell).get("grade_id")
        if gid not in by_id:
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


def grade(student_nb: str | os.PathLike[str], source_nb: str | os.PathLike[str] | None = None, *,
          timeout: float = DEFAULT_TIMEOUT_S, kernel_name: str = "python3",
          env: Mapping[str, str] | None = None, executed_nb: str | os.PathLike[str] | None = None) -> GradeReport:
    """Run a student's notebook headless and score its grade cells.

    Every cell runs in a fresh kernel, top to bottom, errors allowed (a failing cell does not
    stop the run). A grade cell earns its points if it ran without error, 0 otherwise.

    Parameters:
        student_nb: the notebook to grade (a copy of the released version, answered).
        source_nb: the instructor's version. When given, the grade cells (their hidden
            tests included), the locked cells and every cell's points are taken from it,
            as ``nbgrader autograde`` does; a grade cell the student deleted scores 0.
            Without it, the student's own grade cells run (no hidden tests).
        timeout: seconds each cell may run (a cell that runs longer is interrupted and fails).
        kernel_name: the Jupyter kernel.
        env: extra environment variables for the kernel (``{"VOIPLAB_SAMPLES": "1"}``: grade
            on the captures committed with voiplab instead of recording in the lab).
        executed_nb: also write the executed notebook here (feedback for the student).

    Returns:
        A :class:`GradeReport` (``total``, ``max_total``, one row per grade cell).

    Raises:
        VoipLabError: a notebook cannot be read, or nbclient is not installed.

    Taught in the exercises notebook.
    """
    try:
        # nbclient/nbformat: only when a submission is graded (a kernel is started)
        import nbclient
        import nbformat
        from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError
    except ImportError:  # pragma: no cover - both come with jupyterlab
        raise VoipLabError("nbclient is not installed: pip install nbclient (it comes with jupyterlab)") from None

    path = Path(student_nb)
    nb = _read(path)
    missing: list[str] = []
    source_points: dict[str, float] = {}
    if source_nb is not None:
        source = _read(source_nb)
        missing = _restore_from_source(nb, source)
        source_points = {m["grade_id"]: float(m.get("points", 0)) for m in grade_cells(source)}
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    kernel_env = {**os.environ, **(env or {})}
    client = nbclient.NotebookClient(nb, timeout=timeout, kernel_name=kernel_name, allow_errors=True,
                                     interrupt_on_timeout=True,
                                     resources={"metadata": {"path": str(path.resolve().parent)}})
    note = ""
    try:
        client.execute(env=kernel_env)
    except (CellExecutionError, CellTimeoutError, DeadKernelError, RuntimeError) as e:
        last = str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__
        note = f"the run stopped early ({type(e).__name__}: {last[:MAX_REASON]})"
    if executed_nb is not None:
        nbformat.write(nb, str(executed_nb))

    results: list[CellGrade] = []
    answer_errors: list[str] = []  # errors of the answer cells since the last grade cell
    for cell in nb.cells:
        meta = _meta(cell)
        if _is_solution(cell) and not _is_grade(cell) and cell.cell_type == "code":
            err = _error_line(cell)
            if err:
                answer_errors.append(f"answer {meta.get('grade_id', '?')}: {err}")
            continue
        if not _is_grade(cell):
            continue
        gid = str(meta.get("grade_id", "?"))
        worth = source_points.get(gid, float(meta.get("points", 0)))
        if cell.cell_type != "code":
            results.append(CellGrade(gid, 0.0, worth, False, "graded by hand (a written answer)"))
            answer_errors = []
            continue
        error = _error_line(cell)
        ran = cell.get("execution_count") is not None or bool(cell.get("outputs"))
        if not ran and not error:
            error = f"not executed ({note or 'the run stopped before this cell'})"
        passed = not error
        reason = "" if passed else (answer_errors[0] if answer_errors else error)
        results.append(CellGrade(gid, worth if passed else 0.0, worth, passed, reason, error))
        answer_errors = []
    for gid in missing:
        results.append(CellGrade(gid, 0.0, source_points.get(gid, 0.0), False,
                                 "the grade cell was deleted from the notebook: never delete grade cells",
                                 "missing"))
    return GradeReport(str(path), tuple(results), note, executed=nb)


# ---------------------------------------------------------------------------- answer checks


def _experiment(source: Experiment | str | os.PathLike[str]) -> Experiment:

    if isinstance(source, Experiment):
        return source
    return from_pcap(Path(source))


def _pcap_of(source: Experiment | str | os.PathLike[str]) -> Path:
    exp = _experiment(source)
    if exp.pcap is None:
        raise VoipLabError(f"the experiment {exp.name!r} has no capture ({exp.note}): record it with capture, "
                           "or use vl.scenarios.from_pcap(vl.scenarios.sample_capture(...))")
    return Path(exp.pcap)


def expected_challenge(source: Experiment | str | os.PathLike[str]) -> Challenge:
    """The digest challenge (``realm``, ``nonce``) of the 401 answering the first challenged REGISTER.

    Exercise 1 expects ``realm`` and ``nonce`` equal to this challenge's: the
    ``WWW-Authenticate`` header of Asterisk's ``401 Unauthorized``.

    Parameters:
        source: the registration :class:`~voiplab.teach.experiments.Experiment`, or a capture path.

    Raises:
        VoipLabError: the capture has no challenged REGISTER.

    Taught in the exercises notebook (exercise 1).
    """

    return Challenge.from_message(auth_exchange(_experiment(source).flow, "REGISTER").challenge.message)


def _authorization(source: Experiment | str | os.PathLike[str]) -> tuple[AuthExchange, AuthHeader]:
    """The REGISTER's digest exchange and the Authorization header of its second try."""

    exchange = auth_exchange(_experiment(source).flow, "REGISTER")
    auth = exchange.authorized.message.authorization if exchange.authorized is not None else None
    if auth is None:
        raise VoipLabError("the capture has no REGISTER with Authorization after the 401: record a whole "
                           "registration with vl.scenarios.record_registration()")
    return exchange, auth


def captured_response(source: Experiment | str | os.PathLike[str]) -> str:
    """The ``response`` the phone sent in the ``Authorization`` of its second REGISTER.

    Raises:
        VoipLabError: the capture has no REGISTER answered by a challenge and sent again.

    Taught in the exercises notebook (exercise 2).
    """
    return str(_authorization(source)[1]["response"])


def expected_digest_response(source: Experiment | str | os.PathLike[str], password: str | None = None) -> str:
    """The digest response recomputed from the captured challenge and the account's password.

    Exercise 2 expects the student's ``computed`` to equal this value: MD5 over the
    challenge's realm and nonce, the fields of the phone's ``Authorization`` (username,
    uri, cnonce, nc, qop) and the password. With the right password it equals
    :func:`captured_response`; with a wrong one it does not.

    Parameters:
        source: the registration experiment, or a capture path.
        password: the password; default: the lab's password of the account in the
            ``Authorization`` header (rpi: 22222222, from the lab configuration).

    Taught in the exercises notebook (exercise 2).
    """

    exchange, auth = _authorization(source)
    if password is None:
        password = load_config().account(auth["username"]).password
    return compute_response(exchange.challenge.message, "REGISTER", auth["uri"], auth["username"], password,
                            cnonce=auth.get("cnonce"), nc=auth.get("nc") or 1, qop=auth.get("qop") or "").response


@dataclass(frozen=True)
class InviteAnswer:
    """The expected answer of exercise 3.

    Attributes:
        count: the INVITE transactions of the call, both B2BUA legs, retransmissions not
            counted (the challenged INVITE, its authorised retry, the INVITE to the callee,
            and every re-INVITE).
        reinvite_cseq: the CSeq (``"8769 INVITE"``) of the first re-INVITE Asterisk sent to
            the caller with a media address other than its own: the direct-media switch.
        new_rtp_address: ``"ip:port"`` announced in that re-INVITE's SDP (the callee's RTP).

    Taught in the exercises notebook (exercise 3).
    """

    count: int
    reinvite_cseq: str
    new_rtp_address: str


def expected_invites(source: Experiment | str | os.PathLike[str]) -> InviteAnswer:
    """Count the INVITE transactions of the recorded call and find the direct-media re-INVITE.

    Computed from the SIP messages themselves: distinct ``(Call-ID, CSeq)`` INVITE requests
    of the call's legs; the re-INVITE is an INVITE with a To tag (inside the dialog) sent
    to the caller whose SDP ``c=`` address is not the PBX's.

    Raises:
        VoipLabError: the capture has no call, or no direct-media re-INVITE to the caller.

    Taught in the exercises notebook (exercise 3).
    """

    exp = _experiment(source)
    call = exp.call
    if call is None:
        raise VoipLabError("the capture has no call: record one with vl.scenarios.record_call()")
    ids = set(call.call_ids)
    invites = {(m.call_id, m.cseq) for m in exp.flow.messages
               if m.method == "INVITE" and m.call_id in ids and not m.retransmission}
    caller = call.legs[0].caller
    pbx_ip = split_address(call.legs[0].callee)[0]
    for m in exp.flow.messages:
        if m.method != "INVITE" or m.dst != caller or m.message.to_tag is None or not m.has_sdp:
            continue
        sdp = m.message.sdp
        audio = sdp.audio() if sdp is not None else None
        if audio is None or audio.connection_address in (None, pbx_ip):
            continue
        return InviteAnswer(len(invites), str(m.cseq), format_address(str(audio.connection_address), audio.port))
    raise VoipLabError(f"no re-INVITE moved the media of {caller} away from the PBX: direct_media may be off "
                       "(pjsip.conf), or the capture stopped before the callee answered")


def expected_dial_delay(source: Experiment | str | os.PathLike[str]) -> float:
    """Seconds between Asterisk's 200 OK to the caller and its first INVITE to the callee.

    Exercise 4 expects this delay (about 0.5 s: ``Answer(500)`` before ``Dial()``), within 1 ms.

    Raises:
        VoipLabError: the capture does not show both legs of the call.

    Taught in the exercises notebook (exercise 4).
    """

    delay = answer_timing(_experiment(source)).dial_delay
    if delay is None:
        raise VoipLabError("the capture does not show both legs of the call (a phone's trace sees only its "
                           "own): record the call with capture")
    return float(delay)


def _ip_of(exp: Experiment, who: str) -> str:
    for ip, role in exp.roles.items():
        if who in (ip, role) or role.split(" ")[0] == who:
            return ip
    return who


def _stream(source: Experiment | str | os.PathLike[str], src: str, dst: str) -> RtpStream:
    """The longest stream from ``src`` to ``dst``, freshly analysed from the capture file."""

    exp = _experiment(source)
    a, b = _ip_of(exp, src), _ip_of(exp, dst)
    found = [s for s in streams(_pcap_of(exp)) if (s.src, s.dst) == (a, b)]
    if not found:
        raise VoipLabError(f"no RTP stream from {src} ({a}) to {dst} ({b}) in the capture: record a whole call")
    return max(found, key=len)


def expected_stream_stats(source: Experiment | str | os.PathLike[str], src: str = "alcatel",
                          dst: str = "rpi") -> StreamStats:
    """The statistics of the RTP stream ``src`` -> ``dst`` (after direct media: phone to phone).

    Exercise 5 expects ``packets``, ``lost`` and ``max_jitter_ms`` equal to these, which are
    ``tshark -q -z rtp,streams``'s figures (voiplab.analysis, re-read from the capture file).

    Taught in the exercises notebook (exercise 5).
    """
    return _stream(source, src, dst).stats


def tshark_stream_row(source: Experiment | str | os.PathLike[str], src: str = "alcatel",
                      dst: str = "rpi") -> TsharkRow | None:
    """tshark's ``rtp,streams`` row of the longest stream ``src`` -> ``dst``, or ``None`` without tshark.

    Taught in the exercises notebook (exercise 5: Wireshark as the reference).
    """

    exp = _experiment(source)
    a, b = _ip_of(exp, src), _ip_of(exp, dst)
    try:
        rows = tshark_rtp_streams(_pcap_of(exp))
    except VoipLabError:
        return None
    found = [r for r in rows if (r["src"], r["dst"]) == (a, b)]
    return max(found, key=lambda r: r["packets"]) if found else None


def expected_dominant_frequency(source: Experiment | str | os.PathLike[str], src: str = "alcatel",
                                dst: str = "rpi") -> float:
    """The frequency (Hz) with the most energy in the decoded G.711 audio of ``src`` -> ``dst``.

    Exercise 6 expects the student's ``frequency`` within 5 Hz of this (the Alcatel's Morse
    signal: 1000 Hz in the lab).

    Taught in the exercises notebook (exercise 6).
    """

    return dominant_frequency(_stream(source, src, dst).audio(), SAMPLE_RATE)
