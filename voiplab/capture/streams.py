"""RTP streams of a capture, found and measured as ``tshark -q -z rtp,streams`` does.

How tshark (Wireshark 4.0) decides that a UDP datagram is RTP, and what this module does:

* **SDP** (always): every SDP body carried by SIP (INVITE, 200 OK, ACK, UPDATE...), over UDP
  or TCP, on a SIP port or found by its first line on any other port, in IP fragments or
  tunnels, sets up an RTP "conversation" for each of its RTP media: the ``c=`` address and
  ``m=`` port, *from that frame on*, with any peer. A datagram sent from or to that
  address:port is RTP. The payload type map (``a=rtpmap``) of a packet is the one of the
  conversation of its *destination* (the receiver's SDP says what it receives), else of its
  source: tshark's ``find_conversation(dst, src)``; the latest SDP for an address:port wins.
* **The media follow the negotiation**: a later SDP that makes an address:port T.38 fax
  (``m=image ... udptl t38``, a re-INVITE to fax) ends RTP there from its frame on: its
  datagrams are UDPTL, neither SDP's RTP nor the heuristic's (tshark's T.38 conversation).
  A port change sets up the new port; the old one stays RTP, as in tshark.
* **Heuristic** (``heuristic=True``, tshark's ``-o rtp.heuristic_rtp:TRUE``): any other UDP
  datagram of version 2 to an *even* destination port, not RTCP-like (second byte 192-223
  or payload type 72-76), not on a port owned by another protocol (SIP, DNS, STUN...),
  whose CSRC list, header extension and padding fit in the datagram.
* Not RTP either way: a second byte of 192-223 (RTCP multiplexed on the RTP port, RFC
  5761), a datagram shorter than its header (12 bytes + CSRCs, + the 4-byte extension
  header), a padding count of 0 or padding with no room for it; with SDP a header
  extension longer than the datagram is tolerated only for the RFC 8285 one-byte form
  (0xBEDE) without padding.
* A stream is (source, source port, destination, destination port, SSRC); streams are
  listed newest first (tshark prepends each new stream to its list). The "Payload" column
  names every payload type of the stream, by number, each with the name it had on its
  first packet.

* SDP is read by :mod:`voiplab.core.sip` and :mod:`voiplab.core.sdp`, with tshark's reading
  where it differs (see :func:`_rtp_media`): the last ``c=`` of a section wins, a section's own
  ``c=`` hides the session's even when unusable, the protocol must contain ``RTP/`` (case
  matters), the last ``a=rtpmap`` of a payload type wins; lines the core rejects are mended or
  skipped as tshark skips them. Found with the Content-Type ``application/sdp``, and in the
  parts of a ``multipart`` body as tshark cuts them (:mod:`voiplab.core.mime`).

Bulk work is numpy over the columns of :func:`voiplab.capture.udp.read_udp`; only SIP datagrams
are parsed one by one, and the TCP segments by :class:`voiplab.capture.sipread.SipReader`.
Taught in notebook 05 (RTP streams, jitter, loss).
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np

from ..core.grammar import SIP_FIRST_BYTES, looks_like_sip
from ..core.mime import bodies_of_type
from ..core.payloads import DEFAULT_DYNAMIC_NAMES, PAYLOAD_NAMES, STATIC_CLOCK_RATES, TELEPHONE_EVENT, clock_rate
from ..core.rtp import RTP_HEADER_LENGTH, RTP_VERSION
from ..core.rtpstats import RtpStream, StreamStats, ns_to_seconds, summarize_stream
from ..core.sdp import Connection, SdpLine, SessionDescription
from ..core.sip import COMPACT_FORMS, SIP_PORTS, SipMessage
from ..errors import SdpParseError, SipParseError
from .udp import UdpTable, read_udp

__all__ = ["KNOWN_UDP_PORTS", "SIP_PORT", "Conversation", "analyze", "sdp_conversations", "streams"]

SIP_PORT = 5060
#: UDP ports whose own dissector claims an RTP-looking datagram before the RTP heuristic is
#: tried (measured with tshark 4.0: DNS, DHCP, TFTP, NTP, syslog, VXLAN...). Other well-known
#: ports (SIP, STUN...) reject a datagram that is not theirs, and the heuristic then runs.
KNOWN_UDP_PORTS = frozenset({
    7, 53, 67, 68, 69, 111, 123, 137, 138, 319, 320, 514, 520, 1194, 1719, 1900, 2944, 2945, 3000, 3544, 4500,
    4789, 5246, 5247, 5353, 5355, 5683, 6081,
})
RTCP_LIKE = range(192, 224)  # second byte of RTCP SR/RR/SDES/BYE/APP... (RFC 5761)
RTCP_PAYLOAD_TYPES = range(72, 77)
RFC8285_ONE_BYTE = 0xBEDE
_FEW_GROUPS = 8


@dataclass(frozen=True)
class Conversation:
    """An RTP address set up by an SDP: ``address:port`` is RTP from ``frame`` on.

    Attributes:
        frame: the frame of the SIP message that carried the SDP.
        address, port: the ``c=`` address and ``m=`` port of one media description.
        rtpmap: dynamic payload type -> (encoding name, clock rate) of that media.
        protocol: ``"RTP"``, or ``"T.38"`` for a fax media (``m=image ... udptl t38``): from
            its frame on, datagrams from or to that address:port are UDPTL, not RTP (tshark's
            T.38 conversation), whatever they look like.

    Taught in notebook 05.
    """

    frame: int
    address: str
    port: int
    rtpmap: dict[int, tuple[str, int]] = field(default_factory=dict)
    protocol: str = "RTP"

    @property
    def is_rtp(self) -> bool:
        """Whether the media is RTP (else T.38 over UDPTL: its datagrams are not RTP from ``frame`` on)."""
        return self.protocol == "RTP"

    def __repr__(self) -> str:
        codecs = ", ".join(f"{pt} {name}/{rate}" for pt, (name, rate) in sorted(self.rtpmap.items()))
        kind = "" if self.is_rtp else f" {self.protocol}"
        return f"Conversation(frame {self.frame}: {self.address}:{self.port}{kind}{' ' + codecs if codecs else ''})"


# ---------------------------------------------------------------- SDP in SIP, read as tshark reads it
SDP_CONTENT_TYPE = "application/sdp"
DYNAMIC_PAYLOAD_TYPES = range(96, 128)
#: tshark stops reading an SDP body at its first line shorter than this ("x=" is the shortest)
SDP_MIN_LINE_LENGTH = 2
#: Stand-ins for lines the SDP core rejects but tshark reads past: a ``c=`` line that names
#: no usable address (it still hides the session-level one, as in tshark) and an ``m=`` line
#: that is no RTP media (the lines after it stay in its section, as in tshark).
UNUSABLE_CONNECTION = "IN NONE unusable"
UNUSABLE_MEDIA = "unusable 0 unusable"
IP_VERSION_OF_ADDRESS_TYPE = {"IP4": 4, "IP6": 6}

#: A media of an SDP as tshark sees it: (address, port, dynamic payload type -> (name, clock rate), protocol)
RtpMedia = tuple[str, int, dict[int, tuple[str, int]], str]
#: the SDP transport protocol of T.38 fax (RFC 3362: ``m=image 4000 udptl t38``), any case as in tshark
UDPTL = "udptl"


def _sdp_bodies(payload: bytes) -> list[bytes]:
    """The SDP bodies of a SIP datagram: its body when the Content-Type is ``application/sdp``,
    the SDP parts of a ``multipart`` body (:func:`voiplab.core.mime.bodies_of_type`), or none.

    The SIP core reads the message; for one it rejects but tshark reads (a header line
    without ``:``, a Content-Length beyond the datagram...), the headers are read one by one.
    """
    try:
        message = SipMessage.parse(payload)
    except SipParseError:
        return _tolerant_sdp_bodies(payload)
    content_type = message.header("Content-Type")
    if content_type is None:
        return []
    kind, parameters = _content_type(content_type)
    return bodies_of_type(kind, parameters, message.body, SDP_CONTENT_TYPE)


def _content_type(value: str) -> tuple[str, str]:
    """(media type in lower case, parameters) of a Content-Type value, as tshark's SIP reads it:
    the type up to the first ``;``, the parameters after it without their leading white space."""
    kind, _, parameters = value.partition(";")
    return kind.strip().lower(), parameters.lstrip(" \t")


def _tolerant_sdp_bodies(payload: bytes) -> list[bytes]:
    """:func:`_sdp_bodies` of a message the SIP core rejects, read header line by header line as
    tshark does: a first line that is not SIP ends it; a Content-Length longer than the body is
    ignored."""
    if not looks_like_sip(payload):
        return []
    for blank_line in (b"\r\n\r\n", b"\n\n"):
        head, found, body = payload.partition(blank_line)
        if found:
            break
    else:
        return []
    content_type = length = None
    for line in head.split(b"\n")[1:]:
        name, colon, value = line.decode("utf-8", "replace").partition(":")
        name = name.strip().lower()
        name = COMPACT_FORMS.get(name, name).lower()
        if colon and name == "content-type" and content_type is None:
            content_type = value.strip()
        elif colon and name == "content-length" and length is None:
            length = int(value) if value.strip().isdigit() else None
    if content_type is None:
        return []
    kind, parameters = _content_type(content_type)
    return bodies_of_type(kind, parameters, body[:length] if length is not None and length <= len(body) else body,
                          SDP_CONTENT_TYPE)


def _tolerant_rtpmap(value: str) -> tuple[int, str, int] | None:
    """(payload type, encoding name, clock rate) of an ``a=rtpmap:`` value as tshark reads it:
    the payload type up to the first space, the name up to the first ``/``, the rate up to the next."""
    number, space, rest = value.lstrip(" ").partition(" ")
    name, slash, rate = rest.partition("/")
    rate = rate.split("/", 1)[0].strip()
    if not (space and slash and number.isdigit() and rate.isdigit()):
        return None  # tshark ignores it
    return int(number), name, int(rate)


def _tolerant_sdp(body: bytes) -> SessionDescription | None:
    """An SDP body parsed by :class:`~voiplab.core.sdp.SessionDescription` after tshark's tolerance.

    tshark reads up to the first line shorter than 2 characters and skips lines that are
    not ``<letter>=``. The core parser is stricter; each line it rejects is mended the way
    tshark reads it, and the body parsed again: ``v=0`` goes first (tshark does not need
    it), a malformed ``o=`` is dropped (it does not matter for RTP), a malformed ``c=`` or
    ``m=`` becomes :data:`UNUSABLE_CONNECTION` / :data:`UNUSABLE_MEDIA`, an ``a=rtpmap``
    is rewritten as tshark reads it, or dropped.
    """
    lines = []
    for raw in body.decode("utf-8", "surrogateescape").splitlines():
        if len(raw) < SDP_MIN_LINE_LENGTH:
            break
        if raw[1] == "=":
            lines.append(raw)
    for _ in range(2 * len(lines) + 2):  # each round mends or drops a line, or puts v=0 first
        text = "".join(line + "\r\n" for line in lines)
        try:
            return SessionDescription.parse(text)
        except SdpParseError as error:
            at = text.count("\r\n", 0, error.offset or 0)
            if at >= len(lines):
                return None
            kind, value = lines[at][0], lines[at][2:]
            if at == 0 and kind != "v":
                lines.insert(0, "v=0")
            elif kind == "c":
                lines[at] = "c=" + UNUSABLE_CONNECTION
            elif kind == "m":
                lines[at] = "m=" + UNUSABLE_MEDIA
            elif kind == "a" and value.startswith("rtpmap:") and (rtpmap := _tolerant_rtpmap(value[7:])) and (
                    mended := f"a=rtpmap:{rtpmap[0]} {rtpmap[1]}/{rtpmap[2]}") != lines[at]:
                lines[at] = mended
            else:
                del lines[at]
    return None


def _tshark_address(lines: tuple[SdpLine, ...]) -> str | None:
    """The address of the last ``c=`` line (tshark's choice), normalised, or ``None``.

    tshark reads the address up to a ``/`` and needs an IP address of the ``IP4``/``IP6`` type
    given; trailing text makes it unusable.
    """
    value = next((line.value for line in reversed(lines) if line.type == "c"), None)
    if value is None:
        return None
    try:
        connection = Connection.parse(value)
    except SdpParseError:
        return None
    if value.split(" ", 2)[2].split("/", 1)[0] != connection.address:
        return None  # tshark's address runs to the "/" or the end of the line: trailing text spoils it
    try:
        address = ipaddress.ip_address(connection.address)
    except ValueError:
        return None  # a host name: tshark sets up no conversation
    if IP_VERSION_OF_ADDRESS_TYPE.get(connection.address_type) != address.version:
        return None
    return str(address)


def _rtp_media(body: bytes) -> list[RtpMedia]:
    """(address, port, rtpmap, protocol) of each RTP or T.38 media of an SDP body, as tshark reads them.

    ``rtpmap``: the dynamic payload types (96-127) of the media's ``a=rtpmap`` lines, the
    last one for a type winning (the name as written after the first space). A media is RTP
    when its protocol contains ``RTP/`` (``RTP/AVP``, ``RTP/SAVPF``...) and its port is not 0;
    its address is its last ``c=`` line if it has one (even an unusable one), else the
    session's last.
    """
    sdp = _tolerant_sdp(body)
    if sdp is None:
        return []
    session_address = _tshark_address(sdp.session_lines)
    found: list[RtpMedia] = []
    for media in sdp.media:
        own = media.lines[1:]
        address = _tshark_address(own) if any(line.type == "c" for line in own) else session_address
        if address is None or not 0 < media.port < 65536:
            continue
        if "RTP/" not in media.protocol:
            if media.protocol.lower() == UDPTL:  # T.38 fax: tshark's T.38 conversation
                found.append((address, media.port, {}, "T.38"))
            continue
        rtpmap: dict[int, tuple[str, int]] = {}
        for attribute in media.attributes:
            if attribute.name == "rtpmap" and attribute.value is not None:
                parsed = _tolerant_rtpmap(attribute.value)
                if parsed and parsed[0] in DYNAMIC_PAYLOAD_TYPES:
                    rtpmap[parsed[0]] = parsed[1:]
        found.append((address, media.port, rtpmap, "RTP"))
    return found


def _sip_rows(table: UdpTable, sip_ports: frozenset[int]) -> np.ndarray:
    """Rows that may be SIP: a SIP port, or a payload starting like a SIP message."""
    sport, dport = table["src_port"], table["dst_port"]
    rows = np.isin(sport, sorted(sip_ports)) | np.isin(dport, sorted(sip_ports))
    may_start_sip = np.zeros(256, dtype=bool)
    may_start_sip[sorted(SIP_FIRST_BYTES)] = True
    for row in np.flatnonzero(~rows & may_start_sip[table["rtp_b0"]]).tolist():
        rows[row] = looks_like_sip(table.payload(row))
    return np.flatnonzero(rows)


def _other_sip(table: UdpTable, sip_ports: frozenset[int]) -> list[tuple[int, bytes]]:
    """(frame, message bytes) of the SIP in the frames read_udp leaves aside: SIP over TCP
    (reassembled) and in IP fragments, read by :class:`~voiplab.capture.sipread.SipReader`."""
    other = table.other_frames
    if not len(other):
        return []
    # the SIP reader (and the flow core under it): a layer loaded late for speed, only for captures with TCP
    from .sipread import SipReader

    reader = SipReader("skip", sip_ports)
    for k, (frame, time_ns, linktype) in enumerate(zip(other.frame.tolist(), other.time_ns.tolist(),
                                                        other.linktype.tolist(), strict=True)):
        reader.feed_frame(frame, time_ns / 1e9, linktype, table.frame_bytes(k))
    found = [(m.frame or 0, bytes(m.message)) for m in reader.messages]
    found += [(m.frame or 0, m.data) for m in reader.malformed]
    return found


def sdp_conversations(table: UdpTable, sip_ports: Iterable[int] = ()) -> list[Conversation]:
    """The RTP (and T.38) conversations set up by the SDP bodies of the SIP of a capture: SIP
    over UDP on a SIP port (5060, 5061, ``sip_ports``) or found by its first line on any
    other port, SIP over TCP, SIP in IP fragments.

    Taught in notebook 05.
    """
    ports = SIP_PORTS | frozenset(sip_ports)
    carried: list[tuple[int, bytes]] = []
    if len(table):
        frame = table["frame"]
        carried = [(int(frame[row]), table.payload(row)) for row in _sip_rows(table, ports).tolist()]
    carried += _other_sip(table, ports)
    conversations = []
    marker = SDP_CONTENT_TYPE.encode()
    for frame_number, payload in carried:
        if marker not in payload.lower():  # no SDP: not worth parsing
            continue
        for body in _sdp_bodies(payload):
            for address, port, rtpmap, protocol in _rtp_media(body):
                conversations.append(Conversation(frame_number, address, port, rtpmap, protocol))
    return conversations


# ---------------------------------------------------------------- which datagrams are RTP
def _byte_at(table: UdpTable, rows: np.ndarray, offset: np.ndarray) -> np.ndarray:
    """Byte ``offset`` of the UDP payload of ``rows`` (offsets inside the payload)."""
    return table.bytes_at(table["payload_offset"][rows] + offset).astype(np.int64)


def _well_formed(table: UdpTable, rows: np.ndarray, heuristic: bool, events: np.ndarray | None = None) -> np.ndarray:
    """Which of these version-2 datagrams the RTP dissector taps (see the module docstring).

    ``events``: rows whose payload type is telephone-event. With a padding count of 0 the
    dissector fails after the payload and does not tap the packet, unless the payload
    dissector failed first (it taps before passing the exception on): telephone-event
    with less than 4 payload bytes.
    """
    b0 = table["rtp_b0"][rows]
    length = table["payload_length"][rows].astype(np.int64)
    header = RTP_HEADER_LENGTH + 4 * (b0 & 0x0F).astype(np.int64)
    ok = length >= header
    odd = np.flatnonzero(ok & ((b0 & 0x30) != 0))  # extension or padding bit: look at the bytes
    if len(odd) == 0:
        return ok
    r, h, n, flags = rows[odd], header[odd], length[odd], b0[odd]
    end = h.copy()
    good = np.ones(len(odd), dtype=bool)
    extension = (flags & 0x10) != 0
    padding = (flags & 0x20) != 0
    has_room = extension & (n >= h + 4)
    good &= ~extension | has_room
    at = np.flatnonzero(has_room)
    if len(at):
        profile = (_byte_at(table, r[at], h[at]) << 8) | _byte_at(table, r[at], h[at] + 1)
        words = (_byte_at(table, r[at], h[at] + 2) << 8) | _byte_at(table, r[at], h[at] + 3)
        end[at] = h[at] + 4 + 4 * words
        fits = end[at] <= n[at]
        if not heuristic:
            fits |= (profile == RFC8285_ONE_BYTE) & ~padding[at]
        good[at] &= fits
    at = np.flatnonzero(padding & good)
    if len(at):
        count = _byte_at(table, r[at], n[at] - 1)
        room = n[at] - end[at]
        fine = (count != 0) & (room > 0)
        if events is not None:
            fine |= (count == 0) & (room > 0) & (room < 4) & events[odd[at]]
        if heuristic:
            fine &= count <= room
        good[at] &= fine
    ok[odd] = good
    return ok


def _endpoint(key: np.ndarray, port: np.ndarray) -> np.ndarray:
    """address key and port in one integer (keys use at most 33 bits)."""
    return (key << np.uint64(16)) | port.astype(np.uint64)


def _group(keys: tuple[np.ndarray, ...], rows: np.ndarray | None, count: int) -> list[np.ndarray]:
    """The rows of each distinct key tuple, in order of first appearance (rows stay sorted).

    ``rows``: the rows to group (``None``: all ``count`` rows). A few groups are split off
    by exact comparisons over whole columns (cheap when there are few streams); the rest,
    if any, by sorting.
    """
    if rows is not None and 2 * len(rows) >= count:  # dense: whole columns and a mask, no gathers
        free = np.zeros(count, dtype=bool)
        free[rows] = True
        rows = None
        views, size = keys, count
    else:
        views = keys if rows is None else tuple(column[rows] for column in keys)
        size = count if rows is None else len(rows)
        free = np.ones(size, dtype=bool)
    groups: list[np.ndarray] = []
    start = 0
    while len(groups) < _FEW_GROUPS:
        start += int(np.argmax(free[start:]))
        if not free[start]:
            break
        same = free.copy()
        for column in views:
            np.logical_and(same, column == column[start], out=same)
        members = np.flatnonzero(same)
        groups.append(members)
        free[members] = False
    rest = np.flatnonzero(free)
    if len(rest):
        groups.extend(_group_sorted(tuple(column[rest] for column in views), rest))
        groups.sort(key=lambda m: int(m[0]))
    return groups if rows is None else [rows[g] for g in groups]


def _group_sorted(keys: tuple[np.ndarray, ...], rows: np.ndarray) -> list[np.ndarray]:
    order = np.lexsort(tuple(reversed(keys)))
    change = np.zeros(len(rows), dtype=bool)
    change[0] = True
    for column in keys:
        values = column[order]
        change[1:] |= values[1:] != values[:-1]
    starts = np.flatnonzero(change)
    return [np.sort(rows[part]) for part in np.split(order, starts[1:])]


class _PayloadTables:
    """Clock rate and name of every payload type, per conversation (row 0: no conversation)."""

    def __init__(self, conversations: list[Conversation]) -> None:
        count = len(conversations) + 1
        self.rate = np.zeros((count, 128), dtype=np.int64)
        static = np.zeros(128, dtype=np.int64)
        for pt, value in STATIC_CLOCK_RATES.items():
            static[pt] = value
        self.rate[:] = static
        self.telephone = np.zeros((count, 128), dtype=bool)
        self.names: list[dict[int, str]] = [dict(DEFAULT_DYNAMIC_NAMES)]
        #: payload types decoded by Wireshark's RTP event dissector (telephone-event, rtpevent)
        self.event = np.zeros((count, 128), dtype=bool)
        self.event[0, [pt for pt, name in DEFAULT_DYNAMIC_NAMES.items() if name == "rtpevent"]] = True
        for index, conv in enumerate(conversations, start=1):
            names = {}
            for pt, (name, rate) in conv.rtpmap.items():
                names[pt] = name
                self.rate[index, pt] = clock_rate(pt, name, rate)
                self.telephone[index, pt] = name.lower().startswith(TELEPHONE_EVENT)
                self.event[index, pt] = name.lower() == TELEPHONE_EVENT
            self.names.append(names)

    def name(self, conversation: int, pt: int) -> str:
        if pt <= 95:
            return PAYLOAD_NAMES.get(pt, "Unassigned")
        return self.names[conversation + 1].get(pt, f"RTPType-{pt}")


@dataclass(frozen=True)
class _Found:
    table: UdpTable
    conversations: list[Conversation]
    streams: list[tuple[np.ndarray, np.ndarray]]  # (rows, conversation per row), by first packet
    tables: _PayloadTables


#: the "conversation" of an endpoint whose latest SDP made it T.38 (UDPTL): not RTP, not tried by the heuristic
NOT_RTP = -2


def _conversations_by_endpoint(table: UdpTable, conversations: list[Conversation]
                               ) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """endpoint -> (SDP frames, conversation indexes or :data:`NOT_RTP`), sorted by frame."""
    found: dict[int, list[tuple[int, int]]] = {}
    for index, conv in enumerate(conversations):
        key = table.address_key(conv.address)
        if key is not None:
            found.setdefault((key << 16) | conv.port, []).append((conv.frame, index if conv.is_rtp else NOT_RTP))
    return {endpoint: (np.array([f for f, _ in items], np.int64), np.array([i for _, i in items], np.int64))
            for endpoint, items in ((e, sorted(v)) for e, v in found.items())}


def _conversation_at(frames: np.ndarray, setup: tuple[np.ndarray, np.ndarray] | None) -> np.ndarray:
    """The conversation of an endpoint in force at each frame (-1: not set up yet / never;
    :data:`NOT_RTP`: a T.38 conversation, which ends RTP there as tshark's does)."""
    if setup is None:
        return np.full(len(frames), -1, dtype=np.int64)
    setup_frames, indexes = setup
    if len(setup_frames) == 1:
        return np.where(frames > setup_frames[0], indexes[0], -1)
    at = np.searchsorted(setup_frames, frames, side="left") - 1
    return np.where(at >= 0, indexes[np.maximum(at, 0)], -1)


def _find(path: str | os.PathLike[str], heuristic: bool, progress: Callable[[str], None] | None,
          sip_ports: Iterable[int] = ()) -> _Found | None:
    table = read_udp(path)
    if progress:
        progress(f"read {table.frames} frames, {len(table)} UDP datagrams")
    n = len(table)
    if n == 0:
        return None
    b0, b1 = table["rtp_b0"], table["rtp_b1"]
    sport, dport = table["src_port"], table["dst_port"]
    candidate = ((b0 >> 6) == RTP_VERSION) & ((b1 < RTCP_LIKE.start) | (b1 >= RTCP_LIKE.stop))
    conversations = sdp_conversations(table, sip_ports)
    if not conversations and not heuristic:
        return None
    setups = _conversations_by_endpoint(table, conversations)
    src_ep = _endpoint(table["src_key"], sport)
    dst_ep = _endpoint(table["dst_key"], dport)
    rows = np.flatnonzero(candidate)
    if len(rows) == 0:
        return None
    known = np.zeros(1 << 16, dtype=bool)
    known[list(KNOWN_UDP_PORTS)] = True
    frame = table["frame"]
    tables = _PayloadTables(conversations)
    streams: list[tuple[np.ndarray, np.ndarray]] = []
    for flow in _group((src_ep, dst_ep), rows, n):
        first = int(flow[0])
        to_setup = setups.get(int(dst_ep[first]))
        from_setup = setups.get(int(src_ep[first]))
        if to_setup is None and from_setup is None and not heuristic:
            continue
        if to_setup is None and from_setup is None:
            conv = np.full(len(flow), -1, dtype=np.int64)
        else:
            frames = frame[flow]
            conv = _conversation_at(frames, to_setup)
            if from_setup is not None:
                conv = np.where(conv != -1, conv, _conversation_at(frames, from_setup))
        by_sdp = conv >= 0
        t38 = conv == NOT_RTP  # tshark's T.38 conversation takes these: neither SDP nor the heuristic
        conv = np.where(t38, -1, conv)
        rtp = by_sdp.copy()
        if by_sdp.any():
            sdp_rows = np.flatnonzero(by_sdp)
            events = tables.event[conv[sdp_rows] + 1, b1[flow[sdp_rows]] & 0x7F]
            rtp[sdp_rows] = _well_formed(table, flow[sdp_rows], heuristic=False, events=events)
        if heuristic and not by_sdp.all() and not known[sport[first]] and not known[dport[first]]:
            # datagrams with no SDP conversation go through the heuristic; the first that
            # passes sets up a conversation for this flow ("HEUR RTP": no payload map, no
            # dissector). It is more specific than an SDP one, so from then on the flow's
            # payload types have no SDP map (whether SDP or the heuristic makes them RTP)
            pt = b1[flow] & 0x7F
            checked = np.flatnonzero(~by_sdp & ~t38
                                     & ((pt < RTCP_PAYLOAD_TYPES.start) | (pt >= RTCP_PAYLOAD_TYPES.stop)))
            events = tables.event[0, pt[checked]]
            passing = checked[_well_formed(table, flow[checked], heuristic=True, events=events)]
            if len(passing):
                rtp[passing] = True
                conv = conv.copy()
                conv[int(passing[0]):] = -1
        if not rtp.all():
            keep = np.flatnonzero(rtp)
            flow, conv = flow[keep], conv[keep]
        if len(flow) == 0:
            continue
        ssrc = table["rtp_ssrc"][flow]
        if ssrc[0] == ssrc[-1] and np.all(ssrc == ssrc[0]):
            streams.append((flow, conv))
        else:
            for part in _group((ssrc,), None, len(flow)):
                streams.append((flow[part], conv[part]))
    if not streams:
        return None
    streams.sort(key=lambda item: int(item[0][0]))
    if progress:
        progress(f"{sum(len(s) for s, _ in streams)} RTP packets in {len(streams)} streams")
    return _Found(table, conversations, streams, tables)


@dataclass(frozen=True)
class _StreamFields:
    """One stream's identity, RTP header columns (time relative to the first packet of the capture),
    per-packet clock rates and telephone-event flags, Payload column and payload map."""

    src: str
    src_port: int
    dst: str
    dst_port: int
    ssrc: int
    time_ns: np.ndarray
    sequence_number: np.ndarray
    timestamp: np.ndarray
    payload_type: np.ndarray
    marker: np.ndarray
    clock_rate: np.ndarray
    telephone: np.ndarray
    payload_names: str
    rtpmap: dict[int, tuple[str, int]]


def _stream_fields(found: _Found, members: np.ndarray, conv: np.ndarray) -> _StreamFields:
    """Identity, header arrays, per-packet clock rates and the payload names of one stream."""
    table = found.table
    first = int(members[0])
    b1 = table["rtp_b1"][members]
    pt = b1 & 0x7F
    if conv[0] == conv[-1] and np.all(conv == conv[0]):
        rate = found.tables.rate[int(conv[0]) + 1][pt]
        telephone = found.tables.telephone[int(conv[0]) + 1][pt]
    else:
        rate = found.tables.rate[conv + 1, pt]
        telephone = found.tables.telephone[conv + 1, pt]
    present = np.flatnonzero(np.bincount(pt, minlength=128))
    names = []
    for p in present.tolist():
        at = int(np.argmax(pt == p)) if len(present) > 1 else 0
        names.append(found.tables.name(int(conv[at]), p))
    rtpmap = found.conversations[int(conv[0])].rtpmap if conv[0] >= 0 else {}
    return _StreamFields(
        src=table.address(int(table["src_key"][first])), src_port=int(table["src_port"][first]),
        dst=table.address(int(table["dst_key"][first])), dst_port=int(table["dst_port"][first]),
        ssrc=int(table["rtp_ssrc"][first]), time_ns=table["time_ns"][members] - table.first_time_ns,
        sequence_number=table["rtp_seq"][members], timestamp=table["rtp_timestamp"][members],
        payload_type=pt, marker=b1 >= 0x80, clock_rate=rate, telephone=telephone,
        payload_names=", ".join(names), rtpmap=rtpmap,
    )


def streams(path: str | os.PathLike[str], heuristic: bool = False,
            progress: Callable[[str], None] | None = None, *, sip_ports: Iterable[int] = ()) -> list[RtpStream]:
    """The RTP streams of a capture, in tshark's order, with their packets and payloads.

    Parameters:
        path: a pcap or pcapng file.
        heuristic: also take RTP-looking UDP not announced by SDP (tshark's
            ``rtp.heuristic_rtp``).
        progress: called with a short message after each step (for large files).
        sip_ports: more ports whose UDP/TCP payloads are SIP (whose SDP sets up streams).

    Raises:
        CaptureError: the file is not a capture or cannot be read.

    Taught in notebook 05.
    """
    found = _find(path, heuristic, progress, sip_ports)
    if found is None:
        return []
    table = found.table
    data = table.payload_data
    result = []
    for members, conv in found.streams:
        f = _stream_fields(found, members, conv)
        b0 = table["rtp_b0"][members]
        header_length = RTP_HEADER_LENGTH + 4 * (b0 & 0x0F).astype(np.int64)
        payload_offset = table["payload_offset"][members] + header_length
        payload_length = table["payload_length"][members].astype(np.int64) - header_length
        for k in np.flatnonzero(b0 & 0x10):  # header extensions (rare): 4 + 4 * length bytes
            at = int(payload_offset[k])
            if payload_length[k] >= 4:
                words = int(data[at + 2]) << 8 | int(data[at + 3])
                payload_offset[k] += 4 + 4 * words
                payload_length[k] -= 4 + 4 * words
        for k in np.flatnonzero(b0 & 0x20):  # padding: the last byte counts it
            if payload_length[k] > 0:
                payload_length[k] -= int(data[payload_offset[k] + payload_length[k] - 1])
        result.append(RtpStream(
            src=f.src, src_port=f.src_port, dst=f.dst, dst_port=f.dst_port, ssrc=f.ssrc,
            frame=table["frame"][members], time_ns=f.time_ns, sequence_number=f.sequence_number,
            timestamp=f.timestamp, payload_type=f.payload_type, marker=f.marker, rtpmap=f.rtpmap,
            payload_data=data, payload_offset=payload_offset, payload_length=np.maximum(payload_length, 0),
            clock_rate=f.clock_rate, payload_names=f.payload_names,
        ))
    result.reverse()  # tshark lists the newest stream first
    return result


def analyze(path: str | os.PathLike[str], heuristic: bool = False,
            progress: Callable[[str], None] | None = None, *, sip_ports: Iterable[int] = ()) -> list[StreamStats]:
    """The statistics of every RTP stream of a capture: the rows of ``tshark -q -z rtp,streams``.

    Parameters:
        path: a pcap or pcapng file.
        heuristic: also take RTP-looking UDP not announced by SDP (tshark's
            ``-o rtp.heuristic_rtp:TRUE``).
        sip_ports: more ports whose UDP/TCP payloads are SIP (tshark's ``sip.tcp.ports``/``sip.udp.ports``).

    Returns:
        One :class:`~voiplab.core.rtpstats.StreamStats` per stream, in tshark's order.

    Raises:
        CaptureError: the file is not a capture or cannot be read.

    Taught in notebook 05.
    """
    found = _find(path, heuristic, progress, sip_ports)
    if found is None:
        return []
    rows = []
    for members, conv in found.streams:
        f = _stream_fields(found, members, conv)
        s = summarize_stream(f.time_ns, f.sequence_number, f.timestamp, f.payload_type, f.marker,
                             f.clock_rate)
        rows.append(StreamStats(
            src=f.src, src_port=f.src_port, dst=f.dst, dst_port=f.dst_port, ssrc=f.ssrc,
            payload=f.payload_names, packets=s.packets, lost=s.lost, expected=s.expected,
            min_delta_ms=s.min_delta_ms, mean_delta_ms=s.mean_delta_ms, max_delta_ms=s.max_delta_ms,
            min_jitter_ms=s.min_jitter_ms, mean_jitter_ms=s.mean_jitter_ms, max_jitter_ms=s.max_jitter_ms,
            start=ns_to_seconds(int(f.time_ns[0])), end=ns_to_seconds(int(f.time_ns[-1])),
            problem=s.problem,
        ))
    rows.reverse()  # tshark lists the newest stream first
    return rows
