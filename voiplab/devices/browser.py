"""The browser phone, driven: headless Chromium running the page, under Playwright.

:class:`BrowserPhone` opens the browser phone page (:mod:`voiplab.devices.webpage`) of a
WebRTC account in Debian's Chromium and drives it like a user: register over
``wss://``, call, answer, hang up, SIP MESSAGE, ``getStats()``, screenshot. Its
:meth:`BrowserPhone.trace` is the SIP the page sent and received over the WebSocket, so
:func:`call_flow` draws the browser's leg next to the pjsua2 or captured UDP leg.

Playwright is a heavy optional dependency (tests, notebook 08): it is imported inside
the functions that drive the browser, never when this module is imported.

Taught in notebook 08 (WebRTC and TLS).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Self, TypedDict, TypeVar

from ..core.flow import Flow, FlowMessage, TraceEntry, messages_from_trace
from ..errors import WebRtcError
from ..paths import scratch_dir
from .webrtc import WebRtcLab, start_webrtc_lab

if TYPE_CHECKING:  # types only: playwright is imported when a browser is launched
    from playwright.sync_api import Browser, Page, Playwright

__all__ = [
    "CHROMIUM",
    "CHROMIUM_ARGS",
    "BrowserMessage",
    "BrowserPhone",
    "PageSnapshot",
    "call_flow",
    "trusted_ca_home",
]

T = TypeVar("T")

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
#: seconds added to a browser action's own timeout before its thread is declared stuck
_THREAD_GRACE_S = 5
#: how often the page is polled while waiting for a state, in ms
_POLL_MS = 20


class BrowserMessage(TypedDict):
    """A SIP MESSAGE the page sent or received."""

    direction: Literal["in", "out"]
    peer: str
    text: str
    time: float


class PageSnapshot(TypedDict):
    """The page's state (``window.voiplab.snapshot()`` in ``app.js``)."""

    status: str
    callState: str
    registered: bool
    registerMs: float | None
    callTimes: dict[str, float]
    messages: list[BrowserMessage]
    errors: list[str]


class _PageTraceEntry(TypedDict):
    """What ``window.voiplab.trace()`` records: the addresses are added on this side."""

    time: float
    direction: Literal["tx", "rx"]
    raw: str


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
    home_dir = Path(home) if home else scratch_dir("browsers", "home-")
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
            # playwright: heavy optional dependency, loaded only when a browser phone is made
            import playwright.sync_api  # noqa: F401
        except ImportError:
            raise WebRtcError("the Python package playwright is not installed: run 'pip install playwright' "
                              "(no 'playwright install': Debian's chromium is used)") from None
        self._pool: concurrent.futures.ThreadPoolExecutor | None = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix=f"browser-{self.account.name}")
        self._home = trusted_ca_home(self.lab.ca_file) if trust_ca else None
        self._pw: Playwright | None = None
        self._browser: Browser | None = None
        self.page: Page | None = None
        self.console: list[str] = []
        self._run(self._launch, executable, headless, ignore_https_errors)

    def __repr__(self) -> str:
        return f"BrowserPhone({self.account.name}/{self.account.number} at {self.url})"

    # -- plumbing ----------------------------------------------------------------
    def _run(self, fn: Callable[..., T], *args: object, timeout: float | None = None) -> T:
        if self._pool is None:
            raise WebRtcError(f"the browser phone {self.account.name} is closed: create a new BrowserPhone")
        future = self._pool.submit(fn, *args)
        try:
            return future.result(timeout=(timeout or self.timeout) + _THREAD_GRACE_S)
        except concurrent.futures.TimeoutError:
            raise WebRtcError(f"the browser phone {self.account.name} did not answer in time: "
                              "take a screenshot() and read .console") from None

    def _launch(self, executable: str, headless: bool, ignore_https_errors: bool) -> None:
        # heavy optional dependency: imported when a browser is launched
        from playwright.sync_api import Error as PwError
        from playwright.sync_api import sync_playwright

        env: dict[str, str | float | bool] = dict(os.environ)
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

    def _live_page(self) -> Page:
        if self.page is None:
            raise WebRtcError(f"the browser phone {self.account.name} is closed: create a new BrowserPhone")
        return self.page

    # returns Any: the JSON the page's script returns, whose shape depends on the script
    def _eval(self, script: str, arg: object = None, timeout: float | None = None) -> Any:
        # heavy optional dependency: imported when a browser is driven
        from playwright.sync_api import Error as PwError

        page = self._live_page()

        def go() -> Any:
            try:
                return page.evaluate(script, arg)
            except PwError as e:
                raise WebRtcError(f"the browser phone {self.account.name} failed: {str(e).splitlines()[0]}") from None

        return self._run(go, timeout=timeout)

    def _wait(self, script: str, arg: object, timeout: float, what: str) -> None:
        # heavy optional dependency: imported when a browser is driven
        from playwright.sync_api import Error as PwError

        page = self._live_page()

        def go() -> None:
            try:
                page.wait_for_function(script, arg=arg, timeout=timeout * 1000, polling=_POLL_MS)
            except PwError:
                snap = page.evaluate("window.voiplab.snapshot()")
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

    def messages(self) -> list[BrowserMessage]:
        """The SIP MESSAGEs shown by the page: ``{"direction": "in"|"out", "peer", "text", "time"}``."""
        return list(self.snapshot()["messages"])

    def wait_message(self, timeout: float = 10.0) -> BrowserMessage:
        """Wait for an incoming SIP MESSAGE and return it."""
        self._wait("() => window.voiplab.snapshot().messages.some(m => m.direction === 'in')", None, timeout,
                   "receive a SIP MESSAGE")
        return next(m for m in self.messages() if m["direction"] == "in")

    # dict[str, Any]: the page's digest of WebRTC's getStats(), nested JSON (see app.js)
    def stats(self) -> dict[str, Any] | None:
        """``RTCPeerConnection.getStats()`` of the call: inbound/outbound packets, DTLS and SRTP."""
        result = self._eval("window.voiplab.stats()")
        return dict(result) if result is not None else None

    def snapshot(self) -> PageSnapshot:
        """The page's state: status line, call state, registration time, messages."""
        snap: PageSnapshot = self._eval("window.voiplab.snapshot()")
        return snap

    @property
    def status(self) -> str:
        return str(self.snapshot()["status"])

    def trace(self) -> list[TraceEntry]:
        """Every SIP message the page sent/received over the WebSocket, as a phone's trace.

        ``local`` is the browser's address as Asterisk saw it (the ``received``/``rport`` of
        a response's Via), ``remote`` the PBX's WebSocket port, ``transport`` ``"WSS"``.
        """
        raw: list[_PageTraceEntry] = list(self._eval("window.voiplab.trace()"))
        cfg = self.lab.config
        me = _browser_address(raw)
        pbx = f"{cfg.pbx.host}:{cfg.webrtc.https_port}"
        return [TraceEntry(time=float(e["time"]), direction=e["direction"], local=me, remote=pbx,
                           transport="WSS", raw=e["raw"]) for e in raw]

    def screenshot(self, path: str | os.PathLike[str]) -> Path:
        """Save a PNG of the page; returns its path."""
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        page = self._live_page()
        self._run(lambda: page.screenshot(path=str(out), full_page=True))
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
        self._pool = None
        if self._home is not None:
            shutil.rmtree(self._home, ignore_errors=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ---------------------------------------------------------------------------
# the SIP flow of the browser's WebSocket leg next to a UDP leg


def _browser_address(trace: Iterable[_PageTraceEntry]) -> str:
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
