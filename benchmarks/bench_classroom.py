"""A whole class on one machine: the rendered course server under a class's load (issue 14's figures).

    .venv/bin/python benchmarks/bench_classroom.py --students 30
    .venv/bin/python benchmarks/bench_classroom.py --students 60

Not a timed test: a simulation with real components only. A generated roster is rendered
(``render_classroom``) and served by a real Asterisk (``ClassroomPbx``) on 127.0.30.80; the
class's Alcatel is the *simulated* desk phone (``SimulatedAlcatel``, the same daemon as the
local lab's, registered with the class's ``alcatel`` account read from ``classroom.json``) on
127.0.30.81, reached through the rendered queue (``Queue(alcatel)``): it answers after
``--ring`` seconds and hangs up after ``--alcatel-hold`` seconds, so the queue drains one
caller at a time. Every student's two phones are real pjsua2 phones (``Phone``, one agent
process each) made from their own ``lab.toml``, with the address moved to a loopback test
address: "Raspberry Pi" on 127.0.32.<slot>, second phone on 127.0.33.<slot>.

Then:

1. every phone registers (in parallel); the server's contacts are read back (AMI
   ``pjsip show endpoints`` and the instructor's ``ClassroomMonitor``): each account must
   show its own phone's address, none displaced by another student's REGISTER;
2. each student's Pi calls the neighbour's second phone (slot i -> 6<i+1>2, all at once),
   the callee checks the caller id and answers, ``--hold`` seconds of RTP; a call counts as
   RTP both ways when both phones' sent and received packet counters grew during the hold;
3. half of the students' Pis (odd slots) call the Alcatel (5001) at once: Asterisk answers
   them into the queue, the Alcatel serves them one by one; each caller's wait is from
   dialing to the Alcatel answering it (the Alcatel's own call record, polled every 0.1 s),
   and the instructor's view is ``ClassroomMonitor``'s waits (QueueCallerJoin -> Leave).

Asterisk's CPU time is ``utime + stime`` of its process (``/proc/<pid>/stat``, every thread),
its peak memory ``VmHWM`` (``/proc/<pid>/status``). Everything runs in a private temporary
directory (``vlclass-bench-*``) with its own ``VOIPLAB_STATE_DIR``, and is stopped and removed
at the end, also on Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from voiplab.config import Account, AlcatelConfig, LabConfig, PbxConfig, load_config
from voiplab.devices.alcatel import SimulatedAlcatel
from voiplab.devices.classroom import ALCATEL_NUMBER, ClassroomMonitor, ClassroomPbx, render_classroom
from voiplab.devices.phone import Call, Phone
from voiplab.errors import CallError, VoipLabError

SERVER = "127.0.30.80"
ALCATEL_ADDRESS = "127.0.30.81"
#: the students' phones: "Raspberry Pi" on PI_NET.<slot>, second phone on SECOND_NET.<slot>
PI_NET = "127.0.32"
SECOND_NET = "127.0.33"
#: seconds a phone's agent may take to start when many start at once on two cores
AGENT_START_TIMEOUT_S = 60.0
#: seconds a neighbour's phone may take to ring and answer (it answers at once; Asterisk's Answer(500) first)
ANSWER_TIMEOUT_S = 30.0
#: how often the Alcatel's state is read to time each caller's answer
ALCATEL_POLL_S = 0.1

T = TypeVar("T")


@dataclass
class NeighbourCall:
    """Phase 2: one student's Pi calling the neighbour's second phone."""

    caller: str
    callee_number: str
    failure: str = ""
    rtp_both_ways: bool = False
    direct_media: bool = False
    #: seconds from dialing to the neighbour's phone answering, and from hanging up to the end of the call
    setup_s: float | None = None
    teardown_s: float | None = None
    #: seconds from dialing to the neighbour's phone ringing (its INVITE arrived)
    ring_s: float | None = None


@dataclass
class AlcatelCaller:
    """Phase 3: one student's Pi calling the (queued) Alcatel."""

    number: str
    dialed_at: float = 0.0
    answered_at: float | None = None
    failure: str = ""
    alcatel_rx: int = 0
    alcatel_tx: int = 0
    caller_rx: int = 0
    caller_tx: int = 0


@dataclass
class Measures:
    """What the run measured, printed as the table at the end."""

    students: int = 0
    phones: int = 0
    registration_failures: list[str] = field(default_factory=list)
    neighbour: list[NeighbourCall] = field(default_factory=list)
    alcatel: list[AlcatelCaller] = field(default_factory=list)
    monitor_waits: list[float] = field(default_factory=list)
    cpu: dict[str, float] = field(default_factory=dict)
    wall: dict[str, float] = field(default_factory=dict)
    peak_rss_mb: float = 0.0
    asterisk: str = ""


def asterisk_cpu_s(pid: int) -> float:
    """utime + stime of a process (all its threads), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mb(pid: int) -> float:
    """VmHWM of a process, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def in_parallel(pool: ThreadPoolExecutor, fn: Callable[[T], object], items: Iterable[T]) -> list[BaseException | None]:
    """Run ``fn`` on every item in the pool; the exception of each (None when it worked), in order."""
    futures: list[Future[object]] = [pool.submit(fn, item) for item in items]
    return [f.exception() for f in futures]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--students", type=int, default=30, help="students in the generated roster (2-99)")
    ap.add_argument("--hold", type=float, default=3.0, help="seconds of RTP in each neighbour call")
    ap.add_argument("--ring", type=float, default=0.5, help="seconds the simulated Alcatel rings before answering")
    ap.add_argument("--alcatel-hold", type=float, default=2.0, help="seconds the Alcatel keeps each call")
    ap.add_argument("--workers", type=int, default=12, help="threads starting and registering phones")
    ap.add_argument("--verbose", action="store_true", help="also print call setup times and each Alcatel caller's wait")
    args = ap.parse_args()
    if not 2 <= args.students <= 99:
        ap.error("--students must be 2 to 99 (one course server numbers at most 99 students)")
    tmp = Path(tempfile.mkdtemp(prefix="vlclass-bench-"))
    os.environ["VOIPLAB_STATE_DIR"] = str(tmp / "state")

    def on_sigterm(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_sigterm)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # Ctrl-C cleans up, even when started by a script
    try:
        measures = run(tmp, args)
    except KeyboardInterrupt:
        print("interrupted: everything was stopped", file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001 - a benchmark reports what went wrong, after cleaning up
        print(f"error: {e.__class__.__name__}: {e}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print_table(measures, args)
    return 0


def run(tmp: Path, args: argparse.Namespace) -> Measures:
    """The simulation (see the module docstring); stops everything it started, whatever happens."""
    m = Measures(students=args.students, phones=2 * args.students)
    t_start = time.monotonic()
    roster = tmp / "roster.csv"
    roster.write_text("id,name\n" + "".join(f"e{i:03d},Student {i:02d}\n" for i in range(1, args.students + 1)))
    class_dir = tmp / "class"
    files = render_classroom(roster, class_dir, server=SERVER, alcatel_address=ALCATEL_ADDRESS,
                             instructor_address=SERVER)
    room = files.classroom
    slots = dict(sorted(room.slots.items(), key=lambda kv: kv[1]))

    pool = ThreadPoolExecutor(max_workers=args.workers, thread_name_prefix="bench")
    pbx = ClassroomPbx(class_dir)
    alcatel: SimulatedAlcatel | None = None
    monitor: ClassroomMonitor | None = None
    pis: dict[str, Phone] = {}
    seconds: dict[str, Phone] = {}
    incoming: dict[str, Call] = {}  # the second phone's number -> the call it received
    incoming_lock = threading.Lock()
    poller_stop = threading.Event()
    try:
        t0 = time.monotonic()
        pbx.start()
        pid = pbx.pid()
        assert pid is not None
        m.asterisk = f"{pbx.version()} (pid {pid}, {Path(f'/proc/{pid}/comm').read_text().strip()})"
        m.wall["boot"] = time.monotonic() - t0
        m.cpu["boot"] = cpu_mark = asterisk_cpu_s(pid)

        def phase(name: str, started: float) -> None:
            nonlocal cpu_mark
            now = asterisk_cpu_s(pid)
            m.cpu[name], cpu_mark = now - cpu_mark, now
            m.wall[name] = time.monotonic() - started

        # the simulated Alcatel, with the class's alcatel account as the instructor's classroom.json gives it
        state = json.loads((class_dir / "classroom.json").read_text(encoding="utf-8"))
        desk = Account("alcatel", ALCATEL_NUMBER, "Alcatel IP Touch", state["passwords"]["alcatel"], ALCATEL_ADDRESS)
        alcatel = SimulatedAlcatel(LabConfig(pbx=PbxConfig(mode="classroom", host=SERVER, port=room.port),
                                             accounts=(desk,),
                                             alcatel=AlcatelConfig(ring_s=args.ring, max_call_s=args.alcatel_hold)),
                                   lab_dir=tmp / "alcatel")
        alcatel.start(timeout=15)
        monitor = ClassroomMonitor(class_dir).start()

        # phase 1: every student's two phones, from their lab.toml, on test addresses; all register
        t0 = time.monotonic()

        def answerer(number: str) -> Callable[[Call], None]:
            def answer(call: Call) -> None:
                with incoming_lock:
                    incoming[number] = call
                with contextlib.suppress(VoipLabError):
                    call.answer()
            return answer

        def make_phones(item: tuple[str, int]) -> None:
            sid, slot = item
            cfg = load_config(files.students / sid / "lab.toml")
            pis[sid] = Phone("rpi", cfg, address=f"{PI_NET}.{slot}", record=False,
                             start_timeout=AGENT_START_TIMEOUT_S)
            seconds[sid] = Phone("guillaume", cfg, address=f"{SECOND_NET}.{slot}", record=False,
                                 start_timeout=AGENT_START_TIMEOUT_S,
                                 on_incoming=answerer(cfg.account("guillaume").number))

        for sid, err in zip(slots, in_parallel(pool, make_phones, slots.items()), strict=True):
            if err is not None:
                m.registration_failures.append(f"{sid}: phone did not start: {err}")
        m.wall["phones up"] = time.monotonic() - t0
        t0 = time.monotonic()
        phones = [p for sid in slots for p in (pis.get(sid), seconds.get(sid)) if p is not None]
        for phone, err in zip(phones, in_parallel(pool, lambda p: p.register(timeout=15), phones), strict=True):
            if err is not None:
                m.registration_failures.append(f"{phone.account.user}: {err}")
        # no REGISTER displaced another: every account's contact is its own phone's address
        time.sleep(0.5)
        contacts = {e.name: e.contact_address or "" for e in pbx.endpoints()}
        seen = monitor.snapshot().registered
        for phone in phones:
            user = phone.account.user
            if phone.registered and not contacts.get(user, "").startswith(phone.address + ":"):
                m.registration_failures.append(f"{user}: the server shows {contacts.get(user) or 'no contact'}, "
                                               f"not {phone.address}")
            elif phone.registered and f"@{phone.address}:" not in seen.get(user, ""):
                m.registration_failures.append(f"{user}: the instructor's monitor shows {seen.get(user)!r}")
        phase("register", t0)

        # phase 2: each Pi calls the neighbour's second phone, all at once; RTP both ways during the hold
        t0 = time.monotonic()
        order = list(slots)
        m.neighbour = [NeighbourCall(pis[sid].number if sid in pis else sid,
                                     seconds[order[(i + 1) % len(order)]].number
                                     if order[(i + 1) % len(order)] in seconds else "?")
                       for i, sid in enumerate(order)]

        def neighbour_call(item: tuple[str, NeighbourCall]) -> None:
            sid, nc = item
            caller = pis[sid]
            dialed, dialed_wall = time.monotonic(), time.time()
            out = caller.call(nc.callee_number)
            try:
                deadline = time.monotonic() + ANSWER_TIMEOUT_S
                while (got := incoming.get(nc.callee_number)) is None or got.confirmed_at is None:
                    if out.state == "DISCONNECTED":
                        raise CallError(f"the call ended with {out.status} {out.reason} before the answer")
                    if time.monotonic() > deadline:
                        raise CallError(f"the neighbour's phone did not answer within {ANSWER_TIMEOUT_S:g} s")
                    time.sleep(0.05)
                nc.setup_s = time.monotonic() - dialed
                nc.ring_s = got.history[0][0] - dialed_wall
                if f"sip:{nc.caller}@" not in got.remote:
                    raise CallError(f"the neighbour's phone got a call from {got.remote}, not {nc.caller}")
                out.wait("CONFIRMED", 5)
                before = (out.stats(), got.stats())
                time.sleep(args.hold)
                after = (out.stats(), got.stats())
                nc.rtp_both_ways = all(a.get("tx_packets", 0) > b.get("tx_packets", 0)
                                       and a.get("rx_packets", 0) > b.get("rx_packets", 0)
                                       for b, a in zip(before, after, strict=True))
                callee_address = seconds[order[(order.index(sid) + 1) % len(order)]].address
                nc.direct_media = str(after[0].get("remote_rtp", "")).startswith(callee_address + ":")
            finally:
                hung_up = time.monotonic()
                out.hangup()
                with contextlib.suppress(VoipLabError):
                    out.wait("DISCONNECTED", 10)
                    nc.teardown_s = time.monotonic() - hung_up

        with ThreadPoolExecutor(max_workers=len(order), thread_name_prefix="bench-call") as at_once:
            errors = in_parallel(at_once, neighbour_call, zip(order, m.neighbour, strict=True))
        for nc, err in zip(m.neighbour, errors, strict=True):
            if err is not None:
                nc.failure = str(err)
        phase("neighbour calls", t0)

        # phase 3: half of the Pis call the Alcatel at once; it serves them one by one through the queue
        t0 = time.monotonic()
        callers = {pis[sid].number: pis[sid] for sid in order[::2] if sid in pis}
        m.alcatel = [AlcatelCaller(n) for n in callers]
        by_number = {c.number: c for c in m.alcatel}
        waits_before = len(monitor.snapshot().waits)
        poller = threading.Thread(target=poll_alcatel, args=(alcatel, by_number, poller_stop), daemon=True)
        poller.start()
        calls: dict[str, Call] = {}
        for number, phone in callers.items():
            by_number[number].dialed_at = time.time()
            try:
                calls[number] = phone.call(ALCATEL_NUMBER)
            except VoipLabError as e:
                by_number[number].failure = f"dialing failed: {e}"
        per_call = args.ring + args.alcatel_hold + 10  # ring, hold, the queue's wrap-up time and retries
        deadline = time.monotonic() + 30 + per_call * len(calls)
        while time.monotonic() < deadline and any(c.state != "DISCONNECTED" for c in calls.values()):
            time.sleep(0.2)
        time.sleep(3 * ALCATEL_POLL_S)
        poller_stop.set()
        poller.join(5)
        for number, call in calls.items():
            rec = by_number[number]
            if call.state != "DISCONNECTED":
                rec.failure = "still waiting when the run ended"
                call.hangup()
            stats = call.stats()
            rec.caller_rx, rec.caller_tx = int(stats.get("rx_packets", 0)), int(stats.get("tx_packets", 0))
            if rec.answered_at is None and not rec.failure:
                rec.failure = f"never answered by the Alcatel (the call ended with {call.status} {call.reason})"
        m.monitor_waits = list(monitor.snapshot().waits[waits_before:])
        phase("Alcatel queue", t0)
        m.peak_rss_mb = peak_rss_mb(pid)
    finally:
        poller_stop.set()
        pool.shutdown(wait=True, cancel_futures=True)
        with ThreadPoolExecutor(max_workers=16) as closer:
            list(closer.map(lambda p: p.close(), [*pis.values(), *seconds.values()]))
        if monitor is not None:
            monitor.stop()
        if alcatel is not None:
            alcatel.stop()
        pbx.stop()
    m.wall["total"] = time.monotonic() - t_start
    return m


def poll_alcatel(alcatel: SimulatedAlcatel, callers: dict[str, AlcatelCaller], stop: threading.Event) -> None:
    """Note when the Alcatel answers each caller, and its packet counts once the call is over."""
    while not stop.wait(ALCATEL_POLL_S):
        try:
            st = alcatel.status()
        except VoipLabError:
            continue
        now = time.time()
        current = st.get("current")
        for rec in [*st.get("calls", []), *([current] if current else [])]:
            number = caller_number(str(rec.get("remote", "")))
            who = callers.get(number)
            if who is None or rec.get("state") not in ("CONFIRMED", "DISCONNECTED") or not rec.get("duration"):
                continue
            if who.answered_at is None and rec is current:
                who.answered_at = now - float(rec.get("duration", 0.0))
            if rec is not current:
                who.alcatel_rx, who.alcatel_tx = int(rec.get("rx_packets", 0)), int(rec.get("tx_packets", 0))


def caller_number(remote: str) -> str:
    """``6011`` from ``"Student 01 (Pi)" <sip:6011@127.0.30.80>``."""
    start = remote.find("sip:")
    return remote[start + 4:].split("@", 1)[0] if start >= 0 else ""


def spread(values: list[float]) -> str:
    if not values:
        return "-"
    return f"{min(values):.1f} / {statistics.median(values):.1f} / {max(values):.1f}"


def print_table(m: Measures, args: argparse.Namespace) -> None:
    call_failures = [c for c in m.neighbour if c.failure] + [c for c in m.alcatel if c.failure]
    rtp_failures = ([c for c in m.neighbour if not c.failure and not c.rtp_both_ways]
                    + [c for c in m.alcatel if not c.failure
                       and min(c.alcatel_rx, c.alcatel_tx, c.caller_rx, c.caller_tx) == 0])
    waits = [c.answered_at - c.dialed_at for c in m.alcatel if c.answered_at is not None]
    cpu_total = sum(m.cpu.values())
    print(f"classroom simulation: {m.students} students on {SERVER} ({m.asterisk}), simulated Alcatel "
          f"{ALCATEL_ADDRESS} (rings {args.ring:g} s, holds {args.alcatel_hold:g} s), neighbour calls "
          f"{args.hold:g} s")
    head = ("students", "phones", "reg. failures", "call failures", "RTP-both-ways failures", "Asterisk CPU s",
            "peak RSS MB", "queue wait s min/med/max", "wall s")
    row = (str(m.students), str(m.phones), str(len(m.registration_failures)), str(len(call_failures)),
           str(len(rtp_failures)), f"{cpu_total:.1f}", f"{m.peak_rss_mb:.0f}", spread(waits), f"{m.wall['total']:.0f}")
    widths = [max(len(h), len(r)) for h, r in zip(head, row, strict=True)]
    print("  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)))
    print("  ".join(r.ljust(w) for r, w in zip(row, widths, strict=True)))
    print()
    print(f"registrations:    {m.phones - len(m.registration_failures)} of {m.phones} registered, each at its own "
          "address on the server (pjsip show endpoints) and in the instructor's monitor")
    direct = sum(c.direct_media for c in m.neighbour)
    print(f"neighbour calls:  {sum(not c.failure for c in m.neighbour)} of {len(m.neighbour)} answered by the right "
          f"phone, {sum(c.rtp_both_ways for c in m.neighbour)} with RTP both ways, {direct} phone to phone "
          "(direct media)")
    print(f"Alcatel (5001):   {sum(c.answered_at is not None for c in m.alcatel)} of {len(m.alcatel)} callers "
          f"served one by one; wait from dialing to the Alcatel's answer min/median/max {spread(waits)} s")
    print(f"instructor view:  {len(m.monitor_waits)} queue waits (QueueCallerJoin -> Leave) min/median/max "
          f"{spread(m.monitor_waits)} s")
    print("Asterisk CPU s:   " + ", ".join(f"{k} {v:.2f}" for k, v in m.cpu.items()) + f" (total {cpu_total:.2f})")
    print("wall time s:      " + ", ".join(f"{k} {v:.1f}" for k, v in m.wall.items()))
    if args.verbose:
        setups = [c.setup_s for c in m.neighbour if c.setup_s is not None]
        teardowns = [c.teardown_s for c in m.neighbour if c.teardown_s is not None]
        rings = [c.ring_s for c in m.neighbour if c.ring_s is not None]
        print(f"  neighbour calls: dial -> ringing min/median/max {spread(rings)} s, "
              f"dial -> answered {spread(setups)} s, "
              f"hang-up -> ended {spread(teardowns)} s")
        for c in m.alcatel:
            wait = f"{c.answered_at - c.dialed_at:.2f} s" if c.answered_at is not None else "never answered"
            print(f"  {c.number} -> 5001: waited {wait}; packets caller tx {c.caller_tx} rx {c.caller_rx}, "
                  f"Alcatel tx {c.alcatel_tx} rx {c.alcatel_rx}")
        print("  instructor's waits in order: " + ", ".join(f"{w:.2f}" for w in m.monitor_waits))
    for what in [*m.registration_failures, *(f"{c.caller} -> {c.callee_number}: {c.failure}" for c in m.neighbour
                                             if c.failure),
                 *(f"{c.number} -> 5001: {c.failure}" for c in m.alcatel if c.failure)]:
        print(f"FAILED: {what}")


if __name__ == "__main__":
    sys.exit(main())
