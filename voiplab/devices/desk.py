"""The real Alcatel IP Touch 4018 on the desk (classroom mode): a person dials and picks it up.

In the local lab :class:`~voiplab.devices.alcatel.SimulatedAlcatel` answers by itself. In a
classroom the desk phone is real and shared: the notebooks get a :class:`DeskAlcatel` from
``lab.alcatel`` instead, with the same steps. Each step that needs someone at the desk says
so, then waits (up to :data:`PICKUP_S`) for what the student's own phone can see:

* **calling the Alcatel**: the course server puts the call in the Alcatel's queue (position
  announced, music meanwhile); when someone picks the Alcatel up, Asterisk bridges the two
  and, with direct media, re-INVITEs the student's phone towards the Alcatel's address: the
  call's audio then comes from an address other than the server's;
* **the Alcatel calls you**: the step asks the person at the desk to dial the student's
  number (the student's phone then rings: ``phone.wait_incoming``);
* what only the simulated phone knows (the DTMF it heard, its recording) is not available:
  those calls return what the student's side saw, with a note.

Taught in notebook 06 (classroom mode).
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

from ..config import Account, LabConfig
from ..errors import CallError
from .phone import Call, live_calls

__all__ = ["DeskAlcatel", "PICKUP_S"]

#: seconds a step waits for someone at the desk (a queue of a few classmates, then a person)
PICKUP_S = 180.0
#: seconds between two looks at the student's call
POLL_S = 0.2


def _host(address: str | None) -> str:
    return (address or "").rsplit(":", 1)[0].strip("[]")


class DeskAlcatel:
    """The shared real desk phone, seen from a student's notebook (see the module docstring).

    Parameters:
        config: the lab configuration (classroom mode; the Alcatel's number is the account
            ``alcatel``).
        pickup_s: how long a step waits for someone at the desk.
        out: where the instructions are written (default: the notebook's output).
    """

    real = True

    def __init__(self, config: LabConfig, *, pickup_s: float = PICKUP_S, out: TextIO | None = None) -> None:
        self.config = config
        self.pickup_s = float(pickup_s)
        self.out = out
        self._last: Call | None = None

    def __repr__(self) -> str:
        acc = self.account
        return f"DeskAlcatel({acc.name}/{acc.number} on the desk, through {self.config.pbx.host})"

    @property
    def account(self) -> Account:
        """The Alcatel's account in the lab (its number is what students dial)."""
        return self.config.account("alcatel")

    def _say(self, text: str) -> None:
        print(text, file=self.out or sys.stdout, flush=True)

    def is_running(self) -> bool:
        """Always True: the desk phone is not voiplab's to start or stop."""
        return True

    def status(self) -> dict[str, Any]:
        """What a student can know of the desk phone: its number, and the call they have with it."""
        call = self._find_call()
        current = None if call is None else {"number": call.number, "state": str(call.state),
                                             "direction": call.direction}
        return {"real": True, "account": f"{self.account.name}/{self.account.number}",
                "pbx": f"{self.config.pbx.host}:{self.config.pbx.port}", "current": current, "calls": []}

    def _find_call(self, call: Call | None = None) -> Call | None:
        if call is not None:
            return call
        number = self.account.number
        mine = [c for c in live_calls() if c.number == number or number in c.remote]
        if mine:
            self._last = mine[-1]
        return self._last

    def _talking_to_desk(self, call: Call) -> bool:
        """True once the call's audio comes from the Alcatel rather than the server (direct media)
        or the server re-INVITEd the call after answering it (the bridge to the Alcatel)."""
        pbx = self.config.pbx.host
        media = call.media
        if media is not None and media.remote_rtp and _host(media.remote_rtp) not in (pbx, ""):
            return True
        confirmed = call.confirmed_at
        if confirmed is None or not call.call_id:
            return False
        return any(m["direction"] == "rx" and m["raw"].startswith("INVITE ") and m["time"] > confirmed
                   and call.call_id in m["raw"] for m in call.phone.trace())

    def wait_in_call(self, timeout: float | None = None, call: Call | None = None) -> dict[str, Any]:
        """Wait until someone at the desk picks up the Alcatel for your call.

        Parameters:
            timeout: seconds (at least ``pickup_s``: a person and a queue are slower than the
                simulated phone's 2 s).
            call: your call to the Alcatel (default: your phones' latest call to its number).

        Raises:
            CallError: you have no call to the Alcatel, it ended first, or nobody picked up in time.
        """
        found = self._find_call(call)
        if found is None:
            raise CallError(f"you have no call to the Alcatel ({self.account.number}): call it first "
                            f"(phone.call('{self.account.number}'))")
        wait = max(float(timeout or 0), self.pickup_s)
        self._say(f"Someone has to pick up the Alcatel on the desk ({self.account.number}). You wait in its "
                  f"queue: listen, your position is announced. Waiting up to {wait:.0f} s...")
        start = time.monotonic()
        while not self._talking_to_desk(found):
            if str(found.state) == "DISCONNECTED":
                raise CallError(f"your call to the Alcatel ended ({found.status} {found.reason}) before anyone "
                                "picked it up: call again, and ask at the desk")
            if time.monotonic() - start > wait:
                raise CallError(f"nobody picked up the Alcatel within {wait:.0f} s: ask at the desk (or the "
                                "instructor), then run the cell again")
            time.sleep(POLL_S)
        waited = time.monotonic() - start
        self._say(f"the Alcatel picked up after {waited:.0f} s")
        return {"number": found.number, "state": "CONFIRMED", "direction": "incoming", "waited_s": round(waited, 1)}

    def call(self, number: str) -> dict[str, Any]:
        """Ask the person at the desk to dial ``number`` (your phone then rings: ``wait_incoming``)."""
        self._say(f"Ask the person at the Alcatel (the desk) to dial {number} now: your phone will ring. "
                  f"Waiting for it with phone.wait_incoming() (give it up to {self.pickup_s:.0f} s).")
        return {"number": str(number), "direction": "outgoing", "state": "ASKED"}

    def hangup(self) -> bool:
        """Ask the person at the desk to hang up (a student cannot hang up the desk phone)."""
        self._say("Ask the person at the Alcatel to hang up (or hang up yourself: call.hangup()).")
        return False

    def wait_call_ended(self, timeout: float | None = None) -> dict[str, Any]:
        """Wait for your latest call with the Alcatel to end; what your side saw of it.

        The real phone's own record (what it heard, the DTMF it received) is on its screen, not
        here: the returned record says so in ``note``.
        """
        found = self._find_call()
        if found is None:
            raise CallError("you have had no call with the Alcatel yet")
        wait = max(float(timeout or 0), self.pickup_s)
        found.wait("DISCONNECTED", timeout=wait)
        return {"number": found.number, "state": "DISCONNECTED", "status": found.status, "reason": found.reason,
                "duration": round(found.duration, 1), "dtmf": None,
                "note": "the real Alcatel's own record (DTMF heard, its audio) is on its screen, not here"}
