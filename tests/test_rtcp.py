"""Tests of voiplab.core.rtcp: compound RTCP packets (SR, RR, SDES, BYE) from real calls."""

from __future__ import annotations

import pytest
from scapy.layers.inet import UDP
from scapy.utils import rdpcap

from voiplab.core.rtcp import (
    Goodbye,
    ReceiverReport,
    ReportBlock,
    RtcpPacket,
    SdesChunk,
    SenderReport,
    SourceDescription,
    is_rtcp,
    parse_rtcp,
)
from voiplab.errors import RtpParseError
from voiplab.teach.samples import SAMPLE_DIR

BLOCK = ReportBlock(0xABCDEF01, 12, -3, 70000, 45, 0x11112222, 655)
PARTS: list[RtcpPacket] = [SenderReport(1, 0x1122334455667788, 160, 10, 1600, (BLOCK,)),
         SourceDescription((SdesChunk(1, ((1, "rpi@127.0.0.82"), (6, "pjsua2"))),)),
         ReceiverReport(2, (BLOCK,)), Goodbye((1, 2), "hangup")]
COMPOUND = b"".join(bytes(p) for p in PARTS)


def captured_rtcp() -> dict[str, bytes]:
    """One compound packet of each shape pjsua2 sent in a real call (e.g. "SenderReport+SourceDescription")."""
    seen: dict[str, bytes] = {}
    for name in ("call_rpi_to_alcatel", "call_alcatel_to_rpi"):
        for packet in rdpcap(str(SAMPLE_DIR / f"{name}.pcap")):
            if UDP in packet and 5060 not in (packet[UDP].sport, packet[UDP].dport):
                data = bytes(packet[UDP].payload)
                if is_rtcp(data):
                    seen.setdefault("+".join(type(part).__name__ for part in parse_rtcp(data)), data)
    return seen


CAPTURED = captured_rtcp()


def boundaries(data: bytes) -> list[int]:
    """The offsets at which the parts of a compound packet end (from their length fields)."""
    ends, offset = [], 0
    while offset < len(data):
        offset += 4 + 4 * int.from_bytes(data[offset + 2:offset + 4], "big")
        ends.append(offset)
    return ends


def test_real_calls_hold_every_report_shape() -> None:
    """Do the real calls give SR and RR reports, with SDES, with and without BYE?"""
    assert set(CAPTURED) == {
        "ReceiverReport+SourceDescription", "ReceiverReport+SourceDescription+Goodbye",
        "SenderReport+SourceDescription", "SenderReport+SourceDescription+Goodbye"}


@pytest.mark.parametrize("shape", sorted(CAPTURED))
def test_captured_compound_packets_round_trip(shape: str) -> None:
    """Does every real compound packet serialise back to exactly its bytes?"""
    data = CAPTURED[shape]
    assert b"".join(bytes(part) for part in parse_rtcp(data)) == data


def test_captured_sender_report_fields() -> None:
    """Are the fields of a real SR and of its SDES CNAME decoded?"""
    report, sdes = parse_rtcp(CAPTURED["SenderReport+SourceDescription"])
    assert isinstance(report, SenderReport) and isinstance(sdes, SourceDescription)
    assert (report.ssrc, report.packet_count, report.octet_count) == (0x599219EA, 11, 1760)
    assert report.ntp_timestamp >> 32 == 0xEEB27802 and len(report.reports) == 1
    assert report.reports[0].ssrc == 0x2A26046C and report.reports[0].cumulative_lost == 0
    assert sdes.chunks[0].ssrc == 0x599219EA and sdes.chunks[0].items == ((1, "3c11baf541fd8be7"),)  # CNAME


def test_rtcp_compound_round_trip():
    """Does a compound SR + SDES + RR + BYE round-trip, with a one-line repr?"""
    assert parse_rtcp(COMPOUND) == PARTS
    assert repr(PARTS[0]) == "SenderReport(SSRC=0x00000001, packets=10, octets=1600, 1 reports)"


@pytest.mark.parametrize("data", [COMPOUND, *CAPTURED.values()], ids=["built", *CAPTURED])
def test_prefixes_parse_exactly_at_part_boundaries(data: bytes) -> None:
    """Does a prefix that ends where a part ends parse as the parts before it (and round-trip),
    while every other strict prefix raises RtpParseError?"""
    whole = parse_rtcp(data)
    ends = boundaries(data)
    assert ends[-1] == len(data) and len(ends) == len(whole) >= 2
    for n in range(len(data)):
        if n in ends:
            parts = parse_rtcp(data[:n])
            assert parts == whole[: ends.index(n) + 1]
            assert b"".join(bytes(part) for part in parts) == data[:n]
        else:
            with pytest.raises(RtpParseError):
                parse_rtcp(data[:n])


def test_error_messages():
    """Do the errors say what is wrong and what to do?"""
    with pytest.raises(RtpParseError) as e:
        parse_rtcp(b"")
    assert str(e.value) == "RTCP packet is empty: an RTCP header needs 4 bytes; check the port (RTP port + 1)"
    with pytest.raises(RtpParseError) as e:
        parse_rtcp(COMPOUND[:10])
    assert str(e.value) == ("RTCP packet is truncated: its length field says 48 bytes after the header but 6 are "
                            "present: the capture may be cut short")
    with pytest.raises(RtpParseError) as e:
        parse_rtcp(b"\x40" + COMPOUND[1:])
    assert str(e.value) == "RTCP version is 1, not 2: this is not RTCP; check the port binding"


def test_is_rtcp_tells_rtcp_from_rtp():
    """Is RTCP (types 200-204) told from RTP, even RTP with the marker bit (second byte 0x80-0xFF)?"""
    assert all(is_rtcp(data) for data in CAPTURED.values())
    assert not is_rtcp(bytes.fromhex("80802fbb000000a02a26046c")) and not is_rtcp(b"\x81\xc8")
