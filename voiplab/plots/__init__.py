"""Plots of voiplab: every function takes ``ax=None`` and returns the matplotlib Axes.

None of them changes matplotlib's global state (no ``plt.style``, no rcParams).

Taught in notebooks 03-06.
"""

from __future__ import annotations

from ._ladder import ladder

__all__ = ["ladder"]
