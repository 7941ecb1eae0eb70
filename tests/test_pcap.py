"""Tests of voiplab.capture.pcap, the one pcap/pcapng reader: formats, clocks, link types, truncation,
frames one by one (read_packets) and UDP as columns (read_udp), with tshark as the oracle."""

from __future__ import annotations

import struct
import warnings
from pathlib import Path

import numpy as np
import pytest
from capture_files import (
    ETHERTYPE_IPV6,
    FIRST_TIME,
    bsd_loopback,
    epb,
    epoch_ns,
    ethernet,
    idb,
    invite_ipv4,
    invite_ipv6,
    pb,
    shb,
    sll,
    sll2,
    spb,
    tshark_fields,
    write_pcap,
)

from voiplab.capture import synth as g
from voiplab.capture.pcap import (
    LINKTYPE_DLT_RAW,
    LINKTYPE_DLT_RAW_OPENBSD,
    LINKTYPE_ETHERNET,
    LINKTYPE_IPV4,
    LINKTYPE_LINUX_SLL,
    LINKTYPE_LINUX_SLL2,
    LINKTYPE_LOOP,
    LINKTYPE_NULL,
    LINKTYPE_RAW,
    UDP_DTYPE,
    IpReader,
    iter_frames,
    network_header,
    read_packets,
    read_udp,
    tunnel_inner,
    udp_tunnel_inner,
)
from voiplab.errors import CaptureError
from voiplab.teach.samples import sample_capture


def small(n=40, **kw):
    return g.synth(n, streams=2, seed=3, **kw)


@pytest.mark.parametrize("fmt", ["pcap", "pcapng"])
@pytest.mark.parametrize("link", ["ether", "sll", "sll2", "raw", "null"])
@pytest.mark.parametrize("ns", [False, True])
def test_every_format_and_link_type_gives_the_same_datagrams(tmp_path, fmt, link, ns):
    """Are times, addresses, ports and payloads the same whatever the file format and link type?"""
    p = small()
    path = tmp_path / f"x.{fmt}"
    g.write_capture(str(path), p, fmt=fmt, link=link, nanoseconds=ns)
    table = read_udp(path)
    assert table.frames == len(p) == len(table)
    unit = 1 if ns else 1000
    assert np.array_equal(table["time_ns"], p.t_ns // unit * unit)
    assert np.array_equal(table["src_port"], p.sport) and np.array_equal(table["dst_port"], p.dport)
    assert np.array_equal(table["src"][:, :4], p.src) and np.array_equal(table["frame"], np.arange(1, len(p) + 1))
    rtp = np.flatnonzero(p.raw_idx < 0)
    assert table.payload(int(rtp[0]))[2:4] == int(p.seq[rtp[0]]).to_bytes(2, "big")
    assert table.packets.dtype == UDP_DTYPE


@pytest.mark.parametrize("big_endian", [False, True])
def test_big_endian_vlan_and_ipv6(tmp_path, big_endian):
    """Are big-endian files, VLAN tags and IPv6 read?"""
    p = small(ipv6=True)
    path = tmp_path / "v6.pcap"
    g.write_capture(str(path), p, vlan=True, big_endian=big_endian)
    table = read_udp(path)
    assert len(table) == len(p)
    assert set(table["ip_version"].tolist()) == {6}
    assert np.array_equal(table["dst"], p.dst)


def test_truncated_last_record_warns_and_keeps_the_rest(tmp_path):
    """Is a record cut short skipped with a warning, the others kept?"""
    p = small()
    path = tmp_path / "cut.pcap"
    g.write_capture(str(path), p, truncate_last=10)
    with pytest.warns(UserWarning, match="ends with a record cut short: it was skipped"):
        table = read_udp(path)
    assert table.frames == len(p) - 1 and table.truncated


def test_not_a_capture_raises_capture_error(tmp_path):
    """Does a text file raise CaptureError saying what to open instead?"""
    path = tmp_path / "notes.txt"
    path.write_bytes(b"hello, this is not a capture\n")
    with pytest.raises(CaptureError) as e:
        read_udp(path)
    assert str(e.value) == (f"capture file '{path}' is not a pcap or pcapng file (it starts with 0x68656c6c): "
                            "open a file written by tcpdump, dumpcap, Wireshark or voiplab")
    with pytest.raises(CaptureError, match="cannot be read"):
        read_udp(tmp_path / "missing.pcap")


def test_alternating_record_sizes_and_non_udp(tmp_path):
    """Are records of alternating sizes all found, and non-UDP / fragments skipped?"""
    p = g.synth(3000, streams=2, noise_udp=3000, seed=5)
    path = tmp_path / "mixed.pcap"
    g.write_capture(str(path), p)
    table = read_udp(path)
    assert table.frames == len(p) == len(table)
    # append a TCP packet and an IP fragment: counted as frames, not as UDP datagrams
    data = path.read_bytes()
    eth = bytes(12) + b"\x08\x00"
    tcp = eth + struct.pack("!BBHHHBBH4s4s", 0x45, 0, 40, 0, 0, 64, 6, 0, bytes(4), bytes(4)) + bytes(20)
    frag = eth + struct.pack("!BBHHHBBH4s4s", 0x45, 0, 36, 0, 0x2001, 64, 17, 0, bytes(4), bytes(4)) + bytes(16)
    for frame in (tcp, frag):
        data += struct.pack("<IIII", 1_700_000_010, 0, len(frame), len(frame)) + frame
    path.write_bytes(data)
    table = read_udp(path)
    assert table.frames == len(p) + 2 and len(table) == len(p)


def test_empty_capture(tmp_path):
    """Does a pcap with a header and no packet give an empty table?"""
    path = tmp_path / "empty.pcap"
    path.write_bytes(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        table = read_udp(path)
    assert table.frames == 0 and len(table) == 0


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "capture file '{path}' cannot be read (No such file or directory): check the path and permissions"),
        (b"hello world", "capture file '{path}' is not a pcap or pcapng file (it starts with 0x68656c6c): "
                         "open a file written by tcpdump, dumpcap, Wireshark or voiplab"),
        (b"\xd4\xc3", "capture file '{path}' is not a pcap or pcapng file (it has 2 bytes): "
                       "open a file written by tcpdump, dumpcap, Wireshark or voiplab"),
        (b"\xd4\xc3\xb2\xa1\x02\x00", "capture file '{path}' is truncated inside its 24-byte pcap header: "
                                       "it is not usable; capture again"),
    ],
)
def test_bad_files(tmp_path: Path, content: bytes | None, message: str) -> None:
    """Does a missing, non-capture or header-truncated file raise CaptureError with an exact message,
    the same from read_packets and read_udp (one reader)?"""
    path = tmp_path / "x.pcap"
    if content is not None:
        path.write_bytes(content)
    for read in (lambda: list(read_packets(path)), lambda: read_udp(path)):
        with pytest.raises(CaptureError) as info:
            read()
        assert str(info.value) == message.format(path=path)


# ---------------------------------------------------------------- frames one by one


def test_frames_of_a_real_capture_are_its_records() -> None:
    """Does read_packets give every frame of the lab's capture, numbered from 1, with the bytes scapy
    reads, the Ethernet link type, and as time the float of seconds + microseconds * 1e-6 (the value
    read_sip and Flow report, unchanged)?"""
    from scapy.utils import RawPcapReader

    path = sample_capture("call_rpi_to_alcatel")
    frames = list(read_packets(path))
    records = list(RawPcapReader(str(path)))
    assert [p.frame for p in frames] == list(range(1, len(records) + 1))
    assert [p.data for p in frames] == [data for data, _ in records]
    assert {p.linktype for p in frames} == {LINKTYPE_ETHERNET}
    assert [p.time for p in frames] == [meta.sec + meta.usec * 1e-6 for _, meta in records]


@pytest.mark.tshark
def test_frame_times_equal_tsharks(tshark: str) -> None:
    """Are the frame times of the lab's capture tshark's (to the ns in read_udp, to the µs in read_packets)?"""
    path = sample_capture("call_rpi_to_alcatel")
    theirs = [epoch_ns(t) for (t,) in tshark_fields(tshark, path, "frame", "frame.time_epoch")]
    assert [round(p.time * 1e6) for p in read_packets(path)] == [t // 1000 for t in theirs]
    table = read_udp(path)
    assert table["time_ns"].tolist() == [theirs[f - 1] for f in table["frame"].tolist()]
    assert table.first_time_ns == theirs[0]


def test_read_packets_warns_on_a_record_cut_short(tmp_path: Path) -> None:
    """Does read_packets stop before a last record cut short, with a warning naming the packets read?"""
    path = write_pcap(tmp_path / "cut.pcap", LINKTYPE_ETHERNET, [ethernet(invite_ipv4())] * 3, cut=10)
    with pytest.warns(UserWarning) as caught:
        frames = list(read_packets(path))
    assert [p.frame for p in frames] == [1, 2]
    assert str(caught[0].message) == (f"capture file '{path}' ends with a record cut short: it was skipped; "
                                      "packets 1 to 2 were read")


# ---------------------------------------------------------------- link layers, as tshark reads them

#: (name, link type, frames): every way a frame can carry IP that the reader knows, and near misses
LINK_FILES = [
    ("ethernet", LINKTYPE_ETHERNET, lambda: [
        ethernet(invite_ipv4()), ethernet(invite_ipv6(), ETHERTYPE_IPV6),
        ethernet(invite_ipv4(), tags=(0x8100,)), ethernet(invite_ipv4(), tags=(0x88A8,)),
        ethernet(invite_ipv4(), tags=(0x9100,)), ethernet(invite_ipv4(), tags=(0x88A8, 0x8100, 0x9100)),
        ethernet(invite_ipv4(), tags=(0x9200,)), ethernet(invite_ipv4(), ETHERTYPE_IPV6),
        ethernet(invite_ipv6(), tags=(0x8100,), ethertype=ETHERTYPE_IPV6)]),
    ("bsd_null", LINKTYPE_NULL, lambda: [
        bsd_loopback(invite_ipv4() if family == 2 else invite_ipv6(), family, order)
        for order in "<>" for family in (2, 10, 23, 24, 28, 30)]),
    ("openbsd_loop", LINKTYPE_LOOP, lambda: [
        bsd_loopback(invite_ipv4() if family == 2 else invite_ipv6(), family, ">") for family in (2, 10, 23, 24)]),
    ("sll", LINKTYPE_LINUX_SLL, lambda: [sll(invite_ipv4()), sll(invite_ipv6(), ETHERTYPE_IPV6)]),
    ("sll2", LINKTYPE_LINUX_SLL2, lambda: [sll2(invite_ipv4()), sll2(invite_ipv6(), ETHERTYPE_IPV6)]),
    ("raw", LINKTYPE_RAW, lambda: [invite_ipv4(), invite_ipv6()]),
    ("dlt_raw", LINKTYPE_DLT_RAW, lambda: [invite_ipv4(), invite_ipv6()]),
    ("dlt_raw_openbsd", LINKTYPE_DLT_RAW_OPENBSD, lambda: [invite_ipv4()]),
    ("raw_ipv4", LINKTYPE_IPV4, lambda: [invite_ipv4()]),
]


@pytest.mark.tshark
@pytest.mark.parametrize(("name", "linktype", "frames"), LINK_FILES, ids=[f[0] for f in LINK_FILES])
def test_link_layers_are_read_as_tshark_reads_them(tshark: str, tmp_path: Path, name: str, linktype: int,
                                                   frames) -> None:  # type: ignore[no-untyped-def]
    """Is UDP found in exactly the frames where tshark finds it: Ethernet with 802.1Q, 802.1ad, 0x9100
    and stacked tags (not 0x9200), BSD loopback with the IPv6 families 24, 28, 30 in either byte order
    (not Linux's 10 or Windows' 23), Linux cooked v1/v2, raw IP (101, 12, 14, 228)?"""
    path = write_pcap(tmp_path / f"{name}.pcap", linktype, frames())
    theirs = [int(f) for (f,) in tshark_fields(tshark, path, "udp", "frame.number")]
    assert theirs, "tshark found no UDP at all: the file is wrong"
    assert read_udp(path)["frame"].tolist() == theirs
    assert [p.frame for p in read_packets(path) if network_header(p.linktype, p.data)] == theirs


def test_network_header_says_where_ip_starts() -> None:
    """Does network_header give the IP version and offset, and None for what is not IP?"""
    assert network_header(LINKTYPE_ETHERNET, ethernet(invite_ipv4(), tags=(0x8100, 0x8100))) == (4, 22)
    assert network_header(LINKTYPE_LINUX_SLL2, sll2(invite_ipv6(), ETHERTYPE_IPV6)) == (6, 20)
    assert network_header(LINKTYPE_NULL, bsd_loopback(invite_ipv4(), 2, ">")) == (4, 4)
    assert network_header(LINKTYPE_ETHERNET, ethernet(invite_ipv6())) is None  # says IPv4, holds IPv6
    assert network_header(LINKTYPE_ETHERNET, ethernet(invite_ipv4(), tags=(0x9200,))) is None
    assert network_header(LINKTYPE_RAW, b"") is None
    assert network_header(147, invite_ipv4()) is None  # a link type voiplab does not read


# ---------------------------------------------------------------- pcapng blocks and clocks


def _pcapng_every_block(path: Path) -> Path:
    """A pcapng with two sections (little- then big-endian), interfaces of two link types and clocks
    (µs with a 1000 s if_tsoffset, ns, 2^-20 s), EPBs and an obsolete PB."""
    frame, raw = ethernet(invite_ipv4()), invite_ipv4()
    path.write_bytes(
        shb() + idb(LINKTYPE_ETHERNET, tsresol=6, tsoffset=1000) + idb(LINKTYPE_RAW, tsresol=9)
        + epb(0, (FIRST_TIME - 1000) * 10**6 + 123456, frame) + epb(1, (FIRST_TIME + 1) * 10**9 + 123456789, raw)
        + pb(1, (FIRST_TIME + 2) * 10**9 + 5, raw)
        + shb(">") + idb(LINKTYPE_ETHERNET, tsresol=0x80 | 20, order=">")
        + epb(0, ((FIRST_TIME + 3) << 20) + 123457, frame, order=">") + pb(0, (FIRST_TIME + 4) << 20, frame, ">"))
    return path


@pytest.mark.tshark
def test_pcapng_blocks_and_clocks_are_read_as_tshark_reads_them(tshark: str, tmp_path: Path) -> None:
    """Are the EPBs and PBs of both sections read with their interface's link type and clock
    (if_tsresol decimal and binary, if_tsoffset), at tshark's times to the nanosecond?"""
    path = _pcapng_every_block(tmp_path / "blocks.pcapng")
    theirs = tshark_fields(tshark, path, "frame", "frame.number", "frame.time_epoch", "frame.cap_len")
    assert len(theirs) == 5
    table = read_udp(path)
    assert table["frame"].tolist() == [int(f) for f, _, _ in theirs]
    assert table["time_ns"].tolist() == [epoch_ns(t) for _, t, _ in theirs]
    assert table.linktypes == (LINKTYPE_ETHERNET, LINKTYPE_RAW)
    frames = list(read_packets(path))
    assert [len(p.data) for p in frames] == [int(n) for _, _, n in theirs]
    assert [p.linktype for p in frames] == [LINKTYPE_ETHERNET, LINKTYPE_RAW, LINKTYPE_RAW, LINKTYPE_ETHERNET,
                                            LINKTYPE_ETHERNET]
    assert [round(p.time * 1e6) for p in frames] == [round(epoch_ns(t) / 1000) for _, t, _ in theirs]


def test_simple_packet_block_has_no_time(tmp_path: Path) -> None:
    """Is a simple packet block read on interface 0's link type, at time 0 (it has no time stamp)?"""
    path = tmp_path / "spb.pcapng"
    path.write_bytes(shb() + idb(LINKTYPE_LINUX_SLL) + spb(sll(invite_ipv4())))
    (frame,) = read_packets(path)
    assert (frame.frame, frame.time, frame.linktype, frame.data) == (1, 0.0, LINKTYPE_LINUX_SLL, sll(invite_ipv4()))
    assert read_udp(path)["time_ns"].tolist() == [0]


@pytest.mark.tshark
def test_undeclared_interface_ends_reading_like_tshark(tshark: str, tmp_path: Path) -> None:
    """Does a packet naming an interface no IDB declares end the reading there, with a warning,
    after the packets tshark also shows?"""
    path = tmp_path / "corrupt.pcapng"
    frame = ethernet(invite_ipv4())
    path.write_bytes(shb() + idb(LINKTYPE_ETHERNET) + epb(0, FIRST_TIME * 10**6, frame)
                     + epb(1, FIRST_TIME * 10**6, frame) + epb(0, FIRST_TIME * 10**6, frame))
    theirs = [int(f) for (f,) in tshark_fields(tshark, path, "frame", "frame.number")]
    with pytest.warns(UserWarning) as caught:
        table = read_udp(path)
    assert table["frame"].tolist() == theirs == [1]
    assert table.truncated
    assert str(caught[0].message) == (
        f"capture file '{path}' is corrupt at packet 2: it names interface 1, which no interface description "
        "block (IDB) declares (re-save it with Wireshark); packet 1 was read")


# ---------------------------------------------------------------- issue 11: corrupt records, PPPoE, tunnels


def test_pcap_record_longer_than_tshark_accepts_ends_the_reading(tmp_path: Path) -> None:
    """Does a record claiming more than 262,144 bytes (tshark's limit) end the reading with a warning
    that says so, the packets before it kept, from both readers?"""
    path = write_pcap(tmp_path / "big.pcap", LINKTYPE_ETHERNET, [ethernet(invite_ipv4())] * 2)
    data = bytearray(path.read_bytes())
    second = 24 + 16 + len(ethernet(invite_ipv4()))
    struct.pack_into("<I", data, second + 8, 300_000)
    path.write_bytes(bytes(data))
    expected = (f"capture file '{path}' is corrupt at packet 2: its record says 300000 bytes, more than 262144; "
                "packet 1 was read")
    for read in (lambda: [p.frame for p in read_packets(path)], lambda: read_udp(path)["frame"].tolist()):
        with pytest.warns(UserWarning) as caught:
            assert read() == [1]
        assert str(caught[0].message) == expected


def test_iter_frames_can_skip_empty_frames_keeping_numbers(tmp_path: Path) -> None:
    """With empty=False, are frames of 0 bytes counted but not yielded (the next frame keeps its number)?"""
    frame = ethernet(invite_ipv4())
    path = write_pcap(tmp_path / "gaps.pcap", LINKTYPE_ETHERNET, [b"", frame, b"", b"", frame])
    assert [f[0] for f in iter_frames(path)] == [1, 2, 3, 4, 5]
    assert [f[0] for f in iter_frames(path, empty=False)] == [2, 5]


def test_pppoe_and_tunnels_say_where_ip_is() -> None:
    """Is IP found behind a PPPoE session header, and inside GRE (with key and sequence) and IP-in-IP?"""
    pppoe = bytes(12) + b"\x88\x64" + b"\x11\x00\x00\x07\x00\x40" + b"\x00\x21" + invite_ipv4()
    assert network_header(LINKTYPE_ETHERNET, pppoe) == (4, 22)
    assert network_header(LINKTYPE_ETHERNET, pppoe[:20] + b"\xc0\x21" + invite_ipv4()) is None  # LCP, not IP
    assert tunnel_inner(4, invite_ipv4()) == (4, 0) and tunnel_inner(41, invite_ipv6()) == (6, 0)
    gre = struct.pack("!HH", 0x3000, 0x0800) + bytes(8) + invite_ipv4()  # key and sequence present
    assert tunnel_inner(47, gre) == (4, 12)
    assert tunnel_inner(47, struct.pack("!HH", 0x0001, 0x880B) + bytes(4)) is None  # version 1 (PPTP)
    assert tunnel_inner(17, invite_ipv4()) is None


@pytest.mark.parametrize(("what", "gre", "inner"), [
    ("ERSPAN type I (no sequence number, no header)", struct.pack("!HH", 0x0000, 0x88BE) + bytes(14), (0, 4)),
    ("ERSPAN type II", struct.pack("!HHI", 0x1000, 0x88BE, 5) + b"\x10\x00\x00\x03" + bytes(4) + bytes(14), (0, 16)),
    ("ERSPAN type III", struct.pack("!HHI", 0x1000, 0x22EB, 5) + b"\x20" + bytes(11) + bytes(14), (0, 20)),
    ("ERSPAN type III with its platform subheader", struct.pack("!HHI", 0x1000, 0x22EB, 5) + b"\x20" + bytes(10)
     + b"\x01" + bytes(8) + bytes(14), (0, 28)),
    ("ERSPAN of an unknown version", struct.pack("!HHI", 0x1000, 0x88BE, 5) + b"\x30" + bytes(7) + bytes(14), None),
    ("ERSPAN header cut", struct.pack("!HHI", 0x1000, 0x22EB, 5) + b"\x20" + bytes(5), None),
    ("ERSPAN with nothing mirrored", struct.pack("!HHI", 0x1000, 0x88BE, 5) + b"\x10" + bytes(7), None),
])
def test_erspan_says_where_the_mirrored_frame_is(what: str, gre: bytes, inner: tuple[int, int] | None) -> None:
    """Is the mirrored Ethernet frame found after the GRE and ERSPAN headers, as tshark finds it?"""
    assert tunnel_inner(47, gre) == inner


def _udp(sport: int, dport: int, payload: bytes, length: int | None = None) -> bytes:
    return struct.pack("!HHHH", sport, dport, 8 + len(payload) if length is None else length, 0) + payload


def _gtp(inner: bytes, flags: int = 0x30, message: int = 0xFF, extra: bytes = b"") -> bytes:
    return struct.pack("!BBHI", flags, message, len(extra) + len(inner), 0x1001) + extra + inner


UDP_TUNNEL_CASES = [
    ("GTP-U G-PDU", _udp(2152, 2152, _gtp(invite_ipv4())), (4, 16)),
    ("GTP-U carrying IPv6", _udp(40000, 2152, _gtp(invite_ipv6())), (6, 16)),
    ("GTP-U with a sequence number", _udp(2152, 2152, _gtp(invite_ipv4(), 0x32, extra=bytes(4))), (4, 20)),
    ("GTP-U with two extension headers", _udp(2152, 2152, _gtp(invite_ipv4(), 0x34, extra=bytes(3) + b"\x85"
                                                                + b"\x01\x10\x09\xc0" + b"\x01\x00\x00\x00")),
     (4, 28)),
    ("GTP-U extension header of length 0", _udp(2152, 2152, _gtp(invite_ipv4(), 0x34, extra=bytes(3) + b"\x85"
                                                                  + b"\x00\x10\x09\x00")), None),
    ("GTP-U extension header past the datagram", _udp(2152, 2152, _gtp(b"", 0x34, extra=bytes(3) + b"\x85\x05")),
     None),
    ("GTP-U extension chain without end", _udp(2152, 2152, _gtp(invite_ipv4(), 0x34, extra=bytes(3) + b"\x85"
                                                                 + b"\x01\x00\x00\x85" * 20)), None),
    ("GTP-U echo request (not a G-PDU)", _udp(2152, 2152, _gtp(invite_ipv4(), message=1)), None),
    ("GTP version 2", _udp(2152, 2152, _gtp(invite_ipv4(), 0x48)), None),
    ("GTP' (protocol type 0)", _udp(2152, 2152, _gtp(invite_ipv4(), 0x20)), None),
    ("GTP-U user packet tshark does not take for IP", _udp(2152, 2152, _gtp(b"\x4f" + invite_ipv4()[1:])), None),
    ("GTP-U with nothing inside", _udp(2152, 2152, _gtp(b"")), None),
    ("GTP-U cut by the UDP length", _udp(2152, 2152, _gtp(invite_ipv4()), length=16), None),
    ("UDP length below its header", _udp(2152, 2152, _gtp(invite_ipv4()), length=7), None),
    ("VXLAN", _udp(49152, 4789, bytes.fromhex("0800000000002a00") + bytes(14)), (0, 16)),
    ("VXLAN with nothing inside", _udp(49152, 4789, bytes.fromhex("0800000000002a00")), None),
    ("the lower port first: GTP-U from the VXLAN port", _udp(4789, 2152, _gtp(invite_ipv4())), (4, 16)),
    ("Geneve carrying Ethernet", _udp(50000, 6081, bytes.fromhex("000065580000 2a00".replace(" ", "")) + bytes(14)),
     (0, 16)),
    ("Geneve with 8 bytes of options, carrying IPv4", _udp(50000, 6081, bytes.fromhex("0200080000002a00")
                                                          + bytes(8) + invite_ipv4()), (4, 24)),
    ("Geneve version 1", _udp(50000, 6081, bytes.fromhex("4000080000002a00") + invite_ipv4()), None),
    ("Geneve of an unknown protocol", _udp(50000, 6081, bytes.fromhex("000088470000 2a00".replace(" ", ""))
                                           + invite_ipv4()), None),
    ("Geneve options past the datagram", _udp(50000, 6081, bytes.fromhex("3f00080000002a00") + invite_ipv4()[:40]),
     None),
    ("no tunnel port", _udp(5062, 5062, _gtp(invite_ipv4())), None),
    ("shorter than a UDP header", b"\x08\x68\x08\x68", None),
]


@pytest.mark.parametrize(("what", "datagram", "inner"), UDP_TUNNEL_CASES)
def test_udp_tunnels_say_where_the_inner_packet_is(what: str, datagram: bytes, inner: tuple[int, int] | None) -> None:
    """Is the packet inside a GTP-U or VXLAN datagram found where tshark finds it, and nothing
    read from a datagram that is no tunnel or whose header does not fit?"""
    assert udp_tunnel_inner(datagram) == inner


def test_bulk_reader_opens_the_udp_tunnels_the_frame_reader_opens(tmp_path: Path) -> None:
    """Does read_udp (numpy, column-wise) open exactly the GTP-U/VXLAN datagrams IpReader opens
    (one frame per case above, behind IPv4 and IPv6), giving the same innermost ports?"""
    cases = [datagram for _, datagram, _ in UDP_TUNNEL_CASES if len(datagram) >= 8 and datagram[4:6] >= b"\x00\x08"]
    frames = []
    for datagram in cases:
        frames.append(ethernet(struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(datagram), 0, 0, 64, 17, 0,
                                           bytes([192, 0, 2, 1]), bytes([192, 0, 2, 2])) + datagram))
        frames.append(ethernet(struct.pack("!IHBB16s16s", 0x6000_0000, len(datagram), 17, 64, bytes(15) + b"\x01",
                                           bytes(15) + b"\x02") + datagram, ETHERTYPE_IPV6))
    path = write_pcap(tmp_path / "udp_tunnels.pcap", LINKTYPE_ETHERNET, frames)
    table = read_udp(path)
    bulk = {int(f): (int(s), int(d)) for f, s, d in zip(table["frame"], table["src_port"], table["dst_port"],
                                                        strict=True)}
    reader = IpReader()
    one_by_one = {}
    for number, frame in enumerate(frames, start=1):
        segment = reader.frame(LINKTYPE_ETHERNET, frame)
        if segment is not None and segment.protocol == 17:
            one_by_one[number] = struct.unpack_from("!HH", segment.payload)
    assert bulk == one_by_one
    opened = sum(1 for _, _, inner in UDP_TUNNEL_CASES if inner is not None and inner[0])
    assert sum(5060 in ports for ports in bulk.values()) == 2 * opened  # every IP tunnel opened, in both
