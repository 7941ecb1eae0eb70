"""Per-student variants of the graded exercises: one seed per student id, one lab per seed.

Two students who copy each other's answers must fail, so each student works on a lab of
their own: :func:`variant_for` turns a student id (nbgrader's, JupyterHub's user name, or
a roster's) into a :class:`Variant`, deterministically (the same id always gives the same
variant, on every machine, in every Python version: each value is read from its own
SHA-256 hash of the id, never from a random generator whose stream may change):

* the accounts' numbers (a block of its own: ``<block>1`` the Alcatel, ``<block>2`` rpi,
  ``<block>3`` the second phone) and passwords;
* the codec Asterisk allows (PCMU or PCMA) and the answer delay (``Answer(N)``);
* the simulated Alcatel's tone, Morse word, RTP port and the share of the RTP packets
  it drops (pjmedia's loss simulation: gaps in the sequence numbers);
* the DTMF digits rpi sends in the recorded call, and which G.711 byte the student decodes.

:meth:`Variant.lab_config` applies it to a lab configuration (the addresses stay the
lab's), :meth:`Variant.lab_toml` writes it as a ``lab.toml`` that ``voiplab.config``
accepts. :func:`record_captures` records, in that lab, the registration and the call the
exercises ask about (the student's own captures, or the instructor's at release time for
students who cannot capture), with a manifest (``captures.json``: whose, how, SHA-256 of
each file) that the grader checks.

Taught in the graded exercises (``notebooks/exercises/``) and in ``docs/grading.md``.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import os
import shutil
import string
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Literal

from ..capture.sipread import read_flow
from ..config import STUDENT_ID_RE, LabConfig, PbxConfig, VariantConfig, load_config
from ..core.g711 import alaw_decode, ulaw_decode
from ..core.rtpstats import RtpStream
from ..devices.lab import Lab
from ..errors import ConfigError, VoipLabError
from .experiments import Experiment, from_pcap, record_call, record_registration

__all__ = [
    "CAPTURE_NAMES",
    "MANIFEST",
    "CaptureFile",
    "Captures",
    "Variant",
    "capture_lab",
    "g711_target",
    "read_captures",
    "record_captures",
    "sha256_of",
    "student_id",
    "variant_for",
]

#: mixed into every hash: a course can change it to give every student a new variant
DEFAULT_COURSE = "voiplab"
#: the account blocks a variant may get (``<block>1`` .. ``<block>3``); 500 is the report's lab
NUMBER_BLOCKS = tuple(b for b in range(100, 1000) if b != 500)
#: password characters: letters and digits only (no character any file would need to quote)
PASSWORD_ALPHABET = string.ascii_letters + string.digits
PASSWORD_LENGTH = 10
#: the codecs a variant may impose: (RTP name, Asterisk name, static payload type)
CODEC_CHOICES = (("PCMU", "ulaw", 0), ("PCMA", "alaw", 8))
#: Answer(N): 550 to 1500 ms in 50 ms steps (Asterisk's Answer() waits at least 500 ms for media)
ANSWER_MS_CHOICES = tuple(range(550, 1501, 50))
#: the Alcatel's tone: 600 to 2400 Hz in 10 Hz steps (G.711 carries up to 4000 Hz)
TONE_HZ_CHOICES = tuple(float(f) for f in range(600, 2401, 10))
#: short words, so that a 4 s call holds a whole one in Morse code
MORSE_WORDS = ("SIP", "RTP", "SDP", "ACK", "BYE", "UDP", "PBX", "RING", "CALL", "VOIP", "LAB", "TONE", "BEEP",
               "ECHO", "CODE", "MUTE", "HOLD", "DIAL", "PORT", "NAT", "OK", "HI", "TEST", "LINK")
#: percent of its RTP packets the Alcatel drops (pjmedia drops about pct + 1 %)
TX_LOSS_CHOICES = (2, 3, 4, 5)
#: the Alcatel's first RTP port: even, 40000 to 43998
RTP_PORT_CHOICES = tuple(range(40000, 44000, 2))
DTMF_DIGITS = "0123456789"
DTMF_LENGTH = 4
#: the G.711 byte a student decodes by hand: packet index (after direct media) and byte offset
G711_PACKET_CHOICES = tuple(range(20, 60))
G711_BYTE_CHOICES = tuple(range(0, 160))
#: a byte decoding to less than this (in absolute value) is silence: not worth decoding by hand
G711_SILENCE = 256
#: seconds the simulated Alcatel rings in a variant's lab (the report's 2 s, shortened)
VARIANT_RING_S = 1.0
#: seconds of conversation in a recorded call (a whole Morse word fits)
CALL_SECONDS = 4.0
#: the captures the exercises use, by name (``<name>.pcap`` in a capture directory)
CAPTURE_NAMES = ("register", "call")
#: the manifest of a capture directory
MANIFEST = "captures.json"
#: how a capture directory was made
CaptureHow = Literal["lab", "offline"]


def _pick(material: str, label: str, choices: tuple[object, ...] | str) -> object:
    """The element of ``choices`` that the SHA-256 of ``material`` and ``label`` points to."""
    digest = hashlib.sha256(f"{material}\0{label}".encode()).digest()
    return choices[int.from_bytes(digest[:8], "big") % len(choices)]


def _text(material: str, label: str, alphabet: str, length: int) -> str:
    return "".join(str(_pick(material, f"{label}[{i}]", alphabet)) for i in range(length))


def _check_student(student: str) -> str:
    if not isinstance(student, str) or not STUDENT_ID_RE.fullmatch(student):
        raise ConfigError(f"the student id {student!r} is not one nbgrader accepts: use letters, digits "
                          "and . _ @ + - (at most 64 characters)", key="variant.student")
    return student


@dataclass(frozen=True)
class Variant:
    """One student's lab and exercise parameters (see the module docstring).

    Attributes:
        student: the student id it was drawn for.
        block: the account block (``rpi`` is ``f"{block}2"``).
        rpi_password, alcatel_password, second_password: the accounts' passwords.
        codec: ``"PCMU"`` or ``"PCMA"``, the only codec Asterisk allows.
        answer_ms: the dial plan's ``Answer(N)`` delay.
        tone_hz, morse: the simulated Alcatel's signal.
        tx_loss_pct: the share of its RTP packets the Alcatel drops.
        alcatel_rtp_port: the Alcatel's RTP port.
        dtmf: the digits rpi sends during the recorded call.
        g711_packet, g711_byte: which payload byte of the Alcatel's stream the student decodes.

    Taught in the graded exercises.
    """

    student: str
    block: int
    rpi_password: str
    alcatel_password: str
    second_password: str
    codec: str
    answer_ms: int
    tone_hz: float
    morse: str
    tx_loss_pct: int
    alcatel_rtp_port: int
    dtmf: str
    g711_packet: int
    g711_byte: int

    def __repr__(self) -> str:  # no password, and nothing an exercise asks to measure
        return f"Variant({self.student}: rpi {self.rpi_number}, Alcatel {self.alcatel_number})"

    @property
    def alcatel_number(self) -> str:
        """The simulated Alcatel's number in this variant (``"<block>1"``)."""
        return f"{self.block}1"

    @property
    def rpi_number(self) -> str:
        """The student's phone's number (``"<block>2"``)."""
        return f"{self.block}2"

    @property
    def second_number(self) -> str:
        """The second phone's number (``"<block>3"``)."""
        return f"{self.block}3"

    @property
    def payload_type(self) -> int:
        """The static RTP payload type of :attr:`codec` (0 PCMU, 8 PCMA)."""
        return next(pt for name, _ast, pt in CODEC_CHOICES if name == self.codec)

    @property
    def asterisk_codec(self) -> str:
        """The codec's Asterisk name (``ulaw``/``alaw``), for ``lab.toml``'s ``codecs``."""
        return next(ast for name, ast, _pt in CODEC_CHOICES if name == self.codec)

    def lab_config(self, base: LabConfig | None = None) -> LabConfig:
        """``base`` (default: the current lab) with this variant's accounts, codec, dial plan and Alcatel.

        The addresses, ports and mode stay ``base``'s; the result passes every check of
        :mod:`voiplab.config`.
        """
        base = base if base is not None else load_config()
        numbers = {"alcatel": (self.alcatel_number, self.alcatel_password),
                   "rpi": (self.rpi_number, self.rpi_password),
                   "guillaume": (self.second_number, self.second_password)}
        accounts = tuple(replace(a, number=numbers[a.name][0], password=numbers[a.name][1]) if a.name in numbers
                         else a for a in base.accounts)
        return base.with_overrides(
            accounts=accounts,
            codecs=(self.asterisk_codec,),
            dialplan=replace(base.dialplan, answer_ms=self.answer_ms),
            alcatel=replace(base.alcatel, signal_hz=self.tone_hz, morse=self.morse, tx_loss_pct=self.tx_loss_pct,
                            rtp_port=self.alcatel_rtp_port, ring_s=VARIANT_RING_S),
            variant=VariantConfig(student=self.student),
            source=None,
        )

    def lab_toml(self, base: LabConfig | None = None) -> str:
        """:meth:`lab_config` as the text of a ``lab.toml`` (every key written out)."""
        return config_toml(self.lab_config(base), header=f"voiplab exercises variant for student {self.student}")


def variant_for(student: str, course: str = DEFAULT_COURSE) -> Variant:
    """The variant of ``student`` (the same id always gives the same variant).

    Parameters:
        student: the student id (nbgrader's; letters, digits and ``. _ @ + -``).
        course: mixed into every value: another course name gives every student new values.

    Raises:
        ConfigError: ``student`` is not a valid student id.

    Taught in the graded exercises.
    """
    _check_student(student)
    m = f"{course}\0{student}"
    codec = _pick(m, "codec", tuple(c[0] for c in CODEC_CHOICES))
    return Variant(
        student=student,
        block=int(str(_pick(m, "block", NUMBER_BLOCKS))),
        rpi_password=_text(m, "rpi-password", PASSWORD_ALPHABET, PASSWORD_LENGTH),
        alcatel_password=_text(m, "alcatel-password", PASSWORD_ALPHABET, PASSWORD_LENGTH),
        second_password=_text(m, "second-password", PASSWORD_ALPHABET, PASSWORD_LENGTH),
        codec=str(codec),
        answer_ms=int(str(_pick(m, "answer", ANSWER_MS_CHOICES))),
        tone_hz=float(str(_pick(m, "tone", TONE_HZ_CHOICES))),
        morse=str(_pick(m, "morse", MORSE_WORDS)),
        tx_loss_pct=int(str(_pick(m, "loss", TX_LOSS_CHOICES))),
        alcatel_rtp_port=int(str(_pick(m, "rtp-port", RTP_PORT_CHOICES))),
        dtmf=_text(m, "dtmf", DTMF_DIGITS, DTMF_LENGTH),
        g711_packet=int(str(_pick(m, "g711-packet", G711_PACKET_CHOICES))),
        g711_byte=int(str(_pick(m, "g711-byte", G711_BYTE_CHOICES))),
    )


def student_id(config: LabConfig | None = None) -> str:
    """Who is working: ``$VOIPLAB_STUDENT``, else the lab's ``[variant] student``, else
    ``$JUPYTERHUB_USER``, else the login name.

    Raises:
        ConfigError: the id found is not a valid student id.

    Taught in the graded exercises.
    """
    explicit = os.environ.get("VOIPLAB_STUDENT")
    if explicit:
        return _check_student(explicit)
    cfg = config if config is not None else load_config()
    if cfg.variant.student:
        return cfg.variant.student
    hub = os.environ.get("JUPYTERHUB_USER")
    if hub:
        return _check_student(hub)
    try:
        return _check_student(getpass.getuser())
    except (OSError, KeyError):
        raise ConfigError("no student id: set VOIPLAB_STUDENT=<your id> (the one your instructor uses)",
                          key="variant.student") from None


def g711_target(stream: RtpStream, variant: Variant) -> tuple[int, int]:
    """The G.711 byte a student decodes by hand: ``(packet index in the stream, byte offset)``.

    The variant's packet (:attr:`Variant.g711_packet`, counted among the stream's G.711
    packets in arrival order) and byte offset; when that byte is silence (the Alcatel's
    Morse signal is keyed on and off), the first later G.711 packet where it is not.

    Raises:
        VoipLabError: the stream has no such packet.

    Taught in the graded exercises (chapter 5).
    """
    pts = [int(pt) for pt in stream.payload_type]
    g711 = [i for i, pt in enumerate(pts) if pt in (0, 8)]
    j = variant.g711_byte
    for n in range(variant.g711_packet, len(g711)):
        i = g711[n]
        payload = stream.payload(i)
        if j < len(payload):
            decode = ulaw_decode if pts[i] == 0 else alaw_decode
            if abs(int(decode(payload[j:j + 1])[0])) >= G711_SILENCE:
                return i, j
    raise VoipLabError(f"the stream has no G.711 packet after packet {variant.g711_packet} whose byte {j} is "
                       "not silence: record a longer call")


# ---------------------------------------------------------------------------- lab.toml text


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (tuple, list)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(str(value), ensure_ascii=False)  # a TOML basic string


def config_toml(cfg: LabConfig, header: str = "") -> str:
    """A ``lab.toml`` text with every key of ``cfg`` (``load_config`` reads it back equal)."""
    lines = [f"# {header}", ""] if header else []
    lines += [f"codecs = {_toml_value(cfg.codecs)}", f"language = {_toml_value(cfg.language)}", ""]
    for section in ("pbx", "dialplan", "alcatel", "webrtc", "variant"):
        obj = getattr(cfg, section)
        lines.append(f"[{section}]")
        lines += [f"{f.name} = {_toml_value(getattr(obj, f.name))}" for f in fields(obj)]
        lines.append("")
    for acc in cfg.accounts:
        lines.append(f"[accounts.{acc.name}]")
        lines += [f"{k} = {_toml_value(v)}" for k, v in asdict(acc).items() if k != "name"]
        lines.append("")
    return "\n".join(lines)


# ---------------------------------------------------------------------------- captures


def sha256_of(path: str | os.PathLike[str]) -> str:
    """The SHA-256 of a file, in hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 16), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class CaptureFile:
    """One capture of a capture directory: its name (``"call"``), path and SHA-256."""

    name: str
    path: Path
    sha256: str


@dataclass(frozen=True)
class Captures:
    """The captures of one student (a directory with ``register.pcap``, ``call.pcap``, ``captures.json``).

    Attributes:
        student: whose variant the lab ran when they were recorded.
        how: ``"lab"`` (recorded by the student) or ``"offline"`` (by the instructor at release time).
        directory: where they are.
        files: name -> :class:`CaptureFile`.
        recorded: when (seconds since the epoch).

    Taught in the graded exercises.
    """

    student: str
    how: CaptureHow
    directory: Path
    files: Mapping[str, CaptureFile]
    recorded: float = 0.0

    def __getitem__(self, name: str) -> CaptureFile:
        return self.files[name]

    def experiment(self, name: str, variant: Variant | None = None) -> Experiment:
        """The capture ``name`` as an :class:`~voiplab.teach.experiments.Experiment` (flow, streams).

        The lab's roles (which address is the PBX, rpi, the Alcatel) come from the capture
        itself (:func:`capture_lab`): an offline capture recorded in the instructor's lab
        keeps its own addresses.
        """
        path = self.files[name].path
        lab = capture_lab(path, variant if variant is not None else variant_for(self.student))
        return from_pcap(path, lab=lab, name=f"{name} ({self.student}, {self.how})")

    def manifest(self) -> dict[str, object]:
        """What ``captures.json`` holds."""
        return {"student": self.student, "how": self.how, "recorded": self.recorded,
                "files": {n: {"file": f.path.name, "sha256": f.sha256} for n, f in self.files.items()}}


def read_captures(directory: str | os.PathLike[str], *, verify: bool = True) -> Captures:
    """The captures of a directory, from its ``captures.json``.

    Parameters:
        directory: the capture directory.
        verify: check each file's SHA-256 against the manifest.

    Raises:
        VoipLabError: no manifest, a file missing, or a file that is not the one the manifest names.

    Taught in the graded exercises.
    """
    d = Path(directory)
    if d.is_symlink() or (d / MANIFEST).is_symlink():
        raise VoipLabError(f"the capture directory {d} is a symbolic link: hand in the captures themselves")
    try:
        data = json.loads((d / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise VoipLabError(f"the capture directory {d} has no readable {MANIFEST} ({e}): record the captures "
                           "with vl.assignment(...) or 'voiplab exercises captures'") from None
    if not isinstance(data, dict) or not isinstance(data.get("files"), dict):
        raise VoipLabError(f"{d / MANIFEST} is not a capture manifest: record the captures again")
    how = data.get("how")
    student = data.get("student")
    if how not in ("lab", "offline") or not isinstance(student, str):
        raise VoipLabError(f"{d / MANIFEST} does not say whose captures these are: record them again")
    files: dict[str, CaptureFile] = {}
    for name in CAPTURE_NAMES:
        entry = data["files"].get(name)
        if not isinstance(entry, dict) or not isinstance(entry.get("file"), str):
            raise VoipLabError(f"{d / MANIFEST} has no {name} capture: record the captures again")
        path = d / Path(str(entry["file"])).name
        if path.is_symlink():
            raise VoipLabError(f"the capture {path} is a symbolic link: hand in the capture itself")
        if not path.is_file():
            raise VoipLabError(f"the capture {path} is missing: record the captures again")
        digest = sha256_of(path) if verify else str(entry.get("sha256", ""))
        if verify and digest != entry.get("sha256"):
            raise VoipLabError(f"the capture {path} is not the one {MANIFEST} names (its SHA-256 changed): "
                               "record the captures again rather than editing them")
        files[name] = CaptureFile(name, path, digest)
    recorded = data.get("recorded", 0.0)
    return Captures(student, how, d, files, float(recorded) if isinstance(recorded, (int, float)) else 0.0)


def capture_lab(pcap: str | os.PathLike[str], variant: Variant) -> LabConfig:
    """The lab a capture was recorded in: ``variant`` on the capture's own addresses.

    The PBX is where the first REGISTER (or the first INVITE) went, rpi is who sent it,
    the Alcatel is where the PBX sent its own INVITE.

    Raises:
        VoipLabError: the capture has neither a REGISTER nor an INVITE.
    """
    flow = read_flow(pcap)
    first = next((m for m in flow.messages if m.method in ("REGISTER", "INVITE") and not m.retransmission), None)
    if first is None:
        raise VoipLabError(f"the capture {pcap} has no REGISTER nor INVITE: it is not a capture of the exercises")
    pbx, rpi = first.dst.rsplit(":", 1)[0], first.src.rsplit(":", 1)[0]
    addresses = {"rpi": rpi}
    for m in flow.messages:
        if m.method == "INVITE" and m.src.rsplit(":", 1)[0] == pbx and m.dst.rsplit(":", 1)[0] != rpi:
            addresses["alcatel"] = m.dst.rsplit(":", 1)[0]
            break
    base = LabConfig()
    used = {pbx, *addresses.values()}
    spare = (f"127.255.255.{n}" for n in range(1, 250))
    accounts = []
    for acc in base.accounts:
        address = addresses.get(acc.name)
        if address is None:
            address = acc.address if acc.address not in used else next(a for a in spare if a not in used)
        used.add(address)
        accounts.append(replace(acc, address=address))
    return variant.lab_config(base.with_overrides(pbx=replace(PbxConfig(), host=pbx), accounts=tuple(accounts)))


def _write_captures(student: str, how: CaptureHow, out: Path, pcaps: Mapping[str, Path]) -> Captures:
    out.mkdir(parents=True, exist_ok=True)
    files = {}
    for name, src in pcaps.items():
        dst = out / f"{name}.pcap"
        shutil.copyfile(src, dst)
        files[name] = CaptureFile(name, dst, sha256_of(dst))
    caps = Captures(student, how, out, files, time.time())
    (out / MANIFEST).write_text(json.dumps(caps.manifest(), indent=2) + "\n", encoding="utf-8")
    return caps


def record_captures(variant: Variant, out: str | os.PathLike[str], *, how: CaptureHow = "lab",
                    base: LabConfig | None = None, seconds: float = CALL_SECONDS) -> Captures:
    """Record, in a lab running ``variant``, the registration and the call of the exercises.

    In the local lab, the running lab (if any) is stopped, the lab is started with the
    variant's configuration, rpi registers (``register.pcap``), then calls the Alcatel,
    sends the variant's DTMF digits and hangs up after ``seconds`` (``call.pcap``); the
    variant's lab is stopped and the lab that ran before is started again. In classroom
    mode the course server must already run this student's variant (``[variant] student``
    of the student's ``lab.toml``).

    Parameters:
        variant: the student's :class:`Variant`.
        out: the capture directory to write (``register.pcap``, ``call.pcap``, ``captures.json``).
        how: ``"lab"`` for a student's own recording, ``"offline"`` for the instructor's.
        base: the lab to run the variant on (default: the current lab configuration).
        seconds: seconds of conversation.

    Raises:
        CaptureError: live capture is not permitted here (the exercises need the RTP).
        VoipLabError: the lab could not start, or a classroom server runs another variant.

    Taught in the graded exercises (for instructors: ``voiplab exercises captures``).
    """
    base = base if base is not None else load_config()
    cfg = variant.lab_config(base)
    out_dir = Path(out)
    if not base.is_local:
        if base.variant.student != variant.student:
            raise VoipLabError(f"the classroom lab runs the variant of {base.variant.student or 'nobody'}, not "
                               f"{variant.student}'s: use the lab.toml your instructor gave you")
        lab = Lab(base)
        reg = record_registration(lab, "rpi", capture=True)
        call = record_call(lab, caller="rpi", number=variant.alcatel_number, seconds=seconds, dtmf=variant.dtmf,
                           capture=True)
        return _write_captures(variant.student, how, out_dir, _pcaps(reg, call))
    before = Lab(base)
    was_running = before.pbx.is_running()
    if was_running:
        before.down()
    lab = Lab(cfg)
    try:
        lab.up()
        reg = record_registration(lab, "rpi", capture=True)
        call = record_call(lab, caller="rpi", number=variant.alcatel_number, seconds=seconds, dtmf=variant.dtmf,
                           capture=True)
        return _write_captures(variant.student, how, out_dir, _pcaps(reg, call))
    finally:
        lab.down()
        if was_running:
            before.up()


def _pcaps(reg: Experiment, call: Experiment) -> dict[str, Path]:
    if reg.pcap is None or call.pcap is None:
        raise VoipLabError(f"the lab recorded no capture ({reg.note or call.note}): the exercises need one")
    if reg.error:
        raise VoipLabError(f"rpi could not register in the variant's lab: {reg.error}")
    return {"register": reg.pcap, "call": call.pcap}
