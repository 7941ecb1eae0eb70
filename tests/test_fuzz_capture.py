"""A bounded fuzz of the capture readers: mutated captures end in a result or a CaptureError, fast.

Thousands of mutations of the lab's captures (as pcap and as pcapng) and of the captures of
tests/data/wild (SIP over TCP, fragments, tunnels, Asterisk over TCP): every truncation of a
small capture, every length field of every record and block set to its extremes, the clock
options of the interface at theirs, and 2,000 seeded random mutations (bytes changed,
inserted, removed, blocks repeated). Each file goes through what ``voiplab analyze
--heuristic`` and ``voiplab flow`` do, in a worker process with a deadline per file: a run
must end within :data:`DEADLINE_S` seconds with a result or a
:class:`~voiplab.errors.CaptureError` (a warning is fine). A hang, a crash of the worker or
any other exception fails the test and names the file (kept in pytest's temporary directory).
"""

from __future__ import annotations

import json
import os
import random
import select
import struct
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from capture_files import epb, idb, shb

from voiplab.capture.pcap import LINKTYPE_ETHERNET, read_packets
from voiplab.teach.samples import sample_capture

pytestmark = pytest.mark.fuzz

DEADLINE_S = 2.0
RANDOM_MUTATIONS = 2000
#: captures of tests/data/wild mutated too: TCP reassembly, fragments, tunnels, a recorded Asterisk
WILD_DIR = Path(__file__).parent / "data" / "wild"
WILD_SOURCES = ("tcp_5060", "tcp_port_5070", "ipv4_fragments", "ipv6_rtp_fragments", "gre", "pppoe",
                "gtp_u_5g_ipv6", "vxlan", "geneve", "erspan_iii_ipv6", "asterisk_tcp")
#: values every length field is set to (with the true length minus and plus one)
EXTREMES = (0, 1, 3, 4, 11, 12, 15, 16, 20, 27, 28, 31, 32, 0xFFFF, 0x10000, 0x3FFFF, 0x40001, 0x7FFFFFFF,
            0x80000000, 0xFFFFFFFC, 0xFFFFFFFF)
TSRESOL_EXTREMES = (0, 9, 10, 19, 20, 63, 127, 0x80, 0x80 | 32, 0x80 | 63, 0x80 | 64, 0xFF)
TSOFFSET_EXTREMES = (-(1 << 63), -(1 << 40), -1, 1 << 33, 1 << 40, (1 << 63) - 1)

WORKER = r"""
import json, sys, warnings
warnings.simplefilter("ignore")
from voiplab.capture.sipread import read_sip_capture
from voiplab.capture.streams import analyze
from voiplab.errors import CaptureError
print("ready", flush=True)
for line in sys.stdin:
    path = line.strip()
    try:
        rows = analyze(path, heuristic=True)
        flow = read_sip_capture(path).flow()
        flow.to_dict()
        answer = {"result": "ok", "detail": f"{len(rows)} streams, {len(flow.entries)} messages"}
    except CaptureError as error:
        answer = {"result": "CaptureError", "detail": str(error)}
    except BaseException as error:  # noqa: BLE001  (reported to the test, which fails)
        answer = {"result": "error", "detail": f"{type(error).__name__}: {error}"}
    print(json.dumps(answer), flush=True)
"""


class Worker:
    """A Python process that reads captures one by one; each answer must come before the deadline."""

    def __init__(self) -> None:
        self.process = subprocess.Popen([sys.executable, "-c", WORKER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=subprocess.DEVNULL, text=True, bufsize=1)
        assert self._line(30.0) == "ready"

    def _line(self, timeout: float) -> str | None:
        assert self.process.stdout is not None
        ready, _, _ = select.select([self.process.stdout], [], [], timeout)
        if not ready:
            return None
        return self.process.stdout.readline().strip()

    def run(self, path: Path) -> dict[str, str]:
        assert self.process.stdin is not None
        self.process.stdin.write(f"{path}\n")
        self.process.stdin.flush()
        line = self._line(DEADLINE_S)
        if line is None:
            return {"result": "timeout", "detail": f"no answer within {DEADLINE_S} s"}
        if not line:
            return {"result": "crash", "detail": f"the worker died (exit status {self.process.wait()})"}
        answer: dict[str, str] = json.loads(line)
        return answer

    def close(self) -> None:
        self.process.kill()
        self.process.wait()


def pcapng_of(path: Path) -> bytes:
    """The same packets as a pcapng file (one Ethernet interface, µs clock)."""
    blocks = shb() + idb(LINKTYPE_ETHERNET, tsresol=6)
    for packet in read_packets(path):
        blocks += epb(0, round(packet.time * 1e6), packet.data)
    return blocks


def pcap_records(data: bytes) -> Iterator[int]:
    """The offsets of the record headers of a little-endian pcap file."""
    at = 24
    while at + 16 <= len(data):
        yield at
        at += 16 + struct.unpack_from("<I", data, at + 8)[0]


def pcapng_blocks(data: bytes) -> Iterator[tuple[int, int, int]]:
    """(offset, type, length) of each block of a little-endian pcapng file."""
    at = 0
    while at + 12 <= len(data):
        kind, length = struct.unpack_from("<II", data, at)
        yield at, kind, length
        at += length


def with_u32(data: bytes, at: int, value: int) -> bytes:
    return data[:at] + struct.pack("<I", value) + data[at + 4:]


def length_extremes(pcap: bytes, pcapng: bytes) -> Iterator[tuple[str, bytes]]:
    """Every length field of every record and block, at each extreme."""
    for at in pcap_records(pcap):
        true_length = struct.unpack_from("<I", pcap, at + 8)[0]
        for field_at in (at + 8, at + 12):  # captured, original
            for value in {*EXTREMES, true_length - 1, true_length + 1}:
                yield f"pcap@{field_at}={value}", with_u32(pcap, field_at, value % (1 << 32))
    for at, kind, length in pcapng_blocks(pcapng):
        fields = [at + 4, at + length - 4]  # block length, and its copy at the end
        if kind == 6:
            fields += [at + 20, at + 24]  # captured, original
        for field_at in fields:
            for value in {*EXTREMES, length - 1, length + 1, length - 4, length + 4}:
                yield f"pcapng@{field_at}={value}", with_u32(pcapng, field_at, value % (1 << 32))
    # the interface's clock at its extremes
    head = shb()
    rest = pcapng[len(head) + len(idb(LINKTYPE_ETHERNET, tsresol=6)):]
    for resolution in TSRESOL_EXTREMES:
        yield f"tsresol={resolution}", head + idb(LINKTYPE_ETHERNET, tsresol=resolution) + rest
    for offset in TSOFFSET_EXTREMES:
        yield f"tsoffset={offset}", head + idb(LINKTYPE_ETHERNET, tsresol=6, tsoffset=offset) + rest


def random_mutations(sources: list[bytes], count: int, seed: int = 11) -> Iterator[tuple[str, bytes]]:
    """Seeded random mutations: bytes changed, inserted or removed, a piece repeated or cut out."""
    rng = random.Random(seed)
    for number in range(count):
        data = bytearray(sources[number % len(sources)])
        for _ in range(rng.randint(1, 8)):
            kind = rng.randrange(6)
            at = rng.randrange(len(data)) if data else 0
            if kind == 0:
                data[at:at + 1] = bytes([rng.randrange(256)])
            elif kind == 1:
                data[at:at + 4] = rng.choice([b"\0\0\0\0", b"\xff\xff\xff\xff", b"\x0c\0\0\0", b"\x1c\0\0\0",
                                              struct.pack("<I", rng.randrange(1 << 32))])
            elif kind == 2:
                data[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
            elif kind == 3:
                del data[at:at + rng.randint(1, 64)]
            elif kind == 4:
                size = rng.randint(1, 200)
                data[at:at] = data[at:at + size] * rng.randint(1, 5)
            else:
                data = data[:at]
        yield f"random-{number}", bytes(data)


def test_mutated_captures_end_in_a_result_or_a_capture_error(tmp_path: Path) -> None:
    """Does every mutated capture (every truncation of a small one, every length field at its
    extremes, the interface's clock at its extremes, 2,000 random mutations) end within 2 s in a
    result or a CaptureError, never a hang, a crash or another exception?"""
    register = sample_capture("register_401").read_bytes()
    register_ng = pcapng_of(sample_capture("register_401"))
    calls = [sample_capture(name).read_bytes() for name in ("call_rpi_to_alcatel", "call_alcatel_to_rpi")]
    cases: list[tuple[str, bytes]] = [(f"cut-ng-{n}", register_ng[:n]) for n in range(len(register_ng) + 1)]
    cases += [(f"cut-{n}", register[:n]) for at in pcap_records(register) for n in range(at - 2, at + 20)]
    cases += list(length_extremes(register, register_ng))
    wild = [(WILD_DIR / f"{name}.pcap").read_bytes() for name in WILD_SOURCES]
    cases += list(random_mutations([register, register_ng, *calls, pcapng_of(sample_capture("call_rpi_to_alcatel")),
                                    *wild], RANDOM_MUTATIONS))
    worker = Worker()
    failures: list[str] = []
    outcomes: dict[str, int] = {}
    path = tmp_path / "case"
    try:
        for name, data in cases:
            path.write_bytes(data)
            answer = worker.run(path)
            outcomes[answer["result"]] = outcomes.get(answer["result"], 0) + 1
            if answer["result"] not in ("ok", "CaptureError"):
                kept = tmp_path / f"failed-{name}"
                kept.write_bytes(data)
                failures.append(f"{name}: {answer['result']}: {answer['detail']} (file {kept})")
                if answer["result"] in ("timeout", "crash"):
                    worker.close()
                    worker = Worker()
            if len(failures) >= 10:
                break
    finally:
        worker.close()
        if os.environ.get("VOIPLAB_FUZZ_REPORT"):
            print(outcomes)
    assert not failures, "\n".join(failures)
    assert len(cases) > 7000 and outcomes.get("ok", 0) > 1000 and outcomes.get("CaptureError", 0) > 0
