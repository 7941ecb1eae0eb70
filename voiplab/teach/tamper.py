"""Reading a submission's code for tampering, in the grader's process (never in the kernel).

A graded answer computes values with numpy, hashlib and the names ``import voiplab as vl``
offers; it never needs to change how the kernel runs cells, to reach Python's internals,
to patch a library, to rebind the captures the locked setup cell loaded, or to read files
outside its submission. :func:`scan_source` reads one cell the way IPython runs it (its
magics and escapes turned into Python by IPython's own transformer first) and reports each
such use as a :class:`Finding`:

* **kernel-wide** (every exercise after the cell scores 0): ``get_ipython``, ``exec``,
  ``eval``, ``compile``, ``__import__``, ``globals``, ``setattr`` and the like; IPython
  magics and shell commands; an import outside :data:`ALLOWED_MODULES`; a dunder
  attribute (``.__dict__``, ``.__code__``); ``getattr`` with a computed name; assigning
  to an attribute of a module or of a setup name (``vl.x = ...``, ``work.call = ...``);
  rebinding a setup name (``call_exp = ...``); an absolute path (``/proc/...``);
* **local** (that exercise scores 0): an attribute the exercise asks the student to
  compute instead (``vl.compute_response`` in the digest exercises).

The grader also reads what the kernel says about itself (custom exception handlers,
input transformers: :func:`kernel_findings`), a second signal: a kernel can lie, its
source cannot.

Taught in ``docs/grading.md`` (what a graded answer may use).
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

__all__ = [
    "ALLOWED_MODULES",
    "KERNEL_HOOKS",
    "Finding",
    "imported_names",
    "kernel_findings",
    "scan_source",
]

#: modules a graded answer may import (and their submodules)
ALLOWED_MODULES = frozenset({
    "numpy", "hashlib", "math", "cmath", "re", "struct", "itertools", "collections", "statistics", "fractions",
    "decimal", "binascii", "string", "textwrap", "json", "functools", "operator", "dataclasses", "typing",
    "datetime", "base64", "matplotlib", "voiplab",
})
#: names whose use changes how the kernel runs cells, or runs code the grader cannot read
KERNEL_HOOKS = frozenset({
    "get_ipython", "exec", "eval", "compile", "__import__", "globals", "locals", "vars", "setattr", "delattr",
    "breakpoint", "__builtins__", "__loader__", "__spec__", "exit", "quit", "input", "memoryview",
})
#: the only dunder attributes an answer may read
ALLOWED_DUNDERS = frozenset({"__name__", "__doc__", "__len__", "__version__"})
#: protected names an answer may import again, as the setup cell did
REIMPORTS = {"np": "numpy", "vl": "voiplab", "numpy": "numpy", "voiplab": "voiplab"}
#: parts of voiplab that are the grader's, never an answer's
GRADER_ATTRIBUTES = frozenset({"grading", "graders", "teach", "tamper", "sandbox", "nbgrader_plugin"})


@dataclass(frozen=True)
class Finding:
    """One use of something a graded answer may not use.

    Attributes:
        line: the line in the cell (1-based; 0 when not known).
        what: what was used, as the student will read it.
        kernel_wide: True when it can change every later cell (all later exercises score 0).
    """

    line: int
    what: str
    kernel_wide: bool

    def __str__(self) -> str:
        where = f"line {self.line}: " if self.line else ""
        return f"{where}{self.what}"


def _python(source: str) -> tuple[str, bool]:
    """The cell as IPython runs it (magics and escapes made Python), and whether it had any."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager  # IPython: the kernel's own rules
    except ImportError:  # pragma: no cover - IPython comes with ipykernel
        return source, False
    try:
        python = TransformerManager().transform_cell(source)
    except (SyntaxError, ValueError, IndexError):
        return source, False
    return python, "get_ipython()" in python and "get_ipython" not in source


def _root_name(node: ast.AST) -> str | None:
    while isinstance(node, (ast.Attribute, ast.Subscript)):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def _module_allowed(name: str) -> bool:
    return name.split(".")[0] in ALLOWED_MODULES and not (
        name.startswith("voiplab.") or name == "matplotlib.backends")


class _Scanner(ast.NodeVisitor):
    def __init__(self, modules: set[str], protected: set[str], forbidden: set[str]) -> None:
        self.modules = modules
        self.protected = protected
        self.forbidden = forbidden
        self.found: list[Finding] = []

    def flag(self, node: ast.AST, what: str, kernel_wide: bool = True) -> None:
        self.found.append(Finding(getattr(node, "lineno", 0), what, kernel_wide))

    # -- imports ------------------------------------------------------------------
    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if not _module_allowed(alias.name):
                self.flag(node, f"imports {alias.name}, which a graded answer may not use")
            bound = alias.asname or alias.name.split(".")[0]
            self.modules.add(bound)
            if REIMPORTS.get(bound) != alias.name:  # "import numpy as np" again is harmless
                self._bind(node, bound)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = node.module or ""
        if node.level or not _module_allowed(module):
            self.flag(node, f"imports from {module or '.'}, which a graded answer may not use")
        for alias in node.names:
            if alias.name == "*":
                self.flag(node, f"imports * from {module}: name what you use")
            if module == "voiplab" and alias.name in GRADER_ATTRIBUTES:
                self.flag(node, f"imports voiplab.{alias.name}, the grader's code")
            if alias.name in self.forbidden:
                self.flag(node, f"uses {alias.name}, which this exercise asks you to do yourself", False)
            self._bind(node, alias.asname or alias.name)

    # -- names -------------------------------------------------------------------
    def _bind(self, node: ast.AST, name: str) -> None:
        if name in self.protected:
            self.flag(node, f"rebinds {name}, which the locked setup cell defined: use a name of your own")

    def visit_Name(self, node: ast.Name) -> None:
        if node.id in KERNEL_HOOKS:
            self.flag(node, f"uses {node.id}, which can change how the kernel runs the cells")
        if isinstance(node.ctx, (ast.Store, ast.Del)):
            self._bind(node, node.id)

    def visit_Global(self, node: ast.Global) -> None:
        for name in node.names:
            self._bind(node, name)

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self._bind(node, node.name)
        self.generic_visit(node)

    visit_AsyncFunctionDef = visit_FunctionDef  # type: ignore[assignment]

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self._bind(node, node.name)
        self.generic_visit(node)

    # -- attributes ----------------------------------------------------------------
    def visit_Attribute(self, node: ast.Attribute) -> None:
        attr = node.attr
        if attr.startswith("__") and attr.endswith("__") and attr not in ALLOWED_DUNDERS:
            self.flag(node, f"reaches into Python's internals (.{attr})")
        root = _root_name(node)
        if attr in GRADER_ATTRIBUTES and root in self.modules:
            self.flag(node, f"uses {root}.{attr}, the grader's code")
        if attr in self.forbidden:
            self.flag(node, f"uses .{attr}, which this exercise asks you to do yourself", False)
        if isinstance(node.ctx, (ast.Store, ast.Del)) and root is not None and (
                root in self.modules or root in self.protected):
            self.flag(node, f"changes {ast.unparse(node)}, a name of a library or of the locked setup cell")
        self.generic_visit(node)

    def visit_Subscript(self, node: ast.Subscript) -> None:
        root = _root_name(node)
        if isinstance(node.ctx, (ast.Store, ast.Del)) and root is not None and (
                root in self.modules or root in self.protected):
            self.flag(node, f"changes {ast.unparse(node)}, a part of a library or of the locked setup cell")
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        if isinstance(node.func, ast.Name) and node.func.id in ("getattr", "hasattr") and len(node.args) >= 2:
            name = node.args[1]
            if not (isinstance(name, ast.Constant) and isinstance(name.value, str)):
                self.flag(node, f"{node.func.id}() with a computed name: write the attribute out")
            elif name.value.startswith("__") or name.value in self.forbidden or name.value in GRADER_ATTRIBUTES:
                self.flag(node, f"{node.func.id}(..., {name.value!r}) reaches what a graded answer may not use",
                          name.value.startswith("__") or name.value in GRADER_ATTRIBUTES)
        self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> None:
        text = node.value
        if isinstance(text, str) and (text.startswith("/") and len(text) > 1 or "/proc/" in text):
            self.flag(node, f"uses the path {text[:60]!r}: a graded answer reads only its own captures")


def scan_source(source: str, *, protected: Iterable[str] = (), forbidden: Iterable[str] = (),
                modules: Iterable[str] = ("vl", "np", "voiplab", "numpy")) -> list[Finding]:
    """Everything in one cell that a graded answer may not use (see the module docstring).

    Parameters:
        source: the cell's source, as the student wrote it.
        protected: the names the locked setup cell defines (``work``, ``call_exp``...).
        forbidden: attributes this cell's exercise asks the student to compute instead.
        modules: names already bound to modules (``vl``, ``np``).

    A cell that is not valid Python even after IPython's transformations has no finding:
    it fails when it runs, which scores what it deserves.

    Taught in ``docs/grading.md``.
    """
    python, had_magics = _python(source)
    scanner = _Scanner(set(modules), set(protected), set(forbidden))
    if had_magics:
        scanner.found.append(Finding(0, "uses IPython magics or shell commands (%, !), which can change how "
                                        "the kernel runs the cells", True))
    try:
        tree = ast.parse(python)
    except SyntaxError:
        return scanner.found
    scanner.visit(tree)
    return scanner.found


def imported_names(sources: Iterable[str]) -> set[str]:
    """Every name an import binds in these cells (``vl``, ``np``, ``hashlib``...): a module to patch is one."""
    names = {"vl", "np", "voiplab", "numpy"}
    for source in sources:
        try:
            tree = ast.parse(_python(source)[0])
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names.update(a.asname or a.name.split(".")[0] for a in node.names if a.name != "*")
    return names


def kernel_findings(kernel: Mapping[str, object]) -> list[Finding]:
    """What the kernel said about itself, at a check cell, that a graded notebook never does.

    ``kernel`` is an answer record's ``kernel`` field: ``{"now": {...}, "setup": {...}}``.
    """
    now = kernel.get("now") if isinstance(kernel.get("now"), Mapping) else {}
    setup = kernel.get("setup") if isinstance(kernel.get("setup"), Mapping) else {}
    assert isinstance(now, Mapping) and isinstance(setup, Mapping)
    found: list[Finding] = []
    if now.get("custom_exceptions"):
        found.append(Finding(0, f"the kernel has a custom exception handler for {now['custom_exceptions']} "
                                "(set_custom_exc): errors were being hidden", True))
    for key, what in (("input_transformers_post", "input transformers"), ("ast_transformers", "AST transformers"),
                      ("input_transforms", "input transforms")):
        before, after = setup.get(key), now.get(key)
        if isinstance(before, int) and isinstance(after, int) and after > before:
            found.append(Finding(0, f"the kernel got {after - before} new {what} after the setup cell: they "
                                    "rewrite the cells before they run", True))
    return found
