"""Captures from the wild: every way of carrying SIP and RTP that voiplab reads, checked against tshark.

The captures are built by tests/wild_captures.py (one call, put on the wire with scapy: SIP
over TCP, SIP on other ports, IPv4/IPv6 fragments, PPPoE, GRE, IP-in-IP, VLAN/QinQ, Linux
cooked, BSD loopback, a re-INVITE to T.38, a port change, malformed messages). For each,
``voiplab analyze`` must print tshark's RTP stream table and ``voiplab flow`` list tshark's SIP
messages. Then the readers' limits: empty captures, files that are not regular files, corrupt
pcapng blocks and clocks, bounded memory on a file of zeros.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import threading
import warnings
from pathlib import Path

import pytest
import wild_captures
from capture_files import epb, ethernet, idb, invite_ipv4, shb, write_pcap

from voiplab.capture.pcap import LINKTYPE_ETHERNET, iter_frames, read_packets
from voiplab.capture.sipread import SipReader, read_flow, read_sip, read_sip_capture
from voiplab.capture.streams import analyze, sdp_conversations
from voiplab.capture.udp import read_udp
from voiplab.cli.analyze import format_tshark_table
from voiplab.core.flow import MalformedMessage
from voiplab.errors import CaptureError

SIP_FIELDS = ["frame.number", "_ws.col.Source", "udp.srcport", "tcp.srcport", "_ws.col.Destination", "udp.dstport",
              "tcp.dstport", "sip.Method", "sip.Status-Code", "sip.CSeq", "sip.Call-ID"]


#: the captures of this issue: built by tests/wild_captures.py, and one recorded from a real Asterisk
WILD_DIR = Path(__file__).parent / "data" / "wild"


@pytest.fixture(scope="module")
def wild() -> Path:
    return WILD_DIR


def test_saved_captures_are_what_the_recipe_builds(tmp_path: Path) -> None:
    """Are the captures in tests/data/wild exactly what tests/wild_captures.py builds (and the
    recorded Asterisk one there)?"""
    built = {path.name: path.read_bytes() for path in wild_captures.write_all(tmp_path)}
    saved = {path.name: path.read_bytes() for path in WILD_DIR.glob("*.pcap")}
    assert set(saved) == set(built) | {f"{name}.pcap" for name in wild_captures.RECORDED}
    assert all(saved[name] == data for name, data in built.items())


def tshark_streams(tshark: str, path: Path, *options: str) -> str:
    done = subprocess.run([tshark, "-n", *options, "-r", str(path), "-q", "-z", "rtp,streams"], capture_output=True,
                          text=True, check=False)
    assert done.returncode in (0, 2), done.stderr
    return done.stdout.strip()


def tshark_messages(tshark: str, path: Path) -> list[tuple[int, str, str, str, str, str]]:
    """(frame, src, dst, method or status, CSeq, Call-ID) of every SIP message tshark lists,
    malformed ones included (an empty string for what it could not read)."""
    command = [tshark, "-n", "-r", str(path), "-Y", "sip", "-T", "fields", "-E", "occurrence=a", "-E",
               "aggregator=|"]
    for name in SIP_FIELDS:
        command += ["-e", name]
    rows = []
    for line in subprocess.run(command, capture_output=True, text=True, check=True).stdout.splitlines():
        frame, src, usport, tsport, dst, udport, tdport, methods, statuses, cseqs, call_ids = line.split("\t")
        src, dst = (f"[{a}]" if ":" in a else a for a in (src, dst))
        # the innermost transport's ports: TCP when there is TCP (SIP over TCP in a UDP tunnel), else
        # the last UDP header's (a GTP-U or VXLAN tunnel has the outer one first)
        usport, udport = usport.split("|")[-1], udport.split("|")[-1]
        labels = [*(methods.split("|") if methods else []), *(statuses.split("|") if statuses else [])]
        cseq_list, call_list = cseqs.split("|"), call_ids.split("|")
        for index in range(max(len(labels), 1)):
            rows.append((int(frame), f"{src}:{tsport or usport}", f"{dst}:{tdport or udport}",
                         labels[index] if index < len(labels) else "",
                         " ".join(cseq_list[index].split()) if index < len(cseq_list) else "",
                         call_list[index] if index < len(call_list) else ""))
    return rows


def our_messages(path: Path) -> list[tuple[int, str, str, str, str, str]]:
    return [(m["frame"] or 0, m["src"], m["dst"], m["method"] or str(m["status"] or ""), m["cseq"] or "",
             m["call_id"] or "") for m in read_flow(path).to_dict()["messages"]]


ALL = [*wild_captures.CAPTURES, "malformed", *wild_captures.RECORDED]


@pytest.mark.tshark
@pytest.mark.parametrize("name", ALL)
def test_rtp_streams_of_every_wild_capture_are_tsharks(tshark: str, wild: Path, name: str) -> None:
    """Does voiplab analyze print tshark's RTP stream table, figure for figure, for the call carried
    over TCP, on another port, in fragments, PPPoE, tunnels, VLANs, cooked and loopback links,
    through a re-INVITE to T.38 and a port change?"""
    path = wild / f"{name}.pcap"
    theirs = tshark_streams(tshark, path)
    ours = format_tshark_table(analyze(path))
    assert ours == theirs
    if name not in wild_captures.RECORDED:  # Asterisk hung up before any RTP there
        assert theirs.count("\n") >= 4, "tshark found no RTP stream: the capture is wrong"


@pytest.mark.tshark
@pytest.mark.parametrize("name", ALL)
def test_sip_messages_of_every_wild_capture_are_tsharks(tshark: str, wild: Path, name: str) -> None:
    """Does voiplab flow list the SIP messages tshark lists (frame, innermost addresses, method
    or status, CSeq, Call-ID), malformed ones included?"""
    path = wild / f"{name}.pcap"
    theirs = tshark_messages(tshark, path)
    assert our_messages(path) == theirs
    assert len(theirs) >= 5, "tshark found almost no SIP: the capture is wrong"


@pytest.mark.tshark
@pytest.mark.parametrize("name", ["tcp_5060", "tcp_port_5070", "udp_port_5080", "t38_reinvite", "ipv4_rtp_fragments",
                                  "ipv6_rtp_fragments", "gre", "pppoe", "gtp_u", "gtp_u_5g_ipv6", "gtp_u_tcp",
                                  "gtp_u_fragments", "vxlan", "geneve", "erspan_i", "erspan_ii",
                                  "erspan_iii_ipv6"])
def test_heuristic_rtp_of_wild_captures_is_tsharks(tshark: str, wild: Path, name: str) -> None:
    """With --heuristic too, are the streams tshark's (SDP over TCP names the payload, a T.38
    port is not taken for RTP)?"""
    path = wild / f"{name}.pcap"
    assert format_tshark_table(analyze(path, heuristic=True)) == tshark_streams(tshark, path, "-o",
                                                                                  "rtp.heuristic_rtp:TRUE")


def test_sdp_carried_by_tcp_and_fragments_sets_up_the_streams(wild: Path) -> None:
    """Are the SDP of SIP over TCP and of a fragmented INVITE read (conversations at both ends)?"""
    for name in ("tcp_5060", "tcp_port_5070", "ipv4_fragments", "ipv6_fragments"):
        found = {(c.address, c.port) for c in sdp_conversations(read_udp(wild / f"{name}.pcap"))}
        v6 = name.startswith("ipv6")
        caller = wild_captures.CALLER6 if v6 else wild_captures.CALLER
        callee = wild_captures.CALLEE6 if v6 else wild_captures.CALLEE
        assert found == {(caller, 4000), (callee, 5000)}, name


def test_t38_reinvite_ends_the_rtp_streams(wild: Path) -> None:
    """After the re-INVITE to m=image (T.38), are the UDPTL datagrams left out of the RTP streams?"""
    rows = analyze(wild / "t38_reinvite.pcap")
    assert [row.packets for row in rows] == [wild_captures.RTP_PACKETS] * 2
    kinds = [c.protocol for c in sdp_conversations(read_udp(wild / "t38_reinvite.pcap"))]
    assert kinds == ["RTP", "RTP", "T.38", "T.38"]


def test_sip_port_option_reads_any_port(wild: Path) -> None:
    """Does sip_ports make every payload of a port SIP (even one that does not start like SIP)?"""
    path = wild / "udp_port_5080.pcap"
    assert len(read_sip(path)) == 6  # found by their first line
    assert [m.frame for m in read_sip(path, sip_ports=[5080])] == [m.frame for m in read_sip(path)]


def test_malformed_messages_are_listed_with_what_is_wrong(wild: Path) -> None:
    """Are the INVITE with a Content-Length that is not a number and the BYE cut mid-header
    listed as malformed, with their frame, what is wrong and what can be read?"""
    capture = read_sip_capture(wild / "malformed.pcap")
    assert [(m.frame, m.label, m.cseq, m.call_id) for m in capture.malformed] == [
        (2, "INVITE", "1 INVITE", "wild-1"), (86, "BYE", None, "wild-1")]
    assert capture.malformed[0].error == ("SIP Content-Length 'x165' is not a number: it must be the body size in "
                                          "bytes")
    assert capture.malformed[1].error.startswith("SIP header line 7 'CSe' is missing its ':'")
    flow = capture.flow()
    assert len(flow.messages) == 6 and len(flow.calls) == 1  # the malformed ones take no part in the call
    listed = flow.to_dict()["messages"]
    assert [m["malformed"] is not None for m in listed].count(True) == 2
    assert listed[1]["malformed"] == capture.malformed[0].error and listed[1]["method"] == "INVITE"
    assert set(listed[0]) >= {"frame", "time", "src", "dst", "method", "status", "cseq", "call_id", "malformed"}


def test_malformed_message_on_tcp_and_gap(tmp_path: Path) -> None:
    """On TCP, is a message whose Content-Length is not a number listed as malformed, and the stream
    read again from the next message?"""
    datagrams = wild_captures.call(transport="TCP")
    bad = datagrams[3]
    datagrams[3] = wild_captures.Datagram(bad.time, bad.src, bad.sport, bad.dst, bad.dport,
                                          bad.payload.replace(b"Content-Length: 0", b"Content-Length: zero"), "TCP")
    path = wild_captures.write(tmp_path / "bad.pcap", wild_captures.tcp_packets(datagrams))
    capture = read_sip_capture(path)
    assert [m.label for m in capture.malformed] == ["ACK"]
    assert [m.label for m in capture.messages] == ["INVITE", "100 Trying", "200 OK", "BYE", "200 OK"]


@pytest.mark.tshark
def test_one_tcp_message_over_many_segments(tshark: str, tmp_path: Path) -> None:
    """Is each message cut in 20-byte segments put together, with the frame of its last segment as
    tshark gives it?"""
    datagrams = wild_captures.call(transport="TCP")
    path = wild_captures.write(tmp_path / "small.pcap", wild_captures.tcp_packets(datagrams, segment=20))
    assert [m.label for m in read_sip(path)] == ["INVITE", "100 Trying", "200 OK", "ACK", "BYE", "200 OK"]
    assert our_messages(path) == tshark_messages(tshark, path)


def test_tcp_gap_resynchronises_on_the_next_message(tmp_path: Path) -> None:
    """When a segment is missing, is the message it cut listed as malformed and reading taken up
    again at the next message?"""
    datagrams = wild_captures.call(transport="TCP")
    packets = wild_captures.tcp_packets(datagrams, segment=100)
    invite_segments = [k for k, p in enumerate(packets) if p.haslayer("TCP") and p["TCP"].dport == 5060
                       and bytes(p["TCP"].payload)]
    del packets[invite_segments[1]]  # the second segment of the INVITE is lost
    capture = read_sip_capture(wild_captures.write(tmp_path / "gap.pcap", packets))
    assert [m.label for m in capture.malformed] == ["INVITE"]
    assert "its TCP stream has a gap" in capture.malformed[0].error
    assert [m.label for m in capture.messages] == ["100 Trying", "200 OK", "ACK", "BYE", "200 OK"]


# ---------------------------------------------------------------- empty and refused files
@pytest.mark.tshark
@pytest.mark.parametrize("content", [b"", struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1),
                                     shb() + idb(LINKTYPE_ETHERNET)], ids=["0 bytes", "pcap header", "pcapng SHB+IDB"])
def test_empty_capture_gives_tsharks_empty_table(tshark: str, tmp_path: Path, content: bytes) -> None:
    """Does an empty capture (no byte, or headers and no packet) give an empty result and tshark's
    empty table, without a warning?"""
    path = tmp_path / "empty.pcap"
    path.write_bytes(content)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert analyze(path) == [] and read_sip(path) == [] and list(iter_frames(path)) == []
        assert len(read_udp(path)) == 0
    assert format_tshark_table([]) == tshark_streams(tshark, path)
    assert json.loads(subprocess.run([sys.executable, "-m", "voiplab", "flow", str(path), "--json"],
                                     capture_output=True, text=True, check=True).stdout) == {"messages": [],
                                                                                              "calls": []}


def _refused(path: str) -> list[str]:
    messages = []
    for read in (lambda: list(iter_frames(path)), lambda: read_udp(path), lambda: read_sip(path)):
        with pytest.raises(CaptureError) as info:
            read()
        messages.append(str(info.value))
    return messages


def test_files_that_are_not_regular_files_are_refused_before_any_read(tmp_path: Path) -> None:
    """Are a FIFO (no writer: a read would block forever), a directory and /dev/zero (a read would
    never end) refused at once with a clear CaptureError, by every reader?"""
    fifo = tmp_path / "capture.fifo"
    os.mkfifo(fifo)
    results: list[list[str]] = []
    reader = threading.Thread(target=lambda: results.append(
        _refused(str(fifo)) + _refused(str(tmp_path)) + _refused("/dev/zero")), daemon=True)
    reader.start()
    reader.join(timeout=20)
    assert not reader.is_alive(), "a reader blocked on a file that is not a regular file"
    fifo_messages, directory_messages, zero_messages = results[0][:3], results[0][3:6], results[0][6:]
    assert set(fifo_messages) == {f"capture file '{fifo}' is a FIFO (named pipe), not a regular file: save the "
                                  "capture to a file first (e.g. tcpdump -w FILE) and open that file"}
    assert set(directory_messages) == {f"capture file '{tmp_path}' is a directory, not a regular file: save the "
                                       "capture to a file first (e.g. tcpdump -w FILE) and open that file"}
    assert set(zero_messages) == {"capture file '/dev/zero' is a character device, not a regular file: save the "
                                  "capture to a file first (e.g. tcpdump -w FILE) and open that file"}


# ---------------------------------------------------------------- corrupt pcapng
def test_pcapng_captured_length_beyond_its_block_ends_the_reading(tmp_path: Path) -> None:
    """Does a packet whose captured length is larger than its block end the reading with a warning,
    never taking the next block's bytes as packet data?"""
    frame = ethernet(invite_ipv4())
    good = epb(0, 1_700_000_000_000_000, frame)
    bad = bytearray(epb(0, 1_700_000_001_000_000, frame))
    struct.pack_into("<I", bad, 20, len(frame) + 64)  # captured length: 64 bytes more than the block holds
    path = tmp_path / "long.pcapng"
    path.write_bytes(shb() + idb(LINKTYPE_ETHERNET) + good + bytes(bad) + good)
    expected = (f"capture file '{path}' is corrupt at packet 2: it says {len(frame) + 64} bytes were captured, more "
                f"than its block of {len(bad)} bytes holds; packet 1 was read")
    for read in (lambda: [f.frame for f in read_packets(path)], lambda: read_udp(path)["frame"].tolist()):
        with pytest.warns(UserWarning) as caught:
            assert list(read()) == [1]
        assert str(caught[0].message) == expected


@pytest.mark.parametrize(("tsresol", "tsoffset", "problem"), [
    (20, None, "interface 0 has a clock of 10^-20 s (if_tsresol), finer than any capture tool writes"),
    (0x80 | 64, None, "interface 0 has a clock of 2^-64 s (if_tsresol), finer than any capture tool writes"),
    (6, 1 << 40, f"interface 0 shifts its times by {1 << 40} s (if_tsoffset), more than 292 years"),
])
def test_pcapng_clock_extremes_are_a_capture_error(tmp_path: Path, tsresol: int, tsoffset: int | None,
                                                   problem: str) -> None:
    """Is an interface clock finer than tshark accepts, or shifted by centuries, a CaptureError saying
    so (never an OverflowError), from every reader?"""
    path = tmp_path / "clock.pcapng"
    path.write_bytes(shb() + idb(LINKTYPE_ETHERNET, tsresol=tsresol, tsoffset=tsoffset)
                     + epb(0, 1, ethernet(invite_ipv4())))
    expected = f"capture file '{path}' is corrupt: {problem}: re-save it with Wireshark or capture again"
    assert set(_refused(str(path))) == {expected}


def test_finest_accepted_clocks_are_read(tmp_path: Path) -> None:
    """Are the finest clocks tshark accepts (10^-19 s, 2^-63 s) read without error?"""
    for tsresol in (19, 0x80 | 63):
        path = tmp_path / f"fine{tsresol}.pcapng"
        path.write_bytes(shb() + idb(LINKTYPE_ETHERNET, tsresol=tsresol) + epb(0, 1 << 62, ethernet(invite_ipv4())))
        assert read_udp(path).frames == 1 and len(read_sip(path)) == 1


# ---------------------------------------------------------------- bounded memory
#: peak memory of the process itself: VmHWM (ru_maxrss would keep the forking pytest process's peak)
MEMORY_SCRIPT = """
import sys, warnings
warnings.simplefilter("ignore")
from voiplab.capture.{module} import {function}
{function}(sys.argv[1])
print(next(line.split()[1] for line in open("/proc/self/status") if line.startswith("VmHWM:")))
"""


@pytest.mark.parametrize(("module", "function"), [("streams", "analyze"), ("sipread", "read_sip")])
def test_two_gigabytes_of_zeros_after_a_header_take_bounded_memory(tmp_path: Path, module: str,
                                                                   function: str) -> None:
    """Does a pcap header followed by 2 GB of zeros (134 million empty records) stay under 300 MB of
    memory, read as a whole (every record counted)?"""
    path = tmp_path / "zeros.pcap"
    with path.open("wb") as out:
        out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        out.truncate(24 + (2 << 30))  # sparse: no disk space used
    done = subprocess.run([sys.executable, "-c", MEMORY_SCRIPT.format(module=module, function=function), str(path)],
                          capture_output=True, text=True, timeout=120, check=True)
    peak_mb = int(done.stdout.split()[-1]) / 1024
    assert peak_mb < 300, f"{function} took {peak_mb:.0f} MB for 2 GB of zeros"


def test_frames_of_zeros_are_counted() -> None:
    """Are empty records counted (a frame after them keeps its number) when SIP reading skips them?"""
    reader = SipReader()
    assert reader.result().messages == ()


def test_empty_records_keep_frame_numbers(tmp_path: Path) -> None:
    """After 10,000 empty records, does the SIP message keep its frame number (10,001)?"""
    path = write_pcap(tmp_path / "gap.pcap", LINKTYPE_ETHERNET, [b""] * 10_000 + [ethernet(invite_ipv4())])
    assert [m.frame for m in read_sip(path)] == [10_001]
    assert read_udp(path)["frame"].tolist() == [10_001]


def test_malformed_message_repr_and_label() -> None:
    """Does a MalformedMessage say what it is, even when its first line is not a request or status line?"""
    message = MalformedMessage(b"HELLO there\r\nCall-ID: x\r\n", "broken", 1.5, "a:1", "b:2", frame=3)
    assert message.method is None and message.status is None and message.label == "HELLO there"
    assert message.call_id == "x" and repr(message) == "<MalformedMessage #3 1.500 a:1 -> b:2 HELLO there: broken>"


def test_cli_sip_port_option(wild: Path) -> None:
    """Do `voiplab analyze` and `voiplab flow` take --sip-port (repeatable) and refuse a port out of range?"""
    path = str(wild / "udp_port_5080.pcap")
    done = subprocess.run([sys.executable, "-m", "voiplab", "analyze", path, "--json", "--sip-port", "5080",
                           "--sip-port", "5090"], capture_output=True, text=True, check=True)
    assert len(json.loads(done.stdout)) == 2
    done = subprocess.run([sys.executable, "-m", "voiplab", "flow", path, "--json", "--sip-port", "5080"],
                          capture_output=True, text=True, check=True)
    assert len(json.loads(done.stdout)["messages"]) == 6
    refused = subprocess.run([sys.executable, "-m", "voiplab", "flow", path, "--sip-port", "70000"],
                             capture_output=True, text=True, check=False)
    assert refused.returncode == 2 and "'70000' is not a port number from 1 to 65535" in refused.stderr


def test_cli_flow_lists_malformed_messages(wild: Path) -> None:
    """Does the `voiplab flow` table show a malformed message in its place, saying what is wrong?"""
    done = subprocess.run([sys.executable, "-m", "voiplab", "flow", str(wild / "malformed.pcap")],
                          capture_output=True, text=True, check=True)
    line = next(row for row in done.stdout.splitlines() if row.startswith("2 "))
    assert "INVITE [malformed: SIP Content-Length 'x165' is not a number" in line
    assert "8 SIP messages (2 malformed), 1 calls" in done.stdout
