"""Tests of voiplab.plots.rtp: every view returns its Axes and leaves matplotlib's state alone."""

from __future__ import annotations

import matplotlib
import numpy as np
import pytest

from voiplab.capture import synth as g
from voiplab.capture.streams import streams
from voiplab.plots import rtp as views

matplotlib.use("Agg")


@pytest.fixture(scope="module")
def stream(tmp_path_factory):
    path = tmp_path_factory.mktemp("plots") / "c.pcap"
    g.write_capture(str(path), g.synth(400, seed=3, jitter_ms=3, loss=0.05))
    return streams(path)[-1]


@pytest.mark.parametrize("view", ["plot_jitter", "plot_delta_histogram", "plot_sequence", "plot_timestamps"])
def test_stream_views_return_axes_without_global_changes(stream, view):
    """Does each stream view draw on a new Axes, return it, and not touch rcParams?"""
    before = dict(matplotlib.rcParams)
    ax = getattr(views, view)(stream)
    assert ax.has_data()
    assert dict(matplotlib.rcParams) == before


def test_views_draw_on_a_given_axes(stream):
    """Is the ``ax`` passed in the one drawn on?"""
    from matplotlib.figure import Figure

    ax = Figure().add_subplot()
    assert views.plot_jitter(stream, ax=ax) is ax


def test_waveform_and_spectrogram(stream):
    """Do the decoded audio's waveform and spectrogram draw?"""
    audio = stream.audio()
    assert views.plot_waveform(audio).has_data()
    assert views.plot_spectrogram(np.sin(np.arange(8000) * 0.3) * 1000).has_data()
