"""The Asterisk PBX of the lab: find or install a real Asterisk, run it, talk to it.

Order in which Asterisk is found:

1. ``$VOIPLAB_ASTERISK``: a path to an ``asterisk`` binary;
2. ``asterisk`` on the ``PATH`` (Ubuntu packages it);
3. a Debian sid root filesystem built once by ``voiplab pbx install`` into the
   user's cache directory, run with ``chroot`` (as root) or inside
   ``unshare --map-root-user`` (as a student, no root needed).

The configuration is rendered into voiplab's own state directory, never into
``/etc/asterisk``. voiplab talks to the running Asterisk through the Asterisk
Manager Interface (AMI, :mod:`voiplab.devices.ami`) on the PBX address, so CLI
commands such as ``pjsip show endpoints`` need no root and no console. Its files
live under :func:`voiplab.paths.state_dir` and :func:`voiplab.paths.cache_dir`.

Taught in notebook 00 (lab check) and 02 (the Asterisk PBX).
"""

from __future__ import annotations

import contextlib
import glob
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..config import LabConfig, load_config
from ..errors import PbxError, WebRtcError
from ..paths import cache_dir, owned_pid, pid_alive, state_dir, write_pid_file
from .ami import AmiClient
from .asterisk_conf import KEYS_SUBDIR, SERVER_CERT_FILE, AsteriskLayout, render_all

__all__ = [
    "Pbx",
    "AsteriskInstall",
    "Endpoint",
    "find_asterisk",
    "install_rootfs",
    "rootfs_dir",
    "parse_endpoints",
]

ROOTFS_PACKAGES = ("asterisk", "asterisk-modules", "asterisk-moh-opsound-gsm")
DEBIAN_SUITE = "sid"
#: path of the lab directory inside the chroot
CHROOT_LAB = "/lab"
BOOT_TIMEOUT_S = 30.0
#: what the command line of voiplab's Asterisk contains (pid file check)
ASTERISK_MARKER = "asterisk"


def rootfs_dir() -> Path:
    """The Debian sid root filesystem holding Asterisk (built by ``voiplab pbx install``)."""
    return cache_dir() / "asterisk-rootfs"


@dataclass(frozen=True)
class AsteriskInstall:
    """How to run Asterisk on this machine."""

    #: "env" ($VOIPLAB_ASTERISK), "path" (asterisk on PATH) or "rootfs" (chroot)
    kind: str
    #: the asterisk binary (inside the root filesystem for "rootfs")
    binary: str
    #: the directory holding the modules, as Asterisk sees it
    module_dir: str
    #: the root filesystem (only for "rootfs")
    root: Path | None = None

    def __repr__(self) -> str:
        where = f" in {self.root}" if self.root else ""
        return f"AsteriskInstall({self.kind}: {self.binary}{where})"


def _module_dir(root: str = "/") -> str | None:
    candidates = sorted(glob.glob(os.path.join(root, "usr/lib/*/asterisk/modules")))
    candidates += [os.path.join(root, p) for p in ("usr/lib/asterisk/modules", "usr/lib64/asterisk/modules")]
    for c in candidates:
        if os.path.isfile(os.path.join(c, "chan_pjsip.so")):
            return "/" + os.path.relpath(c, root) if root != "/" else c
    return None


HOW_TO_GET_ASTERISK = (
    "  1. run 'voiplab pbx install' (builds a Debian sid root filesystem with Asterisk 22;\n"
    "     needs mmdebstrap, and uidmap when not root: apt-get install mmdebstrap uidmap)\n"
    "  2. or install the asterisk package (Ubuntu: apt-get install asterisk)\n"
    "  3. or set VOIPLAB_ASTERISK to the path of an asterisk binary"
)


def find_asterisk() -> AsteriskInstall:
    """Find a usable Asterisk (see the module docstring for the order).

    Raises:
        PbxError: none found; the message lists the ways to get one.
    """
    env = os.environ.get("VOIPLAB_ASTERISK")
    if env:
        if not os.access(env, os.X_OK):
            raise PbxError(f"VOIPLAB_ASTERISK={env} is not an executable file: point it at an asterisk binary")
        moddir = _module_dir()
        if moddir is None:
            raise PbxError(f"the modules of {env} were not found (chan_pjsip.so): install asterisk-modules")
        return AsteriskInstall("env", env, moddir)
    on_path = shutil.which("asterisk")
    if on_path:
        moddir = _module_dir()
        if moddir is not None:
            return AsteriskInstall("path", on_path, moddir)
    root = rootfs_dir()
    binary = root / "usr/sbin/asterisk"
    if binary.exists():
        moddir = _module_dir(str(root))
        if moddir is None:
            raise PbxError(f"the root filesystem {root} has no Asterisk modules: rebuild it with "
                           "'voiplab pbx install --force'")
        return AsteriskInstall("rootfs", "/usr/sbin/asterisk", moddir, root)
    raise PbxError("Asterisk was not found on this machine: get it one of these ways:\n" + HOW_TO_GET_ASTERISK)


def install_rootfs(force: bool = False, progress: Callable[[str], None] = print) -> Path:
    """Build the Debian sid root filesystem with Asterisk (once) into the cache directory.

    As root, mmdebstrap writes the directory directly; as a normal user it runs in
    ``--mode=unshare`` (needs ``uidmap`` and an ``/etc/subuid`` entry) and writes a
    tarball that is then unpacked (files appear root-owned inside the namespace).

    Parameters:
        force: rebuild even if it exists.
        progress: called with each line of progress.

    Returns:
        The root filesystem directory.

    Raises:
        PbxError: mmdebstrap is missing or failed; the message says what to do.
    """
    root = rootfs_dir()
    if (root / "usr/sbin/asterisk").exists() and not force:
        progress(f"Asterisk root filesystem already installed in {root}")
        return root
    mmdebstrap = shutil.which("mmdebstrap")
    if mmdebstrap is None:
        raise PbxError("mmdebstrap is not installed, so Asterisk cannot be installed: "
                       "run 'sudo apt-get install mmdebstrap uidmap', or install asterisk another way:\n"
                       + HOW_TO_GET_ASTERISK)
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = root.with_name(root.name + ".tmp")
    if tmp.exists() or tmp.is_symlink():
        _rmtree(tmp)
    is_root = os.geteuid() == 0
    tarball = root.with_name("asterisk-rootfs.tar")
    target = str(tmp) if is_root else str(tarball)
    cmd = [
        mmdebstrap,
        "--variant=apt",
        "--include=" + ",".join(ROOTFS_PACKAGES),
        "--aptopt=Acquire::Check-Valid-Until \"false\"",
        "--aptopt=APT::Install-Recommends \"false\"",
        "--dpkgopt=path-exclude=/usr/share/doc/*",
        "--dpkgopt=path-exclude=/usr/share/man/*",
        "--dpkgopt=path-exclude=/usr/share/locale/*",
    ]
    if not is_root:
        cmd.append("--mode=unshare")
    cmd += [DEBIAN_SUITE, target]
    progress(f"building the Asterisk root filesystem (Debian {DEBIAN_SUITE}) with mmdebstrap; about a minute")
    progress("$ " + " ".join(cmd))
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    tail: list[str] = []
    for line in proc.stdout:
        line = line.rstrip()
        tail = (tail + [line])[-20:]
        if line.startswith(("I:", "E:", "W:")):
            progress(line)
    if proc.wait() != 0:
        hint = ("" if is_root else " (as a normal user mmdebstrap needs the uidmap package and an "
                "entry for you in /etc/subuid and /etc/subgid)")
        raise PbxError(f"mmdebstrap failed with exit code {proc.returncode}{hint}: its last lines were:\n"
                       + "\n".join(tail))
    if not is_root:
        tmp.mkdir(parents=True)
        progress(f"unpacking {tarball}")
        res = subprocess.run(
            ["tar", "-x", "-f", str(tarball), "-C", str(tmp), "--no-same-owner", "--no-same-permissions",
             "--exclude=./dev/*"],
            capture_output=True, text=True,
        )
        if res.returncode != 0:
            raise PbxError(f"unpacking {tarball} failed: {res.stderr.strip()[-500:]}")
        tarball.unlink()
    if root.exists():
        _rmtree(root)
    tmp.rename(root)
    (root / CHROOT_LAB.lstrip("/")).mkdir(exist_ok=True)
    progress(f"Asterisk root filesystem ready in {root} ({time.monotonic() - t0:.1f} s)")
    return root


def _rmtree(path: Path) -> None:
    # files unpacked in unshare mode may be read-only directories: make them writable first
    for dirpath, _dirs, _files in os.walk(path):
        with contextlib.suppress(OSError):
            os.chmod(dirpath, 0o755)
    shutil.rmtree(path, ignore_errors=True)


@dataclass(frozen=True)
class Endpoint:
    """One line of ``pjsip show endpoints``: an account and where its phone is."""

    name: str
    caller_id: str
    state: str
    channels: str
    contacts: tuple[str, ...]
    contact_states: tuple[str, ...]

    @property
    def number(self) -> str:
        m = re.search(r"(\d+)", self.caller_id)
        return m.group(1) if m else ""

    @property
    def contact_address(self) -> str | None:
        """The ip:port of the registered phone, or None when not registered."""
        for c in self.contacts:
            m = re.search(r"@([\w.\-\[\]:]+?)(?:;|$)", c)
            if m:
                return m.group(1)
        return None

    def __repr__(self) -> str:
        where = self.contact_address or "not registered"
        return f"Endpoint({self.name} {self.number} {self.state}, {where})"


_ENDPOINT_LINE_RE = re.compile(r"^\s*Endpoint:\s+(\S+?)(?:/(\S+))?\s+(\S.*?)\s+(\d+ of \S+)\s*$")
_CONTACT_LINE_RE = re.compile(r"^\s*Contact:\s+(\S+)\s+\S+\s+(\S+)")


def parse_endpoints(text: str) -> list[Endpoint]:
    """Parse the output of ``pjsip show endpoints`` into :class:`Endpoint` rows.

    Taught in notebook 02 (``pbx.endpoints()``).
    """
    rows: list[Endpoint] = []
    # the endpoint being read: (name, caller id, state, channels), then its contacts
    head: tuple[str, str, str, str] | None = None
    contacts: list[str] = []
    contact_states: list[str] = []
    for line in [*text.splitlines(), None]:
        m = _ENDPOINT_LINE_RE.match(line) if line is not None else None
        if line is None or (m and not line.strip().startswith("Endpoint:  <")):
            if head is not None:
                rows.append(Endpoint(*head, tuple(contacts), tuple(contact_states)))
            if m is not None:
                head = (m.group(1), m.group(2) or "", m.group(3).strip(), m.group(4))
                contacts, contact_states = [], []
            continue
        m = _CONTACT_LINE_RE.match(line)
        if m and head is not None and not line.strip().startswith("Contact:  <"):
            contacts.append(m.group(1))
            contact_states.append(m.group(2))
    return rows


def _port_free_udp(host: str, port: int) -> bool:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.bind((host, port))
        return True
    except OSError:
        return False
    finally:
        s.close()


class Pbx:
    """The lab's Asterisk: render its config, start/stop it, run CLI commands.

    In classroom mode (``[pbx] mode = "classroom"``) voiplab does not start
    anything: it only talks to the course server (CLI commands need the AMI
    account the instructor configured).

    Example (notebook 02)::

        pbx = vl.Pbx()
        pbx.start()                      # idempotent
        print(pbx.cli("pjsip show endpoints"))

    Taught in notebook 00 and 02.
    """

    def __init__(self, config: LabConfig | None = None, *, lab_dir: str | os.PathLike[str] | None = None):
        self.config = config if config is not None else load_config()
        self.lab_dir = Path(lab_dir) if lab_dir else state_dir() / "lab"
        p = self.config.pbx
        self._ami = AmiClient(p.host, p.ami_port, p.ami_user, p.ami_secret)

    def __repr__(self) -> str:
        p = self.config.pbx
        state = "running" if self.is_running() else "stopped"
        return f"Pbx({p.mode} Asterisk at {p.host}:{p.port}, {state})"

    # -- files -------------------------------------------------------------
    @property
    def etc_dir(self) -> Path:
        return self.lab_dir / "etc"

    @property
    def log_file(self) -> Path:
        return self.lab_dir / "log" / "asterisk.out"

    @property
    def pid_file(self) -> Path:
        return self.lab_dir / "run" / "voiplab-asterisk.pid"

    def render(self, install: AsteriskInstall | None = None) -> dict[str, Path]:
        """Write the configuration files into the lab directory; return their paths."""
        install = install or find_asterisk()
        inside = CHROOT_LAB if install.kind == "rootfs" else str(self.lab_dir)
        layout = AsteriskLayout(lab_dir=inside, module_dir=install.module_dir)
        files = render_all(self.config, layout)
        for sub in ("etc", "run", "log", "lib", "spool", "cache"):
            (self.lab_dir / sub).mkdir(parents=True, exist_ok=True)
        if self.config.webrtc.enabled:
            self.ensure_certificates()
        paths = {}
        for name, text in files.items():
            path = self.etc_dir / name
            path.write_text(text, encoding="utf-8")
            paths[name] = path
        return paths

    @property
    def keys_dir(self) -> Path:
        """The lab's certificates (WebRTC lab): ``<lab dir>/keys``, ``/lab/keys`` in the chroot."""
        return self.lab_dir / KEYS_SUBDIR

    def ensure_certificates(self) -> Path:
        """Make the CA and the PBX's server certificate in :attr:`keys_dir` unless they fit already.

        The CA is kept (the browser may trust it already); the server certificate is made
        again when it is missing or does not name the PBX address. Taught in notebook 08.
        """
        # voiplab module loaded late for speed and need: certs imports cryptography, which
        # only a WebRTC lab uses (a student's plain lab runs without it)
        from .certs import describe, make_certificates

        host = self.config.pbx.host
        cert = self.keys_dir / SERVER_CERT_FILE
        try:
            fits = host in describe(cert)["san"]["ip"]
        except WebRtcError:  # missing or unreadable: make it
            fits = False
        if not fits:
            make_certificates(self.keys_dir, host)
        return self.keys_dir

    def config_text(self, name: str) -> str:
        """The rendered text of one configuration file (e.g. ``"pjsip.conf"``)."""
        files = render_all(self.config, AsteriskLayout(CHROOT_LAB, "/usr/lib/asterisk/modules"))
        if name not in files:
            raise PbxError(f"{name} is not one of the lab's Asterisk files: use one of {', '.join(files)}")
        return files[name]

    # -- process -----------------------------------------------------------
    def pid(self) -> int | None:
        """The pid of the Asterisk voiplab started, if it still runs."""
        return owned_pid(self.pid_file, ASTERISK_MARKER)

    def is_running(self) -> bool:
        """True when the PBX answers on its manager port (local lab: and voiplab started it)."""
        if self.config.is_local and self.pid() is None:
            return False
        try:
            with self._ami.session():
                return True
        except PbxError:
            return False

    def _command_line(self, install: AsteriskInstall) -> list[str]:
        conf = "asterisk.conf"
        if install.kind != "rootfs":
            return [install.binary, "-C", str(self.etc_dir / conf), "-f", "-n"]
        assert install.root is not None
        root = str(install.root)
        inside_lab = os.path.join(root, CHROOT_LAB.lstrip("/"))
        os.makedirs(inside_lab, exist_ok=True)
        os.makedirs(os.path.join(root, "dev"), exist_ok=True)
        unshare = shutil.which("unshare")
        if unshare is None:
            raise PbxError("unshare (util-linux) is not installed: apt-get install util-linux")
        script = (
            'set -e; mount --bind "$1" "$2/lab"; mount --rbind /dev "$2/dev"; '
            'exec chroot "$2" /usr/sbin/asterisk -C /lab/etc/asterisk.conf -f -n'
        )
        cmd = [unshare, "--mount", "--propagation", "private"]
        if os.geteuid() != 0:
            cmd.insert(1, "--map-root-user")
        return cmd + ["sh", "-c", script, "voiplab-asterisk", str(self.lab_dir), root]

    def start(self, timeout: float = BOOT_TIMEOUT_S) -> bool:
        """Start Asterisk and wait until it is fully booted.

        Returns:
            True if it was started, False if voiplab's Asterisk was already running.

        Raises:
            PbxError: classroom mode, the SIP address is taken by another program,
                no Asterisk is installed, or it did not boot (the message quotes its log).
        """
        if not self.config.is_local:
            raise PbxError(f"the lab config {self.config.source} is in classroom mode: voiplab does not "
                           "start the course server's Asterisk; ask your instructor")
        if self.pid() is not None:
            self.wait_fully_booted(timeout)
            return False
        p = self.config.pbx
        for port in (p.port, ):
            if not _port_free_udp(p.host, port):
                raise PbxError(f"the PBX address {p.host}:{port} (UDP) is already in use by another program: "
                               f"stop it (see 'ss -ulpn sport = :{port}') or set [pbx] host/port in lab.toml")
        install = find_asterisk()
        self.render(install)
        cmd = self._command_line(install)
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_file, "wb") as log:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                    start_new_session=True, close_fds=True)
        write_pid_file(self.pid_file, proc.pid)
        try:
            self.wait_fully_booted(timeout, proc=proc)
        except PbxError:
            self.stop()
            raise
        return True

    def wait_fully_booted(self, timeout: float = BOOT_TIMEOUT_S, proc: subprocess.Popen[bytes] | None = None) -> None:
        """Wait until Asterisk has loaded every module (AMI ``FullyBooted``)."""
        deadline = time.monotonic() + timeout
        while True:
            if proc is not None and proc.poll() is not None:
                raise PbxError(f"Asterisk exited with code {proc.returncode} while starting: "
                               f"its output was:\n{self._log_tail()}")
            try:
                with self._ami.session() as s:
                    s.wait_event("FullyBooted", max(0.1, deadline - time.monotonic()))
                    return
            except PbxError:
                if time.monotonic() > deadline:
                    raise PbxError(f"Asterisk did not finish booting within {timeout:.0f} s: "
                                   f"its output was:\n{self._log_tail()}") from None
                time.sleep(0.02)

    def _log_tail(self, n: int = 15) -> str:
        try:
            lines = self.log_file.read_text(errors="replace").splitlines()
        except OSError:
            return "(no log)"
        return "\n".join(lines[-n:])

    def stop(self, timeout: float = 10.0) -> bool:
        """Stop the Asterisk voiplab started (never another one). Returns True if one was stopped."""
        pid = self.pid()
        if pid is None:
            with contextlib.suppress(OSError):
                self.pid_file.unlink()
            return False
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.02)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
        if pid_alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
        with contextlib.suppress(OSError):
            self.pid_file.unlink()
        p = self.config.pbx
        deadline = time.monotonic() + 5
        while not _port_free_udp(p.host, p.port) and time.monotonic() < deadline:
            time.sleep(0.02)
        return True

    # -- talking to it -------------------------------------------------------
    def cli(self, command: str) -> str:
        """Run an Asterisk CLI command (as ``asterisk -rx``) and return its text."""
        with self._ami.session() as s:
            return s.command(command)

    def version(self) -> str:
        """The Asterisk version string, e.g. ``Asterisk 22.10.1+dfsg...``."""
        text = self.cli("core show version")
        m = re.search(r"Asterisk\s+\S+", text)
        return m.group(0) if m else text.strip()

    def endpoints(self) -> list[Endpoint]:
        """Every PJSIP endpoint with its state and contact (``pjsip show endpoints``)."""
        return parse_endpoints(self.cli("pjsip show endpoints"))

    def channels(self) -> str:
        """``core show channels``: the calls in progress."""
        return self.cli("core show channels")

    def contacts(self) -> str:
        """``pjsip show contacts``: where each registered phone is."""
        return self.cli("pjsip show contacts")


def main_install(force: bool = False) -> int:  # pragma: no cover - thin CLI wrapper
    try:
        install_rootfs(force=force, progress=lambda s: print(s, flush=True))
    except PbxError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0

