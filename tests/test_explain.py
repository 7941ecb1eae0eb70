"""The teaching views over a flow (``voiplab.teach.explain``): RTP paths, message notes, nonces.

Built on the sample captures of the local lab (real Asterisk, real phones): the RTP path each
view predicts from the SDP is checked against the RTP streams actually captured, and the digest
of a request built again is checked with the verifier.
"""

from __future__ import annotations

import re

import pytest

from voiplab.capture.sipread import read_flow
from voiplab.capture.streams import streams
from voiplab.config import LabConfig
from voiplab.core.digest import verify_authorization
from voiplab.core.flow import Flow, split_address
from voiplab.errors import VoipLabError
from voiplab.teach.experiments import Experiment, from_pcap
from voiplab.teach.explain import (
    auth_exchange,
    message_steps,
    nonce_reuse_request,
    nonce_time,
    nonce_uses,
    rtp_paths,
)
from voiplab.teach.samples import sample_capture

#: the sample captures were recorded in the default local lab
DEFAULT_LAB = LabConfig()


@pytest.fixture(scope="module")
def outgoing() -> Experiment:
    return from_pcap(sample_capture("call_rpi_to_alcatel"), DEFAULT_LAB)


@pytest.fixture(scope="module")
def incoming() -> Experiment:
    return from_pcap(sample_capture("call_alcatel_to_rpi"), DEFAULT_LAB)


@pytest.mark.parametrize("name", ["call_rpi_to_alcatel", "call_alcatel_to_rpi"])
def test_rtp_paths_predict_the_captured_streams(name: str) -> None:
    """Does each RTP stream a phone sent in the capture go where the SDP seen before it said?"""
    exp = from_pcap(sample_capture(name), DEFAULT_LAB)
    assert exp.call is not None and exp.pcap is not None
    paths = rtp_paths(exp)
    checked = 0
    for stream in streams(exp.pcap):
        if stream.src == exp.pbx:
            continue  # Asterisk answered without media of its own: nothing to predict for it
        sender = f"{stream.src}:{stream.src_port}"
        predicted = {d.destination for p in paths for d in p.directions if d.source == sender}
        assert f"{stream.dst}:{stream.dst_port}" in predicted, (sender, predicted)
        checked += 1
    assert checked == 3  # two phones, one of them twice (via the PBX, then direct)


def test_rtp_moves_phone_to_phone_after_the_reinvite(outgoing: Experiment) -> None:
    """Via the PBX after the 200 OK, direct once the phone answers the re-INVITE, gone after the BYE?"""
    steps = message_steps(outgoing)
    phone = next(a for a in outgoing.flow.hosts if a.startswith("127.0.0.82:"))
    alcatel_rtp = next(f"{s.dst}:{s.dst_port}" for s in streams(outgoing.pcap) if s.src == "127.0.0.82"
                       and s.dst == "127.0.0.81")
    answered = next(s for s in steps if s.message.status == 200 and s.message.cseq_method == "INVITE")
    assert split_address(answered.rtp.destination_of(phone) or "")[0] == outgoing.pbx
    assert split_address(answered.rtp.destination_of("rpi") or "")[0] == outgoing.pbx  # by lab role too
    moved = [s for s in steps if any(d.sender == phone for d in s.rtp.changed)]
    assert [s.rtp.destination_of(phone) for s in moved][-1] == alcatel_rtp
    reinvite = next(s for s in steps if s.message.method == "INVITE" and s.message.dst == phone
                    and s.message.message.to_tag is not None)
    assert "another host's RTP address" in reinvite.note and alcatel_rtp in reinvite.note
    direct = next(s for s in steps if any("direct" in r for r in s.rtp.routes()) and len(s.rtp.routes()) == 2
                  and all("direct" in r for r in s.rtp.routes()))
    assert direct.rtp.routes() == [
        f"rpi (5002) → alcatel (5001): direct (127.0.0.82:4000 → {alcatel_rtp})",
        f"alcatel (5001) → rpi (5002): direct ({alcatel_rtp} → 127.0.0.82:4000)",
    ]
    bye = next(s for s in steps if s.message.method == "BYE")
    assert bye.rtp.destination_of(phone) is None


def test_a_challenged_offer_sets_no_rtp(outgoing: Experiment) -> None:
    """Does the offer of the INVITE answered 401 leave the RTP path empty (the offer is void)?"""
    steps = message_steps(outgoing)
    assert steps[0].message.method == "INVITE" and steps[1].message.status == 401
    assert [s.rtp.directions for s in steps[:5]] == [(), (), (), (), ()]
    assert steps[1].note.startswith("401 Unauthorized: the digest challenge")
    assert steps[2].note == "ACK of the error response: part of the INVITE's transaction (same Via branch)"


def test_relayed_routes_name_both_hops(outgoing: Experiment) -> None:
    """Once both legs are answered, does each route say it goes via the PBX, hop by hop?"""
    steps = message_steps(outgoing)
    both = next(s for s in steps if len(s.rtp.directions) == 4)
    routes = both.rtp.routes()
    assert len(routes) == 2 and all(": via the PBX (" in r and ", then 127.0.0.80:" in r for r in routes)


def test_an_sdp_that_only_sends_stops_the_receiver() -> None:
    """Does a re-INVITE with a=sendonly (hold) stop the receiver's RTP, and a=inactive both ways?"""
    exp = from_pcap(sample_capture("call_rpi_to_alcatel"), DEFAULT_LAB)
    flow = exp.call_flow
    reinvite = next(m for m in flow if m.method == "INVITE" and m.message.to_tag is not None)
    held = reinvite.message.with_body(reinvite.message.body.replace(b"a=sendrecv", b"a=sendonly"))
    messages = [m if m.index != reinvite.index else type(m)(held, m.time, m.src, m.dst) for m in flow]
    paths = rtp_paths(Flow.from_messages(messages))
    answer = next(i for i, m in enumerate(messages) if m.status == 200 and m.cseq == reinvite.cseq)
    assert paths[answer].destination_of(reinvite.dst) is None  # on hold: the phone stops sending
    assert paths[answer].stopped


def test_nonce_time_reads_asterisks_nonce() -> None:
    """Is the part before '/' of Asterisk's nonce the Unix time it was made (None for other servers)?"""
    assert nonce_time("1795684734/7cd8abed98bd1435ee049a649c5fa90b") == 1795684734
    assert nonce_time("dcd98b7102dd2f0e8b11d0f600bfb0c093") is None
    assert nonce_time("abc/def") is None


def test_nonce_uses_of_a_registration() -> None:
    """Does the table list the 401 giving the nonce and the REGISTER sending it back (nc, answer, age)?"""
    flow = read_flow(sample_capture("register_401"))
    table = nonce_uses(flow)
    challenge, use = table.rows
    assert challenge.kind == "challenge" and challenge.message.status == 401 and challenge.nc is None
    assert use.kind == "used" and use.nc == "00000001" and use.answer is not None and use.answer.status == 200
    assert use.nonce == challenge.nonce == flow.messages[1].message.www_authenticate["nonce"]
    assert use.age is not None and 0 <= use.age < 32
    assert table.reused == [] and table.uses_of(use.nonce) == [use]
    assert "<table>" in table._repr_html_()


def test_nonce_reuse_request_is_the_same_register_with_the_next_nc() -> None:
    """Same nonce, nc=00000002, a response right for the password, CSeq + 1, a new branch, the rest unchanged?"""
    flow = read_flow(sample_capture("register_401"))
    exchange = auth_exchange(flow)
    assert exchange.authorized is not None
    before = exchange.authorized.message
    again = nonce_reuse_request(exchange, "22222222", nc=2, branch="z9hG4bKtest")
    auth = again.authorization
    assert auth is not None and before.authorization is not None
    assert auth["nc"] == "00000002" and auth["nonce"] == before.authorization["nonce"]
    assert auth["cnonce"] == before.authorization["cnonce"] and auth["response"] != before.authorization["response"]
    assert verify_authorization(again, "22222222")
    assert not verify_authorization(again, "12345678")
    assert again.cseq is not None and before.cseq is not None and again.cseq.number == before.cseq.number + 1
    assert again.branch == "z9hG4bKtest" and again.call_id == before.call_id and again.from_tag == before.from_tag
    assert again.header("Contact") == before.header("Contact") and again.header("Expires") == before.header("Expires")
    assert re.fullmatch(r"z9hG4bK[0-9a-f]{16}", nonce_reuse_request(before, "22222222").branch or "")


def test_nonce_reuse_request_needs_an_authorization() -> None:
    """Is a request without credentials refused with a message saying which one to pass?"""
    first = read_flow(sample_capture("register_401")).messages[0].message
    with pytest.raises(VoipLabError) as e:
        nonce_reuse_request(first, "22222222")
    assert str(e.value) == ("'REGISTER' carries no Authorization header: pass the request "
                            "sent after the 401 (exchange.authorized)")
