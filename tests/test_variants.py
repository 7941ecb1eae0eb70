"""voiplab.teach.variants: one variant per student id, a valid lab.toml for it, captures that are theirs."""

from __future__ import annotations

import json
import shutil
import tomllib
from dataclasses import asdict, fields
from pathlib import Path

import numpy as np
import pytest
from grading_helpers import VARIANT_CAPTURES

from voiplab.config import LabConfig, config_from_dict, load_config
from voiplab.core.audio import dominant_frequency
from voiplab.core.g711 import alaw_decode, ulaw_decode
from voiplab.devices import sipconfig
from voiplab.errors import ConfigError, VoipLabError
from voiplab.teach import answers, variants
from voiplab.teach.media import dtmf_digits

IDS = [f"student{i:03d}" for i in range(40)] + ["alice", "grace", "j.doe@uni.example", "A-1_b+c"]


def test_the_same_id_gives_the_same_variant_and_two_ids_differ() -> None:
    """Is a variant a function of the id alone, and do alice's and grace's differ in every value?"""
    assert variants.variant_for("alice") == variants.variant_for("alice")
    a, g = asdict(variants.variant_for("alice")), asdict(variants.variant_for("grace"))
    assert [k for k in a if k != "student" and a[k] == g[k]] == []
    assert variants.variant_for("alice", course="another course") != variants.variant_for("alice")


def test_variants_spread_over_their_choices() -> None:
    """Over 40 ids, does each value take several values (no constant slipped in)?"""
    drawn = [asdict(variants.variant_for(s)) for s in IDS]
    for key in drawn[0]:
        assert len({repr(d[key]) for d in drawn}) > 1, key
    assert {d["codec"] for d in drawn} == {"PCMU", "PCMA"}
    assert all(550 <= d["answer_ms"] <= 1500 and d["answer_ms"] % 50 == 0 for d in drawn)
    assert all(d["block"] != 500 for d in drawn)  # never the report's 5001..5003


@pytest.mark.parametrize("student", IDS)
def test_a_variant_lab_toml_passes_the_config_validation(student: str) -> None:
    """Does every variant's lab.toml load (every check of voiplab.config) back to the same configuration?"""
    v = variants.variant_for(student)
    base = load_config()
    cfg = config_from_dict(tomllib.loads(v.lab_toml(base)))
    assert cfg == v.lab_config(base)
    assert cfg.account("rpi").number == v.rpi_number and cfg.account("rpi").password == v.rpi_password
    assert cfg.account("alcatel").number == v.alcatel_number
    assert cfg.codecs == (v.asterisk_codec,) and cfg.dialplan.answer_ms == v.answer_ms
    assert (cfg.alcatel.signal_hz, cfg.alcatel.morse, cfg.alcatel.tx_loss_pct, cfg.alcatel.rtp_port) == (
        v.tone_hz, v.morse, v.tx_loss_pct, v.alcatel_rtp_port)
    assert cfg.variant.student == student
    assert [a.address for a in cfg.accounts] == [a.address for a in base.accounts]  # the lab's addresses stay


def test_a_variant_keeps_every_address_of_a_classroom_lab() -> None:
    """Applied to another lab (its own addresses and ports), does a variant change only what it draws?"""
    base = config_from_dict({"pbx": {"host": "127.0.14.80", "port": 5070}, "accounts": {
        "rpi": {"address": "127.0.14.82"}, "alcatel": {"address": "127.0.14.81"}}})
    cfg = variants.variant_for("alice").lab_config(base)
    assert (cfg.pbx.host, cfg.pbx.port, cfg.account("rpi").address) == ("127.0.14.80", 5070, "127.0.14.82")


def test_a_bad_student_id_is_refused() -> None:
    """Is an id nbgrader would refuse rejected with a message that says what is allowed?"""
    with pytest.raises(ConfigError, match=r"^the student id 'a b' is not one nbgrader accepts: use letters, "
                                          r"digits and \. _ @ \+ - \(at most 64 characters\)$"):
        variants.variant_for("a b")
    with pytest.raises(ConfigError, match="key variant.student must be a student id"):
        config_from_dict({"variant": {"student": "../etc"}})


def test_the_variant_table_of_a_lab_toml_is_checked() -> None:
    """Are the Alcatel's new keys checked like the others (tone range, Morse text, loss, even port)?"""
    for table, message in (({"signal_hz": 5000.0}, "key alcatel.signal_hz must be between 100 and 3500 Hz"),
                           ({"morse": "sos"}, "key alcatel.morse must be 1 to 24 capital letters"),
                           ({"tx_loss_pct": 50}, "key alcatel.tx_loss_pct must be between 0 and 20 %"),
                           ({"rtp_port": 42001}, "key alcatel.rtp_port must be an even port")):
        with pytest.raises(ConfigError, match=message):
            config_from_dict({"alcatel": table})


def test_student_id_comes_from_the_environment_then_the_lab_then_jupyterhub(monkeypatch: pytest.MonkeyPatch) -> None:
    """Is VOIPLAB_STUDENT first, then the lab.toml's [variant] student, then JUPYTERHUB_USER?"""
    monkeypatch.setenv("JUPYTERHUB_USER", "hubuser")
    monkeypatch.setenv("VOIPLAB_STUDENT", "alice")
    assert variants.student_id(LabConfig()) == "alice"
    monkeypatch.delenv("VOIPLAB_STUDENT")
    with_variant = variants.variant_for("grace").lab_config(LabConfig())
    assert variants.student_id(with_variant) == "grace"
    assert variants.student_id(LabConfig()) == "hubuser"


def test_captures_are_read_from_their_manifest_and_checked(tmp_path: Path) -> None:
    """Does a changed capture file, or a missing manifest, stop the reading with what to do?"""
    caps = variants.read_captures(VARIANT_CAPTURES / "alice")
    assert (caps.student, caps.how, sorted(caps.files)) == ("alice", "offline", ["call", "register"])
    copy = tmp_path / "alice"
    shutil.copytree(VARIANT_CAPTURES / "alice", copy)
    with (copy / "call.pcap").open("ab") as f:
        f.write(b"\0")
    with pytest.raises(VoipLabError, match=r"is not the one captures.json names \(its SHA-256 changed\): record the "
                                           r"captures again rather than editing them$"):
        variants.read_captures(copy)
    (copy / "captures.json").unlink()
    with pytest.raises(VoipLabError, match=r"has no readable captures.json .*: record the captures with "
                                           r"vl.assignment\(...\) or 'voiplab exercises captures'$"):
        variants.read_captures(copy)


@pytest.mark.parametrize("student", ["alice", "grace"])
def test_the_committed_captures_were_recorded_in_their_variants_lab(student: str) -> None:
    """Do tests/data/variants/<id> show that id's numbers, codec, answer delay, tone, loss and DTMF?

    If variants.py changes what it draws, re-record them: ``voiplab exercises captures
    --student alice --student grace --out tests/data/variants`` (in your isolated lab).
    """
    v = variants.variant_for(student)
    caps = variants.read_captures(VARIANT_CAPTURES / student)
    reg, call = caps.experiment("register"), caps.experiment("call")
    assert reg.auth_exchange("REGISTER").final.status == 200
    assert call.auth_exchange("INVITE").authorized.message.uri.user == v.alcatel_number
    heard = call.stream("alcatel", "rpi")
    assert set(int(pt) for pt in heard.payload_type) == {v.payload_type}
    assert heard.src_port == v.alcatel_rtp_port
    assert abs(dominant_frequency(heard.audio(), 8000) - v.tone_hz) < 5
    assert heard.stats.lost > 0  # the Alcatel dropped some of what it sent
    assert "".join(d.name for d in dtmf_digits(call.stream("rpi", "alcatel"))) == v.dtmf
    flow = [m for m in call.flow.messages if not m.retransmission]
    ok = next(m for m in flow if m.status == 200 and m.cseq_method == "INVITE")
    out = next(m for m in flow if m.method == "INVITE" and m.src == ok.src and m.dst != ok.dst)
    assert 0 < (out.time - ok.time) * 1000 - v.answer_ms < 50


def test_the_g711_byte_to_decode_is_never_silence() -> None:
    """Is the byte a student decodes by hand a loud one, decoded the same by both laws' tables?"""
    for student in ("alice", "grace"):
        v = variants.variant_for(student)
        stream = variants.read_captures(VARIANT_CAPTURES / student).experiment("call").stream("alcatel", "rpi")
        i, j = variants.g711_target(stream, v)
        byte = stream.payload(i)[j]
        decode = ulaw_decode if v.payload_type == 0 else alaw_decode
        assert abs(int(decode(bytes([byte]))[0])) >= variants.G711_SILENCE
        assert i >= v.g711_packet


def test_capture_lab_finds_the_roles_in_the_capture() -> None:
    """Are the PBX, rpi and the Alcatel found from the capture itself (not from this machine's lab.toml)?"""
    cfg = variants.capture_lab(VARIANT_CAPTURES / "alice" / "call.pcap", variants.variant_for("alice"))
    roles = cfg.roles()  # recorded in an isolated lab on 127.0.14.80-83, whatever this machine's lab is
    assert (roles["127.0.14.80"], roles["127.0.14.81"], roles["127.0.14.82"]) == (
        "pbx", "alcatel (8191)", "rpi (8192)")


def test_broken_sipconfig_breaks_four_keys_that_depend_on_the_variant() -> None:
    """Are exactly the registrar port, the password, the codecs and the RTP ports broken, per variant?"""
    for student in ("alice", "grace"):
        v = variants.variant_for(student)
        broken = answers.broken_sipconfig(v)
        keys: dict[str, str] = {}
        for text in broken.values():
            for section in sipconfig.settings(text).values():
                keys.update(section)
        assert keys["registrar_port"] != "5060" and keys["proxy_port"] == "5060"
        assert keys["authentication_password"] != v.alcatel_password
        assert str(v.payload_type) not in keys["preferred_vocoder"].split(",")
        assert int(keys["local_rtp_port"]) % 2 == 1 and keys["local_rtcp_port"] == keys["local_rtp_port"]
    assert answers.broken_sipconfig(variants.variant_for("alice")) != answers.broken_sipconfig(
        variants.variant_for("grace"))


def test_jsonable_makes_answers_plain() -> None:
    """Do numpy scalars, arrays, tuples and sets become JSON data (and NaN a string)?"""
    value = {"a": np.int64(3), "b": np.float32(1.5), "c": np.arange(3), "d": (1, 2), "e": {3, 1}, "f": float("nan")}
    assert answers.jsonable(value) == {"a": 3, "b": 1.5, "c": [0, 1, 2], "d": [1, 2], "e": [1, 3], "f": "nan"}
    assert json.dumps(answers.jsonable(value))


def test_a_variant_repr_shows_no_password_and_no_answer() -> None:
    """Is a variant's repr free of passwords, the tone and the DTMF digits an exercise asks for?"""
    v = variants.variant_for("alice")
    shown = repr(v)
    for secret in (v.rpi_password, v.alcatel_password, v.dtmf, f"{v.tone_hz:g}", str(v.answer_ms)):
        assert secret not in shown
    assert {f.name for f in fields(v)} >= {"codec", "tone_hz", "morse", "tx_loss_pct", "dtmf"}


def test_a_symbolic_link_is_not_a_capture(tmp_path: Path) -> None:
    """Is a capture handed in as a symbolic link (to another student's, say) refused?"""
    copy = tmp_path / "grace"
    shutil.copytree(VARIANT_CAPTURES / "grace", copy)
    (copy / "call.pcap").unlink()
    (copy / "call.pcap").symlink_to(VARIANT_CAPTURES / "alice" / "call.pcap")
    with pytest.raises(VoipLabError, match=r"call.pcap is a symbolic link: hand in the capture itself$"):
        variants.read_captures(copy)
