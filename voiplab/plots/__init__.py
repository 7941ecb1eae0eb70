"""Plots of voiplab: every function takes ``ax=None`` and returns the matplotlib Axes.

None of them changes matplotlib's global state (no ``plt.style``, no rcParams).

Taught in notebooks 03-06.
"""

from __future__ import annotations

from .ladder import ladder
from .rtp import (
    plot_delta_histogram,
    plot_jitter,
    plot_sequence,
    plot_spectrogram,
    plot_timestamps,
    plot_waveform,
)

__all__ = ["ladder", "plot_delta_histogram", "plot_jitter", "plot_sequence", "plot_spectrogram",
           "plot_timestamps", "plot_waveform"]
