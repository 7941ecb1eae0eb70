"""Views over the RTP streams of a call: the path each one takes, their quality, the keys pressed.

* :func:`stream_path`, :class:`StreamsTable`: RTP via the PBX or direct (phone to phone);
* :func:`quality_table`: the E-model estimate of each stream (an estimate, not a measurement);
* :func:`dtmf_digits`: the RFC 4733 key presses a stream carries.

Taught in notebooks 05 (RTP) and 09 (your own call).
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..core.dtmf import Digit, digits
from ..core.quality import QualityEstimate, estimate
from ..core.rtpstats import RtpStream, StreamStats
from .explain import Recorded

__all__ = ["QualityTable", "StreamsTable", "dtmf_digits", "quality_table", "stream_path"]


def stream_path(stats: StreamStats, pbx: str) -> str:
    """``"via the PBX"`` when the PBX sends or receives the stream, else ``"direct"``.

    Taught in notebook 05 (direct media: RTP moves phone to phone after the re-INVITEs).
    """
    return "via the PBX" if pbx in (stats.src, stats.dst) else "direct (phone to phone)"


@dataclass(frozen=True)
class StreamsTable:
    """The RTP streams of a capture with their path: via the PBX or direct. Taught in notebook 05."""

    stats: list[StreamStats]
    pbx: str
    note: str = ""

    def __repr__(self) -> str:
        if not self.stats:
            return f"no RTP streams ({self.note or 'none in the capture'})"
        return "\n".join(f"{s.start:7.3f}-{s.end:7.3f} s  {s.src}:{s.src_port} -> {s.dst}:{s.dst_port} "
                         f"0x{s.ssrc:08X} {s.payload} {s.packets} packets  {stream_path(s, self.pbx)}"
                         for s in sorted(self.stats, key=lambda s: s.start))

    def _repr_html_(self) -> str:
        if not self.stats:
            return f"<p>{html.escape(repr(self))}</p>"
        head = ("start (s)", "end (s)", "source", "destination", "SSRC", "payload", "packets", "lost",
                "mean jitter (ms)", "path")
        rows = []
        for s in sorted(self.stats, key=lambda s: s.start):
            path = stream_path(s, self.pbx)
            colour = "#fff3c4" if path.startswith("via") else "#d4f7d4"
            rows.append(f"<tr style='background:{colour}'><td>{s.start:.3f}</td><td>{s.end:.3f}</td>"
                        f"<td>{s.src}:{s.src_port}</td><td>{s.dst}:{s.dst_port}</td><td>0x{s.ssrc:08X}</td>"
                        f"<td>{html.escape(s.payload)}</td><td>{s.packets}</td><td>{s.lost}</td>"
                        f"<td>{s.mean_jitter_ms:.3f}</td><td><b>{path}</b></td></tr>")
        return ("<table><tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr>" + "".join(rows) + "</table>")


@dataclass(frozen=True)
class QualityTable:
    """The estimated MOS of each stream, with the E-model inputs (an estimate, not a measurement).

    Taught in notebook 05.
    """

    rows: tuple[tuple[StreamStats, QualityEstimate], ...]

    def __repr__(self) -> str:
        return "\n".join(f"{s.src}:{s.src_port} -> {s.dst}:{s.dst_port}: {q!r}" for s, q in self.rows)

    def _repr_html_(self) -> str:
        head = ("stream", "codec", "loss (%)", "mean jitter (ms)", "one-way delay (ms, assumed + buffers)",
                "Ie,eff", "Id", "R", "MOS (estimate)")
        body = "".join(
            f"<tr><td>{html.escape(f'{s.src}:{s.src_port} → {s.dst}:{s.dst_port}')}</td><td>{html.escape(q.codec)}</td>"
            f"<td>{q.loss_percent:.1f}</td><td>{q.mean_jitter_ms:.3f}</td><td>{q.one_way_delay_ms:.0f}</td>"
            f"<td>{q.equipment_impairment:.1f}</td><td>{q.delay_impairment:.1f}</td><td>{q.r:.1f}</td>"
            f"<td><b>{q.mos:.2f}</b></td></tr>" for s, q in self.rows)
        label = self.rows[0][1].label if self.rows else "estimate"
        return ("<table><tr>" + "".join(f"<th>{h}</th>" for h in head) + f"</tr>{body}</table>"
                f"<p><i>{html.escape(label)}</i></p>")


def quality_table(source: Recorded | Sequence[StreamStats | RtpStream], **options: float) -> QualityTable:
    """The E-model estimate (:func:`voiplab.core.quality.estimate`) of every audio stream.

    A stream that also carries DTMF is named ``"g711U, telephone-event"`` (as tshark names
    it): its voice codec, the first name, is the one rated.

    Taught in notebook 05.
    """
    stats = (source.stream_stats if isinstance(source, Recorded)
             else [s.stats if isinstance(s, RtpStream) else s for s in source])
    rows = []
    for s in stats:
        codec = str(s.payload).split(",")[0].strip()
        try:
            q = estimate(codec, max(0.0, float(s.lost_percent)), float(s.mean_jitter_ms), **options)
        except ValueError:
            continue  # not a voice codec (telephone-event only, comfort noise...)
        rows.append((s, q))
    return QualityTable(tuple(rows))


def dtmf_digits(stream: RtpStream) -> list[Digit]:
    """The key presses (RFC 4733 telephone-events) carried by an RTP stream.

    The telephone-event payload type comes from the SDP's ``a=rtpmap`` (101 in the lab).

    Taught in notebook 05.
    """

    event_types = [pt for pt, (name, _rate) in stream.rtpmap.items() if name.lower() == "telephone-event"]
    if not event_types:
        event_types = [101]
    idx = np.flatnonzero(np.isin(stream.payload_type, event_types))
    if len(idx) == 0:
        return []
    payloads = [stream.payload(int(i)) for i in idx]
    times = np.asarray(stream.time_ns, dtype=float)[idx] / 1e9
    return digits(np.asarray(stream.timestamp)[idx], payloads, times)
