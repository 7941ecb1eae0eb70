"""The ladder (sequence) diagram of a SIP flow, as Wireshark's Flow Sequence and sngrep draw it.

Taught in notebook 03 (REGISTER and its 401) and 04 (the INVITE flow, the two legs of
the B2BUA and the direct-media re-INVITEs).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..core.flow import Dialog, Flow, FlowCall, FlowMessage, split_address

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["ladder", "ladder_figure", "figure_size", "arrows"]

ROW_HEIGHT_IN = 0.34
COLUMN_WIDTH_IN = 2.6
HEADER_IN = 1.1
REQUEST_COLOUR = "#1f4e96"
RESPONSE_COLOUR = "#555555"
SDP_COLOUR = "#2e7d32"
HIGHLIGHT_COLOUR = "#c62828"
DIMMED_COLOUR = "#c8c8c8"
LIFELINE_COLOUR = "#9e9e9e"


def figure_size(hosts: int, rows: int) -> tuple[float, float]:
    """(width, height) in inches for ``hosts`` lifelines and ``rows`` messages: grows with both."""
    width = max(6.0, COLUMN_WIDTH_IN * max(hosts, 2) + 1.5)
    height = HEADER_IN + ROW_HEIGHT_IN * max(rows, 3)
    return width, height


def ladder_figure(flow: Flow, **kwargs: Any) -> Any:
    """A ``matplotlib.figure.Figure`` (not registered with pyplot) holding the ladder of ``flow``.

    For scripts and the command line: nothing global is touched. Keyword arguments go to
    :func:`ladder`.
    """
    from matplotlib.figure import Figure  # matplotlib: loaded by the first figure, not by 'import voiplab'

    messages = flow.messages[: kwargs.get("max_messages")] if kwargs.get("max_messages") else flow.messages
    hosts = {address for m in messages for address in (m.src, m.dst)}
    rows = len(messages) + (1 if len(messages) < len(flow.messages) else 0)
    figure = Figure(figsize=figure_size(len(hosts), rows), layout="constrained")
    ladder(flow, ax=figure.add_subplot(), **kwargs)
    return figure


def _highlight_set(flow: Flow, highlight: Dialog | FlowCall | str | None) -> set[int] | None:
    if highlight is None:
        return None
    if isinstance(highlight, (Dialog, FlowCall)):
        return {m.index for m in highlight.messages}
    return {m.index for m in flow.messages if m.call_id == highlight}


def _host_label(address: str, roles: Mapping[str, str] | None) -> str:
    host = split_address(address)[0]
    role = (roles or {}).get(host) or (roles or {}).get(address)
    return f"{role}\n{address}" if role else address


def _colour(item: FlowMessage) -> str:
    if item.has_sdp:
        return SDP_COLOUR
    return REQUEST_COLOUR if item.message.is_request else RESPONSE_COLOUR


def ladder(
    flow: Flow,
    ax: Axes | None = None,
    roles: Mapping[str, str] | None = None,
    highlight_dialog: Dialog | FlowCall | str | None = None,
    max_messages: int | None = None,
) -> Axes:
    """Draw a SIP ladder diagram: one lifeline per ``ip:port``, one arrow per message.

    Parameters:
        flow: the :class:`~voiplab.core.flow.Flow` to draw.
        ax: the Axes to draw on; a new figure (its height grows with the number of
            messages) if ``None``.
        roles: ip (or ``ip:port``) -> lab role shown above the address, e.g.
            ``{"127.0.0.80": "pbx", "127.0.0.81": "alcatel", "127.0.0.82": "rpi"}``.
        highlight_dialog: a :class:`~voiplab.core.flow.Dialog`, a :class:`~voiplab.core.flow.FlowCall`
            or a Call-ID whose messages are drawn in red; the others are dimmed.
        max_messages: draw only the first N messages (a note says how many were left out).

    Returns:
        The Axes. Each arrow is an annotation whose ``gid`` is ``"sip-message-<index>"``.
        Messages with SDP are green and labelled ``(SDP)``; retransmissions are dashed.

    Taught in notebook 03 and 04.
    """
    messages = list(flow.messages)
    left_out = 0
    if max_messages is not None and len(messages) > max_messages:
        left_out = len(messages) - max_messages
        messages = messages[:max_messages]
    hosts: list[str] = []
    for item in messages:
        for address in (item.src, item.dst):
            if address not in hosts:
                hosts.append(address)
    rows = len(messages) + (1 if left_out else 0)
    if ax is None:
        import matplotlib.pyplot as plt  # matplotlib: loaded by the first figure, not by 'import voiplab'

        _, ax = plt.subplots(figsize=figure_size(len(hosts), rows), layout="constrained")
    assert ax is not None
    highlighted = _highlight_set(flow, highlight_dialog)
    column = {address: float(i) for i, address in enumerate(hosts)}
    origin = messages[0].time if messages else 0.0
    bottom = rows + 0.5

    for address, x in column.items():
        ax.plot([x, x], [-0.6, bottom - 0.2], color=LIFELINE_COLOUR, lw=1.0, zorder=1)
        ax.text(
            x,
            -0.75,
            _host_label(address, roles),
            ha="center",
            va="bottom",
            fontsize=9,
            fontweight="bold",
            bbox={"boxstyle": "round,pad=0.3", "fc": "#f3f3f3", "ec": LIFELINE_COLOUR},
        )

    for row, item in enumerate(messages):
        y = row + 0.5
        x0, x1 = column[item.src], column[item.dst]
        colour = _colour(item)
        width = 1.3
        if highlighted is not None:
            if item.index in highlighted:
                colour, width = HIGHLIGHT_COLOUR, 2.0
            else:
                colour = DIMMED_COLOUR
        label = item.label + (" (SDP)" if item.has_sdp else "")
        if item.retransmission:
            label += " (retransmission)"
        if x0 == x1:  # a message to itself: a small loop
            ax.annotate(
                "",
                xy=(x0 + 0.02, y + 0.25),
                xytext=(x0 + 0.02, y - 0.1),
                arrowprops={
                    "arrowstyle": "->",
                    "color": colour,
                    "lw": width,
                    "connectionstyle": "arc3,rad=-0.9",
                },
                gid=f"sip-message-{item.index}",
            )
            text_x = x0 + 0.15
            align = "left"
        else:
            ax.annotate(
                "",
                xy=(x1, y),
                xytext=(x0, y),
                arrowprops={
                    "arrowstyle": "-|>",
                    "color": colour,
                    "lw": width,
                    "linestyle": "--" if item.retransmission else "-",
                    "shrinkA": 0,
                    "shrinkB": 0,
                },
                gid=f"sip-message-{item.index}",
            )
            text_x = (x0 + x1) / 2
            align = "center"
        ax.text(
            text_x,
            y - 0.06,
            label,
            ha=align,
            va="bottom",
            fontsize=8.5,
            color=colour,
            fontweight="bold" if item.message.is_request else "normal",
        )
        ax.text(text_x, y + 0.06, item.cseq or "", ha=align, va="top", fontsize=6.5, color=colour)
        ax.text(
            -0.45,
            y,
            f"{item.time - origin:+.3f} s",
            ha="right",
            va="center",
            fontsize=7,
            color="#333333",
            family="monospace",
        )
    if left_out:
        ax.text(
            (len(hosts) - 1) / 2 if hosts else 0,
            rows - 0.3,
            f"... {left_out} more messages not drawn (max_messages={max_messages})",
            ha="center",
            va="center",
            fontsize=8,
            style="italic",
        )

    ax.set_xlim(-1.1, max(len(hosts) - 1, 1) + 0.6)
    ax.set_ylim(bottom, -1.6)
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)
    return ax


def arrows(ax: Axes) -> list[Any]:
    """The message arrows drawn by :func:`ladder` on ``ax`` (for tests and exercises)."""
    return [text for text in ax.texts if str(text.get_gid() or "").startswith("sip-message-")]
