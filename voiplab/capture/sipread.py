"""Reading SIP from pcap/pcapng files, in capture order, as tshark lists it.

:func:`read_sip` reads a capture without scapy dissection (tens of thousands of messages
per second) and returns every SIP message as a :class:`~voiplab.core.flow.FlowMessage`:
UDP and TCP on ports 5060/5061, plus SIP on any UDP port recognised by its first line.
TCP streams are reassembled and split by Content-Length; IPv4 fragments are reassembled.
:func:`read_flow` gives the :class:`~voiplab.core.flow.Flow` of a capture.

Taught in notebooks 03 and 04 (captures and ladder diagrams).
"""

from __future__ import annotations

import ipaddress
import os
import re
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ..core.flow import Flow, FlowMessage, format_address
from ..core.sip import SIP_DEFAULT_PORT, SIPS_DEFAULT_PORT, SipMessage, message_length
from ..errors import CaptureError, SipParseError

__all__ = [
    "SIP_PORTS",
    "RawPacket",
    "read_packets",
    "read_sip",
    "read_flow",
    "looks_like_sip",
]

#: Ports on which every UDP/TCP payload is tried as SIP.
SIP_PORTS = frozenset({SIP_DEFAULT_PORT, SIPS_DEFAULT_PORT})

# The first line of a SIP message: a request line or a status line.
_FIRST_LINE_RE = re.compile(
    rb"(?:\r?\n)*(?:[A-Za-z]+ \S+ SIP/2\.0|SIP/2\.0 [1-6][0-9][0-9](?: [^\r\n]*)?)\r?\n"
)


# The SIP ports as they appear in a UDP header (big-endian).
_SIP_PORT_BYTES = frozenset(port.to_bytes(2, "big") for port in SIP_PORTS)


def looks_like_sip(payload: bytes) -> bool:
    """Whether a payload starts like a SIP message (request line or status line)."""
    return _FIRST_LINE_RE.match(payload, 0, 512) is not None


# ---------------------------------------------------------------------------- pcap reading


@dataclass(frozen=True)
class RawPacket:
    """One frame of a capture file: number (1-based), time, link type and bytes."""

    frame: int
    time: float
    linktype: int
    data: bytes


_PCAP_MAGIC = {
    b"\xd4\xc3\xb2\xa1": ("<", 1e-6),
    b"\xa1\xb2\xc3\xd4": (">", 1e-6),
    b"\x4d\x3c\xb2\xa1": ("<", 1e-9),
    b"\xa1\xb2\x3c\x4d": (">", 1e-9),
}
_PCAPNG_MAGIC = b"\x0a\x0d\x0d\x0a"


def read_packets(path: str | os.PathLike[str]) -> Iterator[RawPacket]:
    """Yield every frame of a pcap or pcapng file.

    Raises:
        CaptureError: the file is missing, not a capture, or truncated in a header.
    """
    for frame, when, linktype, data in _frames(path):
        yield RawPacket(frame, when, linktype, data)


# (frame number, time, link type, frame bytes): a RawPacket without the object
_Frame = tuple[int, float, int, bytes]


def _frames(path: str | os.PathLike[str]) -> Iterator[_Frame]:
    """The frames of a pcap or pcapng file as :data:`_Frame` tuples (see :func:`read_packets`)."""
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        raise CaptureError(
            f"capture file {str(path)!r} cannot be read ({error.strerror}): check the path"
        ) from None
    magic = data[:4]
    if magic in _PCAP_MAGIC:
        yield from _read_pcap(data, path)
    elif magic == _PCAPNG_MAGIC:
        yield from _read_pcapng(data, path)
    else:
        raise CaptureError(
            f"capture file {str(path)!r} is not a pcap or pcapng file (magic {magic.hex()}): "
            "save it from Wireshark/tcpdump as pcap or pcapng"
        )


def _read_pcap(data: bytes, path: object) -> Iterator[_Frame]:
    endian, unit = _PCAP_MAGIC[data[:4]]
    if len(data) < 24:
        raise CaptureError(f"capture file {str(path)!r} is truncated in its header: record it again")
    linktype = struct.unpack_from(endian + "I", data, 20)[0] & 0x0FFFFFFF
    offset = 24
    frame = 0
    record = struct.Struct(endian + "IIII")
    while offset + 16 <= len(data):
        seconds, fraction, included, _ = record.unpack_from(data, offset)
        offset += 16
        frame += 1
        yield frame, seconds + fraction * unit, linktype, data[offset : offset + included]
        offset += included


def _read_pcapng(data: bytes, path: object) -> Iterator[_Frame]:
    endian = "<"
    interfaces: list[tuple[int, float]] = []
    offset = 0
    frame = 0
    while offset + 12 <= len(data):
        block_type = struct.unpack_from(endian + "I", data, offset)[0]
        if block_type == 0x0A0D0D0A:
            bom = data[offset + 8 : offset + 12]
            endian = "<" if bom == b"\x4d\x3c\x2b\x1a" else ">"
            interfaces = []
        length = struct.unpack_from(endian + "I", data, offset + 4)[0]
        if length < 12 or offset + length > len(data):
            break
        body = data[offset + 8 : offset + length - 4]
        if block_type == 1 and len(body) >= 8:  # Interface Description Block
            linktype = struct.unpack_from(endian + "H", body, 0)[0]
            interfaces.append((linktype, _tsresol(body[8:], endian)))
        elif block_type == 6 and len(body) >= 20:  # Enhanced Packet Block
            interface, high, low, captured = struct.unpack_from(endian + "IIII", body, 0)
            linktype, unit = interfaces[interface] if interface < len(interfaces) else (1, 1e-6)
            frame += 1
            yield frame, ((high << 32) | low) * unit, linktype, body[20 : 20 + captured]
        elif block_type == 3 and len(body) >= 4:  # Simple Packet Block
            linktype = interfaces[0][0] if interfaces else 1
            frame += 1
            yield frame, 0.0, linktype, body[4:]
        elif block_type in (0x0A0D0D0A, 1, 6, 3):
            pass
        elif block_type == 2 and len(body) >= 20:  # obsolete Packet Block
            interface, _, high, low, captured = struct.unpack_from(endian + "HHIII", body, 0)
            linktype, unit = interfaces[interface] if interface < len(interfaces) else (1, 1e-6)
            frame += 1
            yield frame, ((high << 32) | low) * unit, linktype, body[20 : 20 + captured]
        elif block_type in (4, 5, 0xBAD, 0x40000BAD):  # name resolution, statistics, custom
            pass
        offset += length


def _tsresol(options: bytes, endian: str) -> float:
    offset = 0
    while offset + 4 <= len(options):
        code, length = struct.unpack_from(endian + "HH", options, offset)
        if code == 0:
            break
        if code == 9 and length >= 1:
            value = options[offset + 4]
            return 2.0 ** -(value & 0x7F) if value & 0x80 else 10.0**-value
        offset += 4 + ((length + 3) & ~3)
    return 1e-6


# Link layer -> (offset of the network header, ethertype or None when read from the header)
_ETHERTYPE_IPV4 = 0x0800
_ETHERTYPE_IPV6 = 0x86DD
_ETHERTYPE_VLAN = (0x8100, 0x88A8)


_RAW_IP_LINKTYPES = (12, 14, 101, 228, 229)
# BSD loopback link types -> the 4-byte address family of IPv4 (little-endian for 0, big for 108)
_LOOPBACK_IPV4 = {0: b"\x02\x00\x00\x00", 108: b"\x00\x00\x00\x02"}


def _network(linktype: int, data: bytes) -> tuple[int, bytes] | None:
    """(ethertype, network-layer bytes) or None for frames that are not IP."""
    if linktype == 1:  # Ethernet
        offset, ethertype = 14, int.from_bytes(data[12:14], "big")
        while ethertype in _ETHERTYPE_VLAN and len(data) >= offset + 4:
            ethertype = int.from_bytes(data[offset + 2 : offset + 4], "big")
            offset += 4
        return ethertype, data[offset:]
    if linktype == 113:  # Linux cooked capture v1
        return int.from_bytes(data[14:16], "big"), data[16:]
    if linktype == 276:  # Linux cooked capture v2
        return int.from_bytes(data[0:2], "big"), data[20:]
    if linktype in (0, 108):  # BSD loopback: a 4-byte address family
        family = int.from_bytes(data[:4], "little" if linktype == 0 else "big")
        if family == 2:
            return _ETHERTYPE_IPV4, data[4:]
        if family in (10, 24, 28, 30):
            return _ETHERTYPE_IPV6, data[4:]
        return None
    if linktype in _RAW_IP_LINKTYPES:
        if not data:
            return None
        version = data[0] >> 4
        return (_ETHERTYPE_IPV4 if version == 4 else _ETHERTYPE_IPV6), data
    return None


class _Reader:
    """Turns frames into SIP messages; keeps IPv4 fragments and TCP streams."""

    def __init__(self, errors: str) -> None:
        self.errors = errors
        self.fragments: dict[tuple[bytes, bytes, int, int], dict[int, bytes]] = {}
        self.fragment_ends: dict[tuple[bytes, bytes, int, int], int] = {}
        self.streams: dict[tuple[str, str], bytearray] = {}
        self.next_seq: dict[tuple[str, str], int] = {}
        self.messages: list[FlowMessage] = []
        self.addresses: dict[bytes, str] = {}  # IPv4 address + port (6 bytes) -> "ip:port"

    def feed_frame(self, frame: int, when: float, linktype: int, data: bytes) -> None:
        """Like :meth:`feed`; unfragmented IPv4 UDP (nearly every frame) takes a short cut.

        The short cut reads the same fields at the same places as :meth:`feed` (offsets into
        the frame instead of slices of it) and leaves every other frame to :meth:`feed`.
        """
        if linktype == 1:  # Ethernet
            if data[12:14] != b"\x08\x00":  # IPv4 without VLAN tags
                return self.feed(RawPacket(frame, when, linktype, data))
            ip = 14
        elif linktype == 113:  # Linux cooked capture v1
            if data[14:16] != b"\x08\x00":
                return self.feed(RawPacket(frame, when, linktype, data))
            ip = 16
        elif linktype == 276:  # Linux cooked capture v2
            if data[0:2] != b"\x08\x00":
                return self.feed(RawPacket(frame, when, linktype, data))
            ip = 20
        elif linktype in _RAW_IP_LINKTYPES:
            if data[:1] < b"\x40" or data[:1] >= b"\x50":  # not IPv4
                return self.feed(RawPacket(frame, when, linktype, data))
            ip = 0
        elif linktype in _LOOPBACK_IPV4:  # BSD loopback: address family 2 (AF_INET)
            if data[:4] != _LOOPBACK_IPV4[linktype]:
                return self.feed(RawPacket(frame, when, linktype, data))
            ip = 4
        else:
            return self.feed(RawPacket(frame, when, linktype, data))
        size = len(data) - ip
        if size < 20:
            return None
        first = data[ip]
        if first >> 4 != 4:
            return None
        # not UDP, or a fragment (the More Fragments flag or a fragment offset is set)
        if data[ip + 9] != 17 or data[ip + 6] & 0x3F or data[ip + 7]:
            return self.feed(RawPacket(frame, when, linktype, data))
        header_length = (first & 0x0F) * 4
        total = (data[ip + 2] << 8) | data[ip + 3]
        start = ip + header_length  # the UDP header
        end = ip + (total if header_length <= total <= size else size)
        if end - start < 8:
            return None
        ports = data[start : start + 4]
        length = (data[start + 4] << 8) | data[start + 5]
        payload_end = start + length if 8 <= length <= end - start else end
        on_sip_port = ports[:2] in _SIP_PORT_BYTES or ports[2:] in _SIP_PORT_BYTES
        # looks_like_sip() on the payload, without copying it first
        if not on_sip_port and _FIRST_LINE_RE.match(data, start + 8, min(start + 8 + 512, payload_end)) is None:
            return None
        addresses = self.addresses
        source = data[ip + 12 : ip + 16] + ports[:2]
        src = addresses.get(source)
        if src is None:
            src = addresses[source] = format_address(".".join(map(str, source[:4])), (ports[0] << 8) | ports[1])
        destination = data[ip + 16 : ip + 20] + ports[2:]
        dst = addresses.get(destination)
        if dst is None:
            dst = addresses[destination] = format_address(
                ".".join(map(str, destination[:4])), (ports[2] << 8) | ports[3]
            )
        self._udp(frame, when, src, dst, data[start + 8 : payload_end])
        return None

    def feed(self, packet: RawPacket) -> None:
        network = _network(packet.linktype, packet.data)
        if network is None:
            return
        ethertype, ip = network
        if ethertype == _ETHERTYPE_IPV4:
            parsed = self._ipv4(ip)
        elif ethertype == _ETHERTYPE_IPV6:
            parsed = self._ipv6(ip)
        else:
            return
        if parsed is None:
            return
        src, dst, protocol, segment = parsed
        if protocol == 17 and len(segment) >= 8:
            sport, dport, length = struct.unpack_from("!HHH", segment, 0)
            payload = segment[8:length] if 8 <= length <= len(segment) else segment[8:]
            if sport in SIP_PORTS or dport in SIP_PORTS or looks_like_sip(payload):
                self._datagram(packet, format_address(src, sport), format_address(dst, dport), payload)
        elif protocol == 6 and len(segment) >= 20:
            sport, dport, seq = struct.unpack_from("!HHI", segment, 0)
            header_length = (segment[12] >> 4) * 4
            flags = segment[13]
            payload = segment[header_length:]
            if sport in SIP_PORTS or dport in SIP_PORTS:
                self._tcp(packet, format_address(src, sport), format_address(dst, dport), seq, flags, payload)

    def _ipv4(self, ip: bytes) -> tuple[str, str, int, bytes] | None:
        if len(ip) < 20 or ip[0] >> 4 != 4:
            return None
        header_length = (ip[0] & 0x0F) * 4
        total = int.from_bytes(ip[2:4], "big")
        ident = int.from_bytes(ip[4:6], "big")
        flags_fragment = int.from_bytes(ip[6:8], "big")
        protocol = ip[9]
        src = ".".join(map(str, ip[12:16]))
        dst = ".".join(map(str, ip[16:20]))
        payload = ip[header_length : total if header_length <= total <= len(ip) else len(ip)]
        more = bool(flags_fragment & 0x2000)
        fragment_offset = (flags_fragment & 0x1FFF) * 8
        if more or fragment_offset:
            key = (ip[12:16], ip[16:20], ident, protocol)
            parts = self.fragments.setdefault(key, {})
            parts[fragment_offset] = payload
            if not more:
                self.fragment_ends[key] = fragment_offset + len(payload)
            end = self.fragment_ends.get(key)
            if end is None:
                return None
            joined = bytearray()
            for start in sorted(parts):
                if start != len(joined):
                    return None
                joined += parts[start]
            if len(joined) != end:
                return None
            del self.fragments[key]
            del self.fragment_ends[key]
            payload = bytes(joined)
        return src, dst, protocol, payload

    def _ipv6(self, ip: bytes) -> tuple[str, str, int, bytes] | None:
        if len(ip) < 40 or ip[0] >> 4 != 6:
            return None
        next_header = ip[6]
        src = str(ipaddress.IPv6Address(ip[8:24]))
        dst = str(ipaddress.IPv6Address(ip[24:40]))
        offset = 40
        while next_header in (0, 43, 60) and len(ip) >= offset + 8:  # hop-by-hop, routing, destination
            next_header, length = ip[offset], ip[offset + 1]
            offset += (length + 1) * 8
        return src, dst, next_header, ip[offset:]

    def _datagram(self, packet: RawPacket, src: str, dst: str, payload: bytes) -> None:
        self._udp(packet.frame, packet.time, src, dst, payload)

    def _udp(self, frame: int, when: float, src: str, dst: str, payload: bytes) -> None:
        if not payload.strip(b"\r\n\x00 "):
            return  # keep-alive
        try:
            message = SipMessage.parse(payload)
        except SipParseError:
            if self.errors == "raise":
                raise
            return
        self.messages.append(FlowMessage(message, when, src, dst, "UDP", frame))

    def _tcp(self, packet: RawPacket, src: str, dst: str, seq: int, flags: int, payload: bytes) -> None:
        key = (src, dst)
        if flags & 0x02:  # SYN
            self.next_seq[key] = (seq + 1) & 0xFFFFFFFF
            self.streams[key] = bytearray()
            return
        if not payload:
            return
        expected = self.next_seq.get(key)
        if expected is not None and ((seq - expected) & 0xFFFFFFFF) >= 0x80000000:
            # The segment starts before the expected byte: a retransmission or an overlap.
            overlap = (expected - seq) & 0xFFFFFFFF
            if overlap >= len(payload):
                return
            payload, seq = payload[overlap:], expected
        # A gap (lost segment) is accepted as is: best effort.
        self.next_seq[key] = (seq + len(payload)) & 0xFFFFFFFF
        buffer = self.streams.setdefault(key, bytearray())
        buffer += payload
        while buffer:
            try:
                length = message_length(bytes(buffer))
            except SipParseError:
                buffer.clear()
                return
            if length is None:
                if not looks_like_sip(bytes(buffer[:512])) and not buffer.strip(b"\r\n"):
                    buffer.clear()
                return
            chunk = bytes(buffer[:length])
            del buffer[:length]
            if not chunk.strip(b"\r\n"):
                continue
            try:
                message = SipMessage.parse(chunk)
            except SipParseError:
                if self.errors == "raise":
                    raise
                continue
            self.messages.append(FlowMessage(message, packet.time, src, dst, "TCP", packet.frame))


def read_sip(path: str | os.PathLike[str], *, errors: str = "skip") -> list[FlowMessage]:
    """Every SIP message of a pcap/pcapng file, in capture order.

    Parameters:
        path: the capture file.
        errors: ``"skip"`` (default) ignores payloads on SIP ports that do not parse;
            ``"raise"`` raises their :class:`SipParseError`.

    Returns:
        :class:`~voiplab.core.flow.FlowMessage` objects with frame number, time, ``ip:port``
        addresses and transport. A message split over TCP segments gets the frame
        number of its last segment (as tshark reports it).

    Raises:
        CaptureError: the file cannot be read or is not a capture.

    Taught in notebook 03 and 04.
    """
    reader = _Reader(errors)
    feed_frame = reader.feed_frame
    for frame, when, linktype, data in _frames(path):
        feed_frame(frame, when, linktype, data)
    return reader.messages


def read_flow(path: str | os.PathLike[str], *, pbx: str | None = None) -> Flow:
    """The :class:`~voiplab.core.flow.Flow` of a capture file (``Flow.from_pcap``)."""
    return Flow.from_messages(read_sip(path), pbx=pbx)

