"""Does voiplab run a real Asterisk configured like the report's lab, and stop only its own?

These tests use a real Asterisk 22. Tests that start and stop a lab use their own
lab on .90-93 of the user's loopback block (127.0.0.90-93 for root) and their own state
directory, so they never disturb the shared lab on .80 that other tests use, nor another user's.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from voiplab.config import LabConfig, load_config, local_address, local_block
from voiplab.devices.asterisk_conf import MODULES, AsteriskLayout, render_all
from voiplab.devices.lab import send_options
from voiplab.devices.pbx import Pbx, find_asterisk, parse_endpoints
from voiplab.errors import PbxError

#: a manager secret as voiplab makes them (random per start; fixed here for the renderings)
SECRET = "test-secret-0123456789abcdef"

#: the user's block (127.0.0 for root): the isolated labs below use its .90-.95
B = local_block()
#: another block, free of any user's lab, for the test that moves a lab
ALT = f"127.254.{os.getuid() & 0xFF}"

ISOLATED_TOML = f"""\
[pbx]
host = "{B}.90"

[accounts.alcatel]
address = "{B}.91"
[accounts.rpi]
address = "{B}.92"
[accounts.guillaume]
address = "{B}.93"
"""


@pytest.fixture()
def isolated(tmp_path: Path) -> dict[str, str]:
    """Environment for a lab of its own: lab.toml on .90-93 of the user's block and a private state directory."""
    cfg = tmp_path / "lab.toml"
    cfg.write_text(ISOLATED_TOML)
    env = dict(os.environ, VOIPLAB_CONFIG=str(cfg), VOIPLAB_STATE_DIR=str(tmp_path / "state"))
    yield env
    subprocess.run([sys.executable, "-m", "voiplab", "lab", "down"], env=env, capture_output=True, timeout=60)


def voiplab(env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    res = subprocess.run([sys.executable, "-m", "voiplab", *args], env=env, capture_output=True, text=True,
                         timeout=120)
    if check:
        assert res.returncode == 0, res.stdout + res.stderr
    return res


def _udp_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def test_rendered_files_are_complete_and_commented() -> None:
    """Are all Asterisk files rendered, with an explicit module list and the report's accounts and dial plan?"""
    files = render_all(LabConfig(), AsteriskLayout("/lab", "/usr/lib/x86_64-linux-gnu/asterisk/modules"),
                       ami_secret=SECRET)
    assert {"asterisk.conf", "modules.conf", "pjsip.conf", "extensions.conf", "rtp.conf", "logger.conf",
            "manager.conf"} <= set(files)
    assert "autoload = no" in files["modules.conf"]
    loaded = re.findall(r"^load => (\S+)", files["modules.conf"], re.M)
    assert loaded == [m for m, _ in MODULES]
    assert "res_pjsip_exten_state.so" not in loaded  # fails to load in sid's Asterisk 22
    assert "res_pjsip_pubsub.so" in loaded  # chan_pjsip needs it
    pjsip = files["pjsip.conf"]
    for name, number, display, password in (("alcatel", "5001", "Alcatel IP Touch", "11111111"),
                                            ("rpi", "5002", "Raspberry Pi", "22222222"),
                                            ("guillaume", "5003", "Guillaume Nibert", "33333333")):
        assert f'callerid = "{display}" <{number}>' in pjsip
        assert f"[{name}-auth](auth-template)\nusername = {name}\npassword = {password}" in pjsip
    assert f"bind = {local_address(80)}:5060" in pjsip
    assert "direct_media = yes" in pjsip
    assert "disallow = all\nallow = ulaw\nallow = alaw" in pjsip
    assert "max_contacts = 1" in pjsip
    ext = files["extensions.conf"]
    assert "exten => 5002,1,Answer(500)\n same => n,Dial(PJSIP/rpi,25)\n same => n,Hangup()" in ext
    assert "[plan-num]" in ext
    assert "rtpstart = 10000\nrtpend = 10999" in files["rtp.conf"]
    # students read these files: every one starts with an explanation
    for name in ("pjsip.conf", "extensions.conf", "modules.conf", "rtp.conf"):
        assert files[name].startswith(f"; {name}:"), name
    assert not re.search(r"=> /etc/asterisk", "".join(files.values()))


def test_direct_media_off_is_rendered() -> None:
    """Does the direct-media switch reach pjsip.conf?"""
    from dataclasses import replace

    cfg = LabConfig()
    cfg = replace(cfg, pbx=replace(cfg.pbx, direct_media=False))
    assert "direct_media = no" in render_all(cfg, AsteriskLayout("/lab", "/m"), ami_secret=SECRET)["pjsip.conf"]


def test_parse_endpoints_reads_contacts() -> None:
    """Does parse_endpoints read the name, number, state and contact of `pjsip show endpoints`?"""
    text = (
        " Endpoint:  rpi/5002                                             Not in use    0 of inf\n"
        "     InAuth:  rpi-auth/rpi\n"
        "        Aor:  rpi                                                1\n"
        "      Contact:  rpi/sip:rpi@127.0.0.82:5060;ob              3d1b8a5c0e Avail         0.512\n"
        "\n"
        " Endpoint:  alcatel/5001                                         Unavailable   0 of inf\n"
    )
    rows = parse_endpoints(text)
    assert [(e.name, e.number, e.state, e.contact_address) for e in rows] == [
        ("rpi", "5002", "Not in use", "127.0.0.82:5060"),
        ("alcatel", "5001", "Unavailable", None),
    ]


@pytest.mark.asterisk
def test_options_gets_a_sip_response(pbx: Pbx) -> None:
    """Does a raw SIP OPTIONS over UDP to the lab's PBX (127.A.B.80:5060) get a SIP/2.0 response?"""
    reply = send_options(local_address(80), 5060, local_address=local_address(82))
    assert reply.startswith("SIP/2.0 ")
    assert "CSeq: 1 OPTIONS" in reply


@pytest.mark.asterisk
def test_register_without_credentials_is_challenged(pbx: Pbx) -> None:
    """Does a REGISTER for rpi without credentials get 401 with a digest challenge (realm, nonce)?"""
    pbx, rpi = local_address(80), local_address(82)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((rpi, 0))
        s.settimeout(3)
        port = s.getsockname()[1]
        msg = (f"REGISTER sip:{pbx} SIP/2.0\r\nVia: SIP/2.0/UDP {rpi}:{port};branch=z9hG4bK-t401;rport\r\n"
               f"Max-Forwards: 70\r\nFrom: <sip:rpi@{pbx}>;tag=t401\r\nTo: <sip:rpi@{pbx}>\r\n"
               f"Call-ID: t401@{rpi}\r\nCSeq: 1 REGISTER\r\nContact: <sip:rpi@{rpi}:{port}>\r\n"
               "Expires: 60\r\nContent-Length: 0\r\n\r\n")
        s.sendto(msg.encode(), (pbx, 5060))
        reply = s.recv(65535).decode()
    assert reply.startswith("SIP/2.0 401 Unauthorized\r\n")
    challenge = re.search(r"^WWW-Authenticate: Digest (.*)$", reply, re.M)
    assert challenge is not None
    assert 'realm="asterisk"' in challenge.group(1)
    assert re.search(r'nonce="[^"]+"', challenge.group(1))


@pytest.mark.asterisk
def test_cli_commands_return_text(pbx: Pbx) -> None:
    """Do the server-side checks of the report (pjsip show endpoints/contacts, core show channels) work?"""
    assert "Endpoint:  rpi/5002" in pbx.cli("pjsip show endpoints")
    assert "Contact:" in pbx.contacts() or "No objects found" in pbx.contacts()
    assert "active call" in pbx.channels()
    assert re.match(r"Asterisk 22\.\d+", pbx.version())
    assert {e.name for e in pbx.endpoints()} == {"alcatel", "rpi", "guillaume"}


@pytest.mark.asterisk
def test_lab_up_status_down(isolated: dict[str, str]) -> None:
    """Does `lab up` start Asterisk 22 with the three accounts, idempotently, and `lab down` free the port?"""
    find_asterisk()
    up = voiplab(isolated, "lab", "up")
    assert f"started Asterisk on {B}.90:5060" in up.stdout
    again = voiplab(isolated, "lab", "up")
    assert f"already running: Asterisk on {B}.90:5060" in again.stdout
    status = voiplab(isolated, "lab", "status").stdout
    assert re.search(r"running Asterisk 22\.\d+", status)
    for name, number in (("alcatel", "5001"), ("rpi", "5002"), ("guillaume", "5003")):
        assert re.search(rf"^\s+{name}\s+{number}\s", status, re.M), status
    # the simulated Alcatel registered: its contact is on its own address
    assert re.search(rf"^\s+alcatel\s+5001\s+\S.*{re.escape(B)}\.91:\d+", status, re.M), status
    down = voiplab(isolated, "lab", "down")
    assert f"stopped Asterisk on {B}.90:5060" in down.stdout
    assert _udp_free(f"{B}.90", 5060)
    assert "not running" in voiplab(isolated, "lab", "status").stdout


@pytest.mark.asterisk
def test_down_stops_only_voiplabs_asterisk(isolated: dict[str, str]) -> None:
    """With nothing of voiplab's running, does `lab down` leave other programs alone and say so?"""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as other:
        other.bind((f"{B}.90", 5060))  # "another program" holding the port
        down = voiplab(isolated, "lab", "down")
        assert "nothing of voiplab's was running" in down.stdout
        # and starting now names the address that is taken
        up = voiplab(isolated, "lab", "up", check=False)
    assert up.returncode == 1  # a failure the user can fix
    assert f"the PBX address {B}.90:5060 (UDP) is already in use by another program" in up.stderr


def test_port_taken_raises_pbx_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Does a taken SIP address give a PbxError naming the address and port?"""
    monkeypatch.setenv("VOIPLAB_STATE_DIR", str(tmp_path))
    cfg = tmp_path / "lab.toml"
    cfg.write_text(ISOLATED_TOML.replace(f"{B}.90", f"{B}.94"))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as other:
        other.bind((f"{B}.94", 5060))
        with pytest.raises(PbxError) as e:
            Pbx(load_config(cfg)).start()
    assert str(e.value).startswith(f"the PBX address {B}.94:5060 (UDP) is already in use by another program: ")


def test_no_asterisk_lists_the_ways(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without any Asterisk, does the error list the package, the root filesystem and VOIPLAB_ASTERISK?"""
    monkeypatch.delenv("VOIPLAB_ASTERISK", raising=False)
    monkeypatch.setenv("VOIPLAB_CACHE_DIR", str(tmp_path / "empty-cache"))
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr("voiplab.devices.pbx.SYSTEM_ROOTFS", tmp_path / "no-system-rootfs")
    with pytest.raises(PbxError) as e:
        find_asterisk()
    text = str(e.value)
    assert text.startswith("Asterisk was not found on this machine: get it one of these ways:")
    assert "voiplab pbx install" in text and "apt-get install asterisk" in text and "VOIPLAB_ASTERISK" in text
    monkeypatch.setenv("VOIPLAB_ASTERISK", str(tmp_path / "nope"))
    with pytest.raises(PbxError, match="is not an executable file: point it at an asterisk binary"):
        find_asterisk()


def test_invalid_lab_toml_on_the_command_line(tmp_path: Path) -> None:
    """Does `lab up` with an invalid lab.toml exit with a ConfigError naming key and file, and no traceback?"""
    cfg = tmp_path / "lab.toml"
    cfg.write_text("[pbx]\nport = 0\n")
    res = voiplab(dict(os.environ, VOIPLAB_STATE_DIR=str(tmp_path)), "lab", "up", "--config", str(cfg), check=False)
    assert res.returncode == 1  # a failure the user can fix
    assert res.stderr.strip() == f"voiplab: error: {cfg}: key pbx.port must be a port between 1 and 65535, not 0"


def test_classroom_mode_does_not_start_anything(tmp_path: Path) -> None:
    """In classroom mode, does `lab up` refuse to start a PBX and report a server that does not answer?"""
    cfg = tmp_path / "lab.toml"
    cfg.write_text(f'[pbx]\nmode = "classroom"\nhost = "{B}.95"\n[alcatel]\nsimulated = false\n')
    res = voiplab(dict(os.environ, VOIPLAB_STATE_DIR=str(tmp_path)), "lab", "up", "--config", str(cfg), check=False)
    assert res.returncode == 1  # a failure the user can fix
    assert f"the PBX at {B}.95:5060 did not answer a SIP OPTIONS within 3 s" in res.stderr
    with pytest.raises(PbxError, match="is in classroom mode: voiplab does not start the course server's Asterisk"):
        Pbx(load_config(cfg)).start()


def test_doctor_reports_each_component() -> None:
    """Does `voiplab doctor` report each component in plain words, and exit 1 exactly when it says FIX?"""
    res = voiplab(dict(os.environ), "doctor", check=False)
    for name in ("python", "pjsua2", "asterisk", "mmdebstrap", "tools", "namespaces", "capture", "tshark"):
        assert re.search(rf"^(OK  |FIX |NOTE) {name}: ", res.stdout, re.M), res.stdout
    assert "AsteriskInstall(" not in res.stdout  # words for people, not a Python repr
    assert res.returncode == (1 if re.search(r"^FIX ", res.stdout, re.M) else 0), res.stdout


# ---------------------------------------------------------------------------
# a shared machine: only our own processes, only our own manager


def _decoy() -> subprocess.Popen[bytes]:
    """A process whose command line says "asterisk" (like 'vim /etc/asterisk/notes.txt')."""
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", "/etc/asterisk/notes.txt"])


def test_stale_pid_file_never_kills_another_program(tmp_path: Path) -> None:
    """Does `lab down` spare a decoy whose pid a stale pid file holds (old format, or a reused pid)?"""
    from voiplab.paths import process_identity

    env = dict(os.environ, VOIPLAB_STATE_DIR=str(tmp_path / "state"))
    cfg = tmp_path / "lab.toml"
    cfg.write_text(ISOLATED_TOML.replace(f"{B}.9", f"{ALT}.9"))
    env["VOIPLAB_CONFIG"] = str(cfg)
    pid_file = tmp_path / "state" / "lab" / "run" / "voiplab-asterisk.pid"
    pid_file.parent.mkdir(parents=True)
    decoy = _decoy()
    try:
        me = process_identity(os.getpid())
        assert me is not None
        stale = {"pid": decoy.pid, "start_ticks": me.start_ticks, "boot_id": me.boot_id, "uid": me.uid,
                 "exe": me.exe}  # the decoy's pid with an older process's start time: a reused pid
        for content in (f"{decoy.pid}\n", __import__("json").dumps(stale)):
            pid_file.write_text(content)
            down = voiplab(env, "lab", "down")
            assert "nothing of voiplab's was running" in down.stdout
            assert decoy.poll() is None, "the decoy was killed"
    finally:
        decoy.kill()
        decoy.wait()


@pytest.mark.asterisk
def test_two_lab_up_at_once_start_one_asterisk(isolated: dict[str, str]) -> None:
    """Do two `voiplab lab up` started together leave exactly one Asterisk (the second finds it running)?"""
    def asterisks() -> set[int]:
        out = subprocess.run(["pgrep", "-u", str(os.getuid()), "-f", "asterisk -C /lab/etc/asterisk.conf"],
                             capture_output=True, text=True)  # this user's: others may run labs meanwhile
        return {int(p) for p in out.stdout.split()}

    before = asterisks()
    procs = [subprocess.Popen([sys.executable, "-m", "voiplab", "lab", "up"], env=isolated, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    said = sorted("started Asterisk" in o[0] for o in outs)
    assert said == [False, True], outs  # one started it, the other found it running
    assert len(asterisks() - before) == 1


@pytest.fixture()
def open_state(tmp_path: Path) -> dict[str, str]:
    """An isolated lab whose state directory another user could reach (its parents are 0755)."""
    import shutil
    import tempfile

    state = Path(tempfile.mkdtemp(prefix="voiplab-test-state-"))
    os.chmod(state, 0o755)
    cfg = tmp_path / "lab.toml"
    cfg.write_text(ISOLATED_TOML)
    env = dict(os.environ, VOIPLAB_CONFIG=str(cfg), VOIPLAB_STATE_DIR=str(state))
    yield env
    subprocess.run([sys.executable, "-m", "voiplab", "lab", "down"], env=env, capture_output=True, timeout=60)
    shutil.rmtree(state, ignore_errors=True)


@pytest.mark.asterisk
@pytest.mark.root
def test_another_user_cannot_use_the_manager(open_state: dict[str, str]) -> None:
    """Are the lab's secrets 0600 in 0700 directories, unreadable by another user, whose login is refused?"""
    voiplab(open_state, "lab", "up")
    lab = Path(open_state["VOIPLAB_STATE_DIR"]) / "lab"
    for f in (lab / "etc" / "pjsip.conf", lab / "etc" / "manager.conf", lab / "run" / "ami-secret",
              lab / "run" / "alcatel.json"):
        assert f.stat().st_mode & 0o777 == 0o600, f
    for d in (lab / "etc", lab / "run"):
        assert d.stat().st_mode & 0o777 == 0o700, d
    os.chmod(lab, 0o755)
    os.chmod(lab / "run", 0o755)  # even with the way in open, the secret stays closed
    probe = (
        "import socket, sys\n"
        "try:\n    open(sys.argv[1]).read(); print('READ')\nexcept PermissionError: print('DENIED')\n"
        f"s = socket.create_connection(('{B}.90', 5038), timeout=5, source_address=('{B}.90', 0))\n"
        "s.recv(100)\n"
        "s.sendall(b'Action: Login\\r\\nUsername: voiplab\\r\\nSecret: voiplab-ami\\r\\n\\r\\n')\n"
        "print(s.recv(500).decode())\n"
    )
    res = subprocess.run(["runuser", "-u", "nobody", "--", "/usr/bin/python3", "-c", probe,
                          str(lab / "run" / "ami-secret")], capture_output=True, text=True, timeout=30)
    assert res.stdout.startswith("DENIED"), res.stdout + res.stderr
    assert "Response: Error" in res.stdout and "Authentication failed" in res.stdout, res.stdout
    # and with the right secret, the account may only run CLI commands: no Originate
    pbx = Pbx(load_config(open_state["VOIPLAB_CONFIG"]), lab_dir=lab)
    with pbx._ami.session() as s:
        reply = s.action({"Action": "Originate", "Channel": "Local/5001@plan-num", "Application": "Wait",
                          "Data": "1"})
    assert reply.get("Response") == "Error" and "Permission denied" in reply.get("Message", ""), reply
