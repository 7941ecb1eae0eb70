"""Captures "from the wild", built for the tests: one SIP call with RTP, carried every way voiplab reads.

Each builder returns the packets of one call (the SIP messages built with voiplab's SIP core,
the RTP with :func:`voiplab.capture.synth.rtp_bytes`) put on the wire with scapy: SIP over
TCP (segmented, several messages per segment, on port 5060 or another port), SIP on a port
other than 5060, IPv4 and IPv6 fragments, PPPoE, GRE, IP-in-IP and 6in4 tunnels, GTP-U (4G, and
5G with an extension header), VXLAN and Geneve tunnels over UDP, ERSPAN types I, II and III (port
mirroring over GRE), 802.1Q and
QinQ tags, Linux cooked v1/v2, BSD null/loop, a re-INVITE to T.38 (``m=image``) with UDPTL
after it, a re-INVITE that moves the audio to another port, malformed messages. tshark is the
oracle of what they hold (tests/test_wild.py); :func:`write_all` saves them (the recipe of
the captures in tests/data/wild/).

    python tests/wild_captures.py tests/data/wild
"""

from __future__ import annotations

import struct
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from scapy.contrib.erspan import ERSPAN_II, ERSPAN_III, ERSPAN_PlatformSpecific
from scapy.contrib.gtp import GTP_U_Header, GTPPDUSessionContainer
from scapy.layers.inet import GRE, IP, TCP, UDP, fragment
from scapy.layers.inet6 import IPv6, IPv6ExtHdrFragment, fragment6
from scapy.layers.l2 import CookedLinux, Dot1AD, Dot1Q, Ether, Loopback
from scapy.layers.ppp import PPP, PPPoE
from scapy.layers.vxlan import VXLAN
from scapy.packet import Packet, Raw
from scapy.utils import PcapWriter

from voiplab.capture.synth import rtp_bytes
from voiplab.core.sip import SipMessage

CALLER, CALLEE = "10.1.0.81", "10.1.0.80"
CALLER6, CALLEE6 = "2001:db8::81", "2001:db8::80"
T0 = 1_700_000_000.0
RTP_PACKETS = 40
#: fixed MAC addresses: scapy must never resolve one (it would send ARP or neighbour solicitations)
MAC_A, MAC_B = "02:00:00:00:00:81", "02:00:00:00:00:80"


@dataclass(frozen=True)
class Datagram:
    """One datagram of the call: when, from, to, transport and payload."""

    time: float
    src: str
    sport: int
    dst: str
    dport: int
    payload: bytes
    transport: str = "UDP"


def sdp(address: str, port: int, media: str = "audio", proto: str = "RTP/AVP", formats: str = "0 101",
        extra: tuple[str, ...] = ()) -> str:
    ip = "IP6" if ":" in address else "IP4"
    lines = ["v=0", f"o=- 1 1 IN {ip} {address}", "s=-", f"c=IN {ip} {address}", "t=0 0",
             f"m={media} {port} {proto} {formats}"]
    if media == "audio":
        lines += ["a=rtpmap:0 PCMU/8000", "a=rtpmap:101 telephone-event/8000", "a=fmtp:101 0-16"]
    else:
        lines += ["a=T38FaxVersion:0", "a=T38MaxBitRate:14400", "a=T38FaxRateManagement:transferredTCF"]
    lines += list(extra)
    return "\r\n".join(lines) + "\r\n"


def _host(address: str, port: int) -> str:
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def call(caller: str = CALLER, callee: str = CALLEE, *, sip_port: int = 5060, transport: str = "UDP",
         call_id: str = "wild-1", caller_rtp: int = 4000, callee_rtp: int = 5000, padding: int = 0,
         reinvite: str | None = None, rtp_after: int = 0, rtp_body: int = 160) -> list[Datagram]:
    """A call: INVITE/200/ACK with SDP, RTP both ways, then optionally a re-INVITE (``"t38"``: to
    ``m=image`` on the same ports, with UDPTL after it; ``"port"``: the caller moves its audio to
    ``caller_rtp + 2``) followed by ``rtp_after`` packets each way, then BYE/200.

    ``padding``: extra ``a=`` lines in the INVITE's SDP (a datagram bigger than the MTU);
    ``rtp_body``: payload bytes of each RTP packet (above the MTU: RTP in fragments)."""
    via = f"SIP/2.0/{transport} {_host(caller, sip_port)};branch=z9hG4bK"
    common = [("From", f"<sip:5002@{_host(callee, sip_port)}>;tag=caller1"),
              ("Call-ID", call_id), ("Max-Forwards", "70")]
    to = ("To", f"<sip:5001@{_host(callee, sip_port)}>")
    to_tag = ("To", f"<sip:5001@{_host(callee, sip_port)}>;tag=callee1")
    uri = f"sip:5001@{_host(callee, sip_port)}"
    extra = tuple(f"a=x-padding-{k}:{'p' * 60}" for k in range(padding))
    out: list[Datagram] = []
    t = T0

    def send(forward: bool, message: SipMessage) -> None:
        nonlocal t
        t += 0.01
        a, b = (caller, callee) if forward else (callee, caller)
        out.append(Datagram(t, a, sip_port, b, sip_port, bytes(message), transport))

    def rtp(count: int, caller_port: int, callee_port: int, seq0: int) -> None:
        nonlocal t
        for k in range(count):
            t += 0.02
            out.append(Datagram(t, caller, caller_port, callee, callee_port,
                                rtp_bytes(seq0 + k, 160 * (seq0 + k), 0x11111111, 0, body=bytes(rtp_body))))
            out.append(Datagram(t + 0.001, callee, callee_port, caller, caller_port,
                                rtp_bytes(seq0 + k, 160 * (seq0 + k), 0x22222222, 0, body=bytes(rtp_body))))

    content = [("Content-Type", "application/sdp")]
    send(True, SipMessage.request("INVITE", uri, [("Via", via + "1"), *common, to, ("CSeq", "1 INVITE"),
                                                  ("Contact", f"<sip:5002@{_host(caller, sip_port)}>"), *content],
                                  sdp(caller, caller_rtp, extra=extra)))
    send(False, SipMessage.response(100, "Trying", [("Via", via + "1"), *common, to, ("CSeq", "1 INVITE")]))
    send(False, SipMessage.response(200, "OK", [("Via", via + "1"), *common, to_tag, ("CSeq", "1 INVITE"),
                                                ("Contact", f"<sip:5001@{_host(callee, sip_port)}>"), *content],
                                    sdp(callee, callee_rtp)))
    send(True, SipMessage.request("ACK", uri, [("Via", via + "2"), *common, to_tag, ("CSeq", "1 ACK")]))
    rtp(RTP_PACKETS, caller_rtp, callee_rtp, 1000)
    if reinvite is not None:
        if reinvite == "t38":
            offer, answer = sdp(caller, caller_rtp, "image", "udptl", "t38"), sdp(callee, callee_rtp, "image",
                                                                                  "udptl", "t38")
        else:
            offer, answer = sdp(caller, caller_rtp + 2), sdp(callee, callee_rtp)
        send(True, SipMessage.request("INVITE", uri, [("Via", via + "3"), *common, to_tag, ("CSeq", "2 INVITE"),
                                                      *content], offer))
        send(False, SipMessage.response(200, "OK", [("Via", via + "3"), *common, to_tag, ("CSeq", "2 INVITE"),
                                                    *content], answer))
        send(True, SipMessage.request("ACK", uri, [("Via", via + "4"), *common, to_tag, ("CSeq", "2 ACK")]))
        if reinvite == "t38":  # UDPTL on the same ports; some of its datagrams look like RTP version 2
            for k in range(rtp_after):
                t += 0.02
                udptl = struct.pack("!H", 0x8000 + k) + bytes([0x80 | (k % 3), 0x11]) + bytes(30)
                out.append(Datagram(t, caller, caller_rtp, callee, callee_rtp, udptl))
                out.append(Datagram(t + 0.001, callee, callee_rtp, caller, caller_rtp, udptl))
        else:
            rtp(rtp_after, caller_rtp + 2, callee_rtp, 1000 + RTP_PACKETS)
    send(True, SipMessage.request("BYE", uri, [("Via", via + "5"), *common, to_tag, ("CSeq", "3 BYE")]))
    send(False, SipMessage.response(200, "OK", [("Via", via + "5"), *common, to_tag, ("CSeq", "3 BYE")]))
    return out


# ---------------------------------------------------------------- on the wire
def ip_layer(src: str, dst: str) -> Packet:
    return IPv6(src=src, dst=dst) if ":" in src else IP(src=src, dst=dst, id=0x1234, flags=0)


def udp_packets(datagrams: list[Datagram], wrap: Callable[[Packet], Packet] | None = None,
                mtu: int = 0) -> list[Packet]:
    """UDP datagrams behind a link layer (``wrap``); with ``mtu``, datagrams above it are fragmented."""
    out: list[Packet] = []
    for number, d in enumerate(datagrams):
        packet = ip_layer(d.src, d.dst) / UDP(sport=d.sport, dport=d.dport) / Raw(d.payload)
        pieces = [packet]
        if mtu and len(packet) > mtu:
            if isinstance(packet, IPv6):
                pieces = fragment6(IPv6(src=d.src, dst=d.dst) / IPv6ExtHdrFragment(id=number + 1) /
                                   UDP(sport=d.sport, dport=d.dport) / Raw(d.payload), mtu)
            else:
                packet[IP].id = number + 1
                pieces = fragment(packet, fragsize=(mtu - 20) // 8 * 8)
        for k, piece in enumerate(pieces):
            framed = (wrap or ethernet)(piece)
            framed.time = d.time + k * 1e-4
            out.append(framed)
    return out


def ethernet(packet: Packet) -> Packet:
    return Ether(src=MAC_A, dst=MAC_B) / packet


def tcp_packets(datagrams: list[Datagram], segment: int = 300, wrap: Callable[[Packet], Packet] = ethernet,
                coalesce: bool = True) -> list[Packet]:
    """SIP over TCP: a handshake per direction pair, each message cut in segments of ``segment``
    bytes; with ``coalesce`` the ACK after a 200 OK rides in the same segment as the next message
    of that direction when they are sent within 10 ms. RTP (UDP) is left as UDP."""
    out: list[Packet] = []
    seq: dict[tuple[str, int, str, int], int] = {}

    def emit(d: Datagram, data: bytes, when: float, flags: str = "PA") -> None:
        key = (d.src, d.sport, d.dst, d.dport)
        packet = ip_layer(d.src, d.dst) / TCP(sport=d.sport, dport=d.dport, seq=seq[key], flags=flags, ack=1)
        if data:
            packet = packet / Raw(data)
        framed = wrap(packet)
        framed.time = when
        out.append(framed)
        seq[key] = (seq[key] + len(data) + (1 if "S" in flags else 0)) % (1 << 32)

    pending: list[Datagram] = []
    for d in [*datagrams, None]:
        if d is None:  # the end: what waits is sent
            for p in pending:
                for k in range(0, len(p.payload), segment):
                    emit(p, p.payload[k:k + segment], p.time + k * 1e-6)
            break
        if d.transport != "TCP":
            out.extend(udp_packets([d], wrap))
            continue
        key = (d.src, d.sport, d.dst, d.dport)
        if key not in seq:
            seq[key] = 1000 * (len(seq) + 1)
            emit(d, b"", d.time - 0.001, "S")
        pending.append(d)
        if coalesce and len(pending) == 1 and d.payload.startswith(b"SIP/2.0 200"):
            continue  # wait: the next message may share the segment
        data = b"".join(p.payload for p in pending if (p.src, p.sport) == (d.src, d.sport))
        others = [p for p in pending if (p.src, p.sport) != (d.src, d.sport)]
        for p in others:
            for k in range(0, len(p.payload), segment):
                emit(p, p.payload[k:k + segment], p.time + k * 1e-6)
        for k in range(0, len(data), segment):
            emit(d, data[k:k + segment], d.time + k * 1e-6)
        pending = []
    return out


def write(path: Path, packets: list[Packet], linktype: int | None = None) -> Path:
    writer = PcapWriter(str(path), linktype=linktype, sync=True)
    for packet in packets:
        writer.write(packet)
    writer.close()
    return path


def sll2(packet: Packet) -> bytes:
    """Linux cooked v2 header (protocol, reserved, interface, ARPHRD, type, address length, address)."""
    protocol = 0x86DD if isinstance(packet, IPv6) else 0x0800
    return struct.pack("!HHIHBB8s", protocol, 0, 1, 1, 0, 6, bytes(8)) + bytes(packet)


def gtp_u(packet: Packet, *, extension: bool = False, outer_ipv6: bool = False) -> Packet:
    """A packet in a GTP-U tunnel (a mobile network's user plane, UDP 2152), from an eNodeB to its
    gateway; ``extension``: with a 5G PDU session container (the E flag and an extension header)."""
    outer = IPv6(src="2001:db8:ffff::1", dst="2001:db8:ffff::2") if outer_ipv6 else IP(src="192.0.2.1",
                                                                                       dst="192.0.2.2")
    header = (GTP_U_Header(teid=0x1001, next_ex=0x85) / GTPPDUSessionContainer(type=1, QFI=9) if extension
              else GTP_U_Header(teid=0x1001))
    return ethernet(outer / UDP(sport=2152, dport=2152) / header / packet)


def vxlan(packet: Packet) -> Packet:
    """A packet in an Ethernet frame in a VXLAN tunnel (UDP 4789) between two hypervisors."""
    return ethernet(IP(src="192.0.2.1", dst="192.0.2.2") / UDP(sport=49152, dport=4789) / VXLAN(vni=42)
                    / Ether(src=MAC_A, dst=MAC_B) / packet)


def erspan(packet: Packet, kind: int, *, outer_ipv6: bool = False) -> Packet:
    """A packet mirrored by a switch to a capture host over GRE: ERSPAN type ``kind`` (I: no header,
    II: 8 bytes, III: 12 bytes and the 8-byte platform-specific subheader)."""
    outer = IPv6(src="2001:db8:ffff::1", dst="2001:db8:ffff::2") if outer_ipv6 else IP(src="192.0.2.1",
                                                                                       dst="192.0.2.2")
    mirrored = Ether(src=MAC_A, dst=MAC_B) / packet
    if kind == 1:
        return ethernet(outer / GRE(proto=0x88BE) / mirrored)
    if kind == 2:
        return ethernet(outer / GRE(seqnum_present=1, sequence_number=5, proto=0x88BE) / ERSPAN_II(session_id=3)
                        / mirrored)
    return ethernet(outer / GRE(seqnum_present=1, sequence_number=5, proto=0x22EB)
                    / ERSPAN_III(session_id=3, o=1) / ERSPAN_PlatformSpecific() / mirrored)


def geneve(packet: Packet) -> Packet:
    """An IP packet in a Geneve tunnel (UDP 6081) with one 8-byte option, protocol type IPv4."""
    header = bytes([0x02, 0x00, 0x08, 0x00, 0x00, 0x00, 0x2A, 0x00]) + bytes([0x01, 0x02, 0x80, 0x01, 0, 0, 0, 7])
    return ethernet(IP(src="192.0.2.1", dst="192.0.2.2") / UDP(sport=50000, dport=6081) / Raw(header) / packet)


class RawFrame(Raw):
    """A frame given as bytes (for link layers scapy does not build)."""


def raw_frames(packets: list[Packet], header: Callable[[Packet], bytes]) -> list[Packet]:
    out = []
    for p in packets:
        framed = Raw(header(p))
        framed.time = p.time
        out.append(framed)
    return out


#: name -> (builder of the packets, link type for the file)
CAPTURES: dict[str, tuple[Callable[[], list[Packet]], int | None]] = {
    "udp_5060": (lambda: udp_packets(call()), None),
    "udp_port_5080": (lambda: udp_packets(call(sip_port=5080)), None),
    "tcp_5060": (lambda: tcp_packets(call(transport="TCP")), None),
    "tcp_port_5070": (lambda: tcp_packets(call(transport="TCP", sip_port=5070), segment=200), None),
    "ipv4_fragments": (lambda: udp_packets(call(padding=40), mtu=576), None),
    "ipv6_fragments": (lambda: udp_packets(call(CALLER6, CALLEE6, padding=40), mtu=1280), None),
    "ipv4_rtp_fragments": (lambda: udp_packets(call(padding=40, rtp_body=1400), mtu=576), None),
    "ipv6_rtp_fragments": (lambda: udp_packets(call(CALLER6, CALLEE6, padding=40, rtp_body=1400), mtu=1280), None),
    "pppoe": (lambda: udp_packets(call(), lambda p: Ether(src=MAC_A, dst=MAC_B, type=0x8864) / PPPoE(sessionid=7)
                                  / PPP(proto=0x0021) / p), None),
    "gre": (lambda: udp_packets(call(), lambda p: ethernet(IP(src="192.0.2.1", dst="192.0.2.2") / GRE() / p)),
            None),
    "gre_key_seq": (lambda: udp_packets(call(), lambda p: ethernet(
        IP(src="192.0.2.1", dst="192.0.2.2") / GRE(key_present=1, key=9, seqnum_present=1, sequence_number=3) / p)),
        None),
    "ipip": (lambda: udp_packets(call(), lambda p: ethernet(IP(src="192.0.2.1", dst="192.0.2.2", proto=4) / p)),
             None),
    "ipv6_in_ipv4": (lambda: udp_packets(call(CALLER6, CALLEE6),
                                         lambda p: ethernet(IP(src="192.0.2.1", dst="192.0.2.2", proto=41) / p)),
                     None),
    "gtp_u": (lambda: udp_packets(call(), gtp_u), None),
    "gtp_u_5g_ipv6": (lambda: udp_packets(call(CALLER6, CALLEE6),
                                          lambda p: gtp_u(p, extension=True, outer_ipv6=True)), None),
    "gtp_u_tcp": (lambda: tcp_packets(call(transport="TCP"), wrap=gtp_u), None),
    "gtp_u_fragments": (lambda: udp_packets(call(padding=40), gtp_u, mtu=576), None),
    "vxlan": (lambda: udp_packets(call(), vxlan), None),
    "geneve": (lambda: udp_packets(call(), geneve), None),
    "erspan_i": (lambda: udp_packets(call(), lambda p: erspan(p, 1)), None),
    "erspan_ii": (lambda: udp_packets(call(), lambda p: erspan(p, 2)), None),
    "erspan_iii_ipv6": (lambda: udp_packets(call(), lambda p: erspan(p, 3, outer_ipv6=True)), None),
    "vlan": (lambda: udp_packets(call(), lambda p: ethernet(Dot1Q(vlan=5) / p)), None),
    "qinq": (lambda: udp_packets(call(), lambda p: ethernet(Dot1AD(vlan=7) / Dot1Q(vlan=5) / p)), None),
    "sll": (lambda: udp_packets(call(), lambda p: CookedLinux(proto=0x0800) / p), None),
    "sll2": (lambda: raw_frames(udp_packets(call(), lambda p: p), sll2), 276),
    "null": (lambda: udp_packets(call(), lambda p: Loopback(type=2) / p), None),
    "loop": (lambda: raw_frames(udp_packets(call(), lambda p: p), lambda p: struct.pack("!I", 2) + bytes(p)), 108),
    "t38_reinvite": (lambda: udp_packets(call(reinvite="t38", rtp_after=30)), None),
    "port_change": (lambda: udp_packets(call(reinvite="port", rtp_after=30)), None),
}


def build(name: str, directory: Path) -> Path:
    """Write capture ``name`` of :data:`CAPTURES` into ``directory``."""
    make, linktype = CAPTURES[name]
    return write(directory / f"{name}.pcap", make(), linktype)


def malformed_capture(directory: Path) -> Path:
    """A call with two malformed messages on UDP: an INVITE whose Content-Length is not a number,
    and a BYE cut in the middle of a header line."""
    datagrams = call()
    bad_invite = datagrams[0].payload.replace(b"Content-Length: ", b"Content-Length: x", 1)
    bye = next(d for d in datagrams if d.payload.startswith(b"BYE"))
    cut = bye.payload[:bye.payload.index(b"CSeq") + 3]
    extra = [Datagram(datagrams[0].time + 0.001, CALLER, 5060, CALLEE, 5060, bad_invite),
             Datagram(bye.time - 0.001, CALLER, 5060, CALLEE, 5060, cut)]
    return write(directory / "malformed.pcap", udp_packets(sorted(datagrams + extra, key=lambda d: d.time)))


def write_all(directory: Path) -> list[Path]:
    """Write every capture built here into ``directory`` (tests/data/wild holds them)."""
    directory.mkdir(parents=True, exist_ok=True)
    return [build(name, directory) for name in CAPTURES] + [malformed_capture(directory)]


#: the capture recorded from a real Asterisk over TCP (not rebuilt: see record_asterisk_tcp)
RECORDED = ("asterisk_tcp",)
ASTERISK_TCP_TOML = """\
[pbx]
host = "127.0.12.80"
ami_port = 5042
rtp_port_min = 27000
rtp_port_max = 27999
[accounts.alcatel]
address = "127.0.12.81"
[accounts.rpi]
address = "127.0.12.82"
[accounts.guillaume]
address = "127.0.12.83"
[accounts.sippreg]
number = "6999"
password = "sipp-secret"
address = "127.0.12.99"
[webrtc]
enabled = true
https_port = 8092
tls_port = 5062
"""


def record_asterisk_tcp(directory: Path) -> Path:
    """The recipe of tests/data/wild/asterisk_tcp.pcap: a private Asterisk (its own lab.toml on
    127.0.12.x; the WebRTC chapter's settings give it a SIP/TCP transport on 5060), SIPp's call
    scenario with digest authentication over TCP (``-t t1``) three times, tcpdump on lo. Needs
    Asterisk (voiplab pbx install), sipp and tcpdump; run by hand, not by the tests."""
    import os
    import subprocess
    import time

    (directory / "lab.toml").write_text(ASTERISK_TCP_TOML)
    os.environ["VOIPLAB_STATE_DIR"] = str(directory / "state")
    os.environ["VOIPLAB_CONFIG"] = str(directory / "lab.toml")
    from voiplab.config import load_config
    from voiplab.devices.pbx import Pbx

    pbx = Pbx(load_config(directory / "lab.toml"), lab_dir=directory / "state" / "lab")
    pbx.start()
    out = directory / "asterisk_tcp.pcap"
    dump = subprocess.Popen(["tcpdump", "-i", "lo", "-U", "-w", str(out), "host", "127.0.12.80", "and",
                             "(tcp port 5060 or udp)"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(1)
        scenario = Path(__file__).resolve().parents[1] / "benchmarks" / "sipp_call.xml"
        subprocess.run(["sipp", "-sf", str(scenario), "-s", "5001", "-au", "sippreg", "-ap", "sipp-secret", "-key",
                        "caller", "sippreg", "-t", "t1", "-i", "127.0.12.99", "-p", "5070", "-mi", "127.0.12.99",
                        "-mp", "16000", "-m", "3", "-l", "1", "-r", "2", "-nostdin", "-timeout", "30s",
                        "127.0.12.80:5060"], cwd=directory, capture_output=True, timeout=60, check=False)
        time.sleep(1)
    finally:
        dump.terminate()
        dump.wait(5)
        pbx.stop()
    return out


if __name__ == "__main__":
    for written in write_all(Path(sys.argv[1] if len(sys.argv) > 1 else "tests/data/wild")):
        print(written)
