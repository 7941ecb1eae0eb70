"""The one error hierarchy of voiplab.

Every error a student can meet is a :class:`VoipLabError`. Messages follow the
form ``"<what> <is/was> <problem>: <what to do>"`` so that a notebook cell shows
what happened *and* how to fix it. Parse errors are also ``ValueError`` so that
generic code catching bad input keeps working.
"""

from __future__ import annotations

__all__ = [
    "VoipLabError",
    "ConfigError",
    "ParseError",
    "SipParseError",
    "SdpParseError",
    "RtpParseError",
    "DigestError",
    "RegistrationError",
    "CallError",
    "PhoneError",
    "PhoneDied",
    "ProtocolError",
    "PbxError",
    "CaptureError",
    "ProvisioningError",
    "WebRtcError",
]


class VoipLabError(Exception):
    """Base class of every error raised by voiplab."""


class ConfigError(VoipLabError, ValueError):
    """The lab configuration (``lab.toml``) is invalid.

    Attributes:
        path: the file that holds the bad value (``None`` for built-in defaults).
        key: the dotted key that is wrong, e.g. ``accounts.rpi.number``.
    """

    def __init__(self, message: str, *, path: str | None = None, key: str | None = None):
        super().__init__(message)
        self.path = path
        self.key = key


class ParseError(VoipLabError, ValueError):
    """Bytes or text could not be parsed.

    Attributes:
        offset: where in the input the problem was found (``None`` if unknown).
    """

    def __init__(self, message: str, *, offset: int | None = None):
        super().__init__(message)
        self.offset = offset


class SipParseError(ParseError):
    """A SIP message is malformed."""


class SdpParseError(ParseError):
    """An SDP body is malformed."""


class RtpParseError(ParseError):
    """An RTP or RTCP packet is malformed."""


class DigestError(VoipLabError, ValueError):
    """A digest challenge or credentials cannot be used (unknown algorithm, missing field)."""


class PbxError(VoipLabError):
    """The Asterisk PBX cannot be found, installed, started, reached or queried."""


class PhoneError(VoipLabError):
    """The softphone cannot do what was asked (bad state, bad argument, address in use)."""


class PhoneDied(PhoneError):
    """The phone's agent process died; create a new Phone to go on."""


class ProtocolError(PhoneError):
    """A line of the agent protocol does not fit its definition (bad JSON, unknown name, bad value).

    Attributes:
        request_id: the ``id`` of the request the line carried, when it could be read
            (the agent then answers that request with the error instead of dropping it).
    """

    def __init__(self, message: str, *, request_id: int | None = None):
        super().__init__(message)
        self.request_id = request_id


class RegistrationError(PhoneError):
    """A REGISTER failed (wrong password, unknown account, PBX down or unreachable).

    Attributes:
        status: the SIP status code of the final response, or ``None`` on timeout.
    """

    def __init__(self, message: str, *, status: int | None = None):
        super().__init__(message)
        self.status = status


class CallError(PhoneError):
    """A call failed or was used wrongly.

    Attributes:
        status: the SIP status code the PBX sent (e.g. 404), or ``None``.
        reason: the SIP reason phrase, or ``""``.
    """

    def __init__(self, message: str, *, status: int | None = None, reason: str = ""):
        super().__init__(message)
        self.status = status
        self.reason = reason


class CaptureError(VoipLabError):
    """A capture file cannot be read, or live capture is not permitted here."""


class ProvisioningError(VoipLabError):
    """An Alcatel provisioning file cannot be rendered, validated or served."""


class WebRtcError(VoipLabError):
    """The WebRTC chapter's certificates, configuration or browser phone failed."""
