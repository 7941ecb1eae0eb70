"""The notebooks in two languages from one source: code once, markdown through a catalog.

The course this lab comes from is taught in French. Each English notebook
``notebooks/NN_name.ipynb`` is the source: its code cells exist once, and the text of
its markdown cells is translated in a gettext catalog ``course/locale/fr/NN_name.po``
(one entry per markdown cell, ``msgctxt`` = the cell's id, ``msgid`` = the English text,
``msgstr`` = the French text). :func:`build_notebook` writes ``notebooks/fr/NN_name.ipynb``:
the same cells, ids, tags and metadata, with each markdown cell's text replaced by its
translation. :func:`update_catalog` adds the new cells to a catalog and marks as
``fuzzy`` an entry whose English text changed (its old translation is kept as a draft):
a fuzzy or empty entry is an error when building, so a notebook is never half-translated.

Command line: ``voiplab course translate`` (build) and ``voiplab course translate --update``.
Translators use any PO editor (Poedit, Lokalize, a text editor).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..errors import VoipLabError

__all__ = [
    "CatalogEntry",
    "TranslationError",
    "build_notebook",
    "check_translations",
    "markdown_cells",
    "read_catalog",
    "update_catalog",
    "write_catalog",
]

#: languages the course is translated into (the source notebooks are English)
LANGUAGES = ("fr",)
#: what a catalog's header says (gettext's header entry: msgid "")
_HEADER = ("Content-Type: text/plain; charset=UTF-8\n"
           "Content-Transfer-Encoding: 8bit\n"
           "Language: {lang}\n"
           "X-Source: {source}\n")


class TranslationError(VoipLabError):
    """A notebook's translation is missing, out of date, or its catalog is malformed."""


@dataclass(frozen=True)
class CatalogEntry:
    """One translated markdown cell: its id, the English text, the translation, whether it is a draft.

    Attributes:
        context: the notebook cell's id (``msgctxt``).
        source: the English markdown (``msgid``).
        translation: the translated markdown (``msgstr``), ``""`` when not translated yet.
        fuzzy: the English text changed since the translation was made (a draft to review).
    """

    context: str
    source: str
    translation: str = ""
    fuzzy: bool = False

    @property
    def done(self) -> bool:
        """Translated and reviewed."""
        return bool(self.translation) and not self.fuzzy


# ---------------------------------------------------------------------------- notebooks


def _read_notebook(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise TranslationError(f"notebook {path} cannot be read ({e}): check the file") from None
    if not isinstance(data, dict) or not isinstance(data.get("cells"), list):
        raise TranslationError(f"notebook {path} is not a Jupyter notebook (no cells): check the file")
    return data


def _text(cell: Mapping[str, Any]) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def _lines(text: str) -> list[str]:
    """A cell source as the notebook format stores it: lines that keep their newline."""
    return text.splitlines(keepends=True)


def markdown_cells(notebook: str | os.PathLike[str]) -> list[tuple[str, str]]:
    """``(cell id, text)`` of every markdown cell of a notebook, in order.

    Raises:
        TranslationError: the notebook cannot be read, or a markdown cell has no id
            (nbformat 4.5 gives every cell one: open and save it with JupyterLab 4).
    """
    path = Path(notebook)
    cells = []
    for index, cell in enumerate(_read_notebook(path)["cells"]):
        if cell.get("cell_type") != "markdown":
            continue
        cell_id = cell.get("id")
        if not cell_id:
            raise TranslationError(f"markdown cell {index} of {path.name} has no id: save the notebook with "
                                   "JupyterLab 4 (nbformat 4.5) so every cell gets one")
        cells.append((str(cell_id), _text(cell)))
    return cells


# ---------------------------------------------------------------------------- catalogs (.po)


def _quote(text: str) -> str:
    """A PO string: ``msgid ""`` then one quoted line per source line, as gettext writes them."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\t", "\\t")
    parts = escaped.split("\n")
    lines = [p + "\\n" for p in parts[:-1]] + ([parts[-1]] if parts[-1] else [])
    if len(lines) <= 1:
        return f'"{lines[0] if lines else ""}"'
    return '""\n' + "\n".join(f'"{line}"' for line in lines)


def _unquote(text: str, where: str) -> str:
    if len(text) < 2 or text[0] != '"' or text[-1] != '"':
        raise TranslationError(f"{where}: expected a quoted string, got {text[:40]!r}: fix the catalog")
    out, i, body = [], 0, text[1:-1]
    escapes = {"n": "\n", "t": "\t", '"': '"', "\\": "\\"}
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            if nxt not in escapes:
                raise TranslationError(f"{where}: unknown escape \\{nxt}: fix the catalog")
            out.append(escapes[nxt])
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def write_catalog(path: str | os.PathLike[str], entries: Iterable[CatalogEntry], *, lang: str,
                  source: str) -> Path:
    """Write a gettext catalog (UTF-8). Returns its path."""
    out = Path(path)
    chunks = ['msgid ""\nmsgstr ' + _quote(_HEADER.format(lang=lang, source=source)) + "\n"]
    for e in entries:
        flag = "#, fuzzy\n" if e.fuzzy else ""
        chunks.append(f"{flag}msgctxt {_quote(e.context)}\nmsgid {_quote(e.source)}\nmsgstr {_quote(e.translation)}\n")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(chunks), encoding="utf-8")
    return out


def read_catalog(path: str | os.PathLike[str]) -> list[CatalogEntry]:
    """The entries of a gettext catalog written by :func:`write_catalog` (or a PO editor).

    Raises:
        TranslationError: the file is missing or not a valid catalog (the message gives the line).
    """
    p = Path(path)
    try:
        lines = p.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise TranslationError(f"catalog {p} cannot be read ({e}): run 'voiplab course translate --update'") from None
    entries: list[CatalogEntry] = []
    fields: dict[str, str] = {}
    fuzzy = False
    key: str | None = None

    def flush() -> None:
        nonlocal fields, fuzzy, key
        if "msgid" in fields:
            if fields["msgid"]:  # the header entry has an empty msgid
                if "msgctxt" not in fields:
                    raise TranslationError(f"catalog {p}: the entry {fields['msgid'][:40]!r} has no msgctxt "
                                           "(the cell id): run 'voiplab course translate --update'")
                entries.append(CatalogEntry(fields["msgctxt"], fields["msgid"], fields.get("msgstr", ""), fuzzy))
        fields, fuzzy, key = {}, False, None

    for number, raw in enumerate(lines, start=1):
        line = raw.strip()
        where = f"catalog {p.name}, line {number}"
        if not line:
            continue
        if line.startswith("#"):
            if "msgid" in fields:
                flush()
            if line.startswith("#,") and "fuzzy" in line:
                fuzzy = True
            continue
        keyword, _, rest = line.partition(" ")
        if keyword in ("msgctxt", "msgid", "msgstr"):
            if keyword in fields or (keyword == "msgctxt" and "msgid" in fields):
                flush()
            key = keyword
            fields[key] = _unquote(rest.strip(), where)
        elif line.startswith('"') and key is not None:
            fields[key] += _unquote(line, where)
        else:
            raise TranslationError(f"{where}: {line[:40]!r} is not a PO line: fix the catalog")
    flush()
    return entries


def update_catalog(notebook: str | os.PathLike[str], catalog: str | os.PathLike[str], *, lang: str = "fr") -> Path:
    """Bring a catalog in step with its notebook: one entry per markdown cell, in notebook order.

    A new cell gets an empty translation; a cell whose English text changed keeps its old
    translation marked fuzzy; entries of deleted cells are dropped. Returns the catalog path.
    """
    nb, path = Path(notebook), Path(catalog)
    old = {e.context: e for e in read_catalog(path)} if path.exists() else {}
    entries = []
    for cell_id, text in markdown_cells(nb):
        before = old.get(cell_id)
        if before is None:
            entries.append(CatalogEntry(cell_id, text))
        elif before.source != text:
            entries.append(replace(before, source=text, fuzzy=bool(before.translation)))
        else:
            entries.append(before)
    return write_catalog(path, entries, lang=lang, source=nb.name)


@dataclass(frozen=True)
class _Problems:
    missing: list[str] = field(default_factory=list)
    fuzzy: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)


def _problems(cells: list[tuple[str, str]], entries: Mapping[str, CatalogEntry]) -> _Problems:
    problems = _Problems()
    for cell_id, text in cells:
        e = entries.get(cell_id)
        if e is None or not e.translation:
            problems.missing.append(cell_id)
        elif e.source != text:
            problems.stale.append(cell_id)
        elif e.fuzzy:
            problems.fuzzy.append(cell_id)
    return problems


def build_notebook(notebook: str | os.PathLike[str], catalog: str | os.PathLike[str],
                   out: str | os.PathLike[str]) -> Path:
    """Write the translated notebook: every cell as in the source, markdown text from the catalog.

    Raises:
        TranslationError: a markdown cell has no translation, a translation is fuzzy, or the
            English text changed since it was translated (the message lists the cell ids).
    """
    nb_path = Path(notebook)
    data = _read_notebook(nb_path)
    entries = {e.context: e for e in read_catalog(catalog)}
    problems = _problems(markdown_cells(nb_path), entries)
    reasons = []
    if problems.missing:
        reasons.append(f"not translated: cells {', '.join(problems.missing)}")
    if problems.stale:
        reasons.append(f"English changed since translated: cells {', '.join(problems.stale)}")
    if problems.fuzzy:
        reasons.append(f"drafts to review (fuzzy): cells {', '.join(problems.fuzzy)}")
    if reasons:
        raise TranslationError(f"the translation of {nb_path.name} is incomplete ({'; '.join(reasons)}): "
                               f"translate them in {Path(catalog)}, after 'voiplab course translate --update'")
    for cell in data["cells"]:
        if cell.get("cell_type") == "markdown":
            cell["source"] = _lines(entries[str(cell["id"])].translation)
    data.setdefault("metadata", {})["voiplab"] = {"language": Path(catalog).parent.name, "source": nb_path.name}
    target = Path(out)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return target


def check_translations(source: str | os.PathLike[str], translated: str | os.PathLike[str]) -> list[str]:
    """What differs between a notebook and its translation other than markdown text (``[]``: nothing).

    The two must have the same cells, in the same order, with the same ids, types, tags and
    code: only markdown text may differ.
    """
    a, b = _read_notebook(Path(source))["cells"], _read_notebook(Path(translated))["cells"]
    problems = []
    if len(a) != len(b):
        problems.append(f"{len(a)} cells in the source, {len(b)} in the translation")
    for i, (x, y) in enumerate(zip(a, b, strict=False)):
        for key in ("id", "cell_type"):
            if x.get(key) != y.get(key):
                problems.append(f"cell {i}: {key} {x.get(key)!r} != {y.get(key)!r}")
        if x.get("metadata", {}).get("tags", []) != y.get("metadata", {}).get("tags", []):
            problems.append(f"cell {i}: tags differ")
        if x.get("cell_type") == "code" and _text(x) != _text(y):
            problems.append(f"cell {i} ({x.get('id')}): code differs")
        if x.get("cell_type") == "markdown" and _text(y).strip() == "":
            problems.append(f"cell {i} ({x.get('id')}): empty translation")
    return problems
