"""Tests of voiplab.core.dtmf: RFC 4733 telephone-event payloads and digits."""

from __future__ import annotations

import pytest

from voiplab.core.dtmf import Digit, TelephoneEvent, digits
from voiplab.errors import RtpParseError


def test_parse_and_round_trip():
    """Are event, end bit, volume and duration decoded, and re-encoded identically?"""
    data = bytes([11, 0x80 | 10, 0x03, 0x20])
    ev = TelephoneEvent.parse(data)
    assert (ev.event, ev.end, ev.volume, ev.duration, ev.name) == (11, True, 10, 800, "#")
    assert bytes(ev) == data
    assert repr(ev) == "TelephoneEvent('#', duration=800, volume=-10 dBm0, end)"


def test_truncated_payloads_raise_rtp_parse_error():
    """Does every prefix shorter than 4 bytes raise RtpParseError with a helpful message?"""
    for n in range(4):
        with pytest.raises(RtpParseError) as e:
            TelephoneEvent.parse(bytes(n))
    assert str(e.value) == ("telephone-event payload is too short (3 bytes): it needs 4 bytes (event, E/R/volume, "
                            "duration); check that the payload type is telephone-event")


def test_packets_grouped_into_digits():
    """Are packets with the same timestamp one key press, with the final duration?"""
    payloads = [bytes(TelephoneEvent(5, k >= 4, 10, 160 * min(k + 1, 4))) for k in range(7)]
    payloads += [bytes(TelephoneEvent(10, k >= 2, 10, 160 * (k + 1))) for k in range(3)]
    timestamps = [1000] * 7 + [9000] * 3
    times = [0.02 * k for k in range(10)]
    found = digits(timestamps, payloads, times)
    assert [d.name for d in found] == ["5", "*"]
    assert found[0] == Digit("5", 0.0, 80.0, 7, True, 1000)
    assert found[1].duration_ms == 60.0 and found[1].ended
