"""voiplab.teach.tamper: what a graded answer may not do, read from its source in the grader's process."""

from __future__ import annotations

import json

import nbformat
import pytest
from grading_helpers import ASSIGNMENTS, source, text

from voiplab.teach import graders, grading
from voiplab.teach.tamper import imported_names, kernel_findings, scan_source

PROTECTED = ("vl", "np", "work", "reg_exp", "call_exp")

#: (a cheat seen or foreseen, what the finding says); every one is kernel-wide
CHEATS = [
    ("get_ipython().set_custom_exc((BaseException,), lambda *a, **k: None)", "uses get_ipython"),
    ("ip = get_ipython()\nip.input_transformers_post.append(lambda lines: ['pass\\n'])", "uses get_ipython"),
    ("%config Application.log_level = 'CRITICAL'", "uses IPython magics or shell commands"),
    ("!cat /proc/$PPID/cmdline", "uses IPython magics or shell commands"),
    ("/exec 'x = 1'", "uses exec"),
    ("exec(bytes.fromhex('7072696e74').decode())", "uses exec"),
    ("vl.grading.expected_dial_delay = lambda e: 0.5", "changes vl.grading.expected_dial_delay"),
    ("x = vl.grading.expected_challenge(reg_exp)", "uses vl.grading, the grader's code"),
    ("from voiplab import grading", "imports voiplab.grading, the grader's code"),
    ("import voiplab.teach.graders.ch5_rtp as g", "imports voiplab.teach.graders.ch5_rtp"),
    ("call_exp = vl.from_pcap(vl.sample_capture('call_rpi_to_alcatel'))", "rebinds call_exp"),
    ("for call_exp in [None]:\n    pass", "rebinds call_exp"),
    ("work.captures = None", "changes work.captures"),
    ("work.captures.files['call'] = None", "changes work.captures.files['call']"),
    ("np.fft.rfft = lambda x: x", "changes np.fft.rfft"),
    ("import hashlib\nhashlib.md5 = None", "changes hashlib.md5"),
    ("print(open('/proc/%d/cmdline' % 1).read())", "uses the path '/proc/%d/cmdline'"),
    ("open('/work/main/course/source/ch5_rtp/ch5_rtp.ipynb', 'w').write('')", "uses the path"),
    ("import os\nprint(dict(os.environ))", "imports os"),
    ("import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)", "imports signal"),
    ("import subprocess", "imports subprocess"),
    ("import sys\nsys.settrace(None)", "imports sys"),
    ("import importlib", "imports importlib"),
    ("import threading", "imports threading"),
    ("f = getattr(vl, 'compute_' + 'response')", "getattr() with a computed name"),
    ("d = vl.__dict__", "reaches into Python's internals (.__dict__)"),
    ("c = (lambda: 0).__code__", "reaches into Python's internals (.__code__)"),
    ("__builtins__.print = None", "uses __builtins__"),
    ("globals()['work'] = None", "uses globals"),
    ("setattr(vl, 'x', 1)", "uses setattr"),
    ("from numpy import *", "imports * from numpy"),
]


@pytest.mark.parametrize(("code", "what"), CHEATS, ids=[c[0][:40] for c in CHEATS])
def test_each_cheat_is_found_and_is_kernel_wide(code: str, what: str) -> None:
    """Is each way of cheating found, said in plain words, and counted against every later exercise?"""
    found = scan_source(code, protected=PROTECTED)
    assert any(what in f.what and f.kernel_wide for f in found), found


@pytest.mark.parametrize("code", [
    "import hashlib\nha1 = hashlib.md5(f'{a}:{b}'.encode()).hexdigest()",
    "import numpy as np\nd = np.diff(stream.time_ns / 1e9)\nj = 0.0\nfor v in np.abs(d):\n    j += (v - j) / 16",
    "lost = [int((a + k) % 65536) for a, b in zip(s[:-1], s[1:], strict=True) for k in range(1, (b - a) % 65536)]",
    "sample = -magnitude if sign else magnitude\nx = stream.payload(i)[j] ^ 0x55",
    "import matplotlib.pyplot as plt\nfig, ax = plt.subplots()\nvl.plots.ladder(call_exp.flow, ax=ax)",
    "def helper(x):\n    return x * 2\nprint(helper(3), len(call_exp.flow.messages), __name__)",
    "fixed = {n: t.replace('a', 'b') for n, t in broken.items()}",
])
def test_ordinary_answers_have_no_finding(code: str) -> None:
    """Is ordinary numpy/hashlib/voiplab code left alone (no false alarm)?"""
    assert scan_source(code, protected=PROTECTED) == []


def test_a_helper_the_exercise_forbids_is_local_to_it() -> None:
    """Is vl.compute_response a local finding (that exercise only) when the exercise forbids it, and fine elsewhere?"""
    code = "steps = vl.compute_response(challenge, 'REGISTER', uri, user, password, cnonce=c)"
    found = scan_source(code, protected=PROTECTED, forbidden=("compute_response",))
    assert [(f.what, f.kernel_wide) for f in found] == [
        ("uses .compute_response, which this exercise asks you to do yourself", False)]
    assert scan_source(code, protected=PROTECTED) == []
    assert scan_source("x = 1  # a syntax error elsewhere is not tampering\ny = (", protected=PROTECTED) == []


@pytest.mark.parametrize("assignment", sorted(ASSIGNMENTS))
def test_the_instructors_solutions_have_no_finding(assignment: str) -> None:
    """Do the solutions themselves pass the scan (so the scan cannot cost an honest student points)?"""
    nb = nbformat.read(str(source(assignment)), as_version=4)
    spec = graders.spec(assignment)
    found = grading.tamper_findings(nb, spec, grading.trusted_ids(nb))
    assert found == {e.grade_id: [] for e in spec.exercises}


def test_findings_count_against_the_exercises_they_can_affect() -> None:
    """A kernel-wide cheat before exercise 3: do exercises 3-5 score 0 and 1-2 keep their points?"""
    nb = nbformat.read(str(source("ch5_rtp")), as_version=4)
    at = next(i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == "ex3_answer")
    nb.cells.insert(at, nbformat.v4.new_code_cell("get_ipython().set_custom_exc((Exception,), print)"))
    nb.cells[at + 1].source = nb.cells[at + 1].source.replace("### BEGIN SOLUTION", "x = vl.ulaw_decode(b'')\n"
                                                                                    "### BEGIN SOLUTION")
    found = grading.tamper_findings(nb, graders.spec("ch5_rtp"), grading.trusted_ids(nb))
    assert found["ex1_check"] == found["ex2_check"] == []
    assert all(any("uses get_ipython" in f for f in found[g]) for g in ("ex3_check", "ex4_check", "ex5_check"))
    assert any("uses .ulaw_decode" in f for f in found["ex3_check"])
    assert not any("ulaw_decode" in f for f in found["ex4_check"])


def test_a_cell_dressed_as_a_locked_cell_is_still_read() -> None:
    """Is a student's cell carrying a made-up grade_id read like any other cell, and one repeating a check cell's
    grade_id given the instructor's code?"""
    src = nbformat.read(str(source("ch3_digest")), as_version=4)
    nb = nbformat.read(str(source("ch3_digest")), as_version=4)
    fake = nbformat.v4.new_code_cell("get_ipython().set_custom_exc((Exception,), print)", metadata={"nbgrader": {
        "grade": False, "grade_id": "setup2", "locked": True, "schema_version": 3, "solution": False, "task": False}})
    duplicate = nbformat.v4.new_code_cell("import os", metadata=json.loads(json.dumps(
        next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "ex1_check").metadata)))
    nb.cells[5:5] = [fake, duplicate]
    grading.restore_from_source(nb, src)
    found = grading.tamper_findings(nb, graders.spec("ch3_digest"), grading.trusted_ids(src))
    assert any("uses get_ipython" in f for f in found["ex1_check"])
    assert not any("import os" in c.source for c in nb.cells)
    checks = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "ex1_check"]
    assert len(checks) == 1


def test_what_the_kernel_says_about_itself() -> None:
    """Are a custom exception handler and new input or AST transformers, reported by the kernel, findings?"""
    assert kernel_findings({"now": {"custom_exceptions": [], "input_transformers_post": 0},
                            "setup": {"input_transformers_post": 0}}) == []
    found = kernel_findings({"now": {"custom_exceptions": ["BaseException"], "input_transformers_post": 1,
                                     "ast_transformers": 1}, "setup": {"input_transformers_post": 0,
                                                                       "ast_transformers": 0}})
    assert [f.what.split(":")[0] for f in found] == [
        "the kernel has a custom exception handler for ['BaseException'] (set_custom_exc)",
        "the kernel got 1 new input transformers after the setup cell",
        "the kernel got 1 new AST transformers after the setup cell"]


def test_imported_names_cover_the_setup_cell() -> None:
    """Are the modules a locked cell imports (hashlib) known, so patching them is seen in a student's cell?"""
    setup = next(text(c) for c in json.loads(source("ch3_digest").read_text())["cells"]
                 if c["metadata"].get("nbgrader", {}).get("grade_id") == "setup")
    assert {"hashlib", "vl"} <= imported_names([setup])
