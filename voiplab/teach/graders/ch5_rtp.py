"""Chapter 5 (RTP): the expected answers, computed by the grader from the student's own call.

The stream the Alcatel sent straight to rpi after the re-INVITEs (its packets, as
captured): the RFC 3550 interarrival jitter from the raw arrival times and RTP
timestamps, the sequence numbers lost (the variant's Alcatel drops some), one G.711 byte
decoded by hand (the variant's codec, packet and byte), the Alcatel's tone, and the DTMF
digits rpi sent (RFC 4733 events in rpi's stream to the Alcatel).
"""

from __future__ import annotations

import numpy as np

from ...core.audio import dominant_frequency
from ...core.g711 import SAMPLE_RATE, alaw_decode, ulaw_decode
from ...core.rtpstats import RtpStream
from ..media import dtmf_digits
from ..variants import g711_target
from .base import AssignmentSpec, Exercise, GradingContext, Part, as_int, as_text, close, exact, same_list

__all__ = ["ASSIGNMENT", "rfc3550_jitter_ms"]

#: G.711 static payload types
PCMU, PCMA = 0, 8
#: the RFC 3550 smoothing factor: J += (|D| - J) / 16
JITTER_GAIN = 16.0
#: what the answer cells of this chapter may not use: the helpers (or the variant) that give the answers
RTP_HELPERS = ("stats", "stream_stats", "analyze", "analyze_stream", "tshark_rtp_streams", "compare_with_tshark",
               "variant", "variant_for", "lab", "load_config")


def _stream(ctx: GradingContext, src: str, dst: str) -> RtpStream:
    return ctx.experiment("call").stream(src, dst)


def _g711(stream: RtpStream) -> np.ndarray:
    """Indexes (arrival order) of the stream's G.711 packets."""
    return np.flatnonzero(np.isin(np.asarray(stream.payload_type), (PCMU, PCMA)))


def rfc3550_jitter_ms(arrival_s: np.ndarray, timestamps: np.ndarray, clock_hz: float) -> np.ndarray:
    """The interarrival jitter J after each packet (ms), RFC 3550 section 6.4.1 and A.8.

    ``D(i-1, i) = (R_i - R_{i-1}) - (S_i - S_{i-1}) / clock``, ``J += (|D| - J) / 16``, over
    the packets in arrival order; RTP timestamps are unwrapped (32 bits) first.
    """
    ts = np.asarray(timestamps, dtype=np.int64)
    steps = np.diff(ts)
    steps = (steps + 2**31) % 2**32 - 2**31
    d = np.diff(np.asarray(arrival_s, dtype=float)) - steps / clock_hz
    out = np.zeros(len(ts))
    j = 0.0
    for i, value in enumerate(np.abs(d), start=1):
        j += (value - j) / JITTER_GAIN
        out[i] = j
    return out * 1000.0


def _jitter(ctx: GradingContext) -> list[Part]:
    s = _stream(ctx, "alcatel", "rpi")
    idx = _g711(s)
    arrival = np.asarray(s.time_ns, dtype=float)[idx] / 1e9
    ts = np.asarray(s.timestamp)[idx]
    j = rfc3550_jitter_ms(arrival, ts, SAMPLE_RATE)
    wrong_clock = {hz: rfc3550_jitter_ms(arrival, ts, hz) for hz in (1000.0, 16000.0, 44100.0)}
    ts_u = np.asarray(ts, dtype=np.int64)
    raw_d = np.abs(np.diff(arrival) - ((np.diff(ts_u) + 2**31) % 2**32 - 2**31) / SAMPLE_RATE) * 1000.0
    clock_hint = "did you use the 8000 Hz clock? (RTP timestamps of G.711 count samples at 8000 Hz)"
    final_hints = [(float(wrong_clock[hz][-1]), clock_hint) for hz in wrong_clock] + [
        (float(j[-1]) / 1000.0, "jitter_ms is in milliseconds"),
        (float(j.max()), "that is the maximum: jitter_ms is J after the last packet"),
        (float(raw_d.mean()), "RFC 3550 smooths D: J += (|D| - J) / 16, it is not the mean of |D|")]
    max_hints = [(float(wrong_clock[hz].max()), clock_hint) for hz in wrong_clock] + [
        (float(j.max()) / 1000.0, "max_jitter_ms is in milliseconds"),
        (float(raw_d.max()), "RFC 3550 smooths D: J += (|D| - J) / 16; the largest |D| is not the jitter")]
    return [Part("jitter_ms", 2, round(float(j[-1]), 4), close("jitter_ms", float(j[-1]), 0.002, unit="ms",
                 label="jitter", digits=3, hints=final_hints)),
            Part("max_jitter_ms", 2, round(float(j.max()), 4), close("max_jitter_ms", float(j.max()), 0.002,
                 unit="ms", label="maximum jitter", digits=3, hints=max_hints))]


def _lost(ctx: GradingContext) -> list[Part]:
    s = _stream(ctx, "alcatel", "rpi")
    seq = np.asarray(s.sequence_number, dtype=np.int64)
    steps = np.diff(seq)
    steps = (steps + 2**15) % 2**16 - 2**15
    ext = np.concatenate([[seq[0]], seq[0] + np.cumsum(steps)])
    missing = sorted(set(range(int(ext.min()), int(ext.max()) + 1)) - {int(x) for x in ext})
    lost = [m % 2**16 for m in missing]
    return [Part("lost_count", 1, len(lost), exact("lost_count", len(lost), normalize=as_int, hints=[
                (0, "compare each sequence number with the one before: a gap means packets never arrived")])),
            Part("lost_seqs", 3, lost, same_list("lost_seqs", lost, label="lost sequence numbers"))]


def _g711_byte(ctx: GradingContext) -> list[Part]:
    s = _stream(ctx, "alcatel", "rpi")
    i, j = g711_target(s, ctx.variant)
    byte = s.payload(i)[j]
    pt = int(s.payload_type[i])
    sample = int((ulaw_decode if pt == PCMU else alaw_decode)(bytes([byte]))[0])
    other = int((alaw_decode if pt == PCMU else ulaw_decode)(bytes([byte]))[0])
    law = "PCMU (mu-law)" if pt == PCMU else "PCMA (A-law)"
    return [Part("payload_byte", 1, byte, exact("payload_byte", byte, normalize=as_int, label="payload byte")),
            Part("sample", 3, sample, exact("sample", sample, normalize=as_int, label="decoded sample", hints=[
                (other, f"the stream's payload type is {pt}: decode with {law}"),
                (-sample, "check the sign bit (and that the byte is inverted before decoding)")]))]


def _tone(ctx: GradingContext) -> list[Part]:
    s = _stream(ctx, "alcatel", "rpi")
    f = float(dominant_frequency(s.audio(), SAMPLE_RATE))
    return [Part("tone_hz", 3, round(f, 1), close("tone_hz", f, 5.0, unit="Hz", label="tone", digits=1, hints=[
        (f / 2, "the frequency axis of np.fft.rfftfreq needs d=1/8000 (the sample spacing)"),
        (f * 2, "the frequency axis of np.fft.rfftfreq needs d=1/8000 (the sample spacing)")]))]


def _dtmf(ctx: GradingContext) -> list[Part]:
    digits = "".join(d.name for d in dtmf_digits(_stream(ctx, "rpi", "alcatel")))
    return [Part("digits", 2, digits, exact("digits", digits, normalize=as_text, label="DTMF digits", hints=[
        (digits[:1], "each key press is several packets with the same RTP timestamp: count each once"),
        ("".join(sorted(digits)), "keep the digits in the order they were sent")]))]


ASSIGNMENT = AssignmentSpec(
    name="ch5_rtp",
    chapter=5,
    exercises=(
        Exercise("ex1", "ex1_check", ("ex1_answer",), "RFC 3550 jitter with numpy", ("call",), RTP_HELPERS,
                 _jitter),
        Exercise("ex2", "ex2_check", ("ex2_answer",), "the lost sequence numbers", ("call",), RTP_HELPERS, _lost),
        Exercise("ex3", "ex3_check", ("ex3_answer",), "a G.711 byte decoded by hand", ("call",),
                 RTP_HELPERS + ("ulaw_decode", "alaw_decode", "g711", "audioop", "audio", "call_audio"),
                 _g711_byte),
        Exercise("ex4", "ex4_check", ("ex4_answer",), "the Alcatel's tone", ("call",),
                 RTP_HELPERS + ("dominant_frequency", "detect_alcatel_signal", "detect_tone", "signal_hz"), _tone),
        Exercise("ex5", "ex5_check", ("ex5_answer",), "the DTMF digits", ("call",),
                 RTP_HELPERS + ("dtmf_digits", "dtmf_sent", "dtmf", "remote", "TelephoneEvent"), _dtmf),
    ),
    manual=("ex6_written",),
)
