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

Wireshark's rules, as implemented here (``ui/tap-rtp-analysis.c``, 4.0):

* time is the arrival time in ms relative to the first packet of the capture;
* a packet is *in time sequence* when its RTP timestamp is at most 2^31 ahead of the
  stream's first timestamp (modulo 2^32); otherwise it is flagged "Incorrect timestamp"
  and only its sequence number is checked;
* for in-time packets with a known clock rate:
  ``D = |t - (t_prev + (ts - ts_prev) / (rate // 1000))|`` and ``J += (D - J) / 16``,
  where *prev* is the previous in-time packet; telephone-event and unknown dynamic
  payload types have no clock rate, hence no jitter;
* min/mean/max delta and jitter count only *regular* packets: not the first, not a
  marker-bit packet, not comfort noise (PT 13 or 19) nor the packet after one, not a
  wrong-timestamp packet. The "mean" is Wireshark's running mean, which divides by the
  number of packets seen so far, not by the number of regular ones;
* lost = expected - received, expected = last seq + 65536 * wraps - first seq + 1
  (negative with duplicates).

Pure: no I/O, no scapy, no clock. Taught in notebook 05 (RTP packets, streams, jitter, loss).
"""

from __future__ import annotations

import html
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import RtpParseError

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
    "parse_rtcp",
    "payload_name",
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

#: Payload names exactly as ``tshark -z rtp,streams`` prints them (Wireshark 4.0).
PAYLOAD_NAMES: dict[int, str] = {
    0: "g711U", 1: "fs-1016", 2: "g721", 3: "GSM", 4: "g723", 5: "DVI4 8k", 6: "DVI4 16k",
    7: "Exp. from Xerox PARC", 8: "g711A", 9: "g722", 10: "16-bit audio, stereo",
    11: "16-bit audio, monaural", 12: "Qualcomm", 13: "CN", 14: "MPEG-I/II Audio", 15: "g728",
    16: "DVI4 11k", 17: "DVI4 22k", 18: "g729", 19: "CN(old)", 25: "CellB", 26: "JPEG", 28: "NV",
    31: "h261", 32: "MPEG-I/II Video", 33: "MPEG-II streams", 34: "h263",
    # dynamic types with a default decoder in Wireshark when no SDP names them
    99: "rtp.rfc2198", 100: "rtpevent", 101: "rtpevent",
}

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

    Taught in notebook 05.
    """
    if payload_type > 95:
        if rtpmap and payload_type in rtpmap:
            return rtpmap[payload_type]
        return PAYLOAD_NAMES.get(payload_type, f"RTPType-{payload_type}")
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
_JITTER_BLOCK = 64


def _ms(time_ns: np.ndarray) -> np.ndarray:
    """Wireshark's ``nstime_to_msec``: seconds * 1000 + nanoseconds / 1e6, in double."""
    time_ns = np.asarray(time_ns, dtype=np.int64)
    seconds, nanos = np.divmod(time_ns, 1_000_000_000)
    return seconds.astype(np.float64) * 1000.0 + nanos.astype(np.float64) / 1000000.0


def _last_true_before(mask: np.ndarray) -> np.ndarray:
    """For each i: the largest j < i with mask[j] (0 if none; mask[0] is treated as true)."""
    n = len(mask)
    idx = np.where(mask, np.arange(n), 0)
    idx[0] = 0
    last = np.maximum.accumulate(idx)
    out = np.empty(n, dtype=np.int64)
    out[0] = 0
    out[1:] = last[:-1]
    return out


def _first_order_filter(x: np.ndarray, initial: float = 0.0) -> np.ndarray:
    """y[k] = (15 * y[k-1] + x[k]) / 16 for all k, vectorised in blocks of 64.

    Within a block y = a^(k+1) * y0 + (1/16) * a^k * cumsum(x * a^-m) with a = 15/16;
    a^-63 is only ~58, so the block form loses no precision worth a 0.001 ms digit.
    Block start values are carried by a short loop (one step per 64 packets).
    """
    n = len(x)
    if n == 0:
        return np.zeros(0)
    a = (JITTER_GAIN - 1) / JITTER_GAIN
    blocks = -(-n // _JITTER_BLOCK)
    padded = np.zeros(blocks * _JITTER_BLOCK)
    padded[:n] = x
    xb = padded.reshape(blocks, _JITTER_BLOCK)
    m = np.arange(_JITTER_BLOCK)
    up = a ** (-m.astype(np.float64))
    down = a ** m.astype(np.float64)
    local = np.cumsum(xb * up, axis=1) * (down / JITTER_GAIN)
    decay = a ** (m + 1.0)
    carry = np.empty(blocks)
    y0 = initial
    a_block = a ** _JITTER_BLOCK
    ends = local[:, -1].tolist()
    for b in range(blocks):
        carry[b] = y0
        y0 = a_block * y0 + ends[b]
    y = local + carry[:, None] * decay
    return y.reshape(-1)[:n]


def _running_mean(values: np.ndarray, counts: np.ndarray) -> float:
    """Wireshark's mean: m = (m * (N - 1) + x) / N at each update, N = packets seen before."""
    if len(values) == 0:
        return 0.0
    counts = counts.astype(np.float64)
    factor = np.log((counts - 1.0) / counts, where=counts > 1, out=np.zeros_like(counts))
    # product of the factors *after* each update
    after = np.concatenate([np.cumsum(factor[::-1])[::-1][1:], [0.0]])
    return float(np.sum(values / counts * np.exp(after)))


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
    sequence_errors: int
    min_delta_ms: float
    mean_delta_ms: float
    max_delta_ms: float
    min_jitter_ms: float
    mean_jitter_ms: float
    max_jitter_ms: float
    problem: bool


def analyze_stream(
    time_ns: np.ndarray,
    sequence_number: np.ndarray,
    timestamp: np.ndarray,
    payload_type: np.ndarray,
    marker: np.ndarray,
    clock_rates: Mapping[int, int] | None = None,
    telephone_event_types: frozenset[int] | set[int] = frozenset(),
) -> tuple[PacketAnalysis, _Summary]:
    """Wireshark 4.0's RTP stream analysis over the packets of ONE stream (arrival order).

    Parameters:
        time_ns: arrival times in ns, relative to the first packet of the capture.
        sequence_number, timestamp, payload_type, marker: the RTP header fields.
        clock_rates: clock rate (Hz) of dynamic payload types (from the SDP); static types
            use :data:`STATIC_CLOCK_RATES`. Missing or 0: no jitter for those packets.
        telephone_event_types: dynamic types that are telephone-event (no jitter).

    Returns:
        (per-packet :class:`PacketAnalysis`, summary figures).

    Taught in notebook 05.
    """
    n = len(time_ns)
    if n == 0:
        raise ValueError("an RTP stream has at least one packet")
    t = _ms(time_ns)
    seq = np.asarray(sequence_number, dtype=np.int64)
    ts = np.asarray(timestamp, dtype=np.int64)
    pt = np.asarray(payload_type, dtype=np.int64)
    mark = np.asarray(marker, dtype=bool)
    index = np.arange(n)

    # clock rate per packet (0 = no jitter)
    table = np.zeros(128, dtype=np.int64)
    for p, rate in STATIC_CLOCK_RATES.items():
        table[p] = rate
    for p, rate in (clock_rates or {}).items():
        if p >= 96:
            table[p] = rate
    telephone = np.zeros(128, dtype=bool)
    for p in telephone_event_types:
        table[p] = 0
        telephone[p] = p >= 96
    rate = table[pt & 0x7F]

    # timestamps: in time sequence relative to the first packet (mod 2^32); Wireshark 4.0
    # measures nominal time from the first timestamp too (tested against tshark with
    # wraps, reordering and garbage timestamps)
    ahead = (ts - ts[0]) % TIMESTAMP_MODULO
    in_time = np.where(ts >= ts[0], ahead < HALF_TIMESTAMP_RANGE, ahead <= HALF_TIMESTAMP_RANGE)
    in_time[0] = True
    prev = _last_true_before(in_time)  # previous in-time packet
    delta = t - t[prev]
    delta[0] = 0.0
    with_clock = in_time & (rate != 0)
    with_clock[0] = False
    divisor = np.where(rate != 0, rate // 1000, 1).astype(np.float64)
    nominal = (ahead - ahead[prev]).astype(np.float64) / divisor
    diff = np.abs(t - (t[prev] + nominal))
    updates = np.flatnonzero(with_clock)
    jitter_at_updates = _first_order_filter(diff[updates])
    jitter = np.zeros(n)
    if len(updates):
        holder = np.zeros(n, dtype=np.int64)
        holder[updates] = np.arange(1, len(updates) + 1)
        holder = np.maximum.accumulate(holder)
        jitter = np.concatenate([[0.0], jitter_at_updates])[holder]
    # Wireshark keeps the old delta for wrong-timestamp packets; show it against the last in-time one.

    # skew: cumulative nominal minus cumulative arrival over packets with a clock
    skew_set = with_clock.copy()
    skew_set[0] = rate[0] != 0
    nominal_sum = np.cumsum(np.where(with_clock, nominal, 0.0))
    arrival_sum = np.cumsum(np.where(with_clock, delta, 0.0))
    skew = np.where(skew_set, nominal_sum - arrival_sum, np.nan)
    skew = _forward_fill(skew)

    # flags
    flags = np.zeros(n, dtype=np.int64)
    flags[0] |= FLAG_FIRST
    flags[mark] |= FLAG_MARKER
    comfort = np.isin(pt, COMFORT_NOISE_TYPES)
    flags[comfort] |= FLAG_COMFORT_NOISE
    flags[1:][comfort[:-1]] |= FLAG_FOLLOWS_COMFORT_NOISE
    flags[1:][pt[1:] != pt[:-1]] |= FLAG_PT_CHANGE
    flags[~in_time] |= FLAG_WRONG_TIMESTAMP
    flags[telephone[pt & 0x7F]] |= FLAG_TELEPHONE_EVENT
    flags[0] &= FLAG_FIRST | FLAG_MARKER
    regular_pt_source = _last_true_before(~comfort)
    regular_pt = pt[regular_pt_source]
    change = (~comfort) & (pt != regular_pt)
    change[0] = False
    flags[change] |= FLAG_REGULAR_PT_CHANGE

    wrong_seq, cycles = _sequence_analysis(seq, in_time)
    flags[wrong_seq] |= FLAG_WRONG_SEQUENCE

    regular = ~(mark | comfort | ~in_time)
    regular[1:] &= ~comfort[:-1]
    regular[0] = False
    counts = index  # packets seen before packet i
    reg_idx = np.flatnonzero(regular)
    if len(reg_idx):
        d = delta[reg_idx]
        min_delta, max_delta = float(d.min()), max(0.0, float(d.max()))
        mean_delta = _running_mean(d, counts[reg_idx])
    else:
        min_delta, max_delta, mean_delta = -1.0, 0.0, 0.0
    jit_idx = reg_idx[rate[reg_idx] != 0]
    if len(jit_idx):
        j = jitter[jit_idx]
        min_jitter, max_jitter = float(j.min()), max(0.0, float(j.max()))
        mean_jitter = _running_mean(j, counts[jit_idx])
    else:
        min_jitter, max_jitter, mean_jitter = -1.0, 0.0, 0.0

    expected = int(seq[-1]) + cycles * SEQUENCE_MODULO - int(seq[0]) + 1
    summary = _Summary(
        packets=n, expected=expected, lost=expected - n, sequence_errors=int(np.count_nonzero(wrong_seq)),
        min_delta_ms=min_delta, mean_delta_ms=mean_delta, max_delta_ms=max_delta,
        min_jitter_ms=min_jitter, mean_jitter_ms=mean_jitter, max_jitter_ms=max_jitter,
        problem=bool(np.any(wrong_seq) or not np.all(in_time)),
    )
    analysis = PacketAnalysis(
        sequence_number=seq, delta_ms=delta, jitter_ms=jitter, skew_ms=skew, flags=flags, regular=regular,
        payload_type=pt,
    )
    return analysis, summary


def _forward_fill(values: np.ndarray) -> np.ndarray:
    valid = ~np.isnan(values)
    idx = np.where(valid, np.arange(len(values)), 0)
    idx = np.maximum.accumulate(idx)
    out = values[idx]
    return np.where(np.isnan(out), 0.0, out)


def _sequence_analysis(seq: np.ndarray, in_time: np.ndarray) -> tuple[np.ndarray, int]:
    """Wrong-sequence flags and the number of 16-bit wraps, with Wireshark's state machine.

    The state ``seq_num`` is the sequence number of the last *accepted* packet: in-time
    packets are accepted unless they are late or duplicated (at most 0xFF00 behind). The
    acceptance of a packet depends only on earlier ones, so iterating "assume, recompute"
    converges to the sequential result (usually in one or two rounds; capped, then a loop).
    """
    n = len(seq)
    accepted = in_time.copy()
    accepted[0] = True
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

    # wraps: a set/reset flip-flop ("under") on in-time packets
    start = int(seq[0])
    previous = np.concatenate([[start], seq[:-1]])
    set_event = in_time & ((seq < start) | ((seq == 0) & (previous == SEQUENCE_MODULO - 1)))
    reset_event = in_time & (seq > start)
    set_event[0] = reset_event[0] = False
    events = np.flatnonzero(set_event | reset_event)
    kinds = set_event[events]
    cycles = int(np.count_nonzero(kinds & np.concatenate([[True], ~kinds[:-1]])))
    return wrong, cycles


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
        """Lost packets in % of the expected ones (as tshark's "Lost" column)."""
        return self.lost * 100.0 / self.expected if self.expected else 0.0

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

    def __len__(self) -> int:
        return len(self.time_ns)

    @property
    def payload_name(self) -> str:
        """The payload name of the first packet, as tshark prints it."""
        first = int(self.payload_type[0])
        names = {pt: name for pt, (name, _rate) in self.rtpmap.items()}
        if first > 95 and first not in names and first in self.default_names:
            return self.default_names[first]
        return payload_name(first, names)

    def _analysis(self) -> tuple[PacketAnalysis, _Summary]:
        cached = self.__dict__.get("_cached")
        if cached is None:
            rates = {pt: clock_rate(pt, name, rate) for pt, (name, rate) in self.rtpmap.items()}
            events = {pt for pt, (name, _rate) in self.rtpmap.items() if name.lower().startswith(TELEPHONE_EVENT)}
            cached = analyze_stream(self.time_ns, self.sequence_number, self.timestamp, self.payload_type,
                                    self.marker, rates, frozenset(events))
            object.__setattr__(self, "_cached", cached)
        return cached

    @property
    def analysis(self) -> PacketAnalysis:
        """The per-packet table (delta, jitter, skew, status) of Wireshark's RTP analysis."""
        return self._analysis()[0]

    @property
    def stats(self) -> StreamStats:
        """The tshark-identical statistics of this stream."""
        s = self._analysis()[1]
        return StreamStats(
            src=self.src, src_port=self.src_port, dst=self.dst, dst_port=self.dst_port, ssrc=self.ssrc,
            payload=self.payload_name, packets=s.packets, lost=s.lost, expected=s.expected,
            min_delta_ms=s.min_delta_ms, mean_delta_ms=s.mean_delta_ms, max_delta_ms=s.max_delta_ms,
            min_jitter_ms=s.min_jitter_ms, mean_jitter_ms=s.mean_jitter_ms, max_jitter_ms=s.max_jitter_ms,
            start=float(self.time_ns[0]) / 1e9, end=float(self.time_ns[-1]) / 1e9,
            sequence_errors=s.sequence_errors, problem=s.problem,
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
                                "analyse the capture with voiplab.analysis.streams(path)")
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
                                "analyse the capture with voiplab.analysis.streams(path)")
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
