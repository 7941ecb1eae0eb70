"""Does the lab configuration default to the report's lab and reject bad lab.toml files clearly?"""

from __future__ import annotations

from pathlib import Path

import pytest

from voiplab.config import LabConfig, load_config
from voiplab.errors import ConfigError


def test_defaults_are_the_reports_lab() -> None:
    """Are the accounts, numbers, names, passwords and addresses those of LAB-FACTS.md, on loopback?"""
    cfg = load_config(None)
    rows = [(a.name, a.number, a.display_name, a.password, a.address) for a in cfg.accounts]
    assert rows == [
        ("alcatel", "5001", "Alcatel IP Touch", "11111111", "127.0.0.81"),
        ("rpi", "5002", "Raspberry Pi", "22222222", "127.0.0.82"),
        ("guillaume", "5003", "Guillaume Nibert", "33333333", "127.0.0.83"),
    ]
    assert (cfg.pbx.host, cfg.pbx.port, cfg.pbx.mode) == ("127.0.0.80", 5060, "local")
    assert cfg.codecs == ("ulaw", "alaw")
    assert (cfg.dialplan.answer_ms, cfg.dialplan.dial_timeout_s, cfg.dialplan.context) == (500, 25, "plan-num")
    assert cfg.pbx.direct_media is True
    assert cfg.alcatel.simulated is True
    assert cfg.language == "fr"


def test_account_lookup_by_name_or_number() -> None:
    """Can a student name an account by its name or its number, and get a clear error otherwise?"""
    cfg = LabConfig()
    assert cfg.account("rpi") is cfg.account("5002")
    with pytest.raises(ConfigError) as e:
        cfg.account("9999")
    assert str(e.value) == "account '9999' is not in the lab: use one of alcatel/5001, rpi/5002, guillaume/5003"


def test_classroom_config_from_voiplab_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Does VOIPLAB_CONFIG point voiplab at a classroom server and the real desk phone?"""
    f = tmp_path / "lab.toml"
    f.write_text('[pbx]\nmode = "classroom"\nhost = "192.0.2.80"\n\n[accounts.rpi]\naddress = "192.0.2.82"\n\n'
                 '[alcatel]\nsimulated = false\n')
    monkeypatch.setenv("VOIPLAB_CONFIG", str(f))
    cfg = load_config()
    assert cfg.source == str(f)
    assert not cfg.is_local
    assert cfg.pbx.host == "192.0.2.80"
    assert cfg.account("rpi").address == "192.0.2.82"
    assert cfg.account("rpi").password == "22222222"  # untouched keys keep the report's values
    assert cfg.alcatel.simulated is False


def test_direct_media_switch(tmp_path: Path) -> None:
    """Does one key turn direct media off?"""
    f = tmp_path / "lab.toml"
    f.write_text("[pbx]\ndirect_media = false\n")
    assert load_config(f).pbx.direct_media is False


def test_new_account(tmp_path: Path) -> None:
    """Can an instructor add an account, and must it have a number, password and address?"""
    f = tmp_path / "lab.toml"
    f.write_text('[accounts.lab4]\nnumber = "5004"\npassword = "44444444"\naddress = "127.0.0.84"\n')
    assert load_config(f).account("5004").name == "lab4"
    f.write_text('[accounts.lab4]\nnumber = "5004"\n')
    with pytest.raises(ConfigError) as e:
        load_config(f)
    assert e.value.key == "accounts.lab4.password"


@pytest.mark.parametrize(
    ("toml", "key", "message"),
    [
        ("[pbx]\nport = 99999\n", "pbx.port", "key pbx.port must be a port between 1 and 65535, not 99999"),
        ("[pbx]\nprot = 5060\n", "pbx.prot", "key pbx.prot is unknown: allowed keys are ami_port, ami_secret, "
         "ami_user, direct_media, host, mode, port, qualify_frequency, rtp_port_max, rtp_port_min, rtp_timeout"),
        ('[pbx]\nmode = "cloud"\n', "pbx.mode", "key pbx.mode must be one of local, classroom, not 'cloud'"),
        ('[pbx]\nhost = "pbx.example"\n', "pbx.host",
         "key pbx.host must be an IP address such as 127.0.0.82, not 'pbx.example'"),
        ("[pbx]\ndirect_media = 1\n", "pbx.direct_media", "key pbx.direct_media must be bool, not 1"),
        ('codecs = ["ulaw", "g729"]\n', "codecs",
         "key codecs has unknown codec 'g729': allowed are ulaw, alaw, g722, gsm, opus"),
        ('[accounts.rpi]\nnumber = "5001"\n', "accounts.rpi.number",
         "key accounts.rpi.number 5001 is already used by account alcatel"),
        ('[accounts.rpi]\naddress = "127.0.0.300"\n', "accounts.rpi.address",
         "key accounts.rpi.address must be an IP address such as 127.0.0.82, not '127.0.0.300'"),
        ("[dialplan]\nanswer_ms = -1\n", "dialplan.answer_ms",
         "key dialplan.answer_ms must be between 0 and 10000 ms, not -1"),
        ('[alcatel]\nmac = "00:80:9f"\n', "alcatel.mac",
         "key alcatel.mac must be a MAC address such as 00:80:9f:12:34:56, not '00:80:9f'"),
        ("[mystery]\n", "mystery",
         "key mystery is unknown: allowed keys are accounts, alcatel, codecs, dialplan, language, pbx, webrtc"),
    ],
)
def test_invalid_config_names_file_key_and_what_is_allowed(tmp_path: Path, toml: str, key: str, message: str) -> None:
    """Does each invalid lab.toml raise ConfigError naming the file, the key and what is allowed?"""
    f = tmp_path / "lab.toml"
    f.write_text(toml)
    with pytest.raises(ConfigError) as e:
        load_config(f)
    assert str(e.value) == f"{f}: {message}"
    assert e.value.key == key
    assert e.value.path == str(f)


def test_missing_and_broken_files(tmp_path: Path) -> None:
    """Is a missing file or broken TOML a ConfigError that says what to do?"""
    missing = tmp_path / "nope.toml"
    with pytest.raises(ConfigError, match="was not found: check the path given with --config or VOIPLAB_CONFIG"):
        load_config(missing)
    broken = tmp_path / "lab.toml"
    broken.write_text("[pbx\n")
    with pytest.raises(ConfigError, match="is not valid TOML .*: fix the syntax"):
        load_config(broken)
