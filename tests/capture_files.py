"""Capture files built byte by byte for the reader tests: pcap records, pcapng blocks, link-layer headers.

The packets inside are real: the IP packets of the lab's captured INVITE and REGISTER
(``voiplab/teach/data``, read with scapy, not with the reader under test), put behind each
link-layer header that voiplab reads. tshark then says what it finds in the same files.
"""

from __future__ import annotations

import struct
import subprocess
from functools import cache
from pathlib import Path

from voiplab.teach.samples import sample_capture

PCAP_MAGIC_US, PCAP_MAGIC_NS = 0xA1B2C3D4, 0xA1B23C4D
PCAPNG_SHB, PCAPNG_IDB, PCAPNG_PB, PCAPNG_SPB, PCAPNG_EPB = 0x0A0D0D0A, 1, 2, 3, 6
ETHERTYPE_IPV4, ETHERTYPE_IPV6 = 0x0800, 0x86DD
FIRST_TIME = 1_700_000_000  # seconds: the first packet of every file built here


@cache
def lab_ip_packets() -> dict[str, bytes]:
    """The IPv4 packets (header and all) of the first REGISTER and INVITE of the lab's call, as captured."""
    from scapy.layers.inet import IP
    from scapy.utils import rdpcap

    found: dict[str, bytes] = {}
    for packet in rdpcap(str(sample_capture("call_rpi_to_alcatel"))):
        if IP in packet:
            ip = bytes(packet[IP])
            method = ip[28:36].split(b" ")[0].decode("ascii", "replace")
            if method in ("REGISTER", "INVITE") and method not in found:
                found[method] = ip
    return found


def invite_ipv4() -> bytes:
    """The lab's INVITE (rpi to the PBX) as the IPv4 packet it was captured in."""
    return lab_ip_packets()["INVITE"]


def invite_ipv6() -> bytes:
    """The lab's INVITE, its UDP datagram moved into an IPv6 packet (2001:db8::82 -> 2001:db8::80)."""
    ip = invite_ipv4()
    udp = ip[(ip[0] & 0x0F) * 4:]
    source, destination = bytes.fromhex("20010db8" + "00" * 11 + "82"), bytes.fromhex("20010db8" + "00" * 11 + "80")
    return struct.pack("!IHBB16s16s", 0x6000_0000, len(udp), 17, 64, source, destination) + udp


# ---------------------------------------------------------------- link layers
def ethernet(ip: bytes, ethertype: int = ETHERTYPE_IPV4, tags: tuple[int, ...] = ()) -> bytes:
    """An Ethernet frame (zero MAC addresses), with a VLAN tag (tag type, VLAN 5) per entry of ``tags``."""
    head = bytes(12)
    for tag in tags:
        head += struct.pack("!HH", tag, 5)
    return head + struct.pack("!H", ethertype) + ip


def sll(ip: bytes, ethertype: int = ETHERTYPE_IPV4) -> bytes:
    """Linux cooked capture v1: packet type, ARPHRD, address length, 8 address bytes, protocol."""
    return struct.pack("!HHH8sH", 0, 772, 0, bytes(8), ethertype) + ip


def sll2(ip: bytes, ethertype: int = ETHERTYPE_IPV4) -> bytes:
    """Linux cooked capture v2: protocol, reserved, interface, ARPHRD, packet type, address length, 8 bytes."""
    return struct.pack("!HHIHBB8s", ethertype, 0, 1, 772, 0, 0, bytes(8)) + ip


def bsd_loopback(ip: bytes, family: int, order: str = "<") -> bytes:
    """BSD null/loop header: the 4-byte address family in the given byte order."""
    return struct.pack(order + "I", family) + ip


# ---------------------------------------------------------------- pcap
def write_pcap(path: Path, linktype: int, frames: list[bytes], *, order: str = "<", nanoseconds: bool = False,
               cut: int = 0) -> Path:
    """A pcap file: frame k at FIRST_TIME + k seconds + 123456 µs (or ns); ``cut`` bytes removed at the end."""
    data = struct.pack(order + "IHHiIII", PCAP_MAGIC_NS if nanoseconds else PCAP_MAGIC_US, 2, 4, 0, 0, 262144,
                       linktype)
    for k, frame in enumerate(frames):
        data += struct.pack(order + "IIII", FIRST_TIME + k, 123456, len(frame), len(frame)) + frame
    path.write_bytes(data[:len(data) - cut])
    return path


# ---------------------------------------------------------------- pcapng
def _block(kind: int, body: bytes, order: str) -> bytes:
    body += bytes(-len(body) % 4)
    return struct.pack(order + "II", kind, 12 + len(body)) + body + struct.pack(order + "I", 12 + len(body))


def shb(order: str = "<") -> bytes:
    """A section header block (starts a section: its byte order, no interfaces yet)."""
    return _block(PCAPNG_SHB, struct.pack(order + "IHHq", 0x1A2B3C4D, 1, 0, -1), order)


def idb(linktype: int, tsresol: int | None = None, tsoffset: int | None = None, order: str = "<") -> bytes:
    """An interface description block with the ``if_tsresol`` / ``if_tsoffset`` options given."""
    options = b""
    if tsresol is not None:
        options += struct.pack(order + "HH", 9, 1) + bytes([tsresol, 0, 0, 0])
    if tsoffset is not None:
        options += struct.pack(order + "HHq", 14, 8, tsoffset)
    if options:
        options += struct.pack(order + "HH", 0, 0)
    return _block(PCAPNG_IDB, struct.pack(order + "HHI", linktype, 0, 262144) + options, order)


def epb(interface: int, ticks: int, frame: bytes, order: str = "<") -> bytes:
    """An enhanced packet block: interface, 64-bit time in the interface's units, the frame."""
    head = struct.pack(order + "IIIII", interface, ticks >> 32, ticks & 0xFFFFFFFF, len(frame), len(frame))
    return _block(PCAPNG_EPB, head + frame, order)


def pb(interface: int, ticks: int, frame: bytes, order: str = "<") -> bytes:
    """An (obsolete) packet block: a 16-bit interface id and a 16-bit drop count, then as an EPB."""
    head = struct.pack(order + "HHIIII", interface, 0, ticks >> 32, ticks & 0xFFFFFFFF, len(frame), len(frame))
    return _block(PCAPNG_PB, head + frame, order)


def spb(frame: bytes, order: str = "<") -> bytes:
    """A simple packet block: no interface id and no time stamp (interface 0 is meant)."""
    return _block(PCAPNG_SPB, struct.pack(order + "I", len(frame)) + frame, order)


# ---------------------------------------------------------------- what tshark sees
def tshark_fields(tshark: str, path: Path, display_filter: str, *fields: str) -> list[list[str]]:
    """``tshark -r path -Y filter -T fields -e ...``: one list of field values per packet shown."""
    command = [tshark, "-n", "-r", str(path), "-Y", display_filter, "-T", "fields"]
    for name in fields:
        command += ["-e", name]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    assert done.returncode in (0, 2), done.stderr  # 2: the file ends early; tshark still prints what it read
    return [line.split("\t") for line in done.stdout.splitlines()]


def epoch_ns(text: str) -> int:
    """tshark's ``frame.time_epoch`` (``"1700000000.123456000"``) as integer nanoseconds, exactly."""
    seconds, _, fraction = text.partition(".")
    return int(seconds) * 1_000_000_000 + int(fraction.ljust(9, "0")[:9])
