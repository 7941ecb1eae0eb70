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
import html
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from ..config import LabConfig, load_config
from ..core.sip import options_request
from ..errors import PbxError, WebRtcError
from ..paths import (
    cache_dir,
    end_child,
    locked,
    owned_pid,
    pid_alive,
    private_dir,
    signal_owned,
    state_dir,
    system_tool,
    write_pid_file,
    write_private,
)
from .ami import AmiClient
from .asterisk_conf import AMI_USER, KEYS_SUBDIR, SERVER_CERT_FILE, AsteriskLayout, render_all, student_copy
from .asterisk_edit import (
    EDITABLE_FILES,
    RELOAD_COMMANDS,
    AsteriskComplaint,
    DialplanEntry,
    EditRecord,
    complaints_in_log,
    dial_targets,
    parse_applications,
    parse_dialplan,
    unknown_applications,
)

__all__ = [
    "Pbx",
    "AsteriskInstall",
    "Endpoint",
    "ReloadResult",
    "find_asterisk",
    "install_rootfs",
    "rootfs_dir",
    "parse_endpoints",
    "send_options",
]

ROOTFS_PACKAGES = ("asterisk", "asterisk-modules", "asterisk-moh-opsound-gsm")
DEBIAN_SUITE = "sid"
#: path of the lab directory inside the chroot
CHROOT_LAB = "/lab"
BOOT_TIMEOUT_S = 30.0
#: bytes of randomness in the manager secret of each lab (never a fixed password)
AMI_SECRET_BYTES = 24
#: after a reload, Asterisk's log is read once it has not grown for this long (its logger
#: thread writes a reload's complaints within a few milliseconds)
LOG_SETTLE_S = 0.15
#: ... but never waited for longer than this
LOG_WAIT_MAX_S = 2.0


#: a root filesystem installed once for every user of the machine (``voiplab pbx install --system``):
#: lab PCs and JupyterHub servers; read-only for users, who run it inside their own namespace
SYSTEM_ROOTFS = Path("/opt/voiplab/asterisk-rootfs")


def rootfs_dir(system: bool = False) -> Path:
    """The Debian sid root filesystem holding Asterisk (built by ``voiplab pbx install``).

    ``$VOIPLAB_ROOTFS`` when set; else the user's own (``<cache dir>/asterisk-rootfs``), or with
    ``system`` the machine's (:data:`SYSTEM_ROOTFS`).
    """
    env = os.environ.get("VOIPLAB_ROOTFS")
    if env:
        return Path(env)
    return SYSTEM_ROOTFS if system else cache_dir() / "asterisk-rootfs"


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

    def __str__(self) -> str:
        if self.kind == "rootfs":
            how = "chroot" if os.geteuid() == 0 else "unshare --map-root-user + chroot, no root needed"
            return f"Debian sid root filesystem in {self.root} ({how})"
        origin = "$VOIPLAB_ASTERISK" if self.kind == "env" else "on the PATH"
        return f"{self.binary} ({origin}, modules in {self.module_dir})"


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
    # the user's own root filesystem first, else the one installed for the whole machine
    for root in dict.fromkeys((rootfs_dir(), rootfs_dir(system=True))):
        if (root / "usr/sbin/asterisk").exists():
            moddir = _module_dir(str(root))
            if moddir is None:
                raise PbxError(f"the root filesystem {root} has no Asterisk modules: rebuild it with "
                               "'voiplab pbx install --force'")
            return AsteriskInstall("rootfs", "/usr/sbin/asterisk", moddir, root)
    raise PbxError("Asterisk was not found on this machine: get it one of these ways:\n" + HOW_TO_GET_ASTERISK)


def install_rootfs(force: bool = False, progress: Callable[[str], None] = print, *, system: bool = False) -> Path:
    """Build the Debian sid root filesystem with Asterisk (once) into the cache directory.

    With ``system`` (as root), into :data:`SYSTEM_ROOTFS` for every user of the machine: they
    run it read-only, each in a namespace of their own (a lab PC, a JupyterHub server).

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
    if system and os.geteuid() != 0:
        raise PbxError("'voiplab pbx install --system' installs Asterisk for every user of the machine: "
                       "run it as root (sudo), or drop --system to install it for you only")
    root = rootfs_dir(system=system)
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


@dataclass(frozen=True)
class ReloadResult:
    """What ``lab.reload()`` applied, and what Asterisk runs now.

    Attributes:
        applied: the files that changed and that Asterisk reloaded without complaint (as
            the student sees them: ``my-asterisk/pjsip.conf``).
        endpoints: ``pjsip show endpoints`` after the reload.
        context: the dial plan context the lab's phones call into (``plan-num``).
        dialplan: its priorities after the reload (``dialplan show <context>``).
        notes: what Asterisk accepted but will not work as meant (a Dial() ringing an
            endpoint pjsip.conf lacks, no context for the phones' calls), or that nothing changed.

    Taught in notebook 02.
    """

    applied: tuple[str, ...]
    endpoints: tuple[Endpoint, ...]
    context: str
    dialplan: tuple[DialplanEntry, ...]
    notes: tuple[str, ...] = ()

    def __str__(self) -> str:
        lines = [("applied " + ", ".join(self.applied) + ": Asterisk reloaded them without complaint")
                 if self.applied else "nothing to apply: your files are the ones Asterisk already runs"]
        lines.append("endpoints (pjsip show endpoints):")
        lines += [f"  {e.name:<12} {e.number:<7} {e.state:<14} {e.contact_address or '-'}" for e in self.endpoints]
        lines.append(f"dial plan [{self.context}] (dialplan show {self.context}):")
        lines += [f"  {e}" for e in self.dialplan] or ["  (no such context)"]
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (f"ReloadResult(applied {', '.join(self.applied) or 'nothing'}; {len(self.endpoints)} endpoints, "
                f"{len(self.dialplan)} priorities in [{self.context}], {len(self.notes)} notes)")

    def _repr_html_(self) -> str:
        head = html.escape(str(self).splitlines()[0])
        endpoints = "".join(f"<tr><td>{html.escape(e.name)}</td><td>{html.escape(e.number)}</td>"
                            f"<td>{html.escape(e.state)}</td><td>{html.escape(e.contact_address or '-')}</td></tr>"
                            for e in self.endpoints)
        plan = "".join(f"<tr><td>{html.escape(e.extension)}</td><td>{e.priority}</td>"
                       f"<td><code>{html.escape(e.application)}({html.escape(e.data)})</code></td>"
                       f"<td>{html.escape(e.file)}:{e.line}</td></tr>" for e in self.dialplan)
        notes = "".join(f"<p style='color:#9a6700'>note: {html.escape(n)}</p>" for n in self.notes)
        return (f"<p><b>{head}</b></p><table><tr><th>endpoint</th><th>number</th><th>state</th><th>contact</th>"
                f"</tr>{endpoints}</table><p>dial plan <code>[{html.escape(self.context)}]</code>:</p><table>"
                f"<tr><th>extension</th><th>priority</th><th>application</th><th>line</th></tr>{plan}</table>"
                f"{notes}")


@contextlib.contextmanager
def _pbx_lock(path: Path, what: str) -> Iterator[None]:
    try:
        with locked(path, what=what):
            yield
    except TimeoutError as e:
        raise PbxError(f"{e}: wait for it to finish, then try again") from None


def _wait_gone(pid: int, timeout: float) -> bool:
    """Wait until process ``pid`` ended (reaping it if it is our child); True if it did."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        if not pid_alive(pid):
            return True
        time.sleep(0.02)
    return not pid_alive(pid)


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
    anything and students get no manager login: the course server is the instructor's.

    Notebooks reach it through the lab (``vl.start_lab()`` is the one way to start it)::

        lab = vl.start_lab()                        # idempotent
        print(lab.pbx.cli("pjsip show endpoints"))
        lab.pbx.dialplan("plan-num")                # the dial plan as Asterisk runs it

    The student's own files (notebook 02) are applied with :meth:`apply_config`, through
    ``lab.reload()``.

    Taught in notebook 00 and 02.
    """

    def __init__(self, config: LabConfig | None = None, *, lab_dir: str | os.PathLike[str] | None = None):
        self.config = config if config is not None else load_config()
        self.lab_dir = Path(lab_dir) if lab_dir else state_dir() / "lab"

    @property
    def _ami(self) -> AmiClient:
        """The manager client of the local lab, with the secret of the running lab (0600 file).

        Raises:
            PbxError: classroom mode (students get no manager account: status comes from
                their own phone) or the lab was never started here.
        """
        p = self.config.pbx
        if not self.config.is_local:
            raise PbxError("the course server's manager interface is not open to students (its login would "
                           "cross the network in clear): check your phone's registration with "
                           "vl.Phone(...).register(), or ask your instructor")
        try:
            secret = self.ami_secret_file.read_text().strip()
        except OSError:
            raise PbxError(f"the lab in {self.lab_dir} has no manager secret: it was never started here; "
                           "run 'voiplab lab up'") from None
        return AmiClient(p.host, p.ami_port, AMI_USER, secret)

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

    @property
    def ami_secret_file(self) -> Path:
        """The manager secret of this lab (random, made at each start, readable by its owner only)."""
        return self.lab_dir / "run" / "ami-secret"

    @property
    def messages_log(self) -> Path:
        """Asterisk's log file (``logger.conf``: notices, warnings, errors, verbose lines)."""
        return self.lab_dir / "log" / "messages"

    @property
    def edits(self) -> EditRecord:
        """What the lab keeps of the student's own pjsip.conf and extensions.conf (notebook 02)."""
        return EditRecord(self.lab_dir)

    @property
    def lock_file(self) -> Path:
        """Held while the lab starts or stops: two ``lab up`` at once start one Asterisk."""
        return self.lab_dir / "run" / "lab.lock"

    def render(self, install: AsteriskInstall | None = None) -> dict[str, Path]:
        """Write the configuration files into the lab directory; return their paths."""
        install = install or find_asterisk()
        inside = CHROOT_LAB if install.kind == "rootfs" else str(self.lab_dir)
        layout = AsteriskLayout(lab_dir=inside, module_dir=install.module_dir)
        private_dir(self.lab_dir)  # also when an older voiplab made it with the default rights
        for sub in ("etc", "run", "log", "lib", "spool", "cache"):
            private_dir(self.lab_dir / sub)
        secret = secrets.token_urlsafe(AMI_SECRET_BYTES)
        files = self.config_files(layout, secret)
        write_private(self.ami_secret_file, secret + "\n")
        if self.config.webrtc.enabled:
            self.ensure_certificates()
        paths = {}
        for name, text in files.items():
            path = self.etc_dir / name
            write_private(path, text)
            paths[name] = path
        return paths

    def config_files(self, layout: AsteriskLayout, ami_secret: str) -> dict[str, str]:
        """The text of every file Asterisk reads, by name: rendered from the lab's configuration.

        The student's applied pjsip.conf and extensions.conf (notebook 02) replace the rendered
        ones while lab.toml still renders the files they were made from: they survive a restart.
        """
        files = render_all(self.config, layout, ami_secret=ami_secret)
        self.edits.record_rendered(files)
        applied = self.edits.applied()
        if applied is not None and self.edits.applied_fits(files):
            files = {**files, **applied}
        return files

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
        placeholder = "X" * AMI_SECRET_BYTES  # the real secret is made at each start and never shown
        files = render_all(self.config, AsteriskLayout(CHROOT_LAB, "/usr/lib/asterisk/modules"),
                           ami_secret=placeholder)
        files = {n: text.replace(placeholder, "<random, made when the lab starts>") for n, text in files.items()}
        if name not in files:
            raise PbxError(f"{name} is not one of the lab's Asterisk files: use one of {', '.join(files)}")
        return files[name]

    # -- process -----------------------------------------------------------
    def pid(self) -> int | None:
        """The pid of the Asterisk voiplab started, if it still runs."""
        return owned_pid(self.pid_file)

    def is_running(self) -> bool:
        """True when the PBX answers on its manager port (local lab: and voiplab started it)."""
        if not self.config.is_local:
            try:
                send_options(self.config.pbx.host, self.config.pbx.port, timeout=2.0)
                return True
            except PbxError:
                return False
        if self.pid() is None:
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
        # admin tools by absolute path: /usr/sbin is not on a normal user's login PATH
        unshare, sh, mount, chroot = (system_tool(name, "util-linux" if name != "sh" else "dash")
                                      for name in ("unshare", "sh", "mount", "chroot"))
        script = (
            'set -e; "$3" --bind "$1" "$2/lab"; "$3" --rbind /dev "$2/dev"; '
            'exec "$4" "$2" /usr/sbin/asterisk -C /lab/etc/asterisk.conf -f -n'
        )
        cmd = [unshare, "--mount", "--propagation", "private"]
        if os.geteuid() != 0:
            cmd.insert(1, "--map-root-user")
        return cmd + [sh, "-c", script, "voiplab-asterisk", str(self.lab_dir), root, mount, chroot]

    def start(self, timeout: float = BOOT_TIMEOUT_S) -> bool:
        """Start Asterisk and wait until it is fully booted (idempotent, safe to run twice at once).

        Returns:
            True if it was started, False if voiplab's Asterisk was already running.

        Raises:
            PbxError: classroom mode, the SIP address is taken by another program,
                no Asterisk is installed, or it did not boot (the message quotes its log).
        """
        if not self.config.is_local:
            raise PbxError(f"the lab config {self.config.source} is in classroom mode: voiplab does not "
                           "start the course server's Asterisk; ask your instructor")
        with self._locked():
            if self.pid() is not None:
                self.wait_fully_booted(timeout)
                return False
            p = self.config.pbx
            if not _port_free_udp(p.host, p.port):
                raise PbxError(f"the PBX address {p.host}:{p.port} (UDP) is already in use by another program: "
                               f"stop it (see 'ss -ulpn sport = :{p.port}') or set [pbx] host/port in lab.toml")
            install = find_asterisk()
            self.render(install)
            cmd = self._command_line(install)
            with open(self.log_file, "wb") as log:
                proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                        start_new_session=True, close_fds=True)
            try:
                self.wait_fully_booted(timeout, proc=proc)
                # recorded once it runs Asterisk itself (unshare and sh exec'd into it, same pid)
                write_pid_file(self.pid_file, proc.pid)
            except (PbxError, ProcessLookupError) as e:
                end_child(proc)
                if isinstance(e, ProcessLookupError):
                    raise PbxError(f"Asterisk exited right after booting: its output was:\n{self._log_tail()}") \
                        from None
                raise
            return True

    def _locked(self) -> contextlib.AbstractContextManager[None]:
        """The lab's start/stop lock (see :func:`voiplab.paths.locked`), as a PbxError when it times out."""
        return _pbx_lock(self.lock_file, f"the lab in {self.lab_dir}")

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
        """Stop the Asterisk voiplab started (never another one). Returns True if one was stopped.

        The pid file's process is signalled only if it is still the very process voiplab
        started (start time, boot, user and executable checked, see :func:`voiplab.paths.owned_pid`):
        a stale pid file naming another program is removed, and that program left alone.
        """
        with self._locked():
            pid = self.pid()
            if pid is None:
                with contextlib.suppress(OSError):
                    self.pid_file.unlink()
                return False
            signal_owned(self.pid_file, signal.SIGTERM)
            if not _wait_gone(pid, timeout):
                signal_owned(self.pid_file, signal.SIGKILL)
                _wait_gone(pid, 5.0)
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

    def dialplan(self, context: str | None = None) -> list[DialplanEntry]:
        """The dial plan Asterisk runs (``dialplan show [context]``); ``[]`` for a context it lacks.

        Taught in notebook 02.
        """
        try:
            return parse_dialplan(self.cli(f"dialplan show {context}" if context else "dialplan show"))
        except PbxError:
            if context is None:
                raise
            return []  # Asterisk answers a missing context with an error

    # -- the student's configuration (notebook 02) -----------------------------------------
    def rendered_text(self, name: str) -> str:
        """The file as voiplab rendered it for this lab (what ``lab.reset_config()`` goes back to)."""
        rendered = self.edits.rendered()
        return rendered[name] if rendered is not None and name in rendered else self.config_text(name)

    def apply_config(self, texts: Mapping[str, str], *, shown: Mapping[str, str] | None = None) -> ReloadResult:
        """Put these ``pjsip.conf``/``extensions.conf`` texts in the running lab and reload Asterisk.

        Each changed file is written into the lab's ``etc/`` and reloaded through the manager
        (``module reload res_pjsip.so``, ``dialplan reload``); what Asterisk logged meanwhile
        is read. An ERROR or WARNING about the file, or a dial plan application Asterisk
        does not have, refuses it: the files that ran before are put back and reloaded, so
        the lab keeps working, and the error quotes Asterisk with the line.

        Parameters:
            texts: file name -> text (either file or both).
            shown: file name -> how the student knows the file (``my-asterisk/pjsip.conf``).

        Returns:
            The :class:`ReloadResult`: what was applied, the endpoints and the dial plan now.

        Raises:
            PbxError: classroom mode, the lab is not running, or Asterisk complained about
                a file (nothing of it stays; the message quotes Asterisk).

        Taught in notebook 02 (through ``lab.reload()``).
        """
        unknown = sorted(set(texts) - set(EDITABLE_FILES))
        if unknown:
            raise PbxError(f"{', '.join(unknown)} cannot be applied: students edit only "
                           f"{' and '.join(EDITABLE_FILES)}")
        if not self.config.is_local:
            raise PbxError("the course server's configuration belongs to your instructor: edit and reload "
                           "pjsip.conf and extensions.conf in a local lab (lab.toml without mode = \"classroom\")")
        names = {n: (shown or {}).get(n, n) for n in EDITABLE_FILES}
        with self._locked():
            if self.pid() is None:
                raise PbxError("the lab is not running, so Asterisk cannot check your files: start it with "
                               "vl.start_lab(), then run lab.reload() again")
            before = {name: (self.etc_dir / name).read_text(encoding="utf-8") for name in EDITABLE_FILES}
            wanted = {**before, **texts}
            # the copy differs from the rendered file by its second line only (who edits it)
            changed = tuple(n for n in EDITABLE_FILES if student_copy(wanted[n]) != student_copy(before[n]))
            complaints = self._install(wanted, changed)
            if complaints:
                still = self._install(before, changed)
                raise PbxError(_refusal(complaints, names, still))
        return self._reload_result(tuple(names[n] for n in changed), names)

    def _install(self, texts: Mapping[str, str], names: tuple[str, ...]) -> list[AsteriskComplaint]:
        """Write and reload each of ``names``; Asterisk's complaints about them."""
        complaints: list[AsteriskComplaint] = []
        for name in names:
            offset = self._log_size()
            write_private(self.etc_dir / name, texts[name])
            try:
                self.cli(RELOAD_COMMANDS[name])
            except PbxError as e:
                complaints.append(AsteriskComplaint("ERROR", name, None, str(e), "manager"))
            complaints += complaints_in_log(self._log_since(offset), name)
            if name == "extensions.conf":
                registered = parse_applications(self.cli("core show applications"))
                complaints += unknown_applications(self.dialplan(), registered, name)
        return complaints

    def _log_size(self) -> int:
        try:
            return self.messages_log.stat().st_size
        except OSError:
            return 0

    def _log_since(self, offset: int) -> str:
        """What Asterisk logged after ``offset``, once its log stopped growing."""
        deadline = time.monotonic() + LOG_WAIT_MAX_S
        last, quiet_since = -1, time.monotonic()
        while time.monotonic() < deadline:
            size = self._log_size()
            if size != last:
                last, quiet_since = size, time.monotonic()
            elif time.monotonic() - quiet_since >= LOG_SETTLE_S:
                break
            time.sleep(0.02)
        try:
            with open(self.messages_log, "rb") as f:
                f.seek(offset if last >= offset else 0)  # a rotated log starts again at 0
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def _reload_result(self, applied: tuple[str, ...], names: Mapping[str, str]) -> ReloadResult:
        context = self.config.dialplan.context
        endpoints = tuple(self.endpoints())
        plan = self.dialplan(context)
        notes: list[str] = []
        if not applied:
            notes.append("nothing changed since the last reload: did you save the file in the editor?")
        if not plan:
            notes.append(f"the dial plan has no context [{context}], where the phones' calls arrive "
                         f"(context = {context} in pjsip.conf): every call will get 404 Not Found")
        known = {e.name for e in endpoints}
        for entry, endpoint in dial_targets(self.dialplan()):
            if entry.file == "extensions.conf" and endpoint not in known:
                notes.append(f"line {entry.line} of {names['extensions.conf']}: {entry.application}({entry.data}) "
                             f"rings the endpoint {endpoint}, which {names['pjsip.conf']} does not define: "
                             f"calls to {entry.extension} will fail")
        return ReloadResult(applied, endpoints, context, tuple(plan), tuple(notes))


def _refusal(complaints: list[AsteriskComplaint], names: Mapping[str, str], still: list[AsteriskComplaint]) -> str:
    """The message of a refused reload: which file, what Asterisk said by line, what to do."""
    files = list(dict.fromkeys(names.get(c.file, c.file) for c in complaints))
    said = "\n".join(f"  {names.get(c.file, c.file)}, {c}" for c in complaints)
    text = (f"{' and '.join(files)} {'was' if len(files) == 1 else 'were'} refused by Asterisk, so the lab went "
            f"back to your last working files: fix the line{'s' if len(complaints) > 1 else ''} below, then "
            f"run lab.reload() again (lab.reset_config() starts over from the rendered files). Asterisk said:\n"
            f"{said}")
    if still:
        text += ("\nputting the last working files back also gave:\n"
                 + "\n".join(f"  {names.get(c.file, c.file)}, {c}" for c in still))
    return text


def main_install(force: bool = False) -> int:  # pragma: no cover - thin CLI wrapper
    try:
        install_rootfs(force=force, progress=lambda s: print(s, flush=True))
    except PbxError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


def send_options(host: str, port: int = 5060, *, local_address: str | None = None, timeout: float = 2.0) -> str:
    """Send one raw SIP OPTIONS over UDP and return the response text.

    The simplest possible SIP exchange, with nothing but a socket: notebook 00
    does the same with scapy.

    Raises:
        PbxError: no response within ``timeout`` (the PBX is down or unreachable).
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        s.bind((local_address or ("::" if family == socket.AF_INET6 else "0.0.0.0"), 0))
        s.settimeout(timeout)
        lhost, lport = s.getsockname()[:2]
        if lhost in ("0.0.0.0", "::"):
            lhost = "127.0.0.1" if host.startswith("127.") else lhost
        msg = options_request(host, port, local=lhost, local_port=lport, tag=secrets.token_hex(4),
                              branch=secrets.token_hex(6), call_id=secrets.token_hex(8))
        try:
            s.sendto(bytes(msg), (host, port))
            data, _ = s.recvfrom(65535)
        except (TimeoutError, ConnectionRefusedError, OSError) as e:
            raise PbxError(
                f"the PBX at {host}:{port} did not answer a SIP OPTIONS within {timeout:.0f} s ({e}): "
                "start the local lab with 'voiplab lab up', or check the address in lab.toml"
            ) from None
    return data.decode("utf-8", "replace")

