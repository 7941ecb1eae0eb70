"""Chapter 7 (provisioning the Alcatel): the expected fixes of a broken ``sipconfig``.

The student gets their variant's provisioning files broken in four places
(:func:`voiplab.teach.answers.broken_sipconfig`) and submits them fixed, as
``{file name: text}``. The grader reads the submitted text itself (the files are the
answer, no capture needed): the registrar port, the Alcatel's password in this variant,
a codec list led by the one codec the variant's Asterisk allows, the variant's RTP and
RTCP ports, and no problem left for :func:`voiplab.devices.sipconfig.validate`.
"""

from __future__ import annotations

from collections.abc import Callable

from ...core.sip import SIP_DEFAULT_PORT
from ...devices import sipconfig
from ...errors import VoipLabError
from .base import AssignmentSpec, Exercise, GradingContext, Part, Verdict

__all__ = ["ASSIGNMENT"]

#: what the answer cells may not call: the renderers would rewrite the files instead of fixing them
RENDERERS = ("render", "render_common", "render_phone", "write_sipconfig", "write_files", "lab_config",
             "variant_for", "lab_toml")


def _merged(value: object) -> tuple[dict[str, str], list[str]] | None:
    """Every key of the submitted files (the phone's file wins, as on the phone), and the file names."""
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        return None
    keys: dict[str, str] = {}
    common = [n for n in value if n == sipconfig.COMMON_FILENAME]
    for name in common + [n for n in value if n != sipconfig.COMMON_FILENAME]:
        try:
            for section in sipconfig.settings(str(value[name])).values():
                keys.update(section)
        except (ValueError, VoipLabError):
            continue
    return keys, list(value)


def _key_check(what: str, test: Callable[[dict[str, str]], str | None]) -> Callable[[object], Verdict]:
    def check(value: object) -> Verdict:
        merged = _merged(value)
        if merged is None:
            return Verdict(False, f"{what}: fixed must be a dict {{file name: text}} of the two files")
        problem = test(merged[0])
        return Verdict(problem is None, f"{what}: right" if problem is None else f"{what}: {problem}")
    return check


def _parts(ctx: GradingContext) -> list[Part]:
    v = ctx.variant
    port = str(SIP_DEFAULT_PORT)

    def registrar(keys: dict[str, str]) -> str | None:
        got = keys.get("registrar_port")
        if got == port and keys.get("proxy_port") == port:
            return None
        return f"registrar_port is {got!r}: the PBX registers phones on its SIP port, {port} (as proxy_port)"

    def password(keys: dict[str, str]) -> str | None:
        got = keys.get("authentication_password", "")
        if got == v.alcatel_password:
            return None
        return ("authentication_password is not the Alcatel's password in your lab "
                "(work.lab.account('alcatel').password)")

    def vocoder(keys: dict[str, str]) -> str | None:
        got = [p.strip() for p in keys.get("preferred_vocoder", "").split(",") if p.strip()]
        if got and got[0] == str(v.payload_type) and all(p.isdigit() and int(p) in sipconfig.VOCODERS for p in got):
            return None
        return (f"preferred_vocoder is {','.join(got) or 'empty'}: your lab's Asterisk allows only "
                f"{v.codec} (payload type {v.payload_type}), so the phone must offer it first")

    def rtp(keys: dict[str, str]) -> str | None:
        rtp_port, rtcp_port = keys.get("local_rtp_port"), keys.get("local_rtcp_port")
        if rtp_port == str(v.alcatel_rtp_port) and rtcp_port == str(v.alcatel_rtp_port + 1):
            return None
        return (f"local_rtp_port/local_rtcp_port are {rtp_port}/{rtcp_port}: RTP takes the even port of your "
                f"Alcatel (work.lab.alcatel.rtp_port), RTCP the next one")

    def valid(value: object) -> Verdict:
        if _merged(value) is None:
            return Verdict(False, "the files: fixed must be a dict {file name: text} of the two files")
        assert isinstance(value, dict)
        names = set(value)
        if sipconfig.COMMON_FILENAME not in names or len(names) != 2:
            return Verdict(False, f"the files: submit both {sipconfig.COMMON_FILENAME} and the phone's file, "
                                  f"not {sorted(names)}")
        problems = [f"{name}: {p}" for name, text in value.items() for p in sipconfig.validate(str(text), name)]
        if problems:
            return Verdict(False, f"the files still have {len(problems)} problem(s): {problems[0]}")
        return Verdict(True, "the files: no problem left (sipconfig.validate)")

    return [Part("fixed", 1, port, _key_check("registrar port", registrar)),
            Part("fixed", 1, "the variant's password", _key_check("password", password)),
            Part("fixed", 1, str(v.payload_type), _key_check("codecs", vocoder)),
            Part("fixed", 1, str(v.alcatel_rtp_port), _key_check("RTP ports", rtp)),
            Part("fixed", 1, "no problem", valid)]


ASSIGNMENT = AssignmentSpec(
    name="ch7_provisioning",
    chapter=7,
    exercises=(
        Exercise("ex1", "ex1_check", ("ex1_answer",), "fix a broken sipconfig", (), RENDERERS, _parts),
    ),
    protected=("vl", "work", "broken"),
    manual=("ex2_written",),
)
