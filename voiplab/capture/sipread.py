"""Reading SIP from pcap/pcapng files, in capture order, as tshark lists it.

:func:`read_sip` reads a capture without scapy dissection (tens of thousands of messages
per second) and returns every SIP message as a :class:`~voiplab.core.flow.FlowMessage`;
:func:`read_flow` gives the :class:`~voiplab.core.flow.Flow` of a capture, and
:func:`read_sip_capture` the messages with the malformed ones beside them. What is read:

* **transports**: UDP and TCP. On the SIP ports (5060, 5061 and any named with
  ``sip_ports``) every payload is SIP; on any other port a payload (UDP) or the start of a
  TCP stream is SIP when its first line is a SIP request or status line
  (:func:`~voiplab.core.grammar.looks_like_sip`, Wireshark's SIP heuristic).
* **TCP**: each direction of a connection is reassembled (sequence numbers, retransmissions
  and overlaps dropped) and split into messages by their Content-Length, in time linear in
  the stream's length (the buffer is searched from where the last search stopped, never
  copied per segment). A message split over segments gets the frame of its last segment.
* **IP**: IPv4 and IPv6, their fragments reassembled (the datagram gets the frame of the
  fragment that completes it); GRE and IP-in-IP tunnels opened; every link layer of
  :data:`~voiplab.capture.pcap.LINK_LAYERS`, VLAN tags and PPPoE.
* **malformed messages**: a payload that starts like SIP but does not parse becomes a
  :class:`~voiplab.core.flow.MalformedMessage` (what is wrong, the frame), listed as tshark
  lists it instead of dropped. A CRLF keep-alive is not a message.

The frames come from :func:`voiplab.capture.pcap.iter_frames` (pure Python, no numpy: ``voiplab
flow`` starts fast) or, for ``voiplab analyze``, from the frames that
:func:`voiplab.capture.udp.read_udp` leaves to this reader (:class:`SipReader`).

Taught in notebooks 03 and 04 (captures and ladder diagrams).
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from ..core.flow import Flow, FlowMessage, MalformedMessage, format_address
from ..core.grammar import SIP_FIRST_LINE, SIP_FIRST_LINE_WINDOW, looks_like_sip
from ..core.sip import SIP_PORTS, SipMessage, head_content_length
from ..errors import SipParseError
from .pcapfile import (
    IPPROTO_TCP,
    IPPROTO_UDP,
    IPV4_MIN_HEADER_LENGTH,
    LINK_LAYERS,
    UDP_HEADER_LENGTH,
    UDP_TUNNEL_PORTS,
    Frame,
    IpReader,
    RawPacket,
    address_text,
    iter_frames,
)

__all__ = [
    "SIP_PORTS",
    "SipCapture",
    "SipReader",
    "looks_like_sip",
    "read_flow",
    "read_sip",
    "read_sip_capture",
]

#: What read_sip does with a payload that starts like SIP but does not parse: skip it, or raise its SipParseError.
SipErrors = Literal["skip", "raise"]

TCP_MIN_HEADER_LENGTH = 20
TCP_SYN, TCP_RST = 0x02, 0x04
SEQUENCE_SPACE = 1 << 32  # TCP sequence numbers wrap around
#: a SIP head (start line and headers) on a stream longer than this is not waited for: it is
#: listed as malformed and the stream resynchronises (tshark gives up too)
MAX_STREAM_HEAD = 1 << 24
MAX_STREAM_MESSAGE = 1 << 26
#: Link type -> (start, end, bytes, IP offset): the usual IPv4 frame of that link type
#: (:attr:`~voiplab.capture.pcap.LinkLayer.ipv4_signature`), read without slicing.
_IPV4_FRAMES = {linktype: layer.ipv4_signature for linktype, layer in LINK_LAYERS.items()}
#: the ports of UDP tunnels (GTP-U, VXLAN) as they are on the wire: their frames take the general path
_TUNNEL_PORT_BYTES = frozenset(port.to_bytes(2, "big") for port in UDP_TUNNEL_PORTS)
_KEEPALIVE = b"\r\n\x00 "


@dataclass(frozen=True)
class SipCapture:
    """The SIP of a capture: the messages, and the malformed ones beside them (both in capture order).

    Taught in notebook 04.
    """

    messages: tuple[FlowMessage, ...]
    malformed: tuple[MalformedMessage, ...] = ()

    def flow(self, *, pbx: str | None = None) -> Flow:
        """The :class:`~voiplab.core.flow.Flow` of these messages (malformed ones listed with them)."""
        return Flow.from_messages(self.messages, pbx=pbx, malformed=self.malformed)


@dataclass(eq=False)
class _Stream:
    """One direction of a TCP connection carrying SIP: the bytes not yet framed into messages.

    ``buffer[start:]`` is unread; ``searched`` is where the search for the empty line ending
    the head resumes; ``end`` the end of the current message once its head is read.
    """

    next_seq: int | None = None
    sip: bool = False
    resync: bool = False  # the next bytes may be inside a message: wait for a segment that starts one
    buffer: bytearray = field(default_factory=bytearray)
    start: int = 0
    searched: int = 0
    end: int | None = None


class SipReader:
    """Turns frames into SIP messages; keeps the IP fragments and TCP streams between frames.

    Feed it every frame in capture order (:meth:`feed_frame`), then read :attr:`messages`
    and :attr:`malformed`. ``sip_ports`` adds ports whose payloads are all SIP.

    Taught in notebook 04.
    """

    def __init__(self, errors: SipErrors = "skip", sip_ports: Iterable[int] = ()) -> None:
        self.errors = errors
        self.sip_ports = SIP_PORTS | frozenset(sip_ports)
        self._port_bytes = frozenset(port.to_bytes(2, "big") for port in self.sip_ports)
        self.ip = IpReader()
        self.streams: dict[tuple[str, str], _Stream] = {}
        self.messages: list[FlowMessage] = []
        self.malformed: list[MalformedMessage] = []
        self.addresses: dict[bytes, str] = {}  # IPv4 address + port (6 bytes) -> "ip:port"

    def result(self) -> SipCapture:
        """What was read so far."""
        return SipCapture(tuple(self.messages), tuple(self.malformed))

    def feed_frame(self, frame: int, when: float, linktype: int, data: bytes) -> None:
        """Read one frame; unfragmented IPv4 UDP (nearly every frame) takes a short cut.

        The short cut reads the same fields at the same places as the general path (offsets
        into the frame instead of slices of it) and leaves every other frame to it.
        """
        signature = _IPV4_FRAMES.get(linktype)
        if signature is None:
            return None  # a link type that does not carry IP
        at, end, marker, ip = signature
        if data[at:end] != marker:  # VLAN tags, PPPoE, IPv6, ...
            return self._frame(frame, when, linktype, data)
        size = len(data) - ip
        if size < IPV4_MIN_HEADER_LENGTH:
            return None
        first = data[ip]
        if first >> 4 != 4:
            return None
        # not UDP, or a fragment (the More Fragments flag or a fragment offset is set)
        if data[ip + 9] != IPPROTO_UDP or data[ip + 6] & 0x3F or data[ip + 7]:
            return self._frame(frame, when, linktype, data)
        header_length = (first & 0x0F) * 4
        total = (data[ip + 2] << 8) | data[ip + 3]
        start = ip + header_length  # the UDP header
        end = ip + (total if header_length <= total <= size else size)
        if header_length < IPV4_MIN_HEADER_LENGTH or end - start < UDP_HEADER_LENGTH:
            return None
        ports = data[start : start + 4]
        if ports[:2] in _TUNNEL_PORT_BYTES or ports[2:] in _TUNNEL_PORT_BYTES:
            return self._frame(frame, when, linktype, data)  # GTP-U, VXLAN: the packet inside
        length = (data[start + 4] << 8) | data[start + 5]
        payload_end = start + length if UDP_HEADER_LENGTH <= length <= end - start else end
        on_sip_port = ports[:2] in self._port_bytes or ports[2:] in self._port_bytes
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
        """Read one frame given as a :class:`~voiplab.capture.pcap.RawPacket`."""
        self._frame(packet.frame, packet.time, packet.linktype, packet.data)

    # ----------------------------------------------------------- IP
    def _frame(self, frame: int, when: float, linktype: int, data: bytes) -> None:
        segment = self.ip.frame(linktype, data)
        if segment is None:
            return
        payload = segment.payload
        if segment.protocol == IPPROTO_UDP and len(payload) >= UDP_HEADER_LENGTH:
            sport, dport, length = struct.unpack_from("!HHH", payload, 0)
            data = (payload[UDP_HEADER_LENGTH:length] if UDP_HEADER_LENGTH <= length <= len(payload)
                    else payload[UDP_HEADER_LENGTH:])
            if sport in self.sip_ports or dport in self.sip_ports or looks_like_sip(data):
                self._udp(frame, when, format_address(address_text(segment.src), sport),
                          format_address(address_text(segment.dst), dport), data)
        elif segment.protocol == IPPROTO_TCP and len(payload) >= TCP_MIN_HEADER_LENGTH:
            sport, dport, seq = struct.unpack_from("!HHI", payload, 0)
            header_length = (payload[12] >> 4) * 4
            if header_length < TCP_MIN_HEADER_LENGTH:
                return
            self._tcp(frame, when, format_address(address_text(segment.src), sport),
                      format_address(address_text(segment.dst), dport),
                      sport in self.sip_ports or dport in self.sip_ports, seq, payload[13], payload[header_length:])

    # ----------------------------------------------------------- SIP over UDP
    def _udp(self, frame: int, when: float, src: str, dst: str, payload: bytes) -> None:
        if not payload.strip(_KEEPALIVE):
            return  # keep-alive
        try:
            message = SipMessage.parse(payload)
        except SipParseError as error:
            if self.errors == "raise":
                raise
            if looks_like_sip(payload.lstrip(b"\r\n")):
                self.malformed.append(MalformedMessage(payload, str(error), when, src, dst, "UDP", frame))
            return
        self.messages.append(FlowMessage(message, when, src, dst, "UDP", frame))

    # ----------------------------------------------------------- SIP over TCP
    def _tcp(self, frame: int, when: float, src: str, dst: str, on_sip_port: bool, seq: int, flags: int,
             payload: bytes) -> None:
        key = (src, dst)
        stream = self.streams.get(key)
        if flags & (TCP_SYN | TCP_RST):
            if flags & TCP_SYN:
                self.streams[key] = _Stream((seq + 1) % SEQUENCE_SPACE, on_sip_port)
            elif stream is not None:
                del self.streams[key]
            return
        if not payload:
            return
        if stream is None:  # the capture started after the handshake: maybe in the middle of a message
            stream = self.streams[key] = _Stream(None, on_sip_port, resync=True)
        expected = stream.next_seq
        if expected is not None and (seq - expected) % SEQUENCE_SPACE >= SEQUENCE_SPACE // 2:
            # The segment starts before the expected byte: a retransmission or an overlap.
            overlap = (expected - seq) % SEQUENCE_SPACE
            if overlap >= len(payload):
                return
            payload, seq = payload[overlap:], expected
        elif expected is not None and seq != expected:
            # A gap (a segment the capture did not see): what was pending cannot be completed, and
            # reading starts again at a segment that starts a message
            self._give_up(stream, frame, when, src, dst, "its TCP stream has a gap (a segment was not captured)")
        stream.next_seq = (seq + len(payload)) % SEQUENCE_SPACE
        if not stream.sip or stream.resync:
            # a stream on another port is SIP from a segment that starts like SIP (the heuristic);
            # after a gap, reading starts again at such a segment
            if not looks_like_sip(payload.lstrip(b"\r\n")):
                return
            stream.sip, stream.resync = True, False
        stream.buffer += payload
        self._frame_messages(stream, frame, when, src, dst)

    def _frame_messages(self, stream: _Stream, frame: int, when: float, src: str, dst: str) -> None:
        """Cut every complete message out of the stream's buffer (each byte is searched once)."""
        buffer = stream.buffer
        while True:
            if stream.end is None:
                # skip CRLF keep-alives between messages
                while stream.start < len(buffer) and buffer[stream.start] in (13, 10):
                    stream.start += 1
                stream.searched = max(stream.searched, stream.start)
                if stream.start == len(buffer):
                    break
                head_end, body_start = _blank_line(buffer, stream.searched, stream.start)
                if head_end < 0:
                    stream.searched = max(stream.start, len(buffer) - 3)
                    if len(buffer) - stream.start > MAX_STREAM_HEAD:
                        self._give_up(stream, frame, when, src, dst, "its head has no end (no empty line)")
                    break
                try:
                    length = head_content_length(bytes(buffer[stream.start:head_end]))
                except SipParseError as error:
                    # no way to know where the message ends: it runs to the end of what is there
                    self._give_up(stream, frame, when, src, dst, str(error))
                    break
                if body_start + length - stream.start > MAX_STREAM_MESSAGE:
                    self._give_up(stream, frame, when, src, dst, f"its Content-Length {length} is too large")
                    break
                stream.end = body_start + length
            if len(buffer) < stream.end:
                break
            chunk = bytes(buffer[stream.start:stream.end])
            stream.start, stream.end = stream.end, None
            stream.searched = stream.start
            self._stream_message(chunk, frame, when, src, dst)
        if stream.start > len(buffer) // 2:  # keep the buffer short: amortised linear
            del buffer[:stream.start]
            stream.searched -= stream.start
            if stream.end is not None:
                stream.end -= stream.start
            stream.start = 0

    def _stream_message(self, chunk: bytes, frame: int, when: float, src: str, dst: str) -> None:
        try:
            message = SipMessage.parse(chunk)
        except SipParseError as error:
            if self.errors == "raise":
                raise
            self.malformed.append(MalformedMessage(chunk, str(error), when, src, dst, "TCP", frame))
            return
        self.messages.append(FlowMessage(message, when, src, dst, "TCP", frame))

    def _give_up(self, stream: _Stream, frame: int, when: float, src: str, dst: str, problem: str) -> None:
        """List what is pending as malformed and start again at the next segment."""
        pending = bytes(stream.buffer[stream.start:])
        stream.buffer.clear()
        stream.start = stream.searched = 0
        stream.end = None
        stream.resync = True
        if not pending.strip(_KEEPALIVE):
            return
        error = f"SIP message on TCP cannot be framed: {problem}"
        if self.errors == "raise":
            raise SipParseError(error)
        self.malformed.append(MalformedMessage(pending, error, when, src, dst, "TCP", frame))


def _blank_line(buffer: bytearray, searched: int, start: int) -> tuple[int, int]:
    """(end of the head, start of the body) of the message at ``start``, searching from ``searched``
    (the bytes before it were searched already), or (-1, -1)."""
    at = max(start, searched - 3)
    crlf = buffer.find(b"\n\r\n", at)
    lf = buffer.find(b"\n\n", at, crlf + 2 if crlf >= 0 else len(buffer))
    if lf >= 0 and (crlf < 0 or lf < crlf):
        return lf + 1, lf + 2
    if crlf >= 0:
        return crlf + 1, crlf + 3
    return -1, -1


def _read(path: str | os.PathLike[str], errors: SipErrors, sip_ports: Iterable[int]) -> SipCapture:
    reader = SipReader(errors, sip_ports)
    feed_frame = reader.feed_frame
    frame: Frame
    for frame in iter_frames(path, empty=False):  # an empty frame holds no SIP
        feed_frame(*frame)
    return reader.result()


def read_sip_capture(path: str | os.PathLike[str], *, sip_ports: Iterable[int] = ()) -> SipCapture:
    """The SIP messages of a capture and, beside them, the malformed ones (see the module docstring).

    Parameters:
        path: the capture file.
        sip_ports: more ports whose UDP and TCP payloads are all SIP (5060 and 5061 always are).

    Raises:
        CaptureError: the file cannot be read or is not a capture.

    Taught in notebook 04.
    """
    return _read(path, "skip", sip_ports)


def read_sip(path: str | os.PathLike[str], *, errors: SipErrors = "skip",
             sip_ports: Iterable[int] = ()) -> list[FlowMessage]:
    """Every SIP message of a pcap/pcapng file, in capture order.

    Parameters:
        path: the capture file.
        errors: ``"skip"`` (default) leaves out the payloads that start like SIP but do not
            parse (:func:`read_sip_capture` lists them); ``"raise"`` raises their
            :class:`SipParseError`.
        sip_ports: more ports whose UDP and TCP payloads are all SIP (5060 and 5061 always are).

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
    return list(_read(path, errors, sip_ports).messages)


def read_flow(path: str | os.PathLike[str], *, pbx: str | None = None, sip_ports: Iterable[int] = ()) -> Flow:
    """The :class:`~voiplab.core.flow.Flow` of a capture file (``Flow.from_pcap``), malformed
    messages listed with the others (:attr:`~voiplab.core.flow.Flow.malformed`)."""
    return read_sip_capture(path, sip_ports=sip_ports).flow(pbx=pbx)
