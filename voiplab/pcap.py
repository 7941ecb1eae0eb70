"""A fast pcap/pcapng reader for bulk analysis: UDP datagrams as numpy columns.

scapy builds a Python object per packet (~50 µs each: a minute for a 1M-packet capture).
This reader never does: it maps the file, finds the record boundaries with vectorised
"stride jumps" (runs of records of equal size are verified in one numpy operation; a
short scalar loop takes over where sizes alternate), then decodes link, IP and UDP
headers column-wise. The result is a structured array, one row per UDP datagram (IPv4 or
IPv6, VLAN tags skipped, IP fragments skipped), with the offset of its payload in the
mapped file.

Formats: pcap (both byte orders, µs and ns), pcapng (SHB/IDB/EPB/SPB, per-interface link
type, ``if_tsresol`` and ``if_tsoffset``). Link types: Ethernet, Linux cooked (SLL, SLL2),
raw IP, BSD loopback (null/loop).

For per-packet teaching (``show()``, crafting) use scapy; for numbers use this.
Taught in notebook 05.
"""

from __future__ import annotations

import mmap
import os
import struct
import warnings
from dataclasses import dataclass, field

import numpy as np

from .errors import CaptureError

__all__ = ["LINKTYPE_NAMES", "UDP_DTYPE", "UdpTable", "read_udp"]

PCAP_MAGIC_US = 0xA1B2C3D4
PCAP_MAGIC_NS = 0xA1B23C4D
PCAP_HEADER_LENGTH = 24
PCAP_RECORD_HEADER_LENGTH = 16
PCAPNG_SHB = 0x0A0D0D0A
PCAPNG_IDB = 1
PCAPNG_SPB = 3
PCAPNG_EPB = 6
PCAPNG_BYTE_ORDER_MAGIC = 0x1A2B3C4D
MAX_RECORD_LENGTH = 1 << 28  # beyond this a "length" field is garbage, not a packet

LINKTYPE_NULL, LINKTYPE_ETHERNET, LINKTYPE_RAW, LINKTYPE_LOOP = 0, 1, 101, 108
LINKTYPE_LINUX_SLL, LINKTYPE_IPV4, LINKTYPE_IPV6, LINKTYPE_LINUX_SLL2 = 113, 228, 229, 276
LINKTYPE_NAMES = {
    LINKTYPE_NULL: "BSD loopback", LINKTYPE_ETHERNET: "Ethernet", LINKTYPE_RAW: "raw IP",
    LINKTYPE_LOOP: "OpenBSD loopback", LINKTYPE_LINUX_SLL: "Linux cooked (SLL)", LINKTYPE_IPV4: "raw IPv4",
    LINKTYPE_IPV6: "raw IPv6", LINKTYPE_LINUX_SLL2: "Linux cooked v2 (SLL2)",
}
ETHERTYPE_IPV4, ETHERTYPE_IPV6 = 0x0800, 0x86DD
ETHERTYPE_VLAN = (0x8100, 0x88A8, 0x9100)
IPPROTO_UDP = 17
IPV6_EXTENSION_HEADERS = (0, 43, 60)  # hop-by-hop, routing, destination options (44 = fragment)
IPV6_FRAGMENT = 44
UDP_HEADER_LENGTH = 8
RTP_HEAD = 12  # first payload bytes kept per datagram (an RTP header)
_WINDOW = 112  # bytes of each frame looked at: link + VLANs + IP (with options) + UDP
_CHUNK = 1 << 18

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


@dataclass(frozen=True, repr=False)
class UdpTable:
    """The UDP datagrams of a capture, as columns over the mapped file.

    Attributes:
        path: the capture file.
        frames: number of packets (records) in the capture, UDP or not.
        first_time_ns: time of the first packet (tshark's relative times start there).
        columns: one contiguous numpy array per field of :data:`UDP_DTYPE` (``table["src_port"]``);
            :attr:`packets` gives the same data as one structured array.
        data: the file contents (uint8 view over the mapping): payload bytes of row ``i`` are
            ``data[table["payload_offset"][i]:...+table["payload_length"][i]]``.
        truncated: the last record was cut short (and skipped).

    Taught in notebook 05.
    """

    path: str
    frames: int
    first_time_ns: int
    columns: dict[str, np.ndarray]
    data: np.ndarray = field(repr=False)
    linktypes: tuple[int, ...] = ()
    truncated: bool = False

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

    def payload(self, i: int) -> bytes:
        """The UDP payload of row ``i`` as bytes."""
        start = int(self.columns["payload_offset"][i])
        return bytes(self.data[start:start + int(self.columns["payload_length"][i])])

    def __repr__(self) -> str:
        kinds = ", ".join(LINKTYPE_NAMES.get(k, str(k)) for k in self.linktypes)
        return f"UdpTable({os.path.basename(self.path)!r}: {self.frames} frames, {len(self)} UDP datagrams, {kinds})"


# ------------------------------------------------------------------ helpers
class _Pager:
    """Keeps the resident part of the mapping small: prefetch a range, then release it.

    Released pages stay in the page cache (a later access maps them again cheaply), but
    they no longer count in this process' memory: a 1 GB capture is read with a window of
    a few MB of it resident.
    """

    PAGE = mmap.PAGESIZE

    def __init__(self, mapped: mmap.mmap | None) -> None:
        self.mapped = mapped

    def _advise(self, advice: int, start: int, stop: int) -> None:
        if self.mapped is None:
            return
        start -= start % self.PAGE
        stop = min(stop, len(self.mapped))
        if stop > start:
            try:
                self.mapped.madvise(advice, start, stop - start)
            except (OSError, ValueError):
                pass

    def prefetch(self, start: int, stop: int) -> None:
        self._advise(mmap.MADV_WILLNEED, start, stop)

    def release(self, start: int, stop: int) -> None:
        """Drop pages wholly inside ``start .. stop`` from this process' resident set."""
        start += -start % self.PAGE
        stop -= stop % self.PAGE
        self._advise(mmap.MADV_DONTNEED, start, stop)


def _map(path: str) -> tuple[np.ndarray, int, _Pager]:
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as f:
            if size == 0:
                return np.zeros(0, np.uint8), 0, _Pager(None)
            mapped = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    except OSError as exc:
        raise CaptureError(f"capture file {path} cannot be read ({exc.strerror}): check the path and permissions") \
            from exc
    return np.frombuffer(mapped, dtype=np.uint8), size, _Pager(mapped)


def _u32_at(data: np.ndarray, pos: np.ndarray | int, order: str) -> np.ndarray:
    pos = np.asarray(pos, dtype=np.int64)
    b = [data[pos + k].astype(np.uint32) for k in range(4)]
    if order == "<":
        return b[0] | (b[1] << 8) | (b[2] << 16) | (b[3] << 24)
    return (b[0] << 24) | (b[1] << 16) | (b[2] << 8) | b[3]


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


def _part_starts(parts: list[Part], shift: int = 0) -> np.ndarray:
    if not parts:
        return np.zeros(0, dtype=np.int64)
    arrays = [p + shift if isinstance(p, np.ndarray) else p[0] + shift + p[1] * np.arange(p[2], dtype=np.int64)
              for p in parts]
    return np.concatenate(arrays)


def _gather(data: np.ndarray, parts: list[Part], offset: int, width: int, lo: int = 0,
            hi: int | None = None, out: np.ndarray | None = None) -> np.ndarray:
    """Bytes ``offset .. offset+width`` of records lo..hi: strided copies for runs, gathers for lists."""
    total = sum(len(p) if isinstance(p, np.ndarray) else p[2] for p in parts)
    hi = total if hi is None else hi
    if out is None or len(out) < hi - lo:
        out = np.empty((hi - lo, width), dtype=np.uint8)
    out = out[:hi - lo]
    first = 0
    size = len(data)
    for p in parts:
        count = len(p) if isinstance(p, np.ndarray) else p[2]
        a, b = max(lo, first), min(hi, first + count)
        if a < b:
            if isinstance(p, np.ndarray):
                out[a - lo:b - lo] = _windows(data, p[a - first:b - first] + offset, width)
            else:
                start, stride, _ = p
                begin = start + stride * (a - first) + offset
                if begin + stride * (b - a - 1) + width <= size:
                    view = np.lib.stride_tricks.as_strided(data[begin:], shape=(b - a, width), strides=(stride, 1))
                    out[a - lo:b - lo] = view
                else:
                    starts = begin + stride * np.arange(b - a, dtype=np.int64)
                    out[a - lo:b - lo] = _windows(data, starts, width)
        first += count
    return out


def _scan(data: np.ndarray, pos: int, header: int, length_at: int, order: str, stride_extra: int,
          kind_at: int | None = None, kind: int = 0, pager: _Pager | None = None) -> tuple[list[Part], int]:
    """Record starts by stride jumps: a run of equal-size records is checked in one go.

    The record at ``pos`` has size s; the records at pos + k*s are verified to have the
    same size (and block type, for pcapng). Where verification fails the run ends and the
    next record is read. When runs keep being short, a scalar loop reads 512 records.
    Stops at the first record that is not of this kind or does not fit in the file.
    """
    size = len(data)
    parts: list[Part] = []
    fmt = order + "I"
    raw = data
    burst = 64
    while pos + header <= size:
        if kind_at is not None and struct.unpack_from(fmt, raw, pos + kind_at)[0] != kind:
            break
        length = struct.unpack_from(fmt, raw, pos + length_at)[0]
        stride = length + stride_extra
        if stride < header or stride > MAX_RECORD_LENGTH or pos + stride > size:
            break
        count = min(burst, (size - pos) // stride)
        if pager is not None:
            pager.prefetch(pos, pos + count * stride)
        lengths = _strided_u32(data, pos + length_at, stride, count, order)
        ok = lengths == length
        if kind_at is not None:
            ok &= _strided_u32(data, pos + kind_at, stride, count, order) == kind
        bad = np.flatnonzero(~ok)
        run = int(bad[0]) if len(bad) else count
        parts.append((pos, stride, run))
        if pager is not None:
            pager.release(pos, pos + stride * run)
        pos += stride * run
        if run == count:
            burst = min(burst * 4, 1 << 16)
            continue
        burst = 64
        if run < 8:  # alternating sizes: a scalar loop is cheaper here
            starts = []
            for _ in range(512):
                if pos + header > size:
                    break
                if kind_at is not None and struct.unpack_from(fmt, raw, pos + kind_at)[0] != kind:
                    break
                stride = struct.unpack_from(fmt, raw, pos + length_at)[0] + stride_extra
                if stride < header or stride > MAX_RECORD_LENGTH or pos + stride > size:
                    break
                starts.append(pos)
                pos += stride
            if starts:
                parts.append(np.array(starts, dtype=np.int64))
    return parts, pos


# ------------------------------------------------------------------ pcap
def _read_pcap(data: np.ndarray, path: str, pager: _Pager | None = None
               ) -> tuple[list[Part], np.ndarray, np.ndarray, np.ndarray, bool]:
    raw = data
    magic_le = struct.unpack_from("<I", raw, 0)[0]
    order = "<" if magic_le in (PCAP_MAGIC_US, PCAP_MAGIC_NS) else ">"
    magic = struct.unpack_from(order + "I", raw, 0)[0]
    nanoseconds = magic == PCAP_MAGIC_NS
    if len(data) < PCAP_HEADER_LENGTH:
        raise CaptureError(f"capture file {path} is truncated inside its 24-byte pcap header: it is not usable; "
                           "capture again")
    linktype = struct.unpack_from(order + "I", raw, 20)[0] & 0x0FFFFFFF
    parts, end = _scan(data, PCAP_HEADER_LENGTH, PCAP_RECORD_HEADER_LENGTH, 8, order, PCAP_RECORD_HEADER_LENGTH,
                       pager=pager)
    truncated = end < len(data)
    total = sum(len(p) if isinstance(p, np.ndarray) else p[2] for p in parts)
    time_ns = np.empty(total, dtype=np.int64)
    caplen = np.empty(total, dtype=np.int64)
    record_starts = _part_starts(parts)
    for lo in range(0, total, _CHUNK):
        hi = min(lo + _CHUNK, total)
        first_byte, last_byte = int(record_starts[lo]), int(record_starts[hi - 1]) + PCAP_RECORD_HEADER_LENGTH
        if pager is not None:
            pager.prefetch(first_byte, last_byte)
        words = _gather(data, parts, 0, PCAP_RECORD_HEADER_LENGTH, lo, hi).view(order + "u4")
        if pager is not None:
            pager.release(first_byte, last_byte)
        np.multiply(words[:, 0], 1_000_000_000, out=time_ns[lo:hi], dtype=np.int64)
        time_ns[lo:hi] += words[:, 1].astype(np.int64) * (1 if nanoseconds else 1000)
        caplen[lo:hi] = words[:, 2]
    linktypes = np.full(total, linktype, dtype=np.int32)
    frames = [p + PCAP_RECORD_HEADER_LENGTH if isinstance(p, np.ndarray) else (p[0] + PCAP_RECORD_HEADER_LENGTH,) + p[1:]
              for p in parts]
    return frames, caplen, time_ns, linktypes, truncated


# ------------------------------------------------------------------ pcapng
def _idb_options(raw: bytes, pos: int, end: int, order: str) -> tuple[int, int]:
    """(tsresol code, tsoffset seconds) from the options of an IDB."""
    resolution, offset = 6, 0
    while pos + 4 <= end:
        code, length = struct.unpack_from(order + "HH", raw, pos)
        if code == 0:
            break
        if code == 9 and length >= 1:
            resolution = raw[pos + 4]
        elif code == 14 and length >= 8:
            offset = struct.unpack_from(order + "q", raw, pos + 4)[0]
        pos += 4 + length + (-length % 4)
    return resolution, offset


def _ticks_to_ns(ticks: np.ndarray, resolution: int, offset: int) -> np.ndarray:
    if resolution & 0x80:
        shift = resolution & 0x7F
        seconds = ticks >> shift
        fraction = ticks & ((1 << shift) - 1)
        ns = seconds * 1_000_000_000 + (fraction * 1_000_000_000 >> shift)
    elif resolution <= 9:
        ns = ticks * 10 ** (9 - resolution)
    else:
        ns = ticks // 10 ** (resolution - 9)
    return ns + offset * 1_000_000_000


def _read_pcapng(data: np.ndarray, path: str) -> tuple[list[Part], np.ndarray, np.ndarray, np.ndarray, bool]:
    raw = data
    size = len(data)
    pos = 0
    order = "<"
    interfaces: list[tuple[int, int, int]] = []  # (linktype, tsresol, tsoffset)
    truncated = False
    last_time = 0
    records: list[tuple[str, list[tuple[int, int, int]], np.ndarray]] = []
    while pos < size:
        if pos + 12 > size:
            truncated = True
            break
        block_type = struct.unpack_from(order + "I", raw, pos)[0]
        if block_type == PCAPNG_SHB:
            bom = struct.unpack_from("<I", raw, pos + 8)[0]
            order = "<" if bom == PCAPNG_BYTE_ORDER_MAGIC else ">"
            interfaces = []
        length = struct.unpack_from(order + "I", raw, pos + 4)[0]
        if length < 12 or length % 4 or pos + length > size:
            truncated = True
            break
        if block_type == PCAPNG_EPB:
            parts, end = _scan(data, pos, 28, 4, order, 0, kind_at=0, kind=PCAPNG_EPB)
            if parts:
                records.append(("epb", list(interfaces), _part_starts(parts)))
            pos = end
            continue
        if block_type == PCAPNG_IDB:
            linktype = struct.unpack_from(order + "H", raw, pos + 8)[0]
            resolution, offset = _idb_options(raw, pos + 16, pos + length - 4, order)
            interfaces.append((linktype, resolution, offset))
        elif block_type == PCAPNG_SPB:
            original = struct.unpack_from(order + "I", raw, pos + 8)[0]
            caplen = min(original, length - 16)
            linktype = interfaces[0][0] if interfaces else LINKTYPE_ETHERNET
            records.append(("spb", [], np.array([pos + 12, caplen, last_time, linktype], dtype=np.int64)))
        pos += length
    if not records:
        empty = np.zeros(0, np.int64)
        return [], empty, empty, empty, truncated
    out_start, out_caplen, out_time, out_link = [], [], [], []
    for kind, known, value in records:
        if kind == "spb":
            out_start.append(value[:1])
            out_caplen.append(value[1:2])
            out_time.append(value[2:3])
            out_link.append(value[3:4])
            continue
        head = _windows(data, value, 28).view(order + "u4").reshape(-1, 7).astype(np.int64)
        iface = head[:, 2]
        ticks = (head[:, 3] << 32) | head[:, 4]
        time_ns = np.zeros(len(value), dtype=np.int64)
        link = np.full(len(value), -1, dtype=np.int64)
        for k, (linktype, resolution, offset) in enumerate(known):
            mine = iface == k
            if mine.any():
                time_ns[mine] = _ticks_to_ns(ticks[mine], resolution, offset)
                link[mine] = linktype
        if (link < 0).any():
            raise CaptureError(f"capture file {path} is corrupt: a packet refers to an interface with no "
                               "description block (IDB): re-save it with Wireshark or capture again")
        out_start.append(value + 28)
        out_caplen.append(head[:, 5])
        out_time.append(time_ns)
        out_link.append(link)
    return ([np.concatenate(out_start)], np.concatenate(out_caplen), np.concatenate(out_time),
            np.concatenate(out_link), truncated)


# ------------------------------------------------------------------ decoding
def _cols(w: np.ndarray, offset: np.ndarray | int, width: int) -> np.ndarray:
    """Bytes ``offset .. offset+width`` of every row: a slice when the offset is common."""
    if isinstance(offset, int):
        return w[:, offset:offset + width]
    index = np.minimum(offset[:, None] + np.arange(width), w.shape[1] - 1)
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
    """Link/IP/UDP decoding of frames of one link type; ``w`` holds each frame's first bytes."""
    n = len(w)
    l3: np.ndarray | int
    if linktype == LINKTYPE_ETHERNET:
        ethertype = _be(w[:, 12:14])
        l3_rows = np.full(n, 14, dtype=np.int64)
        for _ in range(2):  # up to two VLAN tags (QinQ)
            tagged = np.isin(ethertype, ETHERTYPE_VLAN)
            if not tagged.any():
                break
            l3_rows = np.where(tagged, l3_rows + 4, l3_rows)
            ethertype = np.where(tagged, _be(_cols(w, l3_rows - 2, 2)), ethertype)
        l3 = _common(l3_rows)
        version = np.where(ethertype == ETHERTYPE_IPV4, 4, np.where(ethertype == ETHERTYPE_IPV6, 6, 0))
    elif linktype in (LINKTYPE_LINUX_SLL, LINKTYPE_LINUX_SLL2):
        l3 = 16 if linktype == LINKTYPE_LINUX_SLL else 20
        ethertype = _be(w[:, 14:16] if linktype == LINKTYPE_LINUX_SLL else w[:, 0:2])
        version = np.where(ethertype == ETHERTYPE_IPV4, 4, np.where(ethertype == ETHERTYPE_IPV6, 6, 0))
    elif linktype in (LINKTYPE_RAW, LINKTYPE_IPV4, LINKTYPE_IPV6, 12, 14):
        l3 = 0
        version = (w[:, 0] >> 4).astype(np.int64)
    elif linktype in (LINKTYPE_NULL, LINKTYPE_LOOP):
        l3 = 4
        family_le = w[:, 0].astype(np.int64) | (w[:, 1].astype(np.int64) << 8)
        family_be = (w[:, 2].astype(np.int64) << 8) | w[:, 3]
        family = np.where(family_le != 0, family_le, family_be) if linktype == LINKTYPE_NULL else family_be
        version = np.where(family == 2, 4, np.where(np.isin(family, (10, 23, 24, 28, 30)), 6, 0))
    else:
        return {}
    ip = _cols(w, l3, 40)
    version = np.where((ip[:, 0] >> 4) == version, version, 0)
    v4 = version == 4
    v6 = version == 6
    ihl = (ip[:, 0] & 0x0F).astype(np.int64) * 4
    proto = np.where(v4, ip[:, 9], ip[:, 6]).astype(np.int64)
    fragment = v4 & ((_be(ip[:, 6:8]) & 0x3FFF) != 0)
    ip_payload = np.where(v4, _be(ip[:, 2:4]).astype(np.int64) - ihl, _be(ip[:, 4:6]))
    l4_rows = np.where(v4, ihl, 40) + l3
    udp = (v4 & ~fragment & (ihl >= 20) & (proto == IPPROTO_UDP)) | (v6 & (proto == IPPROTO_UDP))
    extension = np.flatnonzero(v6 & np.isin(proto, IPV6_EXTENSION_HEADERS))
    for row in extension:  # IPv6 extension headers (rare): walk them
        next_header, offset = int(proto[row]), int(l4_rows[row])
        while next_header in IPV6_EXTENSION_HEADERS and offset + 8 <= min(caplen[row], w.shape[1]):
            next_header, ext_len = int(w[row, offset]), int(w[row, offset + 1])
            offset += 8 + 8 * ext_len
        if next_header == IPPROTO_UDP:
            udp[row] = True
            ip_payload[row] -= offset - int(l4_rows[row])
            l4_rows[row] = offset
    udp &= l4_rows + UDP_HEADER_LENGTH + RTP_HEAD <= w.shape[1]  # else: handled by the slow path
    l4 = _common(l4_rows)
    header = _cols(w, l4, UDP_HEADER_LENGTH + RTP_HEAD)
    udp_length = _be(header[:, 4:6]).astype(np.int64)
    payload_length = np.minimum(np.minimum(udp_length, ip_payload) - UDP_HEADER_LENGTH,
                                caplen - l4_rows - UDP_HEADER_LENGTH)
    udp &= payload_length >= 0
    keep = np.flatnonzero(udp)
    if len(keep) == 0:
        return {}
    all_kept = len(keep) == n
    pick = (lambda a: a) if all_kept else (lambda a: a[keep])
    src = np.zeros((len(keep), 16), dtype=np.uint8)
    dst = np.zeros((len(keep), 16), dtype=np.uint8)
    is4 = pick(v4)
    ipk = pick(ip)
    if is4.all():
        src[:, :4] = ipk[:, 12:16]
        dst[:, :4] = ipk[:, 16:20]
    else:
        src[is4, :4] = ipk[is4, 12:16]
        dst[is4, :4] = ipk[is4, 16:20]
        src[~is4] = ipk[~is4, 8:24]
        dst[~is4] = ipk[~is4, 24:40]
    hk = pick(header)
    return {
        "index": keep, "ip_version": pick(version), "src": src, "dst": dst,
        "src_port": _be(hk[:, 0:2]), "dst_port": _be(hk[:, 2:4]),
        "payload_offset": pick(l4_rows) + UDP_HEADER_LENGTH, "payload_length": pick(payload_length),
        "payload_head": hk[:, UDP_HEADER_LENGTH:],
    }


def read_udp(path: str | os.PathLike[str]) -> UdpTable:
    """Read every UDP datagram of a pcap or pcapng file into a :class:`UdpTable`.

    A last record cut short (capture killed while writing) is skipped with a warning.

    Raises:
        CaptureError: the file cannot be read or is not a pcap/pcapng capture.

    Taught in notebook 05.
    """
    path = os.fspath(path)
    data, size, pager = _map(path)
    if size < 4:
        raise CaptureError(f"capture file {path} is not a pcap or pcapng file (it has {size} bytes): "
                           "open a file written by tcpdump, dumpcap, Wireshark or voiplab")
    head = bytes(data[:4])
    magic_le = struct.unpack("<I", head)[0]
    magic_be = struct.unpack(">I", head)[0]
    if PCAP_MAGIC_US in (magic_le, magic_be) or PCAP_MAGIC_NS in (magic_le, magic_be):
        parts, caplen, time_ns, link, truncated = _read_pcap(data, path, pager)
    elif magic_le == PCAPNG_SHB:
        parts, caplen, time_ns, link, truncated = _read_pcapng(data, path)
    else:
        raise CaptureError(f"capture file {path} is not a pcap or pcapng file (it starts with 0x{head.hex()}): "
                           "open a file written by tcpdump, dumpcap, Wireshark or voiplab")
    if truncated:
        warnings.warn(f"capture file {path} ends with a record cut short: it was skipped, the statistics cover "
                      f"the {len(caplen)} complete packets", stacklevel=2)
    frames = len(caplen)
    starts = _part_starts(parts)
    linktypes = (int(link[0]),) if frames and np.all(link == link[0]) else tuple(int(k) for k in np.unique(link))
    columns = {name: np.empty((frames,) + UDP_DTYPE[name].shape, dtype=UDP_DTYPE[name].base)
               for name in UDP_DTYPE.names or ()}
    total = 0
    window_buffer = None
    for linktype in linktypes:
        rows = np.flatnonzero(link == linktype) if len(linktypes) > 1 else None
        count = frames if rows is None else len(rows)
        for lo in range(0, count, _CHUNK):
            hi = min(lo + _CHUNK, count)
            if rows is None:
                chunk = np.arange(lo, hi)
                first_byte, last_byte = int(starts[lo]), int(starts[hi - 1]) + _WINDOW
                pager.prefetch(first_byte, last_byte)
                window = _gather(data, parts, 0, _WINDOW, lo, hi, out=window_buffer)
                window_buffer = window
                pager.release(first_byte, last_byte)
            else:
                chunk = rows[lo:hi]
                window = _windows(data, starts[chunk], _WINDOW)
            decoded = _decode(window, caplen[chunk], linktype)
            if not decoded:
                continue
            kept = len(decoded["index"])
            index = chunk if kept == len(chunk) else chunk[decoded["index"]]
            part = slice(total, total + kept)
            columns["frame"][part] = index + 1
            columns["time_ns"][part] = time_ns[index]
            np.add(decoded["payload_offset"], starts[index], out=columns["payload_offset"][part])
            for name in ("ip_version", "src", "dst", "src_port", "dst_port", "payload_length", "payload_head"):
                columns[name][part] = decoded[name]
            total += kept
    columns = {name: column[:total] for name, column in columns.items()}
    if len(linktypes) > 1:
        order = np.argsort(columns["frame"], kind="stable")
        columns = {name: column[order] for name, column in columns.items()}
    return UdpTable(path=path, frames=frames, first_time_ns=int(time_ns[0]) if frames else 0, columns=columns,
                    data=data, linktypes=linktypes, truncated=truncated)
