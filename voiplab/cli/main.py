"""The ``voiplab`` command line: the parser built from the table of command modules, and the dispatch.

    voiplab lab up [--config F]      start the local lab (idempotent)
    voiplab lab status               Asterisk version, endpoints and contacts
    voiplab lab down                 stop what voiplab started
    voiplab lab call --from alcatel 5002
    voiplab pbx install [--force]    build the Asterisk root filesystem (once)
    voiplab pbx config [FILE]        print the rendered Asterisk configuration
    voiplab pbx cli "pjsip show contacts"
    voiplab doctor                   is this machine ready?
    voiplab flow FILE [--json] [--png OUT]
    voiplab analyze FILE [--json] [--heuristic]
    voiplab provision alcatel|serve ...
    voiplab webrtc certs|up|serve|url|build|down ...
    voiplab exercises release SOURCE OUT | grade NB --assignment A --student ID --source S [--json]
    voiplab exercises variant|captures|expected ...
    voiplab course translate [--update] [--check]

Each command group is one module of :mod:`voiplab.cli` with ``add_parser(subparsers)`` and
``run(args) -> int``, listed in :data:`COMMANDS`. Only the module of the command being run is
imported (all of them for ``voiplab --help``), so ``voiplab analyze`` never loads the devices or
the course. A module that fails to import is an error naming it, never a command that silently
disappears. Exit codes: :mod:`voiplab.cli.common`.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from types import ModuleType

from ..errors import VoipLabError
from .common import EXIT_INTERRUPTED, EXIT_OK, EXIT_STATUS_HELP, EXIT_USAGE, fail

__all__ = ["COMMANDS", "build_parser", "load_command", "main"]

#: command name -> the module that defines it (``add_parser`` and ``run``), in the order of --help
COMMANDS: dict[str, str] = {
    "lab": "voiplab.cli.lab",
    "pbx": "voiplab.cli.pbx",
    "doctor": "voiplab.cli.doctor",
    "flow": "voiplab.cli.flow",
    "analyze": "voiplab.cli.analyze",
    "provision": "voiplab.cli.provision",
    "webrtc": "voiplab.cli.webrtc",
    "classroom": "voiplab.cli.classroom",
    "exercises": "voiplab.cli.exercises",
    "course": "voiplab.cli.course",
}


def load_command(name: str) -> ModuleType:
    """The module of command ``name`` (see :data:`COMMANDS`).

    Raises:
        VoipLabError: the module cannot be imported (a broken install or a bug): the message
            names the module and the import error.
    """
    module_name = COMMANDS[name]
    try:
        return importlib.import_module(module_name)
    except ImportError as error:
        raise VoipLabError(
            f"the command '{name}' is broken: its module {module_name} cannot be imported "
            f"({type(error).__name__}: {error}): reinstall voiplab (pip install -e .) or report this message"
        ) from error


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The ``voiplab`` parser with every command, or only the command ``only`` (faster to build).

    Raises:
        VoipLabError: a command module cannot be imported (see :func:`load_command`).
    """
    parser = argparse.ArgumentParser(prog="voiplab", description="voiplab: a SIP/RTP lab around a real Asterisk",
                                     epilog=EXIT_STATUS_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for name in COMMANDS if only is None else [only]:
        load_command(name).add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``voiplab`` command; returns the exit status (0, 1, 2 or 130)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    command = argv[0] if argv and argv[0] in COMMANDS else None
    try:
        parser = build_parser(command)
        try:
            args = parser.parse_args(argv)
        except SystemExit as exit_:  # argparse: 2 after a usage error, 0 after --help
            return exit_.code if isinstance(exit_.code, int) else EXIT_USAGE
        return int(load_command(args.command).run(args))
    except VoipLabError as error:  # commands report their own; this also covers a broken command module
        return fail(error)
    except KeyboardInterrupt:
        print(file=sys.stderr)  # end the line the ^C was echoed on
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # the output went to a reader that stopped early ("| head"): not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
