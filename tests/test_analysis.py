"""voiplab.capture.streams against tshark (the oracle): every figure of ``tshark -q -z rtp,streams``.

Each test writes a synthetic capture (benchmarks/gen_rtp.py) with one impairment, runs
tshark on it, parses tshark's table and compares every column at tshark's printed
precision.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from _gen import gen_rtp as g

from voiplab.core import rtp
from voiplab.capture.streams import analyze, sdp_conversations, streams
from voiplab.errors import CaptureError
from voiplab.teach.samples import SAMPLE_DIR
from voiplab.capture.pcap import read_udp

pytestmark = pytest.mark.tshark

ROW = re.compile(
    r"\s*(?P<start>-?[\d.]+)\s+(?P<end>-?[\d.]+)\s+(?P<src>\S+)\s+(?P<src_port>\d+)\s+(?P<dst>\S+)\s+(?P<dst_port>\d+)"
    r"\s+(?P<ssrc>0x[0-9A-F]{8})\s+(?P<payload>.+?)\s+(?P<packets>\d+)\s+(?P<lost>-?\d+) \((?P<percent>[-\d.]+)%\)"
    r"\s+(?P<min_delta>\S+)\s+(?P<mean_delta>\S+)\s+(?P<max_delta>\S+)\s+(?P<min_jitter>\S+)\s+(?P<mean_jitter>\S+)"
    r"\s+(?P<max_jitter>\S+)\s*(?P<problem>X?)$")


def tshark_streams(tshark: str, path: Path, heuristic: bool = False) -> list[dict[str, str]]:
    """The rows of ``tshark -q -z rtp,streams``, parsed into dicts of strings."""
    cmd = [tshark, "-n", "-r", str(path), "-q", "-z", "rtp,streams"]
    if heuristic:
        cmd[2:2] = ["-o", "rtp.heuristic_rtp:TRUE"]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert done.returncode in (0, 2), done.stderr  # 2: "cut short in the middle of a packet", output still given
    out = done.stdout
    lines = out.splitlines()
    assert lines[0].startswith("=====") and "Start time" in lines[1]
    rows = [ROW.match(line) for line in lines[2:-1]]
    assert all(rows), out
    return [m.groupdict() for m in rows if m]


def mine_as_text(s) -> dict[str, str]:
    """Our StreamStats printed at tshark's precision."""
    return {
        "start": f"{s.start:.6f}", "end": f"{s.end:.6f}", "src": s.src, "src_port": str(s.src_port), "dst": s.dst,
        "dst_port": str(s.dst_port), "ssrc": f"0x{s.ssrc:08X}", "payload": s.payload, "packets": str(s.packets),
        "lost": str(s.lost), "percent": f"{s.lost_percent:.1f}", "min_delta": f"{s.min_delta_ms:.3f}",
        "mean_delta": f"{s.mean_delta_ms:.3f}", "max_delta": f"{s.max_delta_ms:.3f}",
        "min_jitter": f"{s.min_jitter_ms:.3f}", "mean_jitter": f"{s.mean_jitter_ms:.3f}",
        "max_jitter": f"{s.max_jitter_ms:.3f}", "problem": "X" if s.problem else "",
    }


def assert_same_as_tshark(tshark: str, path: Path, heuristic: bool = False, minimum_rows: int = 1) -> None:
    expected = tshark_streams(tshark, path, heuristic)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got = [mine_as_text(s) for s in analyze(path, heuristic=heuristic)]
    assert len(expected) >= minimum_rows
    assert got == expected


VARIANTS = {
    "clean": {},
    "jitter": {"jitter_ms": 3.0},
    "big_jitter": {"jitter_ms": 40.0},
    "loss": {"loss": 0.05, "jitter_ms": 1.0},
    "reordering": {"reorder": 0.05, "jitter_ms": 1.0},
    "duplicates": {"duplicates": 0.05},
    "wrap": {"wrap": True, "loss": 0.02},
    "markers": {"marker_every": 25, "jitter_ms": 2.0},
    "telephone_event": {"dtmf": True, "jitter_ms": 1.0},
    "everything": {"reorder": 0.1, "duplicates": 0.05, "loss": 0.05, "wrap": True, "jitter_ms": 5.0,
                   "marker_every": 40, "dtmf": True},
    "ipv6": {"ipv6": True, "jitter_ms": 1.0},
    "non_rtp_udp_ignored": {"noise_udp": 200},
}


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_sdp_streams_equal_tshark(tshark, tmp_path, name):
    """Are the streams set up by SDP, and every figure, those of tshark?"""
    path = tmp_path / f"{name}.pcap"
    g.write_capture(str(path), g.synth(2000, seed=11, **VARIANTS[name]))
    assert_same_as_tshark(tshark, path, minimum_rows=4)


@pytest.mark.parametrize("options", [
    {"fmt": "pcapng"}, {"link": "sll"}, {"link": "sll2", "fmt": "pcapng", "nanoseconds": True},
    {"vlan": True, "big_endian": True}, {"link": "null"},
])
def test_file_formats_equal_tshark(tshark, tmp_path, options):
    """Do pcapng, Linux cooked, ns timestamps, VLAN and loopback captures give tshark's figures?"""
    path = tmp_path / "f.cap"
    g.write_capture(str(path), g.synth(1200, seed=4, jitter_ms=2.0, loss=0.02), **options)
    assert_same_as_tshark(tshark, path, minimum_rows=4)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_heuristic_mode_equals_tshark(tshark, tmp_path, seed):
    """Without SIP, with -o rtp.heuristic_rtp:TRUE: same streams (noise UDP included), same figures?"""
    path = tmp_path / "heur.pcap"
    g.write_capture(str(path), g.synth(1500, seed=seed, sip=False, jitter_ms=2.0, loss=0.03, reorder=0.03,
                                       dtmf=True, noise_udp=50))
    assert_same_as_tshark(tshark, path, heuristic=True, minimum_rows=4)
    assert analyze(path) == []  # no SDP: no stream unless heuristic


def random_write_options(seed: int) -> dict:
    """File format, link type, VLAN, byte order and time resolution for a random capture."""
    rng = np.random.default_rng(seed + 1000)
    options: dict = {"link": str(rng.choice(["ether", "ether", "sll", "sll2", "raw", "null"]))}
    if rng.random() < 0.3:
        options["fmt"] = "pcapng"
    if options["link"] == "ether" and rng.random() < 0.3:
        options["vlan"] = True
    if rng.random() < 0.2:
        options["big_endian"] = True
    if rng.random() < 0.3:
        options["nanoseconds"] = True
    return options


@pytest.mark.parametrize("seed", range(24))
def test_random_captures_equal_tshark(tshark, tmp_path, seed, monkeypatch):
    """Does a seeded random capture (calls set up by SIP/SDP, jitter, loss, reordering,
    duplicates, wraps, marker bits, timestamp jumps and garbage, payload type and SSRC changes,
    comfort noise, telephone-events, malformed and RTCP-like datagrams, IPv6, VLAN, pcapng...)
    give exactly tshark's rows, with SDP only and with the RTP heuristic?

    Odd seeds force the vectorised statistics (as for long streams), even ones the exact path.
    """
    if seed % 2:
        monkeypatch.setattr(rtp, "EXACT_STREAM_LENGTH", 0)
    path = tmp_path / f"random_{seed}.pcap"
    g.write_capture(str(path), g.random_packets(seed), **random_write_options(seed))
    assert_same_as_tshark(tshark, path, minimum_rows=0)
    assert_same_as_tshark(tshark, path, heuristic=True, minimum_rows=0)


def test_garbage_timestamps_and_events_equal_tshark(tshark, tmp_path):
    """Do garbage RTP timestamps between telephone-events and comfort noise give tshark's
    jitters (millions of ms), with a payload column naming every payload type?"""
    rng = np.random.default_rng(3)
    n = 200
    t = 1_700_000_001 * 10**9 + np.arange(n) * 20_000_000 + rng.integers(0, 4_000_000, n) // 1000 * 1000
    ts = 160 * np.arange(n)
    garbage = rng.random(n) < 0.2
    ts[garbage] = rng.integers(0, 2**32, int(garbage.sum()))
    pt = np.where(rng.random(n) < 0.1, 101, np.where(rng.random(n) < 0.1, 13, 0))
    packets = g.synth(10, streams=2, seed=1)
    rtp_packets = g.Packets(
        t_ns=t, src=np.tile(g._addr("10.0.0.1"), (n, 1)), dst=np.tile(g._addr("10.0.0.2"), (n, 1)),
        sport=np.full(n, 40000), dport=np.full(n, 50000), b0=np.full(n, 0x80), b1=pt, seq=np.arange(n) + 7,
        ts=ts & 0xFFFFFFFF, ssrc=np.full(n, 0x1234), body_len=np.full(n, 160), raw_idx=np.full(n, -1))
    path = tmp_path / "garbage.pcap"
    g.write_capture(str(path), g.Packets.concat([packets, rtp_packets]))
    expected = tshark_streams(tshark, path)
    row = next(r for r in expected if r["ssrc"] == "0x00001234")
    assert row["payload"] == "g711U, CN, telephone-event" and float(row["max_jitter"]) > 1e6
    assert_same_as_tshark(tshark, path, minimum_rows=3)


def test_truncated_last_record_equals_tshark(tshark, tmp_path):
    """Is a capture whose last record is cut short analysed like tshark does (and a warning given)?"""
    path = tmp_path / "cut.pcap"
    g.write_capture(str(path), g.synth(800, seed=8, jitter_ms=1.0), truncate_last=30)
    with pytest.warns(UserWarning, match="cut short"):
        analyze(path)
    assert_same_as_tshark(tshark, path, minimum_rows=4)


def test_not_a_capture_raises_capture_error(tmp_path):
    """Does analysing a text file raise CaptureError?"""
    path = tmp_path / "x.pcap"
    path.write_text("not a capture")
    with pytest.raises(CaptureError, match="is not a pcap or pcapng file"):
        analyze(path)


def test_sdp_conversations_and_audio(tmp_path):
    """Are the SDP addresses found, and the G.711 audio of a stream decoded?"""
    path = tmp_path / "c.pcap"
    g.write_capture(str(path), g.synth(400, seed=2, dtmf=True))
    conversations = sdp_conversations(read_udp(path))
    assert [(c.address, c.port) for c in conversations][:2] == [("10.0.0.1", 40000), ("10.0.0.2", 50000)]
    assert conversations[0].rtpmap[101] == ("telephone-event", 8000)
    found = streams(path)
    audio = found[-1].audio()
    assert audio.dtype.name == "int16" and len(audio) == 100 * 160
    events = [s for s in found if s.payload_name == "telephone-event"]
    assert len(events) == 1 and "telephone-event" in repr(events[0])


def test_cli_json_keys(tmp_path):
    """Does ``voiplab analyze --json`` print exactly the agreed keys?"""
    path = tmp_path / "c.pcap"
    g.write_capture(str(path), g.synth(400, seed=2))
    out = subprocess.run([sys.executable, "-m", "voiplab", "analyze", str(path), "--json"], capture_output=True,
                         text=True, check=True).stdout
    rows = json.loads(out)
    assert len(rows) == 4
    assert list(rows[0]) == ["src", "src_port", "dst", "dst_port", "ssrc", "payload", "packets", "lost",
                             "min_delta_ms", "mean_delta_ms", "max_delta_ms", "min_jitter_ms", "mean_jitter_ms",
                             "max_jitter_ms", "start", "end"]
    assert re.fullmatch(r"0x[0-9A-F]{8}", rows[0]["ssrc"]) and rows[0]["payload"] in ("g711U", "g711A")


def test_cli_plain_output_is_tshark_text(tshark, tmp_path):
    """Is the plain output of ``voiplab analyze`` the text tshark prints?"""
    path = tmp_path / "c.pcap"
    g.write_capture(str(path), g.synth(600, seed=6, jitter_ms=2, loss=0.05))
    ours = subprocess.run([sys.executable, "-m", "voiplab", "analyze", str(path)], capture_output=True, text=True,
                          check=True).stdout
    theirs = subprocess.run([tshark, "-n", "-r", str(path), "-q", "-z", "rtp,streams"], capture_output=True,
                            text=True, check=True).stdout
    assert ours == theirs


LAB_CAPTURES = sorted(SAMPLE_DIR.glob("call_*.pcap*"))


@pytest.mark.parametrize("path", LAB_CAPTURES, ids=[p.name for p in LAB_CAPTURES])
def test_lab_captures_equal_tshark(tshark, path):
    """Do real captures of the local lab give tshark's streams and figures (SDP and heuristic)?"""
    assert_same_as_tshark(tshark, path, minimum_rows=0)
    assert_same_as_tshark(tshark, path, heuristic=True, minimum_rows=0)
