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
    "Pbx": "devices.pbx",
    "Lab": "devices.lab",
    "start_lab": "devices.lab",
    "ProvisioningServer": "devices.provisioning",
    "SipMessage": "core.sip",
    "Uri": "core.sip",
    "NameAddr": "core.sip",
    "Via": "core.sip",
    "CSeq": "core.sip",
    "SessionDescription": "core.sdp",
    "Challenge": "core.digest",
    "compute_response": "core.digest",
    "verify_authorization": "core.digest",
    "Flow": "core.flow",
    "read_flow": "capture.sipread",
    "read_sip": "capture.sipread",
    "flow_from_trace": "capture.sipread",
    "LiveCapture": "capture.sipread",
    "RtpHeader": "core.rtp",
    "RtpStream": "core.rtp",
    "StreamStats": "core.rtp",
    "analyze_stream": "core.rtp",
    "parse_rtcp": "core.rtp",
    "ulaw_decode": "core.g711",
    "alaw_decode": "core.g711",
    "analyze": "capture.streams",
    "streams": "capture.streams",
    "read_udp": "capture.pcap",
    "estimate_quality": "core.quality",
    "Phone": "devices.phone",
    "SimulatedAlcatel": "devices.alcatel",
    "WebRtcLab": "devices.webrtc",
    "BrowserPhone": "devices.webrtc",
    "start_webrtc_lab": "devices.webrtc",
    "call_panel": "widgets.panels",
    "make_certificates": "devices.certs",
}

_SUBMODULES = {
    "config": "config", "errors": "errors", "plots": "plots", "cli": "cli",
    "pbx": "devices.pbx", "lab": "devices.lab", "sip": "core.sip", "sdp": "core.sdp", "digest": "core.digest",
    "flow": "core.flow", "rtp": "core.rtp", "g711": "core.g711", "pcap": "capture.pcap",
    "analysis": "capture.streams", "capture": "capture.sipread", "phone": "devices.phone",
    "alcatel": "devices.alcatel", "provisioning": "devices.provisioning", "webrtc": "devices.webrtc",
    "widgets": "widgets.panels", "grading": "teach.grading", "quality": "core.quality", "dtmf": "core.dtmf",
    "craft": "capture.craft", "doctor": "devices.doctor", "asterisk_conf": "devices.asterisk_conf",
    "certs": "devices.certs", "scenarios": "teach.experiments", "audio": "capture.audio",
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
        module = importlib.import_module(f".{_SUBMODULES[name]}", __name__)
        globals()[name] = module
        return module
    raise AttributeError(f"module 'voiplab' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY) | _SUBMODULES)
