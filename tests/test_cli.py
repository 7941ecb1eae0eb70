"""The ``voiplab`` command line: one exit-code rule for every command, loud broken commands, lazy imports.

Most tests run ``python -m voiplab`` as a child process, as a user would; none needs Asterisk.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from voiplab.cli import common
from voiplab.teach.samples import sample_capture

#: the module (``voiplab.cli.main`` as an attribute is the function, re-exported for the entry point)
cli_main = importlib.import_module("voiplab.cli.main")
SAMPLE = sample_capture("call_rpi_to_alcatel")
ERROR_LINE = re.compile(r"^voiplab: error: \S.*: \S.*$")
TIMEOUT_S = 60


def voiplab(*argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run ``python -m voiplab ARGV`` in ``cwd`` with its own state directory."""
    env = dict(os.environ, VOIPLAB_STATE_DIR=str(cwd / "state"), VOIPLAB_CACHE_DIR=str(cwd / "cache"))
    env.pop("VOIPLAB_CONFIG", None)
    return subprocess.run([sys.executable, "-m", "voiplab", *argv], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=TIMEOUT_S, check=False)


def assert_one_error_line(done: subprocess.CompletedProcess[str], *fragments: str) -> None:
    """Exit status 1 and exactly one ``voiplab: error: <what>: <what to do>`` line on stderr, no traceback."""
    assert done.returncode == 1, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and ERROR_LINE.match(lines[0]), done.stderr
    for fragment in fragments:
        assert fragment in lines[0]


# ---------------------------------------------------------------- exit status 1: a failure the user can fix


def test_analyze_missing_file_exits_1(tmp_path: Path) -> None:
    """Does `voiplab analyze missing.pcap` exit 1 with one 'voiplab: error:' line and nothing on stdout?"""
    done = voiplab("analyze", "missing.pcap", cwd=tmp_path)
    assert_one_error_line(done, "missing.pcap", "cannot be read")
    assert done.stdout == ""


def test_flow_missing_file_exits_1(tmp_path: Path) -> None:
    """Does `voiplab flow missing.pcap --json` exit 1 with the same error line as analyze?"""
    done = voiplab("flow", "missing.pcap", "--json", cwd=tmp_path)
    assert_one_error_line(done, "missing.pcap", "cannot be read")
    assert done.stdout == ""


def test_flow_png_into_a_missing_folder_exits_1(tmp_path: Path) -> None:
    """Does `voiplab flow FILE --png nofolder/x.png` exit 1 naming the file, not with a traceback?"""
    done = voiplab("flow", str(sample_capture("register_401")), "--png", "nofolder/x.png", cwd=tmp_path)
    assert_one_error_line(done, "the diagram nofolder/x.png cannot be written")


@pytest.mark.parametrize("argv", [["lab", "up"], ["lab", "status"], ["pbx", "config"]])
def test_invalid_lab_toml_exits_1(tmp_path: Path, argv: list[str]) -> None:
    """Do `lab up`, `lab status` and `pbx config` with an invalid lab.toml exit 1 naming the file and key?"""
    (tmp_path / "lab.toml").write_text("[pbx]\nport = 0\n")
    done = voiplab(*argv, "--config", "lab.toml", cwd=tmp_path)
    assert_one_error_line(done, "lab.toml: key pbx.port must be a port between 1 and 65535, not 0")


def test_provision_bad_mac_exits_1(tmp_path: Path) -> None:
    """Does `voiplab provision alcatel --mac zz` exit 1 (it used to print its own 'error:' prefix)?"""
    done = voiplab("provision", "alcatel", "--mac", "zz", "--out", "prov", cwd=tmp_path)
    assert_one_error_line(done, "MAC address 'zz' is not 12 hex digits")
    assert not (tmp_path / "prov").exists()


def test_exercises_missing_notebook_exits_1(tmp_path: Path) -> None:
    """Does `voiplab exercises release missing.ipynb out.ipynb` exit 1 with the error line?"""
    done = voiplab("exercises", "release", "missing.ipynb", "out.ipynb", cwd=tmp_path)
    assert_one_error_line(done, "could not be read")


# ---------------------------------------------------------------- exit status 2: usage


@pytest.mark.parametrize(("argv", "message"), [
    ([], "voiplab: error: the following arguments are required: COMMAND"),
    (["nosuchcommand"], "voiplab: error: argument COMMAND: invalid choice: 'nosuchcommand'"),
    (["analyze"], "voiplab analyze: error: the following arguments are required: FILE"),
    (["flow", "x.pcap", "--bogus"], "voiplab: error: unrecognized arguments: --bogus"),
    (["lab"], "voiplab lab: error: the following arguments are required: ACTION"),
    (["pbx", "nope"], "voiplab pbx: error: argument ACTION: invalid choice: 'nope'"),
    (["exercises"], "voiplab exercises: error: the following arguments are required: ACTION"),
    (["provision"], "usage: voiplab provision {alcatel,serve}"),
    (["webrtc"], "usage: voiplab webrtc {certs,up,serve,url,build,down}"),
])
def test_usage_errors_exit_2(tmp_path: Path, argv: list[str], message: str) -> None:
    """Does a usage error (missing or unknown command, argument or option) exit 2 with the usage on stderr?"""
    done = voiplab(*argv, cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert message in done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""


# ---------------------------------------------------------------- exit status 0, and the documented rule


def test_help_epilog_lists_the_exit_codes(tmp_path: Path) -> None:
    """Does `voiplab --help` exit 0 and end with the exit codes 0, 1, 2 and 130 and their meanings?"""
    done = voiplab("--help", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    epilog = done.stdout[done.stdout.index("exit status:"):]
    assert re.search(r"^\s+0\s+success$", epilog, re.M)
    assert re.search(r"^\s+1\s+a failure you can fix, explained on stderr as \"voiplab: error: \.\.\.\"$", epilog, re.M)
    assert re.search(r"^\s+2\s+usage error", epilog, re.M)
    assert re.search(r"^\s+130\s+interrupted \(Ctrl-C\)$", epilog, re.M)
    for name in cli_main.COMMANDS:
        assert re.search(rf"^\s+{name}\s+\S", done.stdout, re.M), f"'{name}' is missing from --help"


def test_exit_code_constants() -> None:
    """Are the exit codes the documented ones: 0 ok, 1 fixable failure, 2 usage, 130 Ctrl-C?"""
    assert (common.EXIT_OK, common.EXIT_FAILURE, common.EXIT_USAGE, common.EXIT_INTERRUPTED) == (0, 1, 2, 130)


def test_analyze_sample_exits_0(tmp_path: Path) -> None:
    """Does `voiplab analyze SAMPLE --json` exit 0 with the call's streams (to the PBX, then direct), no stderr?"""
    done = voiplab("analyze", str(SAMPLE), "--json", cwd=tmp_path)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    rows = json.loads(done.stdout)
    assert sorted((r["src"], r["dst"], r["packets"]) for r in rows) == [
        ("127.0.0.81", "127.0.0.82", 124), ("127.0.0.82", "127.0.0.80", 127), ("127.0.0.82", "127.0.0.81", 124)]


@pytest.mark.parametrize("name", list(cli_main.COMMANDS))
def test_every_command_has_help(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Does `voiplab NAME --help` of every command in the table load its module and exit 0 with its usage?"""
    assert cli_main.main([name, "--help"]) == 0
    assert capsys.readouterr().out.startswith(f"usage: voiplab {name} ")


def test_console_script_runs(tmp_path: Path) -> None:
    """Does the installed `voiplab` console script (voiplab.cli:main) run, next to this Python?"""
    script = Path(sys.executable).parent / "voiplab"
    if not script.exists():
        pytest.skip(f"{script} is not installed (pip install -e .)")
    done = subprocess.run([str(script), "analyze", "missing.pcap"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=TIMEOUT_S, check=False)
    assert_one_error_line(done, "missing.pcap", "cannot be read")


# ---------------------------------------------------------------- exit status 130: Ctrl-C


def test_ctrl_c_exits_130(tmp_path: Path) -> None:
    """Does Ctrl-C (SIGINT) stop `voiplab provision serve` with exit status 130 and no traceback?"""
    (tmp_path / "prov").mkdir()
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    with subprocess.Popen([sys.executable, "-m", "voiplab", "provision", "serve", "prov", "--host", "127.0.0.1",
                           "--port", "0"], cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, start_new_session=True) as proc:
        try:
            assert proc.stdout is not None
            first = proc.stdout.readline()
            assert first.startswith("serving ") and "(Ctrl-C to stop)" in first, first
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=TIMEOUT_S)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode == 130, err
    assert out.strip() == "stopped" and "Traceback" not in err


# ---------------------------------------------------------------- the rule in main(), with fake commands


FAKE_COMMAND = '''
import argparse

from voiplab.errors import CaptureError


def add_parser(subparsers):
    parser = subparsers.add_parser("{name}")
    parser.add_argument("what", choices=["ok", "error", "interrupt"])
    return parser


def run(args: argparse.Namespace) -> int:
    if args.what == "error":
        raise CaptureError("the capture x.pcap was cut short: record it again")
    if args.what == "interrupt":
        raise KeyboardInterrupt
    return 0
'''

BROKEN_COMMAND = '''
from voiplab.errors import NoSuchErrorClass  # a bug or a broken install
'''


@pytest.fixture
def command_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A folder on sys.path for fake command modules, forgotten by sys.modules afterwards."""
    folder = tmp_path / "commands"
    folder.mkdir()
    monkeypatch.syspath_prepend(str(folder))
    yield folder
    for path in folder.glob("*.py"):
        sys.modules.pop(path.stem, None)


def add_command(monkeypatch: pytest.MonkeyPatch, folder: Path, name: str, source: str) -> None:
    """Write a command module ``voiplab_test_<name>`` and put it in the command table."""
    module = f"voiplab_test_{name}"
    (folder / f"{module}.py").write_text(source.replace("{name}", name))
    monkeypatch.setitem(cli_main.COMMANDS, name, module)


def test_a_voiplab_error_escaping_a_command_exits_1(command_dir: Path, monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """Does main() turn a VoipLabError that a command's run() lets escape into exit 1 and the error line?"""
    add_command(monkeypatch, command_dir, "fake", FAKE_COMMAND)
    assert cli_main.main(["fake", "ok"]) == 0
    assert cli_main.main(["fake", "error"]) == 1
    assert capsys.readouterr().err == "voiplab: error: the capture x.pcap was cut short: record it again\n"


def test_keyboard_interrupt_exits_130(command_dir: Path, monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    """Does main() turn Ctrl-C inside any command into exit 130 without a traceback?"""
    add_command(monkeypatch, command_dir, "fake", FAKE_COMMAND)
    assert cli_main.main(["fake", "interrupt"]) == 130
    assert "Traceback" not in capsys.readouterr().err


def test_a_broken_command_module_fails_loudly(command_dir: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    """Does a command whose module raises ImportError give exit 1 naming the module, never vanish from --help?"""
    add_command(monkeypatch, command_dir, "broken", BROKEN_COMMAND)
    assert cli_main.main(["broken"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("voiplab: error: the command 'broken' is broken: its module voiplab_test_broken cannot "
                          "be imported (ImportError: cannot import name 'NoSuchErrorClass' from 'voiplab.errors'")
    assert err.rstrip().endswith(": reinstall voiplab (pip install -e .) or report this message")
    # --help loads every command: it fails too instead of listing the others without a word
    assert cli_main.main(["--help"]) == 1
    captured = capsys.readouterr()
    assert "voiplab_test_broken cannot be imported" in captured.err and "usage:" not in captured.out
    # an unknown command also needs the whole table, so it reports the broken module as well
    assert cli_main.main(["nosuchcommand"]) == 1


def test_a_broken_command_does_not_break_the_others(command_dir: Path, monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """With one broken command module, do the other commands still run (only the one used is imported)?"""
    add_command(monkeypatch, command_dir, "broken", BROKEN_COMMAND)
    assert cli_main.main(["analyze", str(SAMPLE), "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 3


# ---------------------------------------------------------------- what each command loads


LOADED_MODULES = '''
import contextlib, io, json, sys
from voiplab.cli import main
with contextlib.redirect_stdout(io.StringIO()):
    status = main(sys.argv[1:])
print(json.dumps({"status": status, "modules": sorted(sys.modules)}))
'''

#: what neither `analyze` nor `flow` (without --png) may load: other layers and heavy dependencies
NOT_FOR_READING_A_CAPTURE = ("voiplab.devices", "voiplab.plots", "voiplab.widgets", "voiplab.teach", "scapy",
                             "matplotlib", "pjsua2", "ipywidgets", "nbformat", "nbclient", "cryptography",
                             "voiplab.cli.lab", "voiplab.cli.webrtc", "voiplab.cli.exercises")


@pytest.mark.parametrize("argv", [["analyze", str(SAMPLE)], ["flow", str(SAMPLE), "--json"]])
def test_reading_a_capture_loads_only_what_it_needs(tmp_path: Path, argv: list[str]) -> None:
    """Do `voiplab analyze` and `voiplab flow` import only their own command module and the lower layers?"""
    done = subprocess.run([sys.executable, "-c", LOADED_MODULES, *argv], cwd=tmp_path, capture_output=True,
                          text=True, timeout=TIMEOUT_S, check=False)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["status"] == 0
    loaded = [m for m in report["modules"] if m.startswith(NOT_FOR_READING_A_CAPTURE)]
    assert loaded == []
    assert f"voiplab.cli.{argv[0]}" in report["modules"]
