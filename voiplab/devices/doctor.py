"""``voiplab doctor``: is this machine ready for the lab? Each check says OK or what to do.

A check is *required* (the lab cannot run without it: Python, pjsua2, Asterisk and what
runs it) or *optional* (capture privileges, tshark: notebooks work without them, with
less). A failed required check prints ``FIX`` and makes ``voiplab doctor`` exit 1; a
failed optional one prints ``NOTE`` with what it would give.

Taught in notebook 00 (lab check).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from ..capture.live import capture_methods
from ..errors import PbxError
from ..paths import system_tool
from .lab import Lab
from .pbx import AsteriskInstall, find_asterisk, rootfs_dir

__all__ = ["Check", "run_checks", "userns_blockers"]


@dataclass(frozen=True)
class Check:
    """One line of the doctor's report."""

    name: str
    ok: bool
    detail: str
    fix: str = ""
    #: the lab cannot run without it (a failure makes ``voiplab doctor`` exit 1)
    required: bool = True

    @property
    def mark(self) -> str:
        """``OK``, ``FIX`` (a required check failed) or ``NOTE`` (an optional one did)."""
        return "OK" if self.ok else "FIX" if self.required else "NOTE"

    def __str__(self) -> str:
        text = f"{self.mark:<4} {self.name}: {self.detail}"
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


def _installed() -> AsteriskInstall | None:
    try:
        return find_asterisk()
    except PbxError:
        return None


def _check_asterisk() -> Check:
    try:
        inst = find_asterisk()
    except PbxError as e:
        return Check("asterisk", False, "not found", str(e).split(":", 1)[1].strip())
    return Check("asterisk", True, str(inst))


#: sysctls that forbid unprivileged user namespaces, and the value that allows them
_USERNS_SYSCTLS = (
    ("/proc/sys/kernel/apparmor_restrict_unprivileged_userns", "0",
     "AppArmor restricts unprivileged user namespaces (Ubuntu 24.04 and later)"),
    ("/proc/sys/kernel/unprivileged_userns_clone", "1", "the kernel forbids unprivileged user namespaces"),
    ("/proc/sys/user/max_user_namespaces", None, "user namespaces are disabled (max_user_namespaces = 0)"),
)


def userns_blockers() -> list[tuple[str, str, str]]:
    """The sysctls that stop ``unshare --map-root-user`` here: ``(sysctl, wanted value, why)``.

    Only the sysctls this kernel has are looked at (``unprivileged_userns_clone`` exists on
    Debian's kernels, ``apparmor_restrict_unprivileged_userns`` on Ubuntu's).
    """
    found = []
    for path, wanted, why in _USERNS_SYSCTLS:
        try:
            value = Path(path).read_text().strip()
        except OSError:
            continue  # this kernel has no such switch
        name = path.removeprefix("/proc/sys/").replace("/", ".")
        if wanted is None:
            if value == "0":
                found.append((name, "15000", why))
        elif value != wanted:
            found.append((name, wanted, why))
    return found


def _check_tools() -> Check:
    """The system tools that run Asterisk's root filesystem, found by absolute path (not via PATH)."""
    inst = _installed()
    if inst is not None and inst.kind != "rootfs":
        return Check("tools", True, "not needed (Asterisk is installed on this system)")
    try:
        found = [system_tool(n, "util-linux" if n != "sh" else "dash") for n in ("unshare", "mount", "chroot", "sh")]
    except FileNotFoundError as e:
        return Check("tools", False, str(e).split(":")[0], str(e).split(": ", 1)[1])
    return Check("tools", True, ", ".join(found))


def _check_unshare() -> Check:
    if os.geteuid() == 0:
        return Check("namespaces", True, "running as root: Asterisk's root filesystem runs with chroot")
    inst = _installed()
    if inst is not None and inst.kind != "rootfs":
        return Check("namespaces", True, "not needed (Asterisk is installed on this system)")
    try:
        unshare = system_tool("unshare", "util-linux")
        res = subprocess.run([unshare, "--map-root-user", "--mount", "true"], capture_output=True, timeout=10)
        ok = res.returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        ok = False
    if ok:
        return Check("namespaces", True, "unprivileged user namespaces work (Asterisk runs without root)")
    blockers = userns_blockers()
    if blockers:
        why = "; ".join(b[2] for b in blockers)
        fix = " && ".join(f"sudo sysctl -w {name}={value}" for name, value, _ in blockers)
        fix += (" (to keep it after a reboot: echo the same 'name = value' lines into "
                "/etc/sysctl.d/60-voiplab.conf); or ask an administrator to install Asterisk")
        return Check("namespaces", False, f"unprivileged user namespaces are not allowed: {why}", fix)
    return Check("namespaces", False, "unprivileged user namespaces are not allowed here",
                 "ask an administrator to allow them, or to install the asterisk package")


def _has_subid(user: str) -> bool:
    for f in ("/etc/subuid", "/etc/subgid"):
        try:
            lines = Path(f).read_text().splitlines()
        except OSError:
            return False
        if not any(line.split(":")[0] in (user, str(os.getuid())) for line in lines if line.strip()):
            return False
    return True


def _check_mmdebstrap() -> Check:
    if (rootfs_dir() / "usr/sbin/asterisk").exists() or (_installed() is not None):
        return Check("mmdebstrap", True, "not needed (Asterisk is already there)")
    ok = shutil.which("mmdebstrap") is not None
    if not ok:
        return Check("mmdebstrap", False, "not installed (needed by 'voiplab pbx install')",
                     "sudo apt-get install mmdebstrap uidmap")
    if os.geteuid() != 0:
        if shutil.which("newuidmap", path=os.pathsep.join(("/usr/bin", "/bin"))) is None:
            return Check("mmdebstrap", False, "found, but newuidmap is missing", "sudo apt-get install uidmap")
        user = os.environ.get("USER") or str(os.getuid())
        if not _has_subid(user):
            return Check("mmdebstrap", False, f"found, but {user} has no /etc/subuid and /etc/subgid range",
                         f"sudo usermod --add-subuids 100000-165535 --add-subgids 100000-165535 {user}")
    return Check("mmdebstrap", True, "found: 'voiplab pbx install' can build Asterisk's root filesystem")


def _check_capture() -> Check:
    methods = capture_methods()
    detail = (f"this user may capture packets (with {', '.join(methods)})" if methods
              else "this user may not capture packets")
    return Check("capture", bool(methods), detail, required=False, fix=
                 ("run as root, or 'sudo dpkg-reconfigure wireshark-common' (answer yes) and "
                 "'sudo usermod -aG wireshark $USER' then log in again, or "
                 "'sudo setcap cap_net_raw,cap_net_admin=eip /usr/bin/dumpcap'. Without it, "
                 "notebooks use each phone's own SIP trace instead of a capture"))


def _check_tshark() -> Check:
    path = shutil.which("tshark")
    if path is None:
        return Check("tshark", False, "not installed (the reference for SIP fields and RTP statistics)",
                     "sudo apt-get install tshark", required=False)
    out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30).stdout
    return Check("tshark", True, (out.splitlines() or [path])[0], required=False)


def _check_lab() -> Check:
    try:
        lab = Lab()
        running = lab.pbx.is_running()
    except PbxError as e:
        return Check("lab", False, str(e))
    p = lab.config.pbx
    return Check("lab", running, f"PBX {p.host}:{p.port} " + ("running" if running else "not running"),
                 "voiplab lab up", required=False)


CHECKS = (_check_python, _check_pjsua2, _check_asterisk, _check_mmdebstrap, _check_tools, _check_unshare,
          _check_capture, _check_tshark, _check_lab)


def run_checks() -> list[Check]:
    """Run every check of ``voiplab doctor``."""
    return [check() for check in CHECKS]
