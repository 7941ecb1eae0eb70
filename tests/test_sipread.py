"""Tests of voiplab.capture.sipread: SIP read from pcap/pcapng files (checked against tshark), phone
traces against captures, and the ``voiplab flow`` command."""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from capture_files import (
    ETHERTYPE_IPV6,
    bsd_loopback,
    epb,
    ethernet,
    idb,
    invite_ipv4,
    invite_ipv6,
    lab_ip_packets,
    pb,
    shb,
    sll,
    tshark_fields,
    write_pcap,
)
from scapy.layers.inet import IP, TCP, UDP, fragment
from scapy.layers.l2 import Ether
from scapy.packet import Raw
from scapy.utils import PcapNgWriter, wrpcap
from synthetic_sip import SYNTHETIC_PCAP, all_packets, call_packets
from synthetic_sip import write_pcap as write_synthetic_pcap

from voiplab.capture.pcap import LINKTYPE_ETHERNET, LINKTYPE_LINUX_SLL, LINKTYPE_LOOP, LINKTYPE_NULL, LINKTYPE_RAW
from voiplab.capture.sipread import looks_like_sip, read_flow, read_sip
from voiplab.cli import flow as _cli_flow
from voiplab.core.flow import Flow
from voiplab.core.sip import SipMessage
from voiplab.errors import CaptureError
from voiplab.teach.samples import sample_capture

REAL_CAPTURES = ["register_401.pcap", "call_rpi_to_alcatel.pcap", "call_alcatel_to_rpi.pcap"]
TSHARK_FIELDS = [
    "frame.number",
    "_ws.col.Source",  # the innermost network address (inside tunnels, IPv4 or IPv6)
    "udp.srcport",
    "tcp.srcport",
    "_ws.col.Destination",
    "udp.dstport",
    "tcp.dstport",
    "sip.Method",
    "sip.Status-Code",
    "sip.CSeq",
    "sip.Call-ID",
]


def tshark_rows(tshark: str, path: Path) -> list[tuple[int, str, str, str, str, str]]:
    """(frame, src, dst, method-or-status, cseq, call-id) for each SIP message, per tshark."""
    command = [
        tshark,
        "-r",
        str(path),
        "-Y",
        "sip",
        "-T",
        "fields",
        "-E",
        "occurrence=a",
        "-E",
        "aggregator=|",
    ]
    for name in TSHARK_FIELDS:
        command += ["-e", name]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    rows = []
    for line in output.splitlines():
        frame, src, usport, tsport, dst, udport, tdport, methods, statuses, cseqs, call_ids = line.split("\t")
        sport, dport = usport or tsport, udport or tdport
        src, dst = (f"[{a}]" if ":" in a else a for a in (src, dst))
        # one frame may carry several messages (TCP): tshark aggregates them with '|'
        kinds = [k for k in (methods.split("|") if methods else [])] or []
        cseq_list, call_list = cseqs.split("|"), call_ids.split("|")
        status_list = statuses.split("|") if statuses else []
        labels = (
            kinds + status_list if len(cseq_list) == len(kinds) + len(status_list) else kinds or status_list
        )
        for index, cseq in enumerate(cseq_list):
            if not cseq:
                continue
            rows.append(
                (
                    int(frame),
                    f"{src}:{sport}",
                    f"{dst}:{dport}",
                    labels[index] if index < len(labels) else "",
                    " ".join(cseq.split()),
                    call_list[index] if index < len(call_list) else "",
                )
            )
    return rows


def our_rows(path: Path) -> list[tuple[int, str, str, str, str, str]]:
    return [
        (m.frame or 0, m.src, m.dst, m.method or str(m.status), m.cseq or "", m.call_id or "")
        for m in read_sip(path)
    ]


@pytest.mark.tshark
def test_synthetic_capture_matches_tshark(tshark: str) -> None:
    """For each SIP message of the synthetic capture, do frame, src, dst, method/status, CSeq
    and Call-ID equal tshark's?"""
    ours = our_rows(SYNTHETIC_PCAP)
    assert len(ours) == 30
    assert ours == tshark_rows(tshark, SYNTHETIC_PCAP)


def test_synthetic_pcap_is_up_to_date(tmp_path: Path) -> None:
    """Does tests/data/synthetic_call.pcap equal what tests/synthetic_sip.py generates?"""
    fresh = tmp_path / "fresh.pcap"
    write_synthetic_pcap(fresh, all_packets())
    assert fresh.read_bytes() == SYNTHETIC_PCAP.read_bytes()


def test_pcapng_reads_like_pcap(tmp_path: Path) -> None:
    """Does a pcapng file give the same messages, times and frames as the pcap?"""
    from scapy.utils import rdpcap

    path = tmp_path / "call.pcapng"
    with PcapNgWriter(str(path)) as writer:
        for packet in rdpcap(str(SYNTHETIC_PCAP)):
            writer.write(packet)
    assert [(m.frame, round(m.time, 6), m.src, m.message) for m in read_sip(path)] == [
        (m.frame, round(m.time, 6), m.src, m.message) for m in read_sip(SYNTHETIC_PCAP)
    ]


def _frame(src: str, dst: str, layer4: object, payload: bytes, when: float) -> Ether:
    frame = Ether() / IP(src=src, dst=dst) / layer4 / Raw(payload)  # type: ignore[operator]
    frame.time = when
    return frame


def test_sip_on_any_udp_port_is_found_by_its_first_line(tmp_path: Path) -> None:
    """Is SIP on a non-standard UDP port found, and a non-SIP payload ignored?"""
    invite = all_packets()[4].payload
    path = tmp_path / "ports.pcap"
    wrpcap(
        str(path),
        [
            _frame("127.0.0.82", "127.0.0.80", UDP(sport=5062, dport=5080), invite, 1.0),
            _frame("127.0.0.82", "127.0.0.80", UDP(sport=4000, dport=10016), b"\x80\x00" + bytes(170), 2.0),
            _frame("127.0.0.82", "127.0.0.80", UDP(sport=5060, dport=5060), b"\r\n\r\n", 3.0),
        ],
    )
    messages = read_sip(path)
    assert [(m.frame, m.src, m.dst, m.method) for m in messages] == [
        (1, "127.0.0.82:5062", "127.0.0.80:5080", "INVITE")
    ]
    assert looks_like_sip(invite) and not looks_like_sip(b"\x80\x00abc")


@pytest.mark.tshark
def test_tcp_stream_is_reassembled(tmp_path: Path, tshark: str) -> None:
    """Are SIP messages split across TCP segments, or sharing one, found at tshark's frame numbers?"""
    invite, register = all_packets()[4].payload, all_packets()[0].payload
    stream = invite + register
    cut = len(invite) // 2
    seq = 1000
    frames = [
        _frame("127.0.0.82", "127.0.0.80", TCP(sport=40000, dport=5060, flags="S", seq=seq - 1), b"", 0.5),
        _frame(
            "127.0.0.82", "127.0.0.80", TCP(sport=40000, dport=5060, flags="PA", seq=seq), stream[:cut], 1.0
        ),
        _frame(
            "127.0.0.82",
            "127.0.0.80",
            TCP(sport=40000, dport=5060, flags="PA", seq=seq + cut),
            stream[cut:],
            2.0,
        ),
    ]
    frames[0] = (
        Ether()
        / IP(src="127.0.0.82", dst="127.0.0.80")
        / TCP(sport=40000, dport=5060, flags="S", seq=seq - 1)
    )
    frames[0].time = 0.5
    path = tmp_path / "tcp.pcap"
    wrpcap(str(path), frames)
    messages = read_sip(path)
    assert [(m.frame, m.method, m.transport) for m in messages] == [
        (3, "INVITE", "TCP"),
        (3, "REGISTER", "TCP"),
    ]
    assert messages[0].message == SipMessage.parse(invite)
    ours = [(m.frame, m.src, m.dst, m.method or "", m.cseq, m.call_id) for m in messages]
    assert ours == tshark_rows(tshark, path)


def test_ipv4_fragments_are_reassembled(tmp_path: Path) -> None:
    """Is an INVITE sent in IPv4 fragments read as one message?"""
    invite = all_packets()[4].payload
    packet = IP(src="192.0.2.82", dst="192.0.2.80") / UDP(sport=5060, dport=5060) / Raw(invite)
    pieces = [Ether() / piece for piece in fragment(packet, fragsize=400)]
    assert len(pieces) > 1
    path = tmp_path / "frag.pcap"
    wrpcap(str(path), pieces)
    (message,) = read_sip(path)
    assert message.message == SipMessage.parse(invite) and message.frame == len(pieces)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "capture file '{path}' cannot be read (No such file or directory): check the path and permissions"),
        (
            b"hello world",
            "capture file '{path}' is not a pcap or pcapng file (it starts with 0x68656c6c): "
            "open a file written by tcpdump, dumpcap, Wireshark or voiplab",
        ),
    ],
)
def test_bad_files(tmp_path: Path, content: bytes | None, message: str) -> None:
    """Does a missing or non-capture file raise CaptureError with an exact message?"""
    path = tmp_path / "x.pcap"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(CaptureError) as info:
        read_sip(path)
    assert str(info.value) == message.format(path=path)


def trace_of_rpi(packets: list) -> list[dict[str, object]]:
    """What the rpi phone's trace() would return for the synthetic capture."""
    entries = []
    for p in packets:
        if "127.0.0.82" not in (p.src[0], p.dst[0]):
            continue
        tx = p.src[0] == "127.0.0.82"
        local, remote = (p.src, p.dst) if tx else (p.dst, p.src)
        entries.append(
            {
                "time": p.time,
                "direction": "tx" if tx else "rx",
                "local": f"{local[0]}:{local[1]}",
                "remote": f"{remote[0]}:{remote[1]}",
                "transport": "UDP",
                "raw": p.payload.decode(),
            }
        )
    return entries


def test_flow_from_trace_equals_capture() -> None:
    """Does a phone trace give the same messages as the capture, seen from that phone?"""
    traced = Flow.from_trace(trace_of_rpi(all_packets()))
    captured = [m for m in read_flow(SYNTHETIC_PCAP).messages if "127.0.0.82:5060" in (m.src, m.dst)]
    assert [(m.time, m.src, m.dst, m.message) for m in traced.messages] == [
        (m.time, m.src, m.dst, m.message) for m in captured
    ]
    assert traced.messages[0].frame is None
    assert traced.calls[0].state == "COMPLETED"


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            {"time": 1.0, "direction": "tx", "local": "a:1", "remote": "b:2"},
            "phone trace entry 1 is missing 'raw': each entry needs time, direction, local, remote and raw",
        ),
        (
            {"time": 1.0, "direction": "out", "local": "a:1", "remote": "b:2", "raw": ""},
            "phone trace entry 1 has direction 'out': it must be 'tx' or 'rx'",
        ),
    ],
)
def test_bad_trace_entries(entry: dict[str, object], message: str) -> None:
    """Is a malformed trace entry reported with an exact message?"""
    with pytest.raises(CaptureError) as info:
        Flow.from_trace([entry])
    assert str(info.value) == message


def test_flow_from_pcap() -> None:
    """Does read_flow read the file into a Flow?"""
    flow = read_flow(str(SYNTHETIC_PCAP))
    assert len(flow) == 30 and len(flow.calls) == 1


def _run_cli(*argv: str) -> tuple[int, str]:
    parser = argparse.ArgumentParser(prog="voiplab")
    _cli_flow.add_parser(parser.add_subparsers())
    args = parser.parse_args(["flow", *argv])
    out = io.StringIO()
    return _cli_flow.run(args, out=out), out.getvalue()


def test_cli_json() -> None:
    """Does `voiplab flow FILE --json` print the messages and the calls?"""
    status, text = _run_cli(str(SYNTHETIC_PCAP), "--json")
    data = json.loads(text)
    assert status == 0
    assert len(data["messages"]) == 30 and len(data["calls"]) == 1
    assert data["messages"][0]["src"] == "127.0.0.82:5060"


def test_cli_table_and_png(tmp_path: Path) -> None:
    """Does `voiplab flow FILE --png OUT` print a table and write a PNG?"""
    out = tmp_path / "ladder.png"
    status, text = _run_cli(str(SYNTHETIC_PCAP), "--png", str(out))
    assert status == 0
    assert "30 SIP messages, 1 calls" in text and "401 Unauthorized" in text
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_missing_file(capsys: pytest.CaptureFixture[str]) -> None:
    """Does a missing file give exit status 1 and the error on stderr?"""
    status, _ = _run_cli("/nonexistent.pcap")
    assert status == 1
    assert "capture file '/nonexistent.pcap' cannot be read" in capsys.readouterr().err


# ---------------------------------------------------------------------------- real captures


@pytest.mark.tshark
@pytest.mark.parametrize("name", REAL_CAPTURES)
def test_real_capture_matches_tshark(data_dir: Path, tshark: str, name: str) -> None:
    """On the lab's real captures, does every SIP message agree with tshark?"""
    path = data_dir / name
    ours = our_rows(path)
    assert ours and ours == tshark_rows(tshark, path)


def test_call_packets_exist() -> None:
    """(sanity) Does the synthetic call have both legs?"""
    assert {p.src[0] for p in call_packets()} == {"127.0.0.80", "127.0.0.81", "127.0.0.82"}


# ---------------------------------------------------------------------------- link layers and file formats

#: (name, link type, frames) of SIP behind every link layer the reader knows, and near misses
SIP_LINK_FILES = [
    ("ethernet_vlans", LINKTYPE_ETHERNET, lambda: [
        ethernet(invite_ipv4()), ethernet(invite_ipv4(), tags=(0x8100,)), ethernet(invite_ipv4(), tags=(0x88A8,)),
        ethernet(invite_ipv4(), tags=(0x9100,)), ethernet(invite_ipv4(), tags=(0x88A8, 0x8100, 0x9100)),
        ethernet(invite_ipv4(), tags=(0x9200,)), ethernet(invite_ipv6(), ETHERTYPE_IPV6),
        ethernet(lab_ip_packets()["REGISTER"], tags=(0x9100, 0x8100))]),
    ("bsd_null", LINKTYPE_NULL, lambda: [
        bsd_loopback(invite_ipv4() if family == 2 else invite_ipv6(), family, order)
        for order in "<>" for family in (2, 10, 23, 24, 28, 30)]),
    ("openbsd_loop", LINKTYPE_LOOP, lambda: [
        bsd_loopback(invite_ipv4() if family == 2 else invite_ipv6(), family, ">") for family in (2, 10, 24, 30)]),
    ("sll", LINKTYPE_LINUX_SLL, lambda: [sll(invite_ipv4()), sll(invite_ipv6(), ETHERTYPE_IPV6)]),
    ("raw", LINKTYPE_RAW, lambda: [invite_ipv4(), invite_ipv6()]),
]


@pytest.mark.tshark
@pytest.mark.parametrize(("name", "linktype", "frames"), SIP_LINK_FILES, ids=[f[0] for f in SIP_LINK_FILES])
def test_sip_behind_every_link_layer_is_found_as_tshark_finds_it(tshark: str, tmp_path: Path, name: str,
                                                                linktype: int, frames) -> None:  # type: ignore[no-untyped-def]
    """Is SIP found in exactly tshark's frames: VLAN tags 0x8100, 0x88A8, 0x9100 and stacked (not
    0x9200), BSD loopback families 2, 24, 28, 30 in either byte order (not 10 or 23), cooked, raw IP?"""
    path = write_pcap(tmp_path / f"{name}.pcap", linktype, frames())
    theirs = [(int(f), m) for f, m in tshark_fields(tshark, path, "sip", "frame.number", "sip.Method")]
    assert theirs, "tshark found no SIP at all: the file is wrong"
    assert [(m.frame, m.method) for m in read_sip(path)] == theirs


def test_sip_behind_a_0x9100_vlan_tag_is_read(tmp_path: Path) -> None:
    """Is the lab's INVITE behind an old-style QinQ tag (0x9100, as tshark's vlan.qinq_ethertype) read
    with its addresses, like the untagged one?"""
    plain = write_pcap(tmp_path / "plain.pcap", LINKTYPE_ETHERNET, [ethernet(invite_ipv4())])
    tagged = write_pcap(tmp_path / "tagged.pcap", LINKTYPE_ETHERNET, [ethernet(invite_ipv4(), tags=(0x9100,))])
    (message,) = read_sip(tagged)
    assert (message.method, message.src, message.dst) == ("INVITE", "127.0.0.82:5060", "127.0.0.80:5060")
    assert [(m.frame, m.time, m.message) for m in read_sip(tagged)] == [
        (m.frame, m.time, m.message) for m in read_sip(plain)]


@pytest.mark.tshark
def test_record_cut_short_is_skipped_like_tshark(tshark: str, tmp_path: Path) -> None:
    """Is a last record cut short skipped with a warning, the SIP before it being tshark's?"""
    frames = [ethernet(ip) for ip in (lab_ip_packets()["REGISTER"], invite_ipv4(), invite_ipv4())]
    path = write_pcap(tmp_path / "cut.pcap", LINKTYPE_ETHERNET, frames, cut=100)
    theirs = [(int(f), m) for f, m in tshark_fields(tshark, path, "sip", "frame.number", "sip.Method")]
    with pytest.warns(UserWarning, match="ends with a record cut short: it was skipped; packets 1 to 2 were read"):
        ours = [(m.frame, m.method) for m in read_sip(path)]
    assert ours == theirs == [(1, "REGISTER"), (2, "INVITE")]


@pytest.mark.tshark
def test_pcapng_packet_blocks_and_time_offset_give_tsharks_times(tshark: str, tmp_path: Path) -> None:
    """Are SIP messages in an (obsolete) packet block read, and is if_tsoffset added to their time as
    tshark adds it?"""
    path = tmp_path / "offset.pcapng"
    path.write_bytes(shb() + idb(LINKTYPE_ETHERNET, tsresol=6, tsoffset=1_000_000_000)
                     + epb(0, 700_000_000_123_456, ethernet(invite_ipv4()))
                     + pb(0, 700_000_001_000_000, ethernet(lab_ip_packets()["REGISTER"])))
    theirs = tshark_fields(tshark, path, "sip", "frame.number", "frame.time_epoch", "sip.Method")
    ours = read_sip(path)
    assert [(m.frame, f"{m.time:.6f}", m.method) for m in ours] == [(int(f), t[:-3], m) for f, t, m in theirs]
    assert ours[0].time == 1_700_000_000.123456


@pytest.mark.parametrize("argv", [["flow", "--json"], ["flow"]])
def test_voiplab_flow_imports_no_scapy_matplotlib_or_widgets(argv: list[str]) -> None:
    """Does `python -m voiplab flow FILE` run without importing scapy, matplotlib, ipywidgets, numpy
    or the lab's configuration (its start-up is most of its time on a small capture)?"""
    script = (
        "import runpy, sys\n"
        f"sys.argv = ['voiplab', {argv[0]!r}, {str(sample_capture('call_rpi_to_alcatel'))!r}, *{argv[1:]!r}]\n"
        "try:\n    runpy.run_module('voiplab', run_name='__main__')\nexcept SystemExit as end:\n"
        "    assert not end.code, end.code\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('scapy', 'matplotlib', 'ipywidgets', 'numpy')\n"
        "               or m == 'voiplab.config')\n"
        "assert heavy == [], heavy\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert "INVITE" in done.stdout
