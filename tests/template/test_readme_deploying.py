"""README's "Deploying" tables say what the template does: every parameter in the order
`sam deploy --guided` asks it, with its default; every output; the alarms by the names they get."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from local.aws.template_model import load_template

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template(REPO / "template.yaml")


def table_after(marker: str) -> list[list[str]]:
    """The rows (cells stripped) of the first Markdown table after the line starting with `marker`."""
    lines = (REPO / "README.md").read_text(encoding="utf-8").splitlines()
    start = next(index for index, line in enumerate(lines) if line.startswith(marker))
    rows: list[list[str]] = []
    for line in lines[start + 1 :]:
        if line.startswith("|"):
            rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
        elif rows:
            break
    return rows[2:]  # past the header and its rule


def test_parameter_table_lists_every_parameter_in_template_order_with_its_default(
    template: dict[str, Any],
) -> None:
    rows = table_after("**Parameters**")
    documented = [row[0].strip("`") for row in rows]
    assert documented == list(template["Parameters"])
    for row in rows:
        default = str(template["Parameters"][row[0].strip("`")].get("Default", ""))
        assert row[1] == (f"`{default}`" if default else "(empty)"), row


def test_outputs_table_names_every_output(template: dict[str, Any]) -> None:
    documented = {name.strip("` ") for row in table_after("**Outputs**") for name in row[0].split(",")}
    assert documented == set(template["Outputs"])


def test_alarm_table_uses_the_names_the_alarms_get(template: dict[str, Any]) -> None:
    named = {
        resource["Properties"]["AlarmName"]["Fn::Sub"].replace("${AWS::StackName}", "<stack>")
        for resource in template["Resources"].values()
        if resource["Type"] == "AWS::CloudWatch::Alarm"
    }
    documented = {row[0].strip("`") for row in table_after("**What each alarm means**")}
    assert documented == named
    assert all(re.fullmatch(r"<stack>-[a-z-]+", name) for name in named)
