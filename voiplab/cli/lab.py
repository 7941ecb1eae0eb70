"""``voiplab lab up|status|down|call``: the local lab from a terminal.

::

    voiplab lab up [--config F]      start Asterisk and the simulated Alcatel (idempotent)
    voiplab lab status               what runs, the endpoints and their contacts
    voiplab lab down                 stop what voiplab started (never another Asterisk)
    voiplab lab call --from alcatel 5002

Wired into :mod:`voiplab.cli` with ``add_parser(subparsers)`` and ``run(args)``.
Taught in notebook 00 (lab check) and notebook 06 (the Alcatel calls your phone).
"""

from __future__ import annotations

import argparse
import sys
from typing import TextIO

from ..devices.lab import Lab
from ..errors import ConfigError, VoipLabError
from .common import EXIT_OK, Subparsers, add_config_option, fail

__all__ = ["add_parser", "run"]

#: the actions that take no argument but --config: name -> help
SIMPLE_ACTIONS = {
    "up": "start Asterisk and the simulated Alcatel (idempotent)",
    "status": "what runs, endpoints and contacts",
    "down": "stop what voiplab started",
}


def add_parser(subparsers: Subparsers) -> argparse.ArgumentParser:
    """Add the ``lab`` command (``up``, ``status``, ``down``, ``call``) to the top-level ``subparsers``."""
    parser = subparsers.add_parser("lab", help="start, inspect and stop the local lab",
                                   description="The local lab: Asterisk and the simulated Alcatel on loopback "
                                               "addresses, or the course server of a classroom lab.toml.")
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True
    for name, text in SIMPLE_ACTIONS.items():
        add_config_option(actions.add_parser(name, help=text))
    call = actions.add_parser("call", help="make the simulated Alcatel dial a number")
    call.add_argument("--from", dest="caller", default="alcatel", choices=["alcatel"])
    call.add_argument("number")
    add_config_option(call)
    return parser


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Run ``voiplab lab ACTION``; returns the exit status (see :mod:`voiplab.cli.common`)."""
    out = out or sys.stdout
    try:
        lab = Lab(args.config)
        if args.action == "up":
            for line in lab.up():
                print(line, file=out, flush=True)
            print(lab.status(), file=out)
        elif args.action == "status":
            print(lab.status(), file=out)
        elif args.action == "down":
            for line in lab.down():
                print(line, file=out, flush=True)
        elif args.action == "call":
            alcatel = lab.simulated_alcatel
            if alcatel is None:
                raise ConfigError("the lab uses the real Alcatel ([alcatel] simulated = false): "
                                  "dial from the desk phone itself")
            print(alcatel.call(args.number), file=out)
    except VoipLabError as error:
        return fail(error)
    return EXIT_OK
