"""The graders of the graded assignments: what each exercise expects, computed outside the kernel.

One module per assignment (``ch3_digest``, ``ch4_invite``, ``ch5_rtp``, ``ch7_provisioning``),
each an :class:`~voiplab.teach.graders.base.AssignmentSpec`. Only the grader
(:mod:`voiplab.teach.grading`) uses them; ``import voiplab as vl`` does not reach them,
and a student's cell that imports them is reported as tampering.
"""

from __future__ import annotations

from ...errors import VoipLabError
from . import ch3_digest, ch4_invite, ch5_rtp, ch7_provisioning
from .base import AssignmentSpec, Exercise, GradingContext, Part, Verdict

__all__ = ["ASSIGNMENTS", "AssignmentSpec", "Exercise", "GradingContext", "Part", "Verdict", "spec"]

#: assignment id -> its grader
ASSIGNMENTS: dict[str, AssignmentSpec] = {a.name: a for a in (
    ch3_digest.ASSIGNMENT, ch4_invite.ASSIGNMENT, ch5_rtp.ASSIGNMENT, ch7_provisioning.ASSIGNMENT)}


def spec(assignment: str) -> AssignmentSpec:
    """The grader of ``assignment``.

    Raises:
        VoipLabError: no such assignment.
    """
    try:
        return ASSIGNMENTS[assignment]
    except KeyError:
        raise VoipLabError(f"the assignment {assignment!r} has no grader: use one of "
                           f"{', '.join(sorted(ASSIGNMENTS))}") from None
