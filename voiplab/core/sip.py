"""SIP messages (RFC 3261), parsed and serialised without any I/O.

A SIP message is a start line (a request line ``INVITE sip:5001@127.0.0.80 SIP/2.0``
or a status line ``SIP/2.0 200 OK``), header lines, an empty line and a body::

    generic-message  =  start-line *message-header CRLF [ message-body ]
    start-line       =  Request-Line / Status-Line
    Request-Line     =  Method SP Request-URI SP SIP-Version CRLF
    Status-Line      =  SIP-Version SP Status-Code SP Reason-Phrase CRLF
    message-header   =  field-name HCOLON field-value CRLF   (folding: CRLF 1*WSP continues)

Parsing keeps every byte: the original header names, separators, folding and line
endings are kept, so ``bytes(SipMessage.parse(data)) == data`` for every message that
parses. Lookups are case-insensitive and understand the compact forms (``i`` is
``Call-ID``, ``v`` is ``Via``...). Typed views (:class:`Uri`, :class:`NameAddr`,
:class:`Via`, :class:`CSeq`, :class:`AuthHeader`) are parsed on demand; so are the
:class:`Header` objects of a message in the usual form (CRLF line endings, no folding):
parsing checks every line, and ``message.headers`` builds them when first read.

The grammar itself (the RFC 3261 ABNF, quoted above each regular expression) is in
:mod:`voiplab.core.grammar`.

The only exception :meth:`SipMessage.parse` raises is :class:`SipParseError`,
whatever the input; typed accessors raise :class:`SipParseError` too.

Pure: no sockets, no scapy, no clock. Taught in notebook 03 (REGISTER and digest
authentication) and 04 (the INVITE flow and SDP).
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, SupportsIndex, overload

from ..errors import SipParseError
from .grammar import (
    ANGLE_OR_COMMA_RE,
    BARE_PARAM_VALUE_RE,
    CSEQ_RE,
    HEADER_NAME_RE,
    PORT_RE,
    QUOTED_PAIR_RE,
    REQUEST_LINE_RE,
    SCHEME_RE,
    SIMPLE_VIA_RE,
    STATUS_LINE_RE,
    TOKEN_RE,
    VIA_RE,
    looks_like_sip,
)
from .sdp import SessionDescription

__all__ = [
    "SIP_DEFAULT_PORT",
    "SIPS_DEFAULT_PORT",
    "SIP_PORTS",
    "COMPACT_FORMS",
    "LIST_HEADERS",
    "BRANCH_MAGIC_COOKIE",
    "Header",
    "Headers",
    "Uri",
    "NameAddr",
    "Via",
    "CSeq",
    "AuthHeader",
    "SipMessage",
    "HeaderChange",
    "MessageDiff",
    "diff",
    "options_request",
    "split_params",
    "split_commas",
    "message_length",
    "head_content_length",
    "salvage_fields",
    "looks_like_sip",
]

#: Content-Length is 1*DIGIT (RFC 3261 20.14); more digits than this cannot be a real body size
MAX_CONTENT_LENGTH_DIGITS = 10
SIP_DEFAULT_PORT = 5060
SIPS_DEFAULT_PORT = 5061
#: The ports on which a capture reader takes every UDP/TCP payload for SIP (others: by its first line).
SIP_PORTS = frozenset({SIP_DEFAULT_PORT, SIPS_DEFAULT_PORT})
SIP_VERSION = "SIP/2.0"
#: RFC 3261 section 8.1.1.7: a branch starting with this is globally unique.
BRANCH_MAGIC_COOKIE = "z9hG4bK"

#: Compact header names (RFC 3261 section 7.3.3 and later RFCs) -> long form.
COMPACT_FORMS: dict[str, str] = {
    "a": "Accept-Contact",
    "b": "Referred-By",
    "c": "Content-Type",
    "d": "Request-Disposition",
    "e": "Content-Encoding",
    "f": "From",
    "i": "Call-ID",
    "j": "Reject-Contact",
    "k": "Supported",
    "l": "Content-Length",
    "m": "Contact",
    "n": "Identity-Info",
    "o": "Event",
    "r": "Refer-To",
    "s": "Subject",
    "t": "To",
    "u": "Allow-Events",
    "v": "Via",
    "x": "Session-Expires",
    "y": "Identity",
}

# Canonical spellings of header names whose capitalisation is not just Title-Case.
_CANONICAL: dict[str, str] = {
    name.lower(): name
    for name in (
        "Call-ID",
        "CSeq",
        "WWW-Authenticate",
        "MIME-Version",
        "RAck",
        "RSeq",
        "SIP-ETag",
        "SIP-If-Match",
        "P-Asserted-Identity",
        "P-Preferred-Identity",
        "Allow-Events",
        "Max-Forwards",
        "Min-SE",
        "Content-ID",
    )
}

#: Headers whose value is a comma-separated list (RFC 3261 section 7.3.1): several
#: values may share one header line, or the header may be repeated.
LIST_HEADERS = frozenset(
    name.lower()
    for name in (
        "Via",
        "Contact",
        "Route",
        "Record-Route",
        "Path",
        "Service-Route",
        "Allow",
        "Supported",
        "Require",
        "Proxy-Require",
        "Unsupported",
        "Accept",
        "Accept-Encoding",
        "Accept-Language",
        "Content-Encoding",
        "Content-Language",
        "Allow-Events",
        "Alert-Info",
        "Call-Info",
        "Error-Info",
        "In-Reply-To",
        "Warning",
        "Reason",
        "P-Asserted-Identity",
        "P-Preferred-Identity",
        "Accept-Contact",
        "Reject-Contact",
        "Security-Client",
        "Security-Server",
        "Security-Verify",
        "History-Info",
    )
)

# Status codes as written on a status line ("100".."699") -> their value.
_STATUS_CODES: dict[str, int] = {str(code): code for code in range(100, 700)}


def _canonical(name: str) -> str:
    """The long, conventionally capitalised form of a header name (``i`` -> ``Call-ID``)."""
    lower = name.lower()
    if lower in COMPACT_FORMS:
        return COMPACT_FORMS[lower]
    if lower in _CANONICAL:
        return _CANONICAL[lower]
    return "-".join(part[:1].upper() + part[1:].lower() for part in name.split("-"))


_KEYS: dict[str, str] = {}
_KEYS_MAX = 4096


def _key(name: str) -> str:
    """The lookup key of a header name: compact forms expanded, lower case (memoised)."""
    key = _KEYS.get(name)
    if key is None:
        lower = name.strip().lower()
        key = COMPACT_FORMS[lower].lower() if lower in COMPACT_FORMS else lower
        if len(_KEYS) < _KEYS_MAX:
            _KEYS[name] = key
    return key


# Header-name prefixes of plain header lines (``"Call-ID:"``, ``"l :"``): the text before and
# including the first colon -> (the name as written, its lookup key). Only valid tokens get in.
_PLAIN_NAMES: dict[str, tuple[str, str]] = {}


def _plain_name(prefix: str) -> tuple[str, str] | None:
    """(name, key) of a header line's text up to its first colon, or ``None`` if not ``token [WSP] :``."""
    found = _PLAIN_NAMES.get(prefix)
    if found is None:
        match = HEADER_NAME_RE.fullmatch(prefix)
        if match is None:
            return None
        name = match.group(1)
        found = (name, _key(name))
        if len(_PLAIN_NAMES) < _KEYS_MAX:
            _PLAIN_NAMES[prefix] = found
    return found


def split_commas(text: str) -> list[str]:
    """Split a header value on the commas that separate list elements.

    Commas inside a quoted string (``"Doe, John"``) or inside ``<...>`` do not split.

    Taught in notebook 03.
    """
    if '"' not in text:  # no quoted strings: only <...> protects a comma
        if "<" not in text and ">" not in text:
            pieces = text.split(",")
        else:
            pieces = []
            start = angle = 0
            for match in ANGLE_OR_COMMA_RE.finditer(text):
                char = match.group()
                if char == "<":
                    angle += 1
                elif char == ">":
                    angle = max(0, angle - 1)
                elif angle == 0:
                    pieces.append(text[start : match.start()])
                    start = match.start() + 1
            pieces.append(text[start:])
        return [part for part in map(str.strip, pieces) if part]
    parts: list[str] = []
    start = 0
    in_quotes = False
    angle = 0
    i = 0
    n = len(text)
    while i < n:
        char = text[i]
        if in_quotes:
            if char == "\\":
                i += 1
            elif char == '"':
                in_quotes = False
        elif char == '"':
            in_quotes = True
        elif char == "<":
            angle += 1
        elif char == ">":
            angle = max(0, angle - 1)
        elif char == "," and angle == 0:
            parts.append(text[start:i].strip())
            start = i + 1
        i += 1
    parts.append(text[start:].strip())
    return [part for part in parts if part]


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
        return QUOTED_PAIR_RE.sub(r"\1", value[1:-1])
    return value


def split_params(text: str) -> tuple[tuple[str, str | None], ...]:
    """Parse ``;name=value;flag;name="quoted"`` into ordered (name, value) pairs.

    A flag parameter (``;lr``, ``;rport``) has the value ``None``; quoted values are
    unquoted. Semicolons inside quotes do not split.
    """
    params: list[tuple[str, str | None]] = []
    for chunk in _split_outside_quotes(text, ";"):
        chunk = chunk.strip()
        if not chunk:
            continue
        name, eq, value = chunk.partition("=")
        params.append((name.strip(), _unquote(value) if eq else None))
    return tuple(params)


def _split_outside_quotes(text: str, separator: str) -> list[str]:
    if '"' not in text:
        return text.split(separator)
    parts: list[str] = []
    start = 0
    in_quotes = False
    i = 0
    while i < len(text):
        char = text[i]
        if in_quotes:
            if char == "\\":
                i += 1
            elif char == '"':
                in_quotes = False
        elif char == '"':
            in_quotes = True
        elif char == separator:
            parts.append(text[start:i])
            start = i + 1
        i += 1
    parts.append(text[start:])
    return parts


def _param(params: tuple[tuple[str, str | None], ...], name: str) -> str | None:
    lower = name.lower()
    for key, value in params:
        if key.lower() == lower:
            return "" if value is None else value
    return None


def _format_params(params: tuple[tuple[str, str | None], ...]) -> str:
    out = []
    for name, value in params:
        if value is None:
            out.append(f";{name}")
        elif value == "" or BARE_PARAM_VALUE_RE.fullmatch(value):
            out.append(f";{name}={value}")
        else:
            escaped = value.replace("\\", "\\\\").replace('"', '\\"')
            out.append(f';{name}="{escaped}"')
    return "".join(out)


# ---------------------------------------------------------------------------- URIs


@dataclass(frozen=True)
class Uri:
    """A SIP, SIPS or tel URI (RFC 3261 section 19.1, RFC 3966).

    ``sip:user:password@host:port;uri-parameters?headers``

    Attributes:
        scheme: ``"sip"``, ``"sips"``, ``"tel"`` (lower case) or another scheme.
        user: the user part (``"5001"``), the number of a tel URI, or ``None``.
        password: the password in the user part (discouraged), or ``None``.
        host: the host name or address; IPv6 references keep their brackets.
        port: the port, or ``None`` when absent (then 5060, 5061 for sips).
        params: URI parameters in order, e.g. ``(("transport", "udp"), ("lr", None))``.
        headers: URI headers after ``?`` in order.
        opaque: for other schemes, the text after ``scheme:``.

    Taught in notebook 03.
    """

    scheme: str
    user: str | None = None
    password: str | None = None
    host: str | None = None
    port: int | None = None
    params: tuple[tuple[str, str | None], ...] = ()
    headers: tuple[tuple[str, str], ...] = ()
    opaque: str | None = None
    text: str = field(default="", compare=False, repr=False)

    @classmethod
    def parse(cls, text: str) -> Uri:
        """Parse a URI.

        Raises:
            SipParseError: no scheme, an empty host or a port that is not a number.
        """
        original = text
        text = text.strip()
        scheme, colon, rest = text.partition(":")
        if not colon or not SCHEME_RE.fullmatch(scheme):
            raise SipParseError(
                f"SIP URI {original!r} is malformed: it must start with a scheme, e.g. 'sip:5001@127.0.0.80'"
            )
        scheme = scheme.lower()
        if scheme == "tel":
            number, _, params = rest.partition(";")
            return cls(scheme, user=number, params=split_params(params), text=original)
        if scheme not in ("sip", "sips"):
            return cls(scheme, opaque=rest, text=original)
        rest, question, header_text = rest.partition("?")
        headers: tuple[tuple[str, str], ...] = ()
        if question:
            headers = tuple(
                (name, value)
                for name, _, value in (item.partition("=") for item in header_text.split("&") if item)
            )
        user = password = None
        if "@" in rest:
            userinfo, _, rest = rest.rpartition("@")
            user, colon, pwd = userinfo.partition(":")
            password = pwd if colon else None
        hostport, _, param_text = rest.partition(";")
        port_text: str | None = None
        if hostport.startswith("["):
            end = hostport.find("]")
            if end < 0:
                raise SipParseError(
                    f"SIP URI {original!r} is malformed: an IPv6 address must be closed by ']'"
                )
            host = hostport[: end + 1]
            tail = hostport[end + 1 :]
            if tail:
                if not tail.startswith(":"):
                    raise SipParseError(
                        f"SIP URI {original!r} is malformed: only ':port' may follow the IPv6 address"
                    )
                port_text = tail[1:]
        else:
            host, colon, port_part = hostport.partition(":")
            port_text = port_part if colon else None
        if not host:
            raise SipParseError(
                f"SIP URI {original!r} is missing its host: write it as 'sip:user@host[:port]'"
            )
        port = None
        if port_text is not None:
            if not PORT_RE.fullmatch(port_text) or int(port_text) > 65535:
                raise SipParseError(
                    f"SIP URI {original!r} has a port {port_text!r} that is not a number "
                    "from 0 to 65535: fix the port"
                )
            port = int(port_text)
        return cls(scheme, user, password, host, port, split_params(param_text), headers, None, original)

    @property
    def default_port(self) -> int:
        """The port to use: the explicit one, else 5061 for sips, else 5060."""
        if self.port is not None:
            return self.port
        return SIPS_DEFAULT_PORT if self.scheme == "sips" else SIP_DEFAULT_PORT

    def param(self, name: str) -> str | None:
        """A URI parameter (``""`` for a flag such as ``lr``), or ``None`` if absent."""
        return _param(self.params, name)

    @property
    def transport(self) -> str | None:
        """The ``transport`` parameter, upper case (``"UDP"``, ``"TCP"``, ``"WS"``), or ``None``."""
        value = self.param("transport")
        return value.upper() if value else None

    @property
    def host_port(self) -> str:
        """``host`` or ``host:port`` as written."""
        return f"{self.host}:{self.port}" if self.port is not None else (self.host or "")

    def __str__(self) -> str:
        if self.text:
            return self.text.strip()
        if self.opaque is not None:
            return f"{self.scheme}:{self.opaque}"
        if self.scheme == "tel":
            return f"tel:{self.user}{_format_params(self.params)}"
        userinfo = ""
        if self.user is not None:
            userinfo = self.user + (f":{self.password}" if self.password is not None else "") + "@"
        text = f"{self.scheme}:{userinfo}{self.host_port}{_format_params(self.params)}"
        if self.headers:
            text += "?" + "&".join(f"{k}={v}" for k, v in self.headers)
        return text

    def __repr__(self) -> str:
        return f"Uri({str(self)!r})"


def _read_quoted(text: str, start: int) -> tuple[str, int]:
    """The unescaped content of the quoted string at ``text[start] == '"'`` and the index after it."""
    out = []
    i = start + 1
    while i < len(text):
        char = text[i]
        if char == "\\" and i + 1 < len(text):
            out.append(text[i + 1])
            i += 2
            continue
        if char == '"':
            return "".join(out), i + 1
        out.append(char)
        i += 1
    raise SipParseError(
        f"SIP address {text!r} has an unterminated quoted string: close the display name with '\"'"
    )


@dataclass(frozen=True)
class NameAddr:
    """An address with an optional display name: From, To, Contact, Route, Refer-To...

    ``"Raspberry Pi" <sip:5002@127.0.0.80>;tag=abc``

    Attributes:
        display_name: the display name without quotes, or ``None``.
        uri: the address.
        params: header parameters after the address (``tag``, ``expires``, ``q``...).
        angle_brackets: whether the URI was written in ``<...>``.

    Taught in notebook 03.
    """

    display_name: str | None
    uri: Uri
    params: tuple[tuple[str, str | None], ...] = ()
    angle_brackets: bool = True

    @classmethod
    def parse(cls, text: str) -> NameAddr:
        """Parse a name-addr (``"Name" <uri>;params``) or addr-spec (``uri;params``).

        Raises:
            SipParseError: an unterminated quote or ``<``, or a malformed URI.
        """
        stripped = text.strip()
        display: str | None = None
        rest = stripped
        if stripped.startswith('"'):
            display, end = _read_quoted(stripped, 0)
            rest = stripped[end:].lstrip()
            if not rest.startswith("<"):
                raise SipParseError(
                    f"SIP address {text.strip()!r} is malformed: a quoted display name must be "
                    "followed by '<uri>'"
                )
        if "<" in rest:
            lt = rest.index("<")
            if display is None:
                token = rest[:lt].strip()
                display = token or None
            gt = rest.find(">", lt)
            if gt < 0:
                raise SipParseError(f"SIP address {text.strip()!r} is malformed: '<' is not closed by '>'")
            uri = Uri.parse(rest[lt + 1 : gt])
            return cls(display, uri, split_params(rest[gt + 1 :]), True)
        uri_text, _, params = rest.partition(";")
        return cls(None, Uri.parse(uri_text), split_params(params), False)

    def param(self, name: str) -> str | None:
        """A header parameter (``""`` for a flag), or ``None`` if absent."""
        return _param(self.params, name)

    @property
    def tag(self) -> str | None:
        """The ``tag`` parameter of From/To (identifies the dialog), or ``None``."""
        return self.param("tag")

    @property
    def user(self) -> str | None:
        """The user part of the URI (the extension number in this lab)."""
        return self.uri.user

    def __str__(self) -> str:
        if not self.angle_brackets and self.display_name is None:
            return f"{self.uri}{_format_params(self.params)}"
        name = ""
        if self.display_name is not None:
            escaped = self.display_name.replace("\\", "\\\\").replace('"', '\\"')
            name = f'"{escaped}" '
        return f"{name}<{self.uri}>{_format_params(self.params)}"

    def __repr__(self) -> str:
        return f"NameAddr({str(self)!r})"


@dataclass(frozen=True)
class Via:
    """One Via value: the transport and the address a response must go back to.

    ``SIP/2.0/UDP 127.0.0.82:5060;rport;branch=z9hG4bKPj0b4c``

    Attributes:
        protocol: ``"SIP/2.0/UDP"``.
        transport: ``"UDP"``, ``"TCP"``, ``"TLS"``, ``"WS"``...
        host: the sent-by host (IPv6 keeps its brackets).
        port: the sent-by port, or ``None``.
        params: the parameters (``branch``, ``rport``, ``received``...) in order.

    Taught in notebook 04.
    """

    protocol: str
    transport: str
    host: str
    port: int | None
    params: tuple[tuple[str, str | None], ...] = ()

    @classmethod
    def parse(cls, text: str) -> Via:
        """Parse one Via value (split a multi-valued header with :meth:`Headers.values` first).

        Raises:
            SipParseError: the value is not ``SIP/2.0/<transport> <host>[:<port>]...``.
        """
        simple = SIMPLE_VIA_RE.fullmatch(text)
        if simple is not None:  # the usual form, read in one step (the general reading gives the same)
            protocol, transport, host, port, tail = simple.groups()
            if port is None or int(port) <= 65535:
                params = tuple((name, value if equal else None) for name, equal, value in
                               (item.partition("=") for item in tail.split(";")[1:]))
                return cls(protocol, transport.upper(), host, int(port) if port else None, params)
        return cls._parse_general(text)

    @classmethod
    def _parse_general(cls, text: str) -> Via:
        """:meth:`parse` for any form: whitespace, IPv6 references, quoted or RFC 2543 comments."""
        match = VIA_RE.fullmatch(text)
        if match is None:
            raise SipParseError(
                f"SIP Via {text.strip()!r} is malformed: it must look like "
                "'SIP/2.0/UDP <host>:<port>;branch=z9hG4bK...'"
            )
        name, version, transport, host, port, tail = match.groups()
        if port is not None and (not port or int(port) > 65535):
            raise SipParseError(
                f"SIP Via {text.strip()!r} has a port that is not a number from 0 to 65535: fix the port"
            )
        tail = tail.strip()
        if tail and not tail.startswith(";") and not tail.startswith("("):
            raise SipParseError(
                f"SIP Via {text.strip()!r} is malformed: only ';parameters' may follow the sent-by address"
            )
        params = split_params(tail.split("(", 1)[0])
        return cls(
            f"{name}/{version}/{transport}", transport.upper(), host, int(port) if port else None, params
        )

    def param(self, name: str) -> str | None:
        """A parameter (``""`` for a flag such as ``rport``), or ``None`` if absent."""
        return _param(self.params, name)

    @property
    def branch(self) -> str | None:
        """The transaction identifier (RFC 3261 section 17.2.3), or ``None``."""
        return self.param("branch")

    @property
    def received(self) -> str | None:
        """The source address the server saw, added when it differs from ``host``."""
        return self.param("received")

    @property
    def rport(self) -> int | None:
        """The source port filled in by the server (RFC 3581), or ``None`` if absent or empty."""
        value = self.param("rport")
        return int(value) if value and value.isdigit() else None

    @property
    def rport_requested(self) -> bool:
        """Whether the ``rport`` parameter is present (with or without a value)."""
        return self.param("rport") is not None

    @property
    def sent_by(self) -> str:
        """``host:port`` (or ``host``) as sent."""
        return f"{self.host}:{self.port}" if self.port is not None else self.host

    def __str__(self) -> str:
        return f"{self.protocol} {self.sent_by}{_format_params(self.params)}"

    def __repr__(self) -> str:
        return f"Via({str(self)!r})"


@dataclass(frozen=True)
class CSeq:
    """The CSeq header: a sequence number and the method (``2 INVITE``).

    A response carries the CSeq of its request; ACK and CANCEL reuse the INVITE's number.
    """

    number: int
    method: str

    @classmethod
    def parse(cls, text: str) -> CSeq:
        """Parse ``<number> <method>``.

        Raises:
            SipParseError: the value is not a number followed by a method.
        """
        match = CSEQ_RE.fullmatch(text)
        if match is None:
            raise SipParseError(
                f"SIP CSeq {text.strip()!r} is malformed: it must be a number and a method, e.g. '2 INVITE'"
            )
        return cls(int(match.group(1)), match.group(2))

    def __str__(self) -> str:
        return f"{self.number} {self.method}"

    def __repr__(self) -> str:
        return f"CSeq({self})"


@dataclass(frozen=True)
class AuthHeader:
    """WWW-Authenticate, Proxy-Authenticate, Authorization or Proxy-Authorization.

    ``Digest realm="asterisk",nonce="1718...",opaque="...",algorithm=MD5,qop="auth"``

    Attributes:
        scheme: ``"Digest"``.
        params: the auth-params in order, values unquoted.
        quoted: the names of the parameters that were quoted.

    Taught in notebook 03 (digest authentication; see :mod:`voiplab.core.digest`).
    """

    scheme: str
    params: tuple[tuple[str, str], ...]
    quoted: frozenset[str] = field(default=frozenset(), compare=False)

    @classmethod
    def parse(cls, text: str) -> AuthHeader:
        """Parse ``<scheme> name=value, name="value", ...``.

        Raises:
            SipParseError: no scheme, or a parameter without ``=``.
        """
        stripped = text.strip()
        scheme_match = TOKEN_RE.match(stripped)
        if scheme_match is None:
            raise SipParseError(
                f"SIP authentication header {stripped[:60]!r} is malformed: it must start with "
                "a scheme, e.g. 'Digest realm=\"asterisk\", ...'"
            )
        scheme = scheme_match.group(0)
        params: list[tuple[str, str]] = []
        quoted: set[str] = set()
        for item in _split_outside_quotes(stripped[scheme_match.end() :], ","):
            item = item.strip()
            if not item:
                continue
            name, eq, value = item.partition("=")
            name = name.strip()
            if not eq or not TOKEN_RE.fullmatch(name):
                raise SipParseError(
                    f"SIP authentication parameter {item[:60]!r} is malformed: "
                    'each parameter must look like name=value or name="value"'
                )
            value = value.strip()
            if value.startswith('"'):
                if len(value) < 2 or not value.endswith('"'):
                    raise SipParseError(
                        f"SIP authentication parameter {item[:60]!r} has an unterminated "
                        "quoted value: close it with '\"'"
                    )
                quoted.add(name.lower())
            params.append((name, _unquote(value)))
        return cls(scheme, tuple(params), frozenset(quoted))

    def get(self, name: str, default: str | None = None) -> str | None:
        """A parameter by name, case-insensitive."""
        lower = name.lower()
        for key, value in self.params:
            if key.lower() == lower:
                return value
        return default

    def __getitem__(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise KeyError(name)
        return value

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None

    def as_dict(self) -> dict[str, str]:
        """The parameters as a dict with lower-case names."""
        return {key.lower(): value for key, value in self.params}

    def __str__(self) -> str:
        parts = []
        for name, value in self.params:
            if name.lower() in self.quoted:
                escaped = value.replace("\\", "\\\\").replace('"', '\\"')
                parts.append(f'{name}="{escaped}"')
            else:
                parts.append(f"{name}={value}")
        return f"{self.scheme} " + ",".join(parts)

    def __repr__(self) -> str:
        return f"AuthHeader({str(self)!r})"


# ---------------------------------------------------------------------------- headers


@dataclass(frozen=True)
class Header:
    """One header field, as received.

    Attributes:
        name: the name as written (``"i"``, ``"call-id"``, ``"Call-ID"``).
        value: the value, unfolded (folded lines joined by one space) and stripped.
        raw: the exact text of the header, continuation lines and line ending included.
    """

    name: str
    value: str
    raw: str = field(default="", repr=False)

    @property
    def long_name(self) -> str:
        """The conventional long form of the name (``i`` -> ``Call-ID``, ``cseq`` -> ``CSeq``)."""
        return _canonical(self.name)

    @property
    def key(self) -> str:
        """The lookup key: long form, lower case."""
        return _key(self.name)

    @property
    def is_compact(self) -> bool:
        """Whether the name was written in compact form."""
        return self.name.lower() in COMPACT_FORMS

    def __str__(self) -> str:
        return self.raw or f"{self.name}: {self.value}\r\n"

    def __repr__(self) -> str:
        return f"Header({self.name!r}, {self.value!r})"


class Headers(tuple[Header, ...]):
    """The ordered headers of a message, with case-insensitive, compact-aware lookup.

    It is a tuple of :class:`Header`; ``headers["call-id"]``, ``headers["i"]`` and
    ``headers.get("Call-ID")`` all find the same header.

    Taught in notebook 03.
    """

    # lookup key -> the position of the only header with that key, or the positions of all
    # of them when it is repeated (few containers: fewer objects for the garbage collector)
    _index: dict[str, int | list[int]]

    def __new__(cls, items: Iterable[Header] = ()) -> Headers:
        self = super().__new__(cls, items)
        self._index = _positions([header.key for header in self])
        return self

    @classmethod
    def _from_plain_lines(cls, text: str) -> Headers:
        """The headers of plain header lines (``token [WSP] : value CRLF`` each, as
        :func:`_parse_plain` checked them): the same as parsing them, in one quick pass."""
        items: list[Header] = []
        keys: list[str] = []
        plain_names = _PLAIN_NAMES
        lines = text.split("\r\n")
        lines.pop()  # after the last CRLF
        for line in lines:
            colon = line.find(":")
            found = plain_names.get(line[: colon + 1]) or _plain_name(line[: colon + 1])
            assert found is not None
            name, key = found
            items.append(Header(name, line[colon + 1 :].strip(" \t"), line + "\r\n"))
            keys.append(key)
        self = super().__new__(cls, items)
        self._index = _positions(keys)
        return self

    @overload
    def __getitem__(self, key: SupportsIndex) -> Header: ...
    @overload
    def __getitem__(self, key: slice) -> tuple[Header, ...]: ...
    @overload
    def __getitem__(self, key: str) -> str: ...

    def __getitem__(self, key: SupportsIndex | slice | str) -> Header | tuple[Header, ...] | str:
        if isinstance(key, str):
            value = self.get(key)
            if value is None:
                raise KeyError(key)
            return value
        return super().__getitem__(key)

    def __contains__(self, key: object) -> bool:
        if isinstance(key, str):
            return _key(key) in self._index
        return super().__contains__(key)

    def get(self, name: str, default: str | None = None) -> str | None:
        """The value of the first header called ``name`` (any case, compact or long), or ``default``."""
        position = self._index.get(_key(name))
        if position is None:
            return default
        return tuple.__getitem__(self, position if isinstance(position, int) else position[0]).value

    def get_all(self, name: str) -> list[str]:
        """The values of every header called ``name``, in order (one per header line)."""
        return [header.value for header in self.find(name)]

    def find(self, name: str) -> list[Header]:
        """Every :class:`Header` called ``name``, in order."""
        position = self._index.get(_key(name))
        if position is None:
            return []
        if isinstance(position, int):
            return [tuple.__getitem__(self, position)]
        return [tuple.__getitem__(self, i) for i in position]

    def values(self, name: str) -> list[str]:
        """Every value of a header, splitting comma-separated lists (Via, Contact, Allow...).

        ``Via: a, b`` followed by ``Via: c`` gives ``["a", "b", "c"]``. Headers that are
        not lists (From, Authorization, Date...) are not split.
        """
        key = _key(name)
        values = self.get_all(name)
        if key not in LIST_HEADERS:
            return values
        return [part for value in values for part in split_commas(value)]

    def items(self) -> list[tuple[str, str]]:
        """``(name as written, value)`` pairs, in order."""
        return [(header.name, header.value) for header in self]

    def __repr__(self) -> str:
        return f"Headers({', '.join(h.name for h in self)})"


def _positions(keys: list[str]) -> dict[str, int | list[int]]:
    """The index of :class:`Headers`: key -> position, or -> positions for a repeated key."""
    index: dict[str, int | list[int]] = {}
    for position, key in enumerate(keys):
        found = index.get(key)
        if found is None:
            index[key] = position
        elif isinstance(found, int):
            index[key] = [found, position]
        else:
            found.append(position)
    return index


# ---------------------------------------------------------------------------- messages


def _find_blank_line(data: bytes, start: int) -> tuple[int, int]:
    """(end of the head, start of the body) or (-1, -1) if there is no empty line."""
    crlf = data.find(b"\n\r\n", start)
    lf = data.find(b"\n\n", start)
    if crlf >= 0 and (lf < 0 or crlf < lf):
        return crlf + 1, crlf + 3
    if lf >= 0:
        return lf + 1, lf + 2
    return -1, -1


def _skip_preamble(data: bytes) -> int:
    """How many leading CRLF/LF bytes to skip (RFC 3261 section 7.5)."""
    position = 0
    while True:
        if data.startswith(b"\r\n", position):
            position += 2
        elif data.startswith(b"\n", position):
            position += 1
        else:
            return position


def message_length(data: bytes) -> int | None:
    """Length of the first complete message in a stream (TCP), or ``None`` if more bytes are needed.

    Leading CRLFs (keep-alives) count in the length. A message without Content-Length
    is taken to end at the empty line (RFC 3261 section 18.3 makes it mandatory on streams).

    Raises:
        SipParseError: the Content-Length is not a number.
    """
    start = _skip_preamble(data)
    head_end, body_start = _find_blank_line(data, start)
    if head_end < 0:
        if start > 0 and start == len(data):
            return start
        return None
    head = data[start:head_end].decode("utf-8", "surrogateescape")
    length = 0
    for line in head.split("\n")[1:]:
        name, colon, value = line.partition(":")
        if colon and _key(name) == "content-length":
            value = value.strip()
            if not (value.isascii() and value.isdigit() and len(value) <= MAX_CONTENT_LENGTH_DIGITS):
                raise SipParseError(
                    f"SIP Content-Length {value!r} is not a number: it must be the body size in bytes",
                    offset=start,
                )
            length = int(value)
            break
    total = body_start + length
    return total if total <= len(data) else None


def head_content_length(head: bytes) -> int:
    """The Content-Length declared by a message head (its header lines, up to the empty line), 0 if none.

    Used to frame messages on a stream (TCP), where RFC 3261 section 18.3 makes it mandatory.

    Raises:
        SipParseError: the Content-Length is not a number.
    """
    for line in head.split(b"\n")[1:]:
        name, colon, value = line.partition(b":")
        if colon and _key(name.decode("latin-1")) == "content-length":
            text = value.strip().decode("latin-1")
            if not (text.isascii() and text.isdigit() and len(text) <= MAX_CONTENT_LENGTH_DIGITS):
                raise SipParseError(
                    f"SIP Content-Length {text[:20]!r} is not a number: it must be the body size in bytes",
                    offset=0,
                )
            return int(text)
    return 0


#: At most this many header lines are looked at by :func:`salvage_fields`.
SALVAGE_MAX_LINES = 200


def salvage_fields(data: bytes) -> tuple[str, dict[str, str]]:
    """What can still be read of a message that does not parse: its first line and the first
    value of each header (lookup keys, compact forms expanded), up to the empty line; lines
    without a ``:`` are skipped. Never raises.

    Taught in notebook 04 (a malformed message in a capture is listed, not dropped).
    """
    start = _skip_preamble(data)
    head_end, _ = _find_blank_line(data, start)
    head = data[start:head_end if head_end >= 0 else len(data)].decode("utf-8", "replace")
    lines = head.split("\n", SALVAGE_MAX_LINES + 1)[:SALVAGE_MAX_LINES + 1]
    values: dict[str, str] = {}
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        name = name.strip(" \t")
        if colon and name and TOKEN_RE.fullmatch(name):
            values.setdefault(_key(name), value.strip(" \t\r"))
    return lines[0].rstrip("\r") if lines else "", values


@dataclass(frozen=True)
class SipMessage:
    """A SIP request or response, kept byte for byte.

    Attributes:
        start_line: the request line or status line, without its line ending.
        headers: the headers in order (:class:`Headers`).
        body: the body (``Content-Length`` bytes, or everything after the headers).
        method: the request method (``"INVITE"``), ``None`` for a response.
        request_uri: the Request-URI text of a request, ``None`` for a response.
        status: the status code of a response (``401``), ``None`` for a request.
        reason: the reason phrase of a response (``"Unauthorized"``), ``None`` for a request.
        version: ``"SIP/2.0"``.
        start_eol, blank_line, preamble, trailing: the exact framing (line endings,
            leading CRLFs, bytes after the Content-Length body), kept for round-trips.

    ``bytes(SipMessage.parse(data)) == data`` for every message that parses.

    Taught in notebook 03 (REGISTER) and 04 (INVITE).
    """

    start_line: str
    headers: Headers
    body: bytes = b""
    method: str | None = None
    request_uri: str | None = None
    status: int | None = None
    reason: str | None = None
    version: str = SIP_VERSION
    start_eol: str = field(default="\r\n", repr=False)
    blank_line: str = field(default="\r\n", repr=False)
    preamble: str = field(default="", repr=False)
    trailing: bytes = field(default=b"", repr=False)

    # ----------------------------------------------------------- parsing

    @classmethod
    def parse(cls, data: bytes | bytearray | memoryview | str) -> SipMessage:
        """Parse one SIP message (a UDP datagram or one framed message of a stream).

        Parameters:
            data: the message; CRLF or bare LF line endings, folded headers accepted.

        Returns:
            The message. Without Content-Length the body is the rest of the data.

        Raises:
            SipParseError: for anything that is not a SIP message (``offset`` says where).
        """
        if isinstance(data, str):
            data = data.encode("utf-8", "surrogateescape")
        elif isinstance(data, (bytearray, memoryview)):
            data = bytes(data)
        elif not isinstance(data, bytes):
            raise SipParseError(f"SIP message was a {type(data).__name__}: pass bytes or str", offset=0)
        if not data:
            raise SipParseError(
                "SIP message is empty: it must start with a request line such as "
                "'OPTIONS sip:127.0.0.80 SIP/2.0' or a status line such as 'SIP/2.0 200 OK'",
                offset=0,
            )
        if cls is SipMessage:
            message = _parse_plain(data)
            if message is not None:
                return message
        return cls._parse_general(data)

    @classmethod
    def _parse_general(cls, data: bytes) -> SipMessage:
        """Parse any message, line by line: folding, bare LF, preamble, and every error."""
        start = _skip_preamble(data)
        if start == len(data):
            raise SipParseError(
                "SIP message is only blank lines (a CRLF keep-alive): skip it, it carries "
                "no request or response",
                offset=0,
            )
        head_end, body_start = _find_blank_line(data, start)
        if head_end < 0:
            head_bytes, blank_line, rest = data[start:], "", b""
        else:
            head_bytes = data[start:head_end]
            blank_line = data[head_end:body_start].decode("ascii")
            rest = data[body_start:]
        head = head_bytes.decode("utf-8", "surrogateescape")
        lines = head.split("\n")
        final_eol = head.endswith("\n")
        if final_eol:
            lines.pop()

        # start line
        first = lines[0]
        start_line, start_eol = _strip_eol(first, final_eol or len(lines) > 1)
        method = request_uri = reason = None
        status = None
        match = REQUEST_LINE_RE.fullmatch(start_line)
        if match is not None:
            method, request_uri, version = match.groups()
        else:
            match = STATUS_LINE_RE.fullmatch(start_line)
            if match is None:
                raise SipParseError(
                    f"SIP start line {start_line[:60]!r} is malformed: it must be a request line "
                    "'METHOD URI SIP/2.0' or a status line 'SIP/2.0 CODE REASON'",
                    offset=start,
                )
            version, code, reason = match.groups()
            status = int(code)
            reason = reason or ""

        # headers (a folded header's pieces are joined once, at its end: linear in its length)
        headers: list[Header] = []
        offset = start + len(first.encode("utf-8", "surrogateescape")) + 1
        name = ""
        values: list[str] = []
        raws: list[str] = []
        have_header = False
        for number, line in enumerate(lines[1:], start=2):
            is_last = number == len(lines)
            content, eol = _strip_eol(line, final_eol or not is_last)
            if content[:1] in (" ", "\t"):
                if not have_header:
                    raise SipParseError(
                        f"SIP header line {number} starts with whitespace but follows no header: "
                        "remove the leading whitespace (folded lines continue the header above)",
                        offset=offset,
                    )
                piece = content.strip()
                if piece:
                    values.append(piece)
                raws.append(content + eol)
            else:
                if have_header:
                    headers.append(Header(name, " ".join(values), "".join(raws)))
                colon = content.find(":")
                if colon < 0:
                    raise SipParseError(
                        f"SIP header line {number} {content[:60]!r} is missing its ':': "
                        "each header must look like 'Name: value'",
                        offset=offset,
                    )
                name = content[:colon].rstrip(" \t")
                if not TOKEN_RE.fullmatch(name):
                    raise SipParseError(
                        f"SIP header name {name[:40]!r} on line {number} is not a valid token: "
                        "header names are letters, digits and -.!%*_+`'~",
                        offset=offset,
                    )
                value = content[colon + 1 :].strip(" \t")
                values = [value] if value else []
                raws = [content + eol]
                have_header = True
            offset += len(line) + 1 if line.isascii() else len(line.encode("utf-8", "surrogateescape")) + 1
        if have_header:
            headers.append(Header(name, " ".join(values), "".join(raws)))
        header_tuple = Headers(headers)

        # body
        body, trailing = rest, b""
        length_text = header_tuple.get("content-length")
        if length_text is not None:
            if not (length_text.isascii() and length_text.isdigit()
                    and len(length_text) <= MAX_CONTENT_LENGTH_DIGITS):
                raise SipParseError(
                    f"SIP Content-Length {length_text[:20]!r} is not a number: "
                    "it must be the body size in bytes",
                    offset=start,
                )
            length = int(length_text)
            if length > len(rest):
                raise SipParseError(
                    f"SIP body was truncated (Content-Length {length}, {len(rest)} bytes present): "
                    "capture with a larger snaplen, or reassemble the TCP stream",
                    offset=len(data),
                )
            body, trailing = rest[:length], rest[length:]
        return cls(
            start_line=start_line,
            headers=header_tuple,
            body=body,
            method=method,
            request_uri=request_uri,
            status=status,
            reason=reason,
            version=version,
            start_eol=start_eol,
            blank_line=blank_line,
            preamble=data[:start].decode("ascii"),
            trailing=trailing,
        )

    # ----------------------------------------------------------- headers built on first use
    #
    # A message from _parse_plain keeps its header lines as one string ("_header_text") and
    # builds the Header objects when `headers` is first read; until then the typed views
    # look their header up in a dict of first values ("_header_values"), built on first use.

    if not TYPE_CHECKING:

        def __getattr__(self, name: str) -> object:
            if name == "headers":
                state = self.__dict__
                text = state.get("_header_text")
                if text is not None:
                    headers = state["headers"] = Headers._from_plain_lines(text)
                    state.pop("_header_text", None)  # the headers hold the same text now
                    state.pop("_header_values", None)
                    return headers
                if "headers" in state:  # built meanwhile by another thread
                    return state["headers"]
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def _header(self, key: str) -> str | None:
        """``self.headers.get(key)`` for a lookup key, without building the headers of a parsed message."""
        state = self.__dict__
        values: dict[str, str] | None = state.get("_header_values")
        if values is None:
            text = state.get("_header_text")
            if text is None:
                return self.headers.get(key)
            values = state["_header_values"] = _first_values(text)
        return values.get(key)

    # ----------------------------------------------------------- building

    @classmethod
    def request(
        cls,
        method: str,
        uri: str | Uri,
        headers: Iterable[tuple[str, str]] = (),
        body: bytes | str = b"",
    ) -> SipMessage:
        """Build a request; ``Content-Length`` is added when missing.

        Taught in notebook 01 (crafting an OPTIONS).
        """
        return cls._build(f"{method} {uri} {SIP_VERSION}", headers, body)

    @classmethod
    def response(
        cls,
        status: int,
        reason: str,
        headers: Iterable[tuple[str, str]] = (),
        body: bytes | str = b"",
    ) -> SipMessage:
        """Build a response; ``Content-Length`` is added when missing."""
        return cls._build(f"{SIP_VERSION} {status} {reason}", headers, body)

    @classmethod
    def _build(cls, start_line: str, headers: Iterable[tuple[str, str]], body: bytes | str) -> SipMessage:
        if isinstance(body, str):
            body = body.encode("utf-8")
        pairs = list(headers)
        if not any(_key(name) == "content-length" for name, _ in pairs):
            pairs.append(("Content-Length", str(len(body))))
        text = start_line + "\r\n" + "".join(f"{n}: {v}\r\n" for n, v in pairs) + "\r\n"
        return cls.parse(text.encode("utf-8") + body)

    def replace_header(self, name: str, value: str) -> SipMessage:
        """A copy with the first header called ``name`` given a new value (name spelling kept).

        The header is appended if absent. ``Content-Length`` is not adjusted.
        """
        key = _key(name)
        headers = list(self.headers)
        for position, header in enumerate(headers):
            if header.key == key:
                eol = "\n" if header.raw.endswith("\n") and not header.raw.endswith("\r\n") else "\r\n"
                headers[position] = Header(header.name, value, f"{header.name}: {value}{eol}")
                break
        else:
            headers.append(Header(name, value, f"{name}: {value}\r\n"))
        return self._with(headers=Headers(headers))

    def with_body(self, body: bytes | str, content_type: str | None = None) -> SipMessage:
        """A copy with a new body and a matching ``Content-Length`` (and ``Content-Type``)."""
        if isinstance(body, str):
            body = body.encode("utf-8")
        message = self.replace_header("Content-Length", str(len(body)))
        if content_type is not None:
            message = message.replace_header("Content-Type", content_type)
        return message._with(body=body, trailing=b"")

    def _with(self, **changes: object) -> SipMessage:
        return replace(self, **changes)  # type: ignore[arg-type]

    # ----------------------------------------------------------- serialising

    def __bytes__(self) -> bytes:
        header_text = self.__dict__.get("_header_text")
        if header_text is None:
            header_text = "".join(map(str, self.headers))
        head = self.preamble + self.start_line + self.start_eol + header_text
        return (head + self.blank_line).encode("utf-8", "surrogateescape") + self.body + self.trailing

    def __str__(self) -> str:
        return bytes(self).decode("utf-8", "replace")

    # ----------------------------------------------------------- typed views

    @property
    def is_request(self) -> bool:
        """Whether this is a request (it has a method)."""
        return self.method is not None

    @property
    def is_response(self) -> bool:
        """Whether this is a response (it has a status code)."""
        return self.status is not None

    @property
    def uri(self) -> Uri | None:
        """The Request-URI, parsed (``None`` for a response)."""
        return Uri.parse(self.request_uri) if self.request_uri is not None else None

    @property
    def call_id(self) -> str | None:
        """The Call-ID (``i``), or ``None``."""
        return self._header("call-id")

    @property
    def cseq(self) -> CSeq | None:
        """The CSeq, parsed, or ``None``."""
        value = self._header("cseq")
        return CSeq.parse(value) if value is not None else None

    def header(self, name: str) -> str | None:
        """The value of the first header called ``name`` (any case, compact or long), or ``None``;
        the same as ``headers.get(name)`` without building every :class:`Header` of the message."""
        return self._header(_key(name))

    def _address(self, key: str) -> NameAddr | None:
        """From or To, parsed once (the message is immutable: the parsed value is kept)."""
        cache_key = "_parsed_" + key
        state = self.__dict__
        if cache_key in state:
            return state[cache_key]  # type: ignore[no-any-return]
        value = self._header(key)
        address = NameAddr.parse(value) if value is not None else None
        state[cache_key] = address
        return address

    @property
    def from_(self) -> NameAddr | None:
        """The From header (``f``), parsed, or ``None``."""
        return self._address("from")

    @property
    def to(self) -> NameAddr | None:
        """The To header (``t``), parsed, or ``None``."""
        return self._address("to")

    def _tag(self, key: str, cache_key: str) -> str | None:
        """The tag of From or To: read straight from the parameters after ``<uri>`` in the usual form
        (no quoted string; the URI itself is not parsed), else from the parsed address; kept once read."""
        state = self.__dict__
        if cache_key in state:
            return state[cache_key]  # type: ignore[no-any-return]
        value = self._header(key)
        if value is None:
            tag = None
        else:
            lt, gt = value.find("<"), value.find(">")
            if '"' not in value and 0 <= lt < gt and value.find("<", lt + 1) < 0 and value.find(">", gt + 1) < 0:
                tag = None  # the parameters after <uri>, as split_params reads them when nothing is quoted
                for part in value[gt + 1:].split(";"):
                    name, equal, text = part.partition("=")
                    if name.strip().lower() == "tag":
                        tag = text.strip() if equal else ""
                        break
            else:
                address = self._address(key)
                tag = address.tag if address else None
        state[cache_key] = tag
        return tag

    @property
    def from_tag(self) -> str | None:
        """The From tag, or ``None``."""
        return self._tag("from", "_tag_from")

    @property
    def to_tag(self) -> str | None:
        """The To tag (absent on an initial request), or ``None``."""
        return self._tag("to", "_tag_to")

    @property
    def vias(self) -> tuple[Via, ...]:
        """Every Via value, top (most recent hop) first."""
        return tuple(Via.parse(value) for value in self.headers.values("via"))

    @property
    def top_via(self) -> Via | None:
        """The first Via value, or ``None``."""
        first = self._header("via")
        if first is None:
            return None
        # the first value of the first Via header, unless that header has no value at all
        values = split_commas(first) or self.headers.values("via")
        return Via.parse(values[0]) if values else None

    @property
    def branch(self) -> str | None:
        """The top Via's branch: the transaction identifier, or ``None``."""
        via = self.top_via
        return via.branch if via else None

    @property
    def contacts(self) -> tuple[NameAddr, ...]:
        """Every Contact value (``m``), parsed; ``Contact: *`` gives ``()``."""
        return tuple(NameAddr.parse(v) for v in self.headers.values("contact") if v.strip() != "*")

    @property
    def max_forwards(self) -> int | None:
        """The Max-Forwards value, or ``None``.

        Raises:
            SipParseError: the value is not a number.
        """
        value = self._header("max-forwards")
        if value is None:
            return None
        if not value.isdigit():
            raise SipParseError(
                f"SIP Max-Forwards {value[:20]!r} is not a number: it must count the hops left, e.g. 70"
            )
        return int(value)

    @property
    def content_type(self) -> str | None:
        """The media type of the body (``"application/sdp"``), lower case, without parameters."""
        value = self._header("content-type")
        return value.split(";", 1)[0].strip().lower() if value else None

    @property
    def content_length(self) -> int | None:
        """The declared Content-Length, or ``None``."""
        value = self._header("content-length")
        return int(value) if value is not None and value.isdigit() else None

    def auth(self, name: str) -> tuple[AuthHeader, ...]:
        """Every WWW-Authenticate / Authorization / Proxy-* header called ``name``, parsed."""
        return tuple(AuthHeader.parse(value) for value in self.headers.get_all(name))

    @property
    def www_authenticate(self) -> AuthHeader | None:
        """The first WWW-Authenticate challenge (a 401), or ``None``."""
        found = self.auth("WWW-Authenticate")
        return found[0] if found else None

    @property
    def proxy_authenticate(self) -> AuthHeader | None:
        """The first Proxy-Authenticate challenge (a 407), or ``None``."""
        found = self.auth("Proxy-Authenticate")
        return found[0] if found else None

    @property
    def authorization(self) -> AuthHeader | None:
        """The first Authorization (or else Proxy-Authorization) credentials, or ``None``."""
        found = self.auth("Authorization") or self.auth("Proxy-Authorization")
        return found[0] if found else None

    @property
    def has_sdp(self) -> bool:
        """Whether the body is an SDP session description."""
        return bool(self.body) and self.content_type == "application/sdp"

    @property
    def sdp(self) -> SessionDescription | None:
        """The SDP body, parsed, or ``None`` if the body is not SDP.

        Raises:
            SdpParseError: the body says it is SDP but is malformed.
        """
        if not self.has_sdp:
            return None
        return SessionDescription.parse(self.body)

    @property
    def summary(self) -> str:
        """``"INVITE"`` for a request, ``"401 Unauthorized"`` for a response."""
        if self.method is not None:
            return self.method
        return f"{self.status} {self.reason}".strip()

    def __repr__(self) -> str:
        cseq = self._header("cseq")
        call_id = self._header("call-id")
        cseq, call_id = ("?" if cseq is None else cseq), ("?" if call_id is None else call_id)
        first = (
            f"{self.method} {self.request_uri}" if self.method is not None else f"{self.status} {self.reason}"
        )
        extra = " +SDP" if self.has_sdp else (f" +{len(self.body)}B body" if self.body else "")
        return f"<SipMessage {first} | CSeq: {cseq} | Call-ID: {call_id}{extra}>"

    def _repr_html_(self) -> str:
        return _message_html(self)


def _parse_plain(data: bytes) -> SipMessage | None:
    """Parse a message in the common form quickly, or return ``None`` to leave it to the general parser.

    The common form: no leading CRLFs, CRLF line endings only, an empty line, header lines
    ``token [WSP] : value`` (no folding), a valid start line with version ``SIP/2.0`` for a
    response, and a Content-Length (if any) that is an ASCII number within the data. For
    those messages the general parser gives exactly the same result; anything else (and
    every error) is left to it. The :class:`Header` objects are built on first access of
    :attr:`SipMessage.headers` from the header lines kept as one string.
    """
    if data[0] in (13, 10):  # CR or LF: a preamble
        return None
    crlf = data.find(b"\n\r\n")
    if crlf < 0 or data.find(b"\n\n", 0, crlf + 1) >= 0:
        return None
    head = data[: crlf + 1].decode("utf-8", "surrogateescape")
    lines = head.split("\r\n")
    if head.count("\n") != len(lines) - 1:
        return None  # a bare LF somewhere
    start_line = lines[0]
    if start_line.startswith("SIP/2.0 "):
        status = _STATUS_CODES.get(start_line[8:11])
        if status is None or (len(start_line) > 11 and start_line[11] != " "):
            return None
        method = request_uri = None
        reason: str | None = start_line[12:]
        version = SIP_VERSION
    else:
        match = REQUEST_LINE_RE.fullmatch(start_line)
        if match is None:
            return None
        method, request_uri, version = match.groups()
        status = reason = None
    content_length = None
    plain_names = _PLAIN_NAMES
    lines.pop()  # after the last CRLF
    for index in range(1, len(lines)):
        line = lines[index]
        colon = line.find(":")
        found = plain_names.get(line[: colon + 1]) or _plain_name(line[: colon + 1])
        if found is None:
            return None  # folding, a missing colon or a bad name
        if content_length is None and found[1] == "content-length":
            content_length = line[colon + 1 :].strip(" \t")
    body_start = crlf + 3
    if content_length is None:
        body, trailing = data[body_start:], b""
    else:
        if not (content_length.isascii() and content_length.isdigit()
                and len(content_length) <= MAX_CONTENT_LENGTH_DIGITS):
            return None
        end = body_start + int(content_length)
        if end > len(data):
            return None
        body, trailing = data[body_start:end], data[end:]
    message = object.__new__(SipMessage)
    message.__dict__.update(
        start_line=start_line,
        body=body,
        method=method,
        request_uri=request_uri,
        status=status,
        reason=reason,
        version=version,
        start_eol="\r\n",
        blank_line="\r\n",
        preamble="",
        trailing=trailing,
        _header_text=head[len(start_line) + 2 :],
    )
    return message


def _first_values(text: str) -> dict[str, str]:
    """Lookup key -> value of the first header with that key, for plain header lines."""
    values: dict[str, str] = {}
    plain_names = _PLAIN_NAMES
    lines = text.split("\r\n")
    lines.pop()  # after the last CRLF
    for line in lines:
        colon = line.find(":")
        found = plain_names.get(line[: colon + 1]) or _plain_name(line[: colon + 1])
        assert found is not None
        if found[1] not in values:
            values[found[1]] = line[colon + 1 :].strip(" \t")
    return values


def _strip_eol(line: str, had_newline: bool) -> tuple[str, str]:
    if not had_newline:
        return line, ""
    if line.endswith("\r"):
        return line[:-1], "\r\n"
    return line, "\n"


_NAME_STYLE = "color:#1f4e96;font-weight:bold"
_START_STYLE = "color:#8b0000;font-weight:bold"


def _message_html(message: SipMessage) -> str:
    out = ["<div style='font-family:monospace;white-space:pre-wrap;text-align:left'>"]
    out.append(f"<span style='{_START_STYLE}'>{html.escape(message.start_line)}</span>\n")
    for header in message.headers:
        long_name = header.long_name
        title = f" title='{html.escape(long_name)}'" if long_name != header.name else ""
        out.append(
            f"<span style='{_NAME_STYLE}'{title}>{html.escape(header.name)}</span>: "
            f"{html.escape(header.value)}\n"
        )
    if message.body:
        out.append("\n")
        text = message.body.decode("utf-8", "replace")
        if message.has_sdp:
            for line in text.splitlines():
                kind, eq, value = line.partition("=")
                if eq and len(kind) == 1:
                    out.append(
                        f"<span style='color:#2e7d32;font-weight:bold'>{html.escape(kind)}=</span>"
                        f"{html.escape(value)}\n"
                    )
                else:
                    out.append(html.escape(line) + "\n")
        else:
            out.append(html.escape(text))
    out.append("</div>")
    return "".join(out)


# ---------------------------------------------------------------------------- diff


@dataclass(frozen=True)
class HeaderChange:
    """One difference between two messages.

    Attributes:
        kind: ``"added"``, ``"removed"``, ``"changed"`` (a header) or ``"start-line"``/``"body"``.
        name: the long header name (``"Authorization"``), or ``""`` for start line/body.
        old: the value in the first message (``None`` if added).
        new: the value in the second message (``None`` if removed).
    """

    kind: str
    name: str
    old: str | None
    new: str | None


@dataclass(frozen=True)
class MessageDiff:
    """What changed between two SIP messages (as sngrep's message diff shows).

    Attributes:
        changes: every :class:`HeaderChange`, in the order of the second message.
        unchanged: the long names of headers present and equal in both.

    Taught in notebook 03 (the REGISTER before and after the 401).
    """

    changes: tuple[HeaderChange, ...]
    unchanged: tuple[str, ...]

    def _of(self, kind: str) -> list[HeaderChange]:
        return [change for change in self.changes if change.kind == kind]

    @property
    def added(self) -> list[HeaderChange]:
        """Headers only in the second message."""
        return self._of("added")

    @property
    def removed(self) -> list[HeaderChange]:
        """Headers only in the first message."""
        return self._of("removed")

    @property
    def changed(self) -> list[HeaderChange]:
        """Headers in both with different values."""
        return self._of("changed")

    def __bool__(self) -> bool:
        return bool(self.changes)

    def __repr__(self) -> str:
        parts = [
            f"{c.kind[0] if c.kind in ('added', 'removed') else '~'}{c.name or c.kind}" for c in self.changes
        ]
        return f"<MessageDiff {len(self.changes)} changes: {' '.join(parts)}>"

    def _repr_html_(self) -> str:
        colours = {"added": "#d4f7d4", "removed": "#f7d4d4", "changed": "#fff3c4"}
        rows = ["<table><tr><th>change</th><th>header</th><th>before</th><th>after</th></tr>"]
        for change in self.changes:
            colour = colours.get(change.kind, "#e8e8ff")
            rows.append(
                f"<tr style='background:{colour}'><td>{change.kind}</td>"
                f"<td style='font-weight:bold'>{html.escape(change.name)}</td>"
                f"<td style='font-family:monospace;text-align:left'>{html.escape(change.old or '')}</td>"
                f"<td style='font-family:monospace;text-align:left'>{html.escape(change.new or '')}</td></tr>"
            )
        rows.append("</table>")
        return "".join(rows)


def _grouped(message: SipMessage) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {}
    for header in message.headers:
        groups.setdefault(header.long_name, []).append(header.value)
    return groups


def diff(a: SipMessage, b: SipMessage) -> MessageDiff:
    """Compare two messages header by header (compact and long names are the same header).

    Repeated headers are compared by position (the first Via with the first Via...).

    Returns:
        A :class:`MessageDiff` (``changes``, ``added``, ``removed``, ``changed``, HTML repr).

    Taught in notebook 03: the second REGISTER differs from the first by its CSeq,
    its branch and the Authorization header.
    """
    changes: list[HeaderChange] = []
    unchanged: list[str] = []
    if a.start_line != b.start_line:
        changes.append(HeaderChange("start-line", "", a.start_line, b.start_line))
    old, new = _grouped(a), _grouped(b)
    for name in list(new) + [n for n in old if n not in new]:
        old_values, new_values = old.get(name, []), new.get(name, [])
        same = True
        for index in range(max(len(old_values), len(new_values))):
            before = old_values[index] if index < len(old_values) else None
            after = new_values[index] if index < len(new_values) else None
            if before == after:
                continue
            same = False
            kind = "added" if before is None else "removed" if after is None else "changed"
            changes.append(HeaderChange(kind, name, before, after))
        if same:
            unchanged.append(name)
    if a.body != b.body:
        changes.append(
            HeaderChange("body", "", a.body.decode("utf-8", "replace"), b.body.decode("utf-8", "replace"))
        )
    return MessageDiff(tuple(changes), tuple(unchanged))


def options_request(
    host: str,
    port: int,
    *,
    local: str,
    local_port: int,
    tag: str,
    branch: str,
    call_id: str,
    user: str = "voiplab",
    user_agent: str | None = None,
) -> SipMessage:
    """A SIP OPTIONS ("are you there, what can you do?") from ``local:local_port`` to ``host:port``.

    The simplest SIP exchange (RFC 3261 section 11): no dialog, no authentication, and
    the answer lists what the server supports (``Allow``, ``Accept``). The random parts
    (``tag``, ``branch`` without its magic cookie, ``call_id``) are given by the caller.

    Taught in notebooks 00 and 01 (a first SIP exchange, crafted with scapy).
    """
    headers = [
        ("Via", f"SIP/2.0/UDP {local}:{local_port};branch={BRANCH_MAGIC_COOKIE}{branch};rport"),
        ("Max-Forwards", "70"),
        ("From", f"<sip:{user}@{host}>;tag={tag}"),
        ("To", f"<sip:{host}:{port}>"),
        ("Call-ID", f"{call_id}@{local}"),
        ("CSeq", "1 OPTIONS"),
        ("Contact", f"<sip:{user}@{local}:{local_port}>"),
        ("Accept", "application/sdp"),
    ]
    if user_agent:
        headers.append(("User-Agent", user_agent))
    return SipMessage.request("OPTIONS", f"sip:{host}:{port}", headers)

