"""Tests of voiplab.core.digest against the RFC test vectors and the lab's REGISTER exchange."""

from __future__ import annotations

from pathlib import Path

import pytest
from synthetic_sip import PASSWORD, all_packets

from voiplab.core.digest import (
    Challenge,
    compute_response,
    parse_challenge,
    verify_authorization,
)
from voiplab.core.sip import SipMessage
from voiplab.errors import DigestError

RFC2617_CHALLENGE = (
    'Digest realm="testrealm@host.com", qop="auth,auth-int", '
    'nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41"'
)
RFC7616_NONCE = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v"
RFC7616_CNONCE = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ"


def rfc7616_challenge(algorithm: str) -> str:
    return (
        f'Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm={algorithm}, '
        f'nonce="{RFC7616_NONCE}", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"'
    )


def test_rfc2617_example() -> None:
    """Does the RFC 2617 section 3.5 example give response 6629fae49393a05397450978507c4ef1?"""
    result = compute_response(
        RFC2617_CHALLENGE, "GET", "/dir/index.html", "Mufasa", "Circle Of Life", "0a4f113b", 1
    )
    assert result.response == "6629fae49393a05397450978507c4ef1"
    assert result.ha1_input == "Mufasa:testrealm@host.com:Circle Of Life"
    assert result.ha2_input == "GET:/dir/index.html"
    assert result.kd_input == (
        f"{result.ha1}:dcd98b7102dd2f0e8b11d0f600bfb0c093:00000001:0a4f113b:auth:{result.ha2}"
    )
    assert result.qop == "auth" and result.nc == "00000001"


@pytest.mark.parametrize(
    ("algorithm", "expected"),
    [
        ("MD5", "8ca523f5e9506fed4657c9700eebdbec"),
        ("SHA-256", "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"),
    ],
)
def test_rfc7616_examples(algorithm: str, expected: str) -> None:
    """Do the RFC 7616 section 3.9.1 examples (MD5 and SHA-256) give the published responses?"""
    result = compute_response(
        rfc7616_challenge(algorithm), "GET", "/dir/index.html", "Mufasa", "Circle of Life", RFC7616_CNONCE, 1
    )
    assert result.response == expected
    assert result.algorithm == algorithm
    assert verify_authorization(result.authorization(), "Circle of Life", "GET")
    assert not verify_authorization(result.authorization(), "circle of life", "GET")


@pytest.mark.parametrize("algorithm", ["MD5-sess", "SHA-256-sess", "SHA-512-256", "SHA-512-256-sess"])
def test_other_algorithms_round_trip(algorithm: str) -> None:
    """Does every algorithm verify with the right password, and fail with a wrong one?"""
    result = compute_response(
        rfc7616_challenge(algorithm), "INVITE", "sip:5001@127.0.0.80", "5002", PASSWORD, "abc", 3
    )
    assert len(result.response) == (32 if algorithm.startswith("MD5") else 64)
    if algorithm.endswith("-sess"):
        assert result.ha1_input.endswith(f":{RFC7616_NONCE}:abc")
    assert verify_authorization(result.authorization(), PASSWORD, "INVITE")
    assert not verify_authorization(result.authorization(), "11111111", "INVITE")


def test_sha512_256_is_the_truncated_sha512_variant() -> None:
    """Is SHA-512-256 the FIPS 180-4 SHA-512/256 (not SHA-512 cut to 64 hex digits)?"""
    import hashlib

    result = compute_response(rfc7616_challenge("SHA-512-256"), "GET", "/", "u", "p", "c", 1)
    assert result.ha1 == hashlib.new("sha512_256", result.ha1_input.encode()).hexdigest()
    assert result.ha1 != hashlib.sha512(result.ha1_input.encode()).hexdigest()[:64]


def test_qop_none_and_auth_int() -> None:
    """Without qop is the response H(HA1:nonce:HA2), and with auth-int does HA2 include H(body)?"""
    plain = compute_response('Digest realm="r", nonce="n"', "REGISTER", "sip:pbx", "u", "p")
    assert plain.qop == "" and plain.kd_input == f"{plain.ha1}:n:{plain.ha2}"
    assert plain.cnonce is None and plain.nc is None
    assert "qop" not in plain.authorization()
    assert verify_authorization(plain.authorization(), "p", "REGISTER")
    integrity = compute_response(
        'Digest realm="r", nonce="n", qop="auth-int"', "INVITE", "sip:x", "u", "p", "c", 1, body=b"v=0\r\n"
    )
    import hashlib

    body_hash = hashlib.md5(b"v=0\r\n").hexdigest()
    assert integrity.ha2_input == f"INVITE:sip:x:{body_hash}"
    assert verify_authorization(integrity.authorization(), "p", "INVITE", body=b"v=0\r\n")
    assert not verify_authorization(integrity.authorization(), "p", "INVITE", body=b"v=1\r\n")


def test_lab_register_exchange() -> None:
    """Does the response computed from Asterisk's 401 with password 22222222 equal the second REGISTER's?"""
    packets = all_packets()
    challenge_401 = SipMessage.parse(packets[1].payload)
    register = SipMessage.parse(packets[2].payload)
    challenge = parse_challenge(challenge_401)
    assert challenge == Challenge("asterisk", challenge.nonce, "MD5", ("auth",), challenge.opaque)
    auth = register.authorization
    assert auth is not None
    computed = compute_response(
        challenge, "REGISTER", auth["uri"], "5002", PASSWORD, auth["cnonce"], auth["nc"]
    )
    assert computed.response == auth["response"]
    assert verify_authorization(register, PASSWORD).ok
    assert not verify_authorization(register, "22222223").ok
    assert computed.steps()[0] == ("HA1", "5002:asterisk:22222222", computed.ha1)
    assert "<table>" in computed._repr_html_() and "\n" not in repr(computed)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda: Challenge.parse('Digest realm="r", nonce="n", algorithm=SHA-1'),
            "digest algorithm 'SHA-1' is not supported: use MD5, MD5-sess, SHA-256, SHA-256-sess, "
            "SHA-512-256 or SHA-512-256-sess",
        ),
        (
            lambda: Challenge.parse('Basic realm="r"'),
            "authentication scheme 'Basic' is not Digest: SIP uses 'Digest realm=..., nonce=...'",
        ),
        (
            lambda: Challenge.parse('Digest realm="r"'),
            "digest challenge is missing nonce: a WWW-Authenticate must carry realm and nonce",
        ),
        (
            lambda: compute_response(
                'Digest realm="r", nonce="n", qop="auth"', "REGISTER", "sip:x", "u", "p"
            ),
            "digest cnonce is missing: pass cnonce=... (any random string) when the challenge has qop "
            "or a -sess algorithm",
        ),
        (
            lambda: compute_response('Digest realm="r", nonce="n"', "REGISTER", "sip:x", "u", "p", qop="x"),
            "digest qop 'x' is not supported: use 'auth', 'auth-int' or '' (none)",
        ),
        (
            lambda: Challenge.from_message(SipMessage.parse(b"SIP/2.0 200 OK\r\n\r\n")),
            "SIP message '200 OK' has no WWW-Authenticate or Proxy-Authenticate header: "
            "pass the 401 or 407 response",
        ),
        (
            lambda: verify_authorization('Digest username="u", realm="r"', "p", "REGISTER"),
            "digest authorization is missing nonce, uri, response: copy the whole header",
        ),
    ],
)
def test_errors(call: object, message: str) -> None:
    """Do unusable challenges and credentials raise DigestError with an exact message?"""
    with pytest.raises(DigestError) as info:
        call()  # type: ignore[operator]
    assert str(info.value) == message


def test_real_register_401(data_dir: Path) -> None:
    """In the real capture, does the response computed from Asterisk's 401 with 22222222 equal the phone's?"""
    path = data_dir / "register_401.pcap"
    from voiplab.capture.sipread import read_sip

    messages = [m.message for m in read_sip(path)]
    challenge_index = next(
        i for i, m in enumerate(messages) if m.status == 401 and m.cseq and m.cseq.method == "REGISTER"
    )
    challenge = parse_challenge(messages[challenge_index])
    register = next(
        m
        for m in messages[challenge_index + 1 :]
        if m.method == "REGISTER"
        and m.authorization is not None
        and m.call_id == messages[challenge_index].call_id
    )
    auth = register.authorization
    assert auth is not None and auth["nonce"] == challenge.nonce and challenge.realm == "asterisk"
    computed = compute_response(
        challenge,
        "REGISTER",
        auth["uri"],
        auth["username"],
        PASSWORD,
        auth.get("cnonce"),
        auth.get("nc") or 1,
        qop=auth.get("qop") or "",
    )
    assert computed.response == auth["response"]
    assert verify_authorization(register, PASSWORD)
    wrong = compute_response(
        challenge,
        "REGISTER",
        auth["uri"],
        auth["username"],
        "22222223",
        auth.get("cnonce"),
        auth.get("nc") or 1,
        qop=auth.get("qop") or "",
    )
    assert wrong.response != auth["response"]
