"""SDP, the Session Description Protocol (RFC 4566, RFC 8866), parsed and serialised.

An SDP body is a list of ``<type>=<value>`` lines: session-level lines first,
then one section per ``m=`` line. Parsing keeps every line (and its line ending)
so that ``bytes(SessionDescription.parse(data)) == data`` for any valid body;
the fields a student needs (media, port, codecs, connection address, direction)
are computed from those lines.

Static RTP payload types (RFC 3551, section 6) need no ``a=rtpmap`` line: they
are filled in from :data:`PAYLOAD_TYPES`.

Pure: no sockets, no clock. Taught in notebook 04 (the INVITE flow and SDP).
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field

from ..errors import SdpParseError
from .payloads import STATIC_PAYLOAD_TYPES

__all__ = [
    "PAYLOAD_TYPES",
    "DIRECTIONS",
    "RtpMap",
    "Connection",
    "Origin",
    "Attribute",
    "SdpLine",
    "MediaDescription",
    "SessionDescription",
]

#: Media direction attributes (RFC 8866 section 6.7); ``sendrecv`` is the default.
DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive")
DEFAULT_DIRECTION = "sendrecv"

# RFC 8866 section 5: ``<type>=<value>``, type is exactly one case-significant letter.
_LINE_RE = re.compile(r"([a-zA-Z])=(.*)", re.DOTALL)
# m=<media> <port>[/<number of ports>] <proto> <fmt> ...
_MEDIA_RE = re.compile(r"(\S+) ([0-9]+)(?:/([0-9]+))? (\S+)((?: +\S+)*) *")
# c=<nettype> <addrtype> <connection-address>[/<ttl>][/<number of addresses>]
_CONNECTION_RE = re.compile(r"(\S+) (\S+) ([^/\s]+)(?:/([0-9]+))?(?:/([0-9]+))? *")
# a=rtpmap:<payload type> <encoding name>/<clock rate>[/<encoding parameters>]
_RTPMAP_RE = re.compile(r"([0-9]+) +([^/\s]+)/([0-9]+)(?:/([0-9]+))? *")


@dataclass(frozen=True)
class RtpMap:
    """One payload type of a media description: ``a=rtpmap:0 PCMU/8000``.

    Attributes:
        payload_type: the RTP payload type number (0-127).
        encoding: the encoding name, e.g. ``"PCMU"``, ``"telephone-event"``.
        clock_rate: the RTP clock rate in Hz (8000 for G.711, also for G.722).
        channels: the number of audio channels (1 unless given).
    """

    payload_type: int
    encoding: str
    clock_rate: int
    channels: int = 1

    def __str__(self) -> str:
        suffix = f"/{self.channels}" if self.channels != 1 else ""
        return f"{self.payload_type} {self.encoding}/{self.clock_rate}{suffix}"

    def __repr__(self) -> str:
        return f"RtpMap({self})"


#: The static RTP payload types of RFC 3551 (tables 4 and 5): used when a media
#: description lists a static format without an ``a=rtpmap`` line (from
#: :data:`voiplab.core.payloads.STATIC_PAYLOAD_TYPES`; reserved types have no encoding).
PAYLOAD_TYPES: dict[int, RtpMap] = {
    number: RtpMap(number, static.encoding, static.clock_rate, static.channels)
    for number, static in STATIC_PAYLOAD_TYPES.items()
    if static.encoding is not None
}


@dataclass(frozen=True)
class SdpLine:
    """One line of an SDP body, kept exactly as received.

    Attributes:
        type: the one-letter type (``"v"``, ``"o"``, ``"m"``, ``"a"``...), ``""`` for a blank line.
        value: the text after ``=``.
        eol: the line ending that followed (``"\\r\\n"``, ``"\\n"`` or ``""`` on the last line).
    """

    type: str
    value: str
    eol: str = "\r\n"

    def __str__(self) -> str:
        return (f"{self.type}=" if self.type else "") + self.value + self.eol


@dataclass(frozen=True)
class Attribute:
    """An ``a=`` line: ``a=<name>`` (a flag) or ``a=<name>:<value>``.

    Attributes:
        name: the attribute name, e.g. ``"rtpmap"``, ``"sendrecv"``.
        value: the text after ``:``, ``None`` for a flag attribute.
    """

    name: str
    value: str | None = None

    @classmethod
    def parse(cls, text: str) -> Attribute:
        """Split the text after ``a=`` into name and value."""
        name, colon, value = text.partition(":")
        return cls(name, value if colon else None)

    def __str__(self) -> str:
        return self.name if self.value is None else f"{self.name}:{self.value}"


@dataclass(frozen=True)
class Connection:
    """A ``c=`` line: where media is sent (``c=IN IP4 127.0.0.82``).

    Attributes:
        net_type: ``"IN"`` (Internet).
        address_type: ``"IP4"`` or ``"IP6"``.
        address: the unicast or multicast address (or a host name).
        ttl: the multicast TTL, if given.
        count: the number of multicast addresses, if given.
    """

    net_type: str
    address_type: str
    address: str
    ttl: int | None = None
    count: int | None = None

    @classmethod
    def parse(cls, text: str, *, offset: int | None = None) -> Connection:
        """Parse the text after ``c=``.

        Raises:
            SdpParseError: the line does not have the form ``IN IP4 <address>``.
        """
        match = _CONNECTION_RE.fullmatch(text)
        if match is None:
            raise SdpParseError(
                f"SDP connection line 'c={text}' is malformed: it must look like 'c=IN IP4 <address>'",
                offset=offset,
            )
        net, addrtype, address, ttl, count = match.groups()
        return cls(net, addrtype, address, int(ttl) if ttl else None, int(count) if count else None)

    def __str__(self) -> str:
        text = f"{self.net_type} {self.address_type} {self.address}"
        if self.ttl is not None:
            text += f"/{self.ttl}"
        if self.count is not None:
            text += f"/{self.count}"
        return text


@dataclass(frozen=True)
class Origin:
    """The ``o=`` line: who created the session and which version of it this is.

    A re-INVITE that changes the media must increase ``session_version``.
    """

    username: str
    session_id: str
    session_version: str
    net_type: str
    address_type: str
    address: str

    @classmethod
    def parse(cls, text: str, *, offset: int | None = None) -> Origin:
        """Parse the text after ``o=``.

        Raises:
            SdpParseError: the line does not have six fields.
        """
        parts = text.split()
        if len(parts) != 6:
            raise SdpParseError(
                f"SDP origin line 'o={text}' is malformed: it must have six fields "
                "'o=<username> <sess-id> <sess-version> IN IP4 <address>'",
                offset=offset,
            )
        return cls(*parts)

    def __str__(self) -> str:
        return " ".join(
            (
                self.username,
                self.session_id,
                self.session_version,
                self.net_type,
                self.address_type,
                self.address,
            )
        )


def _attributes(lines: tuple[SdpLine, ...]) -> list[Attribute]:
    return [Attribute.parse(line.value) for line in lines if line.type == "a"]


def _direction(attributes: list[Attribute]) -> str | None:
    found = None
    for attribute in attributes:
        if attribute.value is None and attribute.name in DIRECTIONS:
            found = attribute.name
    return found


def _connection(lines: tuple[SdpLine, ...], offsets: tuple[int, ...]) -> Connection | None:
    for line, offset in zip(lines, offsets, strict=True):
        if line.type == "c":
            return Connection.parse(line.value, offset=offset)
    return None


@dataclass(frozen=True)
class MediaDescription:
    """One media section: the ``m=`` line and the lines after it up to the next ``m=``.

    Attributes:
        media: ``"audio"``, ``"video"``, ``"application"``...
        port: the transport port (the RTP port; 0 means the stream is refused/disabled).
        port_count: the number of ports (``m=audio 4000/2 ...``), 1 unless given.
        protocol: ``"RTP/AVP"``, ``"RTP/SAVPF"``, ``"UDP/TLS/RTP/SAVPF"``...
        formats: the formats in order of preference; payload types are ``int``.
        lines: every line of the section, the ``m=`` line first, as received.
        connection: the effective ``c=``: this section's, else the session's, else ``None``.
        session_direction: the session-level direction attribute, if any (inherited).

    Taught in notebook 04.
    """

    media: str
    port: int
    port_count: int
    protocol: str
    formats: tuple[int | str, ...]
    lines: tuple[SdpLine, ...] = field(repr=False)
    connection: Connection | None = field(default=None, repr=False)
    session_direction: str | None = field(default=None, repr=False)

    @classmethod
    def _from_lines(
        cls,
        lines: tuple[SdpLine, ...],
        offsets: tuple[int, ...],
        session_connection: Connection | None,
        session_direction: str | None,
    ) -> MediaDescription:
        mline = lines[0]
        match = _MEDIA_RE.fullmatch(mline.value)
        if match is None:
            raise SdpParseError(
                f"SDP media line 'm={mline.value}' is malformed: it must look like "
                "'m=<media> <port> <proto> <fmt> ...', e.g. 'm=audio 4000 RTP/AVP 0 8 101'",
                offset=offsets[0],
            )
        media, port, count, protocol, fmts = match.groups()
        formats = tuple(int(f) if f.isdigit() else f for f in fmts.split())
        connection = _connection(lines[1:], offsets[1:]) or session_connection
        result = cls(
            media=media,
            port=int(port),
            port_count=int(count) if count else 1,
            protocol=protocol,
            formats=formats,
            lines=lines,
            connection=connection,
            session_direction=session_direction,
        )
        # Validate the rtpmap lines now so that errors surface at parse time.
        for line, offset in zip(lines, offsets, strict=True):
            if line.type == "a" and line.value.startswith("rtpmap:"):
                _parse_rtpmap(line.value[len("rtpmap:") :], offset)
        return result

    @property
    def connection_address(self) -> str | None:
        """The effective connection address: media-level ``c=``, else session-level, else ``None``."""
        return self.connection.address if self.connection else None

    @property
    def attributes(self) -> list[Attribute]:
        """The ``a=`` lines of this section, in order."""
        return _attributes(self.lines)

    def attribute(self, name: str) -> str | None:
        """The value of the first attribute called ``name`` (``""`` for a flag), or ``None``."""
        for attribute in self.attributes:
            if attribute.name == name:
                return "" if attribute.value is None else attribute.value
        return None

    @property
    def rtpmap(self) -> dict[int, RtpMap]:
        """Payload type -> :class:`RtpMap`, for every numeric format.

        Static payload types without an ``a=rtpmap`` line come from :data:`PAYLOAD_TYPES`.
        """
        explicit: dict[int, RtpMap] = {}
        for attribute in self.attributes:
            if attribute.name == "rtpmap" and attribute.value is not None:
                rtpmap = _parse_rtpmap(attribute.value, None)
                explicit.setdefault(rtpmap.payload_type, rtpmap)
        result: dict[int, RtpMap] = {}
        for fmt in self.formats:
            if isinstance(fmt, int):
                if fmt in explicit:
                    result[fmt] = explicit[fmt]
                elif fmt in PAYLOAD_TYPES:
                    result[fmt] = PAYLOAD_TYPES[fmt]
        for payload_type, rtpmap in explicit.items():
            result.setdefault(payload_type, rtpmap)
        return result

    @property
    def fmtp(self) -> dict[int, str]:
        """Payload type -> format parameters (``a=fmtp:101 0-16`` gives ``{101: "0-16"}``)."""
        result: dict[int, str] = {}
        for attribute in self.attributes:
            if attribute.name == "fmtp" and attribute.value:
                pt, _, params = attribute.value.partition(" ")
                if pt.isdigit():
                    result[int(pt)] = params.strip()
        return result

    @property
    def direction(self) -> str:
        """``sendrecv``, ``sendonly``, ``recvonly`` or ``inactive`` (session-level inherited)."""
        return _direction(self.attributes) or self.session_direction or DEFAULT_DIRECTION

    @property
    def codecs(self) -> tuple[str, ...]:
        """Encoding names in order of preference, e.g. ``("PCMU", "PCMA", "telephone-event")``."""
        rtpmap = self.rtpmap
        return tuple(
            rtpmap[f].encoding if isinstance(f, int) and f in rtpmap else str(f) for f in self.formats
        )

    @property
    def rtcp_port(self) -> int:
        """The RTCP port: ``a=rtcp:<port>`` if present (RFC 3605), else the RTP port + 1."""
        value = self.attribute("rtcp")
        if value:
            first = value.split()[0]
            if first.isdigit():
                return int(first)
        return self.port + 1

    @property
    def ptime(self) -> int | None:
        """The packetisation time in ms (``a=ptime:20``), or ``None``."""
        value = self.attribute("ptime")
        return int(value) if value and value.strip().isdigit() else None

    def __bytes__(self) -> bytes:
        return str(self).encode("utf-8", "surrogateescape")

    def __str__(self) -> str:
        return "".join(map(str, self.lines))

    def __repr__(self) -> str:
        formats = " ".join(map(str, self.formats))
        return (
            f"<MediaDescription {self.media} {self.connection_address}:{self.port} "
            f"{self.protocol} {formats} ({','.join(self.codecs)}) {self.direction}>"
        )


def _parse_rtpmap(text: str, offset: int | None) -> RtpMap:
    match = _RTPMAP_RE.fullmatch(text)
    if match is None:
        raise SdpParseError(
            f"SDP attribute 'a=rtpmap:{text}' is malformed: it must look like "
            "'a=rtpmap:<payload type> <encoding>/<clock rate>[/<channels>]'",
            offset=offset,
        )
    pt, encoding, rate, channels = match.groups()
    return RtpMap(int(pt), encoding, int(rate), int(channels) if channels else 1)


def _split_lines(text: str) -> list[tuple[str, str, int]]:
    """(content, eol, offset) for every line; CRLF and bare LF both accepted."""
    result: list[tuple[str, str, int]] = []
    offset = 0
    for raw in text.splitlines(keepends=True):
        if raw.endswith("\r\n"):
            content, eol = raw[:-2], "\r\n"
        elif raw.endswith(("\n", "\r")):
            content, eol = raw[:-1], raw[-1]
        else:
            content, eol = raw, ""
        result.append((content, eol, offset))
        offset += len(raw)
    return result


@dataclass(frozen=True)
class SessionDescription:
    """A whole SDP body: session-level lines and media sections, kept line by line.

    ``bytes(SessionDescription.parse(data)) == data`` for every body that parses.

    Attributes:
        session_lines: the lines before the first ``m=``, as received.
        media: one :class:`MediaDescription` per ``m=`` line.

    Taught in notebook 04 (the INVITE flow and SDP, direct media).
    """

    session_lines: tuple[SdpLine, ...] = field(repr=False)
    media: tuple[MediaDescription, ...]

    @classmethod
    def parse(cls, text: str | bytes) -> SessionDescription:
        """Parse an SDP body (the body of an INVITE, 200 OK, ACK...).

        Parameters:
            text: the body, as ``str`` or ``bytes`` (UTF-8); CRLF or LF line endings.

        Returns:
            The parsed session description.

        Raises:
            SdpParseError: a line is not ``<type>=<value>``, ``v=`` is not first, or an
                ``o=``, ``c=``, ``m=`` or ``a=rtpmap`` line is malformed. ``offset`` is the
                character offset of the faulty line.
        """
        if isinstance(text, (bytes, bytearray, memoryview)):
            text = bytes(text).decode("utf-8", "surrogateescape")
        if not isinstance(text, str):
            raise SdpParseError(f"SDP body was a {type(text).__name__}: pass str or bytes", offset=0)
        split = _split_lines(text)
        lines: list[SdpLine] = []
        offsets: list[int] = []
        for number, (content, eol, offset) in enumerate(split, start=1):
            if not content.strip():
                lines.append(SdpLine("", content, eol))
                offsets.append(offset)
                continue
            match = _LINE_RE.fullmatch(content)
            if match is None:
                raise SdpParseError(
                    f"SDP line {number} {content[:40]!r} is malformed: "
                    "every line must look like '<letter>=<value>', e.g. 'c=IN IP4 127.0.0.82'",
                    offset=offset,
                )
            lines.append(SdpLine(match.group(1), match.group(2), eol))
            offsets.append(offset)
        typed = [line for line in lines if line.type]
        if not typed:
            raise SdpParseError("SDP body is empty: it must start with 'v=0'", offset=0)
        if typed[0].type != "v":
            first = offsets[lines.index(typed[0])]
            raise SdpParseError(
                f"SDP body starts with '{typed[0].type}={typed[0].value[:30]}' "
                "instead of 'v=0': is this really an SDP body?",
                offset=first,
            )
        starts = [i for i, line in enumerate(lines) if line.type == "m"]
        end = starts[0] if starts else len(lines)
        session_lines = tuple(lines[:end])
        for line, offset in zip(session_lines, offsets[:end], strict=True):
            if line.type == "o":
                Origin.parse(line.value, offset=offset)
        session_connection = _connection(session_lines, tuple(offsets[:end]))
        session_direction = _direction(_attributes(session_lines))
        media = []
        for index, start in enumerate(starts):
            stop = starts[index + 1] if index + 1 < len(starts) else len(lines)
            media.append(
                MediaDescription._from_lines(
                    tuple(lines[start:stop]),
                    tuple(offsets[start:stop]),
                    session_connection,
                    session_direction,
                )
            )
        return cls(session_lines, tuple(media))

    def _first(self, kind: str) -> str | None:
        for line in self.session_lines:
            if line.type == kind:
                return line.value
        return None

    @property
    def version(self) -> int | None:
        """The ``v=`` value (always 0 today)."""
        value = self._first("v")
        return int(value) if value is not None and value.strip().isdigit() else None

    @property
    def origin(self) -> Origin | None:
        """The ``o=`` line, parsed."""
        value = self._first("o")
        return Origin.parse(value) if value is not None else None

    @property
    def session_name(self) -> str | None:
        """The ``s=`` value (``"Asterisk"``, ``"pjmedia"``...)."""
        return self._first("s")

    @property
    def connection(self) -> Connection | None:
        """The session-level ``c=`` line, or ``None``."""
        value = self._first("c")
        return Connection.parse(value) if value is not None else None

    @property
    def connection_address(self) -> str | None:
        """The session-level connection address (``c=``), or ``None``."""
        connection = self.connection
        return connection.address if connection else None

    @property
    def attributes(self) -> list[Attribute]:
        """The session-level ``a=`` lines, in order."""
        return _attributes(self.session_lines)

    @property
    def direction(self) -> str:
        """The session-level direction (``sendrecv`` unless an attribute says otherwise)."""
        return _direction(self.attributes) or DEFAULT_DIRECTION

    @property
    def lines(self) -> tuple[SdpLine, ...]:
        """Every line of the body, in order."""
        return self.session_lines + tuple(line for m in self.media for line in m.lines)

    def audio(self) -> MediaDescription | None:
        """The first ``m=audio`` section with a non-zero port, or ``None``."""
        for media in self.media:
            if media.media == "audio" and media.port != 0:
                return media
        return None

    def __str__(self) -> str:
        return "".join(map(str, self.lines))

    def __bytes__(self) -> bytes:
        return str(self).encode("utf-8", "surrogateescape")

    def __repr__(self) -> str:
        parts = [f"{m.media} {m.connection_address}:{m.port} {','.join(m.codecs)}" for m in self.media]
        origin = self._first("o") or ""
        return f"<SessionDescription o={origin} | {' | '.join(parts) or 'no media'}>"

    def _repr_html_(self) -> str:
        rows = []
        for line in self.lines:
            if not line.type:
                continue
            rows.append(
                f"<tr><td style='font-family:monospace;font-weight:bold;color:#1f4e96'>{line.type}=</td>"
                f"<td style='font-family:monospace;text-align:left'>{html.escape(line.value)}</td></tr>"
            )
        return "<table>" + "".join(rows) + "</table>"
