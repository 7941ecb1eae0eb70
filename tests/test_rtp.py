"""Tests of voiplab.rtp: RTP/RTCP packets and Wireshark 4.0 stream statistics (no tshark needed)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from voiplab.errors import RtpParseError
from voiplab.rtp import (
    FLAG_WRONG_SEQUENCE,
    FLAG_WRONG_TIMESTAMP,
    Goodbye,
    ReceiverReport,
    ReportBlock,
    RtpHeader,
    RtpStream,
    SdesChunk,
    SenderReport,
    SourceDescription,
    analyze_stream,
    clock_rate,
    parse_rtcp,
    payload_name,
)

# A G.711 packet as Asterisk sends it (header + 4 payload bytes)
PACKET = bytes.fromhex("80 00 3a 98 00 01 f4 00 12 34 56 78 ff fe 7f 00".replace(" ", ""))


def test_parse_fields():
    """Are the fields of a captured RTP header decoded?"""
    h = RtpHeader.parse(PACKET)
    assert (h.version, h.payload_type, h.sequence_number, h.timestamp, h.ssrc) == (2, 0, 15000, 128000, 0x12345678)
    assert h.marker is False and h.payload == b"\xff\xfe\x7f\x00" and h.csrc == ()
    assert repr(h) == "RtpHeader(PT=0 g711U, seq=15000, ts=128000, SSRC=0x12345678, 4 bytes)"


def test_round_trip_with_everything():
    """Do CSRCs, extension, marker and padding survive parse(bytes(h))?"""
    h = RtpHeader(payload_type=101, sequence_number=65535, timestamp=2**32 - 1, ssrc=1, marker=True,
                  csrc=(7, 8), extension_profile=0xBEDE, extension=b"\x10\xaa\x00\x00", payload=b"abc", padding=3)
    data = bytes(h)
    assert RtpHeader.parse(data) == h
    assert bytes(RtpHeader.parse(PACKET)) == PACKET


def test_every_truncated_prefix_raises_rtp_parse_error_only():
    """Does every prefix of a packet either parse or raise RtpParseError (never another error)?"""
    h = RtpHeader(payload_type=0, sequence_number=1, timestamp=2, ssrc=3, csrc=(4,), extension_profile=1,
                  extension=b"\0" * 8, payload=b"x" * 5, padding=4)
    data = bytes(h)
    for n in range(len(data)):
        try:
            RtpHeader.parse(data[:n])
        except RtpParseError:
            pass


def test_error_messages():
    """Do the errors say what is wrong and what to do?"""
    with pytest.raises(RtpParseError) as e:
        RtpHeader.parse(b"\x80\x00")
    assert str(e.value) == ("RTP packet is too short (2 bytes): an RTP header needs 12 bytes; "
                            "check that this UDP payload is RTP")
    with pytest.raises(RtpParseError) as e:
        RtpHeader.parse(b"\x40" + bytes(11))
    assert str(e.value) == ("RTP version is 1, not 2: this is not an RTP packet (STUN, ZRTP or other UDP?); "
                            "check the port binding")


@given(st.integers(0, 127), st.integers(0, 65535), st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1),
       st.booleans(), st.lists(st.integers(0, 2**32 - 1), max_size=15), st.binary(max_size=40),
       st.integers(0, 255))
@settings(max_examples=200, deadline=None)
def test_round_trip_property(pt, seq, ts, ssrc, marker, csrc, payload, padding):
    """Does any header round-trip through bytes?"""
    h = RtpHeader(pt, seq, ts, ssrc, marker, tuple(csrc), payload=payload, padding=padding)
    assert RtpHeader.parse(bytes(h)) == h


def test_rtcp_compound_round_trip():
    """Does a compound SR + SDES + BYE round-trip, and do prefixes raise RtpParseError only?"""
    block = ReportBlock(0xABCDEF01, 12, -3, 70000, 45, 0x11112222, 655)
    parts = [SenderReport(1, 0x1122334455667788, 160, 10, 1600, (block,)),
             SourceDescription((SdesChunk(1, ((1, "rpi@127.0.0.82"), (6, "pjsua2"))),)),
             ReceiverReport(2, (block,)), Goodbye((1, 2), "hangup")]
    data = b"".join(bytes(p) for p in parts)
    assert parse_rtcp(data) == parts
    for n in range(len(data)):
        try:
            parse_rtcp(data[:n])
        except RtpParseError:
            pass
    assert repr(parts[0]) == "SenderReport(SSRC=0x00000001, packets=10, octets=1600, 1 reports)"


def test_payload_names_and_clock_rates():
    """Are payload names those tshark prints, and clock rates those Wireshark uses?"""
    assert payload_name(0) == "g711U" and payload_name(8) == "g711A" and payload_name(13) == "CN"
    assert payload_name(101) == "rtpevent" and payload_name(96) == "RTPType-96"
    assert payload_name(101, {101: "telephone-event"}) == "telephone-event"
    assert payload_name(50) == "Unassigned"
    assert clock_rate(0) == 8000 and clock_rate(9) == 8000 and clock_rate(101, "telephone-event", 8000) == 0
    assert clock_rate(111, "opus", 0) == 48000 and clock_rate(96, None) == 0


# ---------------------------------------------------------------- statistics
def reference(time_ns, seq, ts, pt, marker, rates):
    """A plain per-packet port of Wireshark 4.0's rtppacket_analyse (the independent oracle)."""
    def ms(t):
        s, n = divmod(int(t), 10**9)
        return s * 1000.0 + n / 1000000.0
    st_ = {}
    first_ts = int(ts[0])
    for i in range(len(time_ns)):
        cur, s, t, p, m = ms(time_ns[i]), int(seq[i]), int(ts[i]), int(pt[i]), bool(marker[i])
        if i == 0:
            st_ = {"start": s, "stop": s, "seq_num": s, "time": cur, "seq_ts": t, "pt": p, "total": 1, "delta": 0.0,
                   "maxd": 0.0, "mind": -1.0, "meand": 0.0, "jit": 0.0, "minj": -1.0, "maxj": 0.0, "meanj": 0.0,
                   "cycles": 0, "under": False}
            continue
        ahead = (t - first_ts) % 2**32
        in_time = ahead < 2**31 if t >= first_ts else ahead <= 2**31
        if s < st_["start"] and in_time and not st_["under"] or s == 0 and st_["stop"] == 65535 and in_time and not st_["under"]:
            st_["cycles"] += 1
            st_["under"] = True
        elif s > st_["start"] and in_time and st_["under"]:
            st_["under"] = False
        sn = st_["seq_num"]
        if in_time and (sn + 1 == s or (sn == 65535 and s == 0)) or in_time and (sn + 1 < s or sn - s > 0xFF00):
            st_["seq_num"] = s
        cn, fcn = p in (13, 19), st_["pt"] in (13, 19)
        st_["pt"] = p
        rate = rates.get(p, 0)
        current = 0.0
        if in_time:
            nominal = float((t - st_["seq_ts"] + 2**31) % 2**32 - 2**31)
            if rate:
                current = (15 * st_["jit"] + abs(cur - (st_["time"] + nominal / (rate // 1000)))) / 16
                st_["jit"] = current
            st_["delta"] = cur - st_["time"]
        if not (m or cn or fcn or not in_time):
            d = st_["delta"]
            st_["maxd"] = max(st_["maxd"], d)
            st_["mind"] = d if st_["mind"] == -1 else min(st_["mind"], d)
            st_["meand"] = (st_["meand"] * (st_["total"] - 1) + d) / st_["total"]
            if rate:
                st_["maxj"] = max(st_["maxj"], st_["jit"])
                st_["meanj"] = (st_["meanj"] * (st_["total"] - 1) + current) / st_["total"]
                st_["minj"] = st_["jit"] if st_["minj"] == -1 else min(st_["minj"], st_["jit"])
        if in_time:
            st_["time"], st_["seq_ts"] = cur, t
        st_["stop"] = s
        st_["total"] += 1
    expected = st_["stop"] + st_["cycles"] * 65536 - st_["start"] + 1
    return {"lost": expected - st_["total"], "min_delta_ms": st_["mind"], "mean_delta_ms": st_["meand"],
            "max_delta_ms": st_["maxd"], "min_jitter_ms": st_["minj"], "mean_jitter_ms": st_["meanj"],
            "max_jitter_ms": st_["maxj"]}


RATES = {0: 8000, 8: 8000, 13: 8000}


def run_both(time_ns, seq, ts, pt, marker):
    _, summary = analyze_stream(time_ns, seq, ts, pt, marker, {}, {101})
    return summary, reference(time_ns, seq, ts, pt, marker, RATES)


@given(st.data())
@settings(max_examples=300, deadline=None)
def test_vectorised_statistics_equal_the_sequential_rules(data):
    """Do the numpy statistics equal a packet-by-packet port of Wireshark's rules?"""
    n = data.draw(st.integers(1, 120))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    seq0 = data.draw(st.sampled_from([0, 100, 65500, 65535]))
    ts0 = data.draw(st.sampled_from([0, 2**32 - 800, 123456]))
    idx = np.arange(n)
    seq = (seq0 + idx) & 0xFFFF
    ts = (ts0 + 160 * idx) & 0xFFFFFFFF
    t = 10**9 + idx * 20_000_000 + np.abs(rng.normal(0, data.draw(st.sampled_from([0, 2e6, 3e7])), n)).astype(np.int64)
    if n > 3:
        for _ in range(data.draw(st.integers(0, 4))):  # reorder, duplicate, lose, jump
            k = int(rng.integers(1, n - 1))
            kind = data.draw(st.sampled_from(["swap", "dup", "jump", "seq"]))
            if kind == "swap":
                seq[[k, k + 1]] = seq[[k + 1, k]]
                ts[[k, k + 1]] = ts[[k + 1, k]]
            elif kind == "dup":
                seq[k], ts[k] = seq[k - 1], ts[k - 1]
            elif kind == "jump":
                ts[k:] = (ts[k:] + 8000) & 0xFFFFFFFF
            else:
                seq[k] = int(rng.integers(0, 65536))
    pt = rng.choice([0, 0, 0, 13, 101], n) if data.draw(st.booleans()) else np.zeros(n, np.int64)
    marker = rng.random(n) < data.draw(st.sampled_from([0.0, 0.1]))
    summary, ref = run_both(t, seq, ts, pt, marker)
    assert summary.lost == ref["lost"]
    for key in ("min_delta_ms", "mean_delta_ms", "max_delta_ms", "min_jitter_ms", "mean_jitter_ms", "max_jitter_ms"):
        assert math.isclose(getattr(summary, key), ref[key], rel_tol=1e-9, abs_tol=1e-9), key


def test_wrap_and_duplicates():
    """Is lost 0 across a 65535 -> 0 wrap, and negative with duplicates?"""
    n = 100
    seq = (65500 + np.arange(n)) & 0xFFFF
    ts = np.arange(n) * 160
    t = np.arange(n) * 20_000_000
    _, s = analyze_stream(t, seq, ts, np.zeros(n, int), np.zeros(n, bool))
    assert (s.lost, s.expected, s.sequence_errors) == (0, 100, 0)
    seq2 = np.insert(seq, 50, seq[49])
    ts2 = np.insert(ts, 50, ts[49])
    t2 = np.insert(t, 50, t[49] + 1000)
    analysis, s2 = analyze_stream(t2, seq2, ts2, np.zeros(n + 1, int), np.zeros(n + 1, bool))
    assert s2.lost == -1 and s2.problem
    assert analysis.status(50) == "Wrong sequence number"
    assert analysis.flags[50] & FLAG_WRONG_SEQUENCE and not analysis.flags[50] & FLAG_WRONG_TIMESTAMP


def test_telephone_event_has_no_jitter():
    """Does a telephone-event stream report min jitter -1 and mean 0, like tshark?"""
    n = 10
    _, s = analyze_stream(np.arange(n) * 20_000_000, np.arange(n), np.full(n, 1234), np.full(n, 101),
                          np.zeros(n, bool), {101: 8000}, {101})
    assert (s.min_jitter_ms, s.mean_jitter_ms, s.max_jitter_ms) == (-1.0, 0.0, 0.0)
    assert s.min_delta_ms == pytest.approx(20.0)


def test_stream_object_repr_and_html():
    """Does an RtpStream give stats, a one-line repr and an HTML table?"""
    n = 5
    stream = RtpStream("10.0.0.1", 4000, "10.0.0.2", 6000, 0xABC, np.arange(1, n + 1), np.arange(n) * 20_000_000,
                       np.arange(n), np.arange(n) * 160, np.zeros(n, int), np.zeros(n, bool))
    assert repr(stream) == "RtpStream(10.0.0.1:4000 -> 10.0.0.2:6000 SSRC=0x00000ABC g711U, 5 packets)"
    stats = stream.stats
    assert stats.packets == 5 and stats.lost == 0 and stats.max_delta_ms == pytest.approx(20.0)
    assert "<table>" in stream._repr_html_() and "<table>" in stream.analysis._repr_html_()
    assert stream.analysis.rows()[1]["status"] == "[ Ok ]"
    assert set(stats.to_json()) == set(stats.JSON_KEYS)
    with pytest.raises(RtpParseError, match="has no payload bytes"):
        stream.payload(0)
