"""The WebRTC chapter's lab: Asterisk with wss:// and DTLS-SRTP, the page server, the Alcatel.

Chapter 6 of the report: a browser SIP client registers to Asterisk over a secure
WebSocket (``wss://<pbx>:8089/ws``, RFC 7118) and calls the Alcatel; the media is
DTLS-SRTP (keys agreed by a DTLS handshake on the media path, checked against the
``a=fingerprint`` of the SDP), after ICE connectivity checks.

This module is the lab around the browser:

- :func:`webrtc_lab_config`: a lab with ``[webrtc] enabled = true`` on its own loopback
  addresses (PBX 127.0.0.70, alcatel .71, rpi .72, guillaume .73), so that the WebRTC
  endpoints (rpi and guillaume are browsers there) never disturb the main lab on .80
  where rpi and guillaume are pjsua2 phones.
- :class:`WebRtcLab` / :func:`start_webrtc_lab`: Asterisk + page server + the
  simulated Alcatel, up in about a second.
- :func:`wss_handshake`: the HTTP Upgrade that opens the secure WebSocket, shown raw.

The page itself (build, HTTPS server) is :mod:`voiplab.devices.webpage`; the browser
that runs it, :class:`~voiplab.devices.browser.BrowserPhone`, is :mod:`voiplab.devices.browser`.

Taught in notebook 08 (WebRTC and TLS).
"""

from __future__ import annotations

import base64
import hashlib
import os
import socket
import ssl
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Self

from ..config import LabConfig, load_config, local_address
from ..errors import WebRtcError
from ..paths import state_dir
from .alcatel import SimulatedAlcatel
from .asterisk_conf import CA_CERT_FILE, KEYS_SUBDIR, SERVER_CERT_FILE, SERVER_KEY_FILE
from .pbx import Pbx
from .webpage import PAGE_PORT, PageServer, build_browser_phone, page_answers, page_token, webrtc_accounts

__all__ = [
    "WEBRTC_LAB_HOST",
    "WebRtcLab",
    "WssHandshake",
    "browser_phone_url",
    "start_webrtc_lab",
    "webrtc_lab_config",
    "wss_handshake",
]

#: the PBX address of the WebRTC lab (.70 in the user's loopback block, see
#: :func:`voiplab.config.local_block`); its phones take the next three addresses
WEBRTC_LAB_HOST = local_address(70)
#: the WebRTC lab's directory under the state directory
WEBRTC_LAB_SUBDIR = "webrtc-lab"


# ---------------------------------------------------------------------------
# the lab


def webrtc_lab_config(base: LabConfig | None = None, host: str = WEBRTC_LAB_HOST) -> LabConfig:
    """A WebRTC-enabled copy of the lab on its own loopback addresses.

    The PBX moves to ``host`` (127.A.B.70, in the user's block) and the accounts to the next addresses
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



def browser_phone_url(account: str = "rpi", config: LabConfig | None = None, *, port: int = PAGE_PORT,
                      token: str = "") -> str:
    """The address of the browser phone page for a WebRTC account (``rpi`` or ``guillaume``).

    Raises:
        WebRtcError: the account is not a WebRTC account of the lab.

    Taught in notebook 08.
    """
    cfg = config if config is not None else webrtc_lab_config()
    acc = cfg.account(account)
    if not acc.webrtc:
        names = ", ".join(a.name for a in webrtc_accounts(cfg)) or "none"
        raise WebRtcError(f"account {acc.name} is not a WebRTC account: use one of {names} "
                          "(accounts.NAME.webrtc = true in lab.toml)")
    return f"https://{cfg.pbx.host}:{port}/?account={acc.name}" + (f"&token={token}" if token else "")



@dataclass
class WebRtcLab:
    """A WebRTC-enabled lab: Asterisk (TLS, wss://, DTLS-SRTP), the page server, the Alcatel.

    It runs beside the main lab, on its own addresses (:func:`webrtc_lab_config`) and in
    its own directory (``<state dir>/webrtc-lab``): the main lab's rpi and guillaume stay
    pjsua2 phones on plain UDP while here they are browsers.

    Example (notebook 08)::

        wlab = vl.start_webrtc_lab()
        phone = vl.BrowserPhone("rpi", wlab)
        phone.register()
        call = phone.call("5001")

    Taught in notebook 08.
    """

    config: LabConfig = field(default_factory=webrtc_lab_config)
    lab_dir: Path | None = None
    page_port: int = PAGE_PORT
    #: start the simulated Alcatel on the lab's alcatel address
    alcatel: bool = True

    def __post_init__(self) -> None:
        if not self.config.webrtc.enabled:
            self.config = replace(self.config, webrtc=replace(self.config.webrtc, enabled=True))
        self.lab_dir = Path(self.lab_dir) if self.lab_dir else state_dir() / WEBRTC_LAB_SUBDIR
        self.pbx = Pbx(self.config, lab_dir=self.lab_dir)
        self.page: PageServer | None = None
        self._alcatel: SimulatedAlcatel | None = None

    def __repr__(self) -> str:
        return f"WebRtcLab(PBX {self.config.pbx.host}, wss://{self.config.pbx.host}:{self.config.webrtc.https_port}/ws)"

    @property
    def keys_dir(self) -> Path:
        return self.pbx.keys_dir

    @property
    def ca_file(self) -> Path:
        """The lab's root CA: trust it in the browser."""
        return self.keys_dir / CA_CERT_FILE

    @property
    def ws_url(self) -> str:
        return f"wss://{self.config.pbx.host}:{self.config.webrtc.https_port}/ws"

    def url(self, account: str = "rpi") -> str:
        """The browser phone page of ``account``."""
        return browser_phone_url(account, self.config, port=self.page_port, token=self.page_token)

    @property
    def page_token(self) -> str:
        """The page's token (in :meth:`url`): the page server gives account settings only with it."""
        assert self.lab_dir is not None
        return page_token(self.lab_dir)

    @property
    def simulated_alcatel(self) -> SimulatedAlcatel | None:
        """The Alcatel answering 5001 in this lab (None when not started)."""
        return self._alcatel

    def roles(self) -> dict[str, str]:
        """IP address -> lab role, for ladder diagrams (the browsers run on 127.0.0.1)."""
        roles = {ip: role for ip, role in self.config.roles().items()
                 if not any(a.webrtc and a.address == ip for a in self.config.accounts)}
        roles["127.0.0.1"] = "browser"
        return roles

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
            self.page = PageServer(self.config, self.keys_dir / SERVER_CERT_FILE, self.keys_dir / SERVER_KEY_FILE,
                                   token=self.page_token, port=self.page_port, web_dir=work)
        try:
            self.page.start()
            done.append(f"serving the browser phone at https://{self.page.host}:{self.page_port}/")
        except WebRtcError:
            if not page_answers(self.page.host, self.page_port, self.ca_file):
                raise
            done.append(f"already served (by another process): https://{self.page.host}:{self.page_port}/")
        if self.alcatel and self.config.is_local and self.config.alcatel.simulated:
            done.append(self._start_alcatel(timeout))
        return done

    def _start_alcatel(self, timeout: float) -> str:
        acc = self.config.account("alcatel")
        if self._alcatel is None:
            self._alcatel = SimulatedAlcatel(self.config, lab_dir=self.lab_dir)
        started = self._alcatel.start(timeout=timeout)
        return ("started" if started else "already running:") + f" simulated Alcatel {acc.number} on {acc.address}"

    def down(self) -> list[str]:
        """Stop what this lab started (Alcatel, page server, Asterisk)."""
        done: list[str] = []
        if self._alcatel is None and self.config.is_local and self.config.alcatel.simulated:
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


#: the WebRTC labs this process brought up, by (config, lab directory, alcatel)
_LABS: dict[tuple[LabConfig | None, str, bool], WebRtcLab] = {}

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
    cfg = config if config is not None else webrtc_lab_config()
    host = host or cfg.pbx.host
    port = port or cfg.webrtc.https_port
    ca = Path(ca_file) if ca_file else state_dir() / WEBRTC_LAB_SUBDIR / KEYS_SUBDIR / CA_CERT_FILE
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
                          "run vl.start_webrtc_lab()") from None
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
