"""Should `make deploy` ask (`sam deploy --guided`) or reuse the saved answers? Prints "guided" or
"saved". Guided when samconfig.toml holds no deploy answers yet (no region saved) or the stack does not
exist in that region; run with the tools venv's Python (it has boto3)."""

from __future__ import annotations

import sys
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

SAMCONFIG = Path(__file__).resolve().parents[2] / "samconfig.toml"


def saved_answers(config: Mapping[str, Any]) -> dict[str, Any]:
    """The [default.global] and [default.deploy] parameters, deploy's winning."""
    default = config.get("default", {})
    return {
        **default.get("global", {}).get("parameters", {}),
        **default.get("deploy", {}).get("parameters", {}),
    }


def mode(answers: Mapping[str, Any], stack_exists: bool | None) -> str:
    """guided without a saved region or when the stack is known not to exist; else saved."""
    if not answers.get("region") or not answers.get("stack_name"):
        return "guided"
    return "guided" if stack_exists is False else "saved"


def stack_exists(name: str, region: str) -> bool | None:
    """True / False, or None when it cannot be told (no credentials, no network): sam deploy says why."""
    try:
        import boto3
        from botocore.exceptions import ClientError
    except ImportError:
        return None
    try:
        boto3.client("cloudformation", region_name=region).describe_stacks(StackName=name)
    except ClientError as error:
        return False if "does not exist" in str(error) else None
    except Exception:
        return None
    return True


def main(path: Path = SAMCONFIG) -> int:
    answers = saved_answers(tomllib.loads(path.read_text(encoding="utf-8")) if path.exists() else {})
    exists = (
        stack_exists(str(answers["stack_name"]), str(answers["region"]))
        if mode(answers, None) == "saved"
        else None
    )
    print(mode(answers, exists))
    return 0


if __name__ == "__main__":
    sys.exit(main())
