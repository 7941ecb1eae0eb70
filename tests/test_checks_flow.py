"""The check cells of notebook 04 (``vl.checks``: the INVITE flow), each tested both ways.

On the sample captures of the local lab (a real call rpi -> 5001 and 5001 -> rpi): a right
result passes with what was seen; a wrong or missing one fails with the exact message that says
what to look at (never the answer). The expected values come from the capture itself: its
RTP streams (where the phone really sent RTP) and its SIP times.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from voiplab.capture.streams import streams
from voiplab.config import LabConfig
from voiplab.core.flow import Flow
from voiplab.errors import VoipLabError
from voiplab.teach.checks import CheckResult
from voiplab.teach.checks.flow import (
    ANSWER_GAP_MEASURED,
    CALL_FLOW_RECORDED,
    INVITES_COUNTED,
    RTP_DESTINATIONS_READ,
    answer_gap_measured,
    call_flow_recorded,
    invites_counted,
    rtp_destinations_read,
)
from voiplab.teach.experiments import Experiment, from_pcap
from voiplab.teach.samples import sample_capture


@pytest.fixture(scope="module")
def exp() -> Experiment:
    """The sample call rpi -> 5001, recorded in the default local lab."""
    return from_pcap(sample_capture("call_rpi_to_alcatel"), LabConfig())


def rtp_of(exp: Experiment, src: str, dst: str) -> str:
    """``ip:port`` that ``src`` sent RTP to, towards ``dst``, in the capture (the oracle)."""
    assert exp.pcap is not None
    stream = next(s for s in streams(exp.pcap) if s.src == src and s.dst == dst)
    return f"{stream.dst}:{stream.dst_port}"


def test_call_flow_recorded_passes_on_a_two_leg_call(exp: Experiment) -> None:
    """Is an answered call with both B2BUA legs a pass, naming the legs?"""
    result = call_flow_recorded(exp)
    assert isinstance(result, CheckResult) and result.ok and result.name == CALL_FLOW_RECORDED
    assert result.message.startswith('"Raspberry Pi" <sip:rpi@127.0.0.80> → sip:5001@127.0.0.80: COMPLETED, 27 SIP '
                                     "messages, both legs captured (Call-IDs ")


def test_call_flow_recorded_from_a_trace_passes_with_one_leg(exp: Experiment) -> None:
    """Without a capture (pcap None), is the phone's own leg enough, and said so?"""
    assert exp.call is not None
    one_leg = replace(exp, pcap=None, flow=exp.flow.filter(call_id=exp.call.call_ids[0]))
    result = call_flow_recorded(one_leg)
    assert result.ok and result.message.endswith("your phone's leg only, from its trace (no capture)")


def test_call_flow_recorded_fails_without_a_call(exp: Experiment) -> None:
    """No recording, a capture without the callee's leg, or a misuse: what does the student read?"""
    assert call_flow_recorded(None) == CheckResult(
        CALL_FLOW_RECORDED, False, "there is no recorded call yet: run the cell with vl.record_call")
    assert exp.call is not None
    one_leg = replace(exp, flow=exp.flow.filter(call_id=exp.call.call_ids[0]))
    assert call_flow_recorded(one_leg).message == ("the capture holds only one leg of the call: Asterisk's INVITE "
                                                   "to the callee is missing; record again")
    with pytest.raises(VoipLabError, match="^the check needs the recorded call, not a str: pass call_exp"):
        call_flow_recorded("call")  # type: ignore[arg-type]


def test_invites_counted_both_ways(exp: Experiment) -> None:
    """The phone's INVITEs (a list or a number) pass; all INVITEs, another number or nothing fail?"""
    mine = [m for m in exp.call_flow if m.method == "INVITE" and m.src.startswith("127.0.0.82:")]
    everyone = [m for m in exp.call_flow if m.method == "INVITE"]
    assert len(everyone) > len(mine)
    passed = invites_counted(mine, exp)
    assert passed.ok and passed.name == INVITES_COUNTED
    assert passed.message == (f"{len(mine)} INVITEs from your phone (127.0.0.82:5060): 1 without credentials "
                              f"(challenged: 401), {len(mine) - 1} with Authorization")
    assert invites_counted(len(mine), exp).ok
    assert invites_counted(everyone, exp).message == (
        "you counted every INVITE of the call: count only those your phone sent (src is your phone's address); "
        "the re-INVITEs come from the PBX")
    assert invites_counted(1, exp).message == ("1 is not the number of INVITEs your phone sent: look at the ladder, "
                                               "and at what Asterisk answers to the first INVITE")
    assert invites_counted(..., exp).message == "not counted yet: replace ... with your count"
    with pytest.raises(VoipLabError, match="^count is a float: give a number or the list of INVITE messages$"):
        invites_counted(2.0, exp)


def test_rtp_destinations_read_both_ways(exp: Experiment) -> None:
    """The addresses the phone really sent RTP to pass; swapped or missing ones fail with where to look?"""
    via_pbx, direct = rtp_of(exp, "127.0.0.82", "127.0.0.80"), rtp_of(exp, "127.0.0.82", "127.0.0.81")
    result = rtp_destinations_read(via_pbx, f" {direct} ", exp)
    assert result.ok and result.name == RTP_DESTINATIONS_READ
    assert result.message == f"first {via_pbx} (the PBX), then {direct} after the re-INVITE: RTP goes phone to phone"
    assert rtp_destinations_read(direct, direct, exp).message == (
        f"{direct} is not where your phone first sends RTP: read the c= and m= lines of the SDP your phone "
        "received in the 200 OK to its INVITE")
    assert rtp_destinations_read(via_pbx, via_pbx, exp).message == (
        f"{via_pbx} is not where your phone sends RTP after the re-INVITE: read the c= and m= lines of the "
        "re-INVITE the PBX sent to your phone")
    assert rtp_destinations_read(..., ..., exp).message == "not written yet: replace ... with 'ip:port' strings"
    with pytest.raises(VoipLabError, match="^before is a int: write it as a string 'ip:port'$"):
        rtp_destinations_read(4000, direct, exp)


def test_rtp_destinations_without_direct_media(exp: Experiment) -> None:
    """With no re-INVITE (direct_media=no), is the same address twice the right answer, and said so?"""
    assert exp.call is not None
    no_reinvite = replace(exp, flow=exp.flow.filter(call_id=exp.call.call_ids[0]))
    keep = [m for m in no_reinvite.flow if not (m.message.to_tag is not None and m.cseq_method == "INVITE")]
    flat = replace(exp, flow=Flow.from_messages([replace(m, index=-1) for m in keep]), pcap=None)
    via_pbx = rtp_of(exp, "127.0.0.82", "127.0.0.80")
    result = rtp_destinations_read(via_pbx, via_pbx, flat)
    assert result.ok and result.message == (f"{via_pbx} before and after: no re-INVITE moved the media (direct_media "
                                            "is off), RTP stays through the PBX")


def test_answer_gap_measured_both_ways(exp: Experiment) -> None:
    """The gap from the capture's times passes (rounded); 500 by heart, a negative or nothing fail?"""
    flow = exp.call_flow
    ok_time = next(m.time for m in flow if m.status == 200 and m.cseq_method == "INVITE"
                   and m.dst.startswith("127.0.0.82:"))
    ringing = next(m.time for m in flow if m.status == 180)
    gap = (ringing - ok_time) * 1000
    assert abs(gap - 500) > 2  # the dial plan's 500 ms plus Asterisk's own time
    result = answer_gap_measured(round(gap), exp)
    assert result.ok and result.name == ANSWER_GAP_MEASURED
    assert result.message == (f"{gap:.0f} ms: your phone was answered before the callee even rang (Answer(500), "
                              "then Dial)")
    assert answer_gap_measured(500, exp).message == (
        "500 ms is not the gap in this recording: take the time of the 180 Ringing from the callee minus the "
        "time of the 200 OK to your phone (seconds × 1000)")
    assert answer_gap_measured(-gap, exp).message == (
        "your gap is negative: the 200 OK to your phone comes first; subtract its time from the time of the 180")
    assert answer_gap_measured(..., exp).message == "not measured yet: replace ... with your number of milliseconds"
    assert exp.call is not None
    one_leg = replace(exp, pcap=None, flow=exp.flow.filter(call_id=exp.call.call_ids[0]))
    assert answer_gap_measured(gap, one_leg).message == (
        "the recording does not hold the callee's 180 Ringing (no capture: only your phone's leg): use the "
        "sample capture as the notebook says")
