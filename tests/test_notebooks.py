"""Does every notebook run top to bottom, headless, against the local lab, as a student runs it?

Each notebook is executed in a fresh kernel with nbclient (Kernel > Restart and run all),
after its ``solution`` cells are filled with the instructor's key (``course/handouts/``): a
student's work, done right. Every check cell must then pass, each notebook in under 90 s.
Then all of them in order, each in its own kernel *kept running* as a student leaves them in
one JupyterLab session: no notebook may find an address still taken by the one before
(the ``cleanup`` cells). Notebooks are committed without outputs: that is checked too.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb")) + sorted((ROOT / "notebooks" / "fr").glob("*.ipynb"))
HANDOUTS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
KEYS = ROOT / "course" / "handouts"
#: the longest a notebook may take, headless, against the local lab
MAX_SECONDS = 90


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[f"{p.parent.name}/{p.stem}" for p in NOTEBOOKS])
def test_notebook_is_committed_without_outputs(path: Path) -> None:
    """Is the notebook free of outputs and execution counts (students run it themselves)?"""
    nb = json.loads(path.read_text())
    dirty = [i for i, c in enumerate(nb["cells"]) if c["cell_type"] == "code"
             and (c.get("outputs") or c.get("execution_count"))]
    assert dirty == [], f"cells {dirty} of {path.name} keep outputs: clear them before committing"


def filled(path: Path) -> Any:
    """The notebook with its ``solution`` cells replaced by the key's code (a student's right work)."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    key_file = KEYS / f"{path.stem}.json"
    key: dict[str, str] = json.loads(key_file.read_text()) if key_file.exists() else {}
    for cell in nb.cells:
        if "solution" in cell.metadata.get("tags", []):
            assert cell.id in key, f"{path.name}: solution cell {cell.id} has no answer in {key_file}"
            cell.source = key[cell.id]
    return nb


def check_outputs(nb: Any) -> list[str]:
    """The text of every check cell's result (``PASS ...`` or ``NOT YET ...``)."""
    shown = []
    for cell in nb.cells:
        if "check" in cell.metadata.get("tags", []):
            for out in cell.outputs:
                text = out.get("data", {}).get("text/plain") or out.get("text") or ""
                shown.append(text if isinstance(text, str) else "".join(text))
    return shown


@pytest.mark.notebook
@pytest.mark.asterisk
@pytest.mark.parametrize("path", HANDOUTS, ids=[p.stem for p in HANDOUTS])
def test_notebook_runs_headless(path: Path, pbx: object) -> None:
    """Does every cell run against the local lab, every check pass, in under 90 s?"""
    import nbclient

    nb = filled(path)
    t0 = time.monotonic()
    nbclient.NotebookClient(nb, timeout=MAX_SECONDS, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}}).execute()
    took = time.monotonic() - t0
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert errors == []
    results = check_outputs(nb)
    assert results and all(r.startswith("PASS") for r in results), results
    assert took < MAX_SECONDS, f"{path.name} took {took:.0f} s"


@pytest.mark.notebook
@pytest.mark.asterisk
def test_all_notebooks_in_one_session(pbx: object) -> None:
    """Run 00..09 in order, each in its own kernel left running: is an address ever still in use?"""
    import nbclient

    clients = []
    try:
        for path in HANDOUTS:
            nb = filled(path)
            client = nbclient.NotebookClient(nb, timeout=MAX_SECONDS, kernel_name="python3",
                                             resources={"metadata": {"path": str(path.parent)}})
            clients.append(client)
            client.execute(cleanup_kc=False)  # the kernel stays up, as in JupyterLab
            errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
            assert errors == [], f"{path.name} failed after {[p.name for p in HANDOUTS[:len(clients) - 1]]}"
    finally:
        for client in clients:
            client._cleanup_kernel()  # nbclient's own (synchronous) shutdown of the kernel it started
