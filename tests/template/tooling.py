"""Helpers for the template checks: find the tools venv (SAM CLI, cfn-lint, checkov) and pyenv's
Python 3.13, and run the tools offline."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "template.yaml"
EVENTS = REPO / "events"
TOOLS_BIN = REPO / ".venv-tools" / "bin"
TOOL_TIMEOUT_S = 600


def tool(name: str) -> Path:
    """A program from .venv-tools; skipped locally when that venv is missing, a failure in CI."""
    path = TOOLS_BIN / name
    if not path.exists():
        message = f"{path.relative_to(REPO)} is missing: run `make tools-venv` (requirements-tools.txt)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


def tool_module(name: str) -> None:
    """A Python package in .venv-tools (e.g. a cfn-lint plugin): skipped locally when missing, a failure in CI."""
    if not any(TOOLS_BIN.parent.glob(f"lib/python3.*/site-packages/{name}/__init__.py")):
        message = f".venv-tools has no {name}: run `make tools-venv` (requirements-tools.txt)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


def make(target: str, env: Mapping[str, str], *variables: str) -> subprocess.CompletedProcess[str]:
    """Run a Makefile target as the README documents it, so what is tested is the target itself. The
    tools venv is taken as it is (``-o``): the tests never reinstall it."""
    make_bin = shutil.which("make")
    if make_bin is None:
        pytest.skip("make is not on PATH")
    return run_tool([make_bin, "-s", "-o", ".venv-tools/.stamp", target, *variables], env)


def pyenv_root() -> Path | None:
    """$(pyenv root), without requiring pyenv on PATH when PYENV_ROOT is set."""
    if os.environ.get("PYENV_ROOT"):
        return Path(os.environ["PYENV_ROOT"])
    executable = shutil.which("pyenv")
    if executable is None:
        return None
    answer = subprocess.run(  # noqa: S603 - pyenv from PATH, fixed arguments
        [executable, "root"], capture_output=True, text=True, check=False, timeout=30
    )
    return Path(answer.stdout.strip()) if answer.returncode == 0 and answer.stdout.strip() else None


def find_python313() -> Path | None:
    """The newest pyenv 3.13.x interpreter, the Lambda runtime's version."""
    root = pyenv_root()
    if root is None:
        return None
    candidates = sorted(
        (p for p in root.glob("versions/3.13.*/bin/python3") if p.exists()),
        key=lambda p: tuple(int(part) if part.isdigit() else 0 for part in p.parent.parent.name.split(".")),
    )
    return candidates[-1] if candidates else None


def quiet_tool_environment(app_dir: Path, extra_path: Path | None = None) -> dict[str, str]:
    """The environment every tool runs in: no telemetry, no update check, every AWS call to a closed
    loopback port (nothing here may reach AWS or a vendor API)."""
    app_dir.mkdir(parents=True, exist_ok=True)
    metadata = app_dir / "metadata.json"
    if not metadata.exists():  # a recent check on record: SAM CLI skips its version check
        metadata.write_text(json.dumps({"lastVersionCheck": time.time(), "telemetryEnabled": False}))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_ENDPOINT_URL", "AWS_PROFILE"))}
    env.update(
        SAM_CLI_TELEMETRY="0",
        __SAM_CLI_APP_DIR=str(app_dir),
        AWS_ENDPOINT_URL="http://127.0.0.1:9",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
    )
    if extra_path is not None:
        env["PATH"] = f"{extra_path}{os.pathsep}{env.get('PATH', '')}"
    return env


def run_tool(args: list[str | Path], env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    """Run one tool from the repository root and return its result (never raises on exit codes)."""
    return subprocess.run(  # noqa: S603 - the project's own tools, fixed arguments
        [str(a) for a in args],
        cwd=REPO,
        env=dict(env),
        capture_output=True,
        text=True,
        check=False,
        timeout=TOOL_TIMEOUT_S,
    )


@dataclass(frozen=True)
class SamBuild:
    """Where `sam build` put the function, the layer and the built template."""

    root: Path
    python313: Path

    @property
    def function_dir(self) -> Path:
        return self.root / "StatusWriterFunction"

    @property
    def layer_dir(self) -> Path:
        return self.root / "DependenciesLayer" / "python"  # extracted to /opt/python in Lambda
