"""``voiplab analyze FILE [--json] [--heuristic] [--sip-port PORT]``: the RTP streams of a capture, like tshark.

The plain output is the table of ``tshark -q -z rtp,streams`` (Wireshark 4.0), with the
same figures (an empty capture gives tshark's empty table); streams are set up by the SDP of
SIP over UDP or TCP, on any port, in fragments and tunnels, and end where a re-INVITE turns
their port to T.38 (:mod:`voiplab.capture.streams`); ``--json`` prints a list of objects with the keys of
:attr:`voiplab.core.rtpstats.StreamStats.JSON_KEYS`. Wired into :mod:`voiplab.cli` with
``add_parser(subparsers)`` and ``run(args)``; it loads only the capture layer (numpy, no
scapy, no matplotlib) so that the whole process is fast.
Taught in notebook 05.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from typing import TextIO

from ..capture.streams import analyze
from ..core.rtpstats import StreamStats
from ..errors import VoipLabError
from .common import EXIT_OK, Subparsers, add_sip_port_option, fail

__all__ = ["add_parser", "format_tshark_table", "run"]

#: Files larger than this get progress messages on stderr.
PROGRESS_BYTES = 64 * 1024 * 1024
TSHARK_TITLE = "========================= RTP Streams ========================"
TSHARK_HEADER = (
    "   Start time      End time     Src IP addr  Port    Dest IP addr  Port       SSRC          Payload  Pkts  "
    "       Lost   Min Delta(ms)  Mean Delta(ms)   Max Delta(ms)  Min Jitter(ms) Mean Jitter(ms)  Max Jitter(ms) "
    "Problems?"
)
TSHARK_FOOTER = "=============================================================="


def add_parser(subparsers: Subparsers) -> argparse.ArgumentParser:
    """Add the ``analyze`` sub-command to an ``argparse`` sub-parser collection."""
    parser = subparsers.add_parser(
        "analyze",
        help="RTP stream statistics of a pcap/pcapng file (as tshark -z rtp,streams)",
        description="One row per RTP stream: packets, lost, min/mean/max delta and jitter, "
        "with the values of 'tshark -q -z rtp,streams' (Wireshark 4.0).",
    )
    parser.add_argument("file", metavar="FILE", help="a pcap or pcapng capture")
    parser.add_argument("--json", action="store_true", help="print a JSON list, one object per stream")
    parser.add_argument("--heuristic", action="store_true",
                        help="also find RTP not announced by SDP (tshark -o rtp.heuristic_rtp:TRUE)")
    add_sip_port_option(parser)
    parser.set_defaults(func=run)
    return parser


def format_tshark_table(rows: Sequence[StreamStats]) -> str:
    """The ``tshark -q -z rtp,streams`` text for these :class:`~voiplab.core.rtpstats.StreamStats`."""
    return "\n".join([TSHARK_TITLE, TSHARK_HEADER, *(s.tshark_row() for s in rows), TSHARK_FOOTER])


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Run ``voiplab analyze``; returns the exit status (0 ok, 1 error: see :mod:`voiplab.cli.common`)."""
    out = out or sys.stdout
    started = time.perf_counter()
    progress: Callable[[str], None] | None = None
    try:
        big = os.path.getsize(args.file) > PROGRESS_BYTES
    except OSError:
        big = False
    if big:
        def progress(message: str) -> None:
            print(f"voiplab analyze: {message} ({time.perf_counter() - started:.2f} s)", file=sys.stderr,
                  flush=True)

        progress(f"reading {args.file} ({os.path.getsize(args.file) / 1e6:.0f} MB)")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            rows = analyze(args.file, heuristic=args.heuristic, progress=progress,
                           sip_ports=getattr(args, "sip_port", None) or ())
    except VoipLabError as error:
        return fail(error)
    for warning in caught:  # e.g. a truncated last record: said once, plainly
        print(f"voiplab analyze: warning: {warning.message}", file=sys.stderr)
    if args.json:
        json.dump([s.to_json() for s in rows], out, indent=1)
        out.write("\n")
    else:
        out.write(format_tshark_table(rows) + "\n")
    if progress is not None:
        progress(f"{len(rows)} streams")
    return EXIT_OK
