"""The RTP browser (ipywidgets 8): streams -> packets -> one packet, with plots and audio.

Notebooks 05 and 09 show it with::

    exp = vl.record_call(lab, caller="rpi", number="5001", dtmf="1234#")
    browser = vl.widgets.rtp_browser(exp)
    browser

It is Wireshark's *Telephony -> RTP* menu in one panel:

* the **streams** of the capture, as ``tshark -q -z rtp,streams`` lists them, with their path
  (via the PBX, or direct from phone to phone after the re-INVITEs); pick one;
* its **packets**, as *RTP Stream Analysis* shows them: frame, arrival time, sequence number,
  timestamp, marker, payload type, delta and jitter (Wireshark's rules,
  :mod:`voiplab.core.rtpstats`), and the status of each; step through them;
* one **packet**: every field of its RTP header (RFC 3550 5.1) with what it means, the layers
  of its frame and their sizes, and its bytes, layer by layer;
* **plots** of the stream (sequence numbers, timestamps, jitter, delta histogram:
  :mod:`voiplab.plots.rtp`) and its **audio** (G.711 decoded, placed by timestamp).

The browser only shows: the statistics come from the stream (:class:`~voiplab.core.rtpstats.RtpStream`),
the header from :class:`~voiplab.core.rtp.RtpHeader`, the frame from the capture file
(:func:`voiplab.capture.layers.rtp_packet`). Its methods do what its controls do
(:meth:`RtpBrowser.pick_stream`, :meth:`RtpBrowser.pick_packet`, :meth:`RtpBrowser.next_packet`),
so a notebook runs headless too.

Taught in notebooks 05 (RTP) and 09 (your own call).
"""

from __future__ import annotations

import html
import io
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypedDict

import ipywidgets as w

from ..capture.pcap import UDP_HEADER_LENGTH
from ..core.dtmf import TelephoneEvent
from ..core.payloads import TELEPHONE_EVENT, payload_name
from ..core.rtp import RTP_HEADER_LENGTH, RtpHeader
from ..core.rtpstats import RtpStream, StreamStats
from ..errors import RtpParseError, VoipLabError
from ..plots.rtp import plot_delta_histogram, plot_jitter, plot_sequence, plot_timestamps

__all__ = ["PACKET_ROWS", "PROBLEMS", "Browsable", "PacketRow", "RtpBrowser", "rtp_browser"]

#: packets listed around the picked one in the packet table
PACKET_ROWS = 15
#: bytes per line of the hex dump
HEX_LINE = 16
#: colours of the layers in the hex dump, by scapy's layer name (a link layer: the default)
LAYER_COLOURS = {"IP": "#dbe9ff", "IPv6": "#dbe9ff", "UDP": "#e2f5e2", "RTP": "#ffe7b3", "payload": "#ffffff"}
LINK_COLOUR = "#e8e8e8"
_PICKED = "#fff3c4"
_BAD = "#cf222e"
_NOTE = "#57606a"
#: the statuses of Wireshark's analysis that are problems (the others are notes: a DTMF event, a new payload type)
PROBLEMS = ("Wrong sequence number", "Incorrect timestamp", "Marker missing?")


class PacketRow(TypedDict):
    """One line of the packet table (Wireshark's *RTP Stream Analysis*)."""

    index: int
    frame: int
    time_s: float
    seq: int
    timestamp: int
    marker: bool
    payload_type: int
    payload: str
    delta_ms: float
    jitter_ms: float
    status: str


class _PathTable(Protocol):
    def path(self, stats: StreamStats) -> str: ...


class Browsable(Protocol):
    """What the browser needs of a recorded call (an ``Experiment``, from ``vl.record_call``)."""

    @property
    def streams(self) -> list[RtpStream] | None: ...

    @property
    def pcap(self) -> Path | None: ...

    @property
    def roles(self) -> Mapping[str, str]: ...

    def streams_table(self) -> _PathTable: ...


@dataclass(frozen=True)
class _Frame:
    """One packet as the browser shows it: the bytes, the layers (name, header size), the RTP packet."""

    data: bytes
    layers: tuple[tuple[str, int], ...]
    rtp: bytes


def _colour(layer: str) -> str:
    return LAYER_COLOURS.get(layer, LINK_COLOUR)


def _hexdump_html(frame: _Frame) -> str:
    """The bytes, 16 per line, each layer on its colour."""
    colours: list[str] = []
    for name, size in frame.layers:
        colours += [_colour(name)] * size
    colours += [LAYER_COLOURS["payload"]] * (len(frame.data) - len(colours))
    lines = []
    for offset in range(0, len(frame.data), HEX_LINE):
        cells = "".join(f"<span style='background:{colours[j]}'>{frame.data[j]:02x}</span> "
                        for j in range(offset, min(offset + HEX_LINE, len(frame.data))))
        lines.append(f"{offset:04x}  {cells}")
    return "<pre style='line-height:1.3'>" + "\n".join(lines) + "</pre>"


def _status_colour(status: str) -> str:
    """Red for a problem of the packet, grey for a note, nothing when it is ``[ Ok ]``."""
    if status == "[ Ok ]":
        return ""
    return f"color:{_BAD};" if status.startswith(PROBLEMS) else f"color:{_NOTE};"


def _who(roles: Mapping[str, str], ip: str, port: int) -> str:
    role = roles.get(ip)
    return f"{role.split(' ')[0]} ({ip}:{port})" if role else f"{ip}:{port}"


class RtpBrowser:
    """Browse the RTP of a capture: pick a stream, step through its packets, look at one.

    Parameters:
        streams: the RTP streams (``exp.streams``, ``vl.streams(path)``).
        pcap: the capture they come from (to show each packet's frame); ``None``: the header
            is rebuilt from the stream's fields.
        roles: ip -> lab role, to name the hosts (``exp.roles``).
        path: the path of a stream (via the PBX or direct), e.g. ``exp.streams_table().path``.
        rows: packets listed around the picked one.

    Attributes:
        stream_index, packet_index: what is picked (in :attr:`streams`, in the stream).
        errors: every error message shown, oldest first.

    Taught in notebooks 05 and 09.
    """

    def __init__(self, streams: Sequence[RtpStream], *, pcap: str | Path | None = None,
                 roles: Mapping[str, str] | None = None, path: Callable[[StreamStats], str] | None = None,
                 rows: int = PACKET_ROWS) -> None:
        if not streams:
            raise VoipLabError("there are no RTP streams to browse: record a call with capture "
                               "(vl.record_call) or use vl.rtp_or_sample(exp)")
        self.streams = sorted(streams, key=lambda s: int(s.time_ns[0]))
        self.pcap = Path(pcap) if pcap is not None else None
        self.roles = dict(roles or {})
        self.path = path
        self.rows = int(rows)
        self.stream_index = 0
        self.packet_index = 0
        self.errors: list[str] = []
        self._frame_cache: dict[tuple[int, int], _Frame] = {}

        self.title = w.HTML("<b>RTP browser</b>: pick a stream, then a packet")
        self.stream_table = w.HTML()
        self.stream_picker = w.Dropdown(options=[(self._label(i), i) for i in range(len(self.streams))],
                                        description="Stream", layout=w.Layout(width="60em"))
        self.packet_slider = w.IntSlider(min=0, max=0, description="Packet", continuous_update=False,
                                         layout=w.Layout(width="40em"))
        self.previous_button = w.Button(description="◀ Previous", tooltip="the packet before",
                                        layout=w.Layout(width="8em"))
        self.next_button = w.Button(description="Next ▶", tooltip="the packet after", layout=w.Layout(width="8em"))
        self.packet_table = w.HTML()
        self.packet_view = w.HTML()
        self.plot_image = w.Image(format="png", layout=w.Layout(width="60em"))
        self.audio_view = w.HTML()
        self.error_line = w.HTML()
        self.tabs = w.Tab(children=[
            w.VBox([w.HBox([self.previous_button, self.packet_slider, self.next_button]), self.packet_table,
                    self.packet_view]),
            self.plot_image, self.audio_view])
        for i, title in enumerate(("Packets", "Plots", "Audio")):
            self.tabs.set_title(i, title)
        self.widget = w.VBox([self.title, self.stream_table, self.stream_picker, self.tabs, self.error_line])

        self.stream_picker.observe(self._guarded(lambda change: self._show_stream(int(change["new"]))),
                                   names="value")
        self.packet_slider.observe(self._guarded(lambda change: self._show_packet(int(change["new"]))),
                                   names="value")
        self.previous_button.on_click(self._guarded(lambda _b: self.previous_packet()))
        self.next_button.on_click(self._guarded(lambda _b: self.next_packet()))
        self._show_stream(0)

    # -- display ------------------------------------------------------------------
    def __repr__(self) -> str:
        s = self.stream
        return (f"RtpBrowser({len(self.streams)} streams; stream {self.stream_index}: {s.src} -> {s.dst} "
                f"0x{s.ssrc:08X}, packet {self.packet_index} of {len(s)})")

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)

    def _label(self, i: int) -> str:
        s = self.streams[i]
        stats = s.stats
        path = f" · {self.path(stats)}" if self.path else ""
        return (f"{i}: {_who(self.roles, s.src, s.src_port)} → {_who(self.roles, s.dst, s.dst_port)} · "
                f"0x{s.ssrc:08X} · {stats.payload} · {stats.packets} packets{path}")

    def _guarded(self, action: Callable[[Any], object]) -> Callable[[Any], None]:
        """A handler that shows errors in the browser instead of raising them into the kernel."""

        def handler(arg: Any) -> None:
            try:
                action(arg)
            except VoipLabError as e:
                self._show_error(str(e))
            except Exception as e:  # noqa: BLE001 - nothing may escape into the kernel from a click
                self._show_error(f"unexpected error {e!r}: please report it")

        return handler

    def _show_error(self, message: str) -> None:
        self.errors.append(message)
        self.error_line.value = f"<span style='color:{_BAD}'>{html.escape(message)}</span>"

    # -- what is picked -------------------------------------------------------------
    @property
    def stream(self) -> RtpStream:
        """The picked stream."""
        return self.streams[self.stream_index]

    def pick_stream(self, index: int) -> RtpStream:
        """Pick stream ``index`` (as choosing it in the list does); its first packet is shown.

        Raises:
            VoipLabError: there is no such stream.
        """
        if not 0 <= index < len(self.streams):
            raise VoipLabError(f"stream {index} is not in the list: pick one of 0 to {len(self.streams) - 1}")
        self.stream_picker.value = index  # the observer shows it
        if self.stream_index != index:  # same value: no change event
            self._show_stream(index)
        return self.stream

    def pick_packet(self, index: int) -> RtpHeader:
        """Pick packet ``index`` of the picked stream (as moving the slider does); its header.

        Raises:
            VoipLabError: the stream has no such packet.
        """
        n = len(self.stream)
        if not 0 <= index < n:
            raise VoipLabError(f"packet {index} is not in this stream: pick one of 0 to {n - 1}")
        self.packet_slider.value = index
        if self.packet_index != index:
            self._show_packet(index)
        return self.header

    def next_packet(self) -> RtpHeader:
        """The packet after the picked one (the Next button); stays on the last."""
        return self.pick_packet(min(self.packet_index + 1, len(self.stream) - 1))

    def previous_packet(self) -> RtpHeader:
        """The packet before the picked one (the Previous button); stays on the first."""
        return self.pick_packet(max(self.packet_index - 1, 0))

    # -- the packets ------------------------------------------------------------------
    def packet_row(self, i: int) -> PacketRow:
        """Line ``i`` of the packet table of the picked stream."""
        s = self.stream
        analysis = s.analysis
        pt = int(s.payload_type[i])
        names = {p: name for p, (name, _rate) in s.rtpmap.items()} or None
        return {"index": i, "frame": int(s.frame[i]), "time_s": float(s.time_ns[i]) / 1e9,
                "seq": int(s.sequence_number[i]), "timestamp": int(s.timestamp[i]), "marker": bool(s.marker[i]),
                "payload_type": pt, "payload": payload_name(pt, names), "delta_ms": float(analysis.delta_ms[i]),
                "jitter_ms": float(analysis.jitter_ms[i]), "status": analysis.status(i)}

    def packet_rows(self, start: int = 0, stop: int | None = None) -> list[PacketRow]:
        """Lines ``start`` to ``stop`` of the packet table of the picked stream."""
        stop = len(self.stream) if stop is None else min(stop, len(self.stream))
        return [self.packet_row(i) for i in range(max(0, start), stop)]

    @property
    def header(self) -> RtpHeader:
        """The RTP header (and payload) of the picked packet, read from the capture when there is one."""
        return RtpHeader.parse(self._frame(self.stream_index, self.packet_index).rtp)

    def _frame(self, stream_index: int, i: int) -> _Frame:
        """Packet ``i`` of a stream: its frame when the capture is known, its layers, its RTP bytes."""
        key = (stream_index, i)
        if key not in self._frame_cache:
            self._frame_cache[key] = self._read_frame(self.streams[stream_index], i)
        return self._frame_cache[key]

    def _read_frame(self, s: RtpStream, i: int) -> _Frame:
        payload = s.payload(i) if s.payload_data is not None else b""
        if self.pcap is None:
            rebuilt = bytes(RtpHeader(int(s.payload_type[i]), int(s.sequence_number[i]), int(s.timestamp[i]),
                                      s.ssrc, bool(s.marker[i]), payload=payload))
            return _Frame(rebuilt, (("RTP", len(rebuilt) - len(payload)), ("payload", len(payload))), rebuilt)
        # scapy: loaded when the first packet is shown, not when the browser is made
        from ..capture.layers import rtp_packet

        packet = rtp_packet(self.pcap, s, i)
        layers: list[tuple[str, int]] = []
        layer = packet
        while layer and layer.name not in ("Raw", "Padding"):
            layers.append((str(layer.name), len(bytes(layer)) - len(bytes(layer.payload))))
            layer = layer.payload
        udp = next(layer for layer in packet.layers() if layer.__name__ == "UDP")
        rtp = bytes(packet[udp])[UDP_HEADER_LENGTH:packet[udp].len]
        layers.append(("payload", len(rtp) - dict(layers).get("RTP", RTP_HEADER_LENGTH)))
        return _Frame(bytes(packet), tuple(layers), rtp)

    # -- rendering ------------------------------------------------------------------------
    def _show_stream(self, index: int) -> None:
        self.stream_index = index
        self.packet_index = 0
        s = self.stream
        self.packet_slider.max = len(s) - 1
        self.packet_slider.value = 0
        self.stream_table.value = self._stream_table_html()
        self._show_packet(0)
        self.plot_image.value = self._plots_png()
        self.audio_view.value = self._audio_html()

    def _show_packet(self, index: int) -> None:
        self.packet_index = index
        self.packet_table.value = self._packet_table_html()
        self.packet_view.value = self._packet_html()

    def _stream_table_html(self) -> str:
        head = ("#", "source", "destination", "SSRC", "payload", "packets", "lost", "min/mean/max delta (ms)",
                "mean/max jitter (ms)", "start (s)", "end (s)") + (("path",) if self.path else ())
        rows = []
        for i, s in enumerate(self.streams):
            st = s.stats
            style = f" style='background:{_PICKED};font-weight:bold'" if i == self.stream_index else ""
            path = f"<td>{html.escape(self.path(st))}</td>" if self.path else ""
            rows.append(
                f"<tr{style}><td>{i}</td><td>{html.escape(_who(self.roles, st.src, st.src_port))}</td>"
                f"<td>{html.escape(_who(self.roles, st.dst, st.dst_port))}</td><td>0x{st.ssrc:08X}</td>"
                f"<td>{html.escape(st.payload)}</td><td>{st.packets}</td><td>{st.lost} ({st.lost_percent:.1f}%)</td>"
                f"<td>{st.min_delta_ms:.3f} / {st.mean_delta_ms:.3f} / {st.max_delta_ms:.3f}</td>"
                f"<td>{st.mean_jitter_ms:.3f} / {st.max_jitter_ms:.3f}</td><td>{st.start:.3f}</td>"
                f"<td>{st.end:.3f}</td>{path}</tr>")
        return ("<table><tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr>" + "".join(rows) + "</table>")

    def _packet_table_html(self) -> str:
        half = self.rows // 2
        start = max(0, min(self.packet_index - half, len(self.stream) - self.rows))
        head = ("#", "frame", "time (s)", "seq", "timestamp", "M", "PT", "delta (ms)", "jitter (ms)", "status")
        body = []
        for row in self.packet_rows(start, start + self.rows):
            picked = row["index"] == self.packet_index
            colour = f"background:{_PICKED};font-weight:bold;" if picked else ""
            colour += _status_colour(row["status"])
            body.append(
                f"<tr style='{colour}'><td>{row['index']}</td><td>{row['frame']}</td><td>{row['time_s']:.6f}</td>"
                f"<td>{row['seq']}</td><td>{row['timestamp']}</td><td>{'M' if row['marker'] else ''}</td>"
                f"<td>{row['payload_type']} {html.escape(row['payload'])}</td><td>{row['delta_ms']:.3f}</td>"
                f"<td>{row['jitter_ms']:.3f}</td><td>{html.escape(row['status'])}</td></tr>")
        return ("<table><tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr>" + "".join(body) + "</table>")

    def _field_rows(self, header: RtpHeader) -> list[tuple[str, str, str, str]]:
        """(field, bits, value, what it means) for the picked packet."""
        s, i = self.stream, self.packet_index
        names = {p: name for p, (name, _rate) in s.rtpmap.items()} or None
        name = payload_name(header.payload_type, names)
        ts0 = int(s.timestamp[0])
        rate = s.rtpmap.get(header.payload_type, ("", 8000))[1] or 8000
        since = ((header.timestamp - ts0) % (1 << 32)) / rate * 1000.0
        previous = (f"previous packet: {int(s.sequence_number[i - 1])}" if i else "the first packet of the stream")
        marker = ("set: the first packet of a talk spurt (or of a DTMF event)" if header.marker
                  else "clear: the audio goes on")
        rows = [("version", "2", str(header.version), "always 2 for RTP"),
                ("padding (P)", "1", str(int(header.padding > 0)), "padding bytes at the end"),
                ("extension (X)", "1", str(int(header.extension_profile is not None)), "a header extension follows"),
                ("CSRC count (CC)", "4", str(len(header.csrc)), "contributing sources (a mixer's inputs)"),
                ("marker (M)", "1", str(int(header.marker)), marker),
                ("payload type (PT)", "7", str(header.payload_type), name),
                ("sequence number", "16", str(header.sequence_number), f"+1 per packet; {previous}"),
                ("timestamp", "32", str(header.timestamp),
                 f"{since:.1f} ms after the stream's first packet (clock {rate} Hz)"),
                ("SSRC", "32", f"0x{header.ssrc:08X}", "the random identifier of this source"),
                ("payload", f"{8 * len(header.payload)}", f"{len(header.payload)} bytes",
                 self._payload_meaning(header))]
        return rows

    def _payload_meaning(self, header: RtpHeader) -> str:
        s = self.stream
        name = s.rtpmap.get(header.payload_type, ("", 0))[0]
        if name.lower().startswith(TELEPHONE_EVENT):
            try:
                return repr(TelephoneEvent.parse(header.payload))
            except RtpParseError as e:
                return str(e)
        if header.payload_type in (0, 8):
            law = "µ-law" if header.payload_type == 0 else "A-law"
            return f"{len(header.payload)} G.711 {law} samples: {len(header.payload) / 8:g} ms at 8000 Hz"
        return "the encoded media"

    def _packet_html(self) -> str:
        frame = self._frame(self.stream_index, self.packet_index)
        fields = "".join(f"<tr><td>{html.escape(f)}</td><td>{b}</td><td><b>{html.escape(v)}</b></td>"
                         f"<td>{html.escape(m)}</td></tr>" for f, b, v, m in self._field_rows(self.header))
        source = ("the frame read from the capture" if self.pcap is not None
                  else "the RTP packet rebuilt from the stream's fields (no capture file)")
        sizes = " + ".join(f"<span style='background:{_colour(name)}'>{html.escape(name)} {size}</span>"
                           for name, size in frame.layers)
        return (f"<p><b>Packet {self.packet_index}</b> (frame {int(self.stream.frame[self.packet_index])}): "
                f"{sizes} = {len(frame.data)} bytes, {source}</p>"
                "<table><tr><th>field</th><th>bits</th><th>value</th><th>meaning</th></tr>"
                f"{fields}</table>{_hexdump_html(frame)}")

    def _plots_png(self) -> bytes:
        """The four plots of the picked stream as one PNG (no pyplot: nothing global changes)."""
        # matplotlib: loaded when the first stream is shown, not by 'import voiplab'
        from matplotlib.figure import Figure

        fig = Figure(figsize=(11, 6), layout="constrained")
        axes = fig.subplots(2, 2)
        s = self.stream
        plot_sequence(s, ax=axes[0, 0])
        plot_timestamps(s, ax=axes[0, 1])
        plot_jitter(s, ax=axes[1, 0])
        plot_delta_histogram(s, ax=axes[1, 1])
        fig.suptitle(f"{_who(self.roles, s.src, s.src_port)} → {_who(self.roles, s.dst, s.dst_port)}")
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=80)
        return buffer.getvalue()

    def _audio_html(self) -> str:
        """The stream's audio as an HTML5 player (IPython's ``Audio``), or why there is none."""
        try:
            samples = self.stream.audio()
        except RtpParseError as e:
            return f"<p>{html.escape(str(e))}</p>"
        # IPython: present wherever widgets are shown
        from IPython.display import Audio

        seconds = len(samples) / 8000
        return (f"<p>{seconds:.1f} s of G.711 decoded to linear samples, placed by RTP timestamp "
                "(a lost packet is silence)</p>" + Audio(samples, rate=8000)._repr_html_())

    @property
    def audio(self) -> Any:
        """The picked stream's audio as ``IPython.display.Audio`` (display it to hear it)."""
        from IPython.display import Audio  # IPython: present wherever widgets are shown

        return Audio(self.stream.audio(), rate=8000)

    def close(self) -> None:
        """Close every widget of the browser (the cleanup cell)."""
        for widget in (self.title, self.stream_table, self.stream_picker, self.packet_slider, self.previous_button,
                       self.next_button, self.packet_table, self.packet_view, self.plot_image, self.audio_view,
                       self.error_line, self.tabs, self.widget):
            widget.close()
        self._frame_cache.clear()


def rtp_browser(source: Browsable | Sequence[RtpStream], *, pcap: str | Path | None = None) -> RtpBrowser:
    """The RTP browser over a recorded call (``vl.record_call``, ``rec.stop()``, ``vl.rtp_or_sample``).

    Parameters:
        source: the recorded call (its streams, capture, roles and the path of each stream),
            or a list of streams (``vl.streams(path)``, with ``pcap=path`` to see the frames).
        pcap: the capture of a list of streams.

    Raises:
        VoipLabError: there is no RTP stream to browse.

    Taught in notebooks 05 and 09.
    """
    if isinstance(source, Sequence):
        return RtpBrowser(list(source), pcap=pcap)
    return RtpBrowser(source.streams or [], pcap=source.pcap, roles=source.roles,
                      path=source.streams_table().path)
