"""The Alcatel-Lucent IP Touch 4018 EE provisioning files (``sipconfig``): schema, render, validate.

At boot the desk phone (in SIP mode, with a static address and the download server
set in its menu) fetches over HTTP, in this order:

1. ``sipconfig.txt``: the common file of every phone of the site (proxy, registrar,
   codecs, time, tones, polling timers);
2. ``sipconfig-<mac>.txt``: the file of *this* phone (its SIP account); its keys
   override the common ones;
3. the firmware, ``noesip4018`` and ``datsip4018``, which voiplab cannot ship
   (Alcatel-Lucent's, not redistributable).

This module is the files themselves, with no I/O: :data:`KEYS` (every key voiplab
knows, its meaning and allowed values: it drives both the comments of the rendered
files and the validator), :func:`render` (the files of the lab), :func:`parse` /
:func:`settings` (read one), :func:`validate` / :func:`check` (every problem, by line).
Writing, serving and fetching them is :mod:`voiplab.devices.provisioning`.

**File names.** The report's lab served ``sipconfig-<mac in lower case>.txt``; the
vendor's manual shows the MAC in upper case (``sipconfig-00809F5607AE.txt``). voiplab
accepts a MAC in any notation (``00:80:9F:12:34:56``, ``00-80-9f-12-34-56``,
``00809f123456``) and always names the file with 12 lower-case hex digits without
separators (:func:`phone_filename`).

**Format.** INI-like, UTF-8: ``[section]`` lines, ``key=value`` lines, ``#`` comments.
The files carry the SIP password in clear: serve them on the lab LAN only.

Taught in notebook 07 (provisioning the Alcatel).
"""

from __future__ import annotations

import difflib
import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

from ..config import LabConfig
from ..core.payloads import STATIC_PAYLOAD_TYPES
from ..errors import ProvisioningError

__all__ = [
    "COMMON_FILENAME",
    "FIRMWARE_FILES",
    "KEYS",
    "SECTIONS",
    "VOCODERS",
    "KeySpec",
    "Problem",
    "Setting",
    "check",
    "check_set",
    "france_timezone",
    "normalize_mac",
    "parse",
    "phone_filename",
    "render",
    "render_common",
    "render_phone",
    "settings",
    "validate",
    "validate_set",
]

#: the common file every phone fetches first
COMMON_FILENAME = "sipconfig.txt"
#: the phone's own file: sipconfig-<12 hex digits>.txt
PHONE_FILENAME_RE = re.compile(r"^sipconfig-([0-9A-Fa-f]{12})\.txt$")
#: anything that starts like a phone file (to report a malformed MAC in its name)
_PHONE_FILENAME_LIKE_RE = re.compile(r"^sipconfig-(.*)\.txt$")
_MAC_INPUT_RE = re.compile(r"^[0-9A-Fa-f]{2}([:.-]?[0-9A-Fa-f]{2}){5}$")

#: how the phone's manual names its vocoders, by RTP payload type
_MANUAL_VOCODER_NAMES: dict[int, str] = {0: "G.711 mu-law", 4: "G.723.1", 8: "G.711 A-law", 18: "G.729A"}
#: vocoders of the IP Touch 4018 EE, by RTP payload type: the RFC 3551 encoding name (as the
#: SDP of its calls writes it, from :data:`voiplab.core.payloads.STATIC_PAYLOAD_TYPES`), then
#: the manual's name
VOCODERS: dict[int, str] = {pt: f"{STATIC_PAYLOAD_TYPES[pt].encoding} ({name})"
                            for pt, name in _MANUAL_VOCODER_NAMES.items()}
#: the report's preference order: A-law (the European G.711) first
REPORT_VOCODERS = (8, 0, 4, 18)

#: firmware files the phone fetches after its configuration, and what they hold
FIRMWARE_FILES: dict[str, str] = {
    "noesip4018": "the SIP application binary of the IP Touch 4018",
    "datsip4018": "the data file (translations, tones) that goes with the binary",
}

#: Asterisk's default digest realm for PJSIP
DEFAULT_REALM = "asterisk"

# value kinds of KeySpec.kind
KIND_TEXT = "text"          # anything, may be empty
KIND_IP = "ip"              # an IP address
KIND_HOST = "host"          # an IP address or a DNS name
KIND_PORT = "port"          # 1..65535
KIND_INT = "int"            # an integer in low..high
KIND_DIGITS = "digits"      # digits only (admin password)
KIND_VOCODERS = "vocoders"  # comma-separated payload types from VOCODERS
KIND_TIMEZONE = "timezone"  # UT:<name>:<offset min>:<dst start mmddhh>:<dst end mmddhh>

_TIMEZONE_RE = re.compile(r"^UT:[^:]*:[+-]?\d{1,4}:(\d{6})?:(\d{6})?$")
_HOST_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOST_RE = re.compile(rf"^(?=.{{1,253}}$){_HOST_LABEL}(?:\.{_HOST_LABEL})*$")


@dataclass(frozen=True)
class KeySpec:
    """One key of the IP Touch provisioning file: where it goes, what it means, what it allows.

    Attributes:
        section: the ``[section]`` it belongs to.
        name: the key; a name ending in ``*`` stands for a family (``sip_qos_tickets_*``).
        meaning: one line for the ``#`` comment above it and for the notebook.
        kind: one of ``text ip host port int digits vocoders timezone``.
        low, high: the range of an ``int``.
        unit: the unit of an ``int`` ("s", "min"), for messages.
        choices: the meaning of each value of an enumerated ``int``.
        required: the phone needs it filled (it loops rebooting otherwise).
        file: ``"common"`` (sipconfig.txt) or ``"phone"`` (sipconfig-<mac>.txt): where
            voiplab renders it.
    """

    section: str
    name: str
    meaning: str
    kind: str = KIND_TEXT
    low: int | None = None
    high: int | None = None
    unit: str = ""
    choices: Mapping[int, str] = field(default_factory=dict)
    required: bool = False
    file: str = "common"

    @property
    def allowed(self) -> str:
        """The allowed values, in words (for messages and the notebook)."""
        if self.choices:
            return ", ".join(f"{k} ({v})" for k, v in self.choices.items())
        if self.kind == KIND_PORT:
            return "a port 1..65535"
        if self.kind == KIND_INT:
            unit = f" {self.unit}" if self.unit else ""
            return f"{self.low}..{self.high}{unit}"
        if self.kind == KIND_VOCODERS:
            return "comma-separated payload types among " + ", ".join(
                f"{k} {v.split(' ')[0]}" for k, v in VOCODERS.items()
            )
        return {
            KIND_IP: "an IP address",
            KIND_HOST: "an IP address or a host name",
            KIND_DIGITS: "digits only",
            KIND_TIMEZONE: "UT:<name>:<GMT offset in minutes>:<DST start mmddhh>:<DST end mmddhh>",
        }.get(self.kind, "any text")


#: the range of a TCP/UDP port
_PORT_MIN, _PORT_MAX = 1, 65535


def _port(section: str, name: str, meaning: str) -> KeySpec:
    return KeySpec(section, name, meaning, KIND_PORT, _PORT_MIN, _PORT_MAX)


_TRANSPORT = {0: "UDP or TCP", 1: "UDP", 2: "TCP"}

#: Every key voiplab knows (LAB-FACTS chapter 4), in the order it renders them.
KEYS: tuple[KeySpec, ...] = (
    # [dns]
    KeySpec("dns", "dns_addr", "DNS server address; must be filled: without a DNS, put the PBX address",
            KIND_IP, required=True),
    KeySpec("dns", "dns2_addr", "second DNS server address (optional)", KIND_IP),
    KeySpec("dns", "hostname", "the phone's host name (optional)", KIND_HOST, file="phone"),
    # [sip]
    KeySpec("sip", "domain_name", "SIP domain: the host part of the phone's address of record", KIND_HOST),
    KeySpec("sip", "proxy_addr", "SIP proxy the phone sends every request to (the PBX)", KIND_HOST),
    _port("sip", "proxy_port", "SIP port of the proxy (5060)"),
    KeySpec("sip", "registrar_addr", "SIP registrar the phone REGISTERs with (the PBX)", KIND_HOST),
    _port("sip", "registrar_port", "SIP port of the registrar (5060)"),
    KeySpec("sip", "outbound_proxy_addr", "outbound proxy, when one sits between phone and PBX (unused here)",
            KIND_HOST),
    _port("sip", "outbound_proxy_port", "SIP port of the outbound proxy"),
    KeySpec("sip", "proxy2_addr", "backup proxy, for redundancy (unused here)", KIND_HOST),
    _port("sip", "proxy2_port", "SIP port of the backup proxy"),
    KeySpec("sip", "registrar2_addr", "backup registrar, for redundancy (unused here)", KIND_HOST),
    _port("sip", "registrar2_port", "SIP port of the backup registrar"),
    KeySpec("sip", "pcs_addr", "survivability proxy (PCS) used when the main PBX is down (unused here)",
            KIND_HOST),
    _port("sip", "pcs_port", "SIP port of the PCS"),
    KeySpec("sip", "sip_transport_mode_survi", "SIP transport towards the PCS", KIND_INT, 0, 2,
            choices=_TRANSPORT),
    KeySpec("sip", "sip_transport_mode", "SIP transport towards the proxy", KIND_INT, 0, 2,
            choices=_TRANSPORT),
    KeySpec("sip", "option_timer", "seconds between OPTIONS keep-alives to the proxy (0 = none)",
            KIND_INT, 0, 65535, "s"),
    KeySpec("sip", "register_expire", "lifetime asked for in REGISTER (Expires), re-registered before it ends",
            KIND_INT, 1, 65535, "s"),
    KeySpec("sip", "register_retry", "seconds before retrying a failed REGISTER", KIND_INT, 1, 65535, "s"),
    _port("sip", "local_rtp_port", "first local UDP port of the phone's RTP (voice) stream"),
    _port("sip", "local_rtcp_port", "local UDP port of RTCP (RTP port + 1)"),
    KeySpec("sip", "prack_type", "reliable provisional responses (PRACK, RFC 3262)", KIND_INT, 0, 2,
            choices={0: "supported", 1: "required", 2: "disabled"}),
    KeySpec("sip", "preferred_vocoder", "codecs offered in SDP, by RTP payload type, preferred first",
            KIND_VOCODERS),
    KeySpec("sip", "authentication_realm", "digest realm of the PBX's 401 challenge (Asterisk: asterisk)"),
    KeySpec("sip", "authentication_name", "digest user name of the phone's account; must be filled",
            required=True, file="phone"),
    KeySpec("sip", "authentication_password", "digest password of the account (sent only hashed)", file="phone"),
    KeySpec("sip", "user_name", "user part of the phone's SIP address (the Asterisk endpoint/AoR)",
            file="phone"),
    KeySpec("sip", "display_name", "name shown to the called party (From display name)", file="phone"),
    KeySpec("sip", "voice_mail_uri", "number or SIP URI dialled by the voice-mail key (unused here)",
            file="phone"),
    KeySpec("sip", "message_waiting_indication_uri", "URI the phone SUBSCRIBEs to for message waiting",
            file="phone"),
    # [qos]
    KeySpec("qos", "sip_diffserv", "DSCP of SIP packets (24 = CS3, signalling)", KIND_INT, 0, 63),
    KeySpec("qos", "rtp_diffserv", "DSCP of RTP packets (46 = EF, expedited forwarding for voice)",
            KIND_INT, 0, 63),
    KeySpec("qos", "sip_qos_tickets_*", "QoS-ticket settings (call-quality reports); voiplab only checks the name"),
    # [sntp]
    KeySpec("sntp", "sntp_addr", "SNTP time server; a registered phone shows the date and time", KIND_HOST),
    KeySpec("sntp", "timezone", "time zone: UT:<name>:<GMT offset min>:<DST start mmddhh>:<DST end mmddhh>",
            KIND_TIMEZONE),
    # [telnet]
    KeySpec("telnet", "telnet_password", "password of the phone's telnet maintenance access", file="phone"),
    # [arp]
    KeySpec("arp", "arp_spoofing_enable", "protection against ARP spoofing", KIND_INT, 0, 1,
            choices={0: "off", 1: "on"}),
    KeySpec("arp", "arp_spoofing_timer", "seconds between ARP spoofing checks", KIND_INT, 1, 65535, "s"),
    # [init]
    KeySpec("init", "application_mode",
            "0 = SIP, for binaries 1.xx, 2.00.10/2.00.20 and >= 2.00.81", KIND_INT, 0, 255),
    # [audio]
    KeySpec("audio", "tone_country", "country of the tones (dial, ring-back, busy): 1 = French",
            KIND_INT, 0, 255),
    KeySpec("audio", "dtmf_type", "how key presses are sent during a call", KIND_INT, 0, 2,
            choices={0: "RFC 2833 events in RTP", 1: "in-band audio", 2: "SIP INFO"}),
    KeySpec("audio", "dtmf_level", "level of in-band DTMF tones", KIND_INT, -63, 63, "dB"),
    KeySpec("audio", "dtmf_avt_payload_type", "dynamic RTP payload type of RFC 2833 telephone-events",
            KIND_INT, 96, 127),
    KeySpec("audio", "vad", "voice activity detection (silence suppression)", KIND_INT, 0, 1,
            choices={0: "off", 1: "on"}),
    KeySpec("audio", "sidetone_handset", "level of one's own voice heard in the handset", KIND_INT, 0, 255),
    # [appl]
    KeySpec("appl", "admin_password", "password of the phone's admin menu (digits only)", KIND_DIGITS,
            file="phone"),
    KeySpec("appl", "time_format", "clock format on the display", KIND_INT, 0, 1,
            choices={0: "24 h", 1: "12 h"}),
    *(
        KeySpec("appl", f"speed_dial_{n}_{part}", f"speed-dial key {n}: {words}", file="phone")
        for n in range(1, 5)
        for part, words in (("first_name", "first name"), ("last_name", "last name"),
                            ("uri", "number or SIP URI dialled"))
    ),
    # [admin]
    KeySpec("admin", "binary_polling_timer", "minutes between checks for a new firmware", KIND_INT, 10, 65535,
            "min"),
    KeySpec("admin", "config_polling_timer", "minutes between re-downloads of the configuration",
            KIND_INT, 5, 65535, "min"),
)

#: the sections, in rendering order
SECTIONS: tuple[str, ...] = tuple(dict.fromkeys(k.section for k in KEYS))
_BY_SECTION: dict[str, dict[str, KeySpec]] = {s: {k.name: k for k in KEYS if k.section == s} for s in SECTIONS}
_SECTION_OF: dict[str, str] = {k.name: k.section for k in KEYS}

_MEANING_REQUIRED = {
    "authentication_name": "set it to the SIP account name (alcatel in the lab); the phone cannot register "
                           "without it",
    "dns_addr": "set it to the DNS server, or to the PBX address when there is no DNS; "
                "the phone keeps rebooting without it",
}


def _spec(section: str, key: str) -> KeySpec | None:
    table = _BY_SECTION.get(section)
    if table is None:
        return None
    if key in table:
        return table[key]
    for name, spec in table.items():
        if name.endswith("*") and key.startswith(name[:-1]) and len(key) > len(name) - 1:
            return spec
    return None


# ---------------------------------------------------------------------------
# names


def normalize_mac(mac: str) -> str:
    """The MAC address as 12 lower-case hex digits without separators (``00809f123456``).

    Parameters:
        mac: in any usual notation: ``00:80:9F:12:34:56``, ``00-80-9f-12-34-56``,
            ``0080.9f12.3456`` or ``00809F123456``.

    Raises:
        ProvisioningError: it is not a MAC address.

    Taught in notebook 07.
    """
    text = mac.strip()
    compact = re.sub(r"[:.-]", "", text)
    if not (_MAC_INPUT_RE.match(text) or re.fullmatch(r"[0-9A-Fa-f]{4}(\.[0-9A-Fa-f]{4}){2}", text)) \
            or len(compact) != 12:
        raise ProvisioningError(
            f"MAC address {mac!r} is not 12 hex digits: write it like 00:80:9f:12:34:56 "
            "(printed on the label under the phone)"
        )
    return compact.lower()


def phone_filename(mac: str) -> str:
    """The phone's own file name: ``sipconfig-<12 lower-case hex digits>.txt``.

    Taught in notebook 07.
    """
    return f"sipconfig-{normalize_mac(mac)}.txt"


def france_timezone(year: int) -> str:
    """The ``timezone`` value for France in ``year``: GMT+60 min, summer time as the phone wants it.

    The phone takes fixed ``mmddhh`` dates: European summer time starts on the last Sunday
    of March at 02:00 and ends on the last Sunday of October at 03:00, so the value changes
    every year (re-render the file in January; the phone re-reads it every
    ``config_polling_timer`` minutes).

    Taught in notebook 07.
    """
    def last_sunday(month: int) -> date:
        day = date(year, month + 1, 1) - timedelta(days=1)
        return day - timedelta(days=(day.weekday() - 6) % 7)

    start, end = last_sunday(3), last_sunday(10)
    return f"UT::60:{start:%m%d}02:{end:%m%d}03"


# ---------------------------------------------------------------------------
# rendering


def _lab_values(config: LabConfig, account: str, realm: str, year: int) -> dict[str, str | None]:
    """The value of every rendered key (None: rendered commented out, the phone's default)."""
    acc = config.account(account)
    pbx = config.pbx.host
    speed_dials: dict[str, str | None] = {}
    others = [a for a in config.accounts if a.name != acc.name][:4]
    for n, other in enumerate(others, 1):  # one key per other lab phone: chapter 5 calls 5002
        first, _, last = other.display_name.partition(" ")
        speed_dials |= {f"speed_dial_{n}_first_name": first, f"speed_dial_{n}_last_name": last or None,
                        f"speed_dial_{n}_uri": other.number}
    return {
        "dns_addr": pbx,  # no DNS in the lab: the PBX address, as the report did
        "domain_name": pbx,
        "proxy_addr": pbx,
        "proxy_port": str(config.pbx.port),
        "registrar_addr": pbx,
        "registrar_port": str(config.pbx.port),
        "sip_transport_mode": "1",
        "option_timer": "0",
        "register_expire": "3600",
        "register_retry": "300",
        "local_rtp_port": "42000",
        "local_rtcp_port": "42001",
        "prack_type": "0",
        "preferred_vocoder": ",".join(str(p) for p in REPORT_VOCODERS),
        "authentication_realm": realm,
        "authentication_name": acc.name,
        "authentication_password": acc.password,
        "user_name": acc.name,
        "display_name": acc.display_name,
        "sip_diffserv": "24",
        "rtp_diffserv": "46",
        "sntp_addr": pbx,
        "timezone": france_timezone(year),
        "application_mode": "0",
        "tone_country": "1",
        "dtmf_type": "0",
        "dtmf_avt_payload_type": "96",
        "vad": "0",
        "time_format": "0",
        "binary_polling_timer": "1440",
        "config_polling_timer": "60",
        **speed_dials,
    }


def _render(which: str, title: list[str], values: Mapping[str, str | None]) -> str:
    lines = [f"# {t}" if t else "#" for t in title]
    for section in SECTIONS:
        specs = [k for k in KEYS if k.section == section and k.file == which]
        if not specs:
            continue
        lines += ["", f"[{section}]"]
        for spec in specs:
            comment = f"# {spec.name}: {spec.meaning}"
            if spec.choices:
                comment += " [" + ", ".join(f"{k} {v}" for k, v in spec.choices.items()) + "]"
            elif spec.kind == KIND_INT:
                comment += f" [{spec.allowed}]"
            lines.append(comment)
            value = values.get(spec.name)
            if spec.name.endswith("*"):
                continue  # a family of keys: documented, never rendered
            lines.append(f"{spec.name}={value}" if value is not None else f"#{spec.name}=")
    return "\n".join(lines) + "\n"


def render_common(config: LabConfig | None = None, *, year: int | None = None,
                  realm: str = DEFAULT_REALM, account: str = "alcatel") -> str:
    """Render ``sipconfig.txt``, the file common to every phone, from the lab config.

    Every key voiplab knows for that file is present with its meaning as a ``#`` comment;
    keys the lab leaves at the phone's default are rendered commented out (``#key=``).

    Parameters:
        config: the lab (default: the report's lab).
        year: the year of the summer-time dates of ``timezone`` (default: this year).
        realm: the PBX's digest realm.
        account: the lab account of the phone.

    Taught in notebook 07.
    """
    config = config or LabConfig()
    values = _lab_values(config, account, realm, year or date.today().year)
    title = [
        f"{COMMON_FILENAME}: common provisioning file of the lab's Alcatel-Lucent IP Touch 4018 EE phones",
        "Rendered by voiplab from the lab config. INI-like, UTF-8: [section], key=value, # comments.",
        "The phone downloads it over HTTP at boot, then its own sipconfig-<mac>.txt whose keys",
        "override these, then its firmware (noesip4018, datsip4018).",
        "'#key=' lines are keys left at the phone's default.",
    ]
    return _render("common", title, values)


def render_phone(config: LabConfig | None = None, *, mac: str | None = None,
                 account: str = "alcatel") -> str:
    """Render ``sipconfig-<mac>.txt``, the phone's own file (its SIP account).

    Parameters:
        config: the lab (default: the report's lab).
        mac: the phone's MAC address in any notation (default: ``config.alcatel.mac``).
        account: the lab account of the phone (``alcatel``, 5001).

    Raises:
        ProvisioningError: ``mac`` is not a MAC address.
        ConfigError: ``account`` is not in the lab.

    Taught in notebook 07.
    """
    config = config or LabConfig()
    name = phone_filename(mac or config.alcatel.mac)
    acc = config.account(account)
    values = _lab_values(config, account, DEFAULT_REALM, 2000)
    title = [
        f"{name}: provisioning file of the phone with MAC {normalize_mac(mac or config.alcatel.mac)}",
        f"account {acc.name}, number {acc.number}, registered at {config.pbx.host}:{config.pbx.port}",
        "Rendered by voiplab. It holds the SIP password in clear: serve it on the lab LAN only.",
    ]
    return _render("phone", title, values)


def render(config: LabConfig | None = None, *, mac: str | None = None, year: int | None = None,
           account: str = "alcatel") -> dict[str, str]:
    """Both files, as ``{file name: text}`` (the common one first).

    Taught in notebook 07.
    """
    config = config or LabConfig()
    mac = mac or config.alcatel.mac
    return {
        COMMON_FILENAME: render_common(config, year=year, account=account),
        phone_filename(mac): render_phone(config, mac=mac, account=account),
    }


# ---------------------------------------------------------------------------
# parsing and validation


@dataclass(frozen=True)
class Problem:
    """One problem found by :func:`validate`.

    Attributes:
        line: 1-based line number, or None for the whole file (its name, a missing key).
        key: the key concerned (or the ``[section]``), or None.
        message: "<what> is <problem>: <what to do>".
        file: the file name, when known.
    """

    line: int | None
    key: str | None
    message: str
    file: str | None = None

    def __str__(self) -> str:
        where = f"line {self.line}" if self.line is not None else "file"
        if self.file:
            where = f"{self.file} {where}"
        return f"{where}: {self.message}"


@dataclass(frozen=True)
class Setting:
    """One ``key=value`` line of a provisioning file."""

    line: int
    section: str | None
    key: str
    value: str


_SECTION_RE = re.compile(r"^\[([^\]]*)\]$")
_KEY_RE = re.compile(r"^([A-Za-z0-9_]+)\s*=(.*)$")


def _lines(text: str | bytes) -> tuple[list[str], list[Problem]]:
    problems: list[Problem] = []
    if isinstance(text, bytes):
        data = text
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as e:
            line = data[: e.start].count(b"\n") + 1
            problems.append(Problem(line, None, "line is not UTF-8: save the file as UTF-8"))
            text = data.decode("utf-8", errors="replace")
    if text.startswith("\ufeff"):
        problems.append(Problem(1, None, "file starts with a byte order mark (BOM): save it as UTF-8 without BOM"))
        text = text[1:]
    return text.splitlines(), problems


def parse(text: str | bytes) -> list[Setting]:
    """The ``key=value`` lines of a provisioning file, with their line and section.

    Lines that are neither are skipped here (:func:`validate` reports them).

    Taught in notebook 07.
    """
    lines, _ = _lines(text)
    section: str | None = None
    out = []
    for number, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if m := _SECTION_RE.match(line):
            section = m.group(1).strip()
        elif m := _KEY_RE.match(line):
            out.append(Setting(number, section, m.group(1), m.group(2).strip()))
    return out


def settings(text: str | bytes) -> dict[str, dict[str, str]]:
    """The file as ``{section: {key: value}}`` (the last value wins for a repeated key).

    Taught in notebook 07.
    """
    out: dict[str, dict[str, str]] = {}
    for s in parse(text):
        out.setdefault(s.section or "", {})[s.key] = s.value
    return out


def _check_value(spec: KeySpec, value: str) -> str | None:
    """The problem with ``value`` for ``spec`` (without the key name), or None."""
    key = spec.name
    if value == "":
        if spec.required:
            return f"{key} is empty: {_MEANING_REQUIRED.get(key, 'fill it')}"
        return None
    if spec.kind in (KIND_PORT, KIND_INT):
        if not re.fullmatch(r"[+-]?\d{1,10}", value):
            return f"{key} is {value!r}, not a number: use {spec.allowed}"
        number = int(value)
        assert spec.low is not None and spec.high is not None
        if not spec.low <= number <= spec.high:
            return f"{key} is {number}, out of range: use {spec.allowed}"
        if spec.choices and number not in spec.choices:
            return f"{key} is {number}, not a known value: use {spec.allowed}"
    elif spec.kind == KIND_IP:
        try:
            ipaddress.ip_address(value)
        except ValueError:
            return f"{key} is {value!r}, not an IP address: write it like 192.168.1.80"
    elif spec.kind == KIND_HOST:
        bad = not _HOST_RE.match(value)
        if not bad and re.fullmatch(r"[0-9.]+", value):
            try:
                ipaddress.ip_address(value)
            except ValueError:
                bad = True
        if bad:
            return f"{key} is {value!r}, not an IP address or host name: write it like 192.168.1.80"
    elif spec.kind == KIND_DIGITS:
        if not value.isdigit() or not value.isascii():
            return f"{key} is {value!r}, not digits only: the phone's keypad can only type digits"
    elif spec.kind == KIND_VOCODERS:
        items = [v.strip() for v in value.split(",")]
        seen: set[int] = set()
        for item in items:
            if not item.isdigit() or int(item) not in VOCODERS:
                return (f"{key} has {item!r}, not a vocoder of the phone: use {spec.allowed} "
                        "(e.g. 8,0,4,18)")
            if int(item) in seen:
                return f"{key} lists {item} twice: list each payload type once"
            seen.add(int(item))
    elif spec.kind == KIND_TIMEZONE and not _TIMEZONE_RE.match(value):
        return f"{key} is {value!r}, not a time zone: use {spec.allowed} (France: {france_timezone(2025)})"
    return None


def _filename_problem(filename: str) -> Problem | None:
    name = Path(filename).name
    if name == COMMON_FILENAME or PHONE_FILENAME_RE.match(name):
        return None
    m = _PHONE_FILENAME_LIKE_RE.match(name)
    if m:
        return Problem(None, None, f"file name {name} has a malformed MAC {m.group(1)!r}: name it "
                       "sipconfig-<12 hex digits>.txt, e.g. sipconfig-00809f123456.txt", name)
    return Problem(None, None, f"file name {name} is not one the phone asks for: name it {COMMON_FILENAME} "
                   "or sipconfig-<mac>.txt", name)


def validate(text: str | bytes, filename: str | None = None) -> list[Problem]:
    """Every problem of a provisioning file, by line.

    Checks: lines are ``[section]``, ``key=value``, ``#`` comments or blank; sections and
    keys are known (:data:`KEYS`); no key is repeated in a section; values are in range
    (ports 1..65535, DSCP 0..63, polling timers, transport modes, ``prack_type``,
    ``dtmf_type``, vocoders 0/4/8/18 only, ...); ``authentication_name`` and ``dns_addr``
    are not empty; with ``filename``, the MAC in the name is well formed.

    Returns:
        The problems, sorted by line (an empty list: the file is good).

    Taught in notebook 07.
    """
    lines, problems = _lines(text)
    if filename is not None and (p := _filename_problem(filename)):
        problems.append(p)
    section: str | None = None
    section_known = True
    seen: dict[tuple[str | None, str], int] = {}
    for number, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if m := _SECTION_RE.match(line):
            section = m.group(1).strip()
            section_known = section in _BY_SECTION
            if not section_known:
                hint = difflib.get_close_matches(section.lower(), SECTIONS, n=1)
                if section.lower() in SECTIONS:
                    todo = f"section names are lower case, write [{section.lower()}]"
                elif hint:
                    todo = f"did you mean [{hint[0]}]?"
                else:
                    todo = "use one of " + ", ".join(f"[{s}]" for s in SECTIONS)
                problems.append(Problem(number, f"[{section}]", f"section [{section}] is unknown: {todo}"))
            continue
        m = _KEY_RE.match(line)
        if not m:
            problems.append(Problem(number, None, f"line {line[:40]!r} is neither a [section], a key=value nor "
                                    "a # comment: fix it or comment it out with #"))
            continue
        key, value = m.group(1), m.group(2).strip()
        if section is None:
            home = _SECTION_OF.get(key)
            todo = f"put it under [{home}]" if home else "put it under its [section]"
            problems.append(Problem(number, key, f"key {key} is outside any section: {todo}"))
            continue
        if (section, key) in seen:
            problems.append(Problem(number, key, f"key {key} is repeated in [{section}] (first on line "
                                    f"{seen[(section, key)]}): keep only one"))
            continue
        seen[(section, key)] = number
        if not section_known:
            continue  # already reported on the section line
        spec = _spec(section, key)
        if spec is None:
            home = _SECTION_OF.get(key)
            if home:
                todo = f"it belongs in [{home}]"
            else:
                hint = difflib.get_close_matches(key, list(_BY_SECTION[section]), n=1)
                anywhere = difflib.get_close_matches(key, list(_SECTION_OF), n=1)
                if hint:
                    todo = f"did you mean {hint[0]}?"
                elif anywhere:
                    todo = f"did you mean {anywhere[0]} (in [{_SECTION_OF[anywhere[0]]}])?"
                else:
                    todo = "check its spelling in the phone's SIP manual"
            problems.append(Problem(number, key, f"key {key} is unknown in [{section}]: {todo}"))
            continue
        if problem := _check_value(spec, value):
            problems.append(Problem(number, key, problem))
    if filename is not None:
        problems = [p if p.file else Problem(p.line, p.key, p.message, Path(filename).name) for p in problems]
    return sorted(problems, key=lambda p: (p.line or 0))


def validate_set(files: Mapping[str, str | bytes]) -> list[Problem]:
    """Validate the files of one phone together (``{file name: text}``).

    Each file is validated alone, then the keys the phone needs (``authentication_name``,
    ``dns_addr``) must be set in one of them, as the phone merges the two files.

    Taught in notebook 07.
    """
    problems: list[Problem] = []
    present: set[str] = set()
    for name, text in files.items():
        problems += validate(text, name)
        present |= {f"{s.section}.{s.key}" for s in parse(text) if s.value}
    names = " and ".join(Path(n).name for n in files)
    for spec in KEYS:
        if spec.required and f"{spec.section}.{spec.name}" not in present:
            problems.append(Problem(None, spec.name, f"{spec.name} is missing from {names}: add it under "
                                    f"[{spec.section}]; {_MEANING_REQUIRED.get(spec.name, 'fill it')}"))
    return problems


def _problems_message(what: str, problems: list[Problem]) -> str:
    count = f"{len(problems)} problem" + ("s" if len(problems) > 1 else "")
    return f"{what} has {count}: fix them before the phone downloads it\n" + \
        "\n".join(f"  {p}" for p in problems)


def check(text: str | bytes, filename: str | None = None) -> None:
    """Raise :class:`ProvisioningError` listing every problem by line, if there is any.

    Taught in notebook 07.
    """
    problems = validate(text, filename)
    if problems:
        raise ProvisioningError(_problems_message(Path(filename).name if filename else "provisioning file",
                                                  problems))


def check_set(files: Mapping[str, str | bytes], what: str = "the provisioning files") -> None:
    """Raise :class:`ProvisioningError` listing every problem of one phone's files (:func:`validate_set`).

    Parameters:
        files: ``{file name: text}``, the common file and the phone's.
        what: how the message names them.

    Taught in notebook 07 (``write_files`` checks what it renders with it).
    """
    problems = validate_set(files)
    if problems:
        raise ProvisioningError(_problems_message(what, problems))

