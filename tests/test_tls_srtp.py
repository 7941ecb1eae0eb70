"""Does SIP over TLS with SRTP media hide the signalling and the voice from a capture?

The report's future work: a pjsua2 phone registers over TLS (port 5061, the lab's CA
verified) and calls with SRTP (SDES keys in the SDP, which TLS protects). The test
runs a WebRTC-enabled lab of its own on .50-54 of the user's loopback block (account ``secure``, 5004, a
plain SIP endpoint with SDES-SRTP when offered), captures the loopback interface
during a call to a plain-RTP Alcatel (5001, a 440 Hz tone), and checks that:

- no packet to or from the TLS phone carries readable SIP text;
- its RTP payloads look random (entropy close to 8 bits/byte) and do not decode
  as G.711 into the 440 Hz tone, while the Alcatel's plain leg does (the control).

The phone is voiplab's own ``Phone(transport="tls", srtp=True)``.
"""

from __future__ import annotations

import math
import os
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import require, require_tool

from voiplab.config import Account, LabConfig, local_address
from voiplab.devices.webrtc import webrtc_lab_config

HOST = local_address(50)  # the user's own block: two users may run the suite at once
SECURE = Account("secure", "5004", "Secure softphone", "44444444", local_address(54))

def _entropy(data: bytes) -> float:
    counts = Counter(data)
    n = len(data)
    return -sum(c / n * math.log2(c / n) for c in counts.values())


def _tone_share(payload: bytes, freq: float = 440.0) -> float:
    """Share of the spectrum's energy near ``freq`` when ``payload`` is decoded as G.711 mu-law."""
    u = ~np.frombuffer(payload, dtype=np.uint8)
    sign = u & 0x80
    exponent = (u >> 4) & 0x07
    mantissa = u & 0x0F
    magnitude = ((mantissa.astype(np.int32) << 3) + 0x84) << exponent
    samples = np.where(sign != 0, 0x84 - magnitude, magnitude - 0x84).astype(np.float64)
    spectrum = np.abs(np.fft.rfft(samples - samples.mean())) ** 2
    freqs = np.fft.rfftfreq(len(samples), 1 / 8000)
    near = np.abs(freqs - freq) < 30
    return float(spectrum[near].sum() / max(spectrum.sum(), 1e-9))


@pytest.fixture(scope="module")
def secure_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A WebRTC-enabled lab (TLS transport) on the user's .50-54 with the account 'secure' (5004)."""
    from voiplab.devices.pbx import Pbx, find_asterisk
    from voiplab.errors import PbxError

    try:
        find_asterisk()
    except PbxError as e:
        require(False, "Asterisk", str(e))
    base = webrtc_lab_config(LabConfig(), host=HOST)
    cfg = replace(base, accounts=(*base.accounts, SECURE))
    pbx = Pbx(cfg, lab_dir=tmp_path_factory.mktemp("tls") / "lab")
    pbx.start()
    yield pbx
    pbx.stop()


def _secure_call(pbx: Any, number: str, seconds: float) -> dict[str, Any]:
    """Register the secure phone over TLS, call ``number`` with SRTP, hang up; what happened."""
    from voiplab.devices.phone import Phone

    cfg = pbx.config
    out: dict[str, Any] = {}
    with Phone(SECURE, config=cfg, transport="tls", srtp=True, lab_dir=pbx.lab_dir, audio="tone:440") as phone:
        t0 = time.monotonic()
        reg = phone.register()
        out["register_status"] = reg.status
        out["register_ms"] = (time.monotonic() - t0) * 1000
        call = phone.call(number).wait("CONFIRMED", timeout=10)
        out["call_state"] = call.state
        time.sleep(seconds)
        call.hangup()
        call.wait("DISCONNECTED", timeout=5)
        out.update(call.stats())
        out["trace"] = phone.trace()
    out["sdp"] = [ln for m in out["trace"] for ln in m["raw"].splitlines() if ln.startswith(("m=audio", "a=crypto"))]
    out["transports"] = {m["transport"] for m in out["trace"]}
    return out


@pytest.mark.asterisk
@pytest.mark.pjsua2
def test_tls_phone_registers_and_calls_with_srtp(secure_lab: Any, tmp_path: Path) -> None:
    """Does the pjsua2 phone register over verified TLS and get SRTP (RTP/SAVP + a=crypto) for 5000?"""
    result = _secure_call(secure_lab, "5000", 1.0)
    assert result["register_status"] == 200, result
    assert result["call_state"] == "CONFIRMED", result
    assert result["transports"] == {"TLS"}
    assert any(ln.startswith("m=audio") and "RTP/SAVP" in ln for ln in result["sdp"]), result["sdp"]
    assert any(ln.startswith("a=crypto:") for ln in result["sdp"])
    assert result["rx_packets"] > 0 and result["tx_packets"] > 0


@pytest.mark.asterisk
@pytest.mark.pjsua2
@pytest.mark.root
def test_capture_shows_no_sip_text_and_no_audio(secure_lab: Any, tmp_path: Path) -> None:
    """In a capture of a TLS+SRTP call to the Alcatel, is the secure leg unreadable and the plain leg not?"""
    from voiplab.devices.phone import Phone

    tcpdump = require_tool("tcpdump", "apt-get install tcpdump")
    require(os.geteuid() == 0, "root (to capture on lo)", "run the test as root or give tcpdump capabilities")
    from scapy.layers.inet import IP, TCP, UDP
    from scapy.utils import rdpcap

    pcap = tmp_path / "tls_srtp.pcap"
    cfg = secure_lab.config
    alcatel_address = cfg.account("alcatel").address
    alcatel = Phone("alcatel", config=cfg, audio="tone:440", on_incoming=lambda call: call.answer())
    alcatel.register()
    cap = subprocess.Popen([tcpdump, "-i", "lo", "-w", str(pcap), "-U", "-s", "0",
                            f"host {SECURE.address} or host {alcatel_address}"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        time.sleep(0.5)
        result = _secure_call(secure_lab, "5001", 2.0)
        time.sleep(0.3)
    finally:
        os.kill(cap.pid, signal.SIGTERM)
        cap.wait(timeout=10)
        alcatel.close()
    assert result["call_state"] == "CONFIRMED", result
    packets = rdpcap(str(pcap))
    secure_payloads: list[bytes] = []
    plain_rtp: list[bytes] = []
    secure_tcp = b""
    for p in packets:
        if IP not in p:
            continue
        ip = p[IP]
        if SECURE.address in (ip.src, ip.dst):
            if TCP in p:
                secure_tcp += bytes(p[TCP].payload)
            elif UDP in p:
                secure_payloads.append(bytes(p[UDP].payload))
        elif alcatel_address in (ip.src, ip.dst) and UDP in p:
            data = bytes(p[UDP].payload)
            if len(data) == 172 and data[0] >> 6 == 2 and ip.src == alcatel_address:
                plain_rtp.append(data[12:])
    assert secure_tcp, "no TLS traffic of the secure phone was captured"
    for word in (b"SIP/2.0", b"REGISTER", b"INVITE", b"a=crypto", b"Authorization"):
        assert word not in secure_tcp
    assert secure_payloads, "no SRTP packet of the secure phone was captured"
    assert all(b"SIP/2.0" not in d for d in secure_payloads)
    # SRTP: the 12-byte RTP header stays clear, the payload (+10-byte auth tag) is ciphertext
    srtp = [d[12:-10] for d in secure_payloads if len(d) > 100 and d[0] >> 6 == 2]
    assert len(srtp) > 20
    cipher = b"".join(srtp)
    assert _entropy(cipher) > 7.5
    assert max(_tone_share(d) for d in srtp[5:40]) < 0.3
    # control: the Alcatel's plain G.711 leg decodes to its 440 Hz tone
    assert plain_rtp, "no plain RTP from the Alcatel was captured"
    assert np.median([_tone_share(d) for d in plain_rtp[5:40]]) > 0.5
