"""The agent protocol, defined once: what a Phone and its pjsua2 agent say to each other.

A :class:`~voiplab.devices.phone.Phone` (the proxy, in the Jupyter kernel) drives one
agent process (:mod:`voiplab.devices._agent`, the only module that imports pjsua2) over
its stdin/stdout, one JSON object per line (UTF-8):

* proxy -> agent, a **request**: ``{"id": 7, "cmd": "call", "number": "5001"}``: the
  command's name and its arguments (the fields of a :class:`Command` dataclass);
* agent -> proxy, a **reply** to request ``id``: ``{"id": 7, "ok": true, "result": {...}}``
  (the command's ``RESULT``), or ``{"id": 7, "ok": false, "error": {"kind":
  "CallError", "message": ..., "status": 404, "reason": "Not Found"}}`` (an
  :class:`AgentFailure`);
* agent -> proxy, an **event**: ``{"event": "call_state", "call": 1, "state":
  "CONFIRMED", ...}`` (one of :data:`EVENTS`), whenever pjsua2 reports something.

Both sides use only the definitions and the encode/decode functions of this module, so
a name, a key or a state cannot be spelled differently on the two sides; a line that
does not fit raises :class:`ProtocolError` naming what is wrong. This module must
never import pjsua2: the kernel imports it.

Not taught in a notebook: students see the protocol's work through ``Phone.trace()``
(notebook 03) and ``Call.state`` (notebook 06).
"""

from __future__ import annotations

import dataclasses
import enum
import json
import types
import typing
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Literal, TypedDict, TypeVar, Union, cast

from ..errors import CallError, PhoneError, ProtocolError, RegistrationError

if TYPE_CHECKING:  # resolved when an event is decoded (_hints): see there why not at import
    from ..core.flow import TraceEntry

__all__ = [
    "CALL_STATES",
    "COMMANDS",
    "EVENTS",
    "SIP_TRANSPORTS",
    "AgentAccount",
    "AgentConfig",
    "AgentFailure",
    "Answer",
    "ByeEvent",
    "CallFreedEvent",
    "CallStarted",
    "CallState",
    "CallStateEvent",
    "CallStats",
    "Command",
    "Dial",
    "DtmfEvent",
    "ErrorKind",
    "Event",
    "GetStats",
    "Hangup",
    "IncomingEvent",
    "Init",
    "InitResult",
    "MediaEvent",
    "Ping",
    "PingResult",
    "RegEvent",
    "Register",
    "RegisterResult",
    "Reply",
    "Request",
    "SendDtmf",
    "Shutdown",
    "SipEvent",
    "Unregister",
    "UnregisterResult",
    "call_state_of",
    "decode_message",
    "decode_request",
    "decode_result",
    "encode_event",
    "encode_failure",
    "encode_reply",
    "encode_request",
    "failure_of",
]

R = TypeVar("R")
T = TypeVar("T")

#: the SIP transports a phone can use towards the PBX
Transport = Literal["udp", "tls"]
SIP_TRANSPORTS: tuple[Transport, ...] = ("udp", "tls")


# ---------------------------------------------------------------------------
# call states


class CallState(enum.StrEnum):
    """The states of a call, pjsua2's names (``pjsip_inv_state``), in order.

    A ``CallState`` is a ``str``: ``call.state == "CONFIRMED"`` works.
    """

    NULL = "NULL"  # before the INVITE is sent (never seen by the proxy)
    CALLING = "CALLING"  # INVITE sent, no answer yet
    INCOMING = "INCOMING"  # INVITE received, not answered yet
    EARLY = "EARLY"  # a provisional answer (180 Ringing, 183)
    CONNECTING = "CONNECTING"  # 200 OK sent or received, ACK not yet
    CONFIRMED = "CONFIRMED"  # ACK: the call is up
    DISCONNECTED = "DISCONNECTED"  # over (BYE, CANCEL or a final error)


#: the call states, indexed by pjsip's number for them (``pjsip_inv_state``)
CALL_STATES: tuple[CallState, ...] = tuple(CallState)


def call_state_of(pjsip_state: int) -> CallState:
    """The :class:`CallState` of pjsip's number (``CallInfo.state``).

    Raises:
        ProtocolError: the number is not a pjsip invite session state.
    """
    if not 0 <= pjsip_state < len(CALL_STATES):
        raise ProtocolError(f"call state number {pjsip_state} is not a pjsip invite session state: "
                            f"expected 0..{len(CALL_STATES) - 1}")
    return CALL_STATES[pjsip_state]


# ---------------------------------------------------------------------------
# errors


class ErrorKind(enum.StrEnum):
    """What kind of error a failed request reports; the proxy raises the matching exception."""

    PHONE = "PhoneError"  # -> PhoneError: bad state or argument, address in use, pjsua2 refused
    REGISTRATION = "RegistrationError"  # -> RegistrationError(status): REGISTER refused or timed out
    CALL = "CallError"  # -> CallError(status, reason): the call is over or could not start


@dataclass(frozen=True)
class AgentFailure:
    """The ``error`` of a failed reply.

    Attributes:
        kind: which exception the proxy raises.
        message: the exception's message ("" for a registration failure: the proxy words it).
        status, reason: the SIP status and reason phrase behind it, when there is one.
    """

    kind: ErrorKind
    message: str
    status: int | None = None
    reason: str = ""

    def to_exception(self) -> PhoneError:
        """The exception the proxy raises for this failure."""
        if self.kind is ErrorKind.REGISTRATION:
            return RegistrationError(self.message, status=self.status)
        if self.kind is ErrorKind.CALL:
            return CallError(self.message, status=self.status, reason=self.reason)
        return PhoneError(self.message)


def failure_of(error: PhoneError) -> AgentFailure:
    """The :class:`AgentFailure` that makes the proxy raise ``error`` again (the agent's side)."""
    if isinstance(error, RegistrationError):
        return AgentFailure(ErrorKind.REGISTRATION, str(error), error.status)
    if isinstance(error, CallError):
        return AgentFailure(ErrorKind.CALL, str(error), error.status, error.reason)
    return AgentFailure(ErrorKind.PHONE, str(error))


# ---------------------------------------------------------------------------
# command results


@dataclass(frozen=True)
class InitResult:
    """The agent is up: its SIP address (``ip:port`` as pjsua2 bound it) and its pid."""

    sip: str
    pid: int


@dataclass(frozen=True)
class PingResult:
    """The agent is alive: its pid, whether it is registered, how many calls it holds."""

    pid: int
    registered: bool
    calls: int


@dataclass(frozen=True)
class RegisterResult:
    """The final answer to a REGISTER that succeeded."""

    status: int
    reason: str
    expires: int
    contact: str


@dataclass(frozen=True)
class UnregisterResult:
    """The answer to REGISTER with ``Expires: 0`` (``status`` None: it was not registered)."""

    status: int | None
    registered: bool
    reason: str = ""


@dataclass(frozen=True)
class CallStarted:
    """A new outgoing call: the agent's handle for it and the request URI dialled."""

    call: int
    uri: str


class CallStats(TypedDict, total=False):
    """RTP/RTCP statistics of a call (every stream of it added up); ``Call.stats()``.

    ``rx_lost`` and ``jitter_ms`` are measured by this phone, ``tx_lost`` is what the
    other side reported in RTCP; ``streams`` counts the media streams (Asterisk's
    direct-media re-INVITEs create new ones); ``codec`` and ``remote_rtp`` are those
    of the last stream. ``rtp_latching`` is ``"off"`` when the phone sends RTP only where
    the SDP says (never to the source of what it receives: see ``_agent.disable_rtp_latching``).
    """

    tx_packets: int
    rx_packets: int
    tx_bytes: int
    rx_bytes: int
    rx_lost: int
    tx_lost: int
    rx_dup: int
    rx_reorder: int
    rx_discard: int
    jitter_ms: float
    max_jitter_ms: float
    rtt_ms: float
    streams: int
    codec: str
    remote_rtp: str
    rtp_latching: str


# ---------------------------------------------------------------------------
# commands (proxy -> agent)


@dataclass(frozen=True)
class AgentAccount:
    """The SIP account the agent registers (the password stays out of reprs); ``name`` is its name on the PBX."""

    name: str
    number: str
    display_name: str
    password: str = field(repr=False)


@dataclass(frozen=True)
class AgentConfig:
    """Everything the agent needs to start: addresses, account, media. Sent by :class:`Init`.

    Attributes:
        address, port: where the phone binds SIP (and RTP, from ``rtp_port``).
        pbx_host, pbx_port: the PBX (its TLS port when ``transport`` is ``"tls"``).
        transport: ``"udp"`` or ``"tls"``.
        srtp: require SRTP (SDES keys in the SDP).
        ca_file: the CA that signed the PBX certificate (TLS only).
        account: the SIP account.
        audio: the WAV file the phone plays in every call (None: nothing).
        record_dir: where to record what the phone hears (None: no recording).
        rtp_port: the first RTP port to try.
        codecs: codec names in preference order; the others are disabled.
        expires: the registration lifetime asked for, in seconds.
        user_agent: the ``User-Agent`` header.
        bind_wait: seconds to wait for the SIP address to become free.
        max_calls: pjsua2's limit of simultaneous calls.
        tx_loss_pct: percent of outgoing RTP packets dropped instead of sent (pjmedia's loss
            simulation; the simulated Alcatel's per-student loss pattern), 0: none.
    """

    address: str
    port: int
    pbx_host: str
    pbx_port: int
    transport: Transport
    srtp: bool
    ca_file: str | None
    account: AgentAccount
    audio: str | None
    record_dir: str | None
    rtp_port: int
    codecs: tuple[str, ...]
    expires: int
    user_agent: str
    bind_wait: float
    max_calls: int = 32
    tx_loss_pct: int = 0


@dataclass(frozen=True)
class Command(Generic[R]):
    """A request's command: ``NAME`` on the wire, its fields as arguments, ``RESULT`` in the reply."""

    NAME: ClassVar[str] = ""
    RESULT: ClassVar[object] = None  # the type of the reply's result (None: no result)


@dataclass(frozen=True)
class Init(Command[InitResult]):
    """The first command: create the pjsua2 library and bind the phone's address."""

    NAME = "init"
    RESULT = InitResult
    config: AgentConfig


@dataclass(frozen=True)
class Ping(Command[PingResult]):
    """Is the agent alive?"""

    NAME = "ping"
    RESULT = PingResult


@dataclass(frozen=True)
class Shutdown(Command[None]):
    """Hang up, unregister, destroy the library; the reply comes just before the agent exits."""

    NAME = "shutdown"


@dataclass(frozen=True)
class Register(Command[RegisterResult]):
    """REGISTER (answered when the final response arrives, or after ``reg_timeout`` seconds)."""

    NAME = "register"
    RESULT = RegisterResult
    reg_timeout: float


@dataclass(frozen=True)
class Unregister(Command[UnregisterResult]):
    """REGISTER with ``Expires: 0``."""

    NAME = "unregister"
    RESULT = UnregisterResult
    reg_timeout: float


@dataclass(frozen=True)
class Dial(Command[CallStarted]):
    """Call a number of the dial plan or a ``sip:`` URI."""

    NAME = "call"
    RESULT = CallStarted
    number: str


@dataclass(frozen=True)
class Answer(Command[None]):
    """Answer an incoming call with ``code`` (200 OK)."""

    NAME = "answer"
    call: int
    code: int = 200


@dataclass(frozen=True)
class Hangup(Command[None]):
    """End a call: CANCEL or BYE, or refuse an incoming one with ``code`` (486, 603, ...)."""

    NAME = "hangup"
    call: int
    code: int | None = None


@dataclass(frozen=True)
class SendDtmf(Command[None]):
    """Send DTMF digits as RFC 4733 telephone-events."""

    NAME = "dtmf"
    call: int
    digits: str


@dataclass(frozen=True)
class GetStats(Command[CallStats]):
    """The RTP/RTCP statistics of a live call."""

    NAME = "stats"
    RESULT = CallStats
    call: int


#: every command, by its name on the wire
COMMANDS: dict[str, type[Command[Any]]] = {
    cls.NAME: cls for cls in (Init, Ping, Shutdown, Register, Unregister, Dial, Answer, Hangup, SendDtmf, GetStats)
}


@dataclass(frozen=True)
class Request:
    """A decoded request line: its id and its command."""

    id: int
    command: Command[Any]


# ---------------------------------------------------------------------------
# events (agent -> proxy)


@dataclass(frozen=True)
class SipEvent:
    """A SIP message the phone sent or received (pjsip's message log), for ``Phone.trace()``."""

    NAME: ClassVar[str] = "sip"
    entry: TraceEntry


@dataclass(frozen=True)
class RegEvent:
    """The registration changed (every final answer to a REGISTER)."""

    NAME: ClassVar[str] = "reg"
    status: int
    reason: str
    expires: int
    registered: bool
    time: float


@dataclass(frozen=True)
class IncomingEvent:
    """An INVITE arrived (the agent answered 180 Ringing)."""

    NAME: ClassVar[str] = "incoming"
    call: int
    remote: str
    number: str
    call_id: str
    time: float


@dataclass(frozen=True)
class CallStateEvent:
    """A call changed state; ``status``/``reason`` are the last SIP response's."""

    NAME: ClassVar[str] = "call_state"
    call: int
    state: CallState
    status: int
    reason: str
    remote: str
    call_id: str
    time: float


@dataclass(frozen=True)
class MediaEvent:
    """A call's audio stream became active (again, after a re-INVITE)."""

    NAME: ClassVar[str] = "media"
    call: int
    index: int
    recording: str | None
    time: float
    codec: str | None = None
    clock_rate: int | None = None
    remote_rtp: str | None = None


@dataclass(frozen=True)
class DtmfEvent:
    """A DTMF digit arrived (RFC 4733)."""

    NAME: ClassVar[str] = "dtmf"
    call: int
    digit: str
    time: float


@dataclass(frozen=True)
class CallFreedEvent:
    """A call is over and freed: its final statistics and recording (the WAV is complete)."""

    NAME: ClassVar[str] = "call_freed"
    call: int
    recording: str | None
    stats: CallStats
    time: float


@dataclass(frozen=True)
class ByeEvent:
    """The agent is exiting (it hung up and unregistered)."""

    NAME: ClassVar[str] = "bye"
    time: float


Event = SipEvent | RegEvent | IncomingEvent | CallStateEvent | MediaEvent | DtmfEvent | CallFreedEvent | ByeEvent
#: the events that concern one call (``call`` is the agent's handle)
CallEvent = CallStateEvent | MediaEvent | DtmfEvent | CallFreedEvent
#: every event, by its name on the wire
EVENTS: dict[str, type[Event]] = {
    cls.NAME: cls
    for cls in (SipEvent, RegEvent, IncomingEvent, CallStateEvent, MediaEvent, DtmfEvent, CallFreedEvent, ByeEvent)
}


@dataclass(frozen=True)
class Reply:
    """A decoded reply: ``result`` (decode it with :func:`decode_result`) or ``error``."""

    id: int
    ok: bool
    result: object = None
    error: AgentFailure | None = None


# ---------------------------------------------------------------------------
# encoding


def _line(obj: dict[str, object]) -> str:
    return json.dumps(obj, separators=(",", ":")) + "\n"


def _fields(obj: object) -> dict[str, object]:
    return dataclasses.asdict(obj)  # type: ignore[call-overload]  # every caller passes a dataclass


def encode_request(request_id: int, command: Command[Any]) -> str:
    """The line of request ``request_id`` carrying ``command`` (ends with a newline)."""
    return _line({"id": request_id, "cmd": command.NAME, **_fields(command)})


def encode_reply(request_id: int, result: object = None) -> str:
    """The line of a successful reply; ``result`` is the command's ``RESULT`` (a dataclass, stats or None)."""
    if dataclasses.is_dataclass(result) and not isinstance(result, type):
        result = _fields(result)
    return _line({"id": request_id, "ok": True, "result": result})


def encode_failure(request_id: int, failure: AgentFailure) -> str:
    """The line of a failed reply."""
    return _line({"id": request_id, "ok": False, "error": _fields(failure)})


def encode_event(event: Event) -> str:
    """The line of an event."""
    return _line({"event": event.NAME, **_fields(event)})


# ---------------------------------------------------------------------------
# decoding


def _json_object(line: str | bytes, what: str) -> dict[str, object]:
    try:
        obj = json.loads(line)
    except ValueError as e:
        text = line if isinstance(line, str) else line.decode("utf-8", "replace")
        raise ProtocolError(f"{what} {text.strip()[:80]!r} is not JSON ({e}): "
                            "the phone and its agent must come from the same voiplab") from None
    if not isinstance(obj, dict):
        raise ProtocolError(f"{what} {obj!r:.80} is not a JSON object: each line must be one {{...}}")
    return obj


def _request_id(obj: dict[str, object], what: str) -> int:
    value = obj.get("id")
    if not isinstance(value, int) or isinstance(value, bool):
        raise ProtocolError(f"{what} has id {value!r}: it must be an integer")
    return value


def decode_request(line: str | bytes) -> Request:
    """The request of one line (the agent's side).

    Raises:
        ProtocolError: not a JSON object, no integer ``id``, an unknown command, or
            arguments that do not fit it (``request_id`` set when the id was read).
    """
    obj = _json_object(line, "request")
    request_id = _request_id(obj, "request")
    name = obj.get("cmd")
    cls = COMMANDS.get(name) if isinstance(name, str) else None
    if cls is None:
        raise ProtocolError(f"the command {name!r} is unknown: use one of {', '.join(COMMANDS)} "
                            "(or update voiplab)", request_id=request_id)
    args = {k: v for k, v in obj.items() if k not in ("id", "cmd")}
    try:
        command = _build(cls, args, f"command {name!r}")
    except ProtocolError as e:
        raise ProtocolError(str(e), request_id=request_id) from None
    return Request(request_id, command)


def decode_message(line: str | bytes) -> Reply | Event:
    """The reply or event of one line from the agent (the proxy's side).

    Raises:
        ProtocolError: not a JSON object, an unknown event, or fields that do not fit it.
    """
    obj = _json_object(line, "agent message")
    if "event" in obj:
        name = obj["event"]
        cls = EVENTS.get(name) if isinstance(name, str) else None
        if cls is None:
            raise ProtocolError(f"the event {name!r} is unknown: expected one of {', '.join(EVENTS)}")
        return _build(cls, {k: v for k, v in obj.items() if k != "event"}, f"event {name!r}")
    if "id" not in obj:
        raise ProtocolError(f"agent message {obj!r:.80} is neither a reply (id) nor an event (event)")
    request_id = _request_id(obj, "reply")
    ok = obj.get("ok")
    if ok is True:
        return Reply(request_id, True, obj.get("result"))
    if ok is False:
        return Reply(request_id, False, error=_build(AgentFailure, obj.get("error"), f"reply {request_id} error"))
    raise ProtocolError(f"reply {request_id} has ok={ok!r}: it must be true or false")


def decode_result(command: Command[R], result: object) -> R:
    """The typed result of a successful reply to ``command`` (its ``RESULT``).

    Raises:
        ProtocolError: the result does not fit the command's ``RESULT``.
    """
    if command.RESULT is None:
        return cast(R, None)
    return cast(R, _convert(command.RESULT, result, f"result of {command.NAME!r}"))


def _build(cls: type[T], data: object, where: str) -> T:
    """An instance of the dataclass ``cls`` from a JSON object, every field checked."""
    if not isinstance(data, dict):
        raise ProtocolError(f"{where} is {data!r:.80}, not a JSON object")
    hints = _hints(cls)
    known = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]  # cls is a dataclass
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise ProtocolError(f"{where} has unknown keys {', '.join(unknown)}: {_expected(known)}")
    kwargs: dict[str, object] = {}
    for name, f in known.items():
        if name in data:
            kwargs[name] = _convert(hints[name], data[name], f"{where} {name}")
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ProtocolError(f"{where} is missing {name!r}: {_expected(known)}")
    return cls(**kwargs)


#: the resolved field types of each message class, computed once (every line is decoded with them)
_HINTS: dict[object, dict[str, Any]] = {}


def _hints(cls: object) -> dict[str, Any]:
    """The resolved field types of a message class (a dataclass or a TypedDict)."""
    hints = _HINTS.get(cls)
    if hints is None:
        try:
            hints = typing.get_type_hints(cls)
        except NameError:  # an event with a trace entry: only the proxy decodes those
            # voiplab layer loaded late for speed: core.flow (and the SIP parser under it) adds
            # ~0.1 s to each agent start, and the agent never decodes an event
            from ..core.flow import TraceEntry

            hints = typing.get_type_hints(cls, localns={"TraceEntry": TraceEntry})
        _HINTS[cls] = hints
    return hints


def _expected(keys: typing.Iterable[str]) -> str:
    names = ", ".join(keys)
    return f"the keys are {names}" if names else "it takes no keys"


def _convert(tp: object, value: object, where: str) -> object:
    """``value`` (decoded JSON) as the type ``tp`` of a field, or ProtocolError."""
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        for arm in typing.get_args(tp):
            try:
                return _convert(arm, value, where)
            except ProtocolError:
                continue
        raise ProtocolError(f"{where} is {value!r:.80}: expected {_type_name(tp)}")
    if origin is Literal:
        if value not in typing.get_args(tp):
            raise ProtocolError(f"{where} is {value!r:.80}: expected one of {typing.get_args(tp)}")
        return value
    if origin is tuple:
        (item, *_rest) = typing.get_args(tp)
        if not isinstance(value, list | tuple):
            raise ProtocolError(f"{where} is {value!r:.80}: expected a list")
        return tuple(_convert(item, v, f"{where}[{i}]") for i, v in enumerate(value))
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return _build(tp, value, where)
    if typing.is_typeddict(tp):
        return _typed_dict(tp, value, where)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        try:
            return tp(value)
        except ValueError:
            raise ProtocolError(f"{where} is {value!r:.80}: expected one of {', '.join(m.value for m in tp)}") from None
    if tp is type(None):
        if value is not None:
            raise ProtocolError(f"{where} is {value!r:.80}: expected null")
        return None
    if tp is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if tp is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if (tp is str and isinstance(value, str)) or (tp is bool and isinstance(value, bool)):
        return value
    if tp is object:
        return value
    raise ProtocolError(f"{where} is {value!r:.80}: expected {_type_name(tp)}")


# tp is Any: typing has no type for "a TypedDict class"
def _typed_dict(tp: Any, value: object, where: str) -> dict[str, object]:
    if not isinstance(value, dict):
        raise ProtocolError(f"{where} is {value!r:.80}, not a JSON object")
    hints = _hints(tp)
    unknown = sorted(set(value) - set(hints))
    if unknown:
        raise ProtocolError(f"{where} has unknown keys {', '.join(unknown)}: {_expected(hints)}")
    missing = sorted(set(tp.__required_keys__) - set(value))
    if missing:
        raise ProtocolError(f"{where} is missing {', '.join(missing)}: {_expected(hints)}")
    return {k: _convert(hints[k], v, f"{where} {k}") for k, v in value.items()}


def _type_name(tp: object) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")
