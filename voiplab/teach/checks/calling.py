"""Check cells of notebook 06 (calling the Alcatel, both directions; chapter 5 of the report).

Each check looks at what the student made (their call, the Alcatel's record of it, their
panel) and returns a :class:`~voiplab.teach.checks.CheckResult`: what was seen, or what to
look at. A wrong or missing result never raises.

Taught in notebook 06.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, cast

from ...core.audio import dominant_frequency
from ...devices.alcatel import ALCATEL_SIGNAL_HZ, AlcatelCallRecord, SimulatedAlcatel, detect_alcatel_signal
from ...devices.phone import Call
from ...devices.wire import CallState
from ...errors import VoipLabError
from . import CheckResult, failed, passed

if TYPE_CHECKING:
    from ...widgets.panels import PhonePanel

__all__ = ["alcatel_got_dtmf", "call_answered", "heard_the_alcatel", "incoming_answered", "panel_call"]

#: the names of the checks, as the student reads them
CALL_ANSWERED = "your call to the Alcatel was answered"
ALCATEL_GOT_DTMF = "the Alcatel received your DTMF digits"
HEARD_THE_ALCATEL = "your phone heard the Alcatel's signal"
INCOMING_ANSWERED = "you answered the Alcatel's call"
PANEL_CALL = "the panel called the Alcatel, sent a key, hung up"
#: what the notebook's stub cells hold before the student writes the line
_NOT_WRITTEN = (None, ..., "", "...")


class _HasPhonePanel(Protocol):
    """A :class:`~voiplab.widgets.panels.CallPanel` (the phone panel beside the Alcatel's)."""

    phone_panel: PhonePanel


def _is_call(value: object, name: str) -> Call | None:
    """``value`` as a Call, ``None`` for "not yet"; anything else is a misuse of the check."""
    if value in _NOT_WRITTEN:
        return None
    if not isinstance(value, Call):
        raise VoipLabError(f"{name} is a {type(value).__name__}, not a Call: pass the call your phone made "
                           "(call = rpi.call(...)) or received (incoming = rpi.wait_incoming())")
    return value


def _reached(call: Call, state: CallState) -> bool:
    return any(s == state for _t, s in call.history)


def call_answered(call: Call | None, number: str) -> CheckResult:
    """Did the student's outgoing call to ``number`` (the Alcatel) reach CONFIRMED (200 OK)?

    Parameters:
        call: the call the student placed (``rpi.call(...)``), or ``None`` if not yet.
        number: the Alcatel's number (``lab.config.account("alcatel").number``).

    Taught in notebook 06.
    """
    the_call = _is_call(call, "call")
    if the_call is None:
        return failed(CALL_ANSWERED, "there is no call yet: run the cell that dials the Alcatel")
    if the_call.direction != "outgoing":
        return failed(CALL_ANSWERED, "this call came in to your phone: check the call your phone placed "
                                     "(the result of rpi.call)")
    if the_call.number != str(number):
        return failed(CALL_ANSWERED, f"your call went to {the_call.number}, not to the Alcatel: dial the "
                                     "Alcatel's number (lab.config.account('alcatel').number)")
    confirmed = the_call.confirmed_at
    if confirmed is None:
        if the_call.state == CallState.DISCONNECTED:
            why = f"{the_call.status} {the_call.reason}" if the_call.status else "no answer"
            return failed(CALL_ANSWERED, f"the call ended with {why} before it was answered: is the Alcatel "
                                         "registered (lab.status())? Dial again")
        return failed(CALL_ANSWERED, f"the call is still {the_call.state}: wait for CONFIRMED "
                                     "(call.wait('CONFIRMED')) and run the check again")
    after = confirmed - the_call.history[0][0]
    return passed(CALL_ANSWERED, f"the call to {number} was answered (200 OK, CONFIRMED) {after * 1000:.0f} ms "
                                 "after your INVITE")


def _alcatel_record(alcatel: SimulatedAlcatel | AlcatelCallRecord) -> AlcatelCallRecord | None:
    """The Alcatel's current call, else its last one (``None``: no call at all)."""
    if isinstance(alcatel, SimulatedAlcatel):
        status = alcatel.status()
        return status.get("current") or (status["calls"][-1] if status.get("calls") else None)
    return alcatel


def alcatel_got_dtmf(alcatel: SimulatedAlcatel | AlcatelCallRecord | None, digits: str | None) -> CheckResult:
    """Did the Alcatel receive, in its last call, exactly the DTMF ``digits`` the student sent?

    Parameters:
        alcatel: the simulated Alcatel (``lab.simulated_alcatel``) or one of its call records;
            ``None`` with the real desk phone (read its display instead).
        digits: the digits the student chose and sent (``my_digits``).

    Taught in notebook 06.
    """
    if digits in _NOT_WRITTEN:
        return failed(ALCATEL_GOT_DTMF, "choose your digits first: set my_digits (0-9, * and #) and send them")
    if alcatel is None:
        return failed(ALCATEL_GOT_DTMF, "this lab uses the real desk phone, which reports nothing here: read "
                                        "the digits on its display (or check in a capture)")
    record = _alcatel_record(alcatel)
    if not record:
        return failed(ALCATEL_GOT_DTMF, "the Alcatel has had no call yet: call it, then send your digits")
    got = record.get("dtmf", "")
    if not got:
        return failed(ALCATEL_GOT_DTMF, "the Alcatel's last call received no DTMF: send the digits while the "
                                        "call is CONFIRMED (call.send_dtmf), once the re-INVITEs are over")
    if got != digits:
        return failed(ALCATEL_GOT_DTMF, f"the Alcatel received {got!r} but you sent {digits!r}: send them again "
                                        "in one call, after the call is answered, and wait before hanging up")
    return passed(ALCATEL_GOT_DTMF, f"the Alcatel received {got!r} as RFC 4733 telephone-events in the RTP "
                                    "stream")


def heard_the_alcatel(call: Call | None) -> CheckResult:
    """Does the recording of what the student's phone heard hold the Alcatel's 1000 Hz Morse signal?

    Parameters:
        call: a finished call with the Alcatel (outgoing or incoming).

    Taught in notebook 06.
    """
    the_call = _is_call(call, "call")
    if the_call is None:
        return failed(HEARD_THE_ALCATEL, "there is no call yet: call the Alcatel first")
    if the_call.state != CallState.DISCONNECTED:
        return failed(HEARD_THE_ALCATEL, "the call is still up: hang up first (the recording is complete once "
                                         "the call is over)")
    if the_call.confirmed_at is None:
        return failed(HEARD_THE_ALCATEL, "the call was never answered, so there is no audio: call the Alcatel "
                                         "and wait until it answers")
    try:
        samples, rate = the_call.recording()
    except VoipLabError:
        return failed(HEARD_THE_ALCATEL, "this call has no recording: make the phone with record=True "
                                         "(the default) and call again")
    if len(samples) < rate // 2:
        return failed(HEARD_THE_ALCATEL, f"the recording lasts {len(samples) / rate:.1f} s: stay in the call a "
                                         "few seconds after the Alcatel answers")
    peak = dominant_frequency(samples, rate)
    if not detect_alcatel_signal(samples, rate):
        return failed(HEARD_THE_ALCATEL, f"what your phone heard peaks at {peak:.0f} Hz, not at the Alcatel's "
                                         f"{ALCATEL_SIGNAL_HZ:.0f} Hz: did the call reach the Alcatel, and did it "
                                         "last until it answered?")
    return passed(HEARD_THE_ALCATEL, f"{len(samples) / rate:.1f} s of audio peaking at {peak:.1f} Hz: the "
                                     "Alcatel's Morse code")


def incoming_answered(call: Call | None) -> CheckResult:
    """Did the student answer the Alcatel's call (200 OK from their phone) and receive its RTP?

    Parameters:
        call: the incoming call (``rpi.wait_incoming()``), or ``None`` if not yet.

    Taught in notebook 06.
    """
    the_call = _is_call(call, "incoming")
    if the_call is None:
        return failed(INCOMING_ANSWERED, "there is no incoming call yet: make the Alcatel call you and wait "
                                         "for it (rpi.wait_incoming())")
    if the_call.direction != "incoming":
        return failed(INCOMING_ANSWERED, "this is a call your phone placed: check the call the Alcatel made "
                                         "to you")
    if the_call.confirmed_at is None:
        if the_call.state in (CallState.INCOMING, CallState.EARLY):
            return failed(INCOMING_ANSWERED, "the call is still ringing: answer it (incoming.answer())")
        if the_call.state == CallState.DISCONNECTED:
            why = f"{the_call.status} {the_call.reason}" if the_call.status else "no answer"
            return failed(INCOMING_ANSWERED, f"the call ended ({why}) before you answered: make the Alcatel "
                                             "call again and answer while it rings")
        return failed(INCOMING_ANSWERED, f"the call is {the_call.state}: wait for CONFIRMED and run the check "
                                         "again")
    rx = int(the_call.stats().get("rx_packets", 0))
    if rx == 0:
        return failed(INCOMING_ANSWERED, "you answered but received no RTP packet: stay in the call a second or "
                                         "two before hanging up")
    return passed(INCOMING_ANSWERED, f"your phone sent the 200 OK and received {rx} RTP packets from the "
                                     "Alcatel")


def _phone_panel(panel: PhonePanel | _HasPhonePanel) -> PhonePanel:
    inner = getattr(panel, "phone_panel", panel)
    if not hasattr(inner, "calls") or not hasattr(inner, "dtmf_by_call"):
        raise VoipLabError(f"panel is a {type(panel).__name__}, not a phone panel: pass the panel made by "
                           "vl.widgets.call_panel(lab)")
    return cast("PhonePanel", inner)


def panel_call(panel: PhonePanel | _HasPhonePanel, number: str,
               alcatel: SimulatedAlcatel | None = None) -> CheckResult:
    """Did the student's panel call ``number``, get an answer, send a key during the call and hang up?

    Parameters:
        panel: the call panel (``vl.widgets.call_panel(lab)``) or a phone panel.
        number: the Alcatel's number.
        alcatel: the simulated Alcatel, to confirm it received the keys (``None``: not checked).

    Taught in notebook 06.
    """
    inner = _phone_panel(panel)
    calls = [c for c in inner.calls if c.direction == "outgoing"]
    if not calls:
        return failed(PANEL_CALL, f"the panel has placed no call yet: type {number} and press Call")
    answered = [c for c in calls if c.number == str(number) and c.confirmed_at is not None]
    if not answered:
        return failed(PANEL_CALL, f"no call from the panel to {number} was answered yet: press Call with "
                                  f"{number} in the number field and watch the status line reach CONFIRMED")
    with_keys = [c for c in answered if inner.dtmf_by_call.get(c)]
    if not with_keys:
        return failed(PANEL_CALL, "your call was answered but no key was pressed during it: press a key of the "
                                  "dial pad while the status line says CONFIRMED")
    done = [c for c in with_keys if c.state == CallState.DISCONNECTED]
    if not done:
        return failed(PANEL_CALL, "the call is still up: press Hang up")
    call = done[-1]
    keys = inner.dtmf_by_call[call]
    if alcatel is not None:
        records = alcatel.status().get("calls") or []
        if not any(r.get("dtmf") == keys for r in records):
            return failed(PANEL_CALL, f"you pressed {keys!r} but the Alcatel did not report those digits: press "
                                      "the keys a second after CONFIRMED and wait a moment before hanging up")
    return passed(PANEL_CALL, f"the panel called {number}: answered, keys {keys!r} sent during the call "
                              f"({call.duration:.1f} s), hung up")
