"""The package's import graph has no cycle, and every module imports on its own.

The graph is read from the source (`import` statements anywhere in a module, lazy ones in
functions included), so a cycle hidden behind a function-level import is found too.
"""

from __future__ import annotations

import ast
import importlib
import sys
from pathlib import Path

import skelcmd

PACKAGE = Path(skelcmd.__file__).parent


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def all_modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imported_modules(path: Path, name: str, known: set[str]) -> set[str]:
    """The package modules `path` imports (a `from a.b import c` counts `a.b.c` when that is a
    module, else `a.b`)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                full = f"{base}.{alias.name}"
                found.add(full if full in known else base)
    return {m for m in found if m in known and m != name}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """A cycle of `graph` as a list of nodes (first == last), or None: plain depth-first search."""
    state: dict[str, int] = {}  # 1 on the current path, 2 finished
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def package_graph() -> dict[str, set[str]]:
    modules = all_modules()
    known = set(modules)
    graph = {name: imported_modules(path, name, known) for name, path in modules.items()}
    # a package's __init__ is imported with any of its modules: an edge into a submodule is also
    # an edge into its parent packages, which must not import back
    for name in list(graph):
        graph[name] = {
            parent
            for target in graph[name]
            for parent in _with_parents(target)
            if parent in known and parent != name and not name.startswith(parent + ".")
        }
    return graph


def _with_parents(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(2, len(parts) + 1)]


def test_find_cycle_finds_one_and_only_one():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_the_package_has_no_import_cycle():
    graph = package_graph()
    assert graph.get("skelcmd.train"), "the graph was not read"
    assert find_cycle(graph) is None, f"import cycle: {' -> '.join(find_cycle(graph))}"


def test_every_module_imports_on_its_own():
    """Each module imported first, with no other skelcmd module loaded before it."""
    loaded = {k: v for k, v in sys.modules.items() if k == "skelcmd" or k.startswith("skelcmd.")}
    try:
        for name in sorted(all_modules()):
            if name.endswith("__main__"):
                continue
            for key in [k for k in sys.modules if k == "skelcmd" or k.startswith("skelcmd.")]:
                del sys.modules[key]
            importlib.import_module(name)
    finally:
        for key in [k for k in sys.modules if k == "skelcmd" or k.startswith("skelcmd.")]:
            del sys.modules[key]
        sys.modules.update(loaded)
