"""Can a student write the lab's pjsip.conf and extensions.conf, apply them, break them and go back?

Notebook 02: ``lab.edit_config()`` gives an editable copy of the rendered files,
``lab.reload()`` applies it to the real Asterisk (reading what Asterisk logged about each
file), a broken file never stays (the last working files are put back and the error quotes
Asterisk with the line), ``lab.reset_config()`` goes back to the rendered files, and an
applied edit survives ``lab down``/``lab up``.

The pure parts are tested on real Asterisk output (log lines and ``dialplan show`` as
Asterisk 22 printed them in the lab); the rest against the real lab (``pbx`` fixture: the
lab of ``$VOIPLAB_CONFIG``), each test putting the rendered files back when it ends. The
test of ``lab down``/``lab up`` runs a lab of its own, 20 addresses above the shared one.
"""

from __future__ import annotations

import json
import re
import stat
from dataclasses import replace
from pathlib import Path

import pytest

from voiplab.config import Account, LabConfig, PbxConfig, load_config
from voiplab.devices.asterisk_conf import COPY_NOTE, RENDERED_NOTE, AsteriskLayout, render_all, student_copy
from voiplab.devices.asterisk_edit import (
    AsteriskComplaint,
    check_student_text,
    complaints_in_log,
    dial_targets,
    edit_file,
    parse_applications,
    parse_dialplan,
    unknown_applications,
)
from voiplab.devices.lab import Lab
from voiplab.devices.pbx import Pbx
from voiplab.devices.phone import Phone
from voiplab.errors import PbxError

SECRET = "test-secret-0123456789abcdef"

#: what Asterisk 22 logged in the lab for broken files (lab/log/messages), one line each
LOG_EXTENSIONS = "\n".join([
    "[2026-11-29 09:55:37.640] VERBOSE[1186] loader.c: Reloading module 'pbx_config.so'",
    "[2026-11-29 09:55:37.645] WARNING[1186] pbx_config.c: No closing parenthesis found? 'Dial(PJSIP/rpi,25' "
    "at line 23 of extensions.conf",
    "[2026-11-29 09:55:38.384] ERROR[1203] pbx_config.c: No previous pattern in the first entry of context "
    "'plan-num' to match 'same' at line 17 of extensions.conf!",
    "[2026-11-29 09:55:38.384] ERROR[1203] pbx_config.c: No previous pattern in the first entry of context "
    "'plan-num' to match 'same' at line 17 of extensions.conf!",
    "[2026-11-29 09:55:39.156] WARNING[1219] config.c: parse error: no closing ']', line 15 of "
    "/lab/etc/extensions.conf",
    "[2026-11-29 09:55:39.200] WARNING[1220][C-00000001] res_rtp_asterisk.c: 127.0.0.82:4000 -- Strict RTP "
    "learning complete",
]) + "\n"
LOG_PJSIP = "\n".join([
    "[2026-11-29 09:55:50.012] VERBOSE[1372] loader.c: Reloading module 'res_pjsip.so' (Basic SIP resource)",
    # Asterisk leaves the file name out here: "... at line 35 of " and the end of the line
    "[2026-11-29 09:55:50.012] ERROR[871] config_options.c: Could not find option suitable for category 'rpi' "
    "named 'direct_mdia' at line 35 of ",
    "[2026-11-29 09:55:50.012] ERROR[871] res_sorcery_config.c: Could not create an object of type 'endpoint' "
    "with id 'rpi' from configuration file 'pjsip.conf'",
    "[2026-11-29 09:55:50.012] NOTICE[871] res_sorcery_config.c: Retaining existing configuration for object of "
    "type 'endpoint' with id 'rpi'",
    "[2026-11-29 09:55:52.077] WARNING[871] config.c: No '=' (equal sign) in line 53 of /lab/etc/pjsip.conf",
    "[2026-11-29 09:55:52.077] WARNING[871] config.c: No '=' (equal sign) in line 53 of /lab/etc/pjsip.conf",
    "[2026-11-29 09:55:51.386] WARNING[871] config.c: Inheritance requested, but category 'auth-tmplate' does "
    "not exist, line 78 of /lab/etc/pjsip.conf",
    "[2026-11-29 09:55:53.499] NOTICE[871] sorcery.c: Type 'system' is not reloadable, maintaining previous values",
]) + "\n"
#: ``dialplan show`` as Asterisk 22 printed it, with a label, a hint, a pattern and an include
DIALPLAN_SHOW = """\
[ Context 'other' created by 'pbx_config' ]
  '7000' =>         1. NoOp(hello)                                [extensions.conf:33]
     [next]         2. Playback(beep)                             [extensions.conf:34]
  '7001' =>         hint: PJSIP/rpi                               [extensions.conf:35]
  's' =>            1. Wait(1)                                    [extensions.conf:37]
  '_7XX' =>         1. Goto(start)                                [extensions.conf:36]
  Include =>        'plan-num'                                    [pbx_config]

[ Context 'plan-num' created by 'pbx_config' ]
  '5001' =>         1. Answer(500)                                [extensions.conf:17]
                    2. Dial(PJSIP/alcatel,25)                     [extensions.conf:18]
                    3. Hangup()                                   [extensions.conf:19]

-= 5 extensions (8 priorities) in 2 contexts. =-
"""
APPLICATIONS = """\
    -= Registered Asterisk Applications =-
                Answer: Answer a channel if ringing.
                  Dial: Attempt to connect to another device or endpoint and bridge the call.
                Hangup: Hang up the calling channel.
                  NoOp: Do Nothing (No Operation).
    -= 4 Applications Registered =-
"""
STUDENT_ACCOUNT = """
; my second phone: account student, number 5004
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
; my second phone
exten => 5004,1,Answer(500)
 same => n,Dial(PJSIP/student,25)
 same => n,Hangup()
"""


# ---------------------------------------------------------------------------------------- pure parts
def test_direct_media_comment_follows_the_setting() -> None:
    """With direct_media = no, does the comment say there is no re-INVITE and RTP stays via the PBX?"""
    cfg = LabConfig()
    layout = AsteriskLayout("/lab", "/m")
    on = render_all(cfg, layout, ami_secret=SECRET)["pjsip.conf"]
    off = render_all(replace(cfg, pbx=replace(cfg.pbx, direct_media=False)), layout, ami_secret=SECRET)["pjsip.conf"]
    assert "; direct media on (yes): once the call is up, Asterisk re-INVITEs both phones with\n" in on
    assert "direct_media = yes\n" in on and on.count("direct_media = yes") == 1
    assert "; direct media off (no): Asterisk sends no re-INVITE: each phone keeps sending its RTP\n" in off
    assert "; to the PBX, which relays every packet to the other phone for the whole call.\n" in off
    assert "direct_media = no\n" in off
    # nothing in the "no" file says RTP goes phone to phone, but for the other setting
    assert "so RTP flows phone to phone" not in off
    assert "(With yes, Asterisk would re-INVITE both phones so that RTP flows phone to phone.)" in off


def test_student_copy_changes_only_who_edits_it() -> None:
    """Is the student's copy the rendered file with its second line saying 'your copy'?"""
    rendered = render_all(LabConfig(), AsteriskLayout("/lab", "/m"), ami_secret=SECRET)["extensions.conf"]
    copy = student_copy(rendered)
    assert rendered.splitlines()[1] == RENDERED_NOTE
    assert copy.splitlines()[1] == COPY_NOTE
    assert copy.splitlines()[2:] == rendered.splitlines()[2:]


def test_complaints_are_read_from_asterisks_log() -> None:
    """Are ERROR/WARNING lines about the file found, with their line, once each, and other noise left out?"""
    found = complaints_in_log(LOG_EXTENSIONS, "extensions.conf")
    assert found == [
        AsteriskComplaint("WARNING", "extensions.conf", 23, "No closing parenthesis found? 'Dial(PJSIP/rpi,25'",
                          "pbx_config.c"),
        AsteriskComplaint("ERROR", "extensions.conf", 17, "No previous pattern in the first entry of context "
                          "'plan-num' to match 'same'", "pbx_config.c"),
        AsteriskComplaint("WARNING", "extensions.conf", 15, "parse error: no closing ']'", "config.c"),
    ]
    assert str(found[0]) == ("line 23: No closing parenthesis found? 'Dial(PJSIP/rpi,25' "
                             "(WARNING from pbx_config.c)")
    pjsip = complaints_in_log(LOG_PJSIP, "pjsip.conf")
    assert [(c.level, c.line, c.text) for c in pjsip] == [
        ("ERROR", 35, "Could not find option suitable for category 'rpi' named 'direct_mdia'"),
        ("ERROR", None, "Could not create an object of type 'endpoint' with id 'rpi' from configuration file "
                        "'pjsip.conf'"),
        ("WARNING", 53, "No '=' (equal sign)"),
        ("WARNING", 78, "Inheritance requested, but category 'auth-tmplate' does not exist"),
    ]
    assert str(pjsip[1]) == ("Could not create an object of type 'endpoint' with id 'rpi' from configuration file "
                             "'pjsip.conf' (ERROR from res_sorcery_config.c)")


def test_dialplan_show_is_parsed() -> None:
    """Does every priority of `dialplan show` come back with its extension, label, hint, file and line?"""
    entries = parse_dialplan(DIALPLAN_SHOW)
    assert [str(e) for e in entries] == [
        "7000,1,NoOp(hello)", "7000,2,Playback(beep)", "7001,hint,PJSIP/rpi", "s,1,Wait(1)", "_7XX,1,Goto(start)",
        "5001,1,Answer(500)", "5001,2,Dial(PJSIP/alcatel,25)", "5001,3,Hangup()"]
    assert [e.context for e in entries] == ["other"] * 5 + ["plan-num"] * 3
    assert entries[1].label == "next" and entries[1].line == 34
    assert repr(entries[6]) == "DialplanEntry([plan-num] 5001,2,Dial(PJSIP/alcatel,25) at extensions.conf:18)"
    assert [(e.extension, target) for e, target in dial_targets(entries)] == [("5001", "alcatel")]


def test_an_application_asterisk_lacks_is_a_complaint() -> None:
    """Is a misspelt application ('Anwser') found, with its line, though Asterisk loads it silently?"""
    registered = parse_applications(APPLICATIONS)
    assert registered == {"answer", "dial", "hangup", "noop"}
    plan = parse_dialplan(DIALPLAN_SHOW.replace("Answer(500)", "Anwser(500)"))
    found = unknown_applications([e for e in plan if e.context == "plan-num"], registered)
    assert [str(c) for c in found] == [
        "line 17: Asterisk has no application 'Anwser' (extension 5001, priority 1): check its spelling; "
        "'core show applications' lists them (ERROR from voiplab)"]


@pytest.mark.parametrize(("data", "message"), [
    (b"[general]\n#include /etc/shadow\n", "line 2 of my/x.conf uses #include, which the lab does not allow: "
                                           "write the settings in the file itself"),
    (b"  #exec /bin/sh\n", "line 1 of my/x.conf uses #exec, which the lab does not allow: write the settings in "
                           "the file itself"),
    (b"\xff\xfe[general]", "my/x.conf is not UTF-8 text (byte 0): save it again as UTF-8 from the editor"),
    (b"a\x00b", "my/x.conf holds a NUL byte, so it is not a text file: save it again from the editor"),
    (b"x" * 300_000, "my/x.conf is 300000 bytes, more than the 262144 bytes a configuration file may have here: "
                     "check that it is the right file (lab.reset_config() writes it again)"),
])
def test_a_file_unfit_for_asterisk_is_refused_before_it_reaches_it(data: bytes, message: str) -> None:
    """Are includes, binary files and huge files refused with the line and what to do?"""
    with pytest.raises(PbxError) as e:
        check_student_text("extensions.conf", data, "my/x.conf")
    assert str(e.value) == message
    with pytest.raises(PbxError, match=r"^modules\.conf is not a file students write here: edit pjsip\.conf or "):
        check_student_text("modules.conf", b"", "modules.conf")


def test_edit_file_replaces_exactly_or_appends(tmp_path: Path) -> None:
    """Does the solution cells' helper replace text that is there exactly `count` times, or append?"""
    path = tmp_path / "extensions.conf"
    path.write_text("[plan-num]\nexten => 5001,1,Answer(500)\n")
    edit_file(path, "Answer(500)", "NoOp()")
    edit_file(path, None, "exten => 5004,1,Dial(PJSIP/student,25)\n")
    assert path.read_text() == "[plan-num]\nexten => 5001,1,NoOp()\nexten => 5004,1,Dial(PJSIP/student,25)\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with pytest.raises(PbxError) as e:
        edit_file(path, "Answer(500)", "x")
    assert str(e.value) == ("extensions.conf holds 'Answer(500)' 0 times, not 1: check the text to replace "
                            "(or lab.reset_config() to start from the rendered file)")


@pytest.fixture()
def offline_lab(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Lab:
    """A lab that is never started (its own state directory): its files can be copied, not applied."""
    monkeypatch.setenv("VOIPLAB_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.chdir(tmp_path)
    return Lab(LabConfig())


def test_edit_config_makes_a_private_copy_and_keeps_the_students_edits(offline_lab: Lab, tmp_path: Path) -> None:
    """Is the copy made beside the notebook (0700/0600), with the comments, and kept when run again?"""
    files = offline_lab.edit_config()
    assert files.folder == tmp_path / "my-asterisk"
    assert stat.S_IMODE(files.folder.stat().st_mode) == 0o700
    assert {stat.S_IMODE(p.stat().st_mode) for p in files.files.values()} == {0o600}
    assert files.pjsip.read_text() == student_copy(offline_lab.pbx.config_text("pjsip.conf"))
    assert COPY_NOTE in files.extensions.read_text()
    assert COPY_NOTE == "; Your copy (lab.edit_config()): edit it, then run lab.reload() to apply it."
    assert files.notes == ("made from the files the lab renders",)
    assert str(files).splitlines()[:3] == ["your copy of the lab's Asterisk files, in my-asterisk:",
                                           "  my-asterisk/pjsip.conf", "  my-asterisk/extensions.conf"]
    files.replace("pjsip.conf", "direct_media = yes", "direct_media = no")
    again = offline_lab.edit_config()
    assert "direct_media = no" in again.pjsip.read_text()
    assert again.notes == ("kept your edited files (lab.reset_config() starts over from the rendered ones)",)


def test_a_copy_made_for_another_lab_toml_is_written_again_and_the_edits_kept(offline_lab: Lab) -> None:
    """When lab.toml changed, is the copy rendered again, the edited file kept as .bak (and only that one)?"""
    files = offline_lab.edit_config()
    files.replace("extensions.conf", "Hangup()\n", "Hangup()\n; mine\n", count=3)
    cfg = offline_lab.config
    changed = Lab(replace(cfg, dialplan=replace(cfg.dialplan, dial_timeout_s=20)))
    again = changed.edit_config()
    assert again.notes == ("your edited files were made for another lab configuration (lab.toml changed): they "
                           "are kept as extensions.conf.bak", "written again from the files the lab renders")
    assert "Dial(PJSIP/alcatel,20)" in again.extensions.read_text()
    assert "; mine" in (again.folder / "extensions.conf.bak").read_text()
    assert not (again.folder / "pjsip.conf.bak").exists()
    marker = json.loads((again.folder / ".voiplab-copy.json").read_text())
    assert set(marker) == {"base", "pjsip.conf", "extensions.conf"}


def test_reload_needs_a_copy_a_local_lab_and_a_running_asterisk(offline_lab: Lab, tmp_path: Path) -> None:
    """Do reload() and edit_config() say what to do when there is no copy, no local lab, or no Asterisk?"""
    with pytest.raises(PbxError) as e:
        offline_lab.reload()
    assert str(e.value) == ("there is no copy of the Asterisk files to apply: run lab.edit_config(), edit the "
                            "files it made, then run lab.reload()")
    offline_lab.edit_config()
    with pytest.raises(PbxError) as e:
        offline_lab.reload()
    assert str(e.value) == ("the lab is not running, so Asterisk cannot check your files: start it with "
                            "vl.start_lab(), then run lab.reload() again")
    classroom = Lab(LabConfig(pbx=PbxConfig(mode="classroom", host="192.0.2.80")))
    with pytest.raises(PbxError) as e:
        classroom.edit_config(tmp_path / "x")
    assert str(e.value) == ("lab.edit_config() works on a local lab only: the course server's pjsip.conf and "
                            "extensions.conf belong to your instructor; do notebook 02 on your own machine's lab")


# ------------------------------------------------------------------------------- against the real lab
@pytest.fixture()
def student_lab(pbx: Pbx, tmp_path: Path):
    """The shared lab with a student's copy in a temporary folder; the rendered files are back afterwards."""
    lab = Lab(pbx.config)
    copy = lab.edit_config(tmp_path / "my-asterisk")
    yield lab, copy
    lab.reset_config()
    assert lab.pbx.edits.applied() is None


def _calls_and_is_answered(caller: Phone, number: str, callee: Phone) -> None:
    call = caller.call(number)
    incoming = callee.wait_incoming(timeout=10)
    incoming.answer()
    incoming.wait("CONFIRMED", timeout=5)
    call.wait("CONFIRMED", timeout=5)
    call.hangup()
    call.wait("DISCONNECTED", timeout=5)


@pytest.mark.asterisk
def test_a_new_extension_written_in_the_copy_is_called(student_lab) -> None:
    """Does 5004, added through the student's copy, ring a pjsua2 phone registered as the new account?"""
    lab, files = student_lab
    files.append("pjsip.conf", STUDENT_ACCOUNT)
    files.append("extensions.conf", STUDENT_EXTENSION)
    result = lab.reload()
    assert result.applied == (str(files.pjsip), str(files.extensions))
    assert "student" in {e.name for e in result.endpoints}
    assert "5004,2,Dial(PJSIP/student,25)" in [str(e) for e in result.dialplan]
    assert result.notes == ()
    me = lab.config.account("rpi")
    second = Phone(Account("student", "5004", "Second phone", "44444444", me.address, sip_port=0), lab.config)
    rpi = Phone("rpi", lab.config)
    try:
        second.register()
        rpi.register()
        _calls_and_is_answered(rpi, "5004", second)
    finally:
        rpi.close()
        second.close()
    assert "nothing to apply" in str(lab.reload())  # unchanged files: nothing reloaded


@pytest.mark.asterisk
def test_a_broken_extensions_conf_is_refused_and_the_old_dial_plan_still_works(student_lab) -> None:
    """Does a missing parenthesis give Asterisk's words with the line, and do calls still work after?"""
    lab, files = student_lab
    dial = f"Dial(PJSIP/guillaume,{lab.config.dialplan.dial_timeout_s})"
    line = files.extensions.read_text().splitlines().index(f" same => n,{dial}") + 1
    files.replace("extensions.conf", dial, dial[:-1])
    with pytest.raises(PbxError) as e:
        lab.reload()
    assert str(e.value) == (
        f"{files.extensions} was refused by Asterisk, so the lab went back to your last working files: fix the "
        "line below, then run lab.reload() again (lab.reset_config() starts over from the rendered files). "
        f"Asterisk said:\n  {files.extensions}, line {line}: No closing parenthesis found? '{dial[:-1]}' "
        "(WARNING from pbx_config.c)")
    assert lab.pbx.is_running()
    # the last working file is back in the lab, and Asterisk runs it
    assert f" same => n,{dial}\n" in (lab.pbx.etc_dir / "extensions.conf").read_text()
    assert lab.pbx.edits.applied() is None
    assert f"{lab.config.account('guillaume').number},2,{dial}" in [str(x) for x in lab.pbx.dialplan()]
    rpi, guillaume = Phone("rpi", lab.config), Phone("guillaume", lab.config)
    try:
        rpi.register()
        guillaume.register()
        _calls_and_is_answered(rpi, lab.config.account("guillaume").number, guillaume)
    finally:
        rpi.close()
        guillaume.close()


@pytest.mark.asterisk
def test_a_broken_pjsip_conf_is_refused_and_phones_still_register(student_lab) -> None:
    """Does a broken section header give Asterisk's complaint, and do registrations and calls still work?"""
    lab, files = student_lab
    line = files.pjsip.read_text().splitlines().index("[rpi-auth](auth-template)") + 1
    files.replace("pjsip.conf", "[rpi-auth](auth-template)", "[rpi-auth(auth-template)")
    with pytest.raises(PbxError) as e:
        lab.reload()
    assert str(e.value) == (
        f"{files.pjsip} was refused by Asterisk, so the lab went back to your last working files: fix the lines "
        "below, then run lab.reload() again (lab.reset_config() starts over from the rendered files). Asterisk "
        f"said:\n  {files.pjsip}, line {line}: parse error: no closing ']' (WARNING from config.c)\n"
        f"  {files.pjsip}, Contents of config file 'pjsip.conf' are invalid and cannot be parsed "
        "(ERROR from res_sorcery_config.c)")
    assert "[rpi-auth](auth-template)\n" in (lab.pbx.etc_dir / "pjsip.conf").read_text()
    rpi, guillaume = Phone("rpi", lab.config), Phone("guillaume", lab.config)
    try:
        rpi.register()
        guillaume.register()
        _calls_and_is_answered(guillaume, lab.config.account("rpi").number, rpi)
    finally:
        rpi.close()
        guillaume.close()


@pytest.mark.asterisk
def test_an_option_asterisk_does_not_know_is_refused(student_lab) -> None:
    """Does a misspelt option give 'Could not find option' with its line, and the endpoint keep its value?"""
    lab, files = student_lab
    files.replace("pjsip.conf", "direct_media = yes", "direct_mdia = no")
    with pytest.raises(PbxError, match=r"line \d+: Could not find option suitable for category 'rpi' named "
                                       r"'direct_mdia' \(ERROR from config_options\.c\)"):
        lab.reload()
    assert re.search(r"^\s*direct_media\s*:\s*true$", lab.pbx.cli("pjsip show endpoint rpi"), re.M)


@pytest.mark.asterisk
def test_a_misspelt_application_is_refused(student_lab) -> None:
    """Is 'Anwser(500)', which Asterisk loads without a word, refused at once with its line?"""
    lab, files = student_lab
    number = lab.config.account("alcatel").number
    files.replace("extensions.conf", f"exten => {number},1,Answer(", f"exten => {number},1,Anwser(")
    with pytest.raises(PbxError, match=rf"line \d+: Asterisk has no application 'Anwser' \(extension {number}, "
                                       r"priority 1\)"):
        lab.reload()
    assert [e.application for e in lab.pbx.dialplan(lab.config.dialplan.context)
            if e.extension == number][0] == "Answer"


def _shifted(config: LabConfig, offset: int) -> str:
    """A lab.toml for a lab of its own, ``offset`` addresses above ``config``'s."""
    def up(address: str) -> str:
        parts = address.split(".")
        return ".".join([*parts[:-1], str(int(parts[-1]) + offset)])

    lines = [f'[pbx]\nhost = "{up(config.pbx.host)}"\n']
    lines += [f'[accounts.{a.name}]\naddress = "{up(a.address)}"\n' for a in config.accounts]
    return "\n".join(lines)


def _direct_media(lab: Lab) -> str:
    m = re.search(r"^\s*direct_media\s*:\s*(\w+)$", lab.pbx.cli("pjsip show endpoint rpi"), re.M)
    assert m is not None
    return m.group(1)


@pytest.mark.asterisk
def test_applied_edits_survive_down_and_up_until_reset(pbx: Pbx, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Does an applied edit stay after lab down/up, step aside when lab.toml changes, and go with reset?"""
    toml = tmp_path / "lab.toml"
    toml.write_text(_shifted(pbx.config, 20))
    monkeypatch.setenv("VOIPLAB_STATE_DIR", str(tmp_path / "state"))
    lab = Lab(load_config(toml))
    try:
        lab.up()
        files = lab.edit_config(tmp_path / "copy")
        files.replace("pjsip.conf", "direct_media = yes", "direct_media = no")
        lab.reload()
        assert _direct_media(lab) == "false"
        lab.down()
        up = lab.up()
        assert up[-1] == ("Asterisk runs your own pjsip.conf and extensions.conf (applied with lab.reload()): "
                          "lab.reset_config() goes back to the rendered files")
        assert _direct_media(lab) == "false"
        assert up[-1] in lab.status().notes
        lab.down()
        cfg = lab.config
        other = Lab(replace(cfg, dialplan=replace(cfg.dialplan, dial_timeout_s=20)))
        assert other.up()[-1] == ("your own pjsip.conf and extensions.conf were made for another lab.toml, so "
                                  "Asterisk runs the rendered files: lab.reload() applies yours again, "
                                  "lab.reset_config() forgets them")
        assert _direct_media(other) == "true"
        other.down()
        lab.up()
        assert _direct_media(lab) == "false"
        fresh = lab.reset_config()
        assert _direct_media(lab) == "true"
        assert fresh.notes == ("your edited files are kept as pjsip.conf.bak",
                               "written again from the files the lab renders")
        lab.down()
        assert not any("your own" in line for line in lab.up())
        assert _direct_media(lab) == "true"
    finally:
        lab.down()
