"""The lab as one object: its config, the Asterisk PBX, the simulated Alcatel, phones.

Local lab (the default): ``Lab().up()`` starts a real Asterisk on
127.0.0.80:5060 and the simulated Alcatel on 127.0.0.81, in about a second once
Asterisk is installed. Classroom: a ``lab.toml`` names the course server and
the real desk phone; ``up()`` then only checks that the server answers.

Notebooks start with::

    import voiplab as vl
    lab = vl.start_lab()    # brings the local lab up if needed (idempotent)
    lab.status()

Taught in notebook 00 (lab check).
"""

from __future__ import annotations

import html
import os
from dataclasses import dataclass, field
from typing import Any

from ..config import LabConfig, load_config
from ..errors import PbxError, VoipLabError
from .alcatel import SimulatedAlcatel
from .pbx import Endpoint, Pbx, send_options
from .phone import Phone

__all__ = ["Lab", "LabStatus", "start_lab", "send_options"]


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
        return done

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
