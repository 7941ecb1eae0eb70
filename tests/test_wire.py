"""The agent protocol (voiplab.devices.wire): what a Phone and its pjsua2 agent say to each other.

Pure tests of the definitions and the codec, plus one run of the real agent process
(no Asterisk needed: it answers before any SIP is sent).
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from typing import Any

import pytest
from conftest import require

from voiplab.devices import wire
from voiplab.errors import CallError, PhoneError, ProtocolError, RegistrationError

CONFIG = wire.AgentConfig(
    address="127.0.0.82", port=5060, pbx_host="127.0.0.80", pbx_port=5060, transport="udp", srtp=False,
    ca_file=None, account=wire.AgentAccount("rpi", "5002", "Raspberry Pi", "22222222"), audio="/tmp/tone.wav",
    record_dir=None, rtp_port=4000, codecs=("PCMU", "PCMA"), expires=300, user_agent="voiplab softphone (pjsua2)",
    bind_wait=2.0,
)
#: one instance of every command, as the proxy sends them
COMMANDS: list[wire.Command[Any]] = [
    wire.Init(CONFIG), wire.Ping(), wire.Shutdown(), wire.Register(4.0), wire.Unregister(5.0), wire.Dial("5001"),
    wire.Dial("sip:5003@127.0.0.80"), wire.Answer(3), wire.Answer(3, 180), wire.Hangup(3), wire.Hangup(3, 486),
    wire.SendDtmf(3, "42#"), wire.GetStats(3),
]
INVITE = ("INVITE sip:5001@127.0.0.80:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.82:5060;branch=z9hG4bK1\r\n"
          "Call-ID: abc@127.0.0.82\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n")
STATS: wire.CallStats = {
    "tx_packets": 250, "rx_packets": 249, "tx_bytes": 40000, "rx_bytes": 39840, "rx_lost": 1, "tx_lost": 0,
    "rx_dup": 0, "rx_reorder": 0, "rx_discard": 0, "jitter_ms": 0.4, "max_jitter_ms": 1.2, "rtt_ms": 0.1,
    "streams": 3, "codec": "PCMU", "remote_rtp": "127.0.0.81:42000",
}
#: one instance of every event, as the agent emits them
EVENTS: list[wire.Event] = [
    wire.SipEvent({"time": 1.5, "direction": "tx", "local": "127.0.0.82:5060", "remote": "127.0.0.80:5060",
                   "transport": "UDP", "raw": INVITE}),
    wire.RegEvent(200, "OK", 300, True, 1.0),
    wire.IncomingEvent(2, '"Alcatel IP Touch" <sip:5001@127.0.0.80>', "5001", "xyz@127.0.0.80", 2.0),
    wire.CallStateEvent(1, wire.CallState.CONFIRMED, 200, "OK", "<sip:5001@127.0.0.80>", "abc@127.0.0.82", 3.0),
    wire.MediaEvent(1, 0, "/tmp/call-001.wav", 3.1),
    wire.MediaEvent(1, 0, None, 3.2, codec="PCMU", clock_rate=8000, remote_rtp="127.0.0.80:10000"),
    wire.DtmfEvent(1, "#", 4.0),
    wire.CallFreedEvent(1, None, STATS, 5.0),
    wire.CallFreedEvent(1, "/tmp/call-001.wav", {}, 5.0),
    wire.ByeEvent(6.0),
]


def test_every_command_and_event_is_exercised() -> None:
    """Does this file exercise every command and event the protocol defines?"""
    assert {type(c) for c in COMMANDS} == set(wire.COMMANDS.values())
    assert {type(e) for e in EVENTS} == set(wire.EVENTS.values())


@pytest.mark.parametrize("command", COMMANDS, ids=repr)
def test_request_round_trip(command: wire.Command[Any]) -> None:
    """Does every command come back equal after one line of JSON, under its wire name?"""
    line = wire.encode_request(41, command)
    assert line.endswith("\n") and "\n" not in line[:-1]
    assert json.loads(line)["cmd"] == command.NAME
    assert wire.decode_request(line) == wire.Request(41, command)
    assert wire.decode_request(line.encode()) == wire.Request(41, command)


@pytest.mark.parametrize("event", EVENTS, ids=repr)
def test_event_round_trip(event: wire.Event) -> None:
    """Does every event come back equal (and typed: a CallState, a TraceEntry) after one line of JSON?"""
    line = wire.encode_event(event)
    assert json.loads(line)["event"] == event.NAME
    assert wire.decode_message(line) == event


def test_the_documented_lines_decode() -> None:
    """Do the lines of the module docstring mean what it says (the format is the contract)?"""
    assert wire.decode_request('{"id": 7, "cmd": "call", "number": "5001"}') == wire.Request(7, wire.Dial("5001"))
    event = wire.decode_message('{"event": "call_state", "call": 1, "state": "CONFIRMED", "status": 200, '
                                '"reason": "OK", "remote": "<sip:5001@127.0.0.80>", "call_id": "a", "time": 1}')
    assert isinstance(event, wire.CallStateEvent)
    assert event.state is wire.CallState.CONFIRMED and event.time == 1.0 and isinstance(event.time, float)
    reply = wire.decode_message('{"id": 7, "ok": false, "error": {"kind": "CallError", "message": "the call is '
                                'over: start a new one", "status": 404, "reason": "Not Found"}}')
    assert reply == wire.Reply(7, False, error=wire.AgentFailure(wire.ErrorKind.CALL, "the call is over: start a "
                                                                  "new one", 404, "Not Found"))


@pytest.mark.parametrize("command, result", [
    (wire.Init(CONFIG), wire.InitResult("127.0.0.82:5060", 4242)),
    (wire.Ping(), wire.PingResult(4242, True, 1)),
    (wire.Register(4.0), wire.RegisterResult(200, "OK", 300, "sip:rpi@127.0.0.82:5060")),
    (wire.Unregister(4.0), wire.UnregisterResult(200, False, "OK")),
    (wire.Unregister(4.0), wire.UnregisterResult(None, False)),
    (wire.Dial("5001"), wire.CallStarted(1, "sip:5001@127.0.0.80:5060")),
    (wire.GetStats(1), STATS),
    (wire.Hangup(1), None),
    (wire.Shutdown(), None),
], ids=repr)
def test_reply_round_trip(command: wire.Command[Any], result: object) -> None:
    """Does each command's result come back as its RESULT type, equal to what the agent sent?"""
    reply = wire.decode_message(wire.encode_reply(9, result))
    assert isinstance(reply, wire.Reply) and reply.id == 9 and reply.ok and reply.error is None
    assert wire.decode_result(command, reply.result) == result


@pytest.mark.parametrize("error", [
    RegistrationError("", status=401),
    RegistrationError("", status=None),
    CallError("the call to 9999 could not be started (Not found): check the number", status=404, reason="Not Found"),
    PhoneError("the phone is not registered: call phone.register() first"),
], ids=repr)
def test_failure_round_trip_raises_the_same_error(error: PhoneError) -> None:
    """Does a failure reply make the proxy raise the agent's exception again: class, message, status, reason?"""
    reply = wire.decode_message(wire.encode_failure(3, wire.failure_of(error)))
    assert isinstance(reply, wire.Reply) and not reply.ok and reply.error is not None
    again = reply.error.to_exception()
    assert type(again) is type(error) and str(again) == str(error)
    assert getattr(again, "status", None) == getattr(error, "status", None)
    assert getattr(again, "reason", None) == getattr(error, "reason", None)


def test_error_kinds_map_to_the_error_hierarchy() -> None:
    """Does each error kind name the exception class the proxy raises?"""
    for kind in wire.ErrorKind:
        assert type(wire.AgentFailure(kind, "x").to_exception()).__name__ == kind.value


def test_call_states_are_pjsips_numbers() -> None:
    """Are the call states indexed by pjsip_inv_state (NULL=0 ... DISCONNECTED=6), and a bad number refused?"""
    assert [wire.call_state_of(n) for n in range(7)] == [
        "NULL", "CALLING", "INCOMING", "EARLY", "CONNECTING", "CONFIRMED", "DISCONNECTED"]
    assert wire.CALL_STATES == tuple(wire.CallState)
    with pytest.raises(ProtocolError, match=r"^call state number 7 is not a pjsip invite session state"):
        wire.call_state_of(7)


def test_password_is_sent_but_never_shown() -> None:
    """Is the account password on the wire (the agent needs it) but out of the config's repr?"""
    assert "22222222" not in repr(CONFIG) and "22222222" not in repr(wire.Init(CONFIG))
    assert json.loads(wire.encode_request(1, wire.Init(CONFIG)))["config"]["account"]["password"] == "22222222"


@pytest.mark.parametrize("line, message, request_id", [
    ('{"id": 7, "cmd": "fly"}', "the command 'fly' is unknown: use one of init, ping, shutdown, register, "
     "unregister, call, answer, hangup, dtmf, stats (or update voiplab)", 7),
    ("not json", "request 'not json' is not JSON (Expecting value: line 1 column 1 (char 0)): "
     "the phone and its agent must come from the same voiplab", None),
    ("[1, 2]", "request [1, 2] is not a JSON object: each line must be one {...}", None),
    ('{"cmd": "ping"}', "request has id None: it must be an integer", None),
    ('{"id": true, "cmd": "ping"}', "request has id True: it must be an integer", None),
    ('{"id": 7, "cmd": "call"}', "command 'call' is missing 'number': the keys are number", 7),
    ('{"id": 7, "cmd": "call", "number": 5001}', "command 'call' number is 5001: expected str", 7),
    ('{"id": 7, "cmd": "ping", "x": 1}', "command 'ping' has unknown keys x: it takes no keys", 7),
    ('{"id": 7, "cmd": "hangup", "call": 1, "code": "486"}', "command 'hangup' code is '486': expected int | None",
     7),
])
def test_bad_request_line_is_a_clear_error(line: str, message: str, request_id: int | None) -> None:
    """Is a malformed request line or an unknown command refused with a message saying what is wrong,
    keeping its id when it has one (so the agent can answer it)?"""
    with pytest.raises(ProtocolError) as err:
        wire.decode_request(line)
    assert str(err.value) == message
    assert err.value.request_id == request_id
    assert isinstance(err.value, PhoneError)


@pytest.mark.parametrize("line, message", [
    ('{"event": "teleport", "time": 1}', "the event 'teleport' is unknown: expected one of sip, reg, incoming, "
     "call_state, media, dtmf, call_freed, bye"),
    ('{"event": "call_state", "call": 1, "state": "RINGING", "status": 180, "reason": "Ringing", "remote": "", '
     '"call_id": "a", "time": 1}', "event 'call_state' state is 'RINGING': expected one of NULL, CALLING, INCOMING, "
     "EARLY, CONNECTING, CONFIRMED, DISCONNECTED"),
    ('{"event": "sip", "entry": {"time": 1, "direction": "up", "local": "a:1", "remote": "b:2", "transport": "UDP", '
     '"raw": ""}}', "event 'sip' entry direction is 'up': expected one of ('tx', 'rx')"),
    ('{"event": "bye"}', "event 'bye' is missing 'time': the keys are time"),
    ('{"id": 3, "ok": "yes"}', "reply 3 has ok='yes': it must be true or false"),
    ('{"status": 200}', "agent message {'status': 200} is neither a reply (id) nor an event (event)"),
])
def test_bad_agent_line_is_a_clear_error(line: str, message: str) -> None:
    """Is a malformed line from the agent refused with a message saying what is wrong?"""
    with pytest.raises(ProtocolError) as err:
        wire.decode_message(line)
    assert str(err.value) == message


def test_wire_does_not_import_pjsua2() -> None:
    """Can the kernel import the protocol and the Phone proxy without loading pjsua2?"""
    code = "import sys, voiplab.devices.wire, voiplab.devices.phone; print('pjsua2' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.pjsua2
def test_agent_answers_bad_requests_instead_of_timing_out() -> None:
    """Does the real agent answer an unknown command with a PhoneError reply (not silence), skip a line
    that is not JSON, still answer ping, and say bye when its stdin closes?"""
    require(importlib.util.find_spec("pjsua2") is not None, "pjsua2", "pip install pjsua2-python")
    lines = '{"id": 1, "cmd": "fly"}\nnot json\n' + wire.encode_request(2, wire.Ping())
    done = subprocess.run([sys.executable, "-m", "voiplab.devices._agent"], input=lines, capture_output=True,
                          text=True, timeout=60, start_new_session=True)
    messages = [wire.decode_message(line) for line in done.stdout.splitlines()]
    replies = {m.id: m for m in messages if isinstance(m, wire.Reply)}
    failure = replies[1].error
    assert failure is not None and failure.kind is wire.ErrorKind.PHONE
    assert failure.message.startswith("the command 'fly' is unknown: use one of init, ping")
    assert replies[2].ok and wire.decode_result(wire.Ping(), replies[2].result).registered is False
    assert isinstance(messages[-1], wire.ByeEvent)
    assert "refused a request line: request 'not json' is not JSON" in done.stderr
    assert done.returncode == 0
