"""Tests of voiplab.teach.samples: the lab captures shipped with the package."""

from __future__ import annotations

import pytest

import voiplab as vl
from voiplab.errors import CaptureError
from voiplab.teach.samples import SAMPLE_DIR


def test_every_sample_is_found_by_name() -> None:
    """Does sample_capture() find each shipped capture, by name with or without .pcap?"""
    assert vl.sample_names() == ["call_alcatel_to_rpi", "call_rpi_to_alcatel", "register_401"]
    for name in vl.sample_names():
        assert vl.sample_capture(name) == vl.sample_capture(name + ".pcap") == SAMPLE_DIR / f"{name}.pcap"
        assert vl.sample_capture(name).stat().st_size > 1000


def test_an_unknown_sample_names_the_known_ones() -> None:
    """Does an unknown name give a CaptureError listing the samples there are?"""
    with pytest.raises(CaptureError) as info:
        vl.sample_capture("nothing")
    assert str(info.value) == ("the sample capture nothing.pcap does not exist: use one of call_alcatel_to_rpi, "
                               "call_rpi_to_alcatel, register_401, or record your own with vl.record_call()")
