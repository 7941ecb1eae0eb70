"""What every widget of voiplab shares: coloured text and button handlers that never raise into the kernel.

Used by the panels, the register panel, the sipconfig editor and the WebRTC link.
"""

from __future__ import annotations

import contextlib
import html
from collections.abc import Callable
from typing import Any

from ..errors import VoipLabError

__all__ = ["span", "guarded"]


def span(text: str, color: str, bold: bool = False) -> str:
    """``text`` (escaped) in ``color``, bold if asked: a fragment of an HTML widget's value."""
    weight = "font-weight:bold;" if bold else ""
    return f'<span style="color:{color};{weight}">{html.escape(text)}</span>'


def guarded(action: Callable[[Any], None], show_error: Callable[[str], None],
            refresh: Callable[[], None]) -> Callable[[Any], None]:
    """A button handler that shows errors in its panel instead of raising them into the kernel."""

    def handler(button: Any) -> None:
        try:
            action(button)
        except VoipLabError as e:
            show_error(str(e))
        except Exception as e:  # noqa: BLE001 - nothing may escape into the kernel from a click
            show_error(f"unexpected error {e!r}: please report it")
        with contextlib.suppress(Exception):
            refresh()

    return handler
