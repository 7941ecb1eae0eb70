"""The sipconfig editor of notebook 07, driven as a student drives it: typing, picking, clicking.

Setting ``textarea.value`` is what typing does in JupyterLab (the front end syncs the value,
the observers run); ``Button.click()`` runs the same handlers as a click. The files are the
lab's own rendering in a temporary directory; Serve starts a real HTTP server on the lab's PBX
address (a free port) and Phone boots fetches from the Alcatel's address, as in the notebook.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import ipywidgets as widgets
import pytest

from voiplab.config import LabConfig, load_config
from voiplab.devices.provisioning import write_files
from voiplab.devices.sipconfig import COMMON_FILENAME, phone_filename
from voiplab.errors import ProvisioningError
from voiplab.teach.checks.provisioning import phone_fetched, sipconfig_valid, vocoders_match_pbx
from voiplab.widgets.sipconfig import SipconfigEditor, sipconfig_editor


@pytest.fixture()
def config() -> LabConfig:
    return load_config()


@pytest.fixture()
def editor(tmp_path: Path, config: LabConfig) -> Iterator[SipconfigEditor]:
    the_editor = sipconfig_editor(write_files(tmp_path, config), config)
    yield the_editor
    the_editor.close()


def test_the_editor_shows_the_phone_file_and_no_problem(editor: SipconfigEditor, config: LabConfig) -> None:
    """Built over the rendered files: the phone's file shown, both files valid, Serve on, Phone boots off?"""
    assert isinstance(editor.widget, widgets.VBox)
    assert "application/vnd.jupyter.widget-view+json" in editor._repr_mimebundle_()
    assert editor.file_picker.options == (COMMON_FILENAME, phone_filename(config.alcatel.mac))
    assert editor.current == phone_filename(config.alcatel.mac)
    assert f"authentication_name={config.account('alcatel').name}" in editor.textarea.value
    assert "no problem in either file" in editor.status_line.value
    assert editor.problems_html.value == ""
    assert editor.serve_button.description == "Serve" and editor.boot_button.disabled


def test_typing_a_mistake_lists_it_by_line_at_once(editor: SipconfigEditor) -> None:
    """Emptying authentication_name in the text area: is the problem listed with its line and text?"""
    lines = editor.textarea.value.splitlines()
    number = next(i for i, line in enumerate(lines, 1) if line.startswith("authentication_name="))
    lines[number - 1] = "authentication_name="
    editor.textarea.value = "\n".join(lines) + "\n"          # what typing does
    assert "✘ 2 problems" in editor.status_line.value
    assert f"<b>line {number}</b> <code>authentication_name=</code>: authentication_name is empty" \
           in editor.problems_html.value
    assert "<b>both files</b>: authentication_name is missing from" in editor.problems_html.value
    assert not sipconfig_valid(editor).ok


def test_the_file_picker_keeps_each_file_s_edits(editor: SipconfigEditor) -> None:
    """Edit the phone file, switch to sipconfig.txt and back: is the edit kept and the other file shown?"""
    phone = editor.current
    editor.textarea.value += "# my note\n"
    editor.file_picker.value = COMMON_FILENAME                 # the toggle button
    assert editor.current == COMMON_FILENAME and "[sip]\n" in editor.textarea.value
    assert "preferred_vocoder=8,0,4,18" in editor.text
    editor.file_picker.value = phone
    assert editor.text.endswith("# my note\n") and editor.texts[phone].endswith("# my note\n")


def test_set_edits_the_right_file_and_uncomments(editor: SipconfigEditor) -> None:
    """editor.set: does it find the key's file, replace its line, and turn '#admin_password=' into a value?"""
    editor.set("binary_polling_timer", "5")
    assert editor.current == COMMON_FILENAME and "binary_polling_timer=5\n" in editor.text
    assert "binary_polling_timer is 5, out of range: use 10..65535 min" in editor.problems_html.value
    editor.set("admin_password", "admin")
    assert editor.current != COMMON_FILENAME and "\nadmin_password=admin\n" in editor.text
    assert "#admin_password=" not in editor.text
    assert "admin_password is &#x27;admin&#x27;, not digits only" in editor.problems_html.value
    assert f"{COMMON_FILENAME}: 1 more (pick it above)" in editor.problems_html.value
    with pytest.raises(ProvisioningError, match="key no_such_key has no line in sipconfig.txt or sipconfig-"):
        editor.set("no_such_key", "1")


def test_explain_and_reset(editor: SipconfigEditor) -> None:
    """The Explain box shows a key's meaning and value; Reset file puts back the rendered file."""
    editor.key_picker.value = "dtmf_type"
    assert "[audio] dtmf_type: how key presses are sent during a call" in editor.key_help.value
    assert "now &#x27;0&#x27;" in editor.key_help.value
    editor.set("authentication_name", "")
    assert not sipconfig_valid(editor).ok
    editor.reset_button.click()
    assert sipconfig_valid(editor).ok and editor.errors == []


def test_codec_task_through_the_editor(editor: SipconfigEditor, config: LabConfig) -> None:
    """preferred_vocoder set to the PBX's codecs in the editor: does notebook 07's codec check pass?"""
    assert not vocoders_match_pbx(editor, config).ok
    editor.set("preferred_vocoder", "0,8")
    assert vocoders_match_pbx(editor, config).ok


def test_serve_then_phone_boots_then_stop(editor: SipconfigEditor, config: LabConfig) -> None:
    """Serve, Phone boots: are the edited files served and fetched from the Alcatel's address, logged, shown?"""
    editor.set("register_expire", "600")
    editor.serve_button.click()
    assert editor.errors == []
    server = editor.server
    assert server is not None and server.running and server.host == config.pbx.host
    assert editor.serve_button.description == "Stop serving" and not editor.boot_button.disabled
    assert (editor.directory / COMMON_FILENAME).read_text() == editor.texts[COMMON_FILENAME]  # saved
    editor.boot_button.click()
    assert [(d.file, d.status) for d in editor.downloads] == [
        (COMMON_FILENAME, 200), (phone_filename(config.alcatel.mac), 200), ("noesip4018", 404), ("datsip4018", 404)]
    assert "register_expire=600" in (editor.downloads[0].text or "")
    assert {e.client for e in server.log} == {config.account("alcatel").address}
    assert "<b>The phone boots</b>" in editor.fetch_html.value and "GET /sipconfig.txt -&gt; 200" \
        in editor.fetch_html.value
    assert phone_fetched(editor).ok
    port = server.port
    editor.serve_button.click()                                # Stop serving
    assert not server.running and editor.serve_button.description == "Serve" and editor.boot_button.disabled
    editor.boot_button.disabled = False                        # a stale front end could still send the click
    editor.boot_button.click()
    assert editor.errors[-1] == "the files are not served: press Serve first (editor.serve())"
    editor.serve()                                             # serving again keeps the port (the phone's menu)
    assert editor.server is not None and editor.server.port == port


def test_close_stops_the_server_and_frees_its_port(tmp_path: Path, config: LabConfig) -> None:
    """The cleanup cell's editor.close(): is the port free again and no server thread left?"""
    editor = SipconfigEditor(write_files(tmp_path, config), config)
    server = editor.serve()
    port = server.port
    editor.close()
    assert not server.running
    with socket.socket() as s:
        s.bind((config.pbx.host, port))                        # raises if still taken
    assert not [t for t in threading.enumerate() if t.name.startswith(f"provisioning-{config.pbx.host}:{port}")]
    editor.close()                                             # twice is harmless


def test_an_editor_without_files_says_how_to_make_them(tmp_path: Path, config: LabConfig) -> None:
    """An empty directory: is the error the one that says to render the files first?"""
    with pytest.raises(ProvisioningError, match="does not exist: render the files first with vl.write_sipconfig"):
        SipconfigEditor(tmp_path, config)
