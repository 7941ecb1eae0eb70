"""``voiplab flow FILE [--json] [--png OUT]``: the SIP messages and calls of a capture.

Wired into :mod:`voiplab.cli` with ``add_parser(subparsers)`` and ``run(args)``.
Taught in notebook 04 (the same table as the notebook, from a terminal).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TextIO

from ..capture.sipread import read_flow
from ..config import load_config
from ..errors import VoipLabError
from .common import EXIT_OK, Subparsers, fail

__all__ = ["add_parser", "run", "format_table"]


def add_parser(subparsers: Subparsers) -> argparse.ArgumentParser:
    """Add the ``flow`` sub-command to an ``argparse`` sub-parser collection."""
    parser = subparsers.add_parser(
        "flow",
        help="list the SIP messages and calls of a pcap/pcapng file",
        description="Every SIP message (frame, time, src, dst, method or status, CSeq, Call-ID) "
        "and the calls (B2BUA legs merged) of a capture.",
    )
    parser.add_argument("file", metavar="FILE", help="a pcap or pcapng capture")
    parser.add_argument(
        "--json", action="store_true", help='print {"messages": [...], "calls": [...]} as JSON'
    )
    parser.add_argument("--png", metavar="OUT", help="also draw the ladder diagram into this PNG file")
    parser.add_argument("--pbx", metavar="IP", default=None, help="the PBX address (to match B2BUA legs)")
    parser.set_defaults(func=run)
    return parser


def format_table(rows: list[list[str]], headers: list[str]) -> str:
    """A plain-text table with aligned columns."""
    widths = [max(len(str(x)) for x in column) for column in zip(headers, *rows, strict=False)]
    lines = ["  ".join(str(h).ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    return "\n".join(lines)


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Run ``voiplab flow``; returns the exit status (0 ok, 1 error: see :mod:`voiplab.cli.common`)."""
    out = out or sys.stdout
    try:
        flow = read_flow(args.file, pbx=getattr(args, "pbx", None))
    except VoipLabError as error:
        return fail(error)
    if args.json:
        json.dump(flow.to_dict(), out, indent=2)
        out.write("\n")
    else:
        origin = flow.messages[0].time if flow.messages else 0.0
        rows = [
            [
                str(m.frame if m.frame is not None else ""),
                f"{m.time - origin:.6f}",
                m.src,
                m.dst,
                m.label + (" (SDP)" if m.has_sdp else "") + (" (retransmission)" if m.retransmission else ""),
                m.cseq or "",
                m.call_id or "",
            ]
            for m in flow.messages
        ]
        out.write(format_table(rows, ["frame", "time", "src", "dst", "message", "cseq", "call_id"]) + "\n")
        out.write(f"\n{len(flow.messages)} SIP messages, {len(flow.calls)} calls\n")
        if flow.calls:
            call_rows = [
                [
                    f"{c.start - origin:.3f}",
                    f"{c.stop - origin:.3f}",
                    c.initial_speaker,
                    c.from_,
                    c.to,
                    c.state,
                    str(c.packets),
                    "; ".join(c.comments),
                ]
                for c in flow.calls
            ]
            out.write(
                "\n"
                + format_table(
                    call_rows,
                    ["start", "stop", "initial speaker", "from", "to", "state", "packets", "comments"],
                )
                + "\n"
            )
    if args.png:
        # the plots layer (numpy, then matplotlib) loads only when a diagram is asked for: 'flow' stays fast
        from ..plots.ladder import ladder_figure

        try:
            figure = ladder_figure(flow, roles=load_config().roles())
            figure.savefig(args.png, dpi=100)
        except OSError as error:
            return fail(VoipLabError(f"the diagram {args.png} cannot be written ({error.strerror or error}): "
                                     "check that its folder exists and is writable"))
        except VoipLabError as error:
            return fail(error)
        print(f"ladder diagram written to {args.png}", file=sys.stderr)
    return EXIT_OK
