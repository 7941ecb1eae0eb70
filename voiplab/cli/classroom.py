"""``voiplab classroom render|serve``: the course server of a whole class (instructors).

    voiplab classroom render ROSTER.csv --out DIR --server 192.168.1.80 [--mac M]
    voiplab classroom serve DIR [--host 192.168.1.80]

``render`` writes ``DIR/server/`` (Asterisk's files), ``DIR/alcatel/`` (the desk phone's
provisioning files) and ``DIR/students/<id>/lab.toml`` (to hand out); rendering again with a
longer roster keeps everyone's number and password. ``serve`` runs that Asterisk on the course
machine, found as for the local lab (``voiplab pbx install``), until Ctrl-C.
Wired into :mod:`voiplab.cli`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..devices.classroom import render_classroom, serve_classroom
from ..errors import VoipLabError
from .common import EXIT_INTERRUPTED, EXIT_OK, Subparsers, fail

__all__ = ["add_parser", "run"]


def add_parser(subparsers: Subparsers) -> argparse.ArgumentParser:
    """Add the ``classroom`` command to the top-level ``subparsers``."""
    parser = subparsers.add_parser("classroom", help="the course server of a class, from its roster (instructors)",
                                   description="Render the course Asterisk for a roster and hand out one lab.toml "
                                               "per student; serve it on the course machine.")
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True
    render = actions.add_parser("render", help="write the server's files and the students' lab.toml files")
    render.add_argument("roster", type=Path, help="CSV: id,name[,email], one line per student")
    render.add_argument("--out", type=Path, required=True, help="the class directory (kept between renders)")
    render.add_argument("--server", required=True, help="the course server's address, as students reach it")
    render.add_argument("--port", type=int, default=5060, help="its SIP port (default 5060)")
    render.add_argument("--mac", default="00:80:9f:12:34:56", help="the real Alcatel's MAC address")
    render.add_argument("--alcatel-address", default="192.168.1.81", help="the Alcatel's IP address")
    render.add_argument("--instructor-address", default="127.0.0.1",
                        help="where the instructor's dashboard connects from (the manager's ACL)")
    serve = actions.add_parser("serve", help="run the class's Asterisk until Ctrl-C")
    serve.add_argument("dir", type=Path, help="the class directory written by 'classroom render'")
    serve.add_argument("--host", default=None, help="the address to bind (default: the server address of the render)")
    return parser


def run(args: argparse.Namespace) -> int:
    """Run ``voiplab classroom ...``."""
    try:
        if args.action == "render":
            files = render_classroom(args.roster, args.out, server=args.server, port=args.port,
                                     alcatel_mac=args.mac, alcatel_address=args.alcatel_address,
                                     instructor_address=args.instructor_address)
            room = files.classroom
            print(f"{len(room.students)} students on {room.server}:{room.port}")
            print(f"  Asterisk's files:      {files.server}")
            print(f"  the Alcatel's files:   {files.alcatel} (serve them: voiplab provision serve {files.alcatel})")
            print(f"  the students' lab.toml: {files.students}/<id>/lab.toml (hand each one out)")
            print(f"  run it: voiplab classroom serve {args.out}")
            return EXIT_OK
        return serve_classroom(args.dir, host=args.host, out=sys.stdout)
    except VoipLabError as e:
        return fail(e)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
