"""The check cells of notebook 01: each passes on the student's right figure and, on a wrong one, says what to look at.

Everything is computed from the committed sample call (rpi calls the Alcatel in the default
local lab), as the notebook does: rpi's INVITE and its SDP, the first RTP packet the
Alcatel sent. The wrong figures are the mistakes students make (the SIP port for the RTP
port, Ethernet counted in the IP overhead, the codec rate, the IP rate, the 14 bytes a
capture shows instead of 18, bit/s for kbit/s). The exact messages are asserted.
"""

from __future__ import annotations

import pytest

import voiplab as vl
from voiplab.errors import VoipLabError
from voiplab.teach.checks.stack import header_overhead, rtp_port_from_sdp, wire_bitrate


@pytest.fixture(scope="module")
def call():
    return vl.from_pcap(vl.sample_capture("call_rpi_to_alcatel"), vl.LabConfig())


@pytest.fixture(scope="module")
def packet(call):
    """The first RTP packet the Alcatel sent to rpi: 14 + 20 + 8 + 12 + 160 bytes."""
    return vl.rtp_packet(call.pcap, call.stream("alcatel", "rpi"), 0)


def test_the_checks_are_reachable_as_vl_checks() -> None:
    """Does vl.checks.<name> find each check of notebook 01?"""
    assert vl.checks.rtp_port_from_sdp is rtp_port_from_sdp
    assert vl.checks.header_overhead is header_overhead
    assert vl.checks.wire_bitrate is wire_bitrate


def test_the_port_of_the_sdp_passes(call) -> None:
    """Is rpi's m=audio port (4000, where the Alcatel's RTP arrived) accepted, with the stream seen there?"""
    result = rtp_port_from_sdp(4000, call)
    assert result.ok
    assert result.message == ("4000: the m=audio line of the caller's INVITE says its RTP arrives at "
                              "127.0.0.82:4000 (PCMU, PCMA, telephone-event); the capture holds 1 RTP stream(s) "
                              "sent to 127.0.0.82:4000")


@pytest.mark.parametrize(("answer", "message"), [
    (5060, "5060 is the SIP port (in the Via and Contact headers): RTP goes where the SDP body says, on its "
           "m=audio line"),
    (10000, "10000 is not the port of the m=audio line of the caller's INVITE: read the SDP body printed above "
            "(m=audio <port> RTP/AVP <payload types>)"),
    (..., "write the port in the cell above (rtp_port = <a number>), then run this check again"),
    ("4000", "write the port in the cell above (rtp_port = <a number>), then run this check again"),
])
def test_a_wrong_port_says_where_to_read(call, answer: object, message: str) -> None:
    """Do the SIP port, another port or no answer fail with where to look?"""
    result = rtp_port_from_sdp(answer, call)
    assert not result.ok
    assert result.message == message


def test_a_capture_without_a_call_is_caught() -> None:
    """Does the check say which capture to load when the experiment holds no call?"""
    registration = vl.from_pcap(vl.sample_capture("register_401"), vl.LabConfig())
    assert rtp_port_from_sdp(4000, registration).message == (
        "this experiment holds no call: load the sample call with "
        "vl.from_pcap(vl.sample_capture(\"call_rpi_to_alcatel\"))")


def test_the_header_overhead_passes(packet) -> None:
    """Is 40 bytes (IP 20 + UDP 8 + RTP 12) accepted, with the share of headers in each packet?"""
    result = header_overhead(packet, 40)
    assert result.ok
    assert result.message == ("40 bytes: IP 20 + UDP 8 + RTP 12, in front of 160 bytes of voice: 20% of every IP "
                              "packet is headers")
    assert header_overhead(packet, 40.0).ok


@pytest.mark.parametrize(("answer", "message"), [
    (54, "you counted the Ethernet header as well: this step asks for the headers from RTP down to IP (Ethernet "
         "comes in the next step)"),
    (20, "20 bytes leaves a layer out: add the header of each of the three layers RTP, UDP and IP (the sizes "
         "printed above)"),
    (33, "33 is not the sum of the RTP, UDP and IP header lengths of this packet: a layer's header is len(layer) - "
         "len(layer.payload), e.g. for IP len(packet[IP]) - len(packet[IP].payload)"),
    (..., "write your answer in the cell above (overhead = <a number of bytes>), then run this check again"),
])
def test_a_wrong_overhead_says_what_to_count(packet, answer: object, message: str) -> None:
    """Do Ethernet counted in, a layer left out, or another figure fail with what to count?"""
    result = header_overhead(packet, answer)
    assert not result.ok
    assert result.message == message


def test_a_missing_packet_is_caught() -> None:
    """Without an RTP packet, do both packet checks say to read one first?"""
    assert header_overhead(None, 40).message == ("there is no RTP packet to look at: run packet = vl.rtp_packet(...) "
                                                 "first")
    assert wire_bitrate(87.2, None).message == header_overhead(None, 40).message


def test_the_ethernet_bit_rate_passes_both_ways(packet) -> None:
    """Are 87.2 kbit/s (frames: + 18 bytes) and 95.2 kbit/s (wire time: + 38 bytes) both accepted?"""
    frames = wire_bitrate(87.2, packet)
    assert frames.ok
    assert frames.message == ("87.2 kbit/s: 50 packets/s x 218 bytes per frame (14 Ethernet header + 200 IP packet "
                              "+ 4 FCS) x 8 bits; with the preamble and the inter-frame gap the wire is busy for "
                              "95.2 kbit/s")
    wire = wire_bitrate(95.2, packet)
    assert wire.ok
    assert wire.message == ("95.2 kbit/s of wire time: 50 packets/s x (218 bytes per frame + 20 of preamble and "
                            "inter-frame gap) x 8 bits; the frames alone are 87.2 kbit/s")
    assert wire_bitrate(87.2 + 0.1, packet).ok


@pytest.mark.parametrize(("answer", "message"), [
    (64, "64 kbit/s is the voice alone (the G.711 codec rate): every packet also carries RTP, UDP, IP and Ethernet "
         "headers"),
    (80, "80 kbit/s is the rate of the IP packets: Ethernet adds 18 bytes to each (a 14-byte header and a 4-byte "
         "FCS)"),
    (85.6, "you added the 14-byte header the capture shows: on the wire each frame also ends with a 4-byte FCS, "
           "which captures do not show"),
    (87200, "that is the right figure in bit/s: give it in kbit/s (1 kbit/s = 1000 bit/s)"),
    (100, "100 kbit/s does not fit this packet: packets per second (8000 samples/s divided by the samples in one "
          "packet) x bytes per Ethernet frame x 8 bits"),
    (..., "write your answer in the cell above (bitrate_kbps = <kbit/s>), then run this check again"),
])
def test_a_wrong_bit_rate_says_what_is_missing(packet, answer: object, message: str) -> None:
    """Do the codec rate, the IP rate, the captured 14 bytes, bit/s and other figures fail with what to add?"""
    result = wire_bitrate(answer, packet)
    assert not result.ok
    assert result.message == message


def test_the_bit_rate_check_refuses_a_packet_that_is_not_g711(packet) -> None:
    """Is a packet of another codec a misuse (the check counts one byte per sample), said plainly?"""
    from scapy.layers.rtp import RTP

    other = packet.copy()
    other[RTP].payload_type = 18
    with pytest.raises(VoipLabError) as e:
        wire_bitrate(87.2, other)
    assert str(e.value) == ("the packet carries g729, not G.711: this check counts one byte per sample, pass a "
                            "packet of a G.711 stream")
