"""Reading SIP from pcap/pcapng files, in capture order, as tshark lists it.

:func:`read_sip` reads a capture without scapy dissection (tens of thousands of messages
per second) and returns every SIP message as a :class:`~voiplab.core.flow.FlowMessage`:
UDP and TCP on ports 5060/5061, plus SIP on any UDP port recognised by its first line.
TCP streams are reassembled and split by Content-Length; IPv4 fragments are reassembled.
:func:`read_flow` gives the :class:`~voiplab.core.flow.Flow` of a capture. The frames come
from :func:`voiplab.capture.pcap.iter_frames` and their link layers from
:func:`voiplab.capture.pcap.network_header` (the one reader of capture files).

Taught in notebooks 03 and 04 (captures and ladder diagrams).
"""

from __future__ import annotations

import ipaddress
import os
import struct
from typing import Literal

from ..core.flow import Flow, FlowMessage, format_address
from ..core.grammar import SIP_FIRST_LINE, SIP_FIRST_LINE_WINDOW, looks_like_sip
from ..core.sip import SIP_DEFAULT_PORT, SIPS_DEFAULT_PORT, SipMessage, message_length
from ..errors import SipParseError
from .pcap import (
    IPPROTO_UDP,
    IPV6_EXTENSION_HEADERS,
    IPV6_HEADER_LENGTH,
    LINK_LAYERS,
    UDP_HEADER_LENGTH,
    RawPacket,
    iter_frames,
    network_header,
)

__all__ = [
    "SIP_PORTS",
    "read_sip",
    "read_flow",
    "looks_like_sip",
]

#: What read_sip does with a payload on a SIP port that does not parse: skip it, or raise its SipParseError.
SipErrors = Literal["skip", "raise"]
#: Ports on which every UDP/TCP payload is tried as SIP.
SIP_PORTS = frozenset({SIP_DEFAULT_PORT, SIPS_DEFAULT_PORT})

# The SIP ports as they appear in a UDP header (big-endian).
_SIP_PORT_BYTES = frozenset(port.to_bytes(2, "big") for port in SIP_PORTS)

IPPROTO_TCP = 6
IPV4_MIN_HEADER_LENGTH = 20
IPV4_MORE_FRAGMENTS = 0x2000
IPV4_FRAGMENT_OFFSET = 0x1FFF  # in units of 8 bytes
TCP_MIN_HEADER_LENGTH = 20
TCP_SYN = 0x02
SEQUENCE_SPACE = 1 << 32  # TCP sequence numbers wrap around
#: Link type -> (start, end, bytes, IP offset): the usual IPv4 frame of that link type
#: (:attr:`~voiplab.capture.pcap.LinkLayer.ipv4_signature`), read without slicing.
_IPV4_FRAMES = {linktype: layer.ipv4_signature for linktype, layer in LINK_LAYERS.items()}


class _Reader:
    """Turns frames into SIP messages; keeps IPv4 fragments and TCP streams."""

    def __init__(self, errors: SipErrors) -> None:
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
        signature = _IPV4_FRAMES.get(linktype)
        if signature is None:
            return None  # a link type that does not carry IP
        at, end, marker, ip = signature
        if data[at:end] != marker:  # VLAN tags, IPv6, IP options...
            return self.feed(RawPacket(frame, when, linktype, data))
        size = len(data) - ip
        if size < IPV4_MIN_HEADER_LENGTH:
            return None
        first = data[ip]
        if first >> 4 != 4:
            return None
        # not UDP, or a fragment (the More Fragments flag or a fragment offset is set)
        if data[ip + 9] != IPPROTO_UDP or data[ip + 6] & 0x3F or data[ip + 7]:
            return self.feed(RawPacket(frame, when, linktype, data))
        header_length = (first & 0x0F) * 4
        total = (data[ip + 2] << 8) | data[ip + 3]
        start = ip + header_length  # the UDP header
        end = ip + (total if header_length <= total <= size else size)
        if end - start < UDP_HEADER_LENGTH:
            return None
        ports = data[start : start + 4]
        length = (data[start + 4] << 8) | data[start + 5]
        payload_end = start + length if UDP_HEADER_LENGTH <= length <= end - start else end
        on_sip_port = ports[:2] in _SIP_PORT_BYTES or ports[2:] in _SIP_PORT_BYTES
        # looks_like_sip() on the payload, without copying it first
        payload = start + UDP_HEADER_LENGTH
        if not on_sip_port and SIP_FIRST_LINE.match(
                data, payload, min(payload + SIP_FIRST_LINE_WINDOW, payload_end)) is None:
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
        self._udp(frame, when, src, dst, data[payload:payload_end])
        return None

    def feed(self, packet: RawPacket) -> None:
        """Find the SIP of any frame: IPv4 or IPv6, fragments, UDP or TCP."""
        network = network_header(packet.linktype, packet.data)
        if network is None:
            return
        version, offset = network
        ip = packet.data[offset:]
        parsed = self._ipv4(ip) if version == 4 else self._ipv6(ip)
        if parsed is None:
            return
        src, dst, protocol, segment = parsed
        if protocol == IPPROTO_UDP and len(segment) >= UDP_HEADER_LENGTH:
            sport, dport, length = struct.unpack_from("!HHH", segment, 0)
            payload = (segment[UDP_HEADER_LENGTH:length] if UDP_HEADER_LENGTH <= length <= len(segment)
                       else segment[UDP_HEADER_LENGTH:])
            if sport in SIP_PORTS or dport in SIP_PORTS or looks_like_sip(payload):
                self._datagram(packet, format_address(src, sport), format_address(dst, dport), payload)
        elif protocol == IPPROTO_TCP and len(segment) >= TCP_MIN_HEADER_LENGTH:
            sport, dport, seq = struct.unpack_from("!HHI", segment, 0)
            header_length = (segment[12] >> 4) * 4
            flags = segment[13]
            payload = segment[header_length:]
            if sport in SIP_PORTS or dport in SIP_PORTS:
                self._tcp(packet, format_address(src, sport), format_address(dst, dport), seq, flags, payload)

    def _ipv4(self, ip: bytes) -> tuple[str, str, int, bytes] | None:
        if len(ip) < IPV4_MIN_HEADER_LENGTH or ip[0] >> 4 != 4:
            return None
        header_length = (ip[0] & 0x0F) * 4
        total = int.from_bytes(ip[2:4], "big")
        ident = int.from_bytes(ip[4:6], "big")
        flags_fragment = int.from_bytes(ip[6:8], "big")
        protocol = ip[9]
        src = ".".join(map(str, ip[12:16]))
        dst = ".".join(map(str, ip[16:20]))
        payload = ip[header_length : total if header_length <= total <= len(ip) else len(ip)]
        more = bool(flags_fragment & IPV4_MORE_FRAGMENTS)
        fragment_offset = (flags_fragment & IPV4_FRAGMENT_OFFSET) * 8
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
        if len(ip) < IPV6_HEADER_LENGTH or ip[0] >> 4 != 6:
            return None
        next_header = ip[6]
        src = str(ipaddress.IPv6Address(ip[8:24]))
        dst = str(ipaddress.IPv6Address(ip[24:40]))
        offset = IPV6_HEADER_LENGTH
        while next_header in IPV6_EXTENSION_HEADERS and len(ip) >= offset + 8:
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
        if flags & TCP_SYN:
            self.next_seq[key] = (seq + 1) % SEQUENCE_SPACE
            self.streams[key] = bytearray()
            return
        if not payload:
            return
        expected = self.next_seq.get(key)
        if expected is not None and (seq - expected) % SEQUENCE_SPACE >= SEQUENCE_SPACE // 2:
            # The segment starts before the expected byte: a retransmission or an overlap.
            overlap = (expected - seq) % SEQUENCE_SPACE
            if overlap >= len(payload):
                return
            payload, seq = payload[overlap:], expected
        # A gap (lost segment) is accepted as is: best effort.
        self.next_seq[key] = (seq + len(payload)) % SEQUENCE_SPACE
        buffer = self.streams.setdefault(key, bytearray())
        buffer += payload
        while buffer:
            try:
                length = message_length(bytes(buffer))
            except SipParseError:
                buffer.clear()
                return
            if length is None:
                if not looks_like_sip(bytes(buffer[:SIP_FIRST_LINE_WINDOW])) and not buffer.strip(b"\r\n"):
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


def read_sip(path: str | os.PathLike[str], *, errors: SipErrors = "skip") -> list[FlowMessage]:
    """Every SIP message of a pcap/pcapng file, in capture order.

    Parameters:
        path: the capture file.
        errors: ``"skip"`` (default) ignores payloads on SIP ports that do not parse;
            ``"raise"`` raises their :class:`SipParseError`.

    Returns:
        :class:`~voiplab.core.flow.FlowMessage` objects with frame number, time, ``ip:port``
        addresses and transport. A message split over TCP segments gets the frame
        number of its last segment (as tshark reports it).

    A last record cut short (capture killed while writing) ends the reading with a
    warning, as it ends tshark's.

    Raises:
        CaptureError: the file cannot be read or is not a capture.

    Taught in notebook 03 and 04.
    """
    reader = _Reader(errors)
    feed_frame = reader.feed_frame
    for frame, when, linktype, data in iter_frames(path):
        feed_frame(frame, when, linktype, data)
    return reader.messages


def read_flow(path: str | os.PathLike[str], *, pbx: str | None = None) -> Flow:
    """The :class:`~voiplab.core.flow.Flow` of a capture file (``Flow.from_pcap``)."""
    return Flow.from_messages(read_sip(path), pbx=pbx)

