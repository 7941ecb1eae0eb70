"""Check cells of notebook 08 (WebRTC and TLS; chapter 6 of the report).

The student recomputes two values the protocols exchange and compares them with what was
sent: the ``Sec-WebSocket-Accept`` of the secure WebSocket's handshake (RFC 6455), and the
``a=fingerprint`` that binds Asterisk's DTLS certificate to the SDP (RFC 8122, RFC 5763);
then names the codec of each leg of the browser's call to the Alcatel (Asterisk relays,
decrypting SRTP: both legs are G.711 mu-law, nothing is re-encoded).

Taught in notebook 08.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Protocol

from ...core.flow import TraceEntry
from ...core.sdp import SessionDescription
from ...core.sip import SipMessage
from ...devices.webrtc import WssHandshake
from ...errors import ParseError, VoipLabError
from . import CheckResult, failed, passed

__all__ = ["dtls_fingerprint", "legs_codec", "websocket_accept"]

WEBSOCKET_ACCEPT = "your Sec-WebSocket-Accept is the server's"
DTLS_FINGERPRINT = "your fingerprint is the one in Asterisk's SDP"
LEGS_CODEC = "you named the codec of each leg"
_NOT_WRITTEN = (None, ..., "", "...")
_HASH_PREFIX_RE = re.compile(r"^\s*sha-?256\s*", re.IGNORECASE)


class Traced(Protocol):
    """A phone that keeps the SIP it sent and received (``BrowserPhone``, ``Phone``)."""

    def trace(self) -> list[TraceEntry]: ...


def _header(head: str, name: str) -> str | None:
    for line in head.split("\r\n")[1:]:
        key, sep, value = line.partition(":")
        if sep and key.strip().lower() == name.lower():
            return value.strip()
    return None


def websocket_accept(handshake: WssHandshake, accept: str | bytes | None) -> CheckResult:
    """Is the student's ``Sec-WebSocket-Accept`` the one the server sent for this handshake's key?

    Parameters:
        handshake: the handshake (``vl.wss_handshake(...)``).
        accept: the student's value: base64 of SHA-1(key + the RFC 6455 GUID).

    Taught in notebook 08.
    """
    if not isinstance(handshake, WssHandshake):
        raise VoipLabError(f"handshake is a {type(handshake).__name__}, not a WssHandshake: pass the result of "
                           "vl.wss_handshake(...)")
    if accept in _NOT_WRITTEN:
        return failed(WEBSOCKET_ACCEPT, "compute accept first: the SHA-1 of the request's Sec-WebSocket-Key "
                                        "followed by the GUID, then base64")
    mine = accept.decode("ascii", "replace") if isinstance(accept, bytes) else str(accept)
    server = _header(handshake.response, "Sec-WebSocket-Accept")
    if server is None:
        return failed(WEBSOCKET_ACCEPT, f"the server sent no Sec-WebSocket-Accept (status {handshake.status}): "
                                        "run the handshake cell again and look at the response")
    if mine.strip() == server:
        return passed(WEBSOCKET_ACCEPT, f"{server}: the server proved it read this request's key (RFC 6455 "
                                        "section 4.2.2), so no cache or proxy answered in its place")
    if re.fullmatch(r"[0-9a-fA-F]{40}", mine.strip()):
        return failed(WEBSOCKET_ACCEPT, "your value is the SHA-1 in hexadecimal: base64-encode the 20 bytes of "
                                        "the digest (hashlib.sha1(...).digest()), not the hex text")
    return failed(WEBSOCKET_ACCEPT, f"{mine.strip()!r} is not the server's value: hash the Sec-WebSocket-Key "
                                    "exactly as the request sent it (base64 text, not decoded) followed by the "
                                    "GUID, with SHA-1, then base64")


def _normal_fingerprint(text: str) -> str:
    return re.sub(r"[\s:]", "", _HASH_PREFIX_RE.sub("", text)).lower()


def _received_sdps(entries: Iterable[TraceEntry]) -> list[SessionDescription]:
    sdps = []
    for entry in entries:
        if entry.get("direction") != "rx":
            continue
        raw = entry.get("raw", "")
        try:
            sdp = SipMessage.parse(raw.encode("utf-8", "surrogateescape") if isinstance(raw, str) else raw).sdp
        except ParseError:
            continue
        if sdp is not None:
            sdps.append(sdp)
    return sdps


def _fingerprints(sdp: SessionDescription) -> list[str]:
    values = [a.value for a in sdp.attributes if a.name == "fingerprint" and a.value]
    audio = sdp.audio()
    if audio is not None:
        values += [a.value for a in audio.attributes if a.name == "fingerprint" and a.value]
    return [v for v in values if v is not None]


def _trace(phone: Traced | Iterable[TraceEntry]) -> list[TraceEntry]:
    trace = getattr(phone, "trace", None)
    if callable(trace):
        return list(trace())
    return list(phone)  # type: ignore[arg-type]


def dtls_fingerprint(phone: Traced | Iterable[TraceEntry], fingerprint: str | None) -> CheckResult:
    """Is the student's SHA-256 of the PBX certificate the ``a=fingerprint`` Asterisk put in its SDP?

    Parameters:
        phone: the browser phone (its trace holds the SDP Asterisk sent it), or a trace.
        fingerprint: the student's value: SHA-256 of the certificate's DER bytes, in hex
            (colons and case do not matter; a ``sha-256`` prefix is allowed).

    Taught in notebook 08.
    """
    if fingerprint in _NOT_WRITTEN:
        return failed(DTLS_FINGERPRINT, "compute fingerprint first: the SHA-256 of the certificate in DER form, "
                                        "in hexadecimal")
    assert fingerprint is not None
    theirs = [f for sdp in _received_sdps(_trace(phone)) for f in _fingerprints(sdp)]
    if not theirs:
        return failed(DTLS_FINGERPRINT, "the browser received no SDP with a=fingerprint yet: make the browser "
                                        "call first (its trace holds Asterisk's answer)")
    mine = _normal_fingerprint(str(fingerprint))
    if any(_normal_fingerprint(f) == mine for f in theirs):
        return passed(DTLS_FINGERPRINT, f"sha-256 {theirs[0].split()[-1][:23]}...: the certificate Asterisk "
                                        "shows in the DTLS handshake is the one the SDP announced over wss://")
    if len(mine) != 64 or not re.fullmatch(r"[0-9a-f]+", mine):
        return failed(DTLS_FINGERPRINT, f"your value has {len(mine)} hex digits: a SHA-256 has 64; hash the "
                                        "DER bytes (ssl.PEM_cert_to_DER_cert), print hexdigest()")
    return failed(DTLS_FINGERPRINT, "your SHA-256 is not Asterisk's a=fingerprint: hash the DER bytes of the "
                                    "server certificate (not the PEM text, not the CA's certificate)")


def _codec_name(text: str) -> str:
    return text.split("/")[0].strip().upper()


def legs_codec(phone: Traced | Iterable[TraceEntry], alcatel_call: Mapping[str, object],
               browser_leg: str | None, alcatel_leg: str | None) -> CheckResult:
    """Did the student name the codec of both legs of the browser's call to the Alcatel?

    The truth: the first codec of the SDP answer Asterisk sent the browser, and the codec
    the Alcatel's call record reports.

    Parameters:
        phone: the browser phone (or its trace).
        alcatel_call: the Alcatel's record of the call (``wait_call_ended()``).
        browser_leg, alcatel_leg: the student's answers (``"PCMU"``, ``"PCMA"``, ``"opus"``...).

    Taught in notebook 08.
    """
    if browser_leg in _NOT_WRITTEN or alcatel_leg in _NOT_WRITTEN:
        return failed(LEGS_CODEC, "fill both browser_leg and alcatel_leg with a codec name (e.g. 'PCMA')")
    assert browser_leg is not None and alcatel_leg is not None
    audios = [sdp.audio() for sdp in _received_sdps(_trace(phone))]
    answers = [audio.codecs[0] for audio in audios if audio is not None and audio.codecs]
    if not answers:
        return failed(LEGS_CODEC, "the browser received no SDP yet: make the browser call the Alcatel first")
    browser_truth = _codec_name(answers[-1])
    alcatel_truth = _codec_name(str(alcatel_call.get("codec") or ""))
    if not alcatel_truth:
        return failed(LEGS_CODEC, "the Alcatel's record has no codec: pass the record of a finished call "
                                  "(wlab.simulated_alcatel.wait_call_ended())")
    if _codec_name(browser_leg) != browser_truth:
        return failed(LEGS_CODEC, f"{browser_leg!r} is not the browser leg's codec: read the first payload type "
                                  "of the m=audio line in the SDP Asterisk sent the browser (its 200 OK)")
    if _codec_name(alcatel_leg) != alcatel_truth:
        return failed(LEGS_CODEC, f"{alcatel_leg!r} is not the Alcatel leg's codec: read the 'codec' of the "
                                  "Alcatel's call record")
    same = ("the same codec: Asterisk decrypts the browser's SRTP and relays the G.711 payload, nothing is "
            "re-encoded" if browser_truth == alcatel_truth else
            "two codecs: Asterisk must transcode between them")
    return passed(LEGS_CODEC, f"browser leg {browser_truth} (SRTP), Alcatel leg {alcatel_truth} (RTP): {same}")
