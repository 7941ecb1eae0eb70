"""The check cells of notebook 02: after the student's edit they pass; without it they say what to do.

Each task of notebook 02 is done here as a student does it, through their copy of the
files (``lab.edit_config()``) and ``lab.reload()``, against the real lab (the ``pbx``
fixture: the lab of ``$VOIPLAB_CONFIG``); each test puts the rendered files back. The
failing side uses the committed sample call where it can (recorded with ``Answer(500)``
and direct media on). The exact messages are asserted.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

import voiplab as vl
from voiplab.config import Account
from voiplab.devices.lab import Lab
from voiplab.devices.pbx import Pbx
from voiplab.devices.phone import Phone
from voiplab.teach.checks.config import (
    broken_file_refused,
    dial_timeout,
    extension_added,
    media_via_pbx,
    ringing_before_answer,
)

STUDENT_ACCOUNT = """
[student](endpoint-template)
auth = student-auth
aors = student
callerid = "Second phone" <5004>

[student-auth](auth-template)
username = student
password = 44444444

[student](aor-template)
"""
STUDENT_EXTENSION = """
exten => 5004,1,Answer(500)
 same => n,Dial(PJSIP/student,25)
 same => n,Hangup()
"""


@pytest.fixture()
def student_lab(pbx: Pbx, tmp_path: Path):
    """The shared lab, up with its Alcatel, with a student's copy; the rendered files are back afterwards."""
    lab = Lab(pbx.config)
    lab.up()
    files = lab.edit_config(tmp_path / "my-asterisk")
    yield lab, files
    lab.reset_config()


@pytest.fixture(scope="module")
def sample():
    """A call recorded with Answer(500) and direct media on (rpi -> Alcatel)."""
    return vl.from_pcap(vl.sample_capture("call_rpi_to_alcatel"), vl.LabConfig())


def test_the_checks_are_reachable_as_vl_checks() -> None:
    """Does vl.checks.<name> find each check of notebook 02?"""
    for check in (extension_added, broken_file_refused, ringing_before_answer, media_via_pbx, dial_timeout):
        assert getattr(vl.checks, check.__name__) is check


@pytest.mark.asterisk
def test_extension_added_step_by_step(student_lab) -> None:
    """Does each missing piece of task 5004 (line, account, name, registration, call, answer) say what to do?"""
    lab, files = student_lab
    ctx = lab.config.dialplan.context
    me = lab.config.account("rpi")
    rpi = Phone("rpi", lab.config)
    second = Phone(Account("student", "5004", "Second phone", "44444444", me.address, sip_port=0), lab.config)
    # (another address: two phones with sip_port=0 on one address replace each other in one process)
    other = Phone(Account("other", "5004", "Other", "44444444", lab.config.account("guillaume").address, sip_port=0),
                  lab.config)
    try:
        rpi.register()
        result = extension_added(lab, "5004", second, None)  # type: ignore[arg-type]  # no call yet
        assert not result.ok
        assert result.message == (f"5004 is not in the dial plan [{ctx}] that Asterisk runs: add its lines under "
                                  f"[{ctx}] in your extensions.conf, save the file, then run lab.reload()")
        files.append("extensions.conf", STUDENT_EXTENSION)
        lab.reload()
        assert extension_added(lab, "5004", second, None).message == (  # type: ignore[arg-type]
            "extension 5004 dials PJSIP/student, but Asterisk has no endpoint student: add its endpoint, auth and "
            "aor sections to your pjsip.conf (or fix the name), then run lab.reload()")
        files.append("pjsip.conf", STUDENT_ACCOUNT)
        lab.reload()
        assert extension_added(lab, "5004", other, None).message == (  # type: ignore[arg-type]
            "your second phone registers as other, but extension 5004 dials PJSIP/student: use the same name in "
            "pjsip.conf, extensions.conf and vl.Account(...)")
        assert extension_added(lab, "5004", second, None).message == (  # type: ignore[arg-type]
            "your second phone is not registered as student: run second.register() (its user name and password "
            "must be those of the auth section of your pjsip.conf)")
        second.register()
        wrong = rpi.call(lab.config.account("guillaume").number)
        assert extension_added(lab, "5004", second, wrong).message == (
            f"that call went to {wrong.number}, not 5004: call 5004 from your phone")
        wrong.hangup()
        call = rpi.call("5004")
        incoming = second.wait_incoming(timeout=10)
        assert extension_added(lab, "5004", second, call).message == (
            "your second phone never answered a call: call 5004 from your phone, then answer it on the second "
            "phone (incoming.answer())")
        incoming.answer()
        incoming.wait("CONFIRMED", timeout=5)
        result = extension_added(lab, "5004", second, call)
        contact = {e.name: e for e in lab.pbx.endpoints()}["student"].contact_address
        line = files.extensions.read_text().splitlines().index(" same => n,Dial(PJSIP/student,25)") + 1
        assert result.ok, result
        assert result.message == (f"[{ctx}] 5004 dials PJSIP/student (line {line} of extensions.conf); student is "
                                  f"registered from {contact}, and your call to 5004 was answered by it")
        call.hangup()
        call.wait("DISCONNECTED", timeout=5)
    finally:
        for phone in (rpi, second, other):
            phone.close()


@pytest.mark.asterisk
def test_broken_file_refused_both_ways(student_lab) -> None:
    """Does a broken Dial() pass (refused, lab still running); good files and no copy fail with what to do?"""
    lab, files = student_lab
    ctx = lab.config.dialplan.context
    accepted = broken_file_refused(lab)
    assert not accepted.ok
    assert accepted.message == ("Asterisk accepted your files: break one line on purpose (remove the closing "
                                "parenthesis of a Dial(...) in your extensions.conf), save, then run this check again")
    dial = f"Dial(PJSIP/rpi,{lab.config.dialplan.dial_timeout_s})"
    line = files.extensions.read_text().splitlines().index(f" same => n,{dial}") + 1
    files.replace("extensions.conf", dial, dial[:-1])
    result = broken_file_refused(lab)
    priorities = len(lab.pbx.dialplan(ctx))
    assert result.ok, result
    assert result.message == (f"Asterisk refused it ({files.extensions}, line {line}: No closing parenthesis found? "
                              f"'{dial[:-1]}' (WARNING from pbx_config.c)); the lab still runs your last working "
                              f"files: {priorities} priorities in [{ctx}]")
    shutil.rmtree(files.folder)
    gone = broken_file_refused(lab)
    assert not gone.ok
    assert gone.message == (f"lab.reload() failed before Asterisk could look at your files ({files.pjsip} could not "
                            "be read (No such file or directory)): read its message, fix that, then run this check "
                            "again")


def test_ringing_before_answer_fails_while_answer_comes_first(sample) -> None:
    """On a call recorded with Answer(500) first, does the check say which priority to remove?"""
    result = ringing_before_answer(sample)
    assert not result.ok
    assert result.message == ("your phone got 200 OK 0.00 s after its INVITE, with no 180 Ringing before it: "
                              "Asterisk still answers the call itself; remove the Answer() priority of extension 5001 "
                              "in your extensions.conf (Dial becomes priority 1), run lab.reload(), then record the "
                              "call again")
    registration = vl.from_pcap(vl.sample_capture("register_401"), vl.LabConfig())
    assert ringing_before_answer(registration).message == (
        "this experiment holds no answered call: record one with exp = vl.record_call(lab, caller=..., number=...)")


def _without_answer(lab: Lab, files, account: str) -> None:
    acc, plan = lab.config.account(account), lab.config.dialplan
    files.replace("extensions.conf",
                  f"exten => {acc.number},1,Answer({plan.answer_ms})\n same => n,Dial(PJSIP/{acc.name},"
                  f"{plan.dial_timeout_s})",
                  f"exten => {acc.number},1,Dial(PJSIP/{acc.name},{plan.dial_timeout_s})")


@pytest.mark.asterisk
@pytest.mark.parametrize("capture", [None, False], ids=["captured-if-permitted", "trace-only"])
def test_ringing_before_answer_passes_without_answer(student_lab, capture: bool | None) -> None:
    """Without Answer(500), does the caller's 180 then 200 OK pass, from a capture or from the phone's trace?"""
    lab, files = student_lab
    _without_answer(lab, files, "alcatel")
    lab.reload()
    exp = vl.record_call(lab, caller="rpi", number=lab.config.account("alcatel").number, seconds=0.5,
                         capture=capture)
    result = ringing_before_answer(exp)
    assert result.ok, result
    pattern = r"your phone got 180 Ringing 0\.\d\d s after its INVITE, then 200 OK (\d\.\d\d) s after it"
    if exp.pcap is not None:
        pattern += r"; the PBX sent it \d+ ms after the callee's 200 OK reached it"
    m = re.fullmatch(pattern, result.message)
    assert m, result.message
    assert float(m.group(1)) >= lab.config.alcatel.ring_s - 0.1  # the Alcatel rang before anyone answered


def test_media_via_pbx_fails_with_direct_media(sample) -> None:
    """On a call with direct media (2 re-INVITEs at the bridge, 1 at the hang-up), does the check say what to set?"""
    result = media_via_pbx(sample)
    assert not result.ok
    assert result.message == ("the PBX sent 3 re-INVITEs during the call: direct media is still on; set "
                              "direct_media = no in the endpoint template of your pjsip.conf, run lab.reload(), then "
                              "record the call again")
    registration = vl.from_pcap(vl.sample_capture("register_401"), vl.LabConfig())
    assert media_via_pbx(registration).message == (
        "this experiment holds no call: record one with exp = vl.record_call(lab, caller=..., number=...)")


@pytest.mark.asterisk
@pytest.mark.parametrize("capture", [None, False], ids=["captured-if-permitted", "trace-only"])
def test_media_via_pbx_passes_with_direct_media_off(student_lab, capture: bool | None) -> None:
    """With direct_media = no, does the check count the streams (capture) or read the phone's RTP address?"""
    lab, files = student_lab
    files.replace("pjsip.conf", "direct_media = yes", "direct_media = no")
    lab.reload()
    exp = vl.record_call(lab, caller="rpi", number=lab.config.account("alcatel").number, seconds=1,
                         capture=capture)
    result = media_via_pbx(exp)
    assert result.ok, result
    pbx = lab.config.pbx.host
    if exp.pcap is not None:
        assert exp.streams is not None and len(exp.streams) == 4
        assert result.message.startswith(f"no re-INVITE from the PBX, and all 4 RTP streams go to or come from the "
                                         f"PBX ({pbx}): ")
    else:
        assert re.fullmatch(rf"no re-INVITE from the PBX in your phone's trace, and your phone sent its RTP to "
                            rf"{re.escape(pbx)}:\d+ \(the PBX\) until the end \(no capture here: from the phone's "
                            r"own statistics\)", result.message), result.message


@pytest.mark.asterisk
def test_dial_timeout_both_ways(student_lab) -> None:
    """Does the check fail while Dial rings 25 s (or longer than the Alcatel), and pass with 1 s?"""
    lab, files = student_lab
    alcatel, plan = lab.config.account("alcatel"), lab.config.dialplan
    ring = lab.config.alcatel.ring_s
    rpi = Phone("rpi", lab.config)
    try:
        rpi.register()
        call = rpi.call(alcatel.number)
        assert dial_timeout(lab, call).message == (
            f"the Dial() of {alcatel.number} still rings {plan.dial_timeout_s} s: make its second argument shorter "
            f"than the {ring:g} s the Alcatel rings, in your extensions.conf, then lab.reload() and call again")
        call.hangup()
        call.wait("DISCONNECTED", timeout=5)
        elsewhere = rpi.call(lab.config.account("guillaume").number)
        assert dial_timeout(lab, elsewhere).message == (
            f"that call went to {elsewhere.number}: call the Alcatel ({alcatel.number}), whose phone rings "
            f"{ring:g} s before it answers")
        elsewhere.hangup()
        files.replace("extensions.conf", f"Dial(PJSIP/{alcatel.name},{plan.dial_timeout_s})",
                      f"Dial(PJSIP/{alcatel.name},3)")
        lab.reload()
        assert dial_timeout(lab, call).message == (
            f"with 3 s Dial() still waits longer than the {ring:g} s the Alcatel rings, so the Alcatel answers: "
            "choose a shorter timeout")
        files.replace("extensions.conf", f"Dial(PJSIP/{alcatel.name},3)", f"Dial(PJSIP/{alcatel.name},1)")
        lab.reload()
        call = rpi.call(alcatel.number)
        assert dial_timeout(lab, call).message == ("the call is still going on: wait for its end with "
                                                   "call.wait(\"DISCONNECTED\", timeout=10), then run this check again")
        call.wait("DISCONNECTED", timeout=10)
        result = dial_timeout(lab, call)
        assert result.ok, result
        assert re.fullmatch(rf"your call to {alcatel.number} ended after 1\.\d s with a BYE from the PBX \(Answer\(\) "
                            rf"had answered it\), before the Alcatel \({ring:g} s of ringing\) answered: "
                            rf"Dial\(PJSIP/{alcatel.name},1\) gave up after 1 s", result.message), result.message
        files.replace("extensions.conf",
                      f"exten => {alcatel.number},1,Answer({plan.answer_ms})\n same => n,Dial(PJSIP/{alcatel.name},1)",
                      f"exten => {alcatel.number},1,Dial(PJSIP/{alcatel.name},1)")
        lab.reload()
        call = rpi.call(alcatel.number)
        call.wait("DISCONNECTED", timeout=10)
        result = dial_timeout(lab, call)
        assert result.ok, result
        assert re.fullmatch(rf"your call to {alcatel.number} ended after 1\.\d s with \d{{3}} [\w ]+, before the "
                            rf"Alcatel \({ring:g} s of ringing\) answered: Dial\(PJSIP/{alcatel.name},1\) gave up "
                            r"after 1 s", result.message), result.message
    finally:
        rpi.close()
