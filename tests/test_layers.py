"""Are voiplab's layers visible in its imports? (design.md: "the folders are the layers, the import arrows
point down only").

The checker reads every module of ``voiplab/`` with :mod:`ast` (nothing is imported) and reports, with
the module, the line and the rule:

``layer``
    a module in no layer folder, or an import of a higher layer; the order is
    ``errors, config, paths`` < ``core`` < ``capture`` < ``devices`` < ``plots`` < ``widgets`` < ``teach``
    < ``cli``; ``voiplab/__init__.py`` and ``voiplab/__main__.py`` are the top door and may import anything.
    Imports inside functions and under ``if TYPE_CHECKING:`` count too: a deferred upward import is still
    an upward import.
``core-io``
    an import in ``core/`` of a module that does I/O or drives something: sockets, processes, threads,
    the clock, files and the environment (``os``, ``pathlib``, ``io``, ``shutil``, ``tempfile``...),
    HTTP, scapy, pjsua2, matplotlib. The core is sans-IO: bytes in, frozen dataclasses out, timestamps
    passed in.
``cycle``
    an import cycle between modules through module-level imports (``if TYPE_CHECKING:`` blocks do not
    run, so they do not count).
``function-import``
    an import inside a function that is not of a heavy optional dependency (scapy, matplotlib, pjsua2,
    playwright, nbformat, nbclient, ipywidgets, IPython) or of a voiplab layer loaded late for speed;
    or one without a comment giving the reason on its line or the line above (a group of consecutive
    imports shares the comment above its first line; ``noqa``/``type:`` pragmas are not reasons); or a
    voiplab import inside a function that the imported module would import back (a cycle hidden in a
    function: move the shared code down instead).

The first tests run the checker on small synthetic packages to show that each rule fires (and that the
allowed patterns pass); the last ones run it on voiplab itself.
"""

from __future__ import annotations

import ast
import io
import tokenize
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "voiplab"

#: the layers, bottom-up: the first part of a module name under voiplab -> its rank
LAYERS: tuple[tuple[str, ...], ...] = (
    ("errors", "config", "paths"),
    ("core",),
    ("capture",),
    ("devices",),
    ("plots",),
    ("widgets",),
    ("teach",),
    ("cli",),
)
LAYER_RANK = {name: rank for rank, names in enumerate(LAYERS) for name in names}
LAYER_ORDER = " < ".join(", ".join(names) for names in LAYERS)
#: voiplab/__init__.py and voiplab/__main__.py: above every layer, may import anything
TOP_DOOR_RANK = len(LAYERS)
TOP_DOOR = {PACKAGE, f"{PACKAGE}.__main__"}

#: top-level modules the sans-IO core may not import, with what they would bring in
CORE_FORBIDDEN = {
    "socket": "network I/O", "ssl": "network I/O", "select": "network I/O", "selectors": "network I/O",
    "socketserver": "a server", "http": "HTTP", "urllib": "HTTP", "asyncio": "an event loop",
    "subprocess": "processes", "multiprocessing": "processes", "signal": "process signals",
    "threading": "threads", "_thread": "threads", "concurrent": "threads",
    "time": "the clock (timestamps are passed in)",
    "os": "the environment and files", "pathlib": "files", "io": "file objects", "shutil": "files",
    "tempfile": "files", "glob": "files", "wave": "WAV files",
    "scapy": "packets on the wire", "pjsua2": "the phone", "matplotlib": "drawing",
    "ipywidgets": "widgets", "IPython": "the notebook",
}
#: heavy optional dependencies: the only outside modules that may be imported inside a function
HEAVY_OPTIONAL = frozenset({"scapy", "matplotlib", "pjsua2", "playwright", "nbformat", "nbclient", "ipywidgets",
                            "IPython"})
#: comments that are tool pragmas, not reasons
PRAGMAS = ("noqa", "type:", "pragma", "fmt:", "isort:", "ruff:")


@dataclass(frozen=True)
class Violation:
    """One broken rule: where, which rule, and what to do."""

    path: str
    line: int
    rule: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: [{self.rule}] {self.message}"


@dataclass(frozen=True)
class ImportEdge:
    """One imported name of an ``import``/``from ... import`` statement, resolved to an absolute module name."""

    importer: str
    target: str
    line: int
    in_function: bool
    type_checking: bool
    explained: bool

    @property
    def internal(self) -> bool:
        return self.target == PACKAGE or self.target.startswith(PACKAGE + ".")

    @property
    def top(self) -> str:
        return self.target.split(".")[0]


def module_files(root: Path) -> dict[str, Path]:
    """Every module of the package under ``root``: absolute name -> file."""
    modules: dict[str, Path] = {}
    for path in sorted((root / PACKAGE).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if any(part in {"node_modules", "build"} or part.startswith(".") for part in parts):
            continue  # the browser phone's npm tree and build output are not voiplab modules
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def layer_rank(module: str) -> int | None:
    """The layer of a voiplab module (``None``: in no layer)."""
    if module in TOP_DOOR:
        return TOP_DOOR_RANK
    return LAYER_RANK.get(module.split(".")[1])


def _reason_lines(source: str) -> tuple[set[int], set[int]]:
    """(lines with a reason comment, lines holding only a reason comment); pragmas are not reasons."""
    anywhere: set[int] = set()
    alone: set[int] = set()
    lines = source.splitlines()
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type != tokenize.COMMENT:
            continue
        text = token.string.lstrip("#").strip()
        if not text or text.startswith(PRAGMAS):
            continue
        row, col = token.start
        anywhere.add(row)
        if not lines[row - 1][:col].strip():
            alone.add(row)
    return anywhere, alone


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _statements(node: ast.AST, in_function: bool, type_checking: bool
                ) -> Iterator[tuple[ast.Import | ast.ImportFrom, bool, bool]]:
    """Every import statement under ``node``: (statement, in a function, under TYPE_CHECKING)."""
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        yield node, in_function, type_checking
        return
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
        in_function = True
    for field, value in ast.iter_fields(node):
        checking = type_checking or (field == "body" and isinstance(node, ast.If) and _is_type_checking(node.test))
        for child in value if isinstance(value, list) else [value]:
            if isinstance(child, ast.AST):
                yield from _statements(child, in_function, checking)


def _explained(node: ast.Import | ast.ImportFrom, anywhere: set[int], alone: set[int],
               statement_start: dict[int, int]) -> bool:
    """Is there a reason comment on the statement's lines, or alone on the line above it or above the block of
    imports written right before it (no blank line between)?"""
    end = node.end_lineno or node.lineno
    if any(line in anywhere for line in range(node.lineno, end + 1)):
        return True
    above = node.lineno - 1
    while above in statement_start:
        above = statement_start[above] - 1
    return above in alone


def _resolve(importer: str, is_package: bool, node: ast.Import | ast.ImportFrom, modules: dict[str, Path]
             ) -> list[str]:
    """The absolute module names an import statement brings in (``from P import name``: ``P.name`` if that
    is a module, else ``P``)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if node.level:
        package = importer.split(".") if is_package else importer.split(".")[:-1]
        base_parts = package[:len(package) - (node.level - 1)]
        base = ".".join(base_parts + ([node.module] if node.module else []))
    else:
        base = node.module or ""
    targets = []
    for alias in node.names:
        candidate = f"{base}.{alias.name}"
        targets.append(candidate if candidate in modules else base)
    return targets


def read_imports(root: Path) -> tuple[dict[str, Path], list[ImportEdge], list[Violation]]:
    """The modules under ``root``, every import of theirs, and the files that could not be parsed."""
    modules = module_files(root)
    edges: list[ImportEdge] = []
    problems: list[Violation] = []
    for name, path in modules.items():
        source = path.read_text(encoding="utf-8")
        try:
            tree = ast.parse(source, filename=str(path))
        except SyntaxError as error:
            problems.append(Violation(_rel(root, path), error.lineno or 0, "parse",
                                      f"{name} cannot be parsed: {error}"))
            continue
        anywhere, alone = _reason_lines(source)
        statements = list(_statements(tree, False, False))
        statement_start = {line: node.lineno for node, _, _ in statements
                           for line in range(node.lineno, (node.end_lineno or node.lineno) + 1)}
        for node, in_function, type_checking in statements:
            explained = _explained(node, anywhere, alone, statement_start)
            for target in _resolve(name, path.name == "__init__.py", node, modules):
                edges.append(ImportEdge(name, target, node.lineno, in_function, type_checking, explained))
    return modules, edges, problems


def _rel(root: Path, path: Path) -> str:
    return path.relative_to(root).as_posix()


def _known(target: str, modules: dict[str, Path]) -> str | None:
    """The module of ours that an internal import target is (itself, or the nearest enclosing package)."""
    parts = target.split(".")
    while parts:
        name = ".".join(parts)
        if name in modules:
            return name
        parts.pop()
    return None


def _module_graph(modules: dict[str, Path], edges: list[ImportEdge]) -> dict[str, dict[str, int]]:
    """Module -> {imported module: line}, for the imports that run when the module is imported."""
    graph: dict[str, dict[str, int]] = {name: {} for name in modules}
    for edge in edges:
        target = _known(edge.target, modules) if edge.internal else None
        if target is not None and target != edge.importer and not edge.in_function and not edge.type_checking:
            graph[edge.importer].setdefault(target, edge.line)
    return graph


def _cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def _path_between(graph: dict[str, dict[str, int]], start: str, goal: str) -> list[str] | None:
    """A chain of module-level imports from ``start`` to ``goal`` (breadth first), or ``None``."""
    previous: dict[str, str | None] = {start: None}
    queue = [start]
    while queue:
        node = queue.pop(0)
        if node == goal:
            chain = [node]
            while (step := previous[chain[-1]]) is not None:
                chain.append(step)
            return chain[::-1]
        for nxt in graph.get(node, {}):
            if nxt not in previous:
                previous[nxt] = node
                queue.append(nxt)
    return None


def check(root: Path) -> list[Violation]:
    """Every violation of the layer rules by the package ``voiplab`` under ``root``, in file and line order."""
    modules, edges, violations = read_imports(root)
    graph = _module_graph(modules, edges)
    where = {name: _rel(root, path) for name, path in modules.items()}
    for name in modules:
        if layer_rank(name) is None:
            violations.append(Violation(where[name], 1, "layer",
                                        f"{name} is in no layer: move it into a layer folder ({LAYER_ORDER})"))
    for edge in edges:
        path, rank = where[edge.importer], layer_rank(edge.importer)
        if edge.internal:
            target_rank = layer_rank(edge.target)
            if rank is not None and target_rank is not None and target_rank > rank and rank != TOP_DOOR_RANK:
                violations.append(Violation(
                    path, edge.line, "layer",
                    f"{edge.importer} imports {edge.target}, a higher layer: imports point down only "
                    f"({LAYER_ORDER}); move the shared code down, or pass it in as an argument"))
        elif rank == LAYER_RANK["core"] and edge.top in CORE_FORBIDDEN:
            violations.append(Violation(
                path, edge.line, "core-io",
                f"{edge.importer} imports {edge.target} ({CORE_FORBIDDEN[edge.top]}): the core is sans-IO; "
                "do it in capture/ or devices/ and pass the result in"))
        if not edge.in_function:
            continue
        if not edge.internal and edge.top not in HEAVY_OPTIONAL:
            violations.append(Violation(
                path, edge.line, "function-import",
                f"{edge.importer} imports {edge.target} inside a function: only heavy optional dependencies "
                f"({', '.join(sorted(HEAVY_OPTIONAL))}) and voiplab layers loaded late for speed may be; "
                "import it at the top of the module"))
            continue
        if not edge.explained:
            violations.append(Violation(
                path, edge.line, "function-import",
                f"{edge.importer} imports {edge.target} inside a function without a reason: say why on its line "
                "or the line above (e.g. '# matplotlib: only when a figure is drawn')"))
        target = _known(edge.target, modules) if edge.internal else None
        if target is not None and target != edge.importer:
            back = _path_between(graph, target, edge.importer)
            if back is not None:
                violations.append(Violation(
                    path, edge.line, "function-import",
                    f"{edge.importer} imports {edge.target} inside a function, but {' -> '.join(back)} imports it "
                    "back: a cycle hidden in a function; move the shared code to a lower module"))
    for component in _cycles(graph):
        members = set(component)
        for name in component:
            for target, line in sorted(graph[name].items()):
                if target in members:
                    violations.append(Violation(
                        where[name], line, "cycle",
                        f"{name} imports {target}, and the modules {', '.join(component)} import each other "
                        "at module level: move what they share into one lower module"))
    return sorted(set(violations), key=lambda v: (v.path, v.line, v.rule, v.message))


# ---------------------------------------------------------------- the checker, on synthetic packages


def write_package(root: Path, files: dict[str, str]) -> Path:
    """Write ``voiplab/<path>`` files (and the ``__init__.py`` of every folder) under ``root``."""
    for relative, source in files.items():
        path = root / PACKAGE / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source)
    for folder in [root / PACKAGE, *(root / PACKAGE).rglob("*")]:
        if folder.is_dir() and not (folder / "__init__.py").exists():
            (folder / "__init__.py").write_text("")
    return root


def found(violations: list[Violation]) -> set[tuple[str, str, int]]:
    return {(v.rule, v.path, v.line) for v in violations}


CLEAN_PACKAGE = {
    "__init__.py": "from .cli import main\nfrom .errors import VoipLabError\n",
    "__main__.py": "from .cli import main\n",
    "errors.py": "class VoipLabError(Exception):\n    pass\n",
    "config.py": "import os\nfrom .errors import VoipLabError\n",
    "core/sip.py": ("import re\nfrom dataclasses import dataclass\nfrom typing import TYPE_CHECKING\n\n"
                    "import numpy as np\n\nfrom .. import errors\nfrom ..errors import VoipLabError\n\n"
                    "if TYPE_CHECKING:\n    from .sdp import Sdp\n"),
    "core/sdp.py": "from . import sip\nfrom .sip import re\n",
    "capture/pcap.py": "import socket\nimport time\nfrom ..core import sip\nfrom ..core.sdp import sip as s\n",
    "devices/phone.py": ("import subprocess\n\nfrom ..capture import pcap\n\n\ndef craft():\n"
                         "    # scapy: half a second to import, only when a packet is crafted\n"
                         "    from scapy.layers.inet import IP\n    from scapy.packet import Raw\n\n"
                         "    import pjsua2  # the phone's library, only in the agent process\n"
                         "    return IP, Raw, pjsua2\n"),
    "plots/ladder.py": "def draw():\n    import matplotlib.pyplot as plt  # only when a figure is drawn\n",
    "cli/main.py": ("import argparse\n\nfrom ..capture.pcap import socket\n\n\ndef run():\n"
                    "    # the plots layer (numpy, matplotlib) only for --png\n"
                    "    from ..plots.ladder import draw\n    return draw\n"),
}


def test_checker_passes_the_allowed_patterns(tmp_path: Path) -> None:
    """Do downward and same-layer imports, relative imports, I/O outside the core, TYPE_CHECKING cycles,
    explained heavy imports in functions (one comment for a group) and the top door pass the checker?"""
    assert check(write_package(tmp_path, CLEAN_PACKAGE)) == []


def test_checker_resolves_relative_imports(tmp_path: Path) -> None:
    """Are ``from . import x``, ``from .. import x`` and ``from ..x import y`` resolved to the right modules?"""
    write_package(tmp_path, CLEAN_PACKAGE)
    _, edges, _ = read_imports(tmp_path)
    targets = {(e.importer, e.target) for e in edges if e.internal}
    assert ("voiplab.core.sdp", "voiplab.core.sip") in targets  # from . import sip
    assert ("voiplab.core.sip", "voiplab.errors") in targets  # from .. import errors
    assert ("voiplab.capture.pcap", "voiplab.core.sdp") in targets  # from ..core.sdp import sip as s
    assert ("voiplab.capture.pcap", "voiplab.core.sip") in targets  # from ..core import sip
    assert ("voiplab", "voiplab.errors") in targets  # from .errors import VoipLabError (not a module)
    assert ("voiplab", "voiplab.cli.main") in targets  # from .cli import main: cli/main.py is a module
    assert ("voiplab.cli.main", "voiplab.plots.ladder") in targets


def test_layer_rule_fires(tmp_path: Path) -> None:
    """Does an upward import fire the layer rule at module level, in a function and under TYPE_CHECKING, and
    does a module outside the layer folders fire it too?"""
    write_package(tmp_path, {
        **CLEAN_PACKAGE,
        "core/up.py": "from ..devices import phone\n",
        "capture/late.py": "def f():\n    # the course, late\n    from ..teach.samples import x\n",
        "errors.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .config import X\n"
                     "    from .core.sip import SipMessage\n",
        "utils.py": "",
    })
    violations = check(tmp_path)
    assert found(violations) == {
        ("layer", "voiplab/core/up.py", 1),
        ("layer", "voiplab/capture/late.py", 3),
        ("layer", "voiplab/errors.py", 4),  # errors < core; errors -> config is the same layer
        ("layer", "voiplab/utils.py", 1),
    }
    messages = {v.path: str(v) for v in violations}
    assert messages["voiplab/core/up.py"] == (
        "voiplab/core/up.py:1: [layer] voiplab.core.up imports voiplab.devices.phone, a higher layer: imports "
        "point down only (errors, config, paths < core < capture < devices < plots < widgets < teach < cli); "
        "move the shared code down, or pass it in as an argument")
    assert "voiplab.utils is in no layer" in messages["voiplab/utils.py"]


@pytest.mark.parametrize("statement", ["import socket", "from pathlib import Path", "import os.path",
                                       "from time import monotonic", "import threading", "import subprocess",
                                       "from scapy.all import IP", "import pjsua2", "import matplotlib.pyplot",
                                       "import io", "import shutil", "import tempfile", "from http import client",
                                       "import urllib.request"])
def test_core_io_rule_fires(tmp_path: Path, statement: str) -> None:
    """Does each I/O import in core/ fire the core-io rule, naming the module and what it brings in?"""
    write_package(tmp_path, {**CLEAN_PACKAGE, "core/io_here.py": f"import re\n{statement}\n"})
    violations = [v for v in check(tmp_path) if v.rule == "core-io"]
    assert [(v.path, v.line) for v in violations] == [("voiplab/core/io_here.py", 2)]
    assert "voiplab.core.io_here imports " in violations[0].message and "the core is sans-IO" in violations[0].message


def test_core_io_rule_counts_function_imports(tmp_path: Path) -> None:
    """Is an I/O import hidden in a core function (with a comment) still a core-io violation?"""
    write_package(tmp_path, {**CLEAN_PACKAGE,
                             "core/clock.py": "def now():\n    import time  # the clock, just here\n"})
    assert ("core-io", "voiplab/core/clock.py", 2) in found(check(tmp_path))


def test_cycle_rule_fires(tmp_path: Path) -> None:
    """Do two devices modules importing each other at module level fire the cycle rule at both imports?"""
    write_package(tmp_path, {**CLEAN_PACKAGE,
                             "devices/a.py": "import json\n\nfrom . import b\n",
                             "devices/b.py": "from .c import x\n",
                             "devices/c.py": "from .a import y\n"})
    violations = [v for v in check(tmp_path) if v.rule == "cycle"]
    assert found(violations) == {("cycle", "voiplab/devices/a.py", 3), ("cycle", "voiplab/devices/b.py", 1),
                                 ("cycle", "voiplab/devices/c.py", 1)}
    assert "voiplab.devices.a, voiplab.devices.b, voiplab.devices.c import each other" in violations[0].message


def test_function_import_rule_fires(tmp_path: Path) -> None:
    """Does an import in a function fire the rule when it is a light module, when it has no reason (a pragma is
    none), and when it hides a cycle, while an explained heavy one passes?"""
    write_package(tmp_path, {
        **CLEAN_PACKAGE,
        "capture/f.py": ("def f():\n"
                         "    import json  # light: no reason to wait\n"          # 2: not heavy
                         "    import matplotlib.pyplot as plt\n"                  # 3: heavy, no reason
                         "    from ..core import sip  # noqa: F401\n"             # 4: a pragma is no reason
                         "\n"
                         "    # scapy: only when crafting\n"
                         "    from scapy.packet import Raw\n"                     # 7: explained
                         "    import scapy.layers.inet\n"                         # 8: same block: explained
                         "\n"
                         "    import scapy.all\n"),                               # 10: blank line between
        "devices/g.py": "from . import h\n",
        "devices/h.py": "def late():\n    from .g import x  # avoids an import cycle\n",  # 2: hidden cycle
    })
    violations = [v for v in check(tmp_path) if v.rule == "function-import"]
    assert found(violations) == {("function-import", "voiplab/capture/f.py", 2),
                                 ("function-import", "voiplab/capture/f.py", 3),
                                 ("function-import", "voiplab/capture/f.py", 4),
                                 ("function-import", "voiplab/capture/f.py", 10),
                                 ("function-import", "voiplab/devices/h.py", 2)}
    by_line = {(v.path, v.line): v.message for v in violations}
    assert "imports json inside a function: only heavy optional dependencies" in by_line[("voiplab/capture/f.py", 2)]
    assert "without a reason" in by_line[("voiplab/capture/f.py", 3)]
    assert by_line[("voiplab/devices/h.py", 2)] == (
        "voiplab.devices.h imports voiplab.devices.g inside a function, but voiplab.devices.g -> voiplab.devices.h "
        "imports it back: a cycle hidden in a function; move the shared code to a lower module")


def test_checker_reports_a_file_that_does_not_parse(tmp_path: Path) -> None:
    """Is a module with a syntax error reported by name instead of crashing the checker?"""
    write_package(tmp_path, {**CLEAN_PACKAGE, "core/bad.py": "def (:\n"})
    assert ("parse", "voiplab/core/bad.py", 1) in found(check(tmp_path))


# ---------------------------------------------------------------- voiplab itself


@pytest.fixture(scope="module")
def voiplab_violations() -> list[Violation]:
    violations = check(ROOT)
    assert len(module_files(ROOT)) > 40  # the whole package was read
    return violations


def _of(violations: list[Violation], *rules: str) -> str:
    return "\n".join(str(v) for v in violations if v.rule in rules)


def test_voiplab_modules_parse(voiplab_violations: list[Violation]) -> None:
    """Can every module of voiplab be read by the checker?"""
    assert _of(voiplab_violations, "parse") == ""


def test_voiplab_imports_point_down(voiplab_violations: list[Violation]) -> None:
    """Is every voiplab module in a layer folder, and does every import point to its own layer or a lower one?"""
    assert _of(voiplab_violations, "layer") == ""


def test_voiplab_core_is_sans_io(voiplab_violations: list[Violation]) -> None:
    """Does voiplab/core/ import no sockets, processes, threads, clock, files, scapy, pjsua2 or matplotlib?"""
    assert _of(voiplab_violations, "core-io") == ""


def test_voiplab_has_no_import_cycles(voiplab_violations: list[Violation]) -> None:
    """Are voiplab's module-level imports free of cycles?"""
    assert _of(voiplab_violations, "cycle") == ""


def test_voiplab_imports_in_functions_are_heavy_and_explained(voiplab_violations: list[Violation]) -> None:
    """Is every import inside a voiplab function a heavy optional dependency or a layer loaded late, with its
    reason, and none a hidden cycle?"""
    assert _of(voiplab_violations, "function-import") == ""
