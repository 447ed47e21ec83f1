"""Shared fixtures: moto server for SQS and Secrets Manager, reached by real boto3 clients through the
standard AWS_ENDPOINT_URL* variables, and a guard that keeps every AWS call on loopback."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.background import HANDOFF_KEY, RUNS, BackgroundRun, Handoff

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


_BACKGROUND: dict[str, BackgroundRun] = {}  # one process: started when collection ended
_HANDOFF = pytest.StashKey[Handoff]()
WORKER_NICENESS = 5  # pytest-xdist's controller: the runs it started


def pytest_configure(config: pytest.Config) -> None:
    if _xdist_worker():
        # The background runs are the timing-heavy part (fault windows, time budgets, visibility
        # timeouts): beside two busy workers the small chaos run took 250 s instead of 136 s alone.
        # The workers (and what they start) yield the CPU to it; the suite's own work is the same.
        os.nice(WORKER_NICENESS)
    if _xdist_controller(config):
        config.stash[_HANDOFF] = Handoff(Path(tempfile.mkdtemp(prefix="pytest-background-")))


def _xdist_controller(config: pytest.Config) -> bool:
    return bool(getattr(config.option, "numprocesses", None)) and not _xdist_worker()


def _xdist_worker() -> bool:
    return "PYTEST_XDIST_WORKER" in os.environ


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """pytest-xdist, controller: tell each worker where the background runs report."""
    node.workerinput[HANDOFF_KEY] = str(node.config.stash[_HANDOFF].directory)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_node_collection_finished(node: Any, ids: list[str]) -> None:
    """pytest-xdist, controller: start the runs of the collected tests once (tests/background.py)."""
    if not node.config.option.collectonly:
        node.config.stash[_HANDOFF].start(ids)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Background runs are checked last, so everything else runs while they go on; under pytest-xdist
    the files holding them are scheduled last as well (a file stays on one worker), so no worker
    waits for a run while the other goes through the suite."""
    files = {item.path for item in items if item.nodeid in RUNS}
    items.sort(key=lambda item: (item.path in files, item.nodeid in RUNS))


def pytest_collection_finish(session: pytest.Session) -> None:
    if session.config.option.collectonly or _xdist_worker():
        return
    for item in session.items:
        if item.nodeid in RUNS:
            _BACKGROUND[item.nodeid] = BackgroundRun.for_run(RUNS[item.nodeid])


def pytest_sessionfinish(session: pytest.Session) -> None:
    for run in _BACKGROUND.values():
        run.stop()
    if (handoff := session.config.stash.get(_HANDOFF, None)) is not None:
        handoff.stop()
        shutil.rmtree(handoff.directory, ignore_errors=True)


@pytest.fixture
def background_run(request: pytest.FixtureRequest) -> subprocess.CompletedProcess[str]:
    """The finished output of this test's background run (tests/background.py), started early."""
    nodeid = request.node.nodeid
    assert nodeid in RUNS, f"background_run: add {nodeid} to tests/background.py RUNS"
    directory = getattr(request.config, "workerinput", {}).get(HANDOFF_KEY)
    if directory is not None and (handoff := Handoff(Path(directory))).started(nodeid):
        return handoff.wait(nodeid)
    run = _BACKGROUND.pop(nodeid, None) or BackgroundRun.for_run(RUNS[nodeid])
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
