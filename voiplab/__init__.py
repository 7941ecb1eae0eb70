"""voiplab: a Jupyter course on SIP and RTP around a real Asterisk lab.

Notebooks use one door: ``import voiplab as vl`` and the names below (plus the view
packages ``vl.plots`` and ``vl.widgets``, and the notebooks' check cells ``vl.checks``).
Each name is imported from its layer on first use, so ``import voiplab`` and the command
line stay fast: scapy, matplotlib and ipywidgets are loaded only when a notebook first
uses them.

The layers (``voiplab/<folder>``; imports point down only): ``core`` (sans-IO protocol
logic), ``capture`` (files and packets), ``devices`` (things that run: Asterisk, phones,
the simulated Alcatel, servers), ``plots`` and ``widgets`` (views), ``teach`` (the
course: experiments, explanations, samples, grading), ``cli``.
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
    ProtocolError,
    ProvisioningError,
    RegistrationError,
    RtpParseError,
    SdpParseError,
    SipParseError,
    VoipLabError,
    WebRtcError,
)

__version__ = "0.1.0"

#: public name -> "module:attribute" that defines it (imported on first use)
_LAZY: dict[str, str] = {
    # the lab's configuration
    "Account": "config:Account",
    "LabConfig": "config:LabConfig",
    "local_block": "config:local_block",
    "local_address": "config:local_address",
    "load_config": "config:load_config",
    # core: protocol logic (chapters 1, 3-5)
    "SipMessage": "core.sip:SipMessage",
    "Uri": "core.sip:Uri",
    "NameAddr": "core.sip:NameAddr",
    "Via": "core.sip:Via",
    "CSeq": "core.sip:CSeq",
    "diff_messages": "core.sip:diff",
    "options_request": "core.sip:options_request",
    "looks_like_sip": "core.grammar:looks_like_sip",
    "SessionDescription": "core.sdp:SessionDescription",
    "Challenge": "core.digest:Challenge",
    "compute_response": "core.digest:compute_response",
    "verify_authorization": "core.digest:verify_authorization",
    "Flow": "core.flow:Flow",
    "FlowMessage": "core.flow:FlowMessage",
    "MalformedMessage": "core.flow:MalformedMessage",
    "RtpHeader": "core.rtp:RtpHeader",
    "RtpStream": "core.rtpstats:RtpStream",
    "StreamStats": "core.rtpstats:StreamStats",
    "analyze_stream": "core.rtpstats:analyze_stream",
    "parse_rtcp": "core.rtcp:parse_rtcp",
    "payload_name": "core.payloads:payload_name",
    "ulaw_decode": "core.g711:ulaw_decode",
    "alaw_decode": "core.g711:alaw_decode",
    "TelephoneEvent": "core.dtmf:TelephoneEvent",
    "estimate_quality": "core.quality:estimate",
    "dominant_frequency": "core.audio:dominant_frequency",
    "call_audio": "core.audio:call_audio",
    # capture: files and packets
    "read_sip": "capture.sipread:read_sip",
    "read_flow": "capture.sipread:read_flow",
    "read_udp": "capture.udp:read_udp",
    "UdpTable": "capture.udp:UdpTable",
    "read_sip_capture": "capture.sipread:read_sip_capture",
    "SipCapture": "capture.sipread:SipCapture",
    "analyze": "capture.streams:analyze",
    "streams": "capture.streams:streams",
    "LiveCapture": "capture.live:LiveCapture",
    "capture_methods": "capture.live:capture_methods",
    "craft_options": "capture.craft:craft_options",
    "send_and_receive": "capture.craft:send_and_receive",
    "status_line": "capture.craft:status_line",
    "rtp_packet": "capture.layers:rtp_packet",
    "compare_with_tshark": "capture.tshark:compare_with_tshark",
    "tshark_rtp_streams": "capture.tshark:tshark_rtp_streams",
    "read_wav": "capture.wav:read_wav",
    "stream_wav": "capture.wav:stream_wav",
    # devices: what runs
    "Pbx": "devices.pbx:Pbx",
    "Lab": "devices.lab:Lab",
    "start_lab": "devices.lab:start_lab",
    "render_classroom": "devices.classroom:render_classroom",
    "serve_classroom": "devices.classroom:serve_classroom",
    "demo_classroom": "devices.classroom:demo_classroom",
    "ClassroomMonitor": "devices.classroom:ClassroomMonitor",
    "ClassroomPbx": "devices.classroom:ClassroomPbx",
    "classroom_dashboard": "widgets.dashboard:classroom_dashboard",
    "run_checks": "devices.doctor:run_checks",
    "ConfigCopy": "devices.asterisk_edit:ConfigCopy",
    "ReloadResult": "devices.pbx:ReloadResult",
    "edit_asterisk_file": "devices.asterisk_edit:edit_file",
    "Phone": "devices.phone:Phone",
    "SimulatedAlcatel": "devices.alcatel:SimulatedAlcatel",
    "detect_alcatel_signal": "devices.alcatel:detect_alcatel_signal",
    "ProvisioningServer": "devices.provisioning:ProvisioningServer",
    "write_sipconfig": "devices.provisioning:write_files",
    "fetch_provisioning": "devices.provisioning:fetch",
    "boot_fetch": "devices.provisioning:boot_fetch",
    "SIPCONFIG_KEYS": "devices.sipconfig:KEYS",
    "sipconfig_filename": "devices.sipconfig:phone_filename",
    "sipconfig_settings": "devices.sipconfig:settings",
    "validate_sipconfig": "devices.sipconfig:validate",
    "check_sipconfig": "devices.sipconfig:check",
    "CallState": "devices.wire:CallState",
    "WebRtcLab": "devices.webrtc:WebRtcLab",
    "BrowserPhone": "devices.browser:BrowserPhone",
    "start_webrtc_lab": "devices.webrtc:start_webrtc_lab",
    "webrtc_call_flow": "devices.browser:call_flow",
    "wss_handshake": "devices.webrtc:wss_handshake",
    "make_certificates": "devices.certs:make_certificates",
    "describe_certificate": "devices.certs:describe",
    "verify_chain": "devices.certs:verify_chain",
    # views
    "call_panel": "widgets.panels:call_panel",
    # teach: the course
    "Experiment": "teach.experiments:Experiment",
    "record_registration": "teach.experiments:record_registration",
    "record_call": "teach.experiments:record_call",
    "record_incoming_call": "teach.experiments:record_incoming_call",
    "from_pcap": "teach.experiments:from_pcap",
    "auth_exchange": "teach.explain:auth_exchange",
    "sdp_side_by_side": "teach.explain:sdp_side_by_side",
    "answer_timing": "teach.explain:answer_timing",
    "nonce_time": "teach.explain:nonce_time",
    "nonce_uses": "teach.explain:nonce_uses",
    "nonce_reuse_request": "teach.explain:nonce_reuse_request",
    "rtp_paths": "teach.explain:rtp_paths",
    "message_steps": "teach.explain:message_steps",
    "ladder_stepper": "teach.explain:ladder_stepper",
    "stream_path": "teach.media:stream_path",
    "quality_table": "teach.media:quality_table",
    "dtmf_digits": "teach.media:dtmf_digits",
    "start_recording": "teach.recording:start_recording",
    "CallRecording": "teach.recording:CallRecording",
    "rtp_or_sample": "teach.recording:rtp_or_sample",
    "call_summary": "teach.recording:call_summary",
    "both_sides": "teach.media:both_sides",
    "bit_rates": "teach.media:bit_rates",
    "simulate_loss": "teach.media:simulate_loss",
    "assignment": "teach.answers:assignment",
    "Assignment": "teach.answers:Assignment",
    "sample_capture": "teach.samples:sample_capture",
    "sample_names": "teach.samples:sample_names",
}

#: sub-packages reachable as attributes: the views, and the graded exercises' helpers
_PACKAGES = {"plots": "plots", "widgets": "widgets", "checks": "teach.checks"}

__all__ = [
    "CallError",
    "CaptureError",
    "ConfigError",
    "DigestError",
    "ParseError",
    "PbxError",
    "PhoneDied",
    "ProtocolError",
    "PhoneError",
    "ProvisioningError",
    "RegistrationError",
    "RtpParseError",
    "SdpParseError",
    "SipParseError",
    "VoipLabError",
    "WebRtcError",
    "__version__",
    *_LAZY,
    *_PACKAGES,
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module_name, _, attribute = _LAZY[name].partition(":")
        value = getattr(importlib.import_module(f".{module_name}", __name__), attribute)
    elif name in _PACKAGES:
        value = importlib.import_module(f".{_PACKAGES[name]}", __name__)
    else:
        raise AttributeError(f"module 'voiplab' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY) | set(_PACKAGES))
