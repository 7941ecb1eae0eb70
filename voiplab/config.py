"""The lab configuration: ``lab.toml``.

The defaults *are* the report's lab (``LAB-FACTS.md``), moved onto loopback
addresses so that the whole lab runs on one machine:

=========  ======  ====================  ==========  ============
account    number  display name          password    local address
=========  ======  ====================  ==========  ============
alcatel    5001    Alcatel IP Touch      11111111    127.A.B.81
rpi        5002    Raspberry Pi          22222222    127.A.B.82
guillaume  5003    Guillaume Nibert      33333333    127.A.B.83
=========  ======  ====================  ==========  ============

The PBX listens on 127.A.B.80:5060. Every 127.x.y.z address is local, so each Unix user
gets a block of their own, derived from their uid (:func:`local_block`): root's lab is on
127.0.0.80-83, the user of uid 1000 (= 3 x 256 + 232) has 127.3.232.80-83. Users of one
machine (a lab PC, a JupyterHub server) run their labs side by side, each with their own
state directory, and never meet.

A classroom points voiplab at the course server with a ``lab.toml`` (``--config FILE`` or
``VOIPLAB_CONFIG``); ``voiplab classroom render`` writes one per student::

    [pbx]
    mode = "classroom"
    host = "192.168.1.80"

    [accounts.rpi]
    username = "s07-pi"      # the account's name on the course server
    number = "6071"
    password = "..."
    address = "0.0.0.0"
    sip_port = 0

    [alcatel]
    simulated = false

Taught in notebook 00 (lab check) and 02 (the Asterisk PBX).
"""

from __future__ import annotations

import ipaddress
import math
import os
import re
import stat
import tomllib
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from .errors import ConfigError

__all__ = [
    "Account",
    "PbxConfig",
    "DialPlan",
    "AlcatelConfig",
    "WebRtcConfig",
    "VariantConfig",
    "LabConfig",
    "load_config",
    "config_path",
    "config_from_dict",
    "DEFAULT_ACCOUNTS",
    "CODECS",
    "local_block",
    "local_address",
    "default_config",
]

#: Codecs Asterisk may offer in this lab, by their Asterisk names.
CODECS = ("ulaw", "alaw", "g722", "gsm", "opus")
MODES = ("local", "classroom")
#: a lab.toml is a few hundred bytes; anything this big is not one
MAX_CONFIG_BYTES = 64 * 1024
#: the longest text value (a display name, a host name)
MAX_TEXT = 64
#: password characters: printable ASCII without the comment and quoting characters of Asterisk's
#: and the Alcatel's configuration files (``;`` ``#`` ``"`` ``\``) and without spaces
PASSWORD_CHARS = frozenset(chr(c) for c in range(0x21, 0x7F)) - set(';#"\\\'`')
#: characters a display name may not hold: they would end the quoted caller ID (``"Name" <5001>``)
#: or start a comment in pjsip.conf
DISPLAY_NAME_FORBIDDEN = frozenset('"<>;\\#')
_NAME_RE = re.compile(r"[a-z][a-z0-9_-]{0,31}")
_NUMBER_RE = re.compile(r"[0-9]{2,8}")
_USERNAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,39}")
_MAC_RE = re.compile(r"[0-9a-fA-F]{2}(?:([:-]?)[0-9a-fA-F]{2})(?:\1[0-9a-fA-F]{2}){4}")
_CONTEXT_RE = re.compile(r"[A-Za-z0-9_-]{1,79}")
_LANGUAGE_RE = re.compile(r"[a-z]{2}")
#: what the simulated Alcatel can key in Morse code: letters, digits and single spaces
_MORSE_RE = re.compile(r"[A-Z0-9](?: ?[A-Z0-9]){0,23}")
#: a student id as nbgrader and JupyterHub spell them
STUDENT_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}")
_HOST_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOSTNAME_RE = re.compile(rf"(?=.{{1,253}}$){_HOST_LABEL}(?:\.{_HOST_LABEL})*")


def local_block(uid: int | None = None) -> str:
    """The first three bytes of a user's loopback addresses: ``"127.A.B"``.

    Root (uid 0) has ``127.0.0``; uid ``256*A + B`` has ``127.A.B`` (uid 1000 -> ``127.3.232``),
    so that the users of one machine each have a lab of their own. A uid that would land on
    root's block (a multiple of 65536) takes ``127.255.B`` instead.

    Parameters:
        uid: the user id (default: the current user's).
    """
    u = os.getuid() if uid is None else int(uid)
    a, b = (u >> 8) & 0xFF, u & 0xFF
    if u != 0 and a == 0 and b == 0:
        a = 0xFF
    return f"127.{a}.{b}"


def local_address(last: int, uid: int | None = None) -> str:
    """The user's loopback address ending in ``last``: ``local_address(80)`` is their PBX's."""
    if not 1 <= int(last) <= 254:
        raise ValueError(f"the last byte of an address must be 1 to 254, not {last}")
    return f"{local_block(uid)}.{int(last)}"


@dataclass(frozen=True)
class Account:
    """One SIP account of the lab: a PJSIP endpoint + auth + aor on Asterisk.

    ``name`` is the account's role in the notebooks (``rpi``, ``guillaume``, ``alcatel``);
    ``username`` its name on the PBX when that differs (on a course server, ``s07-pi``):
    the user part of the digest, the endpoint's section in ``pjsip.conf``.
    """

    name: str
    number: str
    display_name: str
    password: str = field(repr=False)
    address: str
    #: port the phone binds its SIP transport to (0 = any free port)
    sip_port: int = 5060
    #: True for accounts a browser (WebRTC) may use in chapter 08
    webrtc: bool = False
    #: the account's name on the PBX ("": the same as ``name``)
    username: str = ""

    @property
    def user(self) -> str:
        """The name the PBX knows this account by (``username``, else ``name``)."""
        return self.username or self.name

    def __repr__(self) -> str:
        on_pbx = f" as {self.username}" if self.username and self.username != self.name else ""
        return f"Account({self.name}/{self.number}{on_pbx} {self.display_name!r} at {self.address})"


def _default_accounts(uid: int | None = None) -> tuple[Account, ...]:
    return (
        Account("alcatel", "5001", "Alcatel IP Touch", "11111111", local_address(81, uid)),
        Account("rpi", "5002", "Raspberry Pi", "22222222", local_address(82, uid), webrtc=True),
        Account("guillaume", "5003", "Guillaume Nibert", "33333333", local_address(83, uid), webrtc=True),
    )


#: the report's accounts, on the current user's loopback block
DEFAULT_ACCOUNTS: tuple[Account, ...] = _default_accounts()


@dataclass(frozen=True)
class PbxConfig:
    """Where the Asterisk PBX is and how voiplab runs it."""

    #: "local": voiplab starts a real Asterisk on loopback; "classroom": the course server.
    mode: str = "local"
    host: str = field(default_factory=lambda: local_address(80))
    port: int = 5060
    #: fixed RTP port range (rtp.conf) so captures and firewalls are predictable
    rtp_port_min: int = 10000
    rtp_port_max: int = 10999
    #: PJSIP direct_media: after answer, re-INVITE both phones so RTP flows phone to phone
    direct_media: bool = True
    #: the Asterisk Manager Interface voiplab uses for CLI commands (local lab only; its secret
    #: is random per lab, in a file only the lab's owner can read)
    ami_port: int = 5038
    #: seconds without RTP after which Asterisk hangs up a dead call
    rtp_timeout: int = 30
    #: seconds between OPTIONS pings to each contact (clears contacts of dead phones)
    qualify_frequency: int = 10


@dataclass(frozen=True)
class DialPlan:
    """The report's dial plan: Answer(500), Dial(PJSIP/account, 25), Hangup()."""

    context: str = "plan-num"
    answer_ms: int = 500
    dial_timeout_s: int = 25


@dataclass(frozen=True)
class AlcatelConfig:
    """The desk phone: simulated (local lab) or the real IP Touch 4018 EE."""

    simulated: bool = True
    #: seconds the simulated phone rings before answering
    ring_s: float = 2.0
    #: the simulated phone hangs up after this many seconds in a call
    max_call_s: float = 60.0
    #: MAC address of the real phone (provisioning file sipconfig-<mac>.txt)
    mac: str = "00:80:9f:12:34:56"
    #: the simulated phone's signal: the tone (Hz) it keys in Morse code, and the text it sends
    signal_hz: float = 1000.0
    morse: str = "IP TOUCH"
    #: percent of the RTP packets the simulated phone drops instead of sending (a loss pattern of its
    #: own, per graded variant); 0: none
    tx_loss_pct: int = 0
    #: the first RTP port the simulated phone tries (the report's sipconfig local_rtp_port)
    rtp_port: int = 42000


@dataclass(frozen=True)
class WebRtcConfig:
    """Chapter 08: Asterisk's TLS HTTP server, secure WebSocket and browser phone."""

    enabled: bool = False
    https_port: int = 8089
    tls_port: int = 5061


@dataclass(frozen=True)
class VariantConfig:
    """Whose graded variant this lab is (``[variant]``, written by ``voiplab exercises variant``).

    Taught in the graded exercises (``voiplab.teach.variants``).
    """

    #: the student id the lab's passwords, numbers, codec and Alcatel signal were drawn for ("": none)
    student: str = ""


@dataclass(frozen=True)
class LabConfig:
    """The whole lab: PBX, accounts, codecs, dial plan, the desk phone.

    Every value is checked when the configuration is made (from a lab.toml or in code):
    whatever reaches an Asterisk or Alcatel file is one of the values those files accept
    (no newline, no comment character, numbers in range), else :class:`ConfigError`.
    """

    pbx: PbxConfig = field(default_factory=PbxConfig)
    accounts: tuple[Account, ...] = DEFAULT_ACCOUNTS
    codecs: tuple[str, ...] = ("ulaw", "alaw")
    dialplan: DialPlan = field(default_factory=DialPlan)
    alcatel: AlcatelConfig = field(default_factory=AlcatelConfig)
    webrtc: WebRtcConfig = field(default_factory=WebRtcConfig)
    language: str = "fr"
    variant: VariantConfig = field(default_factory=VariantConfig)
    #: the file this configuration was read from (None for the built-in defaults)
    source: str | None = None

    def __post_init__(self) -> None:
        _validate(self)

    @property
    def is_local(self) -> bool:
        """True when voiplab runs the PBX itself on this machine."""
        return self.pbx.mode == "local"

    def account(self, name_or_number: str) -> Account:
        """The account named ``name_or_number`` (``"rpi"``) or with that number (``"5002"``).

        Raises:
            ConfigError: no such account in the lab.
        """
        key = str(name_or_number)
        for acc in self.accounts:
            if key in (acc.name, acc.number):
                return acc
        known = ", ".join(f"{a.name}/{a.number}" for a in self.accounts)
        raise ConfigError(
            f"account {key!r} is not in the lab: use one of {known}",
            path=self.source,
            key=f"accounts.{key}",
        )

    def role_of(self, address: str) -> str | None:
        """The lab role ("pbx", "alcatel", ...) of an IP address, if it is one of the lab's."""
        if address == self.pbx.host:
            return "pbx"
        for acc in self.accounts:
            if acc.address == address:
                return acc.name
        return None

    def roles(self) -> dict[str, str]:
        """ip -> lab role, for the lifelines of a ladder diagram.

        ``{"127.0.0.80": "pbx", "127.0.0.81": "alcatel (5001)", "127.0.0.82": "rpi (5002)", ...}`` (root's lab).
        Taught in notebook 04.
        """
        roles = {self.pbx.host: "pbx"}
        for acc in self.accounts:
            roles.setdefault(acc.address, f"{acc.name} ({acc.number})")
        return roles

    def with_overrides(self, **changes: Any) -> LabConfig:
        """A copy with top-level fields replaced (e.g. ``pbx=replace(cfg.pbx, port=5070)``), checked again."""
        return replace(self, **changes)


def default_config(uid: int | None = None) -> LabConfig:
    """The report's local lab on the loopback block of ``uid`` (default: the current user's).

    ``default_config(0)`` is root's lab on 127.0.0.80-83, where the sample captures were recorded.
    """
    if uid is None:
        return LabConfig()
    return LabConfig(pbx=PbxConfig(host=local_address(80, uid)), accounts=_default_accounts(uid))


def config_path(explicit: str | os.PathLike[str] | None = None) -> Path | None:
    """The lab.toml to use: ``explicit``, else ``$VOIPLAB_CONFIG``, else None (defaults)."""
    if explicit:
        return Path(explicit)
    env = os.environ.get("VOIPLAB_CONFIG")
    return Path(env) if env else None


_BOMS = {b"\xff\xfe\x00\x00": "UTF-32", b"\x00\x00\xfe\xff": "UTF-32", b"\xff\xfe": "UTF-16",
         b"\xfe\xff": "UTF-16", b"\xef\xbb\xbf": "UTF-8 with a byte-order mark"}


def _read_text(p: Path) -> str:
    """The text of a lab.toml: a regular UTF-8 file of reasonable size, or a ConfigError."""
    try:
        info = p.stat()
    except FileNotFoundError:
        raise ConfigError(f"lab config {p} was not found: check the path given with --config or VOIPLAB_CONFIG",
                          path=str(p)) from None
    except OSError as e:
        raise ConfigError(f"lab config {p} could not be read ({e.strerror}): check its permissions",
                          path=str(p)) from None
    if not stat.S_ISREG(info.st_mode):
        raise ConfigError(f"lab config {p} is not a regular file: give the path of a lab.toml file", path=str(p))
    if info.st_size > MAX_CONFIG_BYTES:
        raise ConfigError(f"lab config {p} is {info.st_size} bytes, more than a lab.toml can be "
                          f"({MAX_CONFIG_BYTES}): check the path", path=str(p))
    try:
        with open(p, "rb") as f:
            data = f.read(MAX_CONFIG_BYTES + 1)
    except OSError as e:
        raise ConfigError(f"lab config {p} could not be read ({e.strerror}): check its permissions",
                          path=str(p)) from None
    for bom, name in _BOMS.items():
        if data.startswith(bom):
            raise ConfigError(f"lab config {p} is {name}: save it as plain UTF-8 (no byte-order mark)",
                              path=str(p))
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ConfigError(f"lab config {p} is not UTF-8 (byte 0x{data[e.start]:02x} at offset {e.start}): "
                          "save it as UTF-8", path=str(p)) from None


def load_config(path: str | os.PathLike[str] | None = None) -> LabConfig:
    """Read the lab configuration.

    Parameters:
        path: a ``lab.toml``; if None, ``$VOIPLAB_CONFIG``; if unset, the report's lab.

    Returns:
        The validated :class:`LabConfig`.

    Raises:
        ConfigError: the file is missing, not a regular UTF-8 file, not TOML, or a key is
            unknown, of the wrong type or out of range; the message names the file, the key
            and what is allowed.
    """
    p = config_path(path)
    if p is None:
        return LabConfig()
    text = _read_text(p)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"lab config {p} is not valid TOML ({e}): fix the syntax", path=str(p)) from None
    except RecursionError:
        raise ConfigError(f"lab config {p} nests arrays or tables too deeply: a lab.toml has flat tables "
                          "(see the README)", path=str(p)) from None
    return config_from_dict(data, source=str(p))


# ---------------------------------------------------------------------------
# what each value may be


def _fail(source: str | None, key: str, problem: str) -> ConfigError:
    return ConfigError(f"{source or 'the lab config'}: key {key} {problem}", path=source, key=key)


def _control(text: str) -> str | None:
    for ch in text:
        if unicodedata.category(ch).startswith("C"):
            return f"{ch!r}"
    return None


def _text_rule(pattern: re.Pattern[str], allowed: str) -> Callable[[str], str | None]:
    def check(value: str) -> str | None:
        return None if pattern.fullmatch(value) else f"must be {allowed}, not {value!r}"

    return check


def _ip(value: str) -> str | None:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return f"must be an IP address such as 127.0.0.82, not {value!r}"
    return None


def _host(value: str) -> str | None:
    if _ip(value) is None or _HOSTNAME_RE.fullmatch(value):
        return None
    return f"must be an IP address or a host name such as pbx.example.org, not {value!r}"


def _password(value: str) -> str | None:
    bad = sorted({ch for ch in value if ch not in PASSWORD_CHARS})
    if bad:
        return (f"has characters Asterisk's and the Alcatel's files cannot hold ({', '.join(map(repr, bad))}): "
                "use letters, digits and punctuation other than ; # \" ' ` \\")
    if not 4 <= len(value) <= MAX_TEXT:
        return f"must be 4 to {MAX_TEXT} characters long, not {len(value)}"
    return None


def _display_name(value: str) -> str | None:
    control = _control(value)
    if control:
        return f"has the control character {control}: a display name is one line of text"
    bad = sorted({ch for ch in value if ch in DISPLAY_NAME_FORBIDDEN})
    if bad:
        return f"has {', '.join(map(repr, bad))}, which would break the caller ID \"Name\" <number>: remove them"
    if not 1 <= len(value) <= MAX_TEXT or value != value.strip():
        return f"must be 1 to {MAX_TEXT} characters without spaces around, not {value!r}"
    return None


def _range(low: float, high: float, unit: str = "") -> Callable[[float], str | None]:
    def check(value: float) -> str | None:
        if isinstance(value, float) and not math.isfinite(value):
            return f"must be a number between {low:g} and {high:g}{unit}, not {value}"
        return None if low <= value <= high else f"must be between {low:g} and {high:g}{unit}, not {value}"

    return check


def _port(value: int) -> str | None:
    return None if 1 <= value <= 65535 else f"must be a port between 1 and 65535, not {value}"


def _one_of(choices: tuple[str, ...]) -> Callable[[str], str | None]:
    def check(value: str) -> str | None:
        return None if value in choices else f"must be one of {', '.join(choices)}, not {value!r}"

    return check


_NAME = _text_rule(_NAME_RE, "a lower-case name (a letter, then letters, digits, _ or -; at most 32)")
#: key -> the check of its value (a message when wrong); the type is the field's
_RULES: dict[tuple[type, str], Callable[[Any], str | None]] = {
    (Account, "number"): _text_rule(_NUMBER_RE, "2 to 8 digits"),
    (Account, "display_name"): _display_name,
    (Account, "password"): _password,
    (Account, "address"): _ip,
    (Account, "username"): lambda v: None if v == "" or _USERNAME_RE.fullmatch(v) else (
        f"must be a PBX account name (a letter or digit, then letters, digits, . _ or -; at most 40), not {v!r}"),
    (Account, "sip_port"): lambda v: None if 0 <= v <= 65535 else f"must be a port (0 = any), not {v}",
    (PbxConfig, "mode"): _one_of(MODES),
    (PbxConfig, "host"): _host,
    (PbxConfig, "port"): _port,
    (PbxConfig, "rtp_port_min"): _range(1024, 65535),
    (PbxConfig, "rtp_port_max"): _range(1024, 65535),
    (PbxConfig, "ami_port"): _port,
    (PbxConfig, "rtp_timeout"): _range(0, 3600, " s"),
    (PbxConfig, "qualify_frequency"): _range(0, 3600, " s"),
    (DialPlan, "context"): _text_rule(_CONTEXT_RE, "1 to 79 letters, digits, _ or -"),
    (DialPlan, "answer_ms"): _range(0, 10_000, " ms"),
    (DialPlan, "dial_timeout_s"): _range(1, 600, " s"),
    (AlcatelConfig, "ring_s"): _range(0, 60, " s"),
    (AlcatelConfig, "max_call_s"): _range(1, 3600, " s"),
    (AlcatelConfig, "mac"): _text_rule(_MAC_RE, "a MAC address such as 00:80:9f:12:34:56"),
    (AlcatelConfig, "signal_hz"): _range(100, 3500, " Hz"),
    (AlcatelConfig, "morse"): _text_rule(_MORSE_RE, "1 to 24 capital letters or digits, single spaces between "
                                                    "words (Morse code)"),
    (AlcatelConfig, "tx_loss_pct"): _range(0, 20, " %"),
    (AlcatelConfig, "rtp_port"): lambda v: None if 1024 <= v <= 65534 and v % 2 == 0 else (
        f"must be an even port between 1024 and 65534 (RTP takes it, RTCP the next one), not {v}"),
    (VariantConfig, "student"): lambda v: None if v == "" or STUDENT_ID_RE.fullmatch(v) else (
        f"must be a student id (letters, digits and . _ @ + -, at most 64), not {v!r}"),
    (WebRtcConfig, "https_port"): _port,
    (WebRtcConfig, "tls_port"): _port,
}


_KINDS: dict[str, type] = {"str": str, "int": int, "float": float, "bool": bool}


def _check_fields(obj: object, prefix: str, source: str | None) -> None:
    for f in fields(obj):  # type: ignore[arg-type]
        value = getattr(obj, f.name)
        key = f"{prefix}.{f.name}"
        kind = _KINDS.get(str(f.type))
        if kind is not None:
            ok = isinstance(value, kind) and (kind is bool or not isinstance(value, bool))
            if kind is float and isinstance(value, int) and not isinstance(value, bool):
                ok = True
            if not ok:
                raise _fail(source, key, f"must be {kind.__name__}, not {value!r}"[:200])
        if isinstance(value, str) and len(value) > 253:
            raise _fail(source, key, f"is {len(value)} characters long: far too long for this key")
        rule = _RULES.get((type(obj), f.name))
        problem = rule(value) if rule is not None else None
        if problem:
            raise _fail(source, key, problem)


def _validate(cfg: LabConfig) -> None:
    """Check every value of a lab configuration (see :class:`LabConfig`)."""
    src = cfg.source
    _check_fields(cfg.pbx, "pbx", src)
    p = cfg.pbx
    if p.mode == "local" and _ip(p.host):
        raise _fail(src, "pbx.host", f"must be an IP address such as 127.0.0.80 for a local lab, not {p.host!r}")
    if p.rtp_port_max - p.rtp_port_min < 10:
        raise _fail(src, "pbx.rtp_port_max", "must be at least 10 above pbx.rtp_port_min")
    if p.ami_port == p.port:
        raise _fail(src, "pbx.ami_port", f"must differ from pbx.port ({p.port})")
    _check_fields(cfg.dialplan, "dialplan", src)
    _check_fields(cfg.alcatel, "alcatel", src)
    _check_fields(cfg.webrtc, "webrtc", src)
    _check_fields(cfg.variant, "variant", src)
    if not cfg.codecs:
        raise _fail(src, "codecs", 'must be a non-empty list such as ["ulaw", "alaw"]')
    for c in cfg.codecs:
        if c not in CODECS:
            raise _fail(src, "codecs", f"has unknown codec {c!r}: allowed are {', '.join(CODECS)}")
    if len(set(cfg.codecs)) != len(cfg.codecs):
        raise _fail(src, "codecs", f"lists a codec twice ({', '.join(cfg.codecs)}): list each once")
    if not _LANGUAGE_RE.fullmatch(cfg.language):
        raise _fail(src, "language", f"must be a two-letter language code such as fr, not {cfg.language!r}")
    if not cfg.accounts:
        raise _fail(src, "accounts", "must hold at least one account")
    numbers: dict[str, str] = {}
    users: dict[str, str] = {}
    places: dict[tuple[str, int], str] = {}
    for acc in cfg.accounts:
        key = f"accounts.{acc.name}"
        if not _NAME_RE.fullmatch(acc.name):
            raise _fail(src, key, _NAME(acc.name) or "")
        _check_fields(acc, key, src)
        if acc.number in numbers:
            raise _fail(src, f"{key}.number", f"{acc.number} is already used by account {numbers[acc.number]}")
        numbers[acc.number] = acc.name
        if acc.user in users:
            raise _fail(src, f"{key}.username", f"{acc.user} is already the PBX name of account {users[acc.user]}")
        users[acc.user] = acc.name
        if cfg.is_local and acc.address == p.host:
            raise _fail(src, f"{key}.address", f"{acc.address} is the PBX's address: give each phone its own")
        place = (acc.address, acc.sip_port)
        if acc.sip_port and place in places:
            raise _fail(src, f"{key}.address", f"{acc.address}:{acc.sip_port} is already used by account "
                        f"{places[place]}: give each phone its own address (or sip_port)")
        places[place] = acc.name


# ---------------------------------------------------------------------------
# from TOML


def _table(source: str | None, data: dict[str, Any], key: str) -> dict[str, Any]:
    value = data.get(key.rsplit(".", 1)[-1], {})
    if not isinstance(value, dict):
        raise _fail(source, key, f"must be a table ([{key}]), not {type(value).__name__}")
    return value


def _known(source: str | None, data: dict[str, Any], prefix: str, allowed: set[str]) -> None:
    for k in data:
        if k not in allowed:
            raise _fail(source, f"{prefix}.{k}" if prefix else k,
                        f"is unknown: allowed keys are {', '.join(sorted(allowed))}")


def _typed(source: str | None, data: dict[str, Any], key: str, name: str, kind: type, default: Any) -> Any:
    if name not in data:
        return default
    value = data[name]
    full = f"{key}.{name}"
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if (kind is int and isinstance(value, bool)) or not isinstance(value, kind):
        shown = repr(value) if not isinstance(value, (list, dict)) else type(value).__name__
        raise _fail(source, full, f"must be {kind.__name__}, not {shown[:80]}")
    return value


def _section(source: str | None, data: dict[str, Any], name: str, cls: type) -> Any:
    table = _table(source, data, name)
    defaults = cls()
    _known(source, table, name, {f.name for f in fields(cls)})
    return cls(**{f.name: _typed(source, table, name, f.name, type(getattr(defaults, f.name)),
                                 getattr(defaults, f.name)) for f in fields(cls)})


def config_from_dict(data: dict[str, Any], source: str | None = None) -> LabConfig:
    """Build and validate a :class:`LabConfig` from parsed TOML (see :func:`load_config`).

    Raises:
        ConfigError: a key is unknown, of the wrong type or out of range (names the key).
    """
    _known(source, data, "", {"pbx", "accounts", "codecs", "dialplan", "alcatel", "webrtc", "language", "variant"})
    codecs = data.get("codecs", ["ulaw", "alaw"])
    if not isinstance(codecs, list) or not all(isinstance(c, str) for c in codecs):
        raise _fail(source, "codecs", 'must be a non-empty list such as ["ulaw", "alaw"]')
    language = data.get("language", "fr")
    if not isinstance(language, str):
        raise _fail(source, "language", f"must be a two-letter language code such as fr, not {language!r}")
    return LabConfig(
        pbx=_section(source, data, "pbx", PbxConfig),
        accounts=_accounts(source, data),
        codecs=tuple(codecs),
        dialplan=_section(source, data, "dialplan", DialPlan),
        alcatel=_section(source, data, "alcatel", AlcatelConfig),
        webrtc=_section(source, data, "webrtc", WebRtcConfig),
        language=language,
        variant=_section(source, data, "variant", VariantConfig),
        source=source,
    )


def _accounts(source: str | None, data: dict[str, Any]) -> tuple[Account, ...]:
    table = _table(source, data, "accounts")
    by_name = {a.name: a for a in DEFAULT_ACCOUNTS}
    allowed = {f.name for f in fields(Account)} - {"name"}
    for name, entry in table.items():
        key = f"accounts.{name}"
        if not _NAME_RE.fullmatch(name):
            raise _fail(source, key, "must be a lower-case name (a letter, then letters, digits, _ or -; at most 32)")
        if not isinstance(entry, dict):
            raise _fail(source, key, "must be a table ([accounts.NAME])")
        _known(source, entry, key, allowed)
        base = by_name.get(name)
        if base is None:
            missing = [k for k in ("number", "password", "address") if k not in entry]
            if missing:
                raise _fail(source, f"{key}.{missing[0]}", "is required for a new account")
            base = Account(name, "", name, "", "")
        values = {f.name: _typed(source, entry, key, f.name, type(getattr(base, f.name)), getattr(base, f.name))
                  for f in fields(Account) if f.name != "name"}
        by_name[name] = Account(name=name, **values)
    return tuple(by_name.values())
