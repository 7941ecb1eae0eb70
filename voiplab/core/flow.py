"""From a sequence of SIP messages to transactions, dialogs and calls.

Three levels, as RFC 3261 defines them and Wireshark shows them:

* a **transaction** is a request and its responses. Its key is the top Via's
  ``branch`` and sent-by plus the CSeq method (RFC 3261 section 17.2.3); the ACK of a
  non-2xx final response reuses the INVITE's branch and belongs to the INVITE
  transaction, the ACK of a 2xx is a transaction of its own. A message seen again
  in the same transaction (same direction, same first line and To tag) is a
  **retransmission**.
* a **dialog** is identified by Call-ID, the caller's From tag and the callee's To tag
  (RFC 3261 section 12). Requests sent by the callee swap From and To, so the tag
  pair is unordered here.
* a **call** is what Wireshark's *Telephony > VoIP Calls* lists: one row per
  INVITE-initiated Call-ID, with start, stop, initial speaker, From, To, state,
  packets and comments. Asterisk is a **B2BUA**: the leg caller -> PBX and the leg
  PBX -> callee have different Call-IDs. They are merged into one :class:`FlowCall` by the
  rule documented in :func:`correlate_legs`.

Re-INVITEs and UPDATEs inside a dialog are listed with the media address change they
carry (``a MediaChange``): with ``direct_media`` Asterisk re-INVITEs both phones so that
RTP flows phone to phone.

Pure: the messages carry their own time and addresses. Taught in notebook 04.
"""

from __future__ import annotations

import bisect
import html
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal, TypedDict

from ..errors import CaptureError, SdpParseError, SipParseError
from .grammar import REQUEST_LINE_RE, STATUS_LINE_RE
from .sip import SipMessage, salvage_fields

__all__ = [
    "VOIP_CALL_STATES",
    "B2BUA_WINDOW_S",
    "TraceEntry",
    "messages_from_trace",
    "FlowMessage",
    "MalformedMessage",
    "Transaction",
    "Dialog",
    "MediaChange",
    "CallLeg",
    "FlowCall",
    "Flow",
    "format_address",
    "split_address",
    "correlate_legs",
]

#: States of a call in a capture, with Wireshark's names (ui/voip_calls.c): not the phone's
#: own call states (``voiplab.devices.wire.CALL_STATES``), which pjsua2 names.
VOIP_CALL_STATES = ("CALL SETUP", "RINGING", "IN CALL", "CANCELLED", "COMPLETED", "REJECTED", "UNKNOWN")
#: How long after the caller's INVITE the PBX's INVITE to the callee may start (seconds),
#: when the two legs are matched on timing alone.
B2BUA_WINDOW_S = 5.0
_CHALLENGES = (401, 407)


class TraceEntry(TypedDict):
    """One SIP message a phone sent or received, as its trace records it (``Phone.trace()``).

    ``local``/``remote`` are ``"ip:port"``; ``transport`` is ``"UDP"``, ``"TCP"``, ``"TLS"``
    or ``"WSS"``; ``time`` is seconds since the epoch; ``raw`` the message text.
    """

    time: float
    direction: Literal["tx", "rx"]
    local: str
    remote: str
    transport: str
    raw: str


def messages_from_trace(entries: Iterable[TraceEntry]) -> list[FlowMessage]:
    """The :class:`FlowMessage` of each :class:`TraceEntry` (sent: local -> remote).

    Raises:
        CaptureError: an entry lacks a key or has an unknown direction.
        SipParseError: a raw message is malformed.
    """
    messages = []
    for number, entry in enumerate(entries, start=1):
        try:
            direction = entry["direction"]
            local, remote = entry["local"], entry["remote"]
            raw, when = entry["raw"], float(entry["time"])
        except (KeyError, TypeError, ValueError) as error:
            raise CaptureError(
                f"phone trace entry {number} is missing {error}: each entry needs time, direction, "
                "local, remote and raw"
            ) from None
        if direction not in ("tx", "rx"):
            raise CaptureError(
                f"phone trace entry {number} has direction {direction!r}: it must be 'tx' or 'rx'"
            )
        src, dst = (local, remote) if direction == "tx" else (remote, local)
        data = raw.encode("utf-8", "surrogateescape") if isinstance(raw, str) else bytes(raw)
        message = SipMessage.parse(data)
        messages.append(FlowMessage(message, when, src, dst, str(entry.get("transport", "UDP")).upper()))
    return messages


class FlowMessageJson(TypedDict):
    """The JSON form of a :class:`FlowMessage` (``voiplab flow --json``: one of ``messages``)."""

    frame: int | None
    time: float
    src: str
    dst: str
    transport: str
    method: str | None
    status: int | None
    reason: str | None
    cseq: str | None
    call_id: str | None
    sdp: bool
    retransmission: bool
    malformed: str | None


class MediaChangeJson(TypedDict):
    """The JSON form of a :class:`MediaChange` (``media_changes`` of a call)."""

    time: float
    frame: int | None
    method: str
    party: str
    old: str | None
    new: str


# "from" is a Python keyword: the functional form of TypedDict
FlowCallJson = TypedDict("FlowCallJson", {
    "start": float, "stop": float, "initial_speaker": str, "from": str, "to": str, "protocol": str,
    "duration": float, "packets": int, "state": str, "comments": str, "call_ids": list[str],
    "media_changes": list[MediaChangeJson],
})
FlowCallJson.__doc__ = """The JSON form of a :class:`FlowCall` (``voiplab flow --json``: one of ``calls``)."""


class FlowJson(TypedDict):
    """The JSON form of a :class:`Flow` (``voiplab flow --json``)."""

    messages: list[FlowMessageJson]
    calls: list[FlowCallJson]


def format_address(host: str, port: int) -> str:
    """``"ip:port"``; an IPv6 address is bracketed: ``"[::1]:5060"``."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def split_address(address: str) -> tuple[str, int]:
    """``"127.0.0.80:5060"`` -> ``("127.0.0.80", 5060)``; ``"[::1]:5060"`` -> ``("::1", 5060)``."""
    host, _, port = address.rpartition(":")
    return host.strip("[]"), int(port)


@dataclass(frozen=True)
class FlowMessage:
    """A SIP message as seen on the wire.

    Attributes:
        message: the parsed message.
        time: when it was seen (seconds since the epoch in captures).
        src, dst: ``"ip:port"`` of the sender and the receiver.
        transport: ``"UDP"``, ``"TCP"``, ``"TLS"``...
        frame: the frame number in the capture (1-based), or ``None`` for a phone trace.
        index: the position in the :class:`Flow` (0-based), set by the flow.
        retransmission: whether the same message was already seen in its transaction.

    Taught in notebook 04.
    """

    message: SipMessage
    time: float
    src: str
    dst: str
    transport: str = "UDP"
    frame: int | None = None
    index: int = -1
    retransmission: bool = False

    @property
    def method(self) -> str | None:
        """The method of a request."""
        return self.message.method

    @property
    def status(self) -> int | None:
        """The status code of a response."""
        return self.message.status

    # Call-ID and CSeq are read many times while a flow is built: kept once read (in the
    # instance's __dict__; functools.cached_property takes a lock per first read in Python 3.11)

    @property
    def call_id(self) -> str | None:
        """The Call-ID."""
        state = self.__dict__
        if "_call_id" not in state:
            state["_call_id"] = self.message.call_id
        return state["_call_id"]  # type: ignore[no-any-return]

    @property
    def cseq(self) -> str | None:
        """The CSeq as written (``"10453 INVITE"``), whitespace normalised."""
        state = self.__dict__
        if "_cseq" not in state:
            value = self.message.header("cseq")
            parts = value.split() if value is not None else None
            state["_cseq"] = " ".join(parts) if parts is not None else None
            state["_cseq_method"] = parts[-1] if parts and len(parts) == 2 else None
        return state["_cseq"]  # type: ignore[no-any-return]

    @property
    def cseq_method(self) -> str | None:
        """The method in the CSeq (tells which request a response answers)."""
        state = self.__dict__
        if "_cseq_method" not in state:
            _ = self.cseq
        return state["_cseq_method"]  # type: ignore[no-any-return]

    @property
    def label(self) -> str:
        """``"INVITE"`` or ``"200 OK"``, as a ladder diagram shows it."""
        return self.message.summary

    @property
    def has_sdp(self) -> bool:
        """Whether the message carries an SDP body."""
        return self.message.has_sdp

    def to_dict(self) -> FlowMessageJson:
        """The JSON form: frame, time, src, dst, method, status, cseq, call_id (+ extras)."""
        return {
            "frame": self.frame,
            "time": self.time,
            "src": self.src,
            "dst": self.dst,
            "transport": self.transport,
            "method": self.method,
            "status": self.status,
            "reason": self.message.reason,
            "cseq": self.cseq,
            "call_id": self.call_id,
            "sdp": self.has_sdp,
            "retransmission": self.retransmission,
            "malformed": None,
        }

    def __repr__(self) -> str:
        frame = f"#{self.frame} " if self.frame is not None else ""
        rtx = " (retransmission)" if self.retransmission else ""
        return (
            f"<FlowMessage {frame}{self.time:.3f} {self.src} -> {self.dst} {self.label} [{self.cseq}]{rtx}>"
        )


@dataclass(frozen=True)
class MalformedMessage:
    """A payload that starts like a SIP message but does not parse (a Content-Length that is not a
    number or promises more than is there, a message cut in the middle of a header...).

    A capture reader lists it, as tshark lists such a message (marked malformed), instead of
    dropping it; it takes no part in transactions, dialogs or calls. What can still be read
    (method or status, CSeq, Call-ID) is read leniently from its first line and header lines.

    Attributes:
        data: the bytes of the message as seen on the wire.
        error: what is wrong (the message of the :class:`~voiplab.errors.SipParseError`).
        time, src, dst, transport, frame: as in :class:`FlowMessage`.

    Taught in notebook 04 (reading a capture made elsewhere).
    """

    data: bytes
    error: str
    time: float
    src: str
    dst: str
    transport: str = "UDP"
    frame: int | None = None

    @property
    def _fields(self) -> tuple[str, dict[str, str]]:
        cached: tuple[str, dict[str, str]] | None = self.__dict__.get("_salvaged")
        if cached is None:
            cached = salvage_fields(self.data)
            object.__setattr__(self, "_salvaged", cached)
        return cached

    @property
    def method(self) -> str | None:
        """The method of a request line, or ``None``."""
        match = REQUEST_LINE_RE.fullmatch(self._fields[0])
        return match.group(1) if match else None

    @property
    def status(self) -> int | None:
        """The status code of a status line, or ``None``."""
        match = STATUS_LINE_RE.fullmatch(self._fields[0])
        return int(match.group(2)) if match else None

    @property
    def reason(self) -> str | None:
        """The reason phrase of a status line, or ``None``."""
        match = STATUS_LINE_RE.fullmatch(self._fields[0])
        return (match.group(3) or "") if match else None

    @property
    def call_id(self) -> str | None:
        """The Call-ID, if its line could be read."""
        return self._fields[1].get("call-id")

    @property
    def cseq(self) -> str | None:
        """The CSeq as written, whitespace normalised, if its line could be read."""
        value = self._fields[1].get("cseq")
        return " ".join(value.split()) if value is not None else None

    @property
    def label(self) -> str:
        """``"BYE"`` or ``"200 OK"`` when the first line says it, else the first line's start."""
        if self.method is not None:
            return self.method
        if self.status is not None:
            return f"{self.status} {self.reason}".strip()
        return self._fields[0][:40]

    def to_dict(self) -> FlowMessageJson:
        """The JSON form: the keys of :meth:`FlowMessage.to_dict`, ``malformed`` saying what is wrong."""
        return {
            "frame": self.frame,
            "time": self.time,
            "src": self.src,
            "dst": self.dst,
            "transport": self.transport,
            "method": self.method,
            "status": self.status,
            "reason": self.reason,
            "cseq": self.cseq,
            "call_id": self.call_id,
            "sdp": False,
            "retransmission": False,
            "malformed": self.error,
        }

    def __repr__(self) -> str:
        frame = f"#{self.frame} " if self.frame is not None else ""
        return f"<MalformedMessage {frame}{self.time:.3f} {self.src} -> {self.dst} {self.label}: {self.error}>"


@dataclass(frozen=True)
class Transaction:
    """A request and its responses (RFC 3261 section 17).

    Attributes:
        key: the matching key (branch, sent-by, method) or a fallback for RFC 2543 peers.
        method: the method (``"INVITE"``; the ACK of a non-2xx response is inside).
        messages: every message of the transaction, retransmissions included.
    """

    key: tuple[str, ...]
    method: str
    messages: tuple[FlowMessage, ...]

    @property
    def request(self) -> FlowMessage:
        """The first request."""
        return next((m for m in self.messages if m.message.is_request), self.messages[0])

    @property
    def responses(self) -> tuple[FlowMessage, ...]:
        """The responses, in order."""
        return tuple(m for m in self.messages if m.message.is_response)

    @property
    def final_status(self) -> int | None:
        """The status of the last final (>= 200) response, or ``None``."""
        finals = [m.status for m in self.responses if m.status is not None and m.status >= 200]
        return finals[-1] if finals else None

    @property
    def retransmissions(self) -> tuple[FlowMessage, ...]:
        """The retransmitted messages."""
        return tuple(m for m in self.messages if m.retransmission)

    @property
    def call_id(self) -> str | None:
        """The Call-ID."""
        return self.messages[0].call_id

    @property
    def branch(self) -> str | None:
        """The top Via branch of the request."""
        return self.key[0] if self.key and self.key[0].startswith("z9hG4bK") else None

    def __repr__(self) -> str:
        first = self.request
        final = self.final_status
        return (
            f"<Transaction {self.method} {first.cseq} {first.src}->{first.dst} "
            f"final={final} messages={len(self.messages)}>"
        )


@dataclass(frozen=True)
class MediaChange:
    """A change of media address announced inside a dialog (re-INVITE or UPDATE).

    Attributes:
        message: the message whose SDP announces the new address.
        method: ``"INVITE"`` or ``"UPDATE"`` (the transaction carrying it).
        party: ``"ip:port"`` of the SIP endpoint that announced it.
        old: the previous ``"ip:port"`` for RTP announced by that party, or ``None``.
        new: the new ``"ip:port"`` for RTP.

    Taught in notebook 04 (direct media: RTP moves phone to phone).
    """

    message: FlowMessage
    method: str
    party: str
    old: str | None
    new: str

    def __repr__(self) -> str:
        return (
            f"<MediaChange {self.method} by {self.party}: {self.old} -> {self.new} "
            f"at {self.message.time:.3f}>"
        )


@dataclass(frozen=True)
class Dialog:
    """Messages of one dialog: Call-ID + the two tags (RFC 3261 section 12).

    Attributes:
        call_id: the Call-ID.
        local_tag: the From tag of the initial request (the caller's tag).
        remote_tag: the To tag of the answer, or ``None`` while no dialog-forming
            response was seen (then it holds the initial transaction only).
        messages: every message of the dialog in order, the initial request included.
    """

    call_id: str
    local_tag: str | None
    remote_tag: str | None
    messages: tuple[FlowMessage, ...]

    @property
    def id(self) -> tuple[str, str | None, str | None]:
        """(Call-ID, from-tag, to-tag)."""
        return (self.call_id, self.local_tag, self.remote_tag)

    @property
    def established(self) -> bool:
        """Whether a 2xx answered the dialog's INVITE."""
        return any(
            m.status is not None and 200 <= m.status < 300 and m.cseq_method == "INVITE"
            for m in self.messages
        )

    def __repr__(self) -> str:
        return (
            f"<Dialog {self.call_id} from-tag={self.local_tag} to-tag={self.remote_tag} "
            f"messages={len(self.messages)}>"
        )


@dataclass(frozen=True)
class CallLeg:
    """The messages of one INVITE-initiated Call-ID (one leg of a B2BUA call)."""

    call_id: str
    messages: tuple[FlowMessage, ...]
    state: str
    comments: tuple[str, ...]

    @property
    def invite(self) -> FlowMessage:
        """The first INVITE."""
        return next(m for m in self.messages if m.method == "INVITE")

    @property
    def caller(self) -> str:
        """``ip:port`` that sent the first INVITE."""
        return self.invite.src

    @property
    def callee(self) -> str:
        """``ip:port`` the first INVITE went to."""
        return self.invite.dst

    @property
    def from_user(self) -> str | None:
        """The user part of the From URI of the first INVITE."""
        return _safe_user(self.invite.message, "from")

    @property
    def from_display(self) -> str | None:
        """The display name of the From header of the first INVITE (the caller ID name)."""
        try:
            address = self.invite.message.from_
        except SipParseError:
            return None
        return address.display_name if address else None

    @property
    def to_user(self) -> str | None:
        """The user part of the To URI of the first INVITE."""
        return _safe_user(self.invite.message, "to")

    @property
    def dialed(self) -> str | None:
        """The user part of the first INVITE's Request-URI (the number dialed)."""
        try:
            uri = self.invite.message.uri
        except SipParseError:
            return None
        return uri.user if uri else None

    @property
    def start(self) -> float:
        """Time of the first message."""
        return self.messages[0].time

    @property
    def stop(self) -> float:
        """Time of the last message."""
        return self.messages[-1].time

    def __repr__(self) -> str:
        return (
            f"<CallLeg {self.call_id} {self.caller}->{self.callee} {self.state} "
            f"messages={len(self.messages)}>"
        )


def _safe_user(message: SipMessage, name: str) -> str | None:
    try:
        address = message.from_ if name == "from" else message.to
    except SipParseError:
        return None
    return address.uri.user if address else None


def _safe_header_address(message: SipMessage, name: str) -> str:
    value = message.header(name) or ""
    try:
        address = message.from_ if name == "from" else message.to
    except SipParseError:
        return value
    if address is None:
        return value
    shown = str(address.uri)
    if address.display_name:
        shown = f'"{address.display_name}" <{shown}>'
    return shown


@dataclass(frozen=True)
class FlowCall:
    """A call as Wireshark's *VoIP Calls* shows it, with every B2BUA leg merged.

    Attributes:
        legs: the Call-IDs of the call (caller -> PBX first, then PBX -> callee).
        start, stop: time of the first and last SIP message of all legs.
        initial_speaker: ``ip`` that sent the first INVITE.
        from_, to: From and To of the first leg's INVITE.
        state: one of :data:`VOIP_CALL_STATES` (the first leg's state).
        packets: the number of SIP messages of all legs.
        comments: what happened, e.g. ``"INVITE 401 (challenge)"``,
            ``"re-INVITE by 127.0.0.80:5060: media 127.0.0.80:10018 -> 127.0.0.81:4002"``.
        media_changes: re-INVITE/UPDATE media address changes of all legs.

    Taught in notebook 04 (and 06: calling the Alcatel in both directions).
    """

    legs: tuple[CallLeg, ...]
    start: float
    stop: float
    initial_speaker: str
    from_: str
    to: str
    state: str
    packets: int
    comments: tuple[str, ...]
    media_changes: tuple[MediaChange, ...] = ()

    @property
    def call_ids(self) -> tuple[str, ...]:
        """The Call-ID of every leg."""
        return tuple(leg.call_id for leg in self.legs)

    @property
    def duration(self) -> float:
        """stop - start, in seconds."""
        return self.stop - self.start

    @property
    def messages(self) -> tuple[FlowMessage, ...]:
        """The messages of all legs, in time order."""
        return tuple(sorted((m for leg in self.legs for m in leg.messages), key=lambda m: m.index))

    def to_dict(self, origin: float = 0.0) -> FlowCallJson:
        """JSON form (times relative to ``origin``)."""
        return {
            "start": round(self.start - origin, 6),
            "stop": round(self.stop - origin, 6),
            "initial_speaker": self.initial_speaker,
            "from": self.from_,
            "to": self.to,
            "protocol": "SIP",
            "duration": round(self.duration, 6),
            "packets": self.packets,
            "state": self.state,
            "comments": "; ".join(self.comments),
            "call_ids": list(self.call_ids),
            "media_changes": [
                {
                    "time": round(c.message.time - origin, 6),
                    "frame": c.message.frame,
                    "method": c.method,
                    "party": c.party,
                    "old": c.old,
                    "new": c.new,
                }
                for c in self.media_changes
            ],
        }

    def __repr__(self) -> str:
        return (
            f"<FlowCall {self.from_} -> {self.to} {self.state} legs={len(self.legs)} packets={self.packets} "
            f"{self.duration:.3f}s>"
        )


# ---------------------------------------------------------------------------- building


def _transaction_key(item: FlowMessage, invite_keys: set[tuple[str, ...]]) -> tuple[str, ...]:
    invite_key: tuple[str, ...]
    message = item.message
    method = item.cseq_method or message.method or "?"
    try:
        via = message.top_via
    except SipParseError:
        via = None
    branch = via.branch if via else None
    if branch and branch.startswith("z9hG4bK"):
        key = (branch, via.sent_by.lower() if via else "", method)
        if method == "ACK":
            invite_key = key[:2] + ("INVITE",)
            if invite_key in invite_keys:
                return invite_key
        return key
    # RFC 2543 fallback: Call-ID, CSeq number, method, From tag.
    number = (item.cseq or "").split()[0] if item.cseq else ""
    try:
        from_tag = message.from_tag or ""
    except SipParseError:
        from_tag = ""
    if method == "ACK":
        invite_key = ("", item.call_id or "", number, "INVITE", from_tag)
        if invite_key in invite_keys:
            return invite_key
    return ("", item.call_id or "", number, method, from_tag)


def _retransmission_signature(item: FlowMessage) -> tuple[str | None, ...]:
    try:
        to_tag = item.message.to_tag
    except SipParseError:
        to_tag = None
    return (item.src, item.dst, item.message.start_line, to_tag)


def _build_transactions(messages: Sequence[FlowMessage]) -> tuple[list[Transaction], list[FlowMessage]]:
    groups: dict[tuple[str, ...], list[FlowMessage]] = {}
    seen: dict[tuple[str, ...], set[tuple[str | None, ...]]] = {}
    invite_keys: set[tuple[str, ...]] = set()
    out: list[FlowMessage] = []
    for item in messages:
        key = _transaction_key(item, invite_keys)
        if key[-1] == "INVITE" or (key[0] == "" and key[3] == "INVITE"):
            invite_keys.add(key)
        signature = _retransmission_signature(item)
        signatures = seen.setdefault(key, set())
        if signature in signatures:
            item = FlowMessage(item.message, item.time, item.src, item.dst, item.transport, item.frame, item.index,
                               True)
        signatures.add(signature)
        groups.setdefault(key, []).append(item)
        out.append(item)
    transactions = [
        Transaction(key, key[2] if key[0] else key[3], tuple(items)) for key, items in groups.items()
    ]
    return transactions, out


def _tags(item: FlowMessage) -> tuple[str | None, str | None]:
    try:
        return item.message.from_tag, item.message.to_tag
    except SipParseError:
        return None, None


@dataclass(eq=False)
class _DialogDraft:
    """A :class:`Dialog` while its messages are being gathered (the remote tag may come later)."""

    call_id: str
    local_tag: str | None
    remote_tag: str | None
    messages: list[FlowMessage]


def _build_dialogs(messages: Sequence[FlowMessage]) -> list[Dialog]:
    """Group messages into dialogs; see the module docstring."""
    order: list[_DialogDraft] = []
    by_call: dict[str, list[_DialogDraft]] = {}
    for item in messages:
        call_id = item.call_id
        if call_id is None:
            continue
        from_tag, to_tag = _tags(item)
        dialogs = by_call.setdefault(call_id, [])
        target = None
        if to_tag is not None:
            pair = {from_tag, to_tag}
            target = next(
                (d for d in dialogs if d.remote_tag is not None and {d.local_tag, d.remote_tag} == pair), None
            )
        if target is None:
            # Early: the dialog of the initial request, matched by the caller's tag.
            candidates = [d for d in dialogs if d.local_tag in (from_tag, to_tag)]
            pending = next((d for d in reversed(candidates) if d.remote_tag is None), None)
            forming = (
                item.status is not None
                and 101 <= item.status < 300
                and to_tag is not None
                and item.cseq_method in ("INVITE", "SUBSCRIBE", "REFER", "NOTIFY")
            )
            if pending is not None:
                target = pending
                if forming:
                    target.remote_tag = to_tag if from_tag == target.local_tag else from_tag
            elif forming and candidates:
                # A second early dialog (forking): start from the initial messages.
                base = candidates[0]
                initial = [m for m in base.messages if _tags(m)[1] is None]
                target = _DialogDraft(call_id, base.local_tag, to_tag, initial)
                dialogs.append(target)
                order.append(target)
            else:
                target = _DialogDraft(call_id, from_tag, to_tag if forming else None, [])
                dialogs.append(target)
                order.append(target)
        target.messages.append(item)
    return [Dialog(d.call_id, d.local_tag, d.remote_tag, tuple(d.messages)) for d in order]


def _media_address(item: FlowMessage) -> str | None:
    try:
        sdp = item.message.sdp
    except (SdpParseError, SipParseError):
        return None
    if sdp is None:
        return None
    audio = sdp.audio() or (sdp.media[0] if sdp.media else None)
    if audio is None or audio.connection_address is None:
        return None
    return format_address(audio.connection_address, audio.port)


def _leg_state(messages: Sequence[FlowMessage]) -> tuple[str, tuple[str, ...]]:
    """The Wireshark-style state of one INVITE Call-ID, and comments."""
    state = "UNKNOWN"
    comments: list[str] = []
    cancelled = False
    established = False
    for item in messages:
        if item.retransmission:
            continue
        method, status, cseq_method = item.method, item.status, item.cseq_method
        if method == "INVITE":
            if not established:
                state = "CALL SETUP"
        elif method == "CANCEL":
            cancelled = True
            comments.append("CANCEL")
        elif method == "BYE":
            if state != "COMPLETED":
                comments.append(f"BYE from {item.src}")
            state = "COMPLETED"
        elif status is not None and cseq_method == "INVITE":
            if status in (180, 183) and state == "CALL SETUP":
                state = "RINGING"
            elif 200 <= status < 300 and state in ("CALL SETUP", "RINGING", "UNKNOWN"):
                state = "IN CALL"
                established = True
            elif status in _CHALLENGES and not established:
                comments.append(f"INVITE {status} (challenge)")
            elif status >= 300 and not established:
                state = "CANCELLED" if cancelled or status == 487 else "REJECTED"
                comments.append(f"INVITE {status} {item.message.reason or ''}".strip())
    return state, tuple(comments)


class _TimeIndex:
    """Legs sorted by the time of their first INVITE; :meth:`first` finds the earliest unclaimed
    one in a time window, skipping claimed legs with path halving (amortised near O(1))."""

    def __init__(self, items: list[tuple[float, int]]) -> None:
        self.times = [time for time, _ in items]
        self.legs = [leg for _, leg in items]
        self.position = {leg: at for at, leg in enumerate(self.legs)}
        self.next_free = list(range(len(items) + 1))

    def _free(self, at: int) -> int:
        jump = self.next_free
        while jump[at] != at:
            jump[at] = jump[jump[at]]
            at = jump[at]
        return at

    def first(self, low: float, high: float, exclude: int) -> int | None:
        """The earliest unclaimed leg (other than ``exclude``) with low <= time <= high."""
        at = self._free(bisect.bisect_left(self.times, low))
        while at < len(self.times) and self.times[at] <= high:
            if self.legs[at] != exclude:
                return self.legs[at]
            at = self._free(at + 1)
        return None

    def claim(self, leg: int) -> None:
        """Take a leg out of every later answer."""
        self.next_free[self.position[leg]] = self.position[leg] + 1


def correlate_legs(legs: Sequence[CallLeg], pbx: str | None = None) -> list[list[CallLeg]]:
    """Group the legs of B2BUA calls (Asterisk) into calls.

    The rule (documented for notebook 04): a leg B continues an earlier leg A when

    1. B's first INVITE is sent *by* the host A's first INVITE was sent *to* (the PBX;
       if ``pbx`` is given, that host must be the PBX), and B is not sent back to A's caller;
    2. B starts after A's first INVITE, while A is not yet over, and within
       :data:`B2BUA_WINDOW_S` seconds (Asterisk's Dial() starts at once, or after
       ``Answer(500)``);
    3. among the legs meeting 1 and 2, B is the first one, in this order of preference,
       whose To user (or Request-URI user) equals the number A dialed (A's Request-URI
       user, else its To user); whose From user equals A's From user; whose From display
       name equals A's (Asterisk copies the caller ID name: in the lab, the callee leg of
       rpi -> 5001 is "Raspberry Pi" <sip:5002@pbx> -> sip:alcatel@127.0.0.81, so neither
       user matches); else the first leg meeting 1 and 2 (Dial() follows at once).

    Each leg belongs to at most one call; legs are matched in time order, and "first" means
    the earliest first INVITE. Each rule looks its candidates up in an index (sorted by time,
    claimed legs skipped): the whole matching takes O(n log n) for n legs.
    """
    ordered = sorted(legs, key=lambda leg: leg.start)
    hosts = [(split_address(leg.caller)[0], split_address(leg.callee)[0]) for leg in ordered]
    times = [leg.invite.time for leg in ordered]
    indexes: dict[tuple[str, ...], list[tuple[float, int]]] = {}
    for j, leg in enumerate(ordered):
        caller, callee = hosts[j]
        if caller == callee:
            continue  # never a second leg: it would be sent back to the PBX itself
        keys: set[tuple[str, ...]] = {("any", caller)}
        keys.update(("number", caller, user) for user in (leg.to_user, leg.dialed) if user)
        if leg.from_user:
            keys.add(("from", caller, leg.from_user))
        if leg.from_display:
            keys.add(("display", caller, leg.from_display))
        for key in keys:
            indexes.setdefault(key, []).append((times[j], j))
    found = {key: _TimeIndex(sorted(items)) for key, items in indexes.items()}
    owners: dict[int, list[_TimeIndex]] = {}
    for index in found.values():
        for j in index.legs:
            owners.setdefault(j, []).append(index)
    parent: dict[int, int] = {}
    for i, a in enumerate(ordered):
        pbx_host = hosts[i][1]
        if pbx is not None and pbx_host != pbx:
            continue
        number = a.dialed or a.to_user
        low, high = times[i], min(times[i] + B2BUA_WINDOW_S, a.stop)
        chosen = None
        rules: list[tuple[str, ...] | None] = [
            ("number", pbx_host, number) if number else None,
            ("from", pbx_host, a.from_user) if a.from_user else None,
            ("display", pbx_host, a.from_display) if a.from_display else None,
            ("any", pbx_host),
        ]
        for rule in rules:
            candidates = found.get(rule) if rule is not None else None
            if candidates is not None:
                chosen = candidates.first(low, high, exclude=i)
                if chosen is not None:
                    break
        if chosen is not None:
            parent[chosen] = i
            for index in owners[chosen]:
                index.claim(chosen)
    roots: dict[int, int] = {}
    groups: dict[int, list[CallLeg]] = {}
    for i, leg in enumerate(ordered):  # a parent comes before its children: its root is known
        root = roots[parent[i]] if i in parent else i
        roots[i] = root
        groups.setdefault(root, []).append(leg)
    return [groups[root] for root in sorted(groups)]


@dataclass(frozen=True)
class Flow:
    """Every SIP message of a capture or phone trace, with transactions, dialogs and calls.

    Build it with :meth:`from_messages`, :meth:`from_trace` (a phone's own trace) or
    ``voiplab.read_flow(path)`` (a capture file). Taught in notebook 04.
    """

    messages: tuple[FlowMessage, ...]
    transactions: tuple[Transaction, ...] = field(repr=False)
    dialogs: tuple[Dialog, ...] = field(repr=False)
    calls: tuple[FlowCall, ...] = field(repr=False)
    media_changes: tuple[MediaChange, ...] = field(repr=False)
    malformed: tuple[MalformedMessage, ...] = field(default=(), repr=False)

    @classmethod
    def from_messages(
        cls, messages: Iterable[FlowMessage | tuple[float, str, str, SipMessage]], *, pbx: str | None = None,
        malformed: Iterable[MalformedMessage] = (),
    ) -> Flow:
        """Analyse messages in time order.

        Parameters:
            messages: :class:`FlowMessage` objects, or ``(time, src, dst, SipMessage)`` tuples.
            pbx: the PBX's IP address, to restrict B2BUA correlation (optional).
            malformed: the :class:`MalformedMessage` objects of the same capture, listed with
                the messages (:meth:`entries`, :meth:`to_dict`) but not analysed.
        """
        items: list[FlowMessage] = []
        for entry in messages:
            if not isinstance(entry, FlowMessage):
                time, src, dst, message = entry
                entry = FlowMessage(message, float(time), src, dst)
            items.append(entry)
        items.sort(key=lambda m: (m.time, m.frame if m.frame is not None else 0))
        items = [FlowMessage(m.message, m.time, m.src, m.dst, m.transport, m.frame, i, m.retransmission)
                 for i, m in enumerate(items)]
        transactions, items = _build_transactions(items)
        by_index = {m.index: m for m in items}
        transactions = [
            replace(t, messages=tuple(by_index[m.index] for m in t.messages)) for t in transactions
        ]
        dialogs = _build_dialogs(items)
        media_changes = _find_media_changes(items, transactions)
        calls = _build_calls(items, media_changes, pbx)
        bad = tuple(sorted(malformed, key=lambda m: (m.time, m.frame if m.frame is not None else 0)))
        return cls(tuple(items), tuple(transactions), tuple(dialogs), tuple(calls), tuple(media_changes), bad)

    @classmethod
    def from_trace(cls, entries: Iterable[TraceEntry], *, pbx: str | None = None) -> Flow:
        """The flow of a phone's own SIP trace (``Phone.trace()``): no capture privileges needed.

        Raises:
            CaptureError: an entry lacks a key or has an unknown direction.
            SipParseError: a raw message is malformed.

        Taught in notebook 03 (drawing the flow without capture privileges).
        """
        return cls.from_messages(messages_from_trace(entries), pbx=pbx)

    # ----------------------------------------------------------- views

    @property
    def hosts(self) -> tuple[str, ...]:
        """Every ``ip:port`` in order of first appearance."""
        seen: dict[str, None] = {}
        for m in self.messages:
            seen.setdefault(m.src)
            seen.setdefault(m.dst)
        return tuple(seen)

    @property
    def reinvites(self) -> tuple[Transaction, ...]:
        """The INVITE/UPDATE transactions sent inside an established dialog (with a To tag)."""
        result = []
        for t in self.transactions:
            if t.method not in ("INVITE", "UPDATE"):
                continue
            request = t.request.message
            try:
                to_tag = request.to_tag
            except SipParseError:
                to_tag = None
            if request.is_request and to_tag is not None:
                result.append(t)
        return tuple(result)

    @property
    def retransmissions(self) -> tuple[FlowMessage, ...]:
        """Every retransmitted message."""
        return tuple(m for m in self.messages if m.retransmission)

    def transaction_of(self, item: FlowMessage) -> Transaction:
        """The transaction a message belongs to."""
        for t in self.transactions:
            if any(m.index == item.index for m in t.messages):
                return t
        raise KeyError(item.index)

    def dialog_of(self, item: FlowMessage) -> Dialog | None:
        """The dialog a message belongs to, or ``None``."""
        for d in self.dialogs:
            if any(m.index == item.index for m in d.messages):
                return d
        return None

    def filter(self, call_id: str | None = None, call: FlowCall | None = None) -> Flow:
        """A flow with only one Call-ID's (or one call's) messages."""
        if call is not None:
            keep = {m.index for m in call.messages}
            chosen = [m for m in self.messages if m.index in keep]
        else:
            chosen = [m for m in self.messages if m.call_id == call_id]
        return Flow.from_messages([replace(m, index=-1, retransmission=False) for m in chosen])

    @property
    def entries(self) -> tuple[FlowMessage | MalformedMessage, ...]:
        """The messages and the malformed messages together, in capture order (as tshark lists them)."""
        if not self.malformed:
            return self.messages
        both: list[FlowMessage | MalformedMessage] = [*self.messages, *self.malformed]
        both.sort(key=lambda m: (m.time, m.frame if m.frame is not None else 0))
        return tuple(both)

    def to_dict(self) -> FlowJson:
        """``{"messages": [...], "calls": [...]}`` (call times relative to the first message).

        ``messages`` lists the malformed messages too, in capture order, each with ``malformed``
        saying what is wrong (``None`` for the others).
        """
        origin = self.messages[0].time if self.messages else 0.0
        return {
            "messages": [m.to_dict() for m in self.entries],
            "calls": [c.to_dict(origin) for c in self.calls],
        }

    def to_json(self, indent: int | None = None) -> str:
        """:meth:`to_dict` as a JSON string."""
        return json.dumps(self.to_dict(), indent=indent)

    def __len__(self) -> int:
        return len(self.messages)

    def __iter__(self) -> Iterator[FlowMessage]:
        return iter(self.messages)

    def __repr__(self) -> str:
        bad = f", {len(self.malformed)} malformed" if self.malformed else ""
        return (
            f"<Flow {len(self.messages)} messages{bad}, {len(self.transactions)} transactions, "
            f"{len(self.dialogs)} dialogs, {len(self.calls)} calls>"
        )

    def _repr_html_(self) -> str:
        origin = self.messages[0].time if self.messages else 0.0
        rows = [
            "<table><tr><th>#</th><th>frame</th><th>time</th><th>src</th><th></th><th>dst</th>"
            "<th>message</th><th>CSeq</th><th>Call-ID</th></tr>"
        ]
        for m in self.messages:
            label = html.escape(m.label) + (" <i>(SDP)</i>" if m.has_sdp else "")
            if m.retransmission:
                label += " <i>(retransmission)</i>"
            rows.append(
                f"<tr><td>{m.index}</td><td>{m.frame if m.frame is not None else ''}</td>"
                f"<td>{m.time - origin:.3f}</td><td>{html.escape(m.src)}</td><td>&rarr;</td>"
                f"<td>{html.escape(m.dst)}</td><td style='text-align:left'><b>{label}</b></td>"
                f"<td>{html.escape(m.cseq or '')}</td><td>{html.escape((m.call_id or '')[:24])}</td></tr>"
            )
        rows.append("</table>")
        if self.calls:
            rows.append(
                "<table><tr><th>start</th><th>stop</th><th>initial speaker</th><th>from</th><th>to</th>"
                "<th>state</th><th>packets</th><th>comments</th></tr>"
            )
            for c in self.calls:
                rows.append(
                    f"<tr><td>{c.start - origin:.3f}</td><td>{c.stop - origin:.3f}</td>"
                    f"<td>{html.escape(c.initial_speaker)}</td><td>{html.escape(c.from_)}</td>"
                    f"<td>{html.escape(c.to)}</td><td>{c.state}</td><td>{c.packets}</td>"
                    f"<td style='text-align:left'>{html.escape('; '.join(c.comments))}</td></tr>"
                )
            rows.append("</table>")
        return "".join(rows)


def _find_media_changes(
    items: Sequence[FlowMessage], transactions: Sequence[Transaction]
) -> list[MediaChange]:
    """Media address changes carried by in-dialog INVITE/UPDATE transactions."""
    in_dialog: dict[int, str] = {}
    for t in transactions:
        if t.method not in ("INVITE", "UPDATE"):
            continue
        request = t.request
        if request.message.is_request and _tags(request)[1] is not None:
            for m in t.messages:
                in_dialog[m.index] = t.method
    # An SDP is parsed only when a change has to be decided: the messages with SDP before it wait
    # in a list per (Call-ID, party), and only the latest one that has an address is read.
    last: dict[tuple[str, str], str] = {}
    waiting: dict[tuple[str, str], list[FlowMessage]] = {}
    changes: list[MediaChange] = []
    for item in items:
        if item.retransmission or item.call_id is None or not item.has_sdp:
            continue
        key = (item.call_id, item.src)
        if item.index not in in_dialog:
            waiting.setdefault(key, []).append(item)
            continue
        address = _media_address(item)
        if address is None:
            continue
        earlier = waiting.pop(key, [])
        while earlier:
            found = _media_address(earlier.pop())
            if found is not None:
                last[key] = found
                break
        previous = last.get(key)
        if previous != address:
            changes.append(MediaChange(item, in_dialog[item.index], item.src, previous, address))
        last[key] = address
    return changes


def _build_calls(
    items: Sequence[FlowMessage], media_changes: Sequence[MediaChange], pbx: str | None
) -> list[FlowCall]:
    by_call: dict[str, list[FlowMessage]] = {}
    for item in items:
        if item.call_id is not None:
            by_call.setdefault(item.call_id, []).append(item)
    legs = []
    for call_id, messages in by_call.items():
        if not any(m.method == "INVITE" for m in messages):
            continue
        state, comments = _leg_state(messages)
        legs.append(CallLeg(call_id, tuple(messages), state, comments))
    changes_of: dict[str | None, list[MediaChange]] = {}
    for change in media_changes:
        changes_of.setdefault(change.message.call_id, []).append(change)
    calls = []
    for group in correlate_legs(legs, pbx):
        first = group[0]
        changes = tuple(sorted((c for leg in group for c in changes_of.get(leg.call_id, ())),
                               key=lambda c: c.message.index))
        call_comments: list[str] = []
        if len(group) > 1:
            call_comments.append("B2BUA legs: " + ", ".join(f"{leg.caller}->{leg.callee}" for leg in group))
        for leg in group:
            call_comments.extend(leg.comments)
        call_comments.extend(
            f"{'re-INVITE' if c.method == 'INVITE' else c.method} by {c.party}: media {c.old} -> {c.new}"
            for c in changes
        )
        invite = first.invite.message
        calls.append(
            FlowCall(
                legs=tuple(group),
                start=min(leg.start for leg in group),
                stop=max(leg.stop for leg in group),
                initial_speaker=split_address(first.caller)[0],
                from_=_safe_header_address(invite, "from"),
                to=_safe_header_address(invite, "to"),
                state=first.state,
                packets=sum(len(leg.messages) for leg in group),
                comments=tuple(call_comments),
                media_changes=changes,
            )
        )
    calls.sort(key=lambda c: c.start)
    return calls
