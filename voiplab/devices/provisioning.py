"""Provisioning the Alcatel-Lucent IP Touch 4018 EE: render, validate and serve its files.

At boot the desk phone (in SIP mode, with a static address and the download server
set in its menu) fetches over HTTP from the server, in this order:

1. ``sipconfig.txt``: the common file of every phone of the site (proxy, registrar,
   codecs, time, tones, polling timers);
2. ``sipconfig-<mac>.txt``: the file of *this* phone (its SIP account); its keys
   override the common ones;
3. the firmware, ``noesip4018`` and ``datsip4018``, which voiplab cannot ship
   (Alcatel-Lucent's, not redistributable).

**File names.** The report's lab served ``sipconfig-<mac in lower case>.txt``; the
vendor's manual shows the MAC in upper case (``sipconfig-00809F5607AE.txt``). voiplab
accepts a MAC in any notation (``00:80:9F:12:34:56``, ``00-80-9f-12-34-56``,
``00809f123456``), always *writes* 12 lower-case hex digits without separators, and its
server answers a request for the upper-case name with the lower-case file.

**Format.** INI-like, UTF-8: ``[section]`` lines, ``key=value`` lines, ``#`` comments.
One table, :data:`KEYS`, lists every key voiplab knows with its meaning and allowed
values; it drives both the comments of the rendered files and the validator.

**Why HTTP and not HTTPS.** The phone trusts only its vendor's CA, so HTTPS to a lab
server fails; the report chose HTTP over TCP rather than TFTP. The files carry the SIP
password in clear: serve them on the lab LAN only.

Taught in notebook 07 (provisioning the Alcatel).
"""

from __future__ import annotations

import difflib
import http.client
import ipaddress
import logging
import os
import re
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Self
from urllib.parse import unquote, urlsplit

from ..config import LabConfig
from ..errors import ProvisioningError

__all__ = [
    "COMMON_FILENAME",
    "FIRMWARE_FILES",
    "KEYS",
    "SECTIONS",
    "VOCODERS",
    "FetchLogEntry",
    "KeySpec",
    "Problem",
    "ProvisioningFiles",
    "ProvisioningServer",
    "Setting",
    "boot_fetch",
    "check",
    "fetch",
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
    "write_files",
]

log = logging.getLogger("voiplab.devices.provisioning")
log.addHandler(logging.NullHandler())  # the application (CLI, notebook) decides where logs go

#: the common file every phone fetches first
COMMON_FILENAME = "sipconfig.txt"
#: the phone's own file: sipconfig-<12 hex digits>.txt
PHONE_FILENAME_RE = re.compile(r"^sipconfig-([0-9A-Fa-f]{12})\.txt$")
#: anything that starts like a phone file (to report a malformed MAC in its name)
_PHONE_FILENAME_LIKE_RE = re.compile(r"^sipconfig-(.*)\.txt$")
_MAC_INPUT_RE = re.compile(r"^[0-9A-Fa-f]{2}([:.-]?[0-9A-Fa-f]{2}){5}$")

#: vocoders of the IP Touch 4018 EE, by RTP payload type
VOCODERS: dict[int, str] = {0: "PCMU (G.711 mu-law)", 4: "G.723.1", 8: "PCMA (G.711 A-law)", 18: "G.729A"}
#: the report's preference order: A-law (the European G.711) first
REPORT_VOCODERS = (8, 0, 4, 18)

#: firmware files the phone fetches after its configuration, and what they hold
FIRMWARE_FILES: dict[str, str] = {
    "noesip4018": "the SIP application binary of the IP Touch 4018",
    "datsip4018": "the data file (translations, tones) that goes with the binary",
}
FIRMWARE_MISSING = (
    "{name} is not shipped with voiplab: the firmware is Alcatel-Lucent's and not "
    "redistributable; copy it from your phone vendor into {directory}"
)

#: User-Agent of :func:`fetch`, shaped like the phone's
PHONE_USER_AGENT = "Alcatel-Lucent IP Touch 4018 EE SIP (voiplab)"

DEFAULT_HOST = "127.0.0.80"
DEFAULT_PORT = 8080
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


def _port(section: str, name: str, meaning: str, **kw: Any) -> KeySpec:
    return KeySpec(section, name, meaning, KIND_PORT, 1, 65535, **kw)


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


@dataclass(frozen=True)
class ProvisioningFiles:
    """The two files written by :func:`write_files`."""

    common: Path
    phone: Path

    def __iter__(self) -> Any:
        return iter((self.common, self.phone))


def write_files(out_dir: str | os.PathLike[str], config: LabConfig | None = None, *,
                mac: str | None = None, year: int | None = None, account: str = "alcatel") -> ProvisioningFiles:
    """Render, validate and write ``sipconfig.txt`` and ``sipconfig-<mac>.txt`` into ``out_dir``.

    Raises:
        ProvisioningError: the MAC is malformed, the rendered files do not validate, or
            the directory cannot be written.

    Taught in notebook 07.
    """
    files = render(config, mac=mac, year=year, account=account)
    problems = validate_set(files)
    if problems:
        raise ProvisioningError(_problems_message("the rendered provisioning files", problems))
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
        paths = []
        for name, text in files.items():
            path = out / name
            path.write_text(text, encoding="utf-8", newline="\n")
            paths.append(path)
    except OSError as e:
        raise ProvisioningError(
            f"provisioning directory {out} could not be written ({e.strerror}): choose a writable --out"
        ) from None
    return ProvisioningFiles(paths[0], paths[1])


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


# ---------------------------------------------------------------------------
# the HTTP server


@dataclass(frozen=True)
class FetchLogEntry:
    """One request the provisioning server answered.

    Attributes:
        time: Unix time of the answer.
        client: the phone's address.
        method: GET or HEAD.
        path: the path asked for (as sent).
        file: the file served (relative to the directory), or None.
        status: the HTTP status sent.
        bytes: the body bytes sent.
        note: why it failed, in words ("" when served).
    """

    time: float
    client: str
    method: str
    path: str
    file: str | None
    status: int
    bytes: int
    note: str = ""

    def __str__(self) -> str:
        clock = time.strftime("%H:%M:%S", time.localtime(self.time))
        text = f"{clock} {self.client} {self.method} {self.path} -> {self.status} ({self.bytes} bytes)"
        return f"{text}: {self.note}" if self.note else text


class _Httpd(ThreadingHTTPServer):
    daemon_threads = True
    owner: ProvisioningServer


class _Handler(BaseHTTPRequestHandler):
    server: _Httpd
    server_version = "voiplab-provisioning"
    sys_version = ""
    timeout = 10

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.client_address[0], *args)

    def do_GET(self) -> None:
        self._serve(body=True)

    def do_HEAD(self) -> None:
        self._serve(body=False)

    def _reply_text(self, status: int, text: str, body: bool, file: str | None = None, note: str = "") -> None:
        data = (text + "\n").encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        # logged before the body goes out, so the log is complete when the phone has the answer
        self.server.owner._record(self, status, len(data) if body else 0, file, note or text)
        if body:
            self.wfile.write(data)

    def _serve(self, body: bool) -> None:
        owner = self.server.owner
        root = owner.root
        target = urlsplit(self.path).path
        decoded = unquote(target)
        parts = [p for p in decoded.split("/") if p]
        if not target.startswith("/") or "\x00" in decoded or "\\" in decoded or any(p in (".", "..") for p in parts):
            self._reply_text(400, "400 bad request: this path is not allowed; ask for a file by its name, "
                             "e.g. /sipconfig.txt", body, note="path refused (traversal or malformed)")
            return
        if not parts:
            self._reply_text(403, "403 forbidden: this server lists no directory; ask for a file by its name, "
                             "e.g. /sipconfig.txt", body, note="directory listing refused")
            return
        path = root.joinpath(*parts)
        if not path.is_file() and len(parts) == 1 and PHONE_FILENAME_RE.match(parts[0]):
            path = root / parts[0].lower()  # the vendor's upper-case MAC -> voiplab's lower-case file
        real = path.resolve()
        inside = real.is_relative_to(root)
        name = "/".join(parts)
        if any(p.startswith(".") for p in parts) or not inside or not real.is_file():
            firmware = next((f for f in FIRMWARE_FILES if parts[-1].lower().startswith(f)), None)
            if firmware and inside:
                text = FIRMWARE_MISSING.format(name=parts[-1], directory=root)
                self._reply_text(404, "404 not found: " + text, body, note=text)
                return
            note = "symbolic link leads outside the directory" if not inside else "no such file"
            self._reply_text(404, f"404 not found: {name} is not in the provisioning directory", body, note=note)
            return
        try:
            data = real.read_bytes()  # provisioning files and firmware are small (a few MB at most)
        except OSError as e:
            self._reply_text(404, f"404 not found: {name} cannot be read", body, note=e.strerror or "unreadable")
            return
        self.send_response(200)
        kind = "text/plain; charset=utf-8" if real.suffix == ".txt" else "application/octet-stream"
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        owner._record(self, 200, len(data) if body else 0, real.relative_to(root).as_posix(), "")
        if body:
            self.wfile.write(data)


class ProvisioningServer:
    """A small HTTP server for the phone's files, serving ONLY ``directory``.

    It refuses traversal (``../``, ``%2e%2e/``, back-slashes; 400), never lists a directory
    (403), answers 404 for a missing file, for dot files and for symbolic links leading
    outside the directory, and explains a missing firmware file. A request for
    ``sipconfig-<MAC in upper case>.txt`` gets the lower-case file voiplab writes.
    Every request is appended to :attr:`log` (a list of :class:`FetchLogEntry`) and logged
    to the ``voiplab.devices.provisioning`` Python logger, so an instructor sees the phone boot.

    Use it as a context manager, or :meth:`start` / :meth:`stop`::

        with ProvisioningServer("prov", host="127.0.0.80", port=0) as server:
            text = fetch(server.url + "sipconfig.txt")

    Parameters:
        directory: the directory to serve (must exist).
        host: the address to listen on (the report's server: port 80 on the PBX machine;
            the local lab: 127.0.0.80:8080, no root needed).
        port: the TCP port (0: any free port, read :attr:`port` after start).
        on_fetch: called with each :class:`FetchLogEntry` (from the server's threads).

    Taught in notebook 07.
    """

    def __init__(self, directory: str | os.PathLike[str], host: str = DEFAULT_HOST, port: int = DEFAULT_PORT,
                 *, on_fetch: Callable[[FetchLogEntry], None] | None = None):
        root = Path(directory)
        if not root.is_dir():
            raise ProvisioningError(f"provisioning directory {root} does not exist: render the files first "
                                    "(voiplab provision alcatel --out DIR)")
        self.root = root.resolve()
        self.host = host
        self._port = port
        self.on_fetch = on_fetch
        self.log: list[FetchLogEntry] = []
        self._lock = threading.Lock()
        self._httpd: _Httpd | None = None
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        state = "serving" if self.running else "stopped"
        return f"ProvisioningServer({str(self.root)!r} on {self.host}:{self.port}, {state}, {len(self.log)} fetches)"

    @property
    def running(self) -> bool:
        """True between :meth:`start` and :meth:`stop`."""
        return self._httpd is not None

    @property
    def port(self) -> int:
        """The TCP port (the real one once started, also when 0 was asked)."""
        return self._httpd.server_address[1] if self._httpd else self._port

    @property
    def url(self) -> str:
        """The base URL, ending with ``/``: ``http://127.0.0.80:8080/``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    def start(self) -> Self:
        """Listen and serve in a background thread (idempotent).

        Raises:
            ProvisioningError: the address cannot be bound (in use, not local, port < 1024
                without privileges).
        """
        if self._httpd is not None:
            return self
        try:
            httpd = _Httpd((self.host, self._port), _Handler, bind_and_activate=False)
            if ":" in self.host:
                httpd.address_family = socket.AF_INET6
                httpd.socket = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
            httpd.server_bind()
            httpd.server_activate()
        except OSError as e:
            hint = "choose a port >= 1024 or run as root" if self._port and self._port < 1024 \
                else "stop the other server or choose another --port"
            raise ProvisioningError(f"provisioning server could not listen on {self.host}:{self._port} "
                                    f"({e.strerror}): {hint}") from None
        httpd.owner = self
        self._httpd = httpd
        self._port = httpd.server_address[1]  # the real port, also when 0 was asked
        self._thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.1},
                                        name=f"provisioning-{self.host}:{self.port}", daemon=True)
        self._thread.start()
        log.info("provisioning server serving %s on %s", self.root, self.url)
        return self

    def stop(self) -> None:
        """Stop serving and close the socket (idempotent)."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        log.info("provisioning server on %s:%s stopped", self.host, httpd.server_address[1])

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _record(self, handler: _Handler, status: int, size: int, file: str | None, note: str) -> None:
        entry = FetchLogEntry(time.time(), handler.client_address[0], handler.command or "?", handler.path,
                              file, status, size, "" if status == 200 else note)
        with self._lock:
            self.log.append(entry)
        (log.info if status == 200 else log.warning)("%s", entry)
        if self.on_fetch is not None:
            self.on_fetch(entry)


# ---------------------------------------------------------------------------
# the phone's side


def fetch(url: str, *, source: str | None = None, timeout: float = 5.0) -> str:
    """GET a provisioning file as the phone does (HTTP/1.1, the phone's User-Agent).

    Parameters:
        url: ``http://host:port/file``.
        source: the local address to send from (e.g. the Alcatel's lab address
            127.0.0.81, so the server's log shows the phone), or None.
        timeout: seconds.

    Returns:
        The file as text (UTF-8).

    Raises:
        ProvisioningError: not an http URL, the server cannot be reached, or it answered
            with an error (the status and the server's explanation are in the message).

    Taught in notebook 07.
    """
    status, body = _get(url, source, timeout)
    text = body.decode("utf-8", errors="replace")
    if status != 200:
        raise ProvisioningError(f"GET {url} was answered {status}: {text.strip()}")
    return text


def _get(url: str, source: str | None, timeout: float) -> tuple[int, bytes]:
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise ProvisioningError(f"URL {url!r} is not an http:// URL: the phone fetches its files over plain "
                                "HTTP (it trusts only its vendor's CA), e.g. http://127.0.0.80:8080/sipconfig.txt")
    conn = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=timeout,
                                      source_address=(source, 0) if source else None)
    try:
        conn.request("GET", parts.path or "/", headers={"User-Agent": PHONE_USER_AGENT, "Accept": "*/*"})
        response = conn.getresponse()
        return response.status, response.read()
    except OSError as e:
        raise ProvisioningError(f"provisioning server {parts.hostname}:{parts.port or 80} could not be reached "
                                f"({e.strerror or e}): start it (voiplab provision serve DIR) and check the "
                                "address") from None
    finally:
        conn.close()


@dataclass(frozen=True)
class BootFetch:
    """One download of :func:`boot_fetch`: the file, the status, the text when served."""

    file: str
    status: int
    text: str | None
    message: str = ""


def boot_fetch(base_url: str, mac: str, *, source: str | None = None, timeout: float = 5.0) -> list[BootFetch]:
    """Download what the phone downloads at boot: the two config files, then the firmware.

    A missing file is not an error (the phone goes on with the next one): its status
    and the server's explanation are in the result.

    Taught in notebook 07.
    """
    base = base_url if base_url.endswith("/") else base_url + "/"
    out = []
    for name in (COMMON_FILENAME, phone_filename(mac), *FIRMWARE_FILES):
        status, body = _get(base + name, source, timeout)
        is_text = name.endswith(".txt")
        text = body.decode("utf-8", errors="replace")
        out.append(BootFetch(name, status, text if status == 200 and is_text else None,
                             "" if status == 200 else text.strip()))
    return out
