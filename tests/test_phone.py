"""The kernel-safe softphone against the real local Asterisk (no mocks).

Each test answers one question a student could ask in notebook 03 or 06.
"""

from __future__ import annotations

import dataclasses
import os
import re
import signal
import socket
import subprocess
import sys
import time

import pytest
from conftest import eventually

from voiplab.config import LabConfig, local_address
from voiplab.core.flow import TraceEntry
from voiplab.core.sip import SipMessage
from voiplab.errors import CallError, PhoneDied, PhoneError, RegistrationError

pytestmark = [pytest.mark.asterisk, pytest.mark.pjsua2]

#: the current user's local lab (127.A.B from the uid)
PBX, RPI = local_address(80), local_address(82)


@pytest.fixture()
def phones(pbx):
    """Create phones through this; every one is closed after the test."""
    from voiplab.devices.phone import Phone

    made: list[Phone] = []

    def make(*args, **kwargs) -> Phone:
        p = Phone(*args, **kwargs)
        made.append(p)
        return p

    yield make
    for p in made:
        p.close()


def test_rpi_registers_and_asterisk_sees_its_contact(pbx, phones):
    """Does rpi get 200 OK, and does `pjsip show endpoints` show it at its address (127.A.B.82)?"""
    t0 = time.monotonic()
    rpi = phones("rpi")
    reg = rpi.register()
    started_to_registered = time.monotonic() - t0
    assert reg.status == 200
    assert rpi.registered
    assert started_to_registered < 2.0
    rows = {e.name: e for e in pbx.endpoints()}
    assert rows["rpi"].contact_address is not None
    assert rows["rpi"].contact_address.startswith(RPI)
    assert "registered" in repr(rpi) and RPI in repr(rpi)
    # and the command students use shows it too
    status = subprocess.run([sys.executable, "-m", "voiplab", "lab", "status"], capture_output=True, text=True,
                            timeout=60, check=True).stdout
    assert re.search(rf"^\s+rpi\s+5002\s+Not in use\s+{re.escape(RPI)}:\d+", status, re.M), status


def test_trace_shows_the_digest_exchange(phones):
    """Does the trace hold REGISTER, 401 with a challenge, REGISTER with Authorization, 200 OK?"""
    rpi = phones("rpi")
    rpi.register()
    # Asterisk's qualify OPTIONS may interleave: keep the REGISTER transaction messages
    msgs = [m for m in rpi.trace() if " REGISTER\r\n" in m["raw"]][:4]
    first_lines = [(m["direction"], m["raw"].split("\r\n", 1)[0]) for m in msgs]
    assert first_lines == [
        ("tx", f"REGISTER sip:{PBX}:5060 SIP/2.0"),
        ("rx", "SIP/2.0 401 Unauthorized"),
        ("tx", f"REGISTER sip:{PBX}:5060 SIP/2.0"),
        ("rx", "SIP/2.0 200 OK"),
    ]
    assert "WWW-Authenticate: Digest" in msgs[1]["raw"]
    assert "Authorization: Digest" in msgs[2]["raw"]
    assert msgs[0]["local"] == f"{RPI}:5060" and msgs[0]["remote"] == f"{PBX}:5060"
    assert msgs[0]["transport"] == "UDP"
    assert msgs[0]["time"] <= msgs[3]["time"] <= time.time()


def test_wrong_password_is_refused(phones):
    """Does a wrong password give a RegistrationError naming the account, the server and 401/403?"""
    rpi = phones("rpi", password="not-the-password")
    with pytest.raises(RegistrationError) as err:
        rpi.register()
    assert err.value.status in (401, 403)
    text = str(err.value)
    assert "rpi" in text and f"{PBX}:5060" in text and str(err.value.status) in text
    assert not rpi.registered


def test_pbx_down_fails_within_5_seconds(pbx, phones):
    """With nothing listening at the PBX address, does register() fail (not hang) within 5 s?"""
    cfg = LabConfig()
    dead = local_address(98)  # nothing listens there: on the user's own block, never another user's PBX
    cfg = cfg.with_overrides(pbx=dataclasses.replace(cfg.pbx, host=dead))
    rpi = phones("rpi", cfg)
    t0 = time.monotonic()
    with pytest.raises(RegistrationError) as err:
        rpi.register()
    assert time.monotonic() - t0 <= 5.0
    assert err.value.status is None
    assert "timed out" in str(err.value) and f"{dead}:5060" in str(err.value)


def test_unknown_number_gives_404(phones):
    """Does calling 9999 end in a CallError carrying Asterisk's 404?"""
    rpi = phones("rpi")
    rpi.register()
    call = rpi.call("9999")
    with pytest.raises(CallError) as err:
        call.wait("CONFIRMED", timeout=5)
    assert err.value.status == 404
    assert err.value.reason == "Not Found"
    assert call.state == "DISCONNECTED"


def test_calling_before_register_is_a_clear_error(phones):
    """Does call() before register() say what to do?"""
    rpi = phones("rpi")
    with pytest.raises(PhoneError, match=r"not registered: call phone.register\(\) first"):
        rpi.call("5001")


def test_address_in_use_names_the_address(phones):
    """Does a second phone on a taken address say which address:port is taken?"""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((RPI, 5060))
        with pytest.raises(PhoneError, match=re.escape(f"{RPI}:5060 (UDP) is already in use")):
            phones("rpi", bind_wait=0.2)


def test_two_phones_call_each_other(phones):
    """Can rpi and guillaume live in one process, register at once and talk (RTP both ways, DTMF)?"""
    rpi = phones("rpi", audio="tone:440")
    gui = phones("guillaume", audio="tone:1000")
    rpi.register()
    gui.register()
    call = rpi.call("5003")
    incoming = gui.wait_incoming(timeout=5)
    assert incoming.number == "5002"
    incoming.answer()
    call.wait("CONFIRMED", timeout=5)
    incoming.wait("CONFIRMED", timeout=5)
    time.sleep(1.5)  # past Asterisk's direct-media re-INVITEs
    call.send_dtmf("42#")
    time.sleep(1.0)
    call.hangup()
    incoming.wait("DISCONNECTED", timeout=5)
    call.wait("DISCONNECTED", timeout=5)
    assert incoming.dtmf_received == "42#"
    assert call.stats()["rx_packets"] > 0 and incoming.stats()["rx_packets"] > 0


def test_direct_media_keeps_rtp_phone_to_phone(phones):
    """After the direct-media re-INVITEs, do both phones send RTP to each other, never back to the PBX?

    pjmedia's "latching" (send to wherever packets come from) is switched off on every call's
    RTP transport: a packet Asterisk still relays during the re-INVITEs would otherwise pull
    both phones back to the PBX (about 1 call in 10 under load, issue 10).
    """
    rpi = phones("rpi", audio="tone:440")
    gui = phones("guillaume", audio="tone:1000")
    rpi.register()
    gui.register()
    cfg = LabConfig()
    for _ in range(3):
        call = rpi.call("5003")
        incoming = gui.wait_incoming(timeout=5)
        incoming.answer()
        call.wait("CONFIRMED", timeout=5)
        # Asterisk's direct-media re-INVITEs arrive about 1 s after the answer (later on a loaded machine)
        eventually(lambda c=call: c.stats()["remote_rtp"].startswith(cfg.account("guillaume").address + ":"),
                   timeout=8, what="rpi's RTP sent straight to guillaume")
        eventually(lambda c=incoming: c.stats()["remote_rtp"].startswith(cfg.account("rpi").address + ":"),
                   timeout=8, what="guillaume's RTP sent straight to rpi")
        assert call.stats()["rtp_latching"] == incoming.stats()["rtp_latching"] == "off"
        call.hangup()
        call.wait("DISCONNECTED", timeout=5)
        incoming.wait("DISCONNECTED", timeout=5)
    for phone in (rpi, gui):
        log = phone.workdir.joinpath("agent.log").read_text(errors="replace")
        assert "RTP latching left on" not in log, log[-2000:]


def _dialog_messages(trace: list[TraceEntry], direction: str, call_id: str) -> list[SipMessage]:
    """The SIP messages of one dialog (Call-ID) that a phone sent ("tx") or received ("rx")."""
    messages = [SipMessage.parse(m["raw"]) for m in trace if m["direction"] == direction]
    return [m for m in messages if m.call_id == call_id]


def test_decline_sends_486(phones):
    """Does decline() answer the INVITE with 486 Busy Here, and does the caller, whom Asterisk's
    Answer(500) had already answered, then get a BYE?"""
    rpi = phones("rpi")
    gui = phones("guillaume")
    rpi.register()
    gui.register()
    call = rpi.call("5003")
    incoming = gui.wait_incoming(timeout=5)
    incoming.decline()
    incoming.wait("DISCONNECTED", timeout=5)
    call.wait("DISCONNECTED", timeout=5)
    # the callee's own trace: its one final answer to Asterisk's INVITE is 486 Busy Here
    sent = _dialog_messages(gui.trace(), "tx", incoming.call_id)
    finals = [m.start_line for m in sent
              if m.is_response and m.cseq is not None and m.cseq.method == "INVITE" and m.status >= 200]
    assert finals == ["SIP/2.0 486 Busy Here"]
    assert (incoming.status, incoming.reason) == (486, "Busy Here")
    # the caller: Answer(500) sent it 200 OK before the callee even rang, so the refusal
    # reaches it as a BYE from Asterisk, never as a 486
    received = _dialog_messages(rpi.trace(), "rx", call.call_id)
    invite_answers = [m.status for m in received if m.is_response and m.cseq is not None
                      and m.cseq.method == "INVITE" and m.status >= 200]
    # the digest challenge, then Answer(500)'s 200 OK (a retransmission of it is no new answer)
    assert list(dict.fromkeys(invite_answers)) == [401, 200]
    assert [m.method for m in received if m.is_request] == ["BYE"]
    assert call.confirmed_at is not None


def test_killed_agent_raises_phone_died_and_a_new_phone_registers(phones):
    """After SIGKILL of the agent, does the phone raise PhoneDied (no hang) and a new one register?"""
    rpi = phones("rpi")
    rpi.register()
    os.kill(rpi.pid, signal.SIGKILL)
    t0 = time.monotonic()
    with pytest.raises(PhoneDied, match="SIGKILL"):
        rpi.call("5001")
        rpi.call("5001")
    assert time.monotonic() - t0 < 3.0
    assert "agent dead" in repr(rpi)
    again = phones("rpi")
    assert again.register().status == 200


def test_close_is_idempotent_and_context_manager(pbx):
    """Does `with Phone(...)` close the agent, and can close() be called twice?"""
    from voiplab.devices.phone import Phone

    with Phone("rpi") as rpi:
        rpi.register()
        pid = rpi.pid
    rpi.close()
    with pytest.raises(PhoneError, match="closed"):
        rpi.register()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
