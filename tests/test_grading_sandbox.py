"""voiplab.teach.sandbox: a submission runs in a fresh directory, with nothing of the grader, and dies on time.

Each test runs a small notebook through :func:`voiplab.teach.sandbox.run_notebook` (a real
kernel). As root the run is in its own mount, PID and network namespaces, as ``nobody``,
with the given directories hidden; the tests marked ``root`` check those.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
import uuid
from pathlib import Path

import nbformat
import pytest

from voiplab.teach.sandbox import SandboxResult, isolation_available, run_notebook

pytestmark = pytest.mark.notebook


def run(*cells: str, timeout: float = 20, files: dict[str, Path] | None = None, **kw: object) -> SandboxResult:
    """Run the cells sandboxed; the grader's own mounts must be the same afterwards."""
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    mounts = Path("/proc/self/mountinfo").read_text()
    try:
        return run_notebook(nb, files or {}, timeout=timeout, **kw)  # type: ignore[arg-type]
    finally:
        assert Path("/proc/self/mountinfo").read_text() == mounts, "the sandbox changed the grader's mounts"


def printed(result: SandboxResult, cell: int) -> str:
    out = result.notebook.cells[cell].get("outputs", [])
    return "".join("".join(o.get("text", "")) if o.get("output_type") == "stream" else
                   f"{o.get('ename', '')}: {o.get('evalue', '')}" for o in out)


def processes_with(marker: str) -> list[str]:
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if marker in cmdline:
                found.append(f"{proc.name}: {cmdline}")
    return found


def test_the_kernel_gets_nothing_of_the_graders_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Does a grader's secret in its environment stay out of the kernel, which sees a minimal environment?"""
    monkeypatch.setenv("VOIPLAB_GRADER_TOKEN", "s3cret-token-value")
    result = run("import os, json\nprint(json.dumps(dict(os.environ)))", env={"VOIPLAB_STUDENT": "alice"})
    env = json.loads(printed(result, 0))
    assert "s3cret-token-value" not in json.dumps(env)
    assert env["VOIPLAB_STUDENT"] == "alice" and env["VOIPLAB_SAMPLES"] == "1"
    allowed = {"PATH", "HOME", "TMPDIR", "JUPYTER_RUNTIME_DIR", "JUPYTER_CONFIG_DIR", "IPYTHONDIR", "MPLCONFIGDIR",
               "MPLBACKEND", "PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED", "VOIPLAB_STATE_DIR", "VOIPLAB_NO_CAPTURE",
               "VOIPLAB_SAMPLES", "VOIPLAB_STUDENT", "LANG", "LC_ALL", "TZ", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE",
               # what ipykernel and jupyter_client set for every kernel
               "JPY_PARENT_PID", "JPY_SESSION_NAME", "CLICOLOR", "CLICOLOR_FORCE", "FORCE_COLOR", "GIT_PAGER", "PAGER",
               "TERM", "PYDEVD_USE_FRAME_EVAL"}
    assert set(env) <= allowed, set(env) - allowed


def test_the_notebook_runs_in_a_fresh_directory_holding_only_its_files(tmp_path: Path) -> None:
    """Is the kernel's directory new, holding the notebook and the files given, and removed afterwards?"""
    capture = tmp_path / "call.pcap"
    capture.write_bytes(b"pcap bytes")
    result = run("import os\nprint(os.getcwd())\nprint(sorted(os.listdir('.')))\n"
                 "print(open('captures/alice/call.pcap', 'rb').read())",
                 files={"captures/alice/call.pcap": capture}, name="mine.ipynb")
    cwd, listing, content = printed(result, 0).splitlines()
    assert Path(cwd).name == "work" and Path(cwd).parent.name.startswith("voiplab-sandbox-")
    assert Path(cwd).parent.parent == Path(tempfile.gettempdir())
    assert listing == "['captures', 'mine.ipynb']" and content == "b'pcap bytes'"
    assert not Path(cwd).parent.exists()
    with pytest.raises(Exception, match="is outside the sandbox"):
        run("1", files={"../escape": capture})


def test_a_loop_that_ignores_sigint_dies_at_the_timeout() -> None:
    """A cell ignoring SIGINT in a busy loop, with a child in a session of its own: are both killed at the timeout,
    the run stopped there, and the cells after it not run?"""
    marker = f"voiplab-test-{uuid.uuid4().hex}"
    t0 = time.monotonic()
    result = run("print('before')",
                 "import signal, subprocess, sys\n"
                 "signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
                 f"subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)', '{marker}'],"
                 " start_new_session=True)\n"
                 "while True:\n    pass",
                 "print('after')", timeout=4)
    took = time.monotonic() - t0
    assert result.timed_out
    assert result.note == ("a cell ran longer than 4 s: the run was stopped there and every process of the "
                           "notebook was killed")
    assert took < 4 + 25, took  # the kernel's start, 4 s of loop, the kill: never the 10 minutes of the issue
    assert printed(result, 0) == "before\n" and printed(result, 2) == ""
    time.sleep(0.5)
    assert processes_with(marker) == []


@pytest.mark.root
def test_as_root_the_notebook_runs_as_nobody_in_namespaces(tmp_path: Path) -> None:
    """As root: does the notebook run as nobody, see none of the grader's processes, no hidden directory, no
    network beyond its own loopback, and fail to write a file the grader owns?"""
    assert os.geteuid() == 0
    assert isolation_available() == "namespaces, as nobody"
    secret_dir = tmp_path / "course"
    secret_dir.mkdir()
    (secret_dir / "key.txt").write_text("the answer key")
    os.chmod(tmp_path, 0o755)
    os.chmod(secret_dir, 0o755)
    os.chmod(secret_dir / "key.txt", 0o666)  # even a world-writable file of the course is out of reach
    result = run("import os\nprint(os.getuid(), os.getgid())",
                 "import os\nprint(sorted(open(f'/proc/{p}/cmdline', 'rb').read().split(b'\\0')[0].decode()"
                 " for p in os.listdir('/proc') if p.isdigit()))",
                 f"print(open({str(secret_dir / 'key.txt')!r}).read())",
                 f"open({str(secret_dir / 'key.txt')!r}, 'w').write('changed')",
                 "import socket\nprint(sorted(n for _, n in socket.if_nameindex()))",
                 hide=[secret_dir])
    assert result.isolation == "namespaces, as nobody"
    assert printed(result, 0) == "65534 65534\n"
    assert "pytest" not in printed(result, 1) and "python" in printed(result, 1)
    assert printed(result, 2).startswith("PermissionError")
    assert printed(result, 3).startswith("PermissionError")
    assert (secret_dir / "key.txt").read_text() == "the answer key"
    assert printed(result, 4) == "['lo']\n"


def test_grading_is_refused_where_no_sandbox_can_be_made(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without root nor user namespaces, is grading refused with what to do (unless a weak sandbox is accepted)?"""
    from voiplab.errors import VoipLabError
    from voiplab.teach import sandbox

    monkeypatch.setattr(sandbox, "isolation_available", lambda: "weak: user namespaces are not allowed here")
    with pytest.raises(VoipLabError, match=r"^a submission cannot be sandboxed here \(user namespaces are not "
                                           r"allowed here\): grade as root, or allow unprivileged user namespaces, "
                                           r"or accept a weak sandbox \(--allow-weak-sandbox\)$"):
        run("print(1)")
    result = run("print(1)", allow_weak=True)
    assert result.isolation == "weak: user namespaces are not allowed here" and printed(result, 0) == "1\n"


def test_a_memory_hog_gets_a_memory_error() -> None:
    """Does a cell allocating 6 GiB fail with MemoryError (the sandbox's limit) instead of starving the grader?"""
    result = run("import numpy as np\nx = np.ones(6 * 2**30 // 8)", "print('alive')")
    assert printed(result, 0).startswith("MemoryError") and printed(result, 1) == "alive\n"
