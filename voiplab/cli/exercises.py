"""``voiplab exercises``: the graded assignments, for instructors.

* ``release SOURCE OUT``: the student version of a graded notebook (solutions removed);
* ``grade NOTEBOOK --assignment A --student ID --source SOURCE [--offline DIR] [--json]``:
  grade one submission, sandboxed, its answers checked outside its kernel;
* ``variant --student ID [--out lab.toml]``: a student's variant as a ``lab.toml``;
* ``captures (--student ID ... | --roster CSV) --out DIR``: record each student's offline
  captures in the local lab (``DIR/<id>/``), at release time;
* ``expected --assignment A --student ID --captures DIR``: the answers the grader expects.

Wired into :mod:`voiplab.cli` with ``add_parser(subparsers)`` and ``run(args)``.
Taught in ``docs/grading.md``.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path
from typing import TextIO

from ..config import STUDENT_ID_RE, load_config
from ..errors import VoipLabError
from ..teach import graders, grading, variants
from ..teach.graders.base import GradingContext
from .common import EXIT_OK, Subparsers, fail

__all__ = ["add_parser", "read_roster", "run"]


def add_parser(subparsers: Subparsers) -> argparse.ArgumentParser:
    """Add the ``exercises`` sub-command to an ``argparse`` sub-parser collection."""
    parser = subparsers.add_parser(
        "exercises",
        help="graded assignments: release, grade (sandboxed), per-student variants and captures",
        description="Graded assignments with nbgrader's markup (see docs/grading.md).",
    )
    sub = parser.add_subparsers(dest="action", metavar="ACTION")
    sub.required = True
    rel = sub.add_parser("release", help="write the student version (solutions removed)")
    rel.add_argument("source", metavar="SOURCE", help="the instructor's notebook (with solutions)")
    rel.add_argument("out", metavar="OUT", help="where to write the student notebook")
    gr = sub.add_parser("grade", help="grade a submission: sandboxed run, answers checked outside the kernel")
    gr.add_argument("notebook", metavar="NOTEBOOK", help="the submitted notebook (its directory: its captures)")
    gr.add_argument("--assignment", required=True, choices=sorted(graders.ASSIGNMENTS), help="which assignment")
    gr.add_argument("--student", required=True, help="the student's id (their variant)")
    gr.add_argument("--source", required=True, metavar="SOURCE",
                    help="the instructor's notebook: its check cells and locked cells are restored")
    gr.add_argument("--offline", metavar="DIR", default=None,
                    help="the offline captures recorded at release time (DIR/<student>/)")
    gr.add_argument("--json", action="store_true", help="print the report as JSON")
    gr.add_argument("--timeout", type=float, default=grading.DEFAULT_TIMEOUT_S, metavar="S",
                    help="seconds each cell may run: the first cell over it stops the run (default: %(default)s)")
    gr.add_argument("--executed", metavar="OUT", default=None, help="also write the graded notebook (feedback)")
    gr.add_argument("--allow-weak-sandbox", action="store_true",
                    help="grade even where the notebook cannot be isolated (no root, no user namespaces)")
    var = sub.add_parser("variant", help="a student's variant as a lab.toml")
    var.add_argument("--student", required=True, help="the student's id")
    var.add_argument("--out", metavar="FILE", default=None, help="write it here (default: print it)")
    cap = sub.add_parser("captures", help="record each student's offline captures in the local lab")
    who = cap.add_mutually_exclusive_group(required=True)
    who.add_argument("--student", action="append", help="a student id (repeat for several)")
    who.add_argument("--roster", metavar="CSV", help="a roster: the first column is the student id")
    cap.add_argument("--out", required=True, metavar="DIR", help="where to write DIR/<student>/")
    exp = sub.add_parser("expected", help="the answers the grader expects from a student's captures")
    exp.add_argument("--assignment", required=True, choices=sorted(graders.ASSIGNMENTS))
    exp.add_argument("--student", required=True)
    exp.add_argument("--captures", metavar="DIR", default=None, help="the student's capture directory")
    parser.set_defaults(func=run)
    return parser


def read_roster(path: str | Path) -> list[str]:
    """The student ids of a roster CSV (first column; a header row is skipped).

    Raises:
        VoipLabError: the file cannot be read, or an id is not a valid student id.
    """
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = [row for row in csv.reader(f) if row and row[0].strip()]
    except OSError as e:
        raise VoipLabError(f"the roster {path} could not be read ({e.strerror}): give a CSV file") from None
    ids = [row[0].strip() for row in rows]
    if ids and ids[0].lower() in ("id", "student", "student_id", "username"):
        ids = ids[1:]
    bad = [i for i in ids if not STUDENT_ID_RE.fullmatch(i)]
    if bad:
        raise VoipLabError(f"the roster {path} has ids nbgrader would refuse ({', '.join(bad[:3])}): use letters, "
                           "digits and . _ @ + -")
    return ids


def _table(report: grading.GradeReport) -> str:
    lines = [f"{report.assignment} for {report.student}: {report.total:g}/{report.auto_max_total:g} points "
             f"(sandbox: {report.isolation}; captures: {report.captures})",
             f"{'check cell':<14} {'points':>6} {'of':>4}  feedback"]
    for c in report.cells:
        feedback = c.feedback
        lines.append(f"{c.grade_id:<14} {c.points:>6g} {c.max_points:>4g}  {feedback[0]}")
        lines += [f"{'':<27}  {line}" for line in feedback[1:]]
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
        if args.action == "variant":
            text = variants.variant_for(args.student).lab_toml(load_config())
            if args.out:
                Path(args.out).write_text(text, encoding="utf-8")
                print(f"wrote {args.out}: the lab of {args.student}'s variant", file=out)
            else:
                out.write(text)
            return EXIT_OK
        if args.action == "captures":
            students = args.student or read_roster(args.roster)
            for student in students:
                caps = variants.record_captures(variants.variant_for(student), Path(args.out) / student,
                                                how="offline")
                print(f"{student}: {', '.join(f'{f.path}' for f in caps.files.values())}", file=out)
            return EXIT_OK
        if args.action == "expected":
            found = variants.read_captures(args.captures) if args.captures else None
            context = GradingContext(args.student, variants.variant_for(args.student), found)
            for ex in graders.spec(args.assignment).exercises:
                for part in ex.parts(context):
                    print(f"{ex.grade_id:<12} {part.name:<20} {part.points:g}  {part.expected!r}", file=out)
            return EXIT_OK
        report = grading.grade(args.notebook, args.assignment, args.student, source_nb=args.source,
                               offline=args.offline, timeout=args.timeout, executed_nb=args.executed,
                               allow_weak=args.allow_weak_sandbox)
    except VoipLabError as error:
        return fail(error)
    if args.json:
        out.write(report.to_json(indent=2) + "\n")
    else:
        print(_table(report), file=out)
    return EXIT_OK
