"""What every ``voiplab`` command shares: the exit codes, the error line, the ``--config`` option.

One rule for every command (``voiplab --help`` prints it):

====  ==============================================================================
0     success
1     a failure the user can fix: any :class:`~voiplab.errors.VoipLabError` (a bad
      file, the PBX down, an invalid ``lab.toml``...), printed as one line
      ``voiplab: error: <what> <is/was> <problem>: <what to do>`` on stderr
2     a usage error: unknown command or option, missing argument (argparse's rule)
130   interrupted by Ctrl-C (128 + SIGINT, the shell's rule)
====  ==============================================================================

Taught in notebook 00 (the lab check, also from a terminal).
"""

from __future__ import annotations

import argparse
import sys
from typing import TextIO, TypeAlias

from ..errors import VoipLabError

__all__ = [
    "EXIT_FAILURE",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "EXIT_STATUS_HELP",
    "Subparsers",
    "add_config_option",
    "add_sip_port_option",
    "fail",
]

EXIT_OK = 0
#: a failure the user can fix (any VoipLabError), explained on stderr
EXIT_FAILURE = 1
#: argparse exits with 2 on a usage error; commands use it for a missing sub-command too
EXIT_USAGE = 2
#: 128 + SIGINT: what a shell reports for a program stopped by Ctrl-C
EXIT_INTERRUPTED = 130

#: the epilog of ``voiplab --help``
EXIT_STATUS_HELP = f"""\
exit status:
  {EXIT_OK:<4} success
  {EXIT_FAILURE:<4} a failure you can fix, explained on stderr as "voiplab: error: ..."
       (a bad capture file, the PBX down, an invalid lab.toml, a failed check of 'doctor')
  {EXIT_USAGE:<4} usage error (unknown command or option, missing argument)
  {EXIT_INTERRUPTED:<4} interrupted (Ctrl-C)"""

#: the object ``ArgumentParser.add_subparsers()`` returns, which each command module extends
Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def fail(error: VoipLabError, err: TextIO | None = None) -> int:
    """Print ``voiplab: error: <error>`` on stderr and return :data:`EXIT_FAILURE`."""
    print(f"voiplab: error: {error}", file=err or sys.stderr, flush=True)
    return EXIT_FAILURE


def add_config_option(parser: argparse.ArgumentParser) -> None:
    """Add ``--config FILE``, the lab.toml to use, to a command's parser."""
    parser.add_argument("--config", metavar="FILE", help="lab.toml (default: $VOIPLAB_CONFIG or the report's lab)")


def add_sip_port_option(parser: argparse.ArgumentParser) -> None:
    """``--sip-port PORT`` (repeatable): more ports whose UDP/TCP payloads are all SIP."""
    parser.add_argument("--sip-port", metavar="PORT", type=_port, action="append", default=[],
                        help="also read every UDP/TCP payload on this port as SIP (5060 and 5061 always are; SIP "
                        "on other ports is found by its first line); repeat for several ports")


def _port(text: str) -> int:
    if not (text.isdigit() and 0 < int(text) < 65536):
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number from 1 to 65535")
    return int(text)
