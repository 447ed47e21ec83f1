"""Read template.yaml and resolve what a local run must mirror (batching, timeouts, environment).

The template is the single source of truth for deployment settings; the local runner, the benchmarks
and the tests read them from here instead of repeating the numbers. Only the CloudFormation features
this template uses are evaluated (Ref to parameters, Fn::FindInMap, Fn::If with Equals/Not/And/Or
conditions, Fn::Sub, Fn::Join, Fn::Select, Fn::Split); anything else raises `UnsupportedConstruct`.
References to resources come back as the placeholder ``${LogicalId}`` (``${LogicalId.Attribute}``
for Fn::GetAtt) so a caller can substitute local stand-ins, e.g. a moto queue URL for the DLQ.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_TEMPLATE = REPO_ROOT / "template.yaml"
FUNCTION_ID = "StatusWriterFunction"
QUEUE_ID = "SubscriptionQueue"
DEAD_LETTER_QUEUE_ID = "SubscriptionDeadLetterQueue"

# Pseudo parameters get fixed local values: nothing local depends on the real account or region.
PSEUDO_PARAMETERS: dict[str, str] = {
    "AWS::AccountId": "123456789012",
    "AWS::Partition": "aws",
    "AWS::Region": "us-east-1",
    "AWS::StackName": "local",
    "AWS::StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/local/local",
    "AWS::URLSuffix": "amazonaws.com",
}
_NO_VALUE = object()  # AWS::NoValue: the property or list item disappears
_SHORT_TAGS = (
    "And",
    "Base64",
    "Cidr",
    "Condition",
    "Contains",
    "EachMemberEquals",
    "EachMemberIn",
    "Equals",
    "FindInMap",
    "GetAtt",
    "GetAZs",
    "If",
    "ImportValue",
    "Join",
    "Length",
    "Not",
    "Or",
    "RefAll",
    "Select",
    "Split",
    "Sub",
    "ToJsonString",
    "Transform",
    "ValueOf",
    "ValueOfAll",
)
_SUB_VARIABLE = re.compile(r"\$\{([^}]*)\}")


class UnsupportedConstruct(ValueError):
    """The template uses something this small evaluator does not model; the message names it."""


class CloudFormationLoader(yaml.SafeLoader):  # type: ignore[misc]  # PyYAML ships no type hints
    """SafeLoader that turns CloudFormation short tags (!Ref, !Sub, ...) into their long dict forms."""


def _construct(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_mapping(node, deep=True)


def _short_tag(name: str) -> Callable[[yaml.SafeLoader, yaml.Node], dict[str, Any]]:
    key = "Ref" if name == "Ref" else ("Condition" if name == "Condition" else f"Fn::{name}")

    def construct(loader: yaml.SafeLoader, node: yaml.Node) -> dict[str, Any]:
        value = _construct(loader, node)
        if name == "GetAtt" and isinstance(value, str):
            value = value.split(".", 1)  # !GetAtt Resource.Attribute is short for the list form
        return {key: value}

    return construct


for _name in ("Ref", *_SHORT_TAGS):
    CloudFormationLoader.add_constructor(f"!{_name}", _short_tag(_name))


def load_template(path: Path = DEFAULT_TEMPLATE) -> dict[str, Any]:
    """The template as plain dicts and lists, short tags expanded to ``{"Ref": ...}``/``{"Fn::X": ...}``."""
    with Path(path).open(encoding="utf-8") as handle:
        document = yaml.load(handle, Loader=CloudFormationLoader)  # noqa: S506 - a SafeLoader subclass
    if not isinstance(document, dict) or "Resources" not in document:
        raise ValueError(f"{path} is not a CloudFormation template (no Resources section)")
    return document


def parameter_values(
    template: Mapping[str, Any], overrides: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Every parameter's value as CloudFormation passes it (a string), defaults first, then overrides.

    Overrides are checked against the parameter's constraints like CloudFormation would; unknown
    names and missing values without a default are errors.
    """
    declared: dict[str, Any] = template.get("Parameters") or {}
    unknown = sorted(set(overrides or {}) - set(declared))
    if unknown:
        raise KeyError(f"unknown template parameter(s): {', '.join(unknown)}")
    values: dict[str, str] = {}
    for name, spec in declared.items():
        if overrides and name in overrides:
            value = str(overrides[name])
        elif "Default" in spec:
            value = _as_parameter_string(spec["Default"])
        else:
            raise ValueError(f"parameter {name} has no default and no override")
        _check_constraints(name, spec, value)
        values[name] = value
    return values


def _as_parameter_string(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list):
        return ",".join(str(item) for item in value)
    return str(value)


def _check_constraints(name: str, spec: Mapping[str, Any], value: str) -> None:
    allowed = spec.get("AllowedValues")
    if allowed is not None and value not in [_as_parameter_string(item) for item in allowed]:
        raise ValueError(f"parameter {name}={value!r} is not one of its AllowedValues {allowed}")
    if spec.get("Type") == "Number":
        try:
            number = float(value)
        except ValueError:
            raise ValueError(f"parameter {name}={value!r} is not a number") from None
        if "MinValue" in spec and number < float(spec["MinValue"]):
            raise ValueError(f"parameter {name}={value} is below its MinValue {spec['MinValue']}")
        if "MaxValue" in spec and number > float(spec["MaxValue"]):
            raise ValueError(f"parameter {name}={value} is above its MaxValue {spec['MaxValue']}")
    pattern = spec.get("AllowedPattern")
    if pattern is not None and not re.fullmatch(pattern, value):
        raise ValueError(f"parameter {name}={value!r} does not match its AllowedPattern {pattern!r}")
    if "MaxLength" in spec and len(value) > int(spec["MaxLength"]):
        raise ValueError(f"parameter {name} is longer than its MaxLength {spec['MaxLength']}")
    if "MinLength" in spec and len(value) < int(spec["MinLength"]):
        raise ValueError(f"parameter {name} is shorter than its MinLength {spec['MinLength']}")


class Evaluator:
    """Resolves intrinsic functions against one set of parameter values."""

    def __init__(self, template: Mapping[str, Any], parameters: Mapping[str, str]) -> None:
        self.template = template
        self.parameters = dict(parameters)
        self.resources: Mapping[str, Any] = template.get("Resources") or {}
        self.mappings: Mapping[str, Any] = template.get("Mappings") or {}
        self._conditions: Mapping[str, Any] = template.get("Conditions") or {}
        self._condition_values: dict[str, bool] = {}

    def condition(self, name: str) -> bool:
        """The value of a named condition from the Conditions section."""
        if name not in self._condition_values:
            if name not in self._conditions:
                raise KeyError(f"unknown condition {name!r}")
            self._condition_values[name] = self.truth(self._conditions[name])
        return self._condition_values[name]

    def resolve(self, value: Any) -> Any:
        """The value with every intrinsic function evaluated (AWS::NoValue items removed)."""
        resolved = self._resolve(value)
        return None if resolved is _NO_VALUE else resolved

    def _resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [item for item in (self._resolve(v) for v in value) if item is not _NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            (key, argument), *_ = value.items()
            if key == "Ref":
                return self._ref(argument)
            if key.startswith("Fn::"):
                return self._function(key, argument)
        resolved = {k: self._resolve(v) for k, v in value.items()}
        return {k: v for k, v in resolved.items() if v is not _NO_VALUE}

    def _ref(self, name: Any) -> Any:
        if name == "AWS::NoValue":
            return _NO_VALUE
        if name in self.parameters:
            return self.parameters[name]
        if name in PSEUDO_PARAMETERS:
            return PSEUDO_PARAMETERS[name]
        if name in self.resources:
            return f"${{{name}}}"
        raise UnsupportedConstruct(f"Ref to {name!r}, which is neither a parameter nor a resource")

    def _function(self, key: str, argument: Any) -> Any:
        handlers: dict[str, Callable[[Any], Any]] = {
            "Fn::If": self._if,
            "Fn::FindInMap": self._find_in_map,
            "Fn::Sub": self._sub,
            "Fn::GetAtt": self._get_att,
            "Fn::Join": self._join,
            "Fn::Select": self._select,
            "Fn::Split": self._split,
        }
        if key in ("Fn::Equals", "Fn::Not", "Fn::And", "Fn::Or", "Fn::Contains"):
            return self.truth({key: argument})
        if key not in handlers:
            raise UnsupportedConstruct(f"{key} is not supported by local.aws.template_model")
        return handlers[key](argument)

    def truth(self, expression: Any) -> bool:
        """The value of a condition expression (Equals, Not, And, Or, Contains, Condition)."""
        if isinstance(expression, bool):
            return expression
        if isinstance(expression, dict) and len(expression) == 1:
            (key, argument), *_ = expression.items()
            operators: dict[str, Callable[[Any], bool]] = {
                "Condition": self.condition,
                "Fn::Equals": self._equals,
                "Fn::Not": lambda items: not self.truth(items[0]),
                "Fn::And": lambda items: all(self.truth(item) for item in items),
                "Fn::Or": lambda items: any(self.truth(item) for item in items),
                "Fn::Contains": self._contains,  # Rules only
            }
            if key in operators:
                return operators[key](argument)
        raise UnsupportedConstruct(f"cannot evaluate condition {expression!r}")

    def _equals(self, argument: list[Any]) -> bool:
        left, right = (self._resolve(item) for item in argument)
        return _as_parameter_string(left) == _as_parameter_string(right)

    def _contains(self, argument: list[Any]) -> bool:
        options, candidate = (self._resolve(item) for item in argument)
        return _as_parameter_string(candidate) in [_as_parameter_string(option) for option in options]

    def _if(self, argument: list[Any]) -> Any:
        name, when_true, when_false = argument
        return self._resolve(when_true if self.condition(name) else when_false)

    def _find_in_map(self, argument: list[Any]) -> Any:
        name, top, second = (_as_parameter_string(self._resolve(item)) for item in argument[:3])
        if len(argument) > 3:
            raise UnsupportedConstruct("Fn::FindInMap with a DefaultValue (AWS::LanguageExtensions)")
        table = self.mappings.get(name)
        if table is None:
            raise KeyError(f"Fn::FindInMap: no mapping named {name!r}")
        rows = {str(k): v for k, v in table.items()}
        if top not in rows:
            raise KeyError(f"Fn::FindInMap: mapping {name} has no key {top!r}")
        cells = {str(k): v for k, v in rows[top].items()}
        if second not in cells:
            raise KeyError(f"Fn::FindInMap: mapping {name}.{top} has no key {second!r}")
        return cells[second]

    def _sub(self, argument: Any) -> str:
        if isinstance(argument, list):
            text, variables = argument[0], {k: self._resolve(v) for k, v in argument[1].items()}
        else:
            text, variables = argument, {}

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"  # ${!Literal} is the escape for a literal ${Literal}
            if name in variables:
                return _as_parameter_string(variables[name])
            if "." in name and name.split(".", 1)[0] in self.resources:
                return f"${{{name}}}"  # ${Resource.Attribute}: a GetAtt placeholder
            return _as_parameter_string(self._ref(name))

        return _SUB_VARIABLE.sub(replace, text)

    def _get_att(self, argument: list[Any]) -> str:
        resource, attribute = argument
        if resource not in self.resources:
            raise UnsupportedConstruct(f"Fn::GetAtt of unknown resource {resource!r}")
        return f"${{{resource}.{attribute}}}"

    def _join(self, argument: list[Any]) -> str:
        delimiter, items = argument
        return str(delimiter).join(_as_parameter_string(item) for item in self._resolve(items))

    def _select(self, argument: list[Any]) -> Any:
        index, items = argument
        return self._resolve(items)[int(self._resolve(index))]

    def _split(self, argument: list[Any]) -> list[str]:
        delimiter, text = argument
        return str(self._resolve(text)).split(delimiter)


def check_rules(template: Mapping[str, Any], evaluator: Evaluator) -> None:
    """Raise like CloudFormation does when a parameter set breaks one of the template's Rules."""
    broken: list[str] = []
    for name, rule in (template.get("Rules") or {}).items():
        if "RuleCondition" in rule and not evaluator.truth(rule["RuleCondition"]):
            continue
        for assertion in rule.get("Assertions") or []:
            if not evaluator.truth(assertion["Assert"]):
                broken.append(f"{name}: {assertion.get('AssertDescription', 'assertion failed')}")
    if broken:
        raise ValueError("template rule(s) violated: " + "; ".join(broken))


@dataclass(frozen=True)
class DeploymentSettings:
    """What a deployment of the template does, with parameter defaults or the given overrides."""

    batch_size: int
    batching_window_s: int
    maximum_concurrency: int
    max_receive_count: int
    function_timeout_s: int
    memory_mb: int
    visibility_timeout_s: int
    dlq_retention_s: int
    handler: str
    code_uri: str
    runtime: str
    architectures: tuple[str, ...]
    function_response_types: tuple[str, ...]
    environment: dict[str, str]
    parameters: dict[str, str]


def function_properties(template: Mapping[str, Any], evaluator: Evaluator, logical_id: str) -> dict[str, Any]:
    """A SAM function's properties with Globals.Function merged in the way SAM merges them."""
    globals_ = ((template.get("Globals") or {}).get("Function")) or {}
    own = template["Resources"][logical_id]["Properties"]
    merged: dict[str, Any] = {**evaluator.resolve(globals_), **evaluator.resolve(own)}
    environment = {
        **((evaluator.resolve(globals_.get("Environment")) or {}).get("Variables") or {}),
        **((evaluator.resolve(own.get("Environment")) or {}).get("Variables") or {}),
    }
    merged["Environment"] = {"Variables": environment}
    return merged


def sqs_event(properties: Mapping[str, Any]) -> dict[str, Any]:
    """The single SQS event source of a function."""
    events = [e["Properties"] for e in (properties.get("Events") or {}).values() if e.get("Type") == "SQS"]
    if len(events) != 1:
        raise ValueError(f"expected exactly one SQS event source, found {len(events)}")
    event: dict[str, Any] = events[0]
    return event


def deployment_settings(
    path: Path = DEFAULT_TEMPLATE, overrides: Mapping[str, str] | None = None
) -> DeploymentSettings:
    """Resolve the status writer's deployment settings from the template (defaults, then overrides)."""
    template = load_template(path)
    evaluator = Evaluator(template, parameter_values(template, overrides))
    check_rules(template, evaluator)
    function = function_properties(template, evaluator, FUNCTION_ID)
    event = sqs_event(function)
    queue = evaluator.resolve(template["Resources"][QUEUE_ID]["Properties"])
    dead_letter_queue = evaluator.resolve(template["Resources"][DEAD_LETTER_QUEUE_ID]["Properties"])
    return DeploymentSettings(
        batch_size=int(event["BatchSize"]),
        batching_window_s=int(event.get("MaximumBatchingWindowInSeconds", 0)),
        maximum_concurrency=int(event["ScalingConfig"]["MaximumConcurrency"]),
        max_receive_count=int(queue["RedrivePolicy"]["maxReceiveCount"]),
        function_timeout_s=int(function["Timeout"]),
        memory_mb=int(function["MemorySize"]),
        visibility_timeout_s=int(queue["VisibilityTimeout"]),
        dlq_retention_s=int(dead_letter_queue["MessageRetentionPeriod"]),
        handler=str(function["Handler"]),
        code_uri=str(function["CodeUri"]),
        runtime=str(function["Runtime"]),
        architectures=tuple(function.get("Architectures") or ("x86_64",)),
        function_response_types=tuple(event.get("FunctionResponseTypes") or ()),
        environment={
            name: _as_parameter_string(value) for name, value in function["Environment"]["Variables"].items()
        },
        parameters=dict(evaluator.parameters),
    )
