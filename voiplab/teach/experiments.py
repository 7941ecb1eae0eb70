"""The lab experiments of chapters 3-5, one call each, so that notebook cells hold no protocol logic.

Each experiment records what happened in the lab into an :class:`Experiment`:

* :func:`record_registration`: a phone registers (REGISTER, 401 + digest challenge,
  REGISTER with Authorization, 200 OK), or fails with a wrong password;
* :func:`record_call`: a lab phone (rpi/5002) calls a number (the Alcatel, 5001), talks
  for a few seconds (a tone, optional DTMF) and hangs up;
* :func:`record_incoming_call`: the Alcatel calls the lab phone, which answers.

While the phones work, a live capture on the loopback interface records the lab's
addresses (SIP *and* RTP) when this user may capture. When it may not, there is no
pcap, a single clear message says why, and the flow is built from the phone's own SIP
trace (:func:`voiplab.capture.flow_from_trace`): a student without capture privileges
still gets every message seen from their phone.

Helpers for what the notebooks show next to an experiment:
:func:`sdp_side_by_side` (offer and answer), :func:`answer_timing` (why Asterisk answers
the caller before the callee rings: ``Answer(500)``), :func:`dtmf_digits` (RFC 4733),
:func:`rtp_packet` (one RTP packet as a scapy object), :func:`tshark_rtp_streams` and
:func:`compare_with_tshark` (``tshark -q -z rtp,streams`` next to voiplab's figures).

Example (notebook 04)::

    import voiplab as vl
    lab = vl.start_lab()
    exp = vl.scenarios.record_call(lab, caller="rpi", number="5001")
    vl.plots.ladder(exp.call_flow, roles=exp.roles)

Taught in notebooks 03 (register), 04 (the INVITE flow) and 05 (RTP).
"""

from __future__ import annotations

import atexit
import html
import re
import shutil
import subprocess
import tempfile
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import CallError, CaptureError, PhoneError, RegistrationError, VoipLabError
from ..core.flow import Call as FlowCall
from ..core.flow import Flow, FlowMessage

if TYPE_CHECKING:
    from ..core.dtmf import Digit
    from ..devices.lab import Lab
    from ..devices.phone import Phone
    from ..core.rtp import RtpStream, StreamStats

__all__ = [
    "CAPTURE_PREFERENCE",
    "AnswerTiming",
    "AuthExchange",
    "CaptureUnavailableWarning",
    "Experiment",
    "QualityTable",
    "SdpExchange",
    "TsharkComparison",
    "answer_timing",
    "auth_exchange",
    "compare_with_tshark",
    "dtmf_digits",
    "from_pcap",
    "lab_roles",
    "quality_table",
    "record_call",
    "record_incoming_call",
    "record_registration",
    "rtp_packet",
    "sample_capture",
    "sdp_side_by_side",
    "stream_path",
    "tshark_rtp_streams",
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
#: the lab captures committed with the source (tests/data), for students who cannot capture
SAMPLE_DIR = Path(__file__).resolve().parent.parent.parent / "tests" / "data"
_TSHARK_ROW = re.compile(
    r"\s*(?P<start>[\d.]+)\s+(?P<end>[\d.]+)\s+(?P<src>\S+)\s+(?P<src_port>\d+)\s+(?P<dst>\S+)\s+"
    r"(?P<dst_port>\d+)\s+(?P<ssrc>0x[0-9A-Fa-f]{8})\s+(?P<payload>.+?)\s+(?P<packets>\d+)\s+"
    r"(?P<lost>-?\d+) \((?P<lost_percent>[-\d.]+)%\)\s+(?P<min_delta_ms>\S+)\s+(?P<mean_delta_ms>\S+)\s+"
    r"(?P<max_delta_ms>\S+)\s+(?P<min_jitter_ms>\S+)\s+(?P<mean_jitter_ms>\S+)\s+(?P<max_jitter_ms>\S+)"
    r"\s*(?P<problem>X?)\s*$"
)
#: the columns compared with tshark, with their printed precision
TSHARK_COLUMNS: tuple[tuple[str, str], ...] = (
    ("payload", "s"), ("packets", "d"), ("lost", "d"), ("min_delta_ms", ".3f"), ("mean_delta_ms", ".3f"),
    ("max_delta_ms", ".3f"), ("min_jitter_ms", ".3f"), ("mean_jitter_ms", ".3f"), ("max_jitter_ms", ".3f"),
    ("start", ".6f"), ("end", ".6f"),
)


class CaptureUnavailableWarning(UserWarning):
    """Live capture is not permitted: the experiment's flow comes from the phone's trace."""


# ---------------------------------------------------------------------------- the experiment


@dataclass(frozen=True)
class AuthExchange:
    """A digest-authenticated request: the first try, the challenge, the second try, the answer.

    Attributes:
        request: the request without credentials (``REGISTER`` or ``INVITE``).
        challenge: the ``401 Unauthorized`` (or 407) carrying ``WWW-Authenticate``.
        authorized: the same request sent again with ``Authorization``, or ``None``.
        final: the final answer to ``authorized`` (``200 OK``, or 401/403 with a wrong password).

    Taught in notebook 03 (REGISTER) and 04 (INVITE).
    """

    request: FlowMessage
    challenge: FlowMessage
    authorized: FlowMessage | None
    final: FlowMessage | None

    def __repr__(self) -> str:
        parts = [self.request.label, self.challenge.label]
        if self.authorized is not None:
            parts.append(self.authorized.label + " + Authorization")
        if self.final is not None:
            parts.append(self.final.label)
        return f"AuthExchange({' -> '.join(parts)})"


@dataclass(eq=False)
class Experiment:
    """What one lab experiment recorded.

    Attributes:
        name: what was done (``"call rpi -> 5001"``).
        pcap: the capture file, or ``None`` when capture was not permitted or disabled.
        flow: the SIP flow: from the pcap (every host) or else from the phone's trace
            (what the student's phone sent and received).
        trace: the student's phone's SIP trace (``Phone.trace()`` entries).
        streams: the RTP streams of the pcap (:func:`voiplab.analysis.streams`), or ``None``.
        recording: ``(int16 samples, rate)`` of what the student's phone heard, or ``None``.
        call_stats: the phone's RTCP statistics of the call (``Call.stats()``), or ``None``.
        roles: ip -> lab role (``{"127.0.0.80": "pbx", ...}``) for ladder diagrams.
        capture_method: ``"tcpdump"``, ``"dumpcap"``, ``"scapy"`` or ``None``.
        note: why there is no pcap (empty when there is one).
        call_id: the Call-ID of the student's phone's call (its leg), or ``""``.
        registration: the :class:`~voiplab.phone.Registration` of a successful register.
        error: the error message of a failed registration or call, or ``""``.
        remote: the other party's record (the simulated Alcatel's: DTMF heard, its recording).
        remote_recording: ``(samples, rate)`` of what the other party heard, when known.
        dtmf_sent: the DTMF digits sent.

    Taught in notebooks 03, 04 and 05.
    """

    name: str
    pcap: Path | None
    flow: Flow
    trace: list[dict[str, Any]]
    streams: list[RtpStream] | None
    recording: tuple[np.ndarray, int] | None
    call_stats: dict[str, Any] | None
    roles: dict[str, str]
    pbx: str
    capture_method: str | None = None
    note: str = ""
    call_id: str = ""
    registration: Any = None
    error: str = ""
    remote: dict[str, Any] = field(default_factory=dict)
    remote_recording: tuple[np.ndarray, int] | None = None
    dtmf_sent: str = ""

    # -- derived views -------------------------------------------------------------
    @property
    def trace_flow(self) -> Flow:
        """The flow as the student's phone saw it (from its trace; no capture needed)."""
        from ..capture.sipread import flow_from_trace

        return flow_from_trace(self.trace, pbx=self.pbx)

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

    def streams_table(self) -> Any:
        """An HTML table of the RTP streams with their path: via the PBX or direct."""
        return _StreamsTable(self.stream_stats, self.pbx, self.note)

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


def lab_roles(config: Any) -> dict[str, str]:
    """ip -> lab role: ``{"127.0.0.80": "pbx", "127.0.0.81": "alcatel", "127.0.0.82": "rpi", ...}``.

    Taught in notebook 04 (the ladder's lifelines).
    """
    roles = {config.pbx.host: "pbx"}
    for account in config.accounts:
        roles.setdefault(account.address, f"{account.name} ({account.number})")
    return roles


class _Recorder:
    """Starts the live capture when permitted and wanted; remembers why not otherwise."""

    def __init__(self, config: Any, name: str, capture: bool | None, interface: str | None) -> None:
        from ..capture.sipread import LiveCapture, capture_methods

        self.capture: Any = None
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
            from ..capture.sipread import CAPTURE_FIXES

            self.note = f"live capture is not permitted for this user: {CAPTURE_FIXES}"
            if capture:
                raise CaptureError(self.note)
            _warn_once(self.note)
            return
        directory = Path(tempfile.mkdtemp(prefix="voiplab-experiment-"))
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


def _finish(name: str, config: Any, recorder: _Recorder, pcap: Path | None, trace: list[dict[str, Any]],
            **extra: Any) -> Experiment:
    from ..capture.sipread import flow_from_trace, read_flow

    pbx = config.pbx.host
    if pcap is not None:
        flow = read_flow(pcap, pbx=pbx)
        from ..capture.streams import streams

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a truncated last record is normal for a stopped capture
            found = streams(pcap)
    else:
        flow = flow_from_trace(trace, pbx=pbx)
        found = None
    return Experiment(name=name, pcap=pcap, flow=flow, trace=trace, streams=found, roles=lab_roles(config),
                      pbx=pbx, capture_method=recorder.method if pcap else None, note=recorder.note, **extra)


def _config_of(lab: Any) -> Any:
    from ..config import LabConfig, load_config

    if lab is None:
        return load_config()
    if isinstance(lab, LabConfig):
        return lab
    return lab.config


# ---------------------------------------------------------------------------- experiments


def record_registration(lab: Lab | Any = None, account: str = "rpi", password: str | None = None, *,
                        capture: bool | None = None, interface: str | None = None) -> Experiment:
    """Register a phone while capturing: REGISTER, 401 + challenge, REGISTER + Authorization, 200 OK.

    The phone is closed afterwards (the capture is stopped first, so its un-REGISTER is
    not in the pcap). A wrong ``password`` does not raise: the experiment's ``error`` says
    what the PBX answered and the flow shows it.

    Parameters:
        lab: the :class:`~voiplab.lab.Lab` (or a LabConfig; default: the current lab).
        account: the account to register (``"rpi"``, ``"guillaume"``, a number).
        password: override the account's password (try a wrong one).
        capture: ``None`` capture if permitted; ``True`` capture or raise
            :class:`CaptureError`; ``False`` never capture (flow from the trace).
        interface: the capture interface (``"lo"`` for the local lab).

    Taught in notebook 03.
    """
    from ..devices.phone import Phone

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


def _alcatel_for(config: Any, number: str) -> Any:
    """The simulated Alcatel if ``number`` is its number and it runs here, else None."""
    if not (config.is_local and config.alcatel.simulated):
        return None
    acc = config.account("alcatel")
    if number not in (acc.number, acc.name):
        return None
    from ..devices.alcatel import SimulatedAlcatel

    sim = SimulatedAlcatel(config)
    if not sim.is_running():
        raise PhoneError("the simulated Alcatel is not running: start the lab with vl.start_lab() "
                         "or 'voiplab lab up'")
    return sim


def _wait_idle(sim: Any, timeout: float = 15.0) -> None:
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


def record_call(lab: Lab | Any = None, caller: str = "rpi", number: str = "5001", seconds: float = 4.0,
                dtmf: str = "", audio: str = "tone:440", *, capture: bool | None = None,
                interface: str | None = None, answer_timeout: float = ANSWER_TIMEOUT_S) -> Experiment:
    """A real call in the lab, recorded: ``caller`` dials ``number``, talks, hangs up.

    The caller registers first (not captured: notebook 03 shows that), then the capture
    starts, the call is made, the callee answers (the simulated Alcatel after 2 s of
    ringing; another lab account is answered by a second phone of this process),
    ``seconds`` of conversation follow (``dtmf`` is sent after 1 s), then the caller
    hangs up and the capture stops once the other leg is over.

    Parameters:
        lab: the :class:`~voiplab.lab.Lab` (or a LabConfig; default: the current lab).
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
    from ..devices.phone import Phone

    config = _config_of(lab)
    acc = config.account(caller)
    name = f"call {acc.name} -> {number}"
    sim = _alcatel_for(config, number)
    callee_phone: Phone | None = None
    if sim is None:
        target = next((a for a in config.accounts if number in (a.number, a.name)), None)
        if target is not None and target.name != acc.name and not (target.name == "alcatel" and not config.is_local):
            callee_phone = Phone(target.name, config, audio="tone:1000",
                                 on_incoming=lambda c: c.answer())
            callee_phone.register()
    if sim is not None:
        _wait_idle(sim)
    phone = Phone(acc.name, config, audio=audio)
    recorder: _Recorder | None = None
    try:
        phone.register()
        time.sleep(QUALIFY_SETTLE_S)  # Asterisk's qualify OPTIONS follows the registration
        phone.clear_trace()
        recorder = _Recorder(config, name, capture, interface)
        call = phone.call(number)
        call.wait("CONFIRMED", timeout=answer_timeout)
        _wait_answered(call, phone, sim, callee_phone, answer_timeout)
        start = time.monotonic()
        if dtmf:
            time.sleep(DTMF_DELAY_S)
            call.send_dtmf(dtmf)
        time.sleep(max(0.0, seconds - (time.monotonic() - start)))
        remote, pcap, trace, recording, stats = _hang_up(call, phone, sim, callee_phone, recorder)
    except BaseException:
        if recorder is not None:
            recorder.abort()
        raise
    finally:
        phone.close()
        if callee_phone is not None:
            callee_phone.close()
    return _finish(name, config, recorder, pcap, trace, recording=recording, call_stats=stats,
                   call_id=call.call_id, remote=remote, remote_recording=_wav_or_none(remote.get("recording")),
                   dtmf_sent=dtmf)


def _hang_up(call: Any, phone: Phone, sim: Any, other_phone: Phone | None,
             recorder: _Recorder) -> tuple[dict[str, Any], Path | None, list[dict[str, Any]], Any, dict[str, Any]]:
    """Hang up ``call``, wait for the other side, stop the capture; what the experiment keeps."""
    call.hangup()
    call.wait("DISCONNECTED", timeout=10)
    remote: dict[str, Any] = {}
    if sim is not None:
        remote = sim.wait_call_ended(timeout=10)
    elif other_phone is not None:
        _wait(lambda: not other_phone.calls, 5.0)
    pcap = recorder.stop()
    return remote, pcap, phone.trace(), _recording_of(call), call.stats()


def _wait_answered(call: Any, phone: Phone, sim: Any, callee_phone: Phone | None, timeout: float) -> None:
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


def _recording_of(call: Any) -> tuple[np.ndarray, int] | None:
    try:
        return call.recording()
    except CallError:
        return None


def _wav_or_none(path: str | None) -> tuple[np.ndarray, int] | None:
    if not path:
        return None
    from ..devices.phone import read_wav

    try:
        return read_wav(path)
    except (OSError, PhoneError):
        return None


def record_incoming_call(lab: Lab | Any = None, from_: str = "alcatel", to: str = "rpi", seconds: float = 4.0,
                         audio: str = "tone:440", *, capture: bool | None = None,
                         interface: str | None = None) -> Experiment:
    """The other direction (chapter 5 of the report): ``from_`` calls ``to``, which answers.

    ``to`` is the student's phone (it registers first, not captured); ``from_`` is the
    simulated Alcatel in the local lab, or another lab account (a second phone here).
    After ``seconds`` of conversation the student's phone hangs up.

    Raises:
        CallError: no call arrived or it was not confirmed.

    Taught in notebook 04 (the call in the other direction).
    """
    from ..devices.phone import Phone

    config = _config_of(lab)
    acc = config.account(to)
    caller_acc = config.account(from_)
    name = f"call {caller_acc.name} -> {acc.number} ({acc.name})"
    sim = _alcatel_for(config, caller_acc.number)
    caller_phone: Phone | None = None
    if sim is None:
        caller_phone = Phone(caller_acc.name, config, audio="tone:1000")
        caller_phone.register()
    else:
        _wait_idle(sim)
    phone = Phone(acc.name, config, audio=audio)
    recorder: _Recorder | None = None
    try:
        phone.register()
        time.sleep(QUALIFY_SETTLE_S)  # Asterisk's qualify OPTIONS follows the registration
        phone.clear_trace()
        recorder = _Recorder(config, name, capture, interface)
        if sim is not None:
            sim.call(acc.number)
        else:
            assert caller_phone is not None
            caller_phone.call(acc.number)
        incoming = phone.wait_incoming(timeout=ANSWER_TIMEOUT_S)
        incoming.answer()
        incoming.wait("CONFIRMED", timeout=10)
        _wait(lambda: _received_reinvite(phone, 0), 1.0)
        time.sleep(seconds)
        remote, pcap, trace, recording, stats = _hang_up(incoming, phone, sim, caller_phone, recorder)
    except BaseException:
        if recorder is not None:
            recorder.abort()
        raise
    finally:
        phone.close()
        if caller_phone is not None:
            caller_phone.close()
    return _finish(name, config, recorder, pcap, trace, recording=recording, call_stats=stats,
                   call_id=incoming.call_id, remote=remote,
                   remote_recording=_wav_or_none(remote.get("recording")))


def from_pcap(path: str | Path, lab: Lab | Any = None, name: str | None = None) -> Experiment:
    """An :class:`Experiment` from an existing capture (no phones): the flow and RTP streams of ``path``.

    For students who cannot capture: ``from_pcap(sample_capture("call_rpi_to_alcatel"))``
    gives what :func:`record_call` would have recorded (without the phone's recording).

    Raises:
        CaptureError: the file is not a capture.

    Taught in notebook 05.
    """
    config = _config_of(lab)
    pcap = Path(path)
    recorder = _Recorder.__new__(_Recorder)
    recorder.capture, recorder.note, recorder.method = None, "", "file"
    exp = _finish(name or pcap.name, config, recorder, pcap, [], recording=None, call_stats=None)
    two_legs = [c for c in exp.flow.calls if len(c.legs) > 1]
    call = two_legs[0] if two_legs else (exp.flow.calls[0] if exp.flow.calls else None)
    exp.call_id = call.call_ids[0] if call else ""
    return exp


# ---------------------------------------------------------------------------- flow helpers


def _messages_of(source: Any) -> list[FlowMessage]:
    if isinstance(source, Experiment):
        source = source.call or source.flow
    if isinstance(source, (Flow, FlowCall)):
        return list(source.messages)
    return list(source)


def auth_exchange(source: Any, method: str = "REGISTER", *, after: float | None = None) -> AuthExchange:
    """The first ``method`` request answered by 401/407, with the retry and its final answer.

    Parameters:
        source: a :class:`Flow`, a flow :class:`~voiplab.flow.Call`, an :class:`Experiment`
            or a sequence of :class:`FlowMessage`.
        method: ``"REGISTER"`` or ``"INVITE"``.
        after: only requests at or after this time.

    Raises:
        VoipLabError: no challenged ``method`` request in the flow.

    Taught in notebook 03 (and 04 for the INVITE's challenge).
    """
    messages = _messages_of(source.flow if isinstance(source, Experiment) else source)
    method = method.upper()
    for i, m in enumerate(messages):
        if m.method != method or m.retransmission or (after is not None and m.time < after):
            continue
        cseq = m.cseq
        challenge = next((r for r in messages[i + 1:] if r.status in (401, 407) and r.cseq == cseq
                          and r.call_id == m.call_id), None)
        if challenge is None:
            continue
        retry = next((r for r in messages[i + 1:] if r.method == method and r.call_id == m.call_id
                      and r.src == m.src and ("Authorization" in r.message.headers
                                              or "Proxy-Authorization" in r.message.headers)), None)
        final = None
        if retry is not None:
            at = messages.index(retry)
            final = next((r for r in messages[at + 1:] if r.status is not None and r.status >= 200
                          and r.cseq == retry.cseq and r.call_id == retry.call_id), None)
        return AuthExchange(m, challenge, retry, final)
    raise VoipLabError(f"the flow has no {method} answered by 401/407: record one with "
                       "vl.scenarios.record_registration() or record_call()")


@dataclass(frozen=True)
class SdpExchange:
    """An SDP offer and its answer, shown side by side (``_repr_html_``).

    Attributes:
        offer, answer: the messages carrying them (the INVITE and its 200 OK, usually).

    Taught in notebook 04.
    """

    offer: FlowMessage
    answer: FlowMessage

    def summary(self) -> list[tuple[str, str, str]]:
        """``(what, offer, answer)`` rows: address, RTP port, codecs, DTMF, direction, ptime."""
        rows = []
        o, a = self.offer.message.sdp, self.answer.message.sdp
        mo, ma = (o.audio() if o else None), (a.audio() if a else None)

        def media(md: Any, what: str) -> str:
            if md is None:
                return "-"
            if what == "address":
                return str(md.connection_address or "-")
            if what == "port":
                return str(md.port)
            if what == "codecs":
                return ", ".join(f"{pt} {m.encoding}/{m.clock_rate}" for pt, m in md.rtpmap.items()
                                 if not m.encoding.lower().startswith("telephone-event"))
            if what == "dtmf":
                return ", ".join(f"{pt} {m.encoding}" for pt, m in md.rtpmap.items()
                                 if m.encoding.lower().startswith("telephone-event")) or "-"
            if what == "direction":
                return md.direction
            return str(md.ptime or "-")

        for what, label in (("address", "connection address (c=)"), ("port", "RTP port (m=)"),
                            ("codecs", "codecs (payload types)"), ("dtmf", "DTMF (RFC 4733)"),
                            ("direction", "direction"), ("ptime", "ptime (ms)")):
            rows.append((label, media(mo, what), media(ma, what)))
        return rows

    @property
    def chosen_codec(self) -> str:
        """The first codec of the answer: the one both sides will send."""
        a = self.answer.message.sdp
        md = a.audio() if a else None
        if md is None:
            return "-"
        for pt, m in md.rtpmap.items():
            if not m.encoding.lower().startswith("telephone-event"):
                return f"{m.encoding} (payload type {pt})"
        return "-"

    def __repr__(self) -> str:
        rows = {what: (o, a) for what, o, a in self.summary()}
        o_addr = f"{rows['connection address (c=)'][0]}:{rows['RTP port (m=)'][0]}"
        a_addr = f"{rows['connection address (c=)'][1]}:{rows['RTP port (m=)'][1]}"
        return (f"SdpExchange(offer in {self.offer.label} from {self.offer.src}: RTP at {o_addr}; "
                f"answer in {self.answer.label} from {self.answer.src}: RTP at {a_addr}; "
                f"codec {self.chosen_codec})")

    def _repr_html_(self) -> str:
        def pre(item: FlowMessage) -> str:
            body = item.message.body.decode("utf-8", "replace").replace("\r\n", "\n").rstrip("\n")
            lines = []
            for line in body.splitlines():
                style = ""
                if line.startswith(("c=", "m=")):
                    style = "background:#fff3c4;font-weight:bold"
                elif line.startswith(("a=rtpmap", "a=fmtp")):
                    style = "background:#e3f2e3"
                elif line.startswith(("a=send", "a=recv", "a=inactive")):
                    style = "background:#e8e8ff"
                lines.append(f"<span style='{style}'>{html.escape(line)}</span>")
            return ("<pre style='text-align:left;margin:0;font-size:85%'>" + "\n".join(lines) + "</pre>")

        def title(item: FlowMessage, role: str) -> str:
            return (f"<b>{role}</b>: {html.escape(item.label)} "
                    f"{html.escape(item.src)} → {html.escape(item.dst)} [{html.escape(item.cseq or '')}]")

        summary = "".join(f"<tr><td style='text-align:left'>{html.escape(w)}</td>"
                          f"<td style='text-align:left'>{html.escape(o)}</td>"
                          f"<td style='text-align:left'>{html.escape(a)}</td></tr>" for w, o, a in self.summary())
        return ("<table><tr><th style='text-align:left'>" + title(self.offer, "offer") + "</th>"
                "<th style='text-align:left'>" + title(self.answer, "answer") + "</th></tr>"
                f"<tr><td style='vertical-align:top'>{pre(self.offer)}</td>"
                f"<td style='vertical-align:top'>{pre(self.answer)}</td></tr></table>"
                "<table><tr><th></th><th>offer</th><th>answer</th></tr>" + summary + "</table>"
                f"<p>Chosen codec: <b>{html.escape(self.chosen_codec)}</b></p>")


def sdp_side_by_side(source: Any, leg: int = 0) -> SdpExchange:
    """The SDP offer and answer of a call's initial INVITE transaction, side by side.

    Parameters:
        source: an :class:`Experiment`, a :class:`Flow` (its first call), a flow
            :class:`~voiplab.flow.Call`, or the two messages ``(offer, answer)``.
        leg: which B2BUA leg (0: caller -> PBX, 1: PBX -> callee).

    Returns:
        An :class:`SdpExchange` (displayed as two columns in a notebook).

    Raises:
        VoipLabError: no INVITE with an answered SDP offer in that leg.

    Taught in notebook 04.
    """
    if isinstance(source, tuple) and len(source) == 2 and all(isinstance(m, FlowMessage) for m in source):
        return SdpExchange(source[0], source[1])
    call: FlowCall | None
    if isinstance(source, Experiment):
        call = source.call
    elif isinstance(source, Flow):
        call = next((c for c in source.calls if len(c.legs) > 1), source.calls[0] if source.calls else None)
    elif isinstance(source, FlowCall):
        call = source
    else:
        messages = list(source)
        return _offer_answer(messages, "the messages")
    if call is None:
        raise VoipLabError("the flow has no call: record one with vl.scenarios.record_call()")
    if leg >= len(call.legs):
        raise VoipLabError(f"the call has {len(call.legs)} leg(s), so leg={leg} does not exist: use 0"
                           + (" or 1" if len(call.legs) > 1 else "") + " (a phone's trace sees only its own leg)")
    return _offer_answer(list(call.legs[leg].messages), f"leg {leg}")


def _offer_answer(messages: Sequence[FlowMessage], what: str) -> SdpExchange:
    invites = [m for m in messages if m.method == "INVITE" and not m.retransmission
               and m.message.to_tag is None]
    for invite in invites:
        answer = next((r for r in messages if r.status is not None and 200 <= r.status < 300
                       and r.cseq == invite.cseq and r.call_id == invite.call_id and r.has_sdp), None)
        if answer is None:
            continue
        if invite.has_sdp:
            return SdpExchange(invite, answer)
        ack = next((r for r in messages if r.method == "ACK" and r.call_id == invite.call_id and r.has_sdp
                    and r.time >= answer.time), None)
        if ack is not None:  # late offer: the offer is in the 200 OK, the answer in the ACK
            return SdpExchange(answer, ack)
    raise VoipLabError(f"{what} has no INVITE whose SDP offer was answered: record a whole call")


@dataclass(frozen=True)
class AnswerTiming:
    """When each side of a B2BUA call was answered (times in s from the caller's INVITE).

    With ``Answer(500)`` first in the dial plan, Asterisk answers the *caller* (200 OK)
    at once, waits 500 ms, and only then ``Dial()`` sends the INVITE to the callee, which
    rings (180) and answers (200 OK) later.

    Attributes:
        caller_invite: the caller's first INVITE (0.0).
        caller_answered: Asterisk's 200 OK to the caller.
        callee_invite: Asterisk's first INVITE to the callee (``None`` if not in the flow).
        callee_ringing: the callee's 180 Ringing.
        callee_answered: the callee's 200 OK.
        caller, pbx, callee: ``ip:port`` of each.

    Taught in notebook 04.
    """

    caller: str
    pbx: str
    callee: str | None
    caller_invite: float
    caller_answered: float | None
    callee_invite: float | None
    callee_ringing: float | None
    callee_answered: float | None

    @property
    def answered_before_ringing(self) -> bool:
        """True when the caller got its 200 OK before the callee even rang."""
        if self.caller_answered is None:
            return False
        ring = self.callee_ringing if self.callee_ringing is not None else self.callee_invite
        return ring is None or self.caller_answered < ring

    @property
    def dial_delay(self) -> float | None:
        """Seconds from the caller's 200 OK to the callee's INVITE (the ``Answer(500)`` pause)."""
        if self.caller_answered is None or self.callee_invite is None:
            return None
        return self.callee_invite - self.caller_answered

    def events(self) -> list[tuple[str, str, float | None]]:
        """``(event, who -> whom, time)`` rows in order."""
        return [
            ("INVITE (first, challenged)", f"{self.caller} → {self.pbx}", self.caller_invite),
            ("200 OK to the caller", f"{self.pbx} → {self.caller}", self.caller_answered),
            ("INVITE to the callee (Dial)", f"{self.pbx} → {self.callee or '?'}", self.callee_invite),
            ("180 Ringing from the callee", f"{self.callee or '?'} → {self.pbx}", self.callee_ringing),
            ("200 OK from the callee", f"{self.callee or '?'} → {self.pbx}", self.callee_answered),
        ]

    def __repr__(self) -> str:
        def t(x: float | None) -> str:
            return "not seen" if x is None else f"+{x:.3f} s"

        delay = f" ({self.dial_delay:.3f} s later)" if self.dial_delay is not None else ""
        return (f"AnswerTiming(200 OK to the caller {t(self.caller_answered)}; INVITE to the callee "
                f"{t(self.callee_invite)}{delay}; 180 {t(self.callee_ringing)}; callee's 200 OK "
                f"{t(self.callee_answered)})")

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><td style='text-align:left'>{html.escape(e)}</td><td>{html.escape(w)}</td>"
            f"<td>{'-' if t is None else f'+{t:.3f} s'}</td></tr>" for e, w, t in self.events())
        verdict = ("the caller was answered <b>before</b> the callee rang" if self.answered_before_ringing
                   else "the caller was answered after the callee rang")
        delay = (f"; Asterisk waited <b>{self.dial_delay:.3f} s</b> between its 200 OK and the INVITE to the "
                 "callee" if self.dial_delay is not None else "")
        return (f"<table><tr><th>event</th><th>who</th><th>time</th></tr>{rows}</table>"
                f"<p>{verdict}{delay}.</p>")


def answer_timing(source: Any) -> AnswerTiming:
    """Why Asterisk answers before the Alcatel rings: the times of each leg's INVITE, 180 and 200.

    Parameters:
        source: an :class:`Experiment`, a :class:`Flow` (its first call with two legs) or a
            flow :class:`~voiplab.flow.Call`. From a phone's trace only the caller's leg is
            known: the callee's times are then ``None``.

    Raises:
        VoipLabError: no call in the flow.

    Taught in notebook 04.
    """
    if isinstance(source, Experiment):
        call = source.call
    elif isinstance(source, Flow):
        call = next((c for c in source.calls if len(c.legs) > 1), source.calls[0] if source.calls else None)
    else:
        call = source
    if call is None:
        raise VoipLabError("the flow has no call: record one with vl.scenarios.record_call()")
    first = call.legs[0]
    t0 = first.invite.time

    def initial_response(leg: Any, status_range: range) -> FlowMessage | None:
        invite = leg.invite
        return next((m for m in leg.messages if m.status in status_range and m.cseq_method == "INVITE"
                     and m.src == invite.dst and _initial(leg, m)), None)

    def rel(m: FlowMessage | None) -> float | None:
        return None if m is None else m.time - t0

    caller_ok = initial_response(first, range(200, 300))
    callee = call.legs[1] if len(call.legs) > 1 else None
    return AnswerTiming(
        caller=first.caller, pbx=first.callee, callee=callee.callee if callee else None,
        caller_invite=0.0, caller_answered=rel(caller_ok),
        callee_invite=rel(callee.invite) if callee else None,
        callee_ringing=rel(initial_response(callee, range(180, 190))) if callee else None,
        callee_answered=rel(initial_response(callee, range(200, 300))) if callee else None,
    )


def _initial(leg: Any, response: FlowMessage) -> bool:
    """Whether a response answers an initial INVITE (not a re-INVITE: its request had no To tag)."""
    for m in leg.messages:
        if m.method == "INVITE" and m.cseq == response.cseq:
            return m.message.to_tag is None
    return False


# ---------------------------------------------------------------------------- RTP helpers


def stream_path(stats: Any, pbx: str) -> str:
    """``"via the PBX"`` when the PBX sends or receives the stream, else ``"direct"``.

    Taught in notebook 05 (direct media: RTP moves phone to phone after the re-INVITEs).
    """
    return "via the PBX" if pbx in (stats.src, stats.dst) else "direct (phone to phone)"


@dataclass(frozen=True)
class _StreamsTable:
    stats: list[Any]
    pbx: str
    note: str = ""

    def __repr__(self) -> str:
        if not self.stats:
            return f"no RTP streams ({self.note or 'none in the capture'})"
        return "\n".join(f"{s.start:7.3f}-{s.end:7.3f} s  {s.src}:{s.src_port} -> {s.dst}:{s.dst_port} "
                         f"0x{s.ssrc:08X} {s.payload} {s.packets} packets  {stream_path(s, self.pbx)}"
                         for s in sorted(self.stats, key=lambda s: s.start))

    def _repr_html_(self) -> str:
        if not self.stats:
            return f"<p>{html.escape(repr(self))}</p>"
        head = ("start (s)", "end (s)", "source", "destination", "SSRC", "payload", "packets", "lost",
                "mean jitter (ms)", "path")
        rows = []
        for s in sorted(self.stats, key=lambda s: s.start):
            path = stream_path(s, self.pbx)
            colour = "#fff3c4" if path.startswith("via") else "#d4f7d4"
            rows.append(f"<tr style='background:{colour}'><td>{s.start:.3f}</td><td>{s.end:.3f}</td>"
                        f"<td>{s.src}:{s.src_port}</td><td>{s.dst}:{s.dst_port}</td><td>0x{s.ssrc:08X}</td>"
                        f"<td>{html.escape(s.payload)}</td><td>{s.packets}</td><td>{s.lost}</td>"
                        f"<td>{s.mean_jitter_ms:.3f}</td><td><b>{path}</b></td></tr>")
        return ("<table><tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr>" + "".join(rows) + "</table>")


@dataclass(frozen=True)
class QualityTable:
    """The estimated MOS of each stream, with the E-model inputs (an estimate, not a measurement).

    Taught in notebook 05.
    """

    rows: tuple[tuple[Any, Any], ...]  # (StreamStats, QualityEstimate)

    def __repr__(self) -> str:
        return "\n".join(f"{s.src}:{s.src_port} -> {s.dst}:{s.dst_port}: {q!r}" for s, q in self.rows)

    def _repr_html_(self) -> str:
        head = ("stream", "codec", "loss (%)", "mean jitter (ms)", "one-way delay (ms, assumed + buffers)",
                "Ie,eff", "Id", "R", "MOS (estimate)")
        body = "".join(
            f"<tr><td>{html.escape(f'{s.src}:{s.src_port} → {s.dst}:{s.dst_port}')}</td><td>{html.escape(q.codec)}</td>"
            f"<td>{q.loss_percent:.1f}</td><td>{q.mean_jitter_ms:.3f}</td><td>{q.one_way_delay_ms:.0f}</td>"
            f"<td>{q.equipment_impairment:.1f}</td><td>{q.delay_impairment:.1f}</td><td>{q.r:.1f}</td>"
            f"<td><b>{q.mos:.2f}</b></td></tr>" for s, q in self.rows)
        label = self.rows[0][1].label if self.rows else "estimate"
        return ("<table><tr>" + "".join(f"<th>{h}</th>" for h in head) + f"</tr>{body}</table>"
                f"<p><i>{html.escape(label)}</i></p>")


def quality_table(source: Experiment | Sequence[Any], **options: float) -> QualityTable:
    """The E-model estimate (:func:`voiplab.quality.estimate`) of every audio stream.

    A stream that also carries DTMF is named ``"g711U, telephone-event"`` (as tshark names
    it): its voice codec, the first name, is the one rated.

    Taught in notebook 05.
    """
    from ..core.quality import estimate

    stats = source.stream_stats if isinstance(source, Experiment) else [getattr(s, "stats", s) for s in source]
    rows = []
    for s in stats:
        codec = str(s.payload).split(",")[0].strip()
        try:
            q = estimate(codec, max(0.0, float(s.lost_percent)), float(s.mean_jitter_ms), **options)
        except ValueError:
            continue  # not a voice codec (telephone-event only, comfort noise...)
        rows.append((s, q))
    return QualityTable(tuple(rows))


def dtmf_digits(stream: RtpStream) -> list[Digit]:
    """The key presses (RFC 4733 telephone-events) carried by an RTP stream.

    The telephone-event payload type comes from the SDP's ``a=rtpmap`` (101 in the lab).

    Taught in notebook 05.
    """
    from ..core.dtmf import digits

    event_types = [pt for pt, (name, _rate) in stream.rtpmap.items() if name.lower() == "telephone-event"]
    if not event_types:
        event_types = [101]
    idx = np.flatnonzero(np.isin(stream.payload_type, event_types))
    if len(idx) == 0:
        return []
    payloads = [stream.payload(int(i)) for i in idx]
    times = np.asarray(stream.time_ns, dtype=float)[idx] / 1e9
    return digits(np.asarray(stream.timestamp)[idx], payloads, times)


def rtp_packet(pcap: str | Path, stream: Any, index: int = 0) -> Any:
    """Packet ``index`` of an RTP stream, read with scapy and dissected with scapy's ``RTP`` layer.

    UDP carries RTP on ports that only the SDP tells, so scapy does not guess it:
    the UDP payload is decoded as ``RTP`` here (as Wireshark's "Decode As").

    Parameters:
        pcap: the capture.
        stream: an :class:`~voiplab.rtp.RtpStream` of that capture (its ``frame`` numbers).
        index: which packet of the stream (0: the first).

    Returns:
        The scapy packet (``show()``, ``hexdump``, ``pkt[RTP].sequence``...).

    Taught in notebook 05 (and 01).
    """
    from scapy.layers.inet import UDP
    from scapy.layers.rtp import RTP
    from scapy.utils import PcapReader

    frame = int(stream.frame[index])
    with PcapReader(str(pcap)) as reader:
        for number, packet in enumerate(reader, start=1):
            if number == frame:
                udp = packet[UDP]
                udp.decode_payload_as(RTP)
                return packet
    raise CaptureError(f"frame {frame} is not in {pcap}: pass the capture the stream was read from")


def sample_capture(name: str = "call_rpi_to_alcatel") -> Path:
    """A capture of the local lab committed with voiplab's source (``tests/data``).

    For students who cannot capture: ``register_401``, ``call_rpi_to_alcatel``,
    ``call_alcatel_to_rpi``.

    Raises:
        CaptureError: the file is not there (an installed package without the tests).
    """
    path = SAMPLE_DIR / (name if name.endswith((".pcap", ".pcapng")) else f"{name}.pcap")
    if not path.is_file():
        raise CaptureError(f"the sample capture {path.name} is not in {SAMPLE_DIR}: use a clone of the voiplab "
                           "repository, or record your own with vl.scenarios.record_call() as root")
    return path


# ---------------------------------------------------------------------------- tshark


def tshark_rtp_streams(pcap: str | Path, *, tshark: str | None = None,
                       heuristic: bool = False) -> list[dict[str, Any]]:
    """The rows of ``tshark -q -z rtp,streams`` for a capture, as dicts.

    Keys: ``start, end, src, src_port, dst, dst_port, ssrc`` (int), ``payload, packets,
    lost, lost_percent, min/mean/max_delta_ms, min/mean/max_jitter_ms, problem`` (bool).

    Raises:
        VoipLabError: tshark is not installed or failed.

    Taught in notebook 05 (Wireshark as the reference).
    """
    exe = tshark or shutil.which("tshark")
    if exe is None:
        raise VoipLabError("tshark is not installed: install it (apt-get install tshark, or Wireshark) "
                           "to compare with Wireshark's figures")
    cmd = [exe, "-n", "-r", str(pcap), "-q", "-z", "rtp,streams"]
    if heuristic:
        cmd[2:2] = ["-o", "rtp.heuristic_rtp:TRUE"]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise VoipLabError(f"tshark could not run ({e}): check the installation with 'tshark -v'") from None
    if done.returncode not in (0, 2):  # 2: the last packet was cut short; the output is still given
        raise VoipLabError(f"tshark failed on {pcap} ({done.stderr.strip()[:200]}): check the file")
    rows = []
    for line in done.stdout.splitlines():
        m = _TSHARK_ROW.match(line)
        if not m:
            continue
        g = m.groupdict()
        row: dict[str, Any] = {"src": g["src"], "dst": g["dst"], "payload": g["payload"].strip(),
                               "problem": g["problem"] == "X", "ssrc": int(g["ssrc"], 16)}
        for key in ("src_port", "dst_port", "packets", "lost"):
            row[key] = int(g[key])
        for key in ("start", "end", "lost_percent", "min_delta_ms", "mean_delta_ms", "max_delta_ms",
                    "min_jitter_ms", "mean_jitter_ms", "max_jitter_ms"):
            row[key] = float(g[key])
        rows.append(row)
    return rows


@dataclass(frozen=True)
class TsharkComparison:
    """voiplab's stream figures next to tshark's, at tshark's printed precision.

    Attributes:
        rows: one dict per stream: ``stream`` (its identity), ``voiplab`` and ``tshark``
            (column -> printed value, ``None`` when the other tool did not report it),
            ``equal`` (all columns equal).
        message: why there is no comparison (tshark missing, no capture), or ``""``.

    Taught in notebook 05.
    """

    rows: tuple[dict[str, Any], ...]
    message: str = ""

    @property
    def available(self) -> bool:
        """Whether tshark ran."""
        return not self.message

    @property
    def all_equal(self) -> bool:
        """Whether every stream and figure is the same in both tools."""
        return self.available and all(r["equal"] for r in self.rows)

    def __repr__(self) -> str:
        if not self.available:
            return f"TsharkComparison({self.message})"
        same = sum(r["equal"] for r in self.rows)
        return f"TsharkComparison({len(self.rows)} streams, {same} identical to tshark's figures)"

    def _repr_html_(self) -> str:
        if not self.available:
            return f"<p><b>No comparison:</b> {html.escape(self.message)}</p>"
        head = "".join(f"<th>{c}</th>" for c, _fmt in TSHARK_COLUMNS)
        out = [f"<table><tr><th>stream</th><th>tool</th>{head}</tr>"]
        for r in self.rows:
            for tool in ("voiplab", "tshark"):
                cells = []
                for column, _fmt in TSHARK_COLUMNS:
                    mine, theirs = r["voiplab"], r["tshark"]
                    value = (mine if tool == "voiplab" else theirs)
                    shown = "-" if value is None else value[column]
                    differs = mine is None or theirs is None or mine[column] != theirs[column]
                    style = " style='background:#f7d4d4'" if differs else ""
                    cells.append(f"<td{style}>{html.escape(shown)}</td>")
                label = f"<td rowspan=2>{html.escape(r['stream'])}</td>" if tool == "voiplab" else ""
                out.append(f"<tr>{label}<td>{tool}</td>{''.join(cells)}</tr>")
        out.append("</table>")
        verdict = ("every figure is identical" if self.all_equal
                   else "differences are shown in red: one of the tools is wrong, report it")
        out.append(f"<p>{verdict}.</p>")
        return "".join(out)


def _printed(values: Mapping[str, Any]) -> dict[str, str]:
    return {column: format(values[column], fmt) for column, fmt in TSHARK_COLUMNS}


def compare_with_tshark(source: Experiment | str | Path | None, *, tshark: str | None = None) -> TsharkComparison:
    """Compare voiplab's RTP stream statistics with ``tshark -q -z rtp,streams`` on the same capture.

    Never raises for a missing tshark or capture: the comparison then says why it is empty.

    Taught in notebook 05.
    """
    pcap = source.pcap if isinstance(source, Experiment) else source
    if pcap is None:
        note = source.note if isinstance(source, Experiment) else ""
        return TsharkComparison((), f"there is no capture to compare ({note or 'no pcap'})")
    try:
        theirs = tshark_rtp_streams(pcap, tshark=tshark)
    except VoipLabError as e:
        return TsharkComparison((), str(e))
    if isinstance(source, Experiment) and source.streams is not None:
        mine_stats = source.stream_stats
    else:
        from ..capture.streams import analyze

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            mine_stats = analyze(pcap)

    def key(src: str, sp: int, dst: str, dp: int, ssrc: int) -> str:
        return f"{src}:{sp} → {dst}:{dp} 0x{ssrc:08X}"

    mine = {key(s.src, s.src_port, s.dst, s.dst_port, s.ssrc): _printed(_stats_dict(s)) for s in mine_stats}
    other = {key(r["src"], r["src_port"], r["dst"], r["dst_port"], r["ssrc"]): _printed(r) for r in theirs}
    rows = []
    for k in list(other) + [k for k in mine if k not in other]:
        a, b = mine.get(k), other.get(k)
        rows.append({"stream": k, "voiplab": a, "tshark": b, "equal": a is not None and a == b})
    return TsharkComparison(tuple(rows))


def _stats_dict(s: Any) -> dict[str, Any]:
    return {column: getattr(s, column) for column, _fmt in TSHARK_COLUMNS}

