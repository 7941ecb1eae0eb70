"""RTP streams of a capture, found and measured as ``tshark -q -z rtp,streams`` does.

How tshark (Wireshark 4.0) decides that a UDP datagram is RTP, and what this module does:

* **SDP** (always): every SDP body carried by SIP over UDP (INVITE, 200 OK, ACK, UPDATE...)
  sets up an RTP "conversation" for each of its RTP media: the ``c=`` address and ``m=``
  port, *from that frame on*, with any peer. A datagram sent from or to that address:port
  is RTP. The payload type map (``a=rtpmap``) of a packet is the one of the conversation
  of its *destination* (the receiver's SDP says what it receives), else of its source:
  tshark's ``find_conversation(dst, src)``; the latest SDP for an address:port wins.
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

Bulk work is numpy over the columns of :func:`voiplab.capture.pcap.read_udp`; only SIP datagrams
are parsed one by one (a small SDP reader here: no import of the full SIP/SDP modules, so
that ``voiplab analyze`` starts fast).
Taught in notebook 05 (RTP streams, jitter, loss).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .pcap import UdpTable, read_udp
from ..core.rtp import (
    DEFAULT_DYNAMIC_NAMES,
    PAYLOAD_NAMES,
    RTP_HEADER_LENGTH,
    RTP_VERSION,
    STATIC_CLOCK_RATES,
    TELEPHONE_EVENT,
    RtpStream,
    StreamStats,
    clock_rate,
    ns_to_seconds,
    summarize_stream,
)

__all__ = ["KNOWN_UDP_PORTS", "SIP_PORT", "Conversation", "analyze", "sdp_conversations", "streams"]

SIP_PORT = 5060
#: UDP ports whose own dissector claims an RTP-looking datagram before the RTP heuristic is
#: tried (measured with tshark 4.0: DNS, DHCP, TFTP, NTP, syslog, VXLAN...). Other well-known
#: ports (SIP, STUN...) reject a datagram that is not theirs, and the heuristic then runs.
KNOWN_UDP_PORTS = frozenset({
    7, 53, 67, 68, 69, 111, 123, 137, 138, 319, 320, 514, 520, 1194, 1719, 1900, 2944, 2945, 3000, 3544, 4500,
    4789, 5246, 5247, 5353, 5355, 5683, 6081,
})
SIP_PREFIXES = (b"SIP/", b"INVI", b"ACK ", b"UPDA", b"PRAC", b"BYE ", b"OPTI", b"REGI", b"CANC", b"NOTI", b"SUBS",
                b"INFO", b"REFE", b"MESS", b"PUBL")
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

    Taught in notebook 05.
    """

    frame: int
    address: str
    port: int
    rtpmap: dict[int, tuple[str, int]] = field(default_factory=dict)

    def __repr__(self) -> str:
        codecs = ", ".join(f"{pt} {name}/{rate}" for pt, (name, rate) in sorted(self.rtpmap.items()))
        return f"Conversation(frame {self.frame}: {self.address}:{self.port}{' ' + codecs if codecs else ''})"


# ---------------------------------------------------------------- SDP in SIP
def _sip_body(payload: bytes) -> bytes:
    """The body of a SIP message (after the empty line, cut to Content-Length when given)."""
    for separator in (b"\r\n\r\n", b"\n\n"):
        at = payload.find(separator)
        if at >= 0:
            head, body = payload[:at], payload[at + len(separator):]
            break
    else:
        return b""
    for line in head.split(b"\n"):
        name, colon, value = line.partition(b":")
        if colon and name.strip().lower() in (b"content-length", b"l"):
            try:
                length = int(value.strip())
            except ValueError:
                break
            if 0 <= length <= len(body):
                body = body[:length]
            break
    return body


def _ip_text(text: str) -> str | None:
    """The address if it is a valid IPv4/IPv6 literal (normalised), else None."""
    import ipaddress

    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


def _parse_sdp_of(payload: bytes) -> list[tuple[str, int, dict[int, tuple[str, int]]]]:
    """(address, port, rtpmap) of each RTP media of the SDP body of a SIP datagram (or [])."""
    body = _sip_body(payload)
    if not body.lstrip().startswith(b"v="):
        return []
    text = body.decode("utf-8", "replace")
    session_address: str | None = None
    media: list[list] = []  # [address, port, proto, rtpmap]
    for raw_line in text.splitlines():
        line = raw_line.strip()
        if len(line) < 2 or line[1] != "=":
            continue
        kind, value = line[0], line[2:]
        if kind == "m":
            fields = value.split()
            port_text = fields[1].split("/")[0] if len(fields) > 1 else ""
            port = int(port_text) if port_text.isdigit() else -1
            media.append([None, port, fields[2] if len(fields) > 2 else "", {}])
        elif kind == "c":
            fields = value.split()
            address = _ip_text(fields[2].split("/")[0]) if len(fields) > 2 else None
            if media:
                media[-1][0] = address
            else:
                session_address = address
        elif kind == "a" and media and value.startswith("rtpmap:"):
            number, _, encoding = value[7:].partition(" ")
            parts = encoding.strip().split("/")
            if number.strip().isdigit() and parts[0] and len(parts) > 1 and parts[1].isdigit():
                rate = int(parts[1])
                pt = int(number)
                if 96 <= pt <= 127:
                    media[-1][3].setdefault(pt, (parts[0], rate))
    out = []
    for address, port, proto, rtpmap in media:
        address = address or session_address
        if address is None or not 0 < port < 65536 or "RTP/" not in proto.upper():
            continue
        out.append((address, port, rtpmap))
    return out


def _sip_rows(table: UdpTable) -> np.ndarray:
    """Rows that may be SIP: port 5060, or a payload starting like a SIP message."""
    sport, dport = table["src_port"], table["dst_port"]
    rows = (sport == SIP_PORT) | (dport == SIP_PORT)
    b0 = table["rtp_b0"]
    letters = np.flatnonzero((b0 >= ord("A")) & (b0 <= ord("U")))
    if len(letters):
        prefix = ((table["rtp_b0"][letters].astype(np.uint32) << 24)
                  | (table["rtp_b1"][letters].astype(np.uint32) << 16)
                  | table["rtp_seq"][letters])
        match = np.zeros(len(letters), dtype=bool)
        for known in SIP_PREFIXES:
            match |= prefix == int.from_bytes(known, "big")
        rows[letters[match]] = True
    return np.flatnonzero(rows)


def sdp_conversations(table: UdpTable) -> list[Conversation]:
    """The RTP conversations set up by the SDP bodies of the SIP datagrams of a capture.

    Taught in notebook 05.
    """
    if len(table) == 0:
        return []
    conversations = []
    frame = table["frame"]
    for row in _sip_rows(table).tolist():
        payload = table.payload(row)
        if b"application/sdp" not in payload.lower() and b"\nv=0" not in payload:
            continue
        for address, port, rtpmap in _parse_sdp_of(payload):
            conversations.append(Conversation(int(frame[row]), address, port, rtpmap))
    return conversations


# ---------------------------------------------------------------- which datagrams are RTP
def _byte_at(table: UdpTable, rows: np.ndarray, offset: np.ndarray) -> np.ndarray:
    """Byte ``offset`` of the UDP payload of ``rows`` (offsets inside the payload)."""
    return table.data[table["payload_offset"][rows] + offset].astype(np.int64)


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


@dataclass
class _Found:
    table: UdpTable
    conversations: list[Conversation]
    streams: list[tuple[np.ndarray, np.ndarray]]  # (rows, conversation per row), by first packet
    tables: _PayloadTables


def _conversations_by_endpoint(table: UdpTable, conversations: list[Conversation]
                               ) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """endpoint -> (SDP frames, conversation indexes), sorted by frame."""
    found: dict[int, list[tuple[int, int]]] = {}
    for index, conv in enumerate(conversations):
        key = table.address_key(conv.address)
        if key is not None:
            found.setdefault((key << 16) | conv.port, []).append((conv.frame, index))
    return {endpoint: (np.array([f for f, _ in items], np.int64), np.array([i for _, i in items], np.int64))
            for endpoint, items in ((e, sorted(v)) for e, v in found.items())}


def _conversation_at(frames: np.ndarray, setup: tuple[np.ndarray, np.ndarray] | None) -> np.ndarray:
    """The conversation of an endpoint in force at each frame (-1: not set up yet / never)."""
    if setup is None:
        return np.full(len(frames), -1, dtype=np.int64)
    setup_frames, indexes = setup
    if len(setup_frames) == 1:
        return np.where(frames > setup_frames[0], indexes[0], -1)
    at = np.searchsorted(setup_frames, frames, side="left") - 1
    return np.where(at >= 0, indexes[np.maximum(at, 0)], -1)


def _find(path: str | os.PathLike[str], heuristic: bool, progress: Callable[[str], None] | None) -> _Found | None:
    table = read_udp(path)
    if progress:
        progress(f"read {table.frames} frames, {len(table)} UDP datagrams")
    n = len(table)
    if n == 0:
        return None
    b0, b1 = table["rtp_b0"], table["rtp_b1"]
    sport, dport = table["src_port"], table["dst_port"]
    candidate = ((b0 >> 6) == RTP_VERSION) & ((b1 < RTCP_LIKE.start) | (b1 >= RTCP_LIKE.stop))
    conversations = sdp_conversations(table)
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
                conv = np.where(conv >= 0, conv, _conversation_at(frames, from_setup))
        by_sdp = conv >= 0
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
            checked = np.flatnonzero(~by_sdp & ((pt < RTCP_PAYLOAD_TYPES.start) | (pt >= RTCP_PAYLOAD_TYPES.stop)))
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


def _stream_fields(found: _Found, members: np.ndarray, conv: np.ndarray) -> dict:
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
    return {
        "src": table.address(int(table["src_key"][first])), "src_port": int(table["src_port"][first]),
        "dst": table.address(int(table["dst_key"][first])), "dst_port": int(table["dst_port"][first]),
        "ssrc": int(table["rtp_ssrc"][first]),
        "time_ns": table["time_ns"][members] - table.first_time_ns,
        "sequence_number": table["rtp_seq"][members], "timestamp": table["rtp_timestamp"][members],
        "payload_type": pt, "marker": b1 >= 0x80, "clock_rate": rate, "telephone": telephone,
        "payload_names": ", ".join(names), "rtpmap": rtpmap,
    }


def streams(path: str | os.PathLike[str], heuristic: bool = False,
            progress: Callable[[str], None] | None = None) -> list[RtpStream]:
    """The RTP streams of a capture, in tshark's order, with their packets and payloads.

    Parameters:
        path: a pcap or pcapng file.
        heuristic: also take RTP-looking UDP not announced by SDP (tshark's
            ``rtp.heuristic_rtp``).
        progress: called with a short message after each step (for large files).

    Raises:
        CaptureError: the file is not a capture or cannot be read.

    Taught in notebook 05.
    """
    found = _find(path, heuristic, progress)
    if found is None:
        return []
    table = found.table
    data = table.data
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
            src=f["src"], src_port=f["src_port"], dst=f["dst"], dst_port=f["dst_port"], ssrc=f["ssrc"],
            frame=table["frame"][members], time_ns=f["time_ns"], sequence_number=f["sequence_number"],
            timestamp=f["timestamp"], payload_type=f["payload_type"], marker=f["marker"], rtpmap=f["rtpmap"],
            payload_data=data, payload_offset=payload_offset, payload_length=np.maximum(payload_length, 0),
            clock_rate=f["clock_rate"], payload_names=f["payload_names"],
        ))
    result.reverse()  # tshark lists the newest stream first
    return result


def analyze(path: str | os.PathLike[str], heuristic: bool = False,
            progress: Callable[[str], None] | None = None) -> list[StreamStats]:
    """The statistics of every RTP stream of a capture: the rows of ``tshark -q -z rtp,streams``.

    Parameters:
        path: a pcap or pcapng file.
        heuristic: also take RTP-looking UDP not announced by SDP (tshark's
            ``-o rtp.heuristic_rtp:TRUE``).

    Returns:
        One :class:`~voiplab.core.rtp.StreamStats` per stream, in tshark's order.

    Raises:
        CaptureError: the file is not a capture or cannot be read.

    Taught in notebook 05.
    """
    found = _find(path, heuristic, progress)
    if found is None:
        return []
    rows = []
    for members, conv in found.streams:
        f = _stream_fields(found, members, conv)
        s = summarize_stream(f["time_ns"], f["sequence_number"], f["timestamp"], f["payload_type"], f["marker"],
                             f["clock_rate"])
        rows.append(StreamStats(
            src=f["src"], src_port=f["src_port"], dst=f["dst"], dst_port=f["dst_port"], ssrc=f["ssrc"],
            payload=f["payload_names"], packets=s.packets, lost=s.lost, expected=s.expected,
            min_delta_ms=s.min_delta_ms, mean_delta_ms=s.mean_delta_ms, max_delta_ms=s.max_delta_ms,
            min_jitter_ms=s.min_jitter_ms, mean_jitter_ms=s.mean_jitter_ms, max_jitter_ms=s.max_jitter_ms,
            start=ns_to_seconds(int(f["time_ns"][0])), end=ns_to_seconds(int(f["time_ns"][-1])),
            problem=s.problem,
        ))
    rows.reverse()  # tshark lists the newest stream first
    return rows
