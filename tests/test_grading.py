"""voiplab.teach.grading: the student versions, the expected answers, partial credit and feedback.

Grading itself runs a kernel (``test_grading_sandbox.py``, ``test_grading_hostile.py``,
``test_grading_nbgrader.py``); here the answers a kernel would record are made directly, so
the scoring, the feedback and the per-student answers are checked in milliseconds.
"""

from __future__ import annotations

import argparse
import copy
import json
import re
from pathlib import Path
from typing import Any

import nbformat
import pytest
from grading_helpers import ASSIGNMENTS, NOTEBOOKS, VARIANT_CAPTURES, cell_id, released, source, text

from voiplab.errors import VoipLabError
from voiplab.teach import graders, grading, variants
from voiplab.teach.answers import ANSWER_MIME, ANSWER_VERSION
from voiplab.teach.graders.base import GradingContext
from voiplab.teach.graders.ch5_rtp import rfc3550_jitter_ms


def context(student: str) -> GradingContext:
    caps, _ = grading.grader_captures(VARIANT_CAPTURES, student, offline=VARIANT_CAPTURES)
    assert caps is not None
    return GradingContext(student, variants.variant_for(student), caps)


def expected(assignment: str, student: str) -> dict[str, dict[str, object]]:
    """exercise key -> part name -> the value the grader expects (the right answers)."""
    ctx = context(student)
    return {e.key: {p.name: p.expected for p in e.parts(ctx)} for e in graders.spec(assignment).exercises}


def executed(assignment: str, student: str, values: dict[str, dict[str, object]], *,
             captures: dict[str, str] | None = None) -> Any:
    """The instructor's notebook with each check cell's output an answer record, as a kernel leaves it."""
    nb = nbformat.read(str(source(assignment)), as_version=4)
    spec = graders.spec(assignment)
    caps = context(student).captures
    assert caps is not None
    for cell in nb.cells:
        exercise = spec.exercise(str(cell_id(cell)))
        if exercise is None or exercise.key not in values:
            continue
        used = captures if captures is not None else {n: caps[n].sha256 for n in exercise.captures}
        record = {"version": ANSWER_VERSION, "assignment": assignment, "exercise": exercise.key, "student": student,
                  "captures": used, "values": values[exercise.key], "kernel": {}}
        cell.outputs = [nbformat.from_dict({"output_type": "display_data", "metadata": {},
                                            "data": {ANSWER_MIME: record, "text/plain": "recorded"}})]
    return nb


def graded(assignment: str, student: str, values: dict[str, dict[str, object]], **kw: Any) -> dict[str, Any]:
    nb = executed(assignment, student, values, **kw)
    spec = graders.spec(assignment)
    trusted = grading.trusted_ids(nbformat.read(str(source(assignment)), as_version=4))
    cells = grading.score(nb, spec, context(student), tampering=grading.tamper_findings(nb, spec, trusted))
    return {c.grade_id: c for c in cells}


def right_values(assignment: str, student: str) -> dict[str, dict[str, object]]:
    """The right answers, as a kernel submits them (chapter 7: the fixed files)."""
    if assignment == "ch7_provisioning":
        v = variants.variant_for(student)
        from voiplab.teach.answers import broken_sipconfig

        fixed = {}
        for name, body in broken_sipconfig(v).items():
            right = {"registrar_port": "5060", "authentication_password": v.alcatel_password,
                     "preferred_vocoder": str(v.payload_type), "local_rtp_port": str(v.alcatel_rtp_port),
                     "local_rtcp_port": str(v.alcatel_rtp_port + 1)}
            fixed[name] = "\n".join(f"{line.split('=', 1)[0]}={right[line.split('=', 1)[0]]}"
                                    if line.split("=", 1)[0] in right else line for line in body.splitlines()) + "\n"
        return {"ex1": {"fixed": fixed}}
    return expected(assignment, student)


# ---------------------------------------------------------------------------- the student versions


@pytest.mark.parametrize("assignment", sorted(ASSIGNMENTS))
def test_committed_student_version_is_the_release_of_the_source(assignment: str, tmp_path: Path) -> None:
    """Is notebooks/exercises/<a>/<a>.ipynb up to date with course/source/<a>/<a>.ipynb?"""
    out = grading.release(source(assignment), tmp_path / f"{assignment}.ipynb")
    assert json.loads(released(assignment).read_text()) == json.loads(out.read_text()), (
        f"{released(assignment)} is stale: run 'voiplab exercises release {source(assignment)} "
        f"{released(assignment)}'")


def _solution_lines() -> set[str]:
    """Every line of every solution region and written model answer of the instructor's versions."""
    lines: set[str] = set()
    for assignment in ASSIGNMENTS:
        for cell in json.loads(source(assignment).read_text())["cells"]:
            body = text(cell)
            for region in re.findall(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION", body, re.S):
                lines |= {ln.strip() for ln in region.splitlines() if len(ln.strip()) > 25}
    return lines


def test_no_file_under_notebooks_holds_solution_or_hidden_test_text() -> None:
    """Does no file under notebooks/ (what lab.sh shows students) hold a grader marker, and no graded
    notebook a line of the solutions or of the written answers' key?"""
    solutions = _solution_lines()
    assert len(solutions) > 40
    leaks = []
    for path in NOTEBOOKS.rglob("*"):
        if not path.is_file() or path.suffix in (".pcap", ".wav", ".png"):
            continue
        body = path.read_text(errors="replace")
        for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS", "expected_"):
            if marker in body:
                leaks.append(f"{path}: {marker}")
        if NOTEBOOKS / "exercises" in path.parents:
            leaks += [f"{path}: {line}" for line in solutions if line in body]
    assert leaks == []
    assert not (NOTEBOOKS / "source").exists()
    assert sorted(p.name for p in (NOTEBOOKS / "exercises").rglob("*") if p.is_file()) == sorted(
        f"{a}.ipynb" for a in ASSIGNMENTS)


@pytest.mark.parametrize("assignment", sorted(ASSIGNMENTS))
def test_points_of_the_cells_are_the_graders(assignment: str) -> None:
    """Does each check cell's nbgrader points equal its exercise's parts, and the written answers the rest?"""
    nb = json.loads(source(assignment).read_text())
    points = {cell_id(c): c["metadata"]["nbgrader"]["points"] for c in nb["cells"]
              if c["metadata"].get("nbgrader", {}).get("grade")}
    spec = graders.spec(assignment)
    ctx = context("alice")
    auto, manual = ASSIGNMENTS[assignment]
    assert {e.grade_id: e.points(ctx) for e in spec.exercises} == {g: p for g, p in points.items()
                                                                  if g not in spec.manual}
    assert sum(points[g] for g in spec.manual) == manual and sum(e.points(ctx) for e in spec.exercises) == auto
    assert spec.chapter in (3, 4, 5, 7)


def test_the_assignments_are_worth_at_least_40_points_over_chapters_3_4_5_and_7() -> None:
    """Do the four assignments cover chapters 3, 4, 5 and 7 with at least 40 automatic points?"""
    assert sorted(graders.spec(a).chapter for a in ASSIGNMENTS) == [3, 4, 5, 7]
    assert sum(auto for auto, _ in ASSIGNMENTS.values()) >= 40
    assert all(manual > 0 for _, manual in ASSIGNMENTS.values())


def test_clear_solutions_keeps_indentation_and_replaces_unmarked_cells() -> None:
    """Is an indented solution region replaced at its indentation, and an unmarked answer cell whole?"""
    body = "def f(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION\n\nprint(f(1))"
    assert grading.clear_solutions(body) == (
        "def f(x):\n    # YOUR CODE HERE\n    raise NotImplementedError()\n\nprint(f(1))")
    assert grading.clear_solutions("x = 1") == "# YOUR CODE HERE\nraise NotImplementedError()"
    assert grading.clear_solutions("### BEGIN SOLUTION\nIt is UDP.\n### END SOLUTION", "markdown") == (
        "YOUR ANSWER HERE")


def test_unbalanced_markers_are_explained() -> None:
    """Does a missing END marker raise an error that says what to do?"""
    with pytest.raises(VoipLabError, match=r"^the cell has '### BEGIN SOLUTION' without '### END SOLUTION': "
                                           r"close the region$"):
        grading.clear_solutions("### BEGIN SOLUTION\nx = 1")
    with pytest.raises(VoipLabError, match=r"'### END HIDDEN TESTS' without '### BEGIN HIDDEN TESTS'"):
        grading.clear_hidden_tests("assert x\n### END HIDDEN TESTS")


def test_release_keeps_nbgrader_metadata_and_clears_answers(tmp_path: Path) -> None:
    """Are the answer cells stubs, the check cells unchanged, and the written answers 'YOUR ANSWER HERE'?"""
    out = grading.release(source("ch5_rtp"), tmp_path / "ch5_rtp.ipynb")
    cells = {cell_id(c): c for c in json.loads(out.read_text())["cells"] if cell_id(c)}
    original = {cell_id(c): c for c in json.loads(source("ch5_rtp").read_text())["cells"] if cell_id(c)}
    assert cells.keys() == original.keys()
    for gid, cell in cells.items():
        assert cell["metadata"]["nbgrader"] == original[gid]["metadata"]["nbgrader"], gid
        if gid.endswith("_check") or gid == "setup":
            assert text(cell) == text(original[gid])
        if gid.endswith("_answer"):
            assert "# YOUR CODE HERE\nraise NotImplementedError()" in text(cell)
    assert text(cells["ex6_written"]) == "YOUR ANSWER HERE"


# ---------------------------------------------------------------------------- expected answers


def test_two_students_expect_different_answers_to_every_capture_based_question() -> None:
    """Alice's and grace's expected answers: does every part of every capture-based exercise differ?"""
    same = []
    for assignment in ASSIGNMENTS:
        a, g = expected(assignment, "alice"), expected(assignment, "grace")
        for exercise in graders.spec(assignment).exercises:
            if exercise.captures:
                same += [f"{assignment} {exercise.key} {part}" for part in a[exercise.key]
                         if a[exercise.key][part] == g[exercise.key][part]]
    assert same == []
    assert expected("ch5_rtp", "alice") == expected("ch5_rtp", "alice")  # the same id twice: equal


def test_expected_answers_are_the_students_lab() -> None:
    """Are the expected DTMF digits, tone and answer delay those of the student's variant?"""
    for student in ("alice", "grace"):
        v = variants.variant_for(student)
        rtp = expected("ch5_rtp", student)
        assert rtp["ex5"]["digits"] == v.dtmf
        assert abs(float(str(rtp["ex4"]["tone_hz"])) - v.tone_hz) < 5
        assert rtp["ex2"]["lost_count"] == len(rtp["ex2"]["lost_seqs"]) > 0  # type: ignore[arg-type]
        delay = float(str(expected("ch4_invite", student)["ex3"]["answer_delay_ms"]))
        assert v.answer_ms < delay < v.answer_ms + 50


def test_the_jitter_reference_is_voiplabs_and_tsharks_maximum() -> None:
    """Is the grader's numpy RFC 3550 jitter the maximum voiplab.analysis reports (tshark's figure)?"""
    stream = context("alice").experiment("call").stream("alcatel", "rpi")
    j = rfc3550_jitter_ms(stream.time_ns / 1e9, stream.timestamp, 8000)
    assert j.max() == pytest.approx(stream.stats.max_jitter_ms, abs=1e-6)
    assert j[0] == 0.0 and (j >= 0).all()


def test_grader_captures_prefer_the_students_recording_and_check_it(tmp_path: Path) -> None:
    """Is a recording the student made used, and a recording of someone else's variant refused, with why?"""
    sub = tmp_path / "sub"
    (sub / "captures").mkdir(parents=True)
    import shutil

    shutil.copytree(VARIANT_CAPTURES / "alice", sub / "captures" / "alice")
    shutil.copytree(VARIANT_CAPTURES / "alice", sub / "recorded")
    caps, which = grading.grader_captures(sub, "alice")
    assert caps is not None and which == "the captures alice recorded in their lab (recorded/)"
    caps, which = grading.grader_captures(sub, "grace")
    assert caps is None
    assert which == ("the captures in recorded/ were not used: they were recorded for alice; "
                     "there are no offline captures for grace")
    manifest = json.loads((sub / "recorded" / "captures.json").read_text())
    manifest["student"] = "grace"  # grace copies alice's recording and claims it
    (sub / "recorded" / "captures.json").write_text(json.dumps(manifest))
    shutil.copytree(VARIANT_CAPTURES / "grace", sub / "captures" / "grace")
    caps, which = grading.grader_captures(sub, "grace")
    assert caps is not None and caps.directory == sub / "captures" / "grace"
    assert which.startswith("the captures in recorded/ were not used: rpi's REGISTER in them was not made with "
                            "your variant's password")


# ---------------------------------------------------------------------------- scoring and feedback


@pytest.mark.parametrize("assignment", sorted(ASSIGNMENTS))
def test_right_answers_get_full_marks(assignment: str) -> None:
    """Do the right answers get every point of every exercise, each part 'right'?"""
    for student in ("alice", "grace"):
        cells = graded(assignment, student, right_values(assignment, student))
        auto = [c for c in cells.values() if not c.manual]
        assert [(c.grade_id, c.points, c.reason) for c in auto] == [(c.grade_id, c.max_points, "") for c in auto]
        assert sum(c.points for c in auto) == ASSIGNMENTS[assignment][0]


def test_anothers_answers_get_nothing() -> None:
    """Does alice's right answer sheet, handed in by grace, score 0 on every capture-based exercise?"""
    copied = right_values("ch5_rtp", "alice")
    cells = graded("ch5_rtp", "grace", copied)
    assert sum(c.points for c in cells.values()) == 0


def test_one_wrong_part_loses_only_its_points_and_says_why() -> None:
    """Jitter computed with a 1000 Hz clock: are only ex1's 4 points lost, with the 8000 Hz hint?"""
    values = right_values("ch5_rtp", "alice")
    stream = context("alice").experiment("call").stream("alcatel", "rpi")
    wrong = rfc3550_jitter_ms(stream.time_ns / 1e9, stream.timestamp, 1000)
    values["ex1"] = {"jitter_ms": float(wrong[-1]), "max_jitter_ms": values["ex1"]["max_jitter_ms"]}
    cells = graded("ch5_rtp", "alice", values)
    assert (cells["ex1_check"].points, cells["ex1_check"].max_points) == (2, 4)
    assert sum(c.points for c in cells.values()) == 15
    message = cells["ex1_check"].parts[0].message
    assert re.fullmatch(r"your jitter is \d+\.\d{3} ms, expected \d+\.\d{3} ms: did you use the 8000 Hz clock\? "
                        r"\(RTP timestamps of G\.711 count samples at 8000 Hz\)", message), message
    assert cells["ex1_check"].feedback[1] == "2/2 maximum jitter: right (0.622 ms)"


@pytest.mark.parametrize(("assignment", "exercise", "part", "wrong", "hint"), [
    ("ch4_invite", "ex3", "answer_delay_ms", lambda v: v / 1000, "answer_delay_ms is in milliseconds, not seconds"),
    ("ch5_rtp", "ex2", "lost_seqs", lambda v: v[1:], "expected 8 (missing [41])"),
    ("ch5_rtp", "ex5", "digits", lambda v: "".join(sorted(v)), "keep the digits in the order they were sent"),
    ("ch3_digest", "ex3", "response_nc2", None, "that is the response rpi sent (nc=00000001): recompute it with "
                                                "nc=00000002"),
    ("ch4_invite", "ex2", "reinvite_cseq", None, "that re-INVITE went to the Alcatel: find the one Asterisk sent "
                                                 "to rpi"),
])
def test_common_mistakes_get_a_hint(assignment: str, exercise: str, part: str, wrong: Any, hint: str) -> None:
    """Is a known mistake's feedback the question that leads to the fix?"""
    values = copy.deepcopy(right_values(assignment, "alice"))
    if wrong is not None:
        values[exercise][part] = wrong(values[exercise][part])
    elif part == "response_nc2":
        exchange = context("alice").experiment("register").auth_exchange("REGISTER")
        values[exercise][part] = exchange.authorized.message.authorization["response"]
    else:
        call = context("alice").experiment("call")
        reinvites = [m for m in call.flow.messages if m.method == "INVITE" and m.message.to_tag is not None
                     and m.dst != call.auth_exchange("INVITE").authorized.src]
        values[exercise][part] = str(reinvites[0].cseq)
    cells = graded(assignment, "alice", values)
    messages = " | ".join(p.message for p in cells[f"{exercise}_check"].parts)
    assert hint in messages


def test_answers_from_another_capture_score_0_as_tampering() -> None:
    """Are answers submitted with another capture's SHA-256 (a rebound capture variable) worth 0, and reported?"""
    cells = graded("ch5_rtp", "alice", right_values("ch5_rtp", "alice"), captures={"call": "0" * 64})
    for gid in ("ex1_check", "ex2_check", "ex3_check", "ex4_check", "ex5_check"):
        assert cells[gid].points == 0 and cells[gid].tampering == ("the capture variable was rebound to another "
                                                                   "capture",)


def test_a_kernel_that_reports_a_custom_exception_handler_scores_0() -> None:
    """Does a check cell whose kernel has set_custom_exc (as it reports) score 0, reported?"""
    nb = executed("ch3_digest", "alice", right_values("ch3_digest", "alice"))
    cell = next(c for c in nb.cells if cell_id(c) == "ex2_check")
    cell.outputs[0]["data"][ANSWER_MIME]["kernel"] = {"now": {"custom_exceptions": ["BaseException"]}, "setup": {}}
    spec = graders.spec("ch3_digest")
    cells = {c.grade_id: c for c in grading.score(nb, spec, context("alice"), tampering={})}
    assert cells["ex2_check"].points == 0 and cells["ex1_check"].points == 2
    assert "set_custom_exc" in cells["ex2_check"].tampering[0]


def test_report_repr_json_and_html() -> None:
    """Is the report one line, a table in a notebook, and JSON for scripts?"""
    report = grading.GradeReport("x/ch5_rtp.ipynb", (
        grading.CellGrade("ex1_check", 4, 4, True, parts=(grading.PartGrade("jitter_ms", 2, 2, "jitter: right"),)),
        grading.CellGrade("ex2_check", 1, 4, False, "your lost sequence numbers ...",
                          parts=(grading.PartGrade("lost_count", 1, 1, "lost_count: right"),
                                 grading.PartGrade("lost_seqs", 0, 3, "your lost sequence numbers ..."))),
        grading.CellGrade("ex6_written", 0, 2, False, "graded by hand", manual=True),
    ), student="alice", assignment="ch5_rtp")
    assert repr(report) == "GradeReport(ch5_rtp.ipynb: 5/8 points, 1/2 check cells passed, failed: ex2_check)"
    data = json.loads(report.to_json())
    assert (data["total"], data["max_total"], data["auto_max_total"]) == (5, 10, 8)
    assert data["cells"][1]["parts"][1] == {"name": "lost_seqs", "points": 0, "max_points": 3,
                                            "message": "your lost sequence numbers ..."}
    assert report["ex2_check"].feedback == ["1/1 lost_count: right", "0/3 your lost sequence numbers ..."]
    page = report._repr_html_()
    assert "<table>" in page and "lost_seqs" not in page and "your lost sequence numbers" in page
    outputs = grading.feedback_outputs(report["ex2_check"])
    assert outputs[-1]["data"] == {"text/plain": "1"} and outputs[0]["name"] == "stdout"


# ---------------------------------------------------------------------------- the command line


def _cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    from voiplab.cli import exercises as cli_exercises

    parser = argparse.ArgumentParser(prog="voiplab")
    cli_exercises.add_parser(parser.add_subparsers(dest="command"))
    status = cli_exercises.run(parser.parse_args(argv))
    out = capsys.readouterr()
    return status, out.out, out.err


def test_cli_variant_and_expected(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Do 'exercises variant' write a lab.toml voiplab loads, and 'exercises expected' print the grader's answers?"""
    status, out, _ = _cli(["exercises", "variant", "--student", "alice", "--out", str(tmp_path / "lab.toml")], capsys)
    assert status == 0 and "wrote" in out
    from voiplab.config import load_config

    assert load_config(tmp_path / "lab.toml").variant.student == "alice"
    status, out, _ = _cli(["exercises", "expected", "--assignment", "ch5_rtp", "--student", "alice",
                           "--captures", str(VARIANT_CAPTURES / "alice")], capsys)
    assert status == 0 and f"digits               2  '{variants.variant_for('alice').dtmf}'" in out


def test_cli_reports_a_missing_notebook_and_a_bad_roster(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Does the CLI exit 1 with one clear line for a missing notebook, and refuse a roster with a bad id?"""
    status, _, err = _cli(["exercises", "release", str(tmp_path / "nope.ipynb"), str(tmp_path / "out.ipynb")], capsys)
    assert status == 1 and "could not be read" in err
    roster = tmp_path / "roster.csv"
    roster.write_text("student_id,name\nalice,Alice\nbad id,Bob\n")
    status, _, err = _cli(["exercises", "captures", "--roster", str(roster), "--out", str(tmp_path / "c")], capsys)
    assert status == 1 and err.startswith("voiplab: error: the roster") and "bad id" in err
    from voiplab.cli.exercises import read_roster

    roster.write_text("student_id,name\nalice,Alice\ngrace,Grace\n")
    assert read_roster(roster) == ["alice", "grace"]


def test_check_cells_refuse_nbgraders_own_execute(monkeypatch: pytest.MonkeyPatch) -> None:
    """Run by nbgrader's default Execute (which would give every check cell full marks), does submit() fail?"""
    from voiplab.teach.answers import Assignment

    v = variants.variant_for("alice")
    work = Assignment("ch5_rtp", "alice", v, None, v.lab_config())
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    with pytest.raises(VoipLabError, match=r"^this notebook is being graded by nbgrader's own Execute step, which "
                                           r"would give every check cell full marks: grade it with voiplab's "
                                           r"configuration \(course/nbgrader_config.py, see docs/grading.md\)$"):
        work.submit("ex1", jitter_ms=1.0)
