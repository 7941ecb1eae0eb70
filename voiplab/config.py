"""The lab configuration: ``lab.toml``.

The defaults *are* the report's lab (``LAB-FACTS.md``), moved onto loopback
addresses so that the whole lab runs on one machine:

=========  ======  ====================  ==========  ============
account    number  display name          password    local address
=========  ======  ====================  ==========  ============
alcatel    5001    Alcatel IP Touch      11111111    127.0.0.81
rpi        5002    Raspberry Pi          22222222    127.0.0.82
guillaume  5003    Guillaume Nibert      33333333    127.0.0.83
=========  ======  ====================  ==========  ============

The PBX listens on 127.0.0.80:5060. A classroom points voiplab at the course
server with a ``lab.toml`` (``--config FILE`` or ``VOIPLAB_CONFIG``)::

    [pbx]
    mode = "classroom"
    host = "192.168.1.80"

    [accounts.rpi]
    address = "192.168.1.82"

    [alcatel]
    simulated = false

Taught in notebook 00 (lab check) and 02 (the Asterisk PBX).
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
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
    "LabConfig",
    "load_config",
    "config_path",
    "DEFAULT_ACCOUNTS",
    "CODECS",
]

#: Codecs Asterisk may offer in this lab, by their Asterisk names.
CODECS = ("ulaw", "alaw", "g722", "gsm", "opus")
MODES = ("local", "classroom")
_NAME_RE = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
_NUMBER_RE = re.compile(r"^[0-9]{2,8}$")
_MAC_RE = re.compile(r"^[0-9a-fA-F]{2}([:-]?[0-9a-fA-F]{2}){5}$")


@dataclass(frozen=True)
class Account:
    """One SIP account of the lab: a PJSIP endpoint + auth + aor on Asterisk."""

    name: str
    number: str
    display_name: str
    password: str
    address: str
    #: port the phone binds its SIP transport to (0 = any free port)
    sip_port: int = 5060
    #: True for accounts a browser (WebRTC) may use in chapter 08
    webrtc: bool = False

    def __repr__(self) -> str:
        return f"Account({self.name}/{self.number} {self.display_name!r} at {self.address})"


DEFAULT_ACCOUNTS: tuple[Account, ...] = (
    Account("alcatel", "5001", "Alcatel IP Touch", "11111111", "127.0.0.81"),
    Account("rpi", "5002", "Raspberry Pi", "22222222", "127.0.0.82", webrtc=True),
    Account("guillaume", "5003", "Guillaume Nibert", "33333333", "127.0.0.83", webrtc=True),
)


@dataclass(frozen=True)
class PbxConfig:
    """Where the Asterisk PBX is and how voiplab runs it."""

    #: "local": voiplab starts a real Asterisk on loopback; "classroom": the course server.
    mode: str = "local"
    host: str = "127.0.0.80"
    port: int = 5060
    #: fixed RTP port range (rtp.conf) so captures and firewalls are predictable
    rtp_port_min: int = 10000
    rtp_port_max: int = 10999
    #: PJSIP direct_media: after answer, re-INVITE both phones so RTP flows phone to phone
    direct_media: bool = True
    #: Asterisk Manager Interface used by voiplab for CLI commands (local lab only)
    ami_port: int = 5038
    ami_user: str = "voiplab"
    ami_secret: str = "voiplab-ami"
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


@dataclass(frozen=True)
class WebRtcConfig:
    """Chapter 08: Asterisk's TLS HTTP server, secure WebSocket and browser phone."""

    enabled: bool = False
    https_port: int = 8089
    tls_port: int = 5061


@dataclass(frozen=True)
class LabConfig:
    """The whole lab: PBX, accounts, codecs, dial plan, the desk phone."""

    pbx: PbxConfig = field(default_factory=PbxConfig)
    accounts: tuple[Account, ...] = DEFAULT_ACCOUNTS
    codecs: tuple[str, ...] = ("ulaw", "alaw")
    dialplan: DialPlan = field(default_factory=DialPlan)
    alcatel: AlcatelConfig = field(default_factory=AlcatelConfig)
    webrtc: WebRtcConfig = field(default_factory=WebRtcConfig)
    language: str = "fr"
    #: the file this configuration was read from (None for the built-in defaults)
    source: str | None = None

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

        ``{"127.0.0.80": "pbx", "127.0.0.81": "alcatel (5001)", "127.0.0.82": "rpi (5002)", ...}``.
        Taught in notebook 04.
        """
        roles = {self.pbx.host: "pbx"}
        for acc in self.accounts:
            roles.setdefault(acc.address, f"{acc.name} ({acc.number})")
        return roles

    def with_overrides(self, **changes: Any) -> LabConfig:
        """A copy with top-level fields replaced (e.g. ``pbx=replace(cfg.pbx, port=5070)``)."""
        return replace(self, **changes)


def config_path(explicit: str | os.PathLike[str] | None = None) -> Path | None:
    """The lab.toml to use: ``explicit``, else ``$VOIPLAB_CONFIG``, else None (defaults)."""
    if explicit:
        return Path(explicit)
    env = os.environ.get("VOIPLAB_CONFIG")
    return Path(env) if env else None


def load_config(path: str | os.PathLike[str] | None = None) -> LabConfig:
    """Read the lab configuration.

    Parameters:
        path: a ``lab.toml``; if None, ``$VOIPLAB_CONFIG``; if unset, the report's lab.

    Returns:
        The validated :class:`LabConfig`.

    Raises:
        ConfigError: the file is missing, not TOML, or a key is unknown or out of range;
            the message names the file, the key and what is allowed.
    """
    p = config_path(path)
    if p is None:
        return LabConfig()
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"lab config {p} was not found: check the path given with --config or VOIPLAB_CONFIG",
            path=str(p),
        ) from None
    except OSError as e:
        raise ConfigError(f"lab config {p} could not be read ({e.strerror}): check its permissions",
                          path=str(p)) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"lab config {p} is not valid TOML ({e}): fix the syntax", path=str(p)) from None
    return config_from_dict(data, source=str(p))


# ---------------------------------------------------------------------------
# validation


class _Checker:
    def __init__(self, source: str | None):
        self.source = source

    def fail(self, key: str, problem: str) -> ConfigError:
        where = self.source or "the lab config"
        return ConfigError(f"{where}: key {key} {problem}", path=self.source, key=key)

    def table(self, data: dict[str, Any], key: str) -> dict[str, Any]:
        value = data.get(key.rsplit(".", 1)[-1], {})
        if not isinstance(value, dict):
            raise self.fail(key, f"must be a table ([{key}]), not {type(value).__name__}")
        return value

    def known(self, data: dict[str, Any], prefix: str, allowed: set[str]) -> None:
        for k in data:
            if k not in allowed:
                raise self.fail(
                    f"{prefix}.{k}" if prefix else k,
                    f"is unknown: allowed keys are {', '.join(sorted(allowed))}",
                )

    def typed(self, data: dict[str, Any], prefix: str, key: str, kind: type, default: Any) -> Any:
        if key not in data:
            return default
        value = data[key]
        full = f"{prefix}.{key}"
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if kind is int and isinstance(value, bool) or not isinstance(value, kind):
            raise self.fail(full, f"must be {kind.__name__}, not {value!r}")
        return value

    def port(self, key: str, value: int) -> None:
        if not 1 <= value <= 65535:
            raise self.fail(key, f"must be a port between 1 and 65535, not {value}")

    def ip(self, key: str, value: str) -> None:
        try:
            ipaddress.ip_address(value)
        except ValueError:
            raise self.fail(key, f"must be an IP address such as 127.0.0.82, not {value!r}") from None


def _section(chk: _Checker, data: dict[str, Any], name: str, cls: type, checks: dict[str, Any] | None = None) -> Any:
    table = chk.table(data, name)
    defaults = cls()
    names = {f.name for f in fields(cls)}
    chk.known(table, name, names)
    values = {}
    for f in fields(cls):
        default = getattr(defaults, f.name)
        values[f.name] = chk.typed(table, name, f.name, type(default), default)
    return cls(**values)


def config_from_dict(data: dict[str, Any], source: str | None = None) -> LabConfig:
    """Build and validate a :class:`LabConfig` from parsed TOML (see :func:`load_config`)."""
    chk = _Checker(source)
    chk.known(data, "", {"pbx", "accounts", "codecs", "dialplan", "alcatel", "webrtc", "language"})
    pbx = _section(chk, data, "pbx", PbxConfig)
    if pbx.mode not in MODES:
        raise chk.fail("pbx.mode", f"must be one of {', '.join(MODES)}, not {pbx.mode!r}")
    chk.port("pbx.port", pbx.port)
    chk.port("pbx.ami_port", pbx.ami_port)
    if not pbx.host:
        raise chk.fail("pbx.host", "must name the PBX (an IP address or host name)")
    if pbx.mode == "local":
        chk.ip("pbx.host", pbx.host)
    for k in ("rtp_port_min", "rtp_port_max"):
        chk.port(f"pbx.{k}", getattr(pbx, k))
    if pbx.rtp_port_max - pbx.rtp_port_min < 10:
        raise chk.fail("pbx.rtp_port_max", "must be at least 10 above pbx.rtp_port_min")
    if pbx.rtp_timeout < 0 or pbx.qualify_frequency < 0:
        raise chk.fail("pbx.rtp_timeout", "and pbx.qualify_frequency must be >= 0")

    dialplan = _section(chk, data, "dialplan", DialPlan)
    if not 0 <= dialplan.answer_ms <= 10_000:
        raise chk.fail("dialplan.answer_ms", f"must be between 0 and 10000 ms, not {dialplan.answer_ms}")
    if not 1 <= dialplan.dial_timeout_s <= 600:
        raise chk.fail("dialplan.dial_timeout_s", f"must be between 1 and 600 s, not {dialplan.dial_timeout_s}")
    if not re.match(r"^[A-Za-z0-9_-]+$", dialplan.context):
        raise chk.fail("dialplan.context", "must be letters, digits, _ or -")

    alcatel = _section(chk, data, "alcatel", AlcatelConfig)
    if not 0 <= alcatel.ring_s <= 60:
        raise chk.fail("alcatel.ring_s", f"must be between 0 and 60 s, not {alcatel.ring_s}")
    if not 1 <= alcatel.max_call_s <= 3600:
        raise chk.fail("alcatel.max_call_s", f"must be between 1 and 3600 s, not {alcatel.max_call_s}")
    if not _MAC_RE.match(alcatel.mac):
        raise chk.fail("alcatel.mac", f"must be a MAC address such as 00:80:9f:12:34:56, not {alcatel.mac!r}")

    webrtc = _section(chk, data, "webrtc", WebRtcConfig)
    chk.port("webrtc.https_port", webrtc.https_port)
    chk.port("webrtc.tls_port", webrtc.tls_port)

    codecs = data.get("codecs", ["ulaw", "alaw"])
    if not isinstance(codecs, list) or not codecs or not all(isinstance(c, str) for c in codecs):
        raise chk.fail("codecs", 'must be a non-empty list such as ["ulaw", "alaw"]')
    for c in codecs:
        if c not in CODECS:
            raise chk.fail("codecs", f"has unknown codec {c!r}: allowed are {', '.join(CODECS)}")

    language = data.get("language", "fr")
    if not isinstance(language, str) or not re.match(r"^[a-z]{2}$", language):
        raise chk.fail("language", f"must be a two-letter language code such as fr, not {language!r}")

    accounts = _accounts(chk, data)
    return LabConfig(
        pbx=pbx,
        accounts=accounts,
        codecs=tuple(codecs),
        dialplan=dialplan,
        alcatel=alcatel,
        webrtc=webrtc,
        language=language,
        source=source,
    )


def _accounts(chk: _Checker, data: dict[str, Any]) -> tuple[Account, ...]:
    table = chk.table(data, "accounts")
    by_name = {a.name: a for a in DEFAULT_ACCOUNTS}
    allowed = {f.name for f in fields(Account)} - {"name"}
    for name, entry in table.items():
        key = f"accounts.{name}"
        if not _NAME_RE.match(name):
            raise chk.fail(key, "must be a lower-case name (letters, digits, _ or -)")
        if not isinstance(entry, dict):
            raise chk.fail(key, "must be a table ([accounts.NAME])")
        chk.known(entry, key, allowed)
        base = by_name.get(name)
        if base is None:
            missing = [k for k in ("number", "password", "address") if k not in entry]
            if missing:
                raise chk.fail(f"{key}.{missing[0]}", "is required for a new account")
            base = Account(name, "", name, "", "")
        values = {}
        for f in fields(Account):
            if f.name == "name":
                continue
            default = getattr(base, f.name)
            values[f.name] = chk.typed(entry, key, f.name, type(default), default)
        acc = Account(name=name, **values)
        if not _NUMBER_RE.match(acc.number):
            raise chk.fail(f"{key}.number", f"must be 2 to 8 digits, not {acc.number!r}")
        if not acc.password:
            raise chk.fail(f"{key}.password", "must not be empty")
        chk.ip(f"{key}.address", acc.address)
        if not 0 <= acc.sip_port <= 65535:
            raise chk.fail(f"{key}.sip_port", f"must be a port (0 = any), not {acc.sip_port}")
        by_name[name] = acc
    accounts = tuple(by_name.values())
    seen: dict[str, str] = {}
    for acc in accounts:
        if acc.number in seen:
            raise chk.fail(f"accounts.{acc.name}.number",
                           f"{acc.number} is already used by account {seen[acc.number]}")
        seen[acc.number] = acc.name
    return accounts
