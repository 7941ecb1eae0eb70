"""Tests of voiplab.core.rtp: the RTP packet (header, CSRCs, extension, payload, padding)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.inet import UDP
from scapy.utils import rdpcap

from voiplab.core.rtp import RTP_HEADER_LENGTH, RtpHeader
from voiplab.errors import RtpParseError
from voiplab.teach.samples import SAMPLE_DIR

# A G.711 packet as Asterisk sends it (header + 4 payload bytes)
PACKET = bytes.fromhex("80 00 3a 98 00 01 f4 00 12 34 56 78 ff fe 7f 00".replace(" ", ""))
#: A packet with every optional part: a CSRC, an 8-byte extension, 5 payload bytes and 4 of
#: padding. Its payload bytes ("x" = 120) and padding zeros make every strict prefix invalid:
#: the last byte of a prefix is read as the padding count, and it is 0 or runs past the header.
EVERYTHING = bytes(RtpHeader(payload_type=0, sequence_number=1, timestamp=2, ssrc=3, csrc=(4,), extension_profile=1,
                             extension=b"\0" * 8, payload=b"x" * 5, padding=4))


def captured_rtp() -> list[bytes]:
    """The first packets of each kind (audio with and without marker, telephone-event) of a real call."""
    seen: dict[tuple[int, int], bytes] = {}
    for packet in rdpcap(str(SAMPLE_DIR / "call_rpi_to_alcatel.pcap")):
        if UDP not in packet or 5060 in (packet[UDP].sport, packet[UDP].dport):
            continue
        data = bytes(packet[UDP].payload)
        if data[0] >> 6 == 2 and not 200 <= data[1] <= 204:  # RTP, not RTCP
            seen.setdefault((data[1] & 0x7F, data[1] >> 7), data)
    return list(seen.values())


CAPTURED = captured_rtp()


def test_captured_call_has_audio_and_telephone_events() -> None:
    """Does the real call give G.711 and telephone-event packets, with and without the marker bit?"""
    kinds = {(RtpHeader.parse(data).payload_type, RtpHeader.parse(data).marker) for data in CAPTURED}
    assert kinds == {(0, True), (0, False), (101, True), (101, False)}


def test_parse_fields():
    """Are the fields of a captured RTP header decoded?"""
    h = RtpHeader.parse(PACKET)
    assert (h.version, h.payload_type, h.sequence_number, h.timestamp, h.ssrc) == (2, 0, 15000, 128000, 0x12345678)
    assert h.marker is False and h.payload == b"\xff\xfe\x7f\x00" and h.csrc == ()
    assert repr(h) == "RtpHeader(PT=0 g711U, seq=15000, ts=128000, SSRC=0x12345678, 4 bytes)"


@pytest.mark.parametrize("data", CAPTURED + [PACKET, EVERYTHING])
def test_captured_packets_round_trip(data: bytes) -> None:
    """Does every packet serialise back to exactly its bytes?"""
    assert bytes(RtpHeader.parse(data)) == data


def test_round_trip_with_everything():
    """Do CSRCs, extension, marker and padding survive parse(bytes(h))?"""
    h = RtpHeader(payload_type=101, sequence_number=65535, timestamp=2**32 - 1, ssrc=1, marker=True,
                  csrc=(7, 8), extension_profile=0xBEDE, extension=b"\x10\xaa\x00\x00", payload=b"abc", padding=3)
    data = bytes(h)
    assert RtpHeader.parse(data) == h
    assert bytes(RtpHeader.parse(PACKET)) == PACKET


def test_every_strict_prefix_of_a_padded_packet_raises_rtp_parse_error():
    """Does every strict prefix of a packet with CSRC, extension and padding raise RtpParseError?"""
    for n in range(len(EVERYTHING)):
        with pytest.raises(RtpParseError):
            RtpHeader.parse(EVERYTHING[:n])


@pytest.mark.parametrize("data", CAPTURED + [PACKET])
def test_prefixes_of_captured_packets_parse_exactly_from_the_header_on(data: bytes) -> None:
    """Does a prefix shorter than the 12-byte header raise RtpParseError, while each longer one
    parses as the same header with a shorter payload, and round-trips?

    (Without padding, RTP has no length field: a cut payload is still a valid packet.)
    """
    whole = RtpHeader.parse(data)
    for n in range(len(data)):
        if n < RTP_HEADER_LENGTH:
            with pytest.raises(RtpParseError, match="too short"):
                RtpHeader.parse(data[:n])
            continue
        part = RtpHeader.parse(data[:n])
        assert part.payload == whole.payload[: n - RTP_HEADER_LENGTH]
        assert (part.payload_type, part.sequence_number, part.timestamp, part.ssrc, part.marker) == (
            whole.payload_type, whole.sequence_number, whole.timestamp, whole.ssrc, whole.marker)
        assert bytes(part) == data[:n]


def test_error_messages():
    """Do the errors say what is wrong and what to do?"""
    with pytest.raises(RtpParseError) as e:
        RtpHeader.parse(b"\x80\x00")
    assert str(e.value) == ("RTP packet is too short (2 bytes): an RTP header needs 12 bytes; "
                            "check that this UDP payload is RTP")
    with pytest.raises(RtpParseError) as e:
        RtpHeader.parse(b"\x40" + bytes(11))
    assert str(e.value) == ("RTP version is 1, not 2: this is not an RTP packet (STUN, ZRTP or other UDP?); "
                            "check the port binding")
    with pytest.raises(RtpParseError) as e:
        RtpHeader.parse(EVERYTHING[:14])
    assert str(e.value) == ("RTP packet is truncated: its header lists 1 CSRCs but only 14 bytes are present: "
                            "the capture may be cut short (snaplen)")
    with pytest.raises(RtpParseError) as e:
        RtpHeader.parse(EVERYTHING[:24])
    assert str(e.value) == ("RTP packet is truncated: its header extension needs 8 bytes but only 4 are present: "
                            "the capture may be cut short (snaplen)")
    with pytest.raises(RtpParseError) as e:
        RtpHeader.parse(EVERYTHING[:30])
    assert str(e.value) == ("RTP padding is invalid: the P bit is set but the padding count is 120 for 2 bytes "
                            "after the header: the packet is corrupt")


@given(st.integers(0, 127), st.integers(0, 65535), st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1),
       st.booleans(), st.lists(st.integers(0, 2**32 - 1), max_size=15), st.binary(max_size=40),
       st.integers(0, 255))
@settings(max_examples=200, deadline=None)
def test_round_trip_property(pt, seq, ts, ssrc, marker, csrc, payload, padding):
    """Does any header round-trip through bytes?"""
    h = RtpHeader(pt, seq, ts, ssrc, marker, tuple(csrc), payload=payload, padding=padding)
    assert RtpHeader.parse(bytes(h)) == h
