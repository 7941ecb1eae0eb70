"""scapy layers for the lab: a ``SIP`` layer over the SIP core, and RTP packets read with scapy.

* :class:`SIP` is a scapy layer (a thin wrapper over :mod:`voiplab.core.sip`) bound to
  UDP and TCP port 5060, whose ``show()`` lists the parsed headers.
* :func:`rtp_packet` reads one packet of an RTP stream with scapy and decodes its UDP
  payload as scapy's ``RTP`` (Wireshark's "Decode As").

For numbers use :mod:`voiplab.capture.pcap`; scapy is for one packet at a time.
Taught in notebook 01 (crafting an OPTIONS with scapy) and 05 (an RTP packet).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from scapy.fields import StrField
from scapy.layers.inet import TCP, UDP
from scapy.layers.rtp import RTP
from scapy.packet import Packet, bind_layers
from scapy.utils import PcapReader

from ..core.rtpstats import RtpStream
from ..core.sip import SIP_DEFAULT_PORT, SipMessage
from ..errors import CaptureError, SipParseError

__all__ = ["SIP", "rtp_packet"]


class SIP(Packet):
    """A scapy layer for SIP: the payload bytes, parsed by :mod:`voiplab.core.sip` on demand.

    ``pkt[SIP].message`` is the :class:`~voiplab.core.sip.SipMessage`; ``pkt.show()`` lists its
    headers. Bound to UDP port 5060. Build one with ``SIP(b"OPTIONS ...")`` or
    ``SIP(message)``.

    Taught in notebook 01 (crafting an OPTIONS with scapy).
    """

    name = "SIP"
    fields_desc = [StrField("load", b"")]

    def __init__(self, _pkt: bytes | SipMessage | str = b"", *args: Any, **kwargs: Any) -> None:  # scapy's own
        if isinstance(_pkt, SipMessage):
            _pkt = bytes(_pkt)
        elif isinstance(_pkt, str):
            _pkt = _pkt.encode("utf-8")
        super().__init__(_pkt, *args, **kwargs)

    @property
    def message(self) -> SipMessage:
        """The parsed message (raises :class:`SipParseError` if it is not SIP)."""
        return SipMessage.parse(bytes(self.load))

    def mysummary(self) -> str:
        try:
            message = self.message
        except SipParseError:
            return "SIP (malformed)"
        return f"SIP {message.summary} (CSeq {message.headers.get('cseq', '?')})"

    def _show_or_dump(
        self, dump: bool = False, indent: int = 3, lvl: str = "", label_lvl: str = "", first_call: bool = True
    ) -> str | None:
        lines = [f"{label_lvl}###[ {self.name} ]###"]
        prefix = label_lvl + lvl + "  "
        try:
            message = self.message
        except SipParseError as error:
            lines.append(f"{prefix}malformed = {error}")
            lines.append(f"{prefix}load      = {bytes(self.load)[:80]!r}")
        else:
            lines.append(f"{prefix}{'start-line':<18} = {message.start_line}")
            for header in message.headers:
                shown = header.name if not header.is_compact else f"{header.name} ({header.long_name})"
                lines.append(f"{prefix}{shown:<18} = {header.value}")
            if message.body:
                body = message.body.decode("utf-8", "replace").rstrip("\r\n")
                lines.append(f"{prefix}{'body':<18} =")
                lines.extend(f"{prefix}    {line}" for line in body.splitlines())
        text = "\n".join(lines) + "\n"
        if self.payload:
            text += (
                self.payload._show_or_dump(
                    dump=dump, indent=indent, lvl=lvl, label_lvl=label_lvl, first_call=False
                )
                or ""
            )
        if first_call and not dump:
            print(text)
            return None
        return text


bind_layers(UDP, SIP, sport=SIP_DEFAULT_PORT)
bind_layers(UDP, SIP, dport=SIP_DEFAULT_PORT)
bind_layers(TCP, SIP, sport=SIP_DEFAULT_PORT)
bind_layers(TCP, SIP, dport=SIP_DEFAULT_PORT)


def rtp_packet(pcap: str | Path, stream: RtpStream, index: int = 0) -> Packet:
    """Packet ``index`` of an RTP stream, read with scapy and dissected with scapy's ``RTP`` layer.

    UDP carries RTP on ports that only the SDP tells, so scapy does not guess it:
    the UDP payload is decoded as ``RTP`` here (as Wireshark's "Decode As").

    Parameters:
        pcap: the capture.
        stream: an RTP stream of that capture (its ``frame`` numbers).
        index: which packet of the stream (0: the first).

    Returns:
        The scapy packet (``show()``, ``hexdump``, ``pkt[RTP].sequence``...).

    Raises:
        CaptureError: the stream's frame is not in that capture.

    Taught in notebook 05 (and 01).
    """
    frame = int(stream.frame[index])
    with PcapReader(str(pcap)) as reader:
        for number, packet in enumerate(reader, start=1):
            if number == frame:
                udp = packet[UDP]
                udp.decode_payload_as(RTP)
                return packet
    raise CaptureError(f"frame {frame} is not in {pcap}: pass the capture the stream was read from")
