"""The pure modules import no I/O module, directly or through the project's modules they import."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import status_writer

PACKAGE = Path(status_writer.__file__).parent
PURE = (
    "parse",
    "coalesce",
    "plan",
    "outcomes",
    "respond",
    "backoff",
    "chunk",
    "model",
    "identity",
    "ledger_items",
    "answers",
    "fields",
    "waits",
)
IO_MODULES = {"boto3", "botocore", "httpx", "socket", "urllib3", "requests"}
IO_OWN = {
    "ledger",
    "hubspot",
    "transport",
    "dead_letter",
    "visibility",
    "credentials",
    "runtime",
    "send",
    "deliver",
    "settle",
}


def imports(module: str) -> set[str]:
    """Top-level names of every module ``module`` imports (status_writer ones as their own name)."""
    tree = ast.parse((PACKAGE / f"{module}.py").read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return {
        name.removeprefix("status_writer.") if name.startswith("status_writer.") else name.split(".")[0]
        for name in names
    }


def transitive(module: str) -> set[str]:
    seen: set[str] = set()
    todo = [module]
    while todo:
        current = todo.pop()
        for name in imports(current):
            if name not in seen:
                seen.add(name)
                if (PACKAGE / f"{name}.py").exists():
                    todo.append(name)
    return seen


@pytest.mark.parametrize("module", PURE)
def test_a_pure_module_imports_no_io_module(module: str) -> None:
    reached = transitive(module)
    assert not reached & (IO_MODULES | IO_OWN), sorted(reached & (IO_MODULES | IO_OWN))


def test_the_walk_finds_io_where_there_is_some() -> None:
    assert "boto3" in transitive("runtime")
    assert "httpx" in transitive("deliver")
