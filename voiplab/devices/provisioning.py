"""Provisioning the Alcatel-Lucent IP Touch 4018 EE: write its files and serve them over HTTP.

The files themselves (their keys, rendering, validation) are :mod:`voiplab.devices.sipconfig`;
this module does the I/O around them: :func:`write_files` renders, validates and writes
them into a directory, :class:`ProvisioningServer` serves that directory as the phone
expects at boot, :func:`fetch` and :func:`boot_fetch` download like the phone does.

**Why HTTP and not HTTPS.** The phone trusts only its vendor's CA, so HTTPS to a lab
server fails; the report chose HTTP over TCP rather than TFTP. The files carry the SIP
password in clear: serve them on the lab LAN only.

**File names.** voiplab writes ``sipconfig-<12 lower-case hex digits>.txt``; its server
also answers a request for the vendor's upper-case name with that file.

Taught in notebook 07 (provisioning the Alcatel).
"""

from __future__ import annotations

import http.client
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Self
from urllib.parse import unquote, urlsplit

from ..config import LabConfig, local_address
from ..errors import ProvisioningError
from ..paths import write_private
from .sipconfig import COMMON_FILENAME, FIRMWARE_FILES, PHONE_FILENAME_RE, check_set, phone_filename, render

__all__ = [
    "BootFetch",
    "FetchLogEntry",
    "ProvisioningFiles",
    "ProvisioningServer",
    "boot_fetch",
    "fetch",
    "write_files",
]

log = logging.getLogger("voiplab.devices.provisioning")
log.addHandler(logging.NullHandler())  # the application (CLI, notebook) decides where logs go

FIRMWARE_MISSING = (
    "{name} is not shipped with voiplab: the firmware is Alcatel-Lucent's and not "
    "redistributable; copy it from your phone vendor into {directory}"
)

#: User-Agent of :func:`fetch`, shaped like the phone's
PHONE_USER_AGENT = "Alcatel-Lucent IP Touch 4018 EE SIP (voiplab)"

#: the local lab PBX address (127.A.B.80 in the user's loopback block)
DEFAULT_HOST = local_address(80)
DEFAULT_PORT = 8080


# ---------------------------------------------------------------------------
# writing the files


@dataclass(frozen=True)
class ProvisioningFiles:
    """The two files written by :func:`write_files`."""

    common: Path
    phone: Path

    def __iter__(self) -> Iterator[Path]:
        return iter((self.common, self.phone))


def write_files(out_dir: str | os.PathLike[str], config: LabConfig | None = None, *,
                mac: str | None = None, year: int | None = None, account: str = "alcatel") -> ProvisioningFiles:
    """Render, validate and write ``sipconfig.txt`` and ``sipconfig-<mac>.txt`` into ``out_dir``.

    Raises:
        ProvisioningError: the MAC is malformed, the rendered files do not validate, or
            the directory cannot be written.

    Taught in notebook 07.
    """
    files = render(config, mac=mac, year=year, account=account)
    check_set(files, "the rendered provisioning files")
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
        paths = []
        for name, text in files.items():
            # the phone's SIP password is in there: 0600 (the server reads it as the same user)
            paths.append(write_private(out / name, text))
    except OSError as e:
        raise ProvisioningError(
            f"provisioning directory {out} could not be written ({e.strerror}): choose a writable --out"
        ) from None
    return ProvisioningFiles(paths[0], paths[1])


# ---------------------------------------------------------------------------
# the HTTP server


@dataclass(frozen=True)
class FetchLogEntry:
    """One request the provisioning server answered.

    Attributes:
        time: Unix time of the answer.
        client: the phone's address.
        method: GET or HEAD.
        path: the path asked for (as sent).
        file: the file served (relative to the directory), or None.
        status: the HTTP status sent.
        bytes: the body bytes sent.
        note: why it failed, in words ("" when served).
    """

    time: float
    client: str
    method: str
    path: str
    file: str | None
    status: int
    bytes: int
    note: str = ""

    def __str__(self) -> str:
        clock = time.strftime("%H:%M:%S", time.localtime(self.time))
        text = f"{clock} {self.client} {self.method} {self.path} -> {self.status} ({self.bytes} bytes)"
        return f"{text}: {self.note}" if self.note else text


class _Httpd(ThreadingHTTPServer):
    daemon_threads = True
    owner: ProvisioningServer


class _Handler(BaseHTTPRequestHandler):
    server: _Httpd
    server_version = "voiplab-provisioning"
    sys_version = ""
    timeout = 10

    def log_message(self, format: str, *args: object) -> None:
        log.debug("%s " + format, self.client_address[0], *args)

    def do_GET(self) -> None:
        self._serve(body=True)

    def do_HEAD(self) -> None:
        self._serve(body=False)

    def _reply_text(self, status: int, text: str, body: bool, file: str | None = None, note: str = "") -> None:
        data = (text + "\n").encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        # logged before the body goes out, so the log is complete when the phone has the answer
        self.server.owner._record(self, status, len(data) if body else 0, file, note or text)
        if body:
            self.wfile.write(data)

    def _serve(self, body: bool) -> None:
        owner = self.server.owner
        root = owner.root
        target = urlsplit(self.path).path
        decoded = unquote(target)
        parts = [p for p in decoded.split("/") if p]
        if not target.startswith("/") or "\x00" in decoded or "\\" in decoded or any(p in (".", "..") for p in parts):
            self._reply_text(400, "400 bad request: this path is not allowed; ask for a file by its name, "
                             "e.g. /sipconfig.txt", body, note="path refused (traversal or malformed)")
            return
        if not parts:
            self._reply_text(403, "403 forbidden: this server lists no directory; ask for a file by its name, "
                             "e.g. /sipconfig.txt", body, note="directory listing refused")
            return
        path = root.joinpath(*parts)
        if not path.is_file() and len(parts) == 1 and PHONE_FILENAME_RE.match(parts[0]):
            path = root / parts[0].lower()  # the vendor's upper-case MAC -> voiplab's lower-case file
        real = path.resolve()
        inside = real.is_relative_to(root)
        name = "/".join(parts)
        if any(p.startswith(".") for p in parts) or not inside or not real.is_file():
            firmware = next((f for f in FIRMWARE_FILES if parts[-1].lower().startswith(f)), None)
            if firmware and inside:
                text = FIRMWARE_MISSING.format(name=parts[-1], directory=root)
                self._reply_text(404, "404 not found: " + text, body, note=text)
                return
            note = "symbolic link leads outside the directory" if not inside else "no such file"
            self._reply_text(404, f"404 not found: {name} is not in the provisioning directory", body, note=note)
            return
        try:
            data = real.read_bytes()  # provisioning files and firmware are small (a few MB at most)
        except OSError as e:
            self._reply_text(404, f"404 not found: {name} cannot be read", body, note=e.strerror or "unreadable")
            return
        self.send_response(200)
        kind = "text/plain; charset=utf-8" if real.suffix == ".txt" else "application/octet-stream"
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        owner._record(self, 200, len(data) if body else 0, real.relative_to(root).as_posix(), "")
        if body:
            self.wfile.write(data)


class ProvisioningServer:
    """A small HTTP server for the phone's files, serving ONLY ``directory``.

    It refuses traversal (``../``, ``%2e%2e/``, back-slashes; 400), never lists a directory
    (403), answers 404 for a missing file, for dot files and for symbolic links leading
    outside the directory, and explains a missing firmware file. A request for
    ``sipconfig-<MAC in upper case>.txt`` gets the lower-case file voiplab writes.
    Every request is appended to :attr:`log` (a list of :class:`FetchLogEntry`) and logged
    to the ``voiplab.devices.provisioning`` Python logger, so an instructor sees the phone boot.

    Use it as a context manager, or :meth:`start` / :meth:`stop`::

        with ProvisioningServer("prov", host="127.0.0.80", port=0) as server:
            text = fetch(server.url + "sipconfig.txt")

    Parameters:
        directory: the directory to serve (must exist).
        host: the address to listen on (the report's server: port 80 on the PBX machine;
            the local lab: 127.0.0.80:8080, no root needed).
        port: the TCP port (0: any free port, read :attr:`port` after start).
        on_fetch: called with each :class:`FetchLogEntry` (from the server's threads).

    Taught in notebook 07.
    """

    def __init__(self, directory: str | os.PathLike[str], host: str = DEFAULT_HOST, port: int = DEFAULT_PORT,
                 *, on_fetch: Callable[[FetchLogEntry], None] | None = None):
        root = Path(directory)
        if not root.is_dir():
            raise ProvisioningError(f"provisioning directory {root} does not exist: render the files first "
                                    "(voiplab provision alcatel --out DIR)")
        self.root = root.resolve()
        self.host = host
        self._port = port
        self.on_fetch = on_fetch
        self.log: list[FetchLogEntry] = []
        self._lock = threading.Lock()
        self._httpd: _Httpd | None = None
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        state = "serving" if self.running else "stopped"
        return f"ProvisioningServer({str(self.root)!r} on {self.host}:{self.port}, {state}, {len(self.log)} fetches)"

    @property
    def running(self) -> bool:
        """True between :meth:`start` and :meth:`stop`."""
        return self._httpd is not None

    @property
    def port(self) -> int:
        """The TCP port (the real one once started, also when 0 was asked)."""
        return self._httpd.server_address[1] if self._httpd else self._port

    @property
    def url(self) -> str:
        """The base URL, ending with ``/``: ``http://127.0.0.80:8080/``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    def start(self) -> Self:
        """Listen and serve in a background thread (idempotent).

        Raises:
            ProvisioningError: the address cannot be bound (in use, not local, port < 1024
                without privileges).
        """
        if self._httpd is not None:
            return self
        try:
            httpd = _Httpd((self.host, self._port), _Handler, bind_and_activate=False)
            if ":" in self.host:
                httpd.address_family = socket.AF_INET6
                httpd.socket = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
            httpd.server_bind()
            httpd.server_activate()
        except OSError as e:
            hint = "choose a port >= 1024 or run as root" if self._port and self._port < 1024 \
                else "stop the other server or choose another --port"
            raise ProvisioningError(f"provisioning server could not listen on {self.host}:{self._port} "
                                    f"({e.strerror}): {hint}") from None
        httpd.owner = self
        self._httpd = httpd
        self._port = httpd.server_address[1]  # the real port, also when 0 was asked
        self._thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.1},
                                        name=f"provisioning-{self.host}:{self.port}", daemon=True)
        self._thread.start()
        log.info("provisioning server serving %s on %s", self.root, self.url)
        return self

    def stop(self) -> None:
        """Stop serving and close the socket (idempotent)."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        log.info("provisioning server on %s:%s stopped", self.host, httpd.server_address[1])

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _record(self, handler: _Handler, status: int, size: int, file: str | None, note: str) -> None:
        entry = FetchLogEntry(time.time(), handler.client_address[0], handler.command or "?", handler.path,
                              file, status, size, "" if status == 200 else note)
        with self._lock:
            self.log.append(entry)
        (log.info if status == 200 else log.warning)("%s", entry)
        if self.on_fetch is not None:
            self.on_fetch(entry)


# ---------------------------------------------------------------------------
# the phone's side


def fetch(url: str, *, source: str | None = None, timeout: float = 5.0) -> str:
    """GET a provisioning file as the phone does (HTTP/1.1, the phone's User-Agent).

    Parameters:
        url: ``http://host:port/file``.
        source: the local address to send from (e.g. the Alcatel's lab address
            127.0.0.81, so the server's log shows the phone), or None.
        timeout: seconds.

    Returns:
        The file as text (UTF-8).

    Raises:
        ProvisioningError: not an http URL, the server cannot be reached, or it answered
            with an error (the status and the server's explanation are in the message).

    Taught in notebook 07.
    """
    status, body = _get(url, source, timeout)
    text = body.decode("utf-8", errors="replace")
    if status != 200:
        raise ProvisioningError(f"GET {url} was answered {status}: {text.strip()}")
    return text


def _get(url: str, source: str | None, timeout: float) -> tuple[int, bytes]:
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise ProvisioningError(f"URL {url!r} is not an http:// URL: the phone fetches its files over plain "
                                "HTTP (it trusts only its vendor's CA), e.g. http://127.0.0.80:8080/sipconfig.txt")
    conn = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=timeout,
                                      source_address=(source, 0) if source else None)
    try:
        conn.request("GET", parts.path or "/", headers={"User-Agent": PHONE_USER_AGENT, "Accept": "*/*"})
        response = conn.getresponse()
        return response.status, response.read()
    except OSError as e:
        raise ProvisioningError(f"provisioning server {parts.hostname}:{parts.port or 80} could not be reached "
                                f"({e.strerror or e}): start it (voiplab provision serve DIR) and check the "
                                "address") from None
    finally:
        conn.close()


@dataclass(frozen=True)
class BootFetch:
    """One download of :func:`boot_fetch`: the file, the status, the text when served."""

    file: str
    status: int
    text: str | None
    message: str = ""


def boot_fetch(base_url: str, mac: str, *, source: str | None = None, timeout: float = 5.0) -> list[BootFetch]:
    """Download what the phone downloads at boot: the two config files, then the firmware.

    A missing file is not an error (the phone goes on with the next one): its status
    and the server's explanation are in the result.

    Taught in notebook 07.
    """
    base = base_url if base_url.endswith("/") else base_url + "/"
    out = []
    for name in (COMMON_FILENAME, phone_filename(mac), *FIRMWARE_FILES):
        status, body = _get(base + name, source, timeout)
        is_text = name.endswith(".txt")
        text = body.decode("utf-8", errors="replace")
        out.append(BootFetch(name, status, text if status == 200 and is_text else None,
                             "" if status == 200 else text.strip()))
    return out
