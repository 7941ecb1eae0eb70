"""RFC 4733 telephone-events (DTMF digits sent as RTP packets), decoded and grouped into digits.

A key press is sent as several RTP packets with the *same* RTP timestamp (the start of the
event): each carries the event code (0-9, *, #, A-D, flash), the volume, and the duration
so far (in timestamp units, 8000 Hz); the last ones (usually three) have the End bit set.
Grouping by timestamp gives one :class:`Digit` per key press.

Pure. Taught in notebook 05 (and 06, sending DTMF to the Alcatel).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

from ..errors import RtpParseError

__all__ = ["EVENT_NAMES", "Digit", "TelephoneEvent", "digits"]

TELEPHONE_EVENT_LENGTH = 4
END_BIT = 0x80
VOLUME_MASK = 0x3F
DEFAULT_CLOCK_RATE = 8000
#: RFC 4733 section 3.2: event codes of the DTMF keys and flash.
EVENT_NAMES = {**{k: str(k) for k in range(10)}, 10: "*", 11: "#", 12: "A", 13: "B", 14: "C", 15: "D", 16: "flash"}


@dataclass(frozen=True)
class TelephoneEvent:
    """One telephone-event payload (RFC 4733 2.3).

    Attributes:
        event: the event code (0-9 digits, 10 ``*``, 11 ``#``, 12-15 A-D, 16 flash).
        end: the E bit: this is (a retransmission of) the last packet of the event.
        volume: power level in -dBm0 (0-63).
        duration: duration so far in RTP timestamp units (8000 per second).

    Taught in notebook 05.
    """

    event: int
    end: bool
    volume: int
    duration: int

    @classmethod
    def parse(cls, data: bytes) -> TelephoneEvent:
        """Parse the 4-byte payload.

        Raises:
            RtpParseError: the payload is shorter than 4 bytes.
        """
        data = bytes(data)
        if len(data) < TELEPHONE_EVENT_LENGTH:
            raise RtpParseError(
                f"telephone-event payload is too short ({len(data)} bytes): it needs 4 bytes "
                "(event, E/R/volume, duration); check that the payload type is telephone-event",
                offset=len(data))
        event, flags, duration = struct.unpack_from("!BBH", data)
        return cls(event, bool(flags & END_BIT), flags & VOLUME_MASK, duration)

    def __bytes__(self) -> bytes:
        return struct.pack("!BBH", self.event, (END_BIT if self.end else 0) | self.volume, self.duration)

    @property
    def name(self) -> str:
        """``"5"``, ``"*"``, ``"#"``... or ``"event 42"``."""
        return EVENT_NAMES.get(self.event, f"event {self.event}")

    def __repr__(self) -> str:
        return (f"TelephoneEvent({self.name!r}, duration={self.duration}, volume=-{self.volume} dBm0"
                f"{', end' if self.end else ''})")


@dataclass(frozen=True)
class Digit:
    """One key press: the grouped packets of an event.

    Attributes:
        name: ``"5"``, ``"#"``...
        start_time: arrival time of its first packet (s, capture-relative).
        duration_ms: the final duration (ms) the sender announced.
        packets: packets received for it (with retransmitted end packets).
        ended: an end packet was received.

    Taught in notebook 05.
    """

    name: str
    start_time: float
    duration_ms: float
    packets: int
    ended: bool
    timestamp: int = 0

    def __repr__(self) -> str:
        return f"Digit({self.name!r} at {self.start_time:.3f} s, {self.duration_ms:.0f} ms, {self.packets} packets)"


def digits(timestamps: np.ndarray, payloads: list[bytes], times: np.ndarray | None = None,
           clock_rate: int = DEFAULT_CLOCK_RATE) -> list[Digit]:
    """Group telephone-event packets into key presses (one per RTP timestamp and event).

    Parameters:
        timestamps: RTP timestamps of the telephone-event packets (arrival order).
        payloads: their payloads (4 bytes each).
        times: their arrival times in seconds (optional).
        clock_rate: the event clock (8000 Hz unless the SDP says otherwise).

    Raises:
        RtpParseError: a payload is shorter than 4 bytes.

    Taught in notebook 05.
    """
    times = np.zeros(len(payloads)) if times is None else np.asarray(times, dtype=float)
    groups: dict[tuple[int, int], list[int]] = {}
    events = [TelephoneEvent.parse(p) for p in payloads]
    for i, (ts, ev) in enumerate(zip(np.asarray(timestamps).tolist(), events, strict=True)):
        groups.setdefault((int(ts), ev.event), []).append(i)
    out = []
    for (ts, _code), members in groups.items():
        evs = [events[i] for i in members]
        duration = max(e.duration for e in evs)
        out.append(Digit(name=evs[0].name, start_time=float(times[members[0]]),
                         duration_ms=duration * 1000.0 / clock_rate, packets=len(members),
                         ended=any(e.end for e in evs), timestamp=ts))
    out.sort(key=lambda d: d.start_time)
    return out
