"""Tests of voiplab.core.sdp: parsing, effective values and exact round-trips."""

from __future__ import annotations

import pytest

from voiplab.core.sdp import (
    PAYLOAD_TYPES,
    Attribute,
    Connection,
    MediaDescription,
    RtpMap,
    SessionDescription,
)
from voiplab.errors import SdpParseError

# What pjsua2 2.15 offers (the "rpi" phone).
PJSUA_SDP = (
    b"v=0\r\n"
    b"o=- 3915462345 3915462345 IN IP4 127.0.0.82\r\n"
    b"s=pjmedia\r\n"
    b"b=AS:84\r\n"
    b"t=0 0\r\n"
    b"a=X-nat:0\r\n"
    b"m=audio 4000 RTP/AVP 0 8 101\r\n"
    b"c=IN IP4 127.0.0.82\r\n"
    b"b=TIAS:64000\r\n"
    b"a=rtcp:4001 IN IP4 127.0.0.82\r\n"
    b"a=sendrecv\r\n"
    b"a=rtpmap:0 PCMU/8000\r\n"
    b"a=rtpmap:8 PCMA/8000\r\n"
    b"a=rtpmap:101 telephone-event/8000\r\n"
    b"a=fmtp:101 0-16\r\n"
    b"a=ssrc:1270488416 cname:4b7a0e7c3bd5410f\r\n"
)

# What Asterisk 22 answers (session-level c=, no rtpmap for 0 in this variant).
ASTERISK_SDP = (
    b"v=0\r\n"
    b"o=- 1026 1028 IN IP4 127.0.0.80\r\n"
    b"s=Asterisk\r\n"
    b"c=IN IP4 127.0.0.80\r\n"
    b"t=0 0\r\n"
    b"m=audio 10016 RTP/AVP 0 8 9 101\r\n"
    b"a=rtpmap:101 telephone-event/8000\r\n"
    b"a=fmtp:101 0-16\r\n"
    b"a=ptime:20\r\n"
    b"a=maxptime:150\r\n"
    b"a=sendrecv\r\n"
)

TWO_MEDIA_LF = (
    "v=0\n"
    "o=alice 1 2 IN IP6 ::1\n"
    "s=-\n"
    "t=0 0\n"
    "a=recvonly\n"
    "m=audio 49170 RTP/AVP 3 97\n"
    "c=IN IP6 2001:db8::1\n"
    "a=rtpmap:97 L16/16000/2\n"
    "m=video 0 RTP/AVP 31\n"
    "a=inactive\n"
)

FIXTURES = [PJSUA_SDP, ASTERISK_SDP, TWO_MEDIA_LF.encode()]


@pytest.mark.parametrize("data", FIXTURES)
def test_round_trip_exact(data: bytes) -> None:
    """Does every fixture serialise back to exactly the bytes it was parsed from?"""
    sdp = SessionDescription.parse(data)
    assert bytes(sdp) == data
    assert str(SessionDescription.parse(data.decode())) == data.decode()


def test_pjsua_offer_fields() -> None:
    """Are the media, port, protocol, formats and address of a pjsua2 offer found?"""
    sdp = SessionDescription.parse(PJSUA_SDP)
    assert sdp.version == 0
    assert sdp.session_name == "pjmedia"
    assert sdp.connection_address is None
    (audio,) = sdp.media
    assert isinstance(audio, MediaDescription)
    assert audio.media == "audio"
    assert audio.port == 4000
    assert audio.protocol == "RTP/AVP"
    assert audio.formats == (0, 8, 101)
    assert audio.connection_address == "127.0.0.82"
    assert audio.rtpmap == {
        0: RtpMap(0, "PCMU", 8000, 1),
        8: RtpMap(8, "PCMA", 8000, 1),
        101: RtpMap(101, "telephone-event", 8000, 1),
    }
    assert audio.fmtp == {101: "0-16"}
    assert audio.direction == "sendrecv"
    assert audio.rtcp_port == 4001
    assert audio.codecs == ("PCMU", "PCMA", "telephone-event")
    assert Attribute("ssrc", "1270488416 cname:4b7a0e7c3bd5410f") in audio.attributes
    assert sdp.origin is not None and sdp.origin.address == "127.0.0.82"


def test_session_connection_inherited_and_static_payload_types() -> None:
    """Does a media section without c= use the session c=, and static PTs default from RFC 3551?"""
    sdp = SessionDescription.parse(ASTERISK_SDP)
    assert sdp.connection_address == "127.0.0.80"
    audio = sdp.media[0]
    assert audio.connection_address == "127.0.0.80"
    assert audio.rtpmap[0] == RtpMap(0, "PCMU", 8000, 1)
    assert audio.rtpmap[8] == RtpMap(8, "PCMA", 8000, 1)
    assert audio.rtpmap[9] == RtpMap(9, "G722", 8000, 1)
    assert audio.ptime == 20
    assert audio.rtcp_port == 10017
    assert sdp.audio() is audio


def test_direction_inherited_and_overridden() -> None:
    """Does a media section inherit the session direction unless it sets its own?"""
    sdp = SessionDescription.parse(TWO_MEDIA_LF)
    audio, video = sdp.media
    assert audio.direction == "recvonly"
    assert video.direction == "inactive"
    assert audio.connection_address == "2001:db8::1"
    assert video.connection_address is None
    assert audio.rtpmap[97] == RtpMap(97, "L16", 16000, 2)
    assert audio.rtpmap[3] == RtpMap(3, "GSM", 8000, 1)
    assert video.port == 0
    assert sdp.audio() is audio


def test_payload_types_table() -> None:
    """Does the static table hold the RFC 3551 codecs the lab meets?"""
    assert PAYLOAD_TYPES[0] == RtpMap(0, "PCMU", 8000)
    assert PAYLOAD_TYPES[8] == RtpMap(8, "PCMA", 8000)
    assert PAYLOAD_TYPES[3].encoding == "GSM"
    assert PAYLOAD_TYPES[9] == RtpMap(9, "G722", 8000)
    assert PAYLOAD_TYPES[13] == RtpMap(13, "CN", 8000)
    assert PAYLOAD_TYPES[18] == RtpMap(18, "G729", 8000)


def test_multicast_connection() -> None:
    """Are the TTL and address count of a multicast c= line read?"""
    assert Connection.parse("IN IP4 224.2.1.1/127/3") == Connection("IN", "IP4", "224.2.1.1", 127, 3)
    assert str(Connection.parse("IN IP4 224.2.1.1/127")) == "IN IP4 224.2.1.1/127"


def test_non_numeric_formats_kept_as_text() -> None:
    """Are non-RTP formats (e.g. a WebRTC data channel) kept as strings?"""
    sdp = SessionDescription.parse("v=0\r\ns=-\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n")
    assert sdp.media[0].formats == ("webrtc-datachannel",)
    assert sdp.media[0].rtpmap == {}


def test_repr_is_one_line() -> None:
    """Is the repr one line naming the address, port and codecs?"""
    text = repr(SessionDescription.parse(PJSUA_SDP))
    assert "\n" not in text
    assert "127.0.0.82:4000" in text and "PCMU" in text
    assert "<table>" in SessionDescription.parse(PJSUA_SDP)._repr_html_()


@pytest.mark.parametrize(
    ("text", "message", "offset"),
    [
        (
            "v=0\r\nhello\r\n",
            "SDP line 2 'hello' is malformed: every line must look like '<letter>=<value>', "
            "e.g. 'c=IN IP4 127.0.0.82'",
            5,
        ),
        ("", "SDP body is empty: it must start with 'v=0'", 0),
        (
            "s=-\r\nv=0\r\n",
            "SDP body starts with 's=-' instead of 'v=0': is this really an SDP body?",
            0,
        ),
        (
            "v=0\r\nm=audio port RTP/AVP 0\r\n",
            "SDP media line 'm=audio port RTP/AVP 0' is malformed: it must look like "
            "'m=<media> <port> <proto> <fmt> ...', e.g. 'm=audio 4000 RTP/AVP 0 8 101'",
            5,
        ),
        (
            "v=0\r\nc=IN IP4\r\n",
            "SDP connection line 'c=IN IP4' is malformed: it must look like 'c=IN IP4 <address>'",
            5,
        ),
        (
            "v=0\r\no=- 1 IN IP4 1.2.3.4\r\n",
            "SDP origin line 'o=- 1 IN IP4 1.2.3.4' is malformed: it must have six fields "
            "'o=<username> <sess-id> <sess-version> IN IP4 <address>'",
            5,
        ),
        (
            "v=0\r\nm=audio 4000 RTP/AVP 0\r\na=rtpmap:0 PCMU\r\n",
            "SDP attribute 'a=rtpmap:0 PCMU' is malformed: it must look like "
            "'a=rtpmap:<payload type> <encoding>/<clock rate>[/<channels>]'",
            29,
        ),
    ],
)
def test_errors(text: str, message: str, offset: int) -> None:
    """Does a malformed body raise SdpParseError with the exact message and offset?"""
    with pytest.raises(SdpParseError) as info:
        SessionDescription.parse(text)
    assert str(info.value) == message
    assert info.value.offset == offset


@pytest.mark.parametrize("data", FIXTURES)
def test_every_prefix_parses_or_raises_sdp_parse_error(data: bytes) -> None:
    """Does every truncated prefix either parse or raise only SdpParseError?"""
    for end in range(len(data) + 1):
        try:
            sdp = SessionDescription.parse(data[:end])
        except SdpParseError:
            continue
        assert bytes(sdp) == data[:end]
