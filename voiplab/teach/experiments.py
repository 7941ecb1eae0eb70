"""The lab experiments of chapters 3-5, one call each, so that notebook cells hold no protocol logic.

Each experiment records what happened in the lab into an :class:`Experiment`:

* :func:`record_registration`: a phone registers (REGISTER, 401 + digest challenge,
  REGISTER with Authorization, 200 OK), or fails with a wrong password;
* :func:`record_call`: a lab phone (rpi/5002) calls a number (the Alcatel, 5001), talks
  for a few seconds (a tone, optional DTMF) and hangs up;
* :func:`record_incoming_call`: the Alcatel calls the lab phone, which answers;
* :func:`from_pcap`: the same record from an existing capture (a sample, a file).

While the phones work, a live capture on the loopback interface records the lab's
addresses (SIP *and* RTP) when this user may capture. When it may not, there is no
pcap, a single clear message says why, and the flow is built from the phone's own SIP
trace (:meth:`voiplab.core.flow.Flow.from_trace`): a student without capture privileges
still gets every message seen from their phone. What the notebooks show next to an
experiment is in :mod:`voiplab.teach.explain`.

Example (notebook 04)::

    import voiplab as vl
    lab = vl.start_lab()
    exp = vl.record_call(lab, caller="rpi", number="5001")
    vl.plots.ladder(exp.call_flow, roles=exp.roles)

Taught in notebooks 03 (register), 04 (the INVITE flow) and 05 (RTP).
"""

from __future__ import annotations

import atexit
import html
import re
import shutil
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..capture.live import CAPTURE_FIXES, LiveCapture, capture_methods
from ..capture.sipread import read_flow
from ..capture.streams import streams
from ..capture.wav import read_wav
from ..config import LabConfig, default_config, load_config
from ..core.flow import Flow, FlowCall, TraceEntry
from ..core.rtpstats import RtpStream, StreamStats
from ..devices.alcatel import AlcatelCallRecord, SimulatedAlcatel
from ..devices.lab import Lab
from ..devices.phone import Call, Phone, Registration
from ..devices.wire import CallStats
from ..errors import CallError, CaptureError, PhoneError, RegistrationError, VoipLabError
from ..paths import scratch_dir
from .explain import AuthExchange, auth_exchange
from .media import StreamsTable
from .samples import SAMPLES_UID

__all__ = [
    "CAPTURE_PREFERENCE",
    "CaptureUnavailableWarning",
    "Experiment",
    "from_pcap",
    "record_call",
    "record_incoming_call",
    "record_registration",
]

#: live-capture methods, best first: external tools do not compete with the kernel for the GIL
CAPTURE_PREFERENCE = ("tcpdump", "dumpcap", "scapy")
#: seconds left after the last SIP message so that late packets reach the pcap
SETTLE_S = 0.3
#: seconds for the OPTIONS that Asterisk sends right after a registration (qualify) to be answered
QUALIFY_SETTLE_S = 0.2
#: seconds the callee may take to answer (the simulated Alcatel rings 2 s)
ANSWER_TIMEOUT_S = 15.0
#: seconds after the callee answered before DTMF is sent (the direct-media re-INVITEs are done by then)
DTMF_DELAY_S = 1.0


class CaptureUnavailableWarning(UserWarning):
    """Live capture is not permitted: the experiment's flow comes from the phone's trace."""


# ---------------------------------------------------------------------------- the experiment
@dataclass(eq=False)
class Experiment:
    """What one lab experiment recorded.

    Attributes:
        name: what was done (``"call rpi -> 5001"``).
        pcap: the capture file, or ``None`` when capture was not permitted or disabled.
        flow: the SIP flow: from the pcap (every host) or else from the phone's trace
            (what the student's phone sent and received).
        trace: the student's phone's SIP trace (``Phone.trace()`` entries).
        streams: the RTP streams of the pcap (:func:`voiplab.capture.streams.streams`), or ``None``.
        recording: ``(int16 samples, rate)`` of what the student's phone heard, or ``None``.
        call_stats: the phone's RTCP statistics of the call (``Call.stats()``), or ``None``.
        roles: ip -> lab role (``{"127.0.0.80": "pbx", ...}``) for ladder diagrams.
        capture_method: ``"tcpdump"``, ``"dumpcap"``, ``"scapy"`` or ``None``.
        note: why there is no pcap (empty when there is one).
        call_id: the Call-ID of the student's phone's call (its leg), or ``""``.
        registration: the :class:`~voiplab.devices.phone.Registration` of a successful register.
        error: the error message of a failed registration or call, or ``""``.
        remote: the other party's record (the simulated Alcatel's: DTMF heard, its recording).
        remote_recording: ``(samples, rate)`` of what the other party heard, when known.
        dtmf_sent: the DTMF digits sent.

    Taught in notebooks 03, 04 and 05.
    """

    name: str
    pcap: Path | None
    flow: Flow
    trace: list[TraceEntry]
    streams: list[RtpStream] | None
    recording: tuple[np.ndarray, int] | None
    call_stats: CallStats | None
    roles: dict[str, str]
    pbx: str
    capture_method: str | None = None
    note: str = ""
    call_id: str = ""
    registration: Registration | None = None
    error: str = ""
    remote: AlcatelCallRecord = field(default_factory=lambda: AlcatelCallRecord())
    remote_recording: tuple[np.ndarray, int] | None = None
    dtmf_sent: str = ""

    # -- derived views -------------------------------------------------------------
    @property
    def trace_flow(self) -> Flow:
        """The flow as the student's phone saw it (from its trace; no capture needed)."""
        return Flow.from_trace(self.trace, pbx=self.pbx)

    @property
    def call(self) -> FlowCall | None:
        """The call of this experiment in :attr:`flow` (both B2BUA legs when captured)."""
        for c in self.flow.calls:
            if self.call_id and self.call_id in c.call_ids:
                return c
        return self.flow.calls[-1] if self.flow.calls else None

    @property
    def call_flow(self) -> Flow:
        """Only the messages of :attr:`call` (no OPTIONS pings, no REGISTER): for the ladder."""
        call = self.call
        return self.flow if call is None else self.flow.filter(call=call)

    @property
    def stream_stats(self) -> list[StreamStats]:
        """The statistics of every RTP stream (tshark's ``rtp,streams`` rows); ``[]`` without a pcap."""
        return [s.stats for s in self.streams or []]

    def auth_exchange(self, method: str = "REGISTER", *, after: float | None = None) -> AuthExchange:
        """The first digest-challenged ``method`` request of the flow, its challenge and the retry.

        Raises:
            VoipLabError: the flow has no challenged ``method`` request.
        """
        return auth_exchange(self.flow, method, after=after)

    def stream(self, src: str, dst: str) -> RtpStream:
        """The RTP stream from ``src`` to ``dst`` (lab roles such as ``"alcatel"``, ``"pbx"``, or IPs).

        When several match (e.g. before and after a re-INVITE), the one with the most packets.

        Raises:
            VoipLabError: there is no capture, or no such stream in it.

        Taught in notebook 05.
        """
        if not self.streams:
            raise VoipLabError(f"the experiment has no RTP streams ({self.note or 'none in the capture'}): "
                               "record it with capture, or use vl.scenarios.from_pcap(sample_capture())")

        def ip_of(who: str) -> str:
            for ip, role in self.roles.items():
                if who in (ip, role) or role.split(" ")[0] == who:
                    return ip
            return who

        a, b = ip_of(src), ip_of(dst)
        found = [s for s in self.streams if (s.src, s.dst) == (a, b)]
        if not found:
            known = ", ".join(f"{s.src} -> {s.dst}" for s in self.streams)
            raise VoipLabError(f"no RTP stream from {src} to {dst} in this capture: the streams are {known}")
        return max(found, key=len)

    def streams_table(self) -> StreamsTable:
        """An HTML table of the RTP streams with their path: via the PBX or direct."""
        return StreamsTable(self.stream_stats, self.pbx, self.note)

    def __repr__(self) -> str:
        parts = [f"{len(self.flow)} SIP messages"]
        calls = self.flow.calls
        if calls:
            legs = max(len(c.legs) for c in calls)
            parts.append(f"{len(calls)} call{'s' if len(calls) != 1 else ''} ({legs} leg{'s' if legs != 1 else ''})")
        if self.streams:
            parts.append(f"{len(self.streams)} RTP streams")
        if self.registration is not None:
            parts.append(f"registered ({self.registration.status} {self.registration.reason})")
        if self.error:
            parts.append("failed (see .error)")
        where = f"pcap {self.pcap}" if self.pcap else "no pcap, flow from the phone's trace"
        return f"Experiment({self.name}: {', '.join(parts)}; {where})"

    def _repr_html_(self) -> str:
        rows = [("experiment", self.name)]
        if self.pcap is not None:
            rows.append(("capture", f"{self.pcap} ({self.capture_method})"))
        else:
            rows.append(("capture", f"none: {self.note}"))
        source = "the capture (every host)" if self.pcap else "the phone's SIP trace (what it sent and received)"
        rows.append(("SIP", f"{len(self.flow)} messages from {source}, {len(self.flow.calls)} call(s)"))
        call = self.call
        if call is not None:
            rows.append(("call", (f"{call.from_} → {call.to}: {call.state}, {len(call.legs)} leg(s), "
                                 f"{len(call.media_changes)} media change(s)")))
        if self.streams is not None:
            rows.append(("RTP", f"{len(self.streams)} streams"))
        if self.recording is not None:
            samples, rate = self.recording
            rows.append(("recording", f"{len(samples) / rate:.1f} s heard by the phone"))
        if self.call_stats:
            s = self.call_stats
            rows.append(("phone stats", (f"codec {s.get('codec')}, rx {s.get('rx_packets')} / tx "
                                        f"{s.get('tx_packets')} packets, jitter {s.get('jitter_ms')} ms")))
        if self.dtmf_sent:
            heard = self.remote.get("dtmf")
            rows.append(("DTMF", f"sent {self.dtmf_sent!r}" + (f", the other side heard {heard!r}" if heard else "")))
        if self.registration is not None:
            rows.append(("registration", repr(self.registration)))
        if self.error:
            rows.append(("error", self.error))
        body = "".join(f"<tr><th style='text-align:left'>{html.escape(k)}</th>"
                       f"<td style='text-align:left'>{html.escape(str(v))}</td></tr>" for k, v in rows)
        return f"<table>{body}</table>"


# ---------------------------------------------------------------------------- capture plumbing


class _Recorder:
    """Starts the live capture when permitted and wanted; remembers why not otherwise."""

    def __init__(self, config: LabConfig, name: str, capture: bool | None, interface: str | None) -> None:
        self.capture: LiveCapture | None = None
        self.note = ""
        self.method: str | None = None
        if capture is False:
            self.note = "capture disabled (capture=False)"
            return
        addresses = [config.pbx.host, *(a.address for a in config.accounts)]
        iface = interface or ("lo" if config.is_local else "any")
        available = capture_methods()
        method = next((m for m in CAPTURE_PREFERENCE if m in available), None)
        if method is None:
            self.note = f"live capture is not permitted for this user: {CAPTURE_FIXES}"
            if capture:
                raise CaptureError(self.note)
            _warn_once(self.note)
            return
        directory = scratch_dir("captures", "experiment-")
        # removed when Python exits: copy experiment.pcap elsewhere to keep it
        atexit.register(shutil.rmtree, str(directory), True)
        slug = re.sub(r"[^A-Za-z0-9]+", "_", name).strip("_")
        cap = LiveCapture(iface, addresses=addresses, path=directory / f"{slug}.pcap", method=method)
        try:
            cap.start()
        except CaptureError as e:
            self.note = str(e)
            if capture:
                raise
            _warn_once(self.note)
            return
        self.capture, self.method = cap, method

    def stop(self) -> Path | None:
        if self.capture is None:
            return None
        time.sleep(SETTLE_S)
        return Path(self.capture.stop())

    def abort(self) -> None:
        if self.capture is not None and self.capture.running:
            self.capture.stop()


_WARNED: set[str] = set()


def _warn_once(note: str) -> None:
    if note in _WARNED:
        return
    _WARNED.add(note)
    warnings.warn(f"no capture: {note}. The flow will come from the phone's own SIP trace "
                  "(what it sent and received), and there are no RTP streams to analyse.",
                  CaptureUnavailableWarning, stacklevel=3)


def _finish(name: str, config: LabConfig, recorder: _Recorder, pcap: Path | None, trace: list[TraceEntry],
            **extra: Any) -> Experiment:

    pbx = config.pbx.host
    if pcap is not None:
        flow = read_flow(pcap, pbx=pbx)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a truncated last record is normal for a stopped capture
            found = streams(pcap)
    else:
        flow = Flow.from_trace(trace, pbx=pbx)
        found = None
    return Experiment(name=name, pcap=pcap, flow=flow, trace=trace, streams=found, roles=config.roles(),
                      pbx=pbx, capture_method=recorder.method if pcap else None, note=recorder.note, **extra)


def _capture_config(config: LabConfig, pcap: Path) -> LabConfig:
    """The lab a capture was recorded in: ``config`` if its PBX is in it, else the report's local lab.

    A sample capture (recorded in root's default lab on 127.0.0.80) read in a lab on other
    addresses (a classroom, a second user's lab) keeps its own PBX and roles.
    """
    hosts = {m.src.rsplit(":", 1)[0] for m in read_flow(pcap).messages}
    if config.pbx.host in hosts or not hosts:
        return config
    for default in (LabConfig(), default_config(SAMPLES_UID)):
        if default.pbx.host in hosts:
            return default
    return config


def _config_of(lab: Lab | LabConfig | None) -> LabConfig:
    if lab is None:
        return load_config()
    if isinstance(lab, LabConfig):
        return lab
    return lab.config


# ---------------------------------------------------------------------------- experiments


def record_registration(lab: Lab | LabConfig | None = None, account: str = "rpi", password: str | None = None, *,
                        capture: bool | None = None, interface: str | None = None) -> Experiment:
    """Register a phone while capturing: REGISTER, 401 + challenge, REGISTER + Authorization, 200 OK.

    The phone is closed afterwards (the capture is stopped first, so its un-REGISTER is
    not in the pcap). A wrong ``password`` does not raise: the experiment's ``error`` says
    what the PBX answered and the flow shows it.

    Parameters:
        lab: the :class:`~voiplab.devices.lab.Lab` (or a LabConfig; default: the current lab).
        account: the account to register (``"rpi"``, ``"guillaume"``, a number).
        password: override the account's password (try a wrong one).
        capture: ``None`` capture if permitted; ``True`` capture or raise
            :class:`CaptureError`; ``False`` never capture (flow from the trace).
        interface: the capture interface (``"lo"`` for the local lab).

    Taught in notebook 03.
    """
    config = _config_of(lab)
    acc = config.account(account)
    name = f"registration of {acc.name}" + (" (wrong password)" if password not in (None, acc.password) else "")
    recorder = _Recorder(config, name, capture, interface)
    phone: Phone | None = None
    registration, error = None, ""
    try:
        phone = Phone(acc.name, config, password=password)
        try:
            registration = phone.register()
        except RegistrationError as e:
            error = str(e)
        time.sleep(0.1)
        pcap = recorder.stop()
        trace = phone.trace()
    except BaseException:
        recorder.abort()
        raise
    finally:
        if phone is not None:
            phone.close()
    return _finish(name, config, recorder, pcap, trace, recording=None, call_stats=None,
                   registration=registration, error=error)


def _alcatel_for(config: LabConfig, number: str) -> SimulatedAlcatel | None:
    """The simulated Alcatel if ``number`` is its number and it runs here, else None."""
    if not (config.is_local and config.alcatel.simulated):
        return None
    acc = config.account("alcatel")
    if number not in (acc.number, acc.name):
        return None
    sim = SimulatedAlcatel(config)
    if not sim.is_running():
        raise PhoneError("the simulated Alcatel is not running: start the lab with vl.start_lab() "
                         "or 'voiplab lab up'")
    return sim


def _wait_idle(sim: SimulatedAlcatel, timeout: float = 15.0) -> None:
    """Wait until the simulated Alcatel has no call (another notebook or test may be using it)."""
    if (sim.status().get("current") or None) is not None:
        sim.wait_call_ended(timeout=timeout)


def _received_reinvite(phone: Phone, since: int) -> bool:
    for entry in phone.trace()[since:]:
        first = entry["raw"].split("\n", 1)[0]
        if entry["direction"] == "rx" and first.startswith("INVITE ") and ";tag=" in _header(entry["raw"], "To"):
            return True
    return False


def _header(raw: str, name: str) -> str:
    m = re.search(rf"^(?:{name}|{name[0].lower()}):(.*)$", raw, re.IGNORECASE | re.MULTILINE)
    return m.group(1) if m else ""


def _wait(predicate: Callable[[], bool], timeout: float, step: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


def record_call(lab: Lab | LabConfig | None = None, caller: str = "rpi", number: str = "5001", seconds: float = 4.0,
                dtmf: str = "", audio: str = "tone:440", *, capture: bool | None = None,
                interface: str | None = None, answer_timeout: float = ANSWER_TIMEOUT_S) -> Experiment:
    """A real call in the lab, recorded: ``caller`` dials ``number``, talks, hangs up.

    The caller registers first (not captured: notebook 03 shows that), then the capture
    starts, the call is made, the callee answers (the simulated Alcatel after 2 s of
    ringing; another lab account is answered by a second phone of this process),
    ``seconds`` of conversation follow (``dtmf`` is sent after 1 s), then the caller
    hangs up and the capture stops once the other leg is over.

    Parameters:
        lab: the :class:`~voiplab.devices.lab.Lab` (or a LabConfig; default: the current lab).
        caller: the calling account (the student's phone, ``"rpi"``).
        number: the number dialed (``"5001"``: the Alcatel).
        seconds: seconds of conversation after the callee answered.
        dtmf: digits to send as RFC 4733 events (``"1234#"``), or ``""``.
        audio: what the caller sends (``"tone:440"``, ``"silence"``, a WAV path).
        capture: ``None`` capture if permitted; ``True`` capture or raise; ``False`` never.
        interface: the capture interface (``"lo"`` for the local lab).
        answer_timeout: seconds the callee may take to answer.

    Raises:
        RegistrationError: the caller could not register.
        CallError: the call failed (busy, not found, not answered).
        CaptureError: ``capture=True`` and capture is not permitted.

    Taught in notebooks 04 and 05.
    """
    config = _config_of(lab)
    acc = config.account(caller)
    sim = _alcatel_for(config, number)
    callee_phone: Phone | None = None
    if sim is None:
        target = next((a for a in config.accounts if number in (a.number, a.name)), None)
        if target is not None and target.name != acc.name and not (target.name == "alcatel" and not config.is_local):
            callee_phone = Phone(target.name, config, audio="tone:1000", on_incoming=lambda c: c.answer())
    with _CallSession(config, f"call {acc.name} -> {number}", acc.name, audio, capture, interface,
                      sim, callee_phone) as session:
        call = session.phone.call(number)
        call.wait("CONFIRMED", timeout=answer_timeout)
        _wait_answered(call, session.phone, sim, callee_phone, answer_timeout)
        start = time.monotonic()
        if dtmf:
            time.sleep(DTMF_DELAY_S)
            call.send_dtmf(dtmf)
        time.sleep(max(0.0, seconds - (time.monotonic() - start)))
        return session.finish(call, dtmf_sent=dtmf)


class _CallSession:
    """One recorded call: the student's phone registered (not captured), the capture, the other side.

    ``with`` it: on any error the capture is stopped and every phone closed; :meth:`finish`
    hangs up, waits for the other side and builds the :class:`Experiment`.
    """

    def __init__(self, config: LabConfig, name: str, account: str, audio: str, capture: bool | None,
                 interface: str | None, sim: SimulatedAlcatel | None, other_phone: Phone | None) -> None:
        self.config, self.name, self.sim, self.other_phone = config, name, sim, other_phone
        self.capture, self.interface = capture, interface
        self.account, self.audio = account, audio
        self.recorder: _Recorder | None = None

    def __enter__(self) -> _CallSession:
        try:
            if self.other_phone is not None:
                self.other_phone.register()
            if self.sim is not None:
                _wait_idle(self.sim)
            self.phone = Phone(self.account, self.config, audio=self.audio)
            self.phone.register()
            time.sleep(QUALIFY_SETTLE_S)  # Asterisk's qualify OPTIONS follows the registration
            self.phone.clear_trace()
            self.recorder = _Recorder(self.config, self.name, self.capture, self.interface)
        except BaseException:
            self.__exit__()
            raise
        return self

    def finish(self, call: Call, **extra: Any) -> Experiment:
        """Hang up ``call``, wait for the other side, stop the capture; the experiment."""
        assert self.recorder is not None
        call.hangup()
        call.wait("DISCONNECTED", timeout=10)
        remote: AlcatelCallRecord = {}
        if self.sim is not None:
            remote = self.sim.wait_call_ended(timeout=10)
        elif self.other_phone is not None:
            other = self.other_phone
            _wait(lambda: not other.calls, 5.0)
        pcap = self.recorder.stop()
        return _finish(self.name, self.config, self.recorder, pcap, self.phone.trace(), recording=_recording_of(call),
                       call_stats=call.stats(), call_id=call.call_id, remote=remote,
                       remote_recording=_wav_or_none(remote.get("recording")), **extra)

    def __exit__(self, *exc: object) -> None:
        if self.recorder is not None:
            self.recorder.abort()
        phone = getattr(self, "phone", None)
        if phone is not None:
            phone.close()
        if self.other_phone is not None:
            self.other_phone.close()


def _wait_answered(call: Call, phone: Phone, sim: SimulatedAlcatel | None, callee_phone: Phone | None,
                   timeout: float) -> None:
    """Wait until the *callee* answered (Asterisk already answered the caller: Answer(500))."""
    if sim is not None:
        try:
            sim.wait_in_call(timeout=timeout)
        except PhoneError as e:
            raise CallError(f"the call to the Alcatel was not answered: {e}") from None
    elif callee_phone is not None:
        _wait(lambda: any(c.state == "CONFIRMED" for c in callee_phone.calls), timeout)
    else:  # a real phone: its answer shows as Asterisk's direct-media re-INVITE
        _wait(lambda: _received_reinvite(phone, 0), timeout)
    # the direct-media re-INVITEs follow the answer within a few ms
    _wait(lambda: _received_reinvite(phone, 0), 1.0)
    if call.state == "DISCONNECTED":
        raise CallError(f"the call ended with {call.status} {call.reason} before it was answered: "
                        "see the experiment's flow", status=call.status, reason=call.reason)


def _recording_of(call: Call) -> tuple[np.ndarray, int] | None:
    try:
        return call.recording()
    except CallError:
        return None


def _wav_or_none(path: str | None) -> tuple[np.ndarray, int] | None:
    if not path:
        return None
    try:
        return read_wav(path)
    except (OSError, PhoneError):
        return None


def record_incoming_call(lab: Lab | LabConfig | None = None, from_: str = "alcatel", to: str = "rpi",
                         seconds: float = 4.0, audio: str = "tone:440", *, capture: bool | None = None,
                         interface: str | None = None) -> Experiment:
    """The other direction (chapter 5 of the report): ``from_`` calls ``to``, which answers.

    ``to`` is the student's phone (it registers first, not captured); ``from_`` is the
    simulated Alcatel in the local lab, or another lab account (a second phone here).
    After ``seconds`` of conversation the student's phone hangs up.

    Raises:
        CallError: no call arrived or it was not confirmed.

    Taught in notebook 04 (the call in the other direction).
    """
    config = _config_of(lab)
    acc = config.account(to)
    caller_acc = config.account(from_)
    sim = _alcatel_for(config, caller_acc.number)
    caller_phone = Phone(caller_acc.name, config, audio="tone:1000") if sim is None else None
    with _CallSession(config, f"call {caller_acc.name} -> {acc.number} ({acc.name})", acc.name, audio, capture,
                      interface, sim, caller_phone) as session:
        if sim is not None:
            sim.call(acc.number)
        elif caller_phone is not None:
            caller_phone.call(acc.number)
        incoming = session.phone.wait_incoming(timeout=ANSWER_TIMEOUT_S)
        incoming.answer()
        incoming.wait("CONFIRMED", timeout=10)
        _wait(lambda: _received_reinvite(session.phone, 0), 1.0)
        time.sleep(seconds)
        return session.finish(incoming)


def from_pcap(path: str | Path, lab: Lab | LabConfig | None = None, name: str | None = None) -> Experiment:
    """An :class:`Experiment` from an existing capture (no phones): the flow and RTP streams of ``path``.

    For students who cannot capture: ``from_pcap(sample_capture("call_rpi_to_alcatel"))``
    gives what :func:`record_call` would have recorded (without the phone's recording).

    Raises:
        CaptureError: the file is not a capture.

    Taught in notebook 05.
    """
    config = _capture_config(_config_of(lab), Path(path))
    pcap = Path(path)
    recorder = _Recorder.__new__(_Recorder)
    recorder.capture, recorder.note, recorder.method = None, "", "file"
    exp = _finish(name or pcap.name, config, recorder, pcap, [], recording=None, call_stats=None)
    two_legs = [c for c in exp.flow.calls if len(c.legs) > 1]
    call = two_legs[0] if two_legs else (exp.flow.calls[0] if exp.flow.calls else None)
    exp.call_id = call.call_ids[0] if call else ""
    return exp
