"""The browser phone's page: build it (JsSIP + app.js, with npm and esbuild) and serve it over HTTPS.

The page (``voiplab/web/index.html`` and ``app.js``) is a SIP phone in JavaScript: JsSIP
over a secure WebSocket (RFC 7118) to Asterisk, WebRTC media. This module makes it
servable and serves it:

- :func:`build_browser_phone`: bundles JsSIP (from npm) with ``app.js`` into
  ``web/build/phone.js`` with esbuild;
- :class:`PageServer`: serves the page over HTTPS (the lab's server certificate) on the
  PBX address, port 8443: a browser grants the microphone and opens ``wss://`` only
  from a secure page. It also serves ``accounts/<name>.json`` (to a page that has its token), what the page needs to
  register a WebRTC account of the lab (:func:`account_json`).

The lab around it is :mod:`voiplab.devices.webrtc`; the browser driving it is
:mod:`voiplab.devices.browser`.

Taught in notebook 08 (WebRTC and TLS).
"""

from __future__ import annotations

import contextlib
import hmac
import http.server
import json
import os
import secrets
import shutil
import socket
import ssl
import subprocess
import threading
import time
import urllib.parse
from pathlib import Path
from typing import TypedDict

from ..config import Account, LabConfig
from ..errors import WebRtcError
from ..paths import cache_dir, private_dir, write_private

__all__ = [
    "BUNDLE",
    "PAGE_PORT",
    "WEB_DIR",
    "PageAccount",
    "PageLogEntry",
    "PageServer",
    "account_json",
    "build_browser_phone",
    "page_answers",
    "page_token",
    "webrtc_accounts",
]

#: the sources of the browser phone (index.html, app.js, package.json)
WEB_DIR = Path(__file__).resolve().parent.parent / "web"
#: the bundle esbuild writes (git-ignored)
BUNDLE = Path("build") / "phone.js"
#: the port of the page server on the PBX address
PAGE_PORT = 8443
#: the page's token: ``accounts/<name>.json`` (with the SIP password) is served only with it
MIN_TOKEN_LENGTH = 16
TOKEN_BYTES = 18
#: the sources copied to the cache when the package's web/ is read-only
_WEB_SOURCES = ("package.json", "package-lock.json", "app.js", "index.html")
_PAGE_FILES = {"/": "index.html", "/index.html": "index.html", "/build/phone.js": str(BUNDLE)}
_CONTENT_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
                  ".json": "application/json"}


class PageAccount(TypedDict):
    """``accounts/<name>.json``: what the page needs to register a WebRTC account."""

    name: str
    number: str
    display_name: str
    uri: str
    password: str
    domain: str
    ws_url: str
    loopback_ice: bool


class PageLogEntry(TypedDict):
    """One request the page server answered (:attr:`PageServer.log`)."""

    time: float
    client: str
    path: str
    status: int


def page_token(lab_dir: Path) -> str:
    """The secret token of a WebRTC lab's page (made once, kept 0600 in ``<lab dir>/run/page-token``).

    The browser phone page asks for its account's settings (the SIP password included)
    with it; without it the page server answers 403, so other users of the machine who
    reach the server get no password.
    """
    path = lab_dir / "run" / "page-token"
    with contextlib.suppress(OSError):
        token = path.read_text().strip()
        if len(token) >= MIN_TOKEN_LENGTH:
            return token
    private_dir(path.parent)
    token = secrets.token_urlsafe(TOKEN_BYTES)
    write_private(path, token + "\n")
    return token


def webrtc_accounts(cfg: LabConfig) -> list[Account]:
    """The lab's WebRTC accounts (``accounts.NAME.webrtc = true``): browsers, not pjsua2 phones."""
    return [a for a in cfg.accounts if a.webrtc]


def account_json(cfg: LabConfig, acc: Account) -> PageAccount:
    """What the page needs to register ``acc``: SIP URI, password, wss:// address."""
    host = cfg.pbx.host
    return PageAccount(
        name=acc.name,
        number=acc.number,
        display_name=acc.display_name,
        uri=f"sip:{acc.name}@{host}",
        password=acc.password,
        domain=host,
        ws_url=f"wss://{host}:{cfg.webrtc.https_port}/ws",
        # on loopback, keep only 127.0.0.0/8 ICE candidates (see app.js)
        loopback_ice=host.startswith("127."),
    )


# ---------------------------------------------------------------------------
# building the page


def _web_workdir() -> Path:
    """Where to build: the package's web/ if writable (editable install), else a cache copy."""
    if os.access(WEB_DIR, os.W_OK):
        return WEB_DIR
    work = cache_dir() / "web"
    work.mkdir(parents=True, exist_ok=True)
    for name in _WEB_SOURCES:
        src = WEB_DIR / name
        if src.exists():
            shutil.copy2(src, work / name)
    return work


def _npm(args: list[str], cwd: Path, timeout: float) -> None:
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        raise WebRtcError("node/npm is not installed, so the browser phone cannot be built: "
                          "run 'apt-get install nodejs npm' (node 18 or later)")
    try:
        res = subprocess.run([npm, *args], check=False, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise WebRtcError(f"'npm {' '.join(args)}' took more than {timeout:.0f} s: check the network "
                          "access to the npm registry") from None
    if res.returncode != 0:
        tail = "\n".join((res.stdout + res.stderr).strip().splitlines()[-12:])
        raise WebRtcError(f"'npm {' '.join(args)}' failed in {cwd} (exit {res.returncode}): {tail}")


def build_browser_phone(force: bool = False, timeout: float = 300.0) -> Path:
    """Bundle the browser phone (JsSIP + app.js) with esbuild; returns the web directory.

    Runs ``npm ci`` (the pinned jssip and esbuild of ``package-lock.json``) when
    ``node_modules`` is missing, then ``npm run build`` when the bundle is missing or
    older than its sources. Nothing minified is committed: the bundle is git-ignored.

    Raises:
        WebRtcError: node/npm is missing or the build failed (the message quotes npm).

    Taught in notebook 08.
    """
    work = _web_workdir()
    bundle = work / BUNDLE
    sources = [work / n for n in ("app.js", "package.json")]
    fresh = bundle.exists() and all(bundle.stat().st_mtime >= s.stat().st_mtime for s in sources)
    if fresh and not force:
        return work
    if not (work / "node_modules" / "jssip").is_dir() or not (work / "node_modules" / ".bin" / "esbuild").exists():
        has_lock = (work / "package-lock.json").exists()
        _npm(["ci" if has_lock else "install", "--no-audit", "--no-fund"], work, timeout)
    _npm(["run", "build"], work, timeout)
    if not bundle.exists():
        raise WebRtcError(f"the build did not write {bundle}: check voiplab/web/package.json")
    return work


# ---------------------------------------------------------------------------
# serving the page


class _PageHandler(http.server.BaseHTTPRequestHandler):
    server: _PageHttpServer

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        srv = self.server
        body: bytes | None = None
        forbidden = False
        ctype = "application/octet-stream"
        if path in _PAGE_FILES:
            file = srv.web_dir / _PAGE_FILES[path]
            with contextlib.suppress(OSError):
                body = file.read_bytes()
            ctype = _CONTENT_TYPES.get(file.suffix, ctype)
        elif path.startswith("/accounts/") and path.endswith(".json"):
            # the account's SIP password is in there: only for a page opened with this server's token
            token = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query).get("token", [""])[0]
            if not hmac.compare_digest(token.encode(), srv.token.encode()):
                forbidden = True
            else:
                name = path[len("/accounts/"):-len(".json")]
                acc = next((a for a in webrtc_accounts(srv.config) if a.name == name), None)
                if acc is not None:
                    body = json.dumps(account_json(srv.config, acc)).encode()
                    ctype = _CONTENT_TYPES[".json"]
        status = 200 if body is not None else 403 if forbidden else 404
        srv.log.append(PageLogEntry(time=time.time(), client=self.client_address[0], path=path, status=status))
        if body is None:
            body = b"forbidden: open the page with its token (voiplab webrtc url)\n" if forbidden else b"not found\n"
            ctype = "text/plain"
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


class _PageHttpServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], web_dir: Path, config: LabConfig, token: str):
        self.web_dir = web_dir
        self.config = config
        self.token = token
        self.log: list[PageLogEntry] = []
        super().__init__(address, _PageHandler)


class PageServer:
    """The browser phone page over HTTPS, on the PBX address (a thread of this process).

    Serves only ``index.html``, ``build/phone.js`` and ``accounts/<name>.json`` for the
    lab's WebRTC accounts; :attr:`log` lists every request.

    Parameters:
        config: the WebRTC lab's config.
        cert_file, key_file: the lab's server certificate and key (SAN = PBX address).
        host, port: where to listen (default: the PBX address, 8443).

    Taught in notebook 08.
    """

    def __init__(self, config: LabConfig, cert_file: str | os.PathLike[str], key_file: str | os.PathLike[str], *,
                 token: str, host: str | None = None, port: int = PAGE_PORT, web_dir: Path | None = None):
        if len(token) < MIN_TOKEN_LENGTH:
            raise WebRtcError(f"the page token must have at least {MIN_TOKEN_LENGTH} characters: "
                              "make it with page_token()")
        self.config = config
        self.token = token
        self.host = host or config.pbx.host
        self.port = port
        self.cert_file, self.key_file = Path(cert_file), Path(key_file)
        self.web_dir = web_dir or _web_workdir()
        self._server: _PageHttpServer | None = None
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        return f"PageServer(https://{self.host}:{self.port}/, {'running' if self.running else 'stopped'})"

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def log(self) -> list[PageLogEntry]:
        """Every request served: ``{"time", "client", "path", "status"}``."""
        return list(self._server.log) if self._server else []

    def start(self) -> bool:
        """Start serving (idempotent). Returns False if this object already serves.

        Raises:
            WebRtcError: the bundle is missing, the certificate cannot be loaded, or the
                address is in use.
        """
        if self._server is not None:
            return False
        if not (self.web_dir / BUNDLE).exists():
            raise WebRtcError(f"the browser phone is not built ({self.web_dir / BUNDLE} is missing): "
                              "run voiplab.devices.webpage.build_browser_phone()")
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        try:
            ctx.load_cert_chain(self.cert_file, self.key_file)
        except (OSError, ssl.SSLError) as e:
            raise WebRtcError(f"the page server's certificate {self.cert_file} could not be loaded ({e}): "
                              "make it with voiplab.devices.certs.make_certificates") from None
        try:
            server = _PageHttpServer((self.host, self.port), self.web_dir, self.config, self.token)
        except OSError as e:
            raise WebRtcError(f"the page server address {self.host}:{self.port} could not be bound ({e.strerror}): "
                              "stop the other server on it or choose another port") from None
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="voiplab-webrtc-page", daemon=True)
        self._thread.start()
        return True

    def stop(self) -> bool:
        """Stop serving. Returns True if it was serving."""
        server, self._server = self._server, None
        if server is None:
            return False
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        return True

    def serve_forever(self) -> None:
        """Serve in the foreground until Ctrl-C (``voiplab webrtc serve``)."""
        self.start()
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()


def page_answers(host: str, port: int, ca_file: Path) -> bool:
    """True if an HTTPS server (trusted through ``ca_file``) answers a GET at ``host:port``."""
    ctx = ssl.create_default_context(cafile=str(ca_file))
    try:
        with socket.create_connection((host, port), timeout=2) as raw, \
                ctx.wrap_socket(raw, server_hostname=host) as s:
            s.sendall(f"GET /index.html HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n".encode())
            return s.recv(64).startswith(b"HTTP/1.")
    except (OSError, ssl.SSLError):
        return False
