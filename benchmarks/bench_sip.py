"""Benchmark: SIP messages parsed per second, voiplab vs tshark, on the same capture.

Builds a pcap of at least 10,000 SIP messages (the lab's messages: real captures from
tests/data when present, else the synthetic Asterisk/pjsua2 call of tests/synthetic_sip.py,
replicated with a different Call-ID per copy), then times in one run:

* voiplab ``SipMessage.parse`` on the payloads (parsing only),
* voiplab ``read_sip`` on the file (pcap reading + UDP/IP decoding + parsing),
* voiplab ``read_sip`` + the typed fields tshark is asked for (method/status, CSeq, Call-ID),
* voiplab ``read_sip`` + every header as a :class:`~voiplab.core.sip.Header` (``message.headers``
  is built on first use, so this is the cost of code that walks all the headers),
* voiplab ``read_sip`` as a whole process (Python start-up, imports, reading), to compare
  with tshark's whole process,
* ``tshark -r F -T fields -e sip.Method -e sip.Status-Code -e sip.CSeq -e sip.Call-ID``
  (whole process, and minus its start-up time measured on a one-message file).

Run: ``python benchmarks/bench_sip.py [--messages 10000] [--repeat 3]``
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from synthetic_sip import Packet, all_packets, write_pcap  # noqa: E402

from voiplab.capture.sipread import read_sip  # noqa: E402
from voiplab.core.flow import split_address  # noqa: E402
from voiplab.core.sip import SipMessage  # noqa: E402

REAL = ["register_401.pcap", "call_rpi_to_alcatel.pcap", "call_alcatel_to_rpi.pcap"]
TSHARK_FIELDS = ["sip.Method", "sip.Status-Code", "sip.CSeq", "sip.Call-ID"]


def template_packets() -> tuple[list[Packet], str]:
    """The messages to replicate: the real captures if recorded, else the synthetic call."""
    real = [ROOT / "tests" / "data" / name for name in REAL if (ROOT / "tests" / "data" / name).exists()]
    if real:
        packets = []
        for path in real:
            for m in read_sip(path):
                src, dst = split_address(m.src), split_address(m.dst)
                packets.append(Packet(m.time, src, dst, bytes(m.message)))
        return packets, "real captures: " + ", ".join(p.name for p in real)
    return all_packets(), "synthetic Asterisk 22 / pjsua2 call (tests/synthetic_sip.py)"


def build(count: int) -> tuple[list[Packet], str]:
    """At least ``count`` packets: copies of the templates, one Call-ID set per copy."""
    templates, origin = template_packets()
    call_ids = sorted({SipMessage.parse(p.payload).call_id or "" for p in templates} - {""})
    packets: list[Packet] = []
    copy = 0
    while len(packets) < count:
        for p in templates:
            payload = p.payload
            for call_id in call_ids:
                payload = payload.replace(call_id.encode(), f"{copy:06d}-{call_id}".encode())
            packets.append(Packet(p.time + copy * 10.0, p.src, p.dst, payload))
        copy += 1
    return packets, origin


def best(function, repeat: int) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    packets, origin = build(args.messages)
    payloads = [p.payload for p in packets]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench_sip.pcap"
        tiny = Path(tmp) / "one.pcap"
        write_pcap(path, packets)
        write_pcap(tiny, packets[:1])
        n = len(packets)
        size = path.stat().st_size
        rows: list[tuple[str, float, int]] = []

        rows.append(
            (
                "voiplab SipMessage.parse (payloads in memory)",
                best(lambda: [SipMessage.parse(p) for p in payloads], args.repeat),
                n,
            )
        )
        found = read_sip(path)
        rows.append(
            (
                "voiplab read_sip (pcap file -> messages)",
                best(lambda: read_sip(path), args.repeat),
                len(found),
            )
        )

        def fields() -> None:
            for m in read_sip(path):
                _ = (m.method or m.status, m.message.cseq, m.call_id)

        rows.append(
            ("voiplab read_sip + method/status, CSeq, Call-ID", best(fields, args.repeat), len(found))
        )

        def every_header() -> None:
            for m in read_sip(path):
                _ = m.message.headers

        rows.append(("voiplab read_sip + every header", best(every_header, args.repeat), len(found)))
        script = "import sys; from voiplab.capture.sipread import read_sip; print(len(read_sip(sys.argv[1])))"

        def run_voiplab() -> None:
            subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True, check=True)

        rows.append(("voiplab read_sip (whole process)", best(run_voiplab, args.repeat), len(found)))
        tshark = shutil.which("tshark")
        if tshark:
            command = [tshark, "-r", str(path), "-Y", "sip", "-T", "fields"]
            for name in TSHARK_FIELDS:
                command += ["-e", name]
            lines = subprocess.run(command, capture_output=True, text=True, check=True).stdout.splitlines()

            def run_tshark(target: Path) -> None:
                subprocess.run([*command[:2], str(target), *command[3:]], capture_output=True, check=True)

            whole = best(lambda: run_tshark(path), args.repeat)
            startup = best(lambda: run_tshark(tiny), args.repeat)
            rows.append(("tshark -T fields (whole process)", whole, len(lines)))
            rows.append(
                (
                    "tshark -T fields (minus start-up on a 1-message file)",
                    max(whole - startup, 1e-9),
                    len(lines),
                )
            )
        else:
            print("tshark not found: only voiplab is timed (apt-get install tshark)")

    print(f"capture: {n} SIP messages, {size} bytes; from {origin}")
    print(f"best of {args.repeat} runs\n")
    width = max(len(r[0]) for r in rows)
    print(f"{'method'.ljust(width)}  {'messages':>8}  {'seconds':>8}  {'messages/s':>11}")
    print(f"{'-' * width}  {'-' * 8}  {'-' * 8}  {'-' * 11}")
    for name, seconds, messages in rows:
        print(f"{name.ljust(width)}  {messages:>8}  {seconds:>8.3f}  {messages / seconds:>11,.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
