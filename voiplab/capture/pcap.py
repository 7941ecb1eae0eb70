"""The one reader of pcap and pcapng files: packet records, link layers, UDP as numpy columns.

Everything voiplab reads from a capture file goes through this module:

* **records**: the file format (pcap in both byte orders with µs or ns timestamps; pcapng
  with SHB/IDB/EPB/SPB and the obsolete PB, a link type per interface, ``if_tsresol`` and
  ``if_tsoffset``) is decoded once, into numpy columns (where each packet's bytes are,
  their length and time, their link type). :func:`read_packets` yields the frames one by
  one (for SIP, :func:`voiplab.capture.sipread.read_sip`); :func:`read_udp` decodes them
  column-wise (for RTP statistics).
* **link layers**: Ethernet (802.1Q/802.1ad/QinQ VLAN tags skipped), Linux cooked (SLL,
  SLL2), raw IP, BSD loopback (null/loop): :data:`LINK_LAYERS` says where the IP header
  starts; :func:`network_header` reads it for one frame, :func:`read_udp` for all at once.
  Where two readings were possible, the choice is tshark's (Wireshark 4.0).

Why numpy: scapy builds a Python object per packet (~50 µs each: a minute for a 1M-packet
capture). This reader never does: it maps the file, finds the record boundaries with
vectorised "stride jumps" (runs of records of equal size are verified in one numpy
operation; a short scalar loop takes over where sizes alternate), then copies the first
bytes of each packet (link, IP, UDP and RTP headers) chunk by chunk into a small buffer
that stays in the CPU cache, and decodes them column-wise. :func:`read_udp` gives one row
per UDP datagram (IPv4 or IPv6, IP fragments skipped) with the offset of its payload in
the mapped file and the fields of an RTP header; nothing else of the file is copied.

For per-packet teaching (``show()``, crafting) use scapy; for numbers use this.
Taught in notebook 05.
"""

from __future__ import annotations

import ipaddress
import mmap
import os
import struct
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from ..errors import CaptureError

__all__ = [
    "BSD_AF_INET",
    "BSD_AF_INET6",
    "ETHERTYPE_VLAN",
    "KEY_COLUMNS",
    "LINK_LAYERS",
    "LINKTYPE_DLT_RAW",
    "LINKTYPE_DLT_RAW_OPENBSD",
    "LINKTYPE_ETHERNET",
    "LINKTYPE_IPV4",
    "LINKTYPE_IPV6",
    "LINKTYPE_LINUX_SLL",
    "LINKTYPE_LINUX_SLL2",
    "LINKTYPE_LOOP",
    "LINKTYPE_NAMES",
    "LINKTYPE_NULL",
    "LINKTYPE_RAW",
    "MAX_VLAN_TAGS",
    "UDP_DTYPE",
    "V6_KEY_BASE",
    "Frame",
    "LinkLayer",
    "RawPacket",
    "UdpTable",
    "iter_frames",
    "network_header",
    "read_packets",
    "read_udp",
]

# ------------------------------------------------------------------ file formats
PCAP_MAGIC_US = 0xA1B2C3D4
PCAP_MAGIC_NS = 0xA1B23C4D
PCAP_HEADER_LENGTH = 24
PCAP_RECORD_HEADER_LENGTH = 16
PCAP_LINKTYPE_MASK = 0x0FFFFFFF  # the upper bits of the link-type field hold the FCS length
PCAPNG_SHB = 0x0A0D0D0A  # section header block
PCAPNG_IDB = 1  # interface description block
PCAPNG_PB = 2  # packet block (obsolete, still read by Wireshark)
PCAPNG_SPB = 3  # simple packet block
PCAPNG_EPB = 6  # enhanced packet block
PCAPNG_BYTE_ORDER_MAGIC = 0x1A2B3C4D
PCAPNG_MIN_BLOCK_LENGTH = 12  # type, length, ..., length
PCAPNG_PACKET_HEADER_LENGTH = 28  # EPB/PB: type, length, interface, time high/low, captured, original
PCAPNG_SPB_HEADER_LENGTH = 12  # type, length, original length
IDB_OPTION_END, IDB_OPTION_TSRESOL, IDB_OPTION_TSOFFSET = 0, 9, 14
DEFAULT_TSRESOL = 6  # pcapng timestamps count microseconds unless if_tsresol says otherwise
TSRESOL_BINARY = 0x80  # if_tsresol: set -> a power of 2, else a power of 10
MAX_RECORD_LENGTH = 1 << 28  # beyond this a "length" field is garbage, not a packet
NS_PER_SECOND = 1_000_000_000

# ------------------------------------------------------------------ link layers
LINKTYPE_NULL, LINKTYPE_ETHERNET, LINKTYPE_RAW, LINKTYPE_LOOP = 0, 1, 101, 108
LINKTYPE_LINUX_SLL, LINKTYPE_IPV4, LINKTYPE_IPV6, LINKTYPE_LINUX_SLL2 = 113, 228, 229, 276
#: DLT_RAW as old libpcaps wrote it into files: 12 on most systems, 14 on OpenBSD (tshark reads both as raw IP)
LINKTYPE_DLT_RAW, LINKTYPE_DLT_RAW_OPENBSD = 12, 14
ETHERTYPE_IPV4, ETHERTYPE_IPV6 = 0x0800, 0x86DD
#: 802.1Q, 802.1ad and the old QinQ tag (tshark's ``vlan.qinq_ethertype`` default): 4 bytes, then an EtherType
ETHERTYPE_VLAN = (0x8100, 0x88A8, 0x9100)
VLAN_TAG_LENGTH = 4
#: VLAN tags skipped before giving up on a frame (tshark has no limit; networks use one or two)
MAX_VLAN_TAGS = 8
IP_VERSION_OF_ETHERTYPE = {ETHERTYPE_IPV4: 4, ETHERTYPE_IPV6: 6}
#: BSD loopback address families that carry IP, as tshark 4.0 reads them (AF_INET6 differs
#: between the BSDs; Linux's 10 and Windows' 23 are not IPv6 there)
BSD_AF_INET = 2
BSD_AF_INET6 = frozenset({24, 28, 30})  # OpenBSD/NetBSD, FreeBSD, Darwin
IPV4_VERSION_IHL5 = 0x45  # the first byte of an IPv4 header without options


@dataclass(frozen=True, slots=True)
class LinkLayer:
    """What comes before the IP header on one link type, and how it says IPv4 or IPv6.

    Attributes:
        name: the link type as people call it (``"Ethernet"``).
        header_length: bytes before the network header (for Ethernet: before any VLAN tag).
        ethertype_at: offset of the 2-byte EtherType naming the network protocol, or
            ``None`` (BSD loopback, raw IP).
        vlan_tags: 802.1Q/802.1ad tags (4 bytes each) may follow the header (Ethernet).
        family: BSD loopback: a 4-byte address family names the protocol, written in the
            capturing machine's byte order (``"either"``, guessed as tshark does) or in
            network order (``"big"``). ``None`` with no ``ethertype_at``: raw IP, the version
            is the first nibble of the packet.

    Taught in notebook 01 (the protocol stack).
    """

    name: str
    header_length: int
    ethertype_at: int | None = None
    vlan_tags: bool = False
    family: Literal["either", "big"] | None = None

    @property
    def ipv4_signature(self) -> tuple[int, int, bytes, int]:
        """(start, end, bytes, IP offset): frames with these bytes at start:end carry IPv4 at
        the IP offset (a fast test for the usual frame; others go through :func:`network_header`)."""
        if self.ethertype_at is not None:
            return self.ethertype_at, self.ethertype_at + 2, ETHERTYPE_IPV4.to_bytes(2, "big"), self.header_length
        if self.family is not None:
            order: Literal["little", "big"] = "big" if self.family == "big" else "little"
            return 0, 4, BSD_AF_INET.to_bytes(4, order), self.header_length
        return 0, 1, bytes([IPV4_VERSION_IHL5]), 0


_RAW_IP = LinkLayer("raw IP", 0)
#: Link type -> where its IP header is. Frames of other link types are counted, not decoded.
LINK_LAYERS: dict[int, LinkLayer] = {
    LINKTYPE_ETHERNET: LinkLayer("Ethernet", 14, ethertype_at=12, vlan_tags=True),
    LINKTYPE_LINUX_SLL: LinkLayer("Linux cooked (SLL)", 16, ethertype_at=14),
    LINKTYPE_LINUX_SLL2: LinkLayer("Linux cooked v2 (SLL2)", 20, ethertype_at=0),
    LINKTYPE_NULL: LinkLayer("BSD loopback", 4, family="either"),
    LINKTYPE_LOOP: LinkLayer("OpenBSD loopback", 4, family="big"),
    LINKTYPE_RAW: _RAW_IP,
    LINKTYPE_DLT_RAW: _RAW_IP,
    LINKTYPE_DLT_RAW_OPENBSD: _RAW_IP,
    LINKTYPE_IPV4: LinkLayer("raw IPv4", 0),
    LINKTYPE_IPV6: LinkLayer("raw IPv6", 0),
}
LINKTYPE_NAMES = {linktype: layer.name for linktype, layer in LINK_LAYERS.items()}


def _bsd_family(b0: int, b1: int, b2: int, b3: int, layer: LinkLayer) -> int:
    """The address family of a BSD loopback header (host order guessed like tshark: the
    low 16 bits are non-zero in one order only, for the small families used)."""
    if layer.family == "either" and (b0 | b1):
        return b0 | (b1 << 8)
    return (b2 << 8) | b3


def network_header(linktype: int, frame: bytes) -> tuple[int, int] | None:
    """Where a frame's IP header is: ``(IP version, offset)``, or ``None`` if it carries no IP.

    The IP header's own version nibble must agree with what the link layer says.

    Taught in notebook 01 (the protocol stack).
    """
    layer = LINK_LAYERS.get(linktype)
    if layer is None:
        return None
    offset = layer.header_length
    version: int | None
    if layer.ethertype_at is not None:
        at = layer.ethertype_at
        ethertype = (frame[at] << 8 | frame[at + 1]) if len(frame) >= at + 2 else 0
        if layer.vlan_tags:
            for _ in range(MAX_VLAN_TAGS):
                if ethertype not in ETHERTYPE_VLAN or len(frame) < offset + VLAN_TAG_LENGTH:
                    break
                ethertype = frame[offset + 2] << 8 | frame[offset + 3]
                offset += VLAN_TAG_LENGTH
        version = IP_VERSION_OF_ETHERTYPE.get(ethertype)
    elif layer.family is not None:
        if len(frame) < offset:
            return None
        family = _bsd_family(frame[0], frame[1], frame[2], frame[3], layer)
        version = 4 if family == BSD_AF_INET else 6 if family in BSD_AF_INET6 else None
    else:
        version = frame[0] >> 4 if frame else None
    if version is None or version not in (4, 6) or len(frame) <= offset or frame[offset] >> 4 != version:
        return None
    return version, offset


def _network_columns(w: np.ndarray, layer: LinkLayer) -> tuple[np.ndarray | int, np.ndarray]:
    """:func:`network_header` for many frames at once (``w``: the first bytes of each frame):
    the IP header offsets (an int when common to all) and the IP versions (0: not IP)."""
    l3: np.ndarray | int = layer.header_length
    if layer.ethertype_at is not None:
        at = layer.ethertype_at
        ethertype = _be(w[:, at:at + 2])
        if layer.vlan_tags:
            l3_rows = np.full(len(w), layer.header_length, dtype=np.int64)
            for _ in range(MAX_VLAN_TAGS):
                tagged = ethertype == ETHERTYPE_VLAN[0]
                for other in ETHERTYPE_VLAN[1:]:
                    tagged |= ethertype == other
                if not tagged.any():
                    break
                l3_rows = np.where(tagged, l3_rows + VLAN_TAG_LENGTH, l3_rows)
                ethertype = np.where(tagged, _be(_cols(w, l3_rows - 2, 2)), ethertype)
            l3 = _common(l3_rows)
        version = np.where(ethertype == ETHERTYPE_IPV4, 4, np.where(ethertype == ETHERTYPE_IPV6, 6, 0))
    elif layer.family is not None:
        low = w[:, 0].astype(np.int64) | (w[:, 1].astype(np.int64) << 8)
        high = (w[:, 2].astype(np.int64) << 8) | w[:, 3]
        family = np.where(low != 0, low, high) if layer.family == "either" else high
        inet6 = np.zeros(len(w), dtype=bool)
        for value in BSD_AF_INET6:
            inet6 |= family == value
        version = np.where(family == BSD_AF_INET, 4, np.where(inet6, 6, 0))
    else:
        version = (w[:, 0] >> 4).astype(np.int64)
    ip_version = _cols(w, l3, 1)[:, 0] >> 4
    return l3, np.where(ip_version == version, version, 0)


# ------------------------------------------------------------------ the file and its records
def _map(path: str) -> tuple[np.ndarray, mmap.mmap | bytes]:
    """The file as a uint8 array, and the object to slice frames from (the mapping itself)."""
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as f:
            if size == 0:
                return np.zeros(0, np.uint8), b""
            mapped = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    except OSError as exc:
        raise CaptureError(f"capture file {path!r} cannot be read ({exc.strerror}): check the path and "
                           "permissions") from exc
    return np.frombuffer(mapped, dtype=np.uint8), mapped


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


def _gather(data: np.ndarray, parts: list[Part], offset: int, width: int, lo: int = 0,
            hi: int | None = None, out: np.ndarray | None = None) -> np.ndarray:
    """Bytes ``offset .. offset+width`` of records lo..hi: strided copies for runs, gathers for lists."""
    total = sum(_part_length(p) for p in parts)
    hi = total if hi is None else hi
    if out is None or len(out) < hi - lo:
        out = np.empty((hi - lo, width), dtype=np.uint8)
    out = out[:hi - lo]
    first = 0
    size = len(data)
    for p in parts:
        count = _part_length(p)
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


@dataclass(frozen=True)
class _Chunk:
    """Packets lo..hi of a capture: where their bytes are, how many, when, on which link.

    ``window`` holds the first bytes of each packet (``width`` asked for, zero-padded);
    ``seconds`` the times as the float of :attr:`RawPacket.time` (when asked for);
    ``buffer`` the array to pass as ``out`` for the next chunk (``None``: nothing to reuse).
    """

    start: np.ndarray
    caplen: np.ndarray
    time_ns: np.ndarray
    seconds: np.ndarray | None
    link: np.ndarray | int
    window: np.ndarray
    buffer: np.ndarray | None = None


@dataclass(frozen=True)
class _Records:
    """Where the packets of a capture file are: one row per packet, decoded chunk by chunk.

    Attributes:
        path: the file.
        data: the file's bytes (uint8 over the mapping).
        buffer: the same bytes, to slice frames from as ``bytes``.
        parts: the offsets of the packets' bytes, as runs or arrays (for strided gathers).
        start: the offset of each packet's bytes.
        linktypes: the distinct link types.
        problem: why reading stopped before the end of the file ("" if it did not).
    """

    path: str
    data: np.ndarray
    buffer: mmap.mmap | bytes
    parts: list[Part]
    start: np.ndarray
    linktypes: tuple[int, ...]
    problem: str

    def __len__(self) -> int:
        return len(self.start)

    def chunk(self, lo: int, hi: int, width: int, *, seconds: bool = False,
              out: np.ndarray | None = None) -> _Chunk:
        """Packets lo..hi with the first ``width`` bytes of each (``out``: a buffer to reuse)."""
        raise NotImplementedError

    def warn(self) -> None:
        """Warn that the file was read only in part, if it was (tshark reads up to the same place)."""
        if self.problem:
            count = len(self)
            read = f"packets 1 to {count} were read" if count > 1 else (
                "packet 1 was read" if count else "no packet was read")
            warnings.warn(f"capture file {self.path!r} {self.problem}; {read}", stacklevel=3)


@dataclass(frozen=True)
class _PcapRecords(_Records):
    """The records of a pcap file: each record header is decoded with the packet's first bytes
    (one pass over the file)."""

    order: str
    nanoseconds: bool
    linktype: int

    def chunk(self, lo: int, hi: int, width: int, *, seconds: bool = False,
              out: np.ndarray | None = None) -> _Chunk:
        block = _gather(self.data, self.parts, -PCAP_RECORD_HEADER_LENGTH, PCAP_RECORD_HEADER_LENGTH + width,
                        lo, hi, out=out)
        words = block[:, :PCAP_RECORD_HEADER_LENGTH].view(self.order + "u4")
        whole, fraction = words[:, 0].astype(np.int64), words[:, 1].astype(np.int64)
        time_ns = whole * NS_PER_SECOND
        time_ns += fraction * (1 if self.nanoseconds else 1000)
        float_seconds = None
        if seconds:  # the float of seconds + fraction * unit, exactly as Python computes it
            unit = 1e-9 if self.nanoseconds else 1e-6
            float_seconds = whole.astype(np.float64) + fraction.astype(np.float64) * unit
        return _Chunk(self.start[lo:hi], words[:, 2].astype(np.int64), time_ns, float_seconds, self.linktype,
                      block[:, PCAP_RECORD_HEADER_LENGTH:], out if out is not None and len(out) >= hi - lo else block)


@dataclass(frozen=True)
class _PcapngRecords(_Records):
    """The records of a pcapng file: lengths, times and link types decoded for all packets at once
    (they depend on the interface of each packet)."""

    caplen: np.ndarray
    time_ns: np.ndarray
    seconds: np.ndarray | None
    link: np.ndarray | int

    def chunk(self, lo: int, hi: int, width: int, *, seconds: bool = False,
              out: np.ndarray | None = None) -> _Chunk:
        start = self.start[lo:hi]
        link = self.link if isinstance(self.link, int) else self.link[lo:hi]
        return _Chunk(start, self.caplen[lo:hi], self.time_ns[lo:hi],
                      self.seconds[lo:hi] if seconds and self.seconds is not None else None, link,
                      _windows(self.data, start, width))


TRUNCATED = "ends with a record cut short: it was skipped"


def _records(path: str | os.PathLike[str], *, seconds: bool = False) -> _Records:
    """Find every packet of a pcap/pcapng file (``seconds``: float times will be asked for).

    Raises:
        CaptureError: the file cannot be read or is not a pcap/pcapng capture.
    """
    path = os.fspath(path)
    data, buffer = _map(path)
    size = len(data)
    if size < 4:
        raise CaptureError(f"capture file {path!r} is not a pcap or pcapng file (it has {size} bytes): "
                           "open a file written by tcpdump, dumpcap, Wireshark or voiplab")
    head = bytes(data[:4])
    magic_le = struct.unpack("<I", head)[0]
    magic_be = struct.unpack(">I", head)[0]
    if PCAP_MAGIC_US in (magic_le, magic_be) or PCAP_MAGIC_NS in (magic_le, magic_be):
        return _pcap_records(path, data, buffer)
    if magic_le == PCAPNG_SHB:
        return _pcapng_records(path, data, buffer, seconds)
    raise CaptureError(f"capture file {path!r} is not a pcap or pcapng file (it starts with 0x{head.hex()}): "
                       "open a file written by tcpdump, dumpcap, Wireshark or voiplab")


def _pcap_records(path: str, data: np.ndarray, buffer: mmap.mmap | bytes) -> _PcapRecords:
    raw = memoryview(data)  # type: ignore[arg-type]  # numpy arrays export the buffer protocol
    if len(data) < PCAP_HEADER_LENGTH:
        raise CaptureError(f"capture file {path!r} is truncated inside its 24-byte pcap header: it is not usable; "
                           "capture again")
    order = "<" if struct.unpack_from("<I", raw, 0)[0] in (PCAP_MAGIC_US, PCAP_MAGIC_NS) else ">"
    nanoseconds = struct.unpack_from(order + "I", raw, 0)[0] == PCAP_MAGIC_NS
    linktype = struct.unpack_from(order + "I", raw, 20)[0] & PCAP_LINKTYPE_MASK
    records, end = _scan(data, PCAP_HEADER_LENGTH, PCAP_RECORD_HEADER_LENGTH, 8, order, PCAP_RECORD_HEADER_LENGTH)
    parts: list[Part] = [p + PCAP_RECORD_HEADER_LENGTH if isinstance(p, np.ndarray)
                         else (p[0] + PCAP_RECORD_HEADER_LENGTH, p[1], p[2]) for p in records]
    return _PcapRecords(path, data, buffer, parts, _part_starts(parts), (linktype,),
                        TRUNCATED if end < len(data) else "", order, nanoseconds, linktype)


def _idb_options(raw: memoryview, pos: int, end: int, order: str) -> tuple[int, int]:
    """(if_tsresol, if_tsoffset seconds) from the options of an IDB."""
    resolution, offset = DEFAULT_TSRESOL, 0
    while pos + 4 <= end:
        code, length = struct.unpack_from(order + "HH", raw, pos)
        if code == IDB_OPTION_END:
            break
        if code == IDB_OPTION_TSRESOL and length >= 1:
            resolution = raw[pos + 4]
        elif code == IDB_OPTION_TSOFFSET and length >= 8:
            offset = struct.unpack_from(order + "q", raw, pos + 4)[0]
        pos += 4 + length + (-length % 4)
    return resolution, offset


def _ticks_to_ns(ticks: np.ndarray, resolution: int, offset: int) -> np.ndarray:
    if resolution & TSRESOL_BINARY:
        shift = resolution & 0x7F
        whole = ticks >> shift
        fraction = ticks & ((1 << shift) - 1)
        ns = whole * NS_PER_SECOND + (fraction * NS_PER_SECOND >> shift)
    elif resolution <= 9:
        ns = ticks * 10 ** (9 - resolution)
    else:
        ns = ticks // 10 ** (resolution - 9)
    return ns + offset * NS_PER_SECOND


def _ticks_to_seconds(ticks: np.ndarray, resolution: int, offset: int) -> np.ndarray:
    """The float of ticks * unit (+ offset), exactly as Python computes it."""
    unit = 2.0 ** -(resolution & 0x7F) if resolution & TSRESOL_BINARY else 10.0 ** -resolution
    seconds = ticks.astype(np.float64) * unit
    return seconds + offset if offset else seconds


#: A run of packet blocks of one kind: (block type, the interfaces then defined, block starts, byte order)
_Blocks = tuple[int, list[tuple[int, int, int]], np.ndarray, str]


def _pcapng_records(path: str, data: np.ndarray, buffer: mmap.mmap | bytes, seconds: bool) -> _PcapngRecords:
    raw = memoryview(data)  # type: ignore[arg-type]  # numpy arrays export the buffer protocol
    size = len(data)
    pos = 0
    order = "<"
    interfaces: list[tuple[int, int, int]] = []  # (linktype, tsresol, tsoffset) of the current section
    problem = ""
    blocks: list[_Blocks] = []
    while pos < size:
        if pos + PCAPNG_MIN_BLOCK_LENGTH > size:
            problem = TRUNCATED
            break
        block_type = struct.unpack_from(order + "I", raw, pos)[0]
        if block_type == PCAPNG_SHB:  # a new section: its own byte order and interfaces
            bom = struct.unpack_from("<I", raw, pos + 8)[0]
            order = "<" if bom == PCAPNG_BYTE_ORDER_MAGIC else ">"
            interfaces = []
        length = struct.unpack_from(order + "I", raw, pos + 4)[0]
        if length < PCAPNG_MIN_BLOCK_LENGTH or length % 4 or pos + length > size:
            problem = TRUNCATED
            break
        if block_type in (PCAPNG_EPB, PCAPNG_PB):
            runs, end = _scan(data, pos, PCAPNG_PACKET_HEADER_LENGTH, 4, order, 0, kind_at=0, kind=block_type)
            if runs:
                blocks.append((block_type, list(interfaces), _part_starts(runs), order))
            pos = end if end > pos else pos + length  # a block too short for its header is skipped
            continue
        if block_type == PCAPNG_IDB:
            linktype = struct.unpack_from(order + "H", raw, pos + 8)[0]
            resolution, offset = _idb_options(raw, pos + 16, pos + length - 4, order)
            interfaces.append((linktype, resolution, offset))
        elif block_type == PCAPNG_SPB:
            blocks.append((block_type, list(interfaces), np.array([pos], dtype=np.int64), order))
        pos += length
    starts, caplens, times, floats, links = [], [], [], [], []
    for block_type, known, at, block_order in blocks:
        if block_type == PCAPNG_SPB:  # no timestamp (tshark shows 0), captured length from the block
            length, original = struct.unpack_from(block_order + "II", raw, int(at[0]) + 4)
            starts.append(at + PCAPNG_SPB_HEADER_LENGTH)
            caplens.append(np.array([min(original, length - PCAPNG_SPB_HEADER_LENGTH - 4)], dtype=np.int64))
            times.append(np.zeros(1, dtype=np.int64))
            floats.append(np.zeros(1, dtype=np.float64))
            links.append(np.array([known[0][0] if known else LINKTYPE_ETHERNET], dtype=np.int64))
            continue
        head = _windows(data, at, PCAPNG_PACKET_HEADER_LENGTH).view(block_order + "u4").reshape(-1, 7)
        head = head.astype(np.int64)
        interface = head[:, 2]
        if block_type == PCAPNG_PB:  # a 16-bit interface id, then a 16-bit drop count
            interface = interface & 0xFFFF if block_order == "<" else interface >> 16
        ticks = (head[:, 3] << 32) | head[:, 4]
        time_ns = np.zeros(len(at), dtype=np.int64)
        float_seconds = np.zeros(len(at), dtype=np.float64)
        link = np.full(len(at), -1, dtype=np.int64)
        for k, (linktype, resolution, offset) in enumerate(known):
            mine = interface == k
            if mine.any():
                time_ns[mine] = _ticks_to_ns(ticks[mine], resolution, offset)
                if seconds:
                    float_seconds[mine] = _ticks_to_seconds(ticks[mine], resolution, offset)
                link[mine] = linktype
        unknown = np.flatnonzero(link < 0)
        keep = int(unknown[0]) if len(unknown) else len(at)
        starts.append(at[:keep] + PCAPNG_PACKET_HEADER_LENGTH)
        caplens.append(np.minimum(head[:keep, 5], head[:keep, 1] - PCAPNG_PACKET_HEADER_LENGTH - 4))
        times.append(time_ns[:keep])
        floats.append(float_seconds[:keep])
        links.append(link[:keep])
        if len(unknown):  # tshark stops there too ("interface index ... is not less than ... count")
            problem = (f"is corrupt at packet {sum(map(len, starts)) + 1}: it names interface "
                       f"{int(interface[keep])}, which no interface description block (IDB) declares "
                       "(re-save it with Wireshark)")
            break
    start = np.concatenate(starts) if starts else np.zeros(0, dtype=np.int64)
    link_all = np.concatenate(links) if links else np.zeros(0, dtype=np.int64)
    linktypes = tuple(dict.fromkeys(link_all.tolist()))
    return _PcapngRecords(
        path, data, buffer, [start], start, linktypes, problem,
        np.concatenate(caplens) if caplens else np.zeros(0, dtype=np.int64),
        np.concatenate(times) if times else np.zeros(0, dtype=np.int64),
        (np.concatenate(floats) if floats else np.zeros(0)) if seconds else None,
        linktypes[0] if len(linktypes) == 1 else link_all,
    )


# ------------------------------------------------------------------ frames, one by one
@dataclass(frozen=True)
class RawPacket:
    """One frame of a capture file: number (1-based), time (s since the epoch), link type and bytes.

    Taught in notebook 01 (the protocol stack: the bytes of a frame).
    """

    frame: int
    time: float
    linktype: int
    data: bytes


#: (frame number, time, link type, frame bytes): a :class:`RawPacket` without the object
Frame = tuple[int, float, int, bytes]
_FRAMES_PER_STEP = 1 << 14


def iter_frames(path: str | os.PathLike[str]) -> Iterator[Frame]:
    """Every frame of a pcap or pcapng file, in file order, as :data:`Frame` tuples.

    A last record cut short (capture killed while writing), or a pcapng packet naming an
    undeclared interface, ends the reading with a warning, as it ends tshark's.

    Raises:
        CaptureError: the file cannot be read or is not a pcap/pcapng capture.
    """
    records = _records(path, seconds=True)
    buffer = records.buffer
    for lo in range(0, len(records), _FRAMES_PER_STEP):
        hi = min(lo + _FRAMES_PER_STEP, len(records))
        chunk = records.chunk(lo, hi, 0, seconds=True)
        assert chunk.seconds is not None
        links = [chunk.link] * (hi - lo) if isinstance(chunk.link, int) else chunk.link.tolist()
        frames = zip(range(lo + 1, hi + 1), chunk.seconds.tolist(), links, chunk.start.tolist(),
                     (chunk.start + chunk.caplen).tolist(), strict=True)
        for frame, when, linktype, start, end in frames:
            yield frame, when, linktype, buffer[start:end]
    records.warn()


def read_packets(path: str | os.PathLike[str]) -> Iterator[RawPacket]:
    """Yield every frame of a pcap or pcapng file as a :class:`RawPacket` (see :func:`iter_frames`).

    Raises:
        CaptureError: the file cannot be read or is not a pcap/pcapng capture.

    Taught in notebook 01.
    """
    for frame in iter_frames(path):
        yield RawPacket(*frame)


# ------------------------------------------------------------------ UDP datagrams as columns
IPPROTO_UDP = 17
IPV6_EXTENSION_HEADERS = (0, 43, 60)  # hop-by-hop, routing, destination options (44 = fragment)
IPV6_HEADER_LENGTH = 40
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
        truncated: reading stopped before the end of the file (a last record cut short).
        ipv6_addresses: the distinct IPv6 addresses (16 bytes each) the address keys refer to.

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
        return bytes(self.data[start:start + int(self.columns["payload_length"][i])])

    def __repr__(self) -> str:
        kinds = ", ".join(LINKTYPE_NAMES.get(k, str(k)) for k in self.linktypes)
        return f"UdpTable({os.path.basename(self.path)!r}: {self.frames} frames, {len(self)} UDP datagrams, {kinds})"


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
    udp = (v4 & ~fragment & (ihl >= 20) & (proto == IPPROTO_UDP)) | (v6 & (proto == IPPROTO_UDP))
    extension_header = proto == IPV6_EXTENSION_HEADERS[0]
    for value in IPV6_EXTENSION_HEADERS[1:]:
        extension_header |= proto == value
    extension = np.flatnonzero(v6 & extension_header)
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
    records = _records(path)
    total = len(records)
    data = records.data
    builder = _Builder(total)
    buffer = None
    first_time_ns = 0
    for lo in range(0, total, _CHUNK):
        hi = min(lo + _CHUNK, total)
        chunk = records.chunk(lo, hi, _WINDOW, out=buffer)
        buffer = chunk.buffer
        if lo == 0:
            first_time_ns = int(chunk.time_ns[0])
        decoded = _decode_chunk(data, chunk.window, chunk.start, chunk.caplen, chunk.link)
        builder.add(decoded, chunk.start, chunk.time_ns, lo)
    records.warn()
    columns, addresses = builder.finish()
    return UdpTable(path=records.path, frames=total, first_time_ns=first_time_ns,
                    columns=_Columns(columns, addresses), data=data, linktypes=records.linktypes,
                    truncated=bool(records.problem), ipv6_addresses=addresses)
