"""The emulator package has no import cycle, type-checking imports included: `control` and `pipeline`
see the core only through the Protocols in `portal`."""

from __future__ import annotations

import ast
from pathlib import Path

import local.hubspot_emulator as package

PACKAGE = "local.hubspot_emulator"


def _imports(path: Path) -> set[str]:
    """Sibling modules a module imports anywhere (also under `if TYPE_CHECKING:`)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module == PACKAGE:
                found.update(alias.name for alias in node.names)
            elif node.module.startswith(PACKAGE + "."):
                found.add(node.module.removeprefix(PACKAGE + ".").split(".")[0])
    return found


def _graph() -> dict[str, set[str]]:
    root = Path(package.__file__).parent
    modules = {path.stem: path for path in root.glob("*.py") if path.stem not in ("__init__", "__main__")}
    return {name: _imports(path) & set(modules) for name, path in modules.items()}


def test_the_emulator_package_has_no_import_cycle() -> None:
    # GIVEN the import graph of the package's modules
    graph = _graph()
    # WHEN it is searched depth-first for a path back to where it started
    cycles: list[list[str]] = []

    def visit(module: str, trail: list[str]) -> None:
        for target in sorted(graph[module]):
            if target in trail:
                cycles.append([*trail[trail.index(target) :], target])
            else:
                visit(target, [*trail, target])

    for start in sorted(graph):
        visit(start, [start])
    # THEN there is none
    assert cycles == []


def test_the_request_layers_do_not_import_the_core() -> None:
    graph = _graph()
    assert "core" not in graph["control"] | graph["pipeline"]
