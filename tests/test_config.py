"""Does the lab configuration default to the report's lab and reject bad lab.toml files clearly?"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from voiplab.config import LabConfig, default_config, load_config, local_address, local_block
from voiplab.errors import ConfigError


def test_defaults_are_the_reports_lab() -> None:
    """Are the accounts, numbers, names, passwords and addresses those of LAB-FACTS.md, on the user's
    loopback block (127.A.B from the uid; root's is 127.0.0)?"""
    cfg = load_config(None)
    block = local_block()
    rows = [(a.name, a.number, a.display_name, a.password, a.address) for a in cfg.accounts]
    assert rows == [
        ("alcatel", "5001", "Alcatel IP Touch", "11111111", f"{block}.81"),
        ("rpi", "5002", "Raspberry Pi", "22222222", f"{block}.82"),
        ("guillaume", "5003", "Guillaume Nibert", "33333333", f"{block}.83"),
    ]
    assert (cfg.pbx.host, cfg.pbx.port, cfg.pbx.mode) == (f"{block}.80", 5060, "local")
    root = default_config(0)
    assert (root.pbx.host, root.account("rpi").address) == ("127.0.0.80", "127.0.0.82")
    assert cfg.codecs == ("ulaw", "alaw")
    assert (cfg.dialplan.answer_ms, cfg.dialplan.dial_timeout_s, cfg.dialplan.context) == (500, 25, "plan-num")
    assert cfg.pbx.direct_media is True
    assert cfg.alcatel.simulated is True
    assert cfg.language == "fr"


def test_each_user_has_a_block_of_their_own() -> None:
    """Does the uid give the block (256*A + B), root keeping 127.0.0 and no user landing on root's?"""
    assert [local_block(u) for u in (0, 1, 255, 256, 1000, 65535)] == [
        "127.0.0", "127.0.1", "127.0.255", "127.1.0", "127.3.232", "127.255.255"]
    assert local_block(65536) == "127.255.0" and local_block(131072) == "127.255.0"
    assert local_address(80, 1000) == "127.3.232.80"
    with pytest.raises(ValueError):
        local_address(0)


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
        ("[pbx]\nprot = 5060\n", "pbx.prot", "key pbx.prot is unknown: allowed keys are ami_port, "
         "direct_media, host, mode, port, qualify_frequency, rtp_port_max, rtp_port_min, rtp_timeout"),
        ('[pbx]\nmode = "cloud"\n', "pbx.mode", "key pbx.mode must be one of local, classroom, not 'cloud'"),
        ('[pbx]\nhost = "pbx.example"\n', "pbx.host",
         "key pbx.host must be an IP address such as 127.0.0.80 for a local lab, not 'pbx.example'"),
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
         "key mystery is unknown: allowed keys are accounts, alcatel, codecs, dialplan, language, pbx, variant, "
         "webrtc"),
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


# ---------------------------------------------------------------------------
# hostile lab.toml files: each a ConfigError, none reaching a rendered file

#: (what it tries, file bytes, the key blamed or None when the file as a whole is refused, words of the message)
HOSTILE: list[tuple[str, bytes, str | None, str]] = [
    ("newline in a password adds a manager user", b'[accounts.rpi]\npassword = "22222222\\n[admin]\\nsecret=x"\n',
     "accounts.rpi.password", "cannot hold"),
    ("comment character in a password", b'[accounts.rpi]\npassword = "2222;2222"\n', "accounts.rpi.password",
     "cannot hold"),
    ("quote in a password", b'[accounts.rpi]\npassword = "22\\"22xx"\n', "accounts.rpi.password", "cannot hold"),
    ("short password", b'[accounts.rpi]\npassword = "22"\n', "accounts.rpi.password", "4 to 64 characters"),
    ("empty password", b'[accounts.rpi]\npassword = ""\n', "accounts.rpi.password", "4 to 64 characters"),
    ("newline in a display name", b'[accounts.rpi]\ndisplay_name = "Pi\\n[admin]"\n', "accounts.rpi.display_name",
     "control character"),
    ("quote in a display name", b'[accounts.rpi]\ndisplay_name = "Pi\\" <1>"\n', "accounts.rpi.display_name",
     "caller ID"),
    ("NUL in a display name", b'[accounts.rpi]\ndisplay_name = "Pi\\u0000"\n', "accounts.rpi.display_name",
     "control character"),
    ("escape sequence in a display name", b'[accounts.rpi]\ndisplay_name = "\\u001b[31mPi"\n',
     "accounts.rpi.display_name", "control character"),
    ("trailing newline in an account name", b'[accounts."lab4\\n"]\nnumber = "5004"\npassword = "44444444"\n'
     b'address = "127.0.0.84"\n', "accounts.lab4\n", "lower-case name"),
    ("trailing newline in a number", b'[accounts.rpi]\nnumber = "5002\\n"\n', "accounts.rpi.number", "2 to 8 digits"),
    ("trailing newline in the context", b'[dialplan]\ncontext = "plan-num\\n"\n', "dialplan.context", "letters"),
    ("trailing newline in the MAC", b'[alcatel]\nmac = "00:80:9f:12:34:56\\n"\n', "alcatel.mac", "MAC address"),
    ("trailing newline in the language", b'language = "fr\\n"\n', "language", "two-letter"),
    ("newline in the PBX host", b'[pbx]\nhost = "127.0.0.80\\npermit=0.0.0.0"\n', "pbx.host", "IP address"),
    ("UTF-16 file", '[pbx]\nport = 5060\n'.encode("utf-16"), None, "UTF-16"),
    ("UTF-8 with a byte-order mark", b"\xef\xbb\xbf[pbx]\nport = 5060\n", None, "byte-order mark"),
    ("Latin-1 bytes", '[accounts.rpi]\ndisplay_name = "Gérard"\n'.encode("latin-1"), None, "not UTF-8"),
    ("deeply nested arrays", b"codecs = " + b"[" * 5000 + b"]" * 5000 + b"\n", None, "too deeply"),
    ("nested tables where a value goes", b'[pbx]\nport = {a = {b = {c = 1}}}\n', "pbx.port", "must be int"),
    ("a file too big to be a lab.toml", b"# " + b"x" * 70_000 + b"\n", None, "bytes, more than"),
    ("a 10,000-character display name", b'[accounts.rpi]\ndisplay_name = "' + b"P" * 10_000 + b'"\n',
     "accounts.rpi.display_name", "far too long"),
    ("huge integer", b"[pbx]\nrtp_timeout = 100000000000000000000\n", "pbx.rtp_timeout", "between 0 and 3600"),
    ("float where an integer goes", b"[pbx]\nrtp_timeout = 1e20\n", "pbx.rtp_timeout", "must be int"),
    ("not-a-number", b"[alcatel]\nring_s = nan\n", "alcatel.ring_s", "between 0 and 60"),
    ("infinity", b"[alcatel]\nmax_call_s = inf\n", "alcatel.max_call_s", "between 1 and 3600"),
    ("port zero", b"[pbx]\nport = 0\n", "pbx.port", "between 1 and 65535"),
    ("negative phone port", b"[accounts.rpi]\nsip_port = -1\n", "accounts.rpi.sip_port", "0 = any"),
    ("RTP range out of bounds", b"[pbx]\nrtp_port_min = 80\n", "pbx.rtp_port_min", "between 1024 and 65535"),
    ("two phones on one address", f'[accounts.guillaume]\naddress = "{local_address(82)}"\n'.encode(),
     "accounts.guillaume.address",
     "already used by account rpi"),
    ("a phone on the PBX's address", f'[accounts.rpi]\naddress = "{local_address(80)}"\n'.encode(),
     "accounts.rpi.address", "the PBX's address"),
    ("a PBX name that breaks a section", b'[accounts.rpi]\nusername = "rpi]\\n[evil"\n', "accounts.rpi.username",
     "must be a PBX account name"),
    ("a PBX name taken by another account", b'[accounts.rpi]\nusername = "alcatel"\n', "accounts.rpi.username",
     "alcatel is already the PBX name of account alcatel"),
    ("two accounts with one number", b'[accounts.guillaume]\nnumber = "5002"\n', "accounts.guillaume.number",
     "already used"),
    ("a codec twice", b'codecs = ["ulaw", "ulaw"]\n', "codecs", "twice"),
    ("codecs as a string", b'codecs = "ulaw"\n', "codecs", "non-empty list"),
    ("an account that is not a table", b"[accounts]\nrpi = 5\n", "accounts.rpi", "must be a table"),
    ("a boolean where a number goes", b"[dialplan]\nanswer_ms = true\n", "dialplan.answer_ms", "must be int"),
    ("the old fixed manager secret", b'[pbx]\nami_secret = "voiplab-ami"\n', "pbx.ami_secret", "is unknown"),
    ("manager port on the SIP port", b"[pbx]\nami_port = 5060\n", "pbx.ami_port", "must differ"),
]


@pytest.mark.parametrize(("what", "content", "key", "words"), HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_lab_toml_is_refused_before_any_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, what: str,
                                                     content: bytes, key: str | None, words: str) -> None:
    """Is each hostile lab.toml a ConfigError naming the file (and key), with nothing rendered for Asterisk?"""
    from voiplab.devices.lab import Lab

    state = tmp_path / "state"
    monkeypatch.setenv("VOIPLAB_STATE_DIR", str(state))
    f = tmp_path / "lab.toml"
    f.write_bytes(content)
    with pytest.raises(ConfigError) as e:
        Lab(f).up()
    assert str(f) in str(e.value) and words in str(e.value), str(e.value)
    assert e.value.path == str(f)
    if key is not None:
        assert e.value.key == key
    assert not state.exists() or not any(state.rglob("*.conf")), "a file was rendered"


def test_special_files_are_refused(tmp_path: Path) -> None:
    """Is a FIFO or a directory given as lab.toml refused at once (no read that blocks)?"""
    fifo = tmp_path / "fifo.toml"
    os.mkfifo(fifo)
    for p in (fifo, tmp_path):
        with pytest.raises(ConfigError) as e:
            load_config(p)
        assert str(e.value) == f"lab config {p} is not a regular file: give the path of a lab.toml file"


def test_secrets_are_not_in_reprs() -> None:
    """Does repr() of the configuration show no password (a notebook output is often shared)?"""
    text = repr(LabConfig()) + repr(LabConfig().account("rpi"))
    for acc in LabConfig().accounts:
        assert acc.password not in text


def test_values_changed_behind_the_config_are_stopped_at_rendering() -> None:
    """If code forces a newline into a frozen config, does rendering refuse it before Asterisk sees it?"""
    from voiplab.devices.asterisk_conf import AsteriskLayout, render_all

    cfg = LabConfig()
    acc = cfg.account("rpi")
    object.__setattr__(acc, "password", "x\n[admin]")
    try:
        with pytest.raises(ConfigError, match=r"^key accounts.rpi.password holds a line break"):
            render_all(cfg, AsteriskLayout("/lab", "/m"), ami_secret="s" * 24)
    finally:
        object.__setattr__(acc, "password", "22222222")
