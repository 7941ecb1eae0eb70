"""Run a handout as a student who did the work: its ``solution`` cells filled from the key.

Used by tests/test_notebooks.py and by CI's student phase (``python tests/handout_runner.py
03_register``: exit 0 when every cell ran and every check says PASS, within 90 s).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
HANDOUTS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
KEYS = ROOT / "course" / "handouts"
#: the longest a notebook may take, headless, against the local lab
MAX_SECONDS = 90


def filled(path: Path) -> Any:
    """The notebook with its ``solution`` cells replaced by the key's code (a student's right work)."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    key_file = KEYS / f"{path.stem}.json"
    key: dict[str, str] = json.loads(key_file.read_text()) if key_file.exists() else {}
    for cell in nb.cells:
        if "solution" in cell.metadata.get("tags", []):
            if cell.id not in key:
                raise AssertionError(f"{path.name}: solution cell {cell.id} has no answer in {key_file}")
            cell.source = key[cell.id]
    return nb


def check_outputs(nb: Any) -> list[str]:
    """The text of every check cell's result (``PASS ...`` or ``NOT YET ...``)."""
    shown = []
    for cell in nb.cells:
        if "check" in cell.metadata.get("tags", []):
            for out in cell.get("outputs", []):
                text = out.get("data", {}).get("text/plain") or out.get("text") or ""
                shown.append(text if isinstance(text, str) else "".join(text))
    return shown


def problems(path: Path, nb: Any, took: float) -> list[str]:
    """What went wrong in an executed handout (empty: every cell ran, every check PASS, in time)."""
    found = [f"{path.name}: a cell failed: {o.get('ename')}: {o.get('evalue')}"
             for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    results = check_outputs(nb)
    if not results:
        found.append(f"{path.name}: no check cell ran")
    found += [f"{path.name}: check not passed: {r[:300]}" for r in results if not r.startswith("PASS")]
    if took >= MAX_SECONDS:
        found.append(f"{path.name} took {took:.0f} s (at most {MAX_SECONDS})")
    return found


def run(path: Path, *, keep_kernel: bool = False) -> tuple[Any, Any, float]:
    """Execute the filled handout in a new kernel; returns (notebook, client, seconds)."""
    import nbclient

    nb = filled(path)
    client = nbclient.NotebookClient(nb, timeout=MAX_SECONDS, kernel_name="python3",
                                     resources={"metadata": {"path": str(path.parent)}})
    t0 = time.monotonic()
    try:
        client.execute(cleanup_kc=not keep_kernel)
    except Exception as e:  # noqa: BLE001 - reported with the notebook's name by problems()
        print(f"{path.name}: {type(e).__name__}: {str(e)[-2000:]}", file=sys.stderr)
    return nb, client, time.monotonic() - t0


def main(argv: list[str]) -> int:
    names = argv or [p.stem for p in HANDOUTS]
    failed = 0
    for name in names:
        path = ROOT / "notebooks" / f"{name}.ipynb"
        nb, _client, took = run(path)
        found = problems(path, nb, took)
        print(f"{name}: " + ("PASS" if not found else "FAILED") + f" in {took:.1f} s")
        for line in found:
            print("  " + line)
        failed += bool(found)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
