"""RTP and RTCP packets, and RTP stream statistics with Wireshark 4.0's rules.

Two halves:

* **Packets** (RFC 3550): :class:`RtpHeader` (version, padding, extension, CSRCs, marker,
  payload type, sequence number, timestamp, SSRC) and the RTCP packets of a compound
  packet (:class:`SenderReport`, :class:`ReceiverReport`, :class:`SourceDescription`,
  :class:`Goodbye`), each a frozen dataclass with ``parse()`` and ``__bytes__``.
* **Streams**: :func:`analyze_stream` computes, over numpy arrays of header fields (no
  Python object per packet), what Wireshark 4.0's ``rtppacket_analyse`` computes packet by
  packet: delta, RFC 3550 jitter with the payload clock rate, skew, sequence errors, lost
  packets with 16-bit wrap, and the per-packet status. The results equal
  ``tshark -q -z rtp,streams`` at its printed precision (tested).

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
  :data:`STATIC_CLOCK_RATES`; dynamic ones from the ``a=rtpmap`` of the SDP in force for
  that packet (telephone-event: none); without SDP, none;
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

Pure: no I/O, no scapy, no clock. Taught in notebook 05 (RTP packets, streams, jitter, loss).
"""

from __future__ import annotations

import html
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import RtpParseError

__all__ = [
    "COMFORT_NOISE_TYPES",
    "DYNAMIC_CLOCK_RATES",
    "PAYLOAD_NAMES",
    "RTP_HEADER_LENGTH",
    "RTP_VERSION",
    "STATIC_CLOCK_RATES",
    "Goodbye",
    "PacketAnalysis",
    "ReceiverReport",
    "ReportBlock",
    "RtcpPacket",
    "RtpHeader",
    "RtpStream",
    "SdesChunk",
    "SenderReport",
    "SourceDescription",
    "StreamStats",
    "analyze_stream",
    "clock_rate",
    "is_rtcp",
    "ns_to_seconds",
    "parse_rtcp",
    "payload_name",
    "summarize_stream",
]

RTP_VERSION = 2
RTP_HEADER_LENGTH = 12
CSRC_LENGTH = 4
EXTENSION_HEADER_LENGTH = 4
SEQUENCE_MODULO = 1 << 16
TIMESTAMP_MODULO = 1 << 32
HALF_TIMESTAMP_RANGE = 1 << 31
#: Wireshark treats a backward jump of more than this as a wrap (lost packets), not as late.
SEQUENCE_WRAP_GUESS = 0xFF00
#: Comfort noise payload types (RFC 3389 and the old RFC 1890 value).
COMFORT_NOISE_TYPES = (13, 19)
JITTER_GAIN = 16  # RFC 3550 A.8: J += (|D| - J) / 16

#: Payload names exactly as ``tshark -z rtp,streams`` prints them (Wireshark 4.0), static types.
PAYLOAD_NAMES: dict[int, str] = {
    0: "g711U", 1: "fs-1016", 2: "g721", 3: "GSM", 4: "g723", 5: "DVI4 8k", 6: "DVI4 16k",
    7: "Exp. from Xerox PARC", 8: "g711A", 9: "g722", 10: "16-bit audio, stereo",
    11: "16-bit audio, monaural", 12: "Qualcomm", 13: "CN", 14: "MPEG-I/II Audio", 15: "g728",
    16: "DVI4 11k", 17: "DVI4 22k", 18: "g729", 19: "CN(old)", 25: "CellB", 26: "JPEG", 28: "NV",
    31: "h261", 32: "MPEG-I/II Video", 33: "MPEG-II streams", 34: "h263",
    **{pt: "Reserved for RTCP conflict avoidance" for pt in range(72, 77)},
}
#: Names of dynamic types that have a decoder in Wireshark by default, used when no SDP set
#: up the stream (heuristic RTP); with an SDP, a type missing from it is ``RTPType-<n>``.
DEFAULT_DYNAMIC_NAMES: dict[int, str] = {99: "rtp.rfc2198", 100: "rtpevent", 101: "rtpevent"}

#: Clock rates (Hz) of the static payload types, as Wireshark knows them (0: unknown).
STATIC_CLOCK_RATES: dict[int, int] = {
    0: 8000, 1: 8000, 2: 8000, 3: 8000, 4: 8000, 5: 8000, 6: 16000, 7: 8000, 8: 8000, 9: 8000,
    10: 44100, 11: 44100, 12: 8000, 13: 8000, 14: 90000, 15: 8000, 16: 11025, 17: 22050, 18: 8000,
    19: 8000, 25: 90000, 26: 90000, 28: 90000, 31: 90000, 32: 90000, 33: 90000, 34: 90000,
}

#: Clock rates of dynamic payload types by encoding name (prefix match, case-insensitive),
#: used when the SDP gives none; ``telephone-event`` has no jitter (RFC 4733 2.2.1).
DYNAMIC_CLOCK_RATES: dict[str, int] = {
    "AMR": 8000, "AMR-WB": 16000, "BMPEG": 90000, "BT656": 90000, "DV": 90000, "EVRC": 8000,
    "EVRC0": 8000, "EVRC1": 8000, "EVRCB": 8000, "EVRCB0": 8000, "EVRCB1": 8000, "EVRCWB": 16000,
    "EVRCWB0": 16000, "EVRCWB1": 16000, "EVS": 16000, "G7221": 16000, "G726-16": 8000,
    "G726-24": 8000, "G726-32": 8000, "G726-40": 8000, "G729D": 8000, "G729E": 8000,
    "GSM-EFR": 8000, "H263-1998": 90000, "H263-2000": 90000, "H264": 90000, "MP1S": 90000,
    "MP2P": 90000, "MP4V-ES": 90000, "mpa-robust": 90000, "opus": 48000, "pointer": 90000,
    "raw": 90000, "red": 1000, "SMV": 8000, "SMV0": 8000, "t140": 1000, "telephone-event": 8000,
}
TELEPHONE_EVENT = "telephone-event"


def payload_name(payload_type: int, rtpmap: Mapping[int, str] | None = None) -> str:
    """The payload name tshark prints: ``g711U`` for 0, the SDP encoding name for dynamic types.

    Parameters:
        payload_type: 0-127.
        rtpmap: dynamic type -> encoding name of the SDP that set up the stream; ``None``
            when no SDP did (heuristic RTP): dynamic types get Wireshark's default names.

    Taught in notebook 05.
    """
    if payload_type > 95:
        if rtpmap is None:
            return DEFAULT_DYNAMIC_NAMES.get(payload_type, f"RTPType-{payload_type}")
        return rtpmap.get(payload_type, f"RTPType-{payload_type}")
    return PAYLOAD_NAMES.get(payload_type, "Unassigned")


def clock_rate(payload_type: int, encoding: str | None = None, sdp_rate: int = 0) -> int:
    """The clock rate Wireshark uses for jitter (Hz), 0 when unknown or telephone-event.

    Parameters:
        payload_type: the RTP payload type.
        encoding: the SDP encoding name of a dynamic type, if known.
        sdp_rate: the SDP ``a=rtpmap`` clock rate, if known.

    Taught in notebook 05.
    """
    if payload_type < 96:
        return STATIC_CLOCK_RATES.get(payload_type, 0)
    if encoding is None:
        return 0
    if encoding.lower().startswith(TELEPHONE_EVENT):
        return 0
    if sdp_rate:
        return sdp_rate
    for name in sorted(DYNAMIC_CLOCK_RATES, key=str.lower, reverse=True):
        if encoding.lower().startswith(name.lower()):
            return DYNAMIC_CLOCK_RATES[name]
    return 0


# ====================================================================== RTP header
@dataclass(frozen=True)
class RtpHeader:
    """An RTP packet: the fixed header, CSRCs, optional extension, payload and padding.

    Attributes:
        payload_type: 0-127 (0 is G.711 mu-law, 8 A-law, 101 often telephone-event).
        sequence_number: 16 bits, +1 per packet (wraps 65535 -> 0).
        timestamp: 32 bits, in units of the payload clock (8000 Hz for G.711).
        ssrc: the synchronisation source, identifies the stream.
        marker: the M bit (start of a talkspurt for audio).
        csrc: contributing sources (a mixer's inputs).
        extension_profile, extension: the header extension (``None`` if the X bit is clear).
        payload: the payload bytes (without padding).
        padding: number of padding bytes at the end (0 = P bit clear).
        version: always 2 for RTP; kept to show what a wrong packet carries.

    Taught in notebook 05.
    """

    payload_type: int
    sequence_number: int
    timestamp: int
    ssrc: int
    marker: bool = False
    csrc: tuple[int, ...] = ()
    extension_profile: int | None = None
    extension: bytes = b""
    payload: bytes = field(default=b"", repr=False)
    padding: int = 0
    version: int = RTP_VERSION

    @classmethod
    def parse(cls, data: bytes) -> RtpHeader:
        """Parse one RTP packet.

        Raises:
            RtpParseError: the data is too short, not version 2, or its lengths do not fit.
        """
        data = bytes(data)
        if len(data) < RTP_HEADER_LENGTH:
            raise RtpParseError(
                f"RTP packet is too short ({len(data)} bytes): an RTP header needs "
                f"{RTP_HEADER_LENGTH} bytes; check that this UDP payload is RTP", offset=len(data))
        b0, b1, seq, ts, ssrc = struct.unpack_from("!BBHII", data)
        version = b0 >> 6
        if version != RTP_VERSION:
            raise RtpParseError(
                f"RTP version is {version}, not 2: this is not an RTP packet (STUN, ZRTP or other "
                "UDP?); check the port binding", offset=0)
        count = b0 & 0x0F
        offset = RTP_HEADER_LENGTH + CSRC_LENGTH * count
        if len(data) < offset:
            raise RtpParseError(
                f"RTP packet is truncated: its header lists {count} CSRCs but only {len(data)} bytes "
                "are present: the capture may be cut short (snaplen)", offset=len(data))
        csrc = struct.unpack_from(f"!{count}I", data, RTP_HEADER_LENGTH)
        profile: int | None = None
        extension = b""
        if b0 & 0x10:
            if len(data) < offset + EXTENSION_HEADER_LENGTH:
                raise RtpParseError(
                    "RTP packet is truncated: the X bit announces a header extension that is "
                    "missing: the capture may be cut short (snaplen)", offset=len(data))
            profile, words = struct.unpack_from("!HH", data, offset)
            end = offset + EXTENSION_HEADER_LENGTH + 4 * words
            if len(data) < end:
                raise RtpParseError(
                    f"RTP packet is truncated: its header extension needs {4 * words} bytes but only "
                    f"{len(data) - offset - EXTENSION_HEADER_LENGTH} are present: the capture may be "
                    "cut short (snaplen)", offset=len(data))
            extension = data[offset + EXTENSION_HEADER_LENGTH:end]
            offset = end
        padding = 0
        if b0 & 0x20:
            padding = data[-1] if len(data) > offset else 0
            if padding == 0 or offset + padding > len(data):
                raise RtpParseError(
                    f"RTP padding is invalid: the P bit is set but the padding count is {padding} for "
                    f"{len(data) - offset} bytes after the header: the packet is corrupt", offset=len(data) - 1)
        return cls(
            payload_type=b1 & 0x7F, sequence_number=seq, timestamp=ts, ssrc=ssrc, marker=bool(b1 & 0x80),
            csrc=tuple(csrc), extension_profile=profile, extension=extension,
            payload=data[offset:len(data) - padding], padding=padding, version=version,
        )

    def __bytes__(self) -> bytes:
        b0 = (self.version << 6) | (0x20 if self.padding else 0) | (
            0x10 if self.extension_profile is not None else 0) | len(self.csrc)
        b1 = (0x80 if self.marker else 0) | self.payload_type
        out = struct.pack("!BBHII", b0, b1, self.sequence_number, self.timestamp, self.ssrc)
        out += struct.pack(f"!{len(self.csrc)}I", *self.csrc)
        if self.extension_profile is not None:
            if len(self.extension) % 4:
                raise RtpParseError(
                    f"RTP header extension is {len(self.extension)} bytes: it must be a multiple of 4 "
                    "bytes; pad it with zeros")
            out += struct.pack("!HH", self.extension_profile, len(self.extension) // 4) + self.extension
        out += self.payload
        if self.padding:
            out += bytes(self.padding - 1) + bytes([self.padding])
        return out

    def __repr__(self) -> str:
        flags = " M" if self.marker else ""
        return (f"RtpHeader(PT={self.payload_type} {payload_name(self.payload_type)}, "
                f"seq={self.sequence_number}, ts={self.timestamp}, SSRC=0x{self.ssrc:08X}{flags}, "
                f"{len(self.payload)} bytes)")


# ====================================================================== RTCP
RTCP_SR, RTCP_RR, RTCP_SDES, RTCP_BYE, RTCP_APP = 200, 201, 202, 203, 204
SDES_ITEM_NAMES = {1: "CNAME", 2: "NAME", 3: "EMAIL", 4: "PHONE", 5: "LOC", 6: "TOOL", 7: "NOTE", 8: "PRIV"}


def is_rtcp(data: bytes) -> bool:
    """Does this UDP payload look like RTCP (version 2, packet type 200-204)?"""
    return len(data) >= 4 and data[0] >> 6 == RTP_VERSION and RTCP_SR <= data[1] <= RTCP_APP


@dataclass(frozen=True)
class ReportBlock:
    """One reception report (RFC 3550 6.4.1): what a receiver saw of one source.

    ``fraction_lost`` is the 8-bit fraction (lost/expected * 256) since the last report,
    ``jitter`` is in timestamp units. Taught in notebook 05.
    """

    ssrc: int
    fraction_lost: int
    cumulative_lost: int
    highest_sequence: int
    jitter: int
    last_sr: int
    delay_since_last_sr: int

    LENGTH = 24

    @classmethod
    def parse(cls, data: bytes, offset: int = 0) -> ReportBlock:
        ssrc, word, highest, jitter, lsr, dlsr = struct.unpack_from("!IIIIII", data, offset)
        lost = word & 0xFFFFFF
        if lost & 0x800000:
            lost -= 1 << 24
        return cls(ssrc, word >> 24, lost, highest, jitter, lsr, dlsr)

    def __bytes__(self) -> bytes:
        return struct.pack("!IIIIII", self.ssrc, (self.fraction_lost << 24) | (self.cumulative_lost & 0xFFFFFF),
                           self.highest_sequence, self.jitter, self.last_sr, self.delay_since_last_sr)

    def __repr__(self) -> str:
        return (f"ReportBlock(SSRC=0x{self.ssrc:08X}, lost={self.cumulative_lost} "
                f"({self.fraction_lost}/256), jitter={self.jitter})")


def _rtcp_header(count: int, packet_type: int, body: bytes) -> bytes:
    if len(body) % 4:
        raise RtpParseError(f"RTCP body is {len(body)} bytes: it must be a multiple of 4; pad it")
    return struct.pack("!BBH", 0x80 | count, packet_type, len(body) // 4) + body


@dataclass(frozen=True)
class SenderReport:
    """RTCP SR (PT 200): NTP and RTP time of the sender, its counts, and reports.

    Taught in notebook 05.
    """

    ssrc: int
    ntp_timestamp: int
    rtp_timestamp: int
    packet_count: int
    octet_count: int
    reports: tuple[ReportBlock, ...] = ()

    @classmethod
    def _parse(cls, count: int, body: bytes) -> SenderReport:
        if len(body) < 24 + ReportBlock.LENGTH * count:
            raise RtpParseError("RTCP sender report is truncated: its length field is too small for its "
                                f"{count} report blocks: the packet is corrupt")
        ssrc, ntp, rtp_ts, packets, octets = struct.unpack_from("!IQIII", body)
        reports = tuple(ReportBlock.parse(body, 24 + ReportBlock.LENGTH * k) for k in range(count))
        return cls(ssrc, ntp, rtp_ts, packets, octets, reports)

    def __bytes__(self) -> bytes:
        body = struct.pack("!IQIII", self.ssrc, self.ntp_timestamp, self.rtp_timestamp, self.packet_count,
                           self.octet_count) + b"".join(bytes(r) for r in self.reports)
        return _rtcp_header(len(self.reports), RTCP_SR, body)

    def __repr__(self) -> str:
        return (f"SenderReport(SSRC=0x{self.ssrc:08X}, packets={self.packet_count}, "
                f"octets={self.octet_count}, {len(self.reports)} reports)")


@dataclass(frozen=True)
class ReceiverReport:
    """RTCP RR (PT 201): reception reports of a participant that does not send.

    Taught in notebook 05.
    """

    ssrc: int
    reports: tuple[ReportBlock, ...] = ()

    @classmethod
    def _parse(cls, count: int, body: bytes) -> ReceiverReport:
        if len(body) < 4 + ReportBlock.LENGTH * count:
            raise RtpParseError("RTCP receiver report is truncated: its length field is too small for its "
                                f"{count} report blocks: the packet is corrupt")
        (ssrc,) = struct.unpack_from("!I", body)
        return cls(ssrc, tuple(ReportBlock.parse(body, 4 + ReportBlock.LENGTH * k) for k in range(count)))

    def __bytes__(self) -> bytes:
        body = struct.pack("!I", self.ssrc) + b"".join(bytes(r) for r in self.reports)
        return _rtcp_header(len(self.reports), RTCP_RR, body)

    def __repr__(self) -> str:
        return f"ReceiverReport(SSRC=0x{self.ssrc:08X}, {len(self.reports)} reports)"


@dataclass(frozen=True)
class SdesChunk:
    """The SDES items of one source: ``((1, "user@host"),)`` is a CNAME."""

    ssrc: int
    items: tuple[tuple[int, str], ...]

    def __bytes__(self) -> bytes:
        out = struct.pack("!I", self.ssrc)
        for kind, text in self.items:
            value = text.encode()
            out += bytes([kind, len(value)]) + value
        out += b"\x00"
        return out + bytes(-len(out) % 4)

    def __repr__(self) -> str:
        items = ", ".join(f"{SDES_ITEM_NAMES.get(k, k)}={v!r}" for k, v in self.items)
        return f"SdesChunk(SSRC=0x{self.ssrc:08X}, {items})"


@dataclass(frozen=True)
class SourceDescription:
    """RTCP SDES (PT 202): CNAME and other items per source. Taught in notebook 05."""

    chunks: tuple[SdesChunk, ...]

    @classmethod
    def _parse(cls, count: int, body: bytes) -> SourceDescription:
        chunks = []
        offset = 0
        for _ in range(count):
            if offset + 4 > len(body):
                raise RtpParseError("RTCP SDES is truncated: a chunk's SSRC is missing: the packet is corrupt")
            (ssrc,) = struct.unpack_from("!I", body, offset)
            offset += 4
            items = []
            while True:
                if offset >= len(body):
                    raise RtpParseError("RTCP SDES is truncated: a chunk has no end item: the packet is corrupt")
                kind = body[offset]
                if kind == 0:
                    offset += 1
                    offset += -offset % 4
                    break
                if offset + 2 > len(body) or offset + 2 + body[offset + 1] > len(body):
                    raise RtpParseError("RTCP SDES item is truncated: its length runs past the packet: "
                                        "the packet is corrupt")
                length = body[offset + 1]
                items.append((kind, body[offset + 2:offset + 2 + length].decode("utf-8", "replace")))
                offset += 2 + length
            chunks.append(SdesChunk(ssrc, tuple(items)))
        return cls(tuple(chunks))

    def __bytes__(self) -> bytes:
        return _rtcp_header(len(self.chunks), RTCP_SDES, b"".join(bytes(c) for c in self.chunks))

    def __repr__(self) -> str:
        return f"SourceDescription({', '.join(map(repr, self.chunks))})"


@dataclass(frozen=True)
class Goodbye:
    """RTCP BYE (PT 203): these sources leave, with an optional reason. Taught in notebook 05."""

    sources: tuple[int, ...]
    reason: str = ""

    @classmethod
    def _parse(cls, count: int, body: bytes) -> Goodbye:
        if len(body) < 4 * count:
            raise RtpParseError("RTCP BYE is truncated: its source count runs past the packet: the packet is corrupt")
        sources = struct.unpack_from(f"!{count}I", body)
        reason = ""
        if len(body) > 4 * count:
            length = body[4 * count]
            reason = body[4 * count + 1:4 * count + 1 + length].decode("utf-8", "replace")
        return cls(tuple(sources), reason)

    def __bytes__(self) -> bytes:
        body = struct.pack(f"!{len(self.sources)}I", *self.sources)
        if self.reason:
            value = self.reason.encode()
            body += bytes([len(value)]) + value
            body += bytes(-len(body) % 4)
        return _rtcp_header(len(self.sources), RTCP_BYE, body)

    def __repr__(self) -> str:
        sources = ", ".join(f"0x{s:08X}" for s in self.sources)
        return f"Goodbye({sources}{', ' + repr(self.reason) if self.reason else ''})"


RtcpPacket = SenderReport | ReceiverReport | SourceDescription | Goodbye
_RTCP_PARSERS: dict[int, Any] = {
    RTCP_SR: SenderReport, RTCP_RR: ReceiverReport, RTCP_SDES: SourceDescription, RTCP_BYE: Goodbye,
}


def parse_rtcp(data: bytes) -> list[RtcpPacket]:
    """Parse a compound RTCP packet into its SR/RR/SDES/BYE parts (APP and unknown are skipped).

    Raises:
        RtpParseError: a part is truncated, not version 2, or its length does not fit.

    Taught in notebook 05.
    """
    data = bytes(data)
    packets: list[RtcpPacket] = []
    offset = 0
    if not data:
        raise RtpParseError("RTCP packet is empty: an RTCP header needs 4 bytes; check the port (RTP port + 1)")
    while offset < len(data):
        if len(data) - offset < 4:
            raise RtpParseError(
                f"RTCP packet is truncated: {len(data) - offset} bytes left where a 4-byte header is needed: "
                "the capture may be cut short", offset=offset)
        b0, packet_type, words = struct.unpack_from("!BBH", data, offset)
        if b0 >> 6 != RTP_VERSION:
            raise RtpParseError(f"RTCP version is {b0 >> 6}, not 2: this is not RTCP; check the port binding",
                                offset=offset)
        end = offset + 4 + 4 * words
        if end > len(data):
            raise RtpParseError(
                f"RTCP packet is truncated: its length field says {4 * words} bytes after the header but "
                f"{len(data) - offset - 4} are present: the capture may be cut short", offset=offset)
        body = data[offset + 4:end]
        if b0 & 0x20 and body:
            body = body[:len(body) - body[-1]]
        parser = _RTCP_PARSERS.get(packet_type)
        if parser is not None:
            packets.append(parser._parse(b0 & 0x1F, body))
        offset = end
    return packets


# ====================================================================== stream analysis
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
    from itertools import accumulate

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
    from itertools import accumulate

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

    def rows(self) -> list[dict[str, Any]]:
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
class _Summary:
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
) -> _Summary:
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
    return _Summary(
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
) -> tuple[PacketAnalysis, _Summary]:
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
    summary = _Summary(**{**summary.__dict__, "sequence_errors": int(np.count_nonzero(wrong_seq))})
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


# ====================================================================== stream objects
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

    def to_json(self) -> dict[str, Any]:
        """The ``voiplab analyze --json`` object (exactly :attr:`JSON_KEYS`)."""
        out: dict[str, Any] = {k: getattr(self, k) for k in self.JSON_KEYS}
        out["ssrc"] = f"0x{self.ssrc:08X}"
        for k in ("min_delta_ms", "mean_delta_ms", "max_delta_ms", "min_jitter_ms", "mean_jitter_ms",
                  "max_jitter_ms"):
            out[k] = round(out[k], 3)
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

    def _summary(self) -> _Summary:
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
        from . import g711

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
