"""Tests of voiplab.capture.pcap, the fast pcap/pcapng reader (formats, link types, truncation)."""

from __future__ import annotations

import struct
import warnings

import numpy as np
import pytest
from _gen import gen_rtp as g

from voiplab.errors import CaptureError
from voiplab.capture.pcap import UDP_DTYPE, read_udp


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
    assert str(e.value) == (f"capture file {path} is not a pcap or pcapng file (it starts with 0x68656c6c): "
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
