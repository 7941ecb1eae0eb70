"""voiplab.capture.streams against tshark (the oracle): every figure of ``tshark -q -z rtp,streams``.

Each test writes a synthetic capture (voiplab.capture.synth) with one impairment, runs
tshark on it, parses tshark's table and compares every column at tshark's printed
precision. SDP bodies that the SIP/SDP core rejects, or reads differently, are read as
tshark reads them (``test_sdp_is_read_as_tshark_reads_it``).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from voiplab.capture import synth as g
from voiplab.capture.pcap import read_udp
from voiplab.capture.streams import analyze, sdp_conversations, streams
from voiplab.core import rtpstats
from voiplab.errors import CaptureError
from voiplab.teach.samples import SAMPLE_DIR

pytestmark = pytest.mark.tshark

ROW = re.compile(
    r"\s*(?P<start>-?[\d.]+)\s+(?P<end>-?[\d.]+)\s+(?P<src>\S+)\s+(?P<src_port>\d+)\s+(?P<dst>\S+)\s+(?P<dst_port>\d+)"
    r"\s+(?P<ssrc>0x[0-9A-F]{8})\s+(?P<payload>.+?)\s+(?P<packets>\d+)\s+(?P<lost>-?\d+) \((?P<percent>[-\d.]+)%\)"
    r"\s+(?P<min_delta>\S+)\s+(?P<mean_delta>\S+)\s+(?P<max_delta>\S+)\s+(?P<min_jitter>\S+)\s+(?P<mean_jitter>\S+)"
    r"\s+(?P<max_jitter>\S+)\s*(?P<problem>X?)$")


def tshark_streams(tshark: str, path: Path, heuristic: bool = False) -> list[dict[str, str]]:
    """The rows of ``tshark -q -z rtp,streams``, parsed into dicts of strings."""
    cmd = [tshark, "-n", "-r", str(path), "-q", "-z", "rtp,streams"]
    if heuristic:
        cmd[2:2] = ["-o", "rtp.heuristic_rtp:TRUE"]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert done.returncode in (0, 2), done.stderr  # 2: "cut short in the middle of a packet", output still given
    out = done.stdout
    lines = out.splitlines()
    assert lines[0].startswith("=====") and "Start time" in lines[1]
    rows = [ROW.match(line) for line in lines[2:-1]]
    assert all(rows), out
    return [m.groupdict() for m in rows if m]


def mine_as_text(s) -> dict[str, str]:
    """Our StreamStats printed at tshark's precision."""
    return {
        "start": f"{s.start:.6f}", "end": f"{s.end:.6f}", "src": s.src, "src_port": str(s.src_port), "dst": s.dst,
        "dst_port": str(s.dst_port), "ssrc": f"0x{s.ssrc:08X}", "payload": s.payload, "packets": str(s.packets),
        "lost": str(s.lost), "percent": f"{s.lost_percent:.1f}", "min_delta": f"{s.min_delta_ms:.3f}",
        "mean_delta": f"{s.mean_delta_ms:.3f}", "max_delta": f"{s.max_delta_ms:.3f}",
        "min_jitter": f"{s.min_jitter_ms:.3f}", "mean_jitter": f"{s.mean_jitter_ms:.3f}",
        "max_jitter": f"{s.max_jitter_ms:.3f}", "problem": "X" if s.problem else "",
    }


def assert_same_as_tshark(tshark: str, path: Path, heuristic: bool = False, minimum_rows: int = 1) -> None:
    expected = tshark_streams(tshark, path, heuristic)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got = [mine_as_text(s) for s in analyze(path, heuristic=heuristic)]
    assert len(expected) >= minimum_rows
    assert got == expected


VARIANTS = {
    "clean": {},
    "jitter": {"jitter_ms": 3.0},
    "big_jitter": {"jitter_ms": 40.0},
    "loss": {"loss": 0.05, "jitter_ms": 1.0},
    "reordering": {"reorder": 0.05, "jitter_ms": 1.0},
    "duplicates": {"duplicates": 0.05},
    "wrap": {"wrap": True, "loss": 0.02},
    "markers": {"marker_every": 25, "jitter_ms": 2.0},
    "telephone_event": {"dtmf": True, "jitter_ms": 1.0},
    "everything": {"reorder": 0.1, "duplicates": 0.05, "loss": 0.05, "wrap": True, "jitter_ms": 5.0,
                   "marker_every": 40, "dtmf": True},
    "ipv6": {"ipv6": True, "jitter_ms": 1.0},
    "non_rtp_udp_ignored": {"noise_udp": 200},
}


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_sdp_streams_equal_tshark(tshark, tmp_path, name):
    """Are the streams set up by SDP, and every figure, those of tshark?"""
    path = tmp_path / f"{name}.pcap"
    g.write_capture(str(path), g.synth(2000, seed=11, **VARIANTS[name]))
    assert_same_as_tshark(tshark, path, minimum_rows=4)


@pytest.mark.parametrize("options", [
    {"fmt": "pcapng"}, {"link": "sll"}, {"link": "sll2", "fmt": "pcapng", "nanoseconds": True},
    {"vlan": True, "big_endian": True}, {"link": "null"},
])
def test_file_formats_equal_tshark(tshark, tmp_path, options):
    """Do pcapng, Linux cooked, ns timestamps, VLAN and loopback captures give tshark's figures?"""
    path = tmp_path / "f.cap"
    g.write_capture(str(path), g.synth(1200, seed=4, jitter_ms=2.0, loss=0.02), **options)
    assert_same_as_tshark(tshark, path, minimum_rows=4)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_heuristic_mode_equals_tshark(tshark, tmp_path, seed):
    """Without SIP, with -o rtp.heuristic_rtp:TRUE: same streams (noise UDP included), same figures?"""
    path = tmp_path / "heur.pcap"
    g.write_capture(str(path), g.synth(1500, seed=seed, sip=False, jitter_ms=2.0, loss=0.03, reorder=0.03,
                                       dtmf=True, noise_udp=50))
    assert_same_as_tshark(tshark, path, heuristic=True, minimum_rows=4)
    assert analyze(path) == []  # no SDP: no stream unless heuristic


def random_write_options(seed: int) -> dict:
    """File format, link type, VLAN, byte order and time resolution for a random capture."""
    rng = np.random.default_rng(seed + 1000)
    options: dict = {"link": str(rng.choice(["ether", "ether", "sll", "sll2", "raw", "null"]))}
    if rng.random() < 0.3:
        options["fmt"] = "pcapng"
    if options["link"] == "ether" and rng.random() < 0.3:
        options["vlan"] = True
    if rng.random() < 0.2:
        options["big_endian"] = True
    if rng.random() < 0.3:
        options["nanoseconds"] = True
    return options


@pytest.mark.parametrize("seed", range(24))
def test_random_captures_equal_tshark(tshark, tmp_path, seed, monkeypatch):
    """Does a seeded random capture (calls set up by SIP/SDP, jitter, loss, reordering,
    duplicates, wraps, marker bits, timestamp jumps and garbage, payload type and SSRC changes,
    comfort noise, telephone-events, malformed and RTCP-like datagrams, IPv6, VLAN, pcapng...)
    give exactly tshark's rows, with SDP only and with the RTP heuristic?

    Odd seeds force the vectorised statistics (as for long streams), even ones the exact path.
    """
    if seed % 2:
        monkeypatch.setattr(rtpstats, "EXACT_STREAM_LENGTH", 0)
    path = tmp_path / f"random_{seed}.pcap"
    g.write_capture(str(path), g.random_packets(seed), **random_write_options(seed))
    assert_same_as_tshark(tshark, path, minimum_rows=0)
    assert_same_as_tshark(tshark, path, heuristic=True, minimum_rows=0)


def test_garbage_timestamps_and_events_equal_tshark(tshark, tmp_path):
    """Do garbage RTP timestamps between telephone-events and comfort noise give tshark's
    jitters (millions of ms), with a payload column naming every payload type?"""
    rng = np.random.default_rng(3)
    n = 200
    t = 1_700_000_001 * 10**9 + np.arange(n) * 20_000_000 + rng.integers(0, 4_000_000, n) // 1000 * 1000
    ts = 160 * np.arange(n)
    garbage = rng.random(n) < 0.2
    ts[garbage] = rng.integers(0, 2**32, int(garbage.sum()))
    pt = np.where(rng.random(n) < 0.1, 101, np.where(rng.random(n) < 0.1, 13, 0))
    packets = g.synth(10, streams=2, seed=1)
    rtp_packets = g.Packets(
        t_ns=t, src=np.tile(g.address_bytes("10.0.0.1"), (n, 1)), dst=np.tile(g.address_bytes("10.0.0.2"), (n, 1)),
        sport=np.full(n, 40000), dport=np.full(n, 50000), b0=np.full(n, 0x80), b1=pt, seq=np.arange(n) + 7,
        ts=ts & 0xFFFFFFFF, ssrc=np.full(n, 0x1234), body_len=np.full(n, 160), raw_idx=np.full(n, -1))
    path = tmp_path / "garbage.pcap"
    g.write_capture(str(path), g.Packets.concat([packets, rtp_packets]))
    expected = tshark_streams(tshark, path)
    row = next(r for r in expected if r["ssrc"] == "0x00001234")
    assert row["payload"] == "g711U, CN, telephone-event" and float(row["max_jitter"]) > 1e6
    assert_same_as_tshark(tshark, path, minimum_rows=3)


def test_truncated_last_record_equals_tshark(tshark, tmp_path):
    """Is a capture whose last record is cut short analysed like tshark does (and a warning given)?"""
    path = tmp_path / "cut.pcap"
    g.write_capture(str(path), g.synth(800, seed=8, jitter_ms=1.0), truncate_last=30)
    with pytest.warns(UserWarning, match="cut short"):
        analyze(path)
    assert_same_as_tshark(tshark, path, minimum_rows=4)


def test_not_a_capture_raises_capture_error(tmp_path):
    """Does analysing a text file raise CaptureError?"""
    path = tmp_path / "x.pcap"
    path.write_text("not a capture")
    with pytest.raises(CaptureError, match="is not a pcap or pcapng file"):
        analyze(path)


def test_sdp_conversations_and_audio(tmp_path):
    """Are the SDP addresses found, and the G.711 audio of a stream decoded?"""
    path = tmp_path / "c.pcap"
    g.write_capture(str(path), g.synth(400, seed=2, dtmf=True))
    conversations = sdp_conversations(read_udp(path))
    assert [(c.address, c.port) for c in conversations][:2] == [("10.0.0.1", 40000), ("10.0.0.2", 50000)]
    assert conversations[0].rtpmap[101] == ("telephone-event", 8000)
    found = streams(path)
    audio = found[-1].audio()
    assert audio.dtype.name == "int16" and len(audio) == 100 * 160
    events = [s for s in found if s.payload_name == "telephone-event"]
    assert len(events) == 1 and "telephone-event" in repr(events[0])


def test_cli_json_keys(tmp_path):
    """Does ``voiplab analyze --json`` print exactly the agreed keys?"""
    path = tmp_path / "c.pcap"
    g.write_capture(str(path), g.synth(400, seed=2))
    out = subprocess.run([sys.executable, "-m", "voiplab", "analyze", str(path), "--json"], capture_output=True,
                         text=True, check=True).stdout
    rows = json.loads(out)
    assert len(rows) == 4
    assert list(rows[0]) == ["src", "src_port", "dst", "dst_port", "ssrc", "payload", "packets", "lost",
                             "min_delta_ms", "mean_delta_ms", "max_delta_ms", "min_jitter_ms", "mean_jitter_ms",
                             "max_jitter_ms", "start", "end"]
    assert re.fullmatch(r"0x[0-9A-F]{8}", rows[0]["ssrc"]) and rows[0]["payload"] in ("g711U", "g711A")


def test_cli_plain_output_is_tshark_text(tshark, tmp_path):
    """Is the plain output of ``voiplab analyze`` the text tshark prints?"""
    path = tmp_path / "c.pcap"
    g.write_capture(str(path), g.synth(600, seed=6, jitter_ms=2, loss=0.05))
    ours = subprocess.run([sys.executable, "-m", "voiplab", "analyze", str(path)], capture_output=True, text=True,
                          check=True).stdout
    theirs = subprocess.run([tshark, "-n", "-r", str(path), "-q", "-z", "rtp,streams"], capture_output=True,
                            text=True, check=True).stdout
    assert ours == theirs


LAB_CAPTURES = sorted(SAMPLE_DIR.glob("call_*.pcap*"))


@pytest.mark.parametrize("path", LAB_CAPTURES, ids=[p.name for p in LAB_CAPTURES])
def test_lab_captures_equal_tshark(tshark, path):
    """Do real captures of the local lab give tshark's streams and figures (SDP and heuristic)?"""
    assert_same_as_tshark(tshark, path, minimum_rows=0)
    assert_same_as_tshark(tshark, path, heuristic=True, minimum_rows=0)


# ---------------------------------------------------------------- SDP as tshark reads it

SDP = ("v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n"
       "m=audio 40000 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n")
HEADERS = ("Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1", "From: <sip:a@10.0.0.1>;tag=1", "To: <sip:b@10.0.0.2>",
           "Call-ID: sdp-test", "CSeq: 1 INVITE", "Content-Type: application/sdp")
BOTH = "g711U, telephone-event"


def invite_with(sdp: str = SDP, *, headers: tuple[str, ...] = HEADERS,
                first_line: str = "INVITE sip:b@10.0.0.2 SIP/2.0", content_length: int | None = None) -> bytes:
    """An INVITE from 10.0.0.1 carrying ``sdp``, with a Content-Length (the body's unless given)."""
    body = sdp.encode()
    length = len(body) if content_length is None else content_length
    head = "\r\n".join([first_line, *headers, f"Content-Length: {length}"])
    return (head + "\r\n\r\n").encode() + body


def multipart(body: str, content_type: str = "multipart/mixed;boundary=b") -> bytes:
    """An INVITE whose body is ``body`` under the Content-Type ``content_type``."""
    return invite_with(body, headers=(*HEADERS[:-1], f"Content-Type: {content_type}"))


ISUP = "\x01\x00\x49\x00\x00\x03\x02\x00\x07\x04\x10\x00\x33\x63\x21\x43\x00\x00\x03\x06\x0d\x03\x80\x90"
SDP_PART = "--b\r\nContent-Type: application/sdp\r\n\r\n"
ISUP_PART = ("\r\n--b\r\nContent-Type: application/ISUP;version=itu-t92+"
             "\r\nContent-Disposition: signal;handling=optional\r\n\r\n" + ISUP)
SIP_I = SDP_PART + SDP + ISUP_PART + "\r\n--b--\r\n"
SECOND_SDP = SDP.replace("10.0.0.1", "10.0.0.7").replace("40000", "40002")
MIXED = "Content-Type: multipart/mixed;boundary=b"
#: SDP in multipart bodies, cut as tshark cuts them (tshark 4.0 gave each expected Payload column)
MULTIPART_CASES = [
    ("multipart: SIP-I, SDP then ISUP", multipart(SIP_I), BOTH),
    ("multipart: ISUP first, then SDP", multipart(ISUP_PART[2:] + "\r\n" + SDP_PART + SDP + "\r\n--b--\r\n"), BOTH),
    ("multipart: a preamble before the first boundary", multipart("This is a preamble.\r\n" + SIP_I), BOTH),
    ("multipart: quoted boundary with spaces",
     multipart(SIP_I.replace("--b", "--my boundary"), 'multipart/mixed; boundary="my boundary"'), BOTH),
    ("multipart: boundary parameter in upper case, after another",
     multipart(SIP_I.replace("--b", "--XyZ"), "Multipart/Mixed; charset=x; BOUNDARY=XyZ"), BOTH),
    ("multipart: multipart/related", multipart(SIP_I, "multipart/related;type=application/sdp;boundary=b"), BOTH),
    ("multipart: no boundary parameter", multipart(SIP_I, "multipart/mixed"), None),
    ("multipart: boundary differs", multipart(SIP_I, "multipart/mixed;boundary=c"), None),
    ("multipart: compact c header in the part",
     multipart(SIP_I.replace("Content-Type: application/sdp", "c: application/sdp")), BOTH),
    ("multipart: part type in upper case with spaces",
     multipart(SIP_I.replace("Content-Type: application/sdp", "content-type :  Application/SDP ")), BOTH),
    ("multipart: part without Content-Type",
     multipart(SIP_I.replace("Content-Type: application/sdp\r\n", "Content-Disposition: session\r\n")), None),
    ("multipart: part without any header", multipart(SIP_I.replace("Content-Type: application/sdp\r\n", "")), None),
    ("multipart: no final boundary", multipart(SDP_PART + SDP), None),
    ("multipart: last boundary right after the SDP", multipart(SDP_PART + SDP + "--b--"), BOTH),
    ("multipart: last boundary on the SDP's last line", multipart(SDP_PART + SDP[:-2] + "--b--"), BOTH),
    ("multipart: LF line ends", multipart(SIP_I.replace("\r\n", "\n")), None),
    ("multipart: folded part header",
     multipart(SIP_I.replace("Content-Type: application/sdp", "Content-Type:\r\n application/sdp")), BOTH),
    ("multipart: two SDP parts", multipart(SDP_PART + SECOND_SDP + "\r\n" + SIP_I), BOTH),
    ("multipart: nested multipart/alternative", multipart(
        "--outer\r\nContent-Type: multipart/alternative;boundary=b\r\n\r\n" + SIP_I + "\r\n--outer--\r\n",
        "multipart/mixed;boundary=outer"), BOTH),
    ("multipart: the first boundary is the last", multipart("--b--\r\n" + SIP_I), None),
    ("multipart: boundary not at a line start", multipart("x" + SDP_PART + SDP + "\r\n--b--\r\n"), None),
    ("multipart: Content-Length cuts the ISUP part",
     invite_with(SIP_I, headers=(*HEADERS[:-1], MIXED), content_length=len(SIP_I) - 12), BOTH),
    ("multipart: Content-Length cuts the SDP part",
     invite_with(SIP_I, headers=(*HEADERS[:-1], MIXED), content_length=len(SDP) + 30), None),
]


def replaced(old: str, new: str) -> str:
    assert old in SDP
    return SDP.replace(old, new)


#: (what, INVITE, the Payload column tshark shows for 10.0.0.2:50000 -> 10.0.0.1:40000, None: no stream)
SDP_CASES = [
    ("valid", invite_with(), BOTH),
    ("no Content-Type", invite_with(headers=HEADERS[:-1]), None),
    ("Content-Type text/plain", invite_with(headers=(*HEADERS[:-1], "Content-Type: text/plain")), None),
    ("compact, capitalised Content-Type", invite_with(headers=(*HEADERS[:-1], "c: Application/SDP")), BOTH),
    ("header line without a colon", invite_with(headers=(*HEADERS[:2], "Broken header", *HEADERS[2:])), BOTH),
    ("Content-Length beyond the datagram", invite_with(content_length=len(SDP) + 50), BOTH),
    ("Content-Length cutting the body before m=", invite_with(content_length=60), None),
    ("start line that is not SIP", invite_with(first_line="INVITE sip:b@10.0.0.2 SIP/2.0 x"), None),
    ("blank line before v=", invite_with("\r\n" + SDP), None),
    ("no v= line", invite_with(replaced("v=0\r\n", "")), BOTH),
    ("lines that are not x=", invite_with(replaced("s=-\r\n", "s=-\r\nhello\r\nt 0 0\r\n")), BOTH),
    ("c= line after a space", invite_with(replaced("c=IN", " c=IN")), None),
    ("malformed o=", invite_with(replaced("o=- 1 1 IN", "o=- 1 IN")), BOTH),
    ("media c= with a host name", invite_with(SDP + "c=IN IP4 pbx.example\r\n"), None),
    ("media c= without address", invite_with(SDP + "c=IN IP4\r\n"), None),
    ("two media c=, the last ours", invite_with(SDP + "c=IN IP4 10.0.0.9\r\nc=IN IP4 10.0.0.1\r\n"), BOTH),
    ("two media c=, the first ours", invite_with(SDP + "c=IN IP4 10.0.0.1\r\nc=IN IP4 10.0.0.9\r\n"), None),
    ("c= address then a space", invite_with(replaced("c=IN IP4 10.0.0.1", "c=IN IP4 10.0.0.1 ")), None),
    ("c= address with a TTL", invite_with(replaced("c=IN IP4 10.0.0.1", "c=IN IP4 10.0.0.1/127")), BOTH),
    ("m= with a tab", invite_with(replaced("m=audio 40000", "m=audio\t40000")), None),
    ("malformed m= before ours", invite_with(replaced("m=audio", "m=audio x RTP/AVP 0\r\nc=IN IP4 10.0.0.9\r\n"
                                                                  "m=audio")), BOTH),
    ("protocol rtp/avp in lower case", invite_with(replaced("RTP/AVP", "rtp/avp")), None),
    ("protocol UDP/TLS/RTP/SAVPF", invite_with(replaced("RTP/AVP", "UDP/TLS/RTP/SAVPF")), BOTH),
    ("rtpmap without clock rate", invite_with(replaced("event/8000", "event")), "g711U, RTPType-101"),
    ("rtpmap after a space", invite_with(replaced("rtpmap:101", "rtpmap: 101")), BOTH),
    ("rtpmap with two spaces", invite_with(replaced("101 telephone", "101  telephone")), "g711U,  telephone-event"),
    ("rtpmap with more fields", invite_with(replaced("event/8000", "event/8000/1/2")), BOTH),
    ("two rtpmaps, the last wins", invite_with(replaced("a=rtpmap:101", "a=rtpmap:101 x/8000\r\na=rtpmap:101")),
     BOTH),
    ("SDP in a multipart body", multipart(SDP_PART + SDP + "--b--\r\n"), BOTH),
    *MULTIPART_CASES,
]
#: where voiplab is known to differ from tshark
SDP_NOT_LIKE_TSHARK: dict[str, str] = {}


def call_capture(path: Path, invite: bytes) -> Path:
    """The INVITE, then 40 RTP packets (PCMU and telephone-event) from 10.0.0.2:50000 to its SDP address."""
    payloads = [invite] + [g.rtp_bytes(k, 160 * k, 0x1234, (0, 101)[k % 2], body=bytes(160)) for k in range(40)]
    flows = [("10.0.0.1", 5060, "10.0.0.2", 5060)] + [("10.0.0.2", 50000, "10.0.0.1", 40000)] * 40
    times = [1_700_000_000 * 10**9 + k * 20_000_000 for k in range(41)]
    g.write_capture(str(path), g.raw_packets(times, flows, payloads))
    return path


@pytest.mark.parametrize(("what", "invite", "payload"), [
    pytest.param(*case, id=case[0], marks=[pytest.mark.xfail(strict=True, reason=SDP_NOT_LIKE_TSHARK[case[0]])]
                 if case[0] in SDP_NOT_LIKE_TSHARK else []) for case in SDP_CASES])
def test_sdp_is_read_as_tshark_reads_it(tshark, tmp_path, what, invite, payload):
    """Does an SDP that the SIP/SDP core rejects or reads otherwise (a header line without colon, a
    Content-Length too long, no v=, a host name, several c= or rtpmap lines, odd spaces...) set up
    the RTP stream tshark finds (or none, as tshark), with tshark's Payload column and figures?"""
    path = call_capture(tmp_path / "call.pcap", invite)
    assert [s.payload for s in analyze(path)] == ([payload] if payload else [])
    assert_same_as_tshark(tshark, path, minimum_rows=0)


@pytest.mark.parametrize("argv", [["analyze", "--json"], ["analyze"]])
def test_voiplab_analyze_imports_no_scapy_matplotlib_or_widgets(argv):
    """Does `python -m voiplab analyze FILE` run without importing scapy, matplotlib or ipywidgets?"""
    script = (
        "import runpy, sys\n"
        f"sys.argv = ['voiplab', {argv[0]!r}, {str(SAMPLE_DIR / 'call_rpi_to_alcatel.pcap')!r}, *{argv[1:]!r}]\n"
        "try:\n    runpy.run_module('voiplab', run_name='__main__')\nexcept SystemExit as end:\n"
        "    assert not end.code, end.code\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('scapy', 'matplotlib', 'ipywidgets'))\n"
        "assert heavy == [], heavy\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert "127.0.0.81" in done.stdout
