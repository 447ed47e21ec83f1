"""Fixtures for the template checks: a quiet SAM CLI app dir, pyenv's Python 3.13 and one `sam build`
per session in a temporary directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.template.tooling import SamBuild, find_python313, make, quiet_tool_environment, tool


@pytest.fixture(scope="session")
def sam_app_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("sam-cli-app")


@pytest.fixture(scope="session")
def python313() -> Path:
    found = find_python313()
    if found is None:
        pytest.skip("no Python 3.13 under $(pyenv root)/versions/3.13.*: cannot build for python3.13")
    return found


@pytest.fixture(scope="session")
def sam_build(tmp_path_factory: pytest.TempPathFactory, sam_app_dir: Path, python313: Path) -> SamBuild:
    """`make build` (sam build with pyenv's 3.13 on PATH), once per session, into a temp dir."""
    tool("sam")
    out = tmp_path_factory.mktemp("sam-build")
    env = quiet_tool_environment(sam_app_dir)
    result = make("build", env, f"BUILD_DIR={out / 'build'}", f"CACHE_DIR={out / 'cache'}")
    assert result.returncode == 0, f"sam build failed:\n{result.stdout}\n{result.stderr}"
    return SamBuild(root=out / "build", python313=python313)
