"""RTP streams of a capture, found and measured as ``tshark -q -z rtp,streams`` does.

How tshark (Wireshark 4.0) decides that a UDP datagram is RTP, and what this module does:

* **SDP** (always): every SDP body carried by SIP over UDP (INVITE, 200 OK, ACK, UPDATE...)
  sets up an RTP "conversation" for each of its media: the ``c=`` address and ``m=`` port,
  *from that frame on*, with any peer. A datagram sent from or to that address:port is RTP.
  The offer's address is bound at the INVITE, the answer's at the 200 OK (measured).
* **Heuristic** (``heuristic=True``, tshark's ``-o rtp.heuristic_rtp:TRUE``): any other UDP
  datagram of version 2 to an *even* destination port, not RTCP-like (second byte 192-223
  or payload type 72-76), not on a port owned by another protocol (SIP, DNS, STUN...).
* A datagram shorter than its RTP header (12 bytes + CSRCs) is malformed, not counted.
* A stream is (source, source port, destination, destination port, SSRC); streams are
  listed newest first (tshark prepends each new stream to its list).

Bulk work is numpy over the columns of :func:`voiplab.pcap.read_udp`; only SIP datagrams
are parsed one by one (with :mod:`voiplab.sip` and :mod:`voiplab.sdp`).
Taught in notebook 05 (RTP streams, jitter, loss).
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .pcap import UdpTable, read_udp
from .rtp import RTP_HEADER_LENGTH, RTP_VERSION, RtpStream, StreamStats

__all__ = ["KNOWN_UDP_PORTS", "SIP_PORT", "Conversation", "analyze", "sdp_conversations", "streams"]

SIP_PORT = 5060
#: UDP ports whose own dissector claims a datagram before the RTP heuristic is tried.
KNOWN_UDP_PORTS = frozenset({
    7, 9, 53, 67, 68, 69, 111, 123, 137, 138, 161, 162, 177, 500, 514, 520, 1645, 1646, 1701, 1812, 1813, 1900,
    2049, 2427, 2727, 3000, 3478, 3479, 4500, 4789, 5060, 5061, 5246, 5247, 5349, 5353, 5355, 6081, 8472,
})
SIP_PREFIXES = (b"SIP/", b"INVI", b"ACK ", b"UPDA", b"PRAC", b"BYE ", b"OPTI", b"REGI", b"CANC", b"NOTI", b"SUBS",
                b"INFO", b"REFE", b"MESS", b"PUBL")
RTCP_LIKE = range(192, 224)  # second byte of RTCP SR/RR/SDES/BYE/APP... (RFC 5761)
RTCP_PAYLOAD_TYPES = range(72, 77)
_MANY_STREAMS = 64


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


def _address_words(packed: bytes) -> tuple[int, int]:
    padded = packed.ljust(16, b"\0")
    return int.from_bytes(padded[:8], "little"), int.from_bytes(padded[8:], "little")


def _address_text(raw: np.ndarray, version: int) -> str:
    data = bytes(raw[:4] if version == 4 else raw)
    return str(ipaddress.ip_address(data))


def _parse_sdp_of(payload: bytes) -> list[tuple[str, int, dict[int, tuple[str, int]]]]:
    """(address, port, rtpmap) of each media of the SDP body of a SIP datagram (or [])."""
    if b"\n\n" not in payload and b"\r\n\r\n" not in payload:
        return []
    try:
        from .sip import SipMessage

        body = SipMessage.parse(payload).body
    except (ImportError, ValueError):
        _, _, body = payload.partition(b"\r\n\r\n")
    if not body.lstrip().startswith(b"v="):
        return []
    from .sdp import SessionDescription

    try:
        sdp = SessionDescription.parse(body)
    except ValueError:
        return []
    out = []
    for media in sdp.media:
        address = media.connection_address
        if media.port == 0 or address is None:
            continue
        try:
            ipaddress.ip_address(address)
        except ValueError:
            continue
        rtpmap = {pt: (m.encoding, m.clock_rate) for pt, m in media.rtpmap.items() if pt >= 96}
        out.append((address, media.port, rtpmap))
    return out


def sdp_conversations(table: UdpTable) -> list[Conversation]:
    """The RTP conversations set up by the SDP bodies of the SIP datagrams of a capture.

    Taught in notebook 05.
    """
    p = table
    if len(p) == 0:
        return []
    head4 = np.ascontiguousarray(p["payload_head"][:, :4]).view("V4").ravel()
    sip = (p["src_port"] == SIP_PORT) | (p["dst_port"] == SIP_PORT)
    sip |= np.isin(head4, np.array(SIP_PREFIXES, dtype="V4"))
    conversations = []
    for row in np.flatnonzero(sip):
        payload = table.payload(int(row))
        if b"application/sdp" not in payload.lower() and b"\nv=0" not in payload:
            continue
        for address, port, rtpmap in _parse_sdp_of(payload):
            conversations.append(Conversation(int(p["frame"][row]), address, port, rtpmap))
    return conversations


def _words(column: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    words = column.view("<u8") if column.flags.c_contiguous else np.ascontiguousarray(column).view("<u8")
    return words[:, 0], words[:, 1]


def _factorize(key: np.ndarray, use: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(group id per row, first row of each group), groups numbered by first appearance.

    Rows where ``use`` is false get the id -2 and belong to no group.
    """
    n = len(key)
    ids = np.where(use, -1, -2)
    firsts: list[int] = []
    start = 0
    while start < n and len(firsts) < _MANY_STREAMS:
        free = np.flatnonzero(ids[start:] == -1)
        if len(free) == 0:
            break
        first = start + int(free[0])
        same = (key == key[first]) & (ids == -1)
        ids[same] = len(firsts)
        firsts.append(first)
        start = first + 1
    if (ids == -1).any():  # many streams: sort-based factorisation for the rest
        rest = np.flatnonzero(ids == -1)
        _, first_index, inverse = np.unique(key[rest], return_index=True, return_inverse=True)
        order = np.argsort(first_index, kind="stable")
        rank = np.empty_like(order)
        rank[order] = np.arange(len(order))
        ids[rest] = len(firsts) + rank[inverse.ravel()]
        firsts.extend(int(r) for r in rest[first_index[order]])
    return ids, np.array(firsts, dtype=np.int64)


def _mix(*columns: np.ndarray) -> np.ndarray:
    """A 64-bit hash of several integer columns (wrapping arithmetic)."""
    h = np.zeros(len(columns[0]), dtype=np.uint64)
    for k, c in enumerate(columns):
        h ^= c.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15 - 2 * k)
        h = (h << np.uint64(17)) | (h >> np.uint64(47))
    return h


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
    table = read_udp(path)
    if progress:
        progress(f"read {table.frames} frames, {len(table)} UDP datagrams")
    p = table
    n = len(p)
    if n == 0:
        return []
    head = p["payload_head"]
    b0 = head[:, 0]
    b1 = head[:, 1]
    csrc_count = (b0 & 0x0F).astype(np.int64)
    length = p["payload_length"].astype(np.int64)
    looks_rtp = ((b0 >> 6) == RTP_VERSION) & (length >= RTP_HEADER_LENGTH + 4 * csrc_count)
    sport = p["src_port"]
    dport = p["dst_port"]

    conversations = sdp_conversations(table)
    conv_of_row = np.full(n, -1, dtype=np.int64)
    if conversations:
        src_lo, src_hi = _words(p["src"])
        dst_lo, dst_hi = _words(p["dst"])
        frame = p["frame"]
        for index, conv in sorted(enumerate(conversations), key=lambda item: item[1].frame):
            lo, hi = _address_words(ipaddress.ip_address(conv.address).packed)
            near = (sport == conv.port) | (dport == conv.port)
            rows = np.flatnonzero(near & looks_rtp)
            if len(rows) == 0:
                continue
            from_it = (sport[rows] == conv.port) & (src_lo[rows] == lo) & (src_hi[rows] == hi)
            to_it = (dport[rows] == conv.port) & (dst_lo[rows] == lo) & (dst_hi[rows] == hi)
            rows = rows[(from_it | to_it) & (frame[rows] >= conv.frame)]
            conv_of_row[rows] = index
    is_rtp = conv_of_row >= 0
    if heuristic:
        pt = b1 & 0x7F
        candidate = looks_rtp & ~is_rtp & (dport % 2 == 0)
        candidate &= ~((b1 >= RTCP_LIKE.start) & (b1 < RTCP_LIKE.stop))
        candidate &= ~((pt >= RTCP_PAYLOAD_TYPES.start) & (pt < RTCP_PAYLOAD_TYPES.stop))
        known = np.zeros(1 << 16, dtype=bool)
        known[list(KNOWN_UDP_PORTS)] = True
        candidate &= ~known[sport] & ~known[dport]
        is_rtp |= candidate
    if not is_rtp.any():
        return []
    ssrc = np.ascontiguousarray(head[:, 8:12]).view(">u4")[:, 0]
    s_lo, s_hi = _words(p["src"])
    d_lo, d_hi = _words(p["dst"])
    key = _mix(s_lo, s_hi, d_lo, d_hi, sport, dport, ssrc)
    ids, firsts = _factorize(key, is_rtp)
    if progress:
        progress(f"{int(np.count_nonzero(is_rtp))} RTP packets in {len(firsts)} streams")
    # split the rows per stream (stable: arrival order kept); ids -2 (not RTP) sort first
    order = np.argsort(ids, kind="stable")
    bounds = np.searchsorted(ids[order], np.arange(len(firsts) + 1))
    data = table.data
    result = []
    for stream_id in range(len(firsts)):
        members = order[bounds[stream_id]:bounds[stream_id + 1]]
        h = head[members]
        first = int(members[0])
        version = int(p["ip_version"][first])
        conv = int(conv_of_row[first])
        rtpmap = conversations[conv].rtpmap if conv >= 0 else {}
        header_length = RTP_HEADER_LENGTH + 4 * (h[:, 0] & 0x0F).astype(np.int64)
        payload_offset = p["payload_offset"][members] + header_length
        payload_length = length[members] - header_length
        for k in np.flatnonzero(h[:, 0] & 0x10):  # header extensions (rare): 4 + 4 * length bytes
            at = int(payload_offset[k])
            if payload_length[k] >= 4:
                words = int(data[at + 2]) << 8 | int(data[at + 3])
                payload_offset[k] += 4 + 4 * words
                payload_length[k] -= 4 + 4 * words
        for k in np.flatnonzero(h[:, 0] & 0x20):  # padding: the last byte counts it
            if payload_length[k] > 0:
                payload_length[k] -= int(data[payload_offset[k] + payload_length[k] - 1])
        result.append(RtpStream(
            src=_address_text(p["src"][first], version), src_port=int(sport[first]),
            dst=_address_text(p["dst"][first], version), dst_port=int(dport[first]),
            ssrc=int(ssrc[first]), frame=p["frame"][members], time_ns=p["time_ns"][members] - table.first_time_ns,
            sequence_number=np.ascontiguousarray(h[:, 2:4]).view(">u2")[:, 0],
            timestamp=np.ascontiguousarray(h[:, 4:8]).view(">u4")[:, 0], payload_type=h[:, 1] & 0x7F,
            marker=(h[:, 1] >> 7).astype(bool), rtpmap=rtpmap, payload_data=data,
            payload_offset=payload_offset, payload_length=np.maximum(payload_length, 0),
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
        One :class:`~voiplab.rtp.StreamStats` per stream, in tshark's order.

    Raises:
        CaptureError: the file is not a capture or cannot be read.

    Taught in notebook 05.
    """
    found = streams(path, heuristic=heuristic, progress=progress)
    found.reverse()
    stats = []
    while found:  # free each stream's per-packet arrays as soon as its row is computed
        stats.append(found.pop().stats)
    return stats
