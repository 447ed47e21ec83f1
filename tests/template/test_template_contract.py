"""What template.yaml must guarantee, read from the template itself (no tools needed): partial batch
responses, the visibility-timeout rule, the redrive, least privilege, and the environment the code reads."""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Iterator
from typing import Any

import pytest
from status_writer.config import ENVIRONMENT_VARIABLES

from local.aws.template_model import (
    DEFAULT_TEMPLATE,
    PSEUDO_PARAMETERS,
    Evaluator,
    deployment_settings,
    load_template,
    parameter_values,
)

POWERTOOLS_VARIABLES = {
    "POWERTOOLS_SERVICE_NAME": "hubspot-subscription-sync",
    "POWERTOOLS_METRICS_NAMESPACE": "HubSpotSubscriptionSync",
    "POWERTOOLS_LOG_LEVEL": "INFO",
    "POWERTOOLS_PARAMETERS_MAX_AGE": "300",
}
FUNCTION_METRICS = (
    "RecordsReceived",
    "RecordsApplied",
    "RecordsSuperseded",
    "PermanentFailures",
    "RetryableFailures",
    "DeadLettered",
    "HubSpotCalls",
    "HubSpotThrottled",
    "HubSpotLatency",
)
SQS_MAX_VISIBILITY_S = 43_200
# The only "*" an Allow statement may hold: the log streams of one named log group (stream names are
# chosen by Lambda at run time, so they cannot be listed).
LOG_STREAM_RESOURCE = re.compile(r"^arn:[^*]+:logs:[^*]+:log-group:[^*:]+:log-stream:\*$")


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template(DEFAULT_TEMPLATE)


@pytest.fixture(scope="module")
def resolved(template: dict[str, Any]) -> dict[str, Any]:
    """Every resource with intrinsic functions evaluated for the default parameters."""
    evaluator = Evaluator(template, parameter_values(template))
    return {name: evaluator.resolve(resource) for name, resource in template["Resources"].items()}


def resources_of_type(template: dict[str, Any], kind: str) -> dict[str, Any]:
    return {name: r for name, r in template["Resources"].items() if r["Type"] == kind}


def sqs_event(template: dict[str, Any]) -> dict[str, Any]:
    events = template["Resources"]["StatusWriterFunction"]["Properties"]["Events"]
    (event,) = (e["Properties"] for e in events.values() if e["Type"] == "SQS")
    return event


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def policy_statements(template: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(resource name, statement) for every statement of every policy document in the template,
    including both branches of an Fn::If that holds a statement."""
    for name, resource in template["Resources"].items():
        properties = resource.get("Properties", {})
        documents = [
            properties[key]
            for key in ("PolicyDocument", "KeyPolicy", "AssumeRolePolicyDocument")
            if key in properties
        ]
        documents += [
            policy["PolicyDocument"]
            for policy in properties.get("Policies", [])
            if "PolicyDocument" in policy
        ]
        for document in documents:
            for statement in document["Statement"]:
                if isinstance(statement, dict) and "Fn::If" in statement:
                    yield from ((name, s) for s in statement["Fn::If"][1:] if s != {"Ref": "AWS::NoValue"})
                else:
                    yield name, statement


# --- Event source mapping ------------------------------------------------------------------------------


def test_partial_batch_responses_are_declared_on_the_event_source(template: dict[str, Any]) -> None:
    # GIVEN the function's SQS event source
    event = sqs_event(template)

    # THEN Lambda honours the batchItemFailures the handler returns (without this it ignores them)
    assert event["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert event["Queue"] == {"Fn::GetAtt": ["SubscriptionQueue", "Arn"]}


def test_batching_and_concurrency_come_from_constrained_parameters(template: dict[str, Any]) -> None:
    # GIVEN the event source and the parameters
    event, parameters = sqs_event(template), template["Parameters"]

    # THEN each knob is a parameter, MaximumConcurrency cannot go below SQS's minimum of 2, and the
    # event-count metrics are on
    assert event["BatchSize"] == {"Ref": "BatchSize"}
    assert event["MaximumBatchingWindowInSeconds"] == {"Ref": "MaximumBatchingWindowInSeconds"}
    assert event["ScalingConfig"] == {"MaximumConcurrency": {"Ref": "MaximumConcurrency"}}
    assert event["MetricsConfig"] == {"Metrics": ["EventCount"]}
    assert parameters["MaximumConcurrency"]["MinValue"] == 2
    assert parameters["MaximumBatchingWindowInSeconds"]["MaxValue"] <= 300


# --- Queues ---------------------------------------------------------------------------------------------


def test_visibility_timeout_is_derived_from_the_function_timeout(template: dict[str, Any]) -> None:
    # GIVEN the queue's visibility timeout as written in the template
    visibility = template["Resources"]["SubscriptionQueue"]["Properties"]["VisibilityTimeout"]

    # THEN it is looked up by the function timeout, never typed a second time
    assert visibility == {"Fn::FindInMap": ["QueueVisibility", {"Ref": "FunctionTimeoutSeconds"}, "Seconds"]}


@pytest.mark.parametrize(
    "timeout_s", load_template(DEFAULT_TEMPLATE)["Parameters"]["FunctionTimeoutSeconds"]["AllowedValues"]
)
def test_visibility_timeout_rule_holds_for_every_allowed_timeout(
    template: dict[str, Any], timeout_s: int
) -> None:
    # GIVEN the largest batching window the template allows
    largest_window_s = int(template["Parameters"]["MaximumBatchingWindowInSeconds"]["MaxValue"])

    # WHEN the template is deployed with this function timeout
    settings = deployment_settings(overrides={"FunctionTimeoutSeconds": str(timeout_s)})

    # THEN visibility >= 6 x timeout + batching window (AWS's guidance), within SQS's maximum
    assert settings.function_timeout_s == timeout_s
    assert settings.visibility_timeout_s >= 6 * timeout_s + largest_window_s
    assert settings.visibility_timeout_s <= SQS_MAX_VISIBILITY_S


def test_every_mapping_row_belongs_to_an_allowed_timeout(template: dict[str, Any]) -> None:
    # GIVEN the lookup table and the allowed timeouts
    rows = {str(key) for key in template["Mappings"]["QueueVisibility"]}
    allowed = {str(value) for value in template["Parameters"]["FunctionTimeoutSeconds"]["AllowedValues"]}

    # THEN they match one to one (no dead rows, no missing rows)
    assert rows == allowed


def test_source_queue_redrives_to_the_dead_letter_queue(
    template: dict[str, Any], resolved: dict[str, Any]
) -> None:
    # GIVEN the two queues
    queue = template["Resources"]["SubscriptionQueue"]["Properties"]
    dead_letter = resolved["SubscriptionDeadLetterQueue"]["Properties"]
    queue_name = resolved["SubscriptionQueue"]["Properties"]["QueueName"]

    # THEN the source queue redrives to the DLQ after MaxReceiveCount deliveries...
    assert queue["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": ["SubscriptionDeadLetterQueue", "Arn"]},
        "maxReceiveCount": {"Ref": "MaxReceiveCount"},
    }
    # ...the DLQ accepts redrives from that queue only, and keeps messages 14 days, longer than the
    # source (standard queues keep the original enqueue time when redriving)
    assert dead_letter["RedriveAllowPolicy"] == {
        "redrivePermission": "byQueue",
        "sourceQueueArns": [f"arn:aws:sqs:us-east-1:123456789012:{queue_name}"],
    }
    assert dead_letter["MessageRetentionPeriod"] == 1_209_600
    assert queue["MessageRetentionPeriod"] < dead_letter["MessageRetentionPeriod"]


def test_both_queues_are_encrypted_and_refuse_plain_http(template: dict[str, Any]) -> None:
    # GIVEN the queues and the queue policies
    policies = resources_of_type(template, "AWS::SQS::QueuePolicy").values()

    for queue in ("SubscriptionQueue", "SubscriptionDeadLetterQueue"):
        # THEN each queue is encrypted at rest...
        assert template["Resources"][queue]["Properties"]["SqsManagedSseEnabled"] is True
        # ...and a policy on it denies every request that does not use TLS
        denying = [
            statement
            for policy in policies
            if policy["Properties"]["Queues"] == [{"Ref": queue}]
            for statement in policy["Properties"]["PolicyDocument"]["Statement"]
            if statement["Effect"] == "Deny"
            and statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
            and statement["Resource"] == {"Fn::GetAtt": [queue, "Arn"]}
        ]
        assert len(denying) == 1, queue


# --- Function -------------------------------------------------------------------------------------------


def test_function_runs_python_313_on_arm64_with_the_dependencies_layer(template: dict[str, Any]) -> None:
    # GIVEN the function and its layer
    function = template["Resources"]["StatusWriterFunction"]
    layer = template["Resources"]["DependenciesLayer"]

    # THEN both target python3.13 on arm64 and SAM builds the layer from the pinned requirements
    assert function["Type"] == "AWS::Serverless::Function"
    assert function["Properties"]["Runtime"] == "python3.13"
    assert function["Properties"]["Architectures"] == ["arm64"]
    assert function["Properties"]["Layers"] == [{"Ref": "DependenciesLayer"}]
    assert layer["Type"] == "AWS::Serverless::LayerVersion"
    assert layer["Metadata"]["BuildMethod"] == "python3.13"
    assert layer["Properties"]["ContentUri"] == "layers/dependencies/"
    assert layer["Properties"]["CompatibleRuntimes"] == ["python3.13"]
    assert layer["Properties"]["CompatibleArchitectures"] == ["arm64"]


def test_function_has_no_async_dead_letter_queue(template: dict[str, Any]) -> None:
    # GIVEN the function
    properties = template["Resources"]["StatusWriterFunction"]["Properties"]

    # THEN it sets no function-level DeadLetterQueue/EventInvokeConfig: those only catch asynchronous
    # invocations and do nothing for SQS, which invokes synchronously
    assert "DeadLetterQueue" not in properties
    assert "EventInvokeConfig" not in properties


def test_function_logs_json_to_its_own_log_group_with_retention(template: dict[str, Any]) -> None:
    # GIVEN the function's logging configuration
    logging = template["Resources"]["StatusWriterFunction"]["Properties"]["LoggingConfig"]
    log_group = template["Resources"]["StatusWriterLogGroup"]

    # THEN it writes JSON to the explicit log group, whose retention is the parameter
    assert logging["LogFormat"] == "JSON"
    assert logging["ApplicationLogLevel"] == {"Ref": "LogLevel"}
    assert logging["LogGroup"] == {"Ref": "StatusWriterLogGroup"}
    assert log_group["Type"] == "AWS::Logs::LogGroup"
    assert log_group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}


def test_template_sets_exactly_the_environment_the_code_reads() -> None:
    # GIVEN the variables the function's code reads and the environment the template sets
    environment = deployment_settings().environment

    # THEN every variable the code reads is set, and nothing else besides Powertools' own
    assert set(ENVIRONMENT_VARIABLES) <= set(environment)
    assert set(environment) == set(ENVIRONMENT_VARIABLES) | set(POWERTOOLS_VARIABLES)
    assert {name: environment[name] for name in POWERTOOLS_VARIABLES} == POWERTOOLS_VARIABLES
    assert all(value != "" for value in environment.values())


def test_environment_points_at_the_stack_resources() -> None:
    # GIVEN the environment with and without an existing secret
    created = deployment_settings().environment
    existing_arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:hubspot-AbC123"
    existing = deployment_settings(overrides={"HubSpotSecretArn": existing_arn}).environment

    # THEN the secret id is the created secret or the given ARN, and the DLQ URL is the stack's DLQ
    assert created["HUBSPOT_SECRET_ID"] == "${HubSpotSecret}"
    assert existing["HUBSPOT_SECRET_ID"] == existing_arn
    assert created["DEAD_LETTER_QUEUE_URL"] == "${SubscriptionDeadLetterQueue}"


# --- Least privilege ------------------------------------------------------------------------------------


def test_no_allow_statement_in_any_policy_uses_a_wildcard(template: dict[str, Any]) -> None:
    # GIVEN every statement of every policy document in the template
    statements = list(policy_statements(template))
    allows = [(name, s) for name, s in statements if s["Effect"] == "Allow"]

    # THEN no Allow grants a wildcard action, resource or principal, nor uses NotAction/NotResource;
    # only Deny statements (the TLS-only queue policies) may say "*", as they take rights away
    assert len(allows) >= 6  # the role's statements and its trust policy: the check is not vacuous
    for name, statement in allows:
        assert "NotAction" not in statement, name
        assert "NotResource" not in statement, name
        for action in as_list(statement["Action"]):
            assert "*" not in action, f"{name}: wildcard action {action}"
        assert statement.get("Principal") != "*", name
        if "Resource" in statement:
            evaluator = Evaluator(template, parameter_values(template))
            for resource in as_list(evaluator.resolve(statement["Resource"])):
                assert "*" not in resource or LOG_STREAM_RESOURCE.match(resource), f"{name}: {resource}"
    for name, statement in statements:
        assert statement["Effect"] in ("Allow", "Deny"), name


def test_function_role_grants_exactly_what_the_function_does(template: dict[str, Any]) -> None:
    # GIVEN the function and its execution role
    function = template["Resources"]["StatusWriterFunction"]["Properties"]
    role = template["Resources"]["StatusWriterRole"]["Properties"]

    # THEN the function uses this role only (SAM Policies would add AWS-managed policies with
    # Resource "*"; X-Ray's, which has no other form, only with the Tracing parameter Active)...
    assert function["Role"] == {"Fn::GetAtt": ["StatusWriterRole", "Arn"]}
    assert "Policies" not in function
    assert function["Tracing"] == {"Ref": "Tracing"}
    assert role["ManagedPolicyArns"] == {
        "Fn::If": [
            "TracingActive",
            [{"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/AWSXRayDaemonWriteAccess"}],
            {"Ref": "AWS::NoValue"},
        ]
    }
    # ...and the role allows polling this queue, sending to this DLQ and reading this one secret
    grants = {
        statement["Sid"]: (sorted(as_list(statement["Action"])), statement["Resource"])
        for _, statement in policy_statements(
            {"Resources": {"StatusWriterRole": template["Resources"]["StatusWriterRole"]}}
        )
        if "Sid" in statement
    }
    assert grants["PollTheQueue"] == (
        ["sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ReceiveMessage"],
        {"Fn::GetAtt": ["SubscriptionQueue", "Arn"]},
    )
    assert grants["DeadLetterPermanentFailures"] == (
        ["sqs:SendMessage"],
        {"Fn::GetAtt": ["SubscriptionDeadLetterQueue", "Arn"]},
    )
    assert grants["ReadTheHubSpotToken"] == (
        ["secretsmanager:GetSecretValue"],
        {
            "Fn::If": [
                "MultiPortal",  # many portals: the secrets under the name pattern's prefix, nothing else
                {
                    "Fn::Sub": [
                        "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:${Prefix}*",
                        {
                            "Prefix": {
                                "Fn::Select": [
                                    0,
                                    {"Fn::Split": ["{portalId}", {"Ref": "HubSpotSecretNamePattern"}]},
                                ]
                            }
                        },
                    ]
                },
                {"Fn::If": ["CreateHubSpotSecret", {"Ref": "HubSpotSecret"}, {"Ref": "HubSpotSecretArn"}]},
            ]
        },
    )
    assert grants["DecryptTheHubSpotToken"] == (["kms:Decrypt"], {"Ref": "HubSpotSecretKmsKeyArn"})
    assert grants["WriteOwnLogs"][0] == ["logs:CreateLogStream", "logs:PutLogEvents"]


def test_tracing_is_off_by_default_and_active_only_when_asked(template: dict[str, Any]) -> None:
    # GIVEN the function and its role resolved with the default parameters and with Tracing=Active
    def traced(overrides: dict[str, str]) -> tuple[str, list[str]]:
        evaluator = Evaluator(template, parameter_values(template, overrides))
        function = evaluator.resolve(template["Resources"]["StatusWriterFunction"])["Properties"]
        role = evaluator.resolve(template["Resources"]["StatusWriterRole"])["Properties"]
        return function["Tracing"], role.get("ManagedPolicyArns", [])

    # THEN by default nothing is traced and no managed policy is attached; Active attaches X-Ray's only
    assert template["Parameters"]["Tracing"]["Default"] == "PassThrough"
    assert traced({}) == ("PassThrough", [])
    mode, policies = traced({"Tracing": "Active"})
    assert mode == "Active"
    assert [arn.rsplit("/", 1)[-1] for arn in policies] == ["AWSXRayDaemonWriteAccess"]


def test_kms_decrypt_is_granted_only_for_a_given_customer_key(template: dict[str, Any]) -> None:
    # GIVEN the role's statements resolved without and with a customer-managed key for the secret
    role = template["Resources"]["StatusWriterRole"]
    key_arn = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    secret_arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:hubspot-AbC123"

    def actions(overrides: dict[str, str]) -> list[str]:
        evaluator = Evaluator(template, parameter_values(template, overrides))
        document = evaluator.resolve(role)["Properties"]["Policies"][0]["PolicyDocument"]
        return [action for s in document["Statement"] for action in as_list(s["Action"])]

    # THEN kms:Decrypt appears only when a key is given
    assert "kms:Decrypt" not in actions({})
    assert "kms:Decrypt" in actions({"HubSpotSecretArn": secret_arn, "HubSpotSecretKmsKeyArn": key_arn})


# --- Secret, alarms, dashboard, outputs -------------------------------------------------------------------


def test_secret_is_created_only_without_an_existing_one_and_starts_as_an_unusable_placeholder(
    template: dict[str, Any],
) -> None:
    # GIVEN the secret resource
    secret = template["Resources"]["HubSpotSecret"]
    placeholder = json.loads(secret["Properties"]["SecretString"])

    # THEN it exists only when HubSpotSecretArn is empty (and one portal is served: many portals bring
    # a secret each), holds no token, and says how to set one
    assert secret["Condition"] == "CreatePlaceholderSecret"
    assert template["Conditions"]["CreatePlaceholderSecret"] == {
        "Fn::And": [{"Condition": "CreateHubSpotSecret"}, {"Condition": "SinglePortal"}]
    }
    assert template["Conditions"]["CreateHubSpotSecret"] == {"Fn::Equals": [{"Ref": "HubSpotSecretArn"}, ""]}
    assert placeholder["accessToken"] == ""
    assert "put-secret-value" in placeholder["setup"]


ALARMS = {
    "DeadLetterQueueNotEmptyAlarm": ("AWS/SQS", "ApproximateNumberOfMessagesVisible"),
    "OldestMessageAgeAlarm": ("AWS/SQS", "ApproximateAgeOfOldestMessage"),
    "FunctionErrorsAlarm": ("AWS/Lambda", "Errors"),
    "HubSpotThrottlingAlarm": ("HubSpotSubscriptionSync", "HubSpotThrottled"),
    "PermanentFailuresAlarm": ("HubSpotSubscriptionSync", "PermanentFailures"),
}


@pytest.mark.parametrize(("alarm", "metric"), ALARMS.items())
def test_each_alarm_watches_its_metric_and_notifies_the_topic(
    template: dict[str, Any], alarm: str, metric: tuple[str, str]
) -> None:
    # GIVEN one alarm
    properties = template["Resources"][alarm]["Properties"]
    topic = {"Fn::If": ["CreateAlarmTopic", {"Ref": "AlarmTopic"}, {"Ref": "AlarmTopicArn"}]}

    # THEN it watches the metric it is named for and notifies the alarm topic
    assert (properties["Namespace"], properties["MetricName"]) == metric
    assert properties["AlarmActions"] == [topic]
    assert properties["TreatMissingData"] == "notBreaching"
    if properties["Namespace"] == POWERTOOLS_VARIABLES["POWERTOOLS_METRICS_NAMESPACE"]:
        # the function's EMF metrics carry the service dimension Powertools adds
        assert properties["Dimensions"] == [
            {"Name": "service", "Value": POWERTOOLS_VARIABLES["POWERTOOLS_SERVICE_NAME"]}
        ]
        assert properties["MetricName"] in FUNCTION_METRICS


def test_alarm_topic_is_created_or_given_and_mail_is_optional(template: dict[str, Any]) -> None:
    # GIVEN the topic and the e-mail subscription
    topic, subscription = template["Resources"]["AlarmTopic"], template["Resources"]["AlarmEmailSubscription"]

    # THEN the topic exists only without AlarmTopicArn and the e-mail only with AlarmEmail
    assert topic["Condition"] == "CreateAlarmTopic"
    assert subscription["Condition"] == "HasAlarmEmail"
    assert subscription["Properties"]["Protocol"] == "email"
    assert subscription["Properties"]["Endpoint"] == {"Ref": "AlarmEmail"}


def test_dashboard_shows_every_function_metric_and_both_queue_depths(resolved: dict[str, Any]) -> None:
    # GIVEN the dashboard body, resolved (resource names stay placeholders)
    body = json.loads(resolved["StatusWriterDashboard"]["Properties"]["DashboardBody"])
    metrics = [
        tuple(item for item in line if not isinstance(item, dict))
        for widget in body["widgets"]
        if widget["type"] == "metric"
        for line in widget["properties"]["metrics"]
    ]

    # THEN each function metric appears with its namespace and service dimension...
    shown = {line[1] for line in metrics if line[0] == "HubSpotSubscriptionSync"}
    assert shown == set(FUNCTION_METRICS)
    assert all(
        line[2:] == ("service", "hubspot-subscription-sync")
        for line in metrics
        if line[0] == "HubSpotSubscriptionSync"
    )
    # ...and the depth of both queues
    depth = {line[3] for line in metrics if line[:2] == ("AWS/SQS", "ApproximateNumberOfMessagesVisible")}
    assert depth == {"${SubscriptionQueue.QueueName}", "${SubscriptionDeadLetterQueue.QueueName}"}


def test_outputs_name_what_an_operator_needs(template: dict[str, Any]) -> None:
    # GIVEN the outputs
    outputs = template["Outputs"]

    # THEN queue URL/ARN, DLQ URL, function ARN, secret ARN and the dashboard link are there
    assert outputs["SubscriptionQueueUrl"]["Value"] == {"Ref": "SubscriptionQueue"}
    assert outputs["SubscriptionQueueArn"]["Value"] == {"Fn::GetAtt": ["SubscriptionQueue", "Arn"]}
    assert outputs["SubscriptionDeadLetterQueueUrl"]["Value"] == {"Ref": "SubscriptionDeadLetterQueue"}
    assert outputs["StatusWriterFunctionArn"]["Value"] == {"Fn::GetAtt": ["StatusWriterFunction", "Arn"]}
    assert outputs["HubSpotSecretArn"]["Value"] == {
        "Fn::If": ["CreateHubSpotSecret", {"Ref": "HubSpotSecret"}, {"Ref": "HubSpotSecretArn"}]
    }
    assert "#dashboards/dashboard/${StatusWriterDashboard}" in outputs["DashboardUrl"]["Value"]["Fn::Sub"]


FIXED_PARAMETERS = {
    "HubSpotSecretArn": "",
    "HubSpotApiBaseUrl": "https://api.hubapi.com",
    "BatchSize": 100,
    "MaximumBatchingWindowInSeconds": 5,
    "MaximumConcurrency": 2,
    "MaxReceiveCount": 10,
    "FunctionTimeoutSeconds": 60,
    "FunctionMemoryMB": 256,
    "LogLevel": "INFO",
    "AlarmEmail": "",
    "AlarmTopicArn": "",
}


def test_parameters_others_code_against_keep_their_names_and_defaults(template: dict[str, Any]) -> None:
    # GIVEN the parameters
    parameters = template["Parameters"]

    # THEN the agreed names exist with the agreed defaults, and every parameter is constrained
    assert {name: parameters[name]["Default"] for name in FIXED_PARAMETERS} == FIXED_PARAMETERS
    assert "LogRetentionDays" in parameters
    constraints = {"AllowedValues", "AllowedPattern", "MinValue", "MaxValue"}
    assert [name for name, spec in parameters.items() if not constraints & set(spec)] == []


def test_every_checkov_skip_carries_a_written_reason(template: dict[str, Any]) -> None:
    # GIVEN the checkov skips in the resources' Metadata
    skips = [
        (name, skip)
        for name, resource in template["Resources"].items()
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", [])
    ]

    # THEN each names a check and explains itself in a sentence or more
    assert skips  # the template does skip checks, so this is not vacuous
    for name, skip in skips:
        assert re.fullmatch(r"CKV2?_AWS_\d+", skip["id"]), name
        assert len(skip["comment"].split()) >= 8, f"{name} {skip['id']}: give the reason"


def test_samconfig_deploys_with_the_capabilities_and_a_stack_name_that_fits(template: dict[str, Any]) -> None:
    # GIVEN the SAM CLI defaults
    config = tomllib.loads((DEFAULT_TEMPLATE.parent / "samconfig.toml").read_text(encoding="utf-8"))
    stack_name = config["default"]["global"]["parameters"]["stack_name"]
    queue_name = Evaluator(template, parameter_values(template)).resolve(
        template["Resources"]["SubscriptionQueue"]["Properties"]["QueueName"]
    )

    # THEN the execution role can be created and the queue name derived from the stack name is legal
    assert config["default"]["deploy"]["parameters"]["capabilities"] == "CAPABILITY_IAM"
    assert queue_name.startswith(PSEUDO_PARAMETERS["AWS::StackName"])
    assert len(stack_name + queue_name.removeprefix(PSEUDO_PARAMETERS["AWS::StackName"])) <= 80
