"""MIME multipart bodies (RFC 2046) read as tshark's multipart dissector reads them.

A SIP message may carry its SDP inside a ``multipart/mixed`` body next to another part: the
ISUP message of a SIP-I/SIP-T trunk, a PIDF location, a second SDP. The body is cut at its
boundary lines (``--`` + the ``boundary`` parameter of the Content-Type)::

    Content-Type: multipart/mixed;boundary=unique-boundary-1

    --unique-boundary-1
    Content-Type: application/sdp

    v=0 ...
    --unique-boundary-1
    Content-Type: application/ISUP;version=itu-t92+

    (binary ISUP)
    --unique-boundary-1--

Read as tshark 4.0 reads it: the first boundary must start a line (a preamble before it is
skipped); each part's headers end at an empty line and need CRLF line ends; a part's body
ends at the line end before the next boundary line; the last boundary may follow the body
without a line end; a part without a following boundary is not read; the last Content-Type
(or compact ``c``) of a part names its type; nested multipart parts are read with their own
boundary. Content-Transfer-Encoding is not undone (tshark does not by default).

Pure. Used by :mod:`voiplab.capture.streams` (SDP in SIP, as tshark finds it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["BodyPart", "bodies_of_type", "media_type_parameter", "multipart_parts"]

#: nested multipart bodies are read down to this depth (a hostile body cannot recurse for ever)
MAX_DEPTH = 8
#: the part headers tshark knows, with their compact forms (only Content-Type matters here)
_CONTENT_TYPE_NAMES = ("content-type", "c")
_MULTIPART = "multipart/"
_LINE_END = re.compile(rb"\r\n?|\n")


@dataclass(frozen=True)
class BodyPart:
    """One part of a multipart body: its media type (lower case, ``None`` without a
    Content-Type), the parameters after the type's ``;`` and its bytes."""

    content_type: str | None
    parameters: str
    body: bytes


def media_type_parameter(parameters: str, name: str) -> str | None:
    """The value of parameter ``name`` (any case) in ``parameters`` (``"boundary=b; charset=x"``):
    a quoted value is unquoted (backslash escapes undone); ``None`` when absent."""
    text, at, wanted = parameters, 0, name.lower()
    size = len(text)
    while at < size:
        while at < size and text[at] in " \t\r\n;":
            at += 1
        start = at
        while at < size and text[at] not in "=; \t\r\n":
            at += 1
        key = text[start:at].lower()
        while at < size and text[at] in " \t":
            at += 1
        if at >= size or text[at] != "=":
            while at < size and text[at] != ";":
                at += 1
            continue
        at += 1
        while at < size and text[at] in " \t":
            at += 1
        if at < size and text[at] == '"':
            at += 1
            value = []
            while at < size and text[at] != '"':
                if text[at] == "\\" and at + 1 < size:
                    at += 1
                value.append(text[at])
                at += 1
            at += 1
            found = "".join(value)
        else:
            start = at
            while at < size and text[at] not in "; \t\r\n":
                at += 1
            found = text[start:at]
        if key == wanted:
            return found
        while at < size and text[at] != ";":
            at += 1
    return None


def _line_end(data: bytes, at: int) -> tuple[int, int]:
    """(length of the line starting at ``at``, where the next one starts): a line ends at CR,
    LF or CRLF; the last one at the end of ``data``."""
    found = _LINE_END.search(data, at)
    if found is None:
        return len(data) - at, len(data)
    return found.start() - at, found.end()


def _first_boundary(data: bytes, delimiter: bytes) -> tuple[int, bool] | None:
    """(where the body after the first boundary line starts, whether it was the last one)."""
    at = 0
    while at + len(delimiter) < len(data):
        if data.startswith(delimiter, at):
            _, after = _line_end(data, at)
            return after, data.startswith(b"--", at + len(delimiter))
        _, at = _line_end(data, at)
    return None


def _next_boundary(data: bytes, start: int, delimiter: bytes) -> tuple[int, int, bool] | None:
    """(where the part's body ends, where the next part starts, whether that boundary was the
    last) for a body starting at ``start``; ``None`` when no boundary follows."""
    at = 0 if start < 0 else start
    closing = delimiter + b"--"
    while at + len(delimiter) < len(data):
        length, after = _line_end(data, at)
        end = at + length
        if data.startswith(delimiter, after):
            _, next_start = _line_end(data, after)
            return end, next_start, data.startswith(b"--", after + len(delimiter))
        if end >= len(closing) and data[end - len(closing):end] == closing:  # no line end before it
            return end - len(closing), after, True
        at = after
    return None


def _header_end(data: bytes, at: int) -> tuple[int, bool] | None:
    """Where the header line at ``at`` ends (after its CRLF and any continuation lines), and
    whether an empty line follows it; ``None`` without a CRLF."""
    size = len(data)
    while at < size:
        cr = data.find(b"\r", at)
        if cr < 0:
            return None
        at = cr + 1
        if at < size and data[at] == 0x0A:
            at += 1
            if at < size:
                following = data[at]
                if following == 0x0D:
                    return at, at + 1 < size and data[at + 1] == 0x0A
                if following not in (0x20, 0x09):
                    return at, False
    return None


def _compact(header: bytes) -> str:
    """A header line unfolded with its white space dropped, except inside quotes."""
    out, quoted = [], False
    for char in header.decode("ascii", "replace"):
        if char == '"':
            quoted = not quoted
        elif not quoted and char in " \t\r\n":
            continue
        out.append(char)
    return "".join(out)


def _part(data: bytes, start: int, delimiter: bytes) -> tuple[BodyPart, int, bool] | None:
    """The part at ``start`` (right after a boundary line), where the next starts and whether
    it was the last; ``None`` when the part cannot be read (then nothing after it is)."""
    at, content_type, parameters = start, None, ""
    while True:
        found = _header_end(data, at)
        if found is None:
            return None
        end, last_field = found
        if last_field:
            end += 2
        line = _compact(data[at:end])
        name, colon, value = line.partition(":")
        if not colon or not name:
            end = at  # not a header: the body starts here
            break
        if name.lower() in _CONTENT_TYPE_NAMES:
            kind, _, parameters = value.partition(";")
            content_type = kind.lower()
        at = end
        if last_field:
            break
    boundary = _next_boundary(data, end, delimiter)
    if boundary is None:
        return None
    body_end, next_start, last = boundary
    return BodyPart(content_type, parameters, data[end:max(end, body_end)]), next_start, last


def multipart_parts(parameters: str, body: bytes) -> list[BodyPart]:
    """The parts of a multipart ``body`` whose Content-Type parameters are ``parameters``
    (what follows ``multipart/mixed;``): ``[]`` without a ``boundary`` or a first boundary line."""
    boundary = media_type_parameter(parameters, "boundary")
    if not boundary:
        return []
    delimiter = b"--" + boundary.encode("utf-8", "surrogateescape")
    first = _first_boundary(body, delimiter)
    if first is None:
        return []
    at, last = first
    parts = []
    while not last:
        read = _part(body, at, delimiter)
        if read is None:
            break
        part, at, last = read
        parts.append(part)
    return parts


def bodies_of_type(content_type: str | None, parameters: str, body: bytes, wanted: str,
                   depth: int = 0) -> list[bytes]:
    """The bodies of type ``wanted`` (e.g. ``"application/sdp"``) in a body of ``content_type``:
    the body itself, or its parts (nested multiparts included), in order."""
    if content_type == wanted:
        return [body]
    if content_type is None or not content_type.startswith(_MULTIPART) or depth >= MAX_DEPTH:
        return []
    found: list[bytes] = []
    for part in multipart_parts(parameters, body):
        found += bodies_of_type(part.content_type, part.parameters, part.body, wanted, depth + 1)
    return found
