"""Check cells of notebook 03 (registering a phone, digest authentication; chapter 3 of the report).

Each check looks at what the student made (their register panel and its exchange, the hashes
they computed with hashlib) and returns a :class:`~voiplab.teach.checks.CheckResult`: what was
seen, or what to look at, never the answer. A wrong or missing result never raises.

Taught in notebook 03.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...core.digest import DigestComputation, verify_authorization
from ...errors import DigestError, VoipLabError
from ..explain import AuthExchange, auth_exchange, nonce_uses
from . import CheckResult, failed, passed

if TYPE_CHECKING:
    from ...devices.lab import Lab
    from ...widgets.register import RegisterPanel

__all__ = ["digest_recomputed", "nonce_reused", "phone_registered", "wrong_password_refused"]

#: the names of the checks, as the student reads them
PHONE_REGISTERED = "your phone is registered"
DIGEST_RECOMPUTED = "HA1, HA2 and the response recomputed with hashlib"
WRONG_PASSWORD_REFUSED = "a wrong password is refused"
NONCE_REUSED = "the same nonce accepted again with a higher nc"
#: what the notebook's stub cells hold before the student writes the line
_NOT_WRITTEN = (None, ..., "", "...")


def _panel(panel: object) -> RegisterPanel:
    # the widget layer (ipywidgets) is loaded only when a panel is checked
    from ...widgets.register import RegisterPanel

    if not isinstance(panel, RegisterPanel):
        raise VoipLabError(f"the check needs the register panel, not a {type(panel).__name__}: pass "
                           "panel (panel = vl.widgets.RegisterPanel(lab, ...))")
    return panel


def phone_registered(panel: RegisterPanel, lab: Lab | None = None) -> CheckResult:
    """Did the student's panel register its phone (200 OK), and does Asterisk show the contact?

    Parameters:
        panel: the student's :class:`~voiplab.widgets.register.RegisterPanel`.
        lab: the lab; in the local lab Asterisk's own view (``pjsip show contacts``) is checked too.

    Taught in notebook 03.
    """
    the_panel = _panel(panel)
    account = the_panel.config.account(the_panel.account.value)
    if not the_panel.registered:
        if the_panel.last_status is not None and the_panel.last_status >= 300:
            return failed(PHONE_REGISTERED, f"the last REGISTER was refused with {the_panel.last_status} "
                                            f"{the_panel.last_reason}: check the Password field, then press "
                                            "Register again")
        return failed(PHONE_REGISTERED, "the phone is not registered: press Register in the panel "
                                        "(or run panel.register())")
    registration = the_panel.registration
    expires = f", expires in {registration.expires} s" if registration is not None else ""
    if lab is not None and lab.config.is_local:
        contact = next((e.contact_address for e in lab.pbx.endpoints() if e.name == account.name), None)
        if not contact or not contact.startswith(account.address):
            return failed(PHONE_REGISTERED, f"your phone says it is registered but Asterisk shows no contact "
                                            f"for {account.name} at {account.address}: run lab.status(), then "
                                            "press Register again")
        return passed(PHONE_REGISTERED, f"200 OK to the REGISTER{expires}; Asterisk's contact for "
                                        f"{account.name} is {contact}")
    return passed(PHONE_REGISTERED, f"200 OK to the REGISTER{expires}")


def _hex(value: object, name: str) -> str | None:
    """A student's hash as lower-case hex, ``None`` if not written yet."""
    if isinstance(value, (bytes, bytearray)):
        raise VoipLabError(f"{name} is bytes (digest()): use hexdigest(), the 32 hex digits that SIP carries")
    if value is ... or value is None or (isinstance(value, str) and value.strip() in ("", "...")):
        return None
    if not isinstance(value, str):
        raise VoipLabError(f"{name} is a {type(value).__name__}: it must be a string of hex digits "
                           "(hashlib.md5(...).hexdigest())")
    return value.strip().lower()


def digest_recomputed(ha1: object, ha2: object, response: object, exchange: AuthExchange,
                      password: str) -> CheckResult:
    """Are the student's HA1, HA2 and response (hashlib) those of the captured Authorization?

    Parameters:
        ha1, ha2, response: what the student computed (hex strings), or ``...`` if not yet.
        exchange: the REGISTER exchange (``vl.auth_exchange(panel.flow)``): its request sent
            again with Authorization is the reference.
        password: the account's password (the lab's).

    Taught in notebook 03.
    """
    if exchange.authorized is None:
        return failed(DIGEST_RECOMPUTED, "the exchange has no REGISTER with Authorization: register first")
    try:
        expected: DigestComputation = verify_authorization(exchange.authorized.message, password).expected
    except DigestError as e:
        return failed(DIGEST_RECOMPUTED, f"the captured Authorization cannot be checked ({e})")
    values = {"ha1": _hex(ha1, "ha1"), "ha2": _hex(ha2, "ha2"), "response": _hex(response, "response")}
    missing = [name for name, value in values.items() if value is None]
    if missing:
        return failed(DIGEST_RECOMPUTED, f"{', '.join(missing)} not computed yet: replace ... with your "
                                         "hashlib code")
    if values["ha1"] != expected.ha1:
        return failed(DIGEST_RECOMPUTED, 'HA1 is not the MD5 of "username:realm:password": take the username '
                                         "and the realm from the Authorization header, the password of the "
                                         "account, colons between them, and hexdigest()")
    if values["ha2"] != expected.ha2:
        return failed(DIGEST_RECOMPUTED, 'HA2 is not the MD5 of "method:uri": the method of the request and the '
                                         "uri of the Authorization header (not the To URI)")
    if values["response"] != expected.response:
        return failed(DIGEST_RECOMPUTED, 'the response is not the MD5 of "HA1:nonce:nc:cnonce:qop:HA2": use '
                                         "the hex strings of HA1 and HA2, and nonce, nc, cnonce and qop exactly "
                                         "as the Authorization header writes them")
    return passed(DIGEST_RECOMPUTED, f"HA1, HA2 and the response match: your response {expected.response} is "
                                     "the one the phone sent, so Asterisk would accept it")


def wrong_password_refused(panel: RegisterPanel) -> CheckResult:
    """Did the student try a wrong password, and did the PBX refuse the REGISTER?

    Looks for a REGISTER with Authorization whose response does not match the account's
    password, answered 401 or 403.

    Taught in notebook 03.
    """
    the_panel = _panel(panel)
    password = the_panel.config.account(the_panel.account.value).password
    flow = the_panel.flow
    for message in flow.messages:
        if message.method != "REGISTER" or message.retransmission or message.message.authorization is None:
            continue
        try:
            right = bool(verify_authorization(message.message, password))
        except DigestError:
            continue
        if right:
            continue
        answer = next((r for r in flow.messages if r.status is not None and r.status >= 200
                       and r.cseq == message.cseq and r.call_id == message.call_id), None)
        if answer is None:
            return failed(WRONG_PASSWORD_REFUSED, "a REGISTER with a wrong password got no answer yet: wait for the "
                                                  "panel's status, then run this cell again")
        if answer.status in (401, 403):
            return passed(WRONG_PASSWORD_REFUSED, f"the REGISTER computed with a wrong password was answered "
                                                  f"{answer.label}: the digest response did not match")
        return failed(WRONG_PASSWORD_REFUSED, f"a REGISTER with a wrong password was answered {answer.label}: "
                                              "look at the exchange, this should not happen")
    return failed(WRONG_PASSWORD_REFUSED, "no REGISTER with a wrong password yet: type another password in the "
                                          "panel's Password field and press Register")


def _count(nc: str | None) -> int:
    """The nonce count as a number (``"00000002"`` -> 2; 0 if unreadable)."""
    try:
        return int(nc or "0", 16)
    except ValueError:
        return 0


def nonce_reused(panel: RegisterPanel) -> CheckResult:
    """Did Asterisk accept one nonce in several requests, the nonce count growing?

    Taught in notebook 03 (Asterisk's nonce is not a one-time value: it stays valid about 30 s).
    """
    the_panel = _panel(panel)
    table = nonce_uses(the_panel.flow)
    for nonce in table.reused:
        accepted = [u for u in table.uses_of(nonce) if u.answer is not None and u.answer.status is not None
                    and 200 <= u.answer.status < 300]
        if any(_count(u.nc) > 1 for u in accepted):
            counts = sorted({u.nc or "" for u in accepted}, key=_count)
            age = accepted[-1].age
            when = f", the last {age:.1f} s after it was made" if age is not None else ""
            return passed(NONCE_REUSED, f"nonce {nonce} was accepted {len(accepted)} times (nc "
                                        f"{', '.join(counts)}){when}: Asterisk did not challenge again")
    refused = [u for u in table.rows if _count(u.nc) > 1 and u.answer is not None
               and u.answer.status in (401, 407)]
    if refused:
        last = refused[-1]
        how_old = f" {last.age:.0f} s" if last.age is not None else ""
        return failed(NONCE_REUSED, f"Asterisk challenged the reused nonce again: it was{how_old} old (the 401 says "
                                    "stale=true when it is too old). Press Register, then send the request "
                                    "again within 30 s")
    try:
        auth_exchange(the_panel.flow)
    except VoipLabError:
        return failed(NONCE_REUSED, "the panel has no registration yet: press Register first")
    return failed(NONCE_REUSED, "no nonce was accepted twice yet: build the same REGISTER with the next nc "
                                "(vl.nonce_reuse_request) and send it with panel.send(...)")
