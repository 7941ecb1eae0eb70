"""The SIP grammar (RFC 3261 section 25.1) as regular expressions, in one module.

Each pattern below is preceded by the ABNF it implements, quoted from RFC 3261 section
25.1 (RFC 5234 notation: ``/`` is "or", ``*`` "any number of", ``[...]`` optional,
``SP`` a space, ``HTAB`` a tab, ``WSP`` either, ``DQUOTE`` a double quote). Where a
pattern accepts more or less than the ABNF (most implementations are lenient in what they
accept), the comment says so and why. The parsers of :mod:`voiplab.core.sip` use these
patterns; :func:`looks_like_sip` is the one test of "does this payload start like a SIP
message", used by the capture readers (:mod:`voiplab.capture.sipread`,
:mod:`voiplab.capture.streams`) to find SIP on any UDP port, as Wireshark's heuristic does.

Strings (``TOKEN``, ``SCHEME``...) are the pieces; ``*_RE`` are the compiled patterns.

Pure: no I/O. Taught in notebook 01 (the first line of a SIP message) and 03 (reading the
headers of a REGISTER).
"""

from __future__ import annotations

import re

__all__ = [
    "ANGLE_OR_COMMA_RE",
    "BARE_PARAM_VALUE_RE",
    "CSEQ_RE",
    "HEADER_NAME_RE",
    "PORT_RE",
    "QUOTED_PAIR_RE",
    "REQUEST_LINE_RE",
    "SCHEME",
    "SCHEME_RE",
    "SIMPLE_VIA_RE",
    "SIP_FIRST_BYTES",
    "SIP_FIRST_LINE",
    "SIP_FIRST_LINE_WINDOW",
    "SIP_VERSION",
    "STATUS_LINE_RE",
    "TOKEN",
    "TOKEN_CHARS",
    "TOKEN_RE",
    "VIA_RE",
    "looks_like_sip",
]

# ---------------------------------------------------------------------------- basic rules

# alphanum  =  ALPHA / DIGIT
# token     =  1*(alphanum / "-" / "." / "!" / "%" / "*"
#                  / "_" / "+" / "`" / "'" / "~" )
#: The characters of a token, as bytes: letters, digits and ``-.!%*_+`'~``.
TOKEN_CHARS = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-.!%*_+`'~"
TOKEN = r"[A-Za-z0-9\-.!%*_+`'~]+"
#: A token. Also, by RFC 3261's rules, every one of these is a token:
#:   Method = INVITEm / ACKm / OPTIONSm / BYEm / CANCELm / REGISTERm / extension-method
#:   extension-method = token
#:   header-name = token
#:   auth-scheme = token        auth-param-name = token
#:   protocol-name = "SIP" / token    protocol-version = token    transport = ... / other-transport
TOKEN_RE = re.compile(TOKEN)

# quoted-pair  =  "\" (%x00-09 / %x0B-0C / %x0E-7F)
#: One escaped character of a quoted string; ``QUOTED_PAIR_RE.sub(r"\1", text)`` unescapes.
#: Lenient: any character may follow the backslash (RFC 3261 excludes CR and LF).
QUOTED_PAIR_RE = re.compile(r"\\(.)")

# ---------------------------------------------------------------------------- start lines

# SIP-Version    =  "SIP" "/" 1*DIGIT "." 1*DIGIT
#   (section 7.1: the string is case-insensitive, but implementations MUST send upper case)
SIP_VERSION = r"[Ss][Ii][Pp]/[0-9]+\.[0-9]+"

# Request-Line   =  Method SP Request-URI SP SIP-Version CRLF
# Request-URI    =  SIP-URI / SIPS-URI / absoluteURI
#: A request line without its CRLF: groups method, Request-URI, version. Lenient: the
#: Request-URI is any text without whitespace (:class:`~voiplab.core.sip.Uri` parses it).
REQUEST_LINE_RE = re.compile(rf"({TOKEN}) (\S+) ({SIP_VERSION})")

# Status-Line     =  SIP-Version SP Status-Code SP Reason-Phrase CRLF
# Status-Code     =  Informational / Redirection / Success / Client-Error
#                    / Server-Error / Global-Failure / extension-code
# extension-code  =  3DIGIT
# Reason-Phrase   =  *(reserved / unreserved / escaped / UTF8-NONASCII / UTF8-CONT / SP / HTAB)
#: A status line without its CRLF: groups version, code, reason (``None`` if absent).
#: Codes are 100-699 (section 21: the first digit is the class, 1 to 6). Lenient: the SP
#: before an empty Reason-Phrase may be missing, and the reason may hold any character.
STATUS_LINE_RE = re.compile(rf"({SIP_VERSION}) ([1-6][0-9][0-9])(?: (.*))?", re.DOTALL)

# ---------------------------------------------------------------------------- headers

# extension-header  =  header-name HCOLON header-value
# header-name       =  token
# HCOLON            =  *( SP / HTAB ) ":" SWS
#: The start of a header line up to its colon (``Call-ID:``, ``l :``): group 1 is the name.
#: Header folding (a line starting with SP or HTAB continues the previous one) is left to
#: the parser, which reads line by line.
HEADER_NAME_RE = re.compile(rf"({TOKEN})[ \t]*:")

# COMMA   =  SWS "," SWS
# LAQUOT  =  SWS "<"        RAQUOT  =  ">" SWS
#: The characters that decide where a list header splits: a comma splits, unless it is
#: inside ``<...>`` (a URI may hold commas) or inside a quoted string (handled apart).
ANGLE_OR_COMMA_RE = re.compile(r"[<>,]")

# generic-param  =  token [ EQUAL gen-value ]
# gen-value      =  token / host / quoted-string
#: A parameter value that can be written without quotes: no whitespace and none of the
#: separators ``; , " < >`` (so a token or a host). Others are written as a quoted string.
BARE_PARAM_VALUE_RE = re.compile(r"[^\s;,\"<>]+")

# ---------------------------------------------------------------------------- URIs

# absoluteURI    =  scheme ":" ( hier-part / opaque-part )
# scheme         =  ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )
SCHEME = r"[A-Za-z][A-Za-z0-9+\-.]*"
#: A URI scheme (``sip``, ``sips``, ``tel``...).
SCHEME_RE = re.compile(SCHEME)

# hostport       =  host [ ":" port ]
# port           =  1*DIGIT
#: A port as written in a URI. Stricter than the ABNF: at most 5 digits (the parser then
#: checks it is at most 65535).
PORT_RE = re.compile(r"[0-9]{1,5}")

# ---------------------------------------------------------------------------- Via, CSeq

# Via               =  ( "Via" / "v" ) HCOLON via-parm *(COMMA via-parm)
# via-parm          =  sent-protocol LWS sent-by *( SEMI via-params )
# sent-protocol     =  protocol-name SLASH protocol-version SLASH transport
# protocol-name     =  "SIP" / token
# protocol-version  =  token
# transport         =  "UDP" / "TCP" / "TLS" / "SCTP" / other-transport
# sent-by           =  host [ COLON port ]
# host              =  hostname / IPv4address / IPv6reference
# IPv6reference     =  "[" IPv6address "]"
# SLASH = SWS "/" SWS      COLON = SWS ":" SWS      SEMI = SWS ";" SWS
#: One via-parm: groups protocol-name, protocol-version, transport, host (IPv6 with its
#: brackets), port (``None`` if absent, ``""`` if empty: the parser rejects it) and the rest
#: (``;params``, or an RFC 2543 comment in parentheses). Lenient: any host text without
#: whitespace, ``:`` or ``;``; the port's digits are checked by the parser.
VIA_RE = re.compile(
    rf"\s*({TOKEN})\s*/\s*({TOKEN})\s*/\s*({TOKEN})\s+(\[[0-9A-Fa-f:.]+\]|[^\s:;]+)"
    r"(?:\s*:\s*([0-9]*))?\s*(.*)",
    re.DOTALL,
)

# via-parm       =  sent-protocol LWS sent-by *( SEMI via-params )
# sent-protocol  =  protocol-name SLASH protocol-version SLASH transport
# via-params     =  via-ttl / via-maddr / via-received / via-branch / via-extension
# via-extension  =  generic-param        generic-param  =  token [ EQUAL gen-value ]
#: The usual form of one via-parm, read in one step: ``SIP/2.0/UDP host:port;name=value;flag``
#: (groups: sent-protocol, transport, host, port or ``None``, the ``;params``). Stricter than
#: VIA_RE (for speed only: what it does not match goes to VIA_RE): protocol-name and version
#: exactly ``SIP/2.0``, single SPs, no LWS around separators, no IPv6 reference, no quoted
#: string, at most 5 port digits, and each via-params a token-like ``name[=value]``.
SIMPLE_VIA_RE = re.compile(
    r"(SIP/2\.0/([A-Za-z]+)) ([^\s:;,\[\]\"()]+)(?::([0-9]{1,5}))?((?:;[^\s;,\"()=]+(?:=[^\s;,\"()=]*)?)*)"
)

# CSeq  =  "CSeq" HCOLON 1*DIGIT LWS Method
#: A CSeq value: groups number, method.
CSEQ_RE = re.compile(rf"\s*([0-9]+)\s+({TOKEN})\s*")

# ---------------------------------------------------------------------------- detection

# start-line   =  Request-Line / Status-Line
# Request-Line =  Method SP Request-URI SP SIP-Version CRLF
# Request-URI  =  SIP-URI / SIPS-URI / absoluteURI         (each one is scheme ":" ...)
# Status-Line  =  SIP-Version SP Status-Code SP Reason-Phrase CRLF
# Status-Code  =  ... / extension-code       extension-code = 3DIGIT
_REQUEST_START = rf"{TOKEN} {SCHEME}:\S+ SIP/2\.0"
_STATUS_START = r"SIP/2\.0 [0-9]{3} [^\r\n]*"
#: The start line of a SIP message, at the start of a payload (bytes). Its verdicts are those
#: of Wireshark 4.0's SIP heuristic on a UDP port that is not SIP's (measured with tshark
#: 4.0.17 and checked by tests/test_grammar.py), which the grammar gives too: the version is
#: exactly ``SIP/2.0`` (what every implementation sends), one SP between the parts, the
#: Request-URI has a scheme, a Status-Line has the SP after its code (the reason may be
#: empty), any 3-digit code counts, the line ends in CRLF (or a bare LF). Leading CRLFs do
#: not count, unlike in :meth:`SipMessage.parse <voiplab.core.sip.SipMessage.parse>`, which
#: skips them: RFC 3261 section 7.5 allows them on stream transports only, and Wireshark's
#: heuristic refuses a datagram that starts with one. Where Wireshark accepts what the
#: grammar forbids, the grammar wins: a method must be a token (Wireshark takes any bytes up
#: to the SP) and the Request-URI ``scheme ":" 1*char`` (Wireshark: any 3 characters or more
#: with a colon after the first).
SIP_FIRST_LINE = re.compile(rf"(?:{_REQUEST_START}|{_STATUS_START})\r?\n".encode("ascii"))
#: The first line must end within this many bytes of the payload's start.
SIP_FIRST_LINE_WINDOW = 512
#: Every payload :data:`SIP_FIRST_LINE` matches starts with one of these bytes (a token
#: character): a quick filter before the regex, e.g. over a numpy column of first bytes.
SIP_FIRST_BYTES = frozenset(TOKEN_CHARS)


def looks_like_sip(payload: bytes) -> bool:
    """Does this payload start like a SIP message (a request line or a status line)?

    The test of :data:`SIP_FIRST_LINE` on the first :data:`SIP_FIRST_LINE_WINDOW` bytes:
    how a capture reader finds SIP on a port that is not 5060, as Wireshark does.

    Parameters:
        payload: a UDP payload (or the start of a TCP stream).

    Returns:
        ``True`` for ``b"INVITE sip:5001@127.0.0.80 SIP/2.0\\r\\n..."`` or
        ``b"SIP/2.0 200 OK\\r\\n..."``; ``False`` for RTP, RTCP, STUN, a CRLF keep-alive.

    Taught in notebook 01 (what makes a datagram SIP).
    """
    return SIP_FIRST_LINE.match(payload, 0, SIP_FIRST_LINE_WINDOW) is not None
