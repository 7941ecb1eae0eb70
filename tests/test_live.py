"""Tests of voiplab.capture.live: LiveCapture refuses clearly without privileges, builds its BPF filter,
and (as root) records a real OPTIONS on the loopback interface with each method."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import pytest
from conftest import require

from voiplab.capture.live import LiveCapture
from voiplab.capture.sipread import read_sip
from voiplab.config import local_address
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
    me, pbx = local_address(99), local_address(80)  # the user's own block
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((me, 0))  # any free port: two users may run the suite at once
        port = sock.getsockname()[1]
        options = SipMessage.request(
            "OPTIONS",
            f"sip:{pbx}",
            [
                ("Via", f"SIP/2.0/UDP {me}:{port};branch=z9hG4bKlive"),
                ("Call-ID", f"live-{method}-{os.getuid()}"),
                ("CSeq", "1 OPTIONS"),
            ],
        )
        live = LiveCapture("lo", addresses=[me], ports=[5060], path=tmp_path / "live.pcap", method=method)
        with live:
            sock.sendto(bytes(options), (pbx, 5060))
            time.sleep(0.2)
    messages = [m for m in read_sip(tmp_path / "live.pcap") if m.call_id == f"live-{method}-{os.getuid()}"]
    assert len(messages) == 1
    assert (messages[0].src, messages[0].dst) == (f"{me}:{port}", f"{pbx}:5060")
