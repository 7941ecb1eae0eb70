"""Chapter 4 (the INVITE flow, SDP, direct media): the expected answers, computed by the grader.

From the student's own ``call.pcap``: which response carries the SDP answer to rpi's
INVITE and where it tells rpi to send RTP, Asterisk's direct-media re-INVITE to rpi and
the Alcatel's RTP address in it, the ``Answer(N)`` delay of the variant's dial plan, and
the two Call-IDs of the B2BUA. Each depends on the capture (CSeq numbers, ports, Call-IDs,
times) or on the variant (the Alcatel's RTP port, the answer delay).
"""

from __future__ import annotations

from ...core.flow import FlowMessage, format_address
from ...errors import VoipLabError
from ..experiments import Experiment
from .base import AssignmentSpec, Exercise, GradingContext, Part, as_text, close, exact

__all__ = ["ASSIGNMENT"]


def _host(address: str) -> str:
    return address.rsplit(":", 1)[0]


def _sdp_address(m: FlowMessage) -> str | None:
    sdp = m.message.sdp
    audio = sdp.audio() if sdp is not None else None
    if audio is None or audio.connection_address is None:
        return None
    return format_address(str(audio.connection_address), audio.port)


def _call(ctx: GradingContext) -> tuple[Experiment, list[FlowMessage], str, str]:
    exp = ctx.experiment("call")
    messages = [m for m in exp.flow.messages if not m.retransmission]
    first = next((m for m in messages if m.method == "INVITE"), None)
    if first is None:
        raise VoipLabError("the call capture has no INVITE")
    return exp, messages, first.src, first.dst


def _cseq_text(value: object) -> object:
    text = as_text(value)
    return " ".join(text.split()) if text is not None else value


def _answer(ctx: GradingContext) -> list[Part]:
    exp, messages, rpi, pbx = _call(ctx)
    authorized = exp.auth_exchange("INVITE").authorized
    if authorized is None:
        raise VoipLabError("the call capture has no INVITE sent again with Authorization")
    answer = next((m for m in messages if m.status == 200 and m.src == pbx and m.dst == rpi
                   and m.cseq == authorized.cseq and m.has_sdp), None)
    if answer is None:
        raise VoipLabError("the call capture has no 200 OK with SDP answering rpi's INVITE")
    first = next(m for m in messages if m.method == "INVITE")
    challenged = next((m for m in messages if m.status == 401 and m.cseq == first.cseq), None)
    rtp = _sdp_address(answer)
    offer = _sdp_address(authorized)
    return [Part("answer_cseq", 1, str(answer.cseq), exact("answer_cseq", str(answer.cseq), normalize=_cseq_text,
                 hints=[(str(challenged.cseq) if challenged else None,
                         "that INVITE was refused with 401: its offer was never answered")])),
            Part("answer_rtp", 2, rtp, exact("answer_rtp", rtp, normalize=as_text, hints=[
                (offer, "that is rpi's own address, from its offer; the answer comes from Asterisk")]))]


def _reinvite(ctx: GradingContext) -> list[Part]:
    exp, messages, rpi, pbx = _call(ctx)
    for m in messages:
        if m.method != "INVITE" or m.dst != rpi or m.message.to_tag is None or not m.has_sdp:
            continue
        address = _sdp_address(m)
        if address is None or _host(address) == _host(pbx):
            continue
        hints: list[tuple[object, str]] = []
        for x in messages:
            if x.method != "INVITE" or x.message.to_tag is None or x is m:
                continue
            if x.dst == rpi:
                hints.append((str(x.cseq), "that re-INVITE moves rpi's media back to the PBX"))
            elif x.dst != pbx:
                hints.append((str(x.cseq), "that re-INVITE went to the Alcatel: find the one Asterisk sent to rpi"))
        to_alcatel = next((x for x in messages if x.method == "INVITE" and x.message.to_tag is not None
                           and x.dst not in (rpi, pbx) and x.has_sdp), None)
        own = _sdp_address(to_alcatel) if to_alcatel is not None else None
        return [Part("reinvite_cseq", 2, str(m.cseq), exact("reinvite_cseq", str(m.cseq), normalize=_cseq_text,
                     hints=hints)),
                Part("new_rtp_address", 2, address, exact("new_rtp_address", address, normalize=as_text, hints=[
                    (own, "that is rpi's own RTP address, sent to the Alcatel; rpi is told the Alcatel's")]))]
    raise VoipLabError("no re-INVITE moved rpi's media away from the PBX in the call capture")


def _delay(ctx: GradingContext) -> list[Part]:
    _exp, messages, rpi, pbx = _call(ctx)
    ok = next((m for m in messages if m.status == 200 and m.cseq_method == "INVITE" and m.src == pbx
               and m.dst == rpi), None)
    if ok is None:
        raise VoipLabError("the call capture has no 200 OK to rpi's INVITE")
    out = next((m for m in messages if m.method == "INVITE" and m.src == pbx and m.dst != rpi), None)
    if out is None:
        raise VoipLabError("the call capture has no INVITE from the PBX to the Alcatel")
    delay_ms = (out.time - ok.time) * 1000.0
    invite = next(m for m in messages if m.method == "INVITE")
    return [Part("answer_delay_ms", 2, round(delay_ms, 3), close(
        "answer_delay_ms", delay_ms, 1.0, unit="ms", label="answer delay", digits=1,
        hints=[(delay_ms / 1000.0, "answer_delay_ms is in milliseconds, not seconds"),
               ((out.time - invite.time) * 1000.0, "count from Asterisk's 200 OK to rpi, not from rpi's INVITE"),
               (float(ctx.variant.answer_ms), "that is the dial plan's Answer() value: measure the delay in the "
                                              "capture (the two messages' times)")]))]


def _legs(ctx: GradingContext) -> list[Part]:
    _exp, messages, rpi, pbx = _call(ctx)
    caller = next(m for m in messages if m.method == "INVITE").call_id
    callee = next((m.call_id for m in messages if m.method == "INVITE" and m.src == pbx and m.dst != rpi), None)
    if callee is None:
        raise VoipLabError("the call capture has no INVITE from the PBX to the Alcatel")
    return [Part("caller_call_id", 1, caller, exact("caller_call_id", caller, normalize=as_text,
                 hints=[(callee, "that is the Call-ID of Asterisk's leg to the Alcatel")])),
            Part("callee_call_id", 1, callee, exact("callee_call_id", callee, normalize=as_text,
                 hints=[(caller, "that is rpi's leg: Asterisk, a B2BUA, starts a new dialog to the Alcatel")]))]


ASSIGNMENT = AssignmentSpec(
    name="ch4_invite",
    chapter=4,
    exercises=(
        Exercise("ex1", "ex1_check", ("ex1_answer",), "the SDP answer to rpi's INVITE", ("call",),
                 ("sdp_side_by_side", "answer_timing"), _answer),
        Exercise("ex2", "ex2_check", ("ex2_answer",), "the direct-media re-INVITE", ("call",),
                 ("media_changes", "sdp_side_by_side", "stream_path"), _reinvite),
        Exercise("ex3", "ex3_check", ("ex3_answer",), "the Answer() delay", ("call",),
                 ("answer_timing", "dial_delay", "answer_ms", "dialplan"), _delay),
        Exercise("ex4", "ex4_check", ("ex4_answer",), "the two legs of the B2BUA", ("call",),
                 ("legs", "call_ids", "correlate_legs"), _legs),
    ),
    manual=("ex5_written",),
)
