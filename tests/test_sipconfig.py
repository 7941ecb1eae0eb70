"""Tests of voiplab.devices.sipconfig: the Alcatel IP Touch 4018 EE files, rendered and validated (pure)."""

from __future__ import annotations

import pytest

from voiplab.config import LabConfig, default_config
from voiplab.devices import sipconfig
from voiplab.devices.sipconfig import Problem
from voiplab.errors import ProvisioningError

MAC = "00:80:9F:12:34:56"
PHONE_FILE = "sipconfig-00809f123456.txt"


@pytest.fixture(scope="module")
def files() -> dict[str, str]:
    """The report's lab, rendered for 2025."""
    return sipconfig.render(default_config(0), mac=MAC, year=2025)  # root's lab: 127.0.0.80


def line_of(text: str, line: str) -> int:
    """1-based number of the first line equal to ``line``."""
    return text.splitlines().index(line) + 1


def broken(text: str, old: str, new: str) -> tuple[str, int]:
    """``text`` with the line ``old`` replaced by ``new``, and that line's number."""
    number = line_of(text, old)
    lines = text.splitlines()
    lines[number - 1] = new
    return "\n".join(lines) + "\n", number


# --- names ------------------------------------------------------------------


@pytest.mark.parametrize("mac", ["00:80:9F:12:34:56", "00-80-9f-12-34-56", "00809F123456", "0080.9f12.3456"])
def test_mac_any_notation(mac: str) -> None:
    """Is a MAC in any usual notation normalised to 12 lower-case hex digits?"""
    assert sipconfig.normalize_mac(mac) == "00809f123456"
    assert sipconfig.phone_filename(mac) == PHONE_FILE


@pytest.mark.parametrize("mac", ["00:80:9f:12:34", "00:80:9f:12:34:5g", "", "00:80:9f:12:34:56:78"])
def test_bad_mac_is_refused(mac: str) -> None:
    """Is a malformed MAC refused with a message that shows the expected form?"""
    with pytest.raises(ProvisioningError) as e:
        sipconfig.normalize_mac(mac)
    assert str(e.value) == (f"MAC address {mac!r} is not 12 hex digits: write it like 00:80:9f:12:34:56 "
                            "(printed on the label under the phone)")


def test_france_timezone() -> None:
    """Are the summer-time dates the last Sundays of March (02h) and October (03h)?"""
    assert sipconfig.france_timezone(2025) == "UT::60:033002:102603"
    assert sipconfig.france_timezone(2024) == "UT::60:033102:102703"


# --- rendering ----------------------------------------------------------------


def test_rendered_files_are_valid(files: dict[str, str]) -> None:
    """Do the two rendered files pass the validator, alone and together?"""
    assert list(files) == ["sipconfig.txt", PHONE_FILE]
    for name, text in files.items():
        assert sipconfig.validate(text, name) == []
        sipconfig.check(text, name)
    assert sipconfig.validate_set(files) == []


def test_rendered_values_are_the_reports(files: dict[str, str]) -> None:
    """Does the rendering carry the report's lab: account, PBX, RTP port, codecs, DTMF, time?"""
    common = sipconfig.settings(files["sipconfig.txt"])
    phone = sipconfig.settings(files[PHONE_FILE])
    assert common["dns"]["dns_addr"] == "127.0.0.80"
    assert common["sip"]["proxy_addr"] == common["sip"]["registrar_addr"] == "127.0.0.80"
    assert common["sip"]["proxy_port"] == "5060"
    assert common["sip"]["local_rtp_port"] == "42000"
    assert common["sip"]["register_expire"] == "3600"
    assert common["sip"]["preferred_vocoder"] == "8,0,4,18"
    assert common["sip"]["authentication_realm"] == "asterisk"
    assert common["audio"] == {"tone_country": "1", "dtmf_type": "0", "dtmf_avt_payload_type": "96", "vad": "0"}
    assert common["sntp"]["timezone"] == "UT::60:033002:102603"
    assert common["init"]["application_mode"] == "0"
    assert phone["sip"]["authentication_name"] == "alcatel"
    assert phone["sip"]["authentication_password"] == "11111111"
    assert phone["sip"]["display_name"] == "Alcatel IP Touch"
    assert phone["appl"]["speed_dial_1_uri"] == "5002"


def test_every_key_is_explained(files: dict[str, str]) -> None:
    """Does every known key appear in one of the files, after a '# key: meaning' comment?"""
    both = files["sipconfig.txt"] + files[PHONE_FILE]
    for spec in sipconfig.KEYS:
        assert f"# {spec.name}: {spec.meaning}" in both
        if not spec.name.endswith("*"):
            assert f"\n{spec.name}=" in both or f"\n#{spec.name}=" in both


def test_classroom_pbx_address() -> None:
    """Does a classroom PBX address end up as proxy, registrar and DNS?"""
    from dataclasses import replace
    cfg = LabConfig()
    cfg = cfg.with_overrides(pbx=replace(cfg.pbx, host="192.168.1.80"))
    common = sipconfig.settings(sipconfig.render_common(cfg, year=2025))
    assert common["dns"]["dns_addr"] == common["sip"]["proxy_addr"] == "192.168.1.80"


# --- validation ---------------------------------------------------------------


def test_empty_authentication_name_reported_by_line(files: dict[str, str]) -> None:
    """Is an empty authentication_name reported at its line?"""
    text, n = broken(files[PHONE_FILE], "authentication_name=alcatel", "authentication_name=")
    assert sipconfig.validate(text) == [Problem(n, "authentication_name",
        "authentication_name is empty: set it to the SIP account name (alcatel in the lab); "
        "the phone cannot register without it")]


def test_missing_authentication_name_reported_for_the_pair(files: dict[str, str]) -> None:
    """Is an authentication_name absent from both files reported?"""
    text, _ = broken(files[PHONE_FILE], "authentication_name=alcatel", "#authentication_name=alcatel")
    problems = sipconfig.validate_set({"sipconfig.txt": files["sipconfig.txt"], PHONE_FILE: text})
    assert [str(p) for p in problems] == [
        (f"file: authentication_name is missing from sipconfig.txt and {PHONE_FILE}: add it under [sip]; "
        "set it to the SIP account name (alcatel in the lab); the phone cannot register without it")]


def test_empty_dns_addr(files: dict[str, str]) -> None:
    """Is an empty dns_addr reported with the fix (the PBX address)?"""
    text, n = broken(files["sipconfig.txt"], "dns_addr=127.0.0.80", "dns_addr=")
    [problem] = sipconfig.validate(text)
    assert (problem.line, problem.key) == (n, "dns_addr")
    assert problem.message.startswith("dns_addr is empty: set it to the DNS server, or to the PBX address")


@pytest.mark.parametrize("name, message", [
    ("sipconfig-00809f1234.txt", ("file name sipconfig-00809f1234.txt has a malformed MAC '00809f1234': name it "
                                 "sipconfig-<12 hex digits>.txt, e.g. sipconfig-00809f123456.txt")),
    ("sipconfig-00:80:9f:12:34:56.txt", ("file name sipconfig-00:80:9f:12:34:56.txt has a malformed MAC "
     "'00:80:9f:12:34:56': name it sipconfig-<12 hex digits>.txt, e.g. sipconfig-00809f123456.txt")),
    ("config.txt", ("file name config.txt is not one the phone asks for: name it sipconfig.txt or "
                   "sipconfig-<mac>.txt")),
])
def test_bad_mac_in_file_name(files: dict[str, str], name: str, message: str) -> None:
    """Is a file name that is not sipconfig-<12 hex digits>.txt reported?"""
    assert sipconfig.validate(files[PHONE_FILE], name) == [Problem(None, None, message, name)]


def test_upper_case_mac_file_name_is_accepted(files: dict[str, str]) -> None:
    """Is the vendor manual's upper-case form of the file name accepted?"""
    assert sipconfig.validate(files[PHONE_FILE], "sipconfig-00809F123456.txt") == []


@pytest.mark.parametrize("old, new, key, message", [
    ("binary_polling_timer=1440", "binary_polling_timer=5", "binary_polling_timer",
     "binary_polling_timer is 5, out of range: use 10..65535 min"),
    ("config_polling_timer=60", "config_polling_timer=70000", "config_polling_timer",
     "config_polling_timer is 70000, out of range: use 5..65535 min"),
    ("proxy_port=5060", "proxy_port=0", "proxy_port", "proxy_port is 0, out of range: use a port 1..65535"),
    ("local_rtp_port=42000", "local_rtp_port=abc", "local_rtp_port",
     "local_rtp_port is 'abc', not a number: use a port 1..65535"),
    ("rtp_diffserv=46", "rtp_diffserv=64", "rtp_diffserv", "rtp_diffserv is 64, out of range: use 0..63"),
    ("sip_transport_mode=1", "sip_transport_mode=3", "sip_transport_mode",
     "sip_transport_mode is 3, out of range: use 0 (UDP or TCP), 1 (UDP), 2 (TCP)"),
    ("prack_type=0", "prack_type=5", "prack_type",
     "prack_type is 5, out of range: use 0 (supported), 1 (required), 2 (disabled)"),
    ("dtmf_type=0", "dtmf_type=-1", "dtmf_type",
     "dtmf_type is -1, out of range: use 0 (RFC 2833 events in RTP), 1 (in-band audio), 2 (SIP INFO)"),
    ("preferred_vocoder=8,0,4,18", "preferred_vocoder=8,0,9", "preferred_vocoder",
     ("preferred_vocoder has '9', not a vocoder of the phone: use comma-separated payload types among "
     "0 PCMU, 4 G723, 8 PCMA, 18 G729 (e.g. 8,0,4,18)")),
    ("preferred_vocoder=8,0,4,18", "preferred_vocoder=8,8", "preferred_vocoder",
     "preferred_vocoder lists 8 twice: list each payload type once"),
    ("proxy_addr=127.0.0.80", "proxy_addr=127.0.0.800", "proxy_addr",
     "proxy_addr is '127.0.0.800', not an IP address or host name: write it like 192.168.1.80"),
    ("dns_addr=127.0.0.80", "dns_addr=pbx.lab", "dns_addr",
     "dns_addr is 'pbx.lab', not an IP address: write it like 192.168.1.80"),
    ("timezone=UT::60:033002:102603", "timezone=Europe/Paris", "timezone",
     ("timezone is 'Europe/Paris', not a time zone: use UT:<name>:<GMT offset in minutes>:<DST start mmddhh>:"
     "<DST end mmddhh> (France: UT::60:033002:102603)")),
    ("proxy_port=5060", "proxy_adr=127.0.0.80", "proxy_adr", ("key proxy_adr is unknown in [sip]: did you mean "
     "proxy_addr?")),
    ("proxy_port=5060", "tone_country=1", "tone_country", ("key tone_country is unknown in [sip]: it belongs in "
     "[audio]")),
    ("[qos]", "[QoS]", "[QoS]", "section [QoS] is unknown: section names are lower case, write [qos]"),
    ("[qos]", "[qso]", "[qso]", "section [qso] is unknown: did you mean [qos]?"),
    ("[qos]", "[voip]", "[voip]", ("section [voip] is unknown: use one of [dns], [sip], [qos], [sntp], [telnet], "
     "[arp], [init], [audio], [appl], [admin]")),
    ("[qos]", "qos", None, ("line 'qos' is neither a [section], a key=value nor a # comment: fix it or comment "
     "it out with #")),
])
def test_broken_variant_reported_by_line(files: dict[str, str], old: str, new: str, key: str | None,
                                         message: str) -> None:
    """Is each broken variant reported once, at its line, with its key and the fix?"""
    text, n = broken(files["sipconfig.txt"], old, new)
    problems = sipconfig.validate(text)
    if old == "[qos]":
        problems = problems[:1]  # the keys below are reported as unknown/misplaced too
    assert problems == [Problem(n, key, message)]


def test_duplicate_key(files: dict[str, str]) -> None:
    """Is a repeated key reported at its second line, naming the first?"""
    text = files["sipconfig.txt"]
    first = line_of(text, "register_expire=3600")
    text, n = broken(text, "register_retry=300", "register_expire=60")
    assert sipconfig.validate(text) == [Problem(n, "register_expire",
        f"key register_expire is repeated in [sip] (first on line {first}): keep only one")]


def test_key_outside_section() -> None:
    """Is a key before any [section] reported with the section it belongs to?"""
    assert sipconfig.validate("# x\nproxy_addr=1.2.3.4\n") == [
        Problem(2, "proxy_addr", "key proxy_addr is outside any section: put it under [sip]")]


def test_qos_tickets_family_is_known() -> None:
    """Are sip_qos_tickets_* keys accepted as a family?"""
    assert sipconfig.validate("[qos]\nsip_qos_tickets_enable=1\n") == []
    assert sipconfig.validate("[qos]\nsip_qos_tickets_=1\n")[0].message.startswith("key sip_qos_tickets_ is")


def test_bom_and_not_utf8() -> None:
    """Are a byte order mark and non-UTF-8 bytes reported?"""
    assert sipconfig.validate("\ufeff[sip]\n") == [
        Problem(1, None, "file starts with a byte order mark (BOM): save it as UTF-8 without BOM")]
    assert sipconfig.validate(b"[sip]\ndisplay_name=Caf\xe9\n") == [
        Problem(2, None, "line is not UTF-8: save the file as UTF-8")]


def test_check_raises_listing_problems_by_line(files: dict[str, str]) -> None:
    """Does check() raise ProvisioningError listing every problem with its line?"""
    text, n1 = broken(files["sipconfig.txt"], "binary_polling_timer=1440", "binary_polling_timer=5")
    text, n2 = broken(text, "prack_type=0", "prack_type=3")
    with pytest.raises(ProvisioningError) as e:
        sipconfig.check(text, "sipconfig.txt")
    assert str(e.value) == (
        "sipconfig.txt has 2 problems: fix them before the phone downloads it\n"
        f"  sipconfig.txt line {n2}: prack_type is 3, out of range: use 0 (supported), 1 (required), 2 (disabled)\n"
        f"  sipconfig.txt line {n1}: binary_polling_timer is 5, out of range: use 10..65535 min")


def test_parse_keeps_lines_and_sections(files: dict[str, str]) -> None:
    """Does parse() give each key=value with its line and section, skipping '#key=' lines?"""
    text = files[PHONE_FILE]
    got = {s.key: s for s in sipconfig.parse(text)}
    assert got["authentication_name"].line == line_of(text, "authentication_name=alcatel")
    assert got["authentication_name"].section == "sip"
    assert "hostname" not in got
