"""The instructor's dashboard: who is registered, the calls and their quality, who waits for the Alcatel.

A view over :class:`voiplab.devices.classroom.ClassroomMonitor` (the course server's manager
events), refreshed every second by a thread (ipywidgets 8 allows it). ``close()`` stops the
thread and the monitor.

Instructor only: ``course/dashboard.ipynb``.
"""

from __future__ import annotations

import html
import threading
import time
from collections.abc import Sequence
from typing import Any

import ipywidgets as w

from ..devices.classroom import ClassroomMonitor, ClassSnapshot

__all__ = ["ClassroomDashboard", "classroom_dashboard"]

#: seconds between two refreshes of the tables
REFRESH_S = 1.0


def _table(head: tuple[str, ...], rows: Sequence[tuple[str, ...]], empty: str) -> str:
    if not rows:
        return f"<p><i>{html.escape(empty)}</i></p>"
    cells = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    return "<table><tr>" + "".join(f"<th>{h}</th>" for h in head) + f"</tr>{cells}</table>"


def _num(value: float | None, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def render_snapshot(snap: ClassSnapshot) -> str:
    """The dashboard's HTML for one snapshot (three tables)."""
    registered = sorted(snap.registered.items())
    calls = [(c.caller, c.callee, c.state, f"{snap.time - c.started:.0f} s", _num(c.loss_pct, ".1f"),
              _num(c.jitter_ms, ".1f"), _num(c.rtt_ms, ".1f")) for c in snap.calls]
    waiting = [(str(i), who, f"{waited:.0f} s") for i, (who, waited) in enumerate(snap.waiting, start=1)]
    waits = (f"{len(snap.waits)} callers served; longest wait {max(snap.waits):.0f} s" if snap.waits
             else "nobody has waited yet")
    return (f"<h4>Registered ({len(registered)})</h4>"
            + _table(("account", "contact"), registered, "nobody is registered")
            + f"<h4>Channels in progress ({len(calls)})</h4>"
            + _table(("caller", "dialed", "state", "for", "loss %", "jitter ms", "RTT ms"), calls, "no call")
            + f"<h4>Waiting for the Alcatel ({len(waiting)})</h4>"
            + _table(("position", "caller", "waiting"), waiting, "nobody waits") + f"<p>{html.escape(waits)}</p>")


class ClassroomDashboard:
    """The live tables of a class (see the module docstring).

    Parameters:
        monitor: a started :class:`~voiplab.devices.classroom.ClassroomMonitor`.
    """

    def __init__(self, monitor: ClassroomMonitor, refresh_s: float = REFRESH_S) -> None:
        self.monitor = monitor
        self.refresh_s = refresh_s
        self.view = w.HTML()
        self.status = w.HTML()
        self.widget = w.VBox([self.status, self.view])
        self._stop = threading.Event()
        self.refresh()
        self._thread = threading.Thread(target=self._loop, name="voiplab-dashboard", daemon=True)
        self._thread.start()

    def __repr__(self) -> str:
        return f"ClassroomDashboard({self.monitor!r})"

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)

    def refresh(self) -> ClassSnapshot:
        """Redraw the tables now; returns what they show."""
        snap = self.monitor.snapshot()
        self.view.value = render_snapshot(snap)
        error = self.monitor.error
        self.status.value = (f"<b style='color:#cf222e'>{html.escape(error)}</b>" if error else
                             f"course server {html.escape(self.monitor.host)}, {time.strftime('%H:%M:%S')}")
        return snap

    def _loop(self) -> None:
        while not self._stop.wait(self.refresh_s):
            self.refresh()

    def close(self) -> None:
        """Stop refreshing and close the monitor."""
        self._stop.set()
        self._thread.join(timeout=2 * self.refresh_s + 1)
        self.monitor.stop()
        self.widget.close()


def classroom_dashboard(class_dir: str, *, host: str | None = None) -> ClassroomDashboard:
    """The dashboard of the class rendered in ``class_dir`` (connects to its server's manager).

    Raises:
        PbxError: the course server's manager is not reachable or refused the login.
    """
    return ClassroomDashboard(ClassroomMonitor(class_dir, host=host).start())
