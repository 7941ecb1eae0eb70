"""Craft SIP packets with scapy and exchange them with the PBX, without root.

scapy builds the whole packet (IP / UDP / SIP text) so students can ``show()``
every layer; the UDP payload is then sent through an ordinary socket bound to
the student's lab address, so no capture or raw-socket privilege is needed. The
reply is turned back into a scapy packet with the real addresses and ports.

Taught in notebook 00 (lab check) and 01 (SIP and RTP in the protocol stack).
"""

from __future__ import annotations

import secrets
import socket
from typing import TYPE_CHECKING

from ..config import LabConfig, load_config
from ..core.sip import options_request
from ..errors import PbxError

if TYPE_CHECKING:
    from scapy.packet import Packet  # scapy is untyped: Packet names what these functions build

    from .layers import SIP

__all__ = ["craft_options", "send_and_receive", "status_line"]


def _scapy() -> tuple[type[Packet], type[Packet], type[Packet], type[SIP]]:
    """scapy's IP, UDP and Raw layers and voiplab's SIP layer, loaded on first use."""
    # scapy: loaded only when a packet is crafted (it takes about a second)
    from scapy.layers.inet import IP, UDP
    from scapy.packet import Raw

    from .layers import SIP  # scapy too (the SIP layer: show() lists the parsed headers)

    return IP, UDP, Raw, SIP


def craft_options(config: LabConfig | None = None, account: str = "rpi", *, local_port: int = 5070) -> Packet:
    """A scapy packet ``IP / UDP / SIP OPTIONS`` from a lab phone's address to the PBX.

    Parameters:
        config: the lab (default: the current lab config).
        account: whose address the packet leaves from (``rpi`` = 127.0.0.82 locally).
        local_port: the UDP source port.

    Returns:
        A scapy packet; ``show()`` it, or give it to :func:`send_and_receive`.
    """
    cfg = config or load_config()
    src = cfg.account(account).address
    pbx = cfg.pbx
    message = options_request(pbx.host, pbx.port, local=src, local_port=local_port, tag=secrets.token_hex(4),
                              branch=secrets.token_hex(6), call_id=secrets.token_hex(8), user=account,
                              user_agent="voiplab (scapy)")
    IP, UDP, Raw, SIP = _scapy()
    return IP(src=src, dst=pbx.host) / UDP(sport=local_port, dport=pbx.port) / SIP(message)


def send_and_receive(packet: Packet, timeout: float = 2.0) -> Packet:
    """Send a crafted ``IP/UDP/...`` packet's payload and return the reply as a scapy packet.

    Raises:
        PbxError: nothing answered within ``timeout`` seconds, or the source address is not usable.
    """
    IP, UDP, Raw, SIP = _scapy()
    ip, udp = packet[IP], packet[UDP]
    payload = bytes(udp.payload)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.bind((ip.src, udp.sport))
        except OSError as e:
            raise PbxError(f"the source address {ip.src}:{udp.sport} cannot be used ({e.strerror}): "
                           "choose another local_port (a phone may be using this one)") from None
        s.settimeout(timeout)
        s.sendto(payload, (ip.dst, udp.dport))
        try:
            data, (host, port) = s.recvfrom(65535)
        except TimeoutError:
            raise PbxError(f"nothing answered from {ip.dst}:{udp.dport} within {timeout:.0f} s: "
                           "is the lab up? run vl.start_lab() or 'voiplab lab up'") from None
    return IP(src=host, dst=ip.src) / UDP(sport=port, dport=udp.sport) / SIP(data)


def status_line(packet: Packet) -> str:
    """The first line of the SIP text carried by a scapy packet (``SIP/2.0 401 Unauthorized``)."""
    IP, UDP, Raw, SIP = _scapy()
    return bytes(packet[UDP].payload).split(b"\n", 1)[0].decode("utf-8", "replace").rstrip("\r")
