"""Running a submission's notebook in a sandbox: a fresh directory, a minimal environment, a hard timeout.

The grader never runs a student's code in its own process, directory or environment.
:func:`run_notebook` copies the notebook and the files it may read (its captures) into a
new temporary directory and runs it there, headless (nbclient), in a child process:

* **root** (a grading server, CI): in new mount, PID and network namespaces
  (``unshare --mount --pid --net --fork --kill-child --mount-proc``); the directories of
  the course (source, answer key, other submissions, the grader's files) are covered by an
  empty tmpfs, only loopback exists, ``/proc`` shows only the sandbox's own processes, and
  the notebook runs as ``nobody``;
* **a user with user namespaces**: the same, as the user mapped to root in a user
  namespace (no ``nobody``);
* **neither**: grading is refused (the notebook could read and write the course as the
  grader's user), unless ``allow_weak`` (``--allow-weak-sandbox``): then a new session, the
  same minimal environment and directory, and the report says the isolation was weak.

The environment is built from nothing (``PATH``, ``HOME`` and Jupyter's directories in the
sandbox, the student id, ``VOIPLAB_SAMPLES=1``): no variable of the grader reaches the
kernel. The sandbox's settings go in a file only root can read, never on a command line.
Each cell may run ``timeout`` seconds: the first cell that runs longer stops the run and
every process of the sandbox is killed (its PID namespace, or its process groups), so a
loop that ignores SIGINT dies at the timeout; a hard deadline for the whole run is the
last resort. The executed notebook comes back to the grader as data (size-limited).

``python -m voiplab.teach.sandbox run SETTINGS`` is the inside half (the runner).

Taught in ``docs/grading.md``.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import json
import os
import pwd
import resource
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import VoipLabError
from ..paths import system_tool

__all__ = ["SandboxResult", "isolation_available", "run_notebook"]

#: the user the notebook runs as when the grader is root
SANDBOX_USER = "nobody"
#: the largest executed notebook read back (bytes): a submission printing gigabytes is cut off
MAX_NOTEBOOK_BYTES = 32 * 1024 * 1024
#: the largest file a sandboxed process may write (bytes)
MAX_FILE_BYTES = 256 * 1024 * 1024
#: processes the sandbox user may have (a fork bomb stops there)
MAX_PROCESSES = 512
#: memory a sandboxed process may allocate (RLIMIT_DATA: heap and private mappings), bytes
MAX_DATA_BYTES = 4 * 1024**3
#: seconds added to the whole run's deadline (kernel start, shutdown)
DEADLINE_MARGIN_S = 30.0
#: the settings file and the executed notebook in the sandbox directory
SETTINGS_FILE = "sandbox.json"
EXECUTED_FILE = "executed.ipynb"
KERNEL_PGID_FILE = "kernel.pgid"
#: variables the kernel gets from the grader's environment (CPU quirks of OpenBLAS, the locale)
PASSED_THROUGH = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "LANG", "LC_ALL", "TZ")
#: Linux constants for the runner
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT, MS_BIND, MS_REC = 1, 2, 4, 8, 32, 4096, 16384
MNT_DETACH = 2
PR_SET_CHILD_SUBREAPER, PR_SET_NO_NEW_PRIVS = 36, 38
SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1


@dataclass(frozen=True)
class SandboxResult:
    """What came back from a sandboxed run.

    Attributes:
        notebook: the executed notebook (an nbformat node), or None if none came back.
        note: what went wrong with the run as a whole (a timeout, a dead kernel), or ``""``.
        isolation: how the run was isolated (``"namespaces, as nobody"``, ``"user namespace"``,
            ``"weak: ..."``).
        timed_out: a cell ran longer than the timeout (the run was stopped there).
        seconds: how long the run took.
    """

    notebook: Any
    note: str
    isolation: str
    timed_out: bool
    seconds: float


def _unshare() -> str | None:
    try:
        return system_tool("unshare", "util-linux")
    except FileNotFoundError:
        return None


def isolation_available() -> str:
    """How :func:`run_notebook` would isolate a run here (``"namespaces, as nobody"``, ...)."""
    if _unshare() is None:
        return "weak: unshare (util-linux) is missing"
    if os.geteuid() == 0:
        return f"namespaces, as {SANDBOX_USER}"
    probe = subprocess.run([_unshare() or "unshare", "--user", "--map-root-user", "--mount", "--pid", "--fork",
                            "true"], capture_output=True, timeout=10, check=False)
    if probe.returncode == 0:
        return "user namespace"
    return "weak: user namespaces are not allowed here (see 'voiplab doctor')"


def _minimal_env(box: Path, extra: Mapping[str, str]) -> dict[str, str]:
    env = {
        "PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
        "HOME": str(box / "home"),
        "TMPDIR": str(box / "tmp"),
        "JUPYTER_RUNTIME_DIR": str(box / "runtime"),
        "JUPYTER_CONFIG_DIR": str(box / "home" / ".jupyter"),
        "IPYTHONDIR": str(box / "home" / ".ipython"),
        "MPLCONFIGDIR": str(box / "home" / ".matplotlib"),
        "MPLBACKEND": "agg",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",
        "VOIPLAB_STATE_DIR": str(box / "home" / "state"),
        "VOIPLAB_NO_CAPTURE": "1",
        "VOIPLAB_SAMPLES": "1",
        "LANG": "C.UTF-8",
    }
    for key in PASSED_THROUGH:
        if key in os.environ:
            env[key] = os.environ[key]
    env.update(extra)
    return env


def run_notebook(nb: Any, files: Mapping[str, str | os.PathLike[str]], *, timeout: float,
                 env: Mapping[str, str] | None = None, hide: Sequence[str | os.PathLike[str]] = (),
                 kernel_name: str = "python3", name: str = "submission.ipynb",
                 deadline: float | None = None, allow_weak: bool = False) -> SandboxResult:
    """Run ``nb`` in a sandbox (see the module docstring); return the executed notebook.

    Parameters:
        nb: the notebook to run (an nbformat node: the grader's copy, grade cells restored).
        files: relative path in the sandbox -> file to copy there (the submission's captures).
        timeout: seconds each cell may run; the first cell over it stops the run.
        env: variables for the kernel, on top of the minimal environment (the student id).
        hide: directories the notebook must not see (the course, the key, other submissions).
        kernel_name: the Jupyter kernel.
        name: the notebook's file name in the sandbox.
        deadline: seconds the whole run may take (default: ``timeout`` per code cell, plus a margin).
        allow_weak: run even where no namespace can isolate the notebook (see the module docstring).

    Raises:
        VoipLabError: nbformat is missing, the sandbox could not be made, or only a weak one
            could and ``allow_weak`` is False.

    Taught in ``docs/grading.md``.
    """
    try:
        import nbformat  # nbformat: only when a submission is graded
    except ImportError:  # pragma: no cover - nbformat comes with jupyterlab
        raise VoipLabError("nbformat is not installed: pip install nbformat (it comes with jupyterlab)") from None
    root = os.geteuid() == 0
    unshare = _unshare()
    available = isolation_available()
    if available.startswith("weak") and not allow_weak:
        raise VoipLabError(f"a submission cannot be sandboxed here ({available[6:]}): grade as root, or allow "
                           "unprivileged user namespaces, or accept a weak sandbox (--allow-weak-sandbox)")
    box = Path(tempfile.mkdtemp(prefix="voiplab-sandbox-"))
    t0 = time.monotonic()
    try:
        work = box / "work"
        for sub in ("work", "home", "tmp", "runtime"):
            (box / sub).mkdir(mode=0o700)
        nbformat.write(nb, str(work / name))
        for relative, source in files.items():
            target = (work / relative).resolve()
            if work.resolve() not in target.parents:
                raise VoipLabError(f"the sandbox file {relative!r} is outside the sandbox: give a relative path")
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
        code_cells = sum(1 for c in nb.cells if c.cell_type == "code")
        limit = deadline if deadline is not None else timeout * max(code_cells, 1) + DEADLINE_MARGIN_S
        hidden = [Path(h).resolve() for h in hide if Path(h).is_dir()]
        hidden = sorted({h for h in hidden if not any(o in h.parents for o in hidden)})  # a parent hides its children
        namespaces = unshare is not None and not available.startswith("weak")
        settings: dict[str, object] = {"notebook": name, "timeout": timeout, "kernel": kernel_name,
                                       "namespaces": namespaces, "grader_mount_ns": os.readlink("/proc/self/ns/mnt"),
                                       "hide": [str(h) for h in hidden if h != box and h not in box.parents]}
        if root and namespaces:
            user = pwd.getpwnam(SANDBOX_USER)
            settings |= {"uid": user.pw_uid, "gid": user.pw_gid, "expose": _python_paths()}
            for path in [box, *box.rglob("*")]:
                os.chown(path, user.pw_uid, user.pw_gid)
        settings_path = box / SETTINGS_FILE
        settings_path.write_text(json.dumps(settings))
        os.chmod(settings_path, 0o600)
        if root:
            os.chown(settings_path, 0, 0)
        runner = [sys.executable, "-m", "voiplab.teach.sandbox", "run", str(settings_path)]
        if namespaces:
            assert unshare is not None
            cmd = [unshare, "--mount", "--propagation", "private", "--pid", "--fork", "--kill-child",
                   "--mount-proc", "--net"]
            if not root:
                cmd[1:1] = ["--user", "--map-root-user"]
            cmd += runner
            isolation = f"namespaces, as {SANDBOX_USER}" if root else "user namespace"
        else:
            cmd = runner
            isolation = available
        with open(box / "runner.log", "wb") as log:
            proc = subprocess.Popen(cmd, cwd=str(work), env=_minimal_env(box, env or {}), stdin=subprocess.DEVNULL,
                                    stdout=log, stderr=subprocess.STDOUT, start_new_session=True, close_fds=True)
        note = ""
        try:
            proc.wait(timeout=limit)
        except subprocess.TimeoutExpired:
            note = f"the run was stopped after {limit:.0f} s (the whole notebook's deadline)"
        finally:
            _kill_all(proc, box)
        executed = box / EXECUTED_FILE
        result_nb = None
        timed_out = False
        if executed.is_file() and executed.stat().st_size <= MAX_NOTEBOOK_BYTES:
            with contextlib.suppress(Exception):  # whatever the sandbox wrote: a notebook or nothing
                result_nb = nbformat.reads(executed.read_text(encoding="utf-8", errors="replace"), as_version=4)
                status = result_nb.metadata.get("voiplab_sandbox", {})
                note = note or str(status.get("note", ""))
                timed_out = bool(status.get("timed_out", False))
        elif executed.is_file():
            note = note or f"the executed notebook is larger than {MAX_NOTEBOOK_BYTES} bytes: it was not read"
        if result_nb is None and not note:
            tail = (box / "runner.log").read_text(errors="replace").strip().splitlines()[-3:]
            note = "the sandbox returned no notebook" + (f" ({' | '.join(tail)})" if tail else "")
        return SandboxResult(result_nb, note, isolation, timed_out or "stopped after" in note,
                             time.monotonic() - t0)
    finally:
        shutil.rmtree(box, ignore_errors=True)
        if box.exists():  # files the sandbox user made read-only or odd: take them back first
            subprocess.run(["chmod", "-R", "u+rwx", str(box)], check=False, capture_output=True)
            shutil.rmtree(box, ignore_errors=True)


def _python_paths() -> list[str]:
    """What the sandbox user must read to run this Python and voiplab: the prefixes, the packages."""
    package_parent = Path(__file__).resolve().parents[2]  # where voiplab/ is: the checkout of an editable install
    paths = {sys.base_prefix, sys.prefix, str(Path(sys.executable).resolve().parent.parent), str(package_parent)}
    return sorted(str(Path(p).resolve()) for p in paths)


def _kill_all(proc: subprocess.Popen[bytes], box: Path) -> None:
    """SIGKILL the runner's process group and, without a PID namespace, the kernel's group too."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=10)
    try:
        pgid = int((box / KERNEL_PGID_FILE).read_text().strip())
    except (OSError, ValueError):
        return
    # written by the runner, which runs as the student's code does: kill only a group whose leader
    # is a child of our runner (a forged file must not make us kill anything else)
    try:
        stat = Path(f"/proc/{pgid}/stat").read_text()
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return
    if ppid in (proc.pid, 1) and pgid > 1:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)


# ---------------------------------------------------------------------------- the inside half


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.mount(source.encode() if source else None, target.encode(), fstype.encode() if fstype else None,
                  flags, data.encode() if data else None) != 0:
        raise OSError(ctypes.get_errno(), f"mount {source} on {target} failed: {os.strerror(ctypes.get_errno())}")


def _hide(directories: Sequence[str]) -> None:
    """Cover each directory with an empty tmpfs nobody may enter."""
    for d in directories:
        _mount("tmpfs", d, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=16k,mode=000")


def _blocked_ancestor(path: Path) -> Path | None:
    """The first directory above ``path`` that others may not enter (``/root`` for a pyenv Python)."""
    for parent in reversed(path.parents):
        if parent != Path("/") and not parent.stat().st_mode & 0o001:
            return parent
    return None


def _expose(paths: Sequence[str], stage: Path) -> None:
    """Make ``paths`` (the interpreter, the packages) readable by the sandbox user, and nothing beside them.

    A Python built under ``/root`` (pyenv) cannot run as ``nobody``: each such path is bound
    aside, the directory that blocks it is covered by a tmpfs (hiding all it held), and the
    path alone is bound back, read-only, at the same place.
    """
    wanted = [Path(p) for p in paths if Path(p).is_dir()]
    blocked: dict[Path, list[Path]] = {}
    for p in wanted:
        b = _blocked_ancestor(p)
        if b is not None:
            blocked.setdefault(b, []).append(p)
    staged: list[tuple[Path, Path]] = []
    for n, p in enumerate(q for qs in blocked.values() for q in qs):
        aside = stage / str(n)
        aside.mkdir(parents=True)
        _mount(str(p), str(aside), None, MS_BIND | MS_REC)
        staged.append((aside, p))
    for b in blocked:
        _mount("tmpfs", str(b), "tmpfs", MS_NOSUID | MS_NODEV, "size=64k,mode=755")
    libc = ctypes.CDLL(None, use_errno=True)
    for aside, p in staged:
        os.makedirs(p, mode=0o755, exist_ok=True)
        _mount(str(aside), str(p), None, MS_BIND | MS_REC)
        _mount(None, str(p), None, MS_REMOUNT | MS_BIND | MS_RDONLY)
        libc.umount2(str(aside).encode(), MNT_DETACH)


def _loopback_up() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        request = struct.pack("16sH14x", b"lo", 0)
        flags = struct.unpack("16sH14x", fcntl.ioctl(s.fileno(), SIOCGIFFLAGS, request))[1]
        fcntl.ioctl(s.fileno(), SIOCSIFFLAGS, struct.pack("16sH14x", b"lo", flags | IFF_UP))


def _drop(settings: Mapping[str, Any]) -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (MAX_FILE_BYTES, MAX_FILE_BYTES))
    resource.setrlimit(resource.RLIMIT_DATA, (MAX_DATA_BYTES, MAX_DATA_BYTES))
    if "uid" in settings:
        resource.setrlimit(resource.RLIMIT_NPROC, (MAX_PROCESSES, MAX_PROCESSES))
        os.setgroups([])
        os.setgid(int(settings["gid"]))
        os.setuid(int(settings["uid"]))
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)


def _execute(settings: Mapping[str, Any]) -> None:
    # nbclient and nbformat: only in the runner, which starts a kernel
    import nbclient
    import nbformat
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    name = str(settings["notebook"])
    nb = nbformat.read(name, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=float(settings["timeout"]), kernel_name=str(settings["kernel"]),
                                     allow_errors=True, interrupt_on_timeout=False, shutdown_kernel="immediate",
                                     resources={"metadata": {"path": os.getcwd()}})
    status: dict[str, object] = {"note": "", "timed_out": False}
    box = Path(os.getcwd()).parent

    def started(**_: object) -> None:
        km = client.km
        pgid = getattr(getattr(km, "provisioner", None), "pgid", None) if km is not None else None
        if pgid:
            with contextlib.suppress(OSError):
                (box / KERNEL_PGID_FILE).write_text(str(pgid))

    client.on_notebook_start = started
    try:
        client.execute()
    except CellTimeoutError:
        status = {"note": f"a cell ran longer than {settings['timeout']:g} s: the run was stopped there and "
                          "every process of the notebook was killed", "timed_out": True}
    except DeadKernelError:
        status["note"] = "the kernel died during the run"
    except Exception as e:  # noqa: BLE001 - whatever the submission did, the grader gets a notebook back
        status["note"] = f"the run stopped early ({type(e).__name__}: {str(e).strip()[:200]})"
    finally:
        km = client.km
        if km is not None:
            with contextlib.suppress(Exception):
                km.shutdown_kernel(now=True)
    nb.metadata["voiplab_sandbox"] = status
    nbformat.write(nb, str(box / EXECUTED_FILE))


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m voiplab.teach.sandbox run SETTINGS``: the runner, inside the sandbox."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 2 or args[0] != "run":
        print("usage: python -m voiplab.teach.sandbox run SETTINGS", file=sys.stderr)
        return 2
    path = Path(args[1])
    settings = json.loads(path.read_text())
    path.unlink()
    if settings.get("namespaces"):
        # never touch the grader's own mounts: only in the new mount namespace unshare made
        if os.readlink("/proc/self/ns/mnt") == settings.get("grader_mount_ns"):
            print("the sandbox is not in a mount namespace of its own: stopping", file=sys.stderr)
            return 1
        if settings.get("hide"):
            _hide(settings["hide"])
        if settings.get("expose"):
            _expose(settings["expose"], path.parent / "stage")
        _loopback_up()
    # orphans of the notebook (a child in a session of its own) come back to us, to be killed at the end
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    _drop(settings)
    try:
        _execute(settings)
    finally:
        _kill_descendants()
    return 0


def _kill_descendants() -> None:
    """SIGKILL every process left under the runner (children, and orphans it reaped as subreaper)."""
    me = str(os.getpid())
    for _ in range(50):
        children = []
        for proc in Path("/proc").iterdir():
            if proc.name.isdigit():
                with contextlib.suppress(OSError, IndexError):
                    if (proc / "stat").read_text().rsplit(")", 1)[1].split()[1] == me:
                        children.append(int(proc.name))
        if not children:
            return
        for pid in children:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        for pid in children:
            with contextlib.suppress(ChildProcessError, OSError):
                os.waitpid(pid, 0)


if __name__ == "__main__":
    sys.exit(main())
