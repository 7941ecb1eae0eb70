"""Tests of voiplab.capture.live: LiveCapture refuses clearly without privileges, builds its BPF filter,
and (as root) records a real OPTIONS on the loopback interface with each method."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest
from conftest import require

from voiplab.capture.live import LiveCapture
from voiplab.capture.sipread import read_sip
from voiplab.core.sip import SipMessage
from voiplab.errors import CaptureError


def test_live_capture_refused_without_privileges(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without capture privileges, does start() fail before doing anything, naming the fixes?"""
    from voiplab.capture import live as capture

    monkeypatch.setattr(capture, "capture_methods", lambda: [])
    live = LiveCapture("lo", addresses=["127.0.0.80"])
    with pytest.raises(CaptureError) as info:
        live.start()
    assert str(info.value) == (
        "live capture is not permitted for this user: run as root; or give dumpcap the capture "
        "capabilities (sudo setcap cap_net_raw,cap_net_admin=eip /usr/bin/dumpcap) and add your user "
        "to the wireshark group (sudo usermod -aG wireshark $USER, then log in again); or use the "
        "phone's trace() with vl.Flow.from_trace()"
    )
    assert not live.running and live.path is None
    with pytest.raises(CaptureError, match="^live capture with tcpdump is not permitted here: run as root"):
        LiveCapture(method="tcpdump").start()
    with pytest.raises(CaptureError, match="^live capture is not running: call start\\(\\) first$"):
        live.stop()


def test_bpf_filter() -> None:
    """Is the BPF filter built from the addresses and ports?"""
    assert LiveCapture("lo", ["127.0.0.80", "127.0.0.82"], [5060]).filter == (
        "(host 127.0.0.80 or host 127.0.0.82) and (port 5060)"
    )
    assert LiveCapture("lo").filter == ""


@pytest.mark.root
@pytest.mark.parametrize("method", ["tcpdump", "dumpcap", "scapy"])
def test_live_capture_on_loopback(tmp_path: Path, method: str) -> None:
    """Does a live capture on lo record an OPTIONS sent to the PBX address?"""
    from voiplab.capture import live as capture

    require(method in capture.capture_methods(), f"{method} capture",
            "run the tests as root (CI does) with tcpdump and dumpcap installed")
    options = SipMessage.request(
        "OPTIONS",
        "sip:127.0.0.80",
        [
            ("Via", "SIP/2.0/UDP 127.0.0.99:5099;branch=z9hG4bKlive"),
            ("Call-ID", f"live-{method}"),
            ("CSeq", "1 OPTIONS"),
        ],
    )
    live = LiveCapture(
        "lo", addresses=["127.0.0.99"], ports=[5060], path=tmp_path / "live.pcap", method=method
    )
    with live:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind(("127.0.0.99", 5099))
            sock.sendto(bytes(options), ("127.0.0.80", 5060))
        time.sleep(0.2)
    messages = [m for m in read_sip(tmp_path / "live.pcap") if m.call_id == f"live-{method}"]
    assert len(messages) == 1
    assert (messages[0].src, messages[0].dst) == ("127.0.0.99:5099", "127.0.0.80:5060")
