"""The pcap and pcapng file formats, link layers and tunnels, and the frames of a file one by one.

The public door is :mod:`voiplab.capture.pcap` (this module and :func:`~voiplab.capture.udp.read_udp`
together); this module is pure Python, so that reading frames one by one never loads numpy.

Everything voiplab reads from a capture file goes through this module:

* **the file formats**: pcap in both byte orders with µs or ns timestamps; pcapng with
  SHB/IDB/EPB/SPB and the obsolete PB, a link type per interface, ``if_tsresol`` and
  ``if_tsoffset``. :func:`open_capture` checks the file (a regular file, a known magic) and
  :func:`iter_frames` walks its records in pure Python, reading the file in bounded chunks
  (no numpy: ``voiplab flow`` starts without it). :func:`voiplab.capture.udp.read_udp` finds
  the same records with numpy for bulk work (RTP statistics), with the rules of this module
  (:func:`pcap_header`, :func:`check_block`, :func:`interface_description`).
* **link layers**: Ethernet (802.1Q/802.1ad/QinQ VLAN tags skipped, PPPoE sessions opened),
  Linux cooked (SLL, SLL2), raw IP, BSD loopback (null/loop): :data:`LINK_LAYERS` says where
  the IP header starts; :func:`network_header` reads it for one frame.
* **tunnels**: GRE and IP-in-IP (IPv4 or IPv6 inside IPv4 or IPv6): :func:`tunnel_inner`
  says where the inner packet starts (ERSPAN types I-III over GRE too); GTP-U (port 2152), VXLAN
  (4789) and Geneve (6081) over UDP: :func:`udp_tunnel_inner`.
* **IP as a receiver sees it**: :class:`IpReader` joins IPv4 and IPv6 fragments and opens
  tunnels, frame after frame (the SIP reader and the bulk reader's fragments both use it).

Where two readings were possible, the choice is tshark's (Wireshark 4.0). Every length read
from the file is checked against its container before it is used: a record or block that
does not fit ends the reading with a warning (as it ends tshark's), a reader's position
always advances, and memory stays bounded whatever the file holds.

For per-packet teaching (``show()``, crafting) use scapy; for numbers use
:mod:`voiplab.capture.udp`. Taught in notebook 01 (the protocol stack) and 05.
"""

from __future__ import annotations

import ipaddress
import os
import stat
import struct
import warnings
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from typing import BinaryIO, Literal

from ..errors import CaptureError

__all__ = [
    "BSD_AF_INET",
    "BSD_AF_INET6",
    "ETHERTYPE_PPPOE_SESSION",
    "ETHERTYPE_VLAN",
    "GRE_PROTOCOLS",
    "IPPROTO_GRE",
    "IPPROTO_IPIP",
    "IPPROTO_IPV6",
    "IPPROTO_TCP",
    "IPPROTO_UDP",
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
    "CaptureFile",
    "Frame",
    "Interface",
    "IpReader",
    "LinkLayer",
    "RawPacket",
    "Segment",
    "address_text",
    "iter_frames",
    "network_header",
    "open_capture",
    "read_packets",
    "tunnel_inner",
    "udp_tunnel_inner",
]

# ------------------------------------------------------------------ file formats
PCAP_MAGIC_US = 0xA1B2C3D4
PCAP_MAGIC_NS = 0xA1B23C4D
PCAP_HEADER_LENGTH = 24
PCAP_RECORD_HEADER_LENGTH = 16
PCAP_LINKTYPE_MASK = 0x0FFFFFFF  # the upper bits of the link-type field hold the FCS length
#: tshark refuses a pcap record longer than this (WTAP_MAX_PACKET_SIZE_STANDARD): the file is corrupt there
PCAP_MAX_RECORD_LENGTH = 262144
PCAPNG_SHB = 0x0A0D0D0A  # section header block
PCAPNG_IDB = 1  # interface description block
PCAPNG_PB = 2  # packet block (obsolete, still read by Wireshark)
PCAPNG_SPB = 3  # simple packet block
PCAPNG_EPB = 6  # enhanced packet block
PCAPNG_BYTE_ORDER_MAGIC = 0x1A2B3C4D
PCAPNG_MIN_BLOCK_LENGTH = 12  # type, length, ..., length
PCAPNG_SHB_MIN_LENGTH = 28  # type, length, byte-order magic, version, section length, length
PCAPNG_IDB_MIN_LENGTH = 20  # type, length, link type, reserved, snaplen, length
PCAPNG_PACKET_HEADER_LENGTH = 28  # EPB/PB: type, length, interface, time high/low, captured, original
PCAPNG_SPB_HEADER_LENGTH = 12  # type, length, original length
PCAPNG_TRAILER_LENGTH = 4  # the block length, repeated
#: beyond this a pcapng block length is garbage, not a block (bounds the memory one block takes)
PCAPNG_MAX_BLOCK_LENGTH = 16 * 1024 * 1024
IDB_OPTION_END, IDB_OPTION_TSRESOL, IDB_OPTION_TSOFFSET = 0, 9, 14
DEFAULT_TSRESOL = 6  # pcapng timestamps count microseconds unless if_tsresol says otherwise
TSRESOL_BINARY = 0x80  # if_tsresol: set -> a power of 2, else a power of 10
#: the finest clocks tshark accepts (if_tsresol): 10^-19 s (the range of a 64-bit count) and 2^-63 s
MAX_TSRESOL_DECIMAL, MAX_TSRESOL_BINARY = 19, 63
#: if_tsoffset (seconds) beyond which times in ns no longer fit 64 bits (about 292 years)
MAX_TSOFFSET = (1 << 63) // 1_000_000_000 - 1
NS_PER_SECOND = 1_000_000_000
#: bytes read from the file at a time by :func:`iter_frames`
READ_CHUNK = 1 << 20

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
#: PPPoE session stage (RFC 2516): 6 bytes (version/type, code, session, length), then a 2-byte PPP protocol
ETHERTYPE_PPPOE_SESSION = 0x8864
PPPOE_HEADER_LENGTH = 8  # PPPoE header + the PPP protocol field
PPP_IPV4, PPP_IPV6 = 0x0021, 0x0057
IP_VERSION_OF_ETHERTYPE = {ETHERTYPE_IPV4: 4, ETHERTYPE_IPV6: 6}
IP_VERSION_OF_PPP = {PPP_IPV4: 4, PPP_IPV6: 6}
#: BSD loopback address families that carry IP, as tshark 4.0 reads them (AF_INET6 differs
#: between the BSDs; Linux's 10 and Windows' 23 are not IPv6 there)
BSD_AF_INET = 2
BSD_AF_INET6 = frozenset({24, 28, 30})  # OpenBSD/NetBSD, FreeBSD, Darwin
IPV4_VERSION_IHL5 = 0x45  # the first byte of an IPv4 header without options

# ------------------------------------------------------------------ IP and tunnels
IPPROTO_IPIP, IPPROTO_TCP, IPPROTO_UDP, IPPROTO_IPV6, IPPROTO_GRE = 4, 6, 17, 41, 47
IPV6_FRAGMENT = 44
IPV6_EXTENSION_HEADERS = (0, 43, 60)  # hop-by-hop, routing, destination options (44 = fragment)
IPV6_HEADER_LENGTH = 40
IPV4_MIN_HEADER_LENGTH = 20
UDP_HEADER_LENGTH = 8
#: GRE (RFC 2784/2890): flags C (checksum + reserved), K (key), S (sequence) each add 4 bytes
GRE_HEADER_LENGTH = 4
GRE_CHECKSUM, GRE_KEY, GRE_SEQUENCE, GRE_VERSION_MASK = 0x8000, 0x2000, 0x1000, 0x0007
ETHERTYPE_TRANSPARENT_BRIDGING = 0x6558  # GRE carrying Ethernet frames
#: GRE protocol type -> what follows: an IP version, or 0 for an Ethernet frame
GRE_PROTOCOLS = {ETHERTYPE_IPV4: 4, ETHERTYPE_IPV6: 6, ETHERTYPE_TRANSPARENT_BRIDGING: 0}
#: tunnels opened one inside another at most this deep (a loop of tunnels in a crafted file ends there)
MAX_TUNNEL_DEPTH = 4
#: ERSPAN (port mirroring over GRE): type I has no header (GRE without a sequence number), type II
#: an 8-byte header (version 1), type III 12 bytes (version 2) and 8 more with its O flag; then Ethernet
ETHERTYPE_ERSPAN_2, ETHERTYPE_ERSPAN_3 = 0x88BE, 0x22EB
ERSPAN_II_HEADER_LENGTH, ERSPAN_III_HEADER_LENGTH, ERSPAN_PLATFORM_LENGTH = 8, 12, 8
ERSPAN_II_VERSION, ERSPAN_III_VERSION = 1, 2
#: UDP tunnels, known by their port as tshark knows them (the lower port of a datagram first):
#: GTP-U (3GPP TS 29.281, mobile networks' user plane) carries IP packets, VXLAN (RFC 7348) Ethernet
#: frames, Geneve (RFC 8926) what its protocol type says (:data:`GRE_PROTOCOLS`) after its options
GTP_U_PORT, VXLAN_PORT, GENEVE_PORT = 2152, 4789, 6081
UDP_TUNNEL_PORTS = (GTP_U_PORT, VXLAN_PORT, GENEVE_PORT)
VXLAN_HEADER_LENGTH = GENEVE_HEADER_LENGTH = 8
#: GTP-U: flags (version 1 in the top 3 bits, protocol type GTP), message type, length, TEID; the
#: flags E, S and PN add 4 bytes (sequence, N-PDU number, next extension header type)
GTP_HEADER_LENGTH, GTP_OPTIONAL_LENGTH = 8, 4
GTP_VERSION_1, GTP_PROTOCOL_TYPE, GTP_OPTIONAL_FLAGS, GTP_EXTENSION_FLAG = 1, 0x10, 0x07, 0x04
GTP_G_PDU = 0xFF  # the message that carries a user packet (T-PDU)
#: GTP-U extension headers walked at most (a longer chain is not opened)
MAX_GTP_EXTENSIONS = 16
#: the first byte of a T-PDU tshark takes for IPv4 (version 4, header length 5 to 14 words)
GTP_IPV4_FIRST_BYTES = range(0x45, 0x4F)


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

    VLAN tags are skipped and a PPPoE session header is opened (its PPP protocol says IPv4 or
    IPv6). The IP header's own version nibble must agree with what the link layer says.

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
        if ethertype == ETHERTYPE_PPPOE_SESSION:
            if len(frame) < offset + PPPOE_HEADER_LENGTH:
                return None
            version = IP_VERSION_OF_PPP.get(frame[offset + 6] << 8 | frame[offset + 7])
            offset += PPPOE_HEADER_LENGTH
        else:
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


def tunnel_inner(protocol: int, payload: bytes) -> tuple[int, int] | None:
    """What a tunnel carries: ``(inner kind, offset in payload)``, or ``None`` if not a tunnel.

    ``protocol`` is the IP protocol (IPv4) or next header (IPv6) and ``payload`` what follows
    the IP header. The kind is 4 or 6 for an IP packet (IP-in-IP, GRE), 0 for an Ethernet
    frame (GRE transparent bridging, ERSPAN). GRE version 0 only (version 1 is PPTP's PPP).

    Used by :class:`IpReader` and the bulk reader, for captures made elsewhere (a provider's trace,
    a mirrored switch port, a mobile network's user plane).
    """
    if protocol == IPPROTO_IPIP:
        return 4, 0
    if protocol == IPPROTO_IPV6:
        return 6, 0
    if protocol != IPPROTO_GRE or len(payload) < GRE_HEADER_LENGTH:
        return None
    flags = payload[0] << 8 | payload[1]
    carried = payload[2] << 8 | payload[3]
    if flags & GRE_VERSION_MASK:
        return None
    offset = GRE_HEADER_LENGTH + 4 * sum(bool(flags & bit) for bit in (GRE_CHECKSUM, GRE_KEY, GRE_SEQUENCE))
    if carried in (ETHERTYPE_ERSPAN_2, ETHERTYPE_ERSPAN_3):
        header = erspan_header_length(payload, offset, carried, bool(flags & GRE_SEQUENCE))
        if header is None or offset + header >= len(payload):
            return None
        return 0, offset + header
    kind = GRE_PROTOCOLS.get(carried)
    return (kind, offset) if kind is not None and offset <= len(payload) else None


def erspan_header_length(data: bytes, at: int, protocol: int, sequence: bool) -> int | None:
    """The length of the ERSPAN header at ``at`` (after a GRE header naming ``protocol``, with a
    sequence number or not): 0 for type I, 8 for type II, 12 or 20 for type III; ``None`` for an
    unknown version or a header that does not fit."""
    if protocol == ETHERTYPE_ERSPAN_2 and not sequence:
        return 0  # type I
    if len(data) < at + ERSPAN_II_HEADER_LENGTH:
        return None
    version = data[at] >> 4
    if version == ERSPAN_II_VERSION:
        return ERSPAN_II_HEADER_LENGTH
    if version != ERSPAN_III_VERSION or len(data) < at + ERSPAN_III_HEADER_LENGTH:
        return None
    return ERSPAN_III_HEADER_LENGTH + (ERSPAN_PLATFORM_LENGTH if data[at + 11] & 1 else 0)


def udp_tunnel_port(sport: int, dport: int) -> int | None:
    """The tunnel port of a UDP datagram (:data:`UDP_TUNNEL_PORTS`), the lower port first as
    tshark tries them, or ``None``."""
    for port in sorted((sport, dport)):
        if port in UDP_TUNNEL_PORTS:
            return port
    return None


def gtp_payload_offset(data: bytes, at: int) -> int | None:
    """Where the user packet of the GTP-U message at ``at`` starts: after the 8-byte header, the
    optional 4 bytes and the extension headers; ``None`` if it is not a G-PDU of GTP version 1 or
    its header does not fit."""
    if len(data) < at + GTP_HEADER_LENGTH:
        return None
    flags, message = data[at], data[at + 1]
    if flags >> 5 != GTP_VERSION_1 or not flags & GTP_PROTOCOL_TYPE or message != GTP_G_PDU:
        return None
    end = at + GTP_HEADER_LENGTH
    if not flags & GTP_OPTIONAL_FLAGS:
        return end
    end += GTP_OPTIONAL_LENGTH
    if len(data) < end:
        return None
    next_type = data[end - 1] if flags & GTP_EXTENSION_FLAG else 0
    for _ in range(MAX_GTP_EXTENSIONS + 1):
        if not next_type:
            return end
        length = 4 * data[end] if end < len(data) else 0  # in units of 4 bytes, type and next type included
        if not length or len(data) < end + length:
            return None
        next_type = data[end + length - 1]
        end += length
    return None


def gtp_inner_version(first: int) -> int:
    """4 or 6: the IP version tshark reads in the first byte of a GTP-U user packet; 0 for neither."""
    if first in GTP_IPV4_FIRST_BYTES:
        return 4
    return 6 if first >> 4 == 6 else 0


def udp_tunnel_inner(datagram: bytes) -> tuple[int, int] | None:
    """What a UDP datagram (its 8-byte header first) carries as a tunnel: ``(inner kind, offset
    in datagram)`` as :func:`tunnel_inner` says it (4 or 6: an IP packet, GTP-U; 0: an Ethernet
    frame, VXLAN; Geneve: what its protocol type says), or ``None`` if it is no tunnel.

    Used by :class:`IpReader` and the bulk reader, for captures made elsewhere (a provider's trace,
    a mirrored switch port, a mobile network's user plane).
    """
    if len(datagram) < UDP_HEADER_LENGTH:
        return None
    sport, dport, length = struct.unpack_from("!HHH", datagram)
    port = udp_tunnel_port(sport, dport)
    if port is None or length < UDP_HEADER_LENGTH:
        return None
    datagram = datagram[:length]  # what the UDP length says, when the packet holds that much
    if port == VXLAN_PORT:
        at = UDP_HEADER_LENGTH + VXLAN_HEADER_LENGTH
        return (0, at) if at < len(datagram) else None
    if port == GENEVE_PORT:
        if len(datagram) < UDP_HEADER_LENGTH + GENEVE_HEADER_LENGTH or datagram[UDP_HEADER_LENGTH] >> 6:
            return None  # too short, or not version 0
        kind = GRE_PROTOCOLS.get(int.from_bytes(datagram[UDP_HEADER_LENGTH + 2:UDP_HEADER_LENGTH + 4], "big"))
        at = UDP_HEADER_LENGTH + GENEVE_HEADER_LENGTH + 4 * (datagram[UDP_HEADER_LENGTH] & 0x3F)
        return (kind, at) if kind is not None and at < len(datagram) else None
    if port == GTP_U_PORT:
        start = gtp_payload_offset(datagram, UDP_HEADER_LENGTH)
        if start is None or start >= len(datagram):
            return None
        kind = gtp_inner_version(datagram[start])
        return (kind, start) if kind else None
    return None


# ------------------------------------------------------------------ IP, as a receiver sees it
IPV4_MORE_FRAGMENTS = 0x2000
IPV4_FRAGMENT_OFFSET = 0x1FFF  # in units of 8 bytes
IPV6_FRAGMENT_HEADER_LENGTH = 8
IPV6_MORE_FRAGMENTS = 0x0001
MAX_IP_DATAGRAM = 65535 + IPV6_HEADER_LENGTH  # a reassembled datagram never exceeds this
#: datagrams being reassembled at once; the oldest is dropped beyond (bounds the memory of a bad capture)
MAX_PENDING_DATAGRAMS = 4096


@dataclass(frozen=True, slots=True)
class Segment:
    """What an IP packet carries once fragments are joined and tunnels opened.

    Attributes:
        version: 4 or 6 (of the innermost IP header).
        src, dst: the innermost addresses (4 or 16 bytes).
        protocol: the IP protocol (IPv4) or last next header (IPv6): 17 UDP, 6 TCP...
        payload: the transport header and data.
        fragmented: it came in IP fragments (joined here).

    Taught in notebook 01 (the protocol stack).
    """

    version: int
    src: bytes
    dst: bytes
    protocol: int
    payload: bytes
    fragmented: bool = False


def address_text(address: bytes) -> str:
    """``"10.0.0.1"`` or ``"2001:db8::1"`` (IPv6 compressed as tshark and ``ipaddress`` write it)."""
    if len(address) == 4:
        return ".".join(map(str, address))
    return str(ipaddress.IPv6Address(address))


@dataclass(eq=False)
class _Datagram:
    """The fragments of one IP datagram received so far (offset -> bytes)."""

    protocol: int
    parts: dict[int, bytes] = field(default_factory=dict)
    received: int = 0
    end: int | None = None


class IpReader:
    """Reads the IP packets of frames as the receiver gets them: IPv4 and IPv6 fragments joined
    (the datagram comes out with the fragment that completes it, as tshark reports it), GRE and
    IP-in-IP tunnels opened, every link layer of :data:`LINK_LAYERS`. It keeps the fragments
    between frames: feed it every frame in capture order.

    Used by the SIP reader and for the bulk reader's fragments (captures made elsewhere).
    """

    def __init__(self) -> None:
        self.fragments: dict[tuple[bytes, ...], _Datagram] = {}

    def frame(self, linktype: int, data: bytes) -> Segment | None:
        """The segment a frame carries, or ``None`` (no IP, a fragment still waiting, a bad header)."""
        network = network_header(linktype, data)
        return None if network is None else self.packet(network[0], data[network[1]:])

    def packet(self, version: int, ip: bytes, depth: int = 0) -> Segment | None:
        """The segment an IP packet (header first) carries, tunnels opened."""
        segment = self._ipv4(ip) if version == 4 else self._ipv6(ip)
        if segment is None or segment.protocol == IPPROTO_TCP or depth >= MAX_TUNNEL_DEPTH:
            return segment
        if segment.protocol == IPPROTO_UDP:
            inner = udp_tunnel_inner(segment.payload)
        else:
            inner = tunnel_inner(segment.protocol, segment.payload)
        if inner is None:
            return segment
        kind, offset = inner
        if kind:
            return self.packet(kind, segment.payload[offset:], depth + 1)
        network = network_header(LINKTYPE_ETHERNET, segment.payload[offset:])  # Ethernet in GRE or VXLAN
        return None if network is None else self.packet(network[0], segment.payload[offset + network[1]:],
                                                        depth + 1)

    def _ipv4(self, ip: bytes) -> Segment | None:
        if len(ip) < IPV4_MIN_HEADER_LENGTH or ip[0] >> 4 != 4:
            return None
        header_length = (ip[0] & 0x0F) * 4
        if header_length < IPV4_MIN_HEADER_LENGTH:
            return None
        total = int.from_bytes(ip[2:4], "big")
        flags_fragment = int.from_bytes(ip[6:8], "big")
        protocol = ip[9]
        payload = ip[header_length : total if header_length <= total <= len(ip) else len(ip)]
        more = bool(flags_fragment & IPV4_MORE_FRAGMENTS)
        fragment_offset = (flags_fragment & IPV4_FRAGMENT_OFFSET) * 8
        if not (more or fragment_offset):
            return Segment(4, ip[12:16], ip[16:20], protocol, payload)
        key = (b"4", ip[12:16], ip[16:20], ip[4:6], bytes([protocol]))
        joined = self._fragment(key, fragment_offset, more, payload, protocol)
        return None if joined is None else Segment(4, ip[12:16], ip[16:20], protocol, joined[0], True)

    def _ipv6(self, ip: bytes) -> Segment | None:
        if len(ip) < IPV6_HEADER_LENGTH or ip[0] >> 4 != 6:
            return None
        next_header = ip[6]
        end = IPV6_HEADER_LENGTH + int.from_bytes(ip[4:6], "big")
        ip = ip[:end] if IPV6_HEADER_LENGTH < end <= len(ip) else ip
        offset = IPV6_HEADER_LENGTH
        while next_header in IPV6_EXTENSION_HEADERS and len(ip) >= offset + 8:
            next_header, length = ip[offset], ip[offset + 1]
            offset += (length + 1) * 8
        if next_header != IPV6_FRAGMENT:
            return Segment(6, ip[8:24], ip[24:40], next_header, ip[offset:])
        if len(ip) < offset + IPV6_FRAGMENT_HEADER_LENGTH:
            return None
        inner, _, field_, ident = struct.unpack_from("!BBHI", ip, offset)
        key = (b"6", ip[8:24], ip[24:40], ident.to_bytes(4, "big"))
        joined = self._fragment(key, field_ & 0xFFF8, bool(field_ & IPV6_MORE_FRAGMENTS),
                                ip[offset + IPV6_FRAGMENT_HEADER_LENGTH:], inner)
        return None if joined is None else Segment(6, ip[8:24], ip[24:40], joined[1], joined[0], True)

    def _fragment(self, key: tuple[bytes, ...], offset: int, more: bool, payload: bytes,
                  protocol: int) -> tuple[bytes, int] | None:
        """Keep one fragment; the datagram's payload and protocol once every fragment is there,
        else ``None``. The protocol is the one the first fragment names (IPv6: each fragment
        header repeats it). Checking for completeness costs a sort only once enough bytes came."""
        datagram = self.fragments.get(key)
        if datagram is None:
            if len(self.fragments) >= MAX_PENDING_DATAGRAMS:
                del self.fragments[next(iter(self.fragments))]  # the oldest
            datagram = self.fragments[key] = _Datagram(protocol=protocol)
        if offset == 0:
            datagram.protocol = protocol
        if offset + len(payload) > MAX_IP_DATAGRAM:
            del self.fragments[key]
            return None
        if offset not in datagram.parts:
            datagram.received += len(payload)
        datagram.parts[offset] = payload
        if not more:
            datagram.end = offset + len(payload)
        if datagram.end is None or datagram.received < datagram.end:
            return None
        joined = bytearray()
        for start in sorted(datagram.parts):
            if start > len(joined):
                return None  # a hole: wait for the fragment that fills it
            del joined[start:]
            joined += datagram.parts[start]
        if len(joined) < datagram.end:
            return None
        del self.fragments[key]
        return bytes(joined[:datagram.end]), datagram.protocol


# ------------------------------------------------------------------ opening and checking a file
@dataclass(frozen=True, slots=True)
class Interface:
    """A pcapng interface (IDB): its link type and clock.

    Attributes:
        linktype: the LINKTYPE_* of its packets.
        resolution: ``if_tsresol`` (bit 7 set: 2^-n seconds, else 10^-n).
        offset: ``if_tsoffset``, seconds added to every time stamp.
    """

    linktype: int
    resolution: int = DEFAULT_TSRESOL
    offset: int = 0

    def seconds(self, ticks: int) -> float:
        """A time stamp in seconds since the epoch, as the float of ticks * unit (+ offset)."""
        seconds = ticks * tick_seconds(self.resolution)
        return seconds + self.offset if self.offset else seconds


def tick_seconds(resolution: int) -> float:
    """The duration of one clock tick of an ``if_tsresol`` value, in seconds."""
    return 2.0 ** -(resolution & 0x7F) if resolution & TSRESOL_BINARY else 10.0 ** -resolution


@dataclass(frozen=True, slots=True)
class CaptureFile:
    """An opened capture: its path, size, format and (pcap) global header fields.

    Attributes:
        path: the file.
        size: its size in bytes.
        kind: ``"pcap"``, ``"pcapng"`` or ``"empty"`` (a file of 0 bytes: no packet, like tshark).
        order: ``"<"`` or ``">"`` (pcap; pcapng sections say their own).
        nanoseconds: pcap time stamps count ns, else µs.
        linktype: the pcap link type.
    """

    path: str
    size: int
    kind: Literal["pcap", "pcapng", "empty"]
    order: str = "<"
    nanoseconds: bool = False
    linktype: int = LINKTYPE_ETHERNET


_FILE_TYPES = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
               (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
               (stat.S_ISSOCK, "a socket"))


def _refuse(path: str, what: str) -> CaptureError:
    return CaptureError(f"capture file {path!r} is {what}, not a regular file: save the capture to a file "
                        "first (e.g. tcpdump -w FILE) and open that file")


def open_capture(path: str | os.PathLike[str]) -> tuple[CaptureFile, BinaryIO]:
    """Open a capture file and check it: a regular file, with a pcap or pcapng magic.

    Nothing but the header is read; a FIFO, a directory or a device is refused before any
    read (it could block or never end). Returns the file's description and the file, opened
    for reading and positioned after the pcap global header (at 0 for pcapng).

    Raises:
        CaptureError: the file cannot be read, is not a regular file, or is not a capture.
    """
    path = os.fspath(path)
    try:
        # O_NONBLOCK: opening a FIFO for reading must not wait for a writer (it is refused below)
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except OSError as exc:
        raise CaptureError(f"capture file {path!r} cannot be read ({exc.strerror}): check the path and "
                           "permissions") from exc
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            what = next((name for test, name in _FILE_TYPES if test(info.st_mode)), "a special file")
            raise _refuse(path, what)
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        file = os.fdopen(fd, "rb", buffering=0)
    except BaseException:
        os.close(fd)
        raise
    try:
        described = _describe(path, info.st_size, file)
    except BaseException:
        file.close()
        raise
    return described, file


def _read_exactly(file: BinaryIO, count: int) -> bytes:
    data = b""
    while len(data) < count:
        more = file.read(count - len(data))
        if not more:
            break
        data += more
    return data


def _describe(path: str, size: int, file: BinaryIO) -> CaptureFile:
    if size == 0:
        return CaptureFile(path, 0, "empty")
    head = _read_exactly(file, PCAP_HEADER_LENGTH)
    if len(head) < 4:
        raise CaptureError(f"capture file {path!r} is not a pcap or pcapng file (it has {len(head)} bytes): "
                           "open a file written by tcpdump, dumpcap, Wireshark or voiplab")
    magic_le, magic_be = struct.unpack_from("<I", head)[0], struct.unpack_from(">I", head)[0]
    if magic_le == PCAPNG_SHB:
        file.seek(0)
        return CaptureFile(path, size, "pcapng")
    if not {magic_le, magic_be} & {PCAP_MAGIC_US, PCAP_MAGIC_NS}:
        raise CaptureError(f"capture file {path!r} is not a pcap or pcapng file (it starts with 0x{head[:4].hex()}): "
                           "open a file written by tcpdump, dumpcap, Wireshark or voiplab")
    order, nanoseconds, linktype = pcap_header(path, head)
    return CaptureFile(path, size, "pcap", order, nanoseconds, linktype)


def pcap_header(path: str, head: bytes) -> tuple[str, bool, int]:
    """(byte order, ns time stamps, link type) of a pcap global header (the first 24 bytes).

    Raises:
        CaptureError: the header is cut short.
    """
    if len(head) < PCAP_HEADER_LENGTH:
        raise CaptureError(f"capture file {path!r} is truncated inside its 24-byte pcap header: it is not usable; "
                           "capture again")
    order = "<" if struct.unpack_from("<I", head)[0] in (PCAP_MAGIC_US, PCAP_MAGIC_NS) else ">"
    nanoseconds = struct.unpack_from(order + "I", head)[0] == PCAP_MAGIC_NS
    linktype = struct.unpack_from(order + "I", head, 20)[0] & PCAP_LINKTYPE_MASK
    return order, nanoseconds, linktype


def check_block(block_type: int, length: int, remaining: int) -> str:
    """Why a pcapng block of this type and total length, with ``remaining`` bytes left in the
    file from its start, cannot be read ("" if it can). The length must be a multiple of 4,
    hold the block's fixed fields, stay under :data:`PCAPNG_MAX_BLOCK_LENGTH` and fit in the file."""
    minimum = {PCAPNG_SHB: PCAPNG_SHB_MIN_LENGTH, PCAPNG_IDB: PCAPNG_IDB_MIN_LENGTH,
               PCAPNG_EPB: PCAPNG_PACKET_HEADER_LENGTH + PCAPNG_TRAILER_LENGTH,
               PCAPNG_PB: PCAPNG_PACKET_HEADER_LENGTH + PCAPNG_TRAILER_LENGTH,
               PCAPNG_SPB: PCAPNG_SPB_HEADER_LENGTH + PCAPNG_TRAILER_LENGTH}.get(block_type, PCAPNG_MIN_BLOCK_LENGTH)
    if length > remaining:
        return TRUNCATED
    if length < minimum or length % 4 or length > PCAPNG_MAX_BLOCK_LENGTH:
        return f"is corrupt: a block (type {block_type}) has a length of {length} bytes"
    return ""


def interface_description(path: str, block: bytes, order: str, number: int) -> Interface:
    """The :class:`Interface` an IDB declares (``block``: the whole block).

    Raises:
        CaptureError: its clock cannot be used (``if_tsresol`` finer than tshark accepts, or
            an ``if_tsoffset`` beyond 292 years).
    """
    linktype = struct.unpack_from(order + "H", block, 8)[0]
    resolution, offset = DEFAULT_TSRESOL, 0
    pos, end = 16, len(block) - PCAPNG_TRAILER_LENGTH
    while pos + 4 <= end:
        code, length = struct.unpack_from(order + "HH", block, pos)
        if code == IDB_OPTION_END or pos + 4 + length > end:
            break
        if code == IDB_OPTION_TSRESOL and length >= 1:
            resolution = block[pos + 4]
        elif code == IDB_OPTION_TSOFFSET and length >= 8:
            offset = struct.unpack_from(order + "q", block, pos + 4)[0]
        pos += 4 + length + (-length % 4)
    exponent = resolution & 0x7F
    if exponent > (MAX_TSRESOL_BINARY if resolution & TSRESOL_BINARY else MAX_TSRESOL_DECIMAL):
        base = 2 if resolution & TSRESOL_BINARY else 10
        raise CaptureError(f"capture file {path!r} is corrupt: interface {number} has a clock of {base}^-{exponent} s "
                           "(if_tsresol), finer than any capture tool writes: re-save it with Wireshark or "
                           "capture again")
    if abs(offset) > MAX_TSOFFSET:
        raise CaptureError(f"capture file {path!r} is corrupt: interface {number} shifts its times by {offset} s "
                           "(if_tsoffset), more than 292 years: re-save it with Wireshark or capture again")
    return Interface(linktype, resolution, offset)


TRUNCATED = "ends with a record cut short: it was skipped"


def undeclared_interface(index: int, packet: int) -> str:
    """The problem of a packet naming an interface that no IDB declared (tshark stops there too)."""
    return (f"is corrupt at packet {packet}: it names interface {index}, which no interface description block "
            "(IDB) declares (re-save it with Wireshark)")


def warn_problem(path: str, problem: str, count: int, stacklevel: int = 3) -> None:
    """Warn that a capture was read only in part (tshark reads up to the same place)."""
    if problem:
        read = f"packets 1 to {count} were read" if count > 1 else (
            "packet 1 was read" if count else "no packet was read")
        warnings.warn(f"capture file {path!r} {problem}; {read}", stacklevel=stacklevel)


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


class _Buffered:
    """Sequential reads over a file in chunks of :data:`READ_CHUNK` bytes (memory stays bounded)."""

    def __init__(self, file: BinaryIO, position: int) -> None:
        self.file = file
        self.buffer = b""
        self.at = 0  # position of the next byte in buffer
        self.position = position  # file offset of buffer[at]

    def take(self, count: int) -> bytes | None:
        """The next ``count`` bytes, or ``None`` (and nothing consumed) if the file ends first."""
        end = self.at + count
        if end > len(self.buffer):
            more = _read_exactly(self.file, max(READ_CHUNK, count - (len(self.buffer) - self.at)))
            self.buffer = self.buffer[self.at:] + more
            self.at, end = 0, count
            if end > len(self.buffer):
                return None
        data = self.buffer[self.at:end]
        self.at = end
        self.position += count
        return data

    def skip_repeats(self, pattern: bytes, batch: int) -> int:
        """Skip the copies of ``pattern`` that follow, a batch at a time; returns how many."""
        run = pattern * batch
        skipped = 0
        while True:
            if len(self.buffer) - self.at < len(run):
                more = _read_exactly(self.file, READ_CHUNK)
                self.buffer = self.buffer[self.at:] + more
                self.at = 0
                if not more and len(self.buffer) < len(run):
                    break
            if not self.buffer.startswith(run, self.at):
                break
            self.at += len(run)
            self.position += len(run)
            skipped += batch
        while self.buffer.startswith(pattern, self.at):
            self.at += len(pattern)
            self.position += len(pattern)
            skipped += 1
        return skipped


def iter_frames(path: str | os.PathLike[str], *, empty: bool = True) -> Iterator[Frame]:
    """Every frame of a pcap or pcapng file, in file order, as :data:`Frame` tuples.

    The file is read in chunks, whatever its size. A last record cut short (capture killed
    while writing), a record or block whose length cannot be right, or a pcapng packet naming
    an undeclared interface, ends the reading with a warning, as it ends tshark's. An empty
    file (0 bytes) has no frame. With ``empty=False`` frames of 0 bytes are counted (the
    numbers of the frames after them are right) but not yielded, and runs of identical empty
    pcap records (a file of zeros after its header) are skipped at the speed of a memory compare.

    Raises:
        CaptureError: the file cannot be read, is not a regular file, is not a pcap/pcapng
            capture, or declares a clock that cannot be used.
    """
    capture, file = open_capture(path)
    with file:
        if capture.kind == "pcap":
            count, problem = yield from _pcap_frames(capture, file, empty)
        elif capture.kind == "pcapng":
            count, problem = yield from _pcapng_frames(capture, file)
        else:
            count, problem = 0, ""
    warn_problem(capture.path, problem, count)


#: identical empty records compared at a time when skipping them (``iter_frames(empty=False)``)
_EMPTY_RUN = 4096


def _pcap_frames(capture: CaptureFile, file: BinaryIO, empty: bool) -> Generator[Frame, None, tuple[int, str]]:
    reader = _Buffered(file, PCAP_HEADER_LENGTH)
    header = struct.Struct(capture.order + "IIII")
    unit = 1e-9 if capture.nanoseconds else 1e-6
    linktype, size = capture.linktype, capture.size
    frame = 0
    while reader.position < size:
        head = reader.take(PCAP_RECORD_HEADER_LENGTH)
        if head is None:
            return frame, TRUNCATED
        seconds, fraction, caplen, _ = header.unpack(head)
        if caplen == 0 and not empty:
            frame += 1 + reader.skip_repeats(head, _EMPTY_RUN)
            continue
        if caplen > PCAP_MAX_RECORD_LENGTH:
            return frame, (f"is corrupt at packet {frame + 1}: its record says {caplen} bytes, more than "
                           f"{PCAP_MAX_RECORD_LENGTH}")
        data = reader.take(caplen)
        if data is None:
            return frame, TRUNCATED
        frame += 1
        yield frame, seconds + fraction * unit, linktype, data
    return frame, ""


def _pcapng_frames(capture: CaptureFile, file: BinaryIO) -> Generator[Frame, None, tuple[int, str]]:
    reader = _Buffered(file, 0)
    path, size = capture.path, capture.size
    order = "<"
    interfaces: list[Interface] = []
    frame = 0
    while reader.position < size:
        start = reader.position
        head = reader.take(8)
        if head is None:
            return frame, TRUNCATED
        block_type = struct.unpack_from(order + "I", head)[0]
        if block_type == PCAPNG_SHB:  # a new section: its own byte order and interfaces
            magic = reader.take(4)
            if magic is None:
                return frame, TRUNCATED
            order = "<" if struct.unpack("<I", magic)[0] == PCAPNG_BYTE_ORDER_MAGIC else ">"
            interfaces = []
            head += magic
        length = struct.unpack_from(order + "I", head, 4)[0]
        problem = check_block(block_type, length, size - start)
        if problem:
            return frame, problem
        rest = reader.take(length - len(head))
        if rest is None:
            return frame, TRUNCATED
        block = head + rest
        if struct.unpack_from(order + "I", block, length - PCAPNG_TRAILER_LENGTH)[0] != length:
            return frame, f"is corrupt: a block (type {block_type}) ends with a length that differs from its start"
        if block_type == PCAPNG_IDB:
            interfaces.append(interface_description(path, block, order, len(interfaces)))
        elif block_type in (PCAPNG_EPB, PCAPNG_PB):
            if block_type == PCAPNG_EPB:
                interface, high, low, caplen = struct.unpack_from(order + "IIII", block, 8)
            else:  # a 16-bit interface id, then a 16-bit drop count
                interface, _, high, low, caplen = struct.unpack_from(order + "HHIII", block, 8)
            if interface >= len(interfaces):
                return frame, undeclared_interface(interface, frame + 1)
            if caplen > length - PCAPNG_PACKET_HEADER_LENGTH - PCAPNG_TRAILER_LENGTH:
                return frame, packet_too_long(frame + 1, caplen, length)
            known = interfaces[interface]
            frame += 1
            yield (frame, known.seconds(high << 32 | low), known.linktype,
                   block[PCAPNG_PACKET_HEADER_LENGTH:PCAPNG_PACKET_HEADER_LENGTH + caplen])
        elif block_type == PCAPNG_SPB:  # no time stamp (tshark shows 0); interface 0
            if not interfaces:
                return frame, undeclared_interface(0, frame + 1)
            original = struct.unpack_from(order + "I", block, 8)[0]
            caplen = min(original, length - PCAPNG_SPB_HEADER_LENGTH - PCAPNG_TRAILER_LENGTH)
            frame += 1
            yield frame, 0.0, interfaces[0].linktype, block[PCAPNG_SPB_HEADER_LENGTH:PCAPNG_SPB_HEADER_LENGTH + caplen]
    return frame, ""


def packet_too_long(packet: int, caplen: int, length: int) -> str:
    """The problem of a pcapng packet whose captured length does not fit in its block."""
    return (f"is corrupt at packet {packet}: it says {caplen} bytes were captured, more than its block of "
            f"{length} bytes holds")


def read_packets(path: str | os.PathLike[str]) -> Iterator[RawPacket]:
    """Yield every frame of a pcap or pcapng file as a :class:`RawPacket` (see :func:`iter_frames`).

    Raises:
        CaptureError: the file cannot be read or is not a pcap/pcapng capture.

    Taught in notebook 01.
    """
    for frame in iter_frames(path):
        yield RawPacket(*frame)
