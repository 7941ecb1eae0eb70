"""voiplab.teach.grading: the graded exercises notebook, its student version, and grading.

The instructor's version (``notebooks/source/exercises.ipynb``) holds the solutions and the
hidden tests; the committed student version (``notebooks/exercises.ipynb``) is generated
from it by :func:`voiplab.teach.grading.release`. The student version cannot pass its grade cells
(they raise ``NotImplementedError`` by design), so it is graded here instead of being run
by ``tests/test_notebooks.py``.

Grading runs execute the notebook in a fresh kernel. With ``VOIPLAB_SAMPLES=1`` the
notebook works on the captures committed in ``tests/data`` (no lab needed); without it,
it records in the local lab (marked ``asterisk``).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import require

from voiplab.errors import VoipLabError
from voiplab.teach import grading

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "notebooks" / "source" / "exercises.ipynb"
RELEASED = ROOT / "notebooks" / "exercises.ipynb"
SAMPLES = {"VOIPLAB_SAMPLES": "1"}
POINTS = {"ex1_check": 2, "ex2_check": 3, "ex3_check": 3, "ex4_check": 2, "ex5_check": 3, "ex6_check": 2}


def _cells(path: Path) -> dict[str, dict]:
    """grade_id -> cell, for the cells with nbgrader metadata."""
    nb = json.loads(path.read_text())
    return {c["metadata"]["nbgrader"]["grade_id"]: c for c in nb["cells"] if "nbgrader" in c["metadata"]}


def _src(cell: dict) -> str:
    return "".join(cell["source"])


def _variant(tmp_path: Path, grade_id: str, old: str, new: str, name: str = "submission.ipynb") -> Path:
    """A copy of the instructor's notebook with one cell edited (a student's answer)."""
    nb = json.loads(SOURCE.read_text())
    for cell in nb["cells"]:
        if cell["metadata"].get("nbgrader", {}).get("grade_id") == grade_id:
            text = _src(cell)
            assert old in text
            cell["source"] = text.replace(old, new)
    out = tmp_path / name
    out.write_text(json.dumps(nb, indent=1))
    return out


# ---------------------------------------------------------------------------- release


def test_released_answer_cells_keep_only_the_stub(tmp_path: Path) -> None:
    """Does release replace each solution region by the stub and keep the code around it?"""
    out = grading.release(SOURCE, tmp_path / "student.ipynb")
    cells = _cells(out)
    assert _src(cells["ex1_answer"]) == (
        "# YOUR CODE HERE\nraise NotImplementedError()\n"
        'print("realm:", realm, "| nonce:", nonce)')
    assert _src(cells["ex2_answer"]) == (
        'password = "22222222"   # rpi\'s password in the lab (chapter 2 of the report)\n'
        "# YOUR CODE HERE\nraise NotImplementedError()\n"
        'print("computed:", computed)\nprint("captured:", captured)')
    for gid, cell in cells.items():
        text = _src(cell)
        assert "### BEGIN SOLUTION" not in text and "### END SOLUTION" not in text, gid
        if gid.endswith("_answer"):
            assert "# YOUR CODE HERE\nraise NotImplementedError()" in text, gid


def test_released_grade_cells_lose_their_hidden_tests(tmp_path: Path) -> None:
    """Does release remove the hidden tests (markers included) and keep the visible asserts?"""
    out = grading.release(SOURCE, tmp_path / "student.ipynb")
    cells, source = _cells(out), _cells(SOURCE)
    assert _src(cells["ex1_check"]) == (
        '"""Exercise 1 (2 points): realm and nonce are those of the 401 challenge to rpi\'s REGISTER."""\n'
        'assert isinstance(realm, str) and isinstance(nonce, str), "realm and nonce must be strings"\n'
        'assert realm and nonce, "realm and nonce must not be empty"\n'
        "assert '\"' not in realm + nonce, \"give the values without their quotes\"")
    for gid in POINTS:
        text, original = _src(cells[gid]), _src(source[gid])
        assert "HIDDEN TESTS" not in text and "vl.grading.expected" not in text, gid
        assert "### BEGIN HIDDEN TESTS" in original
        assert original.startswith(text), gid  # the visible part is unchanged


def test_release_keeps_nbgrader_metadata_and_clears_outputs(tmp_path: Path) -> None:
    """Is every cell's nbgrader metadata kept as is, and are outputs cleared?"""
    out = grading.release(SOURCE, tmp_path / "student.ipynb")
    released, source = _cells(out), _cells(SOURCE)
    assert released.keys() == source.keys()
    for gid in released:
        assert released[gid]["metadata"]["nbgrader"] == source[gid]["metadata"]["nbgrader"], gid
    for gid, points in POINTS.items():
        meta = released[gid]["metadata"]["nbgrader"]
        assert meta == {"grade": True, "grade_id": gid, "locked": True, "points": points, "schema_version": 3,
                        "solution": False, "task": False}
    assert released["ex3_answer"]["metadata"]["nbgrader"] == {
        "grade": False, "grade_id": "ex3_answer", "locked": False, "schema_version": 3, "solution": True,
        "task": False}
    nb = json.loads(out.read_text())
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in nb["cells"]
               if c["cell_type"] == "code")


def test_committed_student_version_is_the_release_of_the_source(tmp_path: Path) -> None:
    """Is notebooks/exercises.ipynb up to date (voiplab exercises release notebooks/source/... notebooks/...)?"""
    out = grading.release(SOURCE, tmp_path / "exercises.ipynb")
    assert json.loads(RELEASED.read_text()) == json.loads(out.read_text()), (
        "notebooks/exercises.ipynb is stale: run 'voiplab exercises release notebooks/source/exercises.ipynb "
        "notebooks/exercises.ipynb'")


def test_clear_solutions_keeps_indentation_and_replaces_unmarked_cells() -> None:
    """Is an indented solution region replaced at its indentation, and an unmarked answer cell whole?"""
    source = "def f(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION\n\nprint(f(1))"
    assert grading.clear_solutions(source) == (
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
    assert grading.clear_hidden_tests("assert x\n### BEGIN HIDDEN TESTS\nassert y\n### END HIDDEN TESTS") == (
        "assert x")


def test_release_refuses_markers_outside_answer_cells(tmp_path: Path) -> None:
    """Does release refuse a solution region in a cell not marked as an answer cell?"""
    nb = json.loads(SOURCE.read_text())
    for cell in nb["cells"]:
        if cell["metadata"].get("nbgrader", {}).get("grade_id") == "ex1_answer":
            cell["metadata"]["nbgrader"]["solution"] = False
    bad = tmp_path / "bad.ipynb"
    bad.write_text(json.dumps(nb))
    with pytest.raises(VoipLabError, match=r"has '### BEGIN SOLUTION' but is not an answer cell"):
        grading.release(bad, tmp_path / "out.ipynb")


# ---------------------------------------------------------------------------- the expected answers


def test_expected_answers_of_the_sample_captures(data_dir: Path) -> None:
    """Are the expected answers computed from the captures (the call rpi -> 5001 of tests/data)?"""
    reg = data_dir / "register_401.pcap"
    call = data_dir / "call_rpi_to_alcatel.pcap"
    challenge = grading.expected_challenge(reg)
    assert challenge.realm == "asterisk"
    assert challenge.nonce == "1795684734/7cd8abed98bd1435ee049a649c5fa90b"
    assert grading.expected_digest_response(reg) == grading.captured_response(reg) == (
        "4ca14810cb446a77d2eb58e3f95c4273")
    assert grading.expected_digest_response(reg, password="12345678") != grading.captured_response(reg)
    assert grading.expected_invites(call) == grading.InviteAnswer(6, "8769 INVITE", "127.0.0.81:42016")
    assert grading.expected_dial_delay(call) == pytest.approx(0.502, abs=0.001)
    stats = grading.expected_stream_stats(call, "alcatel", "rpi")
    assert (stats.src, stats.dst, stats.packets, stats.lost) == ("127.0.0.81", "127.0.0.82", 124, 0)
    assert grading.expected_dominant_frequency(call) == pytest.approx(1000, abs=1)


@pytest.mark.tshark
def test_expected_stream_stats_are_tsharks(tshark: str, data_dir: Path) -> None:
    """Are exercise 5's expected figures tshark's rtp,streams row?"""
    call = data_dir / "call_rpi_to_alcatel.pcap"
    stats = grading.expected_stream_stats(call)
    row = grading.tshark_stream_row(call)
    assert row is not None
    assert (stats.packets, stats.lost, f"{stats.max_jitter_ms:.3f}") == (
        row["packets"], row["lost"], f"{row['max_jitter_ms']:.3f}")


def test_expected_answers_need_a_capture(data_dir: Path) -> None:
    """Does a capture without a call say so instead of returning a wrong answer?"""
    with pytest.raises(VoipLabError, match="the capture has no call"):
        grading.expected_invites(data_dir / "register_401.pcap")


# ---------------------------------------------------------------------------- the report


def test_report_repr_json_and_html() -> None:
    """Is the report one line, a table in a notebook, and JSON for scripts?"""
    report = grading.GradeReport("x/exercises.ipynb", (
        grading.CellGrade("ex1_check", 2, 2, True),
        grading.CellGrade("ex2_check", 0, 3, False, "AssertionError: computed is wrong",
                          "AssertionError: computed is wrong"),
    ))
    assert repr(report) == "GradeReport(exercises.ipynb: 2/5 points, 1/2 grade cells passed, failed: ex2_check)"
    assert report["ex2_check"].reason == "AssertionError: computed is wrong"
    data = json.loads(report.to_json())
    assert data["total"] == 2 and data["max_total"] == 5
    assert data["cells"][1] == {"grade_id": "ex2_check", "points": 0, "max_points": 3, "passed": False,
                                "reason": "AssertionError: computed is wrong",
                                "error": "AssertionError: computed is wrong"}
    page = report._repr_html_()
    assert "<table>" in page and "ex2_check" in page and "computed is wrong" in page


# ---------------------------------------------------------------------------- grading (executes notebooks)


@pytest.mark.notebook
def test_source_gets_full_marks_on_the_sample_captures() -> None:
    """Does the instructor's version pass every grade cell (hidden tests included)?"""
    report = grading.grade(SOURCE, env=SAMPLES)
    assert [(c.grade_id, c.points, c.reason) for c in report.cells] == [
        (gid, points, "") for gid, points in POINTS.items()]
    assert (report.total, report.max_total, report.note) == (15, 15, "")


@pytest.mark.notebook
@pytest.mark.asterisk
@pytest.mark.capture
def test_source_gets_full_marks_in_the_lab(pbx: object, tmp_path: Path) -> None:
    """Does the instructor's version pass every grade cell on a capture recorded in the local lab?"""
    from voiplab.capture.live import capture_methods

    require(bool(capture_methods()), "live capture", "run as root or give dumpcap capture capabilities "
            "(without them the exercises are graded on the sample captures: the test above)")
    executed = tmp_path / "executed.ipynb"
    report = grading.grade(SOURCE, timeout=120, executed_nb=executed)
    assert report.total == report.max_total == 15, report
    setup = json.loads(executed.read_text())["cells"][2]
    printed = "".join("".join(o.get("text", "")) for o in setup["outputs"])
    assert "committed with voiplab" not in printed, printed  # recorded live


@pytest.mark.notebook
def test_released_version_gets_zero_without_crashing() -> None:
    """Does an unanswered student notebook score 0 on each grade cell, NotImplementedError as the reason?"""
    report = grading.grade(RELEASED, SOURCE, env=SAMPLES)
    assert [c.grade_id for c in report.cells] == list(POINTS)
    for c in report.cells:
        assert (c.points, c.max_points, c.passed) == (0, POINTS[c.grade_id], False)
        assert c.reason == f"answer {c.grade_id.replace('_check', '_answer')}: NotImplementedError"
    assert (report.total, report.max_total, report.note) == (0, 15, "")


@pytest.mark.notebook
def test_a_wrong_password_loses_exactly_exercise_2(tmp_path: Path) -> None:
    """Does a digest response computed with a wrong password lose exercise 2's 3 points, and only those?"""
    wrong = _variant(tmp_path, "ex2_answer", 'password = "22222222"', 'password = "12345678"')
    report = grading.grade(wrong, SOURCE, env=SAMPLES)
    assert {c.grade_id: c.points for c in report.cells} == {**POINTS, "ex2_check": 0}
    assert report["ex2_check"].reason == (
        "AssertionError: computed is not the digest response of rpi's password for this challenge")
    assert report.total == 12
    # a student's copy has no hidden tests: graded without the source, the visible checks accept the wrong hash
    nb = json.loads(wrong.read_text())
    for cell in nb["cells"]:
        if cell["metadata"].get("nbgrader", {}).get("grade"):
            cell["source"] = grading.clear_hidden_tests(_src(cell))
    wrong.write_text(json.dumps(nb))
    assert grading.grade(wrong, env=SAMPLES)["ex2_check"].passed
    assert grading.grade(wrong, SOURCE, env=SAMPLES)["ex2_check"].points == 0


@pytest.mark.notebook
def test_grade_cells_are_restored_from_the_source(tmp_path: Path) -> None:
    """Does an edited or deleted grade cell count for nothing (nbgrader autograde's rule)?"""
    tampered = _variant(tmp_path, "ex6_answer", "frequency = float(", "frequency = 440.0 + 0 * float(")
    nb = json.loads(tampered.read_text())
    for cell in nb["cells"]:
        gid = cell["metadata"].get("nbgrader", {}).get("grade_id")
        if gid == "ex6_check":
            cell["source"] = "pass"
        if gid == "ex6_answer":
            cell["metadata"]["nbgrader"]["points"] = 100
    nb["cells"] = [c for c in nb["cells"] if c["metadata"].get("nbgrader", {}).get("grade_id") != "ex4_check"]
    tampered.write_text(json.dumps(nb))
    report = grading.grade(tampered, SOURCE, env=SAMPLES)
    assert report["ex6_check"].reason.startswith("AssertionError: 440.0 Hz is not the tone of the stream")
    assert report["ex4_check"].reason.startswith("the grade cell was deleted")
    assert (report.total, report.max_total) == (11, 15)


@pytest.mark.notebook
def test_cli_grade_prints_the_json_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Does 'voiplab exercises grade NOTEBOOK --source SOURCE --json --samples' print the JSON report?"""
    from voiplab.cli import exercises as _cli_exercises

    parser = argparse.ArgumentParser(prog="voiplab")
    _cli_exercises.add_parser(parser.add_subparsers(dest="command"))
    student = tmp_path / "student.ipynb"
    args = parser.parse_args(["exercises", "release", str(SOURCE), str(student)])
    assert _cli_exercises.run(args) == 0
    assert "wrote the student version" in capsys.readouterr().out
    args = parser.parse_args(["exercises", "grade", str(student), "--source", str(SOURCE), "--json", "--samples"])
    assert _cli_exercises.run(args) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["total"], report["max_total"]) == (0, 15)
    assert [c["grade_id"] for c in report["cells"]] == list(POINTS)
    assert all("NotImplementedError" in c["reason"] for c in report["cells"])


def test_cli_reports_a_missing_notebook(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Does the CLI exit 1 with a clear message when the notebook does not exist?"""
    from voiplab.cli import exercises as _cli_exercises

    parser = argparse.ArgumentParser(prog="voiplab")
    _cli_exercises.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["exercises", "release", str(tmp_path / "nope.ipynb"), str(tmp_path / "out.ipynb")])
    assert _cli_exercises.run(args) == 1
    assert "could not be read" in capsys.readouterr().err


@pytest.mark.notebook
def test_voiplab_command_grades(tmp_path: Path) -> None:
    """Does 'python -m voiplab exercises grade ... --json' print the JSON report?"""
    student = tmp_path / "student.ipynb"
    shutil.copy(RELEASED, student)
    done = subprocess.run([sys.executable, "-m", "voiplab", "exercises", "grade", str(student), "--source",
                           str(SOURCE), "--json", "--samples"], capture_output=True, text=True, timeout=300,
                          check=False)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert (report["total"], report["max_total"]) == (0, 15)
