"""voiplab.capture.synth, the synthetic capture writer: its command line and its guards.

Its captures are checked against tshark figure by figure in test_streams.py and test_pcap.py.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from voiplab.capture import synth
from voiplab.capture.streams import analyze


def test_command_line_writes_the_capture(tmp_path: Path) -> None:
    """Does `python -m voiplab.capture.synth OUT --packets 400 --streams 2 --loss 0.1` write a capture of two
    streams with the packets it reports, the same bytes for the same seed?"""
    argv = [sys.executable, "-m", "voiplab.capture.synth", "--packets", "400", "--streams", "2", "--loss", "0.1"]
    first = subprocess.run([*argv, str(tmp_path / "a.pcap")], capture_output=True, text=True, timeout=60, check=False)
    assert first.returncode == 0, first.stderr
    again = subprocess.run([*argv, str(tmp_path / "b.pcap")], capture_output=True, text=True, timeout=60, check=False)
    assert (tmp_path / "a.pcap").read_bytes() == (tmp_path / "b.pcap").read_bytes()
    written = int(first.stderr.split(": ")[1].split()[0])  # "OUT: N packets"
    rows = analyze(tmp_path / "a.pcap")
    assert len(rows) == 2
    assert sum(r.packets for r in rows) + 2 == written  # + the INVITE and its 200 OK
    assert all(r.lost > 0 for r in rows) and again.returncode == 0


def test_unknown_format_or_link_is_refused(tmp_path: Path) -> None:
    """Does write_capture refuse an unknown format or link type, naming both lists, and write nothing?"""
    packets = synth.synth(10, streams=2)
    with pytest.raises(ValueError, match=r"the capture format 'pcapx' with link 'ether' is not supported: use a "
                                         r"format of \('pcap', 'pcapng'\)"):
        synth.write_capture(tmp_path / "x.pcap", packets, fmt="pcapx")
    with pytest.raises(ValueError, match="with link 'token-ring' is not supported"):
        synth.write_capture(tmp_path / "x.pcap", packets, link="token-ring")
    assert not (tmp_path / "x.pcap").exists()
