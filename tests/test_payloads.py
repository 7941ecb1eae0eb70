"""Tests of voiplab.core.payloads: the one table of RTP payload types, against RFC 3551 and tshark."""

from __future__ import annotations

import re
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether
from scapy.utils import wrpcap

from voiplab.core.payloads import (
    DEFAULT_DYNAMIC_NAMES,
    PAYLOAD_NAMES,
    STATIC_CLOCK_RATES,
    STATIC_PAYLOAD_TYPES,
    clock_rate,
    payload_name,
)
from voiplab.core.rtpstats import summarize_stream
from voiplab.core.sdp import PAYLOAD_TYPES, RtpMap


def test_payload_names_and_clock_rates():
    """Are payload names those tshark prints, and clock rates those Wireshark uses?"""
    assert payload_name(0) == "g711U" and payload_name(8) == "g711A" and payload_name(13) == "CN"
    assert payload_name(101) == "rtpevent" and payload_name(96) == "RTPType-96"
    assert payload_name(101, {}) == "RTPType-101" and payload_name(99) == "rtp.rfc2198"
    assert payload_name(72) == "Reserved for RTCP conflict avoidance"
    assert payload_name(101, {101: "telephone-event"}) == "telephone-event"
    assert payload_name(50) == "Unassigned"
    assert clock_rate(0) == 8000 and clock_rate(9) == 8000 and clock_rate(101, "telephone-event", 8000) == 0
    assert clock_rate(111, "opus", 0) == 48000 and clock_rate(96, None) == 0


def test_dynamic_clock_rates_take_the_longest_matching_name():
    """Is a dynamic type's rate found by the longest encoding-name prefix, the SDP's rate first?"""
    assert clock_rate(96, "EVRCWB1", 0) == 16000 and clock_rate(96, "EVRC", 0) == 8000
    assert clock_rate(96, "AMR-WB", 0) == 16000 and clock_rate(96, "amr", 0) == 8000
    assert clock_rate(96, "H264", 0) == 90000 and clock_rate(96, "H264", 45000) == 45000
    assert clock_rate(96, "unknown-codec", 0) == 0 and clock_rate(20) == 0
    assert DEFAULT_DYNAMIC_NAMES[100] == "rtpevent"


def test_sdp_static_types_are_rfc_3551_tables_4_and_5():
    """Does the SDP parser know exactly RFC 3551's assigned static types (not the reserved ones)?"""
    assert PAYLOAD_TYPES[0] == RtpMap(0, "PCMU", 8000) and PAYLOAD_TYPES[8] == RtpMap(8, "PCMA", 8000)
    assert PAYLOAD_TYPES[9] == RtpMap(9, "G722", 8000) and PAYLOAD_TYPES[10] == RtpMap(10, "L16", 44100, 2)
    assert sorted(PAYLOAD_TYPES) == [0, *range(3, 19), 25, 26, 28, *range(31, 35)]
    assert all(STATIC_PAYLOAD_TYPES[pt].encoding is None for pt in (1, 2, 19, 72, 73, 74, 75, 76))


def test_derived_tables_come_from_the_one_table():
    """Are the name and clock-rate tables views of STATIC_PAYLOAD_TYPES, and read-only?"""
    assert PAYLOAD_NAMES == {pt: entry.wireshark_name for pt, entry in STATIC_PAYLOAD_TYPES.items()}
    rates = {pt: entry.clock_rate for pt, entry in STATIC_PAYLOAD_TYPES.items() if entry.clock_rate}
    assert STATIC_CLOCK_RATES == rates and 72 not in rates
    assert all(entry.number == pt < 96 for pt, entry in STATIC_PAYLOAD_TYPES.items())
    with pytest.raises(TypeError):
        STATIC_CLOCK_RATES[0] = 16000  # type: ignore[index]
    assert repr(STATIC_PAYLOAD_TYPES[10]) == "StaticPayloadType(10, L16/44100/2, tshark '16-bit audio, stereo')"


PACKETS_PER_STREAM = 30
#: The arrival jitter (ns) of the packets of every stream: 20 ms apart, give or take.
JITTER_NS = np.array([0, 3, -2, 5, 1, -4, 2, 0, 6, -3] * 3) * 100_000
TIMESTAMP_STEP = 160  # 20 ms at 8000 Hz: other clock rates see another nominal time, so another jitter
ROW = re.compile(r"\s*\S+\s+\S+\s+\S+\s+\d+\s+\S+\s+\d+\s+0x0000(?P<pt>[0-9A-F]{4})\s+(?P<payload>.+?)\s+\d+\s+-?\d+ "
                 r"\([-\d.]+%\)\s+\S+\s+\S+\s+\S+\s+(?P<min>\S+)\s+(?P<mean>\S+)\s+(?P<max>\S+)\s*X?$")


@pytest.mark.tshark
def test_every_static_type_has_tsharks_name_and_clock_rate(tshark: str, tmp_path: Path) -> None:
    """For one stream of each payload type 0-95 (heuristic RTP, no SDP), does tshark print the
    name of the table and the jitter that the table's clock rate gives?"""
    frames, times = [], {}
    for pt in range(96):
        t_ns = pt * 1_000_000 + np.arange(PACKETS_PER_STREAM) * 20_000_000 + JITTER_NS
        times[pt] = t_ns
        for i, t in enumerate(t_ns.tolist()):
            rtp = struct.pack("!BBHII", 0x80, pt, 1000 + i, 5000 + i * TIMESTAMP_STEP, pt) + bytes(160)
            frame = Ether() / IP(src="10.0.0.1", dst="10.0.0.2") / UDP(sport=20000 + 2 * pt, dport=30000) / rtp
            frame.time = 1 + t / 1e9
            frames.append(frame)
    frames.sort(key=lambda frame: frame.time)
    path = tmp_path / "static_types.pcap"
    wrpcap(str(path), frames)
    out = subprocess.run([tshark, "-n", "-o", "rtp.heuristic_rtp:TRUE", "-r", str(path), "-q", "-z", "rtp,streams"],
                         capture_output=True, text=True, check=True).stdout
    rows = {int(m["pt"], 16): m for m in map(ROW.match, out.splitlines()) if m}
    assert sorted(rows) == [pt for pt in range(96) if pt not in range(72, 77)]  # 72-76 are taken for RTCP
    for pt, row in rows.items():
        assert row["payload"] == payload_name(pt), pt
        n = PACKETS_PER_STREAM
        mine = summarize_stream(times[pt], 1000 + np.arange(n), 5000 + np.arange(n) * TIMESTAMP_STEP,
                                np.full(n, pt), np.zeros(n, bool))
        figures = (mine.min_jitter_ms, mine.mean_jitter_ms, mine.max_jitter_ms)
        assert (row["min"], row["mean"], row["max"]) == tuple(f"{x:.3f}" for x in figures), (pt, clock_rate(pt))
    assert len({row["mean"] for row in rows.values()}) >= 5  # the rates (none, 8000, 16000, 44100...) differ
