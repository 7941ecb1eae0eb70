"""``voiplab doctor``: is this machine ready for the lab? Each check says OK or what to do.

Taught in notebook 00 (lab check).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from dataclasses import dataclass

from ..errors import PbxError
from .lab import Lab
from .pbx import find_asterisk

__all__ = ["Check", "run_checks", "capture_permitted"]


@dataclass(frozen=True)
class Check:
    """One line of the doctor's report."""

    name: str
    ok: bool
    detail: str
    fix: str = ""

    def __str__(self) -> str:
        mark = "OK  " if self.ok else "FIX "
        text = f"{mark} {self.name}: {self.detail}"
        if not self.ok and self.fix:
            text += f"\n       -> {self.fix}"
        return text


def _check_python() -> Check:
    v = sys.version_info
    ok = v >= (3, 11)
    return Check("python", ok, f"{sys.executable} {v.major}.{v.minor}.{v.micro}",
                 "use Python 3.11 or newer (conda env from environment.yml, or python3.11 -m venv)")


def _check_pjsua2() -> Check:
    # imported in a child process: a broken pjsua2 must not take this process down
    code = "import pjsua2 as pj; print(pj.Endpoint().libVersion().full)"
    try:
        res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired:
        return Check("pjsua2", False, "importing pjsua2 hung",
                     "reinstall it: pip install --force-reinstall pjsua2-python")
    if res.returncode == 0:
        version = (res.stdout.strip().splitlines() or ["?"])[-1]
        return Check("pjsua2", True, f"pjsua2 {version}")
    machine = os.uname().machine
    fix = ("pip install pjsua2-python" if machine == "x86_64" else
           "there is no pjsua2-python wheel for " + machine + ": build pjproject with its Python "
           "binding from source (see README, 'Raspberry Pi')")
    last = (res.stderr.strip().splitlines() or ["?"])[-1]
    return Check("pjsua2", False, f"cannot be used ({last})", fix)


def _check_asterisk() -> Check:
    try:
        inst = find_asterisk()
    except PbxError as e:
        return Check("asterisk", False, "not found", str(e).split(":", 1)[1].strip())
    return Check("asterisk", True, repr(inst))


def _check_unshare() -> Check:
    if os.geteuid() == 0:
        return Check("namespaces", True, "running as root: Asterisk's root filesystem runs with chroot")
    try:
        res = subprocess.run(["unshare", "--map-root-user", "--mount", "true"], capture_output=True, timeout=10)
        ok = res.returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        ok = False
    return Check("namespaces", ok, "unprivileged user namespaces " + ("work" if ok else "are not allowed"),
                 "enable them: sudo sysctl -w kernel.unprivileged_userns_clone=1 "
                 "(and kernel.apparmor_restrict_unprivileged_userns=0 on Ubuntu 24.04)")


def _check_mmdebstrap() -> Check:
    ok = shutil.which("mmdebstrap") is not None
    need_uidmap = os.geteuid() != 0
    if ok and need_uidmap and shutil.which("newuidmap") is None:
        return Check("mmdebstrap", False, "found, but newuidmap is missing", "sudo apt-get install uidmap")
    return Check("mmdebstrap", ok, "found" if ok else "not installed (needed by 'voiplab pbx install')",
                 "sudo apt-get install mmdebstrap uidmap")


def capture_permitted() -> tuple[bool, str]:
    """Can this user capture packets? Returns (permitted, how or why not)."""
    try:
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
        s.close()
        return True, "raw sockets allowed (scapy can sniff directly)"
    except PermissionError:
        pass
    except (OSError, AttributeError) as e:
        return False, f"raw sockets unavailable ({e})"
    for tool in ("dumpcap", "tcpdump"):
        path = shutil.which(tool) or (f"/usr/sbin/{tool}" if os.path.exists(f"/usr/sbin/{tool}") else None)
        if path is None:
            continue
        getcap = shutil.which("getcap") or "/usr/sbin/getcap"
        try:
            caps = subprocess.run([getcap, path], capture_output=True, text=True, timeout=5).stdout
        except OSError:
            caps = ""
        if "cap_net_raw" in caps and os.access(path, os.X_OK):
            return True, f"{tool} has capture capabilities ({path})"
    return False, "this user may not capture packets"


def _check_capture() -> Check:
    ok, detail = capture_permitted()
    return Check("capture", ok, detail,
                 "run as root, or 'sudo dpkg-reconfigure wireshark-common' (answer yes) and "
                 "'sudo usermod -aG wireshark $USER' then log in again, or "
                 "'sudo setcap cap_net_raw,cap_net_admin=eip /usr/bin/dumpcap'. Without it, "
                 "notebooks use each phone's own SIP trace instead of a capture")


def _check_tshark() -> Check:
    path = shutil.which("tshark")
    if path is None:
        return Check("tshark", False, "not installed (the reference for SIP fields and RTP statistics)",
                     "sudo apt-get install tshark")
    out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30).stdout
    return Check("tshark", True, (out.splitlines() or [path])[0])


def _check_lab() -> Check:
    try:
        lab = Lab()
        running = lab.pbx.is_running()
    except PbxError as e:
        return Check("lab", False, str(e))
    p = lab.config.pbx
    return Check("lab", running, f"PBX {p.host}:{p.port} " + ("running" if running else "not running"),
                 "voiplab lab up")


CHECKS = (_check_python, _check_pjsua2, _check_asterisk, _check_mmdebstrap, _check_unshare,
          _check_capture, _check_tshark, _check_lab)


def run_checks() -> list[Check]:
    """Run every check of ``voiplab doctor``."""
    return [check() for check in CHECKS]
