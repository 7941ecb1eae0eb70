"""The ``voiplab`` command line.

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
    voiplab exercises release SOURCE OUT | grade NOTEBOOK [--source S] [--json]

Commands of other modules are imported only when used, so ``voiplab analyze``
starts fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import Any

__all__ = ["main"]

#: top-level commands provided by other modules: name -> module with add_parser/run
PLUGIN_COMMANDS = {
    "flow": "voiplab.cli.flow",
    "analyze": "voiplab.cli.analyze",
    "provision": "voiplab.cli.provision",
    "webrtc": "voiplab.cli.webrtc",
    "exercises": "voiplab.cli.exercises",
}


def _add_config(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", metavar="FILE", help="lab.toml (default: $VOIPLAB_CONFIG or the report's lab)")


def _build_parser(only: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="voiplab", description="voiplab: a SIP/RTP lab around a real Asterisk")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    if only is None or only == "lab":
        lab = sub.add_parser("lab", help="start, inspect and stop the local lab")
        lsub = lab.add_subparsers(dest="action", metavar="ACTION")
        lsub.required = True
        for name, text in (("up", "start Asterisk and the simulated Alcatel (idempotent)"),
                           ("status", "what runs, endpoints and contacts"),
                           ("down", "stop what voiplab started")):
            _add_config(lsub.add_parser(name, help=text))
        call = lsub.add_parser("call", help="make the simulated Alcatel dial a number")
        call.add_argument("--from", dest="caller", default="alcatel", choices=["alcatel"])
        call.add_argument("number")
        _add_config(call)

    if only is None or only == "pbx":
        pbx = sub.add_parser("pbx", help="the Asterisk PBX")
        psub = pbx.add_subparsers(dest="action", metavar="ACTION")
        psub.required = True
        inst = psub.add_parser("install", help="build the Asterisk root filesystem (Debian sid) once")
        inst.add_argument("--force", action="store_true", help="rebuild it")
        conf = psub.add_parser("config", help="print the rendered Asterisk configuration")
        conf.add_argument("file", nargs="?", default="pjsip.conf")
        _add_config(conf)
        cli = psub.add_parser("cli", help="run an Asterisk CLI command, e.g. 'pjsip show contacts'")
        cli.add_argument("words", nargs="+")
        _add_config(cli)

    if only is None or only == "doctor":
        sub.add_parser("doctor", help="check pjsua2, Asterisk, capture privileges, tshark")

    for name, module in PLUGIN_COMMANDS.items():
        if only is not None and only != name:
            continue
        try:
            mod = importlib.import_module(module)
        except ImportError:
            continue
        mod.add_parser(sub)
    return parser


def _run_lab(args: Any) -> int:
    from ..devices.lab import Lab

    lab = Lab(args.config)
    if args.action == "up":
        for line in lab.up():
            print(line)
        print(lab.status())
    elif args.action == "status":
        print(lab.status())
    elif args.action == "down":
        for line in lab.down():
            print(line)
    elif args.action == "call":
        alcatel = lab.simulated_alcatel
        if alcatel is None:
            from ..errors import ConfigError

            raise ConfigError("the lab uses the real Alcatel ([alcatel] simulated = false): "
                              "dial from the desk phone itself")
        result = alcatel.call(args.number)
        print(result)
    return 0


def _run_pbx(args: Any) -> int:
    from ..devices import pbx

    if args.action == "install":
        pbx.install_rootfs(force=args.force, progress=lambda s: print(s, flush=True))
        return 0
    from ..config import load_config

    p = pbx.Pbx(load_config(args.config))
    if args.action == "config":
        print(p.config_text(args.file))
    elif args.action == "cli":
        print(p.cli(" ".join(args.words)))
    return 0


def _run_doctor(args: Any) -> int:
    from ..devices.doctor import run_checks

    checks = run_checks()
    for c in checks:
        print(c, flush=True)
    essential = {"python", "pjsua2", "asterisk"}
    return 0 if all(c.ok for c in checks if c.name in essential) else 1


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``voiplab`` command."""
    argv = list(sys.argv[1:] if argv is None else argv)
    first = argv[0] if argv and not argv[0].startswith("-") else None
    parser = _build_parser(first if first in {*PLUGIN_COMMANDS, "lab", "pbx", "doctor"} else None)
    args = parser.parse_args(argv)
    from ..errors import VoipLabError

    try:
        if args.command == "lab":
            return _run_lab(args)
        if args.command == "pbx":
            return _run_pbx(args)
        if args.command == "doctor":
            return _run_doctor(args)
        module = importlib.import_module(PLUGIN_COMMANDS[args.command])
        return int(module.run(args))
    except VoipLabError as e:
        print(f"voiplab: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # the output went to a reader that stopped early ("| head"): not an error
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
