"""The lab as one object: its config, the Asterisk PBX, the simulated Alcatel, phones.

Local lab (the default): ``Lab().up()`` starts a real Asterisk on
127.0.0.80:5060 and the simulated Alcatel on 127.0.0.81, in about a second once
Asterisk is installed. Classroom: a ``lab.toml`` names the course server and
the real desk phone; ``up()`` then only checks that the server answers.

Notebooks start with::

    import voiplab as vl
    lab = vl.start_lab()    # brings the local lab up if needed (idempotent)
    lab.status()

The student writes the lab's configuration (chapter 2 of the report, notebook 02)::

    files = lab.edit_config()   # my-asterisk/pjsip.conf and extensions.conf, to edit
    lab.reload()                # applied; Asterisk's complaints raise PbxError, the lab keeps running
    lab.reset_config()          # back to the rendered files

An applied edit survives ``lab down``/``lab up`` until ``reset_config()`` (see
:mod:`voiplab.devices.asterisk_edit`).

Taught in notebook 00 (lab check) and 02 (the Asterisk PBX).
"""

from __future__ import annotations

import contextlib
import html
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import LabConfig, load_config
from ..errors import PbxError, VoipLabError
from ..paths import private_dir, write_private
from .alcatel import SimulatedAlcatel
from .asterisk_conf import student_copy
from .asterisk_edit import COPY_FOLDER, EDITABLE_FILES, ConfigCopy, check_student_text, fingerprint
from .desk import DeskAlcatel
from .pbx import Endpoint, Pbx, ReloadResult, send_options
from .phone import Phone

__all__ = ["Lab", "LabStatus", "start_lab", "send_options"]

#: the file in the student's folder recording which rendering the copy was made from
COPY_MARKER = ".voiplab-copy.json"
#: the suffix of a student's edited file kept aside when the copy is written again
BACKUP_SUFFIX = ".bak"


@dataclass(frozen=True)
class LabStatus:
    """What runs where: the PBX, its endpoints and contacts, the simulated Alcatel."""

    mode: str
    pbx_address: str
    pbx_running: bool
    asterisk_version: str = ""
    endpoints: tuple[Endpoint, ...] = ()
    alcatel: str = ""
    notes: tuple[str, ...] = field(default_factory=tuple)

    def __str__(self) -> str:
        lines = [f"lab: {self.mode}, PBX at {self.pbx_address}: "
                 + (f"running {self.asterisk_version}" if self.pbx_running else "not running")]
        if self.endpoints:
            lines.append(f"  {'endpoint':<12} {'number':<7} {'state':<14} contact")
            for e in self.endpoints:
                lines.append(f"  {e.name:<12} {e.number:<7} {e.state:<14} "
                             f"{e.contact_address or '-'}")
        if self.alcatel:
            lines.append(f"simulated Alcatel: {self.alcatel}")
        lines.extend(self.notes)
        return "\n".join(lines)

    def __repr__(self) -> str:
        running = "running" if self.pbx_running else "stopped"
        return f"LabStatus({self.mode}, PBX {self.pbx_address} {running}, {len(self.endpoints)} endpoints)"

    def _repr_html_(self) -> str:
        head = html.escape(str(self).splitlines()[0])
        rows = "".join(
            f"<tr><td>{html.escape(e.name)}</td><td>{html.escape(e.number)}</td>"
            f"<td>{html.escape(e.state)}</td><td>{html.escape(e.contact_address or '-')}</td></tr>"
            for e in self.endpoints
        )
        extra = "".join(f"<p>{html.escape(n)}</p>" for n in ((f"simulated Alcatel: {self.alcatel}",)
                                                            if self.alcatel else ()) + self.notes)
        return (f"<p><b>{head}</b></p><table><tr><th>endpoint</th><th>number</th><th>state</th>"
                f"<th>contact</th></tr>{rows}</table>{extra}")


class Lab:
    """The lab: config + PBX + simulated Alcatel (see the module docstring)."""

    def __init__(self, config: LabConfig | str | os.PathLike[str] | None = None):
        if config is None or isinstance(config, (str, os.PathLike)):
            config = load_config(config)
        self.config: LabConfig = config
        self.pbx = Pbx(self.config)
        self.lab_dir = self.pbx.lab_dir

    def __repr__(self) -> str:
        return f"Lab({self.config.pbx.mode}, PBX {self.config.pbx.host}:{self.config.pbx.port})"

    @property
    def simulated_alcatel(self) -> SimulatedAlcatel | None:
        """The simulated desk phone (None when the lab uses the real Alcatel)."""
        if not (self.config.is_local and self.config.alcatel.simulated):
            return None
        return SimulatedAlcatel(self.config, lab_dir=self.lab_dir)

    @property
    def alcatel(self) -> SimulatedAlcatel | DeskAlcatel:
        """The Alcatel of the lab: the simulated one here, the real desk phone in a classroom.

        Both offer the steps notebook 06 takes (``call``, ``wait_in_call``, ``wait_call_ended``,
        ``status``); with the real one each step says what to ask at the desk and waits.
        """
        simulated = self.simulated_alcatel
        return simulated if simulated is not None else DeskAlcatel(self.config)

    def up(self, timeout: float = 30.0) -> list[str]:
        """Bring the lab up (idempotent). Returns one line per component saying what happened.

        Raises:
            PbxError: Asterisk missing, address in use, or the course server does not answer.
        """
        done: list[str] = []
        p = self.config.pbx
        if not self.config.is_local:
            reply = send_options(p.host, p.port, timeout=3.0)
            done.append(f"classroom PBX {p.host}:{p.port} answers OPTIONS: {reply.splitlines()[0]}")
            return done
        started = self.pbx.start(timeout=timeout)
        done.append(("started" if started else "already running:")
                    + f" Asterisk on {p.host}:{p.port} (SIP/UDP), manager on {p.host}:{p.ami_port}, "
                    f"RTP {p.rtp_port_min}-{p.rtp_port_max}; files in {self.lab_dir}")
        alcatel = self.simulated_alcatel
        if alcatel is not None:
            acc = self.config.account("alcatel")
            started = alcatel.start(timeout=timeout)
            done.append(("started" if started else "already running:")
                        + f" simulated Alcatel {acc.name}/{acc.number} on {acc.address}")
        note = self._config_note()
        if note:
            done.append(note)
        return done

    def _config_note(self) -> str:
        """Whether Asterisk runs the student's own files (notebook 02), in one line; ``""`` if not."""
        edits = self.pbx.edits
        rendered = edits.rendered()
        if not self.config.is_local or rendered is None or edits.applied() is None:
            return ""
        if edits.applied_fits(rendered):
            return ("Asterisk runs your own pjsip.conf and extensions.conf (applied with lab.reload()): "
                    "lab.reset_config() goes back to the rendered files")
        return ("your own pjsip.conf and extensions.conf were made for another lab.toml, so Asterisk runs the "
                "rendered files: lab.reload() applies yours again, lab.reset_config() forgets them")

    def down(self) -> list[str]:
        """Stop what voiplab started (never another Asterisk). Returns what was stopped."""
        done: list[str] = []
        try:
            alcatel = self.simulated_alcatel
            if alcatel is not None and alcatel.stop():
                done.append("stopped the simulated Alcatel")
        finally:
            # the PBX is stopped even if the simulated phone could not be
            if self.config.is_local and self.pbx.stop():
                done.append(f"stopped Asterisk on {self.config.pbx.host}:{self.config.pbx.port}")
        return done or ["nothing of voiplab's was running"]

    def status(self) -> LabStatus:
        """What runs and who is registered (as ``pjsip show endpoints`` shows it)."""
        p = self.config.pbx
        address = f"{p.host}:{p.port}"
        running = self.pbx.is_running()
        notes: list[str] = []
        version = ""
        endpoints: tuple[Endpoint, ...] = ()
        if self.config.is_local:
            phones = ", ".join(f"{a.name} {a.address}" for a in self.config.accounts)
            notes.append(f"your addresses (uid {os.getuid()}): PBX {p.host}, {phones}; "
                         f"state in {self.pbx.lab_dir}")
        if not self.config.is_local:
            # no manager login for students: it would cross the network in clear (and give them
            # the whole server); what a student can check is their own phone's registration
            notes.append("classroom: the server answers SIP OPTIONS" if running else
                         "classroom: the server does not answer SIP OPTIONS: check the address in lab.toml")
            notes.append("your registration: vl.Phone().register() (notebook 03)")
        elif running:
            try:
                version = self.pbx.version()
                endpoints = tuple(self.pbx.endpoints())
            except PbxError as e:
                notes.append(str(e))
            note = self._config_note()
            if note:
                notes.append(note)
        else:
            notes.append("start it with 'voiplab lab up'")
        alcatel_text = ""
        alcatel = self.simulated_alcatel
        if alcatel is not None:
            try:
                alcatel_text = "running" if alcatel.is_running() else "not running"
            except VoipLabError as e:
                alcatel_text = f"unknown ({e})"
        return LabStatus(p.mode, address, running, version, endpoints, alcatel_text, tuple(notes))

    # -- the student's configuration (notebook 02) --------------------------------------
    def _editable(self, what: str) -> None:
        if not self.config.is_local:
            raise PbxError(f"{what} works on a local lab only: the course server's pjsip.conf and extensions.conf "
                           "belong to your instructor; do notebook 02 on your own machine's lab")

    def _rendered(self) -> dict[str, str]:
        return {name: self.pbx.rendered_text(name) for name in EDITABLE_FILES}

    def edit_config(self, folder: str | os.PathLike[str] | None = None) -> ConfigCopy:
        """Your own copy of the lab's ``pjsip.conf`` and ``extensions.conf``, to edit (chapter 2 of the report).

        The copy is the rendered files, comments included, in ``folder`` (default:
        ``my-asterisk`` in the current directory: beside the notebooks, where JupyterLab's
        file browser shows it). The folder is private (0700, files 0600): it holds the
        accounts' passwords. Running it again keeps your edits. A copy made for another
        lab configuration (lab.toml changed) is written again, your edited files kept aside
        as ``pjsip.conf.bak`` and ``extensions.conf.bak``. Apply your edits with :meth:`reload`.

        Returns:
            The :class:`~voiplab.devices.asterisk_edit.ConfigCopy` (``.pjsip``, ``.extensions``).

        Raises:
            PbxError: classroom mode (the course server's files are the instructor's).

        Taught in notebook 02.
        """
        self._editable("lab.edit_config()")
        target = Path(folder) if folder is not None else Path.cwd() / COPY_FOLDER
        copy = _write_copy(target.resolve(), self._rendered(), fresh=False)
        self.pbx.edits.set_folder(copy.folder)
        return copy

    def reload(self) -> ReloadResult:
        """Apply your copy (:meth:`edit_config`) to the lab's Asterisk and show what it runs now.

        Both files are read from your folder, copied into the lab and reloaded
        (``module reload res_pjsip.so``, ``dialplan reload``). When Asterisk complains about
        a file (an ERROR or WARNING in its log, or a dial plan application it lacks), the
        lab goes back to your last working files at once and this raises a PbxError that
        quotes Asterisk, with the file and line. Applied files stay in use after
        ``lab down``/``lab up``, until :meth:`reset_config`.

        Returns:
            The :class:`~voiplab.devices.pbx.ReloadResult`: what was applied, the endpoints
            (``pjsip show endpoints``) and the dial plan (``dialplan show <context>``) now.

        Raises:
            PbxError: no copy yet (run :meth:`edit_config`), a file unreadable or not text,
                the lab not running, or Asterisk refused a file (the message says why).

        Taught in notebook 02.
        """
        self._editable("lab.reload()")
        folder = self.pbx.edits.folder()
        if folder is None:
            raise PbxError("there is no copy of the Asterisk files to apply: run lab.edit_config(), edit the "
                           "files it made, then run lab.reload()")
        shown = {name: _shown(folder / name) for name in EDITABLE_FILES}
        texts = {}
        for name in EDITABLE_FILES:
            try:
                data = (folder / name).read_bytes()
            except OSError as e:
                raise PbxError(f"{shown[name]} could not be read ({e.strerror}): run lab.edit_config() to make "
                               "the copy again (your other file is kept)") from None
            texts[name] = check_student_text(name, data, shown[name])
        rendered = self._rendered()
        result = self.pbx.apply_config(texts, shown=shown)
        if texts == {name: student_copy(rendered[name]) for name in EDITABLE_FILES}:
            self.pbx.edits.forget_applied()  # the rendered files, as they are: nothing of the student's to keep
        else:
            self.pbx.edits.save_applied(texts, rendered)
        return result

    def reset_config(self) -> ConfigCopy:
        """Go back to the rendered files: Asterisk reloads them and your copy is written again.

        Your edited files are kept aside as ``pjsip.conf.bak`` and ``extensions.conf.bak``
        in the copy's folder. After this, ``lab down``/``lab up`` starts with the rendered
        files again.

        Returns:
            The fresh :class:`~voiplab.devices.asterisk_edit.ConfigCopy`.

        Raises:
            PbxError: classroom mode, or Asterisk refused the rendered files (a broken install).

        Taught in notebook 02 (its cleanup leaves the report's configuration for 03 and 04).
        """
        self._editable("lab.reset_config()")
        rendered = self._rendered()
        self.pbx.edits.forget_applied()
        if self.pbx.pid() is not None:
            self.pbx.apply_config(rendered)
        folder = self.pbx.edits.folder() or (Path.cwd() / COPY_FOLDER).resolve()
        copy = _write_copy(folder, rendered, fresh=True)
        self.pbx.edits.set_folder(copy.folder)
        return copy

    # kwargs: Any, they are Phone's keyword arguments, passed on as they are
    def phone(self, account: str = "rpi", **kwargs: Any) -> Phone:
        """A pjsua2 phone for ``account`` (see :class:`voiplab.devices.phone.Phone`)."""
        return Phone(account, config=self.config, **kwargs)


def start_lab(config: LabConfig | str | os.PathLike[str] | None = None, *, start: bool = True) -> Lab:
    """The lab of this machine, brought up if needed (notebooks call this first).

    Parameters:
        config: a LabConfig or a lab.toml path (default: ``$VOIPLAB_CONFIG`` or the report's lab).
        start: bring it up (idempotent).
    """
    the_lab = Lab(config)
    if start:
        the_lab.up()
    return the_lab


def _shown(path: Path) -> str:
    """A path as the student sees it: relative to the notebook's folder when inside it."""
    with contextlib.suppress(ValueError):
        return str(path.relative_to(Path.cwd()))
    return str(path)


def _read_marker(folder: Path) -> dict[str, str]:
    try:
        data = json.loads((folder / COPY_MARKER).read_text())
    except (OSError, ValueError):
        return {}
    return {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, str)} \
        if isinstance(data, dict) else {}


def _read_copy(paths: dict[str, Path]) -> dict[str, str] | None:
    """The texts of the student's copy, or ``None`` when a file is missing or not text."""
    try:
        return {name: path.read_text(encoding="utf-8") for name, path in paths.items()}
    except (OSError, UnicodeDecodeError):
        return None


def _write_copy(folder: Path, rendered: dict[str, str], *, fresh: bool) -> ConfigCopy:
    """Make (or keep) the student's copy of ``rendered`` in ``folder`` (see :meth:`Lab.edit_config`).

    Parameters:
        fresh: write the copy again even if the student edited it (their files kept as .bak).
    """
    private_dir(folder)
    copies = {name: student_copy(rendered[name]) for name in EDITABLE_FILES}
    paths = {name: folder / name for name in EDITABLE_FILES}
    existing = _read_copy(paths)
    marker = _read_marker(folder)
    same_lab = marker.get("base", fingerprint(rendered)) == fingerprint(rendered)
    if existing is not None and not fresh and same_lab:
        for path in paths.values():
            os.chmod(path, 0o600)  # the accounts' passwords: the owner's only
        note = "kept your edited files (lab.reset_config() starts over from the rendered ones)"
        return ConfigCopy(folder, paths, (note,) if existing != copies else ())
    notes: list[str] = []
    if existing is None:
        notes.append("made from the files the lab renders")
    else:
        # a file is the student's work when it is neither this copy nor the copy as it was made
        edited = [name for name in EDITABLE_FILES if existing[name] != copies[name]
                  and fingerprint({name: existing[name]}) != marker.get(name)]
        for name in edited:
            write_private(paths[name].with_name(name + BACKUP_SUFFIX), existing[name])
        if edited:
            kept = " and ".join(name + BACKUP_SUFFIX for name in edited)
            notes.append(f"your edited files are kept as {kept}" if fresh else
                         f"your edited files were made for another lab configuration (lab.toml changed): "
                         f"they are kept as {kept}")
        notes.append("written again from the files the lab renders")
    for name, path in paths.items():
        write_private(path, copies[name])
    made = {name: fingerprint({name: copies[name]}) for name in EDITABLE_FILES}
    write_private(folder / COPY_MARKER, json.dumps({"base": fingerprint(rendered), **made}) + "\n")
    return ConfigCopy(folder, paths, tuple(notes))
