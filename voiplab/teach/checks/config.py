"""The check cells of notebook 02 (the Asterisk PBX): did the student's configuration do what was asked?

The student edits their own ``pjsip.conf`` and ``extensions.conf`` (``lab.edit_config()``),
applies them (``lab.reload()``) and makes a call; each check looks at what Asterisk runs
(``dialplan show``, ``pjsip show endpoints``) and at the call itself:

* :func:`extension_added`: a new extension rings a second phone registered as a new account;
* :func:`broken_file_refused`: a file broken on purpose is refused with Asterisk's words, and the
  lab keeps running the last working files;
* :func:`ringing_before_answer`: without ``Answer()`` first, the caller gets 180 Ringing and
  its 200 OK only when the callee answers;
* :func:`media_via_pbx`: with ``direct_media = no``, no re-INVITE and every RTP stream via the PBX;
* :func:`dial_timeout`: a shorter ``Dial()`` timeout ends the call before the Alcatel answers.

Taught in notebook 02.
"""

from __future__ import annotations

import re

from ...core.flow import Flow, Transaction
from ...devices.asterisk_edit import DialplanEntry, dial_targets
from ...devices.lab import Lab
from ...devices.phone import Call, Phone
from ...devices.wire import CallState
from ...errors import PbxError
from ..experiments import Experiment
from . import CheckResult, failed, passed

__all__ = ["broken_file_refused", "dial_timeout", "extension_added", "media_via_pbx", "ringing_before_answer"]

#: seconds a call may last beyond its Dial timeout (the Answer() delay aside) and still be ended by it
DIAL_TIMEOUT_SLACK_S = 1.0
# Dial(PJSIP/alcatel,25): the second argument is the ring time in seconds
_DIAL_TIMEOUT_RE = re.compile(r"^[^,]*,\s*(?P<seconds>\d+(?:\.\d+)?)\s*(?:,|$)")
# Answer(500): the delay in milliseconds
_ANSWER_DELAY_RE = re.compile(r"^\s*(?P<ms>\d+)\s*$")


def _host(address: str) -> str:
    return address.rsplit(":", 1)[0]


def _extension(lab: Lab, number: str) -> list[DialplanEntry]:
    """The priorities of ``number`` in the context the lab's phones call into."""
    return [e for e in lab.pbx.dialplan(lab.config.dialplan.context) if e.extension == number]


def _answered_incoming(phone: Phone) -> bool:
    """True when the phone's trace shows an INVITE it received and answered with 200 OK."""
    flow = Flow.from_trace(phone.trace())
    me = phone.sip_address if ":" in phone.sip_address else f"{phone.address}:{phone.port}"
    return any(t.method == "INVITE" and t.final_status == 200 and t.request.dst == me
               and t.request.message.to_tag is None for t in flow.transactions)


def extension_added(lab: Lab, number: str, phone: Phone, call: Call) -> CheckResult:
    """Does ``number`` ring ``phone`` (a new account of the student's pjsip.conf), and did it answer ``call``?

    Parameters:
        lab: the lab (``vl.start_lab()``).
        number: the new extension (``"5004"``).
        phone: the second phone, registered as the new account.
        call: the call the student's own phone made to ``number``.

    Taught in notebook 02.
    """
    name = f"extension {number} rings your second phone"
    context = lab.config.dialplan.context
    mine = _extension(lab, number)
    if not mine:
        return failed(name, f"{number} is not in the dial plan [{context}] that Asterisk runs: add its lines under "
                            f"[{context}] in your extensions.conf, save the file, then run lab.reload()")
    targets = dial_targets(mine)
    if not targets:
        return failed(name, f"extension {number} has no Dial(PJSIP/...) priority: add one that names the endpoint "
                            "of your second phone, then run lab.reload()")
    entry, target = targets[0]
    endpoints = {e.name: e for e in lab.pbx.endpoints()}
    if target not in endpoints:
        return failed(name, f"extension {number} dials PJSIP/{target}, but Asterisk has no endpoint {target}: add "
                            "its endpoint, auth and aor sections to your pjsip.conf (or fix the name), then run "
                            "lab.reload()")
    if phone.account.name != target:
        return failed(name, f"your second phone registers as {phone.account.name}, but extension {number} dials "
                            f"PJSIP/{target}: use the same name in pjsip.conf, extensions.conf and vl.Account(...)")
    contact = endpoints[target].contact_address
    if not phone.registered or contact is None:
        return failed(name, f"your second phone is not registered as {target}: run second.register() (its user "
                            "name and password must be those of the auth section of your pjsip.conf)")
    if call.number != number:
        return failed(name, f"that call went to {call.number}, not {number}: call {number} from your phone")
    if not _answered_incoming(phone):
        return failed(name, f"your second phone never answered a call: call {number} from your phone, then "
                            "answer it on the second phone (incoming.answer())")
    return passed(name, f"[{context}] {number} dials PJSIP/{target} (line {entry.line} of extensions.conf); "
                        f"{target} is registered from {contact}, and your call to {number} was answered by it")


def broken_file_refused(lab: Lab) -> CheckResult:
    """Does ``lab.reload()`` refuse the student's broken file, and does the lab keep its last working files?

    The check runs ``lab.reload()`` itself: with a broken file it raises (that is the point),
    and the check shows what Asterisk said and what the lab runs instead.

    Taught in notebook 02.
    """
    name = "Asterisk refuses a broken file and the lab keeps working"
    context = lab.config.dialplan.context
    try:
        lab.reload()
    except PbxError as e:
        said = str(e)
        if "refused by Asterisk" not in said:
            return failed(name, f"lab.reload() failed before Asterisk could look at your files ({said.split(':')[0]}): "
                                "read its message, fix that, then run this check again")
        running = lab.pbx.is_running()
        plan = lab.pbx.dialplan(context) if running else []
        if not plan:
            return failed(name, "Asterisk refused the file but the lab does not run its dial plan any more: run "
                                "lab.reset_config(), then vl.start_lab()")
        complaint = said.split("Asterisk said:", 1)[-1].strip()
        return passed(name, f"Asterisk refused it ({complaint}); the lab still runs your last working files: "
                            f"{len(plan)} priorities in [{context}]")
    return failed(name, "Asterisk accepted your files: break one line on purpose (remove the closing parenthesis of "
                        "a Dial(...) in your extensions.conf), save, then run this check again")


def _initial_invites(flow: Flow, caller: str) -> list[Transaction]:
    """The INVITE transactions ``caller`` (ip) started outside a dialog, the answered one last."""
    return [t for t in flow.transactions if t.method == "INVITE" and _host(t.request.src) == caller
            and t.request.message.to_tag is None]


def ringing_before_answer(exp: Experiment) -> CheckResult:
    """Without ``Answer()`` first, did the caller get 180 Ringing, then 200 OK only when the callee answered?

    Works from the phone's own trace (no capture needed), or from the capture of an
    experiment read from a file; with a capture the evidence also gives how soon after the
    callee's 200 OK the PBX sent its own.

    Taught in notebook 02.
    """
    name = "Asterisk lets your phone ring until the callee answers"
    leg = exp.trace_flow if exp.trace else exp.flow  # an experiment read from a file has no phone trace
    caller = next((_host(m.src) for m in leg.messages if m.method == "INVITE"), None)
    answered = [t for t in _initial_invites(leg, caller or "") if t.final_status == 200]
    if caller is None or not answered:
        return failed(name, "this experiment holds no answered call: record one with "
                            "exp = vl.record_call(lab, caller=..., number=...)")
    invite = answered[-1]
    t0 = invite.request.time
    ok = next(m for m in invite.responses if m.status == 200)
    ringing = next((m for m in invite.responses if m.status == 180), None)
    number = invite.request.message.uri.user if invite.request.message.uri is not None else "the callee"
    if ringing is None:
        return failed(name, f"your phone got 200 OK {ok.time - t0:.2f} s after its INVITE, with no 180 Ringing "
                            f"before it: Asterisk still answers the call itself; remove the Answer() priority of "
                            f"extension {number} in your extensions.conf (Dial becomes priority 1), run "
                            "lab.reload(), then record the call again")
    evidence = (f"your phone got 180 Ringing {ringing.time - t0:.2f} s after its INVITE, then 200 OK "
                f"{ok.time - t0:.2f} s after it")
    if exp.pcap is not None:
        callee_ok = [m for m in exp.flow.messages if m.status == 200 and m.cseq_method == "INVITE"
                     and _host(m.dst) == exp.pbx and _host(m.src) not in (caller, exp.pbx) and m.time <= ok.time]
        if callee_ok:
            delay = (ok.time - callee_ok[-1].time) * 1000
            evidence += f"; the PBX sent it {delay:.0f} ms after the callee's 200 OK reached it"
    return passed(name, evidence)


def media_via_pbx(exp: Experiment) -> CheckResult:
    """With ``direct_media = no``: no re-INVITE from the PBX, and every RTP stream to or from the PBX?

    With a capture the streams are counted; without one, the phone's own statistics say
    where its RTP went.

    Taught in notebook 02.
    """
    name = "with direct_media = no, RTP stays on the PBX"
    if exp.call is None:
        return failed(name, "this experiment holds no call: record one with "
                            "exp = vl.record_call(lab, caller=..., number=...)")
    pbx = exp.pbx
    reinvites = [t for t in exp.flow.reinvites if t.method == "INVITE" and _host(t.request.src) == pbx]
    if reinvites:
        return failed(name, f"the PBX sent {len(reinvites)} re-INVITE{'s' if len(reinvites) > 1 else ''} during "
                            "the call: direct media is still on; set direct_media = no in the endpoint template "
                            "of your pjsip.conf, run lab.reload(), then record the call again")
    if exp.streams is not None:
        direct = [s for s in exp.streams if pbx not in (s.src, s.dst)]
        if direct:
            paths = ", ".join(f"{s.src} -> {s.dst}" for s in direct)
            return failed(name, f"{len(direct)} RTP stream(s) went phone to phone ({paths}): was this call "
                                "recorded after lab.reload()? record it again")
        if not exp.streams:
            return failed(name, "the capture holds no RTP: talk a few seconds (seconds=2 in vl.record_call)")
        return passed(name, f"no re-INVITE from the PBX, and all {len(exp.streams)} RTP streams go to or come from "
                            f"the PBX ({pbx}): " + ", ".join(f"{s.src} -> {s.dst}" for s in exp.streams))
    remote = str((exp.call_stats or {}).get("remote_rtp") or "")
    if not remote:
        return failed(name, "there are neither RTP streams nor phone statistics in this experiment: record the "
                            "call with vl.record_call(lab, ...)")
    if _host(remote) != pbx:
        return failed(name, f"your phone sent its RTP to {remote}, not to the PBX ({pbx}): was this call recorded "
                            "after lab.reload()? record it again")
    return passed(name, f"no re-INVITE from the PBX in your phone's trace, and your phone sent its RTP to {remote} "
                        "(the PBX) until the end (no capture here: from the phone's own statistics)")


def _seconds(entry: DialplanEntry) -> float | None:
    m = _DIAL_TIMEOUT_RE.match(entry.data)
    return float(m.group("seconds")) if m else None


def dial_timeout(lab: Lab, call: Call) -> CheckResult:
    """Did a shorter ``Dial()`` timeout end ``call`` (to the Alcatel) before the Alcatel answered?

    The Alcatel rings ``[alcatel] ring_s`` seconds (2 in the local lab) before it answers;
    a Dial() timeout shorter than that makes Asterisk give up first: a BYE to the caller
    (when ``Answer()`` answered it before) or a final error response.

    Taught in notebook 02.
    """
    name = "Dial() gives up before the Alcatel answers"
    number = call.number
    alcatel = lab.config.account("alcatel")
    if number not in (alcatel.number, alcatel.name):
        return failed(name, f"that call went to {number}: call the Alcatel ({alcatel.number}), whose phone rings "
                            f"{lab.config.alcatel.ring_s:g} s before it answers")
    plan = _extension(lab, alcatel.number)
    dials = [(e, _seconds(e)) for e, target in dial_targets(plan)]
    if not dials:
        return failed(name, f"extension {alcatel.number} has no Dial(PJSIP/...) in the dial plan Asterisk runs: "
                            "put it back in your extensions.conf and run lab.reload()")
    entry, seconds = dials[0]
    ring = lab.config.alcatel.ring_s
    if seconds is None:
        return failed(name, f"{entry.application}({entry.data}) has no timeout: its second argument is the ring "
                            "time in seconds")
    if seconds == lab.config.dialplan.dial_timeout_s:
        return failed(name, f"the Dial() of {alcatel.number} still rings {seconds:g} s: make its second argument "
                            f"shorter than the {ring:g} s the Alcatel rings, in your extensions.conf, then "
                            "lab.reload() and call again")
    if seconds >= ring:
        return failed(name, f"with {seconds:g} s Dial() still waits longer than the {ring:g} s the Alcatel rings, "
                            "so the Alcatel answers: choose a shorter timeout")
    if call.state != CallState.DISCONNECTED:
        return failed(name, "the call is still going on: wait for its end with call.wait(\"DISCONNECTED\", "
                            "timeout=10), then run this check again")
    answer_s = sum(int(m.group("ms")) / 1000 for e in plan if e.application.lower() == "answer"
                   and e.priority < entry.priority and (m := _ANSWER_DELAY_RE.match(e.data)) is not None)
    start, end = call.history[0][0], call.history[-1][0]
    lasted = end - start
    if lasted > answer_s + seconds + DIAL_TIMEOUT_SLACK_S:
        return failed(name, f"the call lasted {lasted:.1f} s, more than Dial()'s {seconds:g} s: did the Alcatel "
                            "answer? check that lab.reload() applied your file, then call again")
    how = "a BYE from the PBX (Answer() had answered it)" if call.confirmed_at is not None else \
        f"{call.status} {call.reason}"
    return passed(name, f"your call to {alcatel.number} ended after {lasted:.1f} s with {how}, before the Alcatel "
                        f"({ring:g} s of ringing) answered: {entry.application}({entry.data}) gave up after "
                        f"{seconds:g} s")
