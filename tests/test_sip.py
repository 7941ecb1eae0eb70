"""Tests of voiplab.core.sip: parsing, lookups, typed headers, exact round-trips, errors, fuzzing."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from synthetic_sip import all_packets

from voiplab.core.sdp import SessionDescription
from voiplab.core.sip import (
    AuthHeader,
    CSeq,
    NameAddr,
    SipMessage,
    Uri,
    Via,
    diff,
    head_content_length,
    message_length,
    salvage_fields,
    split_commas,
)
from voiplab.errors import SipParseError

REAL_STYLE = [packet.payload for packet in all_packets()]
REGISTER, CHALLENGE_401, REGISTER_AUTH, REGISTER_OK = REAL_STYLE[:4]
INVITE_SDP = REAL_STYLE[4]

COMPACT = (
    b"INVITE sip:5001@127.0.0.80;transport=udp SIP/2.0\n"
    b"v: SIP/2.0/UDP 127.0.0.82:5062;branch=z9hG4bK776asdhds , SIP/2.0/TCP [2001:db8::9]:5070;"
    b"received=192.0.2.1;rport=5071;branch=z9hG4bKnashds8\n"
    b"V: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKthird\n"
    b'f: "Doe, John" <sip:5002@127.0.0.80>;tag=1928301774\n'
    b"t: sip:5001@127.0.0.80\n"
    b"i: a84b4c76e66710@pc33.example.com\n"
    b"CSEQ:  314159\n"
    b"\t INVITE\n"
    b'm: <sip:5002@127.0.0.82:5062>;expires=60, "A, B" <sip:x@[::1]>;q=0.5\n'
    b"Max-Forwards: 70\n"
    b"k: timer, 100rel\n"
    b"c: application/sdp\n"
    b"l: 36\n"
    b"\n"
    b"v=0\r\ns=-\r\nm=audio 4000 RTP/AVP 0 8\r\nTRAILING"
)

FIXTURES = REAL_STYLE + [COMPACT]


@pytest.mark.parametrize("data", FIXTURES)
def test_round_trip_exact(data: bytes) -> None:
    """Does every message serialise back to exactly the bytes it was parsed from?"""
    assert bytes(SipMessage.parse(data)) == data


def test_compact_names_expand_to_long_form() -> None:
    """Does a compact header name expand to its long form for lookups?"""
    message = SipMessage.parse(COMPACT)
    headers = message.headers
    assert headers["Call-ID"] == "a84b4c76e66710@pc33.example.com"
    assert headers["call-id"] == headers["i"] == headers.get("CALL-ID")
    assert headers["Content-Length"] == "36"
    assert "content-type" in headers and "Subject" not in headers
    assert [h.long_name for h in headers][:4] == ["Via", "Via", "From", "To"]
    assert headers[0].is_compact and headers[0].name == "v"


def test_folded_header_is_unfolded() -> None:
    """Is a header continued on a line starting with whitespace joined with one space?"""
    message = SipMessage.parse(COMPACT)
    assert message.headers["cseq"] == "314159 INVITE"
    assert message.cseq == CSeq(314159, "INVITE")


def test_repeated_and_comma_separated_values() -> None:
    """Are Via values from one comma-separated line and from a repeated header all listed, in order?"""
    message = SipMessage.parse(COMPACT)
    assert len(message.headers.get_all("via")) == 2
    vias = message.vias
    assert [v.branch for v in vias] == ["z9hG4bK776asdhds", "z9hG4bKnashds8", "z9hG4bKthird"]
    assert vias[1] == Via(
        "SIP/2.0/TCP",
        "TCP",
        "[2001:db8::9]",
        5070,
        (("received", "192.0.2.1"), ("rport", "5071"), ("branch", "z9hG4bKnashds8")),
    )
    assert vias[1].received == "192.0.2.1" and vias[1].rport == 5071
    assert vias[2].port is None and vias[2].sent_by == "10.0.0.1"
    assert message.headers.values("Supported") == ["timer", "100rel"]


def test_contacts_with_quoted_commas() -> None:
    """Does a comma inside a quoted display name not split a Contact list?"""
    contacts = SipMessage.parse(COMPACT).contacts
    assert [str(c.uri) for c in contacts] == ["sip:5002@127.0.0.82:5062", "sip:x@[::1]"]
    assert contacts[0].param("expires") == "60"
    assert contacts[1].display_name == "A, B" and contacts[1].param("q") == "0.5"
    assert split_commas('"a,b" <sip:x>, <sip:y;p=1,2>') == ['"a,b" <sip:x>', "<sip:y;p=1,2>"]


def test_body_follows_content_length_and_keeps_the_rest() -> None:
    """Is the body cut at Content-Length, and the extra UDP bytes kept for the round-trip?"""
    message = SipMessage.parse(COMPACT)
    assert message.body == b"v=0\r\ns=-\r\nm=audio 4000 RTP/AVP 0 8\r\n"
    assert message.trailing == b"TRAILING"
    assert message.sdp == SessionDescription.parse(message.body)


def test_body_without_content_length_is_the_rest() -> None:
    """Without Content-Length (UDP), is the body everything after the empty line?"""
    message = SipMessage.parse(b"MESSAGE sip:a@b SIP/2.0\r\nCall-ID: x\r\n\r\nhello")
    assert message.body == b"hello" and message.content_length is None


def test_request_fields() -> None:
    """Are method, Request-URI, From/To tags, Call-ID, CSeq, Max-Forwards and SDP of an INVITE read?"""
    message = SipMessage.parse(INVITE_SDP)
    assert message.is_request and not message.is_response
    assert message.method == "INVITE"
    assert message.uri == Uri("sip", "5001", None, "127.0.0.80")
    assert message.from_tag == "c4a1f3e2-7b6d-4c5e-9f8a-1b2c3d4e5f60"
    assert message.from_ is not None and message.from_.display_name == "Raspberry Pi"
    assert message.to_tag is None
    assert message.call_id == "9c3f5e2a8b1d4c6e7f0a1b2c3d4e5f60"
    assert message.cseq == CSeq(10452, "INVITE")
    assert message.max_forwards == 70
    assert message.branch == "z9hG4bKPj11aa22bb-33cc-44dd-55ee-66ff77889900"
    assert message.top_via is not None and message.top_via.rport_requested and message.top_via.rport is None
    sdp = message.sdp
    assert sdp is not None and sdp.media[0].connection_address == "127.0.0.82"


def test_response_fields_and_challenge() -> None:
    """Are the status, reason and WWW-Authenticate parameters of Asterisk's 401 read?"""
    message = SipMessage.parse(CHALLENGE_401)
    assert message.is_response and message.status == 401 and message.reason == "Unauthorized"
    assert message.method is None and message.summary == "401 Unauthorized"
    challenge = message.www_authenticate
    assert challenge is not None
    assert challenge.scheme == "Digest"
    assert challenge["realm"] == "asterisk"
    assert challenge.get("QOP") == "auth"
    assert challenge["algorithm"] == "MD5"
    assert message.headers["Content-Length"] == "0"  # Asterisk writes "Content-Length:  0"


def test_authorization_params() -> None:
    """Are the Authorization parameters of the second REGISTER unquoted and found by name?"""
    auth = SipMessage.parse(REGISTER_AUTH).authorization
    assert auth is not None
    assert auth["username"] == "5002" and auth["uri"] == "sip:127.0.0.80"
    assert auth["nc"] == "00000001" and auth["qop"] == "auth"
    assert "response" in auth and "stale" not in auth
    assert AuthHeader.parse(str(auth)) == auth


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("sip:5001@127.0.0.80", Uri("sip", "5001", None, "127.0.0.80")),
        (
            "sips:alice:secret@example.com:5061;transport=tls?subject=hi&x=y",
            Uri(
                "sips",
                "alice",
                "secret",
                "example.com",
                5061,
                (("transport", "tls"),),
                (("subject", "hi"), ("x", "y")),
            ),
        ),
        ("sip:[2001:db8::1]:5070;lr", Uri("sip", None, None, "[2001:db8::1]", 5070, (("lr", None),))),
        ("sip:127.0.0.80", Uri("sip", None, None, "127.0.0.80")),
        (
            "tel:+33123456789;phone-context=example.com",
            Uri("tel", "+33123456789", params=(("phone-context", "example.com"),)),
        ),
        ("urn:service:sos", Uri("urn", opaque="service:sos")),
    ],
)
def test_uris(text: str, expected: Uri) -> None:
    """Are SIP, SIPS, tel and other URIs split into their parts, and written back as given?"""
    uri = Uri.parse(text)
    assert uri == expected
    assert str(uri) == text
    assert (
        str(
            Uri(
                **{
                    k: getattr(uri, k)
                    for k in ("scheme", "user", "password", "host", "port", "params", "headers", "opaque")
                }
            )
        )
        == text
    )


def test_uri_defaults() -> None:
    """Does a URI without port default to 5060 (5061 for sips)?"""
    assert Uri.parse("sip:a@b").default_port == 5060
    assert Uri.parse("sips:a@b").default_port == 5061
    assert Uri.parse("sip:a@b;transport=tcp").transport == "TCP"


def test_name_addr_forms() -> None:
    """Are display names (quoted, token, none) and header parameters after the address read?"""
    quoted = NameAddr.parse('"Rasp \\"Pi\\"" <sip:5002@127.0.0.80>;tag=abc')
    assert quoted.display_name == 'Rasp "Pi"' and quoted.tag == "abc"
    assert str(NameAddr.parse(str(quoted))) == str(quoted)
    token = NameAddr.parse("Alcatel <sip:5001@127.0.0.81>")
    assert token.display_name == "Alcatel" and token.user == "5001"
    bare = NameAddr.parse("sip:5001@127.0.0.80;tag=xyz")
    assert bare.tag == "xyz" and bare.uri.params == () and not bare.angle_brackets


@pytest.mark.parametrize(
    ("data", "message", "offset"),
    [
        (
            b"",
            "SIP message is empty: it must start with a request line such as "
            "'OPTIONS sip:127.0.0.80 SIP/2.0' or a status line such as 'SIP/2.0 200 OK'",
            0,
        ),
        (
            b"\r\n\r\n",
            "SIP message is only blank lines (a CRLF keep-alive): skip it, it carries no request or response",
            0,
        ),
        (
            b"HELLO WORLD\r\n\r\n",
            "SIP start line 'HELLO WORLD' is malformed: it must be a request line "
            "'METHOD URI SIP/2.0' or a status line 'SIP/2.0 CODE REASON'",
            0,
        ),
        (
            b"OPTIONS sip:a SIP/2.0\r\nCall-ID x\r\n\r\n",
            "SIP header line 2 'Call-ID x' is missing its ':': each header must look like 'Name: value'",
            23,
        ),
        (
            b"OPTIONS sip:a SIP/2.0\r\n folded: x\r\n\r\n",
            "SIP header line 2 starts with whitespace but follows no header: remove the leading "
            "whitespace (folded lines continue the header above)",
            23,
        ),
        (
            b"OPTIONS sip:a SIP/2.0\r\nBad Name: x\r\n\r\n",
            "SIP header name 'Bad Name' on line 2 is not a valid token: header names are letters, "
            "digits and -.!%*_+`'~",
            23,
        ),
        (
            b"SIP/2.0 200 OK\r\nContent-Length: ten\r\n\r\n",
            "SIP Content-Length 'ten' is not a number: it must be the body size in bytes",
            0,
        ),
        (
            b"SIP/2.0 200 OK\r\nl: 10\r\n\r\nabc",
            "SIP body was truncated (Content-Length 10, 3 bytes present): capture with a larger "
            "snaplen, or reassemble the TCP stream",
            28,
        ),
    ],
)
def test_errors(data: bytes, message: str, offset: int) -> None:
    """Does malformed input raise SipParseError with the exact message and offset?"""
    with pytest.raises(SipParseError) as info:
        SipMessage.parse(data)
    assert str(info.value) == message
    assert info.value.offset == offset


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda: Uri.parse("5001@127.0.0.80"),
            "SIP URI '5001@127.0.0.80' is malformed: it must start with a scheme, e.g. 'sip:5001@127.0.0.80'",
        ),
        (
            lambda: Uri.parse("sip:a@b:99999"),
            "SIP URI 'sip:a@b:99999' has a port '99999' that is not a number from 0 to 65535: fix the port",
        ),
        (
            lambda: Uri.parse("sip:a@"),
            "SIP URI 'sip:a@' is missing its host: write it as 'sip:user@host[:port]'",
        ),
        (
            lambda: Via.parse("SIP/2.0 127.0.0.1"),
            "SIP Via 'SIP/2.0 127.0.0.1' is malformed: it must look like "
            "'SIP/2.0/UDP <host>:<port>;branch=z9hG4bK...'",
        ),
        (
            lambda: CSeq.parse("INVITE 1"),
            "SIP CSeq 'INVITE 1' is malformed: it must be a number and a method, e.g. '2 INVITE'",
        ),
        (
            lambda: NameAddr.parse('"unterminated <sip:a@b>'),
            "SIP address '\"unterminated <sip:a@b>' has an unterminated quoted string: close the display "
            "name with '\"'",
        ),
        (lambda: NameAddr.parse("<sip:a@b"), "SIP address '<sip:a@b' is malformed: '<' is not closed by '>'"),
    ],
)
def test_typed_header_errors(call: object, message: str) -> None:
    """Do the typed views raise SipParseError with an exact message?"""
    with pytest.raises(SipParseError) as info:
        call()  # type: ignore[operator]
    assert str(info.value) == message


@pytest.mark.parametrize("data", FIXTURES)
def test_every_truncated_prefix_parses_or_raises_sip_parse_error(data: bytes) -> None:
    """Does every truncated prefix of every message either parse (and round-trip) or raise SipParseError?"""
    for end in range(len(data) + 1):
        try:
            message = SipMessage.parse(data[:end])
        except SipParseError:
            continue
        assert bytes(message) == data[:end]


def test_bare_lf_and_crlf_are_both_accepted() -> None:
    """Is a message with bare LF line endings read like the same message with CRLF?"""
    crlf = SipMessage.parse(REGISTER)
    lf = SipMessage.parse(REGISTER.replace(b"\r\n", b"\n"))
    assert lf.headers.items() == crlf.headers.items()
    assert bytes(lf) == REGISTER.replace(b"\r\n", b"\n")


def test_leading_crlf_is_kept() -> None:
    """Are CRLFs before the start line (stream keep-alives) skipped and kept for the round-trip?"""
    data = b"\r\n\r\n" + REGISTER
    assert SipMessage.parse(data).method == "REGISTER"
    assert bytes(SipMessage.parse(data)) == data


def test_message_length_frames_a_stream() -> None:
    """Does message_length find where the first message of a TCP stream ends?"""
    stream = INVITE_SDP + REGISTER
    assert message_length(stream) == len(INVITE_SDP)
    assert message_length(INVITE_SDP[:-1]) is None
    assert message_length(b"\r\n\r\n") == 4


def test_build_request_and_replace_header() -> None:
    """Does a built request get a Content-Length, and replace_header keep the name's spelling?"""
    options = SipMessage.request(
        "OPTIONS", "sip:127.0.0.80", [("Via", "SIP/2.0/UDP 127.0.0.82:5060;branch=z9hG4bK1"), ("i", "abc")]
    )
    assert options.headers["Content-Length"] == "0"
    assert bytes(options).startswith(b"OPTIONS sip:127.0.0.80 SIP/2.0\r\nVia: ")
    changed = options.replace_header("Call-ID", "xyz")
    assert changed.call_id == "xyz" and changed.headers[1].name == "i"
    assert SipMessage.parse(bytes(changed)) == changed
    with_body = options.with_body("v=0\r\n", "application/sdp")
    assert with_body.content_length == 5 and with_body.has_sdp


def test_repr_is_one_line_and_html_highlights_names() -> None:
    """Is the repr one line, and does the HTML highlight header names and show the SDP?"""
    message = SipMessage.parse(INVITE_SDP)
    assert "\n" not in repr(message)
    assert repr(message).startswith("<SipMessage INVITE sip:5001@127.0.0.80 | CSeq: 10452 INVITE")
    page = message._repr_html_()
    assert "font-weight:bold'>Call-ID</span>" in page
    assert "m=</span>audio 4000" in page


def test_diff_register_before_and_after_401() -> None:
    """Does the diff of the two REGISTERs show the new Authorization and the changed CSeq and Via?"""
    result = diff(SipMessage.parse(REGISTER), SipMessage.parse(REGISTER_AUTH))
    assert [c.name for c in result.added] == ["Authorization"]
    assert {c.name for c in result.changed} == {"Via", "CSeq"}
    assert result.removed == []
    cseq = next(c for c in result.changed if c.name == "CSeq")
    assert (cseq.old, cseq.new) == ("28571 REGISTER", "28572 REGISTER")
    assert "From" in result.unchanged and "Call-ID" in result.unchanged
    assert "<table>" in result._repr_html_() and "Authorization" in result._repr_html_()
    assert not diff(SipMessage.parse(REGISTER), SipMessage.parse(REGISTER))


def test_diff_treats_compact_and_long_names_alike() -> None:
    """Is 'i: x' the same header as 'Call-ID: x' in a diff?"""
    a = SipMessage.parse(b"OPTIONS sip:a@b SIP/2.0\r\ni: x\r\n\r\n")
    b = SipMessage.parse(b"OPTIONS sip:a@b SIP/2.0\r\nCall-ID: x\r\n\r\n")
    assert not diff(a, b)


def _exercise(message: SipMessage) -> None:
    for view in (
        "uri",
        "call_id",
        "cseq",
        "from_",
        "to",
        "vias",
        "contacts",
        "max_forwards",
        "www_authenticate",
        "authorization",
        "content_type",
    ):
        try:
            getattr(message, view)
        except SipParseError:
            pass
    repr(message)
    message._repr_html_()


@pytest.mark.fuzz
@settings(max_examples=10_000, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    base=st.sampled_from(FIXTURES),
    cut=st.integers(min_value=0, max_value=2000),
    position=st.integers(min_value=0, max_value=2000),
    noise=st.binary(max_size=12),
)
def test_fuzz_only_sip_parse_error_escapes(base: bytes, cut: int, position: int, noise: bytes) -> None:
    """Whatever bytes are spliced into a real message, does parse raise only SipParseError (or round-trip)?"""
    position %= len(base) + 1
    data = (base[:position] + noise + base[position:])[: len(base) + len(noise) - cut % 50]
    try:
        message = SipMessage.parse(data)
    except SipParseError:
        return
    assert bytes(message) == data
    _exercise(message)


@pytest.mark.fuzz
@settings(max_examples=2_000, deadline=None)
@given(st.binary(max_size=300))
def test_fuzz_random_bytes(data: bytes) -> None:
    """Do arbitrary bytes only ever raise SipParseError?"""
    try:
        message = SipMessage.parse(data)
    except SipParseError:
        return
    assert bytes(message) == data
    _exercise(message)


@pytest.mark.parametrize("length", ["\u00b2", "1" * 5000, "12a"])
def test_content_length_that_is_not_ascii_digits_is_a_parse_error(length: str) -> None:
    """Is a Content-Length of Unicode digits or thousands of digits a SipParseError, never a ValueError?"""
    data = f"OPTIONS sip:127.0.0.80 SIP/2.0\r\nCSeq: 1 OPTIONS\r\nContent-Length: {length}\r\n\r\n".encode()
    with pytest.raises(SipParseError, match="is not a number: it must be the body size in bytes"):
        SipMessage.parse(data)


# ---------------------------------------------------------------------------- issue 11: captures from the wild


def test_folded_header_is_joined_and_kept_byte_for_byte() -> None:
    """Is a header folded over many lines read as one value (pieces joined by one space) and the
    message kept byte for byte?"""
    lines = "".join(f"\r\n \t piece{k}" for k in range(2000))
    data = f"MESSAGE sip:a@b SIP/2.0\r\nSubject: start{lines}\r\nCall-ID: x\r\n\r\n".encode()
    message = SipMessage.parse(data)
    assert message.headers.get("subject") == "start " + " ".join(f"piece{k}" for k in range(2000))
    assert message.call_id == "x" and bytes(message) == data


def test_salvage_fields_reads_what_it_can_of_a_broken_message() -> None:
    """Does salvage_fields give the first line and the first value of each readable header (compact
    forms expanded), skipping lines without a colon, never raising?"""
    first, values = salvage_fields(b"BYE sip:a@b SIP/2.0\r\nv: SIP/2.0/UDP h\r\ni: abc\r\nbroken line\r\nCSe")
    assert first == "BYE sip:a@b SIP/2.0" and values == {"via": "SIP/2.0/UDP h", "call-id": "abc"}
    assert salvage_fields(b"") == ("", {}) and salvage_fields(b"\xff\xfe:\r\n")[0] == "\ufffd\ufffd:"


def test_head_content_length() -> None:
    """Is the Content-Length of a head read (compact form too), 0 when absent, and a bad one a SipParseError?"""
    assert head_content_length(b"INVITE sip:a@b SIP/2.0\r\nl: 12\r\n") == 12
    assert head_content_length(b"SIP/2.0 200 OK\r\nCall-ID: x\r\n") == 0
    with pytest.raises(SipParseError, match="SIP Content-Length 'x1' is not a number: it must be the body size"):
        head_content_length(b"SIP/2.0 200 OK\r\nContent-Length: x1\r\n")


@pytest.mark.parametrize("value", [
    '<sip:5001@127.0.0.80>;tag=abc', '"Pi; the phone" <sip:5002@pbx>;tag=q;x=1', "sip:5001@pbx;tag=t",
    '<sip:5001@pbx;tag=uri-param>', "<sip:5001@pbx>;TAG=Upper", "<sip:5001@pbx>",
])
def test_tags_read_quickly_equal_the_parsed_address_tags(value: str) -> None:
    """Is the From/To tag read without parsing the URI the same as the tag of the parsed address?"""
    message = SipMessage.request("INVITE", "sip:a@b", [("From", value), ("To", value), ("Call-ID", "x")])
    assert message.from_tag == (message.from_.tag if message.from_ else None)
    assert message.to_tag == (message.to.tag if message.to else None)
    assert message.header("f") == message.headers.get("From") == value


@pytest.mark.parametrize("text", [
    "SIP/2.0/UDP 127.0.0.82:5060;rport;branch=z9hG4bKPj0b4c", "SIP/2.0/TCP host;branch=x;received=1.2.3.4",
    "SIP/2.0/UDP h:5060;branch=", "SIP/2.0/UDP h:5060;Branch=Z;x=y;flag", "SIP/2.0/UDP h:5060",
    "SIP/2.0/UDP h:5060;;x", "SIP/2.0/UDP h:5060;=x", "SIP/2.0/udp h:0", "SIP/2.0/UDP h:65535;rport=",
    "SIP/2.0/UDP [::1]:5060;branch=a", "SIP/2.0/UDP h : 5060 ;branch=a", 'SIP/2.0/UDP h;x="a;b"',
])
def test_via_read_in_one_step_equals_the_general_reading(text: str) -> None:
    """Does the quick reading of the usual Via form give exactly what the general reading gives?"""
    assert Via.parse(text) == Via._parse_general(text)
    assert str(Via.parse(text)) == str(Via._parse_general(text))


def test_via_port_beyond_65535_is_still_an_error() -> None:
    """Is a Via port above 65535 a SipParseError, even in the usual form?"""
    with pytest.raises(SipParseError, match="has a port that is not a number from 0 to 65535"):
        Via.parse("SIP/2.0/UDP h:99999;branch=z9hG4bKx")
