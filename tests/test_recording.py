"""voiplab.teach.recording: a recording around the student's own calls (notebook 09).

First on the committed sample captures (the sample stand-in for RTP, the call on one page),
then against the real lab: a call made by hand while recording, with and without capture.
"""

from __future__ import annotations

import time
import warnings

import pytest

import voiplab as vl
from voiplab.devices.lab import Lab
from voiplab.devices.phone import Phone
from voiplab.errors import CallError, VoipLabError
from voiplab.teach.experiments import CaptureUnavailableWarning
from voiplab.teach.recording import (
    SampleRtpWarning,
    call_summary,
    codec_name,
    rtp_or_sample,
    start_recording,
)


@pytest.fixture(scope="module")
def sample():
    return vl.from_pcap(vl.sample_capture("call_rpi_to_alcatel"), vl.LabConfig())


# ---------------------------------------------------------------------------- on the samples
def test_rtp_or_sample_keeps_a_capture_with_rtp(sample):
    """Is an experiment that holds RTP returned as it is (no warning)?"""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert rtp_or_sample(sample) is sample


def test_rtp_or_sample_without_rtp_says_so(sample):
    """Without RTP, is the sample used, in the default lab's roles, with a warning that says it plainly?"""
    trace_only = vl.from_pcap(vl.sample_capture("register_401"), vl.LabConfig())
    trace_only.pcap = None
    with pytest.warns(SampleRtpWarning) as caught:
        media = rtp_or_sample(trace_only)
    assert media.name == "sample capture call_rpi_to_alcatel"
    assert media.note == ("no RTP of your own here (no live capture): the RTP analysed below is the sample capture "
                          "'call_rpi_to_alcatel', the same kind of call recorded in the default local lab")
    assert str(caught[0].message) == media.note
    assert len(media.stream("alcatel", "rpi")) == 124


def test_codec_names():
    """Are the names of G.711 in tshark, SDP, Asterisk and words all one SDP name?"""
    assert {codec_name(n) for n in ("g711U", "PCMU", "ulaw", "mu-law", "G.711 µ-law", 0)} == {"PCMU"}
    assert {codec_name(n) for n in ("g711A", "pcma", "alaw", "A-law", 8)} == {"PCMA"}
    assert codec_name(" opus ") == "opus"


def test_call_summary_of_the_sample(sample):
    """Is the sample call summed up right: rpi -> 5001, answered, 2 legs, PCMU, 3 streams, direct, 1234#?"""
    summary = call_summary(sample)
    assert (summary.caller, summary.dialed, summary.state, summary.legs) == ("rpi", "5001", "COMPLETED", 2)
    assert (summary.codec, summary.streams, summary.direct_media, summary.lost, summary.dtmf) == (
        "PCMU", 3, True, 0, "1234#")
    assert summary.media_changes == 3 and 4.0 < (summary.mos or 0) < 4.5
    assert summary.sip_from == "the capture (file)" and summary.rtp_from == "the capture"
    assert "estimate" in summary._repr_html_() and "direct media: yes (phone to phone)" in repr(summary)


def test_call_summary_without_a_call():
    """Is a recording without a call refused with what to do?"""
    empty = vl.from_pcap(vl.sample_capture("register_401"), vl.LabConfig(), name="empty")
    with pytest.raises(VoipLabError) as e:
        call_summary(empty)
    assert str(e.value) == "the recording 'empty' holds no call: make a call while it records, then stop it"


# ---------------------------------------------------------------------------- against the lab
def _call_the_alcatel(lab: Lab, phone: Phone, talk_s: float = 3.0) -> vl.CallState:
    call = phone.call(lab.config.account("alcatel").number)
    call.wait("CONFIRMED", timeout=10)
    time.sleep(talk_s)
    call.send_dtmf("42")
    time.sleep(0.8)
    call.hangup()
    call.wait("DISCONNECTED", timeout=5)
    return call


@pytest.mark.asterisk
@pytest.mark.pjsua2
@pytest.mark.capture
def test_a_call_made_by_hand_is_recorded(lab, phone):
    """A call made while recording: is it in the experiment, both legs, its RTP direct, its keys, its audio?"""
    rec = start_recording(lab, phone)
    assert rec.running and "capture with" in repr(rec)
    call = _call_the_alcatel(lab, phone)
    exp = rec.stop(call)
    assert not rec.running and exp.pcap is not None
    assert exp.call is not None and exp.call.state == "COMPLETED" and len(exp.call.legs) == 2
    assert exp.call_id == call.call_id
    summary = call_summary(exp)
    assert (summary.caller, summary.dialed) == ("rpi", lab.config.account("alcatel").number)
    assert summary.direct_media and summary.dtmf == "42" and summary.codec == "PCMU"
    assert exp.recording is not None and exp.call_stats and exp.call_stats["codec"] == "PCMU"
    assert vl.detect_alcatel_signal(exp.recording[0], exp.recording[1])
    with pytest.raises(VoipLabError, match="this recording is already stopped: start a new one"):
        rec.stop()


@pytest.mark.asterisk
@pytest.mark.pjsua2
def test_stop_during_a_call_keeps_recording(lab, phone):
    """Stopping while the call is up: is it refused, the capture kept running, and the call recorded after?"""
    rec = start_recording(lab, phone)
    call = phone.call(lab.config.account("alcatel").number)
    call.wait("CONFIRMED", timeout=10)
    with pytest.raises(CallError) as e:
        rec.stop()
    assert str(e.value) == ("a call of rpi is still up: hang up first (the panel's Hang up button), then stop the "
                            "recording again; the capture keeps running")
    assert rec.running
    call.hangup()
    call.wait("DISCONNECTED", timeout=5)
    exp = rec.stop()
    assert exp.call is not None and exp.call.state in ("COMPLETED", "CANCELLED")
    assert exp.call_id == call.call_id


@pytest.mark.asterisk
@pytest.mark.pjsua2
def test_without_capture_the_flow_is_the_phones_trace(lab, phone):
    """Without capture: is the flow the phone's own (one leg, from the recording's start), RTP the sample's?"""
    rec = start_recording(lab, phone, capture=False)
    assert "no capture (capture disabled (capture=False)); SIP from the phone's trace" in repr(rec)
    _call_the_alcatel(lab, phone, talk_s=2.5)
    exp = rec.stop()
    assert exp.pcap is None and exp.streams is None
    assert exp.call is not None and exp.call.state == "COMPLETED" and len(exp.call.legs) == 1
    assert not any(m.method == "REGISTER" for m in exp.flow.messages)  # registered before the recording
    with pytest.warns(SampleRtpWarning):
        media = rtp_or_sample(exp)
    summary = call_summary(exp, media)
    assert summary.sip_from == "your phone's SIP trace (what it sent and received)"
    assert summary.rtp_from.startswith("sample capture call_rpi_to_alcatel (no RTP of your own here")


@pytest.mark.asterisk
@pytest.mark.pjsua2
def test_close_stops_the_capture(lab, phone):
    """Does close() (the cleanup cell) stop a running recording, and is a second close harmless?"""
    rec = start_recording(lab, phone)
    rec.close()
    rec.close()
    assert not rec.running


@pytest.mark.asterisk
@pytest.mark.pjsua2
def test_a_student_without_capture_rights(lab, phone, monkeypatch):
    """As a user without capture privileges (VOIPLAB_NO_CAPTURE=1): is the recording made anyway, saying why?"""
    monkeypatch.setenv("VOIPLAB_NO_CAPTURE", "1")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CaptureUnavailableWarning)
        rec = start_recording(lab, phone)
    assert rec.running and rec.method is None
    assert rec.note.startswith("live capture is not permitted for this user: ")
    exp = rec.stop()
    assert exp.pcap is None and exp.call is None
