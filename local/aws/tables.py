"""Create the template's DynamoDB tables in moto, from the template itself, so local runs and tests
use the table the stack deploys (key schema, billing mode) rather than a copy of it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from local.aws.template_model import DEFAULT_TEMPLATE, load_template

VERSION_TABLE_ID = "VersionTable"
_CREATE_FIELDS = ("AttributeDefinitions", "KeySchema", "BillingMode")


def create_table(
    dynamodb: Any, name: str, logical_id: str = VERSION_TABLE_ID, template: Path = DEFAULT_TEMPLATE
) -> str:
    """Create ``name`` with the key schema of ``logical_id`` in the template; return the name."""
    resource = load_template(template)["Resources"][logical_id]
    if resource["Type"] != "AWS::DynamoDB::Table":
        raise ValueError(f"{logical_id} is not a DynamoDB table")
    properties = resource["Properties"]
    dynamodb.create_table(TableName=name, **{field: properties[field] for field in _CREATE_FIELDS})
    return name
