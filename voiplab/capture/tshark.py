"""tshark, the reference oracle: its RTP stream table, next to voiplab's figures.

:func:`tshark_rtp_streams` runs ``tshark -q -z rtp,streams`` and parses its rows;
:func:`compare_with_tshark` puts voiplab's statistics of the same capture beside them at
tshark's printed precision. Tests use it as the oracle; notebook 05 shows it to students.

Taught in notebook 05 (Wireshark as the reference).
"""

from __future__ import annotations

import html
import re
import shutil
import subprocess
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TypedDict, runtime_checkable

from ..core.rtpstats import RtpStream, StreamStats
from ..errors import VoipLabError
from .streams import analyze

__all__ = ["TSHARK_COLUMNS", "ComparisonRow", "TsharkComparison", "TsharkRow", "compare_with_tshark",
           "tshark_rtp_streams"]

_TSHARK_ROW = re.compile(
    r"\s*(?P<start>[\d.]+)\s+(?P<end>[\d.]+)\s+(?P<src>\S+)\s+(?P<src_port>\d+)\s+(?P<dst>\S+)\s+"
    r"(?P<dst_port>\d+)\s+(?P<ssrc>0x[0-9A-Fa-f]{8})\s+(?P<payload>.+?)\s+(?P<packets>\d+)\s+"
    r"(?P<lost>-?\d+) \((?P<lost_percent>[-\d.]+)%\)\s+(?P<min_delta_ms>\S+)\s+(?P<mean_delta_ms>\S+)\s+"
    r"(?P<max_delta_ms>\S+)\s+(?P<min_jitter_ms>\S+)\s+(?P<mean_jitter_ms>\S+)\s+(?P<max_jitter_ms>\S+)"
    r"\s*(?P<problem>X?)\s*$"
)
#: the columns compared with tshark, with their printed precision
TSHARK_COLUMNS: tuple[tuple[str, str], ...] = (
    ("payload", "s"), ("packets", "d"), ("lost", "d"), ("min_delta_ms", ".3f"), ("mean_delta_ms", ".3f"),
    ("max_delta_ms", ".3f"), ("min_jitter_ms", ".3f"), ("mean_jitter_ms", ".3f"), ("max_jitter_ms", ".3f"),
    ("start", ".6f"), ("end", ".6f"),
)


class TsharkRow(TypedDict):
    """One row of ``tshark -q -z rtp,streams``, with numbers as numbers (``ssrc`` an int)."""

    start: float
    end: float
    src: str
    src_port: int
    dst: str
    dst_port: int
    ssrc: int
    payload: str
    packets: int
    lost: int
    lost_percent: float
    min_delta_ms: float
    mean_delta_ms: float
    max_delta_ms: float
    min_jitter_ms: float
    mean_jitter_ms: float
    max_jitter_ms: float
    problem: bool


class ComparisonRow(TypedDict):
    """One stream of a :class:`TsharkComparison`: its identity, each tool's printed figures, whether equal."""

    stream: str
    voiplab: dict[str, str] | None
    tshark: dict[str, str] | None
    equal: bool


@runtime_checkable
class Captured(Protocol):
    """A recorded experiment as the comparison needs it: its pcap, why there is none, its statistics."""

    @property
    def pcap(self) -> Path | None: ...

    @property
    def note(self) -> str: ...

    @property
    def streams(self) -> Sequence[RtpStream] | None: ...

    @property
    def stream_stats(self) -> list[StreamStats]: ...


def tshark_rtp_streams(pcap: str | Path, *, tshark: str | None = None,
                       heuristic: bool = False) -> list[TsharkRow]:
    """The rows of ``tshark -q -z rtp,streams`` for a capture, as dicts.

    Keys: ``start, end, src, src_port, dst, dst_port, ssrc`` (int), ``payload, packets,
    lost, lost_percent, min/mean/max_delta_ms, min/mean/max_jitter_ms, problem`` (bool).

    Raises:
        VoipLabError: tshark is not installed or failed.

    Taught in notebook 05 (Wireshark as the reference).
    """
    exe = tshark or shutil.which("tshark")
    if exe is None:
        raise VoipLabError("tshark is not installed: install it (apt-get install tshark, or Wireshark) "
                           "to compare with Wireshark's figures")
    cmd = [exe, "-n", "-r", str(pcap), "-q", "-z", "rtp,streams"]
    if heuristic:
        cmd[2:2] = ["-o", "rtp.heuristic_rtp:TRUE"]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise VoipLabError(f"tshark could not run ({e}): check the installation with 'tshark -v'") from None
    if done.returncode not in (0, 2):  # 2: the last packet was cut short; the output is still given
        raise VoipLabError(f"tshark failed on {pcap} ({done.stderr.strip()[:200]}): check the file")
    rows: list[TsharkRow] = []
    for line in done.stdout.splitlines():
        m = _TSHARK_ROW.match(line)
        if not m:
            continue
        g = m.groupdict()
        rows.append(TsharkRow(
            start=float(g["start"]), end=float(g["end"]), src=g["src"], src_port=int(g["src_port"]), dst=g["dst"],
            dst_port=int(g["dst_port"]), ssrc=int(g["ssrc"], 16), payload=g["payload"].strip(),
            packets=int(g["packets"]), lost=int(g["lost"]), lost_percent=float(g["lost_percent"]),
            min_delta_ms=float(g["min_delta_ms"]), mean_delta_ms=float(g["mean_delta_ms"]),
            max_delta_ms=float(g["max_delta_ms"]), min_jitter_ms=float(g["min_jitter_ms"]),
            mean_jitter_ms=float(g["mean_jitter_ms"]), max_jitter_ms=float(g["max_jitter_ms"]),
            problem=g["problem"] == "X",
        ))
    return rows


@dataclass(frozen=True)
class TsharkComparison:
    """voiplab's stream figures next to tshark's, at tshark's printed precision.

    Attributes:
        rows: one dict per stream: ``stream`` (its identity), ``voiplab`` and ``tshark``
            (column -> printed value, ``None`` when the other tool did not report it),
            ``equal`` (all columns equal).
        message: why there is no comparison (tshark missing, no capture), or ``""``.

    Taught in notebook 05.
    """

    rows: tuple[ComparisonRow, ...]
    message: str = ""

    @property
    def available(self) -> bool:
        """Whether tshark ran."""
        return not self.message

    @property
    def all_equal(self) -> bool:
        """Whether every stream and figure is the same in both tools."""
        return self.available and all(r["equal"] for r in self.rows)

    def __repr__(self) -> str:
        if not self.available:
            return f"TsharkComparison({self.message})"
        same = sum(r["equal"] for r in self.rows)
        return f"TsharkComparison({len(self.rows)} streams, {same} identical to tshark's figures)"

    def _repr_html_(self) -> str:
        if not self.available:
            return f"<p><b>No comparison:</b> {html.escape(self.message)}</p>"
        head = "".join(f"<th>{c}</th>" for c, _fmt in TSHARK_COLUMNS)
        out = [f"<table><tr><th>stream</th><th>tool</th>{head}</tr>"]
        for r in self.rows:
            for tool in ("voiplab", "tshark"):
                cells = []
                for column, _fmt in TSHARK_COLUMNS:
                    mine, theirs = r["voiplab"], r["tshark"]
                    value = (mine if tool == "voiplab" else theirs)
                    shown = "-" if value is None else value[column]
                    differs = mine is None or theirs is None or mine[column] != theirs[column]
                    style = " style='background:#f7d4d4'" if differs else ""
                    cells.append(f"<td{style}>{html.escape(shown)}</td>")
                label = f"<td rowspan=2>{html.escape(r['stream'])}</td>" if tool == "voiplab" else ""
                out.append(f"<tr>{label}<td>{tool}</td>{''.join(cells)}</tr>")
        out.append("</table>")
        verdict = ("every figure is identical" if self.all_equal
                   else "differences are shown in red: one of the tools is wrong, report it")
        out.append(f"<p>{verdict}.</p>")
        return "".join(out)


def _printed(values: Mapping[str, object]) -> dict[str, str]:
    return {column: format(values[column], fmt) for column, fmt in TSHARK_COLUMNS}


def compare_with_tshark(source: Captured | str | Path | None, *, tshark: str | None = None) -> TsharkComparison:
    """Compare voiplab's RTP stream statistics with ``tshark -q -z rtp,streams`` on the same capture.

    Never raises for a missing tshark or capture: the comparison then says why it is empty.

    Taught in notebook 05.
    """
    pcap = source.pcap if isinstance(source, Captured) else source
    if pcap is None:
        note = source.note if isinstance(source, Captured) else ""
        return TsharkComparison((), f"there is no capture to compare ({note or 'no pcap'})")
    try:
        theirs = tshark_rtp_streams(pcap, tshark=tshark)
    except VoipLabError as e:
        return TsharkComparison((), str(e))
    if isinstance(source, Captured) and source.streams is not None:
        mine_stats = source.stream_stats
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            mine_stats = analyze(pcap)

    def key(src: str, sp: int, dst: str, dp: int, ssrc: int) -> str:
        return f"{src}:{sp} → {dst}:{dp} 0x{ssrc:08X}"

    mine = {key(s.src, s.src_port, s.dst, s.dst_port, s.ssrc): _printed(_stats_dict(s)) for s in mine_stats}
    other = {key(r["src"], r["src_port"], r["dst"], r["dst_port"], r["ssrc"]): _printed(r) for r in theirs}
    rows: list[ComparisonRow] = []
    for k in list(other) + [k for k in mine if k not in other]:
        a, b = mine.get(k), other.get(k)
        rows.append(ComparisonRow(stream=k, voiplab=a, tshark=b, equal=a is not None and a == b))
    return TsharkComparison(tuple(rows))


def _stats_dict(s: StreamStats) -> dict[str, object]:
    return {column: getattr(s, column) for column, _fmt in TSHARK_COLUMNS}
