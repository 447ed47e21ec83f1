"""local.aws.template_model: the YAML loader, the intrinsic-function evaluator and the deployment settings
the local runner mirrors."""

from __future__ import annotations

from pathlib import Path

import pytest

from local.aws.template_model import (
    DEFAULT_TEMPLATE,
    Evaluator,
    UnsupportedConstruct,
    deployment_settings,
    load_template,
    parameter_values,
)

SECRET_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:hubspot/token-AbC123"


def write_template(directory: Path, body: str) -> Path:
    """A small template file with the given YAML text."""
    path = directory / "template.yaml"
    path.write_text(body, encoding="utf-8")
    return path


SHORT_TAGS = """
Parameters:
  Size: {Type: Number, Default: 3, AllowedValues: [1, 3, 5]}
  Name: {Type: String, Default: ""}
Conditions:
  NoName: !Equals [!Ref Name, ""]
  Both: !And [!Condition NoName, !Not [!Equals [!Ref Size, 1]]]
Mappings:
  Table:
    "3": {Value: thirty}
    "5": {Value: fifty}
Resources:
  Thing:
    Type: AWS::SQS::Queue
    Properties:
      A: !Ref Size
      B: !FindInMap [Table, !Ref Size, Value]
      C: !If [NoName, !Ref AWS::NoValue, !Ref Name]
      D: !Sub "${AWS::Region}/${Name}/${!Literal}/${Thing.Arn}"
      E: !GetAtt Thing.Arn
      F: !Join ["-", [a, !Ref Size]]
      G: !Select [1, !Split [",", "x,y,z"]]
      H: !If [Both, both, not-both]
      I: !Sub ["${Greeting}, ${Name}", {Greeting: hello}]
      J: [!Ref Thing, !If [NoName, !Ref AWS::NoValue, kept]]
"""


def test_short_tags_load_as_long_form_dicts(tmp_path: Path) -> None:
    # GIVEN a template written with CloudFormation short tags
    path = write_template(tmp_path, SHORT_TAGS)

    # WHEN it is loaded
    properties = load_template(path)["Resources"]["Thing"]["Properties"]

    # THEN each tag became the dict form CloudFormation's JSON syntax uses
    assert properties["A"] == {"Ref": "Size"}
    assert properties["B"] == {"Fn::FindInMap": ["Table", {"Ref": "Size"}, "Value"]}
    assert properties["E"] == {"Fn::GetAtt": ["Thing", "Arn"]}
    assert properties["G"] == {"Fn::Select": [1, {"Fn::Split": [",", "x,y,z"]}]}


def test_evaluator_resolves_each_supported_function(tmp_path: Path) -> None:
    # GIVEN the short-tag template with its defaults (Size 3, Name empty)
    template = load_template(write_template(tmp_path, SHORT_TAGS))
    evaluator = Evaluator(template, parameter_values(template))

    # WHEN its properties are resolved
    resolved = evaluator.resolve(template["Resources"]["Thing"]["Properties"])

    # THEN parameters, mappings, conditions and Sub are evaluated; resource references stay placeholders;
    # AWS::NoValue removes the property or list item
    assert resolved == {
        "A": "3",
        "B": "thirty",
        "D": "us-east-1//${Literal}/${Thing.Arn}",
        "E": "${Thing.Arn}",
        "F": "a-3",
        "G": "y",
        "H": "both",
        "I": "hello, ",
        "J": ["${Thing}"],
    }


def test_overrides_change_conditions_and_lookups(tmp_path: Path) -> None:
    # GIVEN the short-tag template
    template = load_template(write_template(tmp_path, SHORT_TAGS))

    # WHEN parameters are overridden
    evaluator = Evaluator(template, parameter_values(template, {"Size": "5", "Name": "svc"}))
    resolved = evaluator.resolve(template["Resources"]["Thing"]["Properties"])

    # THEN every value that depends on them follows
    assert (resolved["B"], resolved["C"], resolved["H"], resolved["J"]) == (
        "fifty",
        "svc",
        "not-both",
        ["${Thing}", "kept"],
    )


@pytest.mark.parametrize(
    ("overrides", "error", "message"),
    [
        ({"Size": "4"}, ValueError, "AllowedValues"),
        ({"Colour": "red"}, KeyError, "unknown template parameter"),
    ],
)
def test_parameter_overrides_are_checked_like_cloudformation_does(
    tmp_path: Path, overrides: dict[str, str], error: type[Exception], message: str
) -> None:
    # GIVEN the short-tag template
    template = load_template(write_template(tmp_path, SHORT_TAGS))

    # WHEN an override breaks a constraint or names no parameter THEN it is refused
    with pytest.raises(error, match=message):
        parameter_values(template, overrides)


def test_an_unsupported_intrinsic_function_raises_a_clear_error(tmp_path: Path) -> None:
    # GIVEN a template that imports a value from another stack
    template = load_template(
        write_template(
            tmp_path, "Resources:\n  T:\n    Type: X\n    Properties:\n      V: !ImportValue other\n"
        )
    )
    evaluator = Evaluator(template, {})

    # WHEN it is resolved THEN the error names the construct
    with pytest.raises(UnsupportedConstruct, match="Fn::ImportValue"):
        evaluator.resolve(template["Resources"]["T"]["Properties"])


def test_deployment_settings_reflect_the_template_defaults() -> None:
    # GIVEN the project's template and its parameter defaults
    parameters = load_template(DEFAULT_TEMPLATE)["Parameters"]

    # WHEN the deployment settings are resolved without overrides
    settings = deployment_settings()

    # THEN the numbers are the parameters' defaults and the function is the one SAM deploys
    assert settings.batch_size == parameters["BatchSize"]["Default"] == 100
    assert settings.batching_window_s == parameters["MaximumBatchingWindowInSeconds"]["Default"] == 5
    assert settings.maximum_concurrency == parameters["MaximumConcurrency"]["Default"] == 2
    assert settings.max_receive_count == parameters["MaxReceiveCount"]["Default"] == 10
    assert settings.function_timeout_s == parameters["FunctionTimeoutSeconds"]["Default"] == 60
    assert settings.memory_mb == parameters["FunctionMemoryMB"]["Default"] == 256
    assert settings.dlq_retention_s == 14 * 24 * 3600
    assert (settings.handler, settings.code_uri, settings.runtime) == (
        "app.handler",
        "functions/status_writer/",
        "python3.13",
    )
    assert settings.function_response_types == ("ReportBatchItemFailures",)


def test_resource_references_in_the_environment_come_back_as_placeholders() -> None:
    # GIVEN no existing secret (the default): the stack creates one

    # WHEN the environment is resolved
    environment = deployment_settings().environment

    # THEN the values a deployment would fill in are placeholders a local runner substitutes
    assert environment["HUBSPOT_SECRET_ID"] == "${HubSpotSecret}"
    assert environment["DEAD_LETTER_QUEUE_URL"] == "${SubscriptionDeadLetterQueue}"
    assert environment["HUBSPOT_API_BASE_URL"] == "https://api.hubapi.com"


def test_overrides_reach_the_environment_and_the_derived_visibility_timeout() -> None:
    # GIVEN an existing secret, a loopback HubSpot and the longest timeout
    overrides = {
        "HubSpotSecretArn": SECRET_ARN,
        "HubSpotApiBaseUrl": "http://127.0.0.1:8080",
        "FunctionTimeoutSeconds": "900",
        "LogLevel": "DEBUG",
    }

    # WHEN the settings are resolved with them
    settings = deployment_settings(overrides=overrides)

    # THEN the environment carries them and the visibility timeout follows the timeout
    assert settings.environment["HUBSPOT_SECRET_ID"] == SECRET_ARN
    assert settings.environment["HUBSPOT_API_BASE_URL"] == "http://127.0.0.1:8080"
    assert settings.environment["POWERTOOLS_LOG_LEVEL"] == "DEBUG"
    assert settings.function_timeout_s == 900
    assert settings.visibility_timeout_s == 6 * 900 + 300


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"MaximumBatchingWindowInSeconds": "0"}, "BatchingWindowForLargeBatches"),
        (
            {"HubSpotSecretKmsKeyArn": "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab"},
            "SecretKeyNeeds",
        ),
        ({"MaximumConcurrency": "1"}, "MinValue"),
        ({"FunctionTimeoutSeconds": "45"}, "AllowedValues"),
        ({"HubSpotApiBaseUrl": "http://api.example.com"}, "AllowedPattern"),
    ],
)
def test_settings_cloudformation_would_reject_are_rejected(overrides: dict[str, str], message: str) -> None:
    # GIVEN a parameter set that breaks a constraint or a Rule of the template
    # WHEN the settings are resolved THEN the same error CloudFormation would give is raised
    with pytest.raises(ValueError, match=message):
        deployment_settings(overrides=overrides)


def test_a_small_batch_needs_no_batching_window() -> None:
    # GIVEN batches of at most 10 with no window (allowed by the rule)
    # WHEN the settings are resolved THEN they are accepted
    settings = deployment_settings(overrides={"MaximumBatchingWindowInSeconds": "0", "BatchSize": "10"})
    assert (settings.batch_size, settings.batching_window_s) == (10, 0)
