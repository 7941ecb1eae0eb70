"""Captures from the wild (issue 11): voiplab vs tshark side by side, and the linear-time checks.

    python benchmarks/bench_wild.py [--dir ~/.cache/voiplab/bench-wild] [--repeat 5] [--only small,sipp,tcp,folded]

Prints, in one run:

* **small**: a capture of about 100 packets (the lab's REGISTER and call, cut at 100 frames):
  ``voiplab analyze`` and ``voiplab flow`` as whole processes (interpreter start-up and imports
  included) next to ``tshark -z rtp,streams`` and ``tshark -Y sip -T fields``; best and median of N.
* **sipp**: a SIPp load run against a private Asterisk (this recipe records it: its own
  lab.toml on 127.0.11.x, SIPp's ``sipp_call.xml`` with digest authentication, tcpdump on lo),
  then ``voiplab flow --json`` vs ``tshark -Y sip -T fields`` on its first 10% and on all of it
  (10x the messages: voiplab's time ratio should stay <= ~12).
* **tcp**: SIP over TCP, one stream of many 8 KB messages cut in 1,400-byte segments,
  3 MB and 6 MB: ``read_sip`` time (2x input -> ~2x time) next to tshark.
* **folded**: one SIP message with a folded header of 1 MB and 2 MB (continuation lines of
  64 bytes) sent over TCP: ``read_sip`` time (2x -> ~2x).

For 1M RTP packets (speed-up and memory per file size) see bench_rtp.py. Wall times are
best-of-N (the machine may be shared); whole-process peak memory from ``/usr/bin/time -v``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from voiplab.paths import cache_dir

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "tests"))

TIME_BIN = "/usr/bin/time"
#: the private lab of the SIPp run (never the default lab's 127.0.0.80-83)
SIPP_PBX = "127.0.11.80"
SIPP_CLIENT = "127.0.11.99"
SIPP_TOML = f"""\
[pbx]
host = "{SIPP_PBX}"
ami_port = 5041
rtp_port_min = 26000
rtp_port_max = 26999
[accounts.alcatel]
address = "127.0.11.81"
[accounts.rpi]
address = "127.0.11.82"
[accounts.guillaume]
address = "127.0.11.83"
[accounts.sippreg]
number = "6999"
password = "sipp-secret"
address = "{SIPP_CLIENT}"
"""


def wall(command: list[str], repeat: int) -> tuple[float, float]:
    """(best, median) wall seconds of a whole process."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        times.append(time.perf_counter() - start)
    return min(times), statistics.median(times)


def best(function: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def row(name: str, ours: float, theirs: float | None, extra: str = "") -> None:
    ratio = f"{ours / theirs:6.2f}x" if theirs else "   -   "
    shown = f"{theirs:9.3f}" if theirs is not None else "        -"
    print(f"{name:<52} {ours:9.3f} {shown}  {ratio}  {extra}")


def header(title: str) -> None:
    print(f"\n== {title}")
    print(f"{'':<52} {'voiplab':>9} {'tshark':>9}  {'v/t':>7}")


# ---------------------------------------------------------------- small capture, whole process
def bench_small(directory: Path, repeat: int, tshark: str) -> None:
    from voiplab.teach.samples import sample_capture

    path = directory / "small_100.pcap"
    subprocess.run(["editcap", "-r", str(sample_capture("call_rpi_to_alcatel")), str(path), "1-100"], check=True,
                   stdout=subprocess.DEVNULL)
    voiplab = [sys.executable, "-m", "voiplab"]
    header(f"100-packet capture ({path.stat().st_size} bytes), whole process, best / median of {repeat}")
    ours = wall([*voiplab, "analyze", str(path)], repeat)
    theirs = wall([tshark, "-n", "-r", str(path), "-q", "-z", "rtp,streams"], repeat)
    row("analyze vs tshark -z rtp,streams (best)", ours[0], theirs[0])
    row("analyze vs tshark -z rtp,streams (median)", ours[1], theirs[1])
    ours = wall([*voiplab, "flow", str(path)], repeat)
    fields = [tshark, "-n", "-r", str(path), "-Y", "sip", "-T", "fields", "-e", "frame.number", "-e", "sip.Method",
              "-e", "sip.Status-Code", "-e", "sip.CSeq", "-e", "sip.Call-ID"]
    theirs = wall(fields, repeat)
    row("flow vs tshark -Y sip -T fields (best)", ours[0], theirs[0])
    row("flow vs tshark -Y sip -T fields (median)", ours[1], theirs[1])


# ---------------------------------------------------------------- SIPp against a private Asterisk
def record_sipp(directory: Path, calls: int) -> Path:
    """The recipe of the SIPp capture: a private Asterisk, SIPp's call scenario, tcpdump on lo."""
    path = directory / f"sipp_{calls}_calls.pcap"
    if path.exists():
        return path
    state = directory / "sipp-state"
    (directory / "lab.toml").write_text(SIPP_TOML)
    os.environ["VOIPLAB_STATE_DIR"] = str(state)
    os.environ["VOIPLAB_CONFIG"] = str(directory / "lab.toml")
    from voiplab.config import load_config
    from voiplab.devices.pbx import Pbx

    config = load_config(directory / "lab.toml")
    pbx = Pbx(config, lab_dir=state / "lab")
    pbx.start()
    partial = directory / "sipp.partial.pcap"
    dump = subprocess.Popen(["tcpdump", "-i", "lo", "-U", "-w", str(partial), "udp", "port", "5060", "and", "host",
                             SIPP_PBX], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(1.0)
        workdir = directory / "sipp-run"
        workdir.mkdir(exist_ok=True)
        subprocess.run(["sipp", "-sf", str(HERE / "sipp_call.xml"), "-s", "5003", "-au", "sippreg", "-ap",
                        "sipp-secret", "-key", "caller", "sippreg", "-i", SIPP_CLIENT, "-p", "5070", "-mi",
                        SIPP_CLIENT, "-mp", "16000", "-m", str(calls), "-l", "40", "-r", "80", "-nostdin",
                        "-timeout", "300s", f"{SIPP_PBX}:5060"], cwd=workdir, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=600, check=False)
        time.sleep(1.0)
    finally:
        dump.terminate()
        dump.wait(10)
        pbx.stop()
    partial.rename(path)
    return path


def bench_sipp(directory: Path, repeat: int, tshark: str, calls: int) -> None:
    from voiplab.capture.sipread import read_sip

    full = record_sipp(directory, calls)
    messages = len(read_sip(full))
    frames = int(subprocess.run(["capinfos", "-c", "-M", str(full)], capture_output=True, text=True,
                                check=True).stdout.split()[-1])
    tenth = directory / "sipp_tenth.pcap"
    subprocess.run(["editcap", "-r", str(full), str(tenth), f"1-{frames // 10}"], check=True,
                   stdout=subprocess.DEVNULL)
    header(f"SIPp run against a private Asterisk: {messages} SIP messages ({full.name}), best of {repeat}")
    times = {}
    for label, path in (("1/10", tenth), ("all", full)):
        count = len(read_sip(path))
        ours = wall([sys.executable, "-m", "voiplab", "flow", str(path), "--json"], repeat)[0]
        theirs = wall([tshark, "-n", "-r", str(path), "-Y", "sip", "-T", "fields", "-e", "frame.number", "-e",
                       "sip.Method", "-e", "sip.Status-Code", "-e", "sip.CSeq", "-e", "sip.Call-ID"], repeat)[0]
        times[label] = ours
        row(f"flow --json, {label} ({count} messages)", ours, theirs)
    print(f"time ratio all / (1/10): {times['all'] / times['1/10']:.1f} (10x the messages; linear: <= ~12)")


# ---------------------------------------------------------------- SIP over TCP, folded headers
def tcp_capture(path: Path, total_bytes: int, *, folded: int = 0) -> Path:
    """SIP over TCP: MESSAGE requests of 8 KB bodies until ``total_bytes``, or (``folded``) one
    request whose Subject header is folded into ``folded`` bytes of 64-byte continuation lines."""
    import wild_captures
    from scapy.layers.inet import IP, TCP
    from scapy.layers.l2 import Ether
    from scapy.packet import Raw
    from scapy.utils import PcapWriter

    from voiplab.core.sip import SipMessage

    def message(number: int, body: bytes, extra: list[tuple[str, str]]) -> bytes:
        return bytes(SipMessage.request("MESSAGE", "sip:5001@10.1.0.80", [
            ("Via", f"SIP/2.0/TCP 10.1.0.81:5060;branch=z9hG4bK{number}"), ("From", "<sip:5002@10.1.0.80>;tag=a"),
            ("To", "<sip:5001@10.1.0.80>"), ("Call-ID", f"tcp-{number}"), ("CSeq", f"{number} MESSAGE"), *extra,
            ("Content-Type", "text/plain")], body))

    if folded:
        line = "x" * 62
        value = "start" + "".join(f"\r\n {line}" for _ in range(folded // 64))
        stream = message(1, b"", [("Subject", value)])
    else:
        pieces, number = [], 0
        while sum(map(len, pieces)) < total_bytes:
            number += 1
            pieces.append(message(number, b"b" * 8192, []))
        stream = b"".join(pieces)
    writer = PcapWriter(str(path), linktype=1, sync=False)
    seq, t = 1000, wild_captures.T0
    mac = {"src": wild_captures.MAC_A, "dst": wild_captures.MAC_B}
    syn = Ether(**mac) / IP(src="10.1.0.81", dst="10.1.0.80") / TCP(sport=5060, dport=5060, seq=seq - 1, flags="S")
    syn.time = t
    writer.write(syn)
    for k in range(0, len(stream), 1400):
        chunk = stream[k:k + 1400]
        packet = Ether(**mac) / IP(src="10.1.0.81", dst="10.1.0.80") / TCP(sport=5060, dport=5060, seq=seq,
                                                                           flags="PA") / Raw(chunk)
        t += 1e-5
        packet.time = t
        writer.write(packet)
        seq += len(chunk)
    writer.close()
    return path


def bench_tcp(directory: Path, repeat: int, tshark: str, folded: bool) -> None:
    from voiplab.capture.sipread import read_sip

    sizes = (1 << 20, 2 << 20) if folded else (3 << 20, 6 << 20)
    title = "one message, a folded header of" if folded else "SIP over TCP, a stream of"
    header(f"{title} 1x and 2x: read_sip (in process) vs tshark -Y sip (whole process), best of {repeat}")
    times = []
    for size in sizes:
        path = directory / (f"folded_{size >> 20}MB.pcap" if folded else f"tcp_{size >> 20}MB.pcap")
        if not path.exists():
            tcp_capture(path, size, folded=size if folded else 0)
        count = len(read_sip(path))
        ours = best(lambda path=path: read_sip(path), repeat)
        theirs = wall([tshark, "-n", "-r", str(path), "-Y", "sip", "-T", "fields", "-e", "sip.CSeq"], 1)[0]
        times.append(ours)
        row(f"{size >> 20} MB ({count} messages)", ours, theirs)
    print(f"time ratio 2x / 1x: {times[1] / times[0]:.2f} (linear: ~2)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", default=str(cache_dir() / "bench-wild"))  # the user's own: never a shared /tmp path
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--calls", type=int, default=1000, help="SIPp calls (about 10 SIP messages each)")
    parser.add_argument("--only", default="small,sipp,tcp,folded")
    args = parser.parse_args(argv)
    tshark = shutil.which("tshark")
    if tshark is None:
        print("tshark is missing: apt-get install tshark", file=sys.stderr)
        return 2
    if os.environ.get("PYTHONDONTWRITEBYTECODE"):
        print("note: PYTHONDONTWRITEBYTECODE is set: every voiplab run compiles its modules again (~0.1 s more "
              "than an installed voiplab); unset it for the figures of a normal installation", file=sys.stderr)
    directory = Path(args.dir)
    directory.mkdir(parents=True, exist_ok=True)
    only = set(args.only.split(","))
    if "small" in only:
        bench_small(directory, args.repeat, tshark)
    if "sipp" in only:
        if shutil.which("sipp") is None or shutil.which("tcpdump") is None:
            print("\n== SIPp run skipped: sipp and tcpdump are needed (apt-get install sip-tester tcpdump)")
        else:
            bench_sipp(directory, args.repeat, tshark, args.calls)
    if "tcp" in only:
        bench_tcp(directory, args.repeat, tshark, folded=False)
    if "folded" in only:
        bench_tcp(directory, args.repeat, tshark, folded=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
