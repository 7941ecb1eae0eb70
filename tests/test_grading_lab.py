"""Per-student captures recorded in the real lab: at release time (offline), and by the student's own notebook.

Needs the local lab (Asterisk, the simulated Alcatel, pjsua2) and live capture. The lab is
restarted with each variant and comes back as it was.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from conftest import require
from grading_helpers import answered, released, source

from voiplab.capture.live import capture_methods
from voiplab.config import load_config
from voiplab.devices.lab import Lab
from voiplab.teach import grading, variants

pytestmark = [pytest.mark.asterisk, pytest.mark.capture, pytest.mark.notebook, pytest.mark.pjsua2]

STUDENT = "heidi"


@pytest.fixture()
def can_capture() -> None:
    require(bool(capture_methods()), "live capture", "run as root or give dumpcap capture capabilities")


def test_release_time_captures_are_the_students_lab(pbx: object, can_capture: None, tmp_path: Path) -> None:
    """'voiplab exercises captures': does heidi's capture show her numbers, codec, tone, loss and DTMF, and is the
    lab that ran before running again, unchanged, afterwards?"""
    v = variants.variant_for(STUDENT)
    done = subprocess.run([sys.executable, "-m", "voiplab", "exercises", "captures", "--student", STUDENT, "--out",
                           str(tmp_path)], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    caps, which = grading.grader_captures(tmp_path, STUDENT, offline=tmp_path)
    assert caps is not None, which
    call = caps.experiment("call", v)
    heard = call.stream("alcatel", "rpi")
    assert {int(pt) for pt in heard.payload_type} == {v.payload_type}
    assert heard.stats.lost > 0 and heard.src_port == v.alcatel_rtp_port
    lab = Lab(load_config())
    assert lab.pbx.is_running()
    endpoints = {e.name: e.number for e in lab.status().endpoints}
    assert endpoints["alcatel"] == load_config().account("alcatel").number  # the lab's own numbers again


def test_the_students_notebook_records_its_captures_and_gets_full_marks(pbx: object, can_capture: None,
                                                                        tmp_path: Path) -> None:
    """Run as heidi in her lab, does the notebook record recorded/ itself, and the grader give it 17/17 from it?"""
    import nbclient

    work = tmp_path / "ch5_rtp"
    work.mkdir()
    nb = nbformat.reads(json.dumps(answered(released("ch5_rtp"), "ch5_rtp")), as_version=4)
    env = dict(os.environ, VOIPLAB_STUDENT=STUDENT)
    env.pop("VOIPLAB_SAMPLES", None)
    nbclient.NotebookClient(nb, timeout=120, kernel_name="python3", allow_errors=True,
                            resources={"metadata": {"path": str(work)}}).execute(env=env)
    nbformat.write(nb, str(work / "ch5_rtp.ipynb"))
    manifest = json.loads((work / "recorded" / "captures.json").read_text())
    assert (manifest["student"], manifest["how"]) == (STUDENT, "lab")
    report = grading.grade(work / "ch5_rtp.ipynb", "ch5_rtp", STUDENT, source_nb=source("ch5_rtp"))
    assert report.captures == f"the captures {STUDENT} recorded in their lab (recorded/)"
    assert (report.total, report.auto_max_total) == (17, 17), report.to_json()
