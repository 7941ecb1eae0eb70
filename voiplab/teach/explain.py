"""Views over a SIP flow and its RTP streams: what the notebooks show next to an experiment.

* :func:`auth_exchange`: the digest-challenged request, the 401/407, the retry and its answer;
* :func:`sdp_side_by_side`: an SDP offer and its answer, side by side;
* :func:`answer_timing`: why Asterisk answers the caller before the callee rings (``Answer(500)``);
The views over RTP streams are in :mod:`voiplab.teach.media`.

Each takes a :class:`~voiplab.core.flow.Flow`, a flow call, a list of messages, or a
recorded experiment (anything with ``flow`` and ``call``: :class:`Recorded`).

Taught in notebooks 03, 04 and 05.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from ..core.flow import CallLeg, Flow, FlowCall, FlowMessage
from ..core.rtpstats import StreamStats
from ..core.sdp import MediaDescription
from ..errors import VoipLabError

__all__ = [
    "AnswerTiming",
    "AuthExchange",
    "Recorded",
    "SdpExchange",
    "answer_timing",
    "auth_exchange",
    "sdp_side_by_side",
]


@runtime_checkable
class Recorded(Protocol):
    """What a lab experiment recorded, as these views need it (``voiplab.teach.experiments.Experiment``)."""

    @property
    def flow(self) -> Flow: ...

    @property
    def call(self) -> FlowCall | None: ...

    @property
    def stream_stats(self) -> list[StreamStats]: ...


@dataclass(frozen=True)
class AuthExchange:
    """A digest-authenticated request: the first try, the challenge, the second try, the answer.

    Attributes:
        request: the request without credentials (``REGISTER`` or ``INVITE``).
        challenge: the ``401 Unauthorized`` (or 407) carrying ``WWW-Authenticate``.
        authorized: the same request sent again with ``Authorization``, or ``None``.
        final: the final answer to ``authorized`` (``200 OK``, or 401/403 with a wrong password).

    Taught in notebook 03 (REGISTER) and 04 (INVITE).
    """

    request: FlowMessage
    challenge: FlowMessage
    authorized: FlowMessage | None
    final: FlowMessage | None

    def __repr__(self) -> str:
        parts = [self.request.label, self.challenge.label]
        if self.authorized is not None:
            parts.append(self.authorized.label + " + Authorization")
        if self.final is not None:
            parts.append(self.final.label)
        return f"AuthExchange({' -> '.join(parts)})"


#: what the flow views accept: a recorded experiment, a flow, one call of it, or messages
FlowSource = Recorded | Flow | FlowCall | Sequence[FlowMessage]


def _messages_of(source: FlowSource) -> list[FlowMessage]:
    if isinstance(source, Recorded):
        source = source.call or source.flow
    if isinstance(source, (Flow, FlowCall)):
        return list(source.messages)
    return list(source)


def auth_exchange(source: FlowSource, method: str = "REGISTER", *, after: float | None = None) -> AuthExchange:
    """The first ``method`` request answered by 401/407, with the retry and its final answer.

    Parameters:
        source: a :class:`Flow`, a flow :class:`~voiplab.core.flow.FlowCall`, an :class:`Experiment`
            or a sequence of :class:`FlowMessage`.
        method: ``"REGISTER"`` or ``"INVITE"``.
        after: only requests at or after this time.

    Raises:
        VoipLabError: no challenged ``method`` request in the flow.

    Taught in notebook 03 (and 04 for the INVITE's challenge).
    """
    messages = _messages_of(source.flow if isinstance(source, Recorded) else source)
    method = method.upper()
    for i, m in enumerate(messages):
        if m.method != method or m.retransmission or (after is not None and m.time < after):
            continue
        cseq = m.cseq
        challenge = next((r for r in messages[i + 1:] if r.status in (401, 407) and r.cseq == cseq
                          and r.call_id == m.call_id), None)
        if challenge is None:
            continue
        retry = next((r for r in messages[i + 1:] if r.method == method and r.call_id == m.call_id
                      and r.src == m.src and ("Authorization" in r.message.headers
                                              or "Proxy-Authorization" in r.message.headers)), None)
        final = None
        if retry is not None:
            at = messages.index(retry)
            final = next((r for r in messages[at + 1:] if r.status is not None and r.status >= 200
                          and r.cseq == retry.cseq and r.call_id == retry.call_id), None)
        return AuthExchange(m, challenge, retry, final)
    raise VoipLabError(f"the flow has no {method} answered by 401/407: record one with "
                       "vl.scenarios.record_registration() or record_call()")


@dataclass(frozen=True)
class SdpExchange:
    """An SDP offer and its answer, shown side by side (``_repr_html_``).

    Attributes:
        offer, answer: the messages carrying them (the INVITE and its 200 OK, usually).

    Taught in notebook 04.
    """

    offer: FlowMessage
    answer: FlowMessage

    def summary(self) -> list[tuple[str, str, str]]:
        """``(what, offer, answer)`` rows: address, RTP port, codecs, DTMF, direction, ptime."""
        rows = []
        o, a = self.offer.message.sdp, self.answer.message.sdp
        mo, ma = (o.audio() if o else None), (a.audio() if a else None)

        def media(md: MediaDescription | None, what: str) -> str:
            if md is None:
                return "-"
            if what == "address":
                return str(md.connection_address or "-")
            if what == "port":
                return str(md.port)
            if what == "codecs":
                return ", ".join(f"{pt} {m.encoding}/{m.clock_rate}" for pt, m in md.rtpmap.items()
                                 if not m.encoding.lower().startswith("telephone-event"))
            if what == "dtmf":
                return ", ".join(f"{pt} {m.encoding}" for pt, m in md.rtpmap.items()
                                 if m.encoding.lower().startswith("telephone-event")) or "-"
            if what == "direction":
                return md.direction
            return str(md.ptime or "-")

        for what, label in (("address", "connection address (c=)"), ("port", "RTP port (m=)"),
                            ("codecs", "codecs (payload types)"), ("dtmf", "DTMF (RFC 4733)"),
                            ("direction", "direction"), ("ptime", "ptime (ms)")):
            rows.append((label, media(mo, what), media(ma, what)))
        return rows

    @property
    def chosen_codec(self) -> str:
        """The first codec of the answer: the one both sides will send."""
        a = self.answer.message.sdp
        md = a.audio() if a else None
        if md is None:
            return "-"
        for pt, m in md.rtpmap.items():
            if not m.encoding.lower().startswith("telephone-event"):
                return f"{m.encoding} (payload type {pt})"
        return "-"

    def __repr__(self) -> str:
        rows = {what: (o, a) for what, o, a in self.summary()}
        o_addr = f"{rows['connection address (c=)'][0]}:{rows['RTP port (m=)'][0]}"
        a_addr = f"{rows['connection address (c=)'][1]}:{rows['RTP port (m=)'][1]}"
        return (f"SdpExchange(offer in {self.offer.label} from {self.offer.src}: RTP at {o_addr}; "
                f"answer in {self.answer.label} from {self.answer.src}: RTP at {a_addr}; "
                f"codec {self.chosen_codec})")

    def _repr_html_(self) -> str:
        def pre(item: FlowMessage) -> str:
            body = item.message.body.decode("utf-8", "replace").replace("\r\n", "\n").rstrip("\n")
            lines = []
            for line in body.splitlines():
                style = ""
                if line.startswith(("c=", "m=")):
                    style = "background:#fff3c4;font-weight:bold"
                elif line.startswith(("a=rtpmap", "a=fmtp")):
                    style = "background:#e3f2e3"
                elif line.startswith(("a=send", "a=recv", "a=inactive")):
                    style = "background:#e8e8ff"
                lines.append(f"<span style='{style}'>{html.escape(line)}</span>")
            return ("<pre style='text-align:left;margin:0;font-size:85%'>" + "\n".join(lines) + "</pre>")

        def title(item: FlowMessage, role: str) -> str:
            return (f"<b>{role}</b>: {html.escape(item.label)} "
                    f"{html.escape(item.src)} → {html.escape(item.dst)} [{html.escape(item.cseq or '')}]")

        summary = "".join(f"<tr><td style='text-align:left'>{html.escape(w)}</td>"
                          f"<td style='text-align:left'>{html.escape(o)}</td>"
                          f"<td style='text-align:left'>{html.escape(a)}</td></tr>" for w, o, a in self.summary())
        return ("<table><tr><th style='text-align:left'>" + title(self.offer, "offer") + "</th>"
                "<th style='text-align:left'>" + title(self.answer, "answer") + "</th></tr>"
                f"<tr><td style='vertical-align:top'>{pre(self.offer)}</td>"
                f"<td style='vertical-align:top'>{pre(self.answer)}</td></tr></table>"
                "<table><tr><th></th><th>offer</th><th>answer</th></tr>" + summary + "</table>"
                f"<p>Chosen codec: <b>{html.escape(self.chosen_codec)}</b></p>")


def sdp_side_by_side(source: FlowSource | tuple[FlowMessage, FlowMessage], leg: int = 0) -> SdpExchange:
    """The SDP offer and answer of a call's initial INVITE transaction, side by side.

    Parameters:
        source: an :class:`Experiment`, a :class:`Flow` (its first call), a flow
            :class:`~voiplab.core.flow.FlowCall`, or the two messages ``(offer, answer)``.
        leg: which B2BUA leg (0: caller -> PBX, 1: PBX -> callee).

    Returns:
        An :class:`SdpExchange` (displayed as two columns in a notebook).

    Raises:
        VoipLabError: no INVITE with an answered SDP offer in that leg.

    Taught in notebook 04.
    """
    if isinstance(source, tuple) and len(source) == 2 and all(isinstance(m, FlowMessage) for m in source):
        return SdpExchange(source[0], source[1])
    call: FlowCall | None
    if isinstance(source, Recorded):
        call = source.call
    elif isinstance(source, Flow):
        call = next((c for c in source.calls if len(c.legs) > 1), source.calls[0] if source.calls else None)
    elif isinstance(source, FlowCall):
        call = source
    else:
        messages = list(source)
        return _offer_answer(messages, "the messages")
    if call is None:
        raise VoipLabError("the flow has no call: record one with vl.scenarios.record_call()")
    if leg >= len(call.legs):
        raise VoipLabError(f"the call has {len(call.legs)} leg(s), so leg={leg} does not exist: use 0"
                           + (" or 1" if len(call.legs) > 1 else "") + " (a phone's trace sees only its own leg)")
    return _offer_answer(list(call.legs[leg].messages), f"leg {leg}")


def _offer_answer(messages: Sequence[FlowMessage], what: str) -> SdpExchange:
    invites = [m for m in messages if m.method == "INVITE" and not m.retransmission
               and m.message.to_tag is None]
    for invite in invites:
        answer = next((r for r in messages if r.status is not None and 200 <= r.status < 300
                       and r.cseq == invite.cseq and r.call_id == invite.call_id and r.has_sdp), None)
        if answer is None:
            continue
        if invite.has_sdp:
            return SdpExchange(invite, answer)
        ack = next((r for r in messages if r.method == "ACK" and r.call_id == invite.call_id and r.has_sdp
                    and r.time >= answer.time), None)
        if ack is not None:  # late offer: the offer is in the 200 OK, the answer in the ACK
            return SdpExchange(answer, ack)
    raise VoipLabError(f"{what} has no INVITE whose SDP offer was answered: record a whole call")


@dataclass(frozen=True)
class AnswerTiming:
    """When each side of a B2BUA call was answered (times in s from the caller's INVITE).

    With ``Answer(500)`` first in the dial plan, Asterisk answers the *caller* (200 OK)
    at once, waits 500 ms, and only then ``Dial()`` sends the INVITE to the callee, which
    rings (180) and answers (200 OK) later.

    Attributes:
        caller_invite: the caller's first INVITE (0.0).
        caller_answered: Asterisk's 200 OK to the caller.
        callee_invite: Asterisk's first INVITE to the callee (``None`` if not in the flow).
        callee_ringing: the callee's 180 Ringing.
        callee_answered: the callee's 200 OK.
        caller, pbx, callee: ``ip:port`` of each.

    Taught in notebook 04.
    """

    caller: str
    pbx: str
    callee: str | None
    caller_invite: float
    caller_answered: float | None
    callee_invite: float | None
    callee_ringing: float | None
    callee_answered: float | None

    @property
    def answered_before_ringing(self) -> bool:
        """True when the caller got its 200 OK before the callee even rang."""
        if self.caller_answered is None:
            return False
        ring = self.callee_ringing if self.callee_ringing is not None else self.callee_invite
        return ring is None or self.caller_answered < ring

    @property
    def dial_delay(self) -> float | None:
        """Seconds from the caller's 200 OK to the callee's INVITE (the ``Answer(500)`` pause)."""
        if self.caller_answered is None or self.callee_invite is None:
            return None
        return self.callee_invite - self.caller_answered

    def events(self) -> list[tuple[str, str, float | None]]:
        """``(event, who -> whom, time)`` rows in order."""
        return [
            ("INVITE (first, challenged)", f"{self.caller} → {self.pbx}", self.caller_invite),
            ("200 OK to the caller", f"{self.pbx} → {self.caller}", self.caller_answered),
            ("INVITE to the callee (Dial)", f"{self.pbx} → {self.callee or '?'}", self.callee_invite),
            ("180 Ringing from the callee", f"{self.callee or '?'} → {self.pbx}", self.callee_ringing),
            ("200 OK from the callee", f"{self.callee or '?'} → {self.pbx}", self.callee_answered),
        ]

    def __repr__(self) -> str:
        def t(x: float | None) -> str:
            return "not seen" if x is None else f"+{x:.3f} s"

        delay = f" ({self.dial_delay:.3f} s later)" if self.dial_delay is not None else ""
        return (f"AnswerTiming(200 OK to the caller {t(self.caller_answered)}; INVITE to the callee "
                f"{t(self.callee_invite)}{delay}; 180 {t(self.callee_ringing)}; callee's 200 OK "
                f"{t(self.callee_answered)})")

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><td style='text-align:left'>{html.escape(e)}</td><td>{html.escape(w)}</td>"
            f"<td>{'-' if t is None else f'+{t:.3f} s'}</td></tr>" for e, w, t in self.events())
        verdict = ("the caller was answered <b>before</b> the callee rang" if self.answered_before_ringing
                   else "the caller was answered after the callee rang")
        delay = (f"; Asterisk waited <b>{self.dial_delay:.3f} s</b> between its 200 OK and the INVITE to the "
                 "callee" if self.dial_delay is not None else "")
        return (f"<table><tr><th>event</th><th>who</th><th>time</th></tr>{rows}</table>"
                f"<p>{verdict}{delay}.</p>")


def answer_timing(source: Recorded | Flow | FlowCall) -> AnswerTiming:
    """Why Asterisk answers before the Alcatel rings: the times of each leg's INVITE, 180 and 200.

    Parameters:
        source: an :class:`Experiment`, a :class:`Flow` (its first call with two legs) or a
            flow :class:`~voiplab.core.flow.FlowCall`. From a phone's trace only the caller's leg is
            known: the callee's times are then ``None``.

    Raises:
        VoipLabError: no call in the flow.

    Taught in notebook 04.
    """
    if isinstance(source, Recorded):
        call = source.call
    elif isinstance(source, Flow):
        call = next((c for c in source.calls if len(c.legs) > 1), source.calls[0] if source.calls else None)
    else:
        call = source
    if call is None:
        raise VoipLabError("the flow has no call: record one with vl.scenarios.record_call()")
    first = call.legs[0]
    t0 = first.invite.time

    def initial_response(leg: CallLeg, status_range: range) -> FlowMessage | None:
        invite = leg.invite
        return next((m for m in leg.messages if m.status in status_range and m.cseq_method == "INVITE"
                     and m.src == invite.dst and _initial(leg, m)), None)

    def rel(m: FlowMessage | None) -> float | None:
        return None if m is None else m.time - t0

    caller_ok = initial_response(first, range(200, 300))
    callee = call.legs[1] if len(call.legs) > 1 else None
    return AnswerTiming(
        caller=first.caller, pbx=first.callee, callee=callee.callee if callee else None,
        caller_invite=0.0, caller_answered=rel(caller_ok),
        callee_invite=rel(callee.invite) if callee else None,
        callee_ringing=rel(initial_response(callee, range(180, 190))) if callee else None,
        callee_answered=rel(initial_response(callee, range(200, 300))) if callee else None,
    )


def _initial(leg: CallLeg, response: FlowMessage) -> bool:
    """Whether a response answers an initial INVITE (not a re-INVITE: its request had no To tag)."""
    for m in leg.messages:
        if m.method == "INVITE" and m.cseq == response.cseq:
            return m.message.to_tag is None
    return False
