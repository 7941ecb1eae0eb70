"""``voiplab analyze --json`` vs ``tshark -q -z rtp,streams``: wall time, peak memory, equal figures.

Generates (once, in --dir) synthetic captures of 100k and 1M packets in 4 streams with
jitter and loss, runs both tools as whole processes (interpreter start and imports
included) and prints a side-by-side table; exits 1 if any figure differs.

    python benchmarks/bench_rtp.py [--dir ~/.cache/voiplab/bench] [--sizes 100000 1000000] [--repeat 5]

Wall times are best-of-N and median (the machine may be shared). Peak memory comes from
``/usr/bin/time -v`` when present, else from getrusage(RUSAGE_CHILDREN).
Taught in notebook 05 (why numpy over raw records, not a Python object per packet).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from voiplab.capture import synth
from voiplab.paths import cache_dir

TIME_BIN = "/usr/bin/time"
FIGURES = ("min_delta_ms", "mean_delta_ms", "max_delta_ms", "min_jitter_ms", "mean_jitter_ms", "max_jitter_ms")


def measure(cmd: list[str]) -> tuple[float, int, str]:
    """(wall seconds, peak RSS in KB, stdout) of one run of ``cmd``."""
    if os.path.exists(TIME_BIN):
        start = time.perf_counter()
        done = subprocess.run([TIME_BIN, "-v", *cmd], capture_output=True, text=True, check=False)
        wall = time.perf_counter() - start
        match = re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr)
        return wall, int(match.group(1)) if match else -1, done.stdout
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    return wall, max(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, before), done.stdout


def parse_tshark(text: str) -> list[dict[str, str]]:
    rows = []
    for line in text.splitlines():
        f = line.split()
        if len(f) >= 17 and f[6].startswith("0x"):
            lost = f.index(next(x for x in f[9:] if x.startswith("(")))
            rows.append({"src": f[2], "src_port": f[3], "dst": f[4], "dst_port": f[5], "ssrc": f[6],
                         "payload": " ".join(f[7:lost - 2]), "packets": f[lost - 2], "lost": f[lost - 1],
                         **dict(zip(FIGURES, f[lost + 1:lost + 7], strict=True)), "start": f[0], "end": f[1]})
    return rows


def as_text(row: dict) -> dict[str, str]:
    out = {k: str(row[k]) for k in ("src", "src_port", "dst", "dst_port", "ssrc", "payload", "packets", "lost")}
    out.update({k: f"{row[k]:.3f}" for k in FIGURES})
    out.update(start=f"{row['start']:.6f}", end=f"{row['end']:.6f}")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dir", default=str(cache_dir() / "bench"))  # the user's own: never a shared /tmp path
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--repeat", type=int, default=5, help="runs per tool (best and median wall time shown)")
    args = parser.parse_args(argv)
    tshark = shutil.which("tshark")
    voiplab = [sys.executable, "-m", "voiplab"]
    if tshark is None:
        print("tshark is missing: apt-get install tshark", file=sys.stderr)
        return 2
    if os.environ.get("PYTHONDONTWRITEBYTECODE"):
        print("note: PYTHONDONTWRITEBYTECODE is set: every voiplab run compiles its modules again (~0.1 s more "
              "than an installed voiplab); unset it for the figures of a normal installation", file=sys.stderr)
    Path(args.dir).mkdir(parents=True, exist_ok=True)
    print(f"{'packets':>9} {'file MB':>8} | {'voiplab best':>12} {'median':>7} {'MB':>6} | {'tshark best':>11} "
          f"{'median':>7} {'MB':>6} | {'speed-up':>8} {'mem/file':>8} | figures")
    ok = True
    for size in args.sizes:
        path = Path(args.dir) / f"rtp_{size}.pcap"
        if not path.exists():
            packets = synth.synth(size, streams=4, jitter_ms=2.0, loss=0.01, seed=7)
            synth.write_capture(str(path), packets)
        file_mb = path.stat().st_size / 1e6
        ours = [measure([*voiplab, "analyze", str(path), "--json"]) for _ in range(args.repeat)]
        theirs = [measure([tshark, "-n", "-r", str(path), "-q", "-z", "rtp,streams"]) for _ in range(args.repeat)]
        our_wall, our_kb = min(r[0] for r in ours), max(r[1] for r in ours)
        their_wall, their_kb = min(r[0] for r in theirs), max(r[1] for r in theirs)
        our_median = statistics.median(r[0] for r in ours)
        their_median = statistics.median(r[0] for r in theirs)
        mine = [as_text(r) for r in json.loads(ours[0][2])]
        expected = parse_tshark(theirs[0][2])
        same = mine == expected and len(mine) == 4
        ok &= same
        print(f"{size:>9} {file_mb:>8.1f} | {our_wall:>12.3f} {our_median:>7.3f} {our_kb / 1e3:>6.0f} | "
              f"{their_wall:>11.3f} {their_median:>7.3f} {their_kb / 1e3:>6.0f} | {their_wall / our_wall:>7.1f}x "
              f"{our_kb / 1e3 / file_mb:>7.2f}x | {'equal' if same else 'DIFFERENT'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
