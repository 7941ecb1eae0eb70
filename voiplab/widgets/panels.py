"""Interactive panels (ipywidgets 8): a softphone and the simulated Alcatel, side by side.

Notebook 06 shows them with::

    lab = vl.start_lab()
    panel = vl.widgets.call_panel(lab)      # registers rpi/5002; both panels in an HBox
    panel

* :class:`PhonePanel` drives a :class:`~voiplab.devices.phone.Phone`: status line, number field
  and dial pad, Call / Hang up / Answer / Decline, DTMF during a call (RFC 4733), live
  RTP statistics, an incoming-call banner and the call log.
* :class:`AlcatelPanel` shows the simulated Alcatel IP Touch (registered? current call,
  the DTMF digits and RTP packets of its last call) and makes it call or hang up.

No handler blocks the kernel: the phone's commands return at once (``phone.call`` does
not wait for the answer), and the waiting happens in background threads that update
the widgets (allowed from any thread in ipywidgets 8). Errors (404 Not Found, a wrong
password, a dead phone agent) are shown in the panel, never raised from a callback.
Each panel has helper methods doing what its buttons do (``dial``, ``hangup``,
``press``, ``answer``...) so a notebook also runs headless, where nobody clicks.

Taught in notebook 06 (calling the Alcatel, both directions).
"""

from __future__ import annotations

import contextlib
import html
import re
import threading
import time
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import ipywidgets as w

from ..core.flow import Flow
from ..devices.alcatel import AlcatelStatus, SimulatedAlcatel
from ..devices.phone import Call, Phone
from ..devices.wire import CallStats
from ..errors import CallError, PhoneDied, PhoneError, VoipLabError
from .base import guarded as _guarded
from .base import span as _span

if TYPE_CHECKING:
    from ..devices.lab import Lab

__all__ = [
    "ALCATEL_REFRESH_S",
    "KEYS",
    "POLL_INTERVAL_S",
    "STATS_INTERVAL_S",
    "AlcatelPanel",
    "CallPanel",
    "PhonePanel",
    "call_panel",
]

#: the dial pad, row by row (a phone's layout)
KEYS = ("1", "2", "3", "4", "5", "6", "7", "8", "9", "*", "0", "#")
#: seconds between two looks at a call's state (the watcher thread; no SIP traffic)
POLL_INTERVAL_S = 0.2
#: seconds between two RTP statistics requests while a call is up
STATS_INTERVAL_S = 1.0
#: seconds between two status requests of the Alcatel panel (halved during a call)
ALCATEL_REFRESH_S = 1.0
#: an incoming call that is still ringing (Answer / Decline make sense)
RINGING_STATES = ("INCOMING", "EARLY")
#: seconds close() waits for a background thread to finish
JOIN_TIMEOUT_S = 2.0

_OK = "#1a7f37"
_BAD = "#cf222e"
_MUTED = "#57606a"
# the open Alcatel panels, by control socket: a new panel (a re-run cell) replaces the old one
_ALCATEL_PANELS: weakref.WeakValueDictionary[str, AlcatelPanel] = weakref.WeakValueDictionary()


def _clock(t: float) -> str:
    """``HH:MM:SS.mmm`` of a wall-clock time (the call log)."""
    return time.strftime("%H:%M:%S", time.localtime(t)) + f".{int(t * 1000) % 1000:03d}"


def _button(description: str, tooltip: str, style: str = "", width: str = "7.5em", icon: str = "") -> w.Button:
    return w.Button(description=description, tooltip=tooltip, button_style=style, icon=icon,
                    layout=w.Layout(width=width))


def _format_stats(stats: CallStats, duration: float) -> str:
    """One line of RTP statistics: codec, packets each way, loss, jitter, duration."""
    rx, tx = int(stats.get("rx_packets", 0)), int(stats.get("tx_packets", 0))
    lost = int(stats.get("rx_lost", 0))
    loss = 100.0 * lost / (rx + lost) if rx + lost else 0.0
    jitter = float(stats.get("jitter_ms", 0.0))
    codec = stats.get("codec") or "RTP"
    return (f"{codec} · tx {tx} packets · rx {rx} packets · lost {lost} ({loss:.1f} %) · "
            f"jitter {jitter:.2f} ms · {duration:.1f} s")


class PhonePanel:
    """A softphone panel for a :class:`~voiplab.devices.phone.Phone` (display it, or its ``widget``).

    The dial pad types the number while the phone is idle and sends DTMF (RFC 4733
    telephone-events in the RTP stream) while a call is answered, like a desk phone.
    A background thread follows the call (state changes into the log, RTP statistics
    every ``stats_interval`` seconds) and stops when the call ends or the panel is closed.
    The phone's own ``on_incoming`` callback, if any, is kept: it runs first, then the
    panel shows the banner (:meth:`close` puts the callback back).

    Parameters:
        phone: the phone to drive (registered or not: the Register button registers it).
        number: the number field's initial value (e.g. ``"5001"``).
        title: the panel's heading (default: the account's display name and number).
        stats_interval: seconds between two RTP statistics refreshes during a call.

    Attributes:
        call: the panel's current (or last) call, ``None`` before the first one.
        calls: every call the panel showed, oldest first (placed with Call or rung in).
        last_stats: the last RTP statistics shown (``Call.stats()`` keys).
        dtmf_sent: the DTMF digits sent from the dial pad during the current call.
        dtmf_by_call: the DTMF digits sent during each call of :attr:`calls`.
        errors: every error message shown, oldest first.
        log_lines: the call log, one line per event.

    Taught in notebook 06.
    """

    def __init__(self, phone: Phone, *, number: str = "", title: str | None = None,
                 stats_interval: float = STATS_INTERVAL_S) -> None:
        self.phone = phone
        self.stats_interval = float(stats_interval)
        self.call: Call | None = None
        self.calls: list[Call] = []
        self.last_stats: CallStats = {}
        self.dtmf_sent = ""
        self.dtmf_by_call: dict[Call, str] = {}
        self.errors: list[str] = []
        self.log_lines: list[str] = []
        self._changed = threading.Condition(threading.RLock())
        self._shown: list[str] = []  # the states of self.call already logged
        self._seen = 0  # how many entries of self.call.history were looked at
        self._hung_up_here = False
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None
        self._closed = False

        acc = phone.account
        heading = title or f"{acc.display_name or acc.name} ({acc.number})"
        self.title = w.HTML(f"<b>📞 {html.escape(heading)}</b>")
        self.status_line = w.HTML()
        self.error_line = w.HTML()
        self.number = w.Text(value=str(number), placeholder="number, e.g. 5001", description="Number",
                             layout=w.Layout(width="19em"))
        self.keys: dict[str, w.Button] = {}
        for key in KEYS:
            button = _button(key, f"dial {key} (DTMF {key} during a call)", width="3.3em")
            button.on_click(self._guarded(self._key_action(key)))
            self.keys[key] = button
        self.backspace_button = _button("⌫", "erase the last digit", width="3.3em")
        self.backspace_button.on_click(self._guarded(lambda _b: self._backspace()))
        self.register_button = _button("Register", "REGISTER to the PBX (401 challenge, digest)", icon="plug")
        self.register_button.on_click(self._guarded(lambda _b: self._register()))
        self.call_button = _button("Call", "INVITE the number", "success", icon="phone")
        self.call_button.on_click(self._guarded(lambda _b: self._dial()))
        self.hangup_button = _button("Hang up", "CANCEL before the answer, BYE after", "danger", icon="times")
        self.hangup_button.on_click(self._guarded(lambda _b: self._hangup()))
        self.answer_button = _button("Answer", "answer the incoming call (200 OK)", "success", icon="check")
        self.answer_button.on_click(self._guarded(lambda _b: self._answer()))
        self.decline_button = _button("Decline", "refuse the incoming call (486 Busy Here)", "warning", icon="ban")
        self.decline_button.on_click(self._guarded(lambda _b: self._decline()))
        self.banner_text = w.HTML()
        self.banner_answer = _button("Answer", "answer the incoming call (200 OK)", "success", icon="check")
        self.banner_answer.on_click(self._guarded(lambda _b: self._answer()))
        self.banner_decline = _button("Decline", "refuse the incoming call (486 Busy Here)", "warning", icon="ban")
        self.banner_decline.on_click(self._guarded(lambda _b: self._decline()))
        self.banner = w.HBox([self.banner_text, self.banner_answer, self.banner_decline],
                             layout=w.Layout(display="none", border="2px solid #bf8700", padding="4px",
                                             align_items="center"))
        self.stats_line = w.HTML()
        self.log_output = w.Output(layout=w.Layout(height="11em", overflow="auto", border="1px solid #d0d7de"))
        rows = [w.HBox([self.keys[k] for k in KEYS[i:i + 3]]) for i in range(0, len(KEYS), 3)]
        pad = w.VBox(rows + [w.HBox([self.backspace_button])])
        buttons = w.VBox([self.register_button, self.call_button, self.hangup_button, self.answer_button,
                          self.decline_button])
        self.widget = w.VBox([self.title, self.status_line, self.banner, self.number, w.HBox([pad, buttons]),
                              self.stats_line, self.error_line, w.HTML("<b>Call log</b>"), self.log_output],
                             layout=w.Layout(border="1px solid #d0d7de", padding="6px", width="30em"))

        self._previous_on_incoming: Callable[[Call], Any] | None = phone.on_incoming
        phone.on_incoming = self._on_incoming
        self.refresh()

    # -- display ------------------------------------------------------------------
    def __repr__(self) -> str:
        return f"PhonePanel({self.phone.account.name}/{self.phone.account.number}, {self.state})"

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)

    @property
    def state(self) -> str:
        """The call state the panel shows: ``IDLE`` before the first call, then the current call's."""
        with self._changed:
            return self._shown[-1] if self._shown else "IDLE"

    @property
    def status_text(self) -> str:
        """The status line as plain text (what the student reads)."""
        return self._status_parts()[1]

    @property
    def ringing(self) -> bool:
        """True while an incoming call waits for Answer or Decline (the banner is shown)."""
        call = self.call
        return call is not None and call.direction == "incoming" and call.state in RINGING_STATES

    def _live_call(self) -> Call | None:
        call = self.call
        return call if call is not None and call.state != "DISCONNECTED" else None

    def _status_parts(self) -> tuple[str, str]:
        """The status line as (HTML, plain text)."""
        phone, acc = self.phone, self.phone.account
        where = f"{acc.name}/{acc.number} at {phone.address}:{phone.port} → PBX {phone.pbx}"
        if not phone.is_alive():
            reg_text, reg_color = "phone not running (closed, or its agent died)", _BAD
        elif phone.registered:
            reg_text, reg_color = "registered", _OK
        else:
            reg_text, reg_color = "not registered", _BAD
        call = self.call
        if call is None:
            call_text = "idle"
        else:
            arrow = "→" if call.direction == "outgoing" else "←"
            status = f" ({call.status} {call.reason})" if call.status else ""
            call_text = f"call {arrow} {call.number or call.remote}: {self.state}{status}"
        text = f"{where} · {reg_text} · {call_text}"
        markup = (f"{html.escape(where)} · {_span(reg_text, reg_color, True)} · "
                  f"{_span(call_text, _MUTED if call is None else '#000', call is not None)}")
        return markup, text

    def refresh(self) -> None:
        """Redraw the status line, the banner and the buttons from the phone and call state."""
        markup, _text = self._status_parts()
        self.status_line.value = markup
        call, live = self.call, self._live_call()
        ringing = self.ringing
        confirmed = live is not None and live.state == "CONFIRMED"
        alive, registered = self.phone.is_alive(), self.phone.registered
        self.register_button.disabled = registered or not alive or live is not None
        self.call_button.disabled = not registered or live is not None
        self.hangup_button.disabled = live is None or ringing
        self.answer_button.disabled = self.decline_button.disabled = not ringing
        self.banner_answer.disabled = self.banner_decline.disabled = not ringing
        for button in self.keys.values():
            button.disabled = live is not None and not confirmed
        self.backspace_button.disabled = live is not None
        self.number.disabled = live is not None
        if ringing and call is not None:
            self.banner_text.value = f"<b>🔔 Incoming call from {html.escape(call.remote or call.number)}</b>"
            self.banner.layout.display = "flex"
        else:
            self.banner.layout.display = "none"

    def _log(self, text: str, when: float | None = None) -> None:
        line = f"{_clock(time.time() if when is None else when)}  {text}"
        with self._changed:
            self.log_lines.append(line)
        self.log_output.append_stdout(line + "\n")

    def _show_error(self, message: str) -> None:
        with self._changed:
            self.errors.append(message)
        self.error_line.value = f"⚠ {_span(message, _BAD)}"
        self._log(f"error: {message}")

    def _clear_error(self) -> None:
        self.error_line.value = ""

    def _guarded(self, action: Callable[[Any], None]) -> Callable[[Any], None]:
        return _guarded(action, self._show_error, self.refresh)

    # -- the buttons' actions ---------------------------------------------------------
    def _key_action(self, key: str) -> Callable[[Any], None]:
        return lambda _button: self._press(key)

    def _press(self, key: str) -> None:
        live = self._live_call()
        if live is None:
            self.number.value += key
        elif live.state == "CONFIRMED":
            live.send_dtmf(key)
            with self._changed:
                self.dtmf_sent += key
                self.dtmf_by_call[live] = self.dtmf_by_call.get(live, "") + key
            self._log(f"DTMF {key} sent (RFC 4733 telephone-event)")
        else:
            raise CallError(f"the call is {live.state}: DTMF needs an answered call, wait for CONFIRMED")

    def _backspace(self) -> None:
        self.number.value = self.number.value[:-1]

    def _register(self) -> None:
        self._clear_error()
        self._log("REGISTER sent")
        threading.Thread(target=self._register_in_background, name="panel-register", daemon=True).start()

    def _register_in_background(self) -> None:
        try:
            reg = self.phone.register()
            self._log(f"registered: {reg.status} {reg.reason}, expires in {reg.expires} s")
        except VoipLabError as e:
            self._show_error(str(e))
        with contextlib.suppress(Exception):
            self.refresh()

    def _dial(self) -> None:
        number = self.number.value.strip()
        if not number:
            raise CallError("no number was dialled: type one (e.g. 5001) or use the dial pad")
        live = self._live_call()
        if live is not None:
            raise CallError(f"the phone is already in a call ({live.state}): hang up first")
        self._clear_error()
        self._adopt(self.phone.call(number))

    def _hangup(self) -> None:
        live = self._live_call()
        if live is None:
            raise CallError("there is no call to hang up")
        self._sync(live)
        self._hung_up_here = True
        self._log("hang up (" + ("BYE" if live.state == "CONFIRMED" else "CANCEL") + ")")
        live.hangup()

    def _answer(self) -> None:
        call = self.call
        if call is None or not self.ringing:
            raise CallError("there is no incoming call to answer")
        self._sync(call)
        self._log("answer (200 OK)")
        call.answer()

    def _decline(self) -> None:
        call = self.call
        if call is None or not self.ringing:
            raise CallError("there is no incoming call to decline")
        self._sync(call)
        self._hung_up_here = True
        self._log("decline (486 Busy Here)")
        call.decline(486)

    # -- helpers doing what the buttons do (for headless notebooks and tests) -----------
    def dial(self, number: str) -> Call | None:
        """Type ``number`` into the number field and press Call (returns at once).

        Returns:
            the new call, or ``None`` if the panel could not place it (the panel shows why).

        Taught in notebook 06.
        """
        before = self.call
        self.number.value = str(number)
        self.call_button.click()
        return self.call if self.call is not before else None

    def press(self, keys: str) -> None:
        """Press dial pad keys: they type the number when idle, send DTMF during a call."""
        for key in keys:
            if key not in self.keys:
                self._show_error(f"key {key!r} is not on the dial pad: use 0-9, * and #")
                return
            self.keys[key].click()

    def hangup(self) -> None:
        """Press Hang up."""
        self.hangup_button.click()

    def answer(self) -> None:
        """Press Answer (on the incoming-call banner)."""
        self.banner_answer.click()

    def decline(self) -> None:
        """Press Decline (on the incoming-call banner)."""
        self.banner_decline.click()

    def register(self) -> None:
        """Press Register (the REGISTER runs in the background)."""
        self.register_button.click()

    def wait_state(self, state: str = "CONFIRMED", timeout: float = 10.0) -> Call:
        """Wait until the panel has shown the current call in ``state``; returns the call.

        Raises:
            CallError: there is no call, the call ended first (the panel's error says why),
                or ``timeout`` seconds passed.

        Taught in notebook 06.
        """
        state = state.upper()
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                call = self.call
                if call is not None and state in self._shown:
                    return call
                if call is not None and "DISCONNECTED" in self._shown:
                    call.wait(state, timeout=0)  # raises the CallError that says why it ended
                    return call
                left = deadline - time.monotonic()
                if left <= 0:
                    now = self._shown[-1] if self._shown else "no call"
                    raise CallError(f"the panel did not show {state} within {timeout:g} s (it shows {now}): "
                                    "wait longer or check the other phone")
                self._changed.wait(min(left, 0.1))

    def flow(self, call: Call | None = None) -> Flow:
        """The SIP messages of the panel's last call (or of ``call``), from the phone's own trace.

        Draw it with ``vl.plots.ladder(panel.flow(), roles=lab.config.roles())``: no capture
        privileges needed.

        Raises:
            CallError: the panel has shown no call yet.

        Taught in notebook 06.
        """
        call = call if call is not None else self.call
        if call is None:
            raise CallError("the panel has shown no call yet: press Call (or answer a call) first")
        return Flow.from_trace(self.phone.trace()).filter(call_id=call.call_id)

    def wait_incoming(self, timeout: float = 10.0) -> Call:
        """Wait until the incoming-call banner shows a ringing call; returns it.

        Raises:
            CallError: no call rang within ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        with self._changed:
            while not (self.ringing and self._shown):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise CallError(f"no call rang at {self.phone.account.name} within {timeout:g} s: "
                                    "check that the phone is registered and call it")
                self._changed.wait(min(left, 0.1))
            assert self.call is not None
            return self.call

    # -- incoming calls (the phone's helper thread) -------------------------------------
    def _on_incoming(self, call: Call) -> None:
        previous = self._previous_on_incoming
        if previous is not None:
            try:
                previous(call)
            except Exception as e:  # noqa: BLE001 - a student's callback must not break the panel
                self._show_error(f"your on_incoming callback failed: {e!r}")
        try:
            if self._closed:
                return
            who = call.remote or call.number
            if call.state not in RINGING_STATES:
                self._log(f"incoming call from {who} handled by your on_incoming callback: {call.state}")
                if call.state != "DISCONNECTED" and self._live_call() is None:
                    self._adopt(call)
                return
            if self._live_call() is not None:
                self._log(f"incoming call from {who} while busy: declined (486 Busy Here)")
                call.decline(486)
                return
            self._adopt(call)
        except VoipLabError as e:
            self._show_error(str(e))
        except Exception as e:  # noqa: BLE001 - runs in the phone's helper thread
            self._show_error(f"unexpected error {e!r}: please report it")

    # -- following a call (the watcher thread) -------------------------------------------
    def _adopt(self, call: Call) -> None:
        with self._changed:
            self.call = call
            self.calls.append(call)
            self._shown = []
            self._seen = 0
            self._hung_up_here = False
            self.last_stats = {}
            self.dtmf_sent = ""
            self._changed.notify_all()
        self.stats_line.value = ""
        self._sync(call)
        self._watcher = threading.Thread(target=self._watch, args=(call,), daemon=True,
                                         name=f"panel-{self.phone.account.name}-call")
        self._watcher.start()

    def _sync(self, call: Call) -> None:
        """Log the call's new states (with the time they happened), redraw, wake the waiters."""
        history = list(call.history)
        with self._changed:
            if call is not self.call:
                return
            arrow = "→" if call.direction == "outgoing" else "←"
            who = call.number or call.remote
            for i in range(self._seen, len(history)):
                when, state = history[i]
                if self._shown and self._shown[-1] == state:
                    continue  # pjsua reports CALLING once more after sending the INVITE
                status = ""
                if i == len(history) - 1 and call.status and (state != "DISCONNECTED" or call.status >= 300):
                    status = f" ({call.status} {call.reason})"
                self._shown.append(state)
                self._log(f"{arrow} {who}: {state}{status}", when)
            self._seen = len(history)
        self.refresh()
        with self._changed:
            self._changed.notify_all()

    def _update_stats(self, call: Call) -> None:
        stats = call.stats()
        if not stats:
            return
        with self._changed:
            if call is not self.call:
                return
            self.last_stats = stats
            self._changed.notify_all()
        self.stats_line.value = "📊 " + html.escape(_format_stats(stats, call.duration))

    def _watch(self, call: Call) -> None:
        """Follow ``call`` until it ends (or the panel closes): states, statistics, errors."""
        next_stats = 0.0
        try:
            while not self._stop.is_set() and call is self.call:
                self._sync(call)
                if call.state == "DISCONNECTED":
                    break
                if not self.phone.is_alive():
                    raise PhoneDied(f"the phone {self.phone.account.name} stopped during the call (closed, or its "
                                    "agent died): create a new Phone (or run vl.widgets.call_panel again)")
                if call.state == "CONFIRMED" and time.monotonic() >= next_stats:
                    with contextlib.suppress(CallError):  # the call may end between two looks
                        self._update_stats(call)
                    next_stats = time.monotonic() + self.stats_interval
                self._stop.wait(POLL_INTERVAL_S)
            if call.state != "DISCONNECTED" or call is not self.call:
                return
            if call.direction == "outgoing" and not self._hung_up_here and call.confirmed_at is None:
                try:
                    call.wait("CONFIRMED", timeout=0)  # raises the CallError that explains the failure
                except CallError as e:
                    self._show_error(str(e))
            if call.confirmed_at is not None:
                with contextlib.suppress(CallError):
                    self._update_stats(call)  # the final statistics, once the agent has freed the call
                self._log(f"call over after {call.duration:.1f} s")
        except VoipLabError as e:
            self._show_error(str(e))
        except Exception as e:  # noqa: BLE001 - a background thread must report, not die silently
            self._show_error(f"unexpected error {e!r}: please report it")
        finally:
            with contextlib.suppress(Exception):
                self.refresh()

    # -- closing -------------------------------------------------------------------------
    def close(self) -> None:
        """Stop following the call, give the phone back its own ``on_incoming`` and close the widgets.

        The phone and its call are left as they are (close the phone yourself).
        """
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        if self.phone.on_incoming == self._on_incoming:
            self.phone.on_incoming = self._previous_on_incoming
        watcher = self._watcher
        if watcher is not None and watcher is not threading.current_thread():
            watcher.join(JOIN_TIMEOUT_S)
        _close_tree(self.widget)


def _close_tree(widget: w.Widget) -> None:
    """Close a widget and every widget inside it."""
    for child in getattr(widget, "children", ()):
        _close_tree(child)
    widget.close()


class AlcatelPanel:
    """The simulated Alcatel IP Touch's panel: its status, and buttons to call and hang up.

    It refreshes itself in a background thread (every ``refresh`` seconds, twice as often
    during a call) until :meth:`close`; a new panel for the same Alcatel (a re-run cell)
    closes the older one. With the real desk phone (a classroom ``lab.toml``) it only says so.

    Parameters:
        lab: the :class:`~voiplab.devices.lab.Lab` (its ``simulated_alcatel``) or a
            :class:`~voiplab.devices.alcatel.SimulatedAlcatel`.
        number: the number the Alcatel calls (default ``"5002"``, the Raspberry Pi).
        refresh: seconds between two status refreshes.

    Attributes:
        last_status: the last ``SimulatedAlcatel.status()`` shown (``None`` if unreachable).
        errors: every error message shown, oldest first.

    Taught in notebook 06.
    """

    def __init__(self, lab: Lab | SimulatedAlcatel, *, number: str = "5002",
                 refresh: float = ALCATEL_REFRESH_S) -> None:
        self.alcatel: SimulatedAlcatel | None = (lab if isinstance(lab, SimulatedAlcatel)
                                                 else lab.simulated_alcatel)
        self.refresh_s = float(refresh)
        self.last_status: AlcatelStatus | None = None
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._closed = False
        self.title = w.HTML("<b>☎ Alcatel IP Touch 4018</b>")
        self.status_line = w.HTML()
        self.error_line = w.HTML()
        self.number = w.Text(value=str(number), description="Number", layout=w.Layout(width="16em"))
        self.call_button = _button(f"Alcatel calls {number}", "make the Alcatel dial the number", "success",
                                   width="14em", icon="phone")
        self.call_button.on_click(self._guarded(lambda _b: self._call()))
        self.hangup_button = _button("Alcatel hangs up", "the Alcatel ends its call (BYE or CANCEL)", "danger",
                                     width="14em", icon="times")
        self.hangup_button.on_click(self._guarded(lambda _b: self._hangup()))
        self.number.observe(self._number_changed, names="value")
        self.widget = w.VBox([self.title, self.status_line, self.number,
                              w.HBox([self.call_button, self.hangup_button]), self.error_line],
                             layout=w.Layout(border="1px solid #d0d7de", padding="6px", width="30em"))
        self._thread: threading.Thread | None = None
        if self.alcatel is None:
            self.status_line.value = ("This lab uses the <b>real</b> Alcatel IP Touch (lab.toml): dial from the "
                                      "desk phone itself.")
            self.call_button.disabled = self.hangup_button.disabled = self.number.disabled = True
            return
        acc = self.alcatel.account
        self.title.value = (f"<b>☎ Alcatel IP Touch 4018</b> (simulated) {html.escape(acc.name)}/"
                            f"{html.escape(acc.number)} at {html.escape(acc.address)}")
        key = str(self.alcatel.socket_path)
        older = _ALCATEL_PANELS.get(key)
        if older is not None and older is not self:
            older.close()  # a re-run cell: only one panel polls the Alcatel
        _ALCATEL_PANELS[key] = self
        self.refresh()
        self._thread = threading.Thread(target=_alcatel_loop, args=(weakref.ref(self), self._stop),
                                        name="panel-alcatel", daemon=True)
        self._thread.start()

    def __repr__(self) -> str:
        status = self.last_status
        current = ("unknown" if status is None
                   else (status["current"] or {}).get("state", "idle"))
        return f"AlcatelPanel({current})"

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)

    @property
    def status_text(self) -> str:
        """The status as plain text."""
        return _strip_tags(self.status_line.value)

    def _number_changed(self, change: dict[str, Any]) -> None:
        self.call_button.description = f"Alcatel calls {str(change['new']).strip() or '…'}"

    def _show_error(self, message: str) -> None:
        with self._lock:
            self.errors.append(message)
        self.error_line.value = f"⚠ {_span(message, _BAD)}"

    def _guarded(self, action: Callable[[Any], None]) -> Callable[[Any], None]:
        return _guarded(action, self._show_error, self.refresh)

    def _call(self) -> None:
        assert self.alcatel is not None
        number = self.number.value.strip()
        if not number:
            raise PhoneError("no number was given: type the number the Alcatel should call (e.g. 5002)")
        self.error_line.value = ""
        self.alcatel.call(number)

    def _hangup(self) -> None:
        assert self.alcatel is not None
        if not self.alcatel.hangup():
            raise PhoneError("the Alcatel has no call to hang up")

    def call(self, number: str | None = None) -> None:
        """Press "Alcatel calls" (for ``number`` if given). Taught in notebook 06."""
        if number is not None:
            self.number.value = str(number)
        self.call_button.click()

    def hangup(self) -> None:
        """Press "Alcatel hangs up"."""
        self.hangup_button.click()

    def refresh(self) -> None:
        """Ask the Alcatel for its status and redraw (errors are shown, not raised)."""
        if self.alcatel is None or self._closed:
            return
        try:
            st = self.alcatel.status()
        except VoipLabError as e:
            with self._lock:
                self.last_status = None
            self.status_line.value = _span(str(e), _BAD)
            self.call_button.disabled = self.hangup_button.disabled = True
            return
        with self._lock:
            self.last_status = st
        current = st.get("current")
        calls = st.get("calls") or []
        if st.get("registered"):
            reg = f"{_span('registered', _OK, True)} at {html.escape(str(st.get('address', '')))}"
        else:
            reg = f"{_span('not registered', _BAD, True)} {html.escape(str(st.get('last_error') or ''))}"
        lines = [reg]
        if current:
            arrow = "→" if current.get("direction") == "outgoing" else "←"
            status = f" ({current['status']} {current.get('reason', '')})" if current.get("status") else ""
            lines.append(f"in call {arrow} {html.escape(str(current.get('number') or current.get('remote')))}: "
                         f"<b>{html.escape(str(current.get('state')))}</b>{html.escape(status)}, "
                         f"{float(current.get('duration', 0)):.1f} s")
        else:
            lines.append(_span("idle", _MUTED))
        if calls:
            last = calls[-1]
            arrow = "→" if last.get("direction") == "outgoing" else "←"
            lines.append(f"last call {arrow} {html.escape(str(last.get('number') or last.get('remote')))}: "
                         f"{last.get('status') or '-'} {html.escape(str(last.get('reason') or ''))}, "
                         f"{float(last.get('duration', 0)):.1f} s, DTMF received "
                         f"<b>{html.escape(repr(last.get('dtmf', '')))}</b>, rx {int(last.get('rx_packets', 0))} "
                         f"RTP packets")
        self.status_line.value = "<br>".join(lines)
        self.call_button.disabled = not st.get("registered") or current is not None
        self.hangup_button.disabled = current is None

    def close(self) -> None:
        """Stop refreshing and close the widgets."""
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(JOIN_TIMEOUT_S)
        _close_tree(self.widget)


def _strip_tags(markup: str) -> str:
    return html.unescape(re.sub(r"<br>", "\n", re.sub(r"<(?!br>)[^>]+>", "", markup)))


def _alcatel_loop(ref: weakref.ref[AlcatelPanel], stop: threading.Event) -> None:
    """The Alcatel panel's refresher: holds the panel only weakly, so a forgotten panel ends it."""
    while not stop.is_set():
        panel = ref()
        if panel is None:
            return
        with contextlib.suppress(Exception):
            panel.refresh()
        pause = panel.refresh_s / 2 if panel.last_status and panel.last_status["current"] else panel.refresh_s
        del panel
        stop.wait(pause)


class CallPanel(w.HBox):
    """A :class:`PhonePanel` and an :class:`AlcatelPanel` side by side (an ``HBox``).

    Made by :func:`call_panel`. ``dial``, ``press``, ``hangup``, ``answer``, ``decline``,
    ``wait_state``, ``wait_incoming`` and ``flow`` are the phone panel's; :meth:`close` closes
    both panels and, if :func:`call_panel` created it, the phone (hung up, unregistered, its
    address free for the next notebook's kernel).

    Taught in notebook 06.
    """

    def __init__(self, phone_panel: PhonePanel, alcatel_panel: AlcatelPanel, *, owns_phone: bool = False,
                 **kwargs: Any) -> None:
        super().__init__([phone_panel.widget, alcatel_panel.widget], **kwargs)
        self.phone_panel = phone_panel
        self.alcatel_panel = alcatel_panel
        self.phone = phone_panel.phone
        self.owns_phone = owns_phone
        self.dial = phone_panel.dial
        self.press = phone_panel.press
        self.hangup = phone_panel.hangup
        self.answer = phone_panel.answer
        self.decline = phone_panel.decline
        self.wait_state = phone_panel.wait_state
        self.wait_incoming = phone_panel.wait_incoming
        self.flow = phone_panel.flow

    @property
    def widget(self) -> CallPanel:
        """The panel itself (it is a widget), like ``PhonePanel.widget``."""
        return self

    def close(self) -> None:
        """Close both panels, then the phone if :func:`call_panel` created it."""
        panels = [getattr(self, name, None) for name in ("phone_panel", "alcatel_panel")]
        for panel in panels:
            if panel is not None:
                panel.close()
        if getattr(self, "owns_phone", False):
            with contextlib.suppress(VoipLabError):
                self.phone.close()
        super().close()


def call_panel(lab: Lab, account: str = "rpi", *, number: str | None = None,
               audio: str = "tone:440") -> CallPanel:
    """Create and register ``account``'s phone; return its panel and the Alcatel's, side by side.

    Parameters:
        lab: the lab (``vl.start_lab()``).
        account: the phone's account (``"rpi"``, 5002).
        number: the number to dial first (default: the Alcatel's, 5001).
        audio: what the phone sends (``"tone:440"``: a 440 Hz tone, easy to see on a spectrogram).

    Returns:
        a :class:`CallPanel` (an ``HBox``); a failed REGISTER is shown in the panel (Register retries).

    Raises:
        PhoneError: the phone could not be started (its address is in use, ...).

    Taught in notebook 06.
    """
    phone = lab.phone(account, audio=audio)
    alcatel_number = lab.config.account("alcatel").number
    panel = PhonePanel(phone, number=alcatel_number if number is None else str(number))
    try:
        reg = phone.register()
        panel._log(f"registered: {reg.status} {reg.reason}, expires in {reg.expires} s")
    except VoipLabError as e:
        panel._show_error(str(e))
    panel.refresh()
    return CallPanel(panel, AlcatelPanel(lab, number=phone.number), owns_phone=True)
