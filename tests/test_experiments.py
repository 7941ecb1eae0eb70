"""voiplab.teach.experiments: the lab experiments of notebooks 03-05, against the real local lab.

The pure helpers (SDP side by side, answer timing, digest exchange, DTMF, tshark
comparison) are checked first on the committed captures of tests/data; then real
experiments run in the local lab: a registration, a call rpi -> 5001 with and without
capture, and the call in the other direction.
"""

from __future__ import annotations

import importlib.util
import warnings

import pytest
from conftest import require

import voiplab as vl
from voiplab.capture.sipread import read_flow
from voiplab.config import local_address
from voiplab.core.digest import Challenge, compute_response, verify_authorization
from voiplab.errors import CaptureError, VoipLabError
from voiplab.teach.experiments import CaptureUnavailableWarning

PBX = "127.0.0.80"
ALCATEL = "127.0.0.81"
RPI = "127.0.0.82"


def host(address: str) -> str:
    return address.rpartition(":")[0]


# ---------------------------------------------------------------------------- on the committed captures


@pytest.fixture(scope="module")
def recorded_call(data_dir):
    return read_flow(data_dir / "call_rpi_to_alcatel.pcap", pbx=PBX)


def test_sdp_offer_and_answer_of_each_leg(recorded_call):
    """Is the offer rpi's INVITE (RTP at 127.0.0.82) and the answer Asterisk's 200 OK (at the PBX), per leg?"""
    first = vl.sdp_side_by_side(recorded_call)
    assert (first.offer.method, first.answer.status) == ("INVITE", 200)
    rows = {what: (offer, answer) for what, offer, answer in first.summary()}
    assert rows["connection address (c=)"] == (RPI, PBX)
    assert first.chosen_codec == "PCMU (payload type 0)"
    assert rows["DTMF (RFC 4733)"] == ("101 telephone-event", "101 telephone-event")
    second = vl.sdp_side_by_side(recorded_call, leg=1)
    assert host(second.offer.src) == PBX and host(second.answer.src) == ALCATEL
    assert "<pre" in first._repr_html_() and "offer" in repr(first)
    with pytest.raises(VoipLabError, match="leg=2 does not exist"):
        vl.sdp_side_by_side(recorded_call, leg=2)


def test_answer_timing_shows_answer_500(recorded_call):
    """Does Asterisk answer the caller before the Alcatel rings, and dial it about 0.5 s later?"""
    timing = vl.answer_timing(recorded_call)
    assert timing.answered_before_ringing
    assert timing.caller_answered < 0.1
    assert 0.45 < timing.dial_delay < 0.8
    assert timing.callee_ringing < timing.callee_answered
    assert timing.callee_answered > 2.0  # the simulated Alcatel rings 2 s
    assert host(timing.callee) == ALCATEL
    assert "before" in timing._repr_html_()


def test_register_digest_recomputed_from_the_capture(data_dir):
    """Does the response computed from the captured challenge and 22222222 equal the captured one?"""
    exchange = vl.auth_exchange(read_flow(data_dir / "register_401.pcap"))
    assert exchange.challenge.status == 401 and exchange.final.status == 200
    auth = exchange.authorized.message.authorization
    challenge = Challenge.from_message(exchange.challenge.message)
    good = compute_response(challenge, "REGISTER", auth["uri"], auth["username"], "22222222",
                            cnonce=auth.get("cnonce"), nc=auth.get("nc") or 1)
    assert good.response == auth["response"]
    bad = compute_response(challenge, "REGISTER", auth["uri"], auth["username"], "wrong",
                           cnonce=auth.get("cnonce"), nc=auth.get("nc") or 1)
    assert bad.response != auth["response"]


def test_invite_is_challenged_too(recorded_call):
    """Does Asterisk challenge the INVITE (two INVITEs, the second with Authorization)?"""
    exchange = vl.auth_exchange(recorded_call, "INVITE")
    assert exchange.request.cseq.endswith("INVITE") and exchange.challenge.status == 401
    assert exchange.authorized is not None and exchange.final.status == 200
    with pytest.raises(VoipLabError, match="no BYE answered by 401"):
        vl.auth_exchange(recorded_call, "BYE")


def test_dtmf_digits_and_scapy_rtp_packet(data_dir):
    """Are the RFC 4733 digits 1234# found in rpi's stream, and is a packet dissected as scapy RTP?"""
    from scapy.layers.rtp import RTP

    from voiplab.capture.streams import streams

    path = data_dir / "call_rpi_to_alcatel.pcap"
    found = streams(path)
    digits = {"".join(d.name for d in vl.dtmf_digits(s)) for s in found}
    assert "1234#" in digits
    packet = vl.rtp_packet(path, found[0], 3)
    assert packet[RTP].sequence == int(found[0].sequence_number[3])
    assert packet[RTP].sourcesync == found[0].ssrc


def test_compare_with_tshark(tshark, data_dir):
    """Are voiplab's stream figures those of tshark -z rtp,streams, row for row?"""
    comparison = vl.compare_with_tshark(data_dir / "call_alcatel_to_rpi.pcap", tshark=tshark)
    assert comparison.available and len(comparison.rows) == 3
    assert comparison.all_equal, comparison.rows


def test_compare_without_tshark_says_so(data_dir, tmp_path):
    """Without tshark, does the comparison say how to install it instead of raising?"""
    comparison = vl.compare_with_tshark(data_dir / "call_alcatel_to_rpi.pcap",
                                               tshark=str(tmp_path / "no-tshark"))
    assert not comparison.available and "tshark could not run" in comparison.message
    assert "No comparison" in comparison._repr_html_()


# ---------------------------------------------------------------------------- in the real lab


@pytest.fixture(scope="module")
def lab(pbx):
    require(importlib.util.find_spec("pjsua2") is not None, "pjsua2", "pip install pjsua2-python")
    from voiplab.devices.alcatel import SimulatedAlcatel
    from voiplab.devices.lab import Lab

    the_lab = Lab()
    was_running = SimulatedAlcatel(the_lab.config).is_running()
    the_lab.up()
    yield the_lab
    if not was_running:
        SimulatedAlcatel(the_lab.config).stop()


def can_capture() -> None:
    from voiplab.capture.live import capture_methods

    require(bool(capture_methods()), "live capture", "run as root or give dumpcap capture capabilities")


@pytest.fixture(scope="module")
def captured_call(lab):
    can_capture()
    return vl.record_call(lab, caller="rpi", number="5001", seconds=2.5, dtmf="1234#", capture=True)


@pytest.fixture(scope="module")
def traced_call(lab):
    return vl.record_call(lab, caller="rpi", number="5001", seconds=1.0, capture=False)


@pytest.mark.capture
@pytest.mark.asterisk
@pytest.mark.pjsua2
def test_recorded_call_has_both_legs_in_one_call(captured_call):
    """Are the legs rpi -> PBX and PBX -> Alcatel correlated into one call, the caller's Call-ID first?"""
    call = captured_call.call
    assert captured_call.pcap is not None and captured_call.pcap.stat().st_size > 0
    assert len(call.legs) == 2 and call.call_ids[0] == captured_call.call_id
    assert (host(call.legs[0].caller), host(call.legs[0].callee)) == (RPI, PBX)
    assert (host(call.legs[1].caller), host(call.legs[1].callee)) == (PBX, ALCATEL)
    assert call.state == "COMPLETED"
    assert captured_call.roles[PBX] == "pbx" and captured_call.roles[ALCATEL].startswith("alcatel")
    assert {m.call_id for m in captured_call.call_flow} == set(call.call_ids)
    assert "2 legs" in repr(captured_call) and "<table>" in captured_call._repr_html_()


@pytest.mark.capture
@pytest.mark.asterisk
@pytest.mark.pjsua2
def test_direct_media_reinvites_move_rtp_phone_to_phone(captured_call):
    """Do Asterisk's re-INVITEs give each phone the other phone's RTP address (direct media)?"""
    changes = captured_call.call.media_changes
    assert all(c.method == "INVITE" and host(c.party) == PBX for c in changes)
    rpi_leg, alcatel_leg = captured_call.call.call_ids
    assert any(c.message.call_id == rpi_leg and host(c.new) == ALCATEL for c in changes)
    assert any(c.message.call_id == alcatel_leg and host(c.new) == RPI for c in changes)


@pytest.mark.capture
@pytest.mark.asterisk
@pytest.mark.pjsua2
def test_streams_go_via_the_pbx_then_direct(captured_call):
    """Does RTP first flow via the PBX, then phone to phone in both directions?"""
    stats = sorted(captured_call.stream_stats, key=lambda s: s.start)
    paths = [vl.stream_path(s, PBX) for s in stats]
    assert paths[0] == "via the PBX"
    direct = [s for s, p in zip(stats, paths, strict=True) if p.startswith("direct")]
    assert {(s.src, s.dst) for s in direct} == {(RPI, ALCATEL), (ALCATEL, RPI)}
    via = [s for s, p in zip(stats, paths, strict=True) if p == "via the PBX"]
    # RTP starts via the PBX; at hang-up Asterisk may re-INVITE a phone back to itself, so a
    # short via-PBX stream can also follow the direct ones
    assert min(s.start for s in via) < min(s.start for s in direct)
    assert "direct (phone to phone)" in captured_call.streams_table()._repr_html_()


@pytest.mark.capture
@pytest.mark.asterisk
@pytest.mark.pjsua2
def test_call_audio_dtmf_and_timing(captured_call):
    """Did rpi hear the Alcatel's 1000 Hz signal, did both sides see 1234#, and was the caller answered first?"""
    from voiplab.devices.alcatel import detect_alcatel_signal

    samples, rate = captured_call.recording
    assert detect_alcatel_signal(samples, rate)
    assert captured_call.remote["dtmf"] == "1234#"
    digits = {"".join(d.name for d in vl.dtmf_digits(s)) for s in captured_call.streams}
    assert "1234#" in digits
    assert captured_call.call_stats["rx_packets"] > 0
    timing = vl.answer_timing(captured_call)
    assert timing.answered_before_ringing and 0.45 < timing.dial_delay < 0.8


@pytest.mark.capture
@pytest.mark.asterisk
@pytest.mark.pjsua2
def test_trace_flow_is_the_captured_flow_seen_from_rpi(captured_call):
    """Is the flow built from rpi's own trace the captured flow restricted to rpi's messages?"""
    def rows(messages):
        return [(m.src, m.dst, m.label, m.cseq, m.call_id) for m in messages]

    call_ids = set(captured_call.call.call_ids)
    captured = [m for m in captured_call.flow if RPI in (host(m.src), host(m.dst)) and m.call_id in call_ids]
    traced = [m for m in captured_call.trace_flow if m.call_id in call_ids]
    assert len(traced) >= 10 and rows(traced) == rows(captured)


@pytest.mark.asterisk
@pytest.mark.pjsua2
def test_without_capture_the_flow_comes_from_the_trace(traced_call):
    """With capture=False: no pcap, and still rpi's leg with its 401, re-INVITE to the Alcatel and BYE?"""
    assert traced_call.pcap is None and traced_call.streams is None
    assert traced_call.note == "capture disabled (capture=False)"
    assert "no pcap" in repr(traced_call)
    call = traced_call.call
    assert len(call.legs) == 1 and call.call_ids == (traced_call.call_id,)
    assert "INVITE 401 (challenge)" in call.comments
    assert any(host(c.new) == local_address(81) for c in call.media_changes)  # live: the user's block
    assert any(m.method == "BYE" for m in call.messages)
    assert vl.answer_timing(traced_call).callee_invite is None
    assert traced_call.recording is not None
    assert not vl.compare_with_tshark(traced_call).available


@pytest.mark.asterisk
@pytest.mark.pjsua2
def test_registration_and_wrong_password(lab):
    """Does the recorded REGISTER's digest match the lab password, and a wrong one give 401 again?"""
    good = vl.record_registration(lab, "rpi")
    assert good.registration is not None and good.registration.status == 200 and not good.error
    exchange = good.auth_exchange()
    assert exchange.final.status == 200
    assert verify_authorization(exchange.authorized.message, "22222222")
    bad = vl.record_registration(lab, "rpi", password="not-the-password")
    assert bad.registration is None and "password of rpi is wrong" in bad.error
    exchange = bad.auth_exchange()
    assert exchange.final.status in (401, 403)
    assert not verify_authorization(exchange.authorized.message, "22222222")


@pytest.mark.asterisk
@pytest.mark.pjsua2
def test_no_capture_privilege_warns_once_and_uses_the_trace(lab, monkeypatch):
    """Without capture privileges: one clear warning, the flow from the trace; capture=True raises?"""
    from voiplab.teach import experiments

    monkeypatch.setattr(experiments, "capture_methods", list)
    monkeypatch.setattr(experiments, "_WARNED", set())
    with pytest.warns(CaptureUnavailableWarning, match="not permitted"):
        first = vl.record_registration(lab, "guillaume")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        second = vl.record_registration(lab, "guillaume")  # said once only
    for exp in (first, second):
        assert exp.pcap is None and "not permitted" in exp.note
        labels = [m.label for m in exp.flow if m.cseq_method == "REGISTER"]
        assert labels == ["REGISTER", "401 Unauthorized", "REGISTER", "200 OK"]
    with pytest.raises(CaptureError, match="not permitted"):
        vl.record_registration(lab, "guillaume", capture=True)


@pytest.mark.asterisk
@pytest.mark.pjsua2
def test_incoming_call_from_the_alcatel(lab):
    """Does the Alcatel's call to 5002 show both legs, answered by rpi, with the Alcatel's signal heard?"""
    from voiplab.devices.alcatel import detect_alcatel_signal

    exp = vl.record_incoming_call(lab, from_="alcatel", to="rpi", seconds=1.5)
    call = exp.call
    assert call is not None and call.state == "COMPLETED"
    if exp.pcap is not None:
        assert len(call.legs) == 2
        assert (host(call.legs[0].caller), host(call.legs[1].callee)) == (ALCATEL, RPI)
        assert vl.answer_timing(exp).answered_before_ringing
    assert detect_alcatel_signal(*exp.recording)
