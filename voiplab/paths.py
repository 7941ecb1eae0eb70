"""Where voiplab keeps its files, and how it recognises the processes it started.

Shared by every layer (no import of any other voiplab module):

* :func:`cache_dir`: big, rebuildable things (the Asterisk root filesystem, the
  browser phone's build copy);
* :func:`state_dir`: the running labs (rendered config, pid files, logs, recordings);
* files only their owner can read: :func:`private_dir` (0700), :func:`write_private` (0600);
* a lock for starting and stopping a lab: :func:`locked`;
* pid files and process identity: :func:`write_pid_file`, :func:`read_pid_file`,
  :func:`owned_pid`, :func:`process_identity`, :func:`pid_alive`, :func:`process_cmdline`.

Process identity lives in one place on purpose: voiplab signals only a process it
started, and :func:`owned_pid` is the one check that decides which process that is: the
pid recorded with its start time, boot, user and executable, all matching the running
process. A stale pid file (a reboot, a pid reused by another program) matches nothing.

Not taught in a notebook: the devices layer uses it, students never call it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

__all__ = [
    "ProcessIdentity",
    "cache_dir",
    "end_child",
    "locked",
    "owned_pid",
    "pid_alive",
    "private_dir",
    "process_cmdline",
    "process_identity",
    "scratch_dir",
    "read_pid_file",
    "state_dir",
    "write_pid_file",
    "signal_owned",
    "system_tool",
    "write_private",
]

#: the sub-directory of the XDG cache and state directories that voiplab owns
APP_DIR_NAME = "voiplab"
#: the letter ``/proc/<pid>/stat`` shows for a zombie (exited, not yet reaped)
_ZOMBIE_STATE = "Z"
#: rights of the lab's directories and of every file that may hold a secret
PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600
#: how long ``lab up``/``lab down`` wait for another one to finish, and how often they look
LOCK_TIMEOUT_S = 60.0
LOCK_POLL_S = 0.05
#: the kernel's id of this boot: a pid recorded before a reboot is someone else's now
BOOT_ID_FILE = "/proc/sys/kernel/random/boot_id"
#: scratch directories older than this are left-overs of a killed process: removed at the next use
SCRATCH_MAX_AGE_S = 24 * 3600
#: where system programs live, /usr/sbin and /sbin included: a normal user's login PATH lacks
#: them on Debian, so admin tools (chroot, ...) are found here, by absolute path, never via PATH
SYSTEM_TOOL_DIRS = ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin")
#: field 22 of ``/proc/<pid>/stat`` (counted after the command name): the start time in ticks
_STAT_STARTTIME = 19


def cache_dir() -> Path:
    """Where voiplab keeps big, rebuildable things (the Asterisk root filesystem).

    ``$VOIPLAB_CACHE_DIR``, else ``$XDG_CACHE_HOME/voiplab``, else ``~/.cache/voiplab``.
    """
    env = os.environ.get("VOIPLAB_CACHE_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / APP_DIR_NAME


def state_dir() -> Path:
    """Where voiplab keeps the running lab: rendered config, pid files, logs.

    ``$VOIPLAB_STATE_DIR``, else ``$XDG_STATE_HOME/voiplab``, else ``~/.local/state/voiplab``.
    """
    env = os.environ.get("VOIPLAB_STATE_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / APP_DIR_NAME


def private_dir(path: Path) -> Path:
    """Make ``path`` (and missing parents) a directory only its owner can enter (0700); returns it.

    The lab's state holds secrets (passwords in pjsip.conf, the manager's secret): on a
    shared machine no other user may read it.
    """
    missing = []
    p = path
    while not p.exists() and p != p.parent:
        missing.append(p)
        p = p.parent
    # the parents it makes are private too (~/.local/state/voiplab/lab: voiplab and lab)
    for d in reversed(missing):
        with contextlib.suppress(FileExistsError):
            d.mkdir(mode=PRIVATE_DIR_MODE)
        os.chmod(d, PRIVATE_DIR_MODE)
    os.chmod(path, PRIVATE_DIR_MODE)
    return path


def write_private(path: Path, text: str | bytes) -> Path:
    """Write a file only its owner can read (0600, also when it existed with wider rights)."""
    data = text.encode("utf-8") if isinstance(text, str) else text
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, PRIVATE_FILE_MODE)
    try:
        os.fchmod(fd, PRIVATE_FILE_MODE)
        os.write(fd, data)
    finally:
        os.close(fd)
    return path


def scratch_dir(kind: str, prefix: str) -> Path:
    """A new private (0700) directory for temporary files, under the user's voiplab state.

    Phones, captures and browsers keep their working files here rather than in the
    system's shared temporary directory: nothing of a student's lab lies in /tmp, and what
    a killed process could not remove is swept on a later call (after a day).

    Parameters:
        kind: the family (``"phones"``, ``"captures"``, ``"browsers"``): one sub-directory each.
        prefix: the start of the new directory's name.
    """
    parent = private_dir(state_dir() / "scratch" / kind)
    now = time.time()
    for old in parent.iterdir():
        with contextlib.suppress(OSError):
            if now - old.stat().st_mtime > SCRATCH_MAX_AGE_S:
                shutil.rmtree(old, ignore_errors=True)
    return Path(tempfile.mkdtemp(prefix=prefix, dir=parent))


@contextlib.contextmanager
def locked(path: Path, timeout: float = LOCK_TIMEOUT_S, what: str = "the lab") -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created 0600) for the ``with`` block.

    Two ``voiplab lab up`` at once: the second waits for the first, then finds the lab running.

    Raises:
        TimeoutError: the lock was not free within ``timeout`` seconds (the message says who waits).
    """
    private_dir(path.parent)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, PRIVATE_FILE_MODE)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{what} is being started or stopped by another command "
                                       f"(lock {path} held for {timeout:.0f} s)") from None
                time.sleep(LOCK_POLL_S)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


# ---------------------------------------------------------------------------
# processes


def pid_alive(pid: int) -> bool:
    """True if process ``pid`` exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != _ZOMBIE_STATE
    except OSError:
        return False


def process_cmdline(pid: int) -> str:
    """The command line of process ``pid``, arguments joined by spaces ("" if unreadable)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode("utf-8", "replace")
    except OSError:
        return ""


@dataclass(frozen=True)
class ProcessIdentity:
    """What makes a process the one voiplab started, not a later process given the same pid.

    Attributes:
        pid: the process id.
        start_ticks: when it started, in clock ticks since boot (``/proc/<pid>/stat``).
        boot_id: the boot it started in (a pid file survives a reboot; its process does not).
        uid: its real user id (voiplab signals only its own user's processes).
        exe: the executable it runs (``/proc/<pid>/exe``), ``""`` if it could not be read.
    """

    pid: int
    start_ticks: int
    boot_id: str
    uid: int
    exe: str


def _boot_id() -> str:
    try:
        return Path(BOOT_ID_FILE).read_text().strip()
    except OSError:
        return ""


def process_identity(pid: int) -> ProcessIdentity | None:
    """The identity of a running process (None when it does not exist, is a zombie, or is unreadable)."""
    if pid <= 0 or not pid_alive(pid):
        return None
    try:
        stat_fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        status = Path(f"/proc/{pid}/status").read_text()
    except (OSError, IndexError):
        return None
    uid_line = next((line for line in status.splitlines() if line.startswith("Uid:")), "")
    try:
        start_ticks, uid = int(stat_fields[_STAT_STARTTIME]), int(uid_line.split()[1])
    except (IndexError, ValueError):
        return None
    try:
        exe = os.readlink(f"/proc/{pid}/exe")
    except OSError:
        exe = ""
    return ProcessIdentity(pid, start_ticks, _boot_id(), uid, exe)


def write_pid_file(path: Path, pid: int) -> ProcessIdentity:
    """Record that voiplab started process ``pid``: its identity, as JSON, in a 0600 file.

    Call it once the process runs its final program (after any exec): the executable is
    part of the identity.

    Raises:
        ProcessLookupError: ``pid`` is not a running process.
    """
    identity = process_identity(pid)
    if identity is None:
        raise ProcessLookupError(f"process {pid} is not running: nothing to record")
    private_dir(path.parent)
    write_private(path, json.dumps(asdict(identity)) + "\n")
    return identity


def read_pid_file(path: Path) -> ProcessIdentity | None:
    """The identity recorded in ``path`` by :func:`write_pid_file`; None if missing or not ours.

    A file in another format (an older voiplab's bare pid, garbage) is None: a process
    that cannot be identified is never signalled.
    """
    try:
        data = json.loads(path.read_text())
        return ProcessIdentity(int(data["pid"]), int(data["start_ticks"]), str(data["boot_id"]),
                               int(data["uid"]), str(data["exe"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def owned_pid(path: Path) -> int | None:
    """The pid recorded in ``path`` if that very process still runs: the only pid voiplab may signal.

    The recorded identity must match the running process exactly: same start time, same
    boot, same user (this user), same executable. A stale file (the process ended, the
    machine rebooted, the pid went to another program such as ``vim /etc/asterisk/x``, or
    to another user's process) gives None.
    """
    recorded = read_pid_file(path)
    if recorded is None or recorded.uid != os.getuid():
        return None
    return recorded.pid if process_identity(recorded.pid) == recorded else None


def signal_owned(path: Path, signum: int) -> bool:
    """Send ``signum`` to the process recorded in ``path``, only if it is still that very process.

    The identity is checked on a pidfd (Linux 5.3+): once the pidfd is open it designates
    that process for good, so the check and the signal cannot be split by a pid reuse.

    Returns:
        True if the signal was sent; False when the file names no process of ours (stale,
        another user's, another program's) or it ended meanwhile.
    """
    pid = owned_pid(path)
    if pid is None:
        return False
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return False
    except OSError:  # no pidfd (old kernel): the identity was checked just above
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signum)
            return True
        return False
    try:
        if owned_pid(path) != pid:
            return False
        signal.pidfd_send_signal(fd, signum)
        return True
    except ProcessLookupError:
        return False
    finally:
        os.close(fd)


def system_tool(name: str, package: str) -> str:
    """The absolute path of a system program (``chroot``, ``mount``...), looked up in :data:`SYSTEM_TOOL_DIRS`.

    Raises:
        FileNotFoundError: it is not installed (the message names the package to install).
    """
    found = shutil.which(name, path=os.pathsep.join(SYSTEM_TOOL_DIRS))
    if found is None:
        raise FileNotFoundError(f"{name} is not installed: install the package {package} "
                                f"(sudo apt-get install {package})")
    return found


def end_child(proc: subprocess.Popen[bytes], timeout: float = 5.0) -> None:
    """Stop a child process that failed to start, with its process group (SIGTERM, then SIGKILL).

    Safe without an identity check: until it is reaped, a child's pid cannot name another process.
    """
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()

