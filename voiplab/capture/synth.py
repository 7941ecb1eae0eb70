"""Synthetic RTP captures for tests, benchmarks and exercises (numpy only: no scapy, no tshark).

A capture holds ``streams`` RTP streams (20 ms G.711 packets, 4 streams = 2 calls of 2
directions), optionally the SIP INVITE/200 OK carrying the SDP that sets them up (so tshark
decodes them without ``rtp.heuristic_rtp``), a telephone-event (RFC 4733) digit, and the
impairments the statistics must handle: jitter, loss, reordering, duplicates, sequence wrap,
marker bits. Output is pcap (µs or ns) or pcapng, Ethernet (optionally VLAN-tagged), Linux
cooked (SLL/SLL2), raw IPv4 or BSD loopback, IPv4 or IPv6. The records are built as numpy
columns and written in chunks, so a capture of a million packets takes about a second.

From Python::

    from voiplab.capture import synth
    synth.write_capture("jitter.pcap", synth.synth(1000, jitter_ms=2.0, loss=0.01))

Command line::

    python -m voiplab.capture.synth OUT.pcap --packets 1000000 --streams 4 --jitter-ms 2 --loss 0.01

(``--help`` lists every impairment and format option). ``random_packets(seed)`` makes the
seeded random captures that the tests compare with tshark.

Taught in notebook 05 (RTP streams, jitter, loss).
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import struct
import sys
from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "LINKTYPES",
    "Packets",
    "address_bytes",
    "dtmf_packets",
    "main",
    "random_packets",
    "raw_packets",
    "rtp_bytes",
    "rtp_stream",
    "sdp_message",
    "sip_invite_and_ok",
    "synth",
    "write_capture",
]

#: link-layer name -> pcap LINKTYPE_* value
LINKTYPES = {"ether": 1, "sll": 113, "sll2": 276, "raw": 101, "null": 0}
#: capture file formats :func:`write_capture` writes
FORMATS = ("pcap", "pcapng")
#: first RTP byte: version 2, no padding, no extension, no CSRC
RTP_VERSION_BYTE = 0x80
#: G.711 payload bytes of a 20 ms packet (8000 samples/s, one byte per sample)
PAYLOAD_LEN = 160
PCMU, PCMA, TELEPHONE_EVENT = 0, 8, 101


@dataclass(frozen=True)
class Packets:
    """UDP datagrams as columns: one row per packet, in capture order.

    Rows whose ``raw_idx`` is negative are RTP packets built from the ``b0``...``body_len``
    columns (zero payload bytes); the others carry ``raw[raw_idx]`` as their UDP payload.
    """

    t_ns: np.ndarray
    src: np.ndarray  # (N, 4) or (N, 16) uint8
    dst: np.ndarray
    sport: np.ndarray
    dport: np.ndarray
    # RTP fields (used where raw_idx < 0)
    b0: np.ndarray
    b1: np.ndarray
    seq: np.ndarray
    ts: np.ndarray
    ssrc: np.ndarray
    body_len: np.ndarray
    raw_idx: np.ndarray  # >= 0: the UDP payload is raw[raw_idx]
    raw: list[bytes] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.t_ns)

    @classmethod
    def concat(cls, parts: list[Packets]) -> Packets:
        """The packets of every part, part after part (use :meth:`take` to sort them by time)."""
        raw: list[bytes] = []
        cols: dict[str, list[np.ndarray]] = {}
        for part in parts:
            for name in ("t_ns", "src", "dst", "sport", "dport", "b0", "b1", "seq", "ts", "ssrc",
                         "body_len"):
                cols.setdefault(name, []).append(getattr(part, name))
            cols.setdefault("raw_idx", []).append(np.where(part.raw_idx >= 0, part.raw_idx + len(raw), -1))
            raw.extend(part.raw)
        merged = {name: np.concatenate(v) for name, v in cols.items()}
        return cls(raw=raw, **merged)

    def take(self, index: np.ndarray) -> Packets:
        """The rows at ``index`` (an index array or boolean mask), sharing the raw payloads."""
        return Packets(
            raw=self.raw,
            **{name: getattr(self, name)[index] for name in (
                "t_ns", "src", "dst", "sport", "dport", "b0", "b1", "seq", "ts", "ssrc", "body_len",
                "raw_idx")},
        )


def address_bytes(text: str) -> np.ndarray:
    """An IPv4 or IPv6 address as its 4 or 16 bytes (uint8), the form of the address columns."""
    return np.frombuffer(ipaddress.ip_address(text).packed, dtype=np.uint8)


def raw_packets(t_ns: list[int], flows: list[tuple[str, int, str, int]], payloads: list[bytes]) -> Packets:
    """Arbitrary UDP payloads (SIP, telephone-event, garbage) as :class:`Packets`."""
    n = len(payloads)
    src = np.array([address_bytes(f[0]) for f in flows], dtype=np.uint8).reshape(n, -1)
    dst = np.array([address_bytes(f[2]) for f in flows], dtype=np.uint8).reshape(n, -1)
    zeros = np.zeros(n, dtype=np.int64)
    return Packets(
        t_ns=np.asarray(t_ns, dtype=np.int64), src=src, dst=dst,
        sport=np.array([f[1] for f in flows], dtype=np.int64),
        dport=np.array([f[3] for f in flows], dtype=np.int64),
        b0=zeros, b1=zeros, seq=zeros, ts=zeros, ssrc=zeros, body_len=zeros,
        raw_idx=np.arange(n, dtype=np.int64), raw=list(payloads),
    )


def rtp_bytes(seq: int, ts: int, ssrc: int, pt: int, marker: bool = False, body: bytes = b"") -> bytes:
    """One RTP packet (version 2, no CSRC) as bytes."""
    return struct.pack("!BBHII", RTP_VERSION_BYTE, (0x80 if marker else 0) | pt, seq & 0xFFFF,
                       ts & 0xFFFFFFFF, ssrc) + body


def sip_invite_and_ok(caller: str, caller_port: int, callee: str, callee_port: int, call_id: str,
                      payload_types: tuple[int, ...] = (0, 8, 101), ipv6: bool = False) -> tuple[bytes, bytes]:
    """An INVITE (SDP offer) and its 200 OK (SDP answer) setting up one audio call."""
    ip = "IP6" if ipv6 else "IP4"
    rtpmap = {0: "PCMU/8000", 8: "PCMA/8000", 101: "telephone-event/8000"}

    def sdp(addr: str, port: int) -> bytes:
        lines = ["v=0", f"o=- 1 1 IN {ip} {addr}", "s=-", f"c=IN {ip} {addr}", "t=0 0",
                 f"m=audio {port} RTP/AVP " + " ".join(map(str, payload_types))]
        lines += [f"a=rtpmap:{pt} {rtpmap[pt]}" for pt in payload_types if pt in rtpmap]
        if 101 in payload_types:
            lines.append("a=fmtp:101 0-16")
        lines.append("a=sendrecv")
        return ("\r\n".join(lines) + "\r\n").encode()

    def host(addr: str) -> str:
        return f"[{addr}]" if ":" in addr else addr

    def message(first: str, body: bytes, cseq: str, frm: str, to: str) -> bytes:
        headers = [first, f"Via: SIP/2.0/UDP {host(caller)}:5060;branch=z9hG4bK{call_id}",
                   f"From: <sip:a@{host(caller)}>;tag={frm}", f"To: <sip:b@{host(callee)}>{to}",
                   f"Call-ID: {call_id}", f"CSeq: {cseq}", "Content-Type: application/sdp",
                   f"Content-Length: {len(body)}"]
        return ("\r\n".join(headers) + "\r\n\r\n").encode() + body

    invite = message(f"INVITE sip:b@{host(callee)} SIP/2.0", sdp(caller, caller_port), "1 INVITE", "1", "")
    ok = message("SIP/2.0 200 OK", sdp(callee, callee_port), "1 INVITE", "1", ";tag=2")
    return invite, ok


def rtp_stream(n: int, *, src: str, sport: int, dst: str, dport: int, ssrc: int, start_ns: int,
               pt: int = PCMU, seq0: int = 1000, ts0: int = 0, ptime_ms: int = 20, jitter_ms: float = 0.0,
               loss: float = 0.0, reorder: float = 0.0, duplicates: float = 0.0, marker_every: int = 0,
               rng: np.random.Generator | None = None) -> Packets:
    """One RTP stream of ``n`` sent packets with the given impairments."""
    rng = rng or np.random.default_rng(0)
    i = np.arange(n, dtype=np.int64)
    period_ns = ptime_ms * 1_000_000
    seq = (seq0 + i) & 0xFFFF
    ts = (ts0 + i * ptime_ms * 8) & 0xFFFFFFFF
    t = start_ns + i * period_ns
    if jitter_ms:
        t = t + np.round(np.abs(rng.normal(0.0, jitter_ms * 1e6, n))).astype(np.int64)
    marker = np.zeros(n, dtype=bool)
    marker[0] = True
    if marker_every:
        marker[::marker_every] = True
    keep = np.ones(n, dtype=bool)
    if loss:
        keep &= rng.random(n) >= loss
        keep[0] = True
    order = np.flatnonzero(keep)
    if reorder:
        # swap the RTP content of neighbouring packets (arrival times stay in order)
        swap = np.flatnonzero(rng.random(len(order) - 1) < reorder)
        swap = swap[np.concatenate([[True], np.diff(swap) > 1])] if len(swap) else swap
        content = order.copy()
        content[swap], content[swap + 1] = order[swap + 1], order[swap]
    else:
        content = order
    times = t[order]
    if duplicates:
        dup = np.flatnonzero(rng.random(len(content)) < duplicates)
        content = np.insert(content, dup + 1, content[dup])
        times = np.insert(times, dup + 1, times[dup] + 100_000)
    m = len(content)
    s, d = address_bytes(src), address_bytes(dst)
    return Packets(
        t_ns=times, src=np.broadcast_to(s, (m, len(s))).copy(), dst=np.broadcast_to(d, (m, len(d))).copy(),
        sport=np.full(m, sport, np.int64), dport=np.full(m, dport, np.int64),
        b0=np.full(m, RTP_VERSION_BYTE, np.int64), b1=np.where(marker[content], 0x80, 0) | pt,
        seq=seq[content], ts=ts[content], ssrc=np.full(m, ssrc, np.int64),
        body_len=np.full(m, PAYLOAD_LEN, np.int64), raw_idx=np.full(m, -1, np.int64),
    )


def dtmf_packets(*, src: str, sport: int, dst: str, dport: int, ssrc: int, start_ns: int, seq0: int,
                 ts: int, digit: int = 5, n_packets: int = 8, end_repeats: int = 3) -> Packets:
    """A telephone-event digit: packets every 20 ms, marker on the first, 3 end packets."""
    payloads, times = [], []
    for k in range(n_packets + end_repeats):
        end = k >= n_packets
        duration = 160 * (min(k, n_packets - 1) + 1)
        body = struct.pack("!BBH", digit, (0x80 if end else 0) | 10, duration)
        payloads.append(rtp_bytes(seq0 + k, ts, ssrc, TELEPHONE_EVENT, marker=(k == 0), body=body))
        times.append(start_ns + k * 20_000_000)
    return raw_packets(times, [(src, sport, dst, dport)] * len(payloads), payloads)


# ---------------------------------------------------------------- writing
def _headers(p: Packets, link: str, vlan: bool) -> tuple[np.ndarray, np.ndarray]:
    """Per packet: the link+IP+UDP header length and the UDP payload length."""
    udp_len = np.where(p.raw_idx >= 0, 0, 12 + p.body_len)
    if len(p.raw):
        raw_len = np.array([len(r) for r in p.raw], dtype=np.int64)
        udp_len = np.where(p.raw_idx >= 0, raw_len[np.maximum(p.raw_idx, 0)], udp_len)
    v6 = p.src.shape[1] == 16
    link_len = {"ether": 14 + (4 if vlan else 0), "sll": 16, "sll2": 20, "raw": 0, "null": 4}[link]
    return np.full(len(p), link_len + (40 if v6 else 20) + 8, np.int64), udp_len


def _be(buf: np.ndarray, pos: np.ndarray, value: np.ndarray | int, width: int) -> None:
    value = np.asarray(value, dtype=np.int64)
    for k in range(width):
        buf[pos + k] = (value >> (8 * (width - 1 - k))) & 0xFF


def _le(buf: np.ndarray, pos: np.ndarray, value: np.ndarray | int, width: int) -> None:
    value = np.asarray(value, dtype=np.int64)
    for k in range(width):
        buf[pos + k] = (value >> (8 * k)) & 0xFF


def _fill_packets(buf: np.ndarray, pos: np.ndarray, p: Packets, hdr: np.ndarray, udp_len: np.ndarray,
                  link: str, vlan: bool) -> None:
    """Write link, IP, UDP and RTP headers of every packet at ``pos`` (vectorised per field)."""
    v6 = p.src.shape[1] == 16
    ethertype = 0x86DD if v6 else 0x0800
    o = pos
    if link == "ether":
        buf[o[:, None] + np.arange(12)] = np.array([2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1], np.uint8)
        if vlan:
            _be(buf, o + 12, 0x8100, 2)
            _be(buf, o + 14, 100, 2)
            o = o + 4
        _be(buf, o + 12, ethertype, 2)
        o = o + 14
    elif link == "sll":
        _be(buf, o, 0, 2)
        _be(buf, o + 2, 1, 2)
        _be(buf, o + 4, 6, 2)
        _be(buf, o + 14, ethertype, 2)
        o = o + 16
    elif link == "sll2":
        _be(buf, o, ethertype, 2)
        _be(buf, o + 4, 1, 4)
        _be(buf, o + 8, 1, 2)
        buf[o + 11] = 6
        o = o + 20
    elif link == "null":
        _le(buf, o, 30 if v6 else 2, 4)
        o = o + 4
    if v6:
        buf[o] = 0x60
        _be(buf, o + 4, udp_len + 8, 2)
        buf[o + 6] = 17
        buf[o + 7] = 64
        buf[o[:, None] + 8 + np.arange(16)] = p.src
        buf[o[:, None] + 24 + np.arange(16)] = p.dst
        o = o + 40
    else:
        buf[o] = 0x45
        _be(buf, o + 2, udp_len + 28, 2)
        buf[o + 8] = 64
        buf[o + 9] = 17
        buf[o[:, None] + 12 + np.arange(4)] = p.src
        buf[o[:, None] + 16 + np.arange(4)] = p.dst
        o = o + 20
    _be(buf, o, p.sport, 2)
    _be(buf, o + 2, p.dport, 2)
    _be(buf, o + 4, udp_len + 8, 2)
    o = o + 8
    rtp = p.raw_idx < 0
    r = o[rtp]
    buf[r] = p.b0[rtp]
    buf[r + 1] = p.b1[rtp]
    _be(buf, r + 2, p.seq[rtp], 2)
    _be(buf, r + 4, p.ts[rtp], 4)
    _be(buf, r + 8, p.ssrc[rtp], 4)
    for k in np.flatnonzero(~rtp):
        data = p.raw[p.raw_idx[k]]
        buf[o[k]:o[k] + len(data)] = np.frombuffer(data, np.uint8)


def write_capture(path: str | os.PathLike[str], p: Packets, *, fmt: str = "pcap", link: str = "ether",
                  vlan: bool = False, nanoseconds: bool = False, big_endian: bool = False, truncate_last: int = 0,
                  chunk: int = 200_000) -> None:
    """Write ``p`` as a pcap/pcapng file (chunked: memory stays bounded for 1M packets).

    Parameters:
        path: the file to write (replaced if it exists).
        p: the packets, in the order to write them.
        fmt: ``"pcap"`` or ``"pcapng"``.
        link: a key of :data:`LINKTYPES` (``vlan`` adds an 802.1Q tag to Ethernet frames).
        nanoseconds: nanosecond timestamps (pcap magic ``0xA1B23C4D``, pcapng ``if_tsresol`` 9).
        big_endian: write the headers big-endian, as a SPARC or PowerPC capture would be.
        truncate_last: cut this many bytes off the end, as a capture killed mid-write is.
        chunk: packets converted per step.

    Raises:
        ValueError: an unknown ``fmt`` or ``link``.
    """
    if fmt not in FORMATS or link not in LINKTYPES:
        raise ValueError(f"the capture format {fmt!r} with link {link!r} is not supported: use a format of "
                         f"{FORMATS} and a link of {tuple(LINKTYPES)}")
    linktype = LINKTYPES[link]
    e = ">" if big_endian else "<"
    with open(path, "wb") as f:
        if fmt == "pcap":
            magic = 0xA1B23C4D if nanoseconds else 0xA1B2C3D4
            f.write(struct.pack(e + "IHHiIII", magic, 2, 4, 0, 0, 262144, linktype))
        else:
            shb_body = struct.pack(e + "IHHq", 0x1A2B3C4D, 1, 0, -1)
            f.write(struct.pack(e + "II", 0x0A0D0D0A, 12 + len(shb_body)) + shb_body
                    + struct.pack(e + "I", 12 + len(shb_body)))
            opts = b""
            if nanoseconds:
                opts = struct.pack(e + "HH", 9, 1) + bytes([9, 0, 0, 0]) + struct.pack(e + "HH", 0, 0)
            idb_body = struct.pack(e + "HHI", linktype, 0, 262144) + opts
            f.write(struct.pack(e + "II", 1, 12 + len(idb_body)) + idb_body
                    + struct.pack(e + "I", 12 + len(idb_body)))
        for start in range(0, len(p), chunk):
            q = p.take(np.arange(start, min(start + chunk, len(p))))
            hdr, udp_len = _headers(q, link, vlan)
            caplen = hdr + udp_len
            if fmt == "pcap":
                rec_hdr, trailer = 16, np.zeros(len(q), np.int64)
            else:
                rec_hdr, trailer = 28, (-caplen) % 4 + 4
            reclen = rec_hdr + caplen + trailer
            starts = np.concatenate([[0], np.cumsum(reclen)[:-1]])
            buf = np.zeros(int(reclen.sum()), np.uint8)
            pack = _be if big_endian else _le
            if fmt == "pcap":
                unit = 1 if nanoseconds else 1000
                pack(buf, starts, q.t_ns // 1_000_000_000, 4)
                pack(buf, starts + 4, (q.t_ns % 1_000_000_000) // unit, 4)
                pack(buf, starts + 8, caplen, 4)
                pack(buf, starts + 12, caplen, 4)
            else:
                ticks = q.t_ns if nanoseconds else q.t_ns // 1000
                pack(buf, starts, 6, 4)
                pack(buf, starts + 4, reclen, 4)
                pack(buf, starts + 8, 0, 4)
                pack(buf, starts + 12, ticks >> 32, 4)
                pack(buf, starts + 16, ticks & 0xFFFFFFFF, 4)
                pack(buf, starts + 20, caplen, 4)
                pack(buf, starts + 24, caplen, 4)
                pack(buf, starts + reclen - 4, reclen, 4)
            _fill_packets(buf, starts + rec_hdr, q, hdr, udp_len, link, vlan)
            data = buf.tobytes()
            if truncate_last and start + chunk >= len(p):
                data = data[:-truncate_last]
            f.write(data)


def synth(n_packets: int, *, streams: int = 4, jitter_ms: float = 0.0, loss: float = 0.0, reorder: float = 0.0,
          duplicates: float = 0.0, wrap: bool = False, marker_every: int = 0, dtmf: bool = False, sip: bool = True,
          ipv6: bool = False, noise_udp: int = 0, seed: int = 1) -> Packets:
    """``n_packets`` RTP packets in ``streams`` streams (pairs of directions of calls), with SDP in SIP."""
    rng = np.random.default_rng(seed)
    parts: list[Packets] = []
    per_stream = max(1, n_packets // streams)
    base = 1_700_000_000 * 1_000_000_000
    sips: list[tuple[int, tuple[str, int, str, int], bytes]] = []
    for k in range(streams):
        call, direction = divmod(k, 2)
        a = f"2001:db8::{call * 2 + 1:x}" if ipv6 else f"10.0.{call}.1"
        b = f"2001:db8::{call * 2 + 2:x}" if ipv6 else f"10.0.{call}.2"
        port_a, port_b = 40000 + 4 * call, 50000 + 4 * call
        start = base + 1_000_000_000 + call * 7_000_000 + direction * 3_000_000
        if direction == 0:
            invite, ok = sip_invite_and_ok(a, port_a, b, port_b, f"call{call}", ipv6=ipv6)
            sips.append((base + call * 1_000_000, (a, 5060, b, 5060), invite))
            sips.append((base + call * 1_000_000 + 500_000, (b, 5060, a, 5060), ok))
        src, sport, dst, dport = (a, port_a, b, port_b) if direction == 0 else (b, port_b, a, port_a)
        seq0 = 65535 - per_stream // 3 if wrap else int(rng.integers(0, 30000))
        ssrc = int(rng.integers(1, 2**32))
        ts0 = int(rng.integers(0, 2**32))
        parts.append(rtp_stream(per_stream, src=src, sport=sport, dst=dst, dport=dport, ssrc=ssrc,
                                start_ns=start, pt=PCMU if k % 3 != 2 else PCMA, seq0=seq0, ts0=ts0,
                                jitter_ms=jitter_ms, loss=loss, reorder=reorder, duplicates=duplicates,
                                marker_every=marker_every, rng=rng))
        if dtmf and k == 0:
            ev_ssrc = int(rng.integers(1, 2**32))
            parts.append(dtmf_packets(src=src, sport=sport, dst=dst, dport=dport, ssrc=ev_ssrc,
                                      start_ns=start + 500_000_000 + 5_000_000, seq0=7, ts=1234))
    if sip:
        parts.append(raw_packets([t for t, _, _ in sips], [f for _, f, _ in sips], [m for _, _, m in sips]))
    if noise_udp:
        t = base + np.sort(rng.integers(0, 2_000_000_000, noise_udp))
        flows = [("10.9.9.1", 34567, "10.9.9.2", 23456)] * noise_udp
        payloads = [bytes([0x40 if i % 2 else 0x80]) + rng.bytes(30) for i in range(noise_udp)]
        parts.append(raw_packets(list(t), flows, payloads))
    p = Packets.concat(parts)
    return p.take(np.argsort(p.t_ns, kind="stable"))


# ---------------------------------------------------------------- randomized captures
#: Dynamic payload types the random SDPs choose from: (encoding, clock rate) as in a=rtpmap.
DYNAMIC_CODECS = [("telephone-event", 8000), ("opus", 48000), ("speex", 16000), ("H264", 90000), ("red", 1000),
                  ("AMR-WB", 16000), ("G7221", 16000), ("foo", 0), ("TELEPHONE-EVENT", 8000), ("iLBC", 8000)]


def sdp_message(first_line: str, addr: str, port: int, rtpmap: dict[int, tuple[str, int]], call_id: str,
                cseq: str = "1 INVITE", static: tuple[int, ...] = (0, 8), proto: str = "RTP/AVP") -> bytes:
    """A SIP message carrying an SDP with one audio media (``rtpmap``: dynamic types)."""
    ip = "IP6" if ":" in addr else "IP4"
    pts = [*static, *rtpmap]
    lines = ["v=0", f"o=- 1 1 IN {ip} {addr}", "s=-", f"c=IN {ip} {addr}", "t=0 0",
             f"m=audio {port} {proto} " + " ".join(map(str, pts))]
    lines += [f"a=rtpmap:{pt} {name}/{rate}" if rate else f"a=rtpmap:{pt} {name}" for pt, (name, rate) in
              rtpmap.items()]
    body = ("\r\n".join(lines) + "\r\n").encode()
    host = f"[{addr}]" if ":" in addr else addr
    headers = [first_line, f"Via: SIP/2.0/UDP {host}:5060;branch=z9hG4bK{call_id}{cseq.split()[0]}",
               f"From: <sip:a@{host}>;tag=1", "To: <sip:b@example.org>;tag=2", f"Call-ID: {call_id}",
               f"CSeq: {cseq}", "Content-Type: application/sdp", f"Content-Length: {len(body)}"]
    return ("\r\n".join(headers) + "\r\n\r\n").encode() + body


def _random_rtp_flow(rng: np.random.Generator, start_ns: int, flow: tuple[str, int, str, int],
                     pts: list[int], event_pts: list[int]) -> Packets:
    """One direction of a call: RTP with random impairments (possibly several SSRCs)."""
    n = int(rng.choice([2, 5, 30, 120, 400]))
    ptime = int(rng.choice([10, 20, 20, 30]))
    i = np.arange(n, dtype=np.int64)
    step = ptime * 8
    seq = (int(rng.choice([0, 100, 65500, 65535, int(rng.integers(0, 65536))])) + i) & 0xFFFF
    ts = int(rng.integers(0, 2**32)) + i * step
    if rng.random() < 0.1:
        ts = (2**32 - step * (n // 2)) + i * step  # timestamp wrap
    jitter = float(rng.choice([0, 0.05, 1, 5, 40]))
    t = start_ns + i * ptime * 1_000_000
    if jitter:
        t = t + np.abs(rng.normal(0, jitter * 1e6, n)).astype(np.int64)
    if rng.random() < 0.5:
        t = np.sort(t)
    pt = np.full(n, pts[int(rng.integers(0, len(pts)))], np.int64)
    marker = np.zeros(n, bool)
    marker[0] = rng.random() < 0.7
    marker |= rng.random(n) < float(rng.choice([0, 0.02, 0.2]))
    for _ in range(int(rng.choice([0, 0, 1, 3]))):  # comfort noise, another codec, telephone-events
        a = int(rng.integers(0, n))
        b = min(n, a + int(rng.integers(1, 12)))
        kind = rng.random()
        if kind < 0.35:
            pt[a:b] = 13
        elif kind < 0.6 and event_pts:
            pt[a:b] = event_pts[int(rng.integers(0, len(event_pts)))]
            ts[a:b] = ts[a]
            marker[a] = True
        else:
            pt[a:b] = int(rng.choice([0, 8, 9, 18, 96, 97, 99, 100, 101, 110, 127, 19, 50]))
    for _ in range(int(rng.choice([0, 0, 1, 2]))):  # timestamp jumps, forwards or backwards
        a = int(rng.integers(0, n))
        ts[a:] += int(rng.choice([8000, -8000, 2**31 - 5, 2**31 + 5, int(rng.integers(0, 2**32))]))
    if rng.random() < 0.15:  # garbage timestamps
        garbage = rng.random(n) < 0.3
        ts[garbage] = rng.integers(0, 2**32, int(garbage.sum()))
    for _ in range(int(rng.choice([0, 0, 1, 4]))):  # sequence jumps
        a = int(rng.integers(0, n))
        seq[a:] = (seq[a:] + int(rng.choice([1, 2, 100, 65000, 65535, int(rng.integers(0, 65536))]))) & 0xFFFF
    order = np.arange(n)
    keep = rng.random(n) >= float(rng.choice([0, 0, 0.02, 0.2]))  # loss
    order = order[keep]
    if len(order) > 2 and rng.random() < 0.3:  # reordering (content swapped, times kept)
        for k in rng.integers(0, len(order) - 1, int(rng.integers(1, 5))):
            order[k], order[k + 1] = order[k + 1], order[k]
    times = t[np.sort(order)]
    if len(order) and rng.random() < 0.2:  # duplicates
        dup = int(rng.integers(0, len(order)))
        order = np.insert(order, dup + 1, order[dup])
        times = np.insert(times, dup + 1, times[dup] + 50_000)
    ssrc = np.full(len(order), int(rng.integers(0, 2**32)), np.int64)
    if len(order) > 3 and rng.random() < 0.15:  # a new SSRC on the same 5-tuple
        ssrc[int(rng.integers(1, len(order))):] = int(rng.integers(0, 2**32))
    m = len(order)
    src, sport, dst, dport = flow
    s, d = address_bytes(src), address_bytes(dst)
    return Packets(
        t_ns=times, src=np.tile(s, (m, 1)), dst=np.tile(d, (m, 1)), sport=np.full(m, sport, np.int64),
        dport=np.full(m, dport, np.int64), b0=np.full(m, RTP_VERSION_BYTE, np.int64),
        b1=np.where(marker[order], 0x80, 0) | pt[order], seq=seq[order], ts=ts[order] & 0xFFFFFFFF, ssrc=ssrc,
        body_len=np.full(m, int(rng.choice([0, 1, 20, 160])), np.int64), raw_idx=np.full(m, -1, np.int64),
    )


def _odd_datagrams(rng: np.random.Generator, start_ns: int, flow: tuple[str, int, str, int], count: int) -> Packets:
    """RTP-looking datagrams that tshark rejects or treats specially (padding, extensions, RTCP...)."""
    payloads = []
    for _ in range(count):
        cc = int(rng.choice([0, 0, 1, 3]))
        x, p = rng.random() < 0.5, rng.random() < 0.5
        b0 = (int(rng.choice([2, 2, 2, 0, 1])) << 6) | (0x10 if x else 0) | (0x20 if p else 0) | cc
        b1 = int(rng.choice([0, 8, 0x80, 13, 200, 201, 0x80 | 77, 72, 96]))
        body = bytes(rng.integers(0, 256, 4 * cc, dtype=np.uint8))
        if x:
            body += struct.pack("!HH", int(rng.choice([0xBEDE, 0x1234])), int(rng.choice([0, 1, 3, 40])))
            body += bytes(int(rng.choice([0, 4, 12])))
        body += bytes(int(rng.choice([0, 1, 3, 20])))
        if p and body and rng.random() < 0.8:
            body = body[:-1] + bytes([int(rng.choice([0, 1, 2, 5, 30]))])
        head = struct.pack("!BBHII", b0, b1, int(rng.integers(0, 65536)), int(rng.integers(0, 2**32)),
                           int(rng.integers(0, 4)))
        payloads.append((head + body)[:int(rng.choice([len(head + body)] * 5 + [8, 11]))])
    times = start_ns + np.sort(rng.integers(0, 2_000_000_000, count))
    return raw_packets(list(times), [flow] * count, payloads)


def random_packets(seed: int, *, ipv6: bool | None = None, sip: bool = True) -> Packets:
    """A random capture for tshark comparisons: calls set up by SIP/SDP with impaired RTP.

    Everything the statistics must get right appears with some probability: jitter, loss,
    reordering, duplicates, sequence and timestamp wraps and jumps, garbage timestamps,
    marker bits, comfort noise, telephone-events, payload type and SSRC changes inside a
    5-tuple, SDP offers and answers with different dynamic payload maps, re-INVITEs,
    packets before the SDP, packets earlier than the first frame, malformed and RTCP-like
    datagrams on the RTP ports, and other UDP.
    """
    rng = np.random.default_rng(seed)
    v6 = bool(rng.random() < 0.25) if ipv6 is None else ipv6
    base = 1_700_000_000 * 1_000_000_000 + int(rng.integers(0, 10**9))
    parts: list[Packets] = []
    sip_t, sip_flows, sip_payloads = [], [], []
    for call in range(int(rng.integers(1, 4))):
        a = f"2001:db8::{call * 2 + 1:x}" if v6 else f"10.{call}.0.1"
        b = f"2001:db8::{call * 2 + 2:x}" if v6 else f"10.{call}.0.2"
        port_a = int(rng.integers(5000, 30000)) * 2 + int(rng.random() < 0.1)
        port_b = int(rng.integers(5000, 30000)) * 2
        t0 = base + call * 200_000_000
        dyn = rng.permutation(np.arange(96, 128))[:4].tolist()
        codecs = [DYNAMIC_CODECS[int(k)] for k in rng.integers(0, len(DYNAMIC_CODECS), 4)]
        offer = dict(zip(dyn[:3], codecs[:3], strict=True))
        answer = dict(zip(dyn[1:4] if rng.random() < 0.5 else dyn[:3], codecs[1:4], strict=True))
        events = [pt for pt, (name, _) in {**offer, **answer}.items() if name.lower() == "telephone-event"]
        call_id = f"call{seed}x{call}"
        sip_t += [t0, t0 + int(rng.integers(1, 300_000_000))]
        sip_flows += [(a, 5060, b, 5060), (b, 5060, a, 5060)]
        sip_payloads += [sdp_message("INVITE sip:b@example.org SIP/2.0", a, port_a, offer, call_id),
                         sdp_message("SIP/2.0 200 OK", b, port_b, answer, call_id)]
        if rng.random() < 0.2:  # re-INVITE: new payload map for the callee
            sip_t.append(t0 + 1_000_000_000)
            sip_flows.append((a, 5060, b, 5060))
            sip_payloads.append(sdp_message("INVITE sip:b@example.org SIP/2.0", b, port_b,
                                            dict(zip(dyn[:2], codecs[2:4], strict=True)), call_id, "2 INVITE"))
        pts = [0, 8, *offer, *answer]
        start = t0 + int(rng.integers(-100_000_000, 400_000_000))
        for flow in ((a, port_a, b, port_b), (b, port_b, a, port_a)):
            if rng.random() < 0.9:
                parts.append(_random_rtp_flow(rng, start + int(rng.integers(0, 50_000_000)), flow, pts, events))
        if rng.random() < 0.3:
            parts.append(_odd_datagrams(rng, t0, (a, port_a, b, port_b), int(rng.integers(1, 30))))
        if rng.random() < 0.2:  # a third party sending to the callee's RTP port
            c = f"2001:db8::{call * 2 + 99:x}" if v6 else f"10.{call}.0.9"
            parts.append(_random_rtp_flow(rng, start, (c, 7000, b, port_b), pts, events))
    if sip:
        parts.append(raw_packets(sip_t, sip_flows, sip_payloads))
    if rng.random() < 0.3:  # RTP with no SDP (heuristic only), to odd and even ports
        c, d = ("2001:db8::77", "2001:db8::78") if v6 else ("10.9.0.1", "10.9.0.2")
        parts.append(_random_rtp_flow(rng, base, (c, 4000 + int(rng.integers(0, 2)), d, 4002 + int(rng.integers(0, 2))),
                                      [0, 8, 101], [101]))
    if rng.random() < 0.3:
        c, d = ("2001:db8::80", "2001:db8::81") if v6 else ("10.9.9.1", "10.9.9.2")
        count = int(rng.integers(1, 40))
        payloads = [bytes([int(rng.choice([0x80, 0x40, 0x90, 0xA0]))]) + rng.bytes(int(rng.integers(0, 40)))
                    for _ in range(count)]
        parts.append(raw_packets(list(base + np.sort(rng.integers(0, 10**9, count))), [(c, 3456, d, 6544)] * count,
                                 payloads))
    p = Packets.concat(parts)
    p = p.take(np.argsort(p.t_ns, kind="stable"))
    if len(p) > 3 and rng.random() < 0.2:  # capture times going backwards (also before the first frame)
        late = rng.integers(1, len(p), 3)
        p.t_ns[late] -= rng.integers(0, 3_000_000_000, 3)
    return p


def main(argv: list[str] | None = None) -> int:
    """``python -m voiplab.capture.synth OUT [options]``: write a synthetic capture; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m voiplab.capture.synth",
                                     description="Write a synthetic RTP capture (G.711 streams set up by SIP/SDP).")
    parser.add_argument("out", metavar="OUT", help="the capture file to write")
    parser.add_argument("--packets", type=int, default=10_000, help="RTP packets in all (default 10000)")
    parser.add_argument("--streams", type=int, default=4, help="RTP streams, two per call (default 4)")
    parser.add_argument("--jitter-ms", type=float, default=0.0, help="standard deviation of the arrival delay")
    parser.add_argument("--loss", type=float, default=0.0, help="fraction of packets lost")
    parser.add_argument("--reorder", type=float, default=0.0, help="fraction of neighbours swapped")
    parser.add_argument("--duplicates", type=float, default=0.0, help="fraction of packets duplicated")
    parser.add_argument("--wrap", action="store_true", help="sequence numbers wrap at 65535")
    parser.add_argument("--marker-every", type=int, default=0, metavar="N", help="set the marker bit every N packets")
    parser.add_argument("--dtmf", action="store_true", help="add a telephone-event digit")
    parser.add_argument("--no-sip", action="store_true", help="no SIP/SDP: needs heuristic RTP")
    parser.add_argument("--ipv6", action="store_true", help="IPv6 addresses (2001:db8::/32)")
    parser.add_argument("--format", choices=FORMATS, default="pcap")
    parser.add_argument("--link", choices=sorted(LINKTYPES), default="ether", help="link layer (default ether)")
    parser.add_argument("--vlan", action="store_true", help="802.1Q-tagged Ethernet frames")
    parser.add_argument("--ns", action="store_true", help="nanosecond timestamps")
    parser.add_argument("--seed", type=int, default=1, help="random seed (the same seed writes the same file)")
    args = parser.parse_args(argv)
    p = synth(args.packets, streams=args.streams, jitter_ms=args.jitter_ms, loss=args.loss, reorder=args.reorder,
              duplicates=args.duplicates, wrap=args.wrap, marker_every=args.marker_every, dtmf=args.dtmf,
              sip=not args.no_sip, ipv6=args.ipv6, seed=args.seed)
    write_capture(args.out, p, fmt=args.format, link=args.link, vlan=args.vlan, nanoseconds=args.ns)
    print(f"{args.out}: {len(p)} packets", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
