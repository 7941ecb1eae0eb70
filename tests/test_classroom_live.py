"""A rendered class served by a real Asterisk, with real phones (issue 14): no mocks.

A two-student class is rendered and served on .30 of the user's loopback block (``ClassroomPbx``),
its Alcatel is the simulated desk phone on .31 registered with the class's ``alcatel`` account, the
instructor's ``ClassroomMonitor`` follows the server's events, and the students' phones are
pjsua2 phones made from their own ``lab.toml`` on .33-36 (127.0.0.x for root: two users may run
the suite at once).
"""

from __future__ import annotations

import importlib.util
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import require

from voiplab.config import Account, AlcatelConfig, LabConfig, PbxConfig, load_config, local_address
from voiplab.devices.alcatel import SimulatedAlcatel
from voiplab.devices.classroom import (
    ALCATEL_NUMBER,
    MOH_NUMBER,
    ClassroomFiles,
    ClassroomMonitor,
    ClassroomPbx,
    ClassSnapshot,
    render_classroom,
)
from voiplab.devices.pbx import find_asterisk
from voiplab.devices.phone import Phone
from voiplab.errors import CallError, PbxError

pytestmark = [pytest.mark.asterisk, pytest.mark.pjsua2]

SERVER = local_address(30)
ALCATEL_ADDRESS = local_address(31)
#: the simulated Alcatel: answers quickly, keeps each call this long (then the queue's next caller)
ALCATEL_RING_S = 0.3
ALCATEL_HOLD_S = 3.0
ROSTER = "id,name\nada,Ada Lovelace\nalan,Alan Turing\n"


@dataclass
class LiveClass:
    """The class being served: its files, Asterisk, the simulated Alcatel and the instructor's monitor."""

    files: ClassroomFiles
    pbx: ClassroomPbx
    alcatel: SimulatedAlcatel
    monitor: ClassroomMonitor

    def lab_toml(self, student: str) -> LabConfig:
        return load_config(self.files.students / student / "lab.toml")


@pytest.fixture(scope="module")
def live_class() -> Iterator[LiveClass]:
    """A two-student class rendered into a private temporary directory and served; all stopped after."""
    try:
        find_asterisk()
    except PbxError as e:
        require(False, "Asterisk", str(e))
    require(importlib.util.find_spec("pjsua2") is not None, "pjsua2", "pip install pjsua2-python")
    tmp = Path(tempfile.mkdtemp(prefix="vlclass-test-"))
    stops: list[Callable[[], object]] = []
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("VOIPLAB_STATE_DIR", str(tmp / "state"))
        try:
            (tmp / "roster.csv").write_text(ROSTER)
            files = render_classroom(tmp / "roster.csv", tmp / "class", server=SERVER,
                                     alcatel_address=ALCATEL_ADDRESS, instructor_address=SERVER)
            pbx = ClassroomPbx(tmp / "class")
            pbx.start()
            stops.append(pbx.stop)
            desk = Account("alcatel", ALCATEL_NUMBER, "Alcatel IP Touch", files.classroom.alcatel.password,
                           ALCATEL_ADDRESS)
            alcatel = SimulatedAlcatel(LabConfig(pbx=PbxConfig(mode="classroom", host=SERVER),
                                                 accounts=(desk,),
                                                 alcatel=AlcatelConfig(ring_s=ALCATEL_RING_S,
                                                                       max_call_s=ALCATEL_HOLD_S)),
                                       lab_dir=tmp / "alcatel")
            stops.append(alcatel.stop)
            alcatel.start(timeout=10)
            monitor = ClassroomMonitor(tmp / "class").start()
            stops.append(monitor.stop)
            yield LiveClass(files, pbx, alcatel, monitor)
        finally:
            for stop in reversed(stops):
                stop()
            shutil.rmtree(tmp, ignore_errors=True)


@dataclass
class Student:
    """A student's two phones, made from their lab.toml (not registered yet)."""

    id: str
    pi: Phone
    second: Phone


@pytest.fixture(scope="module")
def students(live_class: LiveClass) -> Iterator[list[Student]]:
    """Ada's and Alan's phones on the user's .33-36; closed after the module."""
    made: list[Phone] = []
    try:
        out = []
        for n, sid in enumerate(("ada", "alan")):
            cfg = live_class.lab_toml(sid)
            pi = Phone("rpi", cfg, address=local_address(33 + n), record=False)
            made.append(pi)
            second = Phone("guillaume", cfg, address=local_address(35 + n), record=False)
            made.append(second)
            out.append(Student(sid, pi, second))
        yield out
    finally:
        for phone in made:
            phone.close()


def register_at_once(phones: list[Phone]) -> list[object]:
    """REGISTER every phone at the same moment (one thread each, released together); their results."""
    start = threading.Barrier(len(phones))
    results: list[object] = [None] * len(phones)

    def register(i: int) -> None:
        start.wait()
        try:
            results[i] = phones[i].register(timeout=5)
        except Exception as e:  # noqa: BLE001 - reported by the test
            results[i] = e

    threads = [threading.Thread(target=register, args=(i,)) for i in range(len(phones))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(15)
    return results


def wait_for(what: str, check: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"{what} within {timeout:g} s"
        time.sleep(0.05)


@pytest.fixture()
def pis(students: list[Student]) -> list[Phone]:
    """Both students' "Raspberry Pi", registered (with their second phones)."""
    phones = [p for s in students for p in (s.pi, s.second)]
    if not all(p.registered for p in phones):
        register_at_once(phones)
    return [s.pi for s in students]


def test_two_students_registering_at_once_keep_both_contacts(live_class: LiveClass,
                                                              students: list[Student]) -> None:
    """Two students REGISTER at the same moment: does the server keep both, each at its own phone?

    Both students' "Raspberry Pi" and second phones (four accounts) register at once.
    """
    phones = {p.account.user: p for s in students for p in (s.pi, s.second)}
    assert sorted(phones) == ["s01-2", "s01-pi", "s02-2", "s02-pi"]
    results = register_at_once(list(phones.values()))
    assert [getattr(r, "status", r) for r in results] == [200] * 4, results

    def all_seen() -> bool:
        seen = live_class.monitor.snapshot().registered
        return all(f"@{p.address}:" in seen.get(user, "") for user, p in phones.items())

    wait_for("the instructor's monitor shows every registration", all_seen, 3)
    time.sleep(1.0)  # and none is replaced afterwards
    assert all_seen(), live_class.monitor.snapshot().registered
    contacts = {e.name: e.contact_address or "" for e in live_class.pbx.endpoints()}
    for user, phone in phones.items():
        assert contacts[user].startswith(phone.address + ":"), (user, contacts)
    assert contacts["alcatel"].startswith(ALCATEL_ADDRESS + ":")


@pytest.mark.parametrize("caller", [0, 1])
def test_calling_the_other_students_number_rings_their_phone(live_class: LiveClass, students: list[Student],
                                                             pis: list[Phone], caller: int) -> None:
    """Ada dials Alan's 6021 (and Alan Ada's 6011): does the right phone ring, with the caller's number?"""
    me, other = pis[caller], pis[1 - caller]
    call = me.call(other.number)
    try:
        incoming = other.wait_incoming(timeout=5)
        assert f"sip:{me.number}@" in incoming.remote
        incoming.answer()
        incoming.wait("CONFIRMED", 5)
        call.wait("CONFIRMED", 5)
        with pytest.raises(CallError, match="no call arrived"):
            me.wait_incoming(timeout=0.2)  # the caller's own phone did not ring
        for s in students:
            with pytest.raises(CallError, match="no call arrived"):
                s.second.wait_incoming(timeout=0.1)
    finally:
        call.hangup()
    incoming.wait("DISCONNECTED", 5)
    # RTP bound to the server's address: Asterisk did not look its own address up (DNS) for the call
    assert "Unable to lookup" not in live_class.pbx.messages_log.read_text()


def test_music_on_hold_plays(pis: list[Phone]) -> None:
    """Does a call to 5000 hear the music (GSM files played as G.711: RTP arrives)?"""
    call = pis[0].call(MOH_NUMBER)
    try:
        call.wait("CONFIRMED", 5)
        time.sleep(1.5)
        stats = call.stats()
    finally:
        call.hangup()
    assert stats.get("rx_packets", 0) > 25, stats  # 50 packets a second once the music plays


def test_the_alcatel_when_busy_queues_the_next_caller(live_class: LiveClass, pis: list[Phone]) -> None:
    """Ada talks to the Alcatel, Alan calls 5001: does he wait in the queue (the monitor sees it), then get it?"""
    ada, alan = pis
    monitor, alcatel = live_class.monitor, live_class.alcatel
    waits_before = len(monitor.snapshot().waits)
    first = ada.call(ALCATEL_NUMBER)
    second = None
    try:
        talking = alcatel.wait_in_call(timeout=5)
        assert f"sip:{ada.number}@" in talking["remote"]
        second = alan.call(ALCATEL_NUMBER)
        second.wait("CONFIRMED", 5)  # Asterisk answers him into the queue

        def alan_waits(snap: ClassSnapshot) -> bool:
            return any(who == alan.number for who, _since in snap.waiting)

        wait_for("the instructor's monitor shows Alan waiting for the Alcatel",
                 lambda: alan_waits(monitor.snapshot()), 3)
        current = alcatel.status()["current"]
        assert current is not None and f"sip:{ada.number}@" in current["remote"]  # still busy with Ada

        def alcatel_talks_to_alan() -> bool:
            now = alcatel.status()["current"] or {}
            return f"sip:{alan.number}@" in now.get("remote", "") and now.get("state") == "CONFIRMED"

        # Ada's call ends after ALCATEL_HOLD_S, the queue's wrap-up time (3 s) passes, then Alan is served
        wait_for("the Alcatel answers Alan after Ada", alcatel_talks_to_alan, ALCATEL_HOLD_S + 10)
        assert first.state == "DISCONNECTED"
        snap = monitor.snapshot()
        assert not alan_waits(snap)
        waits = snap.waits[waits_before:]
        assert len(waits) == 2 and waits[0] < 2.0 and waits[1] > ALCATEL_HOLD_S, waits
        log = (alcatel.lab_dir / "log" / "alcatel.log").read_text()
        assert "busy: declining" not in log  # the queue did not ring the busy desk phone
    finally:
        for call in (first, second):
            if call is not None:
                call.hangup()
    alcatel.wait_call_ended(timeout=5)
