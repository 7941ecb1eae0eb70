"""Hostile submissions (issue 13): each way of cheating scores 0 where it aims, is reported, and changes nothing else.

Every submission here is graded as ``voiplab exercises grade`` does (:func:`voiplab.teach.grading.grade`:
a sandboxed kernel, the answers checked outside it). Most are the right answers plus one cell of
cheating inserted before exercise 3 of chapter 5: exercises 1 and 2 keep their points, the
exercises the cheat can reach lose theirs, and the report says why. After each, the
instructor's source is byte for byte the same, and an honest submission graded next gets the
same grade as before.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from pathlib import Path

import pytest
from grading_helpers import answered, released, source, untouched, write_submission

from voiplab.teach import grading

pytestmark = pytest.mark.notebook

A = "ch5_rtp"
BEFORE_EX3 = "ex3_answer"
EARLY, LATE = ("ex1_check", "ex2_check"), ("ex3_check", "ex4_check", "ex5_check")


@pytest.fixture(scope="module")
def course(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the instructor's source of ch5_rtp, as a course directory holds it."""
    root = tmp_path_factory.mktemp("course")
    target = root / "source" / A
    shutil.copytree(source(A).parent, target)
    return root


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def grade(course: Path, tmp_path: Path, nb: dict, name: str = "alice", timeout: float = 30) -> grading.GradeReport:
    sub = write_submission(tmp_path / name, A, "alice", nb)
    src = course / "source" / A / f"{A}.ipynb"
    before = digest(src)
    report = grading.grade(sub, A, "alice", source_nb=src, timeout=timeout, executed_nb=tmp_path / f"{name}.out")
    assert digest(src) == before, "the submission changed the instructor's source"
    return report


def cheat(code: str) -> dict:
    return answered(released(A), A, insert=[(BEFORE_EX3, code)])


def assert_caught(report: grading.GradeReport, what: str, cells: tuple[str, ...] = LATE) -> None:
    points = {c.grade_id: c.points for c in report.cells if not c.manual}
    assert {g: points[g] for g in EARLY} == {"ex1_check": 4, "ex2_check": 4}, report.to_json()
    for gid in cells:
        assert points[gid] == 0, (gid, report.to_json())
        assert any(what in t for t in report[gid].tampering), (gid, report[gid].tampering)


def test_the_honest_submission_gets_full_marks(course: Path, tmp_path: Path) -> None:
    """The baseline: are the right answers worth 17/17, with nothing reported?"""
    report = grade(course, tmp_path, answered(released(A), A))
    assert (report.total, report.auto_max_total, report.tampering, report.note) == (17, 17, [], "")
    assert report.captures == "the offline captures recorded for alice at release time"


def test_a_custom_exception_handler_scores_0(course: Path, tmp_path: Path) -> None:
    """get_ipython().set_custom_exc((BaseException,), ...) silencing every error: 0 from there on, reported?"""
    report = grade(course, tmp_path, cheat("get_ipython().set_custom_exc((BaseException,), lambda *a, **k: None)"))
    assert_caught(report, "uses get_ipython")
    # and on an unanswered notebook it wins nothing at all
    nb = untouched(A)
    nb["cells"].insert(4, {"cell_type": "code", "execution_count": None, "id": "x", "metadata": {}, "outputs": [],
                           "source": "get_ipython().set_custom_exc((BaseException,), lambda *a, **k: None)"})
    assert grade(course, tmp_path, nb, "untouched").total == 0


def test_an_input_transformer_that_blanks_the_check_cells_scores_0(course: Path, tmp_path: Path) -> None:
    """An input transformer turning later cells into 'pass': 0 from there on, reported?"""
    report = grade(course, tmp_path, cheat(
        "ip = get_ipython()\nip.input_transformers_post.append(lambda lines: ['pass\\n'])"))
    assert_caught(report, "uses get_ipython")


def test_calling_or_patching_the_graders_code_scores_0(course: Path, tmp_path: Path) -> None:
    """vl.grading.expected_* called, or patched: 0 from there on, reported?"""
    report = grade(course, tmp_path, cheat("vl.grading.expected_stream_stats = lambda *a: None"))
    assert_caught(report, "changes vl.grading.expected_stream_stats")
    report = grade(course, tmp_path, cheat("from voiplab.teach.graders import ch5_rtp as g"), "import")
    assert_caught(report, "imports from voiplab.teach.graders")


def test_reading_the_graders_command_line_gets_nothing(course: Path, tmp_path: Path) -> None:
    """Reading /proc/<ppid>/cmdline for the source's path and running its solutions: nothing found, 0, reported?"""
    code = ("import os, re\n"
            "line = open(f'/proc/{os.getppid()}/cmdline').read()\n"
            "print('GRADER:', line)\n"
            "for path in re.findall(r'/[^\\x00 ]*source[^\\x00 ]*', line):\n"
            "    print('SOURCE:', open(path).read())\n")
    report = grade(course, tmp_path, cheat(code))
    assert_caught(report, "imports os")
    out = json.loads((tmp_path / "alice.out").read_text())
    shown = json.dumps([c.get("outputs") for c in out["cells"]])
    assert str(course) not in shown and "BEGIN SOLUTION" not in shown


def test_rebinding_the_capture_scores_0(course: Path, tmp_path: Path) -> None:
    """call_exp rebound to another capture (answers that are right for it): 0, reported?"""
    report = grade(course, tmp_path, cheat(
        "call_exp = vl.from_pcap(vl.sample_capture('call_rpi_to_alcatel'))\n"
        "stream = call_exp.stream('alcatel', 'rpi')"))
    assert_caught(report, "rebinds call_exp")


def test_rebinding_the_capture_without_saying_so_is_seen_in_the_answers(course: Path, tmp_path: Path) -> None:
    """The same, hidden from the source scan (a dict entry): do the check cells see another capture's SHA-256?"""
    nb = answered(released(A), A, insert=[(BEFORE_EX3, "ns = {}\nns['x'] = vl.from_pcap(vl.sample_capture("
                                                       "'call_rpi_to_alcatel'))")],
                  replace={"ex3_answer": ("i, j = work.g711_target", "i, j = work.g711_target\n"
                                                                     "stream = ns['x'].stream('alcatel', 'rpi')")})
    report = grade(course, tmp_path, nb)
    assert report["ex3_check"].points == 0 and report["ex1_check"].points == 4


def test_rewriting_the_source_changes_nothing(course: Path, tmp_path: Path) -> None:
    """A submission writing 'pass' into the source's check cells: the source unchanged (checked in grade()),
    the next untouched submission still 0, the attempt reported?"""
    src = course / "source" / A / f"{A}.ipynb"
    code = (f"import json\nnb = json.load(open({str(src)!r}))\n"
            "for c in nb['cells']:\n    c['source'] = 'pass'\n"
            f"json.dump(nb, open({str(src)!r}, 'w'))")
    report = grade(course, tmp_path, answered(released(A), A, insert=[("ex1_answer", code)]))
    assert report.total == 0 and any("uses the path" in t for t in report.tampering)
    assert grade(course, tmp_path, untouched(A), "next").total == 0


def test_printing_the_graders_environment_shows_no_secret(course: Path, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """A submission printing its environment: no variable of the grader in it, 0 from there on, reported?"""
    monkeypatch.setenv("VOIPLAB_GRADER_TOKEN", "the-graders-secret")
    report = grade(course, tmp_path, cheat("import os\nprint(dict(os.environ))"))
    assert_caught(report, "imports os")
    assert "the-graders-secret" not in (tmp_path / "alice.out").read_text()


def test_a_loop_ignoring_sigint_is_killed_at_the_timeout(course: Path, tmp_path: Path) -> None:
    """A loop ignoring SIGINT: killed at the timeout, the exercises before it graded, those after 0, said?"""
    t0 = time.monotonic()
    report = grade(course, tmp_path, cheat("import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\n"
                                           "while True:\n    pass"), timeout=6)
    assert time.monotonic() - t0 < 6 + 30
    assert report.note.startswith("a cell ran longer than 6 s: the run was stopped there")
    assert_caught(report, "imports signal")
    assert grade(course, tmp_path, answered(released(A), A), "next").total == 17
