"""``voiplab flow FILE [--json] [--png OUT] [--sip-port PORT]``: the SIP messages and calls of a capture.

Every SIP message tshark lists, in capture order (SIP over UDP and TCP, on any port, in IP
fragments and tunnels: :mod:`voiplab.capture.sipread`). A message that starts like SIP but does
not parse is listed too, marked ``[malformed: <what is wrong>]`` (in ``--json``: its ``malformed``
key holds the same text; ``null`` for the others), and left out of the calls. The JSON keys
``frame, time, src, dst, method, status, cseq, call_id`` of each message are a contract.

Wired into :mod:`voiplab.cli` with ``add_parser(subparsers)`` and ``run(args)``; it loads no
numpy, scapy or matplotlib (unless ``--png`` asks for a diagram), so that a small capture is
answered in a fraction of tshark's start-up time.
Taught in notebook 04 (the same table as the notebook, from a terminal).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import TextIO

from ..capture.sipread import read_flow
from ..core.flow import FlowJson, FlowMessage, MalformedMessage
from ..errors import VoipLabError
from .common import EXIT_OK, Subparsers, add_sip_port_option, fail

__all__ = ["add_parser", "format_json", "format_table", "run"]


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
    add_sip_port_option(parser)
    parser.set_defaults(func=run)
    return parser


def format_table(rows: list[list[str]], headers: list[str]) -> str:
    """A plain-text table with aligned columns."""
    widths = [max(len(str(x)) for x in column) for column in zip(headers, *rows, strict=False)]
    lines = ["  ".join(str(h).ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    return "\n".join(lines)


def format_json(document: FlowJson) -> str:
    """``{"messages": [...], "calls": [...]}`` with one message or call per line: readable, and
    written by the C JSON encoder (an indented dump takes the slow pure-Python one)."""
    parts = []
    sections: tuple[tuple[str, Sequence[object]], ...] = (("messages", document["messages"]),
                                                          ("calls", document["calls"]))
    for key, items in sections:
        lines = ",\n".join("  " + json.dumps(item) for item in items)
        parts.append(f"{json.dumps(key)}: [\n{lines}\n]" if items else f"{json.dumps(key)}: []")
    return "{\n" + ",\n".join(parts) + "\n}"


def _label(m: FlowMessage | MalformedMessage) -> str:
    """The message column: ``INVITE (SDP)``, ``200 OK (retransmission)``, ``BYE [malformed: ...]``."""
    if isinstance(m, MalformedMessage):
        return f"{m.label} [malformed: {m.error}]"
    return m.label + (" (SDP)" if m.has_sdp else "") + (" (retransmission)" if m.retransmission else "")


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Run ``voiplab flow``; returns the exit status (0 ok, 1 error: see :mod:`voiplab.cli.common`)."""
    out = out or sys.stdout
    try:
        flow = read_flow(args.file, pbx=getattr(args, "pbx", None), sip_ports=getattr(args, "sip_port", None) or ())
    except VoipLabError as error:
        return fail(error)
    if args.json:
        out.write(format_json(flow.to_dict()) + "\n")
    else:
        origin = flow.messages[0].time if flow.messages else 0.0
        origin = min(origin, flow.malformed[0].time) if flow.malformed else origin
        rows = [
            [
                str(m.frame if m.frame is not None else ""),
                f"{m.time - origin:.6f}",
                m.src,
                m.dst,
                _label(m),
                m.cseq or "",
                m.call_id or "",
            ]
            for m in flow.entries
        ]
        out.write(format_table(rows, ["frame", "time", "src", "dst", "message", "cseq", "call_id"]) + "\n")
        malformed = f" ({len(flow.malformed)} malformed)" if flow.malformed else ""
        out.write(f"\n{len(flow.messages) + len(flow.malformed)} SIP messages{malformed}, {len(flow.calls)} calls\n")
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
        # the plots layer (numpy, then matplotlib) and the lab's configuration (for the roles of the
        # hosts) load only when a diagram is asked for: 'flow' stays fast
        from ..config import load_config
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
