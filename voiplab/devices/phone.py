"""The softphone: a pjsua2 phone that a Jupyter kernel can drive safely.

pjsua2 aborts the whole process on ordinary mistakes (re-running a cell that
creates an Endpoint, a Call collected from another thread, ...). So the kernel
never imports it: each :class:`Phone` starts its own *agent* process
(``python -m voiplab.devices._agent``, in its own session so that a kernel interrupt
does not reach it) and talks to it in JSON lines (the protocol of
:mod:`voiplab.devices.wire`). If the agent dies the phone
raises :class:`~voiplab.errors.PhoneDied`; every request has a timeout, so a
cell never hangs.

Example (notebook 03 and 06)::

    rpi = vl.Phone("rpi")                   # account rpi/5002 on 127.0.0.82
    rpi.register()                          # REGISTER, 401, REGISTER + digest, 200 OK
    call = rpi.call("5001")                 # the Alcatel
    call.wait("CONFIRMED")
    call.send_dtmf("1234#")
    print(call.stats())
    call.hangup()
    samples, rate = call.recording()        # what rpi heard, as numpy int16
    rpi.trace()                             # every SIP message sent and received

Taught in notebook 03 (register and digest authentication) and 06 (calling the Alcatel).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import wave
import weakref
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal, Self, TypeVar

import numpy as np

from ..capture.wav import read_wav, write_tone_wav, write_wav
from ..config import Account, LabConfig, load_config
from ..core.flow import TraceEntry
from ..core.g711 import SAMPLE_RATE
from ..errors import CallError, PhoneDied, PhoneError, ProtocolError, RegistrationError
from ..paths import scratch_dir
from . import wire
from .asterisk_conf import CA_CERT_FILE
from .pbx import Pbx
from .wire import CALL_STATES, SIP_TRANSPORTS, CallState, CallStats, Transport

__all__ = [
    "Call",
    "Phone",
    "live_calls",
    "Registration",
]

R = TypeVar("R")
#: which side started a call
Direction = Literal["outgoing", "incoming"]
#: the states :meth:`Call.wait` can wait for (a call the proxy knows is past NULL)
WAITABLE_STATES = tuple(s for s in CALL_STATES if s != CallState.NULL)
#: seconds the agent has to start and bind its address
START_TIMEOUT_S = 5.0
#: seconds a simple request (hang up, stats, ...) may take before the agent is declared stuck
REQUEST_TIMEOUT_S = 5.0
#: seconds to wait for the final answer to a REGISTER (the PBX is down after that)
REGISTER_TIMEOUT_S = 4.0
#: default first RTP port of a phone (pjsua takes the next free even port from there)
DEFAULT_RTP_PORT = 4000
#: the User-Agent header of the lab's softphones
USER_AGENT = "voiplab softphone (pjsua2)"
#: the most of its RTP packets a phone may drop on purpose (``tx_loss_pct``), in percent
MAX_TX_LOSS_PCT = 20
_DTMF_RE = re.compile(r"^[0-9A-Da-d*#]+$")
_NUMBER_RE = re.compile(r"^(sips?:\S+|[0-9A-Za-z*#+._-]{1,64})$")
#: the live Phones of this process, by "address:port" (a new Phone there replaces the old one)
_LIVE: weakref.WeakValueDictionary[str, Phone] = weakref.WeakValueDictionary()


@dataclass
class _Pending:
    """A request waiting for its reply (filled by the reader thread, under the Phone's lock)."""

    reply: wire.Reply | None = None


@dataclass(frozen=True)
class Registration:
    """The result of a successful REGISTER (taught in notebook 03)."""

    status: int
    reason: str
    expires: int
    contact: str

    def __repr__(self) -> str:
        return f"Registration({self.status} {self.reason}, expires in {self.expires} s, contact {self.contact})"


# ---------------------------------------------------------------------------
# audio helpers


# ---------------------------------------------------------------------------
# the call


class Call:
    """One call of a :class:`Phone` (outgoing from :meth:`Phone.call`, incoming from
    :meth:`Phone.wait_incoming` or ``on_incoming``).

    Attributes:
        direction: ``"outgoing"`` or ``"incoming"``.
        remote: the other party's URI (``"Alcatel IP Touch" <sip:5001@127.0.0.80>``).
        state: a :class:`~voiplab.devices.wire.CallState` (a str): ``CALLING``, ``INCOMING``, ``EARLY``,
            ``CONNECTING``, ``CONFIRMED`` or ``DISCONNECTED``.
        status, reason: the last SIP status code and reason phrase (``404 Not Found``).
        dtmf_received: the DTMF digits received from the other side (RFC 4733).
        recording_path: the WAV file of what this phone heard (``None`` before media or when not recorded).

    Taught in notebook 06.
    """

    def __init__(self, phone: Phone, handle: int, direction: Direction, remote: str, number: str):
        self._phone = phone
        self.handle = handle
        self.direction = direction
        self.remote = remote
        self.number = number
        self.state = CallState.CALLING if direction == "outgoing" else CallState.INCOMING
        self.status: int | None = None
        self.reason = ""
        self.call_id = ""
        self.dtmf_received = ""
        self.recording_path: Path | None = None
        #: the last audio stream the agent reported (codec, remote RTP address), None before media
        self.media: wire.MediaEvent | None = None
        self.history: list[tuple[float, CallState]] = [(time.time(), self.state)]
        self._final_stats: CallStats | None = None
        self._freed = False

    def __repr__(self) -> str:
        arrow = "->" if self.direction == "outgoing" else "<-"
        status = f", {self.status} {self.reason}" if self.status else ""
        return f"Call({self._phone.account.name} {arrow} {self.number or self.remote}, {self.state}{status})"

    @property
    def phone(self) -> Phone:
        """The :class:`Phone` this call belongs to (its ``trace()`` holds the call's SIP messages)."""
        return self._phone

    @property
    def confirmed_at(self) -> float | None:
        """Wall-clock time the call became CONFIRMED (None if it never did)."""
        return next((t for t, s in self.history if s == CallState.CONFIRMED), None)

    @property
    def duration(self) -> float:
        """Seconds since the call was answered (until it ended); 0 if never answered."""
        start = self.confirmed_at
        if start is None:
            return 0.0
        end = next((t for t, s in self.history if s == CallState.DISCONNECTED), time.time())
        return end - start

    def _reached(self, state: CallState) -> bool:
        return any(s == state for _t, s in self.history)

    def wait(self, state: str = "CONFIRMED", timeout: float = 10.0) -> Call:
        """Wait until the call reaches ``state`` (or has already been in it).

        Raises:
            CallError: the call ended first (``status``/``reason`` say why, e.g. 404 Not
                Found) or did not get there within ``timeout`` seconds.
            PhoneDied: the phone's agent died.

        Taught in notebook 06.
        """
        if state.upper() not in WAITABLE_STATES:
            raise CallError(f"call state {state.upper()!r} is unknown: use one of {', '.join(WAITABLE_STATES)}")
        wanted = CallState(state.upper())
        deadline = time.monotonic() + timeout
        with self._phone._cv:
            while True:
                if self._reached(wanted):
                    return self
                if self._reached(CallState.DISCONNECTED):
                    what = f"{self.status} {self.reason}" if self.status else "no answer"
                    raise CallError(
                        f"the call to {self.number or self.remote} ended with {what} before it was {wanted}: "
                        + _hint(self.status), status=self.status, reason=self.reason)
                left = deadline - time.monotonic()
                if left <= 0:
                    raise CallError(f"the call to {self.number or self.remote} did not reach {wanted} within "
                                    f"{timeout:g} s (it is {self.state}): wait longer or check the other phone",
                                    status=self.status, reason=self.reason)
                self._phone._check_alive()
                self._phone._cv.wait(min(left, 0.1))

    def hangup(self) -> None:
        """Hang up (CANCEL before the answer, BYE after); nothing happens if already over.

        Taught in notebook 06.
        """
        if self.state == CallState.DISCONNECTED or self._freed:
            return
        self._phone._request(wire.Hangup(self.handle))

    def answer(self, code: int = 200) -> None:
        """Answer an incoming call (200 OK; 180 Ringing was sent when it arrived).

        Taught in notebook 06.
        """
        if self.direction != "incoming":
            raise CallError("an outgoing call cannot be answered: answer the call on the other phone")
        self._live("answer")
        self._phone._request(wire.Answer(self.handle, int(code)))

    def decline(self, code: int = 486) -> None:
        """Refuse an incoming call (486 Busy Here by default, 603 Decline, ...).

        Taught in notebook 06.
        """
        if self.direction != "incoming":
            raise CallError("an outgoing call cannot be declined: use hangup()")
        if not 300 <= code <= 699:
            raise CallError(f"status {code} does not refuse a call: use a code between 300 and 699, e.g. 486")
        self._live("decline")
        self._phone._request(wire.Hangup(self.handle, int(code)))

    def send_dtmf(self, digits: str) -> None:
        """Send DTMF digits as RFC 4733 telephone-events in the RTP stream.

        Taught in notebook 06.
        """
        if not _DTMF_RE.match(digits or ""):
            raise CallError(f"DTMF digits {digits!r} are not valid: use 0-9, *, # and A-D")
        if self.state != CallState.CONFIRMED:
            raise CallError(f"the call is {self.state}, DTMF needs an answered call: wait('CONFIRMED') first")
        self._phone._request(wire.SendDtmf(self.handle, digits))

    def stats(self) -> CallStats:
        """RTP statistics of the call from pjsua2 (RTCP): packets, loss, jitter, codec.

        Keys: ``tx_packets, rx_packets, tx_bytes, rx_bytes, rx_lost, tx_lost`` (reported
        by the other side's RTCP), ``rx_dup, rx_reorder, jitter_ms, max_jitter_ms, rtt_ms,
        codec, remote_rtp, streams`` (one stream per media, plus one per re-INVITE that
        recreated it: direct media).

        Taught in notebook 06 (and 05 for the definitions).
        """
        if self._final_stats is not None:
            return self._final_stats.copy()
        if self.state == CallState.DISCONNECTED:
            self._wait_freed(REQUEST_TIMEOUT_S)
            if self._final_stats is not None:
                return self._final_stats.copy()
        try:
            return self._phone._request(wire.GetStats(self.handle))
        except CallError:
            self._wait_freed(REQUEST_TIMEOUT_S)
            return self._final_stats.copy() if self._final_stats is not None else {}

    def recording(self) -> tuple[np.ndarray, int]:
        """What this phone heard: (int16 samples, sample rate). Complete once the call is over.

        Taught in notebook 06.
        """
        if self.state == CallState.DISCONNECTED:
            self._wait_freed(REQUEST_TIMEOUT_S)
        if self.recording_path is None:
            raise CallError("this call has no recording: record=True is needed and the call must "
                            "have had media (be answered)")
        return read_wav(self.recording_path)

    def _live(self, what: str) -> None:
        if self.state == CallState.DISCONNECTED:
            raise CallError(f"the call is over ({self.status} {self.reason}): it cannot {what}",
                            status=self.status, reason=self.reason)

    def _wait_freed(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        with self._phone._cv:
            while not self._freed and time.monotonic() < deadline:
                if self._phone._dead:
                    return
                self._phone._cv.wait(0.05)


def _hint(status: int | None) -> str:
    if status == 404:
        return "the number is not in the dial plan, check it"
    if status in (486, 600, 603):
        return "the other phone refused the call, try again later"
    if status == 408 or status is None:
        return "the other phone did not answer, check that it is registered"
    if status == 480:
        return "the other phone is not registered, register it first"
    if status in (401, 403, 407):
        return "the PBX refused our credentials, check the account's password"
    return "see phone.trace() for the SIP exchange"


# ---------------------------------------------------------------------------
# the phone


def live_calls() -> list[Call]:
    """Every call of the phones of this process that are still open, oldest first (ended ones too)."""
    calls: list[Call] = []
    for phone in list(_LIVE.values()):
        with phone._cv:
            calls.extend(phone._calls.values())
    return sorted(calls, key=lambda c: c.history[0][0])


class Phone:
    """A SIP softphone of the lab (pjsua2 in a child process).

    Parameters:
        account: the account name or number (``"rpi"``, ``"5002"``) or an
            :class:`~voiplab.config.Account`.
        config: the lab configuration (default: ``load_config()``).
        address: the IP address to bind SIP and RTP to (default: the account's).
        port: the SIP port (default: the account's ``sip_port``, 5060).
        password: override the account's password (notebook 03 tries a wrong one).
        audio: what the phone sends: ``"silence"``, ``"tone:440"`` (Hz) or a WAV file path.
        record: record what the phone hears to a WAV per call.
        record_dir: where recordings go (default: a new temporary directory).
        rtp_port: first RTP port to try (pjsua takes the next free even port).
        codecs: codec preference, e.g. ``("PCMA", "PCMU")``; others are disabled.
        on_incoming: ``callback(call)`` run (in a helper thread) for each incoming call.
        transport: ``"udp"`` (the report's lab) or ``"tls"``: SIP over TLS to the PBX's TLS
            port (``[webrtc] tls_port``, 5061), the PBX certificate checked against ``ca_file``
            (the report's future work; the lab must have TLS on: a WebRTC-enabled lab).
        srtp: require SRTP media (SDES keys in the SDP, so only safe over TLS).
        ca_file: the CA that signed the PBX certificate (default: the lab's ``keys/ca.crt``).
        tx_loss_pct: percent of its RTP packets the phone drops instead of sending (0 to 20;
            the simulated Alcatel's loss in a graded variant).

    Raises:
        PhoneError: a bad argument, the address is in use, or the agent did not start.

    Taught in notebook 03 and 06.
    """

    def __init__(self, account: str | Account = "rpi", config: LabConfig | None = None, *,
                 address: str | None = None, port: int | None = None, password: str | None = None,
                 audio: str | os.PathLike[str] = "silence", record: bool = True,
                 record_dir: str | os.PathLike[str] | None = None, rtp_port: int = DEFAULT_RTP_PORT,
                 codecs: tuple[str, ...] = ("PCMU", "PCMA"),
                 on_incoming: Callable[[Call], object] | None = None, expires: int = 300,
                 start_timeout: float = START_TIMEOUT_S, bind_wait: float = 2.0,
                 transport: str = "udp", srtp: bool = False, ca_file: str | os.PathLike[str] | None = None,
                 lab_dir: str | os.PathLike[str] | None = None, tx_loss_pct: int = 0):
        self.config = config if config is not None else load_config()
        if not 0 <= int(tx_loss_pct) <= MAX_TX_LOSS_PCT:
            raise PhoneError(f"tx_loss_pct {tx_loss_pct} is out of range: give 0 to {MAX_TX_LOSS_PCT} (percent)")
        acc = account if isinstance(account, Account) else self.config.account(str(account))
        if password is not None:
            acc = replace(acc, password=str(password))
        self.account = acc
        self.address = address or acc.address
        self.port = acc.sip_port if port is None else int(port)
        if transport not in SIP_TRANSPORTS:
            raise PhoneError(f"transport {transport!r} is not supported: use 'udp' or 'tls'")
        self.transport: Transport = "tls" if transport == "tls" else "udp"
        self.srtp = bool(srtp)
        pbx_port = self.config.webrtc.tls_port if self.transport == "tls" else self.config.pbx.port
        self.pbx = f"{self.config.pbx.host}:{pbx_port}"
        ca_path: Path | None = None
        if self.transport == "tls":
            ca_path = Path(ca_file) if ca_file else Pbx(self.config, lab_dir=lab_dir).keys_dir / CA_CERT_FILE
            if not ca_path.is_file():
                raise PhoneError(f"the CA file {ca_path} was not found: SIP over TLS checks the PBX "
                                 "certificate; start a TLS-enabled lab (vl.start_webrtc_lab()) or pass ca_file=")
        self.on_incoming = on_incoming
        self._cv = threading.Condition()
        self._pending: dict[int, _Pending] = {}
        self._ids = itertools.count(1)
        self._calls: dict[int, Call] = {}
        self._incoming: list[Call] = []
        self._orphans: dict[int, list[wire.CallEvent]] = {}
        self._trace: list[TraceEntry] = []
        self._events: queue.Queue[Call | None] = queue.Queue()
        self._registered = False
        self._reg: wire.RegEvent | None = None
        self._dead = False
        self._closed = False
        self._proc: subprocess.Popen[bytes] | None = None
        self._write_lock = threading.Lock()
        self.number = acc.number
        self.workdir = scratch_dir("phones", f"{acc.name}-")
        # the agent's log and the recordings go when the Phone (and every Call of it) is gone;
        # pass record_dir= to keep recordings
        weakref.finalize(self, shutil.rmtree, str(self.workdir), True)
        self.record_dir = Path(record_dir) if record_dir else self.workdir
        self.record_dir.mkdir(parents=True, exist_ok=True)
        audio_path = self._audio_file(audio)
        older = _LIVE.get(f"{self.address}:{self.port}") if self.port else None  # port 0: any free port
        if older is not None and older is not self:
            older.close()  # re-running a cell: the new phone takes over the address at once
        self.audio = str(audio)
        self.started_at = time.monotonic()
        env = dict(os.environ)
        env["VOIPLAB_AGENT_PDEATHSIG"] = "1" if threading.current_thread() is threading.main_thread() else "0"
        self._log_path = self.workdir / "agent.log"
        log = open(self._log_path, "wb")  # noqa: SIM115 - handed to the child
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "voiplab.devices._agent"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=log, start_new_session=True, close_fds=True, env=env)
        except OSError as e:
            raise PhoneError(f"the phone agent could not be started ({e}): check the Python environment") from None
        finally:
            log.close()
        self._finalizer = weakref.finalize(self, _close_pipe, self._proc)
        # the threads hold only a weak reference: a Phone nobody uses any more is collected
        me = weakref.ref(self)
        self._reader = threading.Thread(target=_read_loop, args=(me, self._proc, self._cv, self._events),
                                        name=f"phone-{acc.name}-reader", daemon=True)
        self._reader.start()
        self._dispatcher = threading.Thread(target=_dispatch_loop, args=(me, self._events),
                                            name=f"phone-{acc.name}-events", daemon=True)
        self._dispatcher.start()
        init = wire.AgentConfig(
            address=self.address, port=self.port, pbx_host=self.config.pbx.host, pbx_port=pbx_port,
            transport=self.transport, srtp=self.srtp, ca_file=str(ca_path) if ca_path else None,
            account=wire.AgentAccount(acc.user, acc.number, acc.display_name, acc.password),
            audio=str(audio_path) if audio_path else None,
            record_dir=str(self.record_dir) if record else None,
            rtp_port=int(rtp_port), codecs=tuple(codecs), expires=int(expires),
            user_agent=USER_AGENT, bind_wait=float(bind_wait), tx_loss_pct=int(tx_loss_pct),
        )
        try:
            info = self._request(wire.Init(init), timeout=start_timeout)
        except PhoneError:
            self._kill()
            raise
        self.sip_address = info.sip
        self.pid = info.pid
        _LIVE[f"{self.address}:{self.port}" if self.port else f"{self.address}:0#{id(self)}"] = self

    # -- construction helpers ---------------------------------------------------
    def _audio_file(self, audio: str | os.PathLike[str]) -> Path | None:
        text = str(audio)
        if text == "silence":
            return write_wav(self.workdir / "silence.wav", np.zeros(SAMPLE_RATE, dtype=np.int16), SAMPLE_RATE)
        m = re.match(r"^tone:(\d+(?:\.\d+)?)$", text)
        if m:
            freq = float(m.group(1))
            if not 20 <= freq <= SAMPLE_RATE / 2 - 100:
                raise PhoneError(f"tone frequency {freq:g} Hz is out of range: use 20 to {SAMPLE_RATE // 2 - 100} Hz")
            return write_tone_wav(self.workdir / f"tone-{freq:g}.wav", freq)
        path = Path(text)
        if not path.is_file():
            raise PhoneError(f"audio {text!r} is neither 'silence', 'tone:<Hz>' nor an existing WAV file: "
                             "check the path")
        try:
            with wave.open(str(path), "rb") as w:
                ok = w.getsampwidth() == 2 and w.getnchannels() == 1
        except (wave.Error, EOFError):
            ok = False
        if not ok:
            raise PhoneError(f"audio file {path} is not a mono 16-bit PCM WAV: convert it "
                             "(sox in.wav -c 1 -b 16 -r 8000 out.wav)")
        return path.resolve()

    # -- agent I/O ------------------------------------------------------------
    def _on_message(self, msg: wire.Reply | wire.Event) -> None:
        with self._cv:
            if isinstance(msg, wire.Reply):
                slot = self._pending.get(msg.id)
                if slot is not None:
                    slot.reply = msg
            else:
                self._on_event(msg)
            self._cv.notify_all()

    def _on_event(self, ev: wire.Event) -> None:
        match ev:
            case wire.SipEvent():
                self._trace.append(ev.entry)
            case wire.RegEvent():
                self._registered = ev.registered
                self._reg = ev
            case wire.IncomingEvent():
                call = Call(self, ev.call, "incoming", ev.remote, ev.number)
                call.call_id = ev.call_id
                self._calls[call.handle] = call
                self._incoming.append(call)
                if self.on_incoming is not None:
                    self._events.put(call)
            case wire.CallStateEvent() | wire.MediaEvent() | wire.DtmfEvent() | wire.CallFreedEvent():
                self._on_call_event(ev)
            case wire.ByeEvent():
                pass  # the agent exits: the reader thread sees its stdout close

    def _on_call_event(self, ev: wire.CallEvent) -> None:
        call = self._calls.get(ev.call)
        if call is None:  # the reply creating the Call is not processed yet: keep for later
            self._orphans.setdefault(ev.call, []).append(ev)
            return
        match ev:
            case wire.CallStateEvent():
                call.state = ev.state
                call.status = ev.status or call.status
                call.reason = ev.reason or call.reason
                call.call_id = ev.call_id or call.call_id
                if ev.remote:
                    call.remote = ev.remote
                call.history.append((ev.time, ev.state))
            case wire.MediaEvent():
                call.media = ev
                if ev.recording:
                    call.recording_path = Path(ev.recording)
            case wire.DtmfEvent():
                call.dtmf_received += ev.digit
            case wire.CallFreedEvent():
                call._final_stats = ev.stats
                call._freed = True
                self._calls.pop(call.handle, None)

    def _send(self, line: str) -> None:
        assert self._proc is not None and self._proc.stdin is not None
        data = line.encode()
        with self._write_lock:
            try:
                self._proc.stdin.write(data)
                self._proc.stdin.flush()
            except (BrokenPipeError, ValueError, OSError):
                self._check_alive(force=True)

    def _check_alive(self, force: bool = False) -> None:
        if self._closed:
            raise PhoneError(f"the phone {self.account.name} is closed: create a new Phone")
        proc = self._proc
        if proc is None:
            return
        if force or self._dead or proc.poll() is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(1.0)
            self._dead = True
            raise PhoneDied(self._death_message())

    def _death_message(self) -> str:
        rc = self._proc.returncode if self._proc else None
        how = f"killed by {signal.Signals(-rc).name}" if rc is not None and rc < 0 else f"exit status {rc}"
        tail = ""
        with contextlib.suppress(OSError):
            lines = [ln.strip() for ln in self._log_path.read_text(errors="replace").splitlines()
                     if re.search(r"Assertion|terminate|Traceback|Error|error:|abort", ln)]
            if lines:
                tail = f" The agent's log ({self._log_path}) says: " + " | ".join(lines[-3:])
        return (f"the phone agent of {self.account.name} (pid {self._proc.pid if self._proc else '?'}) "
                f"died ({how}): create a new Phone to go on.{tail}")

    def _request(self, command: wire.Command[R], timeout: float = REQUEST_TIMEOUT_S) -> R:
        """Send ``command`` to the agent and wait for its reply; returns the typed result.

        Raises:
            PhoneError (or its RegistrationError/CallError): the agent failed the command,
                did not answer within ``timeout`` seconds, or died (PhoneDied).
        """
        self._check_alive()
        req_id = next(self._ids)
        slot = _Pending()
        with self._cv:
            self._pending[req_id] = slot
        try:
            self._send(wire.encode_request(req_id, command))
            deadline = time.monotonic() + timeout
            with self._cv:
                while slot.reply is None:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise PhoneError(f"the phone agent of {self.account.name} did not answer {command.NAME!r} "
                                         f"within {timeout:g} s: close this Phone and create a new one")
                    if self._dead or (self._proc is not None and self._proc.poll() is not None):
                        self._check_alive(force=True)
                    self._cv.wait(min(left, 0.1))
        finally:
            with self._cv:
                self._pending.pop(req_id, None)
        reply = slot.reply
        if reply.ok:
            return wire.decode_result(command, reply.result)
        failure = reply.error or wire.AgentFailure(wire.ErrorKind.PHONE, "")
        if not failure.message:  # a registration failure: register() words it from the status
            failure = replace(failure, message=f"{command.NAME} failed")
        raise failure.to_exception()

    # -- public API -------------------------------------------------------------
    def __repr__(self) -> str:
        if self._closed:
            state = "closed"
        elif self._dead or (self._proc is not None and self._proc.poll() is not None):
            state = "agent dead"
        else:
            state = "registered" if self._registered else "not registered"
        live = [c for c in self._calls.values() if c.state != CallState.DISCONNECTED]
        calls = f", {len(live)} call{'s' if len(live) != 1 else ''}" if live else ""
        return (f"Phone({self.account.name}/{self.account.number} at {self.address}:{self.port} -> {self.pbx}, "
                f"{state}{calls})")

    @property
    def registered(self) -> bool:
        """True while the PBX holds this phone's registration."""
        return self._registered and not self._dead and not self._closed

    @property
    def calls(self) -> list[Call]:
        """The calls of this phone that are not over yet."""
        with self._cv:
            return [c for c in self._calls.values() if c.state != CallState.DISCONNECTED]

    def register(self, timeout: float = REGISTER_TIMEOUT_S) -> Registration:
        """REGISTER to the PBX (the 401 digest challenge is answered with the password).

        Returns:
            the :class:`Registration` (status 200, expiry, contact).

        Raises:
            RegistrationError: wrong password (401/403), unknown account (404/403), or no
                answer from the PBX within ``timeout`` seconds (it is down or unreachable).

        Taught in notebook 03.
        """
        acc = self.account
        try:
            r = self._request(wire.Register(timeout), timeout=timeout + 3.0)
        except RegistrationError as e:
            raise RegistrationError(self._registration_message(e.status), status=e.status) from None
        return Registration(r.status, r.reason, r.expires, f"<sip:{acc.user}@{self.sip_address}>")

    def _registration_message(self, status: int | None) -> str:
        who = f"the registration of {self.account.name}/{self.account.number} to {self.pbx}"
        last_reason = self._reg.reason if self._reg is not None else ""
        if status is None:
            return (f"{who} timed out: no answer from the PBX (like a 408 Request Timeout); is Asterisk "
                    f"running? start it with vl.start_lab() or check [pbx] host in lab.toml")
        if status in (401, 407):
            return (f"{who} was refused with {status} {last_reason or 'Unauthorized'}: the PBX "
                    f"rejected the digest response, the password of {self.account.name} is wrong")
        if status == 403:
            return f"{who} was refused with 403 Forbidden: the user name or password is wrong, check the account"
        if status == 404:
            return f"{who} was refused with 404 Not Found: the PBX does not know {self.account.name}, check the account"
        if status in (408, 503):
            return (f"{who} failed with {status} {last_reason}: the PBX at {self.pbx} is "
                    "unreachable, start it with vl.start_lab()")
        return f"{who} failed with {status} {last_reason}: see phone.trace()"

    def unregister(self, timeout: float = 5.0) -> None:
        """Remove the registration (REGISTER with Expires: 0).

        Raises:
            RegistrationError: the PBX did not answer.

        Taught in notebook 03.
        """
        try:
            self._request(wire.Unregister(timeout), timeout=timeout + 3.0)
        except RegistrationError as e:
            raise RegistrationError(self._registration_message(e.status), status=e.status) from None

    def call(self, number: str) -> Call:
        """Call a number of the dial plan (``"5001"``) or a SIP URI; returns at once.

        Use :meth:`Call.wait` to wait for the answer.

        Raises:
            PhoneError: the phone is not registered.
            CallError: the number is not valid.

        Taught in notebook 06.
        """
        number = str(number).strip()
        if not _NUMBER_RE.match(number):
            raise CallError(f"number {number!r} is not valid: dial digits such as 5001 or a sip: URI")
        if not self.registered:
            self._check_alive()
            raise PhoneError(f"the phone {self.account.name} is not registered: call phone.register() first")
        r = self._request(wire.Dial(number))
        with self._cv:
            call = Call(self, r.call, "outgoing", r.uri, number)
            self._calls[call.handle] = call
            for ev in self._orphans.pop(call.handle, []):
                self._on_call_event(ev)
        return call

    def wait_incoming(self, timeout: float = 30.0) -> Call:
        """Wait for the next incoming call (it is ringing: 180 was sent); returns it.

        Raises:
            CallError: no call arrived within ``timeout`` seconds.

        Taught in notebook 06.
        """
        deadline = time.monotonic() + timeout
        with self._cv:
            while not self._incoming:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise CallError(f"no call arrived at {self.account.name}/{self.account.number} within "
                                    f"{timeout:g} s: check that the phone is registered and call it")
                self._check_alive()
                self._cv.wait(min(left, 0.1))
            return self._incoming.pop(0)

    def trace(self) -> list[TraceEntry]:
        """Every SIP message this phone sent and received, oldest first.

        Each is a :class:`~voiplab.core.flow.TraceEntry` (a dict) ``{"time", "direction":
        "tx"|"rx", "local", "remote", "transport", "raw"}`` (time in wall-clock seconds,
        addresses as ``"ip:port"``); ``vl.Flow.from_trace(phone.trace())`` draws the flow.

        Taught in notebook 03 (the REGISTER / 401 / REGISTER / 200 exchange).
        """
        with self._cv:
            return [m.copy() for m in self._trace]

    def clear_trace(self) -> None:
        """Forget the SIP messages seen so far."""
        with self._cv:
            self._trace.clear()

    def is_alive(self) -> bool:
        """True while the agent process runs."""
        return self._proc is not None and self._proc.poll() is None and not self._dead

    def close(self, timeout: float = 3.0) -> None:
        """Hang up, unregister and stop the agent (idempotent).

        Taught in notebook 03.
        """
        if self._closed:
            return
        proc = self._proc
        if proc is not None and proc.poll() is None and not self._dead:
            with contextlib.suppress(PhoneError):
                self._request(wire.Shutdown(), timeout=timeout)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout)
        self._kill()
        self._closed = True

    def _kill(self) -> None:
        proc = self._proc
        if proc is None:
            return
        with contextlib.suppress(OSError, ValueError):
            if proc.stdin:
                proc.stdin.close()
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(2.0)
            except subprocess.TimeoutExpired:
                proc.kill()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(2.0)
        with contextlib.suppress(OSError, ValueError):
            if proc.stdout:
                proc.stdout.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        # never block in a finaliser: closing stdin makes the agent hang up and exit by itself
        with contextlib.suppress(Exception):
            if not self._closed and self._proc is not None:
                _close_pipe(self._proc)


def _read_loop(ref: weakref.ref[Phone], proc: subprocess.Popen[bytes], cv: threading.Condition,
               events: queue.Queue[Call | None]) -> None:
    """Reader thread: route the agent's replies and events to the Phone (if it still exists)."""
    assert proc.stdout is not None
    try:
        for raw in proc.stdout:
            try:
                msg = wire.decode_message(raw)
            except ProtocolError as e:
                print(f"voiplab phone: ignored a bad agent message ({e})", file=sys.stderr)
                continue
            phone = ref()
            if phone is None:
                break
            try:
                phone._on_message(msg)
            except Exception as e:  # noqa: BLE001 - the reader must survive a bad message
                print(f"voiplab phone: ignored a bad agent message ({e!r})", file=sys.stderr)
            del phone
    except (ValueError, OSError):  # close() closed the pipe under this read: the end, as at EOF
        pass
    phone = ref()
    if phone is not None:
        phone._dead = True
    with cv:
        cv.notify_all()
    events.put(None)


def _dispatch_loop(ref: weakref.ref[Phone], events: queue.Queue[Call | None]) -> None:
    """Callback thread: run ``on_incoming`` outside the reader (the callback may answer the call)."""
    while True:
        call = events.get()
        if call is None:
            return
        phone = ref()
        callback = phone.on_incoming if phone is not None else None
        del phone
        if callback is not None:
            try:
                callback(call)
            except Exception as e:  # noqa: BLE001 - a student's callback must not kill the phone
                print(f"on_incoming callback failed: {e!r}", file=sys.stderr)


def _close_pipe(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(Exception):
        if proc.stdin and not proc.stdin.closed:
            proc.stdin.close()
