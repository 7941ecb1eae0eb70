"""Chapter 3 (REGISTER and digest authentication): the expected answers, computed by the grader.

From the student's own ``register.pcap`` (the 401 challenge and rpi's REGISTER with
``Authorization``) and ``call.pcap`` (the challenged INVITE), and the variant's password:
HA1, a response for the next nonce count, the INVITE's HA2. Every value depends on the
student's variant (password) or on their capture (nonce, cnonce, the number dialled).
"""

from __future__ import annotations

import hashlib

from ...core.digest import Challenge
from ...core.sip import AuthHeader
from ...errors import VoipLabError
from ..explain import AuthExchange
from .base import AssignmentSpec, Exercise, GradingContext, Part, as_text, exact

__all__ = ["ASSIGNMENT"]

#: what the answer cells of this chapter may not call: the helpers that compute a digest
DIGEST_HELPERS = ("compute_response", "verify_authorization", "DigestComputation", "ha1", "ha2", "steps")


def md5(text: str) -> str:
    """MD5 of a UTF-8 string, 32 lower-case hex digits (RFC 2617's H())."""
    return hashlib.md5(text.encode()).hexdigest()


def _lower(value: object) -> object:
    text = as_text(value)
    return text.lower() if text is not None else value


def _exchange(ctx: GradingContext, capture: str, method: str) -> tuple[AuthExchange, Challenge, AuthHeader]:
    ex = ctx.experiment(capture).auth_exchange(method)
    auth = ex.authorized.message.authorization if ex.authorized is not None else None
    if auth is None:
        raise VoipLabError(f"the {capture} capture has no {method} sent again with Authorization")
    return ex, Challenge.from_message(ex.challenge.message), auth


def _response(ha1: str, nonce: str, nc: str, cnonce: str, qop: str, ha2: str) -> str:
    return md5(f"{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}")


def _challenge(ctx: GradingContext) -> list[Part]:
    _ex, challenge, auth = _exchange(ctx, "register", "REGISTER")
    return [Part("nonce", 1, challenge.nonce, exact("nonce", challenge.nonce, normalize=as_text, hints=[
                (auth.get("cnonce"), "that is rpi's cnonce; the nonce is Asterisk's, in WWW-Authenticate")])),
            Part("cnonce", 1, auth["cnonce"], exact("cnonce", auth["cnonce"], normalize=as_text, hints=[
                (challenge.nonce, "that is Asterisk's nonce; the cnonce is rpi's, in its Authorization")]))]


def _ha1(ctx: GradingContext) -> list[Part]:
    _ex, challenge, auth = _exchange(ctx, "register", "REGISTER")
    user, password = str(auth["username"]), ctx.variant.rpi_password
    expected = md5(f"{user}:{challenge.realm}:{password}")
    hints = [(md5(f"{ctx.variant.rpi_number}:{challenge.realm}:{password}"),
              "the digest username is the one in rpi's Authorization header, not its number"),
             (md5(f"{user}:{challenge.realm}:22222222"),
              "that is the report's password: use your lab's (work.lab.account('rpi').password)"),
             (md5(f"{user}:{password}:{challenge.realm}"), "HA1 is MD5(username:realm:password), in that order")]
    return [Part("ha1", 3, expected, exact("ha1", expected, normalize=_lower, hints=hints))]


def _next_response(ctx: GradingContext) -> list[Part]:
    _ex, challenge, auth = _exchange(ctx, "register", "REGISTER")
    ha1 = md5(f"{auth['username']}:{challenge.realm}:{ctx.variant.rpi_password}")
    ha2 = md5(f"REGISTER:{auth['uri']}")
    qop = str(auth.get("qop") or "auth")
    expected = _response(ha1, challenge.nonce, "00000002", str(auth["cnonce"]), qop, ha2)
    sent = _response(ha1, challenge.nonce, "00000001", str(auth["cnonce"]), qop, ha2)
    if sent != str(auth["response"]).lower():
        raise VoipLabError("the captured REGISTER's response does not match the variant's password: "
                           "the capture is not from this student's lab")
    hints = [(sent, "that is the response rpi sent (nc=00000001): recompute it with nc=00000002"),
             (md5(f"{ha1}:{challenge.nonce}:{ha2}"),
              "with qop=auth the response also hashes nc, cnonce and qop (RFC 2617, 3.2.2.1)"),
             (_response(ha1, challenge.nonce, "2", str(auth["cnonce"]), qop, ha2),
              "nc is 8 hex digits: 00000002")]
    return [Part("response_nc2", 4, expected, exact("response_nc2", expected, normalize=_lower, hints=hints))]


def _invite(ctx: GradingContext) -> list[Part]:
    _ex, challenge, auth = _exchange(ctx, "call", "INVITE")
    ha1 = md5(f"{auth['username']}:{challenge.realm}:{ctx.variant.rpi_password}")
    ha2 = md5(f"INVITE:{auth['uri']}")
    qop = str(auth.get("qop") or "auth")
    expected = _response(ha1, challenge.nonce, "00000002", str(auth["cnonce"]), qop, ha2)
    return [Part("ha2", 1, ha2, exact("ha2", ha2, normalize=_lower, hints=[
                (md5(f"REGISTER:{auth['uri']}"), "HA2 hashes the method of the request: INVITE here")])),
            Part("invite_response_nc2", 2, expected, exact("invite_response_nc2", expected, normalize=_lower,
                 hints=[(str(auth["response"]).lower(), "that is the response rpi sent (nc=00000001)")]))]



ASSIGNMENT = AssignmentSpec(
    name="ch3_digest",
    chapter=3,
    exercises=(
        Exercise("ex1", "ex1_check", ("ex1_answer",), "the digest challenge and rpi's cnonce", ("register",),
                 (), _challenge),
        Exercise("ex2", "ex2_check", ("ex2_answer",), "HA1 with hashlib", ("register",), DIGEST_HELPERS, _ha1),
        Exercise("ex3", "ex3_check", ("ex3_answer",), "the response for the next nonce count", ("register",),
                 DIGEST_HELPERS, _next_response),
        Exercise("ex4", "ex4_check", ("ex4_answer",), "the INVITE's digest", ("call",), DIGEST_HELPERS, _invite),
    ),
    manual=("ex5_written",),
)
