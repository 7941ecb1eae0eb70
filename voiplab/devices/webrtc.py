"""The WebRTC chapter: a WebRTC-enabled lab, the browser phone page and a driver for it.

Chapter 6 of the report: a browser SIP client registers to Asterisk over a secure
WebSocket (``wss://<pbx>:8089/ws``, RFC 7118) and calls the Alcatel; the media is
DTLS-SRTP (keys agreed by a DTLS handshake on the media path, checked against the
``a=fingerprint`` of the SDP), after ICE connectivity checks.

The pieces, bottom-up:

- :func:`webrtc_lab_config`: a lab with ``[webrtc] enabled = true`` on its own loopback
  addresses (PBX 127.0.0.70, alcatel .71, rpi .72, guillaume .73), so that the WebRTC
  endpoints (rpi and guillaume are browsers there) never disturb the main lab on .80
  where rpi and guillaume are pjsua2 phones.
- :func:`build_browser_phone`: bundles JsSIP (from npm) with the page's ``app.js`` into
  ``web/build/phone.js`` with esbuild.
- :class:`PageServer`: serves the page over HTTPS (the lab's server certificate) on the
  PBX address, port 8443: a browser grants the microphone and opens ``wss://`` only
  from a secure page.
- :class:`WebRtcLab` / :func:`start_webrtc_lab`: Asterisk + page server + the
  simulated Alcatel, up in about a second.
- :class:`BrowserPhone`: headless Chromium driven by Playwright (register, call,
  answer, hang up, MESSAGE, ``getStats()``, screenshot).
- :func:`wss_handshake`: the HTTP Upgrade that opens the secure WebSocket, shown raw.

Taught in notebook 08 (WebRTC and TLS).
"""

from __future__ import annotations

import base64
import concurrent.futures
import contextlib
import http.server
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Self

from ..config import Account, LabConfig, load_config
from ..core.flow import Flow, FlowMessage, TraceEntry, messages_from_trace
from ..errors import WebRtcError
from .pbx import Pbx, state_dir

__all__ = [
    "CHROMIUM",
    "CHROMIUM_ARGS",
    "PAGE_PORT",
    "WEBRTC_LAB_HOST",
    "WEB_DIR",
    "BrowserPhone",
    "PageServer",
    "WebRtcLab",
    "WssHandshake",
    "browser_phone_url",
    "build_browser_phone",
    "call_flow",
    "start_webrtc_lab",
    "webrtc_lab_config",
    "wss_handshake",
]

#: the sources of the browser phone (index.html, app.js, package.json)
WEB_DIR = Path(__file__).resolve().parent.parent / "web"
#: the bundle esbuild writes (git-ignored)
BUNDLE = Path("build") / "phone.js"
#: the port of the page server on the PBX address
PAGE_PORT = 8443
#: the PBX address of the WebRTC lab; its phones take the next three addresses
WEBRTC_LAB_HOST = "127.0.0.70"
#: Debian's Chromium (never a downloaded browser)
CHROMIUM = "/usr/bin/chromium"
#: flags of the headless browser phone: fake microphone granted without a prompt, ICE on
#: loopback allowed (Chrome ignores 127.0.0.0/8 candidates otherwise), no background traffic.
CHROMIUM_ARGS: tuple[str, ...] = (
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
    "--allow-loopback-in-peer-connection",
    "--autoplay-policy=no-user-gesture-required",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--no-default-browser-check",
)
WEBRTC_LAB_SUBDIR = "webrtc-lab"
_PAGE_FILES = {"/": "index.html", "/index.html": "index.html", "/build/phone.js": str(BUNDLE)}
_CONTENT_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
                  ".json": "application/json"}


# ---------------------------------------------------------------------------
# the lab


def webrtc_lab_config(base: LabConfig | None = None, host: str = WEBRTC_LAB_HOST) -> LabConfig:
    """A WebRTC-enabled copy of the lab on its own loopback addresses.

    The PBX moves to ``host`` (127.0.0.70) and the accounts to the next addresses
    (alcatel .71, rpi .72, guillaume .73); passwords, numbers and WebRTC flags are
    those of ``base`` (default: ``load_config()``). A classroom config is returned with
    only ``[webrtc] enabled`` set: the course server is configured by the instructor.

    Taught in notebook 08.
    """
    base = base if base is not None else load_config()
    webrtc = replace(base.webrtc, enabled=True)
    if not base.is_local:
        return replace(base, webrtc=webrtc)
    prefix, last = host.rsplit(".", 1)
    accounts = tuple(replace(acc, address=f"{prefix}.{int(last) + 1 + i}") for i, acc in enumerate(base.accounts))
    pbx = replace(base.pbx, host=host)
    return replace(base, pbx=pbx, accounts=accounts, webrtc=webrtc)


def _webrtc_accounts(cfg: LabConfig) -> list[Account]:
    return [a for a in cfg.accounts if a.webrtc]


def browser_phone_url(account: str = "rpi", config: LabConfig | None = None, *, port: int = PAGE_PORT) -> str:
    """The address of the browser phone page for a WebRTC account (``rpi`` or ``guillaume``).

    Raises:
        WebRtcError: the account is not a WebRTC account of the lab.

    Taught in notebook 08.
    """
    cfg = config if config is not None else webrtc_lab_config()
    acc = cfg.account(account)
    if not acc.webrtc:
        names = ", ".join(a.name for a in _webrtc_accounts(cfg)) or "none"
        raise WebRtcError(f"account {acc.name} is not a WebRTC account: use one of {names} "
                          "(accounts.NAME.webrtc = true in lab.toml)")
    return f"https://{cfg.pbx.host}:{port}/?account={acc.name}"


def account_json(cfg: LabConfig, acc: Account) -> dict[str, Any]:
    """What the page needs to register ``acc``: SIP URI, password, wss:// address."""
    host = cfg.pbx.host
    return {
        "name": acc.name,
        "number": acc.number,
        "display_name": acc.display_name,
        "uri": f"sip:{acc.name}@{host}",
        "password": acc.password,
        "domain": host,
        "ws_url": f"wss://{host}:{cfg.webrtc.https_port}/ws",
        # on loopback, keep only 127.0.0.0/8 ICE candidates (see app.js)
        "loopback_ice": host.startswith("127."),
    }


# ---------------------------------------------------------------------------
# building the page


def _web_workdir() -> Path:
    """Where to build: the package's web/ if writable (editable install), else a cache copy."""
    if os.access(WEB_DIR, os.W_OK):
        return WEB_DIR
    from .pbx import cache_dir

    work = cache_dir() / "web"
    work.mkdir(parents=True, exist_ok=True)
    for name in ("package.json", "package-lock.json", "app.js", "index.html"):
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
        ctype = "application/octet-stream"
        if path in _PAGE_FILES:
            file = srv.web_dir / _PAGE_FILES[path]
            with contextlib.suppress(OSError):
                body = file.read_bytes()
            ctype = _CONTENT_TYPES.get(file.suffix, ctype)
        elif path.startswith("/accounts/") and path.endswith(".json"):
            name = path[len("/accounts/"):-len(".json")]
            acc = next((a for a in _webrtc_accounts(srv.config) if a.name == name), None)
            if acc is not None:
                body = json.dumps(account_json(srv.config, acc)).encode()
                ctype = _CONTENT_TYPES[".json"]
        status = 200 if body is not None else 404
        srv.log.append({"time": time.time(), "client": self.client_address[0], "path": path, "status": status})
        if body is None:
            body = b"not found\n"
            ctype = "text/plain"
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _PageHttpServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], web_dir: Path, config: LabConfig):
        self.web_dir = web_dir
        self.config = config
        self.log: list[dict[str, Any]] = []
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
                 host: str | None = None, port: int = PAGE_PORT, web_dir: Path | None = None):
        self.config = config
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
    def log(self) -> list[dict[str, Any]]:
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
                              "run voiplab.devices.webrtc.build_browser_phone()")
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        try:
            ctx.load_cert_chain(self.cert_file, self.key_file)
        except (OSError, ssl.SSLError) as e:
            raise WebRtcError(f"the page server's certificate {self.cert_file} could not be loaded ({e}): "
                              "make it with voiplab.devices.certs.make_certificates") from None
        try:
            server = _PageHttpServer((self.host, self.port), self.web_dir, self.config)
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


def _page_answers(host: str, port: int, ca_file: Path) -> bool:
    ctx = ssl.create_default_context(cafile=str(ca_file))
    try:
        with socket.create_connection((host, port), timeout=2) as raw, \
                ctx.wrap_socket(raw, server_hostname=host) as s:
            s.sendall(f"GET /index.html HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n".encode())
            return s.recv(64).startswith(b"HTTP/1.")
    except (OSError, ssl.SSLError):
        return False


# ---------------------------------------------------------------------------
# the WebRTC lab


@dataclass
class WebRtcLab:
    """A WebRTC-enabled lab: Asterisk (TLS, wss://, DTLS-SRTP), the page server, the Alcatel.

    It runs beside the main lab, on its own addresses (:func:`webrtc_lab_config`) and in
    its own directory (``<state dir>/webrtc-lab``): the main lab's rpi and guillaume stay
    pjsua2 phones on plain UDP while here they are browsers.

    Example (notebook 08)::

        wlab = vl.webrtc.start_webrtc_lab()
        phone = vl.webrtc.BrowserPhone("rpi", wlab)
        phone.register()
        call = phone.call("5001")

    Taught in notebook 08.
    """

    config: LabConfig = field(default_factory=webrtc_lab_config)
    lab_dir: Path | None = None
    page_port: int = PAGE_PORT
    #: start the simulated Alcatel (or a pjsua2 stand-in) on the lab's alcatel address
    alcatel: bool = True

    def __post_init__(self) -> None:
        if not self.config.webrtc.enabled:
            self.config = replace(self.config, webrtc=replace(self.config.webrtc, enabled=True))
        self.lab_dir = Path(self.lab_dir) if self.lab_dir else state_dir() / WEBRTC_LAB_SUBDIR
        self.pbx = Pbx(self.config, lab_dir=self.lab_dir)
        self.page: PageServer | None = None
        self._alcatel: Any = None

    def __repr__(self) -> str:
        return f"WebRtcLab(PBX {self.config.pbx.host}, wss://{self.config.pbx.host}:{self.config.webrtc.https_port}/ws)"

    @property
    def keys_dir(self) -> Path:
        return self.pbx.keys_dir

    @property
    def ca_file(self) -> Path:
        """The lab's root CA: trust it in the browser."""
        return self.keys_dir / "ca.crt"

    @property
    def ws_url(self) -> str:
        return f"wss://{self.config.pbx.host}:{self.config.webrtc.https_port}/ws"

    def url(self, account: str = "rpi") -> str:
        """The browser phone page of ``account``."""
        return browser_phone_url(account, self.config, port=self.page_port)

    @property
    def simulated_alcatel(self) -> Any:
        """The Alcatel answering 5001 in this lab (None when not started)."""
        return self._alcatel

    def roles(self) -> dict[str, str]:
        """IP address -> lab role, for ladder diagrams (the browsers run on 127.0.0.1)."""
        roles = {ip: role for ip, role in self.config.roles().items()
                 if not any(a.webrtc and a.address == ip for a in self.config.accounts)}
        roles["127.0.0.1"] = "browser"
        return roles

    def alcatel_trace(self) -> list[dict[str, Any]]:
        """The SIP messages of the simulated Alcatel (empty when it keeps no trace)."""
        alc = self._alcatel
        if alc is None:
            return []
        source = getattr(alc, "phone", None) or alc
        trace = getattr(source, "trace", None)
        return list(trace()) if callable(trace) else []

    def up(self, timeout: float = 30.0) -> list[str]:
        """Bring the WebRTC lab up (idempotent): build the page, Asterisk, page server, Alcatel.

        Returns:
            One line per component saying what happened.

        Raises:
            WebRtcError: node/npm missing or the page cannot be served.
            PbxError: Asterisk is missing or does not boot.
        """
        done: list[str] = []
        work = build_browser_phone()
        p, w = self.config.pbx, self.config.webrtc
        if self.config.is_local:
            started = self.pbx.start(timeout=timeout)
            done.append(("started" if started else "already running:")
                        + f" Asterisk on {p.host}: SIP udp/tcp {p.port}, tls {w.tls_port}, "
                        f"wss://{p.host}:{w.https_port}/ws; files in {self.lab_dir}")
        else:
            self.pbx.ensure_certificates()
        if self.page is None:
            self.page = PageServer(self.config, self.keys_dir / "server.crt", self.keys_dir / "server.key",
                                   port=self.page_port, web_dir=work)
        try:
            self.page.start()
            done.append(f"serving the browser phone at https://{self.page.host}:{self.page_port}/")
        except WebRtcError:
            if not _page_answers(self.page.host, self.page_port, self.ca_file):
                raise
            done.append(f"already served (by another process): https://{self.page.host}:{self.page_port}/")
        if self.alcatel and self.config.is_local and self.config.alcatel.simulated:
            done.append(self._start_alcatel(timeout))
        return done

    def _start_alcatel(self, timeout: float) -> str:
        acc = self.config.account("alcatel")
        if self._alcatel is None:
            from .alcatel import SimulatedAlcatel

            self._alcatel = SimulatedAlcatel(self.config, lab_dir=self.lab_dir)
        started = self._alcatel.start(timeout=timeout)
        return ("started" if started else "already running:") + f" simulated Alcatel {acc.number} on {acc.address}"

    def down(self) -> list[str]:
        """Stop what this lab started (Alcatel, page server, Asterisk)."""
        done: list[str] = []
        if self._alcatel is None and self.config.is_local and self.config.alcatel.simulated:
            from .alcatel import SimulatedAlcatel

            self._alcatel = SimulatedAlcatel(self.config, lab_dir=self.lab_dir)  # started by another process
        if self._alcatel is not None and self._alcatel.stop():
            done.append("stopped the simulated Alcatel")
        if self.page is not None and self.page.stop():
            done.append("stopped the page server")
        if self.config.is_local and self.pbx.stop():
            done.append(f"stopped Asterisk on {self.config.pbx.host}")
        return done or ["nothing of the WebRTC lab was running"]

    def __enter__(self) -> Self:
        self.up()
        return self

    def __exit__(self, *exc: object) -> None:
        self.down()


def start_webrtc_lab(config: LabConfig | None = None, *, lab_dir: str | os.PathLike[str] | None = None,
                     alcatel: bool = True) -> WebRtcLab:
    """The WebRTC lab of this machine, brought up (idempotent within one process).

    Parameters:
        config: a WebRTC lab config (default: :func:`webrtc_lab_config`, on 127.0.0.70-73).
        lab_dir: its directory (default: ``<state dir>/webrtc-lab``).
        alcatel: also start the simulated Alcatel (5001).

    Taught in notebook 08.
    """
    key = (config, str(lab_dir), alcatel)
    lab = _LABS.get(key)
    if lab is None:
        lab = WebRtcLab(config if config is not None else webrtc_lab_config(),
                        Path(lab_dir) if lab_dir else None, alcatel=alcatel)
        _LABS[key] = lab
    lab.up()
    return lab


_LABS: dict[tuple[Any, ...], WebRtcLab] = {}


# ---------------------------------------------------------------------------
# the SIP flow of the browser's WebSocket leg next to a UDP leg


def _browser_address(trace: Iterable[dict[str, Any]]) -> str:
    """The browser's ip:port as Asterisk saw it (``received``/``rport`` of a response's Via)."""
    for entry in trace:
        if entry["direction"] != "rx":
            continue
        m_ip = re.search(r"received=([0-9.]+)", entry["raw"])
        m_port = re.search(r"rport=(\d+)", entry["raw"])
        if m_ip and m_port:
            return f"{m_ip.group(1)}:{m_port.group(1)}"
    return "127.0.0.1:0"


def call_flow(browser: BrowserPhone, *others: Iterable[TraceEntry] | Iterable[FlowMessage]) -> Flow:
    """One :class:`~voiplab.core.flow.Flow` of the browser's WebSocket leg and other phones' traces.

    Parameters:
        browser: the browser phone (its SIP messages over wss://, RFC 7118).
        others: pjsua2 traces (``Phone.trace()``) or FlowMessages of a capture
            (``vl.read_sip(pcap)``), e.g. the Alcatel's UDP leg.

    Returns:
        The flow, for :func:`voiplab.plots.ladder`: the WebSocket leg (transport ``WSS``,
        PBX side at port 8089) and the UDP leg of the Alcatel in one ladder.

    Taught in notebook 08.
    """
    items = messages_from_trace(browser.trace())
    for other in others:
        for entry in other:
            if isinstance(entry, FlowMessage):  # from a capture: frame numbers of another file
                items.append(replace(entry, frame=None))
            else:
                items.extend(messages_from_trace([entry]))
    return Flow.from_messages(items, pbx=browser.lab.config.pbx.host)


# ---------------------------------------------------------------------------
# the secure WebSocket handshake


@dataclass(frozen=True)
class WssHandshake:
    """The opening of ``wss://<pbx>:8089/ws``: TLS, then an HTTP Upgrade (RFC 6455, RFC 7118).

    Attributes:
        url: the WebSocket URL.
        tls_version, cipher: what TLS negotiated.
        server_certificate: subject of the certificate the PBX presented.
        request, response: the HTTP request and response heads, as sent.
        status: the response's status code (101 Switching Protocols when it worked).
        protocol: the ``Sec-WebSocket-Protocol`` the server chose (``sip``).
        accept_ok: ``Sec-WebSocket-Accept`` is base64(SHA-1(key + RFC 6455 GUID)).
    """

    url: str
    tls_version: str
    cipher: str
    server_certificate: str
    request: str
    response: str
    status: int
    protocol: str
    accept_ok: bool

    def __str__(self) -> str:
        return (f"TLS {self.tls_version} ({self.cipher}), certificate {self.server_certificate}\n"
                f"--- request ---\n{self.request.rstrip()}\n--- response ---\n{self.response.rstrip()}")

    def __repr__(self) -> str:
        return f"WssHandshake({self.url}: {self.status}, protocol {self.protocol or '-'}, {self.tls_version})"


_WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def wss_handshake(host: str | None = None, port: int | None = None, *, ca_file: str | os.PathLike[str] | None = None,
                  path: str = "/ws", protocol: str = "sip", origin: str | None = None,
                  config: LabConfig | None = None, timeout: float = 3.0) -> WssHandshake:
    """Open the PBX's secure WebSocket as a browser does and return both HTTP heads.

    Parameters:
        host, port: the PBX and its HTTPS port (default: the WebRTC lab's, 8089).
        ca_file: the CA to verify the PBX certificate with (default: the WebRTC lab's).
        protocol: the ``Sec-WebSocket-Protocol`` asked for (RFC 7118: ``sip``).

    Raises:
        WebRtcError: the PBX cannot be reached or its certificate does not verify.

    Taught in notebook 08.
    """
    import hashlib

    cfg = config if config is not None else webrtc_lab_config()
    host = host or cfg.pbx.host
    port = port or cfg.webrtc.https_port
    ca = Path(ca_file) if ca_file else state_dir() / WEBRTC_LAB_SUBDIR / "keys" / "ca.crt"
    ctx = ssl.create_default_context(cafile=str(ca)) if ca.exists() else ssl.create_default_context()
    key = base64.b64encode(os.urandom(16)).decode()
    request = (f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: {protocol}\r\n"
               f"Origin: {origin or f'https://{host}:{PAGE_PORT}'}\r\n\r\n")
    url = f"wss://{host}:{port}{path}"
    try:
        with socket.create_connection((host, port), timeout=timeout) as raw, \
                ctx.wrap_socket(raw, server_hostname=host) as s:
            cert = s.getpeercert() or {}
            subject = ", ".join(f"{k}={v}" for rdn in cert.get("subject", ()) for k, v in rdn)  # type: ignore[str-unpack]
            s.sendall(request.encode())
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
            tls_version, cipher = s.version() or "", (s.cipher() or ("",))[0]
    except ssl.SSLCertVerificationError as e:
        raise WebRtcError(f"the certificate of {url} does not verify ({e.verify_message}): give the lab's CA "
                          "(ca_file=...) or make the certificates again") from None
    except OSError as e:
        raise WebRtcError(f"the secure WebSocket {url} is not reachable ({e}): is the WebRTC lab up? "
                          "run vl.webrtc.start_webrtc_lab()") from None
    head = data.split(b"\r\n\r\n", 1)[0].decode("utf-8", "replace") + "\r\n"
    lines = head.split("\r\n")
    try:
        status = int(lines[0].split()[1])
    except (IndexError, ValueError):
        status = 0
    headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:] if ":" in ln)}
    expected = base64.b64encode(hashlib.sha1((key + _WS_GUID).encode()).digest()).decode()
    return WssHandshake(url, tls_version, cipher, subject, request, head, status,
                        headers.get("sec-websocket-protocol", ""), headers.get("sec-websocket-accept") == expected)


# ---------------------------------------------------------------------------
# the browser phone, driven by Playwright


def trusted_ca_home(ca_file: str | os.PathLike[str], home: str | os.PathLike[str] | None = None) -> Path:
    """A HOME directory whose NSS database trusts ``ca_file`` (Chromium reads ``~/.pki/nssdb``).

    Raises:
        WebRtcError: ``certutil`` (libnss3-tools) is missing or failed.

    Taught in notebook 08.
    """
    certutil = shutil.which("certutil")
    if certutil is None:
        raise WebRtcError("certutil is not installed, so the lab's CA cannot be trusted by Chromium: "
                          "run 'apt-get install libnss3-tools' (or use ignore_https_errors=True in tests)")
    home_dir = Path(home) if home else Path(tempfile.mkdtemp(prefix="voiplab-browser-home-"))
    db = home_dir / ".pki" / "nssdb"
    db.mkdir(parents=True, exist_ok=True)
    for args in (["-N", "--empty-password"] if not (db / "cert9.db").exists() else None,
                 ["-A", "-n", "voiplab lab root CA", "-t", "C,,", "-i", str(ca_file)]):
        if args is None:
            continue
        res = subprocess.run([certutil, "-d", f"sql:{db}", *args], check=False, capture_output=True, text=True)
        if res.returncode != 0:
            raise WebRtcError(f"certutil {' '.join(args[:1])} failed ({res.stderr.strip()}): check {ca_file}")
    return home_dir


class BrowserPhone:
    """The browser phone in headless Chromium (Playwright), for one WebRTC account.

    Playwright's synchronous API refuses to run inside an asyncio loop (a Jupyter
    kernel's), so every browser action runs on a thread of its own.

    Parameters:
        account: ``"rpi"`` or ``"guillaume"`` (a WebRTC account of the lab).
        lab: the :class:`WebRtcLab` (default: :func:`start_webrtc_lab`).
        trust_ca: trust the lab's CA through an NSS database under a private HOME
            (what a student does by importing ``ca.crt``); else ``ignore_https_errors``.
        ignore_https_errors: accept any certificate (tests only).
        executable: the Chromium binary (Debian's, never a downloaded one).

    Raises:
        WebRtcError: Playwright or Chromium is missing, or the page did not load.

    Taught in notebook 08.
    """

    def __init__(self, account: str = "rpi", lab: WebRtcLab | None = None, *, trust_ca: bool = True,
                 ignore_https_errors: bool = False, executable: str = CHROMIUM, headless: bool = True,
                 timeout: float = 20.0):
        self.lab = lab if lab is not None else start_webrtc_lab()
        self.account = self.lab.config.account(account)
        self.url = self.lab.url(self.account.name)
        self.timeout = timeout
        if not os.access(executable, os.X_OK):
            raise WebRtcError(f"Chromium was not found at {executable}: run 'apt-get install chromium' "
                              "(voiplab never downloads a browser)")
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            raise WebRtcError("the Python package playwright is not installed: run 'pip install playwright' "
                              "(no 'playwright install': Debian's chromium is used)") from None
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=1,
                                                           thread_name_prefix=f"browser-{self.account.name}")
        self._home = trusted_ca_home(self.lab.ca_file) if trust_ca else None
        self._pw: Any = None
        self._browser: Any = None
        self.page: Any = None
        self.console: list[str] = []
        self._run(self._launch, executable, headless, ignore_https_errors)

    def __repr__(self) -> str:
        return f"BrowserPhone({self.account.name}/{self.account.number} at {self.url})"

    # -- plumbing ----------------------------------------------------------------
    def _run(self, fn: Callable[..., Any], *args: Any, timeout: float | None = None) -> Any:
        future = self._pool.submit(fn, *args)
        try:
            return future.result(timeout=(timeout or self.timeout) + 5)
        except concurrent.futures.TimeoutError:
            raise WebRtcError(f"the browser phone {self.account.name} did not answer in time: "
                              "take a screenshot() and read .console") from None

    def _launch(self, executable: str, headless: bool, ignore_https_errors: bool) -> None:
        from playwright.sync_api import Error as PwError
        from playwright.sync_api import sync_playwright

        env = dict(os.environ)
        if self._home is not None:
            env["HOME"] = str(self._home)
        self._pw = sync_playwright().start()
        try:
            self._browser = self._pw.chromium.launch(executable_path=executable, headless=headless,
                                                     args=list(CHROMIUM_ARGS), env=env)
            context = self._browser.new_context(ignore_https_errors=ignore_https_errors,
                                                permissions=["microphone"])
            self.page = context.new_page()
            self.page.on("console", lambda m: self.console.append(f"{m.type}: {m.text}"))
            self.page.on("pageerror", lambda e: self.console.append(f"pageerror: {e}"))
            self.page.goto(self.url + "&autoregister=0", timeout=self.timeout * 1000)
            self.page.wait_for_function("window.voiplab !== undefined && document.getElementById('status')"
                                        ".textContent.startsWith('ready')", timeout=self.timeout * 1000)
        except PwError as e:
            self._close_sync()
            raise WebRtcError(f"the browser phone page {self.url} did not load ({str(e).splitlines()[0]}): "
                              "is the WebRTC lab up, and is its CA trusted?") from None

    def _eval(self, script: str, arg: Any = None, timeout: float | None = None) -> Any:
        from playwright.sync_api import Error as PwError

        def go() -> Any:
            try:
                return self.page.evaluate(script, arg)
            except PwError as e:
                raise WebRtcError(f"the browser phone {self.account.name} failed: {str(e).splitlines()[0]}") from None

        return self._run(go, timeout=timeout)

    def _wait(self, script: str, arg: Any, timeout: float, what: str) -> None:
        from playwright.sync_api import Error as PwError

        def go() -> None:
            try:
                self.page.wait_for_function(script, arg=arg, timeout=timeout * 1000, polling=20)
            except PwError:
                snap = self.page.evaluate("window.voiplab.snapshot()")
                raise WebRtcError(f"the browser phone {self.account.name} did not {what} within {timeout:g} s "
                                  f"(status: {snap['status']!r}, call: {snap['callState']}): "
                                  "check the lab with 'pjsip show endpoints' and the browser console") from None

        self._run(go, timeout=timeout)

    # -- the phone -------------------------------------------------------------------
    def register(self, timeout: float = 10.0) -> float:
        """Open the secure WebSocket and REGISTER; returns the time it took, in ms.

        Raises:
            WebRtcError: the registration failed or timed out.
        """
        return float(self._eval("window.voiplab.register()", timeout=timeout))

    @property
    def registered(self) -> bool:
        return bool(self._eval("window.voiplab.snapshot().registered"))

    def call(self, number: str) -> None:
        """Dial ``number`` (5000 music on hold, 5001 the Alcatel, 5003 the other browser)."""
        self._eval("n => window.voiplab.call(n)", str(number))

    def wait(self, state: str = "confirmed", timeout: float = 15.0) -> float:
        """Wait until the call reaches ``state`` (calling, progress, accepted, confirmed, incoming,
        ended, failed); returns ms since the call started (for 'confirmed': the setup time)."""
        self._wait("s => window.voiplab.snapshot().callState === s", state, timeout, f"reach call state {state!r}")
        times = self.snapshot()["callTimes"]
        start = times.get("calling", times.get("incoming", 0.0))
        return float(times.get(state, 0.0) - start)

    def wait_incoming(self, timeout: float = 15.0) -> None:
        """Wait until a call rings in the page."""
        self.wait("incoming", timeout)

    def answer(self) -> None:
        """Answer the incoming call."""
        self._eval("window.voiplab.answer()")

    def hangup(self) -> None:
        """Hang up the call (BYE, or CANCEL while it rings)."""
        self._eval("window.voiplab.hangup()")

    def send_message(self, to: str, text: str, timeout: float = 10.0) -> int:
        """Send a SIP MESSAGE to a number; returns the final status code (202 Accepted from Asterisk)."""
        return int(self._eval("([to, text]) => window.voiplab.sendMessage(to, text)", [str(to), text],
                              timeout=timeout))

    def messages(self) -> list[dict[str, Any]]:
        """The SIP MESSAGEs shown by the page: ``{"direction": "in"|"out", "peer", "text", "time"}``."""
        return list(self.snapshot()["messages"])

    def wait_message(self, timeout: float = 10.0) -> dict[str, Any]:
        """Wait for an incoming SIP MESSAGE and return it."""
        self._wait("() => window.voiplab.snapshot().messages.some(m => m.direction === 'in')", None, timeout,
                   "receive a SIP MESSAGE")
        return next(m for m in self.messages() if m["direction"] == "in")

    def stats(self) -> dict[str, Any] | None:
        """``RTCPeerConnection.getStats()`` of the call: inbound/outbound packets, DTLS and SRTP."""
        result = self._eval("window.voiplab.stats()")
        return dict(result) if result is not None else None

    def snapshot(self) -> dict[str, Any]:
        """The page's state: status line, call state, registration time, messages."""
        return dict(self._eval("window.voiplab.snapshot()"))

    @property
    def status(self) -> str:
        return str(self.snapshot()["status"])

    def trace(self) -> list[TraceEntry]:
        """Every SIP message the page sent/received over the WebSocket, as a phone's trace.

        ``local`` is the browser's address as Asterisk saw it (the ``received``/``rport`` of
        a response's Via), ``remote`` the PBX's WebSocket port, ``transport`` ``"WSS"``.
        """
        raw: list[dict[str, Any]] = list(self._eval("window.voiplab.trace()"))
        cfg = self.lab.config
        me = _browser_address(raw)
        pbx = f"{cfg.pbx.host}:{cfg.webrtc.https_port}"
        return [TraceEntry(time=float(e["time"]), direction=e["direction"], local=me, remote=pbx,
                           transport="WSS", raw=e["raw"]) for e in raw]

    def screenshot(self, path: str | os.PathLike[str]) -> Path:
        """Save a PNG of the page; returns its path."""
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        self._run(lambda: self.page.screenshot(path=str(out), full_page=True))
        return out

    # -- closing ---------------------------------------------------------------------
    def _close_sync(self) -> None:
        with contextlib.suppress(Exception):
            if self.page is not None:
                self.page.evaluate("window.voiplab && window.voiplab.hangup()")
        with contextlib.suppress(Exception):
            if self._browser is not None:
                self._browser.close()
        with contextlib.suppress(Exception):
            if self._pw is not None:
                self._pw.stop()
        self._browser = self._pw = self.page = None

    def close(self) -> None:
        """Hang up, close the browser and its thread (the registration ends with the WebSocket)."""
        if self._pool is None:
            return
        with contextlib.suppress(Exception):
            self._run(self._close_sync)
        self._pool.shutdown(wait=False)
        self._pool = None  # type: ignore[assignment]
        if self._home is not None:
            shutil.rmtree(self._home, ignore_errors=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

