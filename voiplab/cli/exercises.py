"""``voiplab exercises release SOURCE OUT`` and ``voiplab exercises grade NOTEBOOK [--source SOURCE] [--json]``.

Wired into :mod:`voiplab.cli` with ``add_parser(subparsers)`` and ``run(args)``.
Taught in the exercises notebook (for instructors: release the student version, grade submissions).
"""

from __future__ import annotations

import argparse
import sys
from typing import TextIO

from ..errors import VoipLabError
from ..teach import grading
from .common import EXIT_OK, Subparsers, fail

__all__ = ["add_parser", "run"]


def add_parser(subparsers: Subparsers) -> argparse.ArgumentParser:
    """Add the ``exercises`` sub-command (``release`` and ``grade``) to an ``argparse`` sub-parser collection."""
    parser = subparsers.add_parser(
        "exercises",
        help="release the student version of the graded exercises, or grade a submission",
        description="Graded exercises with nbgrader's markup (nbgrader itself is not needed).",
    )
    sub = parser.add_subparsers(dest="action", metavar="ACTION")
    sub.required = True
    rel = sub.add_parser("release", help="write the student version (solutions and hidden tests removed)")
    rel.add_argument("source", metavar="SOURCE", help="the instructor's notebook (with solutions)")
    rel.add_argument("out", metavar="OUT", help="where to write the student notebook")
    gr = sub.add_parser("grade", help="run a notebook headless and score its grade cells")
    gr.add_argument("notebook", metavar="NOTEBOOK", help="the student's notebook")
    gr.add_argument("--source", metavar="SOURCE", default=None,
                    help="the instructor's notebook: its grade cells (hidden tests included) are restored")
    gr.add_argument("--json", action="store_true", help="print the report as JSON")
    gr.add_argument("--timeout", type=float, default=None, metavar="S", help="seconds each cell may run")
    gr.add_argument("--samples", action="store_true",
                    help="grade on the captures committed with voiplab instead of recording in the lab "
                         "(sets VOIPLAB_SAMPLES=1 for the kernel)")
    gr.add_argument("--executed", metavar="OUT", default=None, help="also write the executed notebook here")
    parser.set_defaults(func=run)
    return parser


def _table(report: grading.GradeReport) -> str:
    lines = [f"{'grade cell':<16} {'points':>6} {'of':>4}  result  reason"]
    for c in report.cells:
        lines.append(f"{c.grade_id:<16} {c.points:>6g} {c.max_points:>4g}  {'passed' if c.passed else 'FAILED':<6}  "
                     f"{c.reason}")
    lines.append(f"{'total':<16} {report.total:>6g} {report.max_total:>4g}")
    if report.note:
        lines.append(f"note: {report.note}")
    return "\n".join(lines)


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Run ``voiplab exercises``; returns the exit status (0 ok, 1 error: see :mod:`voiplab.cli.common`)."""
    out = out or sys.stdout
    try:
        if args.action == "release":
            path = grading.release(args.source, args.out)
            print(f"wrote the student version {path}", file=out)
            return EXIT_OK
        timeout = getattr(args, "timeout", None) or grading.DEFAULT_TIMEOUT_S
        env = {"VOIPLAB_SAMPLES": "1"} if getattr(args, "samples", False) else None
        report = grading.grade(args.notebook, args.source, timeout=timeout, env=env,
                               executed_nb=getattr(args, "executed", None))
    except VoipLabError as error:
        return fail(error)
    if args.json:
        out.write(report.to_json(indent=2) + "\n")
    else:
        print(_table(report), file=out)
    return EXIT_OK
