"""Many labs on one host (issue 14): three unprivileged login users start their labs at once.

Each user is a real login account (``runuser -l``: the distribution's default PATH, no /usr/sbin),
using the machine's shared installation (``/opt/voiplab/venv`` and the Asterisk root filesystem
``voiplab pbx install --system``, as on a JupyterHub server or a lab PC). The three labs start at
the same time; each user registers and calls the simulated Alcatel in their own lab on their own
loopback block (127.A.B from the uid); while all three run, no user can read another's state files
or log in to another's Asterisk manager.
"""

from __future__ import annotations

import json
import os
import pwd
import secrets
import shlex
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from voiplab.config import local_block

pytestmark = pytest.mark.root

SHARED_VENV = Path("/opt/voiplab/venv")
SYSTEM_ROOTFS = Path("/opt/voiplab/asterisk-rootfs")

#: what each user runs: their own lab, a registration, a call to the Alcatel with RTP both ways
USER_SCRIPT = textwrap.dedent("""
    import json, os, sys, time
    import voiplab as vl
    from voiplab.config import local_block
    started = time.monotonic()
    lab = vl.start_lab()
    up_s = time.monotonic() - started
    rpi = lab.phone("rpi", audio="tone:440")
    reg = rpi.register()
    call = rpi.call(lab.config.account("alcatel").number)
    call.wait("CONFIRMED", timeout=15)   # Asterisk's Answer(500); the Alcatel rings 2 s, then answers
    time.sleep(5.0)
    stats = call.stats()
    call.hangup()
    call.wait("DISCONNECTED", timeout=10)
    rpi.close()
    print(json.dumps({
        "uid": os.getuid(), "block": local_block(), "pbx": lab.config.pbx.host,
        "rpi": lab.config.account("rpi").address, "registered": reg.status,
        "rx_packets": stats.get("rx_packets", 0), "tx_packets": stats.get("tx_packets", 0),
        "lab_dir": str(lab.pbx.lab_dir), "secret_file": str(lab.pbx.lab_dir / "run" / "ami-secret"),
        "up_s": round(up_s, 2),
    }))
""")

#: what a user tries against another user's lab: read its secret, list its state, log in to its manager
PROBE_SCRIPT = textwrap.dedent("""
    import json, os, sys
    from voiplab.devices.ami import AmiClient
    from voiplab.errors import PbxError
    other = json.loads(sys.argv[1])
    mine = json.loads(sys.argv[2])
    out = {}
    for key, action in (("read_secret", lambda: open(other["secret_file"]).read()),
                        ("list_state", lambda: os.listdir(other["lab_dir"]))):
        try:
            action()
            out[key] = "allowed"
        except PermissionError:
            out[key] = "denied"
    own = open(mine["secret_file"]).read().strip()
    for source_local in (True, False):
        try:
            with AmiClient(other["pbx"], 5038, "voiplab", own, local=source_local).session() as s:
                s.command("core show version")
            out[f"ami_local_{source_local}"] = "allowed"
        except PbxError as e:
            out[f"ami_local_{source_local}"] = "refused: " + str(e)[:120]
    print(json.dumps(out))
""")


def _run(cmd: list[str], timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)


def _as_user(user: str, command: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    """``command`` in a login shell of ``user`` (runuser -l: the user's own PATH and HOME)."""
    return _run(["runuser", "-l", user, "-c", command], timeout=timeout)


@pytest.fixture
def three_users():
    """Three fresh login users (removed at the end with everything they ran)."""
    if os.getuid() != 0:
        pytest.fail("this test creates users: run it as root (CI does)")
    python = SHARED_VENV / "bin" / "python"
    ready = python.exists() and _run([str(python), "-c", "import voiplab, pjsua2"]).returncode == 0
    if not ready or not (SYSTEM_ROOTFS / "usr/sbin/asterisk").exists():
        pytest.fail(f"the machine's shared installation is missing ({SHARED_VENV} with voiplab and pjsua2, "
                    f"{SYSTEM_ROOTFS}): run 'bash scripts/setup.sh --system' as root (CI does)")
    names = [f"vlmu{secrets.token_hex(2)}{i}" for i in range(3)]
    try:
        for name in names:
            res = _run(["useradd", "--create-home", "--shell", "/bin/bash", name])
            assert res.returncode == 0, res.stderr
        yield names
    finally:
        for name in names:
            if _run(["id", name]).returncode != 0:
                continue
            _as_user(name, f"{python} -m voiplab lab down", timeout=60)
            _run(["pkill", "-KILL", "-u", name])
            _run(["userdel", "-r", name])


def test_three_users_run_their_labs_side_by_side(three_users: list[str]) -> None:
    """Do three users' labs start at once, each on its own block, each call carrying RTP both ways,
    with no user able to read another's state or log in to another's manager?"""
    python = SHARED_VENV / "bin" / "python"
    results: dict[str, subprocess.CompletedProcess[str]] = {}

    def one(user: str) -> None:
        script = Path(f"/home/{user}/lab_check.py")
        script.write_text(USER_SCRIPT)
        os.chown(script, *(_ids(user)))
        results[user] = _as_user(user, f"{python} {script}", timeout=240)

    threads = [threading.Thread(target=one, args=(u,)) for u in three_users]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    facts: dict[str, dict[str, object]] = {}
    for user in three_users:
        res = results[user]
        assert res.returncode == 0, f"{user}: {res.stdout[-2000:]}\n{res.stderr[-3000:]}"
        facts[user] = json.loads(res.stdout.strip().splitlines()[-1])
    print(json.dumps(facts, indent=1), file=sys.stderr)
    blocks = {f["block"] for f in facts.values()}
    assert len(blocks) == 3, f"two users share an address block: {facts}"
    for user, f in facts.items():
        uid = int(f["uid"])  # type: ignore[call-overload]
        assert f["block"] == local_block(uid)
        assert f["pbx"] == f"{local_block(uid)}.80" and f["rpi"] == f"{local_block(uid)}.82"
        assert f["registered"] == 200
        assert int(f["rx_packets"]) > 50 and int(f["tx_packets"]) > 50, f"{user}: no RTP both ways: {f}"  # type: ignore[call-overload]
        assert str(f["lab_dir"]).startswith(f"/home/{user}/")
        mode = Path(str(f["secret_file"])).stat().st_mode & 0o777
        assert mode == 0o600, f"{user}'s manager secret is {oct(mode)}"
    # the three labs are all still up: each user probes the next one's
    for i, user in enumerate(three_users):
        other = facts[three_users[(i + 1) % 3]]
        status = _as_user(user, f"{python} -m voiplab lab status", timeout=60)
        assert status.returncode == 0, status.stderr
        assert f"PBX at {facts[user]['pbx']}:5060: running" in status.stdout, status.stdout
        assert f"your addresses (uid {facts[user]['uid']})" in status.stdout
        assert str(other["pbx"]) not in status.stdout
        probe = Path(f"/home/{user}/probe.py")
        probe.write_text(PROBE_SCRIPT)
        os.chown(probe, *(_ids(user)))
        res = _as_user(user, f"{python} {probe} {shlex.quote(json.dumps(other))} "
                             f"{shlex.quote(json.dumps(facts[user]))}", timeout=60)
        assert res.returncode == 0, res.stderr
        seen = json.loads(res.stdout.strip().splitlines()[-1])
        assert seen["read_secret"] == "denied" and seen["list_state"] == "denied", seen
        assert seen["ami_local_True"].startswith("refused"), seen
        assert seen["ami_local_False"].startswith("refused"), seen


def _ids(user: str) -> tuple[int, int]:
    entry = pwd.getpwnam(user)
    return entry.pw_uid, entry.pw_gid
