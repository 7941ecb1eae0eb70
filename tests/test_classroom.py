"""Tests of voiplab.devices.classroom: a roster rendered into the course server and one lab.toml per student."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import pytest

from voiplab.devices.classroom import read_roster, render_classroom
from voiplab.errors import ConfigError

ROSTER = "id,name,email\ne21001,Alice Martin,alice@example.org\ne21002,Bob Durand\nE21003,Chloé Léger\n"


def roster(tmp_path: Path, text: str = ROSTER) -> Path:
    path = tmp_path / "roster.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_render_writes_the_server_the_alcatel_and_a_lab_toml_per_student(tmp_path: Path) -> None:
    """Does a roster give two accounts per student (6NN1, 6NN2), the Alcatel's queue, and private files?"""
    files = render_classroom(roster(tmp_path), tmp_path / "class", server="192.168.1.80")
    room = files.classroom
    assert [(a.username, a.number) for a in room.accounts] == [
        ("s01-pi", "6011"), ("s01-2", "6012"), ("s02-pi", "6021"), ("s02-2", "6022"), ("s03-pi", "6031"),
        ("s03-2", "6032")]
    assert {len(a.password) for a in room.accounts} == {16} and len({a.password for a in room.accounts}) == 6
    pjsip = (files.server / "pjsip.conf").read_text()
    for acc in room.accounts:
        assert f"[{acc.username}](endpoint-template)" in pjsip and f"password = {acc.password}" in pjsip
    ext = (files.server / "extensions.conf").read_text()
    assert "exten => 6021,1,Answer(500)\n same => n,Dial(PJSIP/s02-pi,25)" in ext
    # no transfer option (t): DTMF hooks would keep the bridge from direct media (tests/test_desk.py)
    assert "exten => 5001,1,Answer()\n same => n,Queue(alcatel,,,,300)" in ext
    assert "exten => 5000," in ext and "exten => 5999," in ext and "Echo()" in ext
    assert "member => PJSIP/alcatel" in (files.server / "queues.conf").read_text()
    manager = (files.server / "manager.conf").read_text()
    assert re.findall(r"^\[(\w+)\]", manager, re.M) == ["general", "instructor"]  # students get no manager account
    assert (files.alcatel / "sipconfig-00809f123456.txt").exists()
    for path in [*files.server.iterdir(), *files.alcatel.iterdir(), tmp_path / "class" / "classroom.json",
                 *files.students.glob("*/lab.toml")]:
        assert path.stat().st_mode & 0o777 == 0o600, path
    toml = tomllib.loads((files.students / "e21003" / "lab.toml").read_text())
    assert toml["pbx"] == {"mode": "classroom", "host": "192.168.1.80", "port": 5060}
    assert toml["accounts"]["rpi"]["username"] == "s03-pi" and toml["accounts"]["rpi"]["number"] == "6031"
    assert toml["accounts"]["rpi"]["display_name"] == "Chloé Léger (Pi)"
    assert toml["accounts"]["alcatel"] == {"number": "5001"} and toml["alcatel"]["simulated"] is False


def test_an_extended_roster_keeps_every_students_number_and_password(tmp_path: Path) -> None:
    """Rendering again with new students: do the others keep their numbers and passwords?"""
    first = render_classroom(roster(tmp_path), tmp_path / "class", server="192.168.1.80").classroom
    bigger = roster(tmp_path, ROSTER.replace("e21002,Bob Durand\n", "") + "e21004,Dan Roux\ne21002,Bob Durand\n")
    second = render_classroom(bigger, tmp_path / "class", server="192.168.1.80").classroom
    before = {(a.student, a.number, a.password) for a in first.accounts}
    after = {(a.student, a.number, a.password) for a in second.accounts}
    assert before <= after
    assert {a.number for a in second.accounts if a.student == "e21004"} == {"6041", "6042"}
    assert first.instructor_secret == second.instructor_secret and first.alcatel == second.alcatel
    state = json.loads((tmp_path / "class" / "classroom.json").read_text())
    assert state["slots"] == {"e21001": 1, "e21002": 2, "e21003": 3, "e21004": 4}


@pytest.mark.parametrize(("text", "message"), [
    ("id,name\ne1,Alice\ne1,Bob\n", "line 3: the id e1 is already on line 2"),
    ("e1,Al\"ice\n", "line 1: the name 'Al\"ice' must be 1 to 48 characters without quotes"),
    ("e1,Alice,not-an-address\n", "line 1: the e-mail 'not-an-address' is not an address"),
    ("e 1,Alice\n", "line 1: the id 'e 1' must be letters, digits"),
    ("e1\n", "line 1: has 1 columns: write id,name or id,name,email"),
    ("id,name\n", "lists no student"),
    ("".join(f"e{i},Student {i}\n" for i in range(100)), "lists 100 students: one course server takes at most 99"),
])
def test_a_bad_roster_says_which_line_and_what_to_fix(tmp_path: Path, text: str, message: str) -> None:
    """Is each bad roster a ConfigError naming the line and what to do, with nothing rendered?"""
    with pytest.raises(ConfigError) as e:
        read_roster(roster(tmp_path, text))
    assert message in str(e.value)


def test_the_instructors_dashboard_notebook_runs_on_a_demonstration_class() -> None:
    """Does course/dashboard.ipynb run top to bottom (a demonstration class served here), its
    dashboard showing the class's server and nobody registered yet, and leave nothing behind?"""
    import nbclient  # nbclient: only for the notebook tests
    import nbformat

    path = Path(__file__).parent.parent / "course" / "dashboard.ipynb"
    nb = nbformat.read(path, as_version=4)
    nbclient.NotebookClient(nb, timeout=120, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}}).execute()
    outputs = "\n".join(o.get("text", "") + str(o.get("data", {}).get("text/plain", ""))
                        for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert "0 accounts registered, 0 channels, 0 waiting for the Alcatel" in outputs, outputs
    assert "longest wait for the Alcatel: nobody waited" in outputs
    assert not any(o.get("output_type") == "error" for c in nb.cells if c.cell_type == "code"
                   for o in c.get("outputs", []))
