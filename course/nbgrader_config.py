"""nbgrader's configuration for the voiplab course: run nbgrader from this directory (``course/``).

The assignments' instructor versions are in ``source/<assignment>/`` (solutions, the answer key of
the written answers); ``nbgrader generate_assignment`` writes ``release/``, the student versions.
``nbgrader autograde`` runs each submission in voiplab's sandbox and checks its answers outside
the kernel (``voiplab.teach.nbgrader_plugin``): see ``docs/grading.md``.

The exchange (where students fetch and submit) is ``$VOIPLAB_NBGRADER_EXCHANGE``, else
``/srv/nbgrader/exchange``; the course id is ``$VOIPLAB_COURSE_ID``, else ``voiplab``.
"""

import os

from voiplab.teach.nbgrader_plugin import configure

c = get_config()  # noqa: F821 - nbgrader defines get_config() when it loads this file

c.CourseDirectory.root = os.path.dirname(os.path.abspath(__file__))
c.CourseDirectory.course_id = os.environ.get("VOIPLAB_COURSE_ID", "voiplab")
# never released nor collected: notebook checkpoints, and a student's own recordings stay theirs
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback"]
c.Exchange.root = os.environ.get("VOIPLAB_NBGRADER_EXCHANGE", "/srv/nbgrader/exchange")
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# autograde: a sandboxed run, then the answers checked outside the kernel (60 s per cell at most)
configure(c, timeout=60)
