"""The check cells of notebook 09 (your own call): pass on the student's right result, else say what to do.

On the committed sample call first (a recorded, answered, hung-up call rpi -> 5001 with
DTMF 1234#), then against the real lab: a call recorded by hand, a call to a number the
dial plan does not know, and a recording without capture.
"""

from __future__ import annotations

import time
import warnings

import pytest

import voiplab as vl
from voiplab.errors import CallError, VoipLabError
from voiplab.teach.checks.own_call import FINDINGS, own_call_findings, own_call_recorded
from voiplab.teach.recording import SampleRtpWarning, rtp_or_sample, start_recording

RIGHT = {"codec": "PCMU", "streams": 3, "direct_media": True, "lost": 0, "dtmf": "1234#"}


@pytest.fixture(scope="module")
def sample():
    return vl.from_pcap(vl.sample_capture("call_rpi_to_alcatel"), vl.LabConfig())


def test_the_checks_are_reachable_as_vl_checks():
    """Does vl.checks.<name> find the checks of notebook 09?"""
    assert vl.checks.own_call_recorded is own_call_recorded
    assert vl.checks.own_call_findings is own_call_findings


# ---------------------------------------------------------------------------- own_call_recorded
def test_recorded_call_passes(sample):
    """Does an answered, hung-up, captured call pass, with what was seen?"""
    result = own_call_recorded(sample)
    assert result.ok
    assert result.message == ("your call rpi -> 5001 was answered and hung up: 27 SIP messages, 2 leg(s); "
                              "3 RTP streams captured with file")


def test_nothing_recorded_yet():
    """Before rec.stop(): is the student told to stop the recording first?"""
    for nothing in (None, ..., "exp"):
        result = own_call_recorded(nothing)
        assert not result.ok
        assert result.message == ("there is no recording yet: run the cell that stops it (exp = rec.stop()) after "
                                  "your call, then run this check again")


def test_a_recording_without_a_call():
    """A recording with no call in it: is the student told to record again and make the call?"""
    empty = vl.from_pcap(vl.sample_capture("register_401"), vl.LabConfig())
    result = own_call_recorded(empty)
    assert not result.ok
    assert result.message == ("your recording holds no call: start a new recording (run the recording cell again), "
                              "make a call with the panel or in code, hang up, then stop the recording")


def test_a_captured_call_without_rtp(sample):
    """A captured call whose capture holds no RTP: is the student told to talk before hanging up?"""
    silent = vl.from_pcap(vl.sample_capture("call_rpi_to_alcatel"), vl.LabConfig())
    silent.streams = []
    result = own_call_recorded(silent)
    assert not result.ok
    assert result.message == ("your call rpi -> 5001 was answered but the capture holds no RTP: talk a few seconds "
                              "after the answer before you hang up, and record again")


# ---------------------------------------------------------------------------- own_call_findings
def test_right_findings_pass(sample):
    """Do the right findings pass, in the spellings a student uses (g711U, 'mu-law', '1 2 3 4 #')?"""
    result = own_call_findings(RIGHT, sample)
    assert result.ok
    assert result.message == ("codec PCMU, 3 RTP streams, direct media yes, 0 lost, DTMF 1234#: all as voiplab "
                              "finds them")
    assert own_call_findings({**RIGHT, "codec": "g711U", "dtmf": "1 2 3 4 #"}, sample).ok
    assert own_call_findings({**RIGHT, "codec": "mu-law"}, sample, sample).ok


@pytest.mark.parametrize(("change", "message"), [
    ({"codec": "PCMA"}, f"codec: look at {FINDINGS['codec']}"),
    ({"streams": 2}, f"streams: look at {FINDINGS['streams']}"),
    ({"streams": "3"}, f"streams: look at {FINDINGS['streams']}"),
    ({"direct_media": False}, f"direct_media: look at {FINDINGS['direct_media']}"),
    ({"lost": 1, "dtmf": ""}, f"lost: look at {FINDINGS['lost']}; dtmf: look at {FINDINGS['dtmf']}"),
])
def test_wrong_findings_name_where_to_look(sample, change, message):
    """Is each wrong finding named with where to look, never its value?"""
    result = own_call_findings({**RIGHT, **change}, sample)
    assert not result.ok and result.message == message


@pytest.mark.parametrize(("findings", "message"), [
    (..., 'fill in the dictionary my_call = {"codec": ..., "streams": ..., "direct_media": ..., "lost": ..., '
          '"dtmf": ...} in the cell above, then run this check again'),
    ({**RIGHT, "lost": ...}, "lost is not filled in yet: replace each ... with what you found"),
    ({"codec": "PCMU"}, "streams, direct_media, lost, dtmf are not filled in yet: replace each ... with what you "
                        "found"),
])
def test_findings_not_filled_in(sample, findings, message):
    """Are missing findings named?"""
    result = own_call_findings(findings, sample)
    assert not result.ok and result.message == message


def test_findings_without_a_recorded_call():
    """Findings before a call is recorded: is the student sent back to the recording?"""
    result = own_call_findings(RIGHT, None)
    assert not result.ok
    assert result.message == ("there is no recorded call to compare with: record your call first (the checks above)")


def test_findings_read_from_the_sample_when_there_is_no_capture(sample):
    """Without capture, are the media findings those of the sample (the RTP the student analysed)?"""
    trace_only = vl.from_pcap(vl.sample_capture("call_alcatel_to_rpi"), vl.LabConfig())
    trace_only.pcap, trace_only.streams = None, None
    with pytest.warns(SampleRtpWarning):
        media = rtp_or_sample(trace_only)
    assert own_call_findings(RIGHT, trace_only, media).ok
    assert not own_call_findings({**RIGHT, "dtmf": ""}, trace_only, media).ok


# ---------------------------------------------------------------------------- against the lab
@pytest.mark.asterisk
@pytest.mark.pjsua2
@pytest.mark.parametrize("capture", [pytest.param(None, marks=pytest.mark.capture), False],
                         ids=["captured", "trace only"])
def test_a_real_call_passes_both_checks(lab, phone, capture):
    """A call to the Alcatel with keys 7 and 9, recorded: do both checks pass on the student's right findings?"""
    rec = start_recording(lab, phone, capture=capture)
    call = phone.call(lab.config.account("alcatel").number)
    call.wait("CONFIRMED", timeout=10)  # Asterisk answers first; the Alcatel after ringing
    lab.alcatel.wait_in_call(timeout=10)
    time.sleep(1.5)  # the direct-media re-INVITEs
    call.send_dtmf("79")
    time.sleep(0.8)
    call.hangup()
    call.wait("DISCONNECTED", timeout=5)
    exp = rec.stop(call)
    recorded = own_call_recorded(exp)
    assert recorded.ok, recorded.message
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SampleRtpWarning)
        media = rtp_or_sample(exp)
    if capture is None:
        assert recorded.message.endswith(f"RTP streams captured with {exp.capture_method}")
        findings = {"codec": "PCMU", "streams": len(exp.streams or []), "direct_media": True, "lost": 0,
                    "dtmf": "79"}
    else:
        assert recorded.message.endswith("SIP from your phone's trace (no capture here): the RTP analysed below is "
                                         "the sample's")
        findings = RIGHT
    result = own_call_findings(findings, exp, media)
    assert result.ok, result.message


@pytest.mark.asterisk
@pytest.mark.pjsua2
def test_a_call_nobody_answers_fails(lab, phone):
    """A call to a number the dial plan does not know (404): is the student told to call a phone that answers?"""
    rec = start_recording(lab, phone)
    call = phone.call("9999")
    with pytest.raises(CallError):
        call.wait("CONFIRMED", timeout=5)
    exp = rec.stop()
    result = own_call_recorded(exp)
    assert not result.ok
    assert result.message == ("your call was not answered (Wireshark's state: REJECTED): call a phone that answers, "
                              "such as the Alcatel, let it ring until it picks up, talk a few seconds, hang up, "
                              "and record again")


def test_an_unknown_finding_is_a_misuse():
    """Is a key outside FINDINGS an error of the check's caller (not a red result)?"""
    from voiplab.teach.checks.own_call import _same
    from voiplab.teach.recording import call_summary

    summary = call_summary(vl.from_pcap(vl.sample_capture("call_rpi_to_alcatel"), vl.LabConfig()))
    with pytest.raises(VoipLabError, match="finding 'mos' is unknown: use the keys codec, streams"):
        _same("mos", 4.4, summary)
