"""Every environment installs a compiled requirements file (`make lock`) that pins each transitive
dependency, the run set is the layer plus moto only, and the dev set holds the run set unchanged."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PIN = re.compile(r"^([A-Za-z0-9._-]+)(\[[^\]]*\])?==([^\s;]+)\s*(;.*)?$")


def pins(path: Path) -> dict[tuple[str, str], str]:
    """{(normalised name, environment marker): version} of a requirements file; -r lines are followed."""
    found: dict[tuple[str, str], str] = {}
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.split(" #")[0].strip()
        if line.startswith("-r "):
            found.update(pins(path.parent / line[3:].strip()))
            continue
        match = PIN.match(line)
        if match:
            name = re.sub(r"[-_.]+", "-", match.group(1)).lower()
            found[(name, (match.group(4) or "").strip())] = match.group(3)
    return found


def names(path: Path) -> set[str]:
    """Every requirement named in a file (pinned or not), normalised."""
    found = set()
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.split("#")[0].strip()
        if line and not line.startswith("-"):
            found.add(re.sub(r"[-_.]+", "-", re.split(r"[\[=<>;! ]", line)[0]).lower())
    return found


@pytest.mark.parametrize("env", ["run", "dev", "tools"])
def test_each_compiled_file_pins_everything_it_lists(env: str) -> None:
    # GIVEN a compiled file WHEN read THEN every requirement line is an exact pin
    compiled = REPO / f"requirements-{env}.txt"
    lines = [
        line.split(" #")[0].strip()
        for line in compiled.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    assert lines
    assert [line for line in lines if not PIN.match(line)] == []
    # AND every requirement its .in file names is in it
    assert names(REPO / f"requirements-{env}.in") - {"r"} <= {name for name, _ in pins(compiled)}


def test_the_run_set_is_the_layer_plus_moto_and_no_dev_tool() -> None:
    run = pins(REPO / "requirements-run.txt")
    layer = pins(REPO / "layers/dependencies/requirements.txt")
    # THEN the layer's pins are installed exactly, and nothing only tests or benchmarks need
    assert {key: run.get(key) for key in layer} == layer
    assert {name for name, _ in run} & {
        "pytest",
        "hypothesis",
        "mypy",
        "ruff",
        "matplotlib",
        "pyinstrument",
    } == set()
    assert ("moto", "") in run


def test_the_dev_set_holds_the_run_set_unchanged() -> None:
    run = pins(REPO / "requirements-run.txt")
    dev = pins(REPO / "requirements-dev.txt")
    assert {key: dev.get(key) for key in run} == run
    assert {"pytest", "mypy", "ruff"} <= {name for name, _ in dev}
