"""The register panel and the digest calculator of notebook 03, driven as a student drives them.

``Button.click()`` runs the same handlers as a click in JupyterLab; typing is setting a field's
``value``. The panel runs against the real lab (no mocks); the calculator on the sample
registration, its hashes checked against hashlib computed here.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator

import ipywidgets as widgets
import pytest
from conftest import eventually

from voiplab.capture.sipread import read_flow
from voiplab.config import LabConfig
from voiplab.devices.lab import Lab
from voiplab.errors import PhoneError
from voiplab.teach.explain import AuthExchange, auth_exchange, nonce_reuse_request
from voiplab.teach.samples import sample_capture
from voiplab.widgets.register import DigestCalculator, RegisterPanel


def md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


# ---------------------------------------------------------------------------- the digest calculator


@pytest.fixture(scope="module")
def exchange() -> AuthExchange:
    return auth_exchange(read_flow(sample_capture("register_401")))


@pytest.fixture()
def calc(exchange: AuthExchange) -> Iterator[DigestCalculator]:
    the_calc = DigestCalculator(exchange.challenge, exchange.authorized, password=LabConfig().account("rpi").password)
    yield the_calc
    the_calc.close()


def test_calculator_is_prefilled_from_the_capture(calc: DigestCalculator, exchange: AuthExchange) -> None:
    """Are the fields those of the 401 and the Authorization, and does the computed response match?"""
    assert exchange.authorized is not None
    auth = exchange.authorized.message.authorization
    assert auth is not None
    assert {name: calc.value(name) for name in calc.FIELDS} == {
        "username": auth["username"], "realm": auth["realm"], "password": "22222222", "method": "REGISTER",
        "uri": auth["uri"], "nonce": auth["nonce"], "nc": auth["nc"], "cnonce": auth["cnonce"], "qop": "auth",
        "algorithm": "MD5"}
    assert calc.captured == auth["response"] and calc.response == auth["response"] and calc.matches is True
    assert "✔ matches the captured response" in calc.output.value
    assert isinstance(calc.widget, widgets.VBox)
    assert "application/vnd.jupyter.widget-view+json" in calc._repr_mimebundle_()


def test_editing_a_field_recomputes_the_hashes(calc: DigestCalculator) -> None:
    """Typing a password changes HA1 and the response, not HA2; the mark turns to a mismatch?"""
    ha1, ha2, response = calc.ha1, calc.ha2, calc.response
    calc.fields["password"].value = "12345678"  # as typing in the field does
    assert calc.ha1 == md5(f"{calc.value('username')}:{calc.value('realm')}:12345678") != ha1
    assert calc.ha2 == ha2 and calc.response != response
    assert calc.response == md5(f"{calc.ha1}:{calc.value('nonce')}:{calc.value('nc')}:{calc.value('cnonce')}:auth:"
                                f"{calc.ha2}")
    assert calc.matches is False and "✘ differs from the captured response" in calc.output.value
    assert calc.ha1 in calc.output.value and calc.response in calc.output.value


def test_nonce_method_qop_and_algorithm_fields(calc: DigestCalculator) -> None:
    """A new nonce keeps HA1; INVITE changes HA2; no qop gives the RFC 2069 form; SHA-256 gives 64 digits?"""
    ha1, ha2 = calc.ha1, calc.ha2
    calc.set(nonce="1700000000/abc")
    assert calc.ha1 == ha1 and calc.ha2 == ha2 and calc.matches is False
    calc.set(method="INVITE")
    assert calc.ha2 == md5(f"INVITE:{calc.value('uri')}") != ha2
    calc.set(qop="")
    assert calc.response == md5(f"{calc.ha1}:1700000000/abc:{calc.ha2}")
    calc.set(algorithm="SHA-256", qop="auth")
    assert len(calc.ha1) == len(calc.response) == 64
    assert calc.ha1 == hashlib.sha256(f"{calc.value('username')}:{calc.value('realm')}:22222222".encode()).hexdigest()


def test_a_missing_field_is_said_not_raised(calc: DigestCalculator) -> None:
    """Emptying the cnonce with qop=auth shows the error in the widget (nothing raised), then recovers?"""
    cnonce = calc.value("cnonce")
    calc.fields["cnonce"].value = ""
    assert calc.response == "" and calc.computation is None and calc.matches is None
    assert calc.error.startswith("digest cnonce is missing: pass cnonce=")
    assert "⚠ digest cnonce is missing" in calc.output.value
    calc.fields["cnonce"].value = cnonce
    assert calc.matches is True


def test_calculator_without_a_capture() -> None:
    """Empty but for the defaults, the calculator still computes and says there is nothing to compare?"""
    calc = DigestCalculator(password="secret")
    try:
        calc.set(username="rpi", realm="asterisk", uri="sip:127.0.0.80", nonce="n", cnonce="c")
        assert calc.ha1 == md5("rpi:asterisk:secret") and calc.matches is None
        assert "no captured response to compare" in calc.output.value
    finally:
        calc.close()


# ---------------------------------------------------------------------------- the register panel, real lab


@pytest.fixture()
def panel(lab: Lab) -> Iterator[RegisterPanel]:
    the_panel = RegisterPanel(lab, "rpi")
    yield the_panel
    the_panel.close()


def click_and_wait(panel: RegisterPanel, button: widgets.Button) -> None:
    """Click, then wait for the action's end; retried while rpi's address is taken by another run."""
    deadline = time.monotonic() + 30
    while True:
        before = len(panel.errors)
        button.click()
        assert panel.wait(10)
        taken = [e for e in panel.errors[before:] if "already in use" in e]
        if not taken or time.monotonic() > deadline:
            return
        time.sleep(0.5)




@pytest.mark.asterisk
@pytest.mark.pjsua2
def test_register_click_shows_the_exchange(lab: Lab, panel: RegisterPanel) -> None:
    """Register: REGISTER → 401 (realm, nonce) → REGISTER + Authorization → 200 OK, listed in order?"""
    account = lab.config.account("rpi")
    assert panel.status_text.endswith("· not registered") and "nothing sent yet" in panel.exchange.value
    assert panel.unregister_button.disabled and not panel.register_button.disabled
    click_and_wait(panel, panel.register_button)
    assert panel.registered and panel.last_status == 200
    rows = panel.rows
    assert [r.first_line for r in rows[:4]] == [
        f"REGISTER sip:{lab.config.pbx.host}:{lab.config.pbx.port} SIP/2.0", "SIP/2.0 401 Unauthorized",
        f"REGISTER sip:{lab.config.pbx.host}:{lab.config.pbx.port} SIP/2.0", "SIP/2.0 200 OK"]
    assert [r.direction for r in rows[:4]] == ["→", "←", "→", "←"]
    nonce = rows[1].details.split("nonce=")[1]
    assert rows[1].details.startswith("realm=asterisk, nonce=")
    assert rows[2].details.startswith(f"nonce={nonce}, nc=00000001, response=")
    assert f"Contact: <sip:rpi@{account.address}:{account.sip_port}>" in rows[3].details
    assert "SIP/2.0 401 Unauthorized" in panel.exchange.value and nonce in panel.exchange.value
    assert "registered (200 OK, expires in " in panel.status_text
    assert panel.register_button.disabled is False and panel.unregister_button.disabled is False
    contact = next(e.contact_address for e in lab.pbx.endpoints() if e.name == "rpi")
    assert contact == f"{account.address}:{account.sip_port}"


@pytest.mark.asterisk
@pytest.mark.pjsua2
def test_wrong_password_then_unregister(lab: Lab, panel: RegisterPanel) -> None:
    """A wrong password typed: refused with 401, said in the status; the right one, then Unregister (Expires: 0)?"""
    account = lab.config.account("rpi")
    panel.password.value = "12345678"
    click_and_wait(panel, panel.register_button)
    assert not panel.registered and panel.last_status == 401
    assert panel.status_text.endswith("· not registered: refused with 401 Unauthorized")
    assert panel.errors[-1] == (f"the registration of rpi/{account.number} to {lab.config.pbx.host}:"
                                f"{lab.config.pbx.port} was refused with 401 Unauthorized: the PBX rejected the "
                                "digest response, the password of rpi is wrong")
    assert "the password of rpi is wrong" in panel.error_line.value
    assert [r.first_line for r in panel.rows[-2:]] == [panel.rows[0].first_line, "SIP/2.0 401 Unauthorized"]
    panel.password.value = account.password
    click_and_wait(panel, panel.register_button)
    assert panel.registered and panel.error_line.value == ""
    click_and_wait(panel, panel.unregister_button)
    assert not panel.registered and panel.status_text.endswith("· not registered")
    expires_zero = [r for r in panel.rows if r.details.endswith("Expires: 0")]
    assert expires_zero and panel.rows[-1].first_line == "SIP/2.0 200 OK"
    assert not next(e for e in lab.pbx.endpoints() if e.name == "rpi").contact_address


@pytest.mark.asterisk
@pytest.mark.pjsua2
def test_send_reuses_the_nonce(lab: Lab, panel: RegisterPanel) -> None:
    """A REGISTER reusing the nonce with nc=2, sent from the phone's address: 200 OK, in the exchange?"""
    click_and_wait(panel, panel.register_button)
    latest = auth_exchange(panel.flow, after=panel.last_attempt_at)
    answer = panel.send(nonce_reuse_request(latest, lab.config.account("rpi").password, nc=2))
    assert answer.status == 200 and answer.www_authenticate is None
    assert panel.rows[-2].details.split(", response=")[0].endswith("nc=00000002")
    assert panel.rows[-1].first_line == "SIP/2.0 200 OK"


@pytest.mark.asterisk
@pytest.mark.pjsua2
def test_account_change_makes_a_new_phone(lab: Lab, panel: RegisterPanel) -> None:
    """Choosing another account registers that account from its own address; close() frees both?"""
    try:
        panel.account.value = "guillaume"
        click_and_wait(panel, panel.register_button)
    except PhoneError:
        pytest.skip("guillaume's address is taken by another run")
    guillaume = lab.config.account("guillaume")
    assert panel.registered and panel.phone is not None and panel.phone.address == guillaume.address
    assert f"guillaume/{guillaume.number} at {guillaume.address}" in panel.status_text
    panel.close()
    assert panel.phone is None
    eventually(lambda: not next(e for e in lab.pbx.endpoints() if e.name == "guillaume").contact_address, 5,
               "guillaume unregistered")
