"""``voiplab provision``: render the Alcatel's files and serve them over HTTP.

::

    voiplab provision alcatel --mac 00:80:9f:12:34:56 --out prov [--config lab.toml]
    voiplab provision serve prov [--host 127.0.0.80 --port 8080]

Taught in notebook 07 (provisioning the Alcatel).
"""

from __future__ import annotations

import argparse
import sys
import threading
from typing import Any

from ..devices import provisioning
from ..config import load_config
from ..errors import VoipLabError

__all__ = ["add_parser", "run"]


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``provision alcatel`` and ``provision serve`` to the top-level ``subparsers``.

    Every parser it adds has ``handler=run`` as a default, so ``args.handler(args)`` works.
    """
    parser: argparse.ArgumentParser = subparsers.add_parser(
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
    alcatel.add_argument("--config", metavar="F", help="lab.toml (default: $VOIPLAB_CONFIG or the report's lab)")
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
    """Run ``provision alcatel`` or ``provision serve``; 0 on success, 1 on a voiplab error, 2 on usage."""
    command = getattr(args, "provision_command", None)
    try:
        if command == "alcatel":
            return _alcatel(args)
        if command == "serve":
            return _serve(args)
    except VoipLabError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print("usage: voiplab provision {alcatel,serve} ... (see voiplab provision --help)", file=sys.stderr)
    return 2


def _alcatel(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    files = provisioning.write_files(args.out, config, mac=args.mac)
    for path in files:
        problems = provisioning.validate(path.read_text(encoding="utf-8"), path.name)
        status = "valid" if not problems else f"{len(problems)} problems"
        print(f"wrote {path} ({status})")
        for problem in problems:
            print(f"  {problem}")
    print(f"serve it with: voiplab provision serve {args.out}")
    return 0


def _serve(args: argparse.Namespace, stop: threading.Event | None = None) -> int:
    server = provisioning.ProvisioningServer(args.directory, args.host, args.port,
                                             on_fetch=lambda entry: print(entry, flush=True))
    with server:
        print(f"serving {server.root} on {server.url} (Ctrl-C to stop)", flush=True)
        try:
            (stop or threading.Event()).wait()
        except KeyboardInterrupt:
            print("stopped", flush=True)
    return 0
