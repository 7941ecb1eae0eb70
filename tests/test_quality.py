"""Tests of voiplab.core.quality: the simplified E-model estimate."""

from __future__ import annotations

import pytest

from voiplab.core.quality import estimate, estimate_stream, r_to_mos
from voiplab.core.rtpstats import StreamStats


def test_clean_g711_call_is_excellent():
    """Does a loss-free, jitter-free G.711 call get R ~ 92 and MOS ~ 4.4?"""
    q = estimate("g711U", 0.0, 0.0)
    assert q.r == pytest.approx(93.2 - 0.024 * 60)
    assert q.mos == pytest.approx(4.38, abs=0.01)
    assert q.one_way_delay_ms == 60 and q.ie == 0 and q.bpl == 25.1
    assert "estimate" in q.label


def test_loss_uses_bpl_with_or_without_concealment():
    """Is Ie,eff = 95 Ppl / (Ppl + Bpl) for G.711, Bpl 25.1 with concealment and 4.3 without (G.113 App. I)?"""
    assert estimate("g711A", 5.0, 0.0).equipment_impairment == pytest.approx(95 * 5 / 30.1)
    assert estimate("g711A", 5.0, 0.0, plc=False).equipment_impairment == pytest.approx(95 * 5 / 9.3)


def test_long_delay_costs_more_beyond_177_ms():
    """Does the delay impairment grow faster beyond 177.3 ms one way?"""
    short = estimate("g711U", 0, 0, network_delay_ms=100)
    long = estimate("g711U", 0, 0, network_delay_ms=300)
    assert long.delay_impairment - short.delay_impairment > 0.024 * 200


def test_mos_mapping_limits_and_unknown_codec():
    """Is MOS clamped to 1..4.5, and an unknown codec refused with a hint?"""
    assert r_to_mos(-5) == 1.0 and r_to_mos(120) == 4.5
    with pytest.raises(ValueError, match="codec 'opus' has no E-model impairment values here"):
        estimate("opus", 0, 0)


def test_from_stream_statistics():
    """Does estimate_stream read payload, loss % and mean jitter from StreamStats?"""
    s = StreamStats("a", 1, "b", 2, 3, "g711U", 99, 1, 100, 20, 20, 20, 0, 2.0, 3, 0, 1)
    q = estimate_stream(s)
    assert q.loss_percent == pytest.approx(1.0) and q.mean_jitter_ms == 2.0
