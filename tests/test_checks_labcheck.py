"""The check cells of notebook 00: each passes on the student's right result and, otherwise, says what to look at.

``machine_ready`` is tested on doctor results made here; ``lab_running`` and
``options_answered`` against the real lab (the ``pbx`` fixture: the lab of
``$VOIPLAB_CONFIG``) and on packets made here. The exact messages are asserted.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import pytest

import voiplab as vl
from voiplab.config import Account, LabConfig, PbxConfig
from voiplab.devices.doctor import Check
from voiplab.devices.lab import Lab
from voiplab.devices.pbx import Pbx
from voiplab.teach.checks.labcheck import lab_running, machine_ready, options_answered

REQUIRED = [Check("python", True, "3.11"), Check("pjsua2", True, "2.15.1"), Check("asterisk", True, "rootfs")]


def test_the_checks_are_reachable_as_vl_checks() -> None:
    """Does vl.checks.<name> find each check of notebook 00?"""
    assert vl.checks.machine_ready is machine_ready
    assert vl.checks.lab_running is lab_running
    assert vl.checks.options_answered is options_answered


def test_machine_ready_passes_when_the_required_components_work() -> None:
    """Do OK required checks pass, an optional NOTE being named as what the notebooks do without it?"""
    result = machine_ready([*REQUIRED, Check("capture", False, "no", required=False)])
    assert result.ok
    assert result.message == ("every required component works (python, pjsua2, asterisk); without capture "
                              "(optional) the notebooks use the phones' own traces and the sample captures")
    assert repr(machine_ready(REQUIRED)) == ("PASS this machine can run the lab: every required component works "
                                             "(python, pjsua2, asterisk)")


def test_machine_ready_names_what_to_fix() -> None:
    """Does a FIX (a required check that failed) make the check fail, naming it and where the fix is?"""
    result = machine_ready([*REQUIRED, Check("tools", False, "no unshare", "apt-get install util-linux")])
    assert not result.ok
    assert result.message == ("tools must be fixed first: follow the '->' line under each FIX above, then run "
                              "both cells again")
    assert machine_ready([]).message == ("there are no doctor results to look at: run checks = vl.run_checks() "
                                         "first")


@pytest.fixture()
def running_lab(pbx: Pbx) -> Lab:
    """The shared lab with its simulated Alcatel (started if needed)."""
    lab = Lab(pbx.config)
    lab.up()
    return lab


@pytest.mark.asterisk
def test_lab_running_passes_on_the_running_lab(running_lab: Lab) -> None:
    """Does the running lab pass, with its version, address, accounts and the Alcatel's contact?"""
    lab = running_lab
    p, alcatel = lab.config.pbx, lab.config.account("alcatel")
    contact = {e.name: e for e in lab.pbx.endpoints()}[alcatel.name].contact_address
    result = lab_running(lab)
    assert result.ok, result
    assert result.message == (f"{lab.pbx.version()} answers at {p.host}:{p.port} and knows alcatel, guillaume, "
                              f"rpi; the Alcatel ({alcatel.number}) is registered from {contact}")


@pytest.mark.asterisk
def test_lab_running_names_an_account_asterisk_does_not_know(running_lab: Lab) -> None:
    """With an account that is not in Asterisk's pjsip.conf, does the check name it and the way back?"""
    cfg = running_lab.config
    ghost = Account("ghost", "5009", "Ghost", "99999999", cfg.account("guillaume").address, sip_port=0)
    result = lab_running(Lab(replace(cfg, accounts=(*cfg.accounts, ghost))))
    assert not result.ok
    assert result.message == ("Asterisk does not know the account ghost: its pjsip.conf lacks them; "
                              "lab.reset_config() puts the rendered files back")


@pytest.mark.asterisk
def test_lab_running_says_when_the_alcatel_is_not_registered(running_lab: Lab) -> None:
    """With the simulated Alcatel stopped (it unregisters), does the check say how to bring it back?"""
    lab = running_lab
    sim = lab.simulated_alcatel
    assert sim is not None
    try:
        sim.stop()
        deadline = time.monotonic() + 5
        while lab.config.account("alcatel").name in {e.name for e in lab.pbx.endpoints() if e.contact_address} \
                and time.monotonic() < deadline:
            time.sleep(0.1)
        result = lab_running(lab)
    finally:
        lab.up()
    assert not result.ok
    assert result.message == ("the simulated Alcatel (5001) is not registered: run vl.start_lab() again; "
                              "'voiplab lab status' in a terminal shows it")


def test_lab_running_says_when_asterisk_is_not_running(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """For a lab that was never started, does the check say to start it and where to read why not?"""
    monkeypatch.setenv("VOIPLAB_STATE_DIR", str(tmp_path))
    result = lab_running(Lab(LabConfig()))
    assert not result.ok
    assert result.message == ("Asterisk is not running: run lab = vl.start_lab() again and read its error message "
                              "('voiplab doctor' in a terminal says what is missing)")
    assert lab_running(None).message == "there is no lab to look at: run lab = vl.start_lab() first"


@pytest.mark.asterisk
def test_lab_running_in_a_classroom_asks_the_server(pbx: Pbx) -> None:
    """In classroom mode, does the check pass when the server answers OPTIONS and fail when it does not?"""
    host = pbx.config.pbx.host
    answering = Lab(LabConfig(pbx=PbxConfig(mode="classroom", host=host)))
    assert lab_running(answering).message == f"the course server {host}:5060 answers SIP OPTIONS"
    silent = Lab(LabConfig(pbx=PbxConfig(mode="classroom", host=host, port=5999)))
    result = lab_running(silent)
    assert not result.ok
    assert result.message == (f"the course server {host}:5999 does not answer: check [pbx] host in your lab.toml "
                              "and your network, or ask your instructor")


@pytest.mark.asterisk
def test_options_answered_passes_on_asterisks_401(pbx: Pbx) -> None:
    """Does the reply to a crafted OPTIONS pass, quoting the status line and the Digest challenge?"""
    lab = Lab(pbx.config)
    reply = vl.send_and_receive(vl.craft_options(lab.config, "rpi", local_port=5071))
    p = lab.config.pbx
    result = options_answered(reply, lab)
    assert result.ok
    assert result.message == (f"the PBX ({p.host}:{p.port}) answered 'SIP/2.0 401 Unauthorized' with a Digest "
                              "challenge (WWW-Authenticate): compare with your prediction")


def _packet(src: str, sport: int, payload: bytes):
    from scapy.layers.inet import IP, UDP
    from scapy.packet import Raw

    return IP(src=src, dst="127.0.0.82") / UDP(sport=sport, dport=5070) / Raw(payload)


def test_options_answered_on_replies_made_here() -> None:
    """Is a reply from elsewhere, or not SIP, or missing, caught; and a 200 OK passed without the challenge?"""
    lab = Lab(LabConfig())
    p = lab.config.pbx
    ok = options_answered(_packet(p.host, p.port, b"SIP/2.0 200 OK\r\nVia: x\r\n\r\n"), lab)
    assert ok.ok
    assert ok.message == f"the PBX ({p.host}:{p.port}) answered 'SIP/2.0 200 OK': compare with your prediction"
    elsewhere = options_answered(_packet("127.0.0.1", 5060, b"SIP/2.0 200 OK\r\n\r\n"), lab)
    assert not elsewhere.ok
    assert elsewhere.message == (f"this reply came from 127.0.0.1:5060, not from the PBX ({p.host}:{p.port}): craft "
                                 "the request with vl.craft_options(lab.config, ...) so it goes to the PBX")
    garbage = options_answered(_packet(p.host, p.port, b"hello"), lab)
    assert garbage.message == ("the reply does not start with a SIP status line ('hello'): look at its SIP layer "
                               "with reply.show()")
    assert options_answered(None, lab).message == ("there is no reply to look at: run reply = "
                                                   "vl.send_and_receive(request) first")
