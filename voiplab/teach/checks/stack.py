"""The check cells of notebook 01 (SIP and RTP in the protocol stack): ports, headers, bit rate.

* :func:`rtp_port_from_sdp`: the UDP port the student read in the SDP of the INVITE is the
  one the other side's RTP goes to;
* :func:`header_overhead`: the bytes of RTP + UDP + IP headers in one RTP packet;
* :func:`wire_bitrate`: the bit rate of one direction of a G.711 call on Ethernet.

Each compares the student's number with the one computed from the very packets they looked
at, and when it differs says what to look at (never the number). Taught in notebook 01.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from ...core.g711 import SAMPLE_RATE
from ...core.payloads import payload_name
from ...errors import VoipLabError
from ..experiments import Experiment
from . import CheckResult, failed, passed

if TYPE_CHECKING:
    from scapy.packet import Packet  # scapy is untyped: Packet names what vl.rtp_packet returns

__all__ = [
    "ETHERNET_FCS",
    "ETHERNET_HEADER",
    "ETHERNET_PREAMBLE_AND_GAP",
    "header_overhead",
    "rtp_port_from_sdp",
    "wire_bitrate",
]

#: Ethernet II header: destination and source MAC (6 + 6) and EtherType (2)
ETHERNET_HEADER = 14
#: the frame check sequence (CRC-32) at the end of every frame: captures do not show it
ETHERNET_FCS = 4
#: on the wire, before and after each frame: preamble + start frame delimiter (7 + 1) and the
#: inter-frame gap (12 byte times)
ETHERNET_PREAMBLE_AND_GAP = 8 + 12
#: how close a bit rate must be (kbit/s) to count as the same figure
BITRATE_TOLERANCE_KBPS = 0.15
#: payload types whose codec sends one byte per sample at 8000 samples/s (G.711)
_G711 = (0, 8)


def _number(value: object) -> float | None:
    """The student's answer as a number, or ``None`` when it is not one (``...``, text, NaN)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def rtp_port_from_sdp(port: object, call: Experiment) -> CheckResult:
    """Is ``port`` the RTP port the caller announced in the SDP of its INVITE (where its RTP arrives)?

    Parameters:
        port: the student's answer (an int).
        call: the experiment of the call (``vl.from_pcap(vl.sample_capture(...))``).

    Taught in notebook 01.
    """
    name = "the RTP port announced in the SDP"
    if _number(port) is None:
        return failed(name, "write the port in the cell above (rtp_port = <a number>), then run this check again")
    flow_call = call.call
    if flow_call is None:
        return failed(name, "this experiment holds no call: load the sample call with "
                            "vl.from_pcap(vl.sample_capture(\"call_rpi_to_alcatel\"))")
    invite = flow_call.legs[0].invite
    sdp = invite.message.sdp
    audio = sdp.audio() if sdp is not None else None
    if audio is None:
        return failed(name, "the first INVITE of this call has no audio in its SDP: load the sample call again")
    host = invite.src.rsplit(":", 1)[0]
    where = audio.connection_address or host
    if port == audio.port:
        arriving = [s for s in call.streams or [] if s.dst == where and s.dst_port == audio.port]
        seen = f"; the capture holds {len(arriving)} RTP stream(s) sent to {where}:{audio.port}" if arriving else ""
        return passed(name, f"{audio.port}: the m=audio line of the caller's INVITE says its RTP arrives at "
                            f"{where}:{audio.port} ({', '.join(audio.codecs)}){seen}")
    if port == 5060:
        return failed(name, "5060 is the SIP port (in the Via and Contact headers): RTP goes where the SDP "
                            "body says, on its m=audio line")
    return failed(name, f"{port} is not the port of the m=audio line of the caller's INVITE: read the SDP body "
                        "printed above (m=audio <port> RTP/AVP <payload types>)")


def _layer_sizes(packet: Packet) -> tuple[int, int, int, int]:
    """(IP header, UDP header, RTP header, RTP payload) byte counts of an RTP packet read with scapy."""
    # scapy: loaded only when a check looks at a packet (it takes about a second)
    from scapy.layers.inet import IP, UDP
    from scapy.layers.rtp import RTP

    ip, udp, rtp = packet[IP], packet[UDP], packet[RTP]
    return (len(ip) - len(ip.payload), len(udp) - len(udp.payload), len(rtp) - len(rtp.payload),
            len(rtp.payload))


def _is_rtp(packet: object) -> bool:
    if packet is None or not hasattr(packet, "haslayer"):
        return False
    # scapy: loaded only when a check looks at a packet
    from scapy.layers.inet import IP, UDP
    from scapy.layers.rtp import RTP

    return bool(packet.haslayer(IP) and packet.haslayer(UDP) and packet.haslayer(RTP))


def header_overhead(packet: Packet, overhead: object) -> CheckResult:
    """Is ``overhead`` the bytes of RTP + UDP + IP headers in ``packet`` (an RTP packet of ``vl.rtp_packet``)?

    Taught in notebook 01.
    """
    name = "the header bytes of one RTP packet"
    if not _is_rtp(packet):
        return failed(name, "there is no RTP packet to look at: run packet = vl.rtp_packet(...) first")
    if _number(overhead) is None:
        return failed(name, "write your answer in the cell above (overhead = <a number of bytes>), then run "
                            "this check again")
    ip, udp, rtp, voice = _layer_sizes(packet)
    expected = ip + udp + rtp
    if overhead == expected:
        share = expected / (expected + voice)
        return passed(name, f"{expected} bytes: IP {ip} + UDP {udp} + RTP {rtp}, in front of {voice} bytes of "
                            f"voice: {share:.0%} of every IP packet is headers")
    if overhead == expected + ETHERNET_HEADER:
        return failed(name, "you counted the Ethernet header as well: this step asks for the headers from RTP "
                            "down to IP (Ethernet comes in the next step)")
    if overhead in (rtp, udp + rtp, ip + rtp):
        return failed(name, f"{overhead} bytes leaves a layer out: add the header of each of the three layers "
                            "RTP, UDP and IP (the sizes printed above)")
    return failed(name, f"{overhead} is not the sum of the RTP, UDP and IP header lengths of this packet: a "
                        "layer's header is len(layer) - len(layer.payload), e.g. for IP "
                        "len(packet[IP]) - len(packet[IP].payload)")


def wire_bitrate(kbps: object, packet: Packet) -> CheckResult:
    """Is ``kbps`` the Ethernet bit rate of one direction of the G.711 call ``packet`` belongs to?

    Each 20 ms packet becomes a frame of 14 (Ethernet header) + the IP packet + 4 (FCS)
    bytes; both figures are accepted: frames only (18 bytes added), or the whole wire time
    (38 bytes added, with the preamble and the inter-frame gap).

    Raises:
        VoipLabError: ``packet`` is not G.711 (the check counts one byte per sample).

    Taught in notebook 01.
    """
    name = "the bit rate of one direction on Ethernet"
    if not _is_rtp(packet):
        return failed(name, "there is no RTP packet to look at: run packet = vl.rtp_packet(...) first")
    value = _number(kbps)
    if value is None:
        return failed(name, "write your answer in the cell above (bitrate_kbps = <kbit/s>), then run this check "
                            "again")
    # scapy: the RTP layer of the packet (loaded by the checks above)
    from scapy.layers.rtp import RTP

    payload_type = int(packet[RTP].payload_type)
    if payload_type not in _G711:
        raise VoipLabError(f"the packet carries {payload_name(payload_type)}, not G.711: this check counts one "
                           "byte per sample, pass a packet of a G.711 stream")
    ip, udp, rtp, voice = _layer_sizes(packet)
    ip_packet = ip + udp + rtp + voice
    packets_per_s = SAMPLE_RATE / voice
    frame = ETHERNET_HEADER + ip_packet + ETHERNET_FCS
    on_wire = frame + ETHERNET_PREAMBLE_AND_GAP

    def rate(size: int) -> float:
        return packets_per_s * size * 8 / 1000

    def near(figure: float) -> bool:
        return abs(value - figure) <= BITRATE_TOLERANCE_KBPS

    if near(rate(frame)):
        return passed(name, f"{rate(frame):g} kbit/s: {packets_per_s:g} packets/s x {frame} bytes per frame "
                            f"({ETHERNET_HEADER} Ethernet header + {ip_packet} IP packet + {ETHERNET_FCS} FCS) "
                            f"x 8 bits; with the preamble and the inter-frame gap the wire is busy for "
                            f"{rate(on_wire):g} kbit/s")
    if near(rate(on_wire)):
        return passed(name, f"{rate(on_wire):g} kbit/s of wire time: {packets_per_s:g} packets/s x ({frame} bytes "
                            f"per frame + {ETHERNET_PREAMBLE_AND_GAP} of preamble and inter-frame gap) x 8 bits; "
                            f"the frames alone are {rate(frame):g} kbit/s")
    if near(rate(voice)):
        return failed(name, f"{value:g} kbit/s is the voice alone (the G.711 codec rate): every packet also "
                            "carries RTP, UDP, IP and Ethernet headers")
    if near(rate(ip_packet)):
        return failed(name, f"{value:g} kbit/s is the rate of the IP packets: Ethernet adds "
                            f"{ETHERNET_HEADER + ETHERNET_FCS} bytes to each (a {ETHERNET_HEADER}-byte header and "
                            f"a {ETHERNET_FCS}-byte FCS)")
    if near(rate(ETHERNET_HEADER + ip_packet)):
        return failed(name, f"you added the {ETHERNET_HEADER}-byte header the capture shows: on the wire each frame "
                            f"also ends with a {ETHERNET_FCS}-byte FCS, which captures do not show")
    if any(abs(value - 1000 * rate(size)) <= 1000 * BITRATE_TOLERANCE_KBPS
           for size in (frame, on_wire)):
        return failed(name, "that is the right figure in bit/s: give it in kbit/s (1 kbit/s = 1000 bit/s)")
    return failed(name, f"{value:g} kbit/s does not fit this packet: packets per second "
                        "(8000 samples/s divided by the samples in one packet) x bytes per Ethernet frame x 8 bits")
