"""``voiplab course translate [--update] [--check]``: the notebooks in French from one source.

``translate`` builds ``notebooks/fr/NN_name.ipynb`` from each English notebook and its
catalog ``course/locale/fr/NN_name.po`` (see :mod:`voiplab.teach.i18n`); ``--update`` first
brings the catalogs in step with the notebooks (new cells, changed text marked fuzzy);
``--check`` only reports what is missing or different, writing nothing. Run from the
repository (``--root`` elsewhere). Wired into :mod:`voiplab.cli`.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import TextIO

from ..errors import VoipLabError
from ..teach import i18n
from .common import EXIT_FAILURE, EXIT_OK, Subparsers, fail

__all__ = ["add_parser", "run", "translate"]


def add_parser(subparsers: Subparsers) -> argparse.ArgumentParser:
    """Add the ``course`` command to the top-level ``subparsers``."""
    parser = subparsers.add_parser("course", help="the course's notebooks: translations",
                                   description="Maintain the course's notebooks (instructors and translators).")
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True
    tr = actions.add_parser("translate", help="build notebooks/<lang>/ from the English notebooks and catalogs",
                            description="Build the translated notebooks from each English notebook and its "
                                        "gettext catalog course/locale/<lang>/<notebook>.po.")
    tr.add_argument("--update", action="store_true", help="first add new cells to the catalogs, mark changed ones")
    tr.add_argument("--check", action="store_true", help="only report what is missing or different")
    tr.add_argument("--lang", default="fr", choices=i18n.LANGUAGES, help="the language (default: fr)")
    tr.add_argument("--root", type=Path, default=Path("."), help="the repository (default: the current directory)")
    return parser


def translate(root: Path, lang: str = "fr", *, update: bool = False, check: bool = False,
              out: TextIO | None = None) -> list[str]:
    """Build (or only check) every translated notebook; returns the problems found (``[]``: none).

    Raises:
        VoipLabError: ``root`` holds no ``notebooks/`` folder.
    """
    out = out or sys.stdout
    sources = sorted((root / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    if not sources:
        raise VoipLabError(f"{root.resolve()} has no notebooks/NN_*.ipynb: run this in the voiplab repository "
                           "or give --root")
    problems: list[str] = []
    for nb in sources:
        catalog = root / "course" / "locale" / lang / f"{nb.stem}.po"
        target = root / "notebooks" / lang / nb.name
        if update:
            i18n.update_catalog(nb, catalog, lang=lang)
        try:
            if check:
                with tempfile.TemporaryDirectory() as tmp:
                    built = i18n.build_notebook(nb, catalog, Path(tmp) / nb.name)
                    if not target.exists() or target.read_text(encoding="utf-8") != built.read_text(encoding="utf-8"):
                        problems.append(f"{target} is not up to date: run 'voiplab course translate'")
            else:
                i18n.build_notebook(nb, catalog, target)
                print(f"{target}", file=out)
        except i18n.TranslationError as e:
            problems.append(str(e))
    return problems


def run(args: argparse.Namespace) -> int:
    """Run ``voiplab course ...``."""
    try:
        problems = translate(args.root, args.lang, update=args.update, check=args.check)
    except VoipLabError as e:
        return fail(e)
    for problem in problems:
        print(f"voiplab: error: {problem}", file=sys.stderr)
    return EXIT_FAILURE if problems else EXIT_OK
