"""``voiplab provision``: render the Alcatel's files and serve them over HTTP.

::

    voiplab provision alcatel --mac 00:80:9f:12:34:56 --out prov [--config lab.toml]
    voiplab provision serve prov [--host 127.0.0.80 --port 8080]

``serve`` runs until Ctrl-C, so it ends with exit status 130 like any interrupted command.
Wired into :mod:`voiplab.cli` with ``add_parser(subparsers)`` and ``run(args)``.
Taught in notebook 07 (provisioning the Alcatel).
"""

from __future__ import annotations

import argparse
import sys
import threading

from ..config import load_config
from ..devices import provisioning, sipconfig
from ..errors import VoipLabError
from .common import EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, Subparsers, add_config_option, fail

__all__ = ["add_parser", "run"]


def add_parser(subparsers: Subparsers) -> argparse.ArgumentParser:
    """Add ``provision alcatel`` and ``provision serve`` to the top-level ``subparsers``.

    Every parser it adds has ``handler=run`` as a default, so ``args.handler(args)`` works.
    """
    parser = subparsers.add_parser(
        "provision", help="render and serve the Alcatel IP Touch provisioning files",
        description="Render, validate and serve the Alcatel IP Touch 4018 EE provisioning files.")
    parser.set_defaults(handler=run, provision_command=None)
    sub = parser.add_subparsers(dest="provision_command", metavar="{alcatel,serve}")

    alcatel = sub.add_parser(
        "alcatel", help="write sipconfig.txt and sipconfig-<mac>.txt and validate them",
        description="Write sipconfig.txt (common) and sipconfig-<mac>.txt (this phone) from the lab "
                    "config, and validate both. The MAC may be written in any notation; the file name "
                    "uses 12 lower-case hex digits.")
    alcatel.add_argument("--mac", help="the phone's MAC address (default: alcatel.mac of the lab config)")
    alcatel.add_argument("--out", required=True, metavar="DIR", help="directory to write the files into")
    add_config_option(alcatel)
    alcatel.set_defaults(handler=run)

    serve = sub.add_parser(
        "serve", help="serve a provisioning directory over HTTP until Ctrl-C",
        description="Serve ONLY DIR over HTTP, printing each fetch, until Ctrl-C.")
    serve.add_argument("directory", metavar="DIR")
    serve.add_argument("--host", default=provisioning.DEFAULT_HOST,
                       help=f"address to listen on (default {provisioning.DEFAULT_HOST})")
    serve.add_argument("--port", type=int, default=provisioning.DEFAULT_PORT,
                       help=f"TCP port (default {provisioning.DEFAULT_PORT}; the real phone asks port 80)")
    serve.set_defaults(handler=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Run ``provision alcatel`` or ``provision serve``; the exit status of :mod:`voiplab.cli.common`."""
    command = getattr(args, "provision_command", None)
    try:
        if command == "alcatel":
            return _alcatel(args)
        if command == "serve":
            return _serve(args)
    except VoipLabError as error:
        return fail(error)
    print("usage: voiplab provision {alcatel,serve} ... (see voiplab provision --help)", file=sys.stderr)
    return EXIT_USAGE


def _alcatel(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    files = provisioning.write_files(args.out, config, mac=args.mac)
    for path in files:
        problems = sipconfig.validate(path.read_text(encoding="utf-8"), path.name)
        status = "valid" if not problems else f"{len(problems)} problems"
        print(f"wrote {path} ({status})")
        for problem in problems:
            print(f"  {problem}")
    print(f"serve it with: voiplab provision serve {args.out}")
    return EXIT_OK


def _serve(args: argparse.Namespace, stop: threading.Event | None = None) -> int:
    """Serve until ``stop`` is set (0) or Ctrl-C (130)."""
    server = provisioning.ProvisioningServer(args.directory, args.host, args.port,
                                             on_fetch=lambda entry: print(entry, flush=True))
    with server:
        try:
            print(f"serving {server.root} on {server.url} (Ctrl-C to stop)", flush=True)
            (stop or threading.Event()).wait()
        except KeyboardInterrupt:
            print("stopped", flush=True)
            return EXIT_INTERRUPTED
    return EXIT_OK
