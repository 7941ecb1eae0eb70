"""The check cells of notebook 05 (RTP): the student's own bit rates, jitter and lost packets.

Each check compares what the student computed (in a ``solution`` cell, with numpy) with
what voiplab computes from the same stream with Wireshark's rules, and when they differ
says what to look at: the unit, the clock, a missing header, the smoothing of the jitter.

Taught in notebook 05.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from ...core.payloads import TELEPHONE_EVENT
from ...core.rtp import SEQUENCE_MODULO
from ...core.rtpstats import JITTER_GAIN, RtpStream
from ...errors import VoipLabError
from ..media import ETHERNET_OVERHEAD, IPV4_HEADER_LENGTH, UDP_HEADER_LENGTH, bit_rates, lost_sequence_numbers
from . import CheckResult, failed, passed

__all__ = ["lost_packets", "rtp_bit_rate", "rtp_jitter"]

#: how far (ms) a student's jitter may be from voiplab's and still be the same figure
JITTER_TOLERANCE_MS = 1e-3
#: how far (relative) a bit rate may be from the expected one (rounding of the student's arithmetic)
RATE_TOLERANCE = 0.005
#: the clock of G.711 (and of the lab's telephone-events): 8000 timestamp units per second
CLOCK_RATE = 8000
#: the Ethernet header without the FCS, the mistake the old handout made
ETHERNET_HEADER_ONLY = 14
MS_PER_SECOND = 1000.0


def _not_done(value: object) -> bool:
    return value is None or value is Ellipsis


def _is_number(value: object) -> bool:
    return isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool)


# ---------------------------------------------------------------------------- bit rate
def _close(value: float, target: float) -> bool:
    return math.isfinite(value) and abs(value - target) <= RATE_TOLERANCE * abs(target)


def rtp_bit_rate(ip_kbps: object, ethernet_kbps: object, stream: object) -> CheckResult:
    """Are the student's bit rates of one direction right, at the IP level and on Ethernet?

    Parameters:
        ip_kbps: kbit/s with the RTP, UDP and IPv4 headers (80 for 20 ms G.711).
        ethernet_kbps: kbit/s of the Ethernet frames, header and FCS included (87.2).
        stream: the stream they were computed for (its payload size and packet rate).

    Taught in notebook 05.
    """
    name = "your bit rates"
    stream = _check_stream(stream)
    if _not_done(ip_kbps) or _not_done(ethernet_kbps):
        return failed(name, "ip_kbps and ethernet_kbps are not computed yet: fill in the cell above "
                            "(bytes per packet x 8 bits x packets per second / 1000), then run this check again")
    if not (_is_number(ip_kbps) and _is_number(ethernet_kbps)):
        return failed(name, "ip_kbps and ethernet_kbps must be numbers (kbit/s), for example 12.5")
    rates = bit_rates(stream)
    ip, eth = float(ip_kbps), float(ethernet_kbps)  # type: ignore[arg-type]
    if not _close(ip, rates.ip_kbps):
        return failed(name, "ip_kbps: " + _ip_hint(ip, rates.codec_kbps, rates.ip_kbps, rates.packets_per_second,
                                                   rates.payload_bytes))
    if not _close(eth, rates.ethernet_kbps):
        return failed(name, "ethernet_kbps: " + _ethernet_hint(eth, rates.ip_kbps, rates.ethernet_kbps,
                                                               rates.wire_kbps, rates.packets_per_second))
    return passed(name, f"{rates.payload_bytes} bytes of audio every {rates.ptime_ms:g} ms "
                        f"({rates.packets_per_second:g} packets/s): {ip:g} kbit/s at the IP level and "
                        f"{eth:g} kbit/s in Ethernet frames are right (on the wire, with preamble and gap: "
                        f"{rates.wire_kbps:g} kbit/s)")


def _per_byte(pps: float) -> float:
    """kbit/s that one byte per packet adds."""
    return 8 * pps / 1000.0


def _ip_hint(ip: float, codec: float, expected: float, pps: float, payload: int) -> str:
    per_byte = _per_byte(pps)
    if _close(ip, codec):
        return ("that is the codec's rate, the payload alone: every packet also carries an RTP header "
                f"(12 bytes), a UDP header ({UDP_HEADER_LENGTH}) and an IPv4 header ({IPV4_HEADER_LENGTH})")
    if _close(ip, codec + 12 * per_byte) or _close(ip, codec + (12 + UDP_HEADER_LENGTH) * per_byte):
        return "some headers are missing: count RTP (12 bytes), UDP (8) and IPv4 (20) in every packet"
    if _close(ip * 8, expected):
        return "that is in kilobytes per second: a bit rate counts bits (x 8)"
    if _close(ip / 1000, expected):
        return "that is in bit/s: give it in kbit/s (divide by 1000)"
    if _close(ip * 1024 / 1000, expected):
        return "in telecommunications 1 kbit/s is 1000 bit/s, not 1024"
    if _close(ip / 2, expected):
        return "that counts both directions: give the rate of one direction (one stream)"
    return (f"not the rate of this stream: count the bytes of one packet ({payload} of audio + the RTP, UDP and "
            "IPv4 headers), x 8 bits, x the packets per second (from the RTP timestamp step and the 8000 Hz clock)")


def _ethernet_hint(eth: float, ip: float, expected: float, wire: float, pps: float) -> str:
    per_byte = _per_byte(pps)
    if _close(eth, ip + ETHERNET_HEADER_ONLY * per_byte):
        return (f"Ethernet adds {ETHERNET_OVERHEAD} bytes to every packet, not {ETHERNET_HEADER_ONLY}: the "
                "14-byte header (two MAC addresses and the EtherType) and the 4-byte frame check sequence (FCS) "
                "at the end of the frame")
    if _close(eth, wire):
        return ("that counts the preamble (8 bytes) and the inter-frame gap (12 bytes) too: they take line time "
                "but are not part of the frame; count the frame only (header and FCS)")
    if _close(eth, ip):
        return "that is the IP rate: every IP packet travels in an Ethernet frame that adds a header and an FCS"
    if _close(eth * 8, expected):
        return "that is in kilobytes per second: a bit rate counts bits (x 8)"
    return (f"not the rate of the frames: add the Ethernet header and FCS ({ETHERNET_OVERHEAD} bytes) to each "
            "IP packet, then x 8 bits x packets per second")


# ---------------------------------------------------------------------------- jitter
def _jitter_of(diff: np.ndarray, smooth: bool = True, absolute: bool = True) -> np.ndarray:
    """One jitter value per packet (0 for the first) from the transit differences D."""
    d = np.abs(diff) if absolute else diff
    if not smooth:
        return np.concatenate([[0.0], d])
    out = np.zeros(len(diff) + 1)
    j = 0.0
    for i, value in enumerate(d.tolist(), start=1):
        j += (value - j) / JITTER_GAIN
        out[i] = j
    return out


def _event_types(stream: RtpStream) -> list[int]:
    """The telephone-event payload types present in the stream (DTMF)."""
    events = [pt for pt, (n, _r) in stream.rtpmap.items() if n.lower().startswith(TELEPHONE_EVENT)]
    return sorted({int(pt) for pt in np.asarray(stream.payload_type)[np.isin(stream.payload_type, events)]})


def _aligned(values: np.ndarray, per_packet: np.ndarray) -> np.ndarray | None:
    """The part of ``per_packet`` the student's values stand for (last value, all, all but the first)."""
    n = len(per_packet)
    if values.size == 1:
        return per_packet[-1:]
    if values.size == n:
        return per_packet
    if values.size == n - 1:
        return per_packet[1:]
    return None


def rtp_jitter(jitter: object, stream: object) -> CheckResult:
    """Is the student's RFC 3550 jitter (one value per packet, in ms) the one Wireshark computes?

    Accepted: one value per packet (J = 0 for the first), one per packet after the first,
    or the last value alone. The reference is voiplab's per-packet analysis, which equals
    Wireshark's (tested against tshark).

    Taught in notebook 05.
    """
    name = "your RFC 3550 jitter"
    stream = _check_stream(stream)
    if _not_done(jitter):
        return failed(name, "the jitter is not computed yet: fill in the cell above (one value J per packet, from "
                            "the arrival times and the RTP timestamps), then run this check again")
    try:
        values = np.atleast_1d(np.asarray(jitter, dtype=np.float64)).ravel()
    except (TypeError, ValueError):
        return failed(name, "your jitter must be numbers: a numpy array of jitter values in ms, one per packet")
    expected_all = np.asarray(stream.analysis.jitter_ms, dtype=np.float64)
    expected = _aligned(values, expected_all)
    if expected is None:
        return failed(name, f"you have {values.size} jitter values for a stream of {len(stream)} packets: compute "
                            "one value per packet (J = 0 for the first packet)")
    if not np.all(np.isfinite(values)):
        return failed(name, "your jitter holds NaN or infinite values: look for a division by zero or an empty "
                            "array in your computation")
    if np.allclose(values, expected, rtol=0, atol=JITTER_TOLERANCE_MS):
        return passed(name, f"your jitter equals Wireshark's for the {len(stream)} packets of SSRC "
                            f"0x{stream.ssrc:08X}: last value {expected_all[-1]:.3f} ms, largest "
                            f"{expected_all.max():.3f} ms")
    return failed(name, _jitter_hint(values, expected_all, stream))


def _jitter_hint(values: np.ndarray, expected_all: np.ndarray, stream: RtpStream) -> str:
    arrival_ms = np.asarray(stream.time_ns, dtype=np.float64) / 1e6
    ticks = np.asarray(stream.timestamp, dtype=np.float64)
    right_d = np.diff(arrival_ms) - np.diff(ticks) / CLOCK_RATE * MS_PER_SECOND
    mistakes: list[tuple[Callable[[], np.ndarray], str]] = [
        (lambda: expected_all / MS_PER_SECOND,
         "your values look like seconds: give the jitter in milliseconds (arrival times in ms, and the RTP "
         "timestamps turned into ms as well)"),
        (lambda: _jitter_of(np.diff(arrival_ms) - np.diff(ticks)),
         "did you turn the RTP timestamps into time? S_i is the timestamp divided by the 8000 Hz clock "
         "(x 1000 for ms)"),
        (lambda: _jitter_of(right_d, absolute=False),
         "the jitter smooths the absolute value |D|: J += (|D| - J) / 16"),
        (lambda: _jitter_of(right_d, smooth=False),
         "these are the transit differences |D| themselves: the jitter smooths them, J += (|D| - J) / 16, "
         "starting from J = 0"),
    ]
    for variant, hint in mistakes:
        candidate = _aligned(values, variant())
        if candidate is not None and np.allclose(values, candidate, rtol=1e-6, atol=JITTER_TOLERANCE_MS):
            return hint
    events = _event_types(stream)
    if events:
        return (f"this stream carries DTMF (telephone-event packets, payload type {events[0]}): Wireshark leaves "
                "them out of the jitter; compute the jitter of a stream without DTMF (the one your phone received)")
    return (f"your last value is {values[-1]:.3f} ms, not Wireshark's figure for this stream: check that "
            "D = (R_i - R_i-1) - (S_i - S_i-1) uses the arrival times R and the RTP times S both in ms, and that "
            "J starts at 0 and moves by (|D| - J) / 16 at each packet")


# ---------------------------------------------------------------------------- loss
def lost_packets(lost: object, stream: object) -> CheckResult:
    """Are the sequence numbers the student listed exactly the ones missing from ``stream``?

    Taught in notebook 05.
    """
    name = "your lost sequence numbers"
    stream = _check_stream(stream)
    if _not_done(lost):
        return failed(name, "the lost sequence numbers are not listed yet: fill in the cell above (the numbers "
                            "missing between consecutive received packets), then run this check again")
    try:
        listed = [int(v) for v in np.atleast_1d(np.asarray(lost)).ravel().tolist()]
    except (TypeError, ValueError):
        return failed(name, "list the lost sequence numbers as whole numbers, e.g. [1203, 1204, 1290]")
    mine = sorted({v % SEQUENCE_MODULO for v in listed})
    expected = lost_sequence_numbers(stream)
    stats = stream.stats
    if mine == sorted(expected):
        return passed(name, f"the {len(mine)} numbers you listed are exactly the missing ones: "
                            f"expected {stats.expected} - received {stats.packets} = {stats.lost} lost "
                            "(Wireshark's 'Lost' column)")
    return failed(name, _loss_hint(mine, expected, stream))


def _loss_hint(mine: list[int], expected: list[int], stream: RtpStream) -> str:
    received = {int(s) for s in np.asarray(stream.sequence_number).tolist()}
    missing = set(expected)
    if not expected:
        return "this stream lost no packet: every sequence number from the first to the last was received"
    if not mine:
        return "your list is empty, but the sequence numbers of this stream have gaps: look at np.diff(seq) > 1"
    were_received = [v for v in mine if v in received]
    before_gap = {(v + 1) % SEQUENCE_MODULO for v in mine}
    if were_received and before_gap <= missing:
        return ("you listed the last number received before each gap: the missing ones start at seq[i] + 1 "
                "(np.diff finds the gap after seq[i])")
    if were_received:
        return (f"{len(were_received)} of your numbers were received (for example {were_received[0]}): list only the "
                "numbers that never arrived")
    if set(mine) < missing:
        return (f"you found {len(mine)} of the {len(missing)} missing numbers: a gap can hide several packets in a "
                "row; list every number between seq[i] and seq[i + 1] (np.arange(seq[i] + 1, seq[i + 1]))")
    return ("some of your numbers are outside the stream (before its first packet or after its last): list only "
            "the numbers missing between received packets")


def _check_stream(stream: object) -> RtpStream:
    """Misuse, not a wrong answer: the check was given something that is not a stream."""
    if not isinstance(stream, RtpStream):
        raise VoipLabError(f"the stream to check is a {type(stream).__name__}, not an RTP stream: pass one of "
                           "exp.streams (e.g. exp.stream('alcatel', 'rpi'))")
    return stream
