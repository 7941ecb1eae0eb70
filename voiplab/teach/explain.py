"""Views over a SIP flow and its RTP streams: what the notebooks show next to an experiment.

* :func:`auth_exchange`: the digest-challenged request, the 401/407, the retry and its answer;
* :func:`sdp_side_by_side`: an SDP offer and its answer, side by side;
* :func:`answer_timing`: why Asterisk answers the caller before the callee rings (``Answer(500)``);
* :func:`nonce_reuse_request`: the same REGISTER again, reusing its nonce with the next ``nc``;
* :func:`nonce_uses`: each nonce, the challenge that gave it and every request that sent it back (``nc``);
* :func:`rtp_paths`: who sends RTP to which ``ip:port`` after each message (the direct-media re-INVITEs);
* :func:`message_steps` and :func:`ladder_stepper`: a call one message at a time (the ladder stepper).
The views over RTP streams are in :mod:`voiplab.teach.media`.

Each takes a :class:`~voiplab.core.flow.Flow`, a flow call, a list of messages, or a
recorded experiment (anything with ``flow`` and ``call``: :class:`Recorded`).

Taught in notebooks 03, 04 and 05.
"""

from __future__ import annotations

import html
import re
import secrets
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from ..core.digest import Challenge, compute_response
from ..core.flow import CallLeg, Flow, FlowCall, FlowMessage, TraceEntry, format_address, split_address
from ..core.rtpstats import StreamStats
from ..core.sdp import MediaDescription
from ..core.sip import SipMessage
from ..errors import SdpParseError, SipParseError, VoipLabError

if TYPE_CHECKING:
    from ..widgets.ladder import LadderStepper

__all__ = [
    "AnswerTiming",
    "AuthExchange",
    "MessageStep",
    "NonceTable",
    "NonceUse",
    "Recorded",
    "RtpDirection",
    "RtpPath",
    "SdpExchange",
    "answer_timing",
    "auth_exchange",
    "ladder_stepper",
    "message_steps",
    "nonce_reuse_request",
    "nonce_time",
    "nonce_uses",
    "rtp_paths",
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


# ---------------------------------------------------------------------------- the RTP path, message by message


@dataclass(frozen=True)
class RtpDirection:
    """One direction of RTP: a SIP endpoint sends its media to the address an SDP gave it.

    The receiver of an SDP body sends its RTP to the ``c=`` address and ``m=`` port in it
    (RFC 3264: "send my media here"); its own RTP address is the one it announced in its own SDP.

    Attributes:
        call_id: the dialog's Call-ID (one B2BUA leg).
        sender: ``ip:port`` (SIP) of the endpoint that sends this RTP.
        source: its own RTP ``ip:port`` (from the SDP it sent in this leg), or ``None`` if not seen.
        destination: the RTP ``ip:port`` it sends to.
        set_by: the index (in the flow) of the message whose SDP set this direction.

    Taught in notebook 04 (the ladder stepper: where RTP goes after each message).
    """

    call_id: str
    sender: str
    source: str | None
    destination: str
    set_by: int

    def describe(self, roles: Mapping[str, str] | None = None) -> str:
        """``"rpi (5002) 127.0.0.82:4000 → 127.0.0.80:10754 pbx"``."""
        who = _role(self.sender, roles)
        source = self.source or "?"
        return f"{who} {source} → {self.destination} {_role(self.destination, roles)}".rstrip()

    def __repr__(self) -> str:
        return f"<RtpDirection {self.sender} sends {self.source or '?'} -> {self.destination}>"


@dataclass(frozen=True)
class RtpPath:
    """Who sends RTP to which ``ip:port`` once a SIP message has been seen.

    Attributes:
        message: the SIP message.
        directions: every RTP direction set up so far (one per endpoint and leg).
        changed: the directions this message set or moved.
        stopped: the directions this message ended (a BYE, a rejected offer).
        roles: ip -> lab role, for the text.
        pbx: the PBX's IP address (a stream to it is relayed), or ``None``.

    Taught in notebook 04 (before the direct-media re-INVITEs RTP goes through the PBX; after
    them, phone to phone).
    """

    message: FlowMessage
    directions: tuple[RtpDirection, ...]
    changed: tuple[RtpDirection, ...] = ()
    stopped: tuple[RtpDirection, ...] = ()
    roles: Mapping[str, str] | None = field(default=None, repr=False, compare=False)
    pbx: str | None = None
    #: call_id -> the call (a tuple of the Call-IDs of its legs), for the end-to-end routes
    calls: tuple[tuple[str, ...], ...] = field(default=(), repr=False)

    def destination_of(self, sender: str) -> str | None:
        """Where ``sender`` (an ip, ``ip:port`` or lab role such as ``"rpi"``) sends RTP now (``ip:port``).

        With several legs (the PBX), the first one found; ``None`` when it sends nothing.
        """
        for direction in self.directions:
            if _matches(direction.sender, sender, self.roles):
                return direction.destination
        return None

    def lines(self) -> list[tuple[str, bool]]:
        """``(text, changed)`` for each RTP direction (for the stepper's RTP pane)."""
        changed = {(d.call_id, d.sender) for d in self.changed}
        return [(d.describe(self.roles), (d.call_id, d.sender) in changed) for d in self.directions]

    def routes(self) -> list[str]:
        """End to end, phone by phone: ``"rpi (5002) → alcatel (5001): via the PBX (...)"`` or ``"direct"``."""
        routes = []
        pbx = self.pbx
        for d in self.directions:
            sender_ip = split_address(d.sender)[0]
            if pbx is not None and sender_ip == pbx:
                continue
            target_ip = split_address(d.destination)[0]
            who = _role(d.sender, self.roles) or d.sender
            if pbx is not None and target_ip == pbx:
                relay = self._relay_from(d)
                if relay is None:
                    routes.append(f"{who} → PBX ({d.destination}): the PBX forwards it to no one")
                else:
                    peer = _role(relay.destination, self.roles) or relay.destination
                    routes.append(f"{who} → {peer}: via the PBX ({d.source or '?'} → {d.destination}, "
                                  f"then {relay.source or '?'} → {relay.destination})")
            else:
                peer = _role(d.destination, self.roles) or d.destination
                routes.append(f"{who} → {peer}: direct ({d.source or '?'} → {d.destination})")
        return routes

    def _relay_from(self, into_pbx: RtpDirection) -> RtpDirection | None:
        """The PBX's direction on another leg of the same call (what it relays ``into_pbx`` to)."""
        legs = next((c for c in self.calls if into_pbx.call_id in c), (into_pbx.call_id,))
        return next((d for d in self.directions if d.call_id in legs and d.call_id != into_pbx.call_id
                     and self.pbx is not None and split_address(d.sender)[0] == self.pbx), None)

    def __repr__(self) -> str:
        routes = "; ".join(self.routes()) or "no RTP yet"
        return f"RtpPath(after {self.message.label} [{self.message.cseq}]: {routes})"

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<li style='{'font-weight:bold;color:#c62828' if changed else ''}'>{html.escape(text)}"
            f"{' (new)' if changed else ''}</li>" for text, changed in self.lines())
        routes = "".join(f"<li>{html.escape(r)}</li>" for r in self.routes())
        return (f"<p>After <b>{html.escape(self.message.label)}</b> [{html.escape(self.message.cseq or '')}]:</p>"
                f"<ul>{rows or '<li>no RTP yet</li>'}</ul>"
                + (f"<p>End to end:</p><ul>{routes}</ul>" if routes else ""))


def _role(address: str, roles: Mapping[str, str] | None) -> str:
    if not roles:
        return ""
    host = split_address(address)[0] if ":" in address else address
    return roles.get(address) or roles.get(host) or ""


def _matches(address: str, who: str, roles: Mapping[str, str] | None) -> bool:
    host = split_address(address)[0]
    if who in (address, host):
        return True
    role = _role(address, roles)
    return bool(role) and (who == role or role.split(" ")[0] == who)


def _sdp_target(item: FlowMessage) -> tuple[str | None, bool]:
    """``(ip:port, sends)`` of an SDP body: where to send RTP, and whether its receiver may send at all."""
    try:
        sdp = item.message.sdp
    except (SdpParseError, SipParseError):
        return None, False
    if sdp is None:
        return None, False
    audio = sdp.audio()
    if audio is None or audio.connection_address is None:
        return None, False  # no audio stream, or port 0: refused
    address = format_address(audio.connection_address, audio.port)
    # the SDP's author says what *it* does: if it only sends (or does nothing), the receiver does not send
    return address, audio.direction in ("sendrecv", "recvonly")


@dataclass(frozen=True)
class _Offer:
    """An SDP offer in a request, waiting for its receiver's answer."""

    author: str
    receiver: str
    address: str
    sends: bool
    index: int


def rtp_paths(source: FlowSource, *, roles: Mapping[str, str] | None = None,
              pbx: str | None = None) -> list[RtpPath]:
    """The RTP path after each message of a flow: who sends RTP to which ``ip:port``.

    The receiver of an SDP sends its RTP to the address in it (the offerer once it has the answer,
    the answerer once it has the offer); an offer answered by an error (401, 488...) is void; a BYE
    ends the RTP of its leg. Retransmissions change nothing.

    Parameters:
        source: an :class:`Experiment`, a :class:`Flow`, a flow call or a sequence of messages.
        roles: ip -> lab role for the text (an experiment's own roles by default).
        pbx: the PBX's IP (an experiment's by default): RTP sent to it is relayed.

    Returns:
        One :class:`RtpPath` per message, in the flow's order.

    Taught in notebook 04 (the ladder stepper).
    """
    if isinstance(source, Recorded):
        roles = roles if roles is not None else getattr(source, "roles", None)
        pbx = pbx if pbx is not None else getattr(source, "pbx", None)
        flow: Flow | None = source.flow
        messages = list(source.call.messages) if source.call is not None else list(source.flow.messages)
    else:
        flow = source if isinstance(source, Flow) else None
        messages = _messages_of(source)
    calls = tuple(c.call_ids for c in flow.calls) if flow is not None else ()
    current: dict[tuple[str, str], RtpDirection] = {}
    own: dict[tuple[str, str], str] = {}  # (call_id, endpoint) -> the RTP address it announced
    # offers in requests wait for their receiver's answer: (call_id, cseq) -> the offer
    offers: dict[tuple[str, str | None], _Offer] = {}
    # (call_id, endpoint) of a B2BUA that gave another host's address: it left that leg's media path
    handed: set[tuple[str, str]] = set()
    paths = []

    def apply(call_id: str, endpoint: str, target: str, sends: bool, index: int,
              changed: list[RtpDirection], stopped: list[RtpDirection]) -> None:
        key = (call_id, endpoint)
        before = current.get(key)
        if not sends:
            if before is not None:
                stopped.append(current.pop(key))
            return
        direction = RtpDirection(call_id, endpoint, own.get(key), target, index)
        current[key] = direction
        if before is None or before.destination != target:
            changed.append(direction)

    def hand_off(call_id: str, author: str, target: str, stopped: list[RtpDirection]) -> None:
        """An SDP giving another host's address (a B2BUA's direct media): its author leaves the media path."""
        if split_address(target)[0] == split_address(author)[0]:
            handed.discard((call_id, author))
            return
        handed.add((call_id, author))
        if (call_id, author) in current:
            stopped.append(current.pop((call_id, author)))

    for item in messages:
        changed: list[RtpDirection] = []
        stopped: list[RtpDirection] = []
        call_id = item.call_id
        if call_id is None or item.retransmission:
            paths.append(RtpPath(item, tuple(current.values()), (), (), roles, pbx, calls))
            continue
        target, sends = _sdp_target(item) if item.has_sdp else (None, False)
        if target is not None and split_address(target)[0] == split_address(item.src)[0]:
            own[(call_id, item.src)] = target  # the author's own RTP address
            mine = current.get((call_id, item.src))
            if mine is not None and mine.source != target:
                current[(call_id, item.src)] = replace(mine, source=target)
        status = item.status
        if item.message.is_request:
            if target is not None and item.method == "ACK":
                hand_off(call_id, item.src, target, stopped)
                if (call_id, item.dst) not in handed:
                    apply(call_id, item.dst, target, sends, item.index, changed, stopped)  # answers a late offer
            elif target is not None:
                offers[(call_id, item.cseq)] = _Offer(item.src, item.dst, target, sends, item.index)
            if item.method == "BYE":
                for key in [k for k in current if k[0] == call_id]:
                    stopped.append(current.pop(key))
        elif status is not None:
            offer = offers.get((call_id, item.cseq))
            if status >= 300:
                offers.pop((call_id, item.cseq), None)  # the offer is void
            elif offer is not None and offer.receiver == item.src and (status >= 200 or target is not None):
                # the receiver of the offer answers: it sends to the offered address from now on
                del offers[(call_id, item.cseq)]
                apply(call_id, offer.receiver, offer.address, offer.sends, offer.index, changed, stopped)
                hand_off(call_id, offer.author, offer.address, stopped)
            if target is not None and status < 300:
                hand_off(call_id, item.src, target, stopped)
                if (call_id, item.dst) not in handed:
                    apply(call_id, item.dst, target, sends, item.index, changed, stopped)  # the offerer has the answer
        paths.append(RtpPath(item, tuple(current.values()), tuple(changed), tuple(stopped), roles, pbx, calls))
    return paths


# ---------------------------------------------------------------------------- the ladder stepper's steps


@dataclass(frozen=True)
class MessageStep:
    """One SIP message as the ladder stepper shows it: what it is, and the RTP path after it.

    Attributes:
        position: its place in the stepped flow (0-based).
        message: the message.
        note: one sentence saying what this message does in the call.
        rtp: the RTP path once it has been seen.

    Taught in notebook 04.
    """

    position: int
    message: FlowMessage
    note: str
    rtp: RtpPath

    def __repr__(self) -> str:
        return f"MessageStep({self.position}: {self.message.label} [{self.message.cseq}]: {self.note})"


def _note(item: FlowMessage, messages: Sequence[FlowMessage], rtp: RtpPath) -> str:
    """What a message does in the exchange, in one sentence (notebooks 03 and 04)."""
    m = item.message
    method, status, cseq_method = item.method, item.status, item.cseq_method
    moved = bool(rtp.changed)
    text = ""
    if method is not None:
        authorized = "Authorization" in m.headers or "Proxy-Authorization" in m.headers
        in_dialog = m.to_tag is not None
        if method == "REGISTER":
            if (m.header("Expires") or "").strip() == "0":
                text = "REGISTER with Expires: 0: the phone removes its registration"
            elif authorized:
                text = ("REGISTER again, with Authorization: the digest response computed from the challenge "
                        "(new CSeq, new Via branch, same Call-ID)")
            else:
                text = "REGISTER: the phone asks the registrar to bind its Contact to its number (no credentials yet)"
        elif method == "INVITE" and in_dialog:
            target, _sends = _sdp_target(item) if item.has_sdp else (None, False)
            if target is None:
                text = "re-INVITE inside the dialog (its To has a tag)"
            elif split_address(target)[0] != split_address(item.src)[0]:
                text = (f"re-INVITE inside the dialog (its To has a tag): its SDP gives another host's RTP address, "
                        f"{target} (direct media); once the phone accepts it (200 OK), RTP goes phone to phone")
            else:
                text = (f"re-INVITE inside the dialog (its To has a tag): its SDP gives the sender's own RTP "
                        f"address, {target}; once accepted, RTP goes through {_role(item.src, rtp.roles) or 'it'}")
        elif method == "INVITE":
            text = ("INVITE again, with Authorization: the call request with the digest response"
                    if authorized else "INVITE: a new call" + (" with the SDP offer (where to send RTP)"
                                                             if item.has_sdp else ""))
        elif method == "ACK":
            invite_failed = any(r.cseq == f"{(item.cseq or '').split(' ')[0]} INVITE" and r.status is not None
                                and r.status >= 300 and r.call_id == item.call_id for r in messages)
            text = ("ACK of the error response: part of the INVITE's transaction (same Via branch)" if invite_failed
                    else "ACK of the 200 OK: a transaction of its own (new Via branch), the call is set up")
        elif method == "UPDATE":
            text = "UPDATE inside the dialog: a new SDP offer before or without a re-INVITE (pjsua locks one codec)"
        elif method == "BYE":
            text = "BYE: hangs up this leg (dialog); its RTP stops"
        elif method == "CANCEL":
            text = "CANCEL: the caller gives up before the answer"
        elif method == "OPTIONS":
            text = "OPTIONS: Asterisk's keep-alive (qualify): is the phone still there?"
        else:
            text = f"{method} request"
    elif status is not None:
        if status in (401, 407):
            text = (f"{status} {m.reason}: the digest challenge (realm, nonce in WWW-Authenticate); "
                    f"the {cseq_method} must be sent again with credentials")
        elif status == 100:
            text = "100 Trying: the next hop has the request (stops its retransmission)"
        elif status == 180:
            text = "180 Ringing: the called phone rings"
        elif status == 183:
            text = "183 Session Progress: early media"
        elif 200 <= status < 300 and cseq_method == "INVITE":
            text = "200 OK: the INVITE is answered" + (" with the SDP answer" if item.has_sdp else "")
        elif 200 <= status < 300 and cseq_method == "REGISTER":
            text = f"200 OK: the registration is accepted (Expires: {m.header('Expires') or '?'})"
        elif 200 <= status < 300:
            text = f"{status} {m.reason} to the {cseq_method}"
        else:
            text = f"{status} {m.reason}: the {cseq_method} failed"
    if item.retransmission:
        text = "retransmission (the same message again: no answer yet) · " + text
    if moved and method is None:
        text += " · RTP moves"
    return text


def message_steps(source: FlowSource, *, roles: Mapping[str, str] | None = None,
                  pbx: str | None = None) -> list[MessageStep]:
    """Each message of a flow (an experiment: its call) with what it does and the RTP path after it.

    Taught in notebook 04 (the ladder stepper's panes).
    """
    paths = rtp_paths(source, roles=roles, pbx=pbx)
    messages = [p.message for p in paths]
    return [MessageStep(i, p.message, _note(p.message, messages, p), p) for i, p in enumerate(paths)]


def ladder_stepper(source: FlowSource, *, roles: Mapping[str, str] | None = None,
                   pbx: str | None = None) -> LadderStepper:
    """The ladder stepper widget over a call: one message at a time, with its RTP path.

    Parameters:
        source: an :class:`Experiment` (its call: both legs), a :class:`Flow` or messages.
        roles, pbx: as in :func:`rtp_paths` (taken from an experiment by default).

    Returns:
        A :class:`voiplab.widgets.ladder.LadderStepper` (display it; ``next()``, ``previous()``,
        ``go(i)`` do what its buttons do).

    Taught in notebook 04.
    """
    # the widget layer (ipywidgets) is loaded only when a stepper is made, not by 'import voiplab'
    from ..widgets.ladder import LadderStepper

    if isinstance(source, Recorded):
        roles = roles if roles is not None else getattr(source, "roles", None)
        pbx = pbx if pbx is not None else getattr(source, "pbx", None)
        flow = getattr(source, "call_flow", None)
        if not isinstance(flow, Flow):
            flow = source.flow
    elif isinstance(source, Flow):
        flow = source
    else:
        flow = Flow.from_messages([replace(m, index=-1, retransmission=False) for m in _messages_of(source)])
    return LadderStepper(flow, roles=roles, steps=message_steps(flow, roles=roles, pbx=pbx))


# ---------------------------------------------------------------------------- nonces: made, used, reused


#: the Via branch of RFC 3261 transactions starts with this magic cookie
_BRANCH_MAGIC = "z9hG4bK"
_BRANCH_RE = re.compile(r"branch=[^;,\s]+")
#: Asterisk's nonce is "<Unix time it was made>/<hash>" (res_pjsip_authenticator_digest)
_NONCE_TIME_SEPARATOR = "/"


def nonce_time(nonce: str) -> int | None:
    """The Unix time an Asterisk nonce was made (its part before ``/``), or ``None`` for another server's.

    Asterisk makes each nonce from the time and a hash of that time, the client's IP address, the
    server's identity and the realm, so it needs to remember nothing: it accepts the nonce again
    for ``nonce_lifetime`` seconds (32 by default), then answers 401 with ``stale=true``.

    Taught in notebook 03.
    """
    head, separator, _ = nonce.partition(_NONCE_TIME_SEPARATOR)
    return int(head) if separator and head.isdigit() else None


@dataclass(frozen=True)
class NonceUse:
    """A nonce given in a challenge, or used in a request's Authorization.

    Attributes:
        message: the 401/407 that gave the nonce, or the request whose Authorization uses it.
        nonce: the nonce.
        nc: the nonce count of the request (``"00000002"``), ``None`` for a challenge.
        answer: the final answer to the request (``200 OK``, or 401 again), ``None`` for a challenge.

    Taught in notebook 03 (the nonce is not used once: it is reused with a growing ``nc``).
    """

    message: FlowMessage
    nonce: str
    nc: str | None = None
    answer: FlowMessage | None = None

    @property
    def made_at(self) -> int | None:
        """The Unix time the nonce was made (Asterisk's nonces say it), else ``None``."""
        return nonce_time(self.nonce)

    @property
    def age(self) -> float | None:
        """Seconds between the nonce's making and this message (``None`` if the nonce has no time)."""
        made = self.made_at
        return None if made is None else self.message.time - made

    @property
    def kind(self) -> str:
        """``"challenge"`` (a 401/407 gives it) or ``"used"`` (a request sends it back)."""
        return "challenge" if self.nc is None else "used"

    def __repr__(self) -> str:
        what = self.message.label + (f" nc={self.nc}" if self.nc is not None else "")
        answer = f" -> {self.answer.label}" if self.answer is not None else ""
        return f"<NonceUse {what} nonce={self.nonce}{answer}>"


@dataclass(frozen=True)
class NonceTable:
    """Every nonce of a flow, in time order: where each was given and each time it was used.

    Taught in notebook 03.
    """

    rows: tuple[NonceUse, ...]

    def uses_of(self, nonce: str) -> list[NonceUse]:
        """The requests that sent ``nonce`` back, in order."""
        return [r for r in self.rows if r.nonce == nonce and r.nc is not None]

    @property
    def reused(self) -> list[str]:
        """The nonces sent back in more than one request (a nonce is not a one-time value)."""
        nonces = [r.nonce for r in self.rows if r.nc is not None]
        return sorted({n for n in nonces if nonces.count(n) > 1}, key=nonces.index)

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Iterator[NonceUse]:
        return iter(self.rows)

    def __repr__(self) -> str:
        return f"NonceTable({len(self.rows)} rows, {len({r.nonce for r in self.rows})} nonces, reused: {self.reused})"

    def _repr_html_(self) -> str:
        origin = self.rows[0].message.time if self.rows else 0.0
        colours: dict[str, str] = {}
        palette = ("#fff3c4", "#e3f2e3", "#e8e8ff", "#ffe3e3", "#e0f4f7")

        def cell(text: str) -> str:
            return f"<td style='text-align:left;font-family:monospace'>{html.escape(text)}</td>"

        body = []
        for r in self.rows:
            colour = colours.setdefault(r.nonce, palette[len(colours) % len(palette)])
            age = "-" if r.age is None else f"{r.age:.1f} s"
            answer = r.answer.label if r.answer is not None else ("(gives the nonce)" if r.nc is None else "-")
            body.append(f"<tr><td>+{r.message.time - origin:.3f} s</td>{cell(r.message.label)}"
                        f"<td style='background:{colour};font-family:monospace'>{html.escape(r.nonce)}</td>"
                        f"{cell(r.nc or '')}{cell(age)}{cell(answer)}</tr>")
        return ("<table><tr><th>time</th><th>message</th><th>nonce</th><th>nc</th><th>age of the nonce</th>"
                f"<th>answer</th></tr>{''.join(body)}</table>")


def nonce_uses(source: FlowSource | Sequence[TraceEntry]) -> NonceTable:
    """Where each nonce was given (401/407) and each time a request sent it back, with ``nc``.

    Parameters:
        source: an experiment, a flow, a flow call, messages, or a phone's trace (``phone.trace()``).

    Taught in notebook 03 (Asterisk accepts the same nonce again, with a growing ``nc``, for about 30 s).
    """
    if isinstance(source, Sequence) and source and isinstance(source[0], dict):
        messages = list(Flow.from_trace(source).messages)  # type: ignore[arg-type]
    else:
        messages = _messages_of(source.flow if isinstance(source, Recorded) else source)  # type: ignore[arg-type]
    rows = []
    for i, item in enumerate(messages):
        if item.retransmission:
            continue
        m = item.message
        if item.status in (401, 407):
            header = m.www_authenticate if item.status == 401 else m.proxy_authenticate
            if header is not None and header.get("nonce"):
                rows.append(NonceUse(item, header["nonce"]))
        elif m.is_request:
            header = m.authorization
            if header is not None and header.get("nonce"):
                answer = next((r for r in messages[i + 1:] if r.status is not None and r.status >= 200
                               and r.cseq == item.cseq and r.call_id == item.call_id), None)
                rows.append(NonceUse(item, header["nonce"], header.get("nc") or "", answer))
    return NonceTable(tuple(rows))


def nonce_reuse_request(source: AuthExchange | FlowMessage | SipMessage, password: str, nc: int = 2, *,
                        branch: str | None = None) -> SipMessage:
    """The same authenticated request again, reusing its nonce with the nonce count ``nc``.

    What a client that keeps the server's nonce sends (RFC 7616 section 3.4: ``nc`` counts the
    requests made with one nonce): the Authorization of ``source`` with ``nc`` and a response
    computed again for it, a CSeq one higher and a new Via branch (a new transaction); Call-ID,
    From tag, Contact and Expires are unchanged. Send it with ``panel.send(...)``: Asterisk answers
    ``200 OK`` without a new challenge while the nonce is younger than ``nonce_lifetime`` (32 s).

    Parameters:
        source: an :class:`AuthExchange` (its authorized request), or the request itself.
        password: the account's password (the response is computed again with it).
        nc: the nonce count to send (1 for the first use of a nonce, then 2, 3...).
        branch: the Via branch (default: a new random one, ``z9hG4bK...``).

    Raises:
        VoipLabError: the request carries no Authorization.
        DigestError: the Authorization lacks a field the response needs.

    Taught in notebook 03 (the nonce is not a one-time value).
    """
    if isinstance(source, AuthExchange):
        if source.authorized is None:
            raise VoipLabError("the exchange has no request sent again with Authorization: register first")
        request = source.authorized.message
    else:
        request = source.message if isinstance(source, FlowMessage) else source
    auth = request.authorization
    if auth is None or request.method is None:
        raise VoipLabError(f"'{request.summary}' carries no Authorization header: pass the request sent "
                           "after the 401 (exchange.authorized)")
    qop = auth.get("qop") or ""
    challenge = Challenge(realm=auth.get("realm") or "", nonce=auth.get("nonce") or "",
                          algorithm=auth.get("algorithm") or "MD5", qop=(qop,) if qop else (),
                          opaque=auth.get("opaque"))
    computation = compute_response(challenge, request.method, auth.get("uri") or "", auth.get("username") or "",
                                   password, auth.get("cnonce"), nc, qop=qop)
    cseq = request.cseq
    number = (cseq.number if cseq is not None else 0) + 1
    via = request.header("Via") or ""
    new_branch = branch or f"{_BRANCH_MAGIC}{secrets.token_hex(8)}"
    via = _BRANCH_RE.sub(f"branch={new_branch}", via, count=1) if _BRANCH_RE.search(via) else \
        f"{via};branch={new_branch}"
    return (request.replace_header("Authorization", computation.authorization())
            .replace_header("CSeq", f"{number} {request.method}")
            .replace_header("Via", via))
