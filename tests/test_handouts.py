"""Is every student notebook a lab handout: objectives, predict/question + answer, checks, cleanup?

The shape is read from cell tags (``objectives``, ``predict``, ``question``, ``answer``,
``solution``, ``check``, ``cleanup``), in both languages, so tools and tests can see it:

* the first cell is markdown tagged ``objectives`` and says what the student will be able to
  do, the report's chapter, the prerequisites and the expected time (at most 45 minutes);
* at least 3 ``predict``/``question`` markdown cells, each followed at once by an ``answer``
  markdown cell that nbgrader grades by hand (``solution``, ``grade``, unlocked, points);
* at least 2 ``check`` code cells, each calling ``vl.checks``;
* cells the student fills with code are tagged ``solution`` (their key is in ``course/``);
* the last cell is a ``cleanup`` code cell.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
HANDOUTS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
FRENCH = sorted((ROOT / "notebooks" / "fr").glob("[0-9][0-9]_*.ipynb"))
#: the longest a session step may take
MAX_MINUTES = 45


def _tags(cell: dict) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def _text(cell: dict) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def handout_problems(nb: dict) -> list[str]:
    """What keeps a notebook from being a handout (``[]``: nothing)."""
    cells = nb["cells"]
    problems = []
    first = cells[0] if cells else {}
    if first.get("cell_type") != "markdown" or "objectives" not in _tags(first):
        problems.append("the first cell is not a markdown cell tagged 'objectives'")
    else:
        text = _text(first)
        minutes = [int(m) for m in re.findall(r"(\d+)\s*min", text)]
        if not minutes or max(minutes) > MAX_MINUTES:
            problems.append(f"the objectives give no expected time of at most {MAX_MINUTES} min")
        if not re.search(r"[Cc]hap(ter|itre)", text):
            problems.append("the objectives do not name the report's chapter")
        if not re.search(r"[Pp]r(erequisite|érequis)", text):
            problems.append("the objectives do not list the prerequisites")
    asked = 0
    for i, cell in enumerate(cells):
        tags = _tags(cell)
        if {"predict", "question"} & set(tags):
            asked += 1
            nxt = cells[i + 1] if i + 1 < len(cells) else {}
            if cell.get("cell_type") != "markdown":
                problems.append(f"cell {i} ({cell.get('id')}) asks but is not markdown")
            if "answer" not in _tags(nxt) or nxt.get("cell_type") != "markdown":
                problems.append(f"cell {i} ({cell.get('id')}) asks but is not followed by a markdown 'answer' cell")
        if "answer" in tags:
            meta = cell.get("metadata", {}).get("nbgrader", {})
            if not (meta.get("solution") and meta.get("grade") and not meta.get("locked")
                    and meta.get("points", 0) > 0 and meta.get("grade_id")):
                problems.append(f"answer cell {i} ({cell.get('id')}) lacks nbgrader's manually graded metadata")
    if asked < 3:
        problems.append(f"only {asked} predict/question cells (at least 3)")
    checks = [c for c in cells if "check" in _tags(c)]
    if len(checks) < 2:
        problems.append(f"only {len(checks)} check cells (at least 2)")
    problems += [f"check cell {c.get('id')} is not code calling vl.checks" for c in checks
                 if c.get("cell_type") != "code" or "vl.checks." not in _text(c)]
    last = cells[-1] if cells else {}
    if last.get("cell_type") != "code" or "cleanup" not in _tags(last):
        problems.append("the last cell is not a code cell tagged 'cleanup'")
    ids = [c.get("id") for c in cells]
    if None in ids or len(set(ids)) != len(ids):
        problems.append("cell ids are missing or repeated (save with JupyterLab 4)")
    return problems


@pytest.mark.parametrize("path", HANDOUTS + FRENCH, ids=[f"{p.parent.name}/{p.stem}" for p in HANDOUTS + FRENCH])
def test_notebook_is_a_handout(path: Path) -> None:
    """Does the notebook have the handout's shape (see the module docstring)?"""
    assert handout_problems(json.loads(path.read_text())) == []


def test_every_notebook_has_its_french_version() -> None:
    """Is there a French notebook for each English one, built from the catalogs and up to date?"""
    from voiplab.cli.course import translate

    assert [p.name for p in FRENCH] == [p.name for p in HANDOUTS]
    assert translate(ROOT, "fr", check=True) == []


@pytest.mark.parametrize("path", HANDOUTS, ids=[p.stem for p in HANDOUTS])
def test_french_code_is_the_english_code(path: Path) -> None:
    """Are the two languages' cells the same but for the markdown text (code exists once)?"""
    from voiplab.teach.i18n import check_translations

    assert check_translations(path, path.parent / "fr" / path.name) == []


def test_the_shape_check_catches_a_demo() -> None:
    """Would a notebook that only demonstrates (no objectives, questions, checks, cleanup) be caught?"""
    demo = {"cells": [{"cell_type": "markdown", "id": "a", "metadata": {}, "source": "# Title"},
                      {"cell_type": "code", "id": "b", "metadata": {}, "source": "vl.start_lab()"}]}
    problems = handout_problems(demo)
    assert "the first cell is not a markdown cell tagged 'objectives'" in problems
    assert "only 0 predict/question cells (at least 3)" in problems
    assert "only 0 check cells (at least 2)" in problems
    assert "the last cell is not a code cell tagged 'cleanup'" in problems
