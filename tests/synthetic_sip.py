"""Hand-written SIP traffic in the style of the local lab (Asterisk 22 + pjsua2 2.15).

Used by the tests until real captures exist, and by ``benchmarks/bench_sip.py``.
The scenario: "rpi" (5002, 127.0.0.82) registers (401 then 200), calls the Alcatel
(5001, 127.0.0.81) through the PBX (127.0.0.80) which is a B2BUA (two Call-IDs), the
PBX re-INVITEs both legs for direct media, the PBX qualifies rpi with OPTIONS, rpi hangs up.

``python tests/synthetic_sip.py`` rewrites ``tests/data/synthetic_call.pcap``.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from voiplab.core.digest import Challenge, compute_response

PBX = "127.0.0.80"
ALCATEL = "127.0.0.81"
RPI = "127.0.0.82"
PASSWORD = "22222222"
USER_AGENT = "PJSUA v2.15.1 Linux-6.8.0/x86_64/glibc-2.39"
SERVER = "Asterisk PBX 22.1.0"
ALLOW_PJ = "PRACK, INVITE, ACK, BYE, CANCEL, UPDATE, INFO, SUBSCRIBE, NOTIFY, REFER, MESSAGE, OPTIONS"
ALLOW_AST = (
    "OPTIONS, REGISTER, SUBSCRIBE, NOTIFY, PUBLISH, INVITE, ACK, BYE, CANCEL, UPDATE, PRACK, MESSAGE, REFER"
)
NONCE = "1718034200/7f2a8bd0c3c1e4d36a0b5f1e2d9c8a74"
OPAQUE = "5d0a1c7b3e2f6a91"
CHALLENGE = f'Digest realm="asterisk",nonce="{NONCE}",opaque="{OPAQUE}",algorithm=MD5,qop="auth"'
REG_CALL_ID = "1b7e6e4c2f6d4a3c9b8d7f0e1a2b3c4d"
CALL_ID_A = "9c3f5e2a8b1d4c6e7f0a1b2c3d4e5f60"
CALL_ID_B = "3e1f0a9b-8c7d-4e6f-a5b4-c3d2e1f0a9b8"
T0 = 1718034200.000


class Packet(NamedTuple):
    """One datagram: time, source and destination (ip, port), payload."""

    time: float
    src: tuple[str, int]
    dst: tuple[str, int]
    payload: bytes


def _msg(lines: list[str], body: str = "") -> bytes:
    head = "\r\n".join(lines + [f"Content-Length:  {len(body.encode())}"])
    return (head + "\r\n\r\n" + body).encode()


def sdp(origin_ip: str, session_id: int, version: int, media_ip: str, port: int, name: str) -> str:
    """An SDP body as pjmedia (name='pjmedia') or Asterisk (name='Asterisk') writes it."""
    if name == "Asterisk":
        return (
            f"v=0\r\no=- {session_id} {version} IN IP4 {origin_ip}\r\ns=Asterisk\r\n"
            f"c=IN IP4 {media_ip}\r\nt=0 0\r\nm=audio {port} RTP/AVP 0 8 101\r\n"
            "a=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\n"
            "a=fmtp:101 0-16\r\na=ptime:20\r\na=maxptime:150\r\na=sendrecv\r\n"
        )
    return (
        f"v=0\r\no=- {session_id} {version} IN IP4 {origin_ip}\r\ns=pjmedia\r\nb=AS:84\r\nt=0 0\r\n"
        f"a=X-nat:0\r\nm=audio {port} RTP/AVP 0 8 101\r\nc=IN IP4 {media_ip}\r\nb=TIAS:64000\r\n"
        f"a=rtcp:{port + 1} IN IP4 {media_ip}\r\na=sendrecv\r\na=rtpmap:0 PCMU/8000\r\n"
        "a=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\n"
        "a=ssrc:1270488416 cname:4b7a0e7c3bd5410f\r\n"
    )


def authorization(method: str, uri: str, cnonce: str) -> str:
    """The Authorization value pjsua2 sends for the lab's password."""
    done = compute_response(Challenge.parse(CHALLENGE), method, uri, "5002", PASSWORD, cnonce, 1)
    return (
        f'Authorization: Digest username="5002", realm="asterisk", nonce="{NONCE}", uri="{uri}", '
        f'response="{done.response}", algorithm=MD5, cnonce="{cnonce}", opaque="{OPAQUE}", '
        "qop=auth, nc=00000001"
    )


def register_packets(t: float = T0) -> list[Packet]:
    """REGISTER, 401 with a challenge, REGISTER with Authorization, 200 OK."""
    rpi, pbx = (RPI, 5060), (PBX, 5060)
    common = [
        "Max-Forwards: 70",
        "From: <sip:5002@127.0.0.80>;tag=Z6lWqUfjD0wQ8ZxW7oQn5Yl3n6ahq2tR",
        "To: <sip:5002@127.0.0.80>",
        f"Call-ID: {REG_CALL_ID}",
    ]
    reg1 = _msg(
        [
            "REGISTER sip:127.0.0.80 SIP/2.0",
            "Via: SIP/2.0/UDP 127.0.0.82:5060;rport;branch=z9hG4bKPjd2b0e1c4-8f5a-4a59-9d0c-4a1b2c3d4e51",
        ]
        + common
        + [
            "CSeq: 28571 REGISTER",
            f"User-Agent: {USER_AGENT}",
            "Contact: <sip:5002@127.0.0.82:5060;ob>",
            "Expires: 300",
            f"Allow: {ALLOW_PJ}",
        ]
    )
    r401 = _msg(
        [
            "SIP/2.0 401 Unauthorized",
            "Via: SIP/2.0/UDP 127.0.0.82:5060;rport=5060;received=127.0.0.82;"
            "branch=z9hG4bKPjd2b0e1c4-8f5a-4a59-9d0c-4a1b2c3d4e51",
            f"Call-ID: {REG_CALL_ID}",
            "From: <sip:5002@127.0.0.80>;tag=Z6lWqUfjD0wQ8ZxW7oQn5Yl3n6ahq2tR",
            "To: <sip:5002@127.0.0.80>;tag=z9hG4bKPjd2b0e1c4-8f5a-4a59-9d0c-4a1b2c3d4e51",
            "CSeq: 28571 REGISTER",
            f"WWW-Authenticate: {CHALLENGE}",
            f"Server: {SERVER}",
        ]
    )
    reg2 = _msg(
        [
            "REGISTER sip:127.0.0.80 SIP/2.0",
            "Via: SIP/2.0/UDP 127.0.0.82:5060;rport;branch=z9hG4bKPj8e6f4a3b-2c1d-4e0f-9a8b-7c6d5e4f3a21",
        ]
        + common
        + [
            "CSeq: 28572 REGISTER",
            f"User-Agent: {USER_AGENT}",
            "Contact: <sip:5002@127.0.0.82:5060;ob>",
            "Expires: 300",
            f"Allow: {ALLOW_PJ}",
            authorization("REGISTER", "sip:127.0.0.80", "b6f2c1a4e9d84f0c8a7b3e5d1c2f4a6b"),
        ]
    )
    r200 = _msg(
        [
            "SIP/2.0 200 OK",
            "Via: SIP/2.0/UDP 127.0.0.82:5060;rport=5060;received=127.0.0.82;"
            "branch=z9hG4bKPj8e6f4a3b-2c1d-4e0f-9a8b-7c6d5e4f3a21",
            f"Call-ID: {REG_CALL_ID}",
            "From: <sip:5002@127.0.0.80>;tag=Z6lWqUfjD0wQ8ZxW7oQn5Yl3n6ahq2tR",
            "To: <sip:5002@127.0.0.80>;tag=z9hG4bKPj8e6f4a3b-2c1d-4e0f-9a8b-7c6d5e4f3a21",
            "CSeq: 28572 REGISTER",
            "Date: Mon, 10 Jun 2024 15:43:20 GMT",
            "Contact: <sip:5002@127.0.0.82:5060;ob>;expires=299",
            "Expires: 300",
            f"Server: {SERVER}",
        ]
    )
    return [
        Packet(t, rpi, pbx, reg1),
        Packet(t + 0.0012, pbx, rpi, r401),
        Packet(t + 0.0031, rpi, pbx, reg2),
        Packet(t + 0.0046, pbx, rpi, r200),
    ]


def call_packets(t: float = T0 + 2.0) -> list[Packet]:
    """rpi calls 5001 through the PBX: two legs, direct-media re-INVITEs, OPTIONS, BYE."""
    rpi, pbx, alc = (RPI, 5060), (PBX, 5060), (ALCATEL, 5060)
    a_from = '"Raspberry Pi" <sip:5002@127.0.0.80>;tag=c4a1f3e2-7b6d-4c5e-9f8a-1b2c3d4e5f60'
    a_to = "<sip:5001@127.0.0.80>"
    a_to_tagged = a_to + ";tag=8d1c2b3a-4e5f-4a6b-9c7d-0e1f2a3b4c5d"
    a_contact = '"Raspberry Pi" <sip:5002@127.0.0.82:5060;ob>'
    pbx_contact = "<sip:127.0.0.80:5060>"
    b_from = '"Raspberry Pi" <sip:5002@127.0.0.80>;tag=6f5e4d3c-2b1a-4098-8765-43210fedcba9'
    b_to = "<sip:5001@127.0.0.81>"
    b_to_tagged = b_to + ";tag=a1l2c3a4t5e6l"
    via_a1 = "SIP/2.0/UDP 127.0.0.82:5060;rport;branch=z9hG4bKPj11aa22bb-33cc-44dd-55ee-66ff77889900"
    via_a2 = "SIP/2.0/UDP 127.0.0.82:5060;rport;branch=z9hG4bKPj99887766-5544-3322-1100-ffeeddccbbaa"
    via_a2r = via_a2.replace(";rport;", ";rport=5060;received=127.0.0.82;")
    via_a1r = via_a1.replace(";rport;", ";rport=5060;received=127.0.0.82;")
    via_b = "SIP/2.0/UDP 127.0.0.80:5060;rport;branch=z9hG4bKPj0f1e2d3c-4b5a-4697-8877-665544332211"
    via_br = via_b.replace(";rport;", ";rport=5060;received=127.0.0.80;")
    sdp_rpi = sdp(RPI, 3915462345, 3915462345, RPI, 4000, "pjmedia")
    sdp_pbx_b = sdp(PBX, 1026, 1026, PBX, 10016, "Asterisk")
    sdp_alc = sdp(ALCATEL, 2214, 2214, ALCATEL, 4002, "pjmedia")
    sdp_pbx_a = sdp(PBX, 1027, 1027, PBX, 10018, "Asterisk")
    cseq_a = "CSeq: 10452 INVITE"

    invite1 = _msg(
        [
            "INVITE sip:5001@127.0.0.80 SIP/2.0",
            f"Via: {via_a1}",
            "Max-Forwards: 70",
            f"From: {a_from}",
            f"To: {a_to}",
            f"Contact: {a_contact}",
            f"Call-ID: {CALL_ID_A}",
            cseq_a,
            f"Allow: {ALLOW_PJ}",
            "Supported: replaces, 100rel, timer, norefersub",
            "Session-Expires: 1800",
            "Min-SE: 90",
            f"User-Agent: {USER_AGENT}",
            "Content-Type: application/sdp",
        ],
        sdp_rpi,
    )
    r401 = _msg(
        [
            "SIP/2.0 401 Unauthorized",
            f"Via: {via_a1r}",
            f"Call-ID: {CALL_ID_A}",
            f"From: {a_from}",
            f"To: {a_to};tag=z9hG4bKPj11aa22bb-33cc-44dd-55ee-66ff77889900",
            cseq_a,
            f"WWW-Authenticate: {CHALLENGE}",
            f"Server: {SERVER}",
        ]
    )
    ack401 = _msg(
        [
            "ACK sip:5001@127.0.0.80 SIP/2.0",
            f"Via: {via_a1}",
            "Max-Forwards: 70",
            f"From: {a_from}",
            f"To: {a_to};tag=z9hG4bKPj11aa22bb-33cc-44dd-55ee-66ff77889900",
            f"Call-ID: {CALL_ID_A}",
            "CSeq: 10452 ACK",
        ]
    )
    invite2 = _msg(
        [
            "INVITE sip:5001@127.0.0.80 SIP/2.0",
            f"Via: {via_a2}",
            "Max-Forwards: 70",
            f"From: {a_from}",
            f"To: {a_to}",
            f"Contact: {a_contact}",
            f"Call-ID: {CALL_ID_A}",
            "CSeq: 10453 INVITE",
            f"Allow: {ALLOW_PJ}",
            "Supported: replaces, 100rel, timer, norefersub",
            "Session-Expires: 1800",
            "Min-SE: 90",
            f"User-Agent: {USER_AGENT}",
            authorization("INVITE", "sip:5001@127.0.0.80", "0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f"),
            "Content-Type: application/sdp",
        ],
        sdp_rpi,
    )
    trying_a = _msg(
        [
            "SIP/2.0 100 Trying",
            f"Via: {via_a2r}",
            f"Call-ID: {CALL_ID_A}",
            f"From: {a_from}",
            f"To: {a_to}",
            "CSeq: 10453 INVITE",
            f"Server: {SERVER}",
        ]
    )
    invite_b = _msg(
        [
            "INVITE sip:5001@127.0.0.81:5060;ob SIP/2.0",
            f"Via: {via_b}",
            f"From: {b_from}",
            f"To: {b_to}",
            f"Contact: {pbx_contact}",
            f"Call-ID: {CALL_ID_B}",
            "CSeq: 6120 INVITE",
            f"Allow: {ALLOW_AST}",
            "Supported: 100rel, timer, replaces, norefersub, histinfo",
            "Session-Expires: 1800",
            "Min-SE: 90",
            "Max-Forwards: 70",
            f"User-Agent: {SERVER}",
            "Content-Type: application/sdp",
        ],
        sdp_pbx_b,
    )
    trying_b = _msg(
        [
            "SIP/2.0 100 Trying",
            f"Via: {via_br}",
            f"Call-ID: {CALL_ID_B}",
            f"From: {b_from}",
            f"To: {b_to}",
            "CSeq: 6120 INVITE",
            "Content-Length:  0",
        ][:-1]
    )
    ringing_b = _msg(
        [
            "SIP/2.0 180 Ringing",
            f"Via: {via_br}",
            f"Call-ID: {CALL_ID_B}",
            f"From: {b_from}",
            f"To: {b_to_tagged}",
            "CSeq: 6120 INVITE",
            "Contact: <sip:5001@127.0.0.81:5060;ob>",
            f"Allow: {ALLOW_PJ}",
        ]
    )
    ringing_a = _msg(
        [
            "SIP/2.0 180 Ringing",
            f"Via: {via_a2r}",
            f"Call-ID: {CALL_ID_A}",
            f"From: {a_from}",
            f"To: {a_to_tagged}",
            "CSeq: 10453 INVITE",
            f"Server: {SERVER}",
            f"Contact: {pbx_contact}",
            f"Allow: {ALLOW_AST}",
        ]
    )
    ok_b = _msg(
        [
            "SIP/2.0 200 OK",
            f"Via: {via_br}",
            f"Call-ID: {CALL_ID_B}",
            f"From: {b_from}",
            f"To: {b_to_tagged}",
            "CSeq: 6120 INVITE",
            "Contact: <sip:5001@127.0.0.81:5060;ob>",
            f"Allow: {ALLOW_PJ}",
            "Supported: replaces, 100rel, timer, norefersub",
            "Session-Expires: 1800;refresher=uac",
            "Require: timer",
            "Content-Type: application/sdp",
        ],
        sdp_alc,
    )
    ack_b = _msg(
        [
            "ACK sip:5001@127.0.0.81:5060;ob SIP/2.0",
            "Via: SIP/2.0/UDP 127.0.0.80:5060;rport;branch=z9hG4bKPj5a6b7c8d-9e0f-4a1b-8c2d-3e4f5a6b7c8d",
            f"From: {b_from}",
            f"To: {b_to_tagged}",
            f"Call-ID: {CALL_ID_B}",
            "CSeq: 6120 ACK",
            "Max-Forwards: 70",
        ]
    )
    ok_a = _msg(
        [
            "SIP/2.0 200 OK",
            f"Via: {via_a2r}",
            f"Call-ID: {CALL_ID_A}",
            f"From: {a_from}",
            f"To: {a_to_tagged}",
            "CSeq: 10453 INVITE",
            f"Server: {SERVER}",
            f"Contact: {pbx_contact}",
            f"Allow: {ALLOW_AST}",
            "Session-Expires: 1800;refresher=uac",
            "Require: timer",
            "Content-Type: application/sdp",
        ],
        sdp_pbx_a,
    )
    ack_a = _msg(
        [
            "ACK sip:127.0.0.80:5060 SIP/2.0",
            "Via: SIP/2.0/UDP 127.0.0.82:5060;rport;branch=z9hG4bKPjabcdef01-2345-4678-9abc-def012345678",
            "Max-Forwards: 70",
            f"From: {a_from}",
            f"To: {a_to_tagged}",
            f"Call-ID: {CALL_ID_A}",
            "CSeq: 10453 ACK",
        ]
    )
    # Direct media: the PBX re-INVITEs rpi with the Alcatel's media address, and vice versa.
    reinv_a_via = "SIP/2.0/UDP 127.0.0.80:5060;rport;branch=z9hG4bKPjre1nv1te-aaaa-4bbb-8ccc-dddddddddddd"
    reinvite_a = _msg(
        [
            "INVITE sip:5002@127.0.0.82:5060;ob SIP/2.0",
            f"Via: {reinv_a_via}",
            f"From: {a_to_tagged}",
            f"To: {a_from}",
            f"Contact: {pbx_contact}",
            f"Call-ID: {CALL_ID_A}",
            "CSeq: 31100 INVITE",
            f"Allow: {ALLOW_AST}",
            "Supported: 100rel, timer, replaces, norefersub",
            "Max-Forwards: 70",
            f"User-Agent: {SERVER}",
            "Content-Type: application/sdp",
        ],
        sdp(PBX, 1027, 1028, ALCATEL, 4002, "Asterisk"),
    )
    reinvite_a_ok = _msg(
        [
            "SIP/2.0 200 OK",
            f"Via: {reinv_a_via.replace(';rport;', ';rport=5060;received=127.0.0.80;')}",
            f"Call-ID: {CALL_ID_A}",
            f"From: {a_to_tagged}",
            f"To: {a_from}",
            "CSeq: 31100 INVITE",
            f"Contact: {a_contact}",
            f"Allow: {ALLOW_PJ}",
            "Content-Type: application/sdp",
        ],
        sdp(RPI, 3915462345, 3915462346, RPI, 4000, "pjmedia"),
    )
    reinvite_a_ack = _msg(
        [
            "ACK sip:5002@127.0.0.82:5060;ob SIP/2.0",
            "Via: SIP/2.0/UDP 127.0.0.80:5060;rport;branch=z9hG4bKPjack0re1-aaaa-4bbb-8ccc-eeeeeeeeeeee",
            f"From: {a_to_tagged}",
            f"To: {a_from}",
            f"Call-ID: {CALL_ID_A}",
            "CSeq: 31100 ACK",
            "Max-Forwards: 70",
        ]
    )
    reinv_b_via = "SIP/2.0/UDP 127.0.0.80:5060;rport;branch=z9hG4bKPjre1nv1te-bbbb-4ccc-8ddd-ffffffffffff"
    reinvite_b = _msg(
        [
            "INVITE sip:5001@127.0.0.81:5060;ob SIP/2.0",
            f"Via: {reinv_b_via}",
            f"From: {b_from}",
            f"To: {b_to_tagged}",
            f"Contact: {pbx_contact}",
            f"Call-ID: {CALL_ID_B}",
            "CSeq: 6121 INVITE",
            f"Allow: {ALLOW_AST}",
            "Max-Forwards: 70",
            f"User-Agent: {SERVER}",
            "Content-Type: application/sdp",
        ],
        sdp(PBX, 1026, 1027, RPI, 4000, "Asterisk"),
    )
    reinvite_b_ok = _msg(
        [
            "SIP/2.0 200 OK",
            f"Via: {reinv_b_via.replace(';rport;', ';rport=5060;received=127.0.0.80;')}",
            f"Call-ID: {CALL_ID_B}",
            f"From: {b_from}",
            f"To: {b_to_tagged}",
            "CSeq: 6121 INVITE",
            "Contact: <sip:5001@127.0.0.81:5060;ob>",
            "Content-Type: application/sdp",
        ],
        sdp(ALCATEL, 2214, 2215, ALCATEL, 4002, "pjmedia"),
    )
    reinvite_b_ack = _msg(
        [
            "ACK sip:5001@127.0.0.81:5060;ob SIP/2.0",
            "Via: SIP/2.0/UDP 127.0.0.80:5060;rport;branch=z9hG4bKPjack0re1-bbbb-4ccc-8ddd-000000000000",
            f"From: {b_from}",
            f"To: {b_to_tagged}",
            f"Call-ID: {CALL_ID_B}",
            "CSeq: 6121 ACK",
            "Max-Forwards: 70",
        ]
    )
    options_via = "SIP/2.0/UDP 127.0.0.80:5060;rport;branch=z9hG4bKPj0pt10n5-1111-4222-8333-444444444444"
    options = _msg(
        [
            "OPTIONS sip:5002@127.0.0.82:5060;ob SIP/2.0",
            f"Via: {options_via}",
            "From: <sip:5002@127.0.0.80>;tag=0e9d8c7b-6a5f-4e3d-2c1b-0a9f8e7d6c5b",
            "To: <sip:5002@127.0.0.82;ob>",
            "Contact: <sip:5002@127.0.0.80:5060>",
            "Call-ID: 6a5b4c3d-2e1f-4a0b-9c8d-7e6f5a4b3c2d",
            "CSeq: 47011 OPTIONS",
            "Max-Forwards: 70",
            f"User-Agent: {SERVER}",
        ]
    )
    options_ok = _msg(
        [
            "SIP/2.0 200 OK",
            f"Via: {options_via.replace(';rport;', ';rport=5060;received=127.0.0.80;')}",
            "Call-ID: 6a5b4c3d-2e1f-4a0b-9c8d-7e6f5a4b3c2d",
            "From: <sip:5002@127.0.0.80>;tag=0e9d8c7b-6a5f-4e3d-2c1b-0a9f8e7d6c5b",
            "To: <sip:5002@127.0.0.82;ob>;tag=z9hG4bKPj0pt10n5-1111-4222-8333-444444444444",
            "CSeq: 47011 OPTIONS",
            f"Allow: {ALLOW_PJ}",
            "Accept: application/sdp, application/pidf+xml",
            "Supported: replaces, 100rel, timer, norefersub",
        ]
    )
    bye_a_via = "SIP/2.0/UDP 127.0.0.82:5060;rport;branch=z9hG4bKPjbye00001-2222-4333-8444-555555555555"
    bye_a = _msg(
        [
            "BYE sip:127.0.0.80:5060 SIP/2.0",
            f"Via: {bye_a_via}",
            "Max-Forwards: 70",
            f"From: {a_from}",
            f"To: {a_to_tagged}",
            f"Call-ID: {CALL_ID_A}",
            "CSeq: 10454 BYE",
            f"User-Agent: {USER_AGENT}",
        ]
    )
    bye_a_ok = _msg(
        [
            "SIP/2.0 200 OK",
            f"Via: {bye_a_via.replace(';rport;', ';rport=5060;received=127.0.0.82;')}",
            f"Call-ID: {CALL_ID_A}",
            f"From: {a_from}",
            f"To: {a_to_tagged}",
            "CSeq: 10454 BYE",
            f"Server: {SERVER}",
        ]
    )
    bye_b_via = "SIP/2.0/UDP 127.0.0.80:5060;rport;branch=z9hG4bKPjbye00002-6666-4777-8888-999999999999"
    bye_b = _msg(
        [
            "BYE sip:5001@127.0.0.81:5060;ob SIP/2.0",
            f"Via: {bye_b_via}",
            f"From: {b_from}",
            f"To: {b_to_tagged}",
            f"Call-ID: {CALL_ID_B}",
            "CSeq: 6122 BYE",
            "Max-Forwards: 70",
            f"User-Agent: {SERVER}",
        ]
    )
    bye_b_ok = _msg(
        [
            "SIP/2.0 200 OK",
            f"Via: {bye_b_via.replace(';rport;', ';rport=5060;received=127.0.0.80;')}",
            f"Call-ID: {CALL_ID_B}",
            f"From: {b_from}",
            f"To: {b_to_tagged}",
            "CSeq: 6122 BYE",
        ]
    )
    return [
        Packet(t + 0.000, rpi, pbx, invite1),
        Packet(t + 0.001, pbx, rpi, r401),
        Packet(t + 0.002, rpi, pbx, ack401),
        Packet(t + 0.003, rpi, pbx, invite2),
        Packet(t + 0.004, pbx, rpi, trying_a),
        Packet(t + 0.010, pbx, alc, invite_b),
        Packet(t + 0.510, pbx, alc, invite_b),  # retransmission (Timer A)
        Packet(t + 0.512, alc, pbx, trying_b),
        Packet(t + 0.515, alc, pbx, ringing_b),
        Packet(t + 0.517, pbx, rpi, ringing_a),
        Packet(t + 2.520, alc, pbx, ok_b),
        Packet(t + 2.521, pbx, alc, ack_b),
        Packet(t + 2.523, pbx, rpi, ok_a),
        Packet(t + 2.525, rpi, pbx, ack_a),
        Packet(t + 2.600, pbx, rpi, reinvite_a),
        Packet(t + 2.603, rpi, pbx, reinvite_a_ok),
        Packet(t + 2.604, pbx, rpi, reinvite_a_ack),
        Packet(t + 2.606, pbx, alc, reinvite_b),
        Packet(t + 2.609, alc, pbx, reinvite_b_ok),
        Packet(t + 2.610, pbx, alc, reinvite_b_ack),
        Packet(t + 4.000, pbx, rpi, options),
        Packet(t + 4.001, rpi, pbx, options_ok),
        Packet(t + 7.000, rpi, pbx, bye_a),
        Packet(t + 7.001, pbx, rpi, bye_a_ok),
        Packet(t + 7.002, pbx, alc, bye_b),
        Packet(t + 7.004, alc, pbx, bye_b_ok),
    ]


def all_packets() -> list[Packet]:
    """Registration then the call, in time order."""
    return register_packets() + call_packets()


def write_pcap(path: str | Path, packets: list[Packet]) -> None:
    """Write the datagrams as Ethernet/IPv4/UDP frames (scapy)."""
    from scapy.layers.inet import IP, UDP
    from scapy.layers.l2 import Ether
    from scapy.packet import Raw
    from scapy.utils import PcapWriter

    with PcapWriter(str(path), linktype=1, sync=False) as writer:
        for number, packet in enumerate(packets):
            frame = (
                Ether(src="00:00:00:00:00:01", dst="00:00:00:00:00:02")
                / IP(src=packet.src[0], dst=packet.dst[0], id=number & 0xFFFF)
                / UDP(sport=packet.src[1], dport=packet.dst[1])
                / Raw(packet.payload)
            )
            frame.time = packet.time
            writer.write(frame)


SYNTHETIC_PCAP = Path(__file__).parent / "data" / "synthetic_call.pcap"

if __name__ == "__main__":
    write_pcap(SYNTHETIC_PCAP, all_packets())
    print(f"wrote {SYNTHETIC_PCAP}")
