"""Provisioning a multi-portal deployment over moto (local/aws/provision.py): one secret per portal,
named by the pattern, holding that portal's token; the function's `HUBSPOT_SECRET_ID` is the pattern.
Single-portal provisioning is unchanged by default."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from local.aws.provision import DEFAULT_SECRET_PATTERN, provision
from local.aws.stack import Deployment, LocalAws
from local.aws.template_model import DEFAULT_TEMPLATE, deployment_settings

TOKENS = {101: "pat-portal-101", 202: "pat-portal-202", 303: "pat-portal-303"}


@pytest.fixture
def clients(aws: str) -> dict[str, Any]:
    return {
        name: boto3.client(name, region_name="us-east-1", endpoint_url=aws)
        for name in ("sqs", "secretsmanager", "dynamodb")
    }


def _provision(clients: dict[str, Any], **options: Any) -> Any:
    return provision(
        clients["sqs"],
        clients["secretsmanager"],
        DEFAULT_TEMPLATE,
        token="pat-single",
        dynamodb=clients["dynamodb"],
        **options,
    )


def _token_in(clients: dict[str, Any], name: str) -> str:
    secret = clients["secretsmanager"].get_secret_value(SecretId=name)["SecretString"]
    return str(json.loads(secret)["accessToken"])


def test_each_portal_gets_a_secret_named_by_the_pattern_holding_its_token(clients: dict[str, Any]) -> None:
    """GIVEN three portals with a token each
    WHEN the template is provisioned with them
    THEN hubspot/portal-<id> exists for each, holding that portal's token in the single secret's shape."""
    made = _provision(clients, portal_tokens=TOKENS)
    assert made.portal_secrets == {p: f"hubspot/portal-{p}" for p in TOKENS}
    for portal_id, token in TOKENS.items():
        assert _token_in(clients, f"hubspot/portal-{portal_id}") == token
    assert made.secret_pattern == DEFAULT_SECRET_PATTERN


def test_the_function_environment_names_the_pattern_and_the_default(
    aws: str, clients: dict[str, Any]
) -> None:
    """GIVEN a multi-portal provisioning with a default portal
    WHEN the function's environment is built (as make run builds it)
    THEN HUBSPOT_SECRET_ID is the pattern and HUBSPOT_DEFAULT_PORTAL_ID the default."""
    made = _provision(
        clients, portal_tokens=TOKENS, secret_pattern="acme/{portalId}/hubspot", default_portal_id=202
    )
    deployment = Deployment(LocalAws.at(aws), deployment_settings(DEFAULT_TEMPLATE), made)
    environment = deployment.function_environment(0)
    assert environment["HUBSPOT_SECRET_ID"] == "acme/{portalId}/hubspot"
    assert environment["HUBSPOT_DEFAULT_PORTAL_ID"] == "202"
    assert _token_in(clients, "acme/303/hubspot") == TOKENS[303]


def test_single_portal_provisioning_is_unchanged(aws: str, clients: dict[str, Any]) -> None:
    """GIVEN no portal tokens
    WHEN the template is provisioned
    THEN there is no per-portal secret, HUBSPOT_SECRET_ID is the template's secret and no default is set."""
    made = _provision(clients)
    environment = Deployment(
        LocalAws.at(aws), deployment_settings(DEFAULT_TEMPLATE), made
    ).function_environment(0)
    assert made.portal_secrets == {}
    assert made.secret_pattern is None
    assert environment["HUBSPOT_SECRET_ID"] == made.secret_arn
    assert environment.get("HUBSPOT_DEFAULT_PORTAL_ID", "0") == "0"  # the template's "none"
    names = [s["Name"] for s in clients["secretsmanager"].list_secrets()["SecretList"]]
    assert names == [made.secret_name]


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"portal_tokens": TOKENS, "secret_pattern": "hubspot/portal"}, "must contain"),
        ({"portal_tokens": {0: "pat"}}, "positive"),
        ({"portal_tokens": TOKENS, "default_portal_id": 999}, "not one of"),
    ],
)
def test_bad_multi_portal_provisioning_is_refused(
    clients: dict[str, Any], options: dict[str, Any], match: str
) -> None:
    """GIVEN a pattern without {portalId}, a portal id that is no id, or a default that is no portal
    WHEN provisioning is asked for
    THEN it is a ValueError naming the problem."""
    with pytest.raises(ValueError, match=match):
        _provision(clients, **options)
