"""Check cells of notebook 04 (the INVITE flow, SDP offer/answer, direct media; chapters 3 and 5).

Each check looks at what the student made (their recorded call, what they counted or read in
it) and returns a :class:`~voiplab.teach.checks.CheckResult`: what was seen, or what to look
at, never the answer. A wrong or missing result never raises.

Taught in notebook 04.
"""

from __future__ import annotations

from collections.abc import Sequence

from ...core.flow import FlowMessage, split_address
from ...errors import VoipLabError
from ..experiments import Experiment
from ..explain import RtpPath, answer_timing, rtp_paths
from . import CheckResult, failed, passed

__all__ = ["answer_gap_measured", "call_flow_recorded", "invites_counted", "rtp_destinations_read"]

#: the names of the checks, as the student reads them
CALL_FLOW_RECORDED = "your call was recorded and answered"
INVITES_COUNTED = "the INVITEs your phone sent"
RTP_DESTINATIONS_READ = "where your phone sends RTP, before and after the re-INVITE"
ANSWER_GAP_MEASURED = "the time between your 200 OK and the callee's 180 Ringing"
#: how far a measured time may be from the flow's (ms): the student may round
GAP_TOLERANCE_MS = 2.0
#: what the notebook's stub cells hold before the student writes the line
_NOT_WRITTEN = (None, ..., "", "...")


def _experiment(value: object) -> Experiment | None:
    if value is None or value is ...:
        return None
    if not isinstance(value, Experiment):
        raise VoipLabError(f"the check needs the recorded call, not a {type(value).__name__}: pass "
                           "call_exp (call_exp = vl.record_call(lab, ...))")
    return value


def _phone_address(exp: Experiment) -> str | None:
    """``ip:port`` of the student's phone: the caller of an outgoing call, the callee of an incoming one."""
    call = exp.call
    if call is None:
        return None
    first = call.legs[0]
    pbx = exp.pbx
    for address in (first.caller, first.callee, *(leg.callee for leg in call.legs)):
        if split_address(address)[0] != pbx and any(e["local"] == address for e in exp.trace):
            return address
    return first.caller if split_address(first.caller)[0] != pbx else None


def call_flow_recorded(exp: Experiment | None) -> CheckResult:
    """Was the student's call recorded, answered (200 OK), with both B2BUA legs when captured?

    Taught in notebook 04.
    """
    the_exp = _experiment(exp)
    if the_exp is None:
        return failed(CALL_FLOW_RECORDED, "there is no recorded call yet: run the cell with vl.record_call")
    call = the_exp.call
    if call is None:
        why = the_exp.error or the_exp.note or "no INVITE"
        return failed(CALL_FLOW_RECORDED, f"the recording holds no call ({why}): is the lab up? run lab.status(), "
                                          "then record again")
    answered = any(m.status is not None and 200 <= m.status < 300 and m.cseq_method == "INVITE"
                   for m in call.legs[0].messages)
    if not answered:
        return failed(CALL_FLOW_RECORDED, f"the call was not answered ({call.state}): is the callee registered? "
                                          "run lab.status(), then record again")
    legs = len(call.legs)
    if the_exp.pcap is not None and legs < 2:
        return failed(CALL_FLOW_RECORDED, "the capture holds only one leg of the call: Asterisk's INVITE to the "
                                          "callee is missing; record again")
    where = ("both legs captured (Call-IDs " + ", ".join(f"{c[:10]}…" for c in call.call_ids) + ")"
             if legs > 1 else "your phone's leg only, from its trace (no capture)")
    return passed(CALL_FLOW_RECORDED, f"{call.from_} → {call.to}: {call.state}, {len(call.messages)} SIP "
                                      f"messages, {where}")


def invites_counted(count: object, exp: Experiment | None) -> CheckResult:
    """Did the student count the INVITEs their phone sent in the recorded call (the first one is challenged)?

    Parameters:
        count: a number, or the list of those INVITEs (a list of :class:`FlowMessage`).
        exp: the recorded call.

    Taught in notebook 04.
    """
    the_exp = _experiment(exp)
    if the_exp is None or the_exp.call is None:
        return failed(INVITES_COUNTED, "there is no recorded call yet: run the cell with vl.record_call")
    if count in _NOT_WRITTEN:
        return failed(INVITES_COUNTED, "not counted yet: replace ... with your count")
    if isinstance(count, Sequence) and not isinstance(count, str):
        if not all(isinstance(m, FlowMessage) for m in count):
            raise VoipLabError("the list must hold the INVITE messages of the flow (FlowMessage objects)")
        number = len(count)
    elif isinstance(count, int) and not isinstance(count, bool):
        number = count
    else:
        raise VoipLabError(f"count is a {type(count).__name__}: give a number or the list of INVITE messages")
    phone = _phone_address(the_exp)
    sent = [m for m in the_exp.call.messages if m.method == "INVITE" and not m.retransmission and m.src == phone]
    all_invites = [m for m in the_exp.call.messages if m.method == "INVITE" and not m.retransmission]
    if number == len(sent):
        challenged = sum(1 for m in sent if m.message.authorization is None)
        return passed(INVITES_COUNTED, f"{number} INVITEs from your phone ({phone}): {challenged} without "
                                       f"credentials (challenged: 401), {number - challenged} with Authorization")
    if number == len(all_invites):
        return failed(INVITES_COUNTED, "you counted every INVITE of the call: count only those your phone sent "
                                       "(src is your phone's address); the re-INVITEs come from the PBX")
    return failed(INVITES_COUNTED, f"{number} is not the number of INVITEs your phone sent: look at the "
                                   "ladder, and at what Asterisk answers to the first INVITE")


def _phone_destinations(paths: list[RtpPath], phone: str) -> list[str]:
    """Where the phone sends RTP, each new destination once, in order."""
    seen: list[str] = []
    for path in paths:
        for direction in path.directions:
            if direction.sender == phone and (not seen or seen[-1] != direction.destination):
                seen.append(direction.destination)
    return seen


def _address(value: object, name: str) -> str | None:
    if value in _NOT_WRITTEN:
        return None
    if not isinstance(value, str):
        raise VoipLabError(f"{name} is a {type(value).__name__}: write it as a string 'ip:port'")
    return value.strip().replace(" ", "")


def rtp_destinations_read(before: object, after: object, exp: Experiment | None) -> CheckResult:
    """Did the student read where their phone sends RTP before and after the direct-media re-INVITE?

    Parameters:
        before: ``"ip:port"`` the phone sends RTP to once the call is answered (from the SDP answer).
        after: ``"ip:port"`` after Asterisk's re-INVITE (from its SDP).
        exp: the recorded call.

    Taught in notebook 04.
    """
    the_exp = _experiment(exp)
    if the_exp is None or the_exp.call is None:
        return failed(RTP_DESTINATIONS_READ, "there is no recorded call yet: run the cell with vl.record_call")
    first, second = _address(before, "before"), _address(after, "after")
    if first is None or second is None:
        return failed(RTP_DESTINATIONS_READ, "not written yet: replace ... with 'ip:port' strings")
    phone = _phone_address(the_exp)
    seen = _phone_destinations(rtp_paths(the_exp), phone or "")
    if not seen:
        return failed(RTP_DESTINATIONS_READ, "the recorded call has no SDP answer for your phone: record it again")
    if first != seen[0]:
        return failed(RTP_DESTINATIONS_READ, f"{first} is not where your phone first sends RTP: read the c= and "
                                             "m= lines of the SDP your phone received in the 200 OK to its INVITE")
    expected_after = seen[1] if len(seen) > 1 else seen[0]
    if second != expected_after:
        return failed(RTP_DESTINATIONS_READ, f"{second} is not where your phone sends RTP after the re-INVITE: "
                                             "read the c= and m= lines of the re-INVITE the PBX sent to your "
                                             "phone")
    if len(seen) > 1:
        return passed(RTP_DESTINATIONS_READ, f"first {first} (the PBX), then {second} after the re-INVITE: "
                                             "RTP goes phone to phone")
    return passed(RTP_DESTINATIONS_READ, f"{first} before and after: no re-INVITE moved the media (direct_media "
                                         "is off), RTP stays through the PBX")


def answer_gap_measured(gap_ms: object, exp: Experiment | None) -> CheckResult:
    """Did the student measure how long after their 200 OK the callee rang (``Answer(500)``)?

    Parameters:
        gap_ms: milliseconds from Asterisk's 200 OK to the caller to the callee's 180 Ringing.
        exp: the recorded call (with capture: both legs).

    Taught in notebook 04.
    """
    the_exp = _experiment(exp)
    if the_exp is None or the_exp.call is None:
        return failed(ANSWER_GAP_MEASURED, "there is no recorded call yet: run the cell with vl.record_call")
    if gap_ms in _NOT_WRITTEN:
        return failed(ANSWER_GAP_MEASURED, "not measured yet: replace ... with your number of milliseconds")
    if not isinstance(gap_ms, (int, float)) or isinstance(gap_ms, bool):
        raise VoipLabError(f"gap_ms is a {type(gap_ms).__name__}: give a number of milliseconds")
    timing = answer_timing(the_exp)
    if timing.caller_answered is None or timing.callee_ringing is None:
        return failed(ANSWER_GAP_MEASURED, "the recording does not hold the callee's 180 Ringing (no capture: only "
                                           "your phone's leg): use the sample capture as the notebook says")
    expected = (timing.callee_ringing - timing.caller_answered) * 1000.0
    if gap_ms < 0 < expected:
        return failed(ANSWER_GAP_MEASURED, "your gap is negative: the 200 OK to your phone comes first; subtract "
                                           "its time from the time of the 180")
    if abs(float(gap_ms) - expected) > GAP_TOLERANCE_MS:
        return failed(ANSWER_GAP_MEASURED, f"{gap_ms:g} ms is not the gap in this recording: take the time of the "
                                           "180 Ringing from the callee minus the time of the 200 OK to your phone "
                                           "(seconds × 1000)")
    return passed(ANSWER_GAP_MEASURED, f"{float(gap_ms):.0f} ms: your phone was answered before the callee "
                                       "even rang (Answer(500), then Dial)")
