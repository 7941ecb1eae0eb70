"""The one reader of pcap and pcapng files: its public door.

Everything voiplab reads from a capture file goes through two modules, both reached from here:

* :mod:`voiplab.capture.pcapfile` (pure Python): the file formats (pcap in both byte orders
  with µs or ns time stamps; pcapng with SHB/IDB/EPB/SPB and the obsolete PB, a link type and
  a clock per interface), the checks every length goes through, the link layers
  (:data:`LINK_LAYERS`: Ethernet with VLAN tags and PPPoE, Linux cooked v1/v2, raw IP, BSD
  loopback), tunnels (:func:`tunnel_inner`: GRE, IP-in-IP; :func:`udp_tunnel_inner`: GTP-U,
  VXLAN), IP as a receiver sees it
  (:class:`IpReader`: fragments joined, tunnels opened), and :func:`iter_frames` /
  :func:`read_packets`, the frames one by one, read in bounded chunks.
* :mod:`voiplab.capture.udp` (numpy): :func:`read_udp`, every UDP datagram as columns (for RTP
  statistics over millions of packets), loaded on first use so that ``voiplab flow`` never
  loads numpy.

Taught in notebook 01 (the protocol stack) and 05 (numbers from a capture).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .pcapfile import (
    BSD_AF_INET,
    BSD_AF_INET6,
    ETHERTYPE_PPPOE_SESSION,
    ETHERTYPE_VLAN,
    GRE_PROTOCOLS,
    IPPROTO_GRE,
    IPPROTO_IPIP,
    IPPROTO_IPV6,
    IPPROTO_TCP,
    IPPROTO_UDP,
    IPV6_EXTENSION_HEADERS,
    IPV6_HEADER_LENGTH,
    LINK_LAYERS,
    LINKTYPE_DLT_RAW,
    LINKTYPE_DLT_RAW_OPENBSD,
    LINKTYPE_ETHERNET,
    LINKTYPE_IPV4,
    LINKTYPE_IPV6,
    LINKTYPE_LINUX_SLL,
    LINKTYPE_LINUX_SLL2,
    LINKTYPE_LOOP,
    LINKTYPE_NAMES,
    LINKTYPE_NULL,
    LINKTYPE_RAW,
    MAX_VLAN_TAGS,
    UDP_HEADER_LENGTH,
    CaptureFile,
    Frame,
    Interface,
    IpReader,
    LinkLayer,
    RawPacket,
    Segment,
    address_text,
    iter_frames,
    network_header,
    open_capture,
    read_packets,
    tunnel_inner,
    udp_tunnel_inner,
)

if TYPE_CHECKING:  # numpy-based: loaded on first use (see __getattr__ below)
    from .udp import KEY_COLUMNS, UDP_DTYPE, V6_KEY_BASE, UdpTable, read_udp

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
    "IPV6_EXTENSION_HEADERS",
    "IPV6_HEADER_LENGTH",
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
    "UDP_HEADER_LENGTH",
    "V6_KEY_BASE",
    "CaptureFile",
    "Frame",
    "Interface",
    "IpReader",
    "LinkLayer",
    "RawPacket",
    "Segment",
    "UdpTable",
    "address_text",
    "iter_frames",
    "network_header",
    "open_capture",
    "read_packets",
    "read_udp",
    "tunnel_inner",
    "udp_tunnel_inner",
]

_UDP_NAMES = frozenset({"KEY_COLUMNS", "UDP_DTYPE", "V6_KEY_BASE", "UdpTable", "read_udp"})


def __getattr__(name: str) -> object:
    """``read_udp``, ``UdpTable`` and their constants, from :mod:`voiplab.capture.udp` on first use."""
    if name in _UDP_NAMES:
        from . import udp  # numpy: a layer loaded late for speed (frames one by one never need it)

        return getattr(udp, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
