"""RTP packets (RFC 3550 section 5.1), parsed and serialised without any I/O.

An RTP packet is a 12-byte fixed header, the CSRC list, an optional header extension,
the payload and optional padding::

     0                   1                   2                   3
     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |V=2|P|X|  CC   |M|     PT      |       sequence number         |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |                           timestamp                           |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |           synchronization source (SSRC) identifier            |
    +=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+
    |            contributing source (CSRC) identifiers             |
    |                             ....                              |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+

:class:`RtpHeader` is a frozen dataclass with ``parse()`` and ``__bytes__``; what the
payload type number means is in :mod:`voiplab.core.payloads`. The RTCP packets that
accompany a stream are in :mod:`voiplab.core.rtcp`, the statistics of a stream
(Wireshark 4.0's jitter, loss and delta) in :mod:`voiplab.core.rtpstats`.

Pure: no I/O, no scapy, no clock. Taught in notebook 05 (RTP packets, streams, jitter, loss).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from ..errors import RtpParseError
from .payloads import payload_name

__all__ = [
    "CSRC_LENGTH",
    "EXTENSION_HEADER_LENGTH",
    "HALF_TIMESTAMP_RANGE",
    "RTP_HEADER_LENGTH",
    "RTP_VERSION",
    "SEQUENCE_MODULO",
    "TIMESTAMP_MODULO",
    "RtpHeader",
]

RTP_VERSION = 2
RTP_HEADER_LENGTH = 12
CSRC_LENGTH = 4
EXTENSION_HEADER_LENGTH = 4
#: Sequence numbers are 16 bits: 65535 is followed by 0.
SEQUENCE_MODULO = 1 << 16
#: Timestamps are 32 bits.
TIMESTAMP_MODULO = 1 << 32
#: A timestamp less than this ahead (modulo 2^32) is later, otherwise earlier.
HALF_TIMESTAMP_RANGE = 1 << 31


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
