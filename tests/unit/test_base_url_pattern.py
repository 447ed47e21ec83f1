"""The template's HubSpotApiBaseUrl AllowedPattern agrees with the function's own base-URL rule."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from status_writer.config import ConfigurationError, Settings

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"


def allowed_pattern() -> re.Pattern[str]:
    text = TEMPLATE.read_text(encoding="utf-8")
    block = text[text.index("  HubSpotApiBaseUrl:") :]
    line = next(line for line in block.splitlines() if line.strip().startswith("AllowedPattern:"))
    return re.compile(line.split("AllowedPattern:", 1)[1].strip())


def function_accepts(url: str) -> bool:
    try:
        Settings.from_environment({"HUBSPOT_SECRET_ID": "s", "HUBSPOT_API_BASE_URL": url})
    except ConfigurationError:
        return False
    return True


@pytest.mark.parametrize(
    ("url", "accepted"),
    [
        ("https://api.hubapi.com", True),
        ("https://api.hubapi.com/prefix/path", True),
        ("https://api.hubapi.com:8443", True),
        ("http://127.0.0.1:8080", True),
        ("http://localhost", True),
        ("https://user:pass@api.hubapi.com", False),
        ("https://token@api.hubapi.com", False),
        ("https://api.hubapi.com?x=1", False),
        ("https://api.hubapi.com/p?x=1", False),
        ("https://api.hubapi.com/#frag", False),
        ("http://api.hubapi.com", False),
        ("ftp://api.hubapi.com", False),
    ],
)
def test_template_pattern_and_function_agree(url: str, accepted: bool) -> None:
    # GIVEN a base URL WHEN the template's pattern and the function judge it THEN both say the same
    assert bool(allowed_pattern().fullmatch(url)) is accepted
    assert function_accepts(url) is accepted
