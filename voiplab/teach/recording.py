"""Your own call, recorded: a capture around whatever you do with your phone (the call panel, code).

:func:`vl.record_call <voiplab.teach.experiments.record_call>` scripts a call from start to
end. Notebook 09 lets the student make the call themselves, with the call panel
(``vl.call_panel``) or a few lines of code, while the lab records it:

* :func:`start_recording` starts the live capture of the lab's addresses (when this user may
  capture) and remembers where the phone's SIP trace stands;
* :meth:`CallRecording.stop` stops it once the calls are over and returns an
  :class:`~voiplab.teach.experiments.Experiment`, the same record as ``vl.record_call``'s:
  the flow of every host from the capture, or else the flow seen by the student's phone
  (its own SIP trace, no privileges needed), and the RTP streams of the capture;
* :func:`rtp_or_sample` gives the RTP to analyse: the student's own streams, or, for a
  student who cannot capture, those of a sample capture of the same call (said plainly);
* :func:`call_summary` sums the call up on one page: who called whom, the SIP exchange,
  the codec, the RTP streams and their path, losses, jitter, keys pressed, an estimated MOS.

Example (notebook 09)::

    panel = vl.call_panel(lab)                     # the student's phone, registered
    rec = vl.start_recording(lab, panel.phone)     # the capture starts
    # ... dial 5001 in the panel, talk, press keys, hang up ...
    exp = rec.stop()                               # the call, analysed
    media = vl.rtp_or_sample(exp)                  # its RTP (or the sample's, without capture)

Taught in notebook 09 (your own call) and 05 (:func:`rtp_or_sample`).
"""

from __future__ import annotations

import html
import time
import warnings
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from ..config import LabConfig
from ..core.flow import Flow
from ..devices.alcatel import SimulatedAlcatel
from ..devices.lab import Lab
from ..devices.phone import Call, Phone
from ..errors import CallError, VoipLabError

# the capture plumbing of the scripted experiments, shared so that both record alike
from .experiments import Experiment, _config_of, _finish, _Recorder, from_pcap
from .media import DIRECT, dtmf_digits, quality_table, stream_path
from .samples import sample_capture

__all__ = ["CODEC_NAMES", "DEFAULT_SAMPLE", "SETTLE_TIMEOUT_S", "CallRecording", "CallSummary", "SampleRtpWarning",
           "call_summary", "codec_name", "rtp_or_sample", "start_recording"]

#: the sample capture used when the student's own call has no RTP (no capture privileges)
DEFAULT_SAMPLE = "call_rpi_to_alcatel"
#: the names a codec goes by (tshark's, the SDP's, Asterisk's, in words) -> its SDP name
CODEC_NAMES = {
    **dict.fromkeys(("pcmu", "g711u", "g.711u", "ulaw", "u-law", "mu-law", "µ-law", "μ-law", "g711 mu-law",
                     "g.711 mu-law", "g.711 µ-law", "0"), "PCMU"),
    **dict.fromkeys(("pcma", "g711a", "g.711a", "alaw", "a-law", "g711 a-law", "g.711 a-law", "8"), "PCMA"),
}
#: seconds :meth:`CallRecording.stop` waits for the other side's leg to end (BYE relayed by the PBX)
SETTLE_TIMEOUT_S = 5.0


class SampleRtpWarning(UserWarning):
    """The RTP analysed is a sample capture's, not the student's own (no capture was possible)."""


class CallRecording:
    """A live capture of the lab running while the student makes calls; :meth:`stop` analyses it.

    Made by :func:`start_recording`. Without capture privileges nothing is captured and the
    flow comes from the phone's own SIP trace (what it sent and received) from the moment
    the recording started.

    Attributes:
        name: what the recording is called in the experiment (``"your call (rpi)"``).
        phone: the student's phone, whose SIP trace is used without capture (or ``None``).
        started: wall-clock time of the start.
        note: why there is no capture (empty when there is one).

    Taught in notebook 09.
    """

    def __init__(self, config: LabConfig, phone: Phone | None = None, *, name: str | None = None,
                 capture: bool | None = None, interface: str | None = None) -> None:
        self.config = config
        self.phone = phone
        self.name = name or (f"your call ({phone.account.name})" if phone is not None else "your call")
        self.started = time.time()
        self._trace_start = len(phone.trace()) if phone is not None else 0
        self._recorder: _Recorder | None = _Recorder(config, self.name, capture, interface)
        self.note = self._recorder.note
        self.method = self._recorder.method

    @property
    def running(self) -> bool:
        """True until :meth:`stop` (or :meth:`close`)."""
        return self._recorder is not None

    def __repr__(self) -> str:
        since = datetime.fromtimestamp(self.started).strftime("%H:%M:%S")
        state = "recording" if self.running else "stopped"
        how = (f"capture with {self.method}" if self.method else
               f"no capture ({self.note}); SIP from the phone's trace")
        return f"CallRecording({self.name}: {state} since {since}, {how})"

    def stop(self, call: Call | None = None) -> Experiment:
        """Stop the capture once the calls are over; the recorded calls as an experiment.

        Parameters:
            call: the student's call (``panel.call``), to keep what the phone heard and its
                RTCP statistics; optional.

        Returns:
            an :class:`~voiplab.teach.experiments.Experiment` (``flow``, ``call``, ``streams``...).

        Raises:
            CallError: a call of the phone is still up (the capture keeps running: hang up,
                then stop again).
            VoipLabError: the recording was already stopped.

        Taught in notebook 09.
        """
        recorder = self._recorder
        if recorder is None:
            raise VoipLabError("this recording is already stopped: start a new one with "
                               "vl.start_recording(lab, phone), make the call, then stop it")
        phone = self.phone
        if phone is not None and phone.calls:
            raise CallError(f"a call of {phone.account.name} is still up: hang up first (the panel's Hang up "
                            "button), then stop the recording again; the capture keeps running")
        self._wait_for_other_leg()
        self._recorder = None
        try:
            pcap = recorder.stop()
        except BaseException:
            recorder.abort()
            raise
        trace = phone.trace()[self._trace_start:] if phone is not None else []
        calls = Flow.from_trace(trace, pbx=self.config.pbx.host).calls
        call_id = call.call_id if call is not None and call.call_id else (calls[-1].call_ids[0] if calls else "")
        recording = call_stats = None
        if call is not None:
            recording = _recording_of(call)
            call_stats = call.stats()
        return _finish(self.name, self.config, recorder, pcap, trace, recording=recording, call_stats=call_stats,
                       call_id=call_id)

    def _wait_for_other_leg(self) -> None:
        """Wait (briefly) until the simulated Alcatel's leg is over, so that its BYE is captured."""
        if not (self.config.is_local and self.config.alcatel.simulated):
            return
        sim = SimulatedAlcatel(self.config)
        try:
            if sim.is_running() and (sim.status().get("current") or None) is not None:
                sim.wait_call_ended(timeout=SETTLE_TIMEOUT_S)
        except VoipLabError:
            pass  # a call still up on the Alcatel is shown in the flow as it is

    def close(self) -> None:
        """Stop the capture without analysing it (the cleanup cell); nothing happens if stopped."""
        recorder, self._recorder = self._recorder, None
        if recorder is not None:
            recorder.abort()


def _recording_of(call: Call) -> tuple[np.ndarray, int] | None:
    try:
        return call.recording()
    except CallError:
        return None


def start_recording(lab: Lab | LabConfig | None = None, phone: Phone | None = None, *, capture: bool | None = None,
                    interface: str | None = None) -> CallRecording:
    """Start recording the lab while you make calls: the live capture, and your phone's SIP trace.

    Parameters:
        lab: the lab (``vl.start_lab()``) or its configuration (default: the current lab).
        phone: your phone (``panel.phone``): without capture privileges its SIP trace gives
            the flow of your calls.
        capture: ``None`` capture if permitted; ``True`` capture or raise
            :class:`~voiplab.errors.CaptureError`; ``False`` never capture.
        interface: the capture interface (``"lo"`` for the local lab).

    Returns:
        a running :class:`CallRecording`: make your calls, then ``exp = rec.stop()``.

    Taught in notebook 09.
    """
    return CallRecording(_config_of(lab), phone, capture=capture, interface=interface)


def rtp_or_sample(exp: Experiment, sample: str = DEFAULT_SAMPLE) -> Experiment:
    """The experiment itself when it holds RTP streams; else a sample capture of the same call.

    A student without capture privileges has the SIP flow of their call (the phone's trace)
    but no RTP: the RTP analysis then uses ``vl.sample_capture(sample)``, a call rpi (5002)
    -> Alcatel (5001) with DTMF recorded in the default local lab (127.0.0.80-82), and a
    :class:`SampleRtpWarning` says so. Its roles are those of the default lab, so
    ``exp.stream("alcatel", "rpi")`` works on it whatever the lab's addresses.

    Taught in notebooks 05 and 09.
    """
    if exp.streams:
        return exp
    why = "no live capture" if exp.pcap is None else "the capture holds no RTP stream"
    sample_exp = from_pcap(sample_capture(sample), LabConfig(), name=f"sample capture {sample}")
    sample_exp.note = (f"no RTP of your own here ({why}): the RTP analysed below is the sample capture "
                       f"{sample!r}, the same kind of call recorded in the default local lab")
    warnings.warn(sample_exp.note, SampleRtpWarning, stacklevel=2)
    return sample_exp


# ---------------------------------------------------------------------------- the call on one page
def codec_name(name: object) -> str:
    """The SDP name of a codec however it is written (``"g711U"``, ``"ulaw"``, ``"mu-law"``, ``0`` -> ``"PCMU"``).

    A name not in :data:`CODEC_NAMES` is returned as it is (stripped).
    """
    text = str(name).strip()
    return CODEC_NAMES.get(text.lower(), text)


@dataclass(frozen=True)
class CallSummary:
    """A recorded call on one page: the SIP side and the media side, with where each comes from.

    Attributes:
        caller, dialed: the caller's user and the number dialed (first leg's INVITE).
        state: the call's state as Wireshark's VoIP Calls shows it (``COMPLETED``: answered, hung up).
        sip_messages, legs: SIP messages of the call and its Call-IDs (2 with a capture: the PBX is a B2BUA).
        media_changes: re-INVITEs/UPDATEs that moved the media (direct media).
        codec: the SDP name of the voice codec of the RTP (``PCMU``).
        streams: the RTP streams (one per SSRC and address pair).
        direct_media: whether some RTP went phone to phone.
        lost: packets lost over all streams.
        max_jitter_ms: the largest mean jitter of the streams.
        dtmf: the keys pressed (RFC 4733 events), in time order.
        mos: the lowest estimated MOS of the voice streams (an estimate, not a measurement).
        sip_from, rtp_from: where each side comes from (the capture, the phone's trace, the sample).

    Taught in notebook 09.
    """

    caller: str
    dialed: str
    state: str
    sip_messages: int
    legs: int
    media_changes: int
    codec: str
    streams: int
    direct_media: bool
    lost: int
    max_jitter_ms: float
    dtmf: str
    mos: float | None
    sip_from: str
    rtp_from: str

    def rows(self) -> list[tuple[str, str]]:
        """(what, value) pairs, in the order of the page."""
        mos = f"{self.mos:.2f} (estimate: simplified E-model)" if self.mos is not None else "-"
        return [("call", f"{self.caller} -> {self.dialed}: {self.state}"),
                ("SIP", f"{self.sip_messages} messages, {self.legs} leg(s), {self.media_changes} media change(s)"),
                ("SIP comes from", self.sip_from),
                ("codec", self.codec), ("RTP streams", str(self.streams)),
                ("direct media", "yes (phone to phone)" if self.direct_media else "no (via the PBX)"),
                ("lost packets", str(self.lost)), ("largest mean jitter", f"{self.max_jitter_ms:.3f} ms"),
                ("DTMF", self.dtmf or "none"), ("MOS", mos), ("RTP comes from", self.rtp_from)]

    def __repr__(self) -> str:
        return "\n".join(f"{what:>20}: {value}" for what, value in self.rows())

    def _repr_html_(self) -> str:
        body = "".join(f"<tr><th style='text-align:left'>{html.escape(w)}</th>"
                       f"<td style='text-align:left'>{html.escape(v)}</td></tr>" for w, v in self.rows())
        return f"<table>{body}</table>"


def call_summary(exp: Experiment, media: Experiment | None = None) -> CallSummary:
    """The call of ``exp`` on one page, its RTP from ``media`` (default: ``exp``; see :func:`rtp_or_sample`).

    Raises:
        VoipLabError: ``exp`` holds no call.

    Taught in notebook 09.
    """
    media = exp if media is None else media
    call = exp.call
    if call is None:
        raise VoipLabError(f"the recording {exp.name!r} holds no call: make a call while it records, then stop it")
    first = call.legs[0]
    streams = media.streams or []
    stats = [s.stats for s in streams]
    voice = [s for s in stats if codec_name(s.payload.split(",")[0]) in ("PCMU", "PCMA")]
    quality = quality_table(voice)
    keys = sorted((d for s in streams for d in dtmf_digits(s)), key=lambda d: d.start_time)
    sip_from = (f"the capture ({exp.capture_method})" if exp.pcap is not None
                else "your phone's SIP trace (what it sent and received)")
    rtp_from = ("the capture" if media is exp and exp.pcap is not None
                else f"{media.name} ({media.note})" if media.note else media.name)
    return CallSummary(
        caller=first.from_user or first.caller, dialed=first.dialed or "?", state=call.state,
        sip_messages=call.packets, legs=len(call.legs), media_changes=len(call.media_changes),
        codec=codec_name(voice[0].payload.split(",")[0]) if voice else "-", streams=len(stats),
        direct_media=any(stream_path(s, media.pbx) == DIRECT for s in stats),
        lost=sum(max(0, s.lost) for s in stats), max_jitter_ms=max((s.mean_jitter_ms for s in stats), default=0.0),
        dtmf="".join(d.name for d in keys), mos=min((q.mos for _s, q in quality.rows), default=None),
        sip_from=sip_from, rtp_from=rtp_from)
