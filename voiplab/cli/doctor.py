"""``voiplab doctor``: is this machine ready for the lab? One line per check, OK or how to fix it.

Exits 1 (a failure the user can fix) when an essential check fails: Python, pjsua2 or Asterisk;
capture privileges and tshark are reported but optional. Wired into :mod:`voiplab.cli` with
``add_parser(subparsers)`` and ``run(args)``.
Taught in notebook 00 (lab check).
"""

from __future__ import annotations

import argparse
import sys
from typing import TextIO

from ..devices.doctor import run_checks
from .common import EXIT_FAILURE, EXIT_OK, Subparsers

__all__ = ["ESSENTIAL_CHECKS", "add_parser", "run"]

#: checks without which the lab cannot run: any of them failing makes the exit status 1
ESSENTIAL_CHECKS = frozenset({"python", "pjsua2", "asterisk"})


def add_parser(subparsers: Subparsers) -> argparse.ArgumentParser:
    """Add the ``doctor`` command to the top-level ``subparsers``."""
    return subparsers.add_parser("doctor", help="check pjsua2, Asterisk, capture privileges, tshark",
                                 description="Check each component the lab needs and say how to fix what is "
                                             "missing; exit status 1 if Python, pjsua2 or Asterisk fails.")


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Run ``voiplab doctor``; returns 0 when the essential checks pass, else 1."""
    out = out or sys.stdout
    checks = run_checks()
    for check in checks:
        print(check, file=out, flush=True)
    essential_ok = all(check.ok for check in checks if check.name in ESSENTIAL_CHECKS)
    return EXIT_OK if essential_ok else EXIT_FAILURE
