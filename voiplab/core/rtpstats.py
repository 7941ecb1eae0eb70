"""RTP stream statistics with Wireshark 4.0's rules: delta, jitter, loss, per-packet status.

:func:`analyze_stream` computes, over numpy arrays of header fields (no Python object per
packet), what Wireshark 4.0's ``rtppacket_analyse`` computes packet by packet: delta,
RFC 3550 jitter with the payload clock rate, skew, sequence errors, lost packets with
16-bit wrap, and the per-packet status. The results equal ``tshark -q -z rtp,streams`` at
its printed precision (tested). :class:`RtpStream` holds one stream's packets as arrays and
gives its :class:`StreamStats` (one row of tshark's table) and :class:`PacketAnalysis`.

Wireshark's rules, as implemented here (``ui/tap-rtp-analysis.c`` of 4.0, checked against
tshark 4.0.17 on randomized captures):

* time is the arrival time in ms relative to the first packet of the capture
  (``nstime_to_msec``: seconds and nanoseconds both carry the sign before the captured
  times go backwards);
* a packet is *in time sequence* when its RTP timestamp is less than 2^31 ahead of the
  stream's **first** timestamp (modulo 2^32); otherwise it is flagged "Incorrect timestamp"
  and only its sequence number is checked;
* the arrival reference ``time`` is the last in-time packet; the nominal reference
  ``lastnominaltime`` is the last in-time packet **with a clock rate** (not a
  telephone-event): ``nominal = ((ts - ts_first) mod 2^32) / (rate // 1000)``,
  ``D = |t - (time + (nominal - lastnominaltime))|`` and ``J = (15 J + D) / 16`` in double;
* the clock rate is that of the packet's payload type: static types from
  :data:`~voiplab.core.payloads.STATIC_CLOCK_RATES`; dynamic ones from the ``a=rtpmap`` of
  the SDP in force for that packet (telephone-event: none); without SDP, none;
* min/mean/max delta and jitter count only *regular* packets: not the first, not a
  marker-bit packet, not comfort noise (PT 13 or 19) nor the packet after one, not a
  wrong-timestamp packet. The "mean" is Wireshark's running mean, which divides by the
  number of packets seen so far, not by the number of regular ones;
* lost = expected - received, expected = last seq + 65536 * wraps - first seq + 1, in C
  unsigned 32-bit arithmetic (so "Lost" can be negative and its % print as ``-0.0``);
* the "Payload" column names every payload type of the stream, in number order.

The sequential recurrences (jitter filter, running means) are computed exactly (as tshark,
bit for bit) for streams up to :data:`EXACT_STREAM_LENGTH` packets; longer streams use
vectorised forms (recursive doubling, closed-form means) with a rigorous error bound, and
fall back to the exact recurrence whenever a figure lies within that bound of a printed
rounding boundary, so the printed figures are always tshark's.

Arrival times are passed in (nanoseconds since the first packet of the capture): nothing
here reads a clock. Pure: no I/O, no scapy. Taught in notebook 05 (RTP streams, jitter, loss).
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import dataclass, field
from itertools import accumulate
from typing import TypedDict

import numpy as np

from ..errors import RtpParseError
from . import g711
from .payloads import COMFORT_NOISE_TYPES, STATIC_CLOCK_RATES, TELEPHONE_EVENT, clock_rate, payload_name
from .rtp import HALF_TIMESTAMP_RANGE, SEQUENCE_MODULO, TIMESTAMP_MODULO

__all__ = [
    "EXACT_STREAM_LENGTH",
    "FLAG_COMFORT_NOISE",
    "FLAG_FIRST",
    "FLAG_FOLLOWS_COMFORT_NOISE",
    "FLAG_MARKER",
    "FLAG_PT_CHANGE",
    "FLAG_REGULAR_PT_CHANGE",
    "FLAG_TELEPHONE_EVENT",
    "FLAG_WRONG_SEQUENCE",
    "FLAG_WRONG_TIMESTAMP",
    "JITTER_GAIN",
    "SEQUENCE_WRAP_GUESS",
    "PacketAnalysis",
    "PacketRow",
    "RtpStream",
    "StreamStats",
    "StreamSummary",
    "analyze_stream",
    "ns_to_seconds",
    "stats_table_html",
    "summarize_stream",
]

#: Wireshark treats a backward jump of more than this as a wrap (lost packets), not as late.
SEQUENCE_WRAP_GUESS = 0xFF00
JITTER_GAIN = 16  # RFC 3550 A.8: J += (|D| - J) / 16

# Wireshark's STAT_FLAG_* bits: what the analysis found about each packet
FLAG_FIRST = 1
FLAG_MARKER = 2
FLAG_WRONG_SEQUENCE = 4
FLAG_PT_CHANGE = 8
FLAG_COMFORT_NOISE = 16
FLAG_WRONG_TIMESTAMP = 32
FLAG_FOLLOWS_COMFORT_NOISE = 64
FLAG_REGULAR_PT_CHANGE = 128
FLAG_TELEPHONE_EVENT = 256
#: Streams up to this many packets get the exact sequential recurrences (cheap there);
#: longer ones the vectorised approximations, checked against tshark's printed digits.
EXACT_STREAM_LENGTH = 4096
_DOUBLING_STEPS = 11  # (15/16)^(2^11) < 1e-57: older terms of the jitter filter no longer count
_UNIT_ROUNDOFF = 2.0 ** -53
NS_PER_SECOND = 1_000_000_000


def _split_ns(time_ns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Seconds and nanoseconds of an ``nstime_t``: both parts carry the sign (C truncation)."""
    time_ns = np.asarray(time_ns, dtype=np.int64)
    seconds = np.where(time_ns >= 0, time_ns // NS_PER_SECOND, -((-time_ns) // NS_PER_SECOND))
    return seconds, time_ns - seconds * NS_PER_SECOND


def _ms(time_ns: np.ndarray) -> np.ndarray:
    """Wireshark's ``nstime_to_msec``: seconds * 1000 + nanoseconds / 1e6, in double."""
    seconds, nanos = _split_ns(time_ns)
    return seconds.astype(np.float64) * 1000.0 + nanos.astype(np.float64) / 1000000.0


def ns_to_seconds(time_ns: int) -> float:
    """Wireshark's ``nstime_to_sec`` (the start/end columns of tshark)."""
    seconds = abs(time_ns) // NS_PER_SECOND * (1 if time_ns >= 0 else -1)
    return float(seconds) + float(time_ns - seconds * NS_PER_SECOND) / 1e9


def _last_true_before(mask: np.ndarray) -> np.ndarray:
    """For each i: the largest j < i with mask[j] (0 if none; mask[0] is treated as true)."""
    n = len(mask)
    idx = np.where(mask, np.arange(n), 0)
    last = np.maximum.accumulate(idx)
    out = np.empty(n, dtype=np.int64)
    out[0] = 0
    out[1:] = last[:-1]
    return out


def _jitter_exact(diff: np.ndarray) -> np.ndarray:
    """J_k = (15 * J_{k-1} + D_k) / 16 from J = 0, with tshark's double rounding (sequential)."""
    values = list(accumulate(diff.tolist(), lambda j, d: (15 * j + d) / JITTER_GAIN, initial=0.0))
    return np.array(values[1:], dtype=np.float64)


def _jitter_fast(diff: np.ndarray) -> np.ndarray:
    """The same filter by recursive doubling: y[k] += a^s y[k-s] for s = 1, 2, 4, ... 1024.

    Each step scales older terms by a^s <= 1, so rounding errors do not grow: the result is
    within ~30 units of roundoff of max(D) of the sequential value (checked by the caller).
    """
    a = (JITTER_GAIN - 1) / JITTER_GAIN
    y = diff / JITTER_GAIN
    shift = 1
    for _ in range(_DOUBLING_STEPS):
        if shift >= len(y):
            break
        head = y[:-shift] * a ** shift
        y[shift:] += head
        shift *= 2
    return y


def _running_mean_exact(values: np.ndarray, counts: np.ndarray) -> float:
    """Wireshark's mean: m = (m * (N - 1) + x) / N at each update, N = packets seen before."""
    *_, result = accumulate(zip(values.tolist(), counts.tolist(), strict=True),
                            lambda m, xn: (m * (xn[1] - 1) + xn[0]) / xn[1], initial=0.0)
    return float(result)


def _running_mean_fast(values: np.ndarray, counts: np.ndarray) -> float:
    """The same mean in closed form: (1 / N_K) * sum_j x_j * prod_{i > j} (N_i - 1) / N_{i-1}.

    The ratios are exactly 1 between consecutive regular packets, so without gaps (every
    packet regular) this is sum(x) / N_K.
    """
    if len(values) == 0:
        return 0.0
    n = counts.astype(np.float64)
    ratio = (n[1:] - 1.0) / n[:-1]
    if np.all(ratio == 1.0):
        return float(np.sum(values) / n[-1])
    later = np.ones(len(n))
    later[:-1] = np.cumprod(ratio[::-1])[::-1]
    return float(np.sum(values * later) / n[-1])


def _settled(value: float, tolerance: float, digits: int = 3) -> bool:
    """Is ``value`` printed the same (``%.3f``) wherever the exact value lies within tolerance?"""
    if not np.isfinite(value):
        return False
    return f"{value - tolerance:.{digits}f}" == f"{value + tolerance:.{digits}f}"
def _c_extremes_and_mean(values: list[float], counts: list[int], minimum: float = -1.0) -> tuple[float, float, float]:
    """(min, max, mean) exactly as ``rtppacket_analyse`` updates them, packet by packet (C semantics)."""
    low, high, mean = minimum, 0.0, 0.0
    for value, count in zip(values, counts, strict=True):
        high = max(high, value)
        if low == -1 or value < low:
            low = value
        mean = (mean * (count - 1) + value) / count
    return low, high, mean


class PacketRow(TypedDict):
    """One row of the per-packet table of :meth:`PacketAnalysis.rows`."""

    seq: int
    delta_ms: float
    jitter_ms: float
    skew_ms: float
    marker: bool
    status: str


@dataclass(frozen=True, repr=False)
class PacketAnalysis:
    """Per-packet results of :func:`analyze_stream` (numpy arrays, one entry per packet).

    Attributes:
        delta_ms: arrival time minus the previous in-time packet's (0 for the first).
        jitter_ms: the RFC 3550 jitter estimate after this packet.
        skew_ms: nominal (RTP timestamp) time minus arrival time since the first packet.
        flags: Wireshark's STAT_FLAG bits (``FLAG_*`` constants of this module).
        regular: packets that count in min/mean/max delta and jitter.

    Taught in notebook 05.
    """

    sequence_number: np.ndarray
    delta_ms: np.ndarray
    jitter_ms: np.ndarray
    skew_ms: np.ndarray
    flags: np.ndarray
    regular: np.ndarray
    payload_type: np.ndarray

    def __len__(self) -> int:
        return len(self.delta_ms)

    def status(self, i: int) -> str:
        """The status column of Wireshark's RTP stream analysis for packet ``i``."""
        f = int(self.flags[i])
        if f & FLAG_WRONG_SEQUENCE:
            return "Wrong sequence number"
        if f & FLAG_REGULAR_PT_CHANGE:
            return f"Payload changed to PT={int(self.payload_type[i])}" + (
                " telephone/event" if f & FLAG_TELEPHONE_EVENT else "")
        if f & FLAG_WRONG_TIMESTAMP:
            return "Incorrect timestamp"
        if (f & FLAG_PT_CHANGE and not f & FLAG_FIRST and not f & FLAG_COMFORT_NOISE
                and f & FLAG_FOLLOWS_COMFORT_NOISE and not f & FLAG_MARKER):
            return "Marker missing?"
        if f & FLAG_TELEPHONE_EVENT:
            return f"PT={int(self.payload_type[i])} telephone/event"
        return "[ Ok ]"

    def rows(self) -> list[PacketRow]:
        """The table as dicts: seq, delta_ms, jitter_ms, skew_ms, marker, status."""
        return [
            {"seq": int(self.sequence_number[i]), "delta_ms": float(self.delta_ms[i]),
             "jitter_ms": float(self.jitter_ms[i]), "skew_ms": float(self.skew_ms[i]),
             "marker": bool(self.flags[i] & FLAG_MARKER), "status": self.status(i)}
            for i in range(len(self))
        ]

    def __repr__(self) -> str:
        bad = int(np.count_nonzero(self.flags & (FLAG_WRONG_SEQUENCE | FLAG_WRONG_TIMESTAMP)))
        return f"PacketAnalysis({len(self)} packets, {bad} with a wrong sequence number or timestamp)"

    def _repr_html_(self, limit: int = 200) -> str:
        head = "".join(f"<th>{h}</th>" for h in ("#", "seq", "delta (ms)", "jitter (ms)", "skew (ms)", "marker",
                                                 "status"))
        body = []
        for i in range(min(len(self), limit)):
            status = self.status(i)
            style = "" if status == "[ Ok ]" else " style='color:#b00'"
            body.append(
                f"<tr{style}><td>{i}</td><td>{int(self.sequence_number[i])}</td><td>{self.delta_ms[i]:.3f}</td>"
                f"<td>{self.jitter_ms[i]:.3f}</td><td>{self.skew_ms[i]:.3f}</td>"
                f"<td>{'M' if self.flags[i] & FLAG_MARKER else ''}</td><td>{html.escape(status)}</td></tr>")
        more = f"<p>... {len(self) - limit} more packets</p>" if len(self) > limit else ""
        return f"<table><tr>{head}</tr>{''.join(body)}</table>{more}"


@dataclass(frozen=True)
class StreamSummary:
    """The figures of one row of ``tshark -q -z rtp,streams``, before the stream's identity is known.

    Attributes:
        packets, expected, lost, lost_percent: received packets, expected ones (C uint32
            arithmetic), lost = expected - received (may be negative), and its percentage.
        min_delta_ms, mean_delta_ms, max_delta_ms: arrival gaps of regular packets (ms).
        min_jitter_ms, mean_jitter_ms, max_jitter_ms: RFC 3550 jitter of regular packets (ms).
        problem: a wrong sequence number or timestamp (tshark's "X" column).
        sequence_errors: packets with a wrong sequence number; -1 when not computed
            (:func:`summarize_stream` does not need them, :func:`analyze_stream` counts them).

    Taught in notebook 05.
    """

    packets: int
    expected: int
    lost: int
    lost_percent: float
    min_delta_ms: float
    mean_delta_ms: float
    max_delta_ms: float
    min_jitter_ms: float
    mean_jitter_ms: float
    max_jitter_ms: float
    problem: bool
    sequence_errors: int = -1  # -1: not computed (the summary path does not need it)


def _rates(payload_type: np.ndarray, clock_rates: Mapping[int, int] | np.ndarray | None,
           telephone_event_types: frozenset[int] | set[int]) -> tuple[np.ndarray, np.ndarray]:
    """Clock rate (Hz, 0 = none) and telephone-event flag of every packet."""
    pt = payload_type.astype(np.intp) & 0x7F
    telephone = np.zeros(128, dtype=bool)
    for p in telephone_event_types:
        telephone[p] = p >= 96
    if isinstance(clock_rates, np.ndarray):
        rate = np.asarray(clock_rates, dtype=np.int64)
        return rate, telephone[pt]
    table = np.zeros(128, dtype=np.int64)
    for p, value in STATIC_CLOCK_RATES.items():
        table[p] = value
    for p, value in (clock_rates or {}).items():
        if p >= 96:
            table[p] = value
    table[telephone] = 0
    return table[pt], telephone[pt]


class _Timing:
    """What ``rtppacket_analyse`` derives from arrival times and RTP timestamps (vectorised).

    * ``in_time``: the timestamp is at most 2^31 ahead of the stream's first (mod 2^32);
    * the arrival time reference (``statinfo->time``) is the last in-time packet;
    * the nominal reference (``lastnominaltime``) is the last in-time packet with a clock;
    * ``diff`` = |t - (t_ref + (nominal - nominal_ref))| for in-time packets with a clock,
      nominal = ((ts - ts_first) mod 2^32) / (rate // 1000).
    """

    def __init__(self, time_ns: np.ndarray, timestamp: np.ndarray, rate: np.ndarray) -> None:
        n = len(time_ns)
        self.t = _ms(time_ns)
        ts = np.asarray(timestamp, dtype=np.int64)
        ahead = ts - ts[0]
        self.in_time = np.where(ahead >= 0, ahead < HALF_TIMESTAMP_RANGE,
                                ahead + (TIMESTAMP_MODULO - 1) < HALF_TIMESTAMP_RANGE)
        self.in_time[0] = True
        ahead %= TIMESTAMP_MODULO
        self.with_clock = self.in_time & (rate != 0)
        self.with_clock[0] = False
        self.reference = _last_true_before(self.in_time)
        self.delta = self.t - self.t[self.reference]
        self.delta[0] = 0.0
        self.updates = np.flatnonzero(self.with_clock)
        self.exact_division = True
        if len(self.updates):
            rows = self.updates
            divisor = (rate[rows] // 1000).astype(np.float64)
            with np.errstate(divide="ignore", invalid="ignore"):
                nominal = ahead[rows].astype(np.float64) / divisor
            self.nominal = nominal
            previous_nominal = np.empty(len(rows))
            previous_nominal[0] = 0.0
            previous_nominal[1:] = nominal[:-1]
            self.diff = np.abs(self.t[rows] - (self.t[self.reference[rows]] + (nominal - previous_nominal)))
        else:
            self.nominal = self.diff = np.zeros(0)
        self.finite = bool(np.all(np.isfinite(self.diff)))
        self.n = n


def _sequence_summary(seq: np.ndarray, in_time: np.ndarray) -> tuple[int, bool]:
    """(wraps counted by Wireshark's flip-flop, any wrong sequence number)."""
    start = int(seq[0])
    previous = np.empty_like(seq)
    previous[0] = start
    previous[1:] = seq[:-1]
    set_event = in_time & ((seq < start) | ((seq == 0) & (previous == SEQUENCE_MODULO - 1)))
    reset_event = in_time & (seq > start)
    set_event[0] = reset_event[0] = False
    events = np.flatnonzero(set_event | reset_event)
    kinds = set_event[events]
    cycles = int(np.count_nonzero(kinds & np.concatenate([[True], ~kinds[:-1]])))
    if not in_time.all():
        return cycles, True  # flagged anyway (wrong timestamp)
    step = (seq[1:] - seq[:-1]) & (SEQUENCE_MODULO - 1)
    return cycles, bool(np.any(step != 1))


def summarize_stream(
    time_ns: np.ndarray,
    sequence_number: np.ndarray,
    timestamp: np.ndarray,
    payload_type: np.ndarray,
    marker: np.ndarray,
    clock_rates: Mapping[int, int] | np.ndarray | None = None,
    telephone_event_types: frozenset[int] | set[int] = frozenset(),
    exact: bool | None = None,
) -> StreamSummary:
    """The figures of one row of ``tshark -q -z rtp,streams`` for ONE stream (arrival order).

    Parameters are those of :func:`analyze_stream`; ``exact`` forces (True) or forbids (False)
    the sequential recurrences; by default they are used for short streams, and for long
    ones only when a vectorised figure is too close to a printed rounding boundary.

    Taught in notebook 05.
    """
    n = len(time_ns)
    if n == 0:
        raise ValueError("an RTP stream has at least one packet")
    seq = np.asarray(sequence_number, dtype=np.int64)
    pt = np.asarray(payload_type, dtype=np.int64) & 0x7F
    mark = np.asarray(marker, dtype=bool)
    rate, _ = _rates(pt, clock_rates, telephone_event_types)
    timing = _Timing(time_ns, timestamp, rate)
    cycles, wrong_sequence = _sequence_summary(seq, timing.in_time)
    expected = (int(seq[-1]) + cycles * SEQUENCE_MODULO - int(seq[0]) + 1) & 0xFFFFFFFF
    lost = _int32(expected - n)
    lost_percent = _int32(lost * 100) / expected if expected else 0.0

    comfort = (pt == COMFORT_NOISE_TYPES[0]) | (pt == COMFORT_NOISE_TYPES[1])
    regular = timing.in_time & ~mark & ~comfort
    regular[1:] &= ~comfort[:-1]
    regular[0] = False
    rows = np.flatnonzero(regular)
    deltas = timing.delta[rows]
    use_exact = n <= EXACT_STREAM_LENGTH if exact is None else exact

    # delta: exact values; min/max by selection, the running mean checked or exact
    if len(rows) == 0:
        min_delta, max_delta, mean_delta = -1.0, 0.0, 0.0
    elif np.any(deltas == -1.0):
        min_delta, max_delta, mean_delta = _c_extremes_and_mean(deltas.tolist(), rows.tolist())
    else:
        min_delta, max_delta = float(deltas.min()), max(0.0, float(deltas.max()))
        if use_exact:
            mean_delta = _running_mean_exact(deltas, rows)
        else:
            mean_delta = _running_mean_fast(deltas, rows)
            scale = float(np.max(np.abs(deltas)))
            if not _settled(mean_delta, (20 * len(rows) + 300) * _UNIT_ROUNDOFF * scale):
                mean_delta = _running_mean_exact(deltas, rows)

    # jitter: J after each update; figures over regular packets with a clock
    position = np.cumsum(timing.with_clock) - 1
    jitter_rows = rows[rate[rows] != 0]
    figures = (-1.0, 0.0, 0.0)
    if len(jitter_rows):
        at = position[jitter_rows]
        counts = jitter_rows
        if use_exact or not timing.finite:
            values = _jitter_exact(timing.diff)[at]
            if not timing.finite:
                figures = _c_extremes_and_mean(values.tolist(), counts.tolist())
            else:
                figures = (float(values.min()), max(0.0, float(values.max())), _running_mean_exact(values, counts))
        else:
            values = _jitter_fast(timing.diff.copy())[at]
            scale = float(np.max(timing.diff))
            tolerance = 64 * _UNIT_ROUNDOFF * scale
            low, high = float(values.min()), max(0.0, float(values.max()))
            mean = _running_mean_fast(values, counts)
            mean_tolerance = tolerance + (20 * len(values) + 300) * _UNIT_ROUNDOFF * scale
            if not (_settled(low, tolerance) and _settled(high, tolerance) and _settled(mean, mean_tolerance)):
                values = _jitter_exact(timing.diff)[at]
                low, high = float(values.min()), max(0.0, float(values.max()))
                mean = _running_mean_exact(values, counts)
            figures = (low, high, mean)
    min_jitter, max_jitter, mean_jitter = figures
    return StreamSummary(
        packets=n, expected=expected, lost=lost, lost_percent=lost_percent,
        min_delta_ms=min_delta, mean_delta_ms=mean_delta, max_delta_ms=max_delta,
        min_jitter_ms=min_jitter, mean_jitter_ms=mean_jitter, max_jitter_ms=max_jitter,
        problem=wrong_sequence or not bool(timing.in_time.all()),
    )


def _int32(value: int) -> int:
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value >= 1 << 31 else value


def analyze_stream(
    time_ns: np.ndarray,
    sequence_number: np.ndarray,
    timestamp: np.ndarray,
    payload_type: np.ndarray,
    marker: np.ndarray,
    clock_rates: Mapping[int, int] | np.ndarray | None = None,
    telephone_event_types: frozenset[int] | set[int] = frozenset(),
) -> tuple[PacketAnalysis, StreamSummary]:
    """Wireshark 4.0's RTP stream analysis over the packets of ONE stream (arrival order).

    Parameters:
        time_ns: arrival times in ns, relative to the first packet of the capture.
        sequence_number, timestamp, payload_type, marker: the RTP header fields.
        clock_rates: clock rate (Hz) of dynamic payload types (from the SDP), or one rate per
            packet (as the RTP dissector found it for that packet); static types use
            :data:`STATIC_CLOCK_RATES`. Missing or 0: no jitter for those packets.
        telephone_event_types: dynamic types that are telephone-event (no jitter).

    Returns:
        (per-packet :class:`PacketAnalysis`, summary figures).

    Taught in notebook 05.
    """
    summary = summarize_stream(time_ns, sequence_number, timestamp, payload_type, marker, clock_rates,
                               telephone_event_types)
    n = len(time_ns)
    seq = np.asarray(sequence_number, dtype=np.int64)
    pt = np.asarray(payload_type, dtype=np.int64) & 0x7F
    mark = np.asarray(marker, dtype=bool)
    rate, telephone = _rates(pt, clock_rates, telephone_event_types)
    timing = _Timing(time_ns, timestamp, rate)
    in_time = timing.in_time

    # statinfo->jitter after each packet, skew = nominal - arrival at packets with a clock
    jitter = np.zeros(n)
    skew = np.zeros(n)
    if len(timing.updates):
        holder = np.zeros(n, dtype=np.int64)
        holder[timing.updates] = np.arange(1, len(timing.updates) + 1)
        holder = np.maximum.accumulate(holder)
        values = _jitter_exact(timing.diff) if n <= EXACT_STREAM_LENGTH else _jitter_fast(timing.diff.copy())
        jitter = np.concatenate([[0.0], values])[holder]
        arrival = timing.t[timing.updates] - timing.t[0]
        skew = np.concatenate([[0.0], timing.nominal - arrival])[holder]
    delta = timing.delta

    flags = np.zeros(n, dtype=np.int64)
    flags[0] |= FLAG_FIRST
    flags[mark] |= FLAG_MARKER
    comfort = np.isin(pt, COMFORT_NOISE_TYPES)
    flags[comfort] |= FLAG_COMFORT_NOISE
    flags[1:][comfort[:-1]] |= FLAG_FOLLOWS_COMFORT_NOISE
    flags[1:][pt[1:] != pt[:-1]] |= FLAG_PT_CHANGE
    flags[~in_time] |= FLAG_WRONG_TIMESTAMP
    flags[telephone] |= FLAG_TELEPHONE_EVENT
    flags[0] &= FLAG_FIRST | FLAG_MARKER
    regular_pt_source = _last_true_before(~comfort)
    regular_pt = pt[regular_pt_source]
    change = (~comfort) & (pt != regular_pt)
    change[0] = False
    flags[change] |= FLAG_REGULAR_PT_CHANGE
    wrong_seq = _wrong_sequence(seq, in_time)
    flags[wrong_seq] |= FLAG_WRONG_SEQUENCE

    regular = in_time & ~mark & ~comfort
    regular[1:] &= ~comfort[:-1]
    regular[0] = False
    analysis = PacketAnalysis(
        sequence_number=seq, delta_ms=delta, jitter_ms=jitter, skew_ms=skew, flags=flags, regular=regular,
        payload_type=pt,
    )
    summary = StreamSummary(**{**summary.__dict__, "sequence_errors": int(np.count_nonzero(wrong_seq))})
    return analysis, summary


def _wrong_sequence(seq: np.ndarray, in_time: np.ndarray) -> np.ndarray:
    """Wrong-sequence flags, with Wireshark's state machine.

    The state ``seq_num`` is the sequence number of the last *accepted* packet: in-time
    packets are accepted unless they are late or duplicated (at most 0xFF00 behind). The
    acceptance of a packet depends only on earlier ones, so iterating "assume, recompute"
    converges to the sequential result (usually in one or two rounds; capped, then a loop).
    """
    n = len(seq)
    accepted = in_time.copy()
    accepted[0] = True
    state = seq[_last_true_before(accepted)]
    for _ in range(32):
        state = seq[_last_true_before(accepted)]
        behind = state - seq
        new = in_time & ~((seq <= state) & (behind <= SEQUENCE_WRAP_GUESS))
        new[0] = True
        if np.array_equal(new, accepted):
            break
        accepted = new
    else:  # pathological: fall back to the sequential definition
        state = np.empty(n, dtype=np.int64)
        current = int(seq[0])
        for i in range(n):
            state[i] = current
            s = int(seq[i])
            if i == 0 or (in_time[i] and not (s <= current and current - s <= SEQUENCE_WRAP_GUESS)):
                current = s
    next_ok = (seq == state + 1) | ((state == SEQUENCE_MODULO - 1) & (seq == 0))
    wrong = np.where(in_time, ~next_ok, seq <= state)
    wrong[0] = False
    return wrong


@dataclass(frozen=True)
class StreamStats:
    """The statistics of one RTP stream: one row of ``tshark -q -z rtp,streams``.

    Times ``start``/``end`` are seconds from the first packet of the capture; deltas and
    jitters in ms. ``min_*`` is -1 when no packet qualified (as tshark prints it).
    Taught in notebook 05.
    """

    src: str
    src_port: int
    dst: str
    dst_port: int
    ssrc: int
    payload: str
    packets: int
    lost: int
    expected: int
    min_delta_ms: float
    mean_delta_ms: float
    max_delta_ms: float
    min_jitter_ms: float
    mean_jitter_ms: float
    max_jitter_ms: float
    start: float
    end: float
    sequence_errors: int = 0
    problem: bool = False

    JSON_KEYS = ("src", "src_port", "dst", "dst_port", "ssrc", "payload", "packets", "lost", "min_delta_ms",
                 "mean_delta_ms", "max_delta_ms", "min_jitter_ms", "mean_jitter_ms", "max_jitter_ms", "start",
                 "end")

    @property
    def lost_percent(self) -> float:
        """Lost packets in % of the expected ones (as tshark's "Lost" column).

        tshark computes it in C integers: ``(int32)(lost * 100) / (double)(uint32)expected``,
        so a negative "expected" (reordering before the first packet) prints ``-0.0``.
        """
        expected = self.expected & 0xFFFFFFFF
        return _int32(self.lost * 100) / expected if expected else 0.0

    def to_json(self) -> dict[str, str | int | float]:
        """The ``voiplab analyze --json`` object (exactly :attr:`JSON_KEYS`)."""
        out: dict[str, str | int | float] = {k: getattr(self, k) for k in self.JSON_KEYS}
        out["ssrc"] = f"0x{self.ssrc:08X}"
        for k in ("min_delta_ms", "mean_delta_ms", "max_delta_ms", "min_jitter_ms", "mean_jitter_ms",
                  "max_jitter_ms"):
            out[k] = round(getattr(self, k), 3)
        out["start"] = round(self.start, 6)
        out["end"] = round(self.end, 6)
        return out

    def tshark_row(self) -> str:
        """This stream formatted as a row of ``tshark -q -z rtp,streams`` (Wireshark 4.0)."""
        return (f"{self.start:13.6f} {self.end:13.6f} {self.src:>15} {self.src_port:5d} {self.dst:>15} "
                f"{self.dst_port:5d} 0x{self.ssrc:08X} {self.payload:>16} {self.packets:5d} "
                f"{self.lost:5d} ({self.lost_percent:.1f}%) {self.min_delta_ms:15.3f} {self.mean_delta_ms:15.3f} "
                f"{self.max_delta_ms:15.3f} {self.min_jitter_ms:15.3f} {self.mean_jitter_ms:15.3f} "
                f"{self.max_jitter_ms:15.3f} {'X' if self.problem else ''}")

    def __repr__(self) -> str:
        return (f"StreamStats({self.src}:{self.src_port} -> {self.dst}:{self.dst_port} SSRC=0x{self.ssrc:08X} "
                f"{self.payload}, {self.packets} packets, lost {self.lost}, max delta {self.max_delta_ms:.3f} ms, "
                f"mean jitter {self.mean_jitter_ms:.3f} ms)")

    def _repr_html_(self) -> str:
        return stats_table_html([self])


def stats_table_html(streams: list[StreamStats]) -> str:
    """An HTML table of stream statistics (one row per stream)."""
    head = ("source", "destination", "SSRC", "payload", "packets", "lost", "min/mean/max delta (ms)",
            "min/mean/max jitter (ms)", "start (s)", "end (s)")
    rows = []
    for s in streams:
        style = " style='color:#b00'" if s.problem else ""
        rows.append(
            f"<tr{style}><td>{html.escape(s.src)}:{s.src_port}</td><td>{html.escape(s.dst)}:{s.dst_port}</td>"
            f"<td>0x{s.ssrc:08X}</td><td>{html.escape(s.payload)}</td><td>{s.packets}</td>"
            f"<td>{s.lost} ({s.lost_percent:.1f}%)</td>"
            f"<td>{s.min_delta_ms:.3f} / {s.mean_delta_ms:.3f} / {s.max_delta_ms:.3f}</td>"
            f"<td>{s.min_jitter_ms:.3f} / {s.mean_jitter_ms:.3f} / {s.max_jitter_ms:.3f}</td>"
            f"<td>{s.start:.6f}</td><td>{s.end:.6f}</td></tr>")
    return "<table><tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr>" + "".join(rows) + "</table>"


@dataclass(frozen=True, repr=False)
class RtpStream:
    """One RTP stream: its identity, its packets as arrays, and (optionally) their payloads.

    Attributes:
        src, src_port, dst, dst_port, ssrc: the stream identity (as tshark groups packets).
        frame: 1-based frame numbers in the capture.
        time_ns: arrival times (ns since the first packet of the capture).
        sequence_number, timestamp, payload_type, marker: header fields per packet.
        rtpmap: dynamic payload type -> (encoding name, clock rate), from the SDP.
        payload_data, payload_offset, payload_length: the payload bytes of packet i are
            ``payload_data[payload_offset[i]:payload_offset[i] + payload_length[i]]``.
        default_names: names of dynamic payload types not in ``rtpmap`` (tshark's defaults).
        clock_rate: the clock rate (Hz, 0 = no jitter) of every packet, when it differs
            between packets (an SDP renegotiation); default: from ``rtpmap`` and the static types.
        payload_names: tshark's "Payload" column (every payload type of the stream, in
            payload type order); default: built from ``rtpmap`` and ``default_names``.

    Taught in notebook 05.
    """

    src: str
    src_port: int
    dst: str
    dst_port: int
    ssrc: int
    frame: np.ndarray
    time_ns: np.ndarray
    sequence_number: np.ndarray
    timestamp: np.ndarray
    payload_type: np.ndarray
    marker: np.ndarray
    rtpmap: Mapping[int, tuple[str, int]] = field(default_factory=dict)
    payload_data: np.ndarray | None = None
    payload_offset: np.ndarray | None = None
    payload_length: np.ndarray | None = None
    default_names: Mapping[int, str] = field(default_factory=dict)
    clock_rate: np.ndarray | None = None
    payload_names: str | None = None

    def __len__(self) -> int:
        return len(self.time_ns)

    @property
    def payload_name(self) -> str:
        """tshark's "Payload" column: the names of all payload types of the stream, by number."""
        if self.payload_names is not None:
            return self.payload_names
        names: dict[int, str] | None = {pt: name for pt, (name, _rate) in self.rtpmap.items()} or None
        if names is not None or self.default_names:
            names = {**self.default_names, **(names or {})}
        present = np.flatnonzero(np.bincount(np.asarray(self.payload_type, dtype=np.intp) & 0x7F, minlength=128))
        return ", ".join(payload_name(int(pt), names) for pt in present)

    def _rate_arguments(self) -> tuple[Mapping[int, int] | np.ndarray, frozenset[int]]:
        if self.clock_rate is not None:
            return self.clock_rate, frozenset(
                pt for pt, (name, _rate) in self.rtpmap.items() if name.lower().startswith(TELEPHONE_EVENT))
        rates = {pt: clock_rate(pt, name, rate) for pt, (name, rate) in self.rtpmap.items()}
        events = frozenset(pt for pt, (name, _rate) in self.rtpmap.items() if name.lower().startswith(TELEPHONE_EVENT))
        return rates, events

    def _summary(self) -> StreamSummary:
        cached = self.__dict__.get("_cached_summary")
        if cached is None:
            rates, events = self._rate_arguments()
            cached = summarize_stream(self.time_ns, self.sequence_number, self.timestamp, self.payload_type,
                                      self.marker, rates, events)
            object.__setattr__(self, "_cached_summary", cached)
        return cached

    @property
    def analysis(self) -> PacketAnalysis:
        """The per-packet table (delta, jitter, skew, status) of Wireshark's RTP analysis."""
        cached = self.__dict__.get("_cached_analysis")
        if cached is None:
            rates, events = self._rate_arguments()
            cached = analyze_stream(self.time_ns, self.sequence_number, self.timestamp, self.payload_type,
                                    self.marker, rates, events)
            object.__setattr__(self, "_cached_analysis", cached)
            object.__setattr__(self, "_cached_summary", cached[1])
        return cached[0]

    @property
    def stats(self) -> StreamStats:
        """The tshark-identical statistics of this stream."""
        s = self._summary()
        return StreamStats(
            src=self.src, src_port=self.src_port, dst=self.dst, dst_port=self.dst_port, ssrc=self.ssrc,
            payload=self.payload_name, packets=s.packets, lost=s.lost, expected=s.expected,
            min_delta_ms=s.min_delta_ms, mean_delta_ms=s.mean_delta_ms, max_delta_ms=s.max_delta_ms,
            min_jitter_ms=s.min_jitter_ms, mean_jitter_ms=s.mean_jitter_ms, max_jitter_ms=s.max_jitter_ms,
            start=ns_to_seconds(int(self.time_ns[0])), end=ns_to_seconds(int(self.time_ns[-1])),
            sequence_errors=max(s.sequence_errors, 0), problem=s.problem,
        )

    @property
    def jitter_ms(self) -> float:
        """The mean jitter (ms), as tshark's "Mean Jitter" column."""
        return self.stats.mean_jitter_ms

    @property
    def max_delta_ms(self) -> float:
        """The largest gap between regular packets (ms)."""
        return self.stats.max_delta_ms

    def payload(self, i: int) -> bytes:
        """The payload bytes of packet ``i``."""
        if self.payload_data is None or self.payload_offset is None or self.payload_length is None:
            raise RtpParseError("RTP stream has no payload bytes: it was built from headers only; "
                                "analyse the capture with voiplab.capture.streams.streams(path)")
        start = int(self.payload_offset[i])
        return bytes(self.payload_data[start:start + int(self.payload_length[i])])

    def audio(self) -> np.ndarray:
        """The decoded audio (int16 at 8000 Hz) of a G.711 stream, placed by RTP timestamp.

        Lost packets become silence, reordered packets land where they belong, other payload
        types (telephone-event, comfort noise) are skipped.

        Raises:
            RtpParseError: the stream carries no G.711 packets or no payload bytes.
        """
        if self.payload_data is None or self.payload_offset is None or self.payload_length is None:
            raise RtpParseError("RTP stream has no payload bytes: it was built from headers only; "
                                "analyse the capture with voiplab.capture.streams.streams(path)")
        audio_pt = np.isin(self.payload_type, (0, 8))
        if not audio_pt.any():
            raise RtpParseError(f"RTP stream 0x{self.ssrc:08X} carries no G.711 audio (payload "
                                f"{self.payload_name}): only g711U/g711A can be decoded here")
        ts = self.timestamp.astype(np.int64)
        step = np.zeros(len(ts), dtype=np.int64)
        step[1:] = (np.diff(ts) + HALF_TIMESTAMP_RANGE) % TIMESTAMP_MODULO - HALF_TIMESTAMP_RANGE
        position = np.cumsum(step)
        idx = np.flatnonzero(audio_pt)
        position = position[idx] - position[idx].min()
        lengths = self.payload_length[idx].astype(np.int64)
        out = np.zeros(int((position + lengths).max()), dtype=np.int16)
        for k, i in enumerate(idx.tolist()):
            start = int(self.payload_offset[i])
            codes = self.payload_data[start:start + int(lengths[k])]
            decode = g711.ulaw_decode if self.payload_type[i] == 0 else g711.alaw_decode
            out[position[k]:position[k] + lengths[k]] = decode(codes)
        return out

    def __repr__(self) -> str:
        return (f"RtpStream({self.src}:{self.src_port} -> {self.dst}:{self.dst_port} SSRC=0x{self.ssrc:08X} "
                f"{self.payload_name}, {len(self)} packets)")

    def _repr_html_(self) -> str:
        return self.stats._repr_html_()
