"""Does the WebRTC chapter work: Asterisk over wss://, DTLS-SRTP media, a browser phone?

The rendered configuration is checked without Asterisk. The end-to-end tests run a
WebRTC lab of their own on .60-63 of the user's loopback block (127.0.0.60-63 for root;
never the shared lab on .80, nor the notebook's WebRTC lab on .70), a real Asterisk 22 and Debian's headless Chromium
driven by Playwright, with the simulated Alcatel (5001).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import require, require_tool

from voiplab.config import LabConfig, default_config, local_address
from voiplab.devices.alcatel import SimulatedAlcatel
from voiplab.devices.asterisk_conf import MODULES, WEBRTC_MODULES, AsteriskLayout, render_all
from voiplab.devices.browser import CHROMIUM, BrowserPhone
from voiplab.devices.certs import make_certificates
from voiplab.devices.pbx import find_asterisk
from voiplab.devices.webpage import PageServer, page_token
from voiplab.devices.webrtc import WebRtcLab, browser_phone_url, webrtc_lab_config, wss_handshake
from voiplab.errors import PbxError, WebRtcError

#: a manager secret as voiplab makes them (random per start; fixed here for the renderings)
SECRET = "test-secret-0123456789abcdef"

ARTIFACTS = Path(__file__).parent / "artifacts"
TEST_HOST = local_address(60)  # the user's own block: two users may run the suite at once
LAYOUT = AsteriskLayout("/lab", "/usr/lib/x86_64-linux-gnu/asterisk/modules")


def _section(text: str, name: str) -> str:
    m = re.search(rf"^\[{re.escape(name)}\][^\n]*\n(.*?)(?=^\[|\Z)", text, re.MULTILINE | re.DOTALL)
    assert m, f"section [{name}] is missing"
    return m.group(1)


def _values(section: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in section.splitlines():
        m = re.match(r"^(\w+)\s*=\s*(.*?)\s*$", line)
        if m:
            out.setdefault(m.group(1), []).append(m.group(2))
    return out


# ---------------------------------------------------------------------------
# rendered configuration (pure)


@pytest.fixture(scope="module")
def files() -> dict[str, str]:
    # root's WebRTC lab (127.0.0.70): the addresses below are the report's
    return render_all(webrtc_lab_config(default_config(0), host=local_address(70, 0)), LAYOUT, ami_secret=SECRET)


def test_webrtc_off_renders_the_main_lab_unchanged() -> None:
    """Without [webrtc] enabled, is there no HTTP server, no TLS/WSS transport and no WebRTC module?"""
    plain = render_all(LabConfig(), LAYOUT, ami_secret=SECRET)
    assert "enabled = no" in plain["http.conf"] and "tlsenable" not in plain["http.conf"]
    assert "transport-wss" not in plain["pjsip.conf"] and "webrtc" not in plain["pjsip.conf"]
    assert "from-extensions" not in plain["extensions.conf"]
    assert "icesupport" not in plain["rtp.conf"]
    loaded = re.findall(r"^load => (\S+)", plain["modules.conf"], re.MULTILINE)
    assert loaded == [m for m, _ in MODULES]


def test_http_conf_is_tls_only_on_8089(files: dict[str, str]) -> None:
    """Is plain HTTP off and the TLS server on the PBX address, port 8089, with the lab's certificate?"""
    general = _values(_section(files["http.conf"], "general"))
    assert general["enabled"] == ["no"]
    assert general["tlsenable"] == ["yes"]
    assert general["tlsbindaddr"] == ["127.0.0.70:8089"]
    assert general["tlscertfile"] == ["/lab/keys/server.crt"]
    assert general["tlsprivatekey"] == ["/lab/keys/server.key"]


def test_pjsip_transports_tls_wss_and_acl(files: dict[str, str]) -> None:
    """Are udp/tcp/tls/wss transports bound to the PBX address (never 0.0.0.0), TLS 1.2, and the ACL private?"""
    pjsip = files["pjsip.conf"]
    binds = {name: _values(_section(pjsip, name))["bind"][0]
             for name in ("transport-udp", "transport-tcp", "transport-tls", "transport-wss")}
    assert binds == {"transport-udp": "127.0.0.70:5060", "transport-tcp": "127.0.0.70:5060",
                     "transport-tls": "127.0.0.70:5061", "transport-wss": "127.0.0.70"}
    assert not any(b.startswith("0.0.0.0") for b in binds.values())
    tls = _values(_section(pjsip, "transport-tls"))
    assert tls["method"] == ["tlsv1_2"]
    assert tls["cert_file"] == ["/lab/keys/server.crt"] and tls["priv_key_file"] == ["/lab/keys/server.key"]
    acl = _values(_section(pjsip, "private-networks"))
    assert acl["type"] == ["acl"]
    assert acl["deny"] == ["0.0.0.0/0.0.0.0"]
    assert acl["permit"] == ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "127.0.0.0/8"]


def test_webrtc_endpoints_only_for_browsers(files: dict[str, str]) -> None:
    """Are rpi and guillaume WebRTC endpoints on wss (DTLS-SRTP) while the Alcatel stays plain UDP?"""
    pjsip = files["pjsip.conf"]
    heads = dict(re.findall(r"^\[(alcatel|rpi|guillaume)\]\(([^)]*endpoint-template[^)]*)\)", pjsip, re.MULTILINE))
    assert heads == {"alcatel": "endpoint-template,chapter6-template,sdes-template",
                     "rpi": "endpoint-template,chapter6-template,webrtc-template",
                     "guillaume": "endpoint-template,chapter6-template,webrtc-template"}
    webrtc = _values(_section(pjsip, "webrtc-template"))
    assert webrtc["webrtc"] == ["yes"] and webrtc["transport"] == ["transport-wss"]
    assert webrtc["dtls_cert_file"] == ["/lab/keys/server.crt"]
    sdes = _values(_section(pjsip, "sdes-template"))
    assert sdes == {"media_encryption": ["sdes"], "media_encryption_optimistic": ["yes"]}
    ch6 = _values(_section(pjsip, "chapter6-template"))
    assert ch6["context"] == ["from-extensions"] and ch6["message_context"] == ["textmessages"]
    template = _values(_section(pjsip, "endpoint-template"))
    assert template["direct_media"] == ["yes"] and template["dtmf_mode"] == ["rfc4733"]
    assert template["allow"] == ["ulaw", "alaw"]


def test_modules_for_webrtc(files: dict[str, str]) -> None:
    """Are the WebRTC modules loaded once each, and res_pjsip_exten_state (broken in sid) still not?"""
    loaded = re.findall(r"^load => (\S+)", files["modules.conf"], re.MULTILINE)
    assert len(loaded) == len(set(loaded))
    for module in ("res_http_websocket.so", "res_pjsip_transport_websocket.so", "res_srtp.so",
                   "res_pjsip_pubsub.so", "codec_opus_open_source.so", "res_format_attr_opus.so",
                   "res_crypto.so", "res_pjsip_acl.so", "res_pjsip_messaging.so"):
        assert module in loaded
    assert {m for m, _ in WEBRTC_MODULES} <= set(loaded)
    assert "res_pjsip_exten_state.so" not in loaded
    assert "icesupport = yes" in files["rtp.conf"]


def test_chapter6_dial_plan(files: dict[str, str]) -> None:
    """Is 5000 music on hold, 5001-5003 Dial 30 s, anything else Hangup, MESSAGE relay and hints?"""
    ext = files["extensions.conf"]
    plan = _section(ext, "from-extensions")
    assert re.search(r"exten => 5000,1,Ringing\(\)\n same => n,Wait\(2\)\n same => n,Answer\(\)\n"
                     r" same => n,MusicOnHold\(\)", plan)
    for number, name in (("5001", "alcatel"), ("5002", "rpi"), ("5003", "guillaume")):
        assert f"exten => {number},1,Dial(PJSIP/{name},30)" in plan
        assert f"MessageSend(pjsip:{name},${{MESSAGE(from)}})" in _section(ext, "textmessages")
        assert f"exten => {number},hint,PJSIP/{name}" in _section(ext, "subscriptions")
    assert "exten => _X.,1,Hangup()" in plan
    assert "res_pjsip_exten_state" in ext or "res_pjsip_exten_state" in files["pjsip.conf"]


def test_webrtc_lab_config_moves_to_its_own_addresses() -> None:
    """Does the WebRTC lab use 127.A.B.70-73 (the user's block), keeping the report's accounts and passwords?"""
    assert webrtc_lab_config(LabConfig()).pbx.host == local_address(70)
    cfg = webrtc_lab_config(default_config(0), host=local_address(70, 0))  # root's: 127.0.0.70
    assert cfg.webrtc.enabled and cfg.pbx.host == "127.0.0.70"
    assert [(a.name, a.number, a.address, a.webrtc) for a in cfg.accounts] == [
        ("alcatel", "5001", "127.0.0.71", False), ("rpi", "5002", "127.0.0.72", True),
        ("guillaume", "5003", "127.0.0.73", True)]
    assert browser_phone_url("rpi", cfg) == "https://127.0.0.70:8443/?account=rpi"
    assert browser_phone_url("rpi", cfg, token="t0ken") == "https://127.0.0.70:8443/?account=rpi&token=t0ken"
    with pytest.raises(WebRtcError, match=r"^account alcatel is not a WebRTC account: use one of rpi, guillaume"):
        browser_phone_url("alcatel", cfg)


def test_page_server_serves_only_the_phone(tmp_path: Path) -> None:
    """Does the HTTPS page server serve the page, the bundle, and WebRTC accounts only with the page's token?"""
    web = tmp_path / "web"
    (web / "build").mkdir(parents=True)
    (web / "index.html").write_text("<html>phone</html>")
    (web / "build" / "phone.js").write_text("// bundle")
    (tmp_path / "secret.txt").write_text("secret")
    cfg = webrtc_lab_config(LabConfig(), host=TEST_HOST)
    certs = make_certificates(tmp_path / "keys", TEST_HOST)
    token = page_token(tmp_path / "lab")
    assert page_token(tmp_path / "lab") == token and len(token) >= 16
    assert ((tmp_path / "lab" / "run" / "page-token").stat().st_mode & 0o777) == 0o600
    server = PageServer(cfg, certs.server_cert, certs.server_key, token=token, port=8444, web_dir=web)
    ctx = ssl.create_default_context(cafile=str(certs.ca_cert))
    server.start()
    try:
        def get(path: str) -> tuple[int, bytes]:
            try:
                with urllib.request.urlopen(f"https://{TEST_HOST}:8444{path}", context=ctx, timeout=5) as r:
                    return r.status, r.read()
            except urllib.error.HTTPError as e:
                return e.code, b""

        assert get("/") == (200, b"<html>phone</html>")
        assert get("/build/phone.js") == (200, b"// bundle")
        assert get("/accounts/rpi.json")[0] == 403  # no token: no password
        assert get("/accounts/rpi.json?token=" + "x" * len(token))[0] == 403
        status, body = get(f"/accounts/rpi.json?token={token}")
        account = json.loads(body)
        assert status == 200 and account["password"] == "22222222"
        assert account["ws_url"] == f"wss://{TEST_HOST}:8089/ws" and account["uri"] == f"sip:rpi@{TEST_HOST}"
        assert get(f"/accounts/alcatel.json?token={token}")[0] == 404
        assert get("/../secret.txt")[0] == 404
        assert get("/build/../../secret.txt")[0] == 404
        assert [e["status"] for e in server.log][:4] == [200, 200, 403, 403]
    finally:
        server.stop()


# ---------------------------------------------------------------------------
# end to end: real Asterisk, real Chromium


def _require_browser() -> None:
    require(os.access(CHROMIUM, os.X_OK), "Chromium", "apt-get install chromium")
    require_tool("certutil", "apt-get install libnss3-tools")
    require_tool("npm", "apt-get install nodejs npm")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        require(False, "the Python package playwright", "pip install playwright (never 'playwright install')")


@pytest.fixture(scope="module")
def wlab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebRtcLab]:
    """A WebRTC lab of this test module on the user's .60-63 (own state directory)."""
    try:
        find_asterisk()
    except PbxError as e:
        require(False, "Asterisk", str(e))
    _require_browser()
    base = LabConfig()
    cfg = webrtc_lab_config(replace(base, alcatel=replace(base.alcatel, ring_s=0.2)), host=TEST_HOST)
    lab = WebRtcLab(cfg, tmp_path_factory.mktemp("webrtc") / "lab", alcatel=True)
    lab.up()
    yield lab
    lab.down()


@pytest.fixture(scope="module")
def alcatel(wlab: WebRtcLab) -> SimulatedAlcatel:
    """The lab's simulated Alcatel (5001): rings 0.2 s, answers, plays its 1000 Hz Morse signal."""
    assert wlab.simulated_alcatel is not None
    return wlab.simulated_alcatel


@pytest.fixture(scope="module")
def rpi(wlab: WebRtcLab) -> Iterator[BrowserPhone]:
    """The browser phone of rpi (5002), trusting the lab's CA through an NSS database."""
    phone = BrowserPhone("rpi", wlab, trust_ca=True)
    yield phone
    phone.close()


@pytest.fixture(scope="module")
def guillaume(wlab: WebRtcLab) -> Iterator[BrowserPhone]:
    """The browser phone of guillaume (5003), ignoring certificate errors (tests only)."""
    phone = BrowserPhone("guillaume", wlab, trust_ca=False, ignore_https_errors=True)
    yield phone
    phone.close()


TIMINGS: dict[str, float] = {}


@pytest.mark.asterisk
@pytest.mark.browser
def test_wss_handshake_switches_to_sip_websocket(wlab: WebRtcLab) -> None:
    """Does wss://pbx:8089/ws answer the HTTP Upgrade with 101 and the 'sip' subprotocol, over a verified TLS?"""
    hs = wss_handshake(config=wlab.config, ca_file=wlab.ca_file)
    assert hs.status == 101 and hs.protocol == "sip" and hs.accept_ok
    assert hs.tls_version in ("TLSv1.2", "TLSv1.3")
    assert "Sec-WebSocket-Protocol: sip" in hs.request


@pytest.mark.asterisk
@pytest.mark.browser
def test_browser_registers_over_wss(wlab: WebRtcLab, rpi: BrowserPhone) -> None:
    """Does headless Chromium register rpi over the secure WebSocket (Asterisk sees a ws contact)?"""
    ms = rpi.register()
    TIMINGS["register_ms"] = ms
    assert ms < 5000
    contacts = wlab.pbx.cli("pjsip show contacts")
    assert re.search(r"rpi/sip:\S+transport=ws", contacts), contacts


@pytest.mark.asterisk
@pytest.mark.browser
@pytest.mark.pjsua2
def test_browser_calls_alcatel_media_both_ways(wlab: WebRtcLab, rpi: BrowserPhone, alcatel: SimulatedAlcatel) -> None:
    """Browser -> 5001: is the call confirmed, DTLS-SRTP up, and do packets flow both ways?"""
    if not rpi.registered:
        rpi.register()
    rpi.call("5001")
    TIMINGS["call_confirmed_ms"] = rpi.wait("confirmed", timeout=15)
    deadline = time.monotonic() + 10
    stats = rpi.stats()
    while time.monotonic() < deadline and not (stats and (stats["inbound"] or {}).get("packets", 0) > 60):
        time.sleep(0.2)
        stats = rpi.stats()
    ARTIFACTS.mkdir(exist_ok=True)
    shot = rpi.screenshot(ARTIFACTS / "webrtc_browser_phone_call.png")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    channels = wlab.pbx.cli("core show channels")
    live = alcatel.wait_media(packets=1, timeout=10)
    rpi.hangup()
    rpi.wait("ended", timeout=10)
    assert stats is not None, "no RTCPeerConnection"
    assert stats["inbound"]["packets"] > 0 and stats["outbound"]["packets"] > 0
    assert stats["transport"]["dtlsState"] == "connected"
    assert stats["transport"]["srtpCipher"]
    assert "PJSIP/alcatel" in channels
    record = alcatel.wait_call_ended(timeout=10)
    assert record["direction"] == "incoming" and record["rx_packets"] >= live["rx_packets"] > 0, record
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "webrtc_timings.json").write_text(json.dumps(TIMINGS, indent=2))


@pytest.mark.asterisk
@pytest.mark.browser
@pytest.mark.pjsua2
def test_alcatel_calls_browser_and_page_answers(wlab: WebRtcLab, rpi: BrowserPhone, alcatel: SimulatedAlcatel) -> None:
    """Alcatel -> 5002: does the page ring, answer, and receive media?"""
    if not rpi.registered:
        rpi.register()
    alcatel.call("5002")
    rpi.wait_incoming(timeout=10)
    rpi.answer()
    alcatel.wait_in_call(timeout=10)
    rpi.wait("confirmed", timeout=10)
    deadline = time.monotonic() + 10
    stats = rpi.stats()
    while time.monotonic() < deadline and not (stats and (stats["inbound"] or {}).get("packets", 0) > 0):
        time.sleep(0.2)
        stats = rpi.stats()
    live = alcatel.wait_media(packets=1, timeout=10)
    alcatel.hangup()
    rpi.wait("ended", timeout=10)
    record = alcatel.wait_call_ended(timeout=10)
    assert stats is not None and stats["inbound"]["packets"] > 0
    assert live["rx_packets"] > 0
    assert record["direction"] == "outgoing" and record["rx_packets"] >= live["rx_packets"], record


@pytest.mark.asterisk
@pytest.mark.browser
def test_music_on_hold_5000(wlab: WebRtcLab, rpi: BrowserPhone) -> None:
    """Does 5000 ring, answer after about 2 s and play music (inbound packets)?"""
    if not rpi.registered:
        rpi.register()
    rpi.call("5000")
    setup_ms = rpi.wait("confirmed", timeout=15)
    deadline = time.monotonic() + 10  # DTLS first, then the music: poll, a loaded machine is slower
    stats = rpi.stats()
    while time.monotonic() < deadline and not (stats and (stats["inbound"] or {}).get("packets", 0) > 10):
        time.sleep(0.2)
        stats = rpi.stats()
    rpi.hangup()
    rpi.wait("ended", timeout=10)
    assert setup_ms >= 1500  # Ringing, Wait(2), Answer
    assert stats is not None and stats["inbound"]["packets"] > 10


@pytest.mark.asterisk
@pytest.mark.browser
def test_message_between_web_clients(wlab: WebRtcLab, rpi: BrowserPhone, guillaume: BrowserPhone) -> None:
    """Does a SIP MESSAGE from rpi's page reach guillaume's page through Asterisk's textmessages context?"""
    if not rpi.registered:
        rpi.register()
    guillaume.register()
    status = rpi.send_message("5003", "bonjour depuis le navigateur")
    assert status in (200, 202)
    received = guillaume.wait_message(timeout=10)
    assert received["text"] == "bonjour depuis le navigateur"
    assert received["peer"] == "rpi"
    wire = [t["raw"] for t in guillaume.trace() if t["direction"] == "rx" and t["raw"].startswith("MESSAGE ")]
    assert wire, "the MESSAGE did not arrive over the WebSocket"


def test_build_error_names_npm(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Without node/npm, does building the browser phone say what to install?"""
    from voiplab.devices import webpage

    monkeypatch.setattr(webpage.shutil, "which", lambda name: None)
    monkeypatch.setattr(webpage, "_web_workdir", lambda: tmp_path)
    shutil.copy(webpage.WEB_DIR / "package.json", tmp_path / "package.json")
    (tmp_path / "app.js").write_text("")
    with pytest.raises(WebRtcError, match=r"^node/npm is not installed, so the browser phone cannot be built: "
                                          r"run 'apt-get install nodejs npm'"):
        webpage.build_browser_phone(force=True)
