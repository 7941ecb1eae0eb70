"""Do notebook 08's check cells pass on a right value and say what to do on a wrong one?

The WebSocket check is fed RFC 6455's own example (section 1.3: the key
``dGhlIHNhbXBsZSBub25jZQ==`` gives ``s3pPLMBiTxaQ9kYGzzhZRbK+xOo=``); the fingerprint check a
certificate made by the lab's code and a 200 OK whose SDP announces it, as Asterisk sends it
to the browser; the codec check that SDP and the Alcatel's record of the call.
"""

from __future__ import annotations

import base64
import hashlib
import ssl
from pathlib import Path

import pytest

from voiplab.core.flow import TraceEntry
from voiplab.devices.certs import make_certificates
from voiplab.devices.webrtc import WssHandshake
from voiplab.errors import VoipLabError
from voiplab.teach import checks
from voiplab.teach.checks.webrtc import dtls_fingerprint, legs_codec, websocket_accept

#: RFC 6455 section 1.3
RFC_KEY = "dGhlIHNhbXBsZSBub25jZQ=="
RFC_ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def handshake(accept: str | None = RFC_ACCEPT) -> WssHandshake:
    request = (f"GET /ws HTTP/1.1\r\nHost: 127.0.0.70:8089\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               f"Sec-WebSocket-Key: {RFC_KEY}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: sip\r\n\r\n")
    accept_line = f"Sec-WebSocket-Accept: {accept}\r\n" if accept else ""
    response = ("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"{accept_line}Sec-WebSocket-Protocol: sip\r\n\r\n")
    return WssHandshake("wss://127.0.0.70:8089/ws", "TLSv1.3", "TLS_AES_256_GCM_SHA384", "CN=pbx", request,
                        response, 101, "sip", accept == RFC_ACCEPT)


def test_the_checks_are_reachable_as_vl_checks() -> None:
    """Does ``vl.checks.<name>`` find each of notebook 08's checks?"""
    assert checks.websocket_accept is websocket_accept and checks.legs_codec is legs_codec


# -- websocket_accept --------------------------------------------------------------------------


def test_the_rfc_example_passes() -> None:
    """The student's base64(SHA-1(key + GUID)) of RFC 6455's example: does the check pass?"""
    mine = base64.b64encode(hashlib.sha1((RFC_KEY + GUID).encode()).digest()).decode()
    result = websocket_accept(handshake(), mine)
    assert result.ok
    assert result.message == (f"{RFC_ACCEPT}: the server proved it read this request's key (RFC 6455 section "
                              "4.2.2), so no cache or proxy answered in its place")
    assert websocket_accept(handshake(), mine.encode()).ok  # bytes from b64encode are fine too


@pytest.mark.parametrize(("accept", "message"), [
    (..., "compute accept first: the SHA-1 of the request's Sec-WebSocket-Key followed by the GUID, then base64"),
    (hashlib.sha1((RFC_KEY + GUID).encode()).hexdigest(),
     "your value is the SHA-1 in hexadecimal: base64-encode the 20 bytes of the digest (hashlib.sha1(...).digest()), "
     "not the hex text"),
    (base64.b64encode(hashlib.sha1((base64.b64decode(RFC_KEY).decode() + GUID).encode()).digest()).decode(),
     "{value!r} is not the server's value: hash the Sec-WebSocket-Key exactly as the request sent it (base64 text, "
     "not decoded) followed by the GUID, with SHA-1, then base64"),
])
def test_wrong_accepts_fail_with_what_to_do(accept: object, message: str) -> None:
    """Nothing yet, the hex digest, the decoded key hashed: is the hint exact?"""
    result = websocket_accept(handshake(), accept)  # type: ignore[arg-type]
    assert not result.ok and result.message == message.format(value=accept)


def test_a_response_without_accept_is_said() -> None:
    """A server that sent no Sec-WebSocket-Accept: does the check say to look at the response?"""
    result = websocket_accept(handshake(accept=None), RFC_ACCEPT)
    assert result.message == ("the server sent no Sec-WebSocket-Accept (status 101): run the handshake cell again and "
                              "look at the response")


def test_websocket_accept_given_something_else_is_a_misuse() -> None:
    """Passing the request text instead of the handshake: is that an error that says what to pass?"""
    with pytest.raises(VoipLabError, match="handshake is a str, not a WssHandshake"):
        websocket_accept("GET /ws", RFC_ACCEPT)  # type: ignore[arg-type]


# -- dtls_fingerprint ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server_pem(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A server certificate as the lab makes them (P-256, signed by a P-521 CA)."""
    paths = make_certificates(tmp_path_factory.mktemp("certs"), "127.0.0.70")
    return Path(paths.server_cert).read_text()


def answer_from_asterisk(fingerprint: str, codecs: str = "0 8 101") -> TraceEntry:
    """The 200 OK Asterisk sends the browser, with its DTLS fingerprint and audio codecs."""
    sdp = ("v=0\r\no=- 1 2 IN IP4 127.0.0.70\r\ns=Asterisk\r\nc=IN IP4 127.0.0.70\r\nt=0 0\r\n"
           f"m=audio 10002 UDP/TLS/RTP/SAVPF {codecs}\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n"
           "a=rtpmap:101 telephone-event/8000\r\na=setup:active\r\n"
           f"a=fingerprint:sha-256 {fingerprint}\r\na=sendrecv\r\n")
    raw = ("SIP/2.0 200 OK\r\nVia: SIP/2.0/WSS abc.invalid;branch=z9hG4bK1;received=127.0.0.1\r\n"
           "From: <sip:5002@127.0.0.70>;tag=a\r\nTo: <sip:5001@127.0.0.70>;tag=b\r\nCall-ID: c1\r\n"
           "CSeq: 2 INVITE\r\nContact: <sip:127.0.0.70:8089;transport=ws>\r\nContent-Type: application/sdp\r\n"
           f"Content-Length: {len(sdp)}\r\n\r\n{sdp}")
    return TraceEntry(time=1.0, direction="rx", local="127.0.0.1:5000", remote="127.0.0.70:8089",
                      transport="WSS", raw=raw)


def colon_hex(digest: str) -> str:
    return ":".join(digest[i:i + 2] for i in range(0, len(digest), 2)).upper()


def test_the_fingerprint_of_the_der_bytes_passes(server_pem: str) -> None:
    """SHA-256 of the DER bytes, in plain lower-case hex, against Asterisk's colon upper-case: pass?"""
    mine = hashlib.sha256(ssl.PEM_cert_to_DER_cert(server_pem)).hexdigest()
    trace = [answer_from_asterisk(colon_hex(mine))]
    result = dtls_fingerprint(trace, mine)
    assert result.ok
    assert result.message == (f"sha-256 {colon_hex(mine)[:23]}...: the certificate Asterisk shows in the DTLS "
                              "handshake is the one the SDP announced over wss://")
    assert dtls_fingerprint(trace, "sha-256 " + colon_hex(mine)).ok  # copied from the SDP, prefix and all


def test_wrong_fingerprints_fail_with_what_to_do(server_pem: str) -> None:
    """Nothing yet, no SDP yet, the PEM text hashed, a truncated digest: is each hint exact?"""
    right = hashlib.sha256(ssl.PEM_cert_to_DER_cert(server_pem)).hexdigest()
    trace = [answer_from_asterisk(colon_hex(right))]
    assert dtls_fingerprint(trace, ...).message == ("compute fingerprint first: the SHA-256 of the certificate in "  # type: ignore[arg-type]
                                                    "DER form, in hexadecimal")
    assert dtls_fingerprint([], right).message == ("the browser received no SDP with a=fingerprint yet: make the "
                                                   "browser call first (its trace holds Asterisk's answer)")
    of_pem = hashlib.sha256(server_pem.encode()).hexdigest()
    assert dtls_fingerprint(trace, of_pem).message == (
        "your SHA-256 is not Asterisk's a=fingerprint: hash the DER bytes of the server certificate (not the PEM "
        "text, not the CA's certificate)")
    assert dtls_fingerprint(trace, right[:40]).message == (
        "your value has 40 hex digits: a SHA-256 has 64; hash the DER bytes (ssl.PEM_cert_to_DER_cert), print "
        "hexdigest()")


# -- legs_codec ------------------------------------------------------------------------------------------


def test_both_legs_pcmu_pass_and_say_nothing_is_re_encoded() -> None:
    """Browser leg PCMU (first in Asterisk's answer), Alcatel leg PCMU: pass, relayed without transcoding?"""
    trace = [answer_from_asterisk("AB:CD")]
    result = legs_codec(trace, {"codec": "PCMU"}, "pcmu", "PCMU/8000")
    assert result.ok
    assert result.message == ("browser leg PCMU (SRTP), Alcatel leg PCMU (RTP): the same codec: Asterisk decrypts "
                              "the browser's SRTP and relays the G.711 payload, nothing is re-encoded")


def test_two_codecs_would_mean_transcoding() -> None:
    """Browser leg PCMA, Alcatel leg PCMU (named right): does the evidence say Asterisk must transcode?"""
    result = legs_codec([answer_from_asterisk("AB:CD", "8 0 101")], {"codec": "PCMU"}, "PCMA", "PCMU")
    assert result.ok and result.message.endswith("two codecs: Asterisk must transcode between them")


@pytest.mark.parametrize(("trace", "record", "browser", "alcatel", "message"), [
    ([], {"codec": "PCMU"}, ..., "PCMU", "fill both browser_leg and alcatel_leg with a codec name (e.g. 'PCMA')"),
    ([], {"codec": "PCMU"}, "PCMU", "PCMU", "the browser received no SDP yet: make the browser call the Alcatel first"),
    ("answer", {}, "PCMU", "PCMU", "the Alcatel's record has no codec: pass the record of a finished call "
                                   "(wlab.simulated_alcatel.wait_call_ended())"),
    ("answer", {"codec": "PCMU"}, "opus", "PCMU",
     "'opus' is not the browser leg's codec: read the first payload type of the m=audio line in the SDP Asterisk "
     "sent the browser (its 200 OK)"),
    ("answer", {"codec": "PCMU"}, "PCMU", "PCMA", "'PCMA' is not the Alcatel leg's codec: read the 'codec' of the "
                                                  "Alcatel's call record"),
])
def test_wrong_codecs_fail_with_what_to_do(trace: object, record: dict[str, str], browser: object, alcatel: object,
                                           message: str) -> None:
    """Not filled, no call yet, no record, the browser's own offer (opus), A-law: is the hint exact?"""
    entries = [answer_from_asterisk("AB:CD")] if trace == "answer" else []
    result = legs_codec(entries, record, browser, alcatel)  # type: ignore[arg-type]
    assert not result.ok and result.message == message
