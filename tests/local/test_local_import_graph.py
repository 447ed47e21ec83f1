"""No import cycle among the project's modules (functions/, local/, bench/).

Every import counts: module level, inside functions and under TYPE_CHECKING, because each is a
dependency a reader has to follow. The graph is read from the source (ast), nothing is imported.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# (directory whose contents import as top-level modules, the directory to scan)
ROOTS = (
    (REPO / "functions" / "status_writer", REPO / "functions" / "status_writer"),
    (REPO, REPO / "local"),
    (REPO, REPO / "bench"),
)


def module_name(path: Path, base: Path) -> str:
    parts = list(path.relative_to(base).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_modules() -> dict[str, Path]:
    modules: dict[str, Path] = {}
    for base, scan in ROOTS:
        for path in sorted(scan.rglob("*.py")):
            if "results" not in path.parts:
                modules[module_name(path, base)] = path
    return modules


def imported(tree: ast.AST, name: str, is_package: bool, known: Iterable[str]) -> set[str]:
    """The project modules `name` imports anywhere in its source."""
    known = set(known)
    package = name if is_package else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [f"{base}.{alias.name}" for alias in node.names]
            # `from p import m` of a submodule depends on p.m, as `from p.m import x` does; a name that
            # is no module of p makes p itself (its __init__) the dependency.
            if any(target not in known for target in targets):
                targets.append(base)
        found.update(module for target in targets if (module := _owner(target, known)) not in ("", name))
    return found


def _owner(target: str, known: set[str]) -> str:
    """The project module an imported name lives in (`import a.b.c` depends on a.b.c, or on a.b
    when c is a name in it); "" for anything outside the project."""
    while target and target not in known:
        target = target.rpartition(".")[0]
    return target


def import_graph() -> dict[str, set[str]]:
    modules = project_modules()
    return {
        name: imported(ast.parse(path.read_text(encoding="utf-8")), name, path.name == "__init__.py", modules)
        for name, path in modules.items()
    }


def cycles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for neighbour in graph.get(node, ()):
            if neighbour not in index:
                visit(neighbour)
                low[node] = min(low[node], low[neighbour])
            elif neighbour in on_stack:
                low[node] = min(low[node], index[neighbour])
        if low[node] == index[node]:
            component = stack[stack.index(node) :]
            del stack[stack.index(node) :]
            on_stack.difference_update(component)
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def test_the_cycle_finder_finds_a_cycle_through_a_lazy_import() -> None:
    # GIVEN a -> b at module level and b -> a inside a function, and c -> a (no cycle)
    sources = {"a": "import b\n", "b": "def f():\n    from a import x\n", "c": "import a\n"}
    graph = {name: imported(ast.parse(text), name, False, sources) for name, text in sources.items()}
    # WHEN cycles are looked for THEN exactly a <-> b is reported
    assert cycles(graph) == [["a", "b"]]


def test_relative_imports_resolve_to_the_modules_they_name() -> None:
    known = ["p", "p.n", "p.q"]
    # a submodule imported from its package depends on that submodule, as `from .q import r` does
    assert imported(ast.parse("from . import n\nfrom .q import r\n"), "p.m", False, known) == {"p.n", "p.q"}
    # a name that is no submodule lives in the package's __init__: the package is the dependency
    assert imported(ast.parse("from . import VALUE\n"), "p.m", False, known) == {"p"}


def test_no_import_cycle_among_the_projects_modules() -> None:
    # GIVEN every module of functions/, local/ and bench/
    graph = import_graph()
    assert "status_writer.pipeline" in graph
    assert "local.aws.stack" in graph
    assert "bench.cpu" in graph
    # WHEN its import graph is searched for cycles
    found = cycles(graph)
    # THEN none exists (the emulator included)
    assert found == []
