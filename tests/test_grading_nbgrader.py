"""The instructor's workflow with real nbgrader (0.9.6) end to end, and ``voiplab exercises grade`` on each assignment.

In a temporary course directory (``course/nbgrader_config.py`` and ``course/source/``, the
offline captures of alice and grace added) and a temporary exchange:
``nbgrader generate_assignment``, ``release_assignment``; alice and grace ``fetch_assignment``
and ``submit``; ``collect``, ``autograde``, ``generate_feedback``, ``export``:

* alice, chapter 5, the right answers: full marks;
* grace, chapter 5, untouched: 0, each exercise saying its answer cell raised NotImplementedError;
* alice, chapter 4, the answer delay given in seconds: that part only lost, with the hint;
* grace, chapter 4, right answers but a custom exception handler before exercise 3: exercises
  1-2 kept, 3-4 at 0, the tampering in the feedback.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from grading_helpers import ASSIGNMENTS, COURSE, VARIANT_CAPTURES, answered, released, source, untouched

pytestmark = pytest.mark.notebook

STEP_TIMEOUT_S = 300


def nbgrader(*args: str, cwd: Path, env: dict[str, str]) -> str:
    done = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=STEP_TIMEOUT_S, check=False)
    assert done.returncode == 0, f"nbgrader {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


def student_copy(workdir: Path, assignment: str, nb: dict) -> None:
    """What the student edited in the folder nbgrader fetched (keeping nbgrader's metadata of the fetched copy)."""
    fetched = workdir / assignment / f"{assignment}.ipynb"
    original = json.loads(fetched.read_text())
    by_id = {c["id"]: c for c in nb["cells"]}
    cells = []
    for cell in nb["cells"]:
        match = next((c for c in original["cells"] if c["id"] == cell["id"]), None)
        cells.append({**match, "source": cell["source"]} if match else cell)
    assert all(c["id"] in by_id for c in original["cells"])
    original["cells"] = cells
    fetched.write_text(json.dumps(original, indent=1))


@pytest.fixture(scope="module")
def graded_course(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("nbgrader")
    course, exchange = root / "course", root / "exchange"
    exchange.mkdir(mode=0o777)
    os.chmod(exchange, 0o777)
    (course / "source").mkdir(parents=True)
    shutil.copy(COURSE / "nbgrader_config.py", course)
    for assignment in ("ch4_invite", "ch5_rtp"):
        shutil.copytree(source(assignment).parent, course / "source" / assignment)
        for student in ("alice", "grace"):
            shutil.copytree(VARIANT_CAPTURES / student, course / "source" / assignment / "captures" / student)
    env = dict(os.environ, VOIPLAB_NBGRADER_EXCHANGE=str(exchange),
               PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    nbgrader("generate_assignment", "*", cwd=course, env=env)
    for assignment in ("ch4_invite", "ch5_rtp"):
        nbgrader("release_assignment", assignment, cwd=course, env=env)
    work = {
        ("alice", "ch5_rtp"): answered(released("ch5_rtp"), "ch5_rtp"),
        ("grace", "ch5_rtp"): untouched("ch5_rtp"),
        ("alice", "ch4_invite"): answered(released("ch4_invite"), "ch4_invite", replace={
            "ex3_answer": ("answer_delay_ms = (invite_to_alcatel.time - ok_to_rpi.time) * 1000",
                           "answer_delay_ms = invite_to_alcatel.time - ok_to_rpi.time")}),
        ("grace", "ch4_invite"): answered(released("ch4_invite"), "ch4_invite", insert=[
            ("ex3_answer", "get_ipython().set_custom_exc((BaseException,), lambda *a, **k: None)")]),
    }
    for (student, assignment), nb in work.items():
        home = root / student
        home.mkdir(exist_ok=True)
        nbgrader("fetch_assignment", assignment, "--course", "voiplab", f"--Exchange.root={exchange}", cwd=home,
                 env=env)
        student_copy(home, assignment, nb)
        nbgrader("submit", assignment, "--course", "voiplab", f"--student={student}", f"--Exchange.root={exchange}",
                 cwd=home, env=env)
    for assignment in ("ch4_invite", "ch5_rtp"):
        nbgrader("collect", assignment, cwd=course, env=env)
    nbgrader("autograde", "*", cwd=course, env=env)
    nbgrader("generate_feedback", "*", cwd=course, env=env)
    nbgrader("export", cwd=course, env=env)
    return course


def scores(course: Path) -> dict[tuple[str, str], float]:
    with open(course / "grades.csv", newline="") as f:
        return {(row["student_id"], row["assignment"]): float(row["raw_score"]) for row in csv.DictReader(f)}


def feedback(course: Path, student: str, assignment: str) -> str:
    import html

    return html.unescape((course / "feedback" / student / assignment / f"{assignment}.html").read_text())


def test_nbgrader_gives_full_marks_0_and_partial_credit(graded_course: Path) -> None:
    """Does nbgrader's gradebook hold 17 for alice's right chapter 5, 0 for grace's untouched one, 9 of 11 for
    alice's chapter 4 with one part wrong, and 7 of 11 for grace's tampered one?"""
    assert scores(graded_course) == {("alice", "ch5_rtp"): 17.0, ("grace", "ch5_rtp"): 0.0,
                                     ("alice", "ch4_invite"): 9.0, ("grace", "ch4_invite"): 7.0}


def test_feedback_says_what_is_wrong(graded_course: Path) -> None:
    """Does the feedback name the part that is wrong and why, and each untouched answer's error?"""
    ch4 = feedback(graded_course, "alice", "ch4_invite")
    assert "0/2 your answer delay is" in ch4 and "answer_delay_ms is in milliseconds, not seconds" in ch4
    assert "2/2 reinvite_cseq: right" in ch4
    assert "2/2 jitter: right" in feedback(graded_course, "alice", "ch5_rtp")
    untouched_fb = feedback(graded_course, "grace", "ch5_rtp")
    assert untouched_fb.count("answer ex1_answer: NotImplementedError") >= 2
    tampered = feedback(graded_course, "grace", "ch4_invite")
    assert "tampering: cell" in tampered and "uses get_ipython" in tampered


def test_written_answers_wait_for_the_instructor(graded_course: Path) -> None:
    """Is alice's written answer left to manual grading, and grace's empty one given 0 (nbgrader's rule)?"""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{graded_course / 'gradebook.db'}", "voiplab") as gb:
        for student, needs in (("alice", True), ("grace", False)):
            notebook = gb.find_submission_notebook("ch5_rtp", "ch5_rtp", student)
            written = [g for g in notebook.grades if g.name == "ex6_written"]
            assert len(written) == 1 and written[0].needs_manual_grade is needs, student
            assert written[0].auto_score == (None if needs else 0)
            assert notebook.max_score == 19.0


def test_the_course_source_is_not_released(graded_course: Path) -> None:
    """Does the release hold the student versions (no solution) and every student's offline captures, nothing else?"""
    release = graded_course / "release" / "ch5_rtp"
    files = sorted(str(p.relative_to(release)) for p in release.rglob("*") if p.is_file())
    assert files == ["captures/alice/call.pcap", "captures/alice/captures.json", "captures/alice/register.pcap",
                     "captures/grace/call.pcap", "captures/grace/captures.json", "captures/grace/register.pcap",
                     "ch5_rtp.ipynb"]
    assert "BEGIN SOLUTION" not in (release / "ch5_rtp.ipynb").read_text()


@pytest.mark.parametrize("assignment", sorted(ASSIGNMENTS))
def test_voiplab_exercises_grade_gives_the_solution_full_marks(assignment: str, tmp_path: Path) -> None:
    """Does 'voiplab exercises grade --json' give grace's right answers every automatic point of each assignment?"""
    from grading_helpers import write_submission

    sub = write_submission(tmp_path / "grace", assignment, "grace", answered(released(assignment), assignment))
    done = subprocess.run([sys.executable, "-m", "voiplab", "exercises", "grade", str(sub), "--assignment",
                           assignment, "--student", "grace", "--source", str(source(assignment)), "--json"],
                          capture_output=True, text=True, timeout=STEP_TIMEOUT_S, check=False)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    auto, manual = ASSIGNMENTS[assignment]
    assert (report["total"], report["auto_max_total"], report["max_total"]) == (auto, auto, auto + manual), report
    assert report["isolation"] and report["note"] == ""
