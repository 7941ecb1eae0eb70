"""Do notebook 07's check cells pass on right files and say what to do on wrong ones?

The files are the lab's own rendering (``vl.write_sipconfig``), edited as a student would;
the fetch check runs a real provisioning server on a loopback address and a real boot fetch.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from voiplab.config import LabConfig, load_config
from voiplab.devices.provisioning import ProvisioningServer, boot_fetch
from voiplab.devices.sipconfig import COMMON_FILENAME, phone_filename, render, settings
from voiplab.errors import ProvisioningError
from voiplab.teach import checks
from voiplab.teach.checks.provisioning import phone_fetched, sipconfig_valid, vocoders_match_pbx

#: the server's address in these tests (any loopback address; no lab needed)
HOST = "127.0.0.1"


@pytest.fixture()
def config() -> LabConfig:
    return load_config()


@pytest.fixture()
def texts(config: LabConfig) -> dict[str, str]:
    """The two files as voiplab renders them from the lab's configuration."""
    return dict(render(config))


def edit(texts: dict[str, str], old: str, new: str) -> dict[str, str]:
    """The files with one line changed, as typed in the editor."""
    out = {name: text.replace(old, new) for name, text in texts.items()}
    assert old == new or out != texts, f"{old!r} is in neither file"
    return out


def test_the_checks_are_reachable_as_vl_checks() -> None:
    """Does ``vl.checks.<name>`` find each of notebook 07's checks?"""
    assert checks.sipconfig_valid is sipconfig_valid and checks.phone_fetched is phone_fetched


# -- sipconfig_valid -----------------------------------------------------------------------------


def test_rendered_files_are_valid(texts: dict[str, str]) -> None:
    """The lab's own rendering: does the check pass and count the settings?"""
    result = sipconfig_valid(texts)
    count = sum(len(section) for text in texts.values() for section in settings(text).values())
    assert result.ok and count > 30
    assert result.message == f"{COMMON_FILENAME} and {phone_filename(load_config().alcatel.mac)} validate: " \
                             f"{count} settings, no problem"


def test_an_emptied_account_name_fails_with_its_line(texts: dict[str, str], config: LabConfig) -> None:
    """authentication_name emptied: does the check fail, count 2 problems and name the first line?"""
    acc = config.account("alcatel").name
    broken = edit(texts, f"authentication_name={acc}\n", "authentication_name=\n")
    line = broken[phone_filename(config.alcatel.mac)].splitlines().index("authentication_name=") + 1
    result = sipconfig_valid(broken)
    assert not result.ok
    assert result.message == (
        f"2 problems left, the first: {phone_filename(config.alcatel.mac)} line {line}: authentication_name is "
        "empty: set it to the SIP account name (alcatel in the lab); the phone cannot register without it; fix "
        "each in the editor (the list under the text area names its line)")


def test_a_value_out_of_range_fails(texts: dict[str, str]) -> None:
    """binary_polling_timer=5 (minimum 10 min): does the check fail with the allowed range?"""
    result = sipconfig_valid(edit(texts, "binary_polling_timer=1440", "binary_polling_timer=5"))
    assert not result.ok
    assert result.message.startswith("1 problem left, the first: sipconfig.txt line ")
    assert "binary_polling_timer is 5, out of range: use 10..65535 min" in result.message


# -- vocoders_match_pbx ---------------------------------------------------------------------------------


def test_vocoders_pass_when_they_follow_the_pbx(texts: dict[str, str], config: LabConfig) -> None:
    """0,8 with a PBX allowing ulaw then alaw: does the check pass?"""
    result = vocoders_match_pbx(edit(texts, "preferred_vocoder=8,0,4,18", "preferred_vocoder=0,8"), config)
    assert result.ok
    assert result.message == ("preferred_vocoder=0,8: PCMU (G.711 mu-law), PCMA (G.711 A-law); every one allowed by "
                              "the PBX (allow=ulaw, allow=alaw), its first choice first")


@pytest.mark.parametrize(("value", "message"), [
    ("8,0,4,18", "preferred_vocoder offers 4 (G723 (G.723.1)), which the PBX does not allow (allow=ulaw, "
                 "allow=alaw in pjsip.conf): offer only codecs both sides have"),
    ("8,0", "the phone prefers PCMA (G.711 A-law) but the PBX's first codec is ulaw: put the PBX's first codec "
            "first (the list is in order of preference)"),
    ("0,x", "preferred_vocoder is '0,x': write payload types separated by commas; fix the problems the editor "
            "lists first"),
    ("", "preferred_vocoder is not set: set it under [sip] in sipconfig.txt"),
])
def test_vocoders_fail_with_what_to_do(texts: dict[str, str], config: LabConfig, value: str, message: str) -> None:
    """The report's 8,0,4,18, A-law first, a typo, nothing: is the hint exact?"""
    result = vocoders_match_pbx(edit(texts, "preferred_vocoder=8,0,4,18", f"preferred_vocoder={value}"), config)
    assert not result.ok and result.message == message


def test_the_phone_file_overrides_the_common_file(texts: dict[str, str], config: LabConfig) -> None:
    """preferred_vocoder=0,8 in the phone's own file wins over the common 8,0,4,18, as on the phone."""
    phone = phone_filename(config.alcatel.mac)
    both = dict(texts)
    both[phone] += "\n[sip]\npreferred_vocoder=0,8\n"
    assert vocoders_match_pbx(both, config).ok


def test_vocoders_follow_the_lab_codecs(texts: dict[str, str], config: LabConfig) -> None:
    """A lab that allows alaw first: is 8,0 then right and 0,8 wrong?"""
    alaw_first = replace(config, codecs=("alaw", "ulaw"))
    assert vocoders_match_pbx(edit(texts, "preferred_vocoder=8,0,4,18", "preferred_vocoder=8,0"), alaw_first).ok
    assert not vocoders_match_pbx(edit(texts, "preferred_vocoder=8,0,4,18", "preferred_vocoder=0,8"), alaw_first).ok


# -- phone_fetched ------------------------------------------------------------------------------------------


def served(tmp_path: Path, texts: dict[str, str], config: LabConfig, boot: bool = True) -> Any:
    """What phone_fetched reads of the editor: its files, server and last boot (a real server and fetch)."""
    for name, text in texts.items():
        (tmp_path / name).write_text(text)
    server = ProvisioningServer(tmp_path, host=HOST, port=0).start()
    downloads = boot_fetch(server.url, config.alcatel.mac) if boot else []
    return SimpleNamespace(texts=dict(texts), server=server, downloads=downloads, mac=config.alcatel.mac,
                           phone_address=None, config=config)


def test_phone_fetched_passes_after_a_boot(tmp_path: Path, texts: dict[str, str], config: LabConfig) -> None:
    """Both files served and fetched: does the check pass, with sizes and the missing firmware?"""
    editor = served(tmp_path, texts, config)
    try:
        result = phone_fetched(editor)
    finally:
        editor.server.stop()
    sizes = [len(texts[n].encode()) for n in (COMMON_FILENAME, phone_filename(config.alcatel.mac))]
    assert result.ok
    assert result.message == (f"the phone fetched {COMMON_FILENAME} ({sizes[0]} bytes), then "
                              f"{phone_filename(config.alcatel.mac)} ({sizes[1]} bytes) from this machine, 200 OK, "
                              "without problem; noesip4018 and datsip4018: 404, not shipped (Alcatel-Lucent's)")


def test_phone_fetched_fails_before_serve_and_before_boot(tmp_path: Path, texts: dict[str, str],
                                                          config: LabConfig) -> None:
    """Not served, then served but not booted: are both hints exact?"""
    nothing: Any = SimpleNamespace(texts=texts, server=None, downloads=[], mac=config.alcatel.mac,
                                   phone_address=None, config=config)
    assert phone_fetched(nothing).message == "the files are not served yet: press Serve"
    editor = served(tmp_path, texts, config, boot=False)
    try:
        result = phone_fetched(editor)
    finally:
        editor.server.stop()
    assert not result.ok
    assert result.message == "the phone has fetched nothing yet: press Phone boots (the server must be serving)"


def test_phone_fetched_fails_on_a_missing_file(tmp_path: Path, texts: dict[str, str], config: LabConfig) -> None:
    """The phone's file deleted from the served directory: does the check name it and its 404?"""
    editor = served(tmp_path, texts, config, boot=False)
    phone = phone_filename(config.alcatel.mac)
    (tmp_path / phone).unlink()
    try:
        editor.downloads = boot_fetch(editor.server.url, config.alcatel.mac)
        result = phone_fetched(editor)
    finally:
        editor.server.stop()
    assert result.message == f"the phone did not get {phone} (404): is it in the served directory, under that " \
                             "exact name?"


def test_phone_fetched_fails_when_edited_after_the_boot(tmp_path: Path, texts: dict[str, str],
                                                        config: LabConfig) -> None:
    """An edit after Phone boots: is the student told the phone has the older file?"""
    editor = served(tmp_path, texts, config)
    editor.texts[COMMON_FILENAME] = texts[COMMON_FILENAME].replace("register_expire=3600", "register_expire=600")
    try:
        result = phone_fetched(editor)
    finally:
        editor.server.stop()
    assert result.message == (f"you edited {COMMON_FILENAME} after the phone booted: it has the older file; press "
                              "Phone boots again")


def test_phone_fetched_fails_on_invalid_or_foreign_files(tmp_path: Path, texts: dict[str, str],
                                                         config: LabConfig) -> None:
    """Files with a problem, then valid files with the wrong proxy port: would the phone register? No: said."""
    broken = edit(texts, "binary_polling_timer=1440", "binary_polling_timer=5")
    editor = served(tmp_path, broken, config)
    try:
        result = phone_fetched(editor)
    finally:
        editor.server.stop()
    assert result.message.startswith("the phone fetched files with 1 problem(s) (the first: sipconfig.txt line ")
    assert result.message.endswith("): it would reboot in a loop; fix them, then press Phone boots again")
    wrong_port = edit(texts, f"proxy_port={config.pbx.port}", "proxy_port=50600")
    editor = served(tmp_path, wrong_port, config)
    try:
        result = phone_fetched(editor)
    finally:
        editor.server.stop()
    assert result.message == (f"the files are valid, but proxy_port is 50600, which is not this lab's (the PBX is "
                              f"{config.pbx.host}:{config.pbx.port}, the phone's account is in lab.config): the phone "
                              "would register nowhere; fix it, then press Phone boots again")


def test_a_server_on_a_taken_port_is_an_error_that_says_so(tmp_path: Path) -> None:
    """(The editor's Serve relies on it) a second server on the same port: is the error clear?"""
    with ProvisioningServer(tmp_path, host=HOST, port=0) as first:
        with pytest.raises(ProvisioningError, match="could not listen on .*: stop the other server or choose"):
            ProvisioningServer(tmp_path, host=HOST, port=first.port).start()
