"""The panels of notebooks 06 and 08, driven by clicking their buttons (real lab, no mocks).

``Button.click()`` runs the same handlers as a click in JupyterLab, so these tests do what
a student does: type a number, press Call, watch the status line, press keys, hang up.
"""

from __future__ import annotations

import base64
import html
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import ipywidgets as widgets
import pytest
from conftest import eventually, require

from voiplab.config import load_config
from voiplab.devices.alcatel import SimulatedAlcatel
from voiplab.devices.browser import CHROMIUM, BrowserPhone
from voiplab.devices.certs import describe
from voiplab.devices.lab import Lab
from voiplab.devices.phone import Call, Phone
from voiplab.devices.webrtc import WebRtcLab
from voiplab.errors import CallError, PhoneError, WebRtcError
from voiplab.widgets.panels import KEYS, AlcatelPanel, CallPanel, PhonePanel, call_panel
from voiplab.widgets.webrtc import browser_phone_link

pytestmark = [pytest.mark.asterisk, pytest.mark.pjsua2]

#: the lab's accounts (the local lab's or a lab.toml's): never hard-coded
CONFIG = load_config()
ALCATEL = CONFIG.account("alcatel").number
RPI = CONFIG.account("rpi")



@pytest.fixture()
def alcatel(lab: Lab) -> Iterator[SimulatedAlcatel]:
    """The lab's simulated Alcatel, idle before and after the test."""
    sim = lab.simulated_alcatel
    assert sim is not None
    _idle(sim)
    yield sim
    _idle(sim)


def _idle(sim: SimulatedAlcatel) -> None:
    if sim.status().get("current"):
        sim.hangup()
        sim.wait_call_ended(timeout=5)


def when_free(make: Callable[[], Any], timeout: float = 60.0) -> Any:
    """``make()``, retried while rpi's address is taken by another run on this machine (a shared lab)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return make()
        except PhoneError as e:
            if "already in use" not in str(e) or time.monotonic() > deadline:
                raise
            time.sleep(0.5)


@pytest.fixture()
def rpi(lab: Lab) -> Iterator[Phone]:
    phone = when_free(lambda: lab.phone("rpi", audio="tone:440"))
    phone.register()
    yield phone
    phone.close()


@pytest.fixture()
def panel(rpi: Phone) -> Iterator[PhonePanel]:
    the_panel = PhonePanel(rpi)
    yield the_panel
    the_panel.close()


def buttons_enabled(panel: PhonePanel) -> dict[str, bool]:
    return {name: not getattr(panel, f"{name}_button").disabled
            for name in ("register", "call", "hangup", "answer", "decline")}


def test_panel_builds_and_displays(panel: PhonePanel) -> None:
    """Is the panel a VBox with status, banner, number, dial pad, buttons, stats, error and log?"""
    assert isinstance(panel.widget, widgets.VBox)
    assert panel.status_line in panel.widget.children and panel.log_output in panel.widget.children
    assert isinstance(panel.log_output, widgets.Output)
    assert list(panel.keys) == list(KEYS) and all(isinstance(b, widgets.Button) for b in panel.keys.values())
    bundle = panel._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert panel.banner.layout.display == "none"
    assert panel.state == "IDLE"
    assert f"rpi/{RPI.number} at {RPI.address}:{RPI.sip_port}" in panel.status_text
    assert "· registered ·" in panel.status_text
    # idle and registered: only Call (and the dial pad) make sense
    assert buttons_enabled(panel) == {"register": False, "call": True, "hangup": False, "answer": False,
                                      "decline": False}
    assert not any(b.disabled for b in panel.keys.values())


def test_dial_pad_types_the_number_when_idle(panel: PhonePanel) -> None:
    """Do the keys type into the number field (and ⌫ erase) while there is no call?"""
    for key in ALCATEL:
        panel.keys[key].click()
    assert panel.number.value == ALCATEL
    panel.backspace_button.click()
    assert panel.number.value == ALCATEL[:-1]


def test_rpi_calls_the_alcatel_sends_dtmf_and_hangs_up(panel: PhonePanel, alcatel: SimulatedAlcatel) -> None:
    """rpi's panel dials the Alcatel: CONFIRMED, rx once the Alcatel answered, DTMF 5 arrives, Hang up ends it."""
    panel.number.value = ALCATEL
    panel.call_button.click()
    eventually(lambda: panel.state == "CONFIRMED", 5, "CONFIRMED")
    assert f"call → {ALCATEL}: CONFIRMED (200 OK)" in panel.status_text
    # in a call: Hang up and the keys (DTMF) are on, Call/Answer/Decline off, the number is locked
    assert buttons_enabled(panel) == {"register": False, "call": False, "hangup": True, "answer": False,
                                      "decline": False}
    assert panel.number.disabled and not panel.keys["5"].disabled
    alcatel.wait_in_call(timeout=8)
    eventually(lambda: panel.last_stats.get("rx_packets", 0) > 0, 8, "rx packets")
    assert "rx " in panel.stats_line.value and "jitter" in panel.stats_line.value
    time.sleep(1.5)  # let the direct-media re-INVITEs settle (as notebook 06 does)
    panel.keys["5"].click()
    assert panel.dtmf_sent == "5"
    time.sleep(1.5)
    panel.hangup_button.click()
    eventually(lambda: panel.state == "DISCONNECTED", 5, "DISCONNECTED")
    last = alcatel.wait_call_ended(timeout=5)
    assert last["dtmf"] == "5"
    assert panel.errors == []
    log = "\n".join(panel.log_lines)
    for text in (f"→ {ALCATEL}: CALLING", f"→ {ALCATEL}: CONFIRMED (200 OK)", "DTMF 5 sent", "hang up (BYE)",
                 f"→ {ALCATEL}: DISCONNECTED"):
        assert text in log
    assert log.count(": CALLING") == 1
    # the panel keeps its calls and the keys pressed in each, and draws the call from the phone's trace
    assert panel.calls == [panel.call] and panel.dtmf_by_call == {panel.call: "5"}
    flow = panel.flow()
    assert flow.messages and {m.call_id for m in flow.messages} == {panel.call.call_id}
    invites = [m for m in flow.messages if m.method == "INVITE" and m.src.startswith(RPI.address)]
    assert len(invites) >= 2 and any(m.status == 401 for m in flow.messages)  # challenged, then authenticated
    # idle again: Call is back, the number field too
    eventually(lambda: not panel.call_button.disabled, 2, "Call enabled")
    assert panel.hangup_button.disabled and not panel.number.disabled
    watcher = panel._watcher
    assert watcher is not None
    eventually(lambda: not watcher.is_alive(), 6, "the watcher thread to stop after the call")


def test_closing_the_panel_stops_its_thread_during_a_call(rpi: Phone, alcatel: SimulatedAlcatel) -> None:
    """Does close() stop the watcher thread even while the call is up (and leave the call to its phone)?"""
    panel = PhonePanel(rpi)
    call = panel.dial(ALCATEL)
    assert call is not None
    panel.wait_state("CONFIRMED", timeout=5)
    watcher = panel._watcher
    assert watcher is not None and watcher.is_alive()
    panel.close()
    assert not watcher.is_alive()
    assert call.state == "CONFIRMED" and rpi.on_incoming is None
    call.hangup()
    call.wait("DISCONNECTED", timeout=5)


def test_alcatel_calls_rpi_and_the_banner_answers(panel: PhonePanel, lab: Lab, alcatel: SimulatedAlcatel) -> None:
    """The Alcatel panel's "Alcatel calls <rpi>": does rpi's banner ring, Answer confirm, Hang up end it?"""
    apanel = AlcatelPanel(lab, refresh=0.2)
    try:
        assert apanel.call_button.description == f"Alcatel calls {RPI.number}"
        assert "registered" in apanel.status_text and not apanel.call_button.disabled
        apanel.call_button.click()
        eventually(lambda: panel.banner.layout.display == "flex", 8, "the incoming-call banner")
        assert "Incoming call from" in panel.banner_text.value and ALCATEL in panel.banner_text.value
        assert buttons_enabled(panel) == {"register": False, "call": False, "hangup": False, "answer": True,
                                          "decline": True}
        assert all(b.disabled for b in panel.keys.values())  # no DTMF before the answer
        panel.banner_answer.click()
        eventually(lambda: panel.state == "CONFIRMED", 5, "CONFIRMED")
        assert panel.banner.layout.display == "none"
        assert buttons_enabled(panel)["hangup"] and not buttons_enabled(panel)["answer"]
        eventually(lambda: f"in call → {RPI.number}: CONFIRMED" in apanel.status_text, 5, "the Alcatel panel's call")
        assert not apanel.hangup_button.disabled and apanel.call_button.disabled
        eventually(lambda: panel.last_stats.get("rx_packets", 0) > 0, 8, "rx packets")
        panel.hangup_button.click()
        eventually(lambda: panel.state == "DISCONNECTED", 5, "DISCONNECTED")
        alcatel.wait_call_ended(timeout=5)
        eventually(lambda: f"last call → {RPI.number}" in apanel.status_text and apanel.hangup_button.disabled, 5,
                   "the Alcatel panel's last call")
        assert panel.errors == [] and apanel.errors == []
    finally:
        apanel.close()


def test_alcatel_hangs_up_and_decline(panel: PhonePanel, lab: Lab, alcatel: SimulatedAlcatel) -> None:
    """Does "Alcatel hangs up" end rpi's answered call, and Decline refuse the next one with 486?"""
    apanel = AlcatelPanel(alcatel, number=RPI.number, refresh=0.2)
    try:
        apanel.call()
        panel.wait_incoming(timeout=8)
        panel.answer()
        panel.wait_state("CONFIRMED", timeout=5)
        alcatel.wait_in_call(timeout=5)
        apanel.hangup_button.click()
        eventually(lambda: panel.state == "DISCONNECTED", 5, "DISCONNECTED")
        assert panel.errors == []  # the other side hanging up is not an error
        alcatel.wait_call_ended(timeout=5)
        apanel.call()
        panel.wait_incoming(timeout=8)
        panel.decline_button.click()
        eventually(lambda: panel.state == "DISCONNECTED", 5, "DISCONNECTED")
        alcatel.wait_call_ended(timeout=5)  # Asterisk had answered the Alcatel (Answer(500)): it gets a BYE
        assert panel.call is not None and panel.call.status == 486
        assert "DISCONNECTED (486 Busy Here)" in panel.status_text
        assert "decline (486 Busy Here)" in "\n".join(panel.log_lines)
    finally:
        apanel.close()


def test_unknown_number_shows_404_in_the_panel(panel: PhonePanel) -> None:
    """Dialling 9999: is the 404 shown in the panel (and no exception raised from the click)?"""
    panel.dial("9999")  # types the number and clicks Call
    eventually(lambda: panel.errors, 5, "the error")
    assert "404 Not Found" in panel.errors[-1] and "not in the dial plan" in panel.errors[-1]
    assert "404 Not Found" in panel.error_line.value
    assert panel.state == "DISCONNECTED" and "9999: DISCONNECTED (404 Not Found)" in panel.status_text
    eventually(lambda: not panel.call_button.disabled, 2, "Call enabled again")
    panel.dial("")  # an empty number is an error in the panel too
    assert "no number was dialled" in panel.errors[-1]


def test_errors_from_clicks_never_escape(panel: PhonePanel) -> None:
    """Do clicks that make no sense (Answer with no call, a bad number) show an error instead of raising?"""
    panel.answer_button.disabled = False  # a stale frontend could still send the click
    panel.answer_button.click()
    assert panel.errors[-1] == "there is no incoming call to answer"
    panel.dial("50 01")
    assert "is not valid" in panel.errors[-1]
    assert "number &#x27;50 01&#x27; is not valid" in panel.error_line.value


def test_dead_phone_is_shown_not_raised(lab: Lab) -> None:
    """A killed phone agent: does Call show PhoneDied in the panel and the status say so?"""
    phone = lab.phone("guillaume")
    phone.register()
    panel = PhonePanel(phone, number=ALCATEL)
    try:
        assert phone._proc is not None
        phone._proc.kill()
        phone._proc.wait(5)
        panel.call_button.disabled = False
        panel.call_button.click()
        assert "died" in panel.errors[-1] or "not registered" in panel.errors[-1]
        assert "phone not running" in panel.status_text
        assert panel.call_button.disabled and panel.register_button.disabled
    finally:
        panel.close()
        phone.close()


def test_the_phones_own_callback_is_chained_and_given_back(rpi: Phone, lab: Lab,
                                                            alcatel: SimulatedAlcatel) -> None:
    """With a user's on_incoming already set: is it still called, the banner shown, and restored on close?"""
    seen: list[Call] = []
    rpi.on_incoming = seen.append
    panel = PhonePanel(rpi)
    try:
        assert rpi.on_incoming == panel._on_incoming
        alcatel.call(RPI.number)
        call = panel.wait_incoming(timeout=8)
        assert seen == [call]
        panel.decline()
        panel.wait_state("DISCONNECTED", timeout=5)
        alcatel.wait_call_ended(timeout=5)
    finally:
        panel.close()
    assert rpi.on_incoming == seen.append


def test_call_panel_puts_both_panels_side_by_side(lab: Lab, alcatel: SimulatedAlcatel) -> None:
    """call_panel(lab): an HBox of rpi's panel and the Alcatel's, rpi registered; close() closes the phone."""
    panel = when_free(lambda: call_panel(lab))
    try:
        assert isinstance(panel, CallPanel) and isinstance(panel, widgets.HBox)
        assert panel.children == (panel.phone_panel.widget, panel.alcatel_panel.widget)
        assert panel.phone.registered and panel.phone.account.name == "rpi"
        assert panel.phone_panel.number.value == ALCATEL
        assert panel.alcatel_panel.number.value == RPI.number
        assert "registered: 200 OK" in panel.phone_panel.log_lines[0]
        panel.dial(ALCATEL)
        panel.wait_state("CONFIRMED", timeout=5)
        alcatel.wait_in_call(timeout=8)
        panel.hangup()
        panel.wait_state("DISCONNECTED", timeout=5)
        alcatel.wait_call_ended(timeout=5)
    finally:
        panel.close()
    assert not panel.phone.is_alive()
    assert panel.alcatel_panel._thread is not None and not panel.alcatel_panel._thread.is_alive()


def test_closing_the_call_panel_frees_the_address_and_every_thread(lab: Lab, alcatel: SimulatedAlcatel) -> None:
    """panel.close() during a call (the cleanup cell): is rpi's address free for the next notebook's kernel?"""
    panel = when_free(lambda: call_panel(lab))
    phone = panel.phone
    panel.dial(ALCATEL)
    panel.wait_state("CONFIRMED", timeout=5)
    threads_before = {t.name for t in threading.enumerate()}
    assert {"panel-rpi-call", "panel-alcatel"} <= threads_before
    panel.close()
    assert not phone.is_alive()
    alcatel.wait_call_ended(timeout=5)  # the call was hung up, not left on the PBX
    eventually(lambda: not [t for t in threading.enumerate()
                            if t.name.startswith(("panel-", "phone-rpi-")) and t.is_alive()], 5,
               "every panel and phone thread to stop")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((RPI.address, RPI.sip_port))  # raises "address in use" if anything still holds it
    # the next notebook is another kernel: a phone in another process registers on the same address
    code = "from voiplab.devices.phone import Phone\np = Phone('rpi'); print(p.register().status); p.close()"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 0 and done.stdout.strip() == "200", done.stderr[-500:]
    panel.close()  # twice is harmless


def test_the_panel_without_a_call_has_no_flow(panel: PhonePanel) -> None:
    """panel.flow() before any call: does it say to press Call first?"""
    with pytest.raises(CallError, match="the panel has shown no call yet: press Call"):
        panel.flow()


# -- notebook 08: the browser phone in the student's own browser ---------------------------------------


@pytest.fixture(scope="module")
def wlab(pbx: object) -> Iterator[WebRtcLab]:
    """The WebRTC lab of notebook 08 (its own addresses and state), stopped at the end if started here."""
    the_lab = WebRtcLab()
    started = any(line.startswith("started Asterisk") for line in the_lab.up())
    yield the_lab
    if started:
        the_lab.down()
    elif the_lab.page is not None:
        the_lab.page.stop()


@pytest.mark.browser
def test_browser_phone_link_shows_url_ca_and_registration(wlab: WebRtcLab) -> None:
    """The link for guillaume: page URL with token, the CA to download and its SHA-256, registered or not?"""
    require(os.access(CHROMIUM, os.X_OK), "Chromium", "apt-get install chromium")
    link = browser_phone_link(wlab)
    try:
        assert link.account.name == "guillaume" and link.url == wlab.url("guillaume")
        assert "account=guillaume" in link.url and f"token={wlab.page_token}" in link.url
        assert link.ca_sha256 == describe(wlab.ca_file)["sha256"]
        pem = base64.b64encode(wlab.ca_file.read_bytes()).decode()
        assert f"data:application/x-x509-ca-cert;base64,{pem}" in link.link_html.value
        assert f"href='{html.escape(link.url)}' target='_blank' rel='noopener'" in link.link_html.value
        assert not link.registered and link.status_text.startswith("not registered")
        with BrowserPhone("guillaume", wlab) as browser:
            browser.register()
            link.refresh_button.click()
            assert link.registered and link.status_text.startswith("registered from ")
            assert "registered from" in link.status_line.value and link.errors == []
    finally:
        link.close()
    with pytest.raises(WebRtcError, match="account alcatel is not a WebRTC account"):
        browser_phone_link(wlab, "alcatel")
