"""config: Settings.from_environment defaults, validation, and the list of variables it reads."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import pytest
from status_writer.config import (
    DEFAULT_API_BASE_URL,
    ENVIRONMENT_VARIABLES,
    MAX_BATCH_LIMIT,
    ConfigurationError,
    Settings,
)

REQUIRED = {"HUBSPOT_SECRET_ID": "hubspot/token"}


def settings(**values: str) -> Settings:
    return Settings.from_environment({**REQUIRED, **values})


def problem(**values: str) -> str:
    with pytest.raises(ConfigurationError) as raised:
        Settings.from_environment({**REQUIRED, **values})
    return str(raised.value)


class RecordingEnvironment(Mapping[str, str]):
    """A mapping that remembers every key looked up, however it is looked up."""

    def __init__(self, values: dict[str, str]) -> None:
        self._values = values
        self.read: set[str] = set()

    def __getitem__(self, key: str) -> str:
        self.read.add(key)
        return self._values[key]

    def get(self, key: str, default: object = None) -> object:  # type: ignore[override]
        self.read.add(key)
        return self._values.get(key, default)

    def __contains__(self, key: object) -> bool:
        if isinstance(key, str):
            self.read.add(key)
        return key in self._values

    def __iter__(self) -> Iterator[str]:
        raise AssertionError("from_environment must not scan the whole environment")

    def __len__(self) -> int:
        return len(self._values)


def test_defaults_with_only_the_secret_id() -> None:
    # GIVEN only the required variable WHEN read THEN every other setting takes its default
    result = Settings.from_environment(dict(REQUIRED))
    assert result == Settings(
        secret_id="hubspot/token",
        api_base_url=DEFAULT_API_BASE_URL,
        batch_limit=MAX_BATCH_LIMIT,
        max_in_flight=4,
        connect_timeout_s=3.0,
        read_timeout_s=10.0,
        dead_letter_queue_url=None,
        backoff_base_s=30,
        backoff_max_s=900,
    )
    assert result.call_budget_ms == 13_000


def test_blank_values_count_as_unset() -> None:
    result = settings(HUBSPOT_BATCH_LIMIT="  ", HUBSPOT_API_BASE_URL="", DEAD_LETTER_QUEUE_URL=" ")
    assert result.batch_limit == MAX_BATCH_LIMIT
    assert result.api_base_url == DEFAULT_API_BASE_URL
    assert result.dead_letter_queue_url is None
    assert result.max_receive_count is None  # unknown: SQS's redrive alone ends the last receive


def test_every_setting_is_read_from_its_variable() -> None:
    result = settings(
        HUBSPOT_API_BASE_URL="https://api.example.test/hubspot/",
        HUBSPOT_BATCH_LIMIT=" 25 ",
        HUBSPOT_MAX_IN_FLIGHT="8",
        HUBSPOT_CONNECT_TIMEOUT_SECONDS="1.5",
        HUBSPOT_READ_TIMEOUT_SECONDS="20",
        DEAD_LETTER_QUEUE_URL="https://sqs.us-east-1.amazonaws.com/123456789012/dlq",
        RETRY_BACKOFF_BASE_SECONDS="5",
        RETRY_BACKOFF_MAX_SECONDS="600",
        MAX_RECEIVE_COUNT="10",
    )
    assert result.max_receive_count == 10
    assert result.api_base_url == "https://api.example.test/hubspot"  # trailing slash dropped
    assert result.batch_limit == 25
    assert result.max_in_flight == 8
    assert result.connect_timeout_s == 1.5
    assert result.read_timeout_s == 20.0
    assert result.dead_letter_queue_url == "https://sqs.us-east-1.amazonaws.com/123456789012/dlq"
    assert result.backoff_base_s == 5
    assert result.backoff_max_s == 600
    assert result.call_budget_ms == 21_500


@pytest.mark.parametrize("value", ["", "   "])
def test_missing_secret_id_is_reported(value: str) -> None:
    with pytest.raises(ConfigurationError, match="HUBSPOT_SECRET_ID is required"):
        Settings.from_environment({"HUBSPOT_SECRET_ID": value})
    with pytest.raises(ConfigurationError, match="HUBSPOT_SECRET_ID is required"):
        Settings.from_environment({})


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("HUBSPOT_BATCH_LIMIT", "0", "HUBSPOT_BATCH_LIMIT=0 must be between 1 and 100"),
        ("HUBSPOT_BATCH_LIMIT", "101", "HUBSPOT_BATCH_LIMIT=101 must be between 1 and 100"),
        ("HUBSPOT_BATCH_LIMIT", "ten", "HUBSPOT_BATCH_LIMIT='ten' is not an integer"),
        ("HUBSPOT_BATCH_LIMIT", "50.0", "HUBSPOT_BATCH_LIMIT='50.0' is not an integer"),
        ("HUBSPOT_MAX_IN_FLIGHT", "0", "HUBSPOT_MAX_IN_FLIGHT=0 must be between 1 and 64"),
        ("HUBSPOT_MAX_IN_FLIGHT", "65", "HUBSPOT_MAX_IN_FLIGHT=65 must be between 1 and 64"),
        (
            "HUBSPOT_CONNECT_TIMEOUT_SECONDS",
            "0",
            "HUBSPOT_CONNECT_TIMEOUT_SECONDS=0 must be between 0.1 and 30",
        ),
        ("HUBSPOT_CONNECT_TIMEOUT_SECONDS", "31", "must be between 0.1 and 30"),
        ("HUBSPOT_CONNECT_TIMEOUT_SECONDS", "nan", "must be between 0.1 and 30"),
        ("HUBSPOT_CONNECT_TIMEOUT_SECONDS", "fast", "HUBSPOT_CONNECT_TIMEOUT_SECONDS='fast' is not a number"),
        (
            "HUBSPOT_READ_TIMEOUT_SECONDS",
            "121",
            "HUBSPOT_READ_TIMEOUT_SECONDS=121 must be between 0.1 and 120",
        ),
        ("HUBSPOT_READ_TIMEOUT_SECONDS", "inf", "must be between 0.1 and 120"),
        ("RETRY_BACKOFF_BASE_SECONDS", "-1", "RETRY_BACKOFF_BASE_SECONDS=-1 must be between 0 and 43200"),
        ("RETRY_BACKOFF_MAX_SECONDS", "43201", "RETRY_BACKOFF_MAX_SECONDS=43201 must be between 0 and 43200"),
        ("RETRY_BACKOFF_MAX_SECONDS", "1h", "RETRY_BACKOFF_MAX_SECONDS='1h' is not an integer"),
        ("MAX_RECEIVE_COUNT", "1001", "MAX_RECEIVE_COUNT=1001 must be between 0 and 1000"),
        ("MAX_RECEIVE_COUNT", "-1", "MAX_RECEIVE_COUNT=-1 must be between 0 and 1000"),
        ("DEAD_LETTER_QUEUE_URL", "my-dlq", "DEAD_LETTER_QUEUE_URL='my-dlq' is not a queue URL"),
        ("DEAD_LETTER_QUEUE_URL", "arn:aws:sqs:us-east-1:1:dlq", "is not a queue URL"),
    ],
)
def test_each_invalid_value_gets_a_clear_message(name: str, value: str, message: str) -> None:
    reason = problem(**{name: value})
    assert reason.startswith("invalid configuration: ")
    assert message in reason


def test_bounds_themselves_are_valid() -> None:
    low = settings(HUBSPOT_BATCH_LIMIT="1", HUBSPOT_MAX_IN_FLIGHT="1", HUBSPOT_CONNECT_TIMEOUT_SECONDS="0.1")
    assert (low.batch_limit, low.max_in_flight, low.connect_timeout_s) == (1, 1, 0.1)
    high = settings(
        HUBSPOT_BATCH_LIMIT="100",
        HUBSPOT_MAX_IN_FLIGHT="64",
        RETRY_BACKOFF_BASE_SECONDS="43200",
        RETRY_BACKOFF_MAX_SECONDS="43200",
    )
    assert (high.batch_limit, high.max_in_flight, high.backoff_base_s) == (100, 64, 43_200)


def test_backoff_base_above_max_is_reported() -> None:
    assert "RETRY_BACKOFF_BASE_SECONDS must not exceed RETRY_BACKOFF_MAX_SECONDS" in problem(
        RETRY_BACKOFF_BASE_SECONDS="600", RETRY_BACKOFF_MAX_SECONDS="60"
    )
    assert settings(RETRY_BACKOFF_BASE_SECONDS="60", RETRY_BACKOFF_MAX_SECONDS="60").backoff_max_s == 60


def test_all_problems_are_reported_at_once() -> None:
    # GIVEN five things wrong
    with pytest.raises(ConfigurationError) as raised:
        Settings.from_environment(
            {
                "HUBSPOT_BATCH_LIMIT": "500",
                "HUBSPOT_MAX_IN_FLIGHT": "many",
                "HUBSPOT_API_BASE_URL": "http://api.hubapi.com",
                "DEAD_LETTER_QUEUE_URL": "dlq",
            }
        )
    # WHEN read THEN one error names all of them
    reason = str(raised.value)
    for name in (
        "HUBSPOT_SECRET_ID",
        "HUBSPOT_BATCH_LIMIT",
        "HUBSPOT_MAX_IN_FLIGHT",
        "HUBSPOT_API_BASE_URL",
        "DEAD_LETTER_QUEUE_URL",
    ):
        assert name in reason
    assert reason.count("; ") == 4


def test_configuration_error_is_a_value_error() -> None:
    assert issubclass(ConfigurationError, ValueError)


# --- base URL ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "https://api.hubapi.com",
        "HTTPS://API.HUBAPI.COM",
        "https://127.0.0.1:8443",
        "http://127.0.0.1:8080",
        "http://127.0.0.2",
        "http://[::1]:8080",
        "http://localhost:3000",
        "http://LOCALHOST",
    ],
)
def test_https_or_loopback_http_base_urls_are_accepted(url: str) -> None:
    assert settings(HUBSPOT_API_BASE_URL=url).api_base_url == url


@pytest.mark.parametrize(
    "url",
    [
        "http://api.hubapi.com",
        "http://10.0.0.1",
        "http://0.0.0.0:8080",
        "http://localhost.example.com",
        "http://127.0.0.1.example.com",
        "http://localhost@evil.example.com",
        "http://[::ffff:8.8.8.8]",
    ],
)
def test_plain_http_to_a_non_loopback_host_is_refused(url: str) -> None:
    assert "must use https (plain http is allowed only for loopback hosts)" in problem(
        HUBSPOT_API_BASE_URL=url
    )


@pytest.mark.parametrize(
    "url",
    ["ftp://api.hubapi.com", "api.hubapi.com", "https://", "https:///path", "file:///etc/passwd", "//x"],
)
def test_non_http_base_urls_are_refused(url: str) -> None:
    assert "is not an http(s) URL" in problem(HUBSPOT_API_BASE_URL=url)


@pytest.mark.parametrize("url", ["http://[::1", "https://[not-an-ip]", "https://api.hubapi.com:99999"])
def test_unparseable_base_urls_are_reported_not_raised(url: str) -> None:
    # GIVEN a URL urllib cannot split (or whose port is out of range) and another problem
    with pytest.raises(ConfigurationError) as raised:
        Settings.from_environment({"HUBSPOT_API_BASE_URL": url})
    # THEN both are reported together as a ConfigurationError
    assert "HUBSPOT_API_BASE_URL" in str(raised.value)
    assert "HUBSPOT_SECRET_ID" in str(raised.value)


# --- what is read -----------------------------------------------------------------------------------


def test_environment_variables_lists_exactly_what_from_environment_reads() -> None:
    # GIVEN an environment that records every lookup
    environment = RecordingEnvironment(dict(REQUIRED))
    # WHEN settings are read
    Settings.from_environment(environment)
    # THEN the keys looked up are exactly the documented list (no more, no fewer)
    assert environment.read == set(ENVIRONMENT_VARIABLES)
    assert len(ENVIRONMENT_VARIABLES) == len(set(ENVIRONMENT_VARIABLES))


def test_environment_variables_read_even_when_everything_is_wrong() -> None:
    environment = RecordingEnvironment({name: "?" for name in ENVIRONMENT_VARIABLES})
    with pytest.raises(ConfigurationError):
        Settings.from_environment(environment)
    assert environment.read == set(ENVIRONMENT_VARIABLES)


def test_process_environment_is_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENVIRONMENT_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HUBSPOT_SECRET_ID", "from-os-environ")
    monkeypatch.setenv("HUBSPOT_BATCH_LIMIT", "7")
    result = Settings.from_environment()
    assert (result.secret_id, result.batch_limit) == ("from-os-environ", 7)


@pytest.mark.parametrize(
    "url",
    ["https://user:pass@api.hubapi.com", "https://token@api.hubapi.com/v1", "http://me:x@127.0.0.1:8080"],
)
def test_a_base_url_with_userinfo_is_refused(url: str) -> None:
    # GIVEN credentials in the URL (httpx would send Basic auth instead of the Bearer token) THEN refused
    reason = problem(HUBSPOT_API_BASE_URL=url)
    assert "must not hold a user name or password" in reason
    assert "pass" not in reason.replace("password", "")  # the URL's secret part is not echoed


@pytest.mark.parametrize(
    "url",
    [
        "https://api.hubapi.com?x=1",
        "https://api.hubapi.com/prefix?x=1",
        "https://api.hubapi.com/#x",
        "https://api.hubapi.com?",
    ],
)
def test_a_base_url_with_a_query_or_fragment_is_refused(url: str) -> None:
    assert "must not have a query or fragment" in problem(HUBSPOT_API_BASE_URL=url)


def test_a_base_url_with_a_path_prefix_is_accepted() -> None:
    assert settings(HUBSPOT_API_BASE_URL="https://proxy.example.test/hubspot").api_base_url.endswith(
        "/hubspot"
    )
