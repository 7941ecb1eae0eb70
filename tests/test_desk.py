"""The real Alcatel seen from a student's notebook (classroom mode): notebook 06's steps say what to
ask at the desk and wait for it.

A real course server (``ClassroomPbx`` from a rendered roster) on the user's .40 (127.0.0.40 for
root); the desk phone is a pjsua2 phone registered with the class's Alcatel account, answered by
"a person" after a delay; the student's phone comes from their own lab.toml.
"""

from __future__ import annotations

import io
import json
import time
from dataclasses import replace

import pytest

from voiplab.config import Account, load_config, local_address
from voiplab.devices.classroom import ClassroomPbx, render_classroom
from voiplab.devices.desk import DeskAlcatel
from voiplab.devices.lab import Lab
from voiplab.devices.phone import Call, Phone, live_calls
from voiplab.errors import CallError

SERVER = local_address(40)  # the user's own block: two users may run the suite at once
DESK = local_address(41)
STUDENT = local_address(42)
#: seconds "the person at the desk" lets the Alcatel ring
PICKUP_DELAY_S = 2.5


@pytest.fixture(scope="module")
def course(tmp_path_factory: pytest.TempPathFactory):
    """A two-student class served on the user's .40, with the desk phone registered."""
    base = tmp_path_factory.mktemp("desk")
    roster = base / "roster.csv"
    roster.write_text("id,name\nana,Ana Lopez\nbruno,Bruno Petit\n")
    render_classroom(roster, base / "class", server=SERVER)
    pbx = ClassroomPbx(base / "class")
    pbx.start()
    state = json.loads((base / "class" / "classroom.json").read_text())
    cfg = load_config(base / "class" / "students" / "ana" / "lab.toml")
    desk_account = Account("alcatel", "5001", "Alcatel IP Touch", state["passwords"]["alcatel"], DESK)

    def person_at_the_desk(call: Call) -> None:
        time.sleep(PICKUP_DELAY_S)
        call.answer()

    desk = Phone(desk_account, cfg, on_incoming=person_at_the_desk, audio="tone:1000")
    try:
        desk.register()
        yield cfg, desk
    finally:
        desk.close()
        pbx.stop()


def test_lab_alcatel_is_the_desk_phone_in_a_classroom(course) -> None:
    """Does a classroom lab give the real desk phone (not the simulated one) with a human-scale wait?"""
    cfg, _desk = course
    alcatel = Lab(cfg).alcatel
    assert isinstance(alcatel, DeskAlcatel) and alcatel.real
    assert alcatel.account.number == "5001" and alcatel.pickup_s >= 60
    assert alcatel.is_running()


def test_no_call_to_the_desk_is_a_clear_error(course) -> None:
    """Does waiting for a pick-up without any call to the desk say to call first (not hang)?"""
    cfg, _desk = course
    assert not [c for c in live_calls() if c.number == "5001"]
    alcatel = DeskAlcatel(cfg, out=io.StringIO())
    with pytest.raises(CallError, match=r"you have no call to the Alcatel \(5001\): call it first"):
        alcatel.wait_in_call()


def test_calling_the_desk_waits_for_someone_to_pick_up(course) -> None:
    """Does wait_in_call say to wait, return only once the desk picked up (direct media from the desk),
    and wait_call_ended give what the student's side saw?"""
    cfg, _desk = course
    out = io.StringIO()
    alcatel = DeskAlcatel(cfg, out=out)
    me = replace(cfg.account("rpi"), address=STUDENT, sip_port=5060)
    phone = Phone(me, cfg)
    try:
        phone.register()
        started = time.monotonic()
        call = phone.call("5001")
        call.wait("CONFIRMED", timeout=10)  # the queue answers at once (position, music)
        record = alcatel.wait_in_call(timeout=8)
        waited = time.monotonic() - started
        assert waited >= PICKUP_DELAY_S - 0.5, f"returned after {waited:.1f} s, before the desk picked up"
        assert record["state"] == "CONFIRMED" and record["number"] == "5001"
        assert "Someone has to pick up the Alcatel on the desk (5001)" in out.getvalue()
        assert alcatel.status()["current"]["state"] == "CONFIRMED"
        time.sleep(1.0)
        stats = call.stats()
        assert stats["rx_packets"] > 0 and stats["tx_packets"] > 0
        call.hangup()
        ended = alcatel.wait_call_ended(timeout=5)
        assert ended["state"] == "DISCONNECTED" and "on its screen" in ended["note"]
    finally:
        phone.close()


def test_nobody_at_the_desk_times_out_with_what_to_do(course) -> None:
    """When nobody picks up, does the step end after its wait with what to do (not hang)?"""
    cfg, desk = course
    on_incoming = desk.on_incoming
    desk.on_incoming = None  # the person left the desk
    me = replace(cfg.account("guillaume"), address=STUDENT, sip_port=5062)
    phone = Phone(me, cfg)
    alcatel = DeskAlcatel(cfg, pickup_s=3.0, out=io.StringIO())
    try:
        phone.register()
        call = phone.call("5001")
        call.wait("CONFIRMED", timeout=10)
        t0 = time.monotonic()
        with pytest.raises(CallError, match=r"nobody picked up the Alcatel within 3 s: ask at the desk"):
            alcatel.wait_in_call(call=call)
        assert time.monotonic() - t0 < 6
        call.hangup()
    finally:
        phone.close()
        desk.on_incoming = on_incoming
