"""``voiplab doctor``: is this machine ready for the lab? One line per check, OK or how to fix it.

Exits 1 (a failure the user can fix) when a required check prints ``FIX``; optional
ones (capture privileges, tshark, a running lab) print ``NOTE`` and leave the exit status.
Wired into :mod:`voiplab.cli` with ``add_parser(subparsers)`` and ``run(args)``.
Taught in notebook 00 (lab check).
"""

from __future__ import annotations

import argparse
import sys
from typing import TextIO

from ..devices.doctor import run_checks
from .common import EXIT_FAILURE, EXIT_OK, Subparsers

__all__ = ["add_parser", "run"]


def add_parser(subparsers: Subparsers) -> argparse.ArgumentParser:
    """Add the ``doctor`` command to the top-level ``subparsers``."""
    return subparsers.add_parser("doctor", help="check pjsua2, Asterisk, capture privileges, tshark",
                                 description="Check each component the lab needs and say how to fix what is "
                                             "missing; exit status 1 when a required check says FIX.")


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Run ``voiplab doctor``; returns 0 when the essential checks pass, else 1."""
    out = out or sys.stdout
    checks = run_checks()
    for check in checks:
        print(check, file=out, flush=True)
    return EXIT_OK if all(check.ok or not check.required for check in checks) else EXIT_FAILURE
