"""Tests of voiplab.teach.i18n: notebooks in French and English from one source."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from voiplab.teach import i18n
from voiplab.teach.i18n import CatalogEntry, TranslationError

TRICKY = '# Title\nSome "quoted" text, a backslash \\n and a\ttab\nno newline at the end'


def notebook(tmp_path: Path, *markdown: str, code: str = "x = 1\n") -> Path:
    cells = [{"cell_type": "markdown", "id": f"m{i}", "metadata": {"tags": ["question"] if i else []},
              "source": text.splitlines(keepends=True)} for i, text in enumerate(markdown)]
    cells.append({"cell_type": "code", "id": "c0", "metadata": {"tags": ["check"]}, "source": [code],
                  "outputs": [], "execution_count": None})
    path = tmp_path / "nb.ipynb"
    path.write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    return path


def test_catalog_round_trips_any_text(tmp_path: Path) -> None:
    """Does a catalog written and read back give the same entries, quotes, backslashes and tabs included?"""
    entries = [CatalogEntry("a", TRICKY, "Titre\n« cité » \\ \t fin\n"), CatalogEntry("b", "x", "", fuzzy=True),
               CatalogEntry("c", "", "")]
    path = i18n.write_catalog(tmp_path / "fr.po", entries[:2], lang="fr", source="nb.ipynb")
    assert i18n.read_catalog(path) == entries[:2]


def test_update_adds_new_cells_and_marks_changed_ones_fuzzy(tmp_path: Path) -> None:
    """Does --update add a new cell untranslated and keep a changed cell's old translation as a draft?"""
    nb = notebook(tmp_path, "Hello", "Question?")
    po = tmp_path / "nb.po"
    i18n.update_catalog(nb, po)
    assert [(e.context, e.source, e.translation) for e in i18n.read_catalog(po)] == [
        ("m0", "Hello", ""), ("m1", "Question?", "")]
    i18n.write_catalog(po, [CatalogEntry("m0", "Hello", "Bonjour"), CatalogEntry("m1", "Question?", "Question ?")],
                       lang="fr", source="nb.ipynb")
    nb = notebook(tmp_path, "Hello", "Question, reworded?", "A new cell")
    i18n.update_catalog(nb, po)
    assert i18n.read_catalog(po) == [CatalogEntry("m0", "Hello", "Bonjour"),
                                     CatalogEntry("m1", "Question, reworded?", "Question ?", fuzzy=True),
                                     CatalogEntry("m2", "A new cell", "")]


def test_build_replaces_only_markdown(tmp_path: Path) -> None:
    """Does the built notebook keep ids, tags and code, with the translated markdown?"""
    nb = notebook(tmp_path, TRICKY, "Question?")
    po = i18n.write_catalog(tmp_path / "nb.po", [CatalogEntry("m0", TRICKY, "# Titre\nTexte"),
                                                 CatalogEntry("m1", "Question?", "Question ?")],
                            lang="fr", source="nb.ipynb")
    out = i18n.build_notebook(nb, po, tmp_path / "fr" / "nb.ipynb")
    cells = json.loads(out.read_text())["cells"]
    assert [c["id"] for c in cells] == ["m0", "m1", "c0"]
    assert "".join(cells[0]["source"]) == "# Titre\nTexte" and "".join(cells[1]["source"]) == "Question ?"
    assert cells[1]["metadata"]["tags"] == ["question"] and cells[2]["source"] == ["x = 1\n"]
    assert i18n.check_translations(nb, out) == []


@pytest.mark.parametrize(("entries", "reason"), [
    ([CatalogEntry("m0", "Hello", "Bonjour")], "not translated: cells m1"),
    ([CatalogEntry("m0", "Hello", "Bonjour"), CatalogEntry("m1", "Question?", "Question ?", fuzzy=True)],
     "drafts to review (fuzzy): cells m1"),
    ([CatalogEntry("m0", "Hello", "Bonjour"), CatalogEntry("m1", "Old question?", "Question ?")],
     "English changed since translated: cells m1"),
])
def test_build_refuses_an_incomplete_translation(tmp_path: Path, entries: list[CatalogEntry], reason: str) -> None:
    """Is a missing, fuzzy or out-of-date translation an error naming the cells, with nothing written?"""
    nb = notebook(tmp_path, "Hello", "Question?")
    po = i18n.write_catalog(tmp_path / "nb.po", entries, lang="fr", source="nb.ipynb")
    with pytest.raises(TranslationError) as info:
        i18n.build_notebook(nb, po, tmp_path / "fr.ipynb")
    assert str(info.value) == (f"the translation of nb.ipynb is incomplete ({reason}): translate them in {po}, "
                               "after 'voiplab course translate --update'")
    assert not (tmp_path / "fr.ipynb").exists()


def test_check_finds_code_that_differs(tmp_path: Path) -> None:
    """Does the check report a translation whose code or tags differ from the source?"""
    src = notebook(tmp_path, "Hello")
    other = tmp_path / "other"
    other.mkdir()
    changed = notebook(other, "Bonjour", code="x = 2\n")
    assert i18n.check_translations(src, changed) == ["cell 1 (c0): code differs"]


def test_malformed_catalog_says_where(tmp_path: Path) -> None:
    """Does a broken catalog give the file, the line and what to do?"""
    po = tmp_path / "bad.po"
    po.write_text('msgctxt "a"\nmsgid "x"\nmsgstr "y\n', encoding="utf-8")
    with pytest.raises(TranslationError, match=r"^catalog bad.po, line 3: expected a quoted string"):
        i18n.read_catalog(po)
    po.write_text('msgctxt "a"\nmsgid "x"\nnonsense\n', encoding="utf-8")
    with pytest.raises(TranslationError, match=r"^catalog bad.po, line 3: 'nonsense' is not a PO line"):
        i18n.read_catalog(po)
