"""G.711 mu-law and A-law: 8-bit codes <-> 16-bit linear PCM, bit-exact with ITU-T G.711.

G.711 compands a sample into a sign bit, a 3-bit segment (exponent) and a 4-bit position
in the segment: small amplitudes keep fine steps, loud ones coarse steps. Decoding is a
256-entry table; encoding finds the segment with a binary search (``np.searchsorted``),
as the reference code (Sun's ``g711.c``, the algorithm of the standard) does per sample.
mu-law (PCMU, RTP payload type 0) is used in North America and Japan, A-law (PCMA, 8)
elsewhere. Decoded values: mu-law spans +-32124, A-law +-32256.

Pure, vectorised. Taught in notebook 05 (hearing the audio of a stream).
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "ALAW_TABLE", "SAMPLE_RATE", "ULAW_TABLE", "alaw_decode", "alaw_encode", "decode", "ulaw_decode", "ulaw_encode",
]

#: G.711 samples 8000 times a second (ITU-T G.711): one byte per sample, 64 kbit/s
SAMPLE_RATE = 8000
ULAW_BIAS = 0x84
ULAW_CLIP = 8159  # in 14-bit units
ULAW_SEGMENT_ENDS = np.array([0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF])
ALAW_SEGMENT_ENDS = np.array([0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF])
ALAW_TOGGLE = 0x55  # A-law inverts the even bits
SIGN_BIT, QUANT_MASK, SEGMENT_MASK, SEGMENT_SHIFT = 0x80, 0x0F, 0x70, 4


def _ulaw_table() -> np.ndarray:
    u = ~np.arange(256, dtype=np.int64) & 0xFF
    t = ((u & QUANT_MASK) << 3) + ULAW_BIAS
    t <<= (u & SEGMENT_MASK) >> SEGMENT_SHIFT
    return np.where(u & SIGN_BIT, ULAW_BIAS - t, t - ULAW_BIAS).astype(np.int16)


def _alaw_table() -> np.ndarray:
    a = np.arange(256, dtype=np.int64) ^ ALAW_TOGGLE
    t = (a & QUANT_MASK) << 4
    segment = (a & SEGMENT_MASK) >> SEGMENT_SHIFT
    t = np.where(segment == 0, t + 8, t + 0x108)
    t = np.where(segment > 1, t << np.maximum(segment - 1, 0), t)
    return np.where(a & SIGN_BIT, t, -t).astype(np.int16)


#: code -> linear sample, for all 256 codes
ULAW_TABLE = _ulaw_table()
ALAW_TABLE = _alaw_table()


def _codes(data: bytes | bytearray | memoryview | np.ndarray) -> np.ndarray:
    if isinstance(data, np.ndarray):
        return data.astype(np.uint8, copy=False)
    return np.frombuffer(bytes(data), dtype=np.uint8)


def ulaw_decode(data: bytes | bytearray | memoryview | np.ndarray) -> np.ndarray:
    """mu-law codes (bytes or uint8 array) -> int16 samples. Taught in notebook 05."""
    return ULAW_TABLE[_codes(data)]


def alaw_decode(data: bytes | bytearray | memoryview | np.ndarray) -> np.ndarray:
    """A-law codes (bytes or uint8 array) -> int16 samples. Taught in notebook 05."""
    return ALAW_TABLE[_codes(data)]


def decode(data: bytes | np.ndarray, payload_type: int) -> np.ndarray:
    """Decode a G.711 payload by RTP payload type (0 = PCMU, 8 = PCMA).

    Raises:
        ValueError: the payload type is not G.711.
    """
    if payload_type == 0:
        return ulaw_decode(data)
    if payload_type == 8:
        return alaw_decode(data)
    raise ValueError(f"payload type {payload_type} is not G.711: only 0 (PCMU) and 8 (PCMA) decode here")


def ulaw_encode(samples: np.ndarray) -> bytes:
    """int16 samples -> mu-law codes (G.711, as Sun's g711.c ``linear2ulaw``). Taught in notebook 05."""
    pcm = np.asarray(samples, dtype=np.int64) >> 2  # 14-bit
    mask = np.where(pcm < 0, 0x7F, 0xFF)
    pcm = np.minimum(np.abs(pcm), ULAW_CLIP) + (ULAW_BIAS >> 2)
    segment = np.searchsorted(ULAW_SEGMENT_ENDS, pcm, side="left")
    value = (segment << SEGMENT_SHIFT) | ((pcm >> (np.minimum(segment, 7) + 1)) & QUANT_MASK)
    value = np.where(segment >= 8, 0x7F, value)
    return (value ^ mask).astype(np.uint8).tobytes()


def alaw_encode(samples: np.ndarray) -> bytes:
    """int16 samples -> A-law codes (G.711, as Sun's g711.c ``linear2alaw``). Taught in notebook 05."""
    pcm = np.asarray(samples, dtype=np.int64) >> 3  # 13-bit
    mask = np.where(pcm >= 0, 0xD5, 0x55)
    pcm = np.where(pcm >= 0, pcm, -pcm - 1)
    segment = np.searchsorted(ALAW_SEGMENT_ENDS, pcm, side="left")
    shift = np.where(segment < 2, 1, np.minimum(segment, 7))
    value = (segment << SEGMENT_SHIFT) | ((pcm >> shift) & QUANT_MASK)
    value = np.where(segment >= 8, 0x7F, value)
    return (value ^ mask).astype(np.uint8).tobytes()
