"""Shared fixtures: moto server for SQS and Secrets Manager, reached by real boto3 clients through the
standard AWS_ENDPOINT_URL* variables, and a guard that keeps every AWS call on loopback."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator

import pytest

from tests.background import BackgroundRun, marked

# Before anything builds a boto3 client: no test may reach a real AWS endpoint. Tests that need AWS
# point these at moto; a stray client lands on a closed loopback port instead of the internet.
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ["AWS_ENDPOINT_URL"] = "http://127.0.0.1:9"
os.environ.pop("AWS_PROFILE", None)
# Powertools reads these when the function's logger and metrics are created.
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "hubspot-subscription-sync")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "HubSpotSubscriptionSync")


_BACKGROUND: dict[str, BackgroundRun] = {}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "background(argv, timeout): the test's subprocess starts when collection ends (tests/background.py)",
    )


def _xdist_worker() -> bool:
    return "PYTEST_XDIST_WORKER" in os.environ


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """In one process, background runs are checked last, so everything else runs while they wait.
    Under pytest-xdist (`make test`) each worker would start every run (each collects every test), so
    none is started early: the files holding them go first and their runs first, on whichever
    worker takes them, while the other workers go through the rest of the suite."""
    if _xdist_worker():
        files = {item.path for item in items if marked(item) is not None}
        items.sort(key=lambda item: (item.path not in files, marked(item) is None))
    else:
        items.sort(key=lambda item: marked(item) is not None)


def pytest_collection_finish(session: pytest.Session) -> None:
    if session.config.option.collectonly or _xdist_worker():
        return
    for item in session.items:
        if (mark := marked(item)) is not None:
            _BACKGROUND[item.nodeid] = BackgroundRun.for_mark(mark)


def pytest_sessionfinish() -> None:
    for run in _BACKGROUND.values():
        run.stop()


@pytest.fixture
def background_run(request: pytest.FixtureRequest) -> subprocess.CompletedProcess[str]:
    """The finished output of this test's background subprocess (started when collection ended)."""
    mark = marked(request.node)
    assert mark is not None, "background_run needs @pytest.mark.background(argv)"
    run = _BACKGROUND.pop(request.node.nodeid, None) or BackgroundRun.for_mark(mark)
    try:
        return run.finish()
    finally:
        run.stop()


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """A moto server on a free loopback port for the whole session: the project's one launcher
    (local.aws.moto) with its documented patches, as `make run` and `make bench` run it."""
    from local.aws.moto import MotoServer

    with MotoServer() as server:
        yield server.endpoint


@pytest.fixture
def aws(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Point every boto3 client at moto (the standard variables), with moto's state reset afterwards."""
    import httpx

    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SQS", "AWS_ENDPOINT_URL_SECRETS_MANAGER"):
        monkeypatch.setenv(name, moto_endpoint)
    yield moto_endpoint
    httpx.post(f"{moto_endpoint}/moto-api/reset", timeout=10)
