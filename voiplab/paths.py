"""Where voiplab keeps its files, and how it recognises the processes it started.

Shared by every layer (no import of any other voiplab module):

* :func:`cache_dir`: big, rebuildable things (the Asterisk root filesystem, the
  browser phone's build copy);
* :func:`state_dir`: the running labs (rendered config, pid files, logs, recordings);
* pid files and process identity: :func:`write_pid_file`, :func:`read_pid_file`,
  :func:`owned_pid`, :func:`pid_alive`, :func:`process_cmdline`.

Process identity lives in one place on purpose: voiplab signals only a process it
started, and :func:`owned_pid` is the one check that decides which process that is
(today the pid in the pid file, alive, with a marker in its command line; a later
change adds its start time and executable here, for every caller at once).

Not taught in a notebook: the devices layer uses it, students never call it.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = [
    "cache_dir",
    "owned_pid",
    "pid_alive",
    "process_cmdline",
    "read_pid_file",
    "state_dir",
    "write_pid_file",
]

#: the sub-directory of the XDG cache and state directories that voiplab owns
APP_DIR_NAME = "voiplab"
#: the letter ``/proc/<pid>/stat`` shows for a zombie (exited, not yet reaped)
_ZOMBIE_STATE = "Z"


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


def write_pid_file(path: Path, pid: int) -> None:
    """Record that voiplab started process ``pid`` (one line: the pid)."""
    path.write_text(f"{pid}\n")


def read_pid_file(path: Path) -> int | None:
    """The pid recorded in ``path`` by :func:`write_pid_file`, or None (no file, unreadable, garbage)."""
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def owned_pid(path: Path, marker: str) -> int | None:
    """The pid recorded in ``path`` if that process still runs and is the one voiplab started.

    Parameters:
        path: the pid file written by :func:`write_pid_file`.
        marker: text the process's command line contains (``"asterisk"``,
            ``"voiplab.devices.alcatel"``): a recycled pid of another program is not ours.

    Returns:
        The pid, or None when the file is missing or the process is gone or someone else's.
        Only a pid returned here may be signalled.
    """
    pid = read_pid_file(path)
    if pid is None or not pid_alive(pid):
        return None
    return pid if marker in process_cmdline(pid) else None
