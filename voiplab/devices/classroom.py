"""A whole class on one course server: from a roster to Asterisk's files and one lab.toml per student.

``voiplab classroom render ROSTER.csv --out DIR --server 192.168.1.80`` writes:

* ``DIR/server/``: the course Asterisk's configuration: two accounts per student (their
  "Raspberry Pi" ``sNN-pi`` as ``6NN1`` and a second phone ``sNN-2`` as ``6NN2``), the real
  Alcatel (``5001``, reached through a queue so that several students may call it at once,
  with their position announced), music on hold (``5000``), an echo test (``5999``), and
  one manager account for the instructor only (students get none);
* ``DIR/alcatel/``: the real desk phone's ``sipconfig`` files, for its provisioning server;
* ``DIR/students/<id>/lab.toml``: what each student's notebooks need (their accounts and
  passwords, the server, the Alcatel's number), to hand out;
* ``DIR/classroom.json`` (0600): who got which number and password. Rendering again with an
  extended roster keeps every existing student's number and password.

Passwords are random (``secrets``), at least 96 bits each. Everything holding a secret is
written 0600 in 0700 directories. Not taught to students: the instructor's guide (docs)
explains it.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import ipaddress
import json
import os
import re
import secrets
import shutil
import sys
import threading
import time
import unicodedata
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TextIO

from ..config import (
    DEFAULT_ACCOUNTS,
    DISPLAY_NAME_FORBIDDEN,
    Account,
    AlcatelConfig,
    LabConfig,
    PbxConfig,
    local_address,
)
from ..errors import ConfigError, PbxError
from ..paths import private_dir, scratch_dir, write_private
from .ami import AmiClient, AmiSession
from .asterisk_conf import AsteriskLayout, render_all
from .pbx import Pbx

__all__ = [
    "ALCATEL_NUMBER",
    "ECHO_NUMBER",
    "MAX_STUDENTS",
    "MOH_NUMBER",
    "ClassAccount",
    "Classroom",
    "Student",
    "read_roster",
    "ClassSnapshot",
    "ClassroomMonitor",
    "ClassroomPbx",
    "DemoClassroom",
    "demo_classroom",
    "LiveCall",
    "render_classroom",
    "serve_classroom",
    "student_number",
]

#: the numbering plan: student NN (01-99) has 6NN1 (their "Raspberry Pi") and 6NN2 (a second phone)
MAX_STUDENTS = 99
#: the real Alcatel, reached through a queue
ALCATEL_NUMBER = "5001"
#: music on hold and the echo test
MOH_NUMBER = "5000"
ECHO_NUMBER = "5999"
#: the queue in front of the single real desk phone
ALCATEL_QUEUE = "alcatel"
#: the dial plan context of every account of the class
CLASS_CONTEXT = "classroom"
#: bytes of randomness in each password and in the instructor's manager secret
PASSWORD_BYTES = 12
SECRET_BYTES = 24
#: a student id: what a university's roster gives (letters, digits, . _ -), lower-cased
_ID_RE = re.compile(r"[a-z0-9][a-z0-9._-]{0,39}")
_ROSTER_LIMIT_BYTES = 1 << 20


@dataclass(frozen=True)
class Student:
    """One line of the roster."""

    id: str
    name: str
    email: str = ""


@dataclass(frozen=True)
class ClassAccount:
    """One SIP account of the class on the course server."""

    username: str
    number: str
    display_name: str
    password: str
    #: the student it belongs to ("" for the Alcatel)
    student: str = ""

    def __repr__(self) -> str:
        return f"ClassAccount({self.username}/{self.number} {self.display_name!r})"


@dataclass(frozen=True)
class Classroom:
    """A class on the course server: its students, their accounts, the Alcatel, the instructor's secret."""

    server: str
    port: int
    students: tuple[Student, ...]
    slots: dict[str, int]
    accounts: tuple[ClassAccount, ...]
    alcatel: ClassAccount
    instructor_secret: str
    alcatel_mac: str

    def __repr__(self) -> str:
        return f"Classroom({len(self.students)} students on {self.server}:{self.port})"

    def of(self, student_id: str) -> tuple[ClassAccount, ClassAccount]:
        """The two accounts of a student: their "Raspberry Pi" and their second phone."""
        pi, second = (a for a in self.accounts if a.student == student_id)
        return pi, second


def student_number(slot: int, phone: int) -> str:
    """The number of phone 1 or 2 of the student in slot 1..99: ``6NN1``/``6NN2``."""
    return f"6{slot:02d}{phone}"


# ---------------------------------------------------------------------------- the roster


def _roster_fail(path: str, line: int, problem: str) -> ConfigError:
    return ConfigError(f"roster {path}, line {line}: {problem}", path=path, key=f"line {line}")


def read_roster(path: str | os.PathLike[str]) -> list[Student]:
    """The students of a roster: a CSV file with the columns ``id,name`` and optionally ``email``.

    A header line is optional (``id,name,email``); ids are lower-cased. Names become caller-ID
    display names, so they may not hold quotes, ``<``, ``>``, ``;`` or control characters.

    Raises:
        ConfigError: the file is missing, not UTF-8 CSV, or a line is wrong (the message gives
            the line and what to fix), an id is repeated, or there are more than 99 students.
    """
    p = Path(path)
    try:
        data = p.read_bytes()[:_ROSTER_LIMIT_BYTES + 1]
        text = data.decode("utf-8-sig")
    except FileNotFoundError:
        raise ConfigError(f"roster {p} was not found: give the path of the class's CSV file", path=str(p)) from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"roster {p} cannot be read ({e}): save it as a UTF-8 CSV file", path=str(p)) from None
    if len(data) > _ROSTER_LIMIT_BYTES:
        raise ConfigError(f"roster {p} is larger than 1 MB: a class roster is a few kB", path=str(p))
    students: list[Student] = []
    seen: dict[str, int] = {}
    for line, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        cells = [c.strip() for c in row]
        if not cells or all(not c for c in cells) or cells[0].startswith("#"):
            continue
        if line == 1 and [c.lower() for c in cells[:2]] == ["id", "name"]:
            continue
        if len(cells) < 2 or len(cells) > 3:
            raise _roster_fail(str(p), line, f"has {len(cells)} columns: write id,name or id,name,email")
        sid, name = cells[0].lower(), cells[1]
        email = cells[2] if len(cells) == 3 else ""
        if not _ID_RE.fullmatch(sid):
            raise _roster_fail(str(p), line, f"the id {cells[0]!r} must be letters, digits, '.', '_' or '-' "
                               "(at most 40)")
        if sid in seen:
            raise _roster_fail(str(p), line, f"the id {sid} is already on line {seen[sid]}")
        if (not name or len(name) > 48 or any(ch in DISPLAY_NAME_FORBIDDEN for ch in name)
                or any(unicodedata.category(ch).startswith("C") for ch in name)):
            raise _roster_fail(str(p), line, f"the name {name!r} must be 1 to 48 characters without quotes, "
                               "<, >, ;, # or control characters")
        if email and not re.fullmatch(r"[^@\s,;<>\"]+@[^@\s,;<>\"]+", email):
            raise _roster_fail(str(p), line, f"the e-mail {email!r} is not an address")
        seen[sid] = line
        students.append(Student(sid, name, email))
    if not students:
        raise ConfigError(f"roster {p} lists no student: write one line id,name per student", path=str(p))
    if len(students) > MAX_STUDENTS:
        raise ConfigError(f"roster {p} lists {len(students)} students: one course server takes at most "
                          f"{MAX_STUDENTS} (numbers 6NN1/6NN2): split the class", path=str(p))
    return students


# ---------------------------------------------------------------------------- the class


def _password() -> str:
    return secrets.token_urlsafe(PASSWORD_BYTES)


def _load_state(path: Path) -> dict[str, object]:
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ConfigError(f"{path} cannot be read ({e}): restore it from a backup, or render into a new "
                          "directory (every password changes)", path=str(path)) from None
    return data if isinstance(data, dict) else {}


def build_classroom(students: list[Student], state: dict[str, object], *, server: str, port: int,
                    alcatel_mac: str) -> Classroom:
    """The class: every student keeps the slot and passwords ``state`` gave them; new ones get free slots."""
    old_slots = state.get("slots") if isinstance(state.get("slots"), dict) else {}
    old_passwords = state.get("passwords") if isinstance(state.get("passwords"), dict) else {}
    assert isinstance(old_slots, dict) and isinstance(old_passwords, dict)
    slots: dict[str, int] = {sid: int(n) for sid, n in old_slots.items()}
    passwords: dict[str, str] = {str(k): str(v) for k, v in old_passwords.items()}
    taken = set(slots.values())
    free = (n for n in range(1, MAX_STUDENTS + 1) if n not in taken)
    for s in students:
        if s.id not in slots:
            try:
                slots[s.id] = next(free)
            except StopIteration:
                raise ConfigError(f"no number is left for {s.id}: the class already used all {MAX_STUDENTS} "
                                  "slots (render a new class directory)") from None
    accounts = []
    for s in students:
        slot = slots[s.id]
        for phone, suffix, what in ((1, "pi", "Pi"), (2, "2", "2")):
            username = f"s{slot:02d}-{suffix}"
            password = passwords.setdefault(username, _password())
            accounts.append(ClassAccount(username, student_number(slot, phone), f"{s.name} ({what})", password, s.id))
    alcatel = ClassAccount("alcatel", ALCATEL_NUMBER, "Alcatel IP Touch", passwords.setdefault("alcatel", _password()))
    secret = str(state.get("instructor_secret") or secrets.token_urlsafe(SECRET_BYTES))
    return Classroom(server, port, tuple(students), {s.id: slots[s.id] for s in students}, tuple(accounts), alcatel,
                     secret, alcatel_mac)


def _state_of(room: Classroom, previous: dict[str, object]) -> dict[str, object]:
    slots = dict(previous.get("slots") or {})  # type: ignore[call-overload]
    slots.update(room.slots)
    passwords = dict(previous.get("passwords") or {})  # type: ignore[call-overload]
    passwords.update({a.username: a.password for a in (*room.accounts, room.alcatel)})
    return {"server": room.server, "port": room.port, "slots": slots, "passwords": passwords,
            "instructor_secret": room.instructor_secret,
            "students": [asdict(s) for s in room.students]}


# ---------------------------------------------------------------------------- the course server's files


def _h(title: str, *lines: str) -> str:
    body = "\n".join(f"; {line}" if line else ";" for line in lines)
    return f"; {title}\n; rendered by 'voiplab classroom render': edit the roster and render again\n{body}\n"


def render_class_pjsip(room: Classroom) -> str:
    """``pjsip.conf`` of the course server: one UDP transport, the report's templates, every account."""
    out = [_h("pjsip.conf: the course server's SIP accounts",
              "Two accounts per student (sNN-pi as 6NN1, sNN-2 as 6NN2) and the real Alcatel (5001).",
              "Each account allows one registered phone: a student's REGISTER never replaces",
              "another student's contact (their accounts differ)."), f"""
[global]
type = global
user_agent = Asterisk PBX (voiplab classroom)

[transport-udp]
type = transport
protocol = udp
bind = {room.server}:{room.port}

[endpoint-template](!)
type = endpoint
context = {CLASS_CONTEXT}
disallow = all
allow = ulaw
allow = alaw
language = fr
; direct media as in the report: once a call is up, RTP flows phone to phone
direct_media = yes
dtmf_mode = rfc4733
rtp_timeout = 30
{_media_address(room.server)}
[auth-template](!)
type = auth
auth_type = userpass

[aor-template](!)
type = aor
max_contacts = 1
; a phone that registers again (a restarted notebook) replaces its own old contact only
remove_existing = yes
qualify_frequency = 30
"""]
    for acc in (room.alcatel, *room.accounts):
        out.append(f"""
; {acc.display_name}
[{acc.username}](endpoint-template)
auth = {acc.username}-auth
aors = {acc.username}
callerid = "{acc.display_name}" <{acc.number}>

[{acc.username}-auth](auth-template)
username = {acc.username}
password = {acc.password}

[{acc.username}](aor-template)
""")
    return "".join(out)


def _media_address(server: str) -> str:
    """The endpoints' RTP bound to the server's own address (when it is one) instead of 0.0.0.0.

    Bound to "any", Asterisk looks its own address up for each call (``ast_find_ourip``: the
    host's name, then A.ROOT-SERVERS.NET, through DNS): where those names do not resolve at once
    every call waited for the resolver's 5 s timeouts, one after another (measured: 30 students
    calling at once were put through 5, 10, then 15 s late). Bound to the address, no lookup, and
    no clash with the RTP ports of another Asterisk on the same host.
    """
    try:
        ipaddress.ip_address(server)
    except ValueError:
        return ""  # a host name: Asterisk's media_address takes an address
    return ("; RTP on the server's address, not 0.0.0.0 (no DNS lookup of its own address per call)\n"
            f"media_address = {server}\nbind_rtp_to_media_address = yes\n")


def render_class_extensions(room: Classroom) -> str:
    """``extensions.conf`` of the course server: students call each other, the Alcatel (queued), 5000, 5999."""
    lines = [_h("extensions.conf: the class's dial plan",
                "6NN1/6NN2: a student's phones, as the report's plan (Answer(500), Dial 25 s, Hangup).",
                f"{ALCATEL_NUMBER}: the real Alcatel, through the queue '{ALCATEL_QUEUE}' (one desk phone for",
                "the whole class: callers wait in line and hear their position).",
                f"{MOH_NUMBER}: music on hold; {ECHO_NUMBER}: echo test (hear yourself: RTP both ways)."),
             f"\n[general]\nstatic = yes\nwriteprotect = yes\n\n[{CLASS_CONTEXT}]\n"]
    for acc in room.accounts:
        lines.append(f"""; {acc.display_name}
exten => {acc.number},1,Answer(500)
 same => n,Dial(PJSIP/{acc.username},25)
 same => n,Hangup()
""")
    lines.append(f"""; the real Alcatel IP Touch 4018 EE: one at a time, the others wait in the queue
exten => {ALCATEL_NUMBER},1,Answer()
 same => n,Queue({ALCATEL_QUEUE},,,,300)
 same => n,Hangup()

exten => {MOH_NUMBER},1,Answer()
 same => n,MusicOnHold(default,60)
 same => n,Hangup()

exten => {ECHO_NUMBER},1,Answer()
 same => n,Echo()
 same => n,Hangup()
""")
    return "".join(lines)


def render_class_queues() -> str:
    """``queues.conf``: the queue in front of the single real Alcatel."""
    return _h("queues.conf: callers of the Alcatel wait here, in order",
              "The instructor sees who waits in the dashboard (QueueCallerJoin/Leave events).") + f"""
[general]
persistentmembers = no

[{ALCATEL_QUEUE}]
strategy = ringall
timeout = 20
retry = 2
wrapuptime = 3
joinempty = yes
leavewhenempty = no
; one call at a time: a caller waits in line while the desk phone is in a call (Asterisk's
; default, ringinuse = yes, would ring the busy phone again every retry seconds)
ringinuse = no
announce-position = yes
announce-frequency = 20
musicclass = default
member => PJSIP/alcatel
"""


def render_class_manager(room: Classroom, instructor_address: str) -> str:
    """``manager.conf``: the instructor's account only (students have none), random secret."""
    return _h("manager.conf: the instructor's dashboard (AMI); students get no account here",
              "The secret is random; keep this file and classroom.json readable by the instructor only.") + f"""
[general]
enabled = yes
bindaddr = 0.0.0.0
port = 5038
displayconnects = no

[instructor]
secret = {room.instructor_secret}
deny = 0.0.0.0/0.0.0.0
permit = 127.0.0.1/255.255.255.255
permit = {instructor_address}/255.255.255.255
read = system,call,agent,reporting
write = command
"""


def render_student_toml(room: Classroom, student: Student) -> str:
    """The ``lab.toml`` a student's notebooks read (``VOIPLAB_CONFIG``, or ``--config``)."""
    pi, second = room.of(student.id)
    return f"""# lab.toml of {student.name} ({student.id}) for the course server {room.server}
# Keep it to yourself: it holds your passwords. Use it with VOIPLAB_CONFIG=lab.toml (or --config).

[pbx]
mode = "classroom"
host = "{room.server}"
port = {room.port}

# your "Raspberry Pi": the phone the notebooks call rpi
[accounts.rpi]
username = "{pi.username}"
number = "{pi.number}"
display_name = "{pi.display_name}"
password = "{pi.password}"
# your machine: every address (set your LAN address if your machine has several);
# port 0: any free port, so that classmates sharing a machine do not collide
address = "0.0.0.0"
sip_port = 0

# your second phone (notebooks 02-04 call it guillaume)
[accounts.guillaume]
username = "{second.username}"
number = "{second.number}"
display_name = "{second.display_name}"
password = "{second.password}"
address = "0.0.0.0"
sip_port = 0

# the real Alcatel IP Touch on the desk: you call it ({ALCATEL_NUMBER}), you never register it
[accounts.alcatel]
number = "{ALCATEL_NUMBER}"

[alcatel]
simulated = false
mac = "{room.alcatel_mac}"
"""


@dataclass(frozen=True)
class ClassroomFiles:
    """What :func:`render_classroom` wrote."""

    classroom: Classroom
    server: Path
    alcatel: Path
    students: Path

    def __repr__(self) -> str:
        return (f"ClassroomFiles({len(self.classroom.students)} students: server files in {self.server}, "
                f"lab.toml files in {self.students})")


def render_classroom(roster: str | os.PathLike[str], out: str | os.PathLike[str], *, server: str, port: int = 5060,
                     alcatel_mac: str = AlcatelConfig().mac, alcatel_address: str = "192.168.1.81",
                     instructor_address: str = "127.0.0.1") -> ClassroomFiles:
    """Render the course server for a roster (see the module docstring). Idempotent; keeps passwords.

    Raises:
        ConfigError: the roster, an address or the MAC is invalid.
    """
    from .provisioning import write_files  # provisioning: only when a class is rendered

    students = read_roster(roster)
    base = Path(out)
    private_dir(base)
    state_file = base / "classroom.json"
    previous = _load_state(state_file)
    room = build_classroom(students, previous, server=server, port=port, alcatel_mac=alcatel_mac)
    # the addresses and the MAC go into files: LabConfig checks them as it checks a lab.toml
    desk = Account("alcatel", ALCATEL_NUMBER, room.alcatel.display_name, room.alcatel.password, alcatel_address)
    alcatel_cfg = LabConfig(pbx=PbxConfig(mode="classroom", host=server, port=port),
                            accounts=tuple(desk if a.name == "alcatel" else a for a in DEFAULT_ACCOUNTS),
                            alcatel=AlcatelConfig(simulated=False, mac=alcatel_mac))
    try:
        ipaddress.ip_address(instructor_address)
    except ValueError:
        raise ConfigError(f"the instructor's address {instructor_address!r} must be an IP address such as "
                          "192.168.1.10") from None
    write_private(state_file, json.dumps(_state_of(room, previous), indent=1) + "\n")
    server_dir = private_dir(base / "server")
    files = {
        "pjsip.conf": render_class_pjsip(room),
        "extensions.conf": render_class_extensions(room),
        "queues.conf": render_class_queues(),
        "manager.conf": render_class_manager(room, instructor_address),
    }
    for name, text in files.items():
        write_private(server_dir / name, text)
    alcatel_dir = private_dir(base / "alcatel")
    write_files(alcatel_dir, alcatel_cfg, mac=alcatel_mac)
    students_dir = private_dir(base / "students")
    for s in room.students:
        write_private(private_dir(students_dir / s.id) / "lab.toml", render_student_toml(room, s))
    return ClassroomFiles(room, server_dir, alcatel_dir, students_dir)


# ---------------------------------------------------------------------------- serving the class


class ClassroomPbx(Pbx):
    """The course server's Asterisk: the class's files (``DIR/server``) run by voiplab like the local lab.

    Found and started as the local lab's Asterisk is (``voiplab pbx install``); its state lives in
    ``DIR/asterisk`` (0700). voiplab keeps its own manager account (to see it boot) beside the
    instructor's.
    """

    def __init__(self, class_dir: str | os.PathLike[str], host: str | None = None) -> None:
        self.class_dir = Path(class_dir)
        state = _load_state(self.class_dir / "classroom.json")
        if not state or not (self.class_dir / "server").is_dir():
            raise ConfigError(f"{self.class_dir} holds no rendered class: run 'voiplab classroom render ROSTER "
                              f"--out {self.class_dir} --server ADDRESS' first", path=str(self.class_dir))
        bind = host or str(state.get("server", ""))
        port = int(state.get("port", 5060))  # type: ignore[call-overload]
        super().__init__(LabConfig(pbx=PbxConfig(host=bind, port=port)),
                         lab_dir=self.class_dir / "asterisk")

    def config_files(self, layout: AsteriskLayout, ami_secret: str) -> dict[str, str]:
        """The local lab's generic files (directories, modules, logs, RTP) with the class's own."""
        files = render_all(self.config, layout, ami_secret=ami_secret)
        server = self.class_dir / "server"
        for name in ("pjsip.conf", "extensions.conf", "queues.conf"):
            files[name] = (server / name).read_text(encoding="utf-8")
        instructor = (server / "manager.conf").read_text(encoding="utf-8")
        files["manager.conf"] += "\n" + instructor[instructor.index("[instructor]"):]
        files["modules.conf"] += (f"load => {'app_queue.so':40s}; Queue(): the line in front of the Alcatel\n"
                                  # the music on hold (5000, the queue) and the queue's announcements are
                                  # GSM files: without the translator callers hear silence
                                  f"load => {'codec_gsm.so':40s}; GSM <-> G.711: music on hold, announcements\n")
        return files


def serve_classroom(class_dir: str | os.PathLike[str], *, host: str | None = None, out: TextIO | None = None,
                    until: threading.Event | None = None) -> int:
    """Run the class's Asterisk until Ctrl-C (or ``until`` is set); ``voiplab classroom serve``.

    Raises:
        ConfigError: the directory holds no rendered class.
        PbxError: Asterisk is missing, the address is in use, or it did not boot.
    """
    out = out or sys.stdout
    pbx = ClassroomPbx(class_dir, host)
    pbx.start()
    p = pbx.config.pbx
    print(f"the class's Asterisk runs on {p.host}:{p.port} (SIP/UDP), "
          f"instructor's manager on port 5038; files in {pbx.lab_dir}; Ctrl-C stops it", file=out, flush=True)
    stop = until or threading.Event()
    try:
        while not stop.wait(1.0):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        pbx.stop()
        print("stopped the class's Asterisk", file=out, flush=True)
    return 0


#: the roster of the demonstration class (:func:`demo_classroom`)
DEMO_ROSTER = "id,name\nalice,Alice Martin\nbob,Bob Durand\ncarol,Carole Petit\n"


@dataclass
class DemoClassroom:
    """A small class rendered and served on this machine (:func:`demo_classroom`); ``stop()`` ends it."""

    class_dir: Path
    pbx: ClassroomPbx

    def __repr__(self) -> str:
        p = self.pbx.config.pbx
        return f"DemoClassroom({self.class_dir}, server {p.host}:{p.port})"

    def stop(self) -> None:
        """Stop the class's Asterisk and remove the class directory."""
        try:
            self.pbx.stop()
        finally:
            shutil.rmtree(self.class_dir, ignore_errors=True)


def demo_classroom(host: str | None = None) -> DemoClassroom:
    """Render a three-student class and serve it on this machine, to try the dashboard alone.

    Parameters:
        host: the server address (default: ``.90`` in the user's own loopback block, beside
            their local lab, see :func:`voiplab.config.local_address`).

    Raises:
        PbxError: Asterisk is missing or the address is in use.
    """
    host = host or local_address(90)
    class_dir = scratch_dir("classes", "demo-")
    roster = class_dir / "roster.csv"
    write_private(roster, DEMO_ROSTER)
    try:
        render_classroom(roster, class_dir, server=host, instructor_address=host)
        pbx = ClassroomPbx(class_dir)
        pbx.start()
    except BaseException:
        shutil.rmtree(class_dir, ignore_errors=True)
        raise
    return DemoClassroom(class_dir, pbx)


# ---------------------------------------------------------------------------- the instructor's view


@dataclass(frozen=True)
class LiveCall:
    """A call in progress on the course server, as the instructor's dashboard shows it."""

    channel: str
    caller: str
    callee: str
    started: float
    state: str
    #: the last RTCP report about it: fraction lost (%), interarrival jitter (ms), round trip (ms)
    loss_pct: float | None = None
    jitter_ms: float | None = None
    rtt_ms: float | None = None


@dataclass(frozen=True)
class ClassSnapshot:
    """What the course server shows at one moment (:meth:`ClassroomMonitor.snapshot`)."""

    time: float
    registered: dict[str, str]
    calls: tuple[LiveCall, ...]
    #: callers waiting for the Alcatel: (caller, seconds waited so far), in queue order
    waiting: tuple[tuple[str, float], ...]
    #: every finished wait for the Alcatel, in seconds (answered or given up)
    waits: tuple[float, ...]


class ClassroomMonitor:
    """The instructor's live view of the course server, from its manager events (AMI).

    Who is registered (``ContactStatus``), the calls in progress (``Newchannel``/``Hangup``)
    with the quality their RTCP reports give (``RTCPReceived``: loss, jitter, round trip), who
    waits for the Alcatel (``QueueCallerJoin``/``Leave``). One AMI session, read by a thread;
    :meth:`snapshot` is safe from any thread. Only the instructor's account can log in.

    Taught in the instructor's dashboard (``course/dashboard.ipynb``).
    """

    def __init__(self, class_dir: str | os.PathLike[str], *, host: str | None = None, port: int = 5038) -> None:
        state = _load_state(Path(class_dir) / "classroom.json")
        secret = str(state.get("instructor_secret") or "")
        if not secret:
            raise ConfigError(f"{class_dir} holds no rendered class: run 'voiplab classroom render' first",
                              path=str(class_dir))
        self.host = host or str(state.get("server", "127.0.0.1"))
        self._client = AmiClient(self.host, port, "instructor", secret, local=False)
        self._lock = threading.Lock()
        self._registered: dict[str, str] = {}
        self._calls: dict[str, LiveCall] = {}
        self._waiting: dict[str, tuple[str, float]] = {}
        self._waits: list[float] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.error = ""

    def __repr__(self) -> str:
        snap = self.snapshot()
        return (f"ClassroomMonitor({self.host}: {len(snap.registered)} registered, {len(snap.calls)} channels, "
                f"{len(snap.waiting)} waiting for the Alcatel)")

    def start(self) -> ClassroomMonitor:
        """Connect and follow the events (in a thread). Returns ``self``.

        Raises:
            PbxError: the manager is not reachable or refused the instructor's login.
        """
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            try:
                with self._client.session() as s:
                    for contact in self._initial_contacts(s):
                        self._on_event(contact)
                    ready.set()
                    s.sock.settimeout(0.5)
                    while not self._stop.is_set():
                        try:
                            self._on_event(dict(s.read_packet()))
                        except PbxError as e:
                            if "did not answer in time" not in str(e):
                                raise
            except BaseException as e:  # noqa: BLE001 - reported by start() or in .error
                failure.append(e)
                self.error = str(e)
                ready.set()

        self._thread = threading.Thread(target=run, name="voiplab-classroom-monitor", daemon=True)
        self._thread.start()
        ready.wait(10)
        if failure:
            raise failure[0]
        return self

    def _initial_contacts(self, s: AmiSession) -> list[dict[str, str]]:
        action_id = s.send({"Action": "PJSIPShowContacts"})
        found = []
        while True:
            d = dict(s.read_packet())
            if d.get("ActionID") != action_id:
                continue
            if d.get("Event") == "ContactList":
                found.append({"Event": "ContactStatus", "AOR": d.get("Aor", ""), "URI": d.get("Uri", ""),
                              "ContactStatus": "Reachable" if d.get("Status") != "Unavailable" else "Unreachable"})
            if d.get("Event") == "ContactListComplete" or d.get("Response") == "Error":
                return found

    def _on_event(self, d: dict[str, str]) -> None:
        event = d.get("Event", "")
        now = time.time()
        with self._lock:
            if event == "ContactStatus":
                aor, status = d.get("AOR", ""), d.get("ContactStatus", "")
                if status in ("Removed", "Unreachable"):
                    self._registered.pop(aor, None)
                else:
                    self._registered[aor] = d.get("URI", "")
            elif event == "Newchannel":
                chan = d.get("Channel", "")
                self._calls[chan] = LiveCall(chan, d.get("CallerIDNum", ""), d.get("Exten", ""), now,
                                             d.get("ChannelStateDesc", ""))
            elif event == "Newstate" and d.get("Channel", "") in self._calls:
                chan = d["Channel"]
                self._calls[chan] = _replace_call(self._calls[chan], state=d.get("ChannelStateDesc", ""))
            elif event == "Hangup":
                self._calls.pop(d.get("Channel", ""), None)
            elif event == "RTCPReceived" and d.get("Channel", "") in self._calls:
                lost = d.get("Report0FractionLost")
                jitter = d.get("Report0IAJitter")
                rtt = d.get("RTT")
                self._calls[d["Channel"]] = _replace_call(
                    self._calls[d["Channel"]],
                    loss_pct=100.0 * int(lost) / 256 if lost and lost.isdigit() else None,
                    jitter_ms=int(jitter) / 8.0 if jitter and jitter.isdigit() else None,  # 8000 Hz clock units
                    rtt_ms=1000.0 * float(rtt) if rtt and _is_number(rtt) else None)
            elif event == "QueueCallerJoin":
                self._waiting[d.get("Uniqueid", d.get("Channel", ""))] = (d.get("CallerIDNum", ""), now)
            elif event in ("QueueCallerLeave", "QueueCallerAbandon"):
                joined = self._waiting.pop(d.get("Uniqueid", d.get("Channel", "")), None)
                if joined is not None:
                    self._waits.append(now - joined[1])

    def snapshot(self) -> ClassSnapshot:
        """The course server now: registrations, calls with their quality, the Alcatel's queue."""
        now = time.time()
        with self._lock:
            return ClassSnapshot(now, dict(self._registered), tuple(self._calls.values()),
                                 tuple((who, now - since) for who, since in self._waiting.values()),
                                 tuple(self._waits))

    def stop(self) -> None:
        """Stop following the events (logs off)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _replace_call(call: LiveCall, **changes: object) -> LiveCall:
    """A copy of ``call`` with some fields changed (a frozen dataclass)."""
    return dataclasses.replace(call, **changes)  # type: ignore[arg-type]
