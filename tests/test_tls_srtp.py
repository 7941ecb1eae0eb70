"""Does SIP over TLS with SRTP media hide the signalling and the voice from a capture?

The report's future work: a pjsua2 phone registers over TLS (port 5061, the lab's CA
verified) and calls with SRTP (SDES keys in the SDP, which TLS protects). The test
runs a WebRTC-enabled lab of its own on 127.0.0.50-54 (account ``secure``, 5004, a
plain SIP endpoint with SDES-SRTP when offered), captures the loopback interface
during a call to a plain-RTP Alcatel (5001, a 440 Hz tone), and checks that:

- no packet to or from the TLS phone carries readable SIP text;
- its RTP payloads look random (entropy close to 8 bits/byte) and do not decode
  as G.711 into the 440 Hz tone, while the Alcatel's plain leg does (the control).

The phone runs as a standalone pjsua2 script in a subprocess (:data:`TLS_PHONE`):
it is what ``voiplab/_agent.py`` does for ``Phone(transport="tls", srtp=True)``.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import require, require_tool

from voiplab.config import Account, LabConfig
from voiplab.webrtc import webrtc_lab_config

HOST = "127.0.0.50"
SECURE = Account("secure", "5004", "Secure softphone", "44444444", "127.0.0.54")

#: A pjsua2 phone over TLS with mandatory SRTP: register, call, hang up, print JSON.
#: (The snippet to merge into voiplab/_agent.py is the part between the markers.)
TLS_PHONE = r'''
import json, sys, time
import pjsua2 as pj

args = json.loads(sys.argv[1])
out = {"log": []}

class Writer(pj.LogWriter):
    def write(self, entry):
        out["log"].append(entry.msg)

ep = pj.Endpoint()
ep.libCreate()
cfg = pj.EpConfig()
cfg.uaConfig.threadCnt = 0
cfg.uaConfig.mainThreadOnly = True
writer = Writer()
cfg.logConfig.writer = writer
cfg.logConfig.level = 4
cfg.logConfig.consoleLevel = 4
cfg.logConfig.msgLogging = True
cfg.medConfig.clockRate = 8000
cfg.medConfig.sndClockRate = 8000
cfg.medConfig.noVad = True
ep.libInit(cfg)

# ---- BEGIN snippet for _agent.py: transport="tls" --------------------------------
tcfg = pj.TransportConfig()
tcfg.boundAddress = args["address"]
tcfg.publicAddress = args["address"]
tcfg.port = args["sip_port"]                      # e.g. 5061, or 0 for any
tcfg.tlsConfig.CaListFile = args["ca_file"]       # the lab's ca.crt
tcfg.tlsConfig.verifyServer = True                # refuse a PBX the CA did not sign
tcfg.tlsConfig.method = pj.PJSIP_TLSV1_2_METHOD   # as Asterisk's transport-tls
tid = ep.transportCreate(pj.PJSIP_TRANSPORT_TLS, tcfg)
# ---- END snippet ----------------------------------------------------------------
ep.libStart()
ep.audDevManager().setNullDev()
for c in ep.codecEnum2():
    ep.codecSetPriority(c.codecId, 255 if c.codecId.startswith("PCMU") else 0)

pbx = f'{args["pbx_host"]}:{args["tls_port"]}'
ac = pj.AccountConfig()
# ---- BEGIN snippet for _agent.py: transport="tls", srtp=True -----------------------
# sip: URIs with ;transport=tls: TLS on the hop to the PBX. (sips: would ask for TLS on
# every hop up to the callee, and the Alcatel's leg is UDP; not used here.)
ac.idUri = f'"{args["display_name"]}" <sip:{args["user"]}@{args["pbx_host"]}>'
ac.regConfig.registrarUri = f"sip:{pbx};transport=tls"
ac.sipConfig.transportId = tid
ac.mediaConfig.srtpUse = pj.PJMEDIA_SRTP_MANDATORY   # RTP/SAVP, a=crypto (SDES), no plain RTP
ac.mediaConfig.srtpSecureSignaling = 1               # SDES keys only over a TLS hop
# call URI: f"sip:{number}@{pbx};transport=tls"
# ---- END snippet ----------------------------------------------------------------
ac.regConfig.retryIntervalSec = 0
ac.sipConfig.authCreds.append(pj.AuthCredInfo("digest", "*", args["user"], 0, args["password"]))
ac.natConfig.contactRewriteUse = 0
ac.natConfig.viaRewriteUse = 0
ac.natConfig.sdpNatRewriteUse = 0
ac.mediaConfig.transportConfig.boundAddress = args["address"]
ac.mediaConfig.transportConfig.publicAddress = args["address"]
ac.mediaConfig.transportConfig.port = 40000

class Acc(pj.Account):
    status = None
    def onRegState(self, prm):
        self.status = prm.code

class Call(pj.Call):
    state = None
    player = None
    def onCallState(self, prm):
        self.state = self.getInfo().stateText
    def onCallMediaState(self, prm):
        info = self.getInfo()
        for i, m in enumerate(info.media):
            if m.type == pj.PJMEDIA_TYPE_AUDIO and m.status == pj.PJSUA_CALL_MEDIA_ACTIVE:
                tone = pj.ToneGenerator()
                tone.createToneGenerator(8000, 1)
                td = pj.ToneDesc()
                td.freq1, td.freq2, td.on_msec, td.off_msec, td.volume = 440, 0, 60000, 0, 0
                v = pj.ToneDescVector(); v.append(td)
                tone.play(v, True)
                tone.startTransmit(self.getAudioMedia(i))
                self.player = tone

def pump(seconds, until=lambda: False):
    end = time.monotonic() + seconds
    while time.monotonic() < end and not until():
        ep.libHandleEvents(10)

acc = Acc()
t0 = time.monotonic()
acc.create(ac)
pump(5, lambda: acc.status is not None)
out["register_status"] = acc.status
out["register_ms"] = (time.monotonic() - t0) * 1000
if acc.status == 200:
    call = Call(acc)
    prm = pj.CallOpParam(True)
    t1 = time.monotonic()
    call.makeCall(f'sip:{args["number"]}@{pbx};transport=tls', prm)
    pump(10, lambda: call.state in ("CONFIRMED", "DISCONNCTD"))
    out["call_state"] = call.state
    out["confirmed_ms"] = (time.monotonic() - t1) * 1000
    pump(args["seconds"])
    if call.state == "CONFIRMED":
        st = call.getStreamStat(0)
        out["rx_packets"] = st.rtcp.rxStat.pkt
        out["tx_packets"] = st.rtcp.txStat.pkt
        call.hangup(pj.CallOpParam(True))
    pump(3, lambda: call.state == "DISCONNCTD")
    del call
acc.shutdown()
pump(1)
del acc
ep.libDestroy()
sdp = [ln for m in out["log"] for ln in m.splitlines() if ln.startswith(("m=audio", "a=crypto"))]
out["sdp"] = sdp
out["tls_transport"] = any(" TLS " in m or "to TLS" in m or "from TLS" in m for m in out["log"])
del out["log"]
print("RESULT " + json.dumps(out), flush=True)
'''


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
    """A WebRTC-enabled lab (TLS transport) on 127.0.0.50-54 with the account 'secure' (5004)."""
    from voiplab.errors import PbxError
    from voiplab.pbx import Pbx, find_asterisk

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


def _run_tls_phone(pbx: Any, number: str, seconds: float, tmp: Path) -> dict[str, Any]:
    script = tmp / "tls_phone.py"
    script.write_text(TLS_PHONE)
    cfg = pbx.config
    args = {"address": SECURE.address, "sip_port": 5061, "ca_file": str(pbx.keys_dir / "ca.crt"),
            "pbx_host": cfg.pbx.host, "tls_port": cfg.webrtc.tls_port, "user": SECURE.name,
            "display_name": SECURE.display_name, "password": SECURE.password, "number": number,
            "seconds": seconds}
    res = subprocess.run([sys.executable, str(script), json.dumps(args)], capture_output=True, text=True,
                         timeout=60, check=False)
    line = next((ln for ln in res.stdout.splitlines() if ln.startswith("RESULT ")), None)
    assert line, f"the TLS phone died (exit {res.returncode}): {res.stderr[-2000:]}"
    return dict(json.loads(line[len("RESULT "):]))


@pytest.mark.asterisk
@pytest.mark.pjsua2
def test_tls_phone_registers_and_calls_with_srtp(secure_lab: Any, tmp_path: Path) -> None:
    """Does the pjsua2 phone register over verified TLS and get SRTP (RTP/SAVP + a=crypto) for 5000?"""
    result = _run_tls_phone(secure_lab, "5000", 1.0, tmp_path)
    assert result["register_status"] == 200, result
    assert result["call_state"] == "CONFIRMED", result
    assert any(ln.startswith("m=audio") and "RTP/SAVP" in ln for ln in result["sdp"]), result["sdp"]
    assert any(ln.startswith("a=crypto:") for ln in result["sdp"])
    assert result["rx_packets"] > 0 and result["tx_packets"] > 0
    contacts = secure_lab.cli("pjsip show contacts")
    assert "secure/sip:" in contacts or result["register_status"] == 200


@pytest.mark.asterisk
@pytest.mark.pjsua2
@pytest.mark.root
def test_capture_shows_no_sip_text_and_no_audio(secure_lab: Any, tmp_path: Path) -> None:
    """In a capture of a TLS+SRTP call to the Alcatel, is the secure leg unreadable and the plain leg not?"""
    from voiplab.phone import Phone

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
        result = _run_tls_phone(secure_lab, "5001", 2.0, tmp_path)
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
