"""Can a student who is not root install and run the lab?

As root (CI), this test creates an unprivileged user, installs voiplab into that
user's own virtual environment, and as that user runs `voiplab pbx install`,
`voiplab lab up`, `lab status` and `lab down`. The student's lab uses its own
addresses (127.0.0.100-103) so the shared lab keeps running.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest
from conftest import require

STUDENT = "voiplab-student"
ROOT = Path(__file__).resolve().parent.parent
STUDENT_TOML = """\
[pbx]
host = "127.0.0.100"

[accounts.alcatel]
address = "127.0.0.101"
[accounts.rpi]
address = "127.0.0.102"
[accounts.guillaume]
address = "127.0.0.103"
"""


def _as_student(home: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    env = {"HOME": str(home), "PATH": f"{home}/venv/bin:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin",
           "VOIPLAB_CONFIG": f"{home}/lab.toml", "LANG": "C.UTF-8"}
    return subprocess.run(["runuser", "-u", STUDENT, "--", "env", "-i", *[f"{k}={v}" for k, v in env.items()],
                           *args], capture_output=True, text=True, timeout=timeout, cwd=str(home))


@pytest.mark.root
@pytest.mark.asterisk
def test_a_student_without_root_runs_the_lab(tmp_path: Path) -> None:
    """Does an unprivileged user install Asterisk, bring the lab up, see it, and take it down?"""
    require(os.geteuid() == 0, "root", "this test creates a user: run the suite as root (CI does)")
    python = "/usr/bin/python3"
    require(os.path.exists(python), "Debian's python3", "apt-get install python3 python3-venv")
    require(shutil.which("runuser") is not None, "runuser", "apt-get install util-linux")
    try:
        pwd.getpwnam(STUDENT)
    except KeyError:
        subprocess.run(["useradd", "--create-home", "--shell", "/bin/bash", STUDENT], check=True)
    home = Path(pwd.getpwnam(STUDENT).pw_dir)
    subuid = Path("/etc/subuid").read_text() if Path("/etc/subuid").exists() else ""
    if not re.search(rf"^{STUDENT}:", subuid, re.M):
        subprocess.run(["usermod", "--add-subuids", "200000-265535", "--add-subgids", "200000-265535", STUDENT],
                       check=True)

    # the student's copy of voiplab (the checkout may live in root's home, which they cannot read)
    src = home / "voiplab-src"
    if src.exists():
        shutil.rmtree(src)
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(".venv", ".git", "node_modules", "__pycache__",
                                                             "*.egg-info", "tests", "notebooks", "build"))
    (home / "lab.toml").write_text(STUDENT_TOML)
    subprocess.run(["chown", "-R", f"{STUDENT}:{STUDENT}", str(home)], check=True)

    if not (home / "venv/bin/python").exists():
        res = _as_student(home, python, "-m", "venv", f"{home}/venv")
        assert res.returncode == 0, res.stderr
    res = _as_student(home, f"{home}/venv/bin/pip", "install", "-q", "--disable-pip-version-check",
                      "--no-deps", str(src), "pjsua2-python", "numpy")
    assert res.returncode == 0, res.stdout + res.stderr

    t0 = time.monotonic()
    res = _as_student(home, "voiplab", "pbx", "install")
    install_s = time.monotonic() - t0
    assert res.returncode == 0, res.stdout + res.stderr
    assert "Asterisk root filesystem" in res.stdout
    print(f"student pbx install: {install_s:.1f} s")

    try:
        res = _as_student(home, "voiplab", "lab", "up", timeout=120)
        assert res.returncode == 0, res.stdout + res.stderr
        assert "started Asterisk on 127.0.0.100:5060" in res.stdout
        status = _as_student(home, "voiplab", "lab", "status", timeout=60)
        assert status.returncode == 0, status.stderr
        assert re.search(r"running Asterisk 22\.\d+", status.stdout), status.stdout
        for name, number in (("alcatel", "5001"), ("rpi", "5002"), ("guillaume", "5003")):
            assert re.search(rf"^\s+{name}\s+{number}\s", status.stdout, re.M), status.stdout
        # the simulated Alcatel runs as the student too, and registered
        assert re.search(r"^\s+alcatel\s+5001\s+\S.*127\.0\.0\.101:\d+", status.stdout, re.M), status.stdout
        # Asterisk runs as the student, not as root
        pids = subprocess.run(["pgrep", "-u", STUDENT, "-f", "asterisk -C /lab/etc/asterisk.conf"],
                              capture_output=True, text=True).stdout.split()
        assert pids, "no Asterisk runs as the student"
    finally:
        down = _as_student(home, "voiplab", "lab", "down", timeout=60)
    assert down.returncode == 0, down.stderr
    assert "stopped Asterisk on 127.0.0.100:5060" in down.stdout
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.100", 5060))  # free again
    deadline = time.monotonic() + 5  # a stopped Asterisk may stay a zombie until it is reaped
    while True:
        left = subprocess.run(["pgrep", "-u", STUDENT, "-f", "asterisk -C"], capture_output=True, text=True)
        if left.stdout.strip() == "" or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert left.stdout.strip() == ""

