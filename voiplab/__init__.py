"""voiplab: a Jupyter course on SIP and RTP around a real Asterisk lab.

Notebooks use ``import voiplab as vl``. Submodules are imported lazily so that
``import voiplab`` (and the command line) stays fast: scapy and matplotlib are
loaded only when a notebook first uses them.
"""

from __future__ import annotations

import importlib
from typing import Any

from .errors import (
    CallError,
    CaptureError,
    ConfigError,
    DigestError,
    ParseError,
    PbxError,
    PhoneDied,
    PhoneError,
    ProvisioningError,
    RegistrationError,
    RtpParseError,
    SdpParseError,
    SipParseError,
    VoipLabError,
    WebRtcError,
)

__version__ = "0.1.0"

# public name -> module that defines it (imported on first use)
_LAZY: dict[str, str] = {
    "LabConfig": "config",
    "Account": "config",
    "load_config": "config",
    "Pbx": "pbx",
    "Lab": "lab",
    "start_lab": "lab",
    "ProvisioningServer": "provisioning",
    "SipMessage": "sip",
    "Uri": "sip",
    "NameAddr": "sip",
    "Via": "sip",
    "CSeq": "sip",
    "SessionDescription": "sdp",
    "Challenge": "digest",
    "compute_response": "digest",
    "verify_authorization": "digest",
    "Flow": "flow",
    "read_flow": "capture",
    "read_sip": "capture",
    "flow_from_trace": "capture",
    "LiveCapture": "capture",
    "RtpHeader": "rtp",
    "RtpStream": "rtp",
    "StreamStats": "rtp",
    "analyze_stream": "rtp",
    "parse_rtcp": "rtp",
    "ulaw_decode": "g711",
    "alaw_decode": "g711",
    "analyze": "analysis",
    "streams": "analysis",
    "read_udp": "pcap",
    "estimate_quality": "quality",
    "Phone": "phone",
    "SimulatedAlcatel": "alcatel",
    "WebRtcLab": "webrtc",
    "BrowserPhone": "webrtc",
    "start_webrtc_lab": "webrtc",
    "call_panel": "widgets",
    "make_certificates": "certs",
}

_SUBMODULES = {
    "config", "pbx", "lab", "cli", "errors", "sip", "sdp", "digest", "flow", "rtp", "g711",
    "pcap", "analysis", "capture", "phone", "alcatel", "provisioning", "webrtc", "plots",
    "widgets", "grading", "quality", "dtmf", "craft", "doctor", "asterisk_conf", "certs", "scenarios", "audio",
}

__all__ = [
    "Account",
    "BrowserPhone",
    "CSeq",
    "CallError",
    "CaptureError",
    "Challenge",
    "ConfigError",
    "DigestError",
    "Flow",
    "Lab",
    "LabConfig",
    "LiveCapture",
    "NameAddr",
    "ParseError",
    "Pbx",
    "PbxError",
    "Phone",
    "PhoneDied",
    "PhoneError",
    "ProvisioningError",
    "ProvisioningServer",
    "RegistrationError",
    "RtpHeader",
    "RtpParseError",
    "RtpStream",
    "SdpParseError",
    "SessionDescription",
    "SimulatedAlcatel",
    "SipMessage",
    "SipParseError",
    "StreamStats",
    "Uri",
    "Via",
    "VoipLabError",
    "WebRtcError",
    "WebRtcLab",
    "__version__",
    "alaw_decode",
    "analyze",
    "call_panel",
    "analyze_stream",
    "compute_response",
    "estimate_quality",
    "flow_from_trace",
    "load_config",
    "make_certificates",
    "parse_rtcp",
    "read_flow",
    "read_sip",
    "read_udp",
    "start_lab",
    "start_webrtc_lab",
    "streams",
    "ulaw_decode",
    "verify_authorization",
]


_RENAMED = {"estimate_quality": "estimate"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module = importlib.import_module(f".{_LAZY[name]}", __name__)
        value = getattr(module, _RENAMED.get(name, name))
        globals()[name] = value
        return value
    if name in _SUBMODULES:
        module = importlib.import_module(f".{name}", __name__)
        globals()[name] = module
        return module
    raise AttributeError(f"module 'voiplab' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY) | _SUBMODULES)
