"""`make validate` passes (cfn-lint with the serverless rules, `sam validate --lint`, checkov) and
`make build` packages the function and its layer for python3.13 (tools from .venv-tools, all offline).
Each test runs the Makefile target itself."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from local.aws.template_model import load_template
from tests.template.tooling import (
    REPO,
    TEMPLATE,
    SamBuild,
    make,
    quiet_tool_environment,
    tool,
    tool_module,
)

pytestmark = pytest.mark.tools


def test_cfn_lint_with_the_serverless_rules_reports_nothing(sam_app_dir: Path) -> None:
    # GIVEN cfn-lint and its serverless rules from the tools venv
    tool("cfn-lint")
    tool_module("cfn_lint_serverless")

    # WHEN `make validate-cfn-lint` lints the template
    result = make("validate-cfn-lint", quiet_tool_environment(sam_app_dir))

    # THEN it matches no rule at all (errors, warnings or informational)
    assert (result.returncode, result.stdout.strip()) == (0, ""), result.stdout + result.stderr


def test_sam_validate_with_lint_accepts_the_template(sam_app_dir: Path) -> None:
    # GIVEN the SAM CLI from the tools venv
    tool("sam")

    # WHEN `make validate-sam` validates the template with linting on
    result = make("validate-sam", quiet_tool_environment(sam_app_dir))

    # THEN the template is valid SAM and lints clean
    assert result.returncode == 0, result.stdout + result.stderr
    assert "is a valid SAM Template" in result.stdout + result.stderr


@pytest.mark.slow
def test_checkov_fails_no_check_and_every_skip_is_explained(sam_app_dir: Path) -> None:
    # GIVEN checkov from the tools venv, without its download of vendor guidelines
    tool("checkov")

    # WHEN `make validate-checkov` scans the template (as JSON, to read each check)
    result = make("validate-checkov", quiet_tool_environment(sam_app_dir), "CHECKOV_ARGS=--output json")
    report: dict[str, Any] = json.loads(result.stdout)
    results = report["results"]

    # THEN no check fails, some pass, and every skipped check carries the reason written in the template
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert [check["check_id"] for check in results["failed_checks"]] == []
    assert report["summary"]["passed"] > 0
    reasons = {
        (name, skip["id"]): skip["comment"]
        for name, resource in load_template(TEMPLATE)["Resources"].items()
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", [])
    }
    skipped = {
        (check["resource"].split(".")[-1], check["check_id"]): check["check_result"].get(
            "suppress_comment", ""
        )
        for check in results["skipped_checks"]
    }
    assert (
        skipped.keys() == reasons.keys()
    )  # each skip in the template is used, and none comes from elsewhere
    assert all(comment.strip() for comment in skipped.values())


@pytest.mark.slow
def test_sam_build_packages_the_code_and_the_pinned_layer(sam_build: SamBuild) -> None:
    # GIVEN the output of `sam build` for python3.13
    requirements = (REPO / "layers/dependencies/requirements.txt").read_text(encoding="utf-8").splitlines()
    pins = dict(line.split("==") for line in requirements if "==" in line and not line.startswith("#"))
    installed = {p.name.lower() for p in sam_build.layer_dir.glob("*.dist-info")}

    # THEN the function holds the handler and its package, and the layer holds each pinned version
    assert (sam_build.function_dir / "app.py").is_file()
    assert (sam_build.function_dir / "status_writer" / "__init__.py").is_file()
    for name, version in pins.items():
        assert f"{name.replace('-', '_').lower()}-{version}.dist-info" in installed, name
    built = load_template(sam_build.root / "template.yaml")["Resources"]
    assert built["StatusWriterFunction"]["Properties"]["CodeUri"] == "StatusWriterFunction"
    assert built["DependenciesLayer"]["Properties"]["ContentUri"] == "DependenciesLayer"


@pytest.mark.slow
def test_a_second_make_build_reuses_the_cache(sam_build: SamBuild, sam_app_dir: Path) -> None:
    # GIVEN the `make build` the other tests use WHEN it runs again on the same sources and cache
    result = make(
        "build",
        quiet_tool_environment(sam_app_dir),
        f"BUILD_DIR={sam_build.root}",
        f"CACHE_DIR={sam_build.root.parent / 'cache'}",
    )

    # THEN the layer's pinned dependencies are not resolved and installed again: SAM sees the same
    # manifest and only copies sources (samconfig.toml: cached = true)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "Manifest is not changed for (DependenciesLayer)" in output, output
    assert "PythonPipBuilder:ResolveDependencies" not in output, output
