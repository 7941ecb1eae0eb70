"""Tests of voiplab.core.g711 against the G.711 algorithm and Python's audioop (an independent oracle)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from voiplab.core import g711

with warnings.catch_warnings():
    # audioop (deprecated, removed in Python 3.13) is an independent oracle: the course runs 3.11
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop

ALL_CODES = bytes(range(256))
ALL_SAMPLES = np.arange(-32768, 32768, dtype=np.int16)


def test_ulaw_decode_equals_audioop_for_all_256_codes():
    """Is every mu-law code decoded as audioop (the ITU reference algorithm) decodes it?"""
    expected = np.frombuffer(audioop.ulaw2lin(ALL_CODES, 2), dtype="<i2")
    assert np.array_equal(g711.ulaw_decode(ALL_CODES), expected)


def test_alaw_decode_equals_audioop_for_all_256_codes():
    """Is every A-law code decoded as audioop decodes it?"""
    expected = np.frombuffer(audioop.alaw2lin(ALL_CODES, 2), dtype="<i2")
    assert np.array_equal(g711.alaw_decode(ALL_CODES), expected)


def test_known_values_from_the_standard():
    """Do the landmark codes decode to G.711's values (silence, extremes)?"""
    assert g711.ulaw_decode(b"\xff\x7f\x00\x80").tolist() == [0, 0, -32124, 32124]
    assert g711.alaw_decode(b"\xd5\x55\x2a\xaa").tolist() == [8, -8, -32256, 32256]


def test_encoders_equal_audioop_for_every_16_bit_sample():
    """Are all 65536 samples encoded bit-exactly like audioop's lin2ulaw/lin2alaw?"""
    assert g711.ulaw_encode(ALL_SAMPLES) == audioop.lin2ulaw(ALL_SAMPLES.tobytes(), 2)
    assert g711.alaw_encode(ALL_SAMPLES) == audioop.lin2alaw(ALL_SAMPLES.tobytes(), 2)


def test_decode_then_encode_is_identity_on_codes():
    """Does encoding a decoded code give the code back (except mu-law's two zeros)?"""
    assert g711.alaw_encode(g711.alaw_decode(ALL_CODES)) == ALL_CODES
    back = g711.ulaw_encode(g711.ulaw_decode(ALL_CODES))
    assert [a for a, b in zip(back, ALL_CODES, strict=True) if a != b] == [0xFF]  # 0x7F and 0xFF both mean 0


def test_decode_by_payload_type():
    """Does decode() pick the law from the payload type, and refuse others?"""
    assert g711.decode(b"\x00", 0).tolist() == [-32124]
    with pytest.raises(ValueError, match="payload type 9 is not G.711"):
        g711.decode(b"\x00", 9)
