"""Tests of the SIP ladder diagram (voiplab.plots.ladder)."""

from __future__ import annotations

from collections.abc import Iterator

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pytest
from synthetic_sip import CALL_ID_B, SYNTHETIC_PCAP

from voiplab.capture.sipread import read_flow
from voiplab.core.flow import Flow
from voiplab.plots.ladder import (
    DIMMED_COLOUR,
    HIGHLIGHT_COLOUR,
    SDP_COLOUR,
    arrows,
    ladder,
    ladder_figure,
)

ROLES = {"127.0.0.80": "pbx", "127.0.0.81": "alcatel", "127.0.0.82": "rpi"}


@pytest.fixture(autouse=True)
def close_figures() -> Iterator[None]:
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def flow() -> Flow:
    return read_flow(SYNTHETIC_PCAP)


def _arrow_colour(annotation: object) -> str:
    return matplotlib.colors.to_hex(annotation.arrow_patch.get_edgecolor())  # type: ignore[attr-defined]


def test_one_arrow_per_message(flow: Flow) -> None:
    """Is there exactly one arrow per SIP message, in order?"""
    ax = ladder(flow)
    drawn = arrows(ax)
    assert [a.get_gid() for a in drawn] == [f"sip-message-{m.index}" for m in flow.messages]


def test_lifelines_labelled_with_roles(flow: Flow) -> None:
    """Is each lifeline labelled with its lab role and ip:port?"""
    ax = ladder(flow, roles=ROLES)
    labels = {t.get_text() for t in ax.texts}
    assert {"rpi\n127.0.0.82:5060", "pbx\n127.0.0.80:5060", "alcatel\n127.0.0.81:5060"} <= labels
    assert {"REGISTER", "401 Unauthorized", "INVITE (SDP)", "28571 REGISTER", "+0.000 s"} <= labels
    assert "INVITE (SDP) (retransmission)" in labels


def test_sdp_messages_marked(flow: Flow) -> None:
    """Are SDP-carrying messages drawn in the SDP colour?"""
    drawn = arrows(ladder(flow))
    for message, arrow in zip(flow.messages, drawn, strict=True):
        assert (_arrow_colour(arrow) == SDP_COLOUR) == message.has_sdp


def test_highlight_dialog(flow: Flow) -> None:
    """Are the highlighted Call-ID's messages red and the others dimmed?"""
    drawn = arrows(ladder(flow, highlight_dialog=CALL_ID_B))
    colours = [_arrow_colour(a) for a in drawn]
    assert colours.count(HIGHLIGHT_COLOUR) == 11
    assert colours.count(DIMMED_COLOUR) == 19
    drawn = arrows(ladder(flow, highlight_dialog=flow.calls[0]))
    assert [_arrow_colour(a) for a in drawn].count(HIGHLIGHT_COLOUR) == 24


def test_max_messages_and_growing_height(flow: Flow) -> None:
    """Does max_messages limit the arrows, and does the figure grow with the number of messages?"""
    short = ladder(flow, max_messages=5)
    assert len(arrows(short)) == 5
    assert any("25 more messages not drawn" in t.get_text() for t in short.texts)
    tall = ladder(flow)
    assert tall.figure.get_size_inches()[1] > short.figure.get_size_inches()[1]


def test_sixty_messages_stay_readable() -> None:
    """Are 60 messages drawn with at least 0.3 inch per row?"""
    base = read_flow(SYNTHETIC_PCAP)
    shifted = [m for m in base.messages] + [
        type(m)(m.message, m.time + 100, m.src, m.dst, m.transport, m.frame) for m in base.messages
    ]
    flow = Flow.from_messages(shifted)
    ax = ladder(flow)
    assert len(arrows(ax)) == 60
    assert ax.figure.get_size_inches()[1] / 60 >= 0.3


def test_given_axes_is_used_and_no_global_state_changes(flow: Flow) -> None:
    """Is the given Axes drawn on and returned, with rcParams untouched?"""
    before = dict(matplotlib.rcParams)
    figure, ax = plt.subplots()
    assert ladder(flow, ax=ax) is ax
    assert dict(matplotlib.rcParams) == before
    assert len(figure.axes) == 1


def test_ladder_figure_is_not_registered_with_pyplot(flow: Flow) -> None:
    """Does ladder_figure build a standalone Figure (for the command line)?"""
    count = len(plt.get_fignums())
    figure = ladder_figure(flow, roles=ROLES)
    assert len(plt.get_fignums()) == count
    assert len(arrows(figure.axes[0])) == 30
