"""Does every notebook run top to bottom, headless, against the local lab?

Each notebook is executed in a fresh kernel with nbclient, exactly as a student
would run it (Kernel > Restart and run all). A cell error fails the test with
the cell's traceback. Notebooks are committed without outputs: that is checked too.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb"))
#: the student version of the graded exercises raises NotImplementedError by design:
#: tests/test_grading.py runs it through the grader (0 points, no crash) and the source (full marks)
RUNNABLE = [p for p in NOTEBOOKS if p.stem != "exercises"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_is_committed_without_outputs(path: Path) -> None:
    """Is the notebook free of outputs and execution counts (students run it themselves)?"""
    nb = json.loads(path.read_text())
    dirty = [i for i, c in enumerate(nb["cells"]) if c["cell_type"] == "code"
             and (c.get("outputs") or c.get("execution_count"))]
    assert dirty == [], f"cells {dirty} of {path.name} keep outputs: clear them before committing"


@pytest.mark.notebook
@pytest.mark.asterisk
@pytest.mark.parametrize("path", RUNNABLE, ids=[p.stem for p in RUNNABLE])
def test_notebook_runs_headless(path: Path, pbx: object, tmp_path: Path) -> None:
    """Does every cell of the notebook run without error against the local lab?"""
    import nbclient
    import nbformat

    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                                     resources={"metadata": {"path": str(path.parent)}})
    client.execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert errors == []
