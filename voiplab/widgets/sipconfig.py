"""The sipconfig editor (ipywidgets 8): edit the Alcatel's files, see every problem by line, serve them.

Notebook 07 shows it with::

    lab = vl.start_lab()
    files = vl.write_sipconfig("provisioning", lab.config)   # sipconfig.txt + sipconfig-<mac>.txt
    editor = vl.widgets.sipconfig_editor(files, lab)
    editor

* a file picker (the common ``sipconfig.txt`` or the phone's ``sipconfig-<mac>.txt``) and a
  text area with that file: every problem is listed by line **as the student types**
  (:func:`voiplab.devices.sipconfig.validate`, then :func:`~voiplab.devices.sipconfig.validate_set`
  for the keys the phone needs in one of the two files);
* "Explain a key": the meaning and allowed values of any key (:data:`voiplab.devices.sipconfig.KEYS`);
* **Serve**: save the files and serve the directory over HTTP
  (:class:`~voiplab.devices.provisioning.ProvisioningServer`, on the PBX's address in the local
  lab), as the report's nginx did;
* **Phone boots**: fetch what the IP Touch fetches at boot, from the phone's address
  (:func:`~voiplab.devices.provisioning.boot_fetch`), and show each download and the server's log.

The widget holds no protocol logic: the files' rules are :mod:`voiplab.devices.sipconfig`, the
HTTP side :mod:`voiplab.devices.provisioning`. Its helper methods do what its buttons and
typing do (``set``, ``serve``, ``boot``), so the notebook also runs headless; :meth:`close`
stops the server and closes the widgets.

Taught in notebook 07 (provisioning the Alcatel).
"""

from __future__ import annotations

import html
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ipywidgets as w

from ..config import LabConfig, load_config
from ..devices.provisioning import BootFetch, FetchLogEntry, ProvisioningFiles, ProvisioningServer, boot_fetch
from ..devices.sipconfig import (
    COMMON_FILENAME,
    KEYS,
    KeySpec,
    Problem,
    parse,
    phone_filename,
    render,
    validate,
    validate_set,
)
from ..errors import ProvisioningError
from .base import span as _span
from .panels import _close_tree, _guarded

if TYPE_CHECKING:
    from ..devices.lab import Lab

__all__ = ["SipconfigEditor", "sipconfig_editor"]

_OK = "#1a7f37"
_BAD = "#cf222e"
_MUTED = "#57606a"
#: the CSS class of the editor's text area (a monospace font, set by a <style> in the widget)
_TEXTAREA_CLASS = "voiplab-sipconfig-text"
#: the address the server listens on when the PBX is a classroom server (the student's machine)
ANY_ADDRESS = "0.0.0.0"
#: ``#key=`` lines: a key left at the phone's default (the rendered files comment them out)
_COMMENTED_KEY_RE = re.compile(r"^#\s*([A-Za-z0-9_]+)\s*=")


def _spec_of(key: str) -> KeySpec | None:
    return next((spec for spec in KEYS if spec.name == key), None)


class SipconfigEditor:
    """The Alcatel's two provisioning files in an editor with live validation, a server and a phone.

    Parameters:
        files: the files written by ``vl.write_sipconfig`` (or their directory, holding
            ``sipconfig.txt`` and ``sipconfig-<mac>.txt``).
        config: the lab's configuration (the phone's MAC, the PBX address to serve on, the
            Alcatel's address to fetch from); default ``vl.load_config()``.
        host: the address the server listens on (default: the PBX's in the local lab, every
            address of this machine in a classroom).
        port: the server's TCP port (0: any free port; the real phone asks for port 80).

    Attributes:
        directory: the directory served.
        texts: ``{file name: text}`` as edited (saved to the directory by :meth:`save`,
            :meth:`serve` and :meth:`boot`).
        server: the provisioning server once :meth:`serve` was pressed, else ``None``.
        downloads: what the phone fetched at its last boot (:class:`BootFetch` per file).
        phone_address: the address the phone fetches from (the Alcatel's in the local lab).
        errors: every error message shown, oldest first.

    Taught in notebook 07.
    """

    def __init__(self, files: ProvisioningFiles | str | os.PathLike[str], config: LabConfig | None = None, *,
                 host: str | None = None, port: int = 0) -> None:
        self.config = config if config is not None else load_config()
        self.mac = self.config.alcatel.mac
        if isinstance(files, ProvisioningFiles):
            self.directory = files.common.parent
            names = (files.common.name, files.phone.name)
        else:
            self.directory = Path(files)
            names = (COMMON_FILENAME, phone_filename(self.mac))
        self.names: tuple[str, str] = names
        missing = [n for n in names if not (self.directory / n).is_file()]
        if missing:
            raise ProvisioningError(f"provisioning file {self.directory / missing[0]} does not exist: render the "
                                    "files first with vl.write_sipconfig(directory, lab.config)")
        self.texts: dict[str, str] = {n: (self.directory / n).read_text(encoding="utf-8") for n in names}
        self.host = host or (self.config.pbx.host if self.config.is_local else ANY_ADDRESS)
        self.port = int(port)
        self.phone_address: str | None = (self.config.account("alcatel").address if self.config.is_local
                                          else None)
        self.server: ProvisioningServer | None = None
        self.downloads: list[BootFetch] = []
        self.errors: list[str] = []
        self._closed = False

        self.title = w.HTML(f"<b>📝 sipconfig editor</b>: the Alcatel IP Touch's files in "
                            f"<code>{html.escape(str(self.directory))}</code>")
        self.file_picker = w.ToggleButtons(options=list(names), value=names[1], description="File",
                                           style={"button_width": "17em"},
                                           tooltips=["the common file, fetched first by every phone",
                                                     "this phone's file (its account), fetched second"])
        self.textarea = w.Textarea(value=self.texts[names[1]], continuous_update=True,
                                   layout=w.Layout(width="98%", height="24em"))
        self.textarea.add_class(_TEXTAREA_CLASS)
        self.status_line = w.HTML()
        self.problems_html = w.HTML()
        self.key_picker = w.Dropdown(options=[spec.name for spec in KEYS if not spec.name.endswith("*")],
                                     value="preferred_vocoder", description="Explain",
                                     layout=w.Layout(width="24em"))
        self.key_help = w.HTML()
        self.serve_button = w.Button(description="Serve", tooltip="save the files and serve them over HTTP",
                                     button_style="primary", icon="upload", layout=w.Layout(width="10em"))
        self.boot_button = w.Button(description="Phone boots", icon="power-off", layout=w.Layout(width="10em"),
                                    tooltip="fetch the files as the IP Touch does at boot (HTTP GET)")
        self.reset_button = w.Button(description="Reset file", icon="undo", layout=w.Layout(width="10em"),
                                     tooltip="put back the file voiplab rendered from the lab (your edits are lost)")
        self.server_line = w.HTML()
        self.error_line = w.HTML()
        self.fetch_html = w.HTML()
        self.serve_button.on_click(self._guarded(lambda _b: self._toggle_serving()))
        self.boot_button.on_click(self._guarded(lambda _b: self._boot()))
        self.reset_button.on_click(self._guarded(lambda _b: self.reset()))
        self.file_picker.observe(self._file_changed, names="value")
        self.textarea.observe(self._text_changed, names="value")
        self.key_picker.observe(lambda _change: self._show_key_help(), names="value")
        style = w.HTML(f"<style>.{_TEXTAREA_CLASS} textarea {{font-family: monospace; font-size: 12px}}</style>")
        self.widget = w.VBox([
            style, self.title, self.file_picker, self.textarea, self.status_line, self.problems_html,
            w.HBox([self.key_picker, self.key_help]),
            w.HBox([self.serve_button, self.boot_button, self.reset_button]), self.server_line,
            self.error_line, self.fetch_html,
        ], layout=w.Layout(border="1px solid #d0d7de", padding="6px"))
        self._current = names[1]
        self.refresh()

    # -- display ------------------------------------------------------------------
    def __repr__(self) -> str:
        serving = f", serving {self.server.url}" if self.server is not None and self.server.running else ""
        return f"SipconfigEditor({self.directory}, {len(self.all_problems())} problems{serving})"

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)

    def _show_error(self, message: str) -> None:
        self.errors.append(message)
        self.error_line.value = f"⚠ {_span(message, _BAD)}"

    def _guarded(self, action: Callable[[Any], None]) -> Callable[[Any], None]:
        return _guarded(action, self._show_error, self.refresh)

    @property
    def current(self) -> str:
        """The name of the file shown in the text area."""
        return self._current

    @property
    def text(self) -> str:
        """The text of the file shown (setting it is typing into the text area)."""
        return self.textarea.value

    @text.setter
    def text(self, value: str) -> None:
        self.textarea.value = value

    def select(self, name: str) -> None:
        """Show the file ``name`` (``"sipconfig.txt"`` or the phone's file) in the text area."""
        if name not in self.names:
            raise ProvisioningError(f"file {name} is not one of the editor's ({', '.join(self.names)}): pick one "
                                    "of those")
        self.file_picker.value = name

    def _file_changed(self, change: Mapping[str, Any]) -> None:
        self.texts[self._current] = self.textarea.value
        self._current = str(change["new"])
        self.textarea.value = self.texts[self._current]  # validated by _text_changed (or unchanged)
        self.refresh()

    def _text_changed(self, change: Mapping[str, Any]) -> None:
        self.texts[self._current] = str(change["new"])
        self.refresh()

    def problems(self, name: str | None = None) -> list[Problem]:
        """The problems of one file (default: the one shown), by line."""
        name = name or self._current
        return validate(self.texts[name], name)

    def all_problems(self) -> list[Problem]:
        """The problems of both files, then the keys the phone needs but neither file sets."""
        return validate_set(self.texts)

    def refresh(self) -> None:
        """Validate both files and redraw the status, the problem list and the buttons."""
        lines = self.texts[self._current].splitlines()
        own = self.problems()
        others = {n: validate(self.texts[n], n) for n in self.names if n != self._current}
        both = [p for p in self.all_problems() if p.line is None and p.file is None]  # keys missing from both
        total = len(own) + sum(len(v) for v in others.values()) + len(both)
        if total == 0:
            self.status_line.value = _span("✔ no problem in either file: the phone would accept them", _OK, True)
        else:
            self.status_line.value = _span(f"✘ {total} problem{'s' if total > 1 else ''}: the phone would reboot "
                                           "in a loop or register nowhere (it shows no error message)", _BAD, True)
        items = []
        for p in own:
            where = f"line {p.line}" if p.line is not None else "file"
            shown = ""
            if p.line is not None and 0 < p.line <= len(lines):
                shown = f" <code>{html.escape(lines[p.line - 1].strip()[:60])}</code>"
            items.append(f"<li><b>{where}</b>{shown}: {html.escape(p.message)}</li>")
        for p in both:
            items.append(f"<li><b>both files</b>: {html.escape(p.message)}</li>")
        for name, problems in others.items():
            if problems:
                items.append(f"<li>{_span(f'{name}: {len(problems)} more (pick it above)', _MUTED)}</li>")
        self.problems_html.value = f"<ul style='margin:2px 0'>{''.join(items)}</ul>" if items else ""
        self._show_key_help()  # its "now" value follows the edits
        serving = self.server is not None and self.server.running
        self.serve_button.description = "Stop serving" if serving else "Serve"
        self.serve_button.icon = "stop" if serving else "upload"
        self.boot_button.disabled = not serving
        if serving and self.server is not None:
            self.server_line.value = (f"serving <code>{html.escape(self.server.url)}</code> "
                                      f"({len(self.server.log)} requests so far)")
        else:
            self.server_line.value = _span("not serving: press Serve", _MUTED)

    def explain(self, key: str) -> str:
        """What ``key`` means, its allowed values and where it is set (the "Explain" box)."""
        spec = _spec_of(key)
        if spec is None:
            raise ProvisioningError(f"key {key} is not a key of the IP Touch's files: pick one from "
                                    "vl.SIPCONFIG_KEYS")
        name = self.names[0] if spec.file == "common" else self.names[1]
        value = next((s.value for n in reversed(self.names) for s in parse(self.texts[n])
                      if s.key == key), None)
        now = f"now {value!r}" if value is not None else "not set (the phone's default)"
        return (f"[{spec.section}] {key}: {spec.meaning}. Allowed: {spec.allowed}. "
                f"Rendered in {name}; {now}.")

    def _show_key_help(self) -> None:
        self.key_help.value = html.escape(self.explain(str(self.key_picker.value)))

    # -- editing (what typing does) ---------------------------------------------------
    def set(self, key: str, value: str) -> None:
        """Set ``key=value`` where the key is written (a ``#key=`` line is uncommented).

        The file holding the key is shown, the value replaced on its line, and the
        editor validates at once, as when the student types.

        Raises:
            ProvisioningError: neither file has a line for ``key``.

        Taught in notebook 07.
        """
        for name in (self._current, *[n for n in self.names if n != self._current]):
            lines = self.texts[name].splitlines(keepends=True)
            line = next((s.line for s in parse(self.texts[name]) if s.key == key), None)
            if line is None:
                line = next((i for i, raw in enumerate(lines, 1)
                             if (m := _COMMENTED_KEY_RE.match(raw.strip())) and m.group(1) == key), None)
            if line is None:
                continue
            end = "\n" if lines[line - 1].endswith("\n") else ""
            lines[line - 1] = f"{key}={value}{end}"
            self.select(name)
            self.text = "".join(lines)
            return
        raise ProvisioningError(f"key {key} has no line in {' or '.join(self.names)}: add it under its "
                                "[section] by typing it in the editor")

    def reset(self) -> None:
        """Put back the file shown as voiplab rendered it from the lab's configuration."""
        self.text = render(self.config, mac=self.mac)[self._current]

    def save(self) -> list[Path]:
        """Write both files, as edited, into :attr:`directory`; returns their paths."""
        self.texts[self._current] = self.textarea.value
        paths = []
        for name in self.names:
            path = self.directory / name
            try:
                path.write_text(self.texts[name], encoding="utf-8", newline="\n")
            except OSError as e:
                raise ProvisioningError(f"provisioning file {path} could not be written ({e.strerror}): "
                                        "check the directory's permissions") from None
            paths.append(path)
        return paths

    # -- serving and booting (the buttons) ------------------------------------------
    def _toggle_serving(self) -> None:
        if self.server is not None and self.server.running:
            self.stop()
        else:
            self.serve()

    def serve(self) -> ProvisioningServer:
        """Save the files and serve the directory over HTTP (the Serve button); idempotent.

        Raises:
            ProvisioningError: the address cannot be bound.

        Taught in notebook 07.
        """
        self.save()
        if self.server is None or not self.server.running:
            self.server = ProvisioningServer(self.directory, host=self.host, port=self.port).start()
            self.port = self.server.port  # the same port if served again, as a phone's menu keeps it
        self.error_line.value = ""
        self.refresh()
        return self.server

    def stop(self) -> None:
        """Stop serving (the "Stop serving" button)."""
        if self.server is not None:
            self.server.stop()
        self.refresh()

    def boot(self) -> list[BootFetch]:
        """Boot the phone (the "Phone boots" button): save, then fetch as the IP Touch does.

        Returns:
            one :class:`BootFetch` per file asked for, in the phone's order.

        Raises:
            ProvisioningError: nothing is served (press Serve first), or the server is unreachable.

        Taught in notebook 07.
        """
        if self.server is None or not self.server.running:
            raise ProvisioningError("the files are not served: press Serve first (editor.serve())")
        self.save()
        first = len(self.server.log)
        self.downloads = boot_fetch(self.server.url, self.mac, source=self.phone_address)
        self.error_line.value = ""
        self._show_fetches(self.server.log[first:])
        self.refresh()
        return self.downloads

    def _boot(self) -> None:
        self.boot()

    def _show_fetches(self, entries: list[FetchLogEntry]) -> None:
        rows = []
        for d in self.downloads:
            color = _OK if d.status == 200 else _BAD
            size = f"{len((d.text or '').encode())} bytes" if d.status == 200 else html.escape(d.message)
            rows.append(f"<tr><td><code>{html.escape(d.file)}</code></td><td>{_span(str(d.status), color, True)}"
                        f"</td><td style='text-align:left'>{size}</td></tr>")
        log = "<br>".join(html.escape(str(e)) for e in entries)
        self.fetch_html.value = ("<b>The phone boots</b> (from "
                                 f"{html.escape(self.phone_address or 'this machine')}):"
                                 "<table><tr><th>file</th><th>status</th><th>what came back</th></tr>"
                                 f"{''.join(rows)}</table><b>The server's log</b><br><code>{log}</code>")

    def close(self) -> None:
        """Stop the server and close the widgets (idempotent)."""
        if self._closed:
            return
        self._closed = True
        if self.server is not None:
            self.server.stop()
        _close_tree(self.widget)


def sipconfig_editor(files: ProvisioningFiles | str | os.PathLike[str],
                     lab: Lab | LabConfig | None = None) -> SipconfigEditor:
    """The sipconfig editor over the files ``vl.write_sipconfig`` wrote, for the lab's phone.

    Parameters:
        files: the :class:`~voiplab.devices.provisioning.ProvisioningFiles` (or their directory).
        lab: the lab (``vl.start_lab()``) or its configuration (default: ``vl.load_config()``).

    Taught in notebook 07.
    """
    config = lab if isinstance(lab, LabConfig) or lab is None else lab.config
    return SipconfigEditor(files, config)
