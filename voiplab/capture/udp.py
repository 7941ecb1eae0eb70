"""The UDP datagrams of a capture as numpy columns: the bulk reader behind RTP statistics.

:func:`read_udp` reads a pcap/pcapng file with the rules of :mod:`voiplab.capture.pcap` (the
one reader: magic, headers, block checks, interfaces and clocks) and returns a
:class:`UdpTable`: one row per UDP datagram (IPv4 or IPv6, behind any link layer of
:data:`~voiplab.capture.pcap.LINK_LAYERS`, VLAN tags, PPPoE, GRE (ERSPAN too) and IP-in-IP
tunnels, GTP-U, VXLAN and Geneve tunnels over UDP) with
the offset of its payload in the mapped file and the fields of an RTP header. Frames that
need reassembly or a stateful reading (TCP segments, IPv4 and IPv6 fragments) are not
decoded here: their places are listed (:attr:`UdpTable.other_frames`) so that the SIP
reader (:mod:`voiplab.capture.sipread`) can read them one by one.

Why numpy: scapy builds a Python object per packet (~50 µs each: a minute for a 1M-packet
capture). This reader never does: it maps the file, finds the record boundaries with
vectorised "stride jumps" (runs of records of equal size are verified in one numpy
operation; a short scalar loop takes over where sizes alternate), then copies the first
bytes of each packet (link, IP, UDP and RTP headers) chunk by chunk into a small buffer
that stays in the CPU cache, and decodes them column-wise.

Memory stays bounded: the records are found and decoded a chunk at a time (never a column
over every record of the file), only UDP rows are kept, and the pages of the file already
decoded are handed back to the kernel (``madvise``), so a file of 2 GB of zeros is read in
constant memory.

Taught in notebook 05.
"""

from __future__ import annotations

import ipaddress
import mmap
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from ..errors import CaptureError
from .pcapfile import (
    BSD_AF_INET,
    BSD_AF_INET6,
    ERSPAN_II_HEADER_LENGTH,
    ERSPAN_II_VERSION,
    ERSPAN_III_HEADER_LENGTH,
    ERSPAN_III_VERSION,
    ERSPAN_PLATFORM_LENGTH,
    ETHERTYPE_ERSPAN_2,
    ETHERTYPE_ERSPAN_3,
    ETHERTYPE_IPV4,
    ETHERTYPE_IPV6,
    ETHERTYPE_PPPOE_SESSION,
    ETHERTYPE_VLAN,
    GENEVE_HEADER_LENGTH,
    GENEVE_PORT,
    GRE_CHECKSUM,
    GRE_HEADER_LENGTH,
    GRE_KEY,
    GRE_PROTOCOLS,
    GRE_SEQUENCE,
    GRE_VERSION_MASK,
    GTP_EXTENSION_FLAG,
    GTP_G_PDU,
    GTP_HEADER_LENGTH,
    GTP_IPV4_FIRST_BYTES,
    GTP_OPTIONAL_FLAGS,
    GTP_OPTIONAL_LENGTH,
    GTP_PROTOCOL_TYPE,
    GTP_U_PORT,
    GTP_VERSION_1,
    IPPROTO_GRE,
    IPPROTO_IPIP,
    IPPROTO_IPV6,
    IPPROTO_TCP,
    IPPROTO_UDP,
    IPV6_EXTENSION_HEADERS,
    IPV6_FRAGMENT,
    IPV6_HEADER_LENGTH,
    LINK_LAYERS,
    LINKTYPE_ETHERNET,
    LINKTYPE_NAMES,
    LINKTYPE_RAW,
    MAX_GTP_EXTENSIONS,
    MAX_TUNNEL_DEPTH,
    MAX_VLAN_TAGS,
    NS_PER_SECOND,
    PCAP_HEADER_LENGTH,
    PCAP_MAX_RECORD_LENGTH,
    PCAP_RECORD_HEADER_LENGTH,
    PCAPNG_BYTE_ORDER_MAGIC,
    PCAPNG_EPB,
    PCAPNG_IDB,
    PCAPNG_MAX_BLOCK_LENGTH,
    PCAPNG_PACKET_HEADER_LENGTH,
    PCAPNG_PB,
    PCAPNG_SHB,
    PCAPNG_SPB,
    PCAPNG_SPB_HEADER_LENGTH,
    PCAPNG_TRAILER_LENGTH,
    PPP_IPV4,
    PPP_IPV6,
    PPPOE_HEADER_LENGTH,
    TRUNCATED,
    TSRESOL_BINARY,
    UDP_HEADER_LENGTH,
    UDP_TUNNEL_PORTS,
    VLAN_TAG_LENGTH,
    VXLAN_HEADER_LENGTH,
    VXLAN_PORT,
    CaptureFile,
    Interface,
    IpReader,
    LinkLayer,
    Segment,
    check_block,
    interface_description,
    open_capture,
    packet_too_long,
    undeclared_interface,
    warn_problem,
)

__all__ = ["KEY_COLUMNS", "UDP_DTYPE", "V6_KEY_BASE", "OtherFrames", "UdpTable", "read_udp"]

RTP_HEAD = 12  # first payload bytes kept per datagram (an RTP header)
_WINDOW = 64  # bytes of each frame copied: link + VLAN + IPv4 + UDP + RTP header
_WIDE_WINDOW = 256  # for the rare frames with more headers (IPv6, IP options, QinQ, tunnels)
_CHUNK = 1 << 15  # records decoded at a time (their window stays in the CPU cache)
_MAX_SHORT_RUN = 1 << 22  # records too short for UDP counted at a time
_MAX_PREALLOCATED_ROWS = 1 << 24  # rows reserved at first (address space only); beyond, the columns grow
#: frames shorter than this carry no UDP datagram behind any link layer (raw IPv4 + UDP)
_MIN_UDP_FRAME = 20 + UDP_HEADER_LENGTH
V6_KEY_BASE = 1 << 32  # address keys: IPv4 -> the address, IPv6 -> V6_KEY_BASE + index
_PAGE = mmap.PAGESIZE
#: hand decoded pages back to the kernel once this many bytes are behind the reader
_RELEASE_BYTES = 64 << 20

#: One row per UDP datagram. ``src``/``dst`` hold 16 bytes; IPv4 uses the first 4.
UDP_DTYPE = np.dtype([
    ("frame", "<i8"),            # 1-based frame number in the capture
    ("time_ns", "<i8"),          # absolute time, ns since the epoch
    ("ip_version", "u1"),
    ("src", "u1", (16,)),
    ("dst", "u1", (16,)),
    ("src_port", "<u2"),
    ("dst_port", "<u2"),
    ("payload_offset", "<i8"),   # offset of the UDP payload in the file
    ("payload_length", "<i4"),   # captured UDP payload bytes
    ("payload_head", "u1", (12,)),  # the first 12 payload bytes (zero-padded): an RTP header
])
#: Compact columns the reader fills (the wide ``src``/``dst``/``payload_head`` of
#: :data:`UDP_DTYPE` are built from them on first use). ``src_key``/``dst_key``: the IPv4
#: address as an integer, or ``V6_KEY_BASE`` + the index of an IPv6 address in
#: :attr:`UdpTable.ipv6_addresses`. ``rtp_*``: the first 12 payload bytes read as an RTP header.
KEY_COLUMNS = {
    "frame": "<i8", "time_ns": "<i8", "ip_version": "u1", "src_key": "<u8", "dst_key": "<u8",
    "src_port": "<u2", "dst_port": "<u2", "payload_offset": "<i8", "payload_length": "<i4",
    "rtp_b0": "u1", "rtp_b1": "u1", "rtp_seq": "<u2", "rtp_timestamp": "<u4", "rtp_ssrc": "<u4",
}


# ------------------------------------------------------------------ link layers, column-wise
def _network_columns(w: np.ndarray, layer: LinkLayer) -> tuple[np.ndarray | int, np.ndarray]:
    """:func:`~voiplab.capture.pcap.network_header` for many frames at once (``w``: the first
    bytes of each frame): the IP header offsets (an int when common to all) and the IP versions
    (0: not IP)."""
    l3: np.ndarray | int = layer.header_length
    if layer.ethertype_at is not None:
        at = layer.ethertype_at
        ethertype = _be(w[:, at:at + 2]).astype(np.int64)
        l3_rows = np.full(len(w), layer.header_length, dtype=np.int64)
        if layer.vlan_tags:
            for _ in range(MAX_VLAN_TAGS):
                tagged = np.isin(ethertype, ETHERTYPE_VLAN)
                if not tagged.any():
                    break
                l3_rows = np.where(tagged, l3_rows + VLAN_TAG_LENGTH, l3_rows)
                ethertype = np.where(tagged, _be(_cols(w, l3_rows - 2, 2)), ethertype)
        pppoe = ethertype == ETHERTYPE_PPPOE_SESSION
        if pppoe.any():
            protocol = _be(_cols(w, l3_rows + 6, 2)).astype(np.int64)
            ethertype = np.where(pppoe, np.where(protocol == PPP_IPV4, ETHERTYPE_IPV4,
                                                 np.where(protocol == PPP_IPV6, ETHERTYPE_IPV6, 0)), ethertype)
            l3_rows = np.where(pppoe, l3_rows + PPPOE_HEADER_LENGTH, l3_rows)
        l3 = _common(l3_rows)
        version = np.where(ethertype == ETHERTYPE_IPV4, 4, np.where(ethertype == ETHERTYPE_IPV6, 6, 0))
    elif layer.family is not None:
        low = w[:, 0].astype(np.int64) | (w[:, 1].astype(np.int64) << 8)
        high = (w[:, 2].astype(np.int64) << 8) | w[:, 3]
        family = np.where(low != 0, low, high) if layer.family == "either" else high
        inet6 = np.isin(family, sorted(BSD_AF_INET6))
        version = np.where(family == BSD_AF_INET, 4, np.where(inet6, 6, 0))
    else:
        version = (w[:, 0] >> 4).astype(np.int64)
    ip_version = _cols(w, l3, 1)[:, 0] >> 4
    return l3, np.where(ip_version == version, version, 0)


# ------------------------------------------------------------------ the file and its records
def _map(path: str | os.PathLike[str]) -> tuple[CaptureFile, np.ndarray, mmap.mmap | None]:
    """The checked capture, the file as a uint8 array and the mapping (``None`` for an empty file)."""
    capture, file = open_capture(path)
    with file:
        if capture.size == 0:
            return capture, np.zeros(0, np.uint8), None
        try:
            mapped = mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ)
        except (OSError, ValueError) as exc:
            raise CaptureError(f"capture file {capture.path!r} cannot be mapped into memory ({exc}): copy it to a "
                               "local disk and open the copy") from exc
    return capture, np.frombuffer(mapped, dtype=np.uint8), mapped


def _strided_u32(data: np.ndarray, start: int, stride: int, count: int, order: str) -> np.ndarray:
    """The 32-bit words at ``start + k * stride`` for k < count, without an index array."""
    view = np.lib.stride_tricks.as_strided(data[start:], shape=(count, 4), strides=(stride, 1))
    return np.ascontiguousarray(view).view(order + "u4").reshape(count)


def _windows(data: np.ndarray, starts: np.ndarray, width: int) -> np.ndarray:
    """Rows of ``width`` bytes starting at ``starts`` (zero-padded past the end of the file)."""
    size = len(data)
    if len(starts) == 0:
        return np.zeros((0, width), dtype=np.uint8)
    if size >= width and starts.max() + width <= size:
        return np.lib.stride_tricks.sliding_window_view(data, width)[starts]
    out = np.zeros((len(starts), width), dtype=np.uint8)
    inside = starts + width <= size
    if size >= width:
        out[inside] = np.lib.stride_tricks.sliding_window_view(data, width)[starts[inside]]
    for row in np.flatnonzero(~inside):
        chunk = data[starts[row]:size]
        out[row, :len(chunk)] = chunk
    return out


#: Records found by the scan: a run ``(start, stride, count)`` or an array of starts.
Part = tuple[int, int, int] | np.ndarray


def _part_length(part: Part) -> int:
    return len(part) if isinstance(part, np.ndarray) else part[2]


def _part_starts(parts: list[Part], shift: int = 0) -> np.ndarray:
    if not parts:
        return np.zeros(0, dtype=np.int64)
    arrays = [p + shift if isinstance(p, np.ndarray) else p[0] + shift + p[1] * np.arange(p[2], dtype=np.int64)
              for p in parts]
    return np.concatenate(arrays)


def _gather(data: np.ndarray, parts: list[Part], offset: int, width: int) -> np.ndarray:
    """Bytes ``offset .. offset+width`` of every record: strided copies for runs, gathers for lists."""
    total = sum(_part_length(p) for p in parts)
    out = np.empty((total, width), dtype=np.uint8)
    first = 0
    size = len(data)
    for p in parts:
        count = _part_length(p)
        if isinstance(p, np.ndarray):
            out[first:first + count] = _windows(data, p + offset, width)
        else:
            start, stride, _ = p
            begin = start + offset
            if begin >= 0 and begin + stride * (count - 1) + width <= size:
                view = np.lib.stride_tricks.as_strided(data[begin:], shape=(count, width), strides=(stride, 1))
                out[first:first + count] = view
            else:
                out[first:first + count] = _windows(data, begin + stride * np.arange(count, dtype=np.int64), width)
        first += count
    return out


@dataclass(frozen=True)
class _Rule:
    """How records are laid out: the record length field, the fixed part and the limits.

    A record at ``pos`` is ``stride = length(pos + length_at) + stride_extra`` bytes long; it
    must be at least ``minimum`` and at most ``maximum`` bytes, a multiple of ``align``,
    and (pcapng) start with the 32-bit ``kind`` and end with its length again.
    """

    length_at: int
    stride_extra: int
    minimum: int
    maximum: int
    align: int = 1
    kind: int | None = None
    trailer: bool = False


def _u32_column(block: np.ndarray, at: int, order: str) -> np.ndarray:
    """The 32-bit word at byte ``at`` of every row."""
    return np.ascontiguousarray(block[:, at:at + 4]).view(order + "u4")[:, 0]


def _scan(data: np.ndarray, pos: int, rule: _Rule, order: str, limit: int, width: int = 0,
          width_from: int = 0) -> tuple[list[Part], int, int, list[np.ndarray | None]]:
    """Up to ``limit`` record starts by stride jumps: a run of equal-size records is checked in one go.

    The record at ``pos`` has size s; the records at pos + k*s are verified to have the
    same size (and block type and trailer, for pcapng). Where verification fails the run
    ends and the next record is read. When runs keep being short, a scalar loop reads up to
    512 records. Stops at the first record that is not of this kind or does not fit in the
    file. Returns the parts, the position after them, their count and, with ``width``, the
    first ``width`` bytes of each record of each run of records of at least ``width_from``
    bytes (read once: the verification and the decoding share them; ``None`` for the other
    runs and the records of the scalar loop). The position always
    advances when a record is found.
    """
    size = len(data)
    parts: list[Part] = []
    blocks: list[np.ndarray | None] = []
    fmt = order + "I"
    raw = memoryview(data)  # type: ignore[arg-type]  # numpy arrays export the buffer protocol
    burst = 64
    found = 0

    def stride_at(at: int) -> int:
        if at + rule.minimum > size:
            return 0
        if rule.kind is not None and struct.unpack_from(fmt, raw, at)[0] != rule.kind:
            return 0
        stride = struct.unpack_from(fmt, raw, at + rule.length_at)[0] + rule.stride_extra
        if stride < rule.minimum or stride > rule.maximum or stride % rule.align or at + stride > size:
            return 0
        if rule.trailer and struct.unpack_from(fmt, raw, at + stride - 4)[0] != stride:
            return 0
        return stride

    while found < limit:
        stride = stride_at(pos)
        if not stride:
            break
        count = min(burst, (size - pos) // stride, limit - found)
        block = None
        if width and stride >= width_from and pos + stride * (count - 1) + width <= size:
            view = np.lib.stride_tricks.as_strided(data[pos:], shape=(count, width), strides=(stride, 1))
            block = np.ascontiguousarray(view)
            ok = _u32_column(block, rule.length_at, order) == stride - rule.stride_extra
        else:
            ok = _strided_u32(data, pos + rule.length_at, stride, count, order) == stride - rule.stride_extra
        if rule.kind is not None:
            ok &= _strided_u32(data, pos, stride, count, order) == rule.kind
        if rule.trailer:
            ok &= _strided_u32(data, pos + stride - 4, stride, count, order) == stride
        bad = np.flatnonzero(~ok)
        run = int(bad[0]) if len(bad) else count
        parts.append((pos, stride, run))
        blocks.append(block[:run] if block is not None else None)
        pos += stride * run
        found += run
        if run == count:
            burst = min(burst * 4, 1 << 16)
            continue
        burst = 64
        if run < 8:  # alternating sizes: a scalar loop is cheaper here
            starts = []
            for _ in range(min(512, limit - found)):
                stride = stride_at(pos)
                if not stride:
                    break
                starts.append(pos)
                pos += stride
            if starts:
                parts.append(np.array(starts, dtype=np.int64))
                blocks.append(None)
                found += len(starts)
    return parts, pos, found, blocks


@dataclass(frozen=True)
class _Chunk:
    """Consecutive packets of a capture: where their bytes are, how many, when, on which link.

    ``first``: the 0-based index of the first packet; ``window`` the first bytes of each packet
    (zero-padded), ``None`` when no packet of the chunk is long enough to hold a UDP datagram
    (then ``start``, ``caplen`` and ``time_ns`` hold the first packet's only).
    """

    first: int
    start: np.ndarray
    caplen: np.ndarray
    time_ns: np.ndarray
    link: np.ndarray | int
    window: np.ndarray | None


class _Reading:
    """The chunks of a capture, with the problem that ended the reading ("" if none)."""

    def __init__(self, capture: CaptureFile, data: np.ndarray, mapped: mmap.mmap | None) -> None:
        self.capture, self.data, self.mapped = capture, data, mapped
        self.problem = ""
        self.count = 0
        self.released = 0
        self.linktypes: dict[int, None] = {}

    def chunks(self) -> Iterator[_Chunk]:
        if self.capture.kind == "pcap":
            yield from self._pcap()
        elif self.capture.kind == "pcapng":
            yield from self._pcapng()

    def release(self, upto: int) -> None:
        """Hand the pages of the file before ``upto`` back to the kernel (they are re-read if needed)."""
        if self.mapped is None or upto - self.released < _RELEASE_BYTES or not hasattr(mmap, "MADV_DONTNEED"):
            return
        end = upto // _PAGE * _PAGE
        try:
            self.mapped.madvise(mmap.MADV_DONTNEED, self.released, end - self.released)
        except (OSError, ValueError):  # not supported here: the pages stay
            return
        self.released = end

    def _emit(self, start: np.ndarray, caplen: np.ndarray, time_ns: np.ndarray, link: np.ndarray | int,
              window: np.ndarray | None, count: int | None = None) -> _Chunk:
        """A chunk of ``count`` packets (default: one per start)."""
        chunk = _Chunk(self.count, start, caplen, time_ns, link, window)
        self.count += len(start) if count is None else count
        for linktype in ([link] if isinstance(link, int) else np.unique(link).tolist()):
            self.linktypes.setdefault(int(linktype))
        return chunk

    def _pcap(self) -> Iterator[_Chunk]:
        data, capture = self.data, self.capture
        order = capture.order
        rule = _Rule(length_at=8, stride_extra=PCAP_RECORD_HEADER_LENGTH, minimum=PCAP_RECORD_HEADER_LENGTH,
                     maximum=PCAP_RECORD_HEADER_LENGTH + PCAP_MAX_RECORD_LENGTH)
        pos = PCAP_HEADER_LENGTH
        limit = _CHUNK
        while True:
            parts, pos, found, blocks = _scan(data, pos, rule, order, limit, PCAP_RECORD_HEADER_LENGTH + _WINDOW,
                                              PCAP_RECORD_HEADER_LENGTH + _MIN_UDP_FRAME)
            if not found:
                break
            if all(not isinstance(p, np.ndarray) and p[1] < PCAP_RECORD_HEADER_LENGTH + _MIN_UDP_FRAME for p in parts):
                # runs of records too short for any UDP datagram (e.g. a file of zeros): only counted
                first = _windows(data, np.array([parts[0][0]], np.int64), 8).view(order + "u4")  # type: ignore[index]
                time_ns = first[:, 0].astype(np.int64) * NS_PER_SECOND + first[:, 1].astype(np.int64) * (
                    1 if capture.nanoseconds else 1000)
                empty = np.zeros(1, np.int64)
                yield self._emit(empty, empty, time_ns, capture.linktype, None, count=found)
                self.release(pos)
                limit = min(limit * 4, _MAX_SHORT_RUN)
                continue
            limit = _CHUNK
            pieces = [b if b is not None else _gather(data, [p], 0, PCAP_RECORD_HEADER_LENGTH + _WINDOW)
                      for p, b in zip(parts, blocks, strict=True)]
            block = pieces[0] if len(pieces) == 1 else np.concatenate(pieces)
            words = block[:, :PCAP_RECORD_HEADER_LENGTH].view(order + "u4")
            time_ns = words[:, 0].astype(np.int64) * NS_PER_SECOND
            time_ns += words[:, 1].astype(np.int64) * (1 if capture.nanoseconds else 1000)
            yield self._emit(_part_starts(parts, PCAP_RECORD_HEADER_LENGTH), words[:, 2].astype(np.int64), time_ns,
                             capture.linktype, block[:, PCAP_RECORD_HEADER_LENGTH:])
            self.release(pos)
        if pos < len(data):
            remaining = len(data) - pos
            caplen = struct.unpack_from(order + "I", bytes(data[pos:pos + 12]).ljust(12, b"\0"), 8)[0]
            if remaining >= PCAP_RECORD_HEADER_LENGTH and caplen > PCAP_MAX_RECORD_LENGTH:
                self.problem = (f"is corrupt at packet {self.count + 1}: its record says {caplen} bytes, more than "
                                f"{PCAP_MAX_RECORD_LENGTH}")
            else:
                self.problem = TRUNCATED

    def _pcapng(self) -> Iterator[_Chunk]:
        data = self.data
        raw = memoryview(data)  # type: ignore[arg-type]  # numpy arrays export the buffer protocol
        size = len(data)
        path = self.capture.path
        pos = 0
        order = "<"
        interfaces: list[Interface] = []
        while pos < size:
            if pos + 12 > size:
                self.problem = TRUNCATED
                return
            block_type = struct.unpack_from(order + "I", raw, pos)[0]
            if block_type == PCAPNG_SHB:  # a new section: its own byte order and interfaces
                bom = struct.unpack_from("<I", raw, pos + 8)[0]
                order = "<" if bom == PCAPNG_BYTE_ORDER_MAGIC else ">"
                interfaces = []
            length = struct.unpack_from(order + "I", raw, pos + 4)[0]
            self.problem = check_block(block_type, length, size - pos)
            if not self.problem and struct.unpack_from(order + "I", raw, pos + length - 4)[0] != length:
                self.problem = f"is corrupt: a block (type {block_type}) ends with a length that differs from its start"
            if self.problem:
                return
            if block_type in (PCAPNG_EPB, PCAPNG_PB):
                rule = _Rule(length_at=4, stride_extra=0, minimum=PCAPNG_PACKET_HEADER_LENGTH + PCAPNG_TRAILER_LENGTH,
                             maximum=PCAPNG_MAX_BLOCK_LENGTH, align=4, kind=block_type, trailer=True)
                parts, end, found, _ = _scan(data, pos, rule, order, _CHUNK)
                assert found and end > pos  # the first block was checked above
                chunk = self._packets(block_type, _part_starts(parts), order, interfaces)
                if chunk is not None:
                    yield chunk
                if self.problem:
                    return
                pos = end
                self.release(pos)
                continue
            if block_type == PCAPNG_IDB:
                interfaces.append(interface_description(path, bytes(data[pos:pos + length]), order, len(interfaces)))
            elif block_type == PCAPNG_SPB:
                if not interfaces:
                    self.problem = undeclared_interface(0, self.count + 1)
                    return
                original = struct.unpack_from(order + "I", raw, pos + 8)[0]
                caplen = min(original, length - PCAPNG_SPB_HEADER_LENGTH - PCAPNG_TRAILER_LENGTH)
                start = np.array([pos + PCAPNG_SPB_HEADER_LENGTH], dtype=np.int64)
                window = _windows(data, start, _WINDOW)
                window[0, caplen:] = 0
                yield self._emit(start, np.array([caplen], dtype=np.int64), np.zeros(1, dtype=np.int64),
                                 interfaces[0].linktype, window)
            pos += length

    def _packets(self, block_type: int, at: np.ndarray, order: str, interfaces: list[Interface]) -> _Chunk | None:
        """The packets of EPBs (or PBs) starting at ``at``; a packet that names an undeclared
        interface or says more bytes were captured than its block holds ends the reading there."""
        data = self.data
        head = _windows(data, at, PCAPNG_PACKET_HEADER_LENGTH).view(order + "u4").reshape(-1, 7).astype(np.int64)
        interface = head[:, 2]
        if block_type == PCAPNG_PB:  # a 16-bit interface id, then a 16-bit drop count
            interface = interface & 0xFFFF if order == "<" else interface >> 16
        ticks = (head[:, 3].astype(np.uint64) << np.uint64(32)) | head[:, 4].astype(np.uint64)
        caplen = head[:, 5]
        room = head[:, 1] - PCAPNG_PACKET_HEADER_LENGTH - PCAPNG_TRAILER_LENGTH
        unknown = interface >= len(interfaces)
        too_long = caplen > room
        bad = np.flatnonzero(unknown | too_long)
        keep = int(bad[0]) if len(bad) else len(at)
        if len(bad):
            row = int(bad[0])
            self.problem = (undeclared_interface(int(interface[row]), self.count + row + 1) if unknown[row]
                            else packet_too_long(self.count + row + 1, int(caplen[row]), int(head[row, 1])))
        if keep == 0:
            return None
        at, interface, ticks, caplen = at[:keep], interface[:keep], ticks[:keep], caplen[:keep]
        time_ns = np.zeros(keep, dtype=np.int64)
        link = np.zeros(keep, dtype=np.int64)
        for k, known in enumerate(interfaces):
            mine = interface == k
            if mine.any():
                time_ns[mine] = _ticks_to_ns(ticks[mine], known)
                link[mine] = known.linktype
        start = at + PCAPNG_PACKET_HEADER_LENGTH
        window = _windows(data, start, _WINDOW)
        short = np.flatnonzero(caplen < _WINDOW)  # never read the next block's bytes as this packet's
        if len(short):
            window[short] *= (np.arange(_WINDOW) < caplen[short, None]).astype(np.uint8)
        return self._emit(start, caplen, time_ns, _common(link), window)


def _ticks_to_ns(ticks: np.ndarray, interface: Interface) -> np.ndarray:
    """Time stamps in ns since the epoch (64-bit arithmetic: an absurd time stamp wraps, never raises)."""
    resolution = interface.resolution
    with np.errstate(over="ignore"):
        if resolution & TSRESOL_BINARY:
            shift = np.uint64(resolution & 0x7F)
            whole = (ticks >> shift).astype(np.int64)
            fraction = (ticks & ((np.uint64(1) << shift) - np.uint64(1))).astype(np.float64)
            ns = whole * NS_PER_SECOND + (fraction * NS_PER_SECOND / 2.0 ** int(shift)).astype(np.int64)
        elif resolution <= 9:
            ns = ticks.astype(np.int64) * 10 ** (9 - resolution)
        else:
            ns = (ticks // np.uint64(10 ** (resolution - 9))).astype(np.int64)
        return ns + interface.offset * NS_PER_SECOND


# ------------------------------------------------------------------ UDP datagrams as columns
class _Columns(dict[str, np.ndarray]):
    """The table's columns; the wide ones of :data:`UDP_DTYPE` are derived when first asked for."""

    def __init__(self, columns: dict[str, np.ndarray], ipv6_addresses: np.ndarray) -> None:
        super().__init__(columns)
        self.ipv6_addresses = ipv6_addresses

    def _address(self, key: np.ndarray) -> np.ndarray:
        out = np.zeros((len(key), 16), dtype=np.uint8)
        v4 = key < V6_KEY_BASE
        out[:, :4] = key.astype(">u4").view(np.uint8).reshape(-1, 4)
        if not v4.all():
            out[~v4] = self.ipv6_addresses[(key[~v4] - V6_KEY_BASE).astype(np.intp)]
        return out

    def __missing__(self, name: str) -> np.ndarray:
        if name in ("src", "dst"):
            value = self._address(self[name + "_key"])
        elif name == "payload_head":
            value = np.empty((len(self["frame"]), 12), dtype=np.uint8)
            value[:, 0] = self["rtp_b0"]
            value[:, 1] = self["rtp_b1"]
            value[:, 2:4] = self["rtp_seq"].astype(">u2").view(np.uint8).reshape(-1, 2)
            value[:, 4:8] = self["rtp_timestamp"].astype(">u4").view(np.uint8).reshape(-1, 4)
            value[:, 8:12] = self["rtp_ssrc"].astype(">u4").view(np.uint8).reshape(-1, 4)
        else:
            raise KeyError(name)
        self[name] = value
        return value


@dataclass(frozen=True)
class OtherFrames:
    """Frames :func:`read_udp` leaves to a reader of single frames: TCP segments and IP fragments
    (also inside tunnels), which need the frames before them.

    Attributes:
        frame: 1-based frame numbers.
        time_ns: their times (ns since the epoch).
        linktype: their link types.
        start, length: where their bytes are in the file.
    """

    frame: np.ndarray
    time_ns: np.ndarray
    linktype: np.ndarray
    start: np.ndarray
    length: np.ndarray

    def __len__(self) -> int:
        return len(self.frame)


def _no_other_frames() -> OtherFrames:
    empty = np.zeros(0, dtype=np.int64)
    return OtherFrames(empty, empty, empty, empty, empty)


@dataclass(frozen=True, repr=False)
class UdpTable:
    """The UDP datagrams of a capture, as columns over the mapped file.

    Attributes:
        path: the capture file.
        frames: number of packets (records) in the capture, UDP or not.
        first_time_ns: time of the first packet (tshark's relative times start there).
        columns: one contiguous numpy array per field of :data:`UDP_DTYPE` (``table["src_port"]``)
            and per compact field of :data:`KEY_COLUMNS`; :attr:`packets` gives the
            :data:`UDP_DTYPE` columns as one structured array.
        data: the file contents (uint8 view over the mapping): payload bytes of row ``i`` are
            ``data[table["payload_offset"][i]:...+table["payload_length"][i]]``.
        linktypes: the link types of the capture's packets.
        truncated: reading stopped before the end of the file (a last record cut short, a
            corrupt record).
        ipv6_addresses: the distinct IPv6 addresses (16 bytes each) the address keys refer to.
        other_frames: the TCP segments (:class:`OtherFrames`), left to
            :mod:`voiplab.capture.sipread`.
        joined: the payloads of the datagrams joined from IP fragments: a row whose
            ``payload_offset`` is ``len(data)`` or more has its payload here, from
            ``payload_offset - len(data)`` (read them with :meth:`payload` and :meth:`bytes_at`).

    Taught in notebook 05.
    """

    path: str
    frames: int
    first_time_ns: int
    columns: dict[str, np.ndarray]
    data: np.ndarray = field(repr=False)
    linktypes: tuple[int, ...] = ()
    truncated: bool = False
    ipv6_addresses: np.ndarray = field(default_factory=lambda: np.zeros((0, 16), np.uint8), repr=False)
    other_frames: OtherFrames = field(default_factory=_no_other_frames, repr=False)
    joined: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint8), repr=False)

    def __len__(self) -> int:
        return len(self.columns["frame"])

    def __getitem__(self, name: str) -> np.ndarray:
        return self.columns[name]

    @property
    def packets(self) -> np.ndarray:
        """All columns as one structured array (:data:`UDP_DTYPE`), built on first use."""
        cached = self.__dict__.get("_packets")
        if cached is None:
            cached = np.empty(len(self), dtype=UDP_DTYPE)
            for name in UDP_DTYPE.names or ():
                cached[name] = self.columns[name]
            object.__setattr__(self, "_packets", cached)
        return cached

    def address(self, key: int) -> str:
        """The text form of an address key (``src_key``/``dst_key``)."""
        if key < V6_KEY_BASE:
            return str(ipaddress.IPv4Address(int(key)))
        return str(ipaddress.IPv6Address(bytes(self.ipv6_addresses[int(key) - V6_KEY_BASE])))

    def address_key(self, text: str) -> int | None:
        """The key of an address given as text (``None``: no datagram has it)."""
        address = ipaddress.ip_address(text)
        if address.version == 4:
            return int(address)
        packed = np.frombuffer(address.packed, dtype=np.uint8)
        found = np.flatnonzero((self.ipv6_addresses == packed).all(axis=1))
        return V6_KEY_BASE + int(found[0]) if len(found) else None

    def payload(self, i: int) -> bytes:
        """The UDP payload of row ``i`` as bytes."""
        start = int(self.columns["payload_offset"][i])
        end = start + int(self.columns["payload_length"][i])
        size = len(self.data)
        return bytes(self.data[start:end]) if start < size else bytes(self.joined[start - size:end - size])

    def bytes_at(self, offsets: np.ndarray) -> np.ndarray:
        """The bytes at these payload offsets (in the file, or in :attr:`joined` past its end)."""
        size = len(self.data)
        if not len(self.joined):
            return self.data[offsets]
        inside = offsets < size
        return np.where(inside, self.data[np.where(inside, offsets, 0)],
                        self.joined[np.where(inside, 0, offsets - size)])

    @property
    def payload_data(self) -> np.ndarray:
        """One array every ``payload_offset`` points into: the file, followed by :attr:`joined`
        (a copy of the file only when datagrams were joined from fragments)."""
        return self.data if not len(self.joined) else np.concatenate([self.data, self.joined])

    def frame_bytes(self, k: int) -> bytes:
        """The bytes of other frame ``k`` (see :attr:`other_frames`)."""
        start = int(self.other_frames.start[k])
        return bytes(self.data[start:start + int(self.other_frames.length[k])])

    def __repr__(self) -> str:
        kinds = ", ".join(LINKTYPE_NAMES.get(k, str(k)) for k in self.linktypes)
        return f"UdpTable({os.path.basename(self.path)!r}: {self.frames} frames, {len(self)} UDP datagrams, {kinds})"


def _cols(w: np.ndarray, offset: np.ndarray | int, width: int) -> np.ndarray:
    """Bytes ``offset .. offset+width`` of every row: a slice when the offset is common."""
    if isinstance(offset, int):
        return w[:, offset:offset + width]
    index = np.clip(offset[:, None] + np.arange(width), 0, w.shape[1] - 1)
    return np.take_along_axis(w, index, axis=1)


def _common(values: np.ndarray) -> np.ndarray | int:
    """A scalar when all values are equal (the fast path), else the array."""
    if len(values) and values[0] == values[-1] and np.all(values == values[0]):
        return int(values[0])
    return values


def _be(b: np.ndarray) -> np.ndarray:
    """Big-endian unsigned integers from rows of 2 or 4 bytes (a dtype view when possible)."""
    width = b.shape[1]
    if width in (2, 4) and b.strides[1] == 1:
        return b.view(f">u{width}")[:, 0]
    out = b[:, 0].astype(np.int64)
    for k in range(1, width):
        out = (out << 8) | b[:, k]
    return out


def _decode(w: np.ndarray, caplen: np.ndarray, linktype: int) -> dict[str, np.ndarray]:
    """Link/IP/UDP decoding of frames of one link type; ``w`` holds each frame's first bytes.

    Returns the columns of the UDP rows (``index``: their rows in ``w``), ``wide``: rows whose
    headers go past the window (to decode again with a wider one), ``tunnel`` and
    ``tunnel_at``/``tunnel_kind``: rows carrying a GRE or IP-in-IP tunnel, where the inner packet
    starts and what it is (4, 6: IP; 0: Ethernet), and ``other``: TCP segments and IP fragments.
    Empty: nothing of the kind.
    """
    n, width = w.shape
    layer = LINK_LAYERS.get(linktype)
    if layer is None:
        return {}
    l3, version = _network_columns(w, layer)
    ip = _cols(w, l3, IPV6_HEADER_LENGTH)
    v4 = version == 4
    v6 = version == 6
    ihl = (ip[:, 0] & 0x0F).astype(np.int64) * 4
    proto = np.where(v4, ip[:, 9], ip[:, 6]).astype(np.int64)
    fragment = v4 & ((_be(ip[:, 6:8]) & 0x3FFF) != 0)
    ip_payload = np.where(v4, _be(ip[:, 2:4]).astype(np.int64) - ihl, _be(ip[:, 4:6]).astype(np.int64))
    l4_rows = np.where(v4, ihl, IPV6_HEADER_LENGTH) + l3
    ok4 = v4 & ~fragment & (ihl >= 20)
    extension = np.flatnonzero(v6 & np.isin(proto, IPV6_EXTENSION_HEADERS))
    for row in extension:  # IPv6 extension headers (rare): walk them
        next_header, offset = int(proto[row]), int(l4_rows[row])
        while next_header in IPV6_EXTENSION_HEADERS and offset + 8 <= min(caplen[row], width):
            next_header, ext_len = int(w[row, offset]), int(w[row, offset + 1])
            offset += 8 + 8 * ext_len
        if next_header not in IPV6_EXTENSION_HEADERS:
            ip_payload[row] -= offset - int(l4_rows[row])
            l4_rows[row] = offset
            proto[row] = next_header
        elif width < _WIDE_WINDOW:
            proto[row] = IPPROTO_UDP  # not walked to the end: decode again with the wide window
            l4_rows[row] = width
    ip_ok = ok4 | v6
    udp = ip_ok & (proto == IPPROTO_UDP)
    empty = np.zeros(0, np.int64)
    rest = np.flatnonzero(~udp)  # the other rows (none in an RTP capture): TCP, fragments, tunnels
    other = fragments = tunnel = tunnel_at = tunnel_kind = past = empty
    if len(rest):
        r_proto, r_ok, r_v6 = proto[rest], ip_ok[rest], v6[rest]
        other = rest[r_ok & (r_proto == IPPROTO_TCP)]
        fragments = rest[(v4[rest] & fragment[rest]) | (r_v6 & (r_proto == IPV6_FRAGMENT))]
        # tunnels: IP-in-IP at once, GRE version 0 with its optional fields
        kinds = np.where(r_ok & (r_proto == IPPROTO_IPIP), 4, np.where(r_ok & (r_proto == IPPROTO_IPV6), 6, -1))
        starts = l4_rows[rest]
        gre = np.flatnonzero(r_ok & (r_proto == IPPROTO_GRE))
        if len(gre):
            head = _cols(w[rest[gre]], starts[gre], GRE_HEADER_LENGTH)
            flags, protocol = _be(head[:, 0:2]).astype(np.int64), _be(head[:, 2:4]).astype(np.int64)
            mirrored = (protocol == ETHERTYPE_ERSPAN_2) | (protocol == ETHERTYPE_ERSPAN_3)
            kinds[gre] = np.where(flags & GRE_VERSION_MASK, -1, np.where(mirrored, 0, _carried_kind(protocol)))
            starts = starts.copy()
            starts[gre] += GRE_HEADER_LENGTH + 4 * (((flags & GRE_CHECKSUM) != 0).astype(np.int64)
                                                     + ((flags & GRE_KEY) != 0) + ((flags & GRE_SEQUENCE) != 0))
            erspan = np.flatnonzero((kinds[gre] == 0) & mirrored
                                    & ~((protocol == ETHERTYPE_ERSPAN_2) & ((flags & GRE_SEQUENCE) == 0)))
            if len(erspan):  # ERSPAN types II and III: a header before the mirrored frame (type I has none)
                at = gre[erspan]
                header = _cols(w[rest[at]], starts[at], ERSPAN_III_HEADER_LENGTH)
                version = header[:, 0].astype(np.int64) >> 4
                length = np.where(version == ERSPAN_II_VERSION, ERSPAN_II_HEADER_LENGTH, np.where(
                    version == ERSPAN_III_VERSION, ERSPAN_III_HEADER_LENGTH + ERSPAN_PLATFORM_LENGTH * (
                        header[:, ERSPAN_III_HEADER_LENGTH - 1].astype(np.int64) & 1), -1))
                beyond = starts[at] + np.where(version == ERSPAN_II_VERSION, ERSPAN_II_HEADER_LENGTH,
                                               ERSPAN_III_HEADER_LENGTH) > width  # not all in the window
                if width < _WIDE_WINDOW:
                    past = rest[at[beyond]]  # decoded again with the wide window
                kinds[at] = np.where((length < 0) | beyond, -1, 0)
                starts[at] += np.maximum(length, 0)
        inside = np.flatnonzero((kinds >= 0) & (starts < caplen[rest]))
        tunnel, tunnel_at, tunnel_kind = rest[inside], starts[inside], kinds[inside]
    outside = udp & (l4_rows + UDP_HEADER_LENGTH + RTP_HEAD > width)
    wide = np.flatnonzero(outside) if width < _WIDE_WINDOW else np.zeros(0, np.int64)
    if len(past):  # ERSPAN headers past the window
        wide = np.union1d(wide, past)
    udp &= ~outside
    result: dict[str, np.ndarray] = {"wide": wide, "tunnel": tunnel, "tunnel_at": tunnel_at,
                                     "tunnel_kind": tunnel_kind, "other": other, "fragment": fragments}
    if not udp.any():
        result["index"] = np.zeros(0, np.int64)
        return result
    l4 = _common(l4_rows)
    if isinstance(l4, int) and l4 + UDP_HEADER_LENGTH + RTP_HEAD > width:
        l4 = l4_rows
    header = _cols(w, l4, UDP_HEADER_LENGTH + RTP_HEAD)
    udp_length = _be(header[:, 4:6]).astype(np.int64)
    payload_length = np.minimum(np.minimum(udp_length, ip_payload) - UDP_HEADER_LENGTH,
                                caplen - l4_rows - UDP_HEADER_LENGTH)
    udp &= payload_length >= 0
    src_port, dst_port = _be(header[:, 0:2]), _be(header[:, 2:4])
    on_tunnel_port = (src_port == GTP_U_PORT) | (dst_port == GTP_U_PORT)
    for port in UDP_TUNNEL_PORTS[1:]:
        on_tunnel_port |= (src_port == port) | (dst_port == port)
    tunnels = np.flatnonzero(udp & on_tunnel_port)
    if len(tunnels):  # GTP-U, VXLAN and Geneve datagrams are opened, not kept
        rows, at, kind, past = _udp_tunnels(w, header[tunnels], tunnels, l4_rows[tunnels],
                                            payload_length[tunnels], src_port[tunnels], dst_port[tunnels])
        udp[rows] = udp[past] = False
        result["tunnel"] = np.concatenate([tunnel, rows])
        result["tunnel_at"] = np.concatenate([tunnel_at, at])
        result["tunnel_kind"] = np.concatenate([tunnel_kind, kind])
        if width < _WIDE_WINDOW:
            result["wide"] = np.union1d(wide, past)
    keep = np.flatnonzero(udp)
    result["index"] = keep
    if len(keep) == 0:
        return result
    pick = (lambda a: a) if len(keep) == n else (lambda a: a[keep])
    ipk = pick(ip)
    is4 = pick(v4)
    if is4.all():
        src_key = _be(ipk[:, 12:16]).astype(np.uint64)
        dst_key = _be(ipk[:, 16:20]).astype(np.uint64)
        v6_src = v6_dst = np.zeros((0, 16), np.uint8)
    else:
        src_key = np.where(is4, _be(np.ascontiguousarray(ipk[:, 12:16])), 0).astype(np.uint64)
        dst_key = np.where(is4, _be(np.ascontiguousarray(ipk[:, 16:20])), 0).astype(np.uint64)
        v6_src, v6_dst = ipk[~is4, 8:24], ipk[~is4, 24:40]
    hk = pick(header)
    result.update({
        "ip_version": pick(version), "src_key": src_key, "dst_key": dst_key, "v6_src": v6_src, "v6_dst": v6_dst,
        "src_port": pick(src_port), "dst_port": pick(dst_port),
        "payload_offset": pick(l4_rows) + UDP_HEADER_LENGTH, "payload_length": pick(payload_length),
        "rtp_b0": hk[:, 8], "rtp_b1": hk[:, 9], "rtp_seq": _be(hk[:, 10:12]), "rtp_timestamp": _be(hk[:, 12:16]),
        "rtp_ssrc": _be(hk[:, 16:20]),
    })
    return result


def _carried_kind(protocol: np.ndarray) -> np.ndarray:
    """What a GRE or Geneve protocol type carries (:data:`~voiplab.capture.pcapfile.GRE_PROTOCOLS`),
    column-wise: 4 or 6 for IP, 0 for Ethernet, -1 for anything else."""
    kind = np.full(len(protocol), -1, dtype=np.int64)
    for ethertype, carried in GRE_PROTOCOLS.items():
        kind[protocol == ethertype] = carried
    return kind


def _udp_tunnels(w: np.ndarray, head: np.ndarray, rows: np.ndarray, l4: np.ndarray, payload_length: np.ndarray,
                 sport: np.ndarray, dport: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The datagrams among ``rows`` (on a GTP-U, VXLAN or Geneve port) that carry a tunnel, read as
    :func:`~voiplab.capture.pcapfile.udp_tunnel_inner` reads one: ``(their rows, where the
    inner packet starts, its kind (4, 6: IP; 0: Ethernet), rows to read again with the wide
    window)``. ``head``: the UDP header and the 12 bytes after it of each row; ``l4``: where the
    UDP header starts; ``payload_length``: the bytes of each datagram's payload present;
    ``sport``, ``dport``: its ports."""
    width = w.shape[1]
    low, high = np.minimum(sport, dport), np.maximum(sport, dport)
    port = np.where(np.isin(low, UDP_TUNNEL_PORTS), low, high)  # the lower port first, as tshark tries them
    start = l4 + UDP_HEADER_LENGTH
    end = start + payload_length  # no byte of a datagram is read at or past this
    at = start + VXLAN_HEADER_LENGTH
    kind = np.where(port == VXLAN_PORT, 0, -1)
    geneve = np.flatnonzero((port == GENEVE_PORT) & (payload_length >= GENEVE_HEADER_LENGTH))
    if len(geneve):  # version 0, options, then what the protocol type says
        first = head[geneve, UDP_HEADER_LENGTH].astype(np.int64)
        protocol = _be(head[geneve, UDP_HEADER_LENGTH + 2:UDP_HEADER_LENGTH + 4]).astype(np.int64)
        kind[geneve] = np.where(first >> 6 == 0, _carried_kind(protocol), -1)
        at[geneve] = start[geneve] + GENEVE_HEADER_LENGTH + 4 * (first & 0x3F)
    past = np.zeros(len(rows), dtype=bool)
    gtp = np.flatnonzero(port == GTP_U_PORT)
    if len(gtp):
        flags, message = head[gtp, UDP_HEADER_LENGTH].astype(np.int64), head[gtp, UDP_HEADER_LENGTH + 1]
        ok = ((flags >> 5) == GTP_VERSION_1) & ((flags & GTP_PROTOCOL_TYPE) != 0) & (message == GTP_G_PDU)
        g_at = start[gtp] + GTP_HEADER_LENGTH + np.where(flags & GTP_OPTIONAL_FLAGS, GTP_OPTIONAL_LENGTH, 0)
        ok &= g_at <= end[gtp]
        next_type = np.where(flags & GTP_EXTENSION_FLAG, head[gtp, UDP_HEADER_LENGTH + GTP_HEADER_LENGTH + 3], 0)
        g_rows, g_end, g_past = rows[gtp], end[gtp], past[gtp]
        for _ in range(MAX_GTP_EXTENSIONS + 1):  # the extension headers, every row's at once
            walking = np.flatnonzero(ok & ~g_past & (next_type != 0))
            if not len(walking):
                break
            pos = g_at[walking]
            g_past[walking] = pos >= width
            readable = walking[pos < width]
            length = 4 * w[g_rows[readable], g_at[readable]].astype(np.int64)
            last = g_at[readable] + length - 1
            ok[readable] &= (length > 0) & (last < g_end[readable])
            g_past[readable] |= ok[readable] & (last >= width)
            fits = ok[readable] & (last < width)
            step = readable[fits]
            next_type[step] = w[g_rows[step], last[fits]]
            g_at[step] += length[fits]
        ok &= (next_type == 0) | g_past  # a chain longer than MAX_GTP_EXTENSIONS is not opened
        ok &= g_at < g_end
        g_past |= ok & (g_at >= width)
        first = w[g_rows, np.minimum(g_at, width - 1)].astype(np.int64)
        ipv4 = (first >= GTP_IPV4_FIRST_BYTES.start) & (first < GTP_IPV4_FIRST_BYTES.stop)
        version = np.where(ipv4, 4, np.where(first >> 4 == 6, 6, -1))
        kind[gtp] = np.where(ok & ~g_past, version, -1)
        at[gtp] = g_at
        past[gtp] = g_past & ok
    if width >= _WIDE_WINDOW:
        past[:] = False  # headers past even the wide window: not opened
    kind[at >= end] = -1
    opened = (kind >= 0) & ~past
    return rows[opened], at[opened], kind[opened], rows[past]


_DECODED = ("ip_version", "src_key", "dst_key", "src_port", "dst_port", "payload_length", "rtp_b0", "rtp_b1",
            "rtp_seq", "rtp_timestamp", "rtp_ssrc")
#: (chunk rows, bytes skipped before the decoded packet, decoded columns)
_Decoded = tuple[np.ndarray | None, np.ndarray | int, dict[str, np.ndarray]]


def _in_chunk(rows: np.ndarray | None, part: np.ndarray) -> np.ndarray:
    """Rows of a part of a group, as rows of the chunk."""
    return part if rows is None else rows[part]


def _decode_chunk(data: np.ndarray, chunk: _Chunk,
                  window: np.ndarray) -> tuple[list[_Decoded], np.ndarray, np.ndarray]:
    """Decode one chunk (``window``: its packets' first bytes): per link type, wide rows again,
    tunnels opened (inner packets decoded as raw IP or Ethernet at their offset). Returns the
    decoded parts, the chunk rows to leave to the SIP reader (TCP) and the IP fragments."""
    out: list[_Decoded] = []
    others: list[np.ndarray] = []
    fragments: list[np.ndarray] = []
    link = chunk.link
    groups: list[tuple[np.ndarray | None, int]]
    if isinstance(link, int):
        groups = [(None, link)]
    else:
        groups = [(np.flatnonzero(link == k), int(k)) for k in np.unique(link)]
    # (rows or None, bytes before the packet, its first bytes, its captured length, link type, tunnel depth)
    work: list[tuple[np.ndarray | None, np.ndarray | int, np.ndarray, np.ndarray, int, int]] = []
    for rows, linktype in groups:
        w = window if rows is None else window[rows]
        work.append((rows, 0, w, chunk.caplen if rows is None else chunk.caplen[rows], linktype, 0))
    while work:
        rows, shift, w, caplen, linktype, depth = work.pop()
        decoded = _decode(w, caplen, linktype)
        if not decoded:
            continue
        if len(decoded["index"]):
            out.append((rows, shift, decoded))
        if len(decoded["other"]):
            others.append(_in_chunk(rows, decoded["other"]))
        if len(decoded["fragment"]):
            fragments.append(_in_chunk(rows, decoded["fragment"]))
        wide = decoded["wide"]
        if len(wide):  # decoded again with the wide window (its own wide rows are none: no loop)
            wide_rows = _in_chunk(rows, wide)
            wide_shift = shift if isinstance(shift, int) else shift[wide]
            work.append((wide_rows, wide_shift, _windows(data, chunk.start[wide_rows] + wide_shift, _WIDE_WINDOW),
                         chunk.caplen[wide_rows] - wide_shift, linktype, depth))
        tunnel = decoded["tunnel"]
        if len(tunnel) and depth < MAX_TUNNEL_DEPTH:
            inner_rows = _in_chunk(rows, tunnel)
            inner_shift = decoded["tunnel_at"] + (shift if isinstance(shift, int) else shift[tunnel])
            kinds = decoded["tunnel_kind"]
            # raw IP covers both IP versions (the first nibble says which); GRE may carry Ethernet
            for mine, inner_link in ((kinds > 0, LINKTYPE_RAW), (kinds == 0, LINKTYPE_ETHERNET)):
                if mine.any():
                    r, s = inner_rows[mine], inner_shift[mine]
                    work.append((r, s, _windows(data, chunk.start[r] + s, _WIDE_WINDOW), chunk.caplen[r] - s,
                                 inner_link, depth + 1))
    other_rows = np.unique(np.concatenate(others)) if others else np.zeros(0, np.int64)
    fragment_rows = np.unique(np.concatenate(fragments)) if fragments else np.zeros(0, np.int64)
    return out, other_rows, fragment_rows


_FRAME_FIELDS = ("frame", "time_ns", "linktype", "start", "length")


class _Builder:
    """Collects decoded chunks into the columns (rows in capture order; datagrams joined from
    fragments are put in place at the end)."""

    def __init__(self, capacity: int, file_size: int) -> None:
        self.file_size = file_size
        self.joined = bytearray()  # payloads of datagrams joined from fragments (offsets from file_size on)
        self.joined_rows = False
        # room for every row the file could hold (up to a cap, then grown): untouched rows cost
        # address space, not memory, and no copy is made at the end
        self.capacity = max(1, min(capacity, _MAX_PREALLOCATED_ROWS))
        self.columns = {name: np.empty(self.capacity, dtype=dtype) for name, dtype in KEY_COLUMNS.items()}
        self.count = 0
        self.v6_rows: list[np.ndarray] = []
        self.v6_src: list[np.ndarray] = []
        self.v6_dst: list[np.ndarray] = []
        self.other: dict[str, list[np.ndarray]] = {name: [] for name in _FRAME_FIELDS}
        self.fragments: dict[str, list[np.ndarray]] = {name: [] for name in _FRAME_FIELDS}

    def add(self, chunk: _Chunk, parts: list[_Decoded], other_rows: np.ndarray, fragment_rows: np.ndarray) -> None:
        for kept, aside in ((self.other, other_rows), (self.fragments, fragment_rows)):
            if len(aside):
                link = chunk.link
                kept["frame"].append(aside + chunk.first + 1)
                kept["time_ns"].append(chunk.time_ns[aside])
                kept["linktype"].append(np.full(len(aside), link, np.int64) if isinstance(link, int) else link[aside])
                kept["start"].append(chunk.start[aside])
                kept["length"].append(chunk.caplen[aside])
        if not parts:
            return
        indexes, offsets = [], []
        for rows, shift, d in parts:
            local = d["index"]
            indexes.append(local if rows is None else rows[local])
            offsets.append(d["payload_offset"] + (shift if isinstance(shift, int) else shift[local]))
        order = None
        if len(parts) == 1:
            index, offset, merged = indexes[0], offsets[0], parts[0][2]
        else:
            index = np.concatenate(indexes)
            order = np.argsort(index, kind="stable")
            index = index[order]
            merged = {name: np.concatenate([d[name] for _, _, d in parts]) for name in _DECODED}
            offset = np.concatenate(offsets)
        if order is not None:
            merged = {name: column[order] for name, column in merged.items()}
            offset = offset[order]
        k = len(index)
        self._grow(k)
        part = slice(self.count, self.count + k)
        cols = self.columns
        np.add(index, chunk.first + 1, out=cols["frame"][part])
        if k == len(chunk.time_ns):  # every packet of the chunk is a datagram (an RTP capture): no gathers
            cols["time_ns"][part] = chunk.time_ns
            np.add(offset, chunk.start, out=cols["payload_offset"][part])
        else:
            np.take(chunk.time_ns, index, out=cols["time_ns"][part])
            np.add(offset, chunk.start[index], out=cols["payload_offset"][part])
        for name in _DECODED:
            cols[name][part] = merged[name]
        # IPv6 addresses: remember them with their rows; keys are assigned at the end
        if any(len(d["v6_src"]) for _, _, d in parts):
            version = merged["ip_version"]
            self.v6_rows.append(np.flatnonzero(version == 6) + self.count)
            src = np.concatenate([d["v6_src"] for _, _, d in parts])
            dst = np.concatenate([d["v6_dst"] for _, _, d in parts])
            if order is not None:  # the v6 rows of each part, put in row order
                unmerged_version = np.concatenate([d["ip_version"] for _, _, d in parts])
                position = np.empty(len(order), np.int64)
                position[order] = np.arange(len(order))
                in_order = np.argsort(position[unmerged_version == 6], kind="stable")
                src, dst = src[in_order], dst[in_order]
            self.v6_src.append(np.ascontiguousarray(src))
            self.v6_dst.append(np.ascontiguousarray(dst))
        self.count += len(index)

    def join_fragments(self, data: np.ndarray) -> None:
        """Read the IP fragments kept aside one by one (:class:`~voiplab.capture.pcapfile.IpReader`):
        each UDP datagram they complete becomes a row, with the frame and time of the fragment that
        completed it (as tshark reports it) and its payload in :attr:`joined`."""
        kept = {name: np.concatenate(parts) if parts else np.zeros(0, np.int64)
                for name, parts in self.fragments.items()}
        reader = IpReader()
        for frame, time_ns, linktype, start, length in zip(*(kept[name].tolist() for name in _FRAME_FIELDS),
                                                             strict=True):
            segment = reader.frame(linktype, bytes(data[start:start + length]))
            if segment is None or segment.protocol != IPPROTO_UDP or len(segment.payload) < UDP_HEADER_LENGTH:
                continue
            self._add_joined(frame, time_ns, segment)

    def _add_joined(self, frame: int, time_ns: int, segment: Segment) -> None:
        payload = segment.payload
        sport, dport, length = struct.unpack_from("!HHH", payload)
        body = payload[UDP_HEADER_LENGTH:length] if UDP_HEADER_LENGTH <= length <= len(payload) else \
            payload[UDP_HEADER_LENGTH:]
        head = body[:RTP_HEAD].ljust(RTP_HEAD, b"\0")
        b0, b1, seq, timestamp, ssrc = struct.unpack("!BBHII", head)
        self._grow(1)
        row = self.count
        v4 = segment.version == 4
        values = {"frame": frame, "time_ns": time_ns, "ip_version": segment.version,
                  "src_key": int.from_bytes(segment.src, "big") if v4 else 0,
                  "dst_key": int.from_bytes(segment.dst, "big") if v4 else 0, "src_port": sport, "dst_port": dport,
                  "payload_offset": self.file_size + len(self.joined), "payload_length": len(body), "rtp_b0": b0,
                  "rtp_b1": b1, "rtp_seq": seq, "rtp_timestamp": timestamp, "rtp_ssrc": ssrc}
        for name, value in values.items():
            self.columns[name][row] = value
        if not v4:
            self.v6_rows.append(np.array([row], np.int64))
            self.v6_src.append(np.frombuffer(segment.src, np.uint8).reshape(1, 16))
            self.v6_dst.append(np.frombuffer(segment.dst, np.uint8).reshape(1, 16))
        self.joined += body
        self.joined_rows = True
        self.count += 1

    def _grow(self, k: int) -> None:
        if self.count + k > self.capacity:
            self.capacity = max(2 * self.capacity, self.count + k)
            for name, column in self.columns.items():
                grown = np.empty(self.capacity, dtype=column.dtype)
                grown[:self.count] = column[:self.count]
                self.columns[name] = grown

    def finish(self) -> tuple[dict[str, np.ndarray], np.ndarray, OtherFrames]:
        columns = {name: column[:self.count] for name, column in self.columns.items()}
        addresses = np.zeros((0, 16), np.uint8)
        if self.v6_rows:
            rows = np.concatenate(self.v6_rows)
            both = np.concatenate([np.concatenate(self.v6_src), np.concatenate(self.v6_dst)])
            addresses, inverse = np.unique(both, axis=0, return_inverse=True)
            keys = inverse.ravel().astype(np.uint64) + np.uint64(V6_KEY_BASE)
            columns["src_key"][rows] = keys[:len(rows)]
            columns["dst_key"][rows] = keys[len(rows):]
        if self.joined_rows:  # the joined datagrams go where their frames are
            order = np.argsort(columns["frame"], kind="stable")
            columns = {name: column[order] for name, column in columns.items()}
        other = OtherFrames(*(np.concatenate(parts) if parts else np.zeros(0, np.int64)
                              for parts in self.other.values()))
        return columns, addresses, other


def read_udp(path: str | os.PathLike[str]) -> UdpTable:
    """Read every UDP datagram of a pcap or pcapng file into a :class:`UdpTable`.

    A last record cut short (capture killed while writing), or a corrupt record, ends the
    reading with a warning (as it ends tshark's); an empty file gives an empty table.

    Raises:
        CaptureError: the file cannot be read, is not a regular file or is not a pcap/pcapng
            capture, or declares a clock that cannot be used.

    Taught in notebook 05.
    """
    capture, data, mapped = _map(path)
    reading = _Reading(capture, data, mapped)
    builder = _Builder(len(data) // (PCAP_RECORD_HEADER_LENGTH + _MIN_UDP_FRAME) + 1, len(data))
    first_time_ns = None
    for chunk in reading.chunks():
        if first_time_ns is None:
            first_time_ns = int(chunk.time_ns[0])
        if chunk.window is None or int(chunk.caplen.max()) < _MIN_UDP_FRAME:
            continue  # nothing there can hold a UDP datagram (e.g. a file of zeros)
        parts, other_rows, fragment_rows = _decode_chunk(data, chunk, chunk.window)
        builder.add(chunk, parts, other_rows, fragment_rows)
    warn_problem(capture.path, reading.problem, reading.count)
    builder.join_fragments(data)
    columns, addresses, other = builder.finish()
    return UdpTable(path=capture.path, frames=reading.count, first_time_ns=first_time_ns or 0,
                    columns=_Columns(columns, addresses), data=data, linktypes=tuple(reading.linktypes),
                    truncated=bool(reading.problem), ipv6_addresses=addresses, other_frames=other,
                    joined=np.frombuffer(bytes(builder.joined), np.uint8))
