"""Tests of voiplab.core.mime: multipart bodies cut as tshark cuts them (the streams' SDP cases in
tests/test_streams.py check the result against tshark itself)."""

from __future__ import annotations

import pytest

from voiplab.core.mime import MAX_DEPTH, BodyPart, bodies_of_type, media_type_parameter, multipart_parts

SDP = b"v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\n"
ISUP = bytes([0x01, 0x00, 0x49, 0x00, 0x0D, 0x0A, 0x2D, 0x2D])  # binary, with a CRLF and "--" inside
SIP_I = (b"--b\r\nContent-Type: application/sdp\r\n\r\n" + SDP
         + b"\r\n--b\r\nContent-Type: application/ISUP;version=itu-t92+\r\nContent-Disposition: signal\r\n\r\n"
         + ISUP + b"\r\n--b--\r\n")


@pytest.mark.parametrize(("parameters", "name", "value"), [
    ("boundary=b", "boundary", "b"),
    ("boundary=b;charset=x", "charset", "x"),
    ("  charset=x ; BOUNDARY = abc ", "boundary", "abc"),
    ('boundary="my boundary";x=1', "boundary", "my boundary"),
    ('boundary="a\\"b"', "boundary", 'a"b'),
    ("type=application/sdp;boundary=z", "boundary", "z"),
    ("novalue; boundary=q", "boundary", "q"),
    ("charset=x", "boundary", None),
    ("", "boundary", None),
    ('boundary="unterminated', "boundary", "unterminated"),
])
def test_media_type_parameter(parameters, name, value):
    """Are parameters found by name in any case, quoted values unquoted, absent ones None?"""
    assert media_type_parameter(parameters, name) == value


def test_sip_i_body_is_cut_into_its_two_parts():
    """Does a SIP-I body give the SDP and the ISUP part, each without the line end before the boundary?"""
    parts = multipart_parts("boundary=b", SIP_I)
    assert parts == [BodyPart("application/sdp", "", SDP),
                     BodyPart("application/isup", "version=itu-t92+", ISUP)]


def test_sdp_bodies_are_found_in_order_and_nested():
    """Are SDP parts found in order, in a nested multipart too, and a plain SDP body returned as is?"""
    second = SDP.replace(b"40000", b"40002")
    nested = (b"--outer\r\nContent-Type: application/sdp\r\n\r\n" + second
              + b"\r\n--outer\r\nContent-Type: multipart/alternative; boundary=b\r\n\r\n" + SIP_I + b"\r\n--outer--")
    assert bodies_of_type("multipart/mixed", "boundary=outer", nested, "application/sdp") == [second, SDP]
    assert bodies_of_type("application/sdp", "", SDP, "application/sdp") == [SDP]
    assert bodies_of_type("application/isup", "", ISUP, "application/sdp") == []
    assert bodies_of_type(None, "", SDP, "application/sdp") == []


@pytest.mark.parametrize(("what", "body"), [
    ("no final boundary", SIP_I[:SIP_I.index(b"\r\n--b\r\nContent-Type: application/ISUP")]),
    ("LF line ends in the headers", SIP_I.replace(b"\r\n", b"\n")),
    ("a boundary that does not start a line", b"x" + SIP_I),
    ("only the last boundary", b"--b--\r\n" + SIP_I),
    ("empty", b""),
    ("the boundary line alone", b"--b"),
])
def test_bodies_tshark_does_not_read(what, body):
    """Does a body tshark reads no SDP from give no SDP (no part, or the part cut off)?"""
    assert bodies_of_type("multipart/mixed", "boundary=b", body, "application/sdp") == []


def test_last_boundary_without_a_line_end_before_it():
    """Does '--b--' on the SDP's last line (no line end before it) still end the SDP part there?"""
    head = b"--b\r\nContent-Type: application/sdp\r\n\r\n"
    assert multipart_parts("boundary=b", head + SDP[:-2] + b"--b--") == [BodyPart("application/sdp", "", SDP[:-2])]
    assert multipart_parts("boundary=b", head + SDP + b"--b--") == [BodyPart("application/sdp", "", SDP[:-2])]


def test_hostile_bodies_end_quickly():
    """Do a nesting deeper than MAX_DEPTH, 100,000 empty parts and 2 MB of bare LF lines end with a result?"""
    body = SIP_I
    for level in range(MAX_DEPTH + 5):
        body = (f"--n{level}\r\nContent-Type: multipart/mixed;boundary=".encode() + (b"b" if level == 0 else
                f"n{level - 1}".encode()) + b"\r\n\r\n" + body + f"\r\n--n{level}--\r\n".encode())
    deepest = f"n{MAX_DEPTH + 4}"
    assert bodies_of_type("multipart/mixed", f"boundary={deepest}", body, "application/sdp") == []
    many = (b"--b\r\n" + b"c: text/plain\r\n\r\nx\r\n--b\r\n" * 100_000 + b"Content-Type: application/sdp\r\n\r\n" + SDP
            + b"--b--")
    assert bodies_of_type("multipart/mixed", "boundary=b", many, "application/sdp") == [SDP[:-2]]
    assert bodies_of_type("multipart/mixed", "boundary=b", b"\n" * 2_000_000, "application/sdp") == []
    assert bodies_of_type("multipart/mixed", "boundary=b", b"--b\r\n" + b"\r" * 2_000_000, "application/sdp") == []
