"""Soak: many consecutive recorded calls rpi <-> Alcatel while every core is kept busy.

Each call is recorded with a live capture (root, or capture rights) and classified: does the
capture hold **both direct streams** (Alcatel -> rpi and rpi -> Alcatel, phone to phone,
after Asterisk's direct-media re-INVITEs)? Direct media must happen every time: a call
whose RTP stays relayed by the PBX is a failure (issue 10).

    python benchmarks/bench_soak.py --calls 200            # the acceptance run (~15 min)
    python benchmarks/bench_soak.py --calls 20 --no-load   # a quick look

Prints one line per failed call (its capture is kept) and a summary: calls, failures,
median/p95 time per call, the load applied.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import shutil
import statistics
import sys
import time
from pathlib import Path

import voiplab as vl
from voiplab.paths import cache_dir


def _burn(stop: multiprocessing.synchronize.Event) -> None:  # type: ignore[name-defined]
    """Keep one core busy until told to stop."""
    x = 0
    while not stop.is_set():
        for _ in range(100_000):
            x = (x * 1103515245 + 12345) & 0x7FFFFFFF


def direct_streams(exp: vl.Experiment, config: vl.LabConfig) -> tuple[bool, bool]:
    """Whether the capture holds Alcatel -> rpi and rpi -> Alcatel, phone to phone."""
    alcatel, rpi = config.account("alcatel").address, config.account("rpi").address
    pairs = {(s.src, s.dst) for s in exp.stream_stats}
    return (alcatel, rpi) in pairs, (rpi, alcatel) in pairs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=1.5, help="conversation time of each call")
    parser.add_argument("--no-load", action="store_true", help="do not keep the cores busy")
    parser.add_argument("--keep", type=Path, default=cache_dir() / "soak-failures",
                        help="where the captures of failed calls are copied")
    args = parser.parse_args(argv)
    if not vl.capture_methods():
        print("this benchmark records each call: run it as root or with capture rights", file=sys.stderr)
        return 1
    lab = vl.start_lab()
    cores = 0 if args.no_load else (os.cpu_count() or 1)
    stop = multiprocessing.Event()
    burners = [multiprocessing.Process(target=_burn, args=(stop,), daemon=True) for _ in range(cores)]
    for b in burners:
        b.start()
    times: list[float] = []
    failures = 0
    try:
        for i in range(1, args.calls + 1):
            t0 = time.monotonic()
            if i % 2:
                exp = vl.record_call(lab, caller="rpi", number="5001", seconds=args.seconds, capture=True)
            else:
                exp = vl.record_incoming_call(lab, from_="alcatel", to="rpi", seconds=args.seconds, capture=True)
            times.append(time.monotonic() - t0)
            a_to_r, r_to_a = direct_streams(exp, lab.config)
            if not (a_to_r and r_to_a):
                failures += 1
                args.keep.mkdir(parents=True, exist_ok=True)
                kept = args.keep / f"call{i:03d}.pcap"
                if exp.pcap is not None:
                    shutil.copy(exp.pcap, kept)
                print(f"call {i}: direct alcatel->rpi {a_to_r}, rpi->alcatel {r_to_a}; capture {kept}", flush=True)
            elif i % 20 == 0:
                print(f"{i} calls, {failures} without both direct streams", flush=True)
    finally:
        stop.set()
        for b in burners:
            b.join(timeout=5)
    p95 = sorted(times)[int(0.95 * (len(times) - 1))]
    print(f"\n{len(times)} recorded calls (alternately rpi -> 5001 and Alcatel -> 5002), {cores} busy cores: "
          f"{failures} without both direct streams; {statistics.median(times):.2f} s per call (median), "
          f"{p95:.2f} s (p95)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
