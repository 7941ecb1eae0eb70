"""The check cells of notebook 03 (``vl.checks``: registering, digest), each tested both ways.

The digest check runs on the sample registration of the local lab (real Asterisk, real phone):
the student's hashlib values are computed here with hashlib, independently of voiplab. The panel
checks run against the real lab (the student's panel, clicked or driven by its methods); their
"not yet" messages also on a panel whose exchange is a recorded trace.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator

import pytest

from voiplab.capture.sipread import read_flow
from voiplab.config import LabConfig
from voiplab.core.flow import FlowMessage, TraceEntry
from voiplab.devices.lab import Lab
from voiplab.errors import PhoneError, VoipLabError
from voiplab.teach.checks import CheckResult
from voiplab.teach.checks.register import (
    DIGEST_RECOMPUTED,
    NONCE_REUSED,
    PHONE_REGISTERED,
    WRONG_PASSWORD_REFUSED,
    digest_recomputed,
    nonce_reused,
    phone_registered,
    wrong_password_refused,
)
from voiplab.teach.explain import AuthExchange, auth_exchange, nonce_reuse_request, nonce_time
from voiplab.teach.samples import sample_capture
from voiplab.widgets.register import RegisterPanel

#: the sample registration is the default lab's rpi
PASSWORD = LabConfig().account("rpi").password


def md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


@pytest.fixture(scope="module")
def exchange() -> AuthExchange:
    return auth_exchange(read_flow(sample_capture("register_401")))


@pytest.fixture(scope="module")
def hashes(exchange: AuthExchange) -> tuple[str, str, str]:
    """What a student writes with hashlib, from the captured Authorization."""
    assert exchange.authorized is not None
    a = exchange.authorized.message.authorization
    assert a is not None
    ha1 = md5(f"{a['username']}:{a['realm']}:{PASSWORD}")
    ha2 = md5(f"REGISTER:{a['uri']}")
    return ha1, ha2, md5(f"{ha1}:{a['nonce']}:{a['nc']}:{a['cnonce']}:{a['qop']}:{ha2}")


def test_digest_recomputed_passes_on_the_students_hashlib_values(exchange: AuthExchange,
                                                                 hashes: tuple[str, str, str]) -> None:
    """Do hashlib's HA1, HA2 and response (any case) pass, naming the response the phone sent?"""
    ha1, ha2, response = hashes
    assert exchange.authorized is not None and exchange.authorized.message.authorization is not None
    assert response == exchange.authorized.message.authorization["response"]
    result = digest_recomputed(ha1.upper(), ha2, response, exchange, PASSWORD)
    assert result == CheckResult(DIGEST_RECOMPUTED, True, f"HA1, HA2 and the response match: your response {response} "
                                                          "is the one the phone sent, so Asterisk would accept it")


def test_digest_recomputed_says_which_step_is_wrong(exchange: AuthExchange, hashes: tuple[str, str, str]) -> None:
    """A wrong HA1, HA2 or response (the usual slips), or nothing yet: what does the student read?"""
    ha1, ha2, response = hashes
    a = exchange.authorized.message.authorization if exchange.authorized else None
    assert a is not None
    reversed_ha1 = md5(f"{a['realm']}:{a['username']}:{PASSWORD}")
    to_uri_ha2 = md5("REGISTER:sip:rpi@127.0.0.80")
    nc_as_one = md5(f"{ha1}:{a['nonce']}:1:{a['cnonce']}:{a['qop']}:{ha2}")
    assert digest_recomputed(reversed_ha1, ha2, response, exchange, PASSWORD).message == (
        'HA1 is not the MD5 of "username:realm:password": take the username and the realm from the Authorization '
        "header, the password of the account, colons between them, and hexdigest()")
    assert digest_recomputed(ha1, to_uri_ha2, response, exchange, PASSWORD).message == (
        'HA2 is not the MD5 of "method:uri": the method of the request and the uri of the Authorization header '
        "(not the To URI)")
    assert digest_recomputed(ha1, ha2, nc_as_one, exchange, PASSWORD).message == (
        'the response is not the MD5 of "HA1:nonce:nc:cnonce:qop:HA2": use the hex strings of HA1 and HA2, and '
        "nonce, nc, cnonce and qop exactly as the Authorization header writes them")
    missing = digest_recomputed(ha1, ..., "...", exchange, PASSWORD)
    assert not missing.ok and missing.message == "ha2, response not computed yet: replace ... with your hashlib code"
    with pytest.raises(VoipLabError, match=r"^ha1 is bytes \(digest\(\)\): use hexdigest\(\)"):
        digest_recomputed(hashlib.md5(b"x").digest(), ha2, response, exchange, PASSWORD)


# ---------------------------------------------------------------------------- the panel's checks, offline


def trace_of(messages: list[FlowMessage], phone: str = "127.0.0.82:5060") -> list[TraceEntry]:
    return [{"time": m.time, "direction": "tx" if m.src == phone else "rx", "local": phone,
             "remote": m.dst if m.src == phone else m.src, "transport": "UDP", "raw": str(m.message)}
            for m in messages]


def test_panel_checks_before_anything_is_done() -> None:
    """A panel nobody used: not registered, no wrong password, no nonce reused, each saying what to do?"""
    panel = RegisterPanel(LabConfig())
    try:
        assert phone_registered(panel) == CheckResult(PHONE_REGISTERED, False, "the phone is not registered: press "
                                                      "Register in the panel (or run panel.register())")
        assert wrong_password_refused(panel) == CheckResult(
            WRONG_PASSWORD_REFUSED, False, "no REGISTER with a wrong password yet: type another password in the "
                                           "panel's Password field and press Register")
        assert nonce_reused(panel) == CheckResult(NONCE_REUSED, False,
                                                  "the panel has no registration yet: press Register first")
        with pytest.raises(VoipLabError, match="^the check needs the register panel, not a str: pass panel"):
            phone_registered("panel")  # type: ignore[arg-type]
    finally:
        panel.close()


def test_nonce_reused_on_recorded_exchanges() -> None:
    """One use of a nonce is not yet a reuse; nc=2 accepted is; nc=2 answered 401 (too old) says so?"""
    flow = read_flow(sample_capture("register_401"))
    messages = list(flow.messages[:4])
    panel = RegisterPanel(LabConfig())
    try:
        panel.trace = trace_of(messages)
        assert nonce_reused(panel).message == ("no nonce was accepted twice yet: build the same REGISTER with the "
                                               "next nc (vl.nonce_reuse_request) and send it with panel.send(...)")
        again = nonce_reuse_request(auth_exchange(flow), PASSWORD, nc=2, branch="z9hG4bKagain")
        nonce = again.authorization["nonce"] if again.authorization else ""
        late = float(nonce_time(nonce) or 0) + 60  # the nonce is a minute old: past Asterisk's 32 s
        sent = FlowMessage(again, late, messages[0].src, messages[0].dst)

        def answer(template: FlowMessage) -> FlowMessage:
            reply = template.message.replace_header("CSeq", again.header("CSeq") or "")
            reply = reply.replace_header("Via", again.header("Via") or "")
            return FlowMessage(reply, late + 0.001, template.src, template.dst)

        panel.trace = trace_of([*messages, sent, answer(messages[1])])  # a 401 again
        stale = nonce_reused(panel)
        assert not stale.ok and stale.message.startswith("Asterisk challenged the reused nonce again: it was 60 s old")
        assert stale.message.endswith("Press Register, then send the request again within 30 s")
        panel.trace = trace_of([*messages, sent, answer(messages[3])])  # a 200 OK
        assert nonce_reused(panel) == CheckResult(NONCE_REUSED, True, f"nonce {nonce} was accepted 2 times (nc "
                                                  "00000001, 00000002), the last 60.0 s after it was made: Asterisk "
                                                  "did not challenge again")
    finally:
        panel.close()


# ---------------------------------------------------------------------------- against the real lab

@pytest.fixture()
def panel(lab: Lab) -> Iterator[RegisterPanel]:
    the_panel = RegisterPanel(lab, "rpi")
    yield the_panel
    the_panel.close()


def register(panel: RegisterPanel) -> object:
    """``panel.register()``, retried while rpi's address is taken by another run on this machine."""
    deadline = time.monotonic() + 30
    while True:
        try:
            return panel.register()
        except PhoneError as e:
            if "already in use" not in str(e) or time.monotonic() > deadline:
                raise
            time.sleep(0.5)


@pytest.mark.asterisk
@pytest.mark.pjsua2
def test_panel_checks_after_the_students_work(lab: Lab, panel: RegisterPanel) -> None:
    """Registered (Asterisk shows the contact), a wrong password refused, the nonce reused: all pass?"""
    account = lab.config.account("rpi")
    assert register(panel) is not None
    result = phone_registered(panel, lab)
    assert result.ok and result.message.startswith("200 OK to the REGISTER, expires in ")
    assert result.message.endswith(f"; Asterisk's contact for rpi is {account.address}:{account.sip_port}")
    latest = auth_exchange(panel.flow, after=panel.last_attempt_at)
    assert panel.send(nonce_reuse_request(latest, account.password, nc=2)).status == 200
    reused = nonce_reused(panel)
    assert reused.ok and "was accepted" in reused.message and "00000002" in reused.message
    panel.password.value = account.password + "0"
    assert panel.register() is None
    refused = phone_registered(panel, lab)
    assert refused == CheckResult(PHONE_REGISTERED, False, "the last REGISTER was refused with 401 Unauthorized: "
                                                           "check the Password field, then press Register again")
    assert wrong_password_refused(panel) == CheckResult(
        WRONG_PASSWORD_REFUSED, True, "the REGISTER computed with a wrong password was answered 401 Unauthorized: "
                                      "the digest response did not match")
