"""Views over the RTP streams of a call: their path, bit rate, losses, quality, audio, keys pressed.

* :func:`stream_path`, :class:`StreamsTable`: RTP via the PBX or direct (phone to phone);
* :func:`bit_rates`: what one direction costs at each layer (codec, IP, Ethernet, the wire);
* :func:`lost_sequence_numbers`, :func:`simulate_loss`: which packets are missing, and a copy
  of a stream with packets removed as a lossy network would (the loopback loses none);
* :func:`both_sides`: the two directions of a call as one stereo array (``vl.call_audio``),
  the phones named by their lab role;
* :func:`quality_table`: the E-model estimate of each stream (an estimate, not a measurement);
* :func:`dtmf_digits`: the RFC 4733 key presses a stream carries.

Taught in notebooks 05 (RTP) and 09 (your own call).
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Protocol, Unpack

import numpy as np

from ..core.audio import call_audio
from ..core.dtmf import Digit, digits
from ..core.payloads import TELEPHONE_EVENT
from ..core.quality import EstimateOptions, QualityEstimate, estimate
from ..core.rtp import RTP_HEADER_LENGTH, SEQUENCE_MODULO, TIMESTAMP_MODULO
from ..core.rtpstats import RtpStream, StreamStats
from ..errors import VoipLabError
from .explain import Recorded

__all__ = [
    "DIRECT",
    "ETHERNET_OVERHEAD",
    "IPV4_HEADER_LENGTH",
    "PREAMBLE_AND_GAP",
    "UDP_HEADER_LENGTH",
    "VIA_PBX",
    "BitRates",
    "Captured",
    "QualityTable",
    "StreamsTable",
    "both_sides",
    "bit_rates",
    "dtmf_digits",
    "lost_sequence_numbers",
    "quality_table",
    "role_address",
    "simulate_loss",
    "stream_path",
]

#: bytes of a UDP header (RFC 768)
UDP_HEADER_LENGTH = 8
#: bytes of an IPv4 header without options (RFC 791)
IPV4_HEADER_LENGTH = 20
#: bytes Ethernet adds to each IP packet in the frame: 14 of header (two MAC addresses and the
#: EtherType) and the 4-byte frame check sequence (FCS) at the end
ETHERNET_OVERHEAD = 18
#: bytes of line time around each frame on the wire: 8 of preamble and start delimiter, and the
#: 12-byte inter-frame gap (so 38 bytes in all with :data:`ETHERNET_OVERHEAD`)
PREAMBLE_AND_GAP = 20
BITS_PER_BYTE = 8
#: the two paths an RTP stream of the lab can take (:func:`stream_path`)
VIA_PBX = "via the PBX"
DIRECT = "direct (phone to phone)"


def stream_path(stats: StreamStats, pbx: str) -> str:
    """``"via the PBX"`` when the PBX sends or receives the stream, else ``"direct (phone to phone)"``.

    Taught in notebook 05 (direct media: RTP moves phone to phone after the re-INVITEs).
    """
    return VIA_PBX if pbx in (stats.src, stats.dst) else DIRECT


@dataclass(frozen=True)
class StreamsTable:
    """The RTP streams of a capture with their path: via the PBX or direct. Taught in notebook 05."""

    stats: list[StreamStats]
    pbx: str
    note: str = ""

    def path(self, stats: StreamStats) -> str:
        """The path of one stream of the table (:func:`stream_path` with this table's PBX)."""
        return stream_path(stats, self.pbx)

    def __repr__(self) -> str:
        if not self.stats:
            return f"no RTP streams ({self.note or 'none in the capture'})"
        return "\n".join(f"{s.start:7.3f}-{s.end:7.3f} s  {s.src}:{s.src_port} -> {s.dst}:{s.dst_port} "
                         f"0x{s.ssrc:08X} {s.payload} {s.packets} packets  {self.path(s)}"
                         for s in sorted(self.stats, key=lambda s: s.start))

    def _repr_html_(self) -> str:
        if not self.stats:
            return f"<p>{html.escape(repr(self))}</p>"
        head = ("start (s)", "end (s)", "source", "destination", "SSRC", "payload", "packets", "lost",
                "mean jitter (ms)", "path")
        rows = []
        for s in sorted(self.stats, key=lambda s: s.start):
            path = self.path(s)
            colour = "#fff3c4" if path == VIA_PBX else "#d4f7d4"
            rows.append(f"<tr style='background:{colour}'><td>{s.start:.3f}</td><td>{s.end:.3f}</td>"
                        f"<td>{s.src}:{s.src_port}</td><td>{s.dst}:{s.dst_port}</td><td>0x{s.ssrc:08X}</td>"
                        f"<td>{html.escape(s.payload)}</td><td>{s.packets}</td><td>{s.lost}</td>"
                        f"<td>{s.mean_jitter_ms:.3f}</td><td><b>{path}</b></td></tr>")
        return ("<table><tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr>" + "".join(rows) + "</table>")


# ---------------------------------------------------------------------------- bit rates
@dataclass(frozen=True)
class BitRates:
    """What one direction of a call costs, layer by layer (kbit/s: 1000 bits per second).

    Attributes:
        payload_bytes: audio bytes per packet (160 for 20 ms of G.711).
        packets_per_second: packets sent per second (50 for 20 ms packets).
        ptime_ms: milliseconds of audio per packet, from the RTP timestamp step and the clock.
        codec_kbps: the payload alone (64 kbit/s for G.711).
        ip_kbps: with the RTP (12), UDP (8) and IPv4 (20) headers.
        ethernet_kbps: the Ethernet frames: + 18 bytes (14 of header, 4 of FCS).
        wire_kbps: the line time: + 20 more bytes (preamble 8, inter-frame gap 12).

    Taught in notebook 05 (and 01).
    """

    payload_bytes: int
    packets_per_second: float
    ptime_ms: float
    codec_kbps: float
    ip_kbps: float
    ethernet_kbps: float
    wire_kbps: float

    def __repr__(self) -> str:
        return (f"BitRates({self.payload_bytes} bytes every {self.ptime_ms:g} ms = {self.packets_per_second:g} "
                f"packets/s: codec {self.codec_kbps:g}, IP {self.ip_kbps:g}, Ethernet {self.ethernet_kbps:g}, "
                f"wire {self.wire_kbps:g} kbit/s)")

    def _repr_html_(self) -> str:
        rows = (("codec (payload only)", self.payload_bytes, self.codec_kbps),
                ("IP: + RTP 12 + UDP 8 + IPv4 20", self.payload_bytes + 40, self.ip_kbps),
                ("Ethernet frame: + header 14 + FCS 4", self.payload_bytes + 58, self.ethernet_kbps),
                ("on the wire: + preamble 8 + gap 12", self.payload_bytes + 78, self.wire_kbps))
        body = "".join(f"<tr><td>{html.escape(what)}</td><td>{size}</td><td>{kbps:g}</td></tr>"
                       for what, size, kbps in rows)
        return (f"<p>{self.payload_bytes} bytes of audio every {self.ptime_ms:g} ms: "
                f"{self.packets_per_second:g} packets per second</p>"
                "<table><tr><th>layer</th><th>bytes per packet</th><th>kbit/s (one direction)</th></tr>"
                f"{body}</table>")


def _audio_packets(stream: RtpStream) -> np.ndarray:
    """Indexes of the packets that carry audio (not telephone-events)."""
    events = [pt for pt, (name, _rate) in stream.rtpmap.items() if name.lower().startswith(TELEPHONE_EVENT)]
    return np.flatnonzero(~np.isin(stream.payload_type, events))


def bit_rates(stream: RtpStream, clock_rate: int = 8000) -> BitRates:
    """The bit rate of one RTP stream at each layer, from its packets (payload size and timestamp step).

    Raises:
        VoipLabError: the stream has fewer than two audio packets or no payload bytes.

    Taught in notebook 05.
    """
    idx = _audio_packets(stream)
    if len(idx) < 2 or stream.payload_length is None:
        raise VoipLabError(f"the stream {stream.src} -> {stream.dst} has too few audio packets for a bit rate: "
                           "pick a stream of a whole call")
    payload = int(np.median(stream.payload_length[idx]))
    step = np.diff(stream.timestamp[idx].astype(np.int64)) % TIMESTAMP_MODULO
    ptime_ms = float(np.median(step[step > 0])) * 1000.0 / clock_rate
    pps = 1000.0 / ptime_ms

    def kbps(size: int) -> float:
        return round(size * BITS_PER_BYTE * pps / 1000.0, 3)

    ip = payload + RTP_HEADER_LENGTH + UDP_HEADER_LENGTH + IPV4_HEADER_LENGTH
    return BitRates(payload_bytes=payload, packets_per_second=round(pps, 3), ptime_ms=round(ptime_ms, 3),
                    codec_kbps=kbps(payload), ip_kbps=kbps(ip), ethernet_kbps=kbps(ip + ETHERNET_OVERHEAD),
                    wire_kbps=kbps(ip + ETHERNET_OVERHEAD + PREAMBLE_AND_GAP))


# ---------------------------------------------------------------------------- loss
def _unwrapped(sequence_numbers: np.ndarray) -> np.ndarray:
    """Sequence numbers as a growing count (65535 is followed by 65536, not 0)."""
    seq = np.asarray(sequence_numbers, dtype=np.int64)
    if len(seq) == 0:
        return seq
    half = SEQUENCE_MODULO // 2
    step = (np.diff(seq) + half) % SEQUENCE_MODULO - half
    return seq[0] + np.concatenate([[0], np.cumsum(step)])


def lost_sequence_numbers(stream: RtpStream) -> list[int]:
    """The sequence numbers missing between a stream's first and last packet, in order.

    Their count is Wireshark's "Lost" when no packet came twice or out of order
    (expected = last - first + 1, lost = expected - received). Numbers wrap at 65536.

    Taught in notebook 05.
    """
    seq = _unwrapped(stream.sequence_number)
    if len(seq) == 0:
        return []
    present = np.unique(seq)
    missing = np.setdiff1d(np.arange(int(present[0]), int(present[-1]) + 1), present)
    return [int(s) % SEQUENCE_MODULO for s in missing]


def simulate_loss(stream: RtpStream, percent: float = 4.0, *, seed: int = 0, burst: int = 1) -> RtpStream:
    """A copy of ``stream`` without some of its packets, as a lossy network would deliver it.

    The lab's loopback interface loses nothing; this removes about ``percent`` % of the
    packets (never the first or the last), in runs of ``burst`` consecutive packets, chosen
    by ``seed``: the same seed removes the same packets. The copy is analysed like any
    stream (``.stats``, ``.analysis``, ``.audio()``: the missing packets become silence).

    Raises:
        VoipLabError: ``percent`` is not between 0 and 50, or ``burst`` is below 1.

    Taught in notebook 05 (lost sequence numbers).
    """
    if not 0 <= percent <= 50:
        raise VoipLabError(f"a loss of {percent} % is not simulated here: use a percentage between 0 and 50")
    if burst < 1:
        raise VoipLabError(f"a burst of {burst} packets is not possible: use 1 or more")
    n = len(stream)
    rng = np.random.default_rng(seed)
    keep = np.ones(n, dtype=bool)
    runs = int(round(n * percent / 100.0 / burst))
    if n > 2 and runs:
        starts = rng.choice(np.arange(1, max(2, n - burst)), size=min(runs, max(1, n - burst - 1)), replace=False)
        for start in starts.tolist():
            keep[start:min(start + burst, n - 1)] = False
    idx = np.flatnonzero(keep)

    def pick(values: np.ndarray | None) -> np.ndarray | None:
        return None if values is None else np.asarray(values)[idx]

    return replace(stream, frame=stream.frame[idx], time_ns=stream.time_ns[idx],
                   sequence_number=stream.sequence_number[idx], timestamp=stream.timestamp[idx],
                   payload_type=stream.payload_type[idx], marker=stream.marker[idx],
                   payload_offset=pick(stream.payload_offset), payload_length=pick(stream.payload_length),
                   clock_rate=pick(stream.clock_rate))


# ---------------------------------------------------------------------------- audio
def role_address(roles: Mapping[str, str], who: str) -> str:
    """The IP address of a lab role (``"rpi"``, ``"alcatel"``, ``"pbx"``) in ``roles`` (ip -> role).

    An address is returned as it is.

    Raises:
        VoipLabError: no address has that role.

    Taught in notebook 05.
    """
    for ip, role in roles.items():
        if who in (ip, role) or role.split(" ")[0] == who:
            return ip
    if who.replace(".", "").isdigit() or ":" in who:
        return who
    known = ", ".join(role.split(" ")[0] for role in roles.values())
    raise VoipLabError(f"no address has the role {who!r} in this call: use one of {known}")


class Captured(Protocol):
    """A recorded call with its RTP streams and the lab roles of its addresses (an Experiment)."""

    @property
    def streams(self) -> list[RtpStream] | None: ...

    @property
    def roles(self) -> Mapping[str, str]: ...


def both_sides(source: Captured, left: str = "rpi", right: str = "alcatel") -> np.ndarray:
    """Both directions of a recorded call as one stereo array (:func:`voiplab.core.audio.call_audio`).

    Parameters:
        source: the recorded call (``vl.record_call(...)``, a sample: anything with
            ``streams`` and ``roles``).
        left, right: the two phones, by lab role or address: the left channel is what
            ``left`` *sent*, the right what ``right`` sent.

    Returns:
        int16 samples of shape ``(n, 2)`` at 8000 Hz: ``IPython.display.Audio(x.T, rate=8000)``.

    Raises:
        VoipLabError: the call has no RTP streams, or a role is not in it.
        RtpParseError: neither phone sent G.711 audio.

    Taught in notebooks 05 and 09.
    """
    if not source.streams:
        raise VoipLabError("this call has no RTP streams to play: record it with capture, or use "
                           "vl.rtp_or_sample(...) for the sample capture")
    return call_audio(source.streams, role_address(source.roles, left), role_address(source.roles, right))


# ---------------------------------------------------------------------------- quality, DTMF
@dataclass(frozen=True)
class QualityTable:
    """The estimated MOS of each stream, with the E-model inputs (an estimate, not a measurement).

    Taught in notebook 05.
    """

    rows: tuple[tuple[StreamStats, QualityEstimate], ...]

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


def quality_table(source: Recorded | Sequence[StreamStats | RtpStream],
                  **options: Unpack[EstimateOptions]) -> QualityTable:
    """The E-model estimate (:func:`voiplab.core.quality.estimate`) of every audio stream.

    A stream that also carries DTMF is named ``"g711U, telephone-event"`` (as tshark names
    it): its voice codec, the first name, is the one rated.

    Taught in notebook 05.
    """
    stats = (source.stream_stats if isinstance(source, Recorded)
             else [s.stats if isinstance(s, RtpStream) else s for s in source])
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

    event_types = [pt for pt, (name, _rate) in stream.rtpmap.items() if name.lower() == "telephone-event"]
    if not event_types:
        event_types = [101]
    idx = np.flatnonzero(np.isin(stream.payload_type, event_types))
    if len(idx) == 0:
        return []
    payloads = [stream.payload(int(i)) for i in idx]
    times = np.asarray(stream.time_ns, dtype=float)[idx] / 1e9
    return digits(np.asarray(stream.timestamp)[idx], payloads, times)
