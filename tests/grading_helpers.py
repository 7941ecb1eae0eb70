"""Shared by the graded-assignment tests: the course's files, students' submissions made from them.

``alice`` and ``grace`` have offline captures recorded in the lab with their variants
(``tests/data/variants/<id>/``, by ``voiplab exercises captures --student alice --student grace
--out tests/data/variants``); their variants differ in every value, so every capture-based
answer differs too.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
COURSE = ROOT / "course"
NOTEBOOKS = ROOT / "notebooks"
VARIANT_CAPTURES = Path(__file__).resolve().parent / "data" / "variants"
STUDENTS = ("alice", "grace")
#: assignment -> (points graded automatically, points graded by hand)
ASSIGNMENTS = {"ch3_digest": (12, 3), "ch4_invite": (11, 2), "ch5_rtp": (17, 2), "ch7_provisioning": (5, 2)}


def source(assignment: str) -> Path:
    """The instructor's version of an assignment."""
    return COURSE / "source" / assignment / f"{assignment}.ipynb"


def released(assignment: str) -> Path:
    """The committed student version of an assignment."""
    return NOTEBOOKS / "exercises" / assignment / f"{assignment}.ipynb"


def cell_id(cell: Mapping[str, Any]) -> str | None:
    """A cell's nbgrader grade_id."""
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def text(cell: Mapping[str, Any]) -> str:
    """A cell's source as one string."""
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else str(src)


def answered(notebook: Path, assignment: str, *, replace: Mapping[str, tuple[str, str]] | None = None,
             insert: Iterable[tuple[str, str]] = ()) -> dict[str, Any]:
    """A student's notebook: ``notebook`` (a released copy) with the instructor's answers typed in.

    Parameters:
        replace: grade_id -> (old, new): one answer changed (a mistake, a cheat).
        insert: (grade_id, code): a cell of the student's own inserted before that cell.
    """
    answers = {cell_id(c): text(c) for c in json.loads(source(assignment).read_text())["cells"]
               if c["metadata"].get("nbgrader", {}).get("solution")}
    # a written answer: the key's text, as a student would write it (without the markers)
    answers = {k: v.replace("### BEGIN SOLUTION\n", "").replace("\n### END SOLUTION", "") for k, v in answers.items()}
    nb = json.loads(notebook.read_text())
    for cell in nb["cells"]:
        gid = cell_id(cell)
        if gid in answers:
            cell["source"] = answers[gid]
        if replace and gid in replace:
            old, new = replace[gid]
            assert old in text(cell), (gid, old)
            cell["source"] = text(cell).replace(old, new)
    for before, code in insert:
        at = next(i for i, c in enumerate(nb["cells"]) if cell_id(c) == before)
        nb["cells"].insert(at, {"cell_type": "code", "execution_count": None, "id": f"mine-{at}", "metadata": {},
                                "outputs": [], "source": code})
    return nb


def untouched(assignment: str) -> dict[str, Any]:
    """The released notebook as a student who did nothing hands it in."""
    return json.loads(released(assignment).read_text())


def write_submission(directory: Path, assignment: str, student: str, nb: Mapping[str, Any]) -> Path:
    """``directory/<assignment>.ipynb`` with the student's offline captures in ``captures/<student>/``."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{assignment}.ipynb"
    path.write_text(json.dumps(nb, indent=1))
    shutil.copytree(VARIANT_CAPTURES / student, directory / "captures" / student, dirs_exist_ok=True)
    return path
