"""Audio as numbers: tones, Morse code, the dominant frequency, both sides of a call.

Pure numpy: samples in, samples or numbers out (the WAV files are
:mod:`voiplab.capture.wav`). G.711 audio is sampled at :data:`~voiplab.core.g711.SAMPLE_RATE`.

Taught in notebooks 05 (hear both sides of a captured call) and 06 (the Alcatel's signal).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from ..errors import RtpParseError
from .g711 import SAMPLE_RATE
from .rtpstats import RtpStream

__all__ = ["MORSE", "call_audio", "detect_tone", "dominant_frequency", "morse_signal", "tone"]

#: International Morse code for the letters and digits
MORSE = {
    "A": ".-", "B": "-...", "C": "-.-.", "D": "-..", "E": ".", "F": "..-.", "G": "--.", "H": "....",
    "I": "..", "J": ".---", "K": "-.-", "L": ".-..", "M": "--", "N": "-.", "O": "---", "P": ".--.",
    "Q": "--.-", "R": ".-.", "S": "...", "T": "-", "U": "..-", "V": "...-", "W": ".--", "X": "-..-",
    "Y": "-.--", "Z": "--..", "0": "-----", "1": ".----", "2": "..---", "3": "...--", "4": "....-",
    "5": ".....", "6": "-....", "7": "--...", "8": "---..", "9": "----.",
}
#: a signal quieter than this (RMS, int16 units) is silence for :func:`detect_tone`
SILENCE_RMS = 100


def tone(frequency: float, seconds: float = 1.0, rate: int = SAMPLE_RATE, amplitude: float = 0.5) -> np.ndarray:
    """A sine tone as int16 samples; 1 s of a whole number of Hz loops without a click.

    Taught in notebook 06.
    """
    n = round(seconds * rate)
    t = np.arange(n) / rate
    return (amplitude * 32767 * np.sin(2 * np.pi * frequency * t)).astype(np.int16)


def morse_signal(text: str, frequency: float, rate: int = SAMPLE_RATE, unit_s: float = 0.08,
                 amplitude: float = 0.5) -> np.ndarray:
    """``text`` in Morse code on a ``frequency`` Hz tone (int16).

    Dots last one unit, dashes three; one unit between elements, three between
    letters, seven between words and at the end (so it loops cleanly). Each element
    has 5 ms raised-cosine edges so the spectrogram shows clean dots and dashes.

    Raises:
        ValueError: a character has no Morse code here (use A-Z, 0-9 and spaces).

    Taught in notebook 06.
    """
    unit = round(unit_s * rate)
    ramp = max(1, int(0.005 * rate))
    pieces: list[np.ndarray] = []
    for w, word in enumerate(text.upper().split()):
        if w:
            pieces.append(np.zeros(4 * unit))  # 3 (after the letter) + 4 = 7 units
        for letter in word:
            code = MORSE.get(letter)
            if code is None:
                raise ValueError(f"letter {letter!r} has no Morse code here: use A-Z and 0-9")
            for i, element in enumerate(code):
                n = unit if element == "." else 3 * unit
                t = np.arange(n) / rate
                sine = np.sin(2 * np.pi * frequency * t)
                env = np.ones(n)
                edge = 0.5 - 0.5 * np.cos(np.pi * np.arange(ramp) / ramp)
                env[:ramp], env[-ramp:] = edge, edge[::-1]
                pieces.append(sine * env)
                pieces.append(np.zeros(unit if i < len(code) - 1 else 3 * unit))
    pieces.append(np.zeros(4 * unit))
    return (amplitude * 32767 * np.concatenate(pieces)).astype(np.int16)


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


def detect_tone(samples: np.ndarray, rate: int, frequency: float, tolerance: float = 0.02) -> bool:
    """True if ``samples`` (at least 250 ms, not silence) peak at ``frequency`` within ``tolerance``.

    Taught in notebook 06 (is it the Alcatel's signal?).
    """
    x = np.asarray(samples, dtype=np.float64)
    if x.size < rate // 4 or np.sqrt(np.mean(x**2)) < SILENCE_RMS:
        return False
    return abs(dominant_frequency(x, rate) - frequency) <= tolerance * frequency


def call_audio(streams: Iterable[RtpStream], party_a: str, party_b: str) -> np.ndarray:
    """Both directions of a call as one stereo array, aligned on the capture's clock.

    Parameters:
        streams: the RTP streams of a capture (``vl.streams(path)``).
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
