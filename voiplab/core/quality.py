"""An ESTIMATE of call quality: the ITU-T G.107 E-model, simplified, from stream statistics.

The E-model rates a call on a 0-100 scale, R = Ro - Is - Id - Ie,eff + A, then maps R to
a MOS (1-5). With the default G.107 parameters Ro - Is = 93.2. What this module adds:

* Id, the delay impairment, from a one-way mouth-to-ear delay estimate:
  network delay (assumed, default 20 ms in a LAN) + packetisation (ptime) + a jitter
  buffer of ``jitter_buffer_factor`` x the mean jitter (at least one ptime);
  Id = 0.024 Ta + 0.11 (Ta - 177.3) H(Ta - 177.3) (the usual simplification of G.107);
* Ie,eff, the equipment impairment with loss: Ie + (95 - Ie) Ppl / (Ppl + Bpl)
  (random loss, BurstR = 1), Ppl the loss percentage of the stream; for G.711, Ie = 0 and
  Bpl = 25.1 when the receiver conceals lost packets (PLC: pjsua and Asterisk do), 4.3
  when it does not (ITU-T G.113 Appendix I).

It is an estimate for teaching, not a measurement: real delay needs both ends' clocks.
Every input is returned with the result so a student sees where the number comes from.
Pure. Taught in notebook 05.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypedDict, Unpack

from .rtpstats import StreamStats

__all__ = ["CODEC_IMPAIRMENTS", "EstimateOptions", "QualityEstimate", "estimate", "estimate_stream", "r_to_mos"]

R0_MINUS_IS = 93.2  # G.107 default parameters
DELAY_KNEE_MS = 177.3
#: codec -> (Ie, Bpl without packet loss concealment, Bpl with it), ITU-T G.113 Appendix I.
#: G.729A always conceals (19.0); G.113 gives no concealment value for G.722 (the lower one is kept).
CODEC_IMPAIRMENTS: dict[str, tuple[float, float, float]] = {
    "g711U": (0.0, 4.3, 25.1), "g711A": (0.0, 4.3, 25.1), "PCMU": (0.0, 4.3, 25.1), "PCMA": (0.0, 4.3, 25.1),
    "g729": (11.0, 19.0, 19.0), "g722": (0.0, 4.3, 4.3),
}


class EstimateOptions(TypedDict, total=False):
    """The assumptions of :func:`estimate` a caller may change (see its parameters)."""

    network_delay_ms: float
    ptime_ms: float
    jitter_buffer_factor: float
    plc: bool


def r_to_mos(r: float) -> float:
    """G.107 Annex B: the R rating -> estimated MOS (1.0 to 4.5). Taught in notebook 05."""
    if r <= 0:
        return 1.0
    if r >= 100:
        return 4.5
    return 1 + 0.035 * r + r * (r - 60) * (100 - r) * 7e-6


@dataclass(frozen=True)
class QualityEstimate:
    """An E-model estimate and every input it used. Taught in notebook 05."""

    r: float
    mos: float
    codec: str
    loss_percent: float
    mean_jitter_ms: float
    one_way_delay_ms: float
    delay_impairment: float
    equipment_impairment: float
    ie: float
    bpl: float
    network_delay_ms: float
    ptime_ms: float
    jitter_buffer_ms: float
    label: str = "estimate (simplified ITU-T G.107 E-model), not a measurement"

    def __repr__(self) -> str:
        return (f"QualityEstimate(R={self.r:.1f}, MOS={self.mos:.2f}: {self.codec}, loss {self.loss_percent:.1f} %, "
                f"delay ~{self.one_way_delay_ms:.0f} ms; {self.label})")


def estimate(codec: str, loss_percent: float, mean_jitter_ms: float, *, network_delay_ms: float = 20.0,
             ptime_ms: float = 20.0, jitter_buffer_factor: float = 2.0, plc: bool = True) -> QualityEstimate:
    """The E-model R and MOS for a codec, a loss rate and a jitter.

    ``plc``: whether the receiving phone conceals lost packets (the lab's phones do).

    Raises:
        ValueError: the codec has no known impairment values (see CODEC_IMPAIRMENTS).

    Taught in notebook 05.
    """
    if codec not in CODEC_IMPAIRMENTS:
        raise ValueError(f"codec {codec!r} has no E-model impairment values here: use one of "
                         f"{', '.join(sorted(CODEC_IMPAIRMENTS))}")
    ie, bpl_plain, bpl_plc = CODEC_IMPAIRMENTS[codec]
    bpl = bpl_plc if plc else bpl_plain
    ppl = max(0.0, min(100.0, loss_percent))
    ie_eff = ie + (95 - ie) * ppl / (ppl + bpl)
    jitter_buffer = max(ptime_ms, jitter_buffer_factor * max(0.0, mean_jitter_ms))
    ta = network_delay_ms + ptime_ms + jitter_buffer
    idd = 0.024 * ta + (0.11 * (ta - DELAY_KNEE_MS) if ta > DELAY_KNEE_MS else 0.0)
    r = R0_MINUS_IS - idd - ie_eff
    return QualityEstimate(r=r, mos=r_to_mos(r), codec=codec, loss_percent=ppl, mean_jitter_ms=mean_jitter_ms,
                           one_way_delay_ms=ta, delay_impairment=idd, equipment_impairment=ie_eff, ie=ie, bpl=bpl,
                           network_delay_ms=network_delay_ms, ptime_ms=ptime_ms, jitter_buffer_ms=jitter_buffer)


def estimate_stream(stats: StreamStats, **options: Unpack[EstimateOptions]) -> QualityEstimate:
    """:func:`estimate` from a :class:`voiplab.core.rtpstats.StreamStats` (negative loss counts as 0).

    Taught in notebook 05.
    """
    loss = max(0.0, stats.lost_percent)
    codec = stats.payload.split(",")[0].strip()  # "g711U, telephone-event": the voice codec
    return estimate(codec, loss, stats.mean_jitter_ms, **options)
