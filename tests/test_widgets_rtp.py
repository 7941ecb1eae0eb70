"""The RTP browser of notebooks 05 and 09, driven as a student drives it: pick a stream, step through packets.

Setting the stream list's value and the slider's value, or clicking Next / Previous, runs
the same handlers as in JupyterLab. What the browser then shows (its HTML panes, its plot
image, its audio player) is compared with the stream's own figures and with the frame's
bytes. First on the sample capture, then on a call recorded in the real lab.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

import voiplab as vl
from voiplab.errors import VoipLabError
from voiplab.teach.media import simulate_loss
from voiplab.widgets.rtp import PACKET_ROWS, RtpBrowser, rtp_browser

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
#: the sample's streams by start time: rpi -> PBX, rpi -> Alcatel (with DTMF), Alcatel -> rpi
SENT, HEARD = 1, 2


def text(markup: str) -> str:
    """The visible text of an HTML pane (tags removed, spaces collapsed)."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", markup)).replace("&#x27;", "'").strip()


@pytest.fixture(scope="module")
def sample():
    return vl.from_pcap(vl.sample_capture("call_rpi_to_alcatel"), vl.LabConfig())


@pytest.fixture()
def browser(sample) -> Iterator[RtpBrowser]:
    b = rtp_browser(sample)
    yield b
    b.close()


def test_the_browser_opens_on_the_first_stream(browser, sample):
    """Are the streams listed by start time with roles and path, the first picked, its first packet shown?"""
    labels = [label for label, _i in browser.stream_picker.options]
    assert labels[0] == ("0: rpi (127.0.0.82:4000) → pbx (127.0.0.80:10634) · 0x2A26046C · g711U · 127 packets · "
                         "via the PBX")
    assert labels[1].endswith("0x2A26046C · g711U, telephone-event · 124 packets · direct (phone to phone)")
    assert labels[2] == ("2: alcatel (127.0.0.81:42016) → rpi (127.0.0.82:4000) · 0x599219EA · g711U · "
                         "124 packets · direct (phone to phone)")
    assert browser.stream_index == 0 and browser.packet_index == 0
    table = text(browser.stream_table.value)
    assert "0 rpi (127.0.0.82:4000) pbx (127.0.0.80:10634) 0x2A26046C g711U 127 0 (0.0%)" in table
    assert "via the PBX" in table and "direct (phone to phone)" in table
    assert "background:#fff3c4" in browser.stream_table.value.split("</tr>")[1]  # the picked row
    assert browser.packet_slider.max == 126
    assert bytes(browser.plot_image.value).startswith(PNG_MAGIC)
    assert "<audio" in browser.audio_view.value and "2.5 s of G.711" in browser.audio_view.value
    assert repr(browser).startswith("RtpBrowser(3 streams; stream 0: 127.0.0.82 -> 127.0.0.80 0x2A26046C")


def test_picking_a_stream_in_the_list(browser, sample):
    """Choosing the Alcatel's stream in the list: are its packets, its plots and its audio shown?"""
    before = bytes(browser.plot_image.value)
    browser.stream_picker.value = HEARD  # what a click in the list does
    heard = sample.stream("alcatel", "rpi")
    assert browser.stream is heard
    assert browser.packet_slider.max == len(heard) - 1 and browser.packet_slider.value == 0
    assert bytes(browser.plot_image.value) != before and bytes(browser.plot_image.value).startswith(PNG_MAGIC)
    assert "background:#fff3c4" in browser.stream_table.value.split("</tr>")[HEARD + 1]
    rows = browser.packet_rows(0, 3)
    analysis = heard.analysis
    assert [r["seq"] for r in rows] == heard.sequence_number[:3].tolist()
    assert [r["frame"] for r in rows] == heard.frame[:3].tolist()
    assert rows[1]["jitter_ms"] == analysis.jitter_ms[1] and rows[1]["delta_ms"] == analysis.delta_ms[1]
    assert rows[0]["marker"] and rows[0]["payload"] == "g711U" and rows[0]["status"] == "[ Ok ]"
    shown = text(browser.packet_table.value)
    assert f"0 {rows[0]['frame']} {rows[0]['time_s']:.6f} {rows[0]['seq']} {rows[0]['timestamp']} M 0 g711U" in shown
    assert shown.count("[ Ok ]") == PACKET_ROWS


def test_stepping_through_packets(browser, sample):
    """Next, Previous and the slider: does the packet pane follow, with the header read from the frame?"""
    browser.pick_stream(HEARD)
    heard = browser.stream
    browser.next_button.click()
    browser.next_button.click()
    assert browser.packet_index == 2 and browser.packet_slider.value == 2
    browser.previous_button.click()
    assert browser.packet_index == 1
    browser.packet_slider.value = 40  # dragging the slider
    header = browser.header
    assert (header.sequence_number, header.timestamp, header.ssrc) == (
        int(heard.sequence_number[40]), int(heard.timestamp[40]), heard.ssrc)
    assert header.payload == heard.payload(40) and header.payload_type == 0 and not header.marker
    pane = text(browser.packet_view.value)
    assert f"Packet 40 (frame {int(heard.frame[40])}): Ethernet 14 + IP 20 + UDP 8 + RTP 12 + payload 160 = 214 " \
           "bytes, the frame read from the capture" in pane
    assert f"sequence number 16 {int(heard.sequence_number[40])} +1 per packet; previous packet: " \
           f"{int(heard.sequence_number[39])}" in pane
    assert "timestamp 32" in pane and "800.0 ms after the stream's first packet (clock 8000 Hz)" in pane
    assert "160 G.711 µ-law samples: 20 ms at 8000 Hz" in pane
    assert "<pre" in browser.packet_view.value and "background:#ffe7b3'>80</span>" in browser.packet_view.value
    highlighted = [row for row in browser.packet_table.value.split("</tr>") if "font-weight:bold" in row]
    assert len(highlighted) == 1 and f"<td>{int(heard.sequence_number[40])}</td>" in highlighted[0]


def test_a_dtmf_packet(browser, sample):
    """A telephone-event packet: is its payload shown as the RFC 4733 event it is?"""
    browser.pick_stream(SENT)
    sent = browser.stream
    first_event = int((sent.payload_type == 101).nonzero()[0][0])
    header = browser.pick_packet(first_event)
    assert header.payload_type == 101 and header.marker
    pane = text(browser.packet_view.value)
    assert "payload type (PT) 7 101" in pane and "TelephoneEvent('1'" in pane
    assert "set: the first packet of a talk spurt (or of a DTMF event)" in pane


def test_problems_in_red_notes_in_grey(browser, sample):
    """Is a lost packet's 'Wrong sequence number' red, and a DTMF event's status a grey note?"""
    lossy = RtpBrowser([simulate_loss(sample.stream("alcatel", "rpi"), 5, seed=1)])
    try:
        row = next(r for r in lossy.packet_rows() if r["status"] == "Wrong sequence number")
        lossy.pick_packet(row["index"])
        shown = [r for r in lossy.packet_table.value.split("</tr>") if "Wrong sequence number" in r]
        assert shown and all("color:#cf222e" in r for r in shown)
    finally:
        lossy.close()
    browser.pick_stream(SENT)
    browser.pick_packet(int((browser.stream.payload_type == 101).nonzero()[0][0]))
    events = [r for r in browser.packet_table.value.split("</tr>") if "telephone/event" in r]
    assert events and all("color:#57606a" in r and "#cf222e" not in r for r in events)


def test_errors_are_shown_not_raised(browser):
    """A packet outside the stream, asked for in code: an error; from a handler: shown in the browser."""
    with pytest.raises(VoipLabError, match="packet 500 is not in this stream: pick one of 0 to 126"):
        browser.pick_packet(500)
    with pytest.raises(VoipLabError, match="stream 7 is not in the list: pick one of 0 to 2"):
        browser.pick_stream(7)
    browser._guarded(lambda _x: browser.pick_packet(500))(None)
    assert browser.errors == ["packet 500 is not in this stream: pick one of 0 to 126"]
    assert "pick one of 0 to 126" in browser.error_line.value


def test_a_list_of_streams_without_capture_file(sample):
    """Streams without their capture: is the RTP packet rebuilt from the stream's fields, and said so?"""
    b = rtp_browser(sample.streams)
    try:
        b.pick_stream(HEARD)
        b.pick_packet(3)
        heard = b.stream
        assert b.header.sequence_number == int(heard.sequence_number[3])
        assert "RTP 12 + payload 160 = 172 bytes, the RTP packet rebuilt from the stream's fields (no capture file)" \
            in text(b.packet_view.value)
        assert "via the PBX" not in b.stream_table.value  # no path without the PBX's address
    finally:
        b.close()


def test_nothing_to_browse():
    """A recording without RTP: is the browser refused with what to do?"""
    empty = vl.from_pcap(vl.sample_capture("register_401"), vl.LabConfig())
    with pytest.raises(VoipLabError) as e:
        rtp_browser(empty)
    assert str(e.value) == ("there are no RTP streams to browse: record a call with capture (vl.record_call) or use "
                            "vl.rtp_or_sample(exp)")


def test_close_closes_every_widget(sample):
    """Does close() close the browser's widgets (the cleanup cell)?"""
    b = rtp_browser(sample)
    b.close()
    assert b.widget.comm is None and b.stream_picker.comm is None


# ---------------------------------------------------------------------------- a call of the real lab
@pytest.mark.asterisk
@pytest.mark.pjsua2
@pytest.mark.capture
def test_browsing_a_call_recorded_in_the_lab(lab):
    """A real call with DTMF: pick each stream, then packets; do the panes show the capture's figures?"""
    exp = vl.record_call(lab, caller="rpi", number=lab.config.account("alcatel").number, seconds=3.0, dtmf="5#")
    assert exp.pcap is not None, exp.note
    b = rtp_browser(exp)
    try:
        rpi = lab.config.account("rpi").address
        assert len(b.stream_picker.options) == len(exp.streams or [])
        for i, stream in enumerate(b.streams):
            b.stream_picker.value = i
            assert b.stream_index == i and b.packet_slider.max == len(stream) - 1
            assert text(b.stream_table.value).count("direct (phone to phone)") >= 2
            b.packet_slider.value = len(stream) - 1
            assert b.header.sequence_number == int(stream.sequence_number[-1])
            assert f"frame {int(stream.frame[-1])}" in b.packet_view.value
        sent = next(i for i, s in enumerate(b.streams) if s.src == rpi and (s.payload_type == 101).any())
        b.stream_picker.value = sent
        event = int((b.stream.payload_type == 101).nonzero()[0][0])
        b.packet_slider.value = event
        assert "TelephoneEvent('5'" in text(b.packet_view.value)
        assert "<audio" in b.audio_view.value
    finally:
        b.close()
