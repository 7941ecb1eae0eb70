"""The ladder stepper of notebook 04, stepped as a student steps it (Next, Previous, the slider).

``Button.click()`` runs the same handlers as a click in JupyterLab; moving the slider is setting
its ``value``. On the sample call of the local lab, then on a call recorded in the real lab: the
red arrow, the panes and the RTP path follow each step; the RTP path is checked against the RTP
streams the capture really holds.
"""

from __future__ import annotations

from collections.abc import Iterator

import ipywidgets as widgets
import pytest

from voiplab.capture.streams import streams
from voiplab.config import LabConfig
from voiplab.devices.lab import Lab
from voiplab.errors import VoipLabError
from voiplab.plots.ladder import HIGHLIGHT_COLOUR, arrows
from voiplab.teach.experiments import Experiment, from_pcap, record_call
from voiplab.teach.explain import ladder_stepper, message_steps
from voiplab.teach.samples import sample_capture
from voiplab.widgets.ladder import LadderStepper


@pytest.fixture(scope="module")
def sample() -> Experiment:
    return from_pcap(sample_capture("call_rpi_to_alcatel"), LabConfig())


@pytest.fixture()
def stepper(sample: Experiment) -> Iterator[LadderStepper]:
    the_stepper = ladder_stepper(sample)
    yield the_stepper
    the_stepper.close()


def red_arrows(stepper: LadderStepper) -> list[str]:
    """The gids of the arrows drawn in the highlight colour on the stepper's ladder."""
    from matplotlib.colors import to_hex

    assert stepper._figure is not None
    ax = stepper._figure.axes[0]
    return [a.get_gid() for a in arrows(ax) if to_hex(a.arrow_patch.get_edgecolor()) == HIGHLIGHT_COLOUR]


def test_stepper_builds_on_the_first_message(stepper: LadderStepper, sample: Experiment) -> None:
    """A VBox with controls, the ladder image and the panes, on message 1 with Previous off?"""
    flow = sample.call_flow
    assert isinstance(stepper.widget, widgets.VBox)
    assert "application/vnd.jupyter.widget-view+json" in stepper._repr_mimebundle_()
    assert stepper.position == 0 and stepper.slider.max == len(flow) - 1
    assert stepper.previous_button.disabled and not stepper.next_button.disabled
    assert stepper.counter.value == f"1 / {len(flow)}"
    assert bytes(stepper.image.value).startswith(b"\x89PNG")
    assert red_arrows(stepper) == [f"sip-message-{flow.messages[0].index}"]
    assert stepper.title.value.startswith("<b>1. INVITE <i>(SDP)</i></b>")
    assert "rpi (5002) 127.0.0.82:5060 → pbx 127.0.0.80:5060 at +0.000 s" in stepper.title.value
    assert "INVITE: a new call with the SDP offer" in stepper.note.value
    assert "no RTP yet" in stepper.rtp.value


def test_next_previous_and_slider_move_the_highlight(stepper: LadderStepper, sample: Experiment) -> None:
    """Next moves the red arrow and the panes to the 401; Previous back; the slider jumps; ends stay put?"""
    flow = sample.call_flow
    first_png = bytes(stepper.image.value)
    stepper.next_button.click()
    assert stepper.position == 1 and stepper.slider.value == 1 and stepper.message.status == 401
    assert red_arrows(stepper) == [f"sip-message-{flow.messages[1].index}"]  # only the current one
    assert bytes(stepper.image.value) != first_png
    assert "<b>SIP/2.0 401 Unauthorized</b>" in stepper.raw.value
    assert "WWW-Authenticate" in stepper.headers.value and "nonce=" in stepper.headers.value
    assert "no SDP body in this message" in stepper.sdp.value
    assert "the digest challenge" in stepper.note.value
    stepper.previous_button.click()
    assert stepper.position == 0 and stepper.previous_button.disabled
    stepper.slider.value = len(flow) - 1  # dragging the slider to the end
    assert stepper.position == len(flow) - 1 and stepper.next_button.disabled
    stepper.next_button.click()
    assert stepper.position == len(flow) - 1
    assert stepper.counter.value == f"{len(flow)} / {len(flow)}"


def test_the_sdp_pane_and_the_rtp_path_of_the_reinvite(stepper: LadderStepper, sample: Experiment) -> None:
    """At the phone's 200 OK to the re-INVITE: its SDP shown, its RTP marked new, now direct to the Alcatel?"""
    assert sample.pcap is not None
    direct = next(s for s in streams(sample.pcap) if s.src == "127.0.0.82" and s.dst == "127.0.0.81")
    target = f"{direct.dst}:{direct.dst_port}"
    changes = stepper.media_changes
    assert len(changes) >= 4
    stepper.go_to_media_change(2)  # the 200 OK, via the PBX; both legs answered; then the phone moves
    assert stepper.message.status == 200 and stepper.message.src.startswith("127.0.0.82:")
    assert "c=IN IP4 127.0.0.82" in stepper.sdp.value and "background:#fff3c4" in stepper.sdp.value
    assert f"127.0.0.82:4000 → {target} alcatel (5001) ← new" in stepper.rtp.value
    assert f"rpi (5002) → alcatel (5001): direct (127.0.0.82:4000 → {target})" in stepper.rtp.value
    with pytest.raises(VoipLabError, match="^the flow has .* messages that move RTP, so there is no number 99"):
        stepper.go_to_media_change(99)


def test_find_and_a_stepper_without_steps(sample: Experiment) -> None:
    """find() locates a label; without steps the panes say so; steps of another flow are refused?"""
    flow = sample.call_flow
    plain = LadderStepper(flow, roles=sample.roles)
    try:
        plain.go(plain.find("BYE"))
        assert plain.message.method == "BYE" and "not computed" in plain.rtp.value
        assert plain.media_changes == []
        with pytest.raises(VoipLabError, match="^no message 'MESSAGE' at or after position 0"):
            plain.find("MESSAGE")
    finally:
        plain.close()
    with pytest.raises(VoipLabError) as e:
        LadderStepper(flow, steps=message_steps(sample.flow))
    assert str(e.value) == (f"the stepper got {len(sample.flow)} steps for {len(flow)} messages: make them from the "
                            "same flow (voiplab.teach.explain.message_steps(flow))")


@pytest.fixture(scope="module")
def recorded(pbx: object) -> Experiment:
    lab = Lab()
    alcatel = lab.simulated_alcatel
    assert alcatel is not None
    alcatel.start(timeout=5)
    return record_call(lab, caller="rpi", number=lab.config.account("alcatel").number, seconds=1.5)


@pytest.mark.asterisk
@pytest.mark.pjsua2
def test_stepping_through_a_call_recorded_in_the_lab(recorded: Experiment) -> None:
    """Next clicked through a real call: every message shown once, the phone's RTP ends at the Alcatel?"""
    stepper = ladder_stepper(recorded)
    try:
        phone = next(a for a in recorded.call_flow.hosts
                     if recorded.roles.get(a.rpartition(":")[0], "").startswith("rpi"))
        labels = [stepper.message.label]
        while not stepper.next_button.disabled:
            stepper.next_button.click()
            labels.append(stepper.message.label)
        assert labels == [m.label for m in recorded.call_flow.messages]
        # 2 from the phone (401 first) and the PBX's re-INVITE; captured, also the PBX's INVITE to the Alcatel
        assert labels.count("INVITE") >= (4 if recorded.pcap is not None else 3)
        destinations = [stepper.steps[i].rtp.destination_of(phone) for i in stepper.media_changes]  # type: ignore[index]
        alcatel_ip = next(ip for ip, role in recorded.roles.items() if role.startswith("alcatel"))
        if recorded.pcap is not None:
            sent = {f"{s.dst}:{s.dst_port}" for s in streams(recorded.pcap) if f"{s.src}:{s.src_port}"
                    in {d.source for st in stepper.steps or [] for d in st.rtp.directions if d.sender == phone}}
            assert {d for d in destinations if d} <= sent  # where the SDP sent it is where it really sent
        assert any(d is not None and d.startswith(alcatel_ip + ":") for d in destinations)
    finally:
        stepper.close()
