"""Tests of voiplab.capture.layers: the scapy SIP layer (bound to port 5060, show() lists the parsed
headers, builds from a SipMessage) and rtp_packet (one packet of a stream dissected as scapy RTP)."""

from __future__ import annotations

from pathlib import Path

import pytest
from scapy.layers.inet import IP, UDP
from scapy.layers.rtp import RTP
from scapy.utils import rdpcap, wrpcap
from synthetic_sip import SYNTHETIC_PCAP

from voiplab.capture.layers import SIP, rtp_packet
from voiplab.capture.streams import streams
from voiplab.core.sip import SipMessage
from voiplab.errors import CaptureError
from voiplab.teach.samples import sample_capture


def test_scapy_layer_is_bound_and_shows_headers() -> None:
    """Does scapy decode UDP port 5060 as SIP, and does show() list the parsed headers?"""
    packet = rdpcap(str(SYNTHETIC_PCAP))[1]
    assert packet.haslayer(SIP)
    assert packet[SIP].message.status == 401
    shown = packet.show(dump=True)
    assert "###[ SIP ]###" in shown
    assert "WWW-Authenticate" in shown and 'realm="asterisk"' in shown
    assert packet.summary().endswith("SIP 401 Unauthorized (CSeq 28571 REGISTER)")


def test_scapy_layer_builds_from_a_message() -> None:
    """Can an OPTIONS be crafted as IP()/UDP()/SIP(message) and dissected back?"""
    options = SipMessage.request("OPTIONS", "sip:127.0.0.80", [("Call-ID", "abc"), ("CSeq", "1 OPTIONS")])
    packet = IP(dst="127.0.0.80") / UDP(sport=5060, dport=5060) / SIP(options)
    again = IP(bytes(packet))
    assert again[SIP].message == options
    assert "SIP OPTIONS" in again.summary()


def test_rtp_packet_is_the_streams_packet_dissected_as_rtp() -> None:
    """Is packet k of a captured stream read with scapy and its UDP payload dissected as RTP, with the
    stream's sequence number, SSRC and payload type?"""
    path = sample_capture("call_alcatel_to_rpi")
    stream = streams(path)[0]
    for index in (0, 5):
        packet = rtp_packet(path, stream, index)
        assert packet[UDP].sport == stream.src_port and packet[UDP].dport == stream.dst_port
        assert packet[RTP].sequence == int(stream.sequence_number[index])
        assert packet[RTP].sourcesync == stream.ssrc
        assert packet[RTP].payload_type == int(stream.payload_type[index])


def test_rtp_packet_of_another_capture_is_a_clear_error(tmp_path: Path) -> None:
    """Does asking for a stream's packet in a capture that does not have that frame raise CaptureError?"""
    stream = streams(sample_capture("call_alcatel_to_rpi"))[0]
    short = tmp_path / "short.pcap"
    wrpcap(str(short), rdpcap(str(SYNTHETIC_PCAP))[:2])
    frame = int(stream.frame[0])
    with pytest.raises(CaptureError) as info:
        rtp_packet(short, stream)
    assert str(info.value) == f"frame {frame} is not in {short}: pass the capture the stream was read from"
