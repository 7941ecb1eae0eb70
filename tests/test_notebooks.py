"""Does every notebook run top to bottom, headless, against the local lab, as a student runs it?

The handouts 00..09 run in order, each in a new kernel *kept running*, as a student leaves them
in one JupyterLab session, after their ``solution`` cells are filled with the instructor's key
(``course/handouts/``): a student's work, done right. In each, every cell must run and every
check cell pass, in under 90 s; and no notebook may find an address still taken by the one
before (the ``cleanup`` cells). Notebooks are committed without outputs: that is checked too.
(One handout alone: ``python tests/handout_runner.py 03_register``.)
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from handout_runner import HANDOUTS, KEYS, MAX_SECONDS, check_outputs, filled, problems, run

__all__ = ["KEYS", "MAX_SECONDS", "check_outputs", "filled"]

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb")) + sorted((ROOT / "notebooks" / "fr").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[f"{p.parent.name}/{p.stem}" for p in NOTEBOOKS])
def test_notebook_is_committed_without_outputs(path: Path) -> None:
    """Is the notebook free of outputs and execution counts (students run it themselves)?"""
    nb = json.loads(path.read_text())
    dirty = [i for i, c in enumerate(nb["cells"]) if c["cell_type"] == "code"
             and (c.get("outputs") or c.get("execution_count"))]
    assert dirty == [], f"cells {dirty} of {path.name} keep outputs: clear them before committing"


@pytest.mark.notebook
@pytest.mark.asterisk
def test_all_notebooks_in_one_session(pbx: object) -> None:
    """Run 00..09 in order, each in its own kernel left running: does every cell run and every
    check pass in each, in under 90 s, with no address ever still in use?"""
    clients = []
    timings = []
    try:
        for path in HANDOUTS:
            nb, client, took = run(path, keep_kernel=True)  # the kernel stays up, as in JupyterLab
            clients.append(client)
            timings.append(f"{path.stem} {took:.0f} s")
            found = problems(path, nb, took)
            assert found == [], f"after {[p.name for p in HANDOUTS[:len(clients) - 1]]}: {found}"
    finally:
        for client in clients:
            client._cleanup_kernel()  # nbclient's own (synchronous) shutdown of the kernel it started
    print("; ".join(timings))
