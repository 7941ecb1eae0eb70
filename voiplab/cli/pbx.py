"""``voiplab pbx install|config|cli``: the Asterisk PBX from a terminal.

::

    voiplab pbx install [--force] [--system] build the Asterisk root filesystem (Debian sid) once
    voiplab pbx config [FILE] [--config F]   print a rendered Asterisk file (default pjsip.conf)
    voiplab pbx cli "pjsip show contacts"    run an Asterisk CLI command on the lab's Asterisk

Wired into :mod:`voiplab.cli` with ``add_parser(subparsers)`` and ``run(args)``.
Taught in notebook 02 (the Asterisk PBX).
"""

from __future__ import annotations

import argparse
import sys
from typing import TextIO

from ..config import load_config
from ..devices import pbx
from ..errors import VoipLabError
from .common import EXIT_OK, Subparsers, add_config_option, fail

__all__ = ["add_parser", "run"]


def add_parser(subparsers: Subparsers) -> argparse.ArgumentParser:
    """Add the ``pbx`` command (``install``, ``config``, ``cli``) to the top-level ``subparsers``."""
    parser = subparsers.add_parser("pbx", help="the Asterisk PBX",
                                   description="Install Asterisk, show its rendered configuration, run its CLI.")
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True
    install = actions.add_parser("install", help="build the Asterisk root filesystem (Debian sid) once")
    install.add_argument("--force", action="store_true", help="rebuild it")
    install.add_argument("--system", action="store_true",
                         help="install it for every user of this machine, in /opt/voiplab (as root)")
    config = actions.add_parser("config", help="print the rendered Asterisk configuration")
    config.add_argument("file", nargs="?", default="pjsip.conf")
    add_config_option(config)
    cli = actions.add_parser("cli", help="run an Asterisk CLI command, e.g. 'pjsip show contacts'")
    cli.add_argument("words", nargs="+")
    add_config_option(cli)
    return parser


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Run ``voiplab pbx ACTION``; returns the exit status (see :mod:`voiplab.cli.common`)."""
    out = out or sys.stdout
    try:
        if args.action == "install":
            pbx.install_rootfs(force=args.force, system=args.system,
                               progress=lambda line: print(line, file=out, flush=True))
            return EXIT_OK
        asterisk = pbx.Pbx(load_config(args.config))
        if args.action == "config":
            print(asterisk.config_text(args.file), file=out)
        elif args.action == "cli":
            print(asterisk.cli(" ".join(args.words)), file=out)
    except VoipLabError as error:
        return fail(error)
    return EXIT_OK
