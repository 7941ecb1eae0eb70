"""The student's own ``pjsip.conf`` and ``extensions.conf``: a copy to edit, applied to the lab's Asterisk.

Chapter 2 of the report *is* writing these two files. The lab gives each student an
editable copy of the rendered files, comments included, in a folder beside the notebooks
(:data:`COPY_FOLDER`, ``my-asterisk/``); the student edits it in JupyterLab and applies it
with ``lab.reload()``, which copies it into the lab, reloads Asterisk through the lab's
manager interface, reads what Asterisk logged about the files and shows what Asterisk now
runs. A file Asterisk complains about never stays: the last working files are put back and
reloaded, and the error quotes Asterisk's complaint with the file and line.
``lab.reset_config()`` goes back to the rendered files.

**An applied edit survives** ``lab down``/``lab up``: the lab is the student's. The lab
keeps the last working files in its state directory (:class:`EditRecord`) with a
fingerprint of the rendered files they were made from, and starts Asterisk with them as
long as the lab's configuration (lab.toml) renders the same files. When lab.toml changed,
the lab starts from the new rendered files and says so (``lab.up()``, ``lab.status()``).

This module holds the pure parts (what Asterisk logged about a file, the dial plan as it
runs, the checks made before a file reaches Asterisk) and the lab-side record;
:meth:`voiplab.devices.pbx.Pbx.apply_config` does the reload and
:class:`voiplab.devices.lab.Lab` the folder.

Taught in notebook 02 (the Asterisk PBX: students write the configuration).
"""

from __future__ import annotations

import contextlib
import hashlib
import html
import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from ..errors import PbxError
from ..paths import private_dir, write_private

__all__ = [
    "COPY_FOLDER",
    "EDITABLE_FILES",
    "RELOAD_COMMANDS",
    "AsteriskComplaint",
    "ConfigCopy",
    "DialplanEntry",
    "EditRecord",
    "check_student_text",
    "complaints_in_log",
    "dial_targets",
    "edit_file",
    "fingerprint",
    "parse_applications",
    "parse_dialplan",
    "unknown_applications",
]

#: the files a student writes (chapter 2 of the report), in the order they are reloaded
EDITABLE_FILES = ("pjsip.conf", "extensions.conf")
#: the folder of the student's copy, beside the notebooks (JupyterLab's file browser shows it)
COPY_FOLDER = "my-asterisk"
#: the Asterisk CLI command that makes Asterisk read each file again
RELOAD_COMMANDS = {"pjsip.conf": "module reload res_pjsip.so", "extensions.conf": "dialplan reload"}
#: a student's file larger than this is not a configuration file
MAX_FILE_BYTES = 256 * 1024
#: directives a student's file may not use: the copy must say everything itself (``#exec`` runs
#: programs, ``#include`` reads other files of the PBX)
FORBIDDEN_DIRECTIVES = ("#include", "#tryinclude", "#exec")
#: the log levels that make a reload fail
COMPLAINT_LEVELS = ("ERROR", "WARNING")
#: the Asterisk sources whose complaints during a reload are about the configuration files
CONFIG_SOURCES = ("config.c", "config_options.c", "pbx_config.c", "res_sorcery_config.c", "sorcery.c")

# [2026-11-29 09:55:50.012] ERROR[871] config_options.c: Could not find option ...
# (a call adds its id: WARNING[871][C-00000001] chan_pjsip.c: ...)
_LOG_LINE_RE = re.compile(r"^\[(?P<time>[^\]]*)\]\s+(?P<level>[A-Z]+)\[\d+\](?:\[[^\]]*\])?\s+"
                          r"(?P<source>[\w./-]+):\s+(?P<text>.*)$")
# "..., line 78 of /lab/etc/pjsip.conf", "... at line 17 of extensions.conf!", "... in line 53 of ..."
_WHERE_RE = re.compile(r"(?:,\s*|\s+)(?:at\s+|in\s+)?line\s+(?P<line>\d+)\s+of\s*(?P<file>\S*?)!?\s*$")
# [ Context 'plan-num' created by 'pbx_config' ]
_CONTEXT_RE = re.compile(r"^\[ Context '(?P<context>[^']*)' created by '(?P<registrar>[^']*)' \]")
#   '5001' =>         1. Answer(500)                                [extensions.conf:17]
#      [next]         2. Playback(beep)                             [extensions.conf:34]
#   '7001' =>         hint: PJSIP/rpi                               [extensions.conf:35]
_ENTRY_RE = re.compile(r"^\s*(?:'(?P<exten>[^']*)'\s+=>)?\s*(?:\[(?P<label>[^\]]*)\])?\s*"
                       r"(?:(?P<priority>\d+)\.\s+(?P<app>[A-Za-z0-9_]+)\((?P<data>.*)\)|hint:\s+(?P<hint>\S+))"
                       r"\s+\[(?P<file>[^\]:]+):(?P<line>\d+)\]\s*$")
#                 Answer: Answer a channel if ringing.
_APPLICATION_RE = re.compile(r"^\s*(?P<name>[A-Za-z0-9_]+):\s")
# Dial(PJSIP/alcatel,25) or Dial(PJSIP/alcatel&PJSIP/rpi,25)
_PJSIP_TARGET_RE = re.compile(r"PJSIP/(?P<endpoint>[^,&/)\s]+)")


@dataclass(frozen=True)
class AsteriskComplaint:
    """One ERROR or WARNING line Asterisk logged about a configuration file.

    Attributes:
        level: ``"ERROR"`` or ``"WARNING"``.
        file: the file it is about (``"extensions.conf"``).
        line: the line of that file, when Asterisk said it (``None`` otherwise).
        text: what Asterisk said, without the "line N of file" part.
        source: the Asterisk source file that logged it (``pbx_config.c``).
    """

    level: str
    file: str
    line: int | None
    text: str
    source: str = ""

    def __str__(self) -> str:
        where = f"line {self.line}: " if self.line is not None else ""
        return f"{where}{self.text} ({self.level} from {self.source or 'Asterisk'})"

    def __repr__(self) -> str:
        return f"AsteriskComplaint({self.file}:{self.line} {self.level} {self.text!r})"


def complaints_in_log(log_text: str, file: str) -> list[AsteriskComplaint]:
    """The ERROR/WARNING lines of an Asterisk log excerpt that are about the configuration.

    The excerpt is what Asterisk logged while it reloaded ``file``: lines from its
    configuration parsers (``config.c``, ``pbx_config.c``, sorcery), from ``res_pjsip``, or
    naming the file. Repeated lines (res_pjsip reads pjsip.conf once per object type) are
    given once.

    Parameters:
        log_text: lines of the lab's ``messages`` log.
        file: the file that was reloaded (``"pjsip.conf"``).

    Taught in notebook 02 (what Asterisk says about a broken file).
    """
    found: list[AsteriskComplaint] = []
    seen: set[tuple[str, int | None, str]] = set()
    for raw in log_text.splitlines():
        m = _LOG_LINE_RE.match(raw.strip())
        if m is None or m["level"] not in COMPLAINT_LEVELS:
            continue
        source, text = m["source"], m["text"].strip()
        about_config = (os.path.basename(source) in CONFIG_SOURCES or source.startswith("res_pjsip")
                        or file in text)
        if not about_config:
            continue
        line: int | None = None
        where = _WHERE_RE.search(text)
        if where is not None:
            line = int(where["line"])
            text = text[:where.start()].rstrip(" ,")
        key = (m["level"], line, text)
        if key in seen:
            continue
        seen.add(key)
        found.append(AsteriskComplaint(m["level"], file, line, text, source))
    return found


@dataclass(frozen=True)
class DialplanEntry:
    """One priority of the dial plan as Asterisk runs it (a line of ``dialplan show``).

    Attributes:
        context: the context (``plan-num``).
        extension: the extension (``5001``, ``_7XX``, ``s``).
        priority: 1, 2, ... (0 for a hint).
        application: the application (``Dial``; ``hint`` for a hint).
        data: its arguments (``PJSIP/alcatel,25``).
        file: the file it was read from (``extensions.conf``).
        line: the line of that file.
        label: the priority's label (``next`` in ``same => n(next),...``), or ``""``.

    Taught in notebook 02.
    """

    context: str
    extension: str
    priority: int
    application: str
    data: str
    file: str
    line: int
    label: str = ""

    def __str__(self) -> str:
        if self.application == "hint":
            return f"{self.extension},hint,{self.data}"
        return f"{self.extension},{self.priority},{self.application}({self.data})"

    def __repr__(self) -> str:
        return f"DialplanEntry([{self.context}] {self} at {self.file}:{self.line})"


def parse_dialplan(text: str) -> list[DialplanEntry]:
    """Parse the output of ``dialplan show [context]`` into :class:`DialplanEntry` rows.

    Taught in notebook 02 (``lab.pbx.dialplan()``).
    """
    entries: list[DialplanEntry] = []
    context = ""
    extension = ""
    for line in text.splitlines():
        m = _CONTEXT_RE.match(line)
        if m is not None:
            context, extension = m["context"], ""
            continue
        m = _ENTRY_RE.match(line)
        if m is None or not context:
            continue
        if m["exten"] is not None:
            extension = m["exten"]
        if m["hint"] is not None:
            entries.append(DialplanEntry(context, extension, 0, "hint", m["hint"], m["file"], int(m["line"])))
        else:
            entries.append(DialplanEntry(context, extension, int(m["priority"]), m["app"], m["data"], m["file"],
                                         int(m["line"]), m["label"] or ""))
    return entries


def parse_applications(text: str) -> set[str]:
    """The application names of ``core show applications`` (lower case: Asterisk ignores case)."""
    names = set()
    for line in text.splitlines():
        if line.strip().startswith("-="):
            continue
        m = _APPLICATION_RE.match(line)
        if m is not None:
            names.add(m["name"].lower())
    return names


def unknown_applications(entries: Iterable[DialplanEntry], registered: set[str],
                         file: str = "extensions.conf") -> list[AsteriskComplaint]:
    """A complaint for each priority of ``file`` whose application Asterisk does not have.

    Asterisk loads such a line without a word and fails only when a call reaches it
    ("No application 'Anwser'"): the reload says it at once instead.
    """
    found = []
    for e in entries:
        if e.file == file and e.application != "hint" and e.application.lower() not in registered:
            found.append(AsteriskComplaint(
                "ERROR", file, e.line, f"Asterisk has no application '{e.application}' (extension {e.extension}, "
                f"priority {e.priority}): check its spelling; 'core show applications' lists them", "voiplab"))
    return found


def dial_targets(entries: Iterable[DialplanEntry]) -> list[tuple[DialplanEntry, str]]:
    """Each ``Dial(PJSIP/<endpoint>...)`` of the dial plan with the endpoint it rings."""
    return [(e, m["endpoint"]) for e in entries if e.application.lower() == "dial"
            for m in _PJSIP_TARGET_RE.finditer(e.data)]


def check_student_text(name: str, data: bytes, shown: str) -> str:
    """The text of a student's file, once it is fit to reach Asterisk.

    Raises:
        PbxError: too big, not UTF-8 text, or using ``#include``/``#exec`` (the message
            gives the line).
    """
    if name not in EDITABLE_FILES:
        raise PbxError(f"{name} is not a file students write here: edit {' or '.join(EDITABLE_FILES)}")
    if len(data) > MAX_FILE_BYTES:
        raise PbxError(f"{shown} is {len(data)} bytes, more than the {MAX_FILE_BYTES} bytes a configuration file "
                       f"may have here: check that it is the right file (lab.reset_config() writes it again)")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise PbxError(f"{shown} is not UTF-8 text (byte {e.start}): save it again as UTF-8 from the editor") \
            from None
    if "\x00" in text:
        raise PbxError(f"{shown} holds a NUL byte, so it is not a text file: save it again from the editor")
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip().lower()
        for directive in FORBIDDEN_DIRECTIVES:
            if stripped.startswith(directive):
                raise PbxError(f"line {number} of {shown} uses {directive}, which the lab does not allow: "
                               "write the settings in the file itself")
    return text


def fingerprint(texts: Mapping[str, str]) -> str:
    """A short hash of files (name and text): tells whether two renderings are the same."""
    h = hashlib.sha256()
    for name in sorted(texts):
        h.update(name.encode() + b"\0" + texts[name].encode() + b"\0")
    return h.hexdigest()[:32]


def edit_file(path: str | os.PathLike[str], old: str | None = None, new: str = "", *, count: int = 1) -> Path:
    """Edit a configuration file as a student does in the editor: replace text, or add lines at the end.

    For headless runs of notebook 02 (its solution cells make the edits the student makes
    by hand). ``old`` must appear exactly ``count`` times (so a wrong edit is not silent).

    Parameters:
        path: the file (``files.extensions``).
        old: the text to replace; ``None`` to append ``new`` at the end of the file.
        new: the replacement (or the lines to append).
        count: how many times ``old`` must appear (each is replaced).

    Returns:
        The path.

    Raises:
        PbxError: ``old`` is not in the file that many times, or the file is missing.

    Taught in notebook 02.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise PbxError(f"{p} could not be read ({e.strerror}): make the copy with lab.edit_config()") from None
    if old is None:
        text = text + ("" if text.endswith("\n") or not text else "\n") + new
    else:
        found = text.count(old)
        if found != count:
            raise PbxError(f"{p.name} holds {old!r} {found} time{'s' if found != 1 else ''}, not {count}: "
                           "check the text to replace (or lab.reset_config() to start from the rendered file)")
        text = text.replace(old, new)
    write_private(p, text)
    return p


@dataclass(frozen=True)
class ConfigCopy:
    """The student's copy of the lab's Asterisk files (``lab.edit_config()``).

    Attributes:
        folder: the folder holding the copy (``my-asterisk`` beside the notebooks).
        files: file name -> path (``{"pjsip.conf": ..., "extensions.conf": ...}``).
        notes: what happened to the folder (made, kept, refreshed), one line each.

    Taught in notebook 02.
    """

    folder: Path
    files: Mapping[str, Path]
    notes: tuple[str, ...] = ()

    @property
    def pjsip(self) -> Path:
        """The student's ``pjsip.conf``."""
        return self.files["pjsip.conf"]

    @property
    def extensions(self) -> Path:
        """The student's ``extensions.conf``."""
        return self.files["extensions.conf"]

    def _path(self, name: str) -> Path:
        if name not in self.files:
            raise PbxError(f"{name} is not in your copy: use one of {', '.join(self.files)}")
        return self.files[name]

    def replace(self, name: str, old: str, new: str, *, count: int = 1) -> Path:
        """Replace ``old`` by ``new`` in one file of the copy, as you would in the editor (see :func:`edit_file`).

        Example: ``files.replace("pjsip.conf", "direct_media = yes", "direct_media = no")``.
        """
        return edit_file(self._path(name), old, new, count=count)

    def append(self, name: str, text: str) -> Path:
        """Add ``text`` at the end of one file of the copy (see :func:`edit_file`)."""
        return edit_file(self._path(name), None, text)

    def _shown(self, path: Path) -> str:
        with contextlib.suppress(ValueError):
            return str(path.relative_to(Path.cwd()))
        return str(path)

    def __str__(self) -> str:
        lines = [f"your copy of the lab's Asterisk files, in {self._shown(self.folder)}:"]
        lines += [f"  {self._shown(p)}" for p in self.files.values()]
        lines += [f"  {n}" for n in self.notes]
        lines.append("edit them (JupyterLab: double-click in the file browser), then run lab.reload()")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"ConfigCopy({self._shown(self.folder)}: {', '.join(self.files)})"

    def _repr_html_(self) -> str:
        links = "".join(f"<li><a href='{html.escape(self._shown(p))}' target='_blank'><code>"
                        f"{html.escape(self._shown(p))}</code></a></li>" for p in self.files.values())
        notes = "".join(f"<p>{html.escape(n)}</p>" for n in self.notes)
        return (f"<p>Your copy of the lab's Asterisk files, in <code>{html.escape(self._shown(self.folder))}"
                f"</code>:</p><ul>{links}</ul>{notes}<p>Edit them (click a link, or double-click in the file "
                f"browser), save, then run <code>lab.reload()</code>.</p>")


def _base(rendered: Mapping[str, str]) -> str:
    """The fingerprint of the editable files among ``rendered`` (the others change at each start)."""
    return fingerprint({name: rendered[name] for name in EDITABLE_FILES})


class EditRecord:
    """What the lab keeps about the student's edits, in ``<lab dir>/student/`` (0700, files 0600).

    * ``rendered/``: the files voiplab rendered at the last start (``lab.reset_config()``
      goes back to them);
    * ``applied/``: the student's last working files and ``base``, the fingerprint of the
      rendered files they were made from (used again at the next start while it matches);
    * ``folder``: where the student's copy is (``my-asterisk`` beside the notebooks).
    """

    def __init__(self, lab_dir: Path):
        self.dir = lab_dir / "student"

    def __repr__(self) -> str:
        return f"EditRecord({self.dir})"

    def _write(self, path: Path, text: str) -> None:
        private_dir(path.parent)
        write_private(path, text)

    def _read(self, directory: Path) -> dict[str, str] | None:
        try:
            return {name: (directory / name).read_text(encoding="utf-8") for name in EDITABLE_FILES}
        except OSError:
            return None

    # -- the rendered files ----------------------------------------------------------
    def record_rendered(self, rendered: Mapping[str, str]) -> None:
        """Keep the files voiplab rendered at this start."""
        for name in EDITABLE_FILES:
            self._write(self.dir / "rendered" / name, rendered[name])

    def rendered(self) -> dict[str, str] | None:
        """The files rendered at the last start (``None`` before the first)."""
        return self._read(self.dir / "rendered")

    # -- the student's applied files -------------------------------------------------
    def save_applied(self, texts: Mapping[str, str], rendered: Mapping[str, str]) -> None:
        """Keep the student's working files, made for the lab whose rendered files are ``rendered``."""
        for name in EDITABLE_FILES:
            self._write(self.dir / "applied" / name, texts[name])
        self._write(self.dir / "applied" / "base", _base(rendered) + "\n")

    def applied(self) -> dict[str, str] | None:
        """The student's last working files (``None``: the lab runs the rendered ones)."""
        return self._read(self.dir / "applied")

    def applied_fits(self, rendered: Mapping[str, str]) -> bool:
        """True when the applied files were made for a lab rendering exactly ``rendered``."""
        try:
            base = (self.dir / "applied" / "base").read_text().strip()
        except OSError:
            return False
        return base == _base(rendered)

    def forget_applied(self) -> None:
        """Go back to the rendered files at the next start."""
        for name in (*EDITABLE_FILES, "base"):
            with contextlib.suppress(FileNotFoundError):
                (self.dir / "applied" / name).unlink()

    # -- the student's folder --------------------------------------------------------
    def folder(self) -> Path | None:
        """Where the student's copy is (``None``: ``lab.edit_config()`` was never run)."""
        try:
            text = (self.dir / "folder.json").read_text()
            return Path(json.loads(text)["folder"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def set_folder(self, folder: Path) -> None:
        """Remember where the student's copy is (another notebook's kernel finds it there)."""
        self._write(self.dir / "folder.json", json.dumps({"folder": str(folder)}) + "\n")
