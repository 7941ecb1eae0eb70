"""What a grader is made of: exercises, their parts, and how an answer is compared.

An :class:`AssignmentSpec` lists the :class:`Exercise` of one graded notebook. Each
exercise names its check cell (``grade_id``), the answer cells whose code is the
student's, the captures its answers come from, the helpers its answers may not call, and
a function that computes, in the grader's process, the :class:`Part` s of the expected
answer from a :class:`GradingContext` (the student's variant and own captures). A part
compares one submitted value with the expected one and says why it is wrong, with a hint
when the value matches a known mistake ("did you use the 8000 Hz clock?").

Runs only in the grader: nothing here is reachable from ``import voiplab as vl``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ...errors import VoipLabError
from ..experiments import Experiment
from ..variants import Captures, Variant

__all__ = [
    "AssignmentSpec",
    "Exercise",
    "GradingContext",
    "Part",
    "Verdict",
    "as_float",
    "as_int",
    "as_int_list",
    "as_text",
    "close",
    "exact",
    "same_list",
]


@dataclass(frozen=True)
class Verdict:
    """The outcome of one part: right or not, and what to tell the student."""

    ok: bool
    message: str


@dataclass(frozen=True)
class Part:
    """One graded value of an exercise.

    Attributes:
        name: the answer's name, as submitted (``"jitter_ms"``).
        points: what it is worth.
        expected: the expected value (shown in the feedback when the answer is wrong).
        check: ``check(submitted) -> Verdict``.
    """

    name: str
    points: float
    expected: object
    check: Callable[[object], Verdict]


@dataclass
class GradingContext:
    """What a grader knows about one submission: the student, their variant, their own captures.

    ``captures`` is the grader's own copy (never the kernel's): the instructor's offline
    captures for this student, or the ones the student recorded, checked against the
    manifest and the variant.
    """

    student: str
    variant: Variant
    captures: Captures | None
    _experiments: dict[str, Experiment] = field(default_factory=dict, repr=False)

    def experiment(self, name: str) -> Experiment:
        """The capture ``name`` (``"register"``, ``"call"``), analysed in the grader's process.

        Raises:
            VoipLabError: there is no usable capture.
        """
        if self.captures is None:
            raise VoipLabError("there is no usable capture for this student")
        if name not in self._experiments:
            self._experiments[name] = self.captures.experiment(name, self.variant)
        return self._experiments[name]


@dataclass(frozen=True)
class Exercise:
    """One exercise: a check cell and the answer cells before it.

    Attributes:
        key: what the check cell submits (``work.submit("ex2", ...)``).
        grade_id: the check cell's nbgrader ``grade_id``.
        answer_ids: the ``grade_id`` of the answer cells holding the student's code.
        title: one line for reports.
        captures: the captures its answers come from (their SHA-256 must be the graded ones).
        forbidden: names the answer cells may not use (the helpers that would do the work).
        parts: ``parts(context) -> [Part, ...]``: the expected answer, computed by the grader.
    """

    key: str
    grade_id: str
    answer_ids: tuple[str, ...]
    title: str
    captures: tuple[str, ...]
    forbidden: tuple[str, ...]
    parts: Callable[[GradingContext], list[Part]]

    def points(self, context: GradingContext) -> float:
        """What the exercise is worth."""
        return sum(p.points for p in self.parts(context))


@dataclass(frozen=True)
class AssignmentSpec:
    """One graded notebook (an nbgrader assignment): its name, chapter and exercises.

    Attributes:
        name: the assignment id (``"ch5_rtp"``), also the notebook's name.
        chapter: the report's chapter it tests.
        exercises: the exercises, in notebook order.
        protected: names the locked setup cell defines; an answer cell may not rebind them.
        manual: grade ids of the written answers (graded by hand in nbgrader).
    """

    name: str
    chapter: int
    exercises: tuple[Exercise, ...]
    protected: tuple[str, ...] = ("vl", "np", "work", "reg_exp", "call_exp")
    manual: tuple[str, ...] = ()

    def exercise(self, grade_id: str) -> Exercise | None:
        """The exercise whose check cell is ``grade_id``."""
        return next((e for e in self.exercises if e.grade_id == grade_id), None)


# ---------------------------------------------------------------------------- reading answers


def as_float(value: object) -> float | None:
    """A submitted number as a float, or None (a string, None, a list...)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    f = float(value)
    return f if math.isfinite(f) else None


def as_int(value: object) -> int | None:
    """A submitted whole number as an int, or None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def as_text(value: object) -> str | None:
    """A submitted string, stripped, or None."""
    return value.strip() if isinstance(value, str) else None


def as_int_list(value: object) -> list[int] | None:
    """A submitted list of whole numbers, or None."""
    if not isinstance(value, list):
        return None
    out = [as_int(v) for v in value]
    return None if any(v is None for v in out) else [int(v) for v in out if v is not None]


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


# ---------------------------------------------------------------------------- comparisons


def exact(name: str, expected: object, *, label: str = "", normalize: Callable[[object], object] | None = None,
          hints: Sequence[tuple[object, str]] = ()) -> Callable[[object], Verdict]:
    """Right when the answer equals ``expected`` (after ``normalize``); ``hints``: (a wrong value, why)."""
    label = label or name

    def check(value: object) -> Verdict:
        got = normalize(value) if normalize is not None else value
        if got == expected:
            return Verdict(True, f"{label}: right")
        if value is None:
            return Verdict(False, f"{label}: no value was submitted (define {name})")
        for wrong, why in hints:
            if got == wrong:
                return Verdict(False, f"your {label} is {_shown(value)}, expected {_shown(expected)}: {why}")
        return Verdict(False, f"your {label} is {_shown(value)}, expected {_shown(expected)}")

    return check


def close(name: str, expected: float, tolerance: float, *, unit: str = "", label: str = "", digits: int = 2,
          hints: Sequence[tuple[float, str]] = ()) -> Callable[[object], Verdict]:
    """Right within ``tolerance``; ``hints``: (the value a known mistake gives, the question to ask)."""
    label = label or name
    suffix = f" {unit}" if unit else ""

    def check(value: object) -> Verdict:
        got = as_float(value)
        if value is None:
            return Verdict(False, f"{label}: no value was submitted (define {name})")
        if got is None:
            return Verdict(False, f"{label}: {_shown(value)} is not a number (define {name} as a float)")
        if abs(got - expected) <= tolerance:
            return Verdict(True, f"{label}: right ({got:.{digits}f}{suffix})")
        message = f"your {label} is {got:.{digits}f}{suffix}, expected {expected:.{digits}f}{suffix}"
        for wrong, why in hints:
            if abs(got - wrong) <= max(tolerance, abs(wrong) * 0.01):
                return Verdict(False, f"{message}: {why}")
        return Verdict(False, message)

    return check


def same_list(name: str, expected: list[int], *, label: str = "") -> Callable[[object], Verdict]:
    """Right when the submitted whole numbers are exactly ``expected`` (in any order, no duplicate)."""
    label = label or name

    def check(value: object) -> Verdict:
        got = as_int_list(value)
        if value is None:
            return Verdict(False, f"{label}: no value was submitted (define {name})")
        if got is None:
            return Verdict(False, f"{label}: {_shown(value)} is not a list of whole numbers")
        if sorted(got) == sorted(expected) and len(set(got)) == len(got):
            return Verdict(True, f"{label}: right")
        missing = sorted(set(expected) - set(got))
        extra = sorted(set(got) - set(expected))
        parts = [f"missing {missing}" if missing else "", f"not lost: {extra}" if extra else "",
                 "listed twice" if len(set(got)) != len(got) else ""]
        return Verdict(False, f"your {label} has {len(got)} numbers, expected {len(expected)} "
                              f"({', '.join(p for p in parts if p)})")

    return check
