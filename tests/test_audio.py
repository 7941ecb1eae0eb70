"""Can students hear a captured call: decoded streams (voiplab.core.audio), both directions side by side?

WAV files (voiplab.capture.wav) are tested in test_wav.py."""

from __future__ import annotations

import numpy as np
import pytest

from voiplab.capture.streams import streams
from voiplab.core.audio import call_audio, dominant_frequency
from voiplab.devices.alcatel import ALCATEL_SIGNAL_HZ
from voiplab.errors import RtpParseError
from voiplab.teach.samples import SAMPLE_DIR

DATA = SAMPLE_DIR
ALCATEL, RPI, PBX = "127.0.0.81", "127.0.0.82", "127.0.0.80"


def test_decoded_audio_of_a_lab_call_carries_the_alcatels_signal() -> None:
    """Does the G.711 audio the Alcatel sent, decoded from the capture, peak at its 1000 Hz (within 2%)?"""
    from_alcatel = [s for s in streams(DATA / "call_rpi_to_alcatel.pcap") if s.src == ALCATEL]
    assert from_alcatel, "the capture has no stream from the Alcatel"
    samples = np.concatenate([s.audio() for s in from_alcatel])
    assert len(samples) > 8000  # more than a second of audio
    assert abs(dominant_frequency(samples, 8000) - ALCATEL_SIGNAL_HZ) <= 0.02 * ALCATEL_SIGNAL_HZ


def test_rpis_tone_is_heard_in_the_capture() -> None:
    """Does rpi's 440 Hz tone come out of its streams (via the PBX, then direct)?"""
    from_rpi = [s for s in streams(DATA / "call_rpi_to_alcatel.pcap") if s.src == RPI]
    assert {s.dst for s in from_rpi} == {PBX, ALCATEL}  # before and after the direct-media re-INVITE
    samples = np.concatenate([s.audio() for s in from_rpi])
    assert abs(dominant_frequency(samples, 8000) - 440) <= 0.02 * 440


def test_both_directions_side_by_side() -> None:
    """Are both directions of the call one stereo array, each stream placed at its capture time?"""
    all_streams = streams(DATA / "call_rpi_to_alcatel.pcap")
    stereo = call_audio(all_streams, RPI, ALCATEL)
    assert stereo.dtype == np.int16 and stereo.shape[1] == 2
    t0 = min(int(s.time_ns[0]) for s in all_streams if s.src in (RPI, ALCATEL))
    alcatel_start = min(int(s.time_ns[0]) for s in all_streams if s.src == ALCATEL)
    first_sound = int(np.flatnonzero(stereo[:, 1])[0])
    # the Alcatel answers ~2.5 s after rpi's audio started: its channel is silent until then
    assert abs(first_sound - (alcatel_start - t0) * 8000 // 1_000_000_000) <= 160
    assert abs(dominant_frequency(stereo[:, 0], 8000) - 440) <= 9
    assert abs(dominant_frequency(stereo[first_sound:, 1], 8000) - ALCATEL_SIGNAL_HZ) <= 20
    with pytest.raises(RtpParseError, match="no G.711 audio was sent by 10.0.0.1 or 10.0.0.2"):
        call_audio(all_streams, "10.0.0.1", "10.0.0.2")
