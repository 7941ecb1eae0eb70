"""How fast does the local lab come up? (issue 2's figures)

    python benchmarks/bench_lab.py [--runs 5] [--install]

Warm start, median of N: ``Pbx.start()`` to Asterisk fully booted, then the
simulated Alcatel started and registered (the whole ``voiplab lab up``), and
``lab down``. With ``--install``, also the one-time ``voiplab pbx install`` into a
fresh cache directory. The bench lab runs on 127.0.0.110-113 with its own state
directory, so a running lab is not disturbed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

TOML = """\
[pbx]
host = "127.0.0.110"
[accounts.alcatel]
address = "127.0.0.111"
[accounts.rpi]
address = "127.0.0.112"
[accounts.guillaume]
address = "127.0.0.113"
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--install", action="store_true", help="also time a one-time 'voiplab pbx install'")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="voiplab-bench-lab-"))
    (tmp / "lab.toml").write_text(TOML)
    os.environ["VOIPLAB_STATE_DIR"] = str(tmp / "state")
    from voiplab.config import load_config
    from voiplab.devices.alcatel import SimulatedAlcatel
    from voiplab.devices.lab import Lab

    if args.install:
        os.environ["VOIPLAB_CACHE_DIR"] = str(tmp / "cache")
        from voiplab.devices.pbx import install_rootfs

        t0 = time.monotonic()
        install_rootfs(progress=lambda s: None)
        print(f"one-time install (mmdebstrap sid + asterisk): {time.monotonic() - t0:.1f} s")
        os.environ.pop("VOIPLAB_CACHE_DIR")
    cfg = load_config(tmp / "lab.toml")
    booted, registered, down = [], [], []
    for _ in range(args.runs):
        lab = Lab(cfg)
        t0 = time.monotonic()
        lab.pbx.start()
        t1 = time.monotonic()
        alcatel = SimulatedAlcatel(cfg, lab_dir=lab.lab_dir)
        alcatel.start()
        t2 = time.monotonic()
        assert any(e.name == "alcatel" and e.contact_address for e in lab.pbx.endpoints())
        lab.down()
        t3 = time.monotonic()
        booted.append(t1 - t0)
        registered.append(t2 - t0)
        down.append(t3 - t2)
    print(f"warm lab up, median of {args.runs} (min-max):")
    for name, values in (("Asterisk fully booted", booted), ("+ simulated Alcatel registered", registered),
                         ("lab down", down)):
        print(f"  {name:32s} {statistics.median(values) * 1000:7.0f} ms  "
              f"({min(values) * 1000:.0f}-{max(values) * 1000:.0f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
