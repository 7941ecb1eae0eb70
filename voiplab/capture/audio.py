"""Audio of the lab: WAV files, a tone, the dominant frequency, and the audio of captured calls.

RTP carries the voice; :meth:`voiplab.rtp.RtpStream.audio` decodes one stream's G.711
payloads. This module writes a stream to a WAV file and puts both directions of a
call side by side (left: one party, right: the other), each stream placed at the
capture time of its first packet, so the switch from via-PBX to direct media
keeps the timing.

Taught in notebooks 05 (hear both sides of a captured call) and 06.
"""

from __future__ import annotations

import os
import struct
import wave
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import PhoneError, RtpParseError

__all__ = ["SAMPLE_RATE", "write_wav", "read_wav", "write_tone_wav", "dominant_frequency", "stream_wav",
           "call_audio"]

#: G.711's sample rate (Hz)
SAMPLE_RATE = 8000


def write_tone_wav(path: str | os.PathLike[str], frequency: float, seconds: float = 1.0,
                   rate: int = SAMPLE_RATE, amplitude: float = 0.5) -> Path:
    """Write a mono 16-bit WAV of a sine tone; 1 s of a whole number of Hz loops without a click.

    Taught in notebook 06.
    """
    n = round(seconds * rate)
    t = np.arange(n) / rate
    samples = (amplitude * 32767 * np.sin(2 * np.pi * frequency * t)).astype(np.int16)
    return write_wav(path, samples, rate)


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


def dominant_frequency(samples: np.ndarray, rate: int) -> float:
    """The frequency (Hz) with the most energy in ``samples`` (numpy FFT, Hann window).

    Taught in notebook 06 (is it the Alcatel's 1000 Hz signal?).
    """
    x = np.asarray(samples, dtype=np.float64)
    if x.size < 16:
        return 0.0
    x = x - x.mean()
    spectrum = np.abs(np.fft.rfft(x * np.hanning(x.size)))
    spectrum[0] = 0.0
    return float(np.fft.rfftfreq(x.size, 1.0 / rate)[int(np.argmax(spectrum))])


def stream_wav(stream: Any, path: str | os.PathLike[str]) -> Path:
    """Write the decoded G.711 audio of one captured RTP stream to a WAV file.

    Raises:
        RtpParseError: the stream carries no G.711 audio.
    """
    return write_wav(path, stream.audio(), SAMPLE_RATE)


def call_audio(streams: Iterable[Any], party_a: str, party_b: str) -> np.ndarray:
    """Both directions of a call as one stereo array, aligned on the capture's clock.

    Parameters:
        streams: the RTP streams of a capture (``voiplab.analysis.streams(path)``).
        party_a: the IP address of one phone (left channel: what it *sent*).
        party_b: the IP address of the other phone (right channel).

    Returns:
        int16 array of shape ``(n, 2)`` at 8000 Hz. Every G.711 stream sent by a party
        (first to the PBX, then, after the direct-media re-INVITE, to the other phone)
        is placed at the time of its first packet, relative to the first packet of all.
        For ``IPython.display.Audio`` pass ``samples.T``.

    Raises:
        RtpParseError: neither party sent G.711 audio in these streams.
    """
    placed: list[tuple[int, int, np.ndarray]] = []
    for stream in streams:
        channel = 0 if stream.src == party_a else 1 if stream.src == party_b else None
        if channel is None:
            continue
        try:
            samples = stream.audio()
        except RtpParseError:
            continue  # e.g. a stream of telephone-events only
        placed.append((channel, int(stream.time_ns[0]), samples))
    if not placed:
        raise RtpParseError(f"no G.711 audio was sent by {party_a} or {party_b} in these streams: "
                            "check the addresses (the phones', not the PBX's)")
    t0 = min(start for _c, start, _s in placed)
    offsets = [((start - t0) * SAMPLE_RATE) // 1_000_000_000 for _c, start, _s in placed]
    length = max(off + len(s) for off, (_c, _t, s) in zip(offsets, placed, strict=True))
    out = np.zeros((length, 2), dtype=np.int16)
    for off, (channel, _t, samples) in zip(offsets, placed, strict=True):
        out[off:off + len(samples), channel] = samples
    return out
