"""Check cells of notebook 07 (provisioning the Alcatel; chapter 4 of the report).

The student edits the IP Touch's two files in the sipconfig editor
(:class:`~voiplab.widgets.sipconfig.SipconfigEditor`), serves them and boots the phone; these
checks look at the edited files, at what they offer the PBX, and at what the phone fetched.
They take anything with the editor's attributes (``texts``, ``server``, ``downloads``,
``mac``, ``phone_address``), so they need no widget to be tested.

Taught in notebook 07.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from ...config import LabConfig
from ...core.payloads import STATIC_PAYLOAD_TYPES
from ...devices.provisioning import BootFetch, ProvisioningServer
from ...devices.sipconfig import COMMON_FILENAME, FIRMWARE_FILES, VOCODERS, phone_filename, settings, validate_set
from . import CheckResult, failed, passed

__all__ = ["phone_fetched", "sipconfig_valid", "vocoders_match_pbx"]

SIPCONFIG_VALID = "the Alcatel's files have no problem"
VOCODERS_MATCH = "the phone offers the PBX's codecs, in the PBX's order"
PHONE_FETCHED = "the phone fetched its files at boot"
#: Asterisk codec names (``allow=`` in pjsip.conf) -> RTP static payload type
ASTERISK_CODEC_PAYLOAD: dict[str, int] = {"ulaw": 0, "alaw": 8, "gsm": 3, "g722": 9}


class EditedFiles(Protocol):
    """What the checks read from the sipconfig editor."""

    @property
    def texts(self) -> Mapping[str, str]: ...


class ServedFiles(EditedFiles, Protocol):
    """The editor once it serves the files and the phone booted."""

    mac: str
    phone_address: str | None
    config: LabConfig

    @property
    def server(self) -> ProvisioningServer | None: ...

    @property
    def downloads(self) -> Sequence[BootFetch]: ...


def _texts(files: EditedFiles | Mapping[str, str]) -> Mapping[str, str]:
    return files if isinstance(files, Mapping) else files.texts


def sipconfig_valid(files: EditedFiles | Mapping[str, str]) -> CheckResult:
    """Do both files validate (every line, and the keys the phone needs set in one of them)?

    Parameters:
        files: the editor, or ``{file name: text}``.

    Taught in notebook 07.
    """
    texts = _texts(files)
    problems = validate_set(texts)
    if problems:
        count = f"{len(problems)} problem" + ("s" if len(problems) > 1 else "")
        return failed(SIPCONFIG_VALID, f"{count} left, the first: {problems[0]}; fix each in the editor (the list "
                                       "under the text area names its line)")
    keys = sum(len(section) for text in texts.values() for section in settings(text).values())
    return passed(SIPCONFIG_VALID, f"{' and '.join(texts)} validate: {keys} settings, no problem")


def _payload_label(pt: int) -> str:
    if pt in VOCODERS:
        return VOCODERS[pt]
    return str(STATIC_PAYLOAD_TYPES[pt].encoding) if pt in STATIC_PAYLOAD_TYPES else str(pt)


def vocoders_match_pbx(files: EditedFiles | Mapping[str, str], config: LabConfig) -> CheckResult:
    """Does ``preferred_vocoder`` offer only codecs the PBX allows, the PBX's first choice first?

    The phone's own file overrides the common one, as on the phone.

    Parameters:
        files: the editor, or ``{file name: text}``.
        config: the lab's configuration (its ``codecs``: pjsip.conf's ``allow=`` lines, in order).

    Taught in notebook 07.
    """
    texts = _texts(files)
    value = None
    for name in sorted(texts, key=lambda n: n != COMMON_FILENAME):  # the common file, then the phone's
        value = settings(texts[name]).get("sip", {}).get("preferred_vocoder", value)
    if not value:
        return failed(VOCODERS_MATCH, "preferred_vocoder is not set: set it under [sip] in sipconfig.txt")
    try:
        offered = [int(v) for v in value.split(",")]
    except ValueError:
        return failed(VOCODERS_MATCH, f"preferred_vocoder is {value!r}: write payload types separated by commas; "
                                      "fix the problems the editor lists first")
    allowed = [ASTERISK_CODEC_PAYLOAD[c] for c in config.codecs if c in ASTERISK_CODEC_PAYLOAD]
    allow_lines = ", ".join(f"allow={c}" for c in config.codecs)
    extra = [pt for pt in offered if pt not in allowed]
    if extra:
        return failed(VOCODERS_MATCH, f"preferred_vocoder offers {extra[0]} ({_payload_label(extra[0])}), which the "
                                      f"PBX does not allow ({allow_lines} in pjsip.conf): offer only codecs both "
                                      "sides have")
    if offered[0] != allowed[0]:
        return failed(VOCODERS_MATCH, f"the phone prefers {_payload_label(offered[0])} but the PBX's first codec "
                                      f"is {config.codecs[0]}: put the PBX's first codec first (the list is in "
                                      "order of preference)")
    names = ", ".join(_payload_label(pt) for pt in offered)
    return passed(VOCODERS_MATCH, f"preferred_vocoder={value}: {names}; every one allowed by the PBX "
                                  f"({allow_lines}), its first choice first")


def _merged(texts: Mapping[str, str]) -> dict[str, str]:
    """The settings the phone ends up with: the common file's, overridden by the phone's own."""
    merged: dict[str, str] = {}
    for name in sorted(texts, key=lambda n: n != COMMON_FILENAME):
        for section in settings(texts[name]).values():
            merged.update(section)
    return merged


def _registration_problem(texts: Mapping[str, str], config: LabConfig) -> str | None:
    """What keeps valid files from making the phone register with this lab's PBX (``None``: nothing)."""
    merged = _merged(texts)
    pbx = config.pbx
    expected = {"proxy_addr": pbx.host, "registrar_addr": pbx.host, "proxy_port": str(pbx.port),
                "registrar_port": str(pbx.port), "authentication_name": config.account("alcatel").name}
    for key, value in expected.items():
        got = merged.get(key)
        if got is not None and got != value:
            return (f"{key} is {got}, which is not this lab's (the PBX is {pbx.host}:{pbx.port}, the phone's "
                    "account is in lab.config): the phone would register nowhere; fix it")
    return None


def phone_fetched(editor: ServedFiles) -> CheckResult:
    """Did the phone fetch ``sipconfig.txt`` then its own file (200 OK), as edited and without problems?

    Parameters:
        editor: the sipconfig editor after Serve and Phone boots.

    Taught in notebook 07.
    """
    server = editor.server
    if server is None:
        return failed(PHONE_FETCHED, "the files are not served yet: press Serve")
    wanted = (COMMON_FILENAME, phone_filename(editor.mac))
    fetched = [e for e in server.log if e.method == "GET"
               and (editor.phone_address is None or e.client == editor.phone_address)]
    if not fetched or not editor.downloads:
        return failed(PHONE_FETCHED, "the phone has fetched nothing yet: press Phone boots (the server must be "
                                     "serving)")
    by_file = {d.file: d for d in editor.downloads}
    for name in wanted:
        got = by_file.get(name)
        if got is None or got.status != 200 or got.text is None:
            status = got.status if got is not None else "nothing"
            return failed(PHONE_FETCHED, f"the phone did not get {name} ({status}): is it in the served "
                                         "directory, under that exact name?")
    texts = {name: by_file[name].text or "" for name in wanted}
    changed = [name for name in wanted if texts[name] != editor.texts.get(name)]
    if changed:
        return failed(PHONE_FETCHED, f"you edited {changed[0]} after the phone booted: it has the older file; "
                                     "press Phone boots again")
    problems = validate_set(texts)
    if problems:
        return failed(PHONE_FETCHED, f"the phone fetched files with {len(problems)} problem(s) (the first: "
                                     f"{problems[0]}): it would reboot in a loop; fix them, then press Phone "
                                     "boots again")
    wrong = _registration_problem(texts, editor.config)
    if wrong is not None:
        return failed(PHONE_FETCHED, f"the files are valid, but {wrong}, then press Phone boots again")
    firmware = [d for d in editor.downloads if d.file in FIRMWARE_FILES]
    missing = " and ".join(d.file for d in firmware if d.status != 200)
    note = f"; {missing}: 404, not shipped (Alcatel-Lucent's)" if missing else ""
    where = f"from {editor.phone_address}" if editor.phone_address else "from this machine"
    sizes = ", then ".join(f"{name} ({len(texts[name].encode())} bytes)" for name in wanted)
    return passed(PHONE_FETCHED, f"the phone fetched {sizes} {where}, 200 OK, without problem{note}")
