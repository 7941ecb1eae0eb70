"""The browser phone in the student's own browser (ipywidgets 8): a link, the CA to trust, its state.

Notebook 08 drives the lab's browser phone headless (Chromium under Playwright); beside it,
this panel lets the student open the same page in **their own** browser::

    wlab = vl.start_webrtc_lab()
    link = vl.widgets.browser_phone_link(wlab)          # guillaume/5003 by default
    link

It shows:

* the page's address with its token (``WebRtcLab.url``), as a link that opens a new tab;
* the lab's root CA (``ca.crt``, a public certificate) as a download, with its SHA-256
  fingerprint to compare in the browser's certificate viewer, and how to trust it: the
  browser opens ``wss://`` (and gives the microphone) only to a server it trusts;
* whether the account is registered on the WebRTC lab's Asterisk, and from where
  (``pjsip show endpoints``): the **Refresh** button, or :meth:`BrowserPhoneLink.refresh`.

The page is served on the WebRTC lab's loopback address, so the link works in a browser on
the machine that runs the lab (a lab PC, a student's laptop), not through a remote JupyterHub.

Taught in notebook 08 (WebRTC and TLS).
"""

from __future__ import annotations

import base64
import html
from collections.abc import Callable
from typing import Any

import ipywidgets as w

from ..devices.certs import describe
from ..devices.pbx import Endpoint
from ..devices.webrtc import WebRtcLab
from ..errors import VoipLabError, WebRtcError
from .base import span as _span
from .panels import _close_tree, _guarded

__all__ = ["BrowserPhoneLink", "browser_phone_link"]

_OK = "#1a7f37"
_BAD = "#cf222e"
#: how the panel's links look (JupyterLab's widget CSS does not colour them)
_LINK = "color:#0969da;text-decoration:underline"
#: the account the student's own browser uses by default (the headless demo uses rpi)
DEFAULT_ACCOUNT = "guillaume"


class BrowserPhoneLink:
    """A link to the lab's browser phone for one WebRTC account, the CA to trust, and its registration.

    Parameters:
        lab: the WebRTC lab (``vl.start_webrtc_lab()``).
        account: a WebRTC account of the lab (``"guillaume"``, 5003, by default; the headless
            demo of notebook 08 is ``"rpi"``).

    Attributes:
        url: the page's address, with its token.
        ca_sha256: the SHA-256 fingerprint of the lab's CA certificate.
        endpoint: the account's line of ``pjsip show endpoints`` at the last refresh.
        errors: every error message shown, oldest first.

    Raises:
        WebRtcError: the account is not a WebRTC account of the lab.

    Taught in notebook 08.
    """

    def __init__(self, lab: WebRtcLab, account: str = DEFAULT_ACCOUNT) -> None:
        self.lab = lab
        self.account = lab.config.account(account)
        self.url = lab.url(self.account.name)  # raises WebRtcError for a non-WebRTC account
        self.ca_file = lab.ca_file
        info = describe(self.ca_file)
        self.ca_sha256 = str(info["sha256"])
        self.endpoint: Endpoint | None = None
        self.errors: list[str] = []
        self._closed = False
        pem = self.ca_file.read_bytes()
        data_uri = "data:application/x-x509-ca-cert;base64," + base64.b64encode(pem).decode("ascii")
        acc = self.account
        self.title = w.HTML(f"<b>🌐 The browser phone in your own browser</b>: {html.escape(acc.name)}/"
                            f"{html.escape(acc.number)}")
        self.link_html = w.HTML(
            f"<ol style='margin:2px 0'>"
            f"<li>Trust the lab's CA: <a href='{data_uri}' download='voiplab-ca.crt' style='{_LINK}'>download "
            "ca.crt</a> "
            f"(its SHA-256 is <code>{html.escape(self.ca_sha256)}</code>), then import it as an "
            "<i>authority</i> (Chromium: Settings &gt; Privacy and security &gt; Security &gt; Manage "
            "certificates &gt; Authorities &gt; Import; Firefox: Settings &gt; Certificates &gt; View "
            f"certificates &gt; Authorities &gt; Import). File: <code>{html.escape(str(self.ca_file))}</code></li>"
            f"<li>Open <a href='{html.escape(self.url)}' target='_blank' rel='noopener' style='{_LINK}'>the "
            "browser phone "
            f"({html.escape(acc.name)})</a>, allow the microphone, press Register.</li>"
            "<li>Call 5001 (the Alcatel), 5000 (music on hold), or send a message to 5002.</li></ol>"
            "<small>The page is on the lab's loopback address: open it in a browser on the machine that runs "
            "the lab.</small>")
        self.status_line = w.HTML()
        self.error_line = w.HTML()
        self.refresh_button = w.Button(description="Refresh", icon="refresh", layout=w.Layout(width="9em"),
                                       tooltip="is the account registered? (pjsip show endpoints)")
        self.refresh_button.on_click(self._guarded(lambda _b: self._refresh()))
        self.widget = w.VBox([self.title, self.link_html, w.HBox([self.refresh_button, self.status_line]),
                              self.error_line],
                             layout=w.Layout(border="1px solid #d0d7de", padding="6px"))
        self.refresh()

    def __repr__(self) -> str:
        return f"BrowserPhoneLink({self.account.name} at {self.url.split('&token=')[0]}, {self.status_text})"

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)

    def _show_error(self, message: str) -> None:
        self.errors.append(message)
        self.error_line.value = f"⚠ {_span(message, _BAD)}"

    def _guarded(self, action: Callable[[Any], None]) -> Callable[[Any], None]:
        return _guarded(action, self._show_error, lambda: None)

    @property
    def registered(self) -> bool:
        """True if the account had a contact at the last refresh (a browser registered it)."""
        return self.endpoint is not None and bool(self.endpoint.contacts)

    @property
    def status_text(self) -> str:
        """The registration line as plain text."""
        if self.endpoint is None:
            return "unknown (press Refresh)"
        if not self.endpoint.contacts:
            return f"not registered ({self.endpoint.state})"
        return f"registered from {', '.join(self.endpoint.contacts)}"

    def refresh(self) -> Endpoint | None:
        """Ask the WebRTC lab's Asterisk whether the account is registered (the Refresh button).

        Returns:
            the account's ``pjsip show endpoints`` line (``None`` if Asterisk does not know it).

        Raises:
            PbxError: the WebRTC lab's Asterisk does not answer.
        """
        try:
            found = [e for e in self.lab.pbx.endpoints() if e.name == self.account.name]
        except VoipLabError:
            self.endpoint = None
            self.status_line.value = _span("the WebRTC lab's Asterisk does not answer: vl.start_webrtc_lab()", _BAD)
            raise
        self.endpoint = found[0] if found else None
        color = _OK if self.registered else _BAD
        self.status_line.value = _span(self.status_text, color, True)
        return self.endpoint

    def _refresh(self) -> None:
        self.error_line.value = ""
        self.refresh()

    def close(self) -> None:
        """Close the widgets (the lab and the page server keep running: ``wlab.down()`` stops them)."""
        if self._closed:
            return
        self._closed = True
        _close_tree(self.widget)


def browser_phone_link(lab: WebRtcLab, account: str = DEFAULT_ACCOUNT) -> BrowserPhoneLink:
    """The link to the lab's browser phone for ``account``, beside the headless demo of notebook 08.

    Raises:
        WebRtcError: ``account`` is not a WebRTC account of the lab.

    Taught in notebook 08.
    """
    if not isinstance(lab, WebRtcLab):
        raise WebRtcError(f"lab is a {type(lab).__name__}, not the WebRTC lab: pass vl.start_webrtc_lab()")
    return BrowserPhoneLink(lab, account)
