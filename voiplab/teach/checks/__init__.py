"""The check cells of the notebooks: is the student's own result right, and if not, what to look at?

A notebook step is *predict -> do -> check*: the check cell calls one function of this
package on what the student made (their phone, their capture, their configuration) and
shows a :class:`CheckResult`: a green line that says what was seen, or a red one that says
what is wrong and where to look. A check never raises for a wrong answer (the notebook
goes on); it raises only for a misuse, with a :class:`~voiplab.errors.VoipLabError`.

``vl.checks.<name>(...)``: one module per chapter (``register``, ``config``, ``flow``,
``rtp``, ...), every check re-exported here. Taught in every notebook.
"""

from __future__ import annotations

import html
import importlib
from dataclasses import dataclass
from types import ModuleType

__all__ = ["CHAPTERS", "CheckResult", "failed", "passed"]

#: the check modules, one per chapter (notebook); their ``__all__`` names are reachable here
CHAPTERS = ("labcheck", "stack", "config", "register", "flow", "rtp", "calling", "provisioning",
            "webrtc", "own_call")


@dataclass(frozen=True)
class CheckResult:
    """The verdict of a check cell.

    Attributes:
        name: what was checked, in the student's words ("rpi is registered").
        ok: whether the student's result is right.
        message: when right, what was seen (the evidence); when wrong, what is wrong and
            what to look at (never the answer itself).
    """

    name: str
    ok: bool
    message: str

    def __bool__(self) -> bool:
        return self.ok

    def __repr__(self) -> str:
        return f"{'PASS' if self.ok else 'NOT YET'} {self.name}: {self.message}"

    def _repr_html_(self) -> str:
        colour, mark = ("#1a7f37", "✔") if self.ok else ("#cf222e", "✘")
        return (f"<div style='border-left:4px solid {colour};padding:2px 8px'>"
                f"<b style='color:{colour}'>{mark} {html.escape(self.name)}</b>: {html.escape(self.message)}</div>")


def passed(name: str, evidence: str) -> CheckResult:
    """A check that passed, with what was seen."""
    return CheckResult(name, True, evidence)


def failed(name: str, hint: str) -> CheckResult:
    """A check that did not pass, with what to look at."""
    return CheckResult(name, False, hint)


def _chapter(name: str) -> ModuleType | None:
    try:
        return importlib.import_module(f".{name}", __name__)
    except ModuleNotFoundError as e:
        if e.name == f"{__name__}.{name}":
            return None  # a chapter without checks yet
        raise


def __getattr__(name: str) -> object:
    """``vl.checks.<check>``: the check of that name, from whichever chapter module defines it."""
    for chapter in CHAPTERS:
        module = _chapter(chapter)
        if module is not None and name in getattr(module, "__all__", ()):
            value = getattr(module, name)
            globals()[name] = value
            return value
    raise AttributeError(f"voiplab.checks has no check {name!r}")


def __dir__() -> list[str]:
    names = set(globals())
    for chapter in CHAPTERS:
        module = _chapter(chapter)
        if module is not None:
            names.update(getattr(module, "__all__", ()))
    return sorted(names)

