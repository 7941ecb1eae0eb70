"""Registering step by step, and the digest calculator (ipywidgets 8).

Notebook 03 shows them with::

    lab = vl.start_lab()
    panel = vl.widgets.RegisterPanel(lab, "rpi")   # account, password, Register / Unregister
    panel                                          # the exchange appears as it happens
    calc = vl.widgets.DigestCalculator(challenge=..., request=..., password=...)

* :class:`RegisterPanel` drives a :class:`~voiplab.devices.phone.Phone`: the account and its
  password (type a wrong one to see the refusal), Register / Unregister, the status, and the
  exchange as it happens: ``REGISTER`` → ``401`` (realm, nonce) → ``REGISTER`` +
  ``Authorization`` (nonce, nc, response) → ``200 OK`` (Expires, Contact). :meth:`RegisterPanel.send`
  sends a request of your own from the phone's address (a REGISTER reusing a nonce) and adds
  the answer to the exchange.
* :class:`DigestCalculator` recomputes HA1, HA2 and the response (``voiplab.core.digest``) as
  soon as a field changes, prefilled from a captured challenge and request, the captured
  response beside the computed one with a match mark.

Every button has a method doing what it does (``register()``, ``unregister()``), so a notebook
runs headless too; errors (a wrong password, no PBX) are shown in the panel, never raised
from a click.

Taught in notebook 03.
"""

from __future__ import annotations

import contextlib
import html
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import ipywidgets as w

from ..config import LabConfig
from ..core.digest import ALGORITHMS, Challenge, DigestComputation, compute_response
from ..core.flow import Flow, FlowMessage, TraceEntry, format_address
from ..core.sip import SipMessage
from ..devices.phone import Phone, Registration
from ..errors import DigestError, PbxError, RegistrationError, SipParseError, VoipLabError
from .base import span as _span

if TYPE_CHECKING:
    from ..devices.lab import Lab

__all__ = [
    "ALGORITHM_CHOICES",
    "QOP_CHOICES",
    "SEND_PORT_OFFSET",
    "DigestCalculator",
    "ExchangeRow",
    "RegisterPanel",
    "exchange_rows",
]

#: the algorithm menu of the calculator (RFC 7616 and RFC 8760 names)
ALGORITHM_CHOICES = ("MD5", "MD5-sess", "SHA-256", "SHA-256-sess", "SHA-512-256", "SHA-512-256-sess")
#: the qop menu: (label, value); "" is no qop (the RFC 2069 form)
QOP_CHOICES = (("auth", "auth"), ("auth-int", "auth-int"), ("none (RFC 2069)", ""))
#: a request sent by :meth:`RegisterPanel.send` leaves from the phone's IP, this far above its SIP port
SEND_PORT_OFFSET = 10
#: seconds between two looks at the phone's trace while a REGISTER is under way
POLL_INTERVAL_S = 0.05
#: seconds to wait for the answer to a request sent by :meth:`RegisterPanel.send`
SEND_TIMEOUT_S = 2.0

_OK = "#1a7f37"
_BAD = "#cf222e"
_MUTED = "#57606a"
assert all(a.upper() in ALGORITHMS for a in ALGORITHM_CHOICES)


# ---------------------------------------------------------------------------- the exchange, row by row


@dataclass(frozen=True)
class ExchangeRow:
    """One message of a registration, as the register panel lists it.

    Attributes:
        time: when the phone sent or received it (seconds since the epoch).
        direction: ``"→"`` (the phone sent it) or ``"←"`` (it received it).
        first_line: the request line or status line.
        details: the fields the notebook talks about (realm and nonce of a 401; nonce, nc and
            response of an Authorization; Expires and Contact of a 200 OK).
        status: the status code of a response, ``None`` for a request.
    """

    time: float
    direction: str
    first_line: str
    details: str
    status: int | None = None

    @property
    def colour(self) -> str:
        """Red for a refusal, green for a success, black for a request."""
        if self.status is None:
            return "#000"
        return _BAD if self.status >= 400 else _OK if self.status < 300 else "#000"


def _fields(message: SipMessage) -> str:
    """The fields of a REGISTER exchange that matter, in one line."""
    parts: list[str] = []
    try:
        challenge = message.www_authenticate or message.proxy_authenticate
        authorization = message.authorization
    except SipParseError:
        challenge = authorization = None
    if challenge is not None:
        parts += [f"realm={challenge.get('realm')}", f"nonce={challenge.get('nonce')}"]
        if challenge.get("stale"):
            parts.append(f"stale={challenge.get('stale')}")
    if authorization is not None:
        parts += [f"nonce={authorization.get('nonce')}", f"nc={authorization.get('nc')}",
                  f"response={authorization.get('response')}"]
    expires = message.header("Expires")
    if expires is not None:
        parts.append(f"Expires: {expires.strip()}")
    if message.is_response and message.status is not None and 200 <= message.status < 300:
        contact = message.header("Contact")
        if contact:
            parts.append(f"Contact: {contact.strip()}")
    return ", ".join(parts)


def exchange_rows(entries: list[TraceEntry], method: str = "REGISTER") -> list[ExchangeRow]:
    """The messages of ``method`` transactions in a phone's trace, as the register panel lists them."""
    rows = []
    for entry in entries:
        try:
            message = SipMessage.parse(entry["raw"])
        except SipParseError:
            continue
        cseq = message.cseq
        if cseq is None or cseq.method != method:
            continue
        rows.append(ExchangeRow(entry["time"], "→" if entry["direction"] == "tx" else "←", message.start_line,
                                _fields(message), message.status))
    return rows


# ---------------------------------------------------------------------------- the register panel


class RegisterPanel:
    """Register a lab account step by step (display it, or its ``widget``).

    Parameters:
        lab: the :class:`~voiplab.devices.lab.Lab` or its :class:`~voiplab.config.LabConfig`.
        account: the account to register (``"rpi"``: the student's phone).

    Attributes:
        account, password: the fields (a Dropdown of the lab's accounts; choosing one fills in its
            password from the lab's configuration, which you may then change).
        register_button, unregister_button: the buttons.
        status: the status line; exchange: the table of messages; error_line: the last error.
        phone: the :class:`~voiplab.devices.phone.Phone` the panel drives (made at the first
            Register; made again when the account or the password changes), or ``None``.
        trace: every SIP message the panel's phones sent and received (a phone trace).
        last_status: the status code of the last REGISTER's final answer (``200``, ``401``), or ``None``.
        last_attempt_at: when the last Register started (seconds since the epoch), or ``None``:
            ``vl.auth_exchange(panel.flow, after=panel.last_attempt_at)`` is its exchange.
        errors: every error message shown, oldest first.

    Taught in notebook 03.
    """

    def __init__(self, lab: Lab | LabConfig, account: str = "rpi") -> None:
        self.config: LabConfig = lab if isinstance(lab, LabConfig) else lab.config
        acc = self.config.account(account)
        self.phone: Phone | None = None
        self.trace: list[TraceEntry] = []
        self.last_status: int | None = None
        self.last_reason = ""
        self.last_attempt_at: float | None = None
        self.registration: Registration | None = None
        self.errors: list[str] = []
        self._seen = 0  # entries of the current phone's trace already copied to self.trace
        self._lock = threading.RLock()
        self._busy = False
        self._closed = False

        self.title = w.HTML("<b>📇 Register a phone</b>")
        self.account = w.Dropdown(options=[(f"{a.name} ({a.number})", a.name) for a in self.config.accounts],
                                  value=acc.name, description="Account", layout=w.Layout(width="19em"))
        self.password = w.Password(value=acc.password, description="Password", layout=w.Layout(width="19em"))
        self.account.observe(self._account_changed, names="value")
        self.register_button = w.Button(description="Register", button_style="success", icon="plug",
                                        tooltip="REGISTER: 401 challenge, then the digest response")
        self.unregister_button = w.Button(description="Unregister", button_style="warning", icon="times",
                                          tooltip="REGISTER with Expires: 0")
        self.register_button.on_click(self._guarded(lambda _b: self._start(self.register)))
        self.unregister_button.on_click(self._guarded(lambda _b: self._start(self.unregister)))
        self.status = w.HTML()
        self.error_line = w.HTML()
        self.exchange = w.HTML()
        self.widget = w.VBox([self.title, w.HBox([self.account, self.password]),
                              w.HBox([self.register_button, self.unregister_button]), self.status,
                              self.error_line, w.HTML("<b>The exchange</b> (→ sent by the phone, ← received)"),
                              self.exchange],
                             layout=w.Layout(border="1px solid #d0d7de", padding="6px"))
        self.refresh()

    # -- display ------------------------------------------------------------------
    def __repr__(self) -> str:
        return f"RegisterPanel({self.account.value}, {self.status_text})"

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)

    @property
    def registered(self) -> bool:
        """True while the panel's phone is registered."""
        return self.phone is not None and self.phone.registered

    @property
    def status_text(self) -> str:
        """The status line as plain text."""
        return self._status()[1]

    @property
    def rows(self) -> list[ExchangeRow]:
        """The REGISTER messages shown in the exchange table, oldest first."""
        with self._lock:
            return exchange_rows(list(self.trace))

    @property
    def flow(self) -> Flow:
        """Everything the panel's phones sent and received, as a flow (``vl.auth_exchange(panel.flow)``)."""
        with self._lock:
            return Flow.from_trace(list(self.trace), pbx=self.config.pbx.host)

    def _status(self) -> tuple[str, str]:
        acc = self.config.account(self.account.value)
        where = f"{acc.name}/{acc.number} at {acc.address}:{acc.sip_port} → PBX {self.config.pbx.host}"
        if self._busy:
            text, colour = "REGISTER under way…", _MUTED
        elif self.registered and self.registration is not None:
            text, colour = (f"registered ({self.registration.status} {self.registration.reason}, "
                            f"expires in {self.registration.expires} s)"), _OK
        elif self.last_status is not None and self.last_status >= 300:
            text, colour = f"not registered: refused with {self.last_status} {self.last_reason}", _BAD
        else:
            text, colour = "not registered", _MUTED
        return f"{html.escape(where)} · {_span(text, colour, True)}", f"{where} · {text}"

    def _collect(self) -> None:
        """Copy the messages the phone sent and received since the last look."""
        with self._lock:
            phone = self.phone
            if phone is not None and phone.is_alive():
                entries = phone.trace()
                if len(entries) < self._seen:
                    self._seen = 0
                self.trace.extend(entries[self._seen:])
                self._seen = len(entries)

    def refresh(self) -> None:
        """Copy the phone's new messages and redraw the status, the exchange and the buttons."""
        self._collect()
        with self._lock:
            rows = exchange_rows(list(self.trace))
        self.status.value = self._status()[0]
        origin = rows[0].time if rows else 0.0
        body = "".join(
            f"<tr><td>+{r.time - origin:.3f} s</td><td>{r.direction}</td>"
            f"<td style='text-align:left;color:{r.colour}'><b>{html.escape(r.first_line)}</b></td>"
            f"<td style='text-align:left;font-family:monospace;font-size:85%'>{html.escape(r.details)}</td></tr>"
            for r in rows)
        self.exchange.value = (f"<table><tr><th>time</th><th></th><th>message</th><th>what matters</th></tr>"
                               f"{body}</table>" if rows else "<i>nothing sent yet: press Register</i>")
        self.register_button.disabled = self._busy
        self.unregister_button.disabled = self._busy or not self.registered

    def _account_changed(self, change: dict[str, Any]) -> None:
        """Another account chosen: its password from the lab's configuration, in the field."""
        self.password.value = self.config.account(str(change["new"])).password
        self.refresh()

    def _show_error(self, message: str) -> None:
        self.errors.append(message)
        self.error_line.value = f"⚠ {_span(message, _BAD)}"

    def _guarded(self, action: Callable[[Any], None]) -> Callable[[Any], None]:
        def handler(button: Any) -> None:
            try:
                action(button)
            except VoipLabError as e:
                self._show_error(str(e))
            except Exception as e:  # noqa: BLE001 - nothing may escape into the kernel from a click
                self._show_error(f"unexpected error {e!r}: please report it")
            with contextlib.suppress(Exception):
                self.refresh()

        return handler

    # -- the buttons' actions -------------------------------------------------------------
    def _start(self, action: Callable[[], object]) -> None:
        """Run a button's action in a thread (the click returns at once); the exchange is redrawn meanwhile."""
        if self._busy:
            return

        def run() -> None:
            try:
                action()
            except VoipLabError as e:
                self._show_error(str(e))
            except Exception as e:  # noqa: BLE001 - a background thread must not die silently
                self._show_error(f"unexpected error {e!r}: please report it")
            finally:
                with self._lock:
                    self._busy = False
                with contextlib.suppress(Exception):
                    self.refresh()

        def follow(worker: threading.Thread) -> None:
            while worker.is_alive() and not self._closed:  # the exchange appears as it happens
                worker.join(POLL_INTERVAL_S)
                with contextlib.suppress(Exception):
                    self.refresh()

        worker = threading.Thread(target=run, name="register-panel", daemon=True)
        with self._lock:
            self._busy = True  # the buttons are off from the click on
        self.refresh()
        worker.start()
        threading.Thread(target=follow, args=(worker,), name="register-panel-view", daemon=True).start()

    def wait(self, timeout: float = 10.0) -> bool:
        """Wait until a clicked action is over (``True``), at most ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while self._busy and time.monotonic() < deadline:
            time.sleep(POLL_INTERVAL_S)
        return not self._busy

    def _phone(self) -> Phone:
        """The phone for the account and password in the fields (made again when they changed)."""
        acc = self.config.account(self.account.value)
        password = self.password.value
        phone = self.phone
        if phone is not None and phone.is_alive() and phone.account.name == acc.name \
                and phone.account.password == password:
            return phone
        if phone is not None:
            self.refresh()  # keep what the old phone saw
            phone.close()
        self.phone = None
        self._seen = 0
        self.registration = None
        self.phone = Phone(replace(acc, password=password), self.config)
        return self.phone

    def register(self) -> Registration | None:
        """Press Register: REGISTER, 401 challenge, REGISTER with the digest response, final answer.

        Returns the :class:`~voiplab.devices.phone.Registration`, or ``None`` when the PBX refused
        (the status and the exchange say why; nothing is raised).
        """
        with self._lock:
            self._busy = True
        self.error_line.value = ""
        self.last_attempt_at = time.time()
        try:
            phone = self._phone()
            self.refresh()
            try:
                self.registration = phone.register()
            except RegistrationError as e:
                self.registration = None
                self.last_status = e.status
                self.last_reason = _reason(e.status)
                self._show_error(str(e))
                return None
            self.last_status, self.last_reason = self.registration.status, self.registration.reason
            return self.registration
        finally:
            time.sleep(POLL_INTERVAL_S)  # the qualify OPTIONS and late messages reach the trace
            self._collect()
            with self._lock:
                self._busy = False
            self.refresh()

    def unregister(self) -> None:
        """Press Unregister: REGISTER with ``Expires: 0`` (the binding is removed)."""
        phone = self.phone
        if phone is None or not phone.registered:
            raise RegistrationError("the panel's phone is not registered: press Register first")
        with self._lock:
            self._busy = True
        try:
            phone.unregister()
            self.registration = None
        finally:
            self._collect()
            with self._lock:
                self._busy = False
            self.refresh()

    def send(self, message: SipMessage, timeout: float = SEND_TIMEOUT_S) -> SipMessage:
        """Send a request of your own from the phone's IP address and return the PBX's final answer.

        It leaves from port ``sip_port + SEND_PORT_OFFSET`` (the phone keeps its own port);
        both messages are added to the exchange. Taught in notebook 03 (a REGISTER reusing a nonce).

        Raises:
            PbxError: the address cannot be used, or nothing answered within ``timeout`` seconds.
        """
        acc = self.config.account(self.account.value)
        local = (acc.address, acc.sip_port + SEND_PORT_OFFSET)
        pbx = (self.config.pbx.host, self.config.pbx.port)
        data = bytes(message)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            try:
                s.bind(local)
            except OSError as e:
                raise PbxError(f"the address {local[0]}:{local[1]} cannot be used ({e.strerror}): "
                               "close what uses it") from None
            s.settimeout(timeout)
            s.sendto(data, pbx)
            self._record("tx", local, pbx, data)
            deadline = time.monotonic() + timeout
            while True:
                try:
                    s.settimeout(max(0.01, deadline - time.monotonic()))
                    reply, source = s.recvfrom(65535)
                except TimeoutError:
                    raise PbxError(f"nothing answered from {pbx[0]}:{pbx[1]} within {timeout:g} s: is the lab up? "
                                   "run vl.start_lab()") from None
                self._record("rx", local, source, reply)
                answer = SipMessage.parse(reply)
                if answer.status is not None and answer.status >= 200:
                    self.last_status, self.last_reason = answer.status, answer.reason or ""
                    self.refresh()
                    return answer

    def _record(self, direction: str, local: tuple[str, int], remote: tuple[str, int], data: bytes) -> None:
        entry: TraceEntry = {"time": time.time(), "direction": "tx" if direction == "tx" else "rx",
                             "local": format_address(*local), "remote": format_address(*remote),
                             "transport": "UDP", "raw": data.decode("utf-8", "surrogateescape")}
        with self._lock:
            self.trace.append(entry)

    def close(self) -> None:
        """Close the panel's phone (it unregisters) and the widgets; idempotent."""
        if self._closed:
            return
        self._closed = True
        phone, self.phone = self.phone, None
        if phone is not None:
            with contextlib.suppress(VoipLabError):
                phone.close()
        for child in (self.widget, self.title, self.account, self.password, self.register_button,
                      self.unregister_button, self.status, self.error_line, self.exchange):
            child.close()


def _reason(status: int | None) -> str:
    return {401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 407: "Proxy Authentication Required",
            408: "Request Timeout"}.get(status or 0, "")


# ---------------------------------------------------------------------------- the digest calculator


def _sip(message: SipMessage | FlowMessage | None) -> SipMessage | None:
    return message.message if isinstance(message, FlowMessage) else message


class DigestCalculator:
    """HA1, HA2 and the digest response, recomputed as soon as a field changes.

    Parameters:
        challenge: the ``401`` (or 407) whose ``WWW-Authenticate`` fills realm, nonce, algorithm, qop.
        request: the request sent again with ``Authorization`` (fills username, uri, method,
            nonce, nc, cnonce, qop, and the captured response compared with the computed one).
        password: the password to try.

    Attributes:
        fields: name -> widget, for ``username, realm, password, method, uri, nonce, nc, cnonce,
            qop, algorithm``.
        ha1, ha2, response: the hashes shown (``""`` while a field is missing).
        captured: the response of the captured request, or ``""``.
        error: why nothing could be computed (a missing cnonce...), or ``""``.

    Taught in notebook 03.
    """

    FIELDS = ("username", "realm", "password", "method", "uri", "nonce", "nc", "cnonce", "qop", "algorithm")

    def __init__(self, challenge: SipMessage | FlowMessage | None = None,
                 request: SipMessage | FlowMessage | None = None, password: str = "") -> None:
        values = {name: "" for name in self.FIELDS}
        values.update(method="REGISTER", nc="00000001", qop="auth", algorithm="MD5", password=password)
        self.captured = ""
        chal, req = _sip(challenge), _sip(request)
        if chal is not None:
            parsed = Challenge.from_message(chal)
            qop = "auth" if "auth" in parsed.qop else (parsed.qop[0] if parsed.qop else "")
            values.update(realm=parsed.realm, nonce=parsed.nonce, algorithm=_menu_algorithm(parsed.algorithm),
                          qop=qop)
        if req is not None:
            auth = req.authorization
            values["method"] = req.method or values["method"]
            values["uri"] = req.request_uri or values["uri"]
            if auth is not None:
                for name in ("username", "realm", "nonce", "uri", "cnonce", "nc", "qop"):
                    if auth.get(name) is not None:
                        values[name] = str(auth.get(name))
                if auth.get("algorithm"):
                    values["algorithm"] = _menu_algorithm(str(auth.get("algorithm")))
                self.captured = str(auth.get("response") or "")
        self.fields: dict[str, w.Widget] = {}
        for name in self.FIELDS:
            if name == "qop":
                widget: w.Widget = w.Dropdown(options=list(QOP_CHOICES), value=values["qop"], description="qop")
            elif name == "algorithm":
                widget = w.Dropdown(options=list(ALGORITHM_CHOICES), value=values["algorithm"],
                                    description="algorithm")
            else:
                widget = w.Text(value=values[name], description=name, continuous_update=True)
            widget.layout = w.Layout(width="34em")
            widget.observe(self._changed, names="value")
            self.fields[name] = widget
        self.ha1 = self.ha2 = self.response = self.error = ""
        self.computation: DigestComputation | None = None
        self.output = w.HTML()
        self.widget = w.VBox([w.HTML("<b>🔑 Digest calculator</b> (RFC 2617 / 7616): change a field, "
                                     "watch the hashes"),
                              w.VBox(list(self.fields.values())), self.output],
                             layout=w.Layout(border="1px solid #d0d7de", padding="6px"))
        self.update()

    def __repr__(self) -> str:
        mark = {True: "matches", False: "does not match", None: "nothing to compare"}[self.matches]
        return f"DigestCalculator(response={self.response or '-'}; captured {self.captured or '-'}: {mark})"

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)

    def value(self, name: str) -> str:
        """The text of a field."""
        return str(self.fields[name].value)

    def set(self, **values: str) -> DigestCalculator:
        """Type into fields (``calc.set(password="12345678")``): the hashes follow at once."""
        for name, value in values.items():
            if name not in self.fields:
                raise VoipLabError(f"the calculator has no field {name!r}: use one of {', '.join(self.FIELDS)}")
            self.fields[name].value = value
        return self

    @property
    def matches(self) -> bool | None:
        """Whether the computed response equals the captured one (``None``: nothing to compare)."""
        if not self.captured or not self.response:
            return None
        return self.response == self.captured.lower()

    def _changed(self, _change: dict[str, Any]) -> None:
        self.update()

    def update(self) -> None:
        """Recompute HA1, HA2 and the response from the fields, and redraw."""
        v = {name: self.value(name) for name in self.FIELDS}
        try:
            challenge = Challenge(realm=v["realm"], nonce=v["nonce"], algorithm=v["algorithm"],
                                  qop=(v["qop"],) if v["qop"] else ())
            nc: int | str = v["nc"].strip() or 1
            computation = compute_response(challenge, v["method"], v["uri"], v["username"], v["password"],
                                           cnonce=v["cnonce"] or None, nc=nc, qop=v["qop"])
        except DigestError as e:
            self.computation, self.ha1, self.ha2, self.response, self.error = None, "", "", "", str(e)
        else:
            self.computation, self.error = computation, ""
            self.ha1, self.ha2, self.response = computation.ha1, computation.ha2, computation.response
        self.output.value = self._html()

    def _html(self) -> str:
        c = self.computation
        if c is None:
            return f"<p style='color:{_BAD}'>⚠ {html.escape(self.error)}</p>"
        rows = "".join(
            f"<tr><td><b>{name}</b></td><td style='text-align:left;font-family:monospace'>"
            f"{html.escape(c.algorithm)}({html.escape(text)})</td>"
            f"<td style='font-family:monospace'><b>{value}</b></td></tr>" for name, text, value in c.steps())
        match = self.matches
        if match is None:
            verdict = f"<span style='color:{_MUTED}'>no captured response to compare</span>"
        elif match:
            verdict = f"<span style='color:{_OK};font-weight:bold'>✔ matches the captured response</span>"
        else:
            verdict = f"<span style='color:{_BAD};font-weight:bold'>✘ differs from the captured response</span>"
        captured = (f"<tr><td><b>captured</b></td><td style='text-align:left'>in the Authorization header</td>"
                    f"<td style='font-family:monospace'>{html.escape(self.captured)}</td></tr>"
                    if self.captured else "")
        return (f"<table><tr><th>step</th><th>input</th><th>hash</th></tr>{rows}{captured}</table>"
                f"<p>{verdict}</p>")

    def close(self) -> None:
        """Close the widgets."""
        for widget in (*self.fields.values(), self.output, self.widget):
            widget.close()


def _menu_algorithm(algorithm: str) -> str:
    """The menu's spelling of an algorithm name (``md5`` -> ``MD5``, ``md5-sess`` -> ``MD5-sess``)."""
    for choice in ALGORITHM_CHOICES:
        if choice.upper() == algorithm.upper():
            return choice
    raise DigestError(f"digest algorithm {algorithm!r} is not supported: use {', '.join(ALGORITHM_CHOICES)}")
