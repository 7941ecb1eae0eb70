"""``voiplab webrtc ...``: the WebRTC chapter on the command line.

::

    voiplab webrtc certs --out certs [--address 192.168.1.80] [--dns pbx.lab] [--server-curve P-256]
    voiplab webrtc up          # the WebRTC lab (127.0.0.70): Asterisk with wss://, the Alcatel
    voiplab webrtc serve       # ... and serve the browser phone page until Ctrl-C
    voiplab webrtc url rpi     # the page of an account
    voiplab webrtc build       # rebuild the browser phone (JsSIP bundled with esbuild)
    voiplab webrtc down

Wired into :mod:`voiplab.cli` with ``add_parser(subparsers)`` and ``run(args)``.
Taught in notebook 08 (WebRTC and TLS).
"""

from __future__ import annotations

import argparse
import sys

from ..config import load_config
from ..devices import certs, webpage, webrtc
from ..errors import VoipLabError
from .common import EXIT_OK, EXIT_USAGE, Subparsers, add_config_option, fail

__all__ = ["LAB_COMMANDS", "add_parser", "run"]

#: the sub-commands that drive the WebRTC lab (``certs`` only writes files)
LAB_COMMANDS = ("up", "serve", "down", "url", "build")


def add_parser(subparsers: Subparsers) -> argparse.ArgumentParser:
    """Add ``webrtc certs`` to the top-level ``subparsers``.

    Returns the ``webrtc`` parser; its sub-commands action is ``parser.webrtc_subparsers``
    so that other ``webrtc`` commands can be added beside ``certs``. Every parser it adds
    has ``handler=run`` as a default.
    """
    parser = subparsers.add_parser(
        "webrtc", help="WebRTC chapter: certificates", description="WebRTC chapter tools.")
    parser.set_defaults(handler=run, webrtc_command=None)
    sub = parser.add_subparsers(dest="webrtc_command", metavar="{certs,up,serve,url,build,down}")
    parser.webrtc_subparsers = sub  # type: ignore[attr-defined]
    make = sub.add_parser(
        "certs", help="make an ECDSA root CA and the PBX's server certificate",
        description="Make an ECDSA P-521 root CA (SHA-384) and a server certificate for the PBX address, "
                    "signed by it. Import ca.crt into the browser; give Asterisk server.crt and server.key.")
    make.add_argument("--out", required=True, metavar="DIR", help="directory to write the PEM files into")
    make.add_argument("--address", action="append", metavar="IP",
                      help="PBX IP address for the subjectAltName (repeatable; default: pbx.host of the config)")
    make.add_argument("--dns", action="append", default=[], metavar="NAME", help="PBX host name (repeatable)")
    make.add_argument("--server-curve", default=certs.SERVER_CURVE, choices=sorted(certs.CURVES),
                      help="curve of the server key (default P-256; Chromium refuses P-521)")
    make.add_argument("--new-ca", action="store_true", help="make a new CA even if DIR already holds one")
    add_config_option(make)
    make.set_defaults(handler=run)
    for name, text in (("up", "start the WebRTC lab (Asterisk with TLS and wss://, the simulated Alcatel)"),
                       ("serve", "start the WebRTC lab and serve the browser phone until Ctrl-C"),
                       ("down", "stop the WebRTC lab"),
                       ("build", "rebuild the browser phone (npm: JsSIP + esbuild)")):
        sub.add_parser(name, help=text).set_defaults(handler=run)
    url = sub.add_parser("url", help="the browser phone page of an account")
    url.add_argument("account", nargs="?", default="rpi")
    url.set_defaults(handler=run)
    return parser


def _run_lab_command(command: str, args: argparse.Namespace) -> int:
    if command == "build":
        print(webpage.build_browser_phone(force=True))
        return EXIT_OK
    lab = webrtc.WebRtcLab()
    if command == "url":
        print(lab.url(args.account))
        return EXIT_OK
    if command == "down":
        for line in lab.down():
            print(line)
        return EXIT_OK
    for line in lab.up():
        print(line)
    print(f"trust the CA {lab.ca_file} in the browser, then open {lab.url('rpi')}")
    if command == "serve":
        assert lab.page is not None
        try:
            lab.page.serve_forever()
        finally:
            for line in lab.down():
                print(line)
    return EXIT_OK


def run(args: argparse.Namespace) -> int:
    """Run ``voiplab webrtc COMMAND``; the exit status of :mod:`voiplab.cli.common`."""
    command = getattr(args, "webrtc_command", None)
    if command not in LAB_COMMANDS and command != "certs":
        print("usage: voiplab webrtc {certs,up,serve,url,build,down} (see voiplab webrtc --help)", file=sys.stderr)
        return EXIT_USAGE
    try:
        if command in LAB_COMMANDS:
            return _run_lab_command(command, args)
        addresses = args.address or [load_config(args.config).pbx.host]
        paths = certs.make_certificates(args.out, addresses, dns_names=args.dns,
                                        server_curve=args.server_curve, reuse_ca=not args.new_ca)
        certs.verify_chain(paths.ca_cert, paths.server_cert)
    except VoipLabError as error:
        return fail(error)
    ca, server = certs.describe(paths.ca_cert), certs.describe(paths.server_cert)
    print(f"CA      {paths.ca_cert}: {ca['subject']}, {ca['curve']}, {ca['signature_hash']}, "
          f"until {ca['not_after'][:10]}")
    print(f"server  {paths.server_cert}: SAN {', '.join(server['san']['ip'] + server['san']['dns'])}, "
          f"{server['curve']}, until {server['not_after'][:10]}")
    print(f"keys    {paths.ca_key}, {paths.server_key} (mode 600); bundle {paths.server_pem_bundle}")
    print(f"import {paths.ca_cert} into the browser as a trusted authority")
    return EXIT_OK
