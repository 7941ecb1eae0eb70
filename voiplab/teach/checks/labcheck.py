"""The check cells of notebook 00 (lab check): is this machine ready, is the lab up, did Asterisk answer?

Each function looks at what the student ran (the doctor's results, their lab, the reply to
their OPTIONS) and returns a :class:`~voiplab.teach.checks.CheckResult`: what was seen, or
what to look at. Taught in notebook 00.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ...devices.doctor import Check
from ...devices.lab import Lab
from ...errors import VoipLabError
from . import CheckResult, failed, passed

if TYPE_CHECKING:
    from scapy.packet import Packet  # scapy is untyped: Packet names what send_and_receive returns

__all__ = ["lab_running", "machine_ready", "options_answered"]

#: a SIP response's first line: ``SIP/2.0 401 Unauthorized``
_STATUS_LINE_RE = re.compile(r"^SIP/2\.0 (\d{3}) (.*)$")


def machine_ready(checks: Sequence[Check] | None) -> CheckResult:
    """Did every *required* component of ``vl.run_checks()`` pass (optional ones may say NOTE)?

    Parameters:
        checks: what ``vl.run_checks()`` returned.

    Taught in notebook 00.
    """
    name = "this machine can run the lab"
    if not checks:
        return failed(name, "there are no doctor results to look at: run checks = vl.run_checks() first")
    blocking = [c.name for c in checks if c.required and not c.ok]
    if blocking:
        return failed(name, f"{', '.join(blocking)} must be fixed first: follow the '->' line under each FIX "
                            "above, then run both cells again")
    ok = [c.name for c in checks if c.ok]
    optional = [c.name for c in checks if not c.ok]
    extra = (f"; without {', '.join(optional)} (optional) the notebooks use the phones' own traces and the "
             "sample captures" if optional else "")
    return passed(name, f"every required component works ({', '.join(ok)}){extra}")


def lab_running(lab: Lab | None) -> CheckResult:
    """Is the lab up: Asterisk answering, every account of the lab known, the Alcatel registered?

    Taught in notebook 00.
    """
    name = "the lab is up"
    if lab is None:
        return failed(name, "there is no lab to look at: run lab = vl.start_lab() first")
    p = lab.config.pbx
    if not lab.config.is_local:
        if lab.pbx.is_running():
            return passed(name, f"the course server {p.host}:{p.port} answers SIP OPTIONS")
        return failed(name, f"the course server {p.host}:{p.port} does not answer: check [pbx] host in your "
                            "lab.toml and your network, or ask your instructor")
    if not lab.pbx.is_running():
        return failed(name, "Asterisk is not running: run lab = vl.start_lab() again and read its error "
                            "message ('voiplab doctor' in a terminal says what is missing)")
    try:
        endpoints = {e.name: e for e in lab.pbx.endpoints()}
        version = lab.pbx.version()
    except VoipLabError as e:
        return failed(name, f"Asterisk runs but does not answer its manager ({e}): run 'voiplab lab down' "
                            "then vl.start_lab()")
    missing = [a.name for a in lab.config.accounts if a.name not in endpoints]
    if missing:
        return failed(name, f"Asterisk does not know the account{'s' if len(missing) > 1 else ''} "
                            f"{', '.join(missing)}: its pjsip.conf lacks them; lab.reset_config() puts the "
                            "rendered files back")
    evidence = f"{version} answers at {p.host}:{p.port} and knows {', '.join(endpoints)}"
    if lab.simulated_alcatel is not None:
        alcatel = lab.config.account("alcatel")
        contact = endpoints[alcatel.name].contact_address
        if contact is None:
            return failed(name, f"the simulated Alcatel ({alcatel.number}) is not registered: run "
                                "vl.start_lab() again; 'voiplab lab status' in a terminal shows it")
        evidence += f"; the Alcatel ({alcatel.number}) is registered from {contact}"
    return passed(name, evidence)


def options_answered(reply: Packet | None, lab: Lab) -> CheckResult:
    """Is ``reply`` a SIP response that the lab's PBX sent to the OPTIONS (``vl.send_and_receive``)?

    Taught in notebook 00.
    """
    name = "Asterisk answered your OPTIONS"
    layers = _ip_udp(reply)
    if layers is None:
        return failed(name, "there is no reply to look at: run reply = vl.send_and_receive(request) first")
    (src, sport), payload = layers
    p = lab.config.pbx
    if (src, sport) != (p.host, p.port):
        return failed(name, f"this reply came from {src}:{sport}, not from the PBX ({p.host}:{p.port}): "
                            "craft the request with vl.craft_options(lab.config, ...) so it goes to the PBX")
    first = payload.split(b"\r\n", 1)[0].decode("utf-8", "replace")
    m = _STATUS_LINE_RE.match(first)
    if m is None:
        return failed(name, f"the reply does not start with a SIP status line ({first[:40]!r}): look at its "
                            "SIP layer with reply.show()")
    evidence = f"the PBX ({p.host}:{p.port}) answered {first!r}"
    if m.group(1) in ("401", "407") and b"Digest" in payload:
        evidence += " with a Digest challenge (WWW-Authenticate): compare with your prediction"
    else:
        evidence += ": compare with your prediction"
    return passed(name, evidence)


def _ip_udp(packet: Packet | None) -> tuple[tuple[str, int], bytes] | None:
    """``((source ip, source port), UDP payload)`` of a scapy packet, or ``None`` if it is not IP/UDP."""
    if packet is None or not hasattr(packet, "haslayer"):
        return None
    # scapy: loaded only when a check looks at a packet (it takes about a second)
    from scapy.layers.inet import IP, UDP

    if not (packet.haslayer(IP) and packet.haslayer(UDP)):
        return None
    ip, udp = packet[IP], packet[UDP]
    return (str(ip.src), int(udp.sport)), bytes(udp.payload)
