"""The check cells of notebook 09 (your own call): was a call recorded, and are the student's findings right?

* :func:`own_call_recorded`: the recording holds a call of the student's that was answered
  and hung up (so that there is something to analyse);
* :func:`own_call_findings`: what the student read from the analysis (codec, streams,
  direct media, lost packets, keys pressed) against the same figures computed by voiplab.

Taught in notebook 09.
"""

from __future__ import annotations

from collections.abc import Mapping

from ...errors import VoipLabError
from ..experiments import Experiment
from ..recording import CallSummary, call_summary, codec_name
from . import CheckResult, failed, passed

__all__ = ["FINDINGS", "own_call_findings", "own_call_recorded"]

#: the findings the student fills in, with where to look when one is wrong
FINDINGS: dict[str, str] = {
    "codec": "the payload column of the RTP streams (or the a=rtpmap line of the SDP answer)",
    "streams": "the number of rows of the RTP streams table (one per SSRC and address pair)",
    "direct_media": "the path column of the streams: does some RTP go phone to phone (True) or only via the PBX?",
    "lost": "the lost column of the streams, added up",
    "dtmf": "the keys found in the stream your phone sent (vl.dtmf_digits), in order; \"\" if you pressed none",
}


def _experiment(exp: object) -> Experiment | None:
    return exp if isinstance(exp, Experiment) else None


def own_call_recorded(exp: object) -> CheckResult:
    """Does the recording hold a call of the student's, answered and hung up?

    Taught in notebook 09.
    """
    name = "your call is recorded"
    recorded = _experiment(exp)
    if recorded is None:
        return failed(name, "there is no recording yet: run the cell that stops it (exp = rec.stop()) after your "
                            "call, then run this check again")
    call = recorded.call
    if call is None:
        return failed(name, "your recording holds no call: start a new recording (run the recording cell again), "
                            "make a call with the panel or in code, hang up, then stop the recording")
    if call.state in ("REJECTED", "CANCELLED", "CALL SETUP", "RINGING"):
        return failed(name, f"your call was not answered (Wireshark's state: {call.state}): call a phone that "
                            "answers, such as the Alcatel, let it ring until it picks up, talk a few seconds, "
                            "hang up, and record again")
    if call.state != "COMPLETED":
        return failed(name, f"your call is {call.state}, not answered and hung up: hang up before you stop the "
                            "recording, and record again")
    first = call.legs[0]
    who = f"{first.from_user or first.caller} -> {first.dialed or '?'}"
    if recorded.pcap is not None and not recorded.streams:
        return failed(name, f"your call {who} was answered but the capture holds no RTP: talk a few seconds "
                            "after the answer before you hang up, and record again")
    if recorded.pcap is None:
        source = "SIP from your phone's trace (no capture here): the RTP analysed below is the sample's"
    else:
        source = f"{len(recorded.streams or [])} RTP streams captured with {recorded.capture_method}"
    return passed(name, f"your call {who} was answered and hung up: {call.packets} SIP messages, "
                        f"{len(call.legs)} leg(s); {source}")


def _same(key: str, mine: object, summary: CallSummary) -> bool:
    if key == "codec":
        return codec_name(mine) == summary.codec
    if key == "direct_media":
        return isinstance(mine, bool) and mine == summary.direct_media
    if key in ("streams", "lost"):
        return isinstance(mine, int) and not isinstance(mine, bool) and mine == getattr(summary, key)
    if key == "dtmf":
        return str(mine).replace(" ", "").replace(",", "") == summary.dtmf
    raise VoipLabError(f"finding {key!r} is unknown: use the keys {', '.join(FINDINGS)}")


def own_call_findings(findings: object, exp: object, media: object = None) -> CheckResult:
    """Are the student's findings about their call (a dict of :data:`FINDINGS` keys) right?

    Parameters:
        findings: ``{"codec": ..., "streams": ..., "direct_media": ..., "lost": ..., "dtmf": ...}``.
        exp: the recorded call (``rec.stop()``).
        media: where its RTP comes from (``vl.rtp_or_sample(exp)``); default ``exp``.

    Taught in notebook 09.
    """
    name = "your findings"
    recorded = _experiment(exp)
    if recorded is None or recorded.call is None:
        return failed(name, "there is no recorded call to compare with: record your call first (the checks above)")
    source = _experiment(media) or recorded
    if not isinstance(findings, Mapping):
        return failed(name, 'fill in the dictionary my_call = {"codec": ..., "streams": ..., "direct_media": ..., '
                            '"lost": ..., "dtmf": ...} in the cell above, then run this check again')
    missing = [k for k in FINDINGS if k not in findings or findings[k] is Ellipsis or findings[k] is None]
    if missing:
        return failed(name, f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not filled in yet: "
                            "replace each ... with what you found")
    summary = call_summary(recorded, source)
    wrong = [k for k in FINDINGS if not _same(k, findings[k], summary)]
    if wrong:
        return failed(name, "; ".join(f"{k}: look at {FINDINGS[k]}" for k in wrong))
    return passed(name, f"codec {summary.codec}, {summary.streams} RTP streams, direct media "
                        f"{'yes' if summary.direct_media else 'no'}, {summary.lost} lost, DTMF "
                        f"{summary.dtmf or 'none'}: all as voiplab finds them")
