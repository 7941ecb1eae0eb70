"""WAV files of the lab: what a phone heard, a tone to send, a captured stream to listen to.

Taught in notebooks 05 (export a stream) and 06 (recordings).
"""

from __future__ import annotations

import os
import struct
import wave
from pathlib import Path

import numpy as np

from ..core.audio import tone
from ..core.g711 import SAMPLE_RATE
from ..core.rtpstats import RtpStream
from ..errors import PhoneError

__all__ = ["read_wav", "stream_wav", "write_tone_wav", "write_wav"]


def write_tone_wav(path: str | os.PathLike[str], frequency: float, seconds: float = 1.0,
                   rate: int = SAMPLE_RATE, amplitude: float = 0.5) -> Path:
    """Write a mono 16-bit WAV of a sine tone (:func:`voiplab.core.audio.tone`).

    Taught in notebook 06.
    """
    return write_wav(path, tone(frequency, seconds, rate, amplitude), rate)


def write_wav(path: str | os.PathLike[str], samples: np.ndarray, rate: int = SAMPLE_RATE) -> Path:
    """Write 16-bit PCM samples to a WAV file: mono ``(n,)`` or multi-channel ``(n, channels)``.

    Taught in notebook 05 (export a stream) and 06.
    """
    p = Path(path)
    samples = np.asarray(samples)
    channels = 1 if samples.ndim == 1 else samples.shape[1]
    with wave.open(str(p), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(np.asarray(samples, dtype="<i2").tobytes())
    return p


def read_wav(path: str | os.PathLike[str]) -> tuple[np.ndarray, int]:
    """Read a 16-bit PCM WAV into (int16 samples, sample rate), even one still being written.

    pjsua's recorder fixes the header sizes only when it closes the file, so the
    chunks are walked by hand and the data chunk is read to the end of the file.

    Raises:
        PhoneError: the file is not a 16-bit PCM WAV.

    Taught in notebook 06.
    """
    data = Path(path).read_bytes()
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise PhoneError(f"the recording {path} is not a WAV file: record it again")
    pos, rate, channels, bits = 12, SAMPLE_RATE, 1, 16
    while pos + 8 <= len(data):
        cid, size = data[pos:pos + 4], struct.unpack("<I", data[pos + 4:pos + 8])[0]
        body = pos + 8
        if cid == b"fmt ":
            fmt, channels, rate = struct.unpack("<HHI", data[body:body + 8])
            bits = struct.unpack("<H", data[body + 14:body + 16])[0]
            if fmt != 1 or bits != 16:
                raise PhoneError(f"the recording {path} is not 16-bit PCM (format {fmt}, {bits} bits): "
                                 "convert it with sox or ffmpeg")
        elif cid == b"data":
            end = len(data) if size == 0 or body + size > len(data) else body + size
            end -= (end - body) % (2 * channels)
            samples = np.frombuffer(data[body:end], dtype="<i2").astype(np.int16)
            if channels > 1:
                samples = samples.reshape(-1, channels)[:, 0].copy()
            return samples, rate
        pos = body + size + (size & 1)
    return np.zeros(0, dtype=np.int16), rate


def stream_wav(stream: RtpStream, path: str | os.PathLike[str]) -> Path:
    """Write the decoded G.711 audio of one captured RTP stream to a WAV file.

    Raises:
        RtpParseError: the stream carries no G.711 audio.
    """
    return write_wav(path, stream.audio(), SAMPLE_RATE)
