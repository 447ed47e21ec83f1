"""Faults injected outside HubSpot: a worker SIGKILLed mid-batch, an invocation with almost no time left."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import random
import signal
import threading
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from local.aws.runtime import ExecutionEnvironment, FunctionSpec, InvokeResult
from local.chaos.cli import TINY_BUDGET_S


@dataclass
class InjectionCounts:
    """What the harness itself injected (the emulator counts its own)."""

    kills: int = 0
    kill_after_hubspot_call: int = 0
    tiny_budgets: int = 0
    windows: Counter[str] = field(default_factory=Counter)
    token_rotations: int = 0
    dlq_outages: int = 0
    dlq_outage_s: float = 0.0
    crashed_request_ids: set[str] = field(default_factory=set)
    tiny_request_ids: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)


class ChaosEnvironment(ExecutionEnvironment):
    """An execution environment that, at configured rates, SIGKILLs its worker while an invocation is in
    flight (a Lambda host dying mid-batch), or invokes with a deadline only TINY_BUDGET_S away (an
    invocation that starts with almost no time left). The event source sees what it would see in Lambda:
    a crashed or timed-out invocation, and restarts the environment on the next batch."""

    def __init__(
        self,
        spec: FunctionSpec,
        *,
        counts: InjectionCounts,
        rng: random.Random,
        kill_rate: float,
        tiny_rate: float,
        hubspot_calls: Callable[[], int],
        **kwargs: Any,
    ) -> None:
        super().__init__(spec, **kwargs)
        self._counts = counts
        self._rng = rng
        self._kill_rate = kill_rate
        self._tiny_rate = tiny_rate
        self._hubspot_calls = hubspot_calls
        self._current: str | None = None
        self.active = threading.Event()  # set while the schedule wants injections
        self.recycle_requested = threading.Event()  # set: a fresh worker at the next invocation
        self.recycled = 0

    def invoke(
        self, event: Any = None, request_id: str | None = None, *, source: Mapping[str, Any] | None = None
    ) -> InvokeResult:
        request_id = request_id or os.urandom(8).hex()
        if self.recycle_requested.is_set():
            self.recycle_requested.clear()
            if self.alive:  # Lambda retiring an idle environment: this invocation gets a fresh one,
                self.stop()  # whose Init runs before the invocation (and any kill timer) starts
                self.start()
                self.recycled += 1
        draw = self._rng.random() if self.active.is_set() else 1.0
        if draw < self._tiny_rate:
            original = self.spec
            self.spec = dataclasses.replace(original, timeout_s=TINY_BUDGET_S)
            with self._counts.lock:
                self._counts.tiny_budgets += 1
                self._counts.tiny_request_ids.add(request_id)
            try:
                return super().invoke(event, request_id, source=source)
            finally:
                self.spec = original
        timer = None
        if draw < self._tiny_rate + self._kill_rate:
            timer = threading.Timer(
                self._rng.uniform(0.3, 1.5), self._kill_if_running, args=(request_id, self._hubspot_calls())
            )
            timer.daemon = True
        self._current = request_id
        try:
            if timer is not None:
                timer.start()
            return super().invoke(event, request_id, source=source)
        finally:
            self._current = None
            if timer is not None:
                timer.cancel()

    def _kill_if_running(self, request_id: str, calls_before: int) -> None:
        process = self._process
        if self._current != request_id or process is None or process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
            with self._counts.lock:
                self._counts.kills += 1
                self._counts.crashed_request_ids.add(request_id)
                if self._hubspot_calls() > calls_before:
                    self._counts.kill_after_hubspot_call += 1
