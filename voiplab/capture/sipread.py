"""Reading SIP from pcap/pcapng files, a scapy ``SIP`` layer, and live capture.

* :func:`read_sip` reads a capture with a small built-in pcap/pcapng reader (no scapy
  dissection, so tens of thousands of messages per second) and returns every SIP message as a
  :class:`~voiplab.flow.FlowMessage`: UDP and TCP on ports 5060/5061, plus SIP on any
  UDP port recognised by its first line. TCP streams are reassembled and split by
  Content-Length; IPv4 fragments are reassembled.
* :class:`SIP` is a scapy layer (a thin wrapper over :mod:`voiplab.sip`) bound to UDP
  port 5060, whose ``show()`` lists the parsed headers.
* :class:`LiveCapture` records a pcap while a notebook makes calls: scapy's
  ``AsyncSniffer`` when this process may capture, else ``dumpcap`` or ``tcpdump``,
  else a :class:`CaptureError` that names the fixes. Privileges are checked *before*
  starting.
* :func:`flow_from_trace` builds the same :class:`~voiplab.flow.Flow` from a phone's
  SIP trace, with no capture privileges at all.

Taught in notebook 01 (scapy), 03 and 04 (captures and ladder diagrams).
"""

from __future__ import annotations

import ipaddress
import os
import re
import shutil
import struct
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scapy.fields import StrField
from scapy.layers.inet import TCP, UDP
from scapy.packet import Packet, bind_layers

from ..errors import CaptureError, SipParseError
from ..core.flow import Flow, FlowMessage, format_address
from ..core.sip import SIP_DEFAULT_PORT, SIPS_DEFAULT_PORT, SipMessage, message_length

__all__ = [
    "SIP",
    "SIP_PORTS",
    "RawPacket",
    "read_packets",
    "read_sip",
    "read_flow",
    "flow_from_trace",
    "LiveCapture",
    "capture_methods",
    "looks_like_sip",
]

#: Ports on which every UDP/TCP payload is tried as SIP.
SIP_PORTS = frozenset({SIP_DEFAULT_PORT, SIPS_DEFAULT_PORT})
CAPTURE_FIXES = (
    "run as root; or give dumpcap the capture capabilities "
    "(sudo setcap cap_net_raw,cap_net_admin=eip /usr/bin/dumpcap) and add your user to the "
    "wireshark group (sudo usermod -aG wireshark $USER, then log in again); or use the phone's "
    "trace() with voiplab.capture.flow_from_trace()"
)
_CAP_NET_RAW = 13
_CAP_NET_ADMIN = 12
_START_TIMEOUT_S = 5.0
_FLUSH_S = {"dumpcap": 0.6, "tcpdump": 0.1, "scapy": 0.05}
# dumpcap says "Capturing on" a few ms before its capture loop runs: wait that long.
_SETTLE_S = {"dumpcap": 0.2, "tcpdump": 0.02}
_ARPHRD_LOOPBACK = 772

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
        :class:`~voiplab.flow.FlowMessage` objects with frame number, time, ``ip:port``
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
    """The :class:`~voiplab.flow.Flow` of a capture file (``Flow.from_pcap``)."""
    return Flow.from_messages(read_sip(path), pbx=pbx)


def flow_from_trace(entries: Iterable[Mapping[str, Any]], *, pbx: str | None = None) -> Flow:
    """A :class:`~voiplab.flow.Flow` from a phone's SIP trace (no capture needed).

    Parameters:
        entries: dicts ``{"time": float, "direction": "tx"|"rx", "local": "ip:port",
            "remote": "ip:port", "transport": "UDP", "raw": str}`` as ``Phone.trace()``
            returns them.

    Raises:
        CaptureError: an entry lacks a key or has an unknown direction.
        SipParseError: a raw message is malformed.

    Taught in notebook 03 (drawing the flow without capture privileges).
    """
    messages = []
    for number, entry in enumerate(entries, start=1):
        try:
            direction = entry["direction"]
            local, remote = entry["local"], entry["remote"]
            raw, when = entry["raw"], float(entry["time"])
        except (KeyError, TypeError, ValueError) as error:
            raise CaptureError(
                f"phone trace entry {number} is missing {error}: each entry needs time, direction, "
                "local, remote and raw"
            ) from None
        if direction not in ("tx", "rx"):
            raise CaptureError(
                f"phone trace entry {number} has direction {direction!r}: it must be 'tx' or 'rx'"
            )
        src, dst = (local, remote) if direction == "tx" else (remote, local)
        data = raw.encode("utf-8", "surrogateescape") if isinstance(raw, str) else bytes(raw)
        message = SipMessage.parse(data)
        messages.append(FlowMessage(message, when, src, dst, str(entry.get("transport", "UDP")).upper()))
    return Flow.from_messages(messages, pbx=pbx)


# ---------------------------------------------------------------------------- scapy layer


class SIP(Packet):
    """A scapy layer for SIP: the payload bytes, parsed by :mod:`voiplab.sip` on demand.

    ``pkt[SIP].message`` is the :class:`~voiplab.sip.SipMessage`; ``pkt.show()`` lists its
    headers. Bound to UDP port 5060. Build one with ``SIP(b"OPTIONS ...")`` or
    ``SIP(message)``.

    Taught in notebook 01 (crafting an OPTIONS with scapy).
    """

    name = "SIP"
    fields_desc = [StrField("load", b"")]

    def __init__(self, _pkt: bytes | SipMessage | str = b"", *args: Any, **kwargs: Any) -> None:
        if isinstance(_pkt, SipMessage):
            _pkt = bytes(_pkt)
        elif isinstance(_pkt, str):
            _pkt = _pkt.encode("utf-8")
        super().__init__(_pkt, *args, **kwargs)

    @property
    def message(self) -> SipMessage:
        """The parsed message (raises :class:`SipParseError` if it is not SIP)."""
        return SipMessage.parse(bytes(self.load))

    def mysummary(self) -> str:
        try:
            message = self.message
        except SipParseError:
            return "SIP (malformed)"
        return f"SIP {message.summary} (CSeq {message.headers.get('cseq', '?')})"

    def _show_or_dump(
        self, dump: bool = False, indent: int = 3, lvl: str = "", label_lvl: str = "", first_call: bool = True
    ) -> str | None:
        lines = [f"{label_lvl}###[ {self.name} ]###"]
        prefix = label_lvl + lvl + "  "
        try:
            message = self.message
        except SipParseError as error:
            lines.append(f"{prefix}malformed = {error}")
            lines.append(f"{prefix}load      = {bytes(self.load)[:80]!r}")
        else:
            lines.append(f"{prefix}{'start-line':<18} = {message.start_line}")
            for header in message.headers:
                shown = header.name if not header.is_compact else f"{header.name} ({header.long_name})"
                lines.append(f"{prefix}{shown:<18} = {header.value}")
            if message.body:
                body = message.body.decode("utf-8", "replace").rstrip("\r\n")
                lines.append(f"{prefix}{'body':<18} =")
                lines.extend(f"{prefix}    {line}" for line in body.splitlines())
        text = "\n".join(lines) + "\n"
        if self.payload:
            text += (
                self.payload._show_or_dump(
                    dump=dump, indent=indent, lvl=lvl, label_lvl=label_lvl, first_call=False
                )
                or ""
            )
        if first_call and not dump:
            print(text)
            return None
        return text


bind_layers(UDP, SIP, sport=SIP_DEFAULT_PORT)
bind_layers(UDP, SIP, dport=SIP_DEFAULT_PORT)
bind_layers(TCP, SIP, sport=SIP_DEFAULT_PORT)
bind_layers(TCP, SIP, dport=SIP_DEFAULT_PORT)


# ---------------------------------------------------------------------------- live capture


def _effective_capabilities() -> int:
    try:
        text = Path("/proc/self/status").read_text()
    except OSError:
        return 0
    match = re.search(r"^CapEff:\s*([0-9a-fA-F]+)", text, re.MULTILINE)
    return int(match.group(1), 16) if match else 0


def _process_can_capture() -> bool:
    """Whether this Python process may open raw sockets (root or CAP_NET_RAW)."""
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        return True
    return bool(_effective_capabilities() & (1 << _CAP_NET_RAW))


def _file_has_capture_caps(path: str) -> bool:
    try:
        value = os.getxattr(path, "security.capability")
    except (OSError, AttributeError):
        return False
    if len(value) < 8:
        return False
    permitted = int.from_bytes(value[4:8], "little")
    return bool(permitted & (1 << _CAP_NET_RAW))


def _tool_can_capture(path: str) -> bool:
    """Whether running ``path`` would be allowed to capture."""
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        return True
    try:
        info = os.stat(path)
    except OSError:
        return False
    if info.st_mode & 0o4000 and info.st_uid == 0 and os.access(path, os.X_OK):
        return True
    return _file_has_capture_caps(path) and os.access(path, os.X_OK)


def capture_methods() -> list[str]:
    """The live-capture methods usable here, best first: ``"scapy"``, ``"dumpcap"``, ``"tcpdump"``."""
    methods = []
    if _process_can_capture():
        methods.append("scapy")
    for tool in ("dumpcap", "tcpdump"):
        path = shutil.which(tool)
        if path and _tool_can_capture(path):
            methods.append(tool)
    return methods


def _is_loopback(interface: str) -> bool:
    try:
        return int(Path(f"/sys/class/net/{interface}/type").read_text()) == _ARPHRD_LOOPBACK
    except (OSError, ValueError):
        return interface in ("lo", "lo0")


def _bpf(addresses: Sequence[str], ports: Sequence[int] | None) -> str:
    parts = []
    if addresses:
        parts.append("(" + " or ".join(f"host {a}" for a in addresses) + ")")
    if ports:
        parts.append("(" + " or ".join(f"port {p}" for p in ports) + ")")
    return " and ".join(parts)


class LiveCapture:
    """Record the lab's traffic to a pcap file while something happens.

    ::

        capture = LiveCapture("lo", addresses=["127.0.0.80", "127.0.0.82"])
        capture.start()
        ...                       # register, call, hang up
        path = capture.stop()     # a pcap file
        flow = Flow.from_pcap(path)

    Parameters:
        interface: the interface (``"lo"`` for the local lab).
        addresses: only packets from/to these hosts (all if empty).
        ports: only these ports (all if ``None``, so RTP is recorded too).
        path: the pcap to write (a temporary file if ``None``).
        method: ``"scapy"``, ``"dumpcap"`` or ``"tcpdump"``; the best available if ``None``.

    Raises:
        CaptureError: (from :meth:`start`) capturing is not permitted here; the message
            names the fixes.

    Taught in notebook 03 and 04.
    """

    def __init__(
        self,
        interface: str = "lo",
        addresses: Sequence[str] = (),
        ports: Sequence[int] | None = None,
        path: str | os.PathLike[str] | None = None,
        method: str | None = None,
    ) -> None:
        self.interface = interface
        self.addresses = tuple(addresses)
        self.ports = tuple(ports) if ports is not None else None
        self.path = Path(path) if path is not None else None
        self.method = method
        self._process: subprocess.Popen[bytes] | None = None
        self._sniffer: Any = None
        self._used: str | None = None

    @property
    def filter(self) -> str:
        """The BPF filter used."""
        return _bpf(self.addresses, self.ports)

    @property
    def running(self) -> bool:
        """Whether the capture is running."""
        return self._used is not None

    def check(self) -> str:
        """The method that :meth:`start` will use.

        Raises:
            CaptureError: no method is permitted; the message names the fixes.
        """
        available = capture_methods()
        if self.method is not None:
            if self.method not in ("scapy", "dumpcap", "tcpdump"):
                raise CaptureError(
                    f"capture method {self.method!r} is unknown: use 'scapy', 'dumpcap' or 'tcpdump'"
                )
            if self.method not in available:
                raise CaptureError(f"live capture with {self.method} is not permitted here: {CAPTURE_FIXES}")
            return self.method
        if not available:
            raise CaptureError(f"live capture is not permitted for this user: {CAPTURE_FIXES}")
        return available[0]

    def start(self) -> LiveCapture:
        """Check privileges, then start capturing; returns ``self``.

        Raises:
            CaptureError: not permitted, already running, or the capture tool failed to start.
        """
        if self.running:
            raise CaptureError("live capture is already running: call stop() first")
        method = self.check()
        if self.path is None:
            handle, name = tempfile.mkstemp(prefix="voiplab-", suffix=".pcap")
            os.close(handle)
            self.path = Path(name)
        if method == "scapy":
            self._start_scapy()
        else:
            self._start_tool(method)
        self._used = method
        return self

    def _start_scapy(self) -> None:
        from scapy.sendrecv import AsyncSniffer

        started = threading.Event()
        options: dict[str, Any] = {}
        if _is_loopback(self.interface):
            # On loopback a listening socket sees each packet twice (outgoing and incoming);
            # scapy's L2Socket drops the outgoing copy, as libpcap does.
            from scapy.config import conf

            options["L2socket"] = conf.L2socket
        self._sniffer = AsyncSniffer(
            iface=self.interface,
            filter=self.filter or None,
            store=True,
            started_callback=started.set,
            **options,
        )
        try:
            self._sniffer.start()
        except (OSError, RuntimeError) as error:
            raise CaptureError(
                f"live capture on {self.interface!r} failed to start ({error}): {CAPTURE_FIXES}"
            ) from None
        if not started.wait(_START_TIMEOUT_S):
            raise CaptureError(
                f"live capture on {self.interface!r} did not start within {_START_TIMEOUT_S} s: "
                "check the interface name (ip link)"
            )

    def _start_tool(self, method: str) -> None:
        tool = shutil.which(method)
        assert tool is not None and self.path is not None
        if method == "dumpcap":
            command = [tool, "-i", self.interface, "-P", "-q", "-w", str(self.path)]
            if self.filter:
                command += ["-f", self.filter]
            ready = b"Capturing on"
        else:
            command = [tool, "-i", self.interface, "--immediate-mode", "-U", "-n", "-w", str(self.path)]
            if hasattr(os, "geteuid") and os.geteuid() == 0:
                command += ["-Z", "root"]
            if self.filter:
                command.append(self.filter)
            ready = b"listening on"
        process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        assert process.stderr is not None
        deadline = time.monotonic() + _START_TIMEOUT_S
        seen = b""
        os.set_blocking(process.stderr.fileno(), False)
        while time.monotonic() < deadline:
            chunk = process.stderr.read() or b""
            seen += chunk
            if ready in seen:
                break
            if process.poll() is not None:
                seen += process.stderr.read() or b""
                raise CaptureError(
                    f"live capture with {method} failed to start ({seen.decode(errors='replace').strip()}): "
                    f"check the interface name, or {CAPTURE_FIXES}"
                )
            time.sleep(0.01)
        else:
            process.terminate()
            process.wait()
            raise CaptureError(
                f"live capture with {method} did not start within {_START_TIMEOUT_S} s: "
                "check the interface name (ip link)"
            )
        time.sleep(_SETTLE_S[method])
        self._process = process

    def stop(self) -> Path:
        """Stop capturing and return the path of the pcap file.

        Raises:
            CaptureError: the capture is not running.
        """
        if not self.running or self.path is None:
            raise CaptureError("live capture is not running: call start() first")
        if self._sniffer is not None:
            from scapy.utils import wrpcap

            time.sleep(0.05)
            packets = self._sniffer.stop()
            wrpcap(str(self.path), packets if packets is not None else [])
            self._sniffer = None
        elif self._process is not None:
            import signal

            # dumpcap delivers packets in blocks (250 ms timeout): let the last ones reach the file
            time.sleep(_FLUSH_S[self._used or ""])
            self._process.send_signal(signal.SIGINT)
            try:
                self._process.wait(timeout=_START_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            if self._process.stderr is not None:
                self._process.stderr.close()
            self._process = None
        self._used = None
        return self.path

    def __enter__(self) -> LiveCapture:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        if self.running:
            self.stop()

    def __repr__(self) -> str:
        state = f"running ({self._used})" if self.running else "stopped"
        return f"<LiveCapture {self.interface} filter={self.filter!r} {state} -> {self.path}>"
