"""Benchmark the voiplab softphone against SIPp, on a private Asterisk (127.0.0.90).

Measures, on an isolated lab (its own state dir, PBX at 127.0.0.90, extra accounts
on 127.0.1.x, so the shared lab at 127.0.0.80 is not disturbed):

1. REGISTER: median time over 20 runs for voiplab (``Phone()`` start -> registered,
   and ``register()`` alone) and SIPp (``sipp_register.xml``: REGISTER, 401,
   REGISTER with digest, 200 OK).
2. INVITE -> CONFIRMED: median over 20 calls to 5003 (Asterisk's Answer(500)
   answers the caller) for voiplab and SIPp (``sipp_call.xml``).
3. Concurrent calls through Asterisk: 10, 30 and 100 calls at once (25 caller
   phones, 25 auto-answering callee phones, up to 4 calls per phone process),
   held 4 s with RTP both ways; success rate and CPU of the agents and Asterisk.

Goals: voiplab <= 2x SIPp's median; 100 concurrent calls with 0 failures.

    /tmp/venv/bin/python benchmarks/bench_phone.py [--quick]

Taught nowhere: this is for maintainers (see the README's "Performance" section).
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
PBX_HOST = "127.0.0.90"
N_PHONES = 25  # caller phones and callee phones (each): 4 calls per phone at 100 calls


def lab_toml(tmp: Path) -> Path:
    lines = [
        "[pbx]", f'host = "{PBX_HOST}"', "ami_port = 5039", "rtp_port_min = 20000", "rtp_port_max = 24999", "",
        '[accounts.rpi]', 'address = "127.0.1.82"', "",
        '[accounts.guillaume]', 'address = "127.0.1.83"', "",
        '[accounts.alcatel]', 'address = "127.0.1.81"', "",
        '[accounts.sippreg]', 'number = "6999"', 'password = "sipp-secret"', 'address = "127.0.1.99"', "",
    ]
    for i in range(1, N_PHONES + 1):
        lines += [f"[accounts.c{i:02d}]", f'number = "70{i:02d}"', f'password = "caller{i:02d}pw"',
                  f'address = "127.0.1.{100 + i}"', "",
                  f"[accounts.d{i:02d}]", f'number = "80{i:02d}"', f'password = "callee{i:02d}pw"',
                  f'address = "127.0.1.{150 + i}"', ""]
    path = tmp / "lab.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def asterisk_pids(pbx) -> list[int]:
    root = pbx.pid()
    if root is None:
        return []
    out = subprocess.run(["pgrep", "-f", "asterisk -C"], capture_output=True, text=True, check=False).stdout.split()
    return [int(p) for p in out] or [root]


def median_ms(values: list[float]) -> float:
    return statistics.median(values) * 1000 if values else float("nan")


def bench_register(cfg, runs: int) -> tuple[list[float], list[float]]:
    from voiplab.devices.phone import Phone

    start_to_reg, reg_only = [], []
    for _ in range(runs):
        t0 = time.perf_counter()
        p = Phone("rpi", cfg, record=False)
        t1 = time.perf_counter()
        p.register()
        t2 = time.perf_counter()
        start_to_reg.append(t2 - t0)
        reg_only.append(t2 - t1)
        p.close()
    return start_to_reg, reg_only


def bench_invite(cfg, runs: int) -> list[float]:
    from voiplab.devices.phone import Phone

    times = []
    with Phone("rpi", cfg, record=False) as rpi:
        rpi.register()
        for _ in range(runs):
            t0 = time.perf_counter()
            call = rpi.call("5003")
            call.wait("CONFIRMED", timeout=5)
            times.append(time.perf_counter() - t0)
            # the agent's own clock: INVITE sent -> 200 OK received
            call.hangup()
            call.wait("DISCONNECTED", timeout=5)
    return times


def sipp_rtd(scenario: str, service: str, user: str, password: str, local_ip: str, runs: int,
             tmp: Path, extra: list[str] | None = None) -> list[float]:
    """Run a SIPp scenario ``runs`` times (one call at a time); return the RTD samples in seconds."""
    sipp = shutil.which("sipp")
    if sipp is None:
        return []
    workdir = tmp / f"sipp-{Path(scenario).stem}"
    workdir.mkdir(exist_ok=True)
    cmd = [sipp, "-sf", str(HERE / scenario), "-s", service, "-au", user, "-ap", password, "-i", local_ip,
           "-p", "5070", "-mi", local_ip, "-mp", "16000", "-m", str(runs), "-l", "1", "-r", "50",
           "-trace_rtt", "-rtt_freq", "1", "-nostdin", "-timeout", "60s",
           *(extra or []), f"{PBX_HOST}:5060"]
    subprocess.run(cmd, cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=90, check=False)
    samples = []
    for f in workdir.glob("*_rtt.csv"):
        for line in f.read_text().splitlines()[1:]:
            parts = line.split(";")
            if len(parts) >= 2:
                try:
                    samples.append(float(parts[1]) / 1000.0)
                except ValueError:
                    pass
        f.unlink()
    return samples


def wire_times(pcap: Path, method: str) -> dict[str, list[float]]:
    """From a capture: per client IP, the first ``method`` request -> its final 200 OK, per Call-ID."""
    out = subprocess.run(
        ["tshark", "-n", "-r", str(pcap), "-Y", "sip", "-T", "fields", "-E", "separator=;",
         "-e", "frame.time_epoch", "-e", "ip.src", "-e", "ip.dst", "-e", "sip.Call-ID", "-e", "sip.Method",
         "-e", "sip.Status-Code", "-e", "sip.CSeq.method"], capture_output=True, text=True, check=False).stdout
    first: dict[str, tuple[float, str]] = {}
    result: dict[str, list[float]] = {}
    for line in out.splitlines():
        t, src, dst, cid, meth, status, cseq_method = (line.split(";") + [""] * 7)[:7]
        if meth == method and cid not in first:
            first[cid] = (float(t), src)
        elif status == "200" and cseq_method == method and cid in first and first[cid][1] == dst:
            t0, client = first.pop(cid)
            result.setdefault(client, []).append(float(t) - t0)
    return result


def bench_concurrent(cfg, n_calls: int, hold_s: float, pbx) -> dict[str, float]:
    from voiplab.devices.phone import Phone

    callers = [Phone(f"c{i:02d}", cfg, record=False, audio="tone:440") for i in range(1, N_PHONES + 1)]
    callees = [Phone(f"d{i:02d}", cfg, record=False, audio="tone:1000",
                     on_incoming=lambda call: call.answer()) for i in range(1, N_PHONES + 1)]
    phones = callers + callees
    try:
        for p in phones:
            p.register()
        pids = [p.pid for p in phones] + asterisk_pids(pbx)
        cpu0 = {pid: cpu_seconds(pid) for pid in pids}
        t0 = time.perf_counter()
        calls = []
        for k in range(n_calls):
            caller = callers[k % N_PHONES]
            callee = callees[(k // N_PHONES + k) % N_PHONES]
            calls.append(caller.call(callee.number))
        ok_setup = 0
        for c in calls:
            try:
                c.wait("CONFIRMED", timeout=10)
                ok_setup += 1
            except Exception as e:  # noqa: BLE001 - counted as a failure
                print("setup failed:", e, file=sys.stderr)
        time.sleep(hold_s)
        live = sum(1 for c in calls if c.state == "CONFIRMED")
        for c in calls:
            try:
                c.hangup()
            except Exception as e:  # noqa: BLE001
                print("hangup failed:", e, file=sys.stderr)
        wall = time.perf_counter() - t0
        ok = 0
        for c in calls:
            try:
                c.wait("DISCONNECTED", timeout=10)
                st = c.stats()
                if c.confirmed_at is not None and st.get("rx_packets", 0) > 0 and c.status in (200, None):
                    ok += 1
            except Exception as e:  # noqa: BLE001
                print("teardown failed:", e, file=sys.stderr)
        cpu_agents = sum(cpu_seconds(p.pid) - cpu0.get(p.pid, 0.0) for p in phones)
        ast = asterisk_pids(pbx)
        cpu_ast = sum(cpu_seconds(pid) - cpu0.get(pid, 0.0) for pid in ast)
        return {"calls": n_calls, "setup_ok": ok_setup, "held": live, "ok": ok,
                "agents_cpu_pct": 100 * cpu_agents / wall, "asterisk_cpu_pct": 100 * cpu_ast / wall, "wall_s": wall}
    finally:
        for p in phones:
            p.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="5 runs and 10/30 calls only")
    parser.add_argument("--keep", action="store_true", help="leave the private Asterisk running")
    args = parser.parse_args()
    runs = 5 if args.quick else 20
    tmp = Path(tempfile.mkdtemp(prefix="voiplab-bench-phone-"))
    os.environ["VOIPLAB_STATE_DIR"] = str(tmp / "state")
    from voiplab.config import load_config
    from voiplab.devices.pbx import Pbx

    cfg = load_config(lab_toml(tmp))
    pbx = Pbx(cfg, lab_dir=tmp / "state" / "lab")
    pbx.start()
    try:
        from voiplab.devices.phone import Phone

        callee = Phone("guillaume", cfg, record=False, on_incoming=lambda c: c.answer())
        callee.register()
        pcap = tmp / "wire.pcap"
        dump = subprocess.Popen(["tcpdump", "-i", "lo", "-w", str(pcap), "-U", "udp", "port", "5060", "and",
                                 "host", PBX_HOST], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.5)
        start_to_reg, reg_only = bench_register(cfg, runs)
        sipp_reg = sipp_rtd("sipp_register.xml", "sippreg", "sippreg", "sipp-secret", "127.0.1.99", runs, tmp)
        invite = bench_invite(cfg, runs)
        sipp_inv = sipp_rtd("sipp_call.xml", "5003", "sippreg", "sipp-secret", "127.0.1.99", runs, tmp,
                            ["-key", "caller", "sippreg"])
        callee.close()
        time.sleep(0.5)
        dump.terminate()
        dump.wait(5)
        wire_reg = wire_times(pcap, "REGISTER")
        wire_inv = wire_times(pcap, "INVITE")
        print(f"\nvoiplab softphone vs SIPp, private Asterisk at {PBX_HOST}, {runs} runs each (median, ms)")
        print(f"{'measure':<38}{'voiplab':>10}{'SIPp':>10}{'ratio':>8}")
        ours_ip, sipp_ip = cfg.account("rpi").address, "127.0.1.99"
        rows = [("wire: REGISTER -> 200 OK (401 incl.)", median_ms(wire_reg.get(ours_ip, [])),
                 median_ms(wire_reg.get(sipp_ip, []))),
                ("wire: INVITE -> 200 OK (401 incl.)", median_ms(wire_inv.get(ours_ip, [])),
                 median_ms(wire_inv.get(sipp_ip, []))),
                ("API: register() / SIPp RTD (1 ms res.)", median_ms(reg_only), median_ms(sipp_reg)),
                ("API: call() -> CONFIRMED / SIPp RTD", median_ms(invite), median_ms(sipp_inv)),
                ("API: Phone() start -> registered", median_ms(start_to_reg), float("nan"))]
        for name, ours, theirs in rows:
            ratio = ours / theirs if not math.isnan(theirs) and theirs > 0 else float("nan")
            print(f"{name:<38}{ours:>10.2f}{theirs:>10.2f}{ratio:>8.2f}")
        print(f"\nconcurrent calls (rpi-like callers -> auto-answering callees, {N_PHONES}+{N_PHONES} phone "
              "processes, held 4 s, direct media)")
        print(f"{'calls':>6}{'set up':>8}{'ok':>6}{'fail':>6}{'agents CPU%':>13}{'Asterisk CPU%':>15}{'wall s':>8}")
        for n in (10, 30) if args.quick else (10, 30, 100):
            r = bench_concurrent(cfg, n, 4.0, pbx)
            print(f"{r['calls']:>6}{r['setup_ok']:>8}{r['ok']:>6}{n - r['ok']:>6}{r['agents_cpu_pct']:>13.1f}"
                  f"{r['asterisk_cpu_pct']:>15.1f}{r['wall_s']:>8.1f}")
    finally:
        if not args.keep:
            pbx.stop()
            if not os.environ.get("BENCH_KEEP_TMP"):
                shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
