"""Do notebook 06's check cells pass on a right result and say what to do on a wrong one?

Most tests build :class:`~voiplab.devices.phone.Call` objects in the states a student's call
can be in (the same attributes the phone's agent fills), so that every branch is checked
with its exact message; the last ones place real calls on the local lab.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from voiplab.capture.wav import write_wav
from voiplab.devices.alcatel import AlcatelCallRecord, alcatel_signal
from voiplab.devices.lab import Lab
from voiplab.devices.phone import Call
from voiplab.devices.wire import CallState
from voiplab.errors import VoipLabError
from voiplab.teach import checks
from voiplab.teach.checks.calling import (
    alcatel_got_dtmf,
    call_answered,
    heard_the_alcatel,
    incoming_answered,
    panel_call,
)

RATE = 8000


def make_call(direction: str = "outgoing", number: str = "5001", states: tuple[str, ...] = ("CALLING",),
              status: int | None = None, reason: str = "", recording: Path | None = None,
              stats: dict[str, Any] | None = None) -> Call:
    """A Call in the given states (oldest first), as the phone's agent would have left it."""
    phone: Any = SimpleNamespace(_cv=threading.Condition(), _dead=False,
                                 account=SimpleNamespace(name="rpi"))
    call = Call(phone, 1, direction, '"Alcatel IP Touch" <sip:5001@pbx>', number)  # type: ignore[arg-type]
    t0 = 1000.0
    call.history = [(t0 + 0.01 * i, CallState(s)) for i, s in enumerate(states)]
    call.state = CallState(states[-1])
    call.status, call.reason = status, reason
    call.recording_path = recording
    call._final_stats = stats
    call._freed = True
    return call


@pytest.fixture()
def morse_wav(tmp_path: Path) -> Path:
    """What a phone records from the simulated Alcatel: its Morse code on 1000 Hz."""
    return write_wav(tmp_path / "alcatel.wav", alcatel_signal(RATE), RATE)


def test_the_checks_are_reachable_as_vl_checks() -> None:
    """Does ``vl.checks.<name>`` find each of notebook 06's checks?"""
    assert checks.call_answered is call_answered and checks.panel_call is panel_call


# -- call_answered -----------------------------------------------------------------------


def test_call_answered_passes_on_a_confirmed_call() -> None:
    """A call to 5001 that reached CONFIRMED: does the check pass and say after how long?"""
    result = call_answered(make_call(states=("CALLING", "CONNECTING", "CONFIRMED")), "5001")
    assert result.ok and result.message == "the call to 5001 was answered (200 OK, CONFIRMED) 20 ms after your INVITE"


@pytest.mark.parametrize(("call", "message"), [
    (None, "there is no call yet: run the cell that dials the Alcatel"),
    (make_call(direction="incoming", states=("INCOMING",)),
     "this call came in to your phone: check the call your phone placed (the result of rpi.call)"),
    (make_call(number="5003", states=("CALLING", "CONFIRMED")),
     "your call went to 5003, not to the Alcatel: dial the Alcatel's number (lab.config.account('alcatel').number)"),
    (make_call(states=("CALLING", "DISCONNECTED"), status=480, reason="Temporarily Unavailable"),
     "the call ended with 480 Temporarily Unavailable before it was answered: is the Alcatel registered "
     "(lab.status())? Dial again"),
    (make_call(states=("CALLING", "EARLY")),
     "the call is still EARLY: wait for CONFIRMED (call.wait('CONFIRMED')) and run the check again"),
])
def test_call_answered_fails_with_what_to_do(call: Call | None, message: str) -> None:
    """No call, an incoming one, the wrong number, a failed or unfinished call: is the hint exact?"""
    result = call_answered(call, "5001")
    assert not result.ok and result.message == message
    assert result.name == "your call to the Alcatel was answered"


def test_a_check_given_something_else_than_a_call_is_a_misuse() -> None:
    """Passing the phone instead of its call: is that an error that says what to pass?"""
    with pytest.raises(VoipLabError, match="call is a str, not a Call: pass the call your phone made"):
        call_answered("5001", "5001")  # type: ignore[arg-type]


# -- alcatel_got_dtmf ------------------------------------------------------------------------


def record(dtmf: str = "") -> AlcatelCallRecord:
    return AlcatelCallRecord(number="5002", direction="incoming", state="DISCONNECTED", dtmf=dtmf)


def test_alcatel_got_dtmf_passes_when_the_digits_match() -> None:
    """The Alcatel's record holds exactly the digits sent: does the check pass?"""
    result = alcatel_got_dtmf(record("4321#"), "4321#")
    assert result.ok and result.message == "the Alcatel received '4321#' as RFC 4733 telephone-events in the RTP stream"


@pytest.mark.parametrize(("alcatel", "digits", "message"), [
    (record("1"), ..., "choose your digits first: set my_digits (0-9, * and #) and send them"),
    (None, "1234#", "this lab uses the real desk phone, which reports nothing here: read the digits on its "
                    "display (or check in a capture)"),
    ({}, "1234#", "the Alcatel has had no call yet: call it, then send your digits"),
    (record(""), "1234#", "the Alcatel's last call received no DTMF: send the digits while the call is CONFIRMED "
                          "(call.send_dtmf), once the re-INVITEs are over"),
    (record("12"), "1234#", "the Alcatel received '12' but you sent '1234#': send them again in one call, after "
                            "the call is answered, and wait before hanging up"),
])
def test_alcatel_got_dtmf_fails_with_what_to_do(alcatel: Any, digits: Any, message: str) -> None:
    """Digits not chosen, the real phone, no call, nothing or part received: is the hint exact?"""
    result = alcatel_got_dtmf(alcatel, digits)
    assert not result.ok and result.message == message


# -- heard_the_alcatel -------------------------------------------------------------------------


def test_heard_the_alcatel_passes_on_the_morse_signal(morse_wav: Path) -> None:
    """A finished call whose recording is the Alcatel's signal: does the check find 1000 Hz?"""
    call = make_call(states=("CALLING", "CONFIRMED", "DISCONNECTED"), recording=morse_wav)
    result = heard_the_alcatel(call)
    seconds = len(alcatel_signal(RATE)) / RATE
    assert result.ok and result.message == f"{seconds:.1f} s of audio peaking at 1000.0 Hz: the Alcatel's Morse code"


def test_heard_the_alcatel_fails_on_another_tone(tmp_path: Path) -> None:
    """The phone heard its own 440 Hz (an echo): does the check name the frequency it found?"""
    t = np.arange(RATE * 2) / RATE
    tone = write_wav(tmp_path / "echo.wav", (8000 * np.sin(2 * np.pi * 440 * t)).astype(np.int16), RATE)
    result = heard_the_alcatel(make_call(states=("CALLING", "CONFIRMED", "DISCONNECTED"), recording=tone))
    assert not result.ok
    assert result.message == ("what your phone heard peaks at 440 Hz, not at the Alcatel's 1000 Hz: did the call "
                              "reach the Alcatel, and did it last until it answered?")


@pytest.mark.parametrize(("call", "message"), [
    (None, "there is no call yet: call the Alcatel first"),
    (make_call(states=("CALLING", "CONFIRMED")),
     "the call is still up: hang up first (the recording is complete once the call is over)"),
    (make_call(states=("CALLING", "DISCONNECTED"), status=404, reason="Not Found"),
     "the call was never answered, so there is no audio: call the Alcatel and wait until it answers"),
    (make_call(states=("CALLING", "CONFIRMED", "DISCONNECTED")),
     "this call has no recording: make the phone with record=True (the default) and call again"),
])
def test_heard_the_alcatel_fails_with_what_to_do(call: Call | None, message: str) -> None:
    """No call, a call still up, never answered, not recorded: is the hint exact?"""
    result = heard_the_alcatel(call)
    assert not result.ok and result.message == message


def test_heard_the_alcatel_wants_more_than_a_blip(tmp_path: Path) -> None:
    """A recording of a tenth of a second: does the check ask to stay in the call longer?"""
    short = write_wav(tmp_path / "short.wav", alcatel_signal(RATE)[: RATE // 10], RATE)
    result = heard_the_alcatel(make_call(states=("CALLING", "CONFIRMED", "DISCONNECTED"), recording=short))
    assert result.message == "the recording lasts 0.1 s: stay in the call a few seconds after the Alcatel answers"


# -- incoming_answered ---------------------------------------------------------------------------


def test_incoming_answered_passes_with_rtp() -> None:
    """An incoming call answered, with RTP received: does the check pass and count the packets?"""
    call = make_call(direction="incoming", states=("INCOMING", "CONNECTING", "CONFIRMED", "DISCONNECTED"),
                     stats={"rx_packets": 97})
    result = incoming_answered(call)
    assert result.ok and result.message == "your phone sent the 200 OK and received 97 RTP packets from the Alcatel"


@pytest.mark.parametrize(("call", "message"), [
    (None, "there is no incoming call yet: make the Alcatel call you and wait for it (rpi.wait_incoming())"),
    (make_call(states=("CALLING", "CONFIRMED")),
     "this is a call your phone placed: check the call the Alcatel made to you"),
    (make_call(direction="incoming", states=("INCOMING",)), "the call is still ringing: answer it (incoming.answer())"),
    (make_call(direction="incoming", states=("INCOMING", "DISCONNECTED"), status=487, reason="Request Terminated"),
     "the call ended (487 Request Terminated) before you answered: make the Alcatel call again and answer while "
     "it rings"),
    (make_call(direction="incoming", states=("INCOMING", "CONNECTING")),
     "the call is CONNECTING: wait for CONFIRMED and run the check again"),
    (make_call(direction="incoming", states=("INCOMING", "CONFIRMED", "DISCONNECTED"), stats={"rx_packets": 0}),
     "you answered but received no RTP packet: stay in the call a second or two before hanging up"),
])
def test_incoming_answered_fails_with_what_to_do(call: Call | None, message: str) -> None:
    """No call, an outgoing one, still ringing, missed, unfinished, no media: is the hint exact?"""
    result = incoming_answered(call)
    assert not result.ok and result.message == message


# -- panel_call ---------------------------------------------------------------------------------------


def fake_panel(calls: list[Call], dtmf: dict[Call, str]) -> Any:
    """What panel_call reads of a PhonePanel (its calls and the keys pressed in each), inside a CallPanel."""
    return SimpleNamespace(phone_panel=SimpleNamespace(calls=calls, dtmf_by_call=dtmf))


def test_panel_call_passes_after_call_keys_and_hang_up() -> None:
    """Call 5001 answered, key 5 pressed, hung up, the Alcatel reports '5': does the check pass?"""
    call = make_call(states=("CALLING", "CONFIRMED", "DISCONNECTED"))
    alcatel: Any = SimpleNamespace(status=lambda: {"calls": [record("5")]})
    result = panel_call(fake_panel([call], {call: "5"}), "5001", alcatel)
    assert result.ok
    assert result.message == "the panel called 5001: answered, keys '5' sent during the call (0.0 s), hung up"


@pytest.mark.parametrize(("calls", "keys", "message"), [
    ([], {}, "the panel has placed no call yet: type 5001 and press Call"),
    ([make_call(number="9999", states=("CALLING", "DISCONNECTED"), status=404)], {},
     "no call from the panel to 5001 was answered yet: press Call with 5001 in the number field and watch the "
     "status line reach CONFIRMED"),
    ([make_call(states=("CALLING", "CONFIRMED", "DISCONNECTED"))], {},
     "your call was answered but no key was pressed during it: press a key of the dial pad while the status line "
     "says CONFIRMED"),
    ([make_call(states=("CALLING", "CONFIRMED"))], "live",
     "the call is still up: press Hang up"),
])
def test_panel_call_fails_with_what_to_do(calls: list[Call], keys: Any, message: str) -> None:
    """No call, only 9999, no key pressed, still up: is the hint exact?"""
    dtmf = {calls[0]: "5"} if keys == "live" else keys
    result = panel_call(fake_panel(calls, dtmf), "5001")
    assert not result.ok and result.message == message


def test_panel_call_fails_when_the_alcatel_got_nothing() -> None:
    """Keys pressed but the Alcatel reports none (pressed before the re-INVITEs settled): is that said?"""
    call = make_call(states=("CALLING", "CONFIRMED", "DISCONNECTED"))
    alcatel: Any = SimpleNamespace(status=lambda: {"calls": [record("")]})
    result = panel_call(fake_panel([call], {call: "5"}), "5001", alcatel)
    assert not result.ok
    assert result.message == ("you pressed '5' but the Alcatel did not report those digits: press the keys a second "
                              "after CONFIRMED and wait a moment before hanging up")


def test_panel_call_given_something_else_is_a_misuse() -> None:
    """Passing the phone instead of the panel: is that an error that says what to pass?"""
    with pytest.raises(VoipLabError, match="panel is a str, not a phone panel"):
        panel_call("rpi", "5001")  # type: ignore[arg-type]


# -- on the real lab ------------------------------------------------------------------------------------


@pytest.mark.asterisk
@pytest.mark.pjsua2
def test_checks_on_real_calls_both_directions(lab: Lab) -> None:
    """A real call to the Alcatel with DTMF, then the Alcatel's call answered: does every check pass?"""
    alcatel = lab.simulated_alcatel
    assert alcatel is not None
    number = lab.config.account("alcatel").number
    with lab.phone("rpi", audio="tone:440") as rpi:
        rpi.register()
        call = rpi.call(number)
        call.wait("CONFIRMED", timeout=5)
        assert call_answered(call, number).ok
        assert not heard_the_alcatel(call).ok  # still up
        alcatel.wait_in_call(timeout=8)
        time.sleep(1.5)
        call.send_dtmf("42#")
        time.sleep(1.5)
        call.hangup()
        alcatel.wait_call_ended(timeout=5)
        assert alcatel_got_dtmf(alcatel, "42#").ok, alcatel_got_dtmf(alcatel, "42#")
        assert not alcatel_got_dtmf(alcatel, "43#").ok
        assert heard_the_alcatel(call).ok, heard_the_alcatel(call)
        alcatel.call(rpi.number)
        incoming = rpi.wait_incoming(timeout=5)
        assert incoming_answered(incoming).message == "the call is still ringing: answer it (incoming.answer())"
        incoming.answer()
        incoming.wait("CONFIRMED", timeout=5)
        time.sleep(1)
        incoming.hangup()
        alcatel.wait_call_ended(timeout=5)
        assert incoming_answered(incoming).ok, incoming_answered(incoming)
