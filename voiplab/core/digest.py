"""HTTP digest authentication as SIP uses it (RFC 2617, RFC 7616, RFC 8760).

Asterisk answers a REGISTER (and each INVITE) with ``401 Unauthorized`` carrying a
challenge::

    WWW-Authenticate: Digest realm="asterisk",nonce="1718...",opaque="...",algorithm=MD5,qop="auth"

The phone answers with the same request plus ``Authorization``, whose ``response``
proves it knows the password without sending it::

    HA1      = H(username ":" realm ":" password)                 (algorithm X)
    HA1      = H(H(username ":" realm ":" password) ":" nonce ":" cnonce)   (X-sess)
    HA2      = H(method ":" uri)                                  (qop=auth or none)
    HA2      = H(method ":" uri ":" H(body))                      (qop=auth-int)
    response = H(HA1 ":" nonce ":" nc ":" cnonce ":" qop ":" HA2) (with qop)
    response = H(HA1 ":" nonce ":" HA2)                           (without qop, RFC 2069)

:func:`compute_response` returns every intermediate string and hash in a
:class:`DigestComputation` so that a notebook can show each step.

Pure: no sockets, no clock, no randomness (the cnonce is passed in).
Taught in notebook 03 (register and digest authentication).
"""

from __future__ import annotations

import hashlib
import html
from collections.abc import Callable
from dataclasses import dataclass

from ..errors import DigestError, SipParseError
from .sip import AuthHeader, SipMessage

__all__ = [
    "ALGORITHMS",
    "QOP_VALUES",
    "Challenge",
    "DigestComputation",
    "Verification",
    "parse_challenge",
    "compute_response",
    "verify_authorization",
    "format_nc",
]


def _hasher(name: str) -> Callable[[bytes], str]:
    def digest(data: bytes) -> str:
        return hashlib.new(name, data).hexdigest()

    return digest


#: Digest algorithms (RFC 7616 section 6.1; RFC 8760 for SIP) -> hash function name.
ALGORITHMS: dict[str, str] = {
    "MD5": "md5",
    "MD5-SESS": "md5",
    "SHA-256": "sha256",
    "SHA-256-SESS": "sha256",
    "SHA-512-256": "sha512_256",
    "SHA-512-256-SESS": "sha512_256",
}
#: Quality of protection values; ``""`` means none (the RFC 2069 compatibility mode).
QOP_VALUES = ("auth", "auth-int", "")
_SUPPORTED = "MD5, MD5-sess, SHA-256, SHA-256-sess, SHA-512-256 or SHA-512-256-sess"


def _canonical_algorithm(algorithm: str | None) -> str:
    name = (algorithm or "MD5").strip()
    if name.upper() not in ALGORITHMS:
        raise DigestError(f"digest algorithm {name!r} is not supported: use {_SUPPORTED}")
    return name


def format_nc(nc: int | str) -> str:
    """The nonce count as 8 lower-case hex digits (``1`` -> ``"00000001"``)."""
    if isinstance(nc, int):
        if not 0 < nc <= 0xFFFFFFFF:
            raise DigestError(f"digest nonce count {nc} is out of range: count requests from 1")
        return f"{nc:08x}"
    return nc


@dataclass(frozen=True)
class Challenge:
    """A digest challenge from WWW-Authenticate or Proxy-Authenticate.

    Attributes:
        realm: the protection space (``"asterisk"``).
        nonce: the server's one-time value.
        algorithm: ``"MD5"`` unless the challenge says otherwise.
        qop: the offered qop values, e.g. ``("auth",)``; ``()`` if none (RFC 2069 mode).
        opaque: echoed back unchanged, or ``None``.
        stale: ``True`` when the previous nonce expired but the password was right.
        userhash: RFC 7616: the username must be hashed.

    Taught in notebook 03.
    """

    realm: str
    nonce: str
    algorithm: str = "MD5"
    qop: tuple[str, ...] = ()
    opaque: str | None = None
    stale: bool = False
    domain: str | None = None
    userhash: bool = False
    charset: str | None = None

    @classmethod
    def parse(cls, value: str | AuthHeader) -> Challenge:
        """Parse a WWW-Authenticate / Proxy-Authenticate value.

        Raises:
            DigestError: the scheme is not Digest, realm or nonce is missing, or the
                algorithm is unknown.
        """
        header = _auth_header(value, "challenge")
        if header.scheme.lower() != "digest":
            raise DigestError(
                f"authentication scheme {header.scheme!r} is not Digest: SIP uses "
                "'Digest realm=..., nonce=...'"
            )
        for required in ("realm", "nonce"):
            if header.get(required) is None:
                raise DigestError(
                    f"digest challenge is missing {required}: a WWW-Authenticate must carry realm and nonce"
                )
        qop_text = header.get("qop") or ""
        return cls(
            realm=header["realm"],
            nonce=header["nonce"],
            algorithm=_canonical_algorithm(header.get("algorithm")),
            qop=tuple(q.strip() for q in qop_text.split(",") if q.strip()),
            opaque=header.get("opaque"),
            stale=(header.get("stale") or "").lower() == "true",
            domain=header.get("domain"),
            userhash=(header.get("userhash") or "").lower() == "true",
            charset=header.get("charset"),
        )

    @classmethod
    def from_message(cls, message: SipMessage) -> Challenge:
        """The challenge of a 401 (WWW-Authenticate) or 407 (Proxy-Authenticate) response.

        Raises:
            DigestError: the message carries no challenge.
        """
        header = message.headers.get("WWW-Authenticate") or message.headers.get("Proxy-Authenticate")
        if header is None:
            raise DigestError(
                f"SIP message '{message.summary}' has no WWW-Authenticate or Proxy-Authenticate "
                "header: pass the 401 or 407 response"
            )
        return cls.parse(header)

    def __repr__(self) -> str:
        qop = ",".join(self.qop) or "none"
        return f"<Challenge realm={self.realm!r} nonce={self.nonce!r} algorithm={self.algorithm} qop={qop}>"


def _auth_header(value: str | AuthHeader, what: str) -> AuthHeader:
    if isinstance(value, AuthHeader):
        return value
    try:
        return AuthHeader.parse(value)
    except SipParseError as error:
        raise DigestError(f"digest {what} is malformed ({error}): copy the whole header value") from None


def parse_challenge(value: str | AuthHeader | SipMessage) -> Challenge:
    """A :class:`Challenge` from a header value or a 401/407 message."""
    if isinstance(value, SipMessage):
        return Challenge.from_message(value)
    return Challenge.parse(value)


@dataclass(frozen=True)
class DigestComputation:
    """Every step of a digest response, for display.

    Attributes:
        algorithm, qop, username, realm, nonce, uri, method, cnonce, nc, opaque: the inputs.
        ha1_input: ``"user:realm:password"`` (the session form appends nonce and cnonce).
        ha1: H(ha1_input) (for -sess: H(H(user:realm:password):nonce:cnonce)).
        ha2_input: ``"METHOD:uri"`` (``":H(body)"`` appended for auth-int).
        ha2: H(ha2_input).
        kd_input: ``"HA1:nonce:nc:cnonce:qop:HA2"`` (or ``"HA1:nonce:HA2"`` without qop).
        response: H(kd_input), the value sent in ``Authorization: ... response="..."``.

    Taught in notebook 03.
    """

    algorithm: str
    qop: str
    username: str
    realm: str
    nonce: str
    uri: str
    method: str
    cnonce: str | None
    nc: str | None
    opaque: str | None
    ha1_input: str
    ha1: str
    ha2_input: str
    ha2: str
    kd_input: str
    response: str
    userhash: bool = False

    def authorization(self) -> str:
        """The value of the Authorization header that carries this response (Asterisk's order)."""
        parts = [
            f'username="{self.username}"',
            f'realm="{self.realm}"',
            f'nonce="{self.nonce}"',
            f'uri="{self.uri}"',
            f'response="{self.response}"',
            f"algorithm={self.algorithm}",
        ]
        if self.qop:
            parts += [f'cnonce="{self.cnonce}"', f"qop={self.qop}", f"nc={self.nc}"]
        if self.opaque is not None:
            parts.append(f'opaque="{self.opaque}"')
        if self.userhash:
            parts.append("userhash=true")
        return "Digest " + ", ".join(parts)

    def steps(self) -> list[tuple[str, str, str]]:
        """``(step, input, hash)`` rows: HA1, HA2 and the response."""
        return [
            ("HA1", self.ha1_input, self.ha1),
            ("HA2", self.ha2_input, self.ha2),
            ("response", self.kd_input, self.response),
        ]

    def __repr__(self) -> str:
        return (
            f"<DigestComputation {self.algorithm} qop={self.qop or 'none'} "
            f"{self.method} {self.uri} response={self.response}>"
        )

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><td><b>{name}</b></td><td style='font-family:monospace;text-align:left'>"
            f"H({html.escape(text)})</td><td style='font-family:monospace'>{value}</td></tr>"
            for name, text, value in self.steps()
        )
        return (
            f"<table><tr><th>step</th><th>input ({html.escape(self.algorithm)})</th><th>hash</th></tr>"
            f"{rows}</table>"
        )


def compute_response(
    challenge: Challenge | str | AuthHeader | SipMessage,
    method: str,
    uri: str,
    username: str,
    password: str,
    cnonce: str | None = None,
    nc: int | str = 1,
    *,
    qop: str | None = None,
    body: bytes = b"",
) -> DigestComputation:
    """Compute the digest response to a challenge, keeping every intermediate value.

    Parameters:
        challenge: the :class:`Challenge`, the WWW-Authenticate value or the 401 itself.
        method: the request method (``"REGISTER"``, ``"INVITE"``).
        uri: the digest-uri (the Request-URI, e.g. ``"sip:127.0.0.80"``).
        username, password: the credentials (``"5002"``, ``"22222222"`` in the lab).
        cnonce: the client nonce (required when the challenge offers qop).
        nc: the nonce count (``1`` -> ``"00000001"``).
        qop: ``"auth"``, ``"auth-int"`` or ``""`` (none); default: ``auth`` if offered,
            else ``auth-int`` if offered, else none.
        body: the message body, used by ``auth-int``.

    Returns:
        A :class:`DigestComputation`; its ``response`` is the value to send.

    Raises:
        DigestError: unknown algorithm or qop, or a missing cnonce.

    Taught in notebook 03.
    """
    if not isinstance(challenge, Challenge):
        challenge = parse_challenge(challenge)
    algorithm = _canonical_algorithm(challenge.algorithm)
    h = _hasher(ALGORITHMS[algorithm.upper()])
    if qop is None:
        qop = "auth" if "auth" in challenge.qop else "auth-int" if "auth-int" in challenge.qop else ""
    if qop not in QOP_VALUES:
        raise DigestError(f"digest qop {qop!r} is not supported: use 'auth', 'auth-int' or '' (none)")
    sess = algorithm.upper().endswith("-SESS")
    if (qop or sess) and not cnonce:
        raise DigestError(
            "digest cnonce is missing: pass cnonce=... (any random string) when the challenge has qop "
            "or a -sess algorithm"
        )
    nc_text = format_nc(nc) if qop else None

    user_field = h(f"{username}:{challenge.realm}".encode()) if challenge.userhash else username
    secret = f"{username}:{challenge.realm}:{password}"
    if sess:
        ha1_input = f"{h(secret.encode())}:{challenge.nonce}:{cnonce}"
    else:
        ha1_input = secret
    ha1 = h(ha1_input.encode())
    ha2_input = f"{method}:{uri}"
    if qop == "auth-int":
        ha2_input += f":{h(body)}"
    ha2 = h(ha2_input.encode())
    if qop:
        kd_input = f"{ha1}:{challenge.nonce}:{nc_text}:{cnonce}:{qop}:{ha2}"
    else:
        kd_input = f"{ha1}:{challenge.nonce}:{ha2}"
    return DigestComputation(
        algorithm=algorithm,
        qop=qop,
        username=user_field,
        realm=challenge.realm,
        nonce=challenge.nonce,
        uri=uri,
        method=method,
        cnonce=cnonce if (qop or sess) else None,
        nc=nc_text,
        opaque=challenge.opaque,
        ha1_input=ha1_input,
        ha1=ha1,
        ha2_input=ha2_input,
        ha2=ha2,
        kd_input=kd_input,
        response=h(kd_input.encode()),
        userhash=challenge.userhash,
    )


@dataclass(frozen=True)
class Verification:
    """The result of checking an Authorization header against a password.

    ``bool(verification)`` is ``ok``.

    Attributes:
        ok: whether the received response equals the expected one.
        received: the ``response`` the client sent.
        expected: the computation with the given password.
    """

    ok: bool
    received: str
    expected: DigestComputation

    def __bool__(self) -> bool:
        return self.ok

    def __repr__(self) -> str:
        verdict = "matches" if self.ok else "does NOT match"
        return f"<Verification response {self.received} {verdict} expected {self.expected.response}>"


def verify_authorization(
    authorization: str | AuthHeader | SipMessage,
    password: str,
    method: str | None = None,
    *,
    body: bytes | None = None,
) -> Verification:
    """Check the ``response`` of an Authorization (or Proxy-Authorization) against a password.

    Parameters:
        authorization: the header value, or the authenticated request itself (then the
            method and, for auth-int, the body are taken from it).
        password: the password to try.
        method: the request method (required when a header value is passed).
        body: the body for ``qop=auth-int``.

    Raises:
        DigestError: a required field is missing or the header is not Digest.

    Taught in notebook 03 (is the password 22222222?).
    """
    if isinstance(authorization, SipMessage):
        message = authorization
        value = message.headers.get("Authorization") or message.headers.get("Proxy-Authorization")
        if value is None:
            raise DigestError(
                f"SIP message '{message.summary}' has no Authorization header: pass the "
                "request sent after the 401"
            )
        method = method or message.method or (message.cseq.method if message.cseq else None)
        body = message.body if body is None else body
        authorization = value
    header = _auth_header(authorization, "authorization")
    if header.scheme.lower() != "digest":
        raise DigestError(f"authentication scheme {header.scheme!r} is not Digest: SIP uses Digest")
    missing = [name for name in ("username", "realm", "nonce", "uri", "response") if header.get(name) is None]
    if missing:
        raise DigestError(f"digest authorization is missing {', '.join(missing)}: copy the whole header")
    if method is None:
        raise DigestError("digest method is missing: pass method='REGISTER' (or the request)")
    qop = header.get("qop") or ""
    challenge = Challenge(
        realm=header["realm"],
        nonce=header["nonce"],
        algorithm=_canonical_algorithm(header.get("algorithm")),
        qop=(qop,) if qop else (),
        opaque=header.get("opaque"),
    )
    expected = compute_response(
        challenge,
        method,
        header["uri"],
        header["username"],
        password,
        header.get("cnonce"),
        header.get("nc") or 1,
        qop=qop,
        body=body or b"",
    )
    received = header["response"]
    return Verification(received.lower() == expected.response, received, expected)
