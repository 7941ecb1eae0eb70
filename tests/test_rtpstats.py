"""Tests of voiplab.core.rtpstats: Wireshark 4.0 stream statistics (no tshark needed; tshark itself
is the oracle in tests/test_streams.py)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from voiplab.core.payloads import STATIC_CLOCK_RATES
from voiplab.core.rtpstats import (
    FLAG_WRONG_SEQUENCE,
    FLAG_WRONG_TIMESTAMP,
    RtpStream,
    StreamStats,
    analyze_stream,
    summarize_stream,
)
from voiplab.errors import RtpParseError


# ---------------------------------------------------------------- statistics
def reference(time_ns, seq, ts, pt, marker, rates):
    """A plain per-packet port of Wireshark 4.0's rtppacket_analyse and tshark's row (the oracle).

    ``rates``: clock rate of each payload type (0 or missing: no jitter).
    """
    def ms(t):  # nstime_to_msec: seconds and nanoseconds carry the sign
        s = abs(int(t)) // 10**9 * (1 if t >= 0 else -1)
        return float(s) * 1000 + float(int(t) - s * 10**9) / 1000000
    s_ = None
    for i in range(len(time_ns)):
        cur, s, t, p, m = ms(time_ns[i]), int(seq[i]), int(ts[i]), int(pt[i]), bool(marker[i])
        if s_ is None:
            s_ = {"start_seq": s, "stop": s, "seq_num": s, "first_ts": t, "time": cur, "lastnominal": 0.0, "pt": p,
                  "delta": 0.0, "maxd": 0.0, "mind": -1.0, "meand": 0.0, "jit": 0.0, "minj": -1.0, "maxj": 0.0,
                  "meanj": 0.0, "total": 1, "cycles": 0, "under": False, "problem": False}
            continue
        first = s_["first_ts"]
        in_time = (first <= t and t - first < 2**31) or (first > t and (0xFFFFFFFF - first) + t < 2**31)
        wrapped = s < s_["start_seq"] or s == 0 and s_["stop"] == 65535
        if wrapped and in_time and not s_["under"]:
            s_["cycles"] += 1
            s_["under"] = True
        elif s > s_["start_seq"] and in_time and s_["under"]:
            s_["under"] = False
        sn, wrong = s_["seq_num"], False
        if in_time and (sn + 1 == s or (sn == 65535 and s == 0)):
            s_["seq_num"] = s
        elif in_time and (sn + 1 < s or sn - s > 0xFF00):
            s_["seq_num"], wrong = s, True
        elif sn + 1 > s:
            wrong = True
        cn, follows_cn = p in (13, 19), s_["pt"] in (13, 19)
        s_["pt"] = p
        rate = rates.get(p, 0)
        current = 0.0
        if in_time:
            if rate:
                nominal = float((t - first) % 2**32) / (rate // 1000)
                expected = s_["time"] + (nominal - s_["lastnominal"])
                current = (15 * s_["jit"] + abs(cur - expected)) / 16
                s_["jit"], s_["lastnominal"] = current, nominal
            s_["delta"] = cur - s_["time"]
        if not (m or cn or follows_cn or not in_time):
            d, n = s_["delta"], s_["total"]
            s_["maxd"] = max(s_["maxd"], d)
            s_["mind"] = d if s_["mind"] == -1 or d < s_["mind"] else s_["mind"]
            s_["meand"] = (s_["meand"] * (n - 1) + d) / n
            if rate:
                s_["maxj"] = max(s_["maxj"], s_["jit"])
                s_["meanj"] = (s_["meanj"] * (n - 1) + current) / n
                s_["minj"] = s_["jit"] if s_["minj"] == -1 or s_["jit"] < s_["minj"] else s_["minj"]
        s_["problem"] |= wrong or not in_time
        if in_time:
            s_["time"] = cur
        s_["stop"] = s
        s_["total"] += 1
    expected = (s_["stop"] + s_["cycles"] * 65536 - s_["start_seq"] + 1) & 0xFFFFFFFF
    lost = (expected - s_["total"] + 2**31) % 2**32 - 2**31
    return {"lost": lost, "min_delta_ms": s_["mind"], "mean_delta_ms": s_["meand"], "max_delta_ms": s_["maxd"],
            "min_jitter_ms": s_["minj"], "mean_jitter_ms": s_["meanj"], "max_jitter_ms": s_["maxj"],
            "problem": s_["problem"]}


RATES = {**STATIC_CLOCK_RATES, 96: 48000, 97: 90000}
FIGURES = ("min_delta_ms", "mean_delta_ms", "max_delta_ms", "min_jitter_ms", "mean_jitter_ms", "max_jitter_ms")


def random_stream(data, rng):
    """Header fields of a random stream: jitter, loss, reordering, jumps, garbage, payload changes."""
    n = data.draw(st.integers(1, 160))
    seq0 = data.draw(st.sampled_from([0, 100, 65500, 65535]))
    ts0 = data.draw(st.sampled_from([0, 2**32 - 800, 123456, 2**31]))
    idx = np.arange(n)
    seq = (seq0 + idx) & 0xFFFF
    ts = (ts0 + 160 * idx) & 0xFFFFFFFF
    scale = data.draw(st.sampled_from([0, 1000, 2e6, 3e7]))
    t = idx * 20_000_000 + np.abs(rng.normal(0, scale, n)).astype(np.int64) // 1000 * 1000
    t += data.draw(st.sampled_from([10**9, 0, -3 * 10**9]))  # also times before the first frame
    if n > 3:
        for _ in range(data.draw(st.integers(0, 5))):
            k = int(rng.integers(1, n - 1))
            kind = data.draw(st.sampled_from(["swap", "dup", "jump", "seq", "garbage"]))
            if kind == "swap":
                seq[[k, k + 1]] = seq[[k + 1, k]]
                ts[[k, k + 1]] = ts[[k + 1, k]]
            elif kind == "dup":
                seq[k], ts[k] = seq[k - 1], ts[k - 1]
            elif kind == "jump":
                ts[k:] = (ts[k:] + int(rng.choice([8000, -8000, 2**31 + 7]))) & 0xFFFFFFFF
            elif kind == "garbage":
                ts[k] = int(rng.integers(0, 2**32))
            else:
                seq[k] = int(rng.integers(0, 65536))
    pt = rng.choice([0, 0, 0, 8, 13, 19, 96, 97, 101], n) if data.draw(st.booleans()) else np.zeros(n, np.int64)
    marker = rng.random(n) < data.draw(st.sampled_from([0.0, 0.1]))
    return t, seq, ts, pt, marker


@given(st.data())
@settings(max_examples=400, deadline=None)
def test_statistics_equal_the_sequential_rules(data):
    """Do both paths (exact recurrences, vectorised) give the per-packet port's figures?

    The exact path must be bit-identical; the vectorised one identical at tshark's printed
    precision (it falls back to the exact recurrences near a rounding boundary).
    """
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    t, seq, ts, pt, marker = random_stream(data, rng)
    ref = reference(t, seq, ts, pt, marker, RATES)
    rates = {96: 48000, 97: 90000}
    exact = summarize_stream(t, seq, ts, pt, marker, rates, {101}, exact=True)
    fast = summarize_stream(t, seq, ts, pt, marker, rates, {101}, exact=False)
    assert exact.lost == fast.lost == ref["lost"]
    assert exact.problem == fast.problem == ref["problem"]
    for key in FIGURES:
        assert getattr(exact, key) == ref[key], key
        assert f"{getattr(fast, key):.3f}" == f"{ref[key]:.3f}", key


def test_jitter_reference_is_the_last_clocked_packet():
    """With a telephone-event between audio packets, is the jitter's nominal time that of the
    last packet *with a clock*, while the arrival reference is the last in-time packet?

    This is the rule that made garbage timestamps give jitters in the millions of ms that
    differed from tshark's (Wireshark 4.0: ``expected = time + (nominal - lastnominaltime)``).
    """
    t = np.array([0, 20, 40, 60, 80, 100]) * 1_000_000
    seq = np.arange(6)
    ts = np.array([0, 160, 3_000_000_000 - 2**32 + 2**32, 480, 640, 2_000_000_000])
    pt = np.array([0, 0, 101, 0, 0, 0])
    marker = np.zeros(6, bool)
    s = summarize_stream(t, seq, ts, pt, marker, {}, {101}, exact=True)
    ref = reference(t, seq, ts, pt, marker, RATES)
    assert [getattr(s, k) for k in FIGURES] == [ref[k] for k in FIGURES]
    assert s.max_jitter_ms > 1e6  # the garbage timestamp's jump


def test_long_streams_use_the_vectorised_path_and_agree():
    """Do a 50000-packet stream's figures agree between the vectorised and the exact path?"""
    rng = np.random.default_rng(5)
    n = 50_000
    t = np.arange(n) * 20_000_000 + rng.integers(0, 3_000_000, n) // 1000 * 1000
    seq = np.arange(n) & 0xFFFF
    ts = (np.arange(n) * 160 + 12345) & 0xFFFFFFFF
    pt = np.where(rng.random(n) < 0.01, 13, 0)
    marker = rng.random(n) < 0.001
    fast = summarize_stream(t, seq, ts, pt, marker)
    exact = summarize_stream(t, seq, ts, pt, marker, exact=True)
    for key in FIGURES:
        assert f"{getattr(fast, key):.3f}" == f"{getattr(exact, key):.3f}", key


def test_lost_percent_with_negative_expected_prints_minus_zero():
    """Is a negative "expected" (last seq before the first) shown as tshark does: -0.0 %?"""
    t = np.arange(3) * 20_000_000
    _, s = analyze_stream(t, np.array([100, 101, 50]), np.array([10000, 10160, 5000]),
                          np.zeros(3, int), np.zeros(3, bool))
    stats = StreamStats("a", 1, "b", 2, 3, "g711U", 3, s.lost, s.expected, 0, 0, 0, 0, 0, 0, 0, 0)
    assert s.lost == -52 and f"{stats.lost_percent:.1f}" == "-0.0"


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
