"""RTCP packets (RFC 3550 section 6): sender and receiver reports, SDES and BYE.

An RTCP datagram is a *compound* packet: several RTCP packets back to back, each with a
4-byte header (version 2, padding bit, a 5-bit count, the packet type, the length in
32-bit words minus one). The parts a phone sends with every report:

* :class:`SenderReport` (SR, type 200): the sender's NTP and RTP clocks and its packet and
  octet counts, plus reception reports;
* :class:`ReceiverReport` (RR, type 201): reception reports of a participant that does not send;
* :class:`ReportBlock`: what a receiver saw of one source: fraction and number lost,
  highest sequence number, interarrival jitter;
* :class:`SourceDescription` (SDES, type 202): the CNAME and other items per source;
* :class:`Goodbye` (BYE, type 203): these sources leave.

Each is a frozen dataclass with ``__bytes__``; :func:`parse_rtcp` parses a compound packet.

Pure: no I/O, no scapy, no clock. Taught in notebook 05 (what the phones report to each other).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass

from ..errors import RtpParseError
from .rtp import RTP_VERSION

__all__ = [
    "RTCP_APP",
    "RTCP_BYE",
    "RTCP_RR",
    "RTCP_SDES",
    "RTCP_SR",
    "SDES_ITEM_NAMES",
    "Goodbye",
    "ReceiverReport",
    "ReportBlock",
    "RtcpPacket",
    "SdesChunk",
    "SenderReport",
    "SourceDescription",
    "is_rtcp",
    "parse_rtcp",
]

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
# packet type -> the parser of its body, given the 5-bit count of its header
_RTCP_PARSERS: dict[int, Callable[[int, bytes], RtcpPacket]] = {
    RTCP_SR: SenderReport._parse, RTCP_RR: ReceiverReport._parse, RTCP_SDES: SourceDescription._parse,
    RTCP_BYE: Goodbye._parse,
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
            packets.append(parser(b0 & 0x1F, body))
        offset = end
    return packets
