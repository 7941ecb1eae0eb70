"""Plots of RTP streams: jitter, delta histogram, sequence/timestamp vs time, waveform, spectrogram.

Every function takes ``ax=None`` (a new figure is made) and returns the Axes; none changes
global matplotlib state (no ``plt.style``, no rcParams). Taught in notebook 05.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..core.g711 import SAMPLE_RATE
from ..core.rtpstats import FLAG_WRONG_SEQUENCE

__all__ = [
    "plot_delta_histogram",
    "plot_jitter",
    "plot_sequence",
    "plot_spectrogram",
    "plot_timestamps",
    "plot_waveform",
]



def _axes(ax: Any, figsize: tuple[float, float] = (8, 3)) -> Any:
    """``ax``, or the Axes of a new figure (shown inline by Jupyter, like every plot here)."""
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt  # matplotlib: loaded by the first plot, not by 'import voiplab'

    _fig, new_ax = plt.subplots(figsize=figsize, layout="constrained")
    return new_ax


def _seconds(stream: Any) -> np.ndarray:
    return np.asarray(stream.time_ns, dtype=float) / 1e9


def plot_jitter(stream: Any, ax: Any = None) -> Any:
    """Jitter (RFC 3550, ms) after each packet vs arrival time. Taught in notebook 05."""
    ax = _axes(ax)
    analysis = stream.analysis
    ax.plot(_seconds(stream), analysis.jitter_ms, lw=1, label="jitter")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("jitter (ms)")
    ax.set_title(f"jitter of SSRC 0x{stream.ssrc:08X}")
    return ax


def plot_delta_histogram(stream: Any, ax: Any = None, bins: int = 50) -> Any:
    """Histogram of the inter-arrival deltas (ms) of the regular packets. Taught in notebook 05."""
    ax = _axes(ax)
    analysis = stream.analysis
    ax.hist(analysis.delta_ms[analysis.regular], bins=bins)
    ax.set_xlabel("delta (ms)")
    ax.set_ylabel("packets")
    ax.set_title(f"inter-arrival time of SSRC 0x{stream.ssrc:08X}")
    return ax


def plot_sequence(stream: Any, ax: Any = None) -> Any:
    """Sequence number (unwrapped) vs arrival time; wrong-sequence packets in red. Taught in notebook 05."""
    ax = _axes(ax)
    seq = np.asarray(stream.sequence_number, dtype=np.int64)
    step = np.zeros(len(seq), dtype=np.int64)
    step[1:] = (np.diff(seq) + 32768) % 65536 - 32768
    unwrapped = seq[0] + np.cumsum(step)
    t = _seconds(stream)
    ax.plot(t, unwrapped, ".", ms=2, label="packets")
    bad = (stream.analysis.flags & FLAG_WRONG_SEQUENCE) != 0
    if bad.any():
        ax.plot(t[bad], unwrapped[bad], "x", color="red", label="wrong sequence (loss, late, duplicate)")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("sequence number")
    ax.legend(loc="upper left")
    return ax


def plot_timestamps(stream: Any, ax: Any = None) -> Any:
    """RTP timestamp (unwrapped, in s of the 8 kHz clock) vs arrival time. Taught in notebook 05."""
    ax = _axes(ax)
    ts = np.asarray(stream.timestamp, dtype=np.int64)
    step = np.zeros(len(ts), dtype=np.int64)
    step[1:] = (np.diff(ts) + 2**31) % 2**32 - 2**31
    t = _seconds(stream)
    ax.plot(t, np.cumsum(step) / SAMPLE_RATE, ".", ms=2)
    ax.set_xlabel("arrival time (s)")
    ax.set_ylabel("RTP time since first packet (s)")
    return ax


def plot_waveform(samples: np.ndarray, ax: Any = None, rate: int = SAMPLE_RATE) -> Any:
    """A waveform (int16 samples, e.g. :meth:`RtpStream.audio`). Taught in notebook 05."""
    ax = _axes(ax)
    samples = np.asarray(samples)
    ax.plot(np.arange(len(samples)) / rate, samples, lw=0.5)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("amplitude")
    return ax


def plot_spectrogram(samples: Any, rate: int = SAMPLE_RATE, ax: Any = None, title: str | None = None) -> Any:
    """A spectrogram: DTMF shows as two tones, the Alcatel's Morse signal as a dotted line at 1000 Hz.

    Taught in notebooks 05 and 06.
    """
    ax = _axes(ax, figsize=(9, 3.5))
    x = np.asarray(samples, dtype=np.float64)
    if x.size >= 256:
        with np.errstate(divide="ignore"):  # silent parts: log10(0)
            ax.specgram(x, NFFT=256, Fs=rate, noverlap=192, cmap="viridis")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("frequency (Hz)")
    ax.set_ylim(0, rate / 2)
    ax.set_title(title or f"spectrogram ({x.size / rate:.1f} s at {rate} Hz)")
    return ax
