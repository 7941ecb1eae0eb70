"""Tests of voiplab.capture.wav: a captured stream exported to WAV and read back, tones, bad files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from voiplab.capture.streams import streams
from voiplab.capture.wav import read_wav, stream_wav, write_tone_wav, write_wav
from voiplab.core.audio import dominant_frequency
from voiplab.errors import PhoneError
from voiplab.teach.samples import SAMPLE_DIR

DATA = SAMPLE_DIR
ALCATEL = "127.0.0.81"


def test_wav_round_trip(tmp_path: Path) -> None:
    """Does a stream exported to WAV read back sample for sample, mono and stereo?"""
    stream = next(s for s in streams(DATA / "call_alcatel_to_rpi.pcap") if s.src == ALCATEL)
    path = stream_wav(stream, tmp_path / "alcatel.wav")
    samples, rate = read_wav(path)
    assert rate == 8000
    assert np.array_equal(samples, stream.audio())
    stereo = np.stack([samples, samples[::-1]], axis=1)
    back, _ = read_wav(write_wav(tmp_path / "stereo.wav", stereo))
    assert np.array_equal(back, samples)  # read_wav keeps the first channel


def test_tone_and_bad_wav(tmp_path: Path) -> None:
    """Is a written tone found at its frequency, and is a non-WAV file a clear error?"""
    samples, rate = read_wav(write_tone_wav(tmp_path / "tone.wav", 697, seconds=0.5))
    assert abs(dominant_frequency(samples, rate) - 697) < 3
    (tmp_path / "x.wav").write_bytes(b"not a wav")
    with pytest.raises(PhoneError, match="is not a WAV file: record it again"):
        read_wav(tmp_path / "x.wav")
