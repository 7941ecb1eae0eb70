"""A fast pcap/pcapng reader for bulk analysis: UDP datagrams as numpy columns.

scapy builds a Python object per packet (~50 µs each: a minute for a 1M-packet capture).
This reader never does: it maps the file, finds the record boundaries with vectorised
"stride jumps" (runs of records of equal size are verified in one numpy operation; a
short scalar loop takes over where sizes alternate), then copies the first bytes of each
record (record header, link, IP, UDP and RTP headers) chunk by chunk into a small buffer
that stays in the CPU cache, and decodes them column-wise. The result is one row per UDP
datagram (IPv4 or IPv6, VLAN tags skipped, IP fragments skipped) with the offset of its
payload in the mapped file and the fields of an RTP header; nothing else of the file is
copied.

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

from ..errors import CaptureError

__all__ = ["KEY_COLUMNS", "LINKTYPE_NAMES", "UDP_DTYPE", "V6_KEY_BASE", "UdpTable", "read_udp"]

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
_WINDOW = 64  # bytes of each frame copied: link + VLAN + IPv4 + UDP + RTP header
_WIDE_WINDOW = 256  # for the rare frames with more headers (IPv6, IP options, QinQ)
_CHUNK = 1 << 15  # records decoded at a time (their window stays in the CPU cache)
V6_KEY_BASE = 1 << 32  # address keys: IPv4 -> the address, IPv6 -> V6_KEY_BASE + index

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


class _Columns(dict):  # type: ignore[type-arg]
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
        ipv6_addresses: the distinct IPv6 addresses (16 bytes each) the address keys refer to.
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
    ipv6_addresses: np.ndarray = field(default_factory=lambda: np.zeros((0, 16), np.uint8), repr=False)

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
        import ipaddress

        if key < V6_KEY_BASE:
            return str(ipaddress.IPv4Address(int(key)))
        return str(ipaddress.IPv6Address(bytes(self.ipv6_addresses[int(key) - V6_KEY_BASE])))

    def address_key(self, text: str) -> int | None:
        """The key of an address given as text (``None``: no datagram has it)."""
        import ipaddress

        address = ipaddress.ip_address(text)
        if address.version == 4:
            return int(address)
        packed = np.frombuffer(address.packed, dtype=np.uint8)
        found = np.flatnonzero((self.ipv6_addresses == packed).all(axis=1))
        return V6_KEY_BASE + int(found[0]) if len(found) else None

    def payload(self, i: int) -> bytes:
        """The UDP payload of row ``i`` as bytes."""
        start = int(self.columns["payload_offset"][i])
        return bytes(self.data[start:start + int(self.columns["payload_length"][i])])

    def __repr__(self) -> str:
        kinds = ", ".join(LINKTYPE_NAMES.get(k, str(k)) for k in self.linktypes)
        return f"UdpTable({os.path.basename(self.path)!r}: {self.frames} frames, {len(self)} UDP datagrams, {kinds})"


# ------------------------------------------------------------------ helpers
def _map(path: str) -> tuple[np.ndarray, int]:
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as f:
            if size == 0:
                return np.zeros(0, np.uint8), 0
            mapped = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    except OSError as exc:
        raise CaptureError(f"capture file {path} cannot be read ({exc.strerror}): check the path and permissions") \
            from exc
    return np.frombuffer(mapped, dtype=np.uint8), size


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
          kind_at: int | None = None, kind: int = 0) -> tuple[list[Part], int]:
    """Record starts by stride jumps: a run of equal-size records is checked in one go.

    The record at ``pos`` has size s; the records at pos + k*s are verified to have the
    same size (and block type, for pcapng). Where verification fails the run ends and the
    next record is read. When runs keep being short, a scalar loop reads 512 records.
    Stops at the first record that is not of this kind or does not fit in the file.
    """
    size = len(data)
    parts: list[Part] = []
    fmt = order + "I"
    raw = memoryview(data)  # type: ignore[arg-type]  # numpy arrays export the buffer protocol
    burst = 64
    while pos + header <= size:
        if kind_at is not None and struct.unpack_from(fmt, raw, pos + kind_at)[0] != kind:
            break
        length = struct.unpack_from(fmt, raw, pos + length_at)[0]
        stride = length + stride_extra
        if stride < header or stride > MAX_RECORD_LENGTH or pos + stride > size:
            break
        count = min(burst, (size - pos) // stride)
        lengths = _strided_u32(data, pos + length_at, stride, count, order)
        ok = lengths == length
        if kind_at is not None:
            ok &= _strided_u32(data, pos + kind_at, stride, count, order) == kind
        bad = np.flatnonzero(~ok)
        run = int(bad[0]) if len(bad) else count
        parts.append((pos, stride, run))
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


# ------------------------------------------------------------------ pcapng
def _idb_options(raw: memoryview, pos: int, end: int, order: str) -> tuple[int, int]:
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
    raw = memoryview(data)  # type: ignore[arg-type]  # numpy arrays export the buffer protocol
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
    """Link/IP/UDP decoding of frames of one link type; ``w`` holds each frame's first bytes.

    Returns the columns of the UDP rows (``index``: their rows in ``w``) and ``wide``: rows
    whose headers go past the window (to decode again with a wider one). Empty: no UDP.
    """
    n, width = w.shape
    l3: np.ndarray | int
    if linktype == LINKTYPE_ETHERNET:
        ethertype = _be(w[:, 12:14])
        l3_rows = np.full(n, 14, dtype=np.int64)
        for _ in range(2):  # up to two VLAN tags (QinQ)
            tagged = (ethertype == ETHERTYPE_VLAN[0]) | (ethertype == ETHERTYPE_VLAN[1]) | (
                ethertype == ETHERTYPE_VLAN[2])
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
        family6 = (family == 10) | (family == 23) | (family == 24) | (family == 28) | (family == 30)
        version = np.where(family == 2, 4, np.where(family6, 6, 0))
    else:
        return {}
    ip = _cols(w, l3, 40)
    version = np.where((ip[:, 0] >> 4) == version, version, 0)
    v4 = version == 4
    v6 = version == 6
    ihl = (ip[:, 0] & 0x0F).astype(np.int64) * 4
    proto = np.where(v4, ip[:, 9], ip[:, 6]).astype(np.int64)
    fragment = v4 & ((_be(ip[:, 6:8]) & 0x3FFF) != 0)
    ip_payload = np.where(v4, _be(ip[:, 2:4]).astype(np.int64) - ihl, _be(ip[:, 4:6]).astype(np.int64))
    l4_rows = np.where(v4, ihl, 40) + l3
    udp = (v4 & ~fragment & (ihl >= 20) & (proto == IPPROTO_UDP)) | (v6 & (proto == IPPROTO_UDP))
    extension = np.flatnonzero(v6 & ((proto == 0) | (proto == 43) | (proto == 60)))  # IPV6_EXTENSION_HEADERS
    for row in extension:  # IPv6 extension headers (rare): walk them
        next_header, offset = int(proto[row]), int(l4_rows[row])
        while next_header in IPV6_EXTENSION_HEADERS and offset + 8 <= min(caplen[row], width):
            next_header, ext_len = int(w[row, offset]), int(w[row, offset + 1])
            offset += 8 + 8 * ext_len
        if next_header == IPPROTO_UDP:
            udp[row] = True
            ip_payload[row] -= offset - int(l4_rows[row])
            l4_rows[row] = offset
        elif next_header in IPV6_EXTENSION_HEADERS and width < _WIDE_WINDOW:
            udp[row] = True  # not walked to the end: decode again with the wide window
            l4_rows[row] = width
    outside = udp & (l4_rows + UDP_HEADER_LENGTH + RTP_HEAD > width)
    wide = np.flatnonzero(outside) if width < _WIDE_WINDOW else np.zeros(0, np.int64)
    udp &= ~outside
    if not udp.any():
        return {"index": np.zeros(0, np.int64), "wide": wide} if len(wide) else {}
    l4 = _common(l4_rows)
    if isinstance(l4, int) and l4 + UDP_HEADER_LENGTH + RTP_HEAD > width:
        l4 = l4_rows
    header = _cols(w, l4, UDP_HEADER_LENGTH + RTP_HEAD)
    udp_length = _be(header[:, 4:6]).astype(np.int64)
    payload_length = np.minimum(np.minimum(udp_length, ip_payload) - UDP_HEADER_LENGTH,
                                caplen - l4_rows - UDP_HEADER_LENGTH)
    udp &= payload_length >= 0
    keep = np.flatnonzero(udp)
    if len(keep) == 0:
        return {"index": keep, "wide": wide} if len(wide) else {}
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
    return {
        "index": keep, "wide": wide, "ip_version": pick(version), "src_key": src_key, "dst_key": dst_key,
        "v6_src": v6_src, "v6_dst": v6_dst,
        "src_port": _be(hk[:, 0:2]), "dst_port": _be(hk[:, 2:4]),
        "payload_offset": pick(l4_rows) + UDP_HEADER_LENGTH, "payload_length": pick(payload_length),
        "rtp_b0": hk[:, 8], "rtp_b1": hk[:, 9], "rtp_seq": _be(hk[:, 10:12]), "rtp_timestamp": _be(hk[:, 12:16]),
        "rtp_ssrc": _be(hk[:, 16:20]),
    }


_DECODED = ("ip_version", "src_key", "dst_key", "src_port", "dst_port", "payload_length", "rtp_b0", "rtp_b1",
            "rtp_seq", "rtp_timestamp", "rtp_ssrc")


class _Builder:
    """Collects decoded chunks into preallocated columns (rows stay in capture order)."""

    def __init__(self, capacity: int) -> None:
        self.columns = {name: np.empty(capacity, dtype=dtype) for name, dtype in KEY_COLUMNS.items()}
        self.count = 0
        self.v6_rows: list[np.ndarray] = []
        self.v6_src: list[np.ndarray] = []
        self.v6_dst: list[np.ndarray] = []

    def add(self, parts: list[tuple[np.ndarray | None, dict[str, np.ndarray]]], frame_start: np.ndarray,
            time_ns: np.ndarray, first_frame: int) -> None:
        """``parts``: (rows of the chunk, decoded) pairs; frame_start/time_ns: per chunk row."""
        parts = [(rows, d) for rows, d in parts if d and len(d["index"])]
        if not parts:
            return
        if len(parts) == 1:
            rows, d = parts[0]
            index = rows[d["index"]] if rows is not None else d["index"]
            merged = d
            order = None
        else:
            index = np.concatenate([rows[d["index"]] if rows is not None else d["index"] for rows, d in parts])
            order = np.argsort(index, kind="stable")
            index = index[order]
            merged = {name: np.concatenate([d[name] for _, d in parts])[order]
                      for name in (*_DECODED, "payload_offset")}
        k = len(index)
        part = slice(self.count, self.count + k)
        cols = self.columns
        cols["frame"][part] = index
        cols["frame"][part] += first_frame + 1
        np.take(time_ns, index, out=cols["time_ns"][part])
        np.add(merged["payload_offset"], frame_start[index], out=cols["payload_offset"][part])
        for name in _DECODED:
            cols[name][part] = merged[name]
        # IPv6 addresses: remember them with their rows; keys are assigned at the end
        v6_parts = [(d["v6_src"], d["v6_dst"]) for _, d in parts if len(d["v6_src"])]
        if v6_parts:
            v6 = np.flatnonzero(cols["ip_version"][part] == 6) + self.count
            self.v6_rows.append(v6)
            if order is None:
                self.v6_src.append(np.ascontiguousarray(v6_parts[0][0]))
                self.v6_dst.append(np.ascontiguousarray(v6_parts[0][1]))
            else:  # rebuild in row order from the merged chunk
                src = np.concatenate([d["v6_src"] for _, d in parts])
                dst = np.concatenate([d["v6_dst"] for _, d in parts])
                version = np.concatenate([d["ip_version"] for _, d in parts])
                position = np.empty(len(order), np.int64)
                position[order] = np.arange(len(order))
                in_order = np.argsort(position[version == 6], kind="stable")
                self.v6_src.append(np.ascontiguousarray(src[in_order]))
                self.v6_dst.append(np.ascontiguousarray(dst[in_order]))
        self.count += k

    def finish(self) -> tuple[dict[str, np.ndarray], np.ndarray]:
        columns = {name: column[:self.count] for name, column in self.columns.items()}
        addresses = np.zeros((0, 16), np.uint8)
        if self.v6_rows:
            rows = np.concatenate(self.v6_rows)
            both = np.concatenate([np.concatenate(self.v6_src), np.concatenate(self.v6_dst)])
            addresses, inverse = np.unique(both, axis=0, return_inverse=True)
            keys = inverse.ravel().astype(np.uint64) + np.uint64(V6_KEY_BASE)
            columns["src_key"][rows] = keys[:len(rows)]
            columns["dst_key"][rows] = keys[len(rows):]
        return columns, addresses


def _decode_chunk(data: np.ndarray, window: np.ndarray, frame_start: np.ndarray, caplen: np.ndarray,
                  link: np.ndarray | int) -> list[tuple[np.ndarray | None, dict[str, np.ndarray]]]:
    """Decode one chunk (``window``: the first bytes of each frame), wide rows again."""
    out: list[tuple[np.ndarray | None, dict[str, np.ndarray]]] = []
    groups: list[tuple[np.ndarray | None, int]]
    if isinstance(link, int):
        groups = [(None, link)]
    else:
        groups = [(np.flatnonzero(link == k), int(k)) for k in np.unique(link)]
    for rows, linktype in groups:
        w = window if rows is None else window[rows]
        decoded = _decode(w, caplen if rows is None else caplen[rows], linktype)
        if not decoded:
            continue
        out.append((rows, decoded))
        wide = decoded["wide"]
        if len(wide):
            wide_rows = wide if rows is None else rows[wide]
            again = _decode(_windows(data, frame_start[wide_rows], _WIDE_WINDOW), caplen[wide_rows], linktype)
            if again and len(again["index"]):
                out.append((wide_rows, again))
    return out


def read_udp(path: str | os.PathLike[str]) -> UdpTable:
    """Read every UDP datagram of a pcap or pcapng file into a :class:`UdpTable`.

    A last record cut short (capture killed while writing) is skipped with a warning.

    Raises:
        CaptureError: the file cannot be read or is not a pcap/pcapng capture.

    Taught in notebook 05.
    """
    path = os.fspath(path)
    data, size = _map(path)
    if size < 4:
        raise CaptureError(f"capture file {path} is not a pcap or pcapng file (it has {size} bytes): "
                           "open a file written by tcpdump, dumpcap, Wireshark or voiplab")
    head = bytes(data[:4])
    magic_le = struct.unpack("<I", head)[0]
    magic_be = struct.unpack(">I", head)[0]
    if PCAP_MAGIC_US in (magic_le, magic_be) or PCAP_MAGIC_NS in (magic_le, magic_be):
        frames, builder, first_time, linktypes, truncated = _read_pcap(data, path)
    elif magic_le == PCAPNG_SHB:
        frames, builder, first_time, linktypes, truncated = _read_pcapng_udp(data, path)
    else:
        raise CaptureError(f"capture file {path} is not a pcap or pcapng file (it starts with 0x{head.hex()}): "
                           "open a file written by tcpdump, dumpcap, Wireshark or voiplab")
    if truncated:
        warnings.warn(f"capture file {path} ends with a record cut short: it was skipped, the statistics cover "
                      f"the {frames} complete packets", stacklevel=2)
    columns, addresses = builder.finish()
    return UdpTable(path=path, frames=frames, first_time_ns=first_time, columns=_Columns(columns, addresses),
                    data=data, linktypes=linktypes, truncated=truncated, ipv6_addresses=addresses)


# ------------------------------------------------------------------ pcap
def _read_pcap(data: np.ndarray, path: str) -> tuple[int, _Builder, int, tuple[int, ...], bool]:
    raw = memoryview(data)  # type: ignore[arg-type]  # numpy arrays export the buffer protocol
    if len(data) < PCAP_HEADER_LENGTH:
        raise CaptureError(f"capture file {path} is truncated inside its 24-byte pcap header: it is not usable; "
                           "capture again")
    magic_le = struct.unpack_from("<I", raw, 0)[0]
    order = "<" if magic_le in (PCAP_MAGIC_US, PCAP_MAGIC_NS) else ">"
    nanoseconds = struct.unpack_from(order + "I", raw, 0)[0] == PCAP_MAGIC_NS
    linktype = struct.unpack_from(order + "I", raw, 20)[0] & 0x0FFFFFFF
    parts, end = _scan(data, PCAP_HEADER_LENGTH, PCAP_RECORD_HEADER_LENGTH, 8, order, PCAP_RECORD_HEADER_LENGTH)
    truncated = end < len(data)
    total = sum(len(p) if isinstance(p, np.ndarray) else p[2] for p in parts)
    builder = _Builder(total)
    frame_starts = _part_starts(parts, PCAP_RECORD_HEADER_LENGTH)
    unit = 1 if nanoseconds else 1000
    buffer = None
    first_time = 0
    width = PCAP_RECORD_HEADER_LENGTH + _WINDOW
    for lo in range(0, total, _CHUNK):
        hi = min(lo + _CHUNK, total)
        window = _gather(data, parts, 0, width, lo, hi, out=buffer)
        buffer = window
        words = window[:, :PCAP_RECORD_HEADER_LENGTH].view(order + "u4")
        time_ns = words[:, 0].astype(np.int64) * 1_000_000_000
        time_ns += words[:, 1].astype(np.int64) * unit
        caplen = words[:, 2].astype(np.int64)
        if lo == 0:
            first_time = int(time_ns[0])
        decoded = _decode_chunk(data, window[:, PCAP_RECORD_HEADER_LENGTH:], frame_starts[lo:hi], caplen, linktype)
        builder.add(decoded, frame_starts[lo:hi], time_ns, lo)
    return total, builder, first_time, (linktype,), truncated


def _read_pcapng_udp(data: np.ndarray, path: str) -> tuple[int, _Builder, int, tuple[int, ...], bool]:
    parts, caplen, time_ns, link, truncated = _read_pcapng(data, path)
    starts = parts[0] if parts and isinstance(parts[0], np.ndarray) else np.zeros(0, np.int64)
    total = len(caplen)
    builder = _Builder(total)
    linktypes = (int(link[0]),) if total and np.all(link == link[0]) else tuple(int(k) for k in np.unique(link))
    single = linktypes[0] if len(linktypes) == 1 else None
    for lo in range(0, total, _CHUNK):
        hi = min(lo + _CHUNK, total)
        window = _windows(data, starts[lo:hi], _WINDOW)
        links = single if single is not None else link[lo:hi]
        decoded = _decode_chunk(data, window, starts[lo:hi], caplen[lo:hi], links)
        builder.add(decoded, starts[lo:hi], time_ns[lo:hi], lo)
    return total, builder, int(time_ns[0]) if total else 0, linktypes, truncated
