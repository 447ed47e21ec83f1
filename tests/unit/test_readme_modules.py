"""README "How it works" names every module of the function, and only modules that exist."""

from __future__ import annotations

import re
from pathlib import Path

import status_writer

PACKAGE = Path(status_writer.__file__).parent
README = PACKAGE.parents[2] / "README.md"


def how_it_works() -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index("## How it works")
    return text[start : text.index("\n## ", start + 1)]


def test_every_module_of_the_function_is_named_where_it_is() -> None:
    # GIVEN the modules of the package and the ones the section names
    modules = {path.name for path in PACKAGE.glob("*.py")} - {"__init__.py"}
    named = set(re.findall(r"`(?:[\w/]*/)?([a-z_]+\.py)`", how_it_works()))
    # THEN each module is named, and each name but the handler's is a module of the package
    assert modules - named == set()
    assert named - modules == {"app.py"}
    assert (PACKAGE.parent / "app.py").is_file()
