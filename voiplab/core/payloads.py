"""RTP payload types: what the number in an RTP header means, in one table.

An RTP header carries a 7-bit payload type. Types 0-95 are *static*: RFC 3551 (tables 4
and 5) fixes their encoding and clock rate, so an SDP may list ``m=audio 4000 RTP/AVP 0 8``
without any ``a=rtpmap`` line. Types 96-127 are *dynamic*: only the SDP of the call says
what they are (``a=rtpmap:101 telephone-event/8000``).

:data:`STATIC_PAYLOAD_TYPES` holds, per static type, the RFC 3551 encoding name (as SDP
writes it), the clock rate, the channels and the name Wireshark 4.0 prints for it
(``tshark -z rtp,streams``: ``g711U`` for PCMU). The SDP parser (:mod:`voiplab.core.sdp`)
and the RTP statistics (:mod:`voiplab.core.rtpstats`) both derive what they need from it:
:data:`PAYLOAD_NAMES` and :data:`STATIC_CLOCK_RATES` below, ``sdp.PAYLOAD_TYPES`` there.

Pure: no I/O. Taught in notebook 04 (the codecs of an SDP offer) and 05 (RTP streams).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

__all__ = [
    "COMFORT_NOISE_TYPES",
    "DEFAULT_DYNAMIC_NAMES",
    "DYNAMIC_CLOCK_RATES",
    "FIRST_DYNAMIC_TYPE",
    "PAYLOAD_NAMES",
    "STATIC_CLOCK_RATES",
    "STATIC_PAYLOAD_TYPES",
    "TELEPHONE_EVENT",
    "StaticPayloadType",
    "clock_rate",
    "payload_name",
]

#: Payload types from this one up (to 127) are dynamic: the SDP says what they carry.
FIRST_DYNAMIC_TYPE = 96
#: The encoding name of DTMF digits sent as RTP events (RFC 4733).
TELEPHONE_EVENT = "telephone-event"
#: What Wireshark prints for a payload type that no table lists.
UNASSIGNED_NAME = "Unassigned"
RTCP_CONFLICT_NAME = "Reserved for RTCP conflict avoidance"


@dataclass(frozen=True)
class StaticPayloadType:
    """One static RTP payload type (RFC 3551 section 6, tables 4 and 5).

    Attributes:
        number: the payload type, 0-95.
        encoding: the encoding name as an SDP ``a=rtpmap`` writes it (``"PCMU"``), or
            ``None`` for a reserved type (1, 2 and 19 were assigned by RFC 1890; 72-76
            would clash with RTCP packet types 200-204 once the marker bit is set).
        clock_rate: the RTP clock rate in Hz (8000 for G.711, also for G.722); for the
            reserved 1, 2 and 19 the rate Wireshark still uses (RFC 1890's 8000 Hz); 0: none.
        channels: audio channels (2 for PT 10, L16 stereo).
        wireshark_name: the "Payload" column of ``tshark -q -z rtp,streams`` (Wireshark 4.0).

    Taught in notebook 05.
    """

    number: int
    encoding: str | None
    clock_rate: int
    wireshark_name: str
    channels: int = 1

    def __repr__(self) -> str:
        return (f"StaticPayloadType({self.number}, {self.encoding or 'reserved'}/{self.clock_rate}"
                f"{'/' + str(self.channels) if self.channels != 1 else ''}, tshark {self.wireshark_name!r})")


def _table(*types: StaticPayloadType) -> Mapping[int, StaticPayloadType]:
    return MappingProxyType({entry.number: entry for entry in types})


#: Every static payload type that RFC 3551 assigns or reserves, or that Wireshark names.
STATIC_PAYLOAD_TYPES: Mapping[int, StaticPayloadType] = _table(
    StaticPayloadType(0, "PCMU", 8000, "g711U"),
    StaticPayloadType(1, None, 8000, "fs-1016"),
    StaticPayloadType(2, None, 8000, "g721"),
    StaticPayloadType(3, "GSM", 8000, "GSM"),
    StaticPayloadType(4, "G723", 8000, "g723"),
    StaticPayloadType(5, "DVI4", 8000, "DVI4 8k"),
    StaticPayloadType(6, "DVI4", 16000, "DVI4 16k"),
    StaticPayloadType(7, "LPC", 8000, "Exp. from Xerox PARC"),
    StaticPayloadType(8, "PCMA", 8000, "g711A"),
    StaticPayloadType(9, "G722", 8000, "g722"),
    StaticPayloadType(10, "L16", 44100, "16-bit audio, stereo", channels=2),
    StaticPayloadType(11, "L16", 44100, "16-bit audio, monaural"),
    StaticPayloadType(12, "QCELP", 8000, "Qualcomm"),
    StaticPayloadType(13, "CN", 8000, "CN"),
    StaticPayloadType(14, "MPA", 90000, "MPEG-I/II Audio"),
    StaticPayloadType(15, "G728", 8000, "g728"),
    StaticPayloadType(16, "DVI4", 11025, "DVI4 11k"),
    StaticPayloadType(17, "DVI4", 22050, "DVI4 22k"),
    StaticPayloadType(18, "G729", 8000, "g729"),
    StaticPayloadType(19, None, 8000, "CN(old)"),
    StaticPayloadType(25, "CelB", 90000, "CellB"),
    StaticPayloadType(26, "JPEG", 90000, "JPEG"),
    StaticPayloadType(28, "nv", 90000, "NV"),
    StaticPayloadType(31, "H261", 90000, "h261"),
    StaticPayloadType(32, "MPV", 90000, "MPEG-I/II Video"),
    StaticPayloadType(33, "MP2T", 90000, "MPEG-II streams"),
    StaticPayloadType(34, "H263", 90000, "h263"),
    *(StaticPayloadType(number, None, 0, RTCP_CONFLICT_NAME) for number in range(72, 77)),
)

#: Payload type -> the name ``tshark -z rtp,streams`` prints (Wireshark 4.0), static types.
PAYLOAD_NAMES: Mapping[int, str] = MappingProxyType(
    {number: entry.wireshark_name for number, entry in STATIC_PAYLOAD_TYPES.items()})
#: Payload type -> clock rate (Hz) of the static types that have one, as Wireshark uses it.
STATIC_CLOCK_RATES: Mapping[int, int] = MappingProxyType(
    {number: entry.clock_rate for number, entry in STATIC_PAYLOAD_TYPES.items() if entry.clock_rate})
#: Comfort noise payload types (RFC 3389's 13 and RFC 1890's old 19): silence, not audio.
COMFORT_NOISE_TYPES = (13, 19)

#: Names of dynamic types that have a decoder in Wireshark by default, used when no SDP set
#: up the stream (heuristic RTP); with an SDP, a type missing from it is ``RTPType-<n>``.
DEFAULT_DYNAMIC_NAMES: Mapping[int, str] = MappingProxyType({99: "rtp.rfc2198", 100: "rtpevent", 101: "rtpevent"})

#: Clock rates of dynamic payload types by encoding name (prefix match, case-insensitive),
#: used when the SDP gives none; ``telephone-event`` has no jitter (RFC 4733 2.2.1).
DYNAMIC_CLOCK_RATES: Mapping[str, int] = MappingProxyType({
    "AMR": 8000, "AMR-WB": 16000, "BMPEG": 90000, "BT656": 90000, "DV": 90000, "EVRC": 8000,
    "EVRC0": 8000, "EVRC1": 8000, "EVRCB": 8000, "EVRCB0": 8000, "EVRCB1": 8000, "EVRCWB": 16000,
    "EVRCWB0": 16000, "EVRCWB1": 16000, "EVS": 16000, "G7221": 16000, "G726-16": 8000,
    "G726-24": 8000, "G726-32": 8000, "G726-40": 8000, "G729D": 8000, "G729E": 8000,
    "GSM-EFR": 8000, "H263-1998": 90000, "H263-2000": 90000, "H264": 90000, "MP1S": 90000,
    "MP2P": 90000, "MP4V-ES": 90000, "mpa-robust": 90000, "opus": 48000, "pointer": 90000,
    "raw": 90000, "red": 1000, "SMV": 8000, "SMV0": 8000, "t140": 1000, TELEPHONE_EVENT: 8000,
})
# Longest names first, so that "EVRCWB1" is tried before "EVRC" (prefix match).
_DYNAMIC_BY_PREFIX = tuple(sorted(((name.lower(), rate) for name, rate in DYNAMIC_CLOCK_RATES.items()), reverse=True))


def payload_name(payload_type: int, rtpmap: Mapping[int, str] | None = None) -> str:
    """The payload name tshark prints: ``g711U`` for 0, the SDP encoding name for dynamic types.

    Parameters:
        payload_type: 0-127.
        rtpmap: dynamic type -> encoding name of the SDP that set up the stream; ``None``
            when no SDP did (heuristic RTP): dynamic types get Wireshark's default names.

    Taught in notebook 05.
    """
    if payload_type >= FIRST_DYNAMIC_TYPE:
        if rtpmap is None:
            return DEFAULT_DYNAMIC_NAMES.get(payload_type, f"RTPType-{payload_type}")
        return rtpmap.get(payload_type, f"RTPType-{payload_type}")
    return PAYLOAD_NAMES.get(payload_type, UNASSIGNED_NAME)


def clock_rate(payload_type: int, encoding: str | None = None, sdp_rate: int = 0) -> int:
    """The clock rate Wireshark uses for jitter (Hz), 0 when unknown or telephone-event.

    Parameters:
        payload_type: the RTP payload type.
        encoding: the SDP encoding name of a dynamic type, if known.
        sdp_rate: the SDP ``a=rtpmap`` clock rate, if known.

    Taught in notebook 05.
    """
    if payload_type < FIRST_DYNAMIC_TYPE:
        return STATIC_CLOCK_RATES.get(payload_type, 0)
    if encoding is None:
        return 0
    lower = encoding.lower()
    if lower.startswith(TELEPHONE_EVENT):
        return 0
    if sdp_rate:
        return sdp_rate
    for name, rate in _DYNAMIC_BY_PREFIX:
        if lower.startswith(name):
            return rate
    return 0
