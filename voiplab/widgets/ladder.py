"""The ladder stepper (ipywidgets 8): a SIP flow one message at a time.

Notebook 04 shows a recorded call with::

    stepper = vl.ladder_stepper(call_exp)   # both B2BUA legs, with the RTP path of each step
    stepper

Previous / Next and a slider choose a message; the ladder diagram (``vl.plots.ladder``)
is redrawn with that message's arrow highlighted, and the panes show its raw text, its
parsed headers, its SDP body and, when the steps come from ``voiplab.teach.explain``, what
the message does and who sends RTP to which ``ip:port`` after it (the direct-media
re-INVITE moves RTP phone to phone). ``next()``, ``previous()`` and ``go(i)`` do what the
controls do, so a notebook runs headless too.

A view only: the flow comes from ``voiplab.core.flow``, the notes and RTP paths from the
steps given (``voiplab.teach.explain.message_steps``).

Taught in notebook 04.
"""

from __future__ import annotations

import html
import io
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import ipywidgets as w

from ..core.flow import Flow, FlowMessage
from ..core.sip import SipMessage
from ..errors import VoipLabError
from ..plots.ladder import HIGHLIGHT_COLOUR, arrows, figure_size, ladder

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["IMAGE_DPI", "LadderStepper", "RtpView", "StepInfo", "message_headers", "sdp_html"]

#: the resolution of the ladder image (pixels per inch): a 30-message call is about 900 px high
IMAGE_DPI = 72
#: the band behind the current message's row
BAND_COLOUR = "#ffe0e0"
_SDP_ADDRESS_LINES = ("c=", "m=")


class RtpView(Protocol):
    """What RTP flows after a message (``voiplab.teach.explain.RtpPath``)."""

    def lines(self) -> list[tuple[str, bool]]:
        """``(text, changed by this message)`` per RTP direction."""
        ...

    def routes(self) -> list[str]:
        """End to end, phone to phone: via the PBX or direct."""
        ...


class StepInfo(Protocol):
    """What the stepper shows beside a message (``voiplab.teach.explain.MessageStep``)."""

    @property
    def note(self) -> str:
        """What the message does, in one sentence."""
        ...

    @property
    def rtp(self) -> RtpView:
        """The RTP path after the message."""
        ...


def message_headers(message: SipMessage) -> list[tuple[str, str]]:
    """``(name, value)`` of every header in order, as received (the Headers pane)."""
    return [(h.name, h.value) for h in message.headers]


def sdp_html(message: SipMessage) -> str:
    """The SDP body as HTML, the ``c=`` and ``m=`` lines (where RTP goes) highlighted."""
    if not message.has_sdp:
        return "<p><i>no SDP body in this message</i></p>"
    body = message.body.decode("utf-8", "replace").replace("\r\n", "\n").rstrip("\n")
    lines = []
    for line in body.splitlines():
        style = "background:#fff3c4;font-weight:bold" if line.startswith(_SDP_ADDRESS_LINES) else ""
        lines.append(f"<span style='{style}'>{html.escape(line)}</span>")
    return "<pre style='margin:0;font-size:85%'>" + "\n".join(lines) + "</pre>"


class LadderStepper:
    """A ladder diagram stepped one SIP message at a time (display it, or its ``widget``).

    Parameters:
        flow: the :class:`~voiplab.core.flow.Flow` to step through (a call: ``exp.call_flow``).
        roles: ip -> lab role shown on the lifelines (``exp.roles``).
        steps: one :class:`StepInfo` per message of ``flow`` (``voiplab.teach.explain.message_steps``)
            for the note and the RTP path; without it those panes say they are not computed.
        start: the first message shown (0-based).

    Attributes:
        position: the message shown (0-based).
        previous_button, next_button, slider: the controls.
        image: the ladder (PNG), the current arrow in red on a pink band.
        title, note, raw, headers, sdp, rtp: the panes (HTML widgets).

    Raises:
        VoipLabError: the flow has no message, or ``steps`` does not match it.

    Taught in notebook 04.
    """

    def __init__(self, flow: Flow, roles: Mapping[str, str] | None = None, *,
                 steps: Sequence[StepInfo] | None = None, start: int = 0) -> None:
        if not flow.messages:
            raise VoipLabError("the flow has no SIP message to step through: record a call first "
                               "(vl.record_call) or read a capture")
        if steps is not None and len(steps) != len(flow.messages):
            raise VoipLabError(f"the stepper got {len(steps)} steps for {len(flow.messages)} messages: "
                               "make them from the same flow (voiplab.teach.explain.message_steps(flow))")
        self.flow = flow
        self.roles = dict(roles or {})
        self.steps = list(steps) if steps is not None else None
        self.position = -1
        self._figure: Figure | None = None
        self._band: Any = None
        self._lit: tuple[Any, str, float] | None = None  # the highlighted arrow, its colour and width

        count = len(flow.messages)
        self.previous_button = w.Button(description="Previous", icon="arrow-left", tooltip="the message before",
                                        layout=w.Layout(width="8em"))
        self.next_button = w.Button(description="Next", icon="arrow-right", tooltip="the next message",
                                    layout=w.Layout(width="8em"))
        self.slider = w.IntSlider(value=0, min=0, max=count - 1, step=1, description="message",
                                  continuous_update=False, readout=False, layout=w.Layout(width="24em"))
        self.counter = w.HTML()
        self.previous_button.on_click(lambda _b: self.previous())
        self.next_button.on_click(lambda _b: self.next())
        self.slider.observe(self._slid, names="value")
        self.title = w.HTML()
        self.note = w.HTML()
        self.rtp = w.HTML()
        self.raw = w.HTML()
        self.headers = w.HTML()
        self.sdp = w.HTML()
        self.image = w.Image(format="png", layout=w.Layout(width="auto", max_width="52em"))
        self.tabs = w.Tab(children=[self.raw, self.headers, self.sdp], titles=("Message", "Headers", "SDP"))
        controls = w.HBox([self.previous_button, self.slider, self.next_button, self.counter],
                          layout=w.Layout(align_items="center"))
        details = w.VBox([self.title, self.note, w.HTML("<b>RTP after this message</b>"), self.rtp, self.tabs],
                         layout=w.Layout(width="46em", overflow="auto"))
        self.widget = w.VBox([controls, w.HBox([self.image, details], layout=w.Layout(flex_flow="row wrap"))],
                             layout=w.Layout(border="1px solid #d0d7de", padding="6px"))
        self.go(start)

    # -- display ------------------------------------------------------------------
    def __repr__(self) -> str:
        return f"LadderStepper(message {self.position + 1} of {len(self.flow.messages)}: {self.message.label})"

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)

    @property
    def message(self) -> FlowMessage:
        """The message shown."""
        return self.flow.messages[self.position]

    @property
    def step(self) -> StepInfo | None:
        """The note and RTP path of the message shown (``None`` without steps)."""
        return self.steps[self.position] if self.steps is not None else None

    @property
    def highlighted(self) -> int:
        """The flow index of the arrow drawn in red (``sip-message-<index>`` on the ladder)."""
        return self.message.index

    # -- the controls' actions --------------------------------------------------------
    def next(self) -> FlowMessage:
        """Show the next message (the Next button); stays on the last one."""
        return self.go(self.position + 1)

    def previous(self) -> FlowMessage:
        """Show the message before (the Previous button); stays on the first one."""
        return self.go(self.position - 1)

    def go(self, position: int) -> FlowMessage:
        """Show message ``position`` (0-based; clipped to the flow), as the slider does."""
        position = max(0, min(int(position), len(self.flow.messages) - 1))
        if position != self.position:
            self.position = position
            self._show()
        if self.slider.value != position:
            self.slider.value = position  # runs _slid, which finds nothing to do
        return self.message

    def find(self, label: str, start: int = 0) -> int:
        """The position of the first message at or after ``start`` whose label starts with ``label``.

        ``stepper.go(stepper.find("INVITE", 5))``; a re-INVITE is found with ``"INVITE"``.

        Raises:
            VoipLabError: no such message.
        """
        for i, m in enumerate(self.flow.messages[start:], start=start):
            if m.label.startswith(label):
                return i
        raise VoipLabError(f"no message {label!r} at or after position {start}: the flow has "
                           + ", ".join(m.label for m in self.flow.messages[:12]))

    @property
    def media_changes(self) -> list[int]:
        """The positions of the messages after which some RTP goes somewhere new (``[]`` without steps)."""
        if self.steps is None:
            return []
        return [i for i, step in enumerate(self.steps) if any(changed for _text, changed in step.rtp.lines())]

    def go_to_media_change(self, n: int = 0) -> FlowMessage:
        """Show the ``n``-th message that moves RTP (0: the first answer; then the direct-media ones).

        Raises:
            VoipLabError: there are not that many (or the stepper has no steps).
        """
        changes = self.media_changes
        if not -len(changes) <= n < len(changes):
            raise VoipLabError(f"the flow has {len(changes)} messages that move RTP, so there is no number {n}: "
                               "make the stepper with vl.ladder_stepper(experiment) to know them")
        return self.go(changes[n])

    def _slid(self, change: dict[str, Any]) -> None:
        self.go(int(change["new"]))

    # -- drawing ------------------------------------------------------------------------
    def _show(self) -> None:
        item = self.message
        count = len(self.flow.messages)
        self.previous_button.disabled = self.position == 0
        self.next_button.disabled = self.position == count - 1
        self.counter.value = f"{self.position + 1} / {count}"
        origin = self.flow.messages[0].time
        label = html.escape(item.label) + (" <i>(SDP)</i>" if item.has_sdp else "")
        self.title.value = (f"<b>{self.position + 1}. {label}</b> [{html.escape(item.cseq or '')}] "
                            f"{html.escape(self._who(item.src))} → {html.escape(self._who(item.dst))} "
                            f"at +{item.time - origin:.3f} s")
        step = self.step
        if step is None:
            self.note.value = "<i>(no notes: make the stepper with vl.ladder_stepper(experiment))</i>"
            self.rtp.value = "<i>(not computed)</i>"
        else:
            self.note.value = f"<p style='margin:2px 0'>{html.escape(step.note)}</p>"
            self.rtp.value = _rtp_html(step.rtp)
        self.raw.value = _raw_html(item.message)
        rows = "".join(f"<tr><td style='text-align:left'><b>{html.escape(n)}</b></td>"
                       f"<td style='text-align:left;font-family:monospace'>{html.escape(v)}</td></tr>"
                       for n, v in message_headers(item.message))
        self.headers.value = f"<table>{rows}</table>"
        self.sdp.value = sdp_html(item.message)
        self.image.value = self._png()

    def _who(self, address: str) -> str:
        host = address.rpartition(":")[0].strip("[]")
        role = self.roles.get(address) or self.roles.get(host)
        return f"{role} {address}" if role else address

    def _png(self) -> bytes:
        """The ladder with the current arrow highlighted, as PNG (drawn once, restyled per step)."""
        figure = self._figure
        if figure is None:
            # matplotlib: loaded with the first stepper, not by 'import voiplab'
            from matplotlib.figure import Figure

            hosts = {address for m in self.flow.messages for address in (m.src, m.dst)}
            figure = Figure(figsize=figure_size(len(hosts), len(self.flow.messages)), layout="constrained")
            ladder(self.flow, ax=figure.add_subplot(), roles=self.roles)
            self._figure = figure
        ax = figure.axes[0]
        if self._lit is not None:
            arrow, colour, width = self._lit
            arrow.arrow_patch.set_color(colour)
            arrow.arrow_patch.set_linewidth(width)
        if self._band is not None:
            self._band.remove()
        row = self.position + 0.5
        self._band = ax.axhspan(row - 0.45, row + 0.45, color=BAND_COLOUR, zorder=0)
        gid = f"sip-message-{self.message.index}"
        arrow = next((a for a in arrows(ax) if a.get_gid() == gid), None)
        if arrow is not None:
            patch = arrow.arrow_patch
            self._lit = (arrow, patch.get_edgecolor(), patch.get_linewidth())
            patch.set_color(HIGHLIGHT_COLOUR)
            patch.set_linewidth(3.0)
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=IMAGE_DPI)
        return buffer.getvalue()

    def close(self) -> None:
        """Close the widgets (nothing else is held: no phone, no thread)."""
        self.widget.close()
        for child in (self.previous_button, self.next_button, self.slider, self.counter, self.image, self.tabs,
                      self.title, self.note, self.rtp, self.raw, self.headers, self.sdp):
            child.close()
        self._figure = None


def _raw_html(message: SipMessage) -> str:
    text = bytes(message).decode("utf-8", "replace").replace("\r\n", "\n").rstrip("\n")
    first, _, rest = text.partition("\n")
    return (f"<pre style='margin:0;font-size:85%'><b>{html.escape(first)}</b>\n{html.escape(rest)}</pre>")


def _rtp_html(rtp: RtpView) -> str:
    lines = rtp.lines()
    if not lines:
        return "<p style='margin:2px 0'><i>no RTP yet: no SDP offer has been answered</i></p>"
    items = "".join(f"<li style='{'color:#c62828;font-weight:bold' if changed else ''}'>{html.escape(text)}"
                    f"{' ← new' if changed else ''}</li>" for text, changed in lines)
    routes = "".join(f"<li>{html.escape(r)}</li>" for r in rtp.routes())
    return (f"<ul style='margin:2px 0'>{items}</ul>"
            + (f"<p style='margin:2px 0'>End to end:</p><ul style='margin:2px 0'>{routes}</ul>" if routes else ""))
