"""The simulated Alcatel IP Touch 4018 against the real local Asterisk (no mocks).

The report's chapter 5 tests, automated: the Raspberry Pi calls 5001 and the
Alcatel answers; the Alcatel calls 5002 and the Raspberry Pi answers.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from voiplab.core.audio import dominant_frequency
from voiplab.devices.alcatel import (
    ALCATEL_SIGNAL_HZ,
    MORSE_UNIT_S,
    SimulatedAlcatel,
    alcatel_signal,
    detect_alcatel_signal,
)
from voiplab.devices.phone import Phone
from voiplab.errors import PhoneError

pytestmark = [pytest.mark.asterisk, pytest.mark.pjsua2]


@pytest.fixture(scope="module")
def alcatel(pbx, tmp_path_factory):
    """The simulated Alcatel: the lab's own if it already runs, else one in a temporary lab dir."""
    shared = SimulatedAlcatel()
    if shared.is_running():
        yield shared
        return
    sim = SimulatedAlcatel(lab_dir=tmp_path_factory.mktemp("alcatel"))
    assert sim.start(timeout=5) is True
    yield sim
    sim.stop()


@pytest.fixture()
def rpi(pbx):
    phone = Phone("rpi", audio="tone:440")
    phone.register()
    yield phone
    phone.close()


def test_signal_is_morse_on_1000_hz():
    """Is the Alcatel's signal a 1000 Hz tone keyed on and off (Morse), not a plain tone?"""
    x = alcatel_signal(8000)
    assert abs(dominant_frequency(x, 8000) - ALCATEL_SIGNAL_HZ) < 5
    unit = int(MORSE_UNIT_S * 8000)
    frames = np.abs(x[: x.size // unit * unit].reshape(-1, unit)).max(axis=1) > 1000
    assert 0.3 < frames.mean() < 0.7  # about as much tone as silence
    assert detect_alcatel_signal(x, 8000)
    assert not detect_alcatel_signal(np.zeros(8000, dtype=np.int16), 8000)


def test_start_is_idempotent_and_registered(alcatel, pbx):
    """Does a second start() return False, and does Asterisk see alcatel at its address (127.0.0.81 by default)?"""
    assert alcatel.start() is False
    st = alcatel.status()
    assert st["registered"] and st["account"] == "alcatel/5001"
    rows = {e.name: e for e in pbx.endpoints()}
    from voiplab.config import load_config

    assert (rows["alcatel"].contact_address or "").startswith(load_config().account("alcatel").address + ":")
    assert "running" in repr(alcatel)


def test_rpi_calls_the_alcatel(alcatel, rpi):
    """rpi calls 5001: does the Alcatel answer, RTP flow both ways, its signal reach rpi, DTMF arrive?"""
    call = rpi.call("5001")
    call.wait("CONFIRMED", timeout=5)  # Asterisk's Answer(500): before the Alcatel even rings
    deadline = time.monotonic() + 8
    while (alcatel.status().get("current") or {}).get("state") != "CONFIRMED":
        assert time.monotonic() < deadline, "the simulated Alcatel did not answer"
        time.sleep(0.1)
    time.sleep(1.5)
    call.send_dtmf("1234#")
    time.sleep(2.0)
    call.hangup()
    call.wait("DISCONNECTED", timeout=5)
    record = alcatel.wait_call_ended(timeout=5)
    assert record["direction"] == "incoming" and record["number"] == "5002"
    assert record["state"] == "DISCONNECTED"
    assert record["dtmf"] == "1234#"
    assert record["rx_packets"] > 0 and record["tx_packets"] > 0
    assert record["recording"] and record["recording"].endswith(".wav")
    stats = call.stats()
    assert stats["rx_packets"] > 0 and stats["tx_packets"] > 0
    samples, rate = call.recording()
    assert rate == 8000 and samples.size > rate
    assert abs(dominant_frequency(samples, rate) - ALCATEL_SIGNAL_HZ) <= 0.02 * ALCATEL_SIGNAL_HZ
    assert detect_alcatel_signal(samples, rate)


def test_alcatel_calls_rpi(alcatel, rpi):
    """The Alcatel calls 5002: does rpi ring, answer, receive RTP, and both sides end DISCONNECTED?"""
    alcatel.call("5002")
    incoming = rpi.wait_incoming(timeout=5)
    assert incoming.number == "5001"
    incoming.answer()
    incoming.wait("CONFIRMED", timeout=5)
    live = alcatel.wait_media(packets=25, timeout=5)  # the counters move during the call, not only at its end
    assert live["state"] == "CONFIRMED" and live["tx_packets"] > 0, live
    time.sleep(1.0)
    incoming.hangup()
    incoming.wait("DISCONNECTED", timeout=5)
    record = alcatel.wait_call_ended(timeout=5)
    assert record["direction"] == "outgoing" and record["state"] == "DISCONNECTED"
    assert record["rx_packets"] > live["rx_packets"]
    assert incoming.stats()["rx_packets"] > 0
    assert detect_alcatel_signal(*incoming.recording())


def test_hangup_from_the_alcatel_side(alcatel, rpi):
    """Does SimulatedAlcatel.hangup() end rpi's call?"""
    call = rpi.call("5001")
    deadline = time.monotonic() + 8
    while (alcatel.status().get("current") or {}).get("state") != "CONFIRMED":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert alcatel.hangup() is True
    call.wait("DISCONNECTED", timeout=5)
    assert alcatel.hangup() is False


def test_stopped_alcatel_is_a_clear_error(tmp_path):
    """Does a client of a stopped Alcatel get an error saying how to start it?"""
    sim = SimulatedAlcatel(lab_dir=tmp_path)
    assert not sim.is_running() and sim.pid() is None and sim.stop() is False
    with pytest.raises(PhoneError, match="start it with"):
        sim.status()


def test_a_variants_signal_and_loss_reach_the_daemons_settings(tmp_path):
    """Do [alcatel] signal_hz, morse, tx_loss_pct and rtp_port go into the daemon's settings and back, unchanged?"""
    from dataclasses import replace

    from voiplab.config import load_config
    from voiplab.devices.alcatel import _config_from_settings, _settings_from_config

    base = load_config()
    cfg = base.with_overrides(alcatel=replace(base.alcatel, signal_hz=1530.0, morse="SDP", tx_loss_pct=4,
                                              rtp_port=41768))
    settings = _settings_from_config(cfg)
    assert (settings["signal_hz"], settings["morse"], settings["tx_loss_pct"], settings["rtp_port"]) == (
        1530.0, "SDP", 4, 41768)
    back = _config_from_settings(settings).alcatel
    assert (back.signal_hz, back.morse, back.tx_loss_pct, back.rtp_port) == (1530.0, "SDP", 4, 41768)
    x = alcatel_signal(8000, text="SDP", frequency=1530.0)
    assert abs(dominant_frequency(x, 8000) - 1530.0) < 5
    assert detect_alcatel_signal(x, 8000, frequency=1530.0) and not detect_alcatel_signal(x, 8000)


def test_a_phone_with_tx_loss_drops_packets_before_sending(pbx, rpi):
    """A phone made with tx_loss_pct=15 (pjmedia's loss simulation): does the other side count lost packets, and
    does a phone made without it lose none?"""
    lossy = Phone("guillaume", audio="tone:700", tx_loss_pct=15, on_incoming=lambda c: c.answer())
    try:
        lossy.register()
        call = rpi.call(lossy.number)
        call.wait("CONFIRMED", timeout=5)
        time.sleep(3.0)
        stats = call.stats()
        call.hangup()
        call.wait("DISCONNECTED", timeout=5)
    finally:
        lossy.close()
    assert stats["rx_packets"] > 50
    assert stats["rx_lost"] >= 3, stats  # ~16 % of 100 packets or more: fewer than 3 has a chance below 1e-5
    with pytest.raises(PhoneError, match=r"^tx_loss_pct 30 is out of range: give 0 to 20 \(percent\)$"):
        Phone("guillaume", tx_loss_pct=30)
