"""Can a university serve the course to a class from one server with JupyterHub (issue 14)?

A real JupyterHub (``/opt/voiplab/venv``, made by ``bash scripts/setup.sh --system`` as
``docs/jupyterhub.md`` tells an administrator) with the course's configuration
(``course/jupyterhub_config.py``: PAM, the class roster, LocalProcessSpawner), behind npm's
configurable-http-proxy, on 127.0.40.1. Three fresh local Unix users with random passwords, named
in a roster. For each, at the same time, as a student in a browser would: the login form (PAM
checks the Unix password), a token, the hub spawns their server, a kernel is started through the
server's REST API, and notebook 03 (its ``solution`` cells filled from the key, as in
``tests/test_notebooks.py``) runs cell by cell over the kernel's websocket. Every user's lab is
their own: their uid's loopback block, their ``~/.local/state/voiplab``, their Asterisk in a user
namespace, and all three are up side by side. Every check cell must say PASS. Stopping a server
stops its lab (the configuration's ``post_stop_hook``). The users are removed at the end.
"""

from __future__ import annotations

import asyncio
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import nbformat
import pytest
from conftest import require
from test_notebooks import KEYS, check_outputs, filled
from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest, HTTPResponse
from tornado.websocket import WebSocketClientConnection, websocket_connect

from voiplab.config import local_block

pytestmark = [pytest.mark.root, pytest.mark.asterisk, pytest.mark.notebook]

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path("/opt/voiplab")
HUB_VENV = SHARED / "venv"
PROXY = SHARED / "proxy" / "node_modules" / ".bin" / "configurable-http-proxy"
SYSTEM_ROOTFS = SHARED / "asterisk-rootfs"
HUB_CONFIG = ROOT / "course" / "jupyterhub_config.py"
NOTEBOOK = ROOT / "notebooks" / "03_register.ipynb"
#: this test's addresses: the hub's public one, its internal API and the proxy's API on free ports
HUB_IP = "127.0.40.1"
STUDENTS = 3
#: the longest one cell may take (three labs share two cores)
CELL_TIMEOUT = 120
SETUP_HINT = "run 'bash scripts/setup.sh --system' as root (docs/jupyterhub.md; CI does)"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HUB_IP, 0))
        return int(s.getsockname()[1])


def _run(cmd: list[str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def _sources_differ() -> list[str]:
    """voiplab's modules whose copy in the shared venv differs from this clone's (a stale install)."""
    res = _run([str(HUB_VENV / "bin" / "python"), "-c", "import voiplab, os; print(os.path.dirname(voiplab.__file__))"])
    if res.returncode != 0:
        return ["voiplab (not importable)"]
    installed = Path(res.stdout.strip())
    ours = ROOT / "voiplab"
    return [str(p.relative_to(ours)) for p in sorted(ours.rglob("*.py"))
            if not (installed / p.relative_to(ours)).exists()
            or (installed / p.relative_to(ours)).read_bytes() != p.read_bytes()]


def _memory_mb(uid: int) -> float:
    """The resident memory of every process of ``uid`` added up (shared pages counted in each): MB."""
    total = 0
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            lines = dict(line.split(":", 1) for line in status.read_text().splitlines() if ":" in line)
        except OSError:
            continue
        if int(lines["Uid"].split()[0]) == uid and "VmRSS" in lines:
            total += int(lines["VmRSS"].split()[0])
    return total / 1024


def _udp_listeners() -> set[tuple[str, int, int]]:
    """(address, port, uid) of every UDP socket bound on this host's network namespace."""
    found = set()
    for line in Path("/proc/net/udp").read_text().splitlines()[1:]:
        fields = line.split()
        hex_ip, hex_port = fields[1].split(":")
        ip = socket.inet_ntoa(bytes.fromhex(hex_ip)[::-1])
        found.add((ip, int(hex_port, 16), int(fields[7])))
    return found


@dataclass
class Student:
    """A local Unix user of the test, and what the test saw of their session."""

    name: str
    password: str
    uid: int = 0
    cookies: dict[str, str] = field(default_factory=dict)
    token: str = ""
    spawn_s: float = 0.0
    notebook_s: float = 0.0
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def block(self) -> str:
        return local_block(self.uid)


def _as_student(name: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return _run(["runuser", "-u", name, "--", "env", "-i", f"HOME={pwd.getpwnam(name).pw_dir}", f"USER={name}",
                 "PATH=/usr/bin:/bin", *args], timeout=timeout)


@pytest.fixture
def students() -> Iterator[list[Student]]:
    """Three fresh local users with random passwords; removed at the end with all they ran."""
    require(os.geteuid() == 0, "root", "run the test as root: it creates users (CI does)")
    ready = (HUB_VENV / "bin" / "jupyterhub-singleuser").exists() and PROXY.exists() \
        and (SYSTEM_ROOTFS / "usr" / "sbin" / "asterisk").exists()
    require(ready, f"the shared installation ({HUB_VENV} with JupyterHub, {PROXY}, {SYSTEM_ROOTFS})", SETUP_HINT)
    stale = _sources_differ()
    require(not stale, f"this clone's voiplab in {HUB_VENV} (differs: {stale[:5]})", SETUP_HINT)
    tag = secrets.token_hex(2)
    made: list[Student] = []
    try:
        for i in range(STUDENTS):
            student = Student(f"vlhub{tag}{i}", secrets.token_urlsafe(12))
            res = _run(["useradd", "--create-home", "--shell", "/bin/bash", student.name])
            assert res.returncode == 0, res.stderr
            made.append(student)
            student.uid = pwd.getpwnam(student.name).pw_uid
            res = subprocess.run(["chpasswd"], input=f"{student.name}:{student.password}\n", text=True,
                                 capture_output=True, timeout=30)
            assert res.returncode == 0, res.stderr
        yield made
    finally:
        for student in made:
            _as_student(student.name, str(HUB_VENV / "bin" / "voiplab"), "lab", "down")
            _run(["pkill", "-KILL", "-u", student.name])
        time.sleep(0.5)
        for student in made:
            # --force: a killed process that a container's init leaves as a zombie must not keep the user
            _run(["userdel", "--force", "--remove", student.name])
        left = [s.name for s in made if _run(["id", s.name]).returncode == 0]
        assert left == [], f"the users {left} could not be removed: userdel -r them by hand"


@dataclass
class Hub:
    url: str
    log: Path


@pytest.fixture
def hub(students: list[Student]) -> Iterator[Hub]:
    """The course's JupyterHub as root, its roster the three students, on 127.0.40.1."""
    workdir = Path(tempfile.mkdtemp(prefix="vlhub-"))           # the hub's database, secret, log (0700)
    course = Path(tempfile.mkdtemp(prefix="vlhub-course-"))     # the notebooks the students get
    os.chmod(course, 0o755)
    for nb in (ROOT / "notebooks").glob("*.ipynb"):
        shutil.copyfile(nb, course / nb.name)
        os.chmod(course / nb.name, 0o644)
    roster = workdir / "roster.csv"
    roster.write_text("id,name\n" + "".join(f"{s.name},Student {i}\n" for i, s in enumerate(students)))
    port, hub_port, api_port = _free_port(), _free_port(), _free_port()
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": str(workdir),
           "VOIPLAB_HUB_ROSTER": str(roster), "VOIPLAB_COURSE_NOTEBOOKS": str(course)}
    log = workdir / "hub.log"
    cmd = [str(HUB_VENV / "bin" / "jupyterhub"), "-f", str(HUB_CONFIG),
           f"--JupyterHub.bind_url=http://{HUB_IP}:{port}",
           f"--JupyterHub.hub_bind_url=http://{HUB_IP}:{hub_port}",
           f"--ConfigurableHTTPProxy.api_url=http://{HUB_IP}:{api_port}",
           f"--Spawner.ip={HUB_IP}"]
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, cwd=workdir, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        url = f"http://{HUB_IP}:{port}"
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, f"the hub exited ({proc.returncode}):\n{log.read_text()[-3000:]}"
            try:
                with urllib.request.urlopen(f"{url}/hub/api/", timeout=5) as answer:
                    if answer.status == 200:
                        break
            except OSError:  # not listening yet (URLError), or the proxy has no route to the hub yet
                pass
            assert time.monotonic() < deadline, f"the hub did not answer in 60 s:\n{log.read_text()[-3000:]}"
            time.sleep(0.3)
        yield Hub(url, log)
    finally:
        proc.send_signal(signal.SIGTERM)  # the hub stops the servers it spawned, then its proxy
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        pid_file = workdir / "jupyterhub-proxy.pid"
        if pid_file.exists():  # the proxy the hub started outlived it: stop that one process, if it is it
            try:
                pid = int(pid_file.read_text().strip())
                if f"\0--api-port\0{api_port}\0".encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                    os.kill(pid, signal.SIGKILL)
            except (OSError, ValueError):
                pass
        shutil.rmtree(workdir, ignore_errors=True)
        shutil.rmtree(course, ignore_errors=True)


# --- talking to the hub and the servers as a browser and JupyterLab do

def _cookies(response: HTTPResponse, jar: dict[str, str]) -> None:
    for header in response.headers.get_list("Set-Cookie"):
        for name, morsel in SimpleCookie(header).items():
            jar[name] = morsel.value


async def _http(url: str, *, method: str = "GET", body: str | None = None, student: Student | None = None,
                headers: dict[str, str] | None = None, use_token: bool = True) -> HTTPResponse:
    h = dict(headers or {})
    if student is not None and student.cookies:
        h["Cookie"] = "; ".join(f"{k}={v}" for k, v in student.cookies.items())
    if student is not None and student.token and use_token:
        h["Authorization"] = f"token {student.token}"
    request = HTTPRequest(url, method=method, body=body, headers=h, follow_redirects=False, request_timeout=60)
    try:
        response = await AsyncHTTPClient().fetch(request, raise_error=False)
    except HTTPClientError as e:  # pragma: no cover - raise_error=False returns the response
        raise AssertionError(f"{method} {url}: {e}") from None
    if student is not None:
        _cookies(response, student.cookies)
    return response


async def _login(url: str, student: Student, password: str) -> HTTPResponse:
    """The login form, as a browser fills it: its _xsrf field and cookie, the user name and password."""
    page = await _http(f"{url}/hub/login", student=student)
    assert page.code == 200, page.code
    xsrf = student.cookies["_xsrf"]
    body = urlencode({"username": student.name, "password": password, "_xsrf": xsrf})
    return await _http(f"{url}/hub/login?next=", method="POST", body=body, student=student)


async def _start_server(url: str, student: Student) -> None:
    """Log in, get a token, ask the hub for the server, and wait until the hub says it is ready."""
    wrong = await _login(url, student, student.password + "x")
    assert wrong.code == 403, f"a wrong password was not refused: {wrong.code}"
    student.cookies.clear()
    res = await _login(url, student, student.password)
    assert res.code == 302 and "jupyterhub-hub-login" in student.cookies, (res.code, sorted(student.cookies))
    await _http(f"{url}/hub/home", student=student)  # a page after login: its _xsrf cookie for the API
    res = await _http(f"{url}/hub/api/users/{student.name}/tokens", method="POST",
                      body=json.dumps({"note": "test_jupyterhub", "expires_in": 3600}), student=student,
                      headers={"X-XSRFToken": student.cookies["_xsrf"], "Content-Type": "application/json"})
    assert res.code == 201, (res.code, res.body[:300])
    student.token = json.loads(res.body)["token"]
    student.cookies.clear()  # from here on, the token alone, as JupyterLab's API calls
    t0 = time.monotonic()
    res = await _http(f"{url}/hub/api/users/{student.name}/server", method="POST", body="", student=student)
    assert res.code in (201, 202), (res.code, res.body[:300])
    while True:
        model = json.loads((await _http(f"{url}/hub/api/users/{student.name}", student=student)).body)
        server = model.get("servers", {}).get("", {})
        if server.get("ready"):
            break
        assert time.monotonic() - t0 < 150, f"{student.name}'s server is not ready after 150 s: {model}"
        await asyncio.sleep(0.25)
    student.spawn_s = time.monotonic() - t0


class Kernel:
    """A kernel of a student's server, driven over its websocket as JupyterLab drives it."""

    def __init__(self, ws: WebSocketClientConnection, student: Student) -> None:
        self.ws, self.student, self.session = ws, student, uuid.uuid4().hex

    @staticmethod
    def _decode(message: str | bytes) -> dict[str, Any]:
        if isinstance(message, bytes):  # a message with binary buffers: offsets, then the JSON part
            offsets = [int.from_bytes(message[4 * (i + 1):4 * (i + 2)], "big")
                       for i in range(int.from_bytes(message[:4], "big"))]
            return json.loads(message[offsets[0]:offsets[1]] if len(offsets) > 1 else message[offsets[0]:])
        return json.loads(message)

    async def execute(self, code: str) -> tuple[list[Any], dict[str, Any]]:
        """Run ``code``; its outputs (nbformat) and the execute_reply's content."""
        msg_id = uuid.uuid4().hex
        await self.ws.write_message(json.dumps({
            "header": {"msg_id": msg_id, "username": self.student.name, "session": self.session,
                       "msg_type": "execute_request", "version": "5.3", "date": ""},
            "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
            "content": {"code": code, "silent": False, "store_history": True, "user_expressions": {},
                        "allow_stdin": False, "stop_on_error": True}}))
        outputs: list[Any] = []
        reply: dict[str, Any] | None = None
        idle = False
        clear_next = False
        deadline = time.monotonic() + CELL_TIMEOUT
        while reply is None or not idle:
            left = deadline - time.monotonic()
            assert left > 0, f"{self.student.name}: a cell ran more than {CELL_TIMEOUT} s:\n{code}"
            try:
                raw = await asyncio.wait_for(self.ws.read_message(), timeout=left)
            except TimeoutError:
                raise AssertionError(f"{self.student.name}: a cell ran more than {CELL_TIMEOUT} s:\n{code}") from None
            assert raw is not None, f"{self.student.name}: the kernel's websocket closed"
            msg = self._decode(raw)
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind = msg["msg_type"]
            if msg["channel"] == "shell" and kind == "execute_reply":
                reply = msg["content"]
            elif kind == "status" and msg["content"]["execution_state"] == "idle":
                idle = True
            elif kind == "clear_output":
                if msg["content"].get("wait"):
                    clear_next = True
                else:
                    outputs.clear()
            elif kind in ("stream", "display_data", "execute_result", "error"):
                if clear_next:
                    outputs.clear()
                    clear_next = False
                outputs.append(nbformat.v4.output_from_msg(msg))
        return outputs, reply


async def _open_kernel(url: str, student: Student) -> Kernel:
    """What each student sees (the course in ~/voiplab), then a kernel started in that folder."""
    base = f"{url}/user/{student.name}/api"
    listing = json.loads((await _http(f"{base}/contents/voiplab", student=student)).body)
    student.facts["course"] = sorted(item["name"] for item in listing["content"])
    res = await _http(f"{base}/kernels", method="POST", body=json.dumps({"name": "python3", "path": "voiplab"}),
                      student=student, headers={"Content-Type": "application/json"})
    assert res.code == 201, (res.code, res.body[:300])
    kernel_id = json.loads(res.body)["id"]
    ws_url = f"{base}/kernels/{kernel_id}/channels".replace("http://", "ws://")
    ws = await websocket_connect(HTTPRequest(ws_url, headers={"Authorization": f"token {student.token}"}),
                                 max_message_size=64 << 20)
    return Kernel(ws, student)


#: run in each kernel after the notebook's first cell: whose lab is it?
WHOSE_LAB = ("import json, os, sys, voiplab\n"
             "print(json.dumps({'uid': os.getuid(), 'pbx': lab.config.pbx.host, 'lab_dir': str(lab.pbx.lab_dir),"
             " 'python': sys.prefix}))")


def _errors(cells: list[Any]) -> list[str]:
    return [f"cell {c.id}: {o.ename}: {o.evalue}" for c in cells for o in c.outputs if o.output_type == "error"]


def test_three_students_run_notebook_03_on_the_hub(students: list[Student], hub: Hub) -> None:
    """Does the hub log each student in with PAM, spawn their server, and run notebook 03 in a kernel of
    theirs against their own lab (three labs side by side), every check passing?"""
    assert (KEYS / f"{NOTEBOOK.stem}.json").exists()
    notebooks = {s.name: filled(NOTEBOOK) for s in students}
    code_cells = {name: [c for c in nb.cells if c.cell_type == "code"] for name, nb in notebooks.items()}

    async def run_cells(kernel: Kernel, cells: list[Any]) -> None:
        started = time.monotonic()
        for cell in cells:
            cell.outputs, reply = await kernel.execute(cell.source)
            if reply.get("status") != "ok":
                break  # as "Run all" stops at an error: the error output is asserted below
        kernel.student.notebook_s += time.monotonic() - started

    async def scenario() -> dict[str, float]:
        t0 = time.monotonic()
        await asyncio.gather(*(_start_server(hub.url, s) for s in students))
        kernels = await asyncio.gather(*(_open_kernel(hub.url, s) for s in students))
        # the first cell, vl.start_lab(), in all three at once; then whose lab each kernel has
        await asyncio.gather(*(run_cells(k, code_cells[k.student.name][:1]) for k in kernels))
        for k in kernels:
            outputs, _ = await k.execute(WHOSE_LAB)
            k.student.facts.update(json.loads("".join(o.text for o in outputs if o.output_type == "stream")))
        # all three labs are up side by side, each Asterisk on its user's block, run by that user
        listeners = _udp_listeners()
        for s in students:
            s.facts["sip_listener"] = (f"{s.block}.80", 5060, s.uid) in listeners
        # the rest of the notebook, the three students at once
        await asyncio.gather(*(run_cells(k, code_cells[k.student.name][1:]) for k in kernels))
        for s in students:  # a student's server, kernel and lab, for the capacity note of docs/jupyterhub.md
            s.facts["memory_mb"] = _memory_mb(s.uid)
        for k in kernels:
            k.ws.close()
        # stopping a server stops its lab (the configuration's post_stop_hook: voiplab lab down)
        for s in students:
            res = await _http(f"{hub.url}/hub/api/users/{s.name}/server", method="DELETE", student=s)
            assert res.code in (202, 204), (res.code, res.body[:300])
        for s in students:
            while json.loads((await _http(f"{hub.url}/hub/api/users/{s.name}", student=s)).body).get("servers"):
                assert time.monotonic() - t0 < 600, f"{s.name}'s server did not stop"
                await asyncio.sleep(0.25)
        return {"total_s": time.monotonic() - t0}

    try:
        timing = asyncio.run(scenario())
    except AssertionError as e:
        raise AssertionError(f"{e}\n--- the hub's log:\n{hub.log.read_text()[-4000:]}") from None

    for s in students:
        nb = notebooks[s.name]
        assert _errors(code_cells[s.name]) == [], f"{s.name}: {_errors(code_cells[s.name])}"
        results = check_outputs(nb)
        assert len(results) >= 4 and all(r.startswith("PASS") for r in results), (s.name, results)
        # their own lab: their uid, their block, their state in their home, the shared venv
        home = pwd.getpwnam(s.name).pw_dir
        assert s.facts["uid"] == s.uid and s.facts["pbx"] == f"{s.block}.80", (s.name, s.facts)
        assert s.facts["lab_dir"].startswith(f"{home}/.local/state/voiplab"), s.facts
        assert s.facts["python"] == str(HUB_VENV), s.facts
        assert s.facts["sip_listener"], f"{s.name}'s Asterisk was not on {s.block}.80:5060 beside the others"
        assert NOTEBOOK.name in s.facts["course"], s.facts["course"]
        assert (Path(home) / "voiplab" / NOTEBOOK.name).stat().st_uid == s.uid
    assert len({s.block for s in students}) == STUDENTS
    # the servers stopped: so did each student's lab (no Asterisk left on their block)
    listeners = _udp_listeners()
    assert [s.name for s in students if (f"{s.block}.80", 5060, s.uid) in listeners] == []
    print(f"\nhub: {STUDENTS} students in {timing['total_s']:.1f} s; spawn (s): "
          + ", ".join(f"{s.name} {s.spawn_s:.1f}" for s in students)
          + "; notebook 03 (s): " + ", ".join(f"{s.notebook_s:.1f}" for s in students)
          + "; memory of each student's processes (MB): " + ", ".join(f"{s.facts['memory_mb']:.0f}" for s in students))
