"""The fault schedule: windows of HubSpot faults, hostile answers, a portal losing its batch scopes, a
revoked and rotated token and a DLQ outage, cycled until stopped, with background faults always on."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from local.aws.provision import Provisioned
from local.aws.queues import DeadLetters, read_dead_letters
from local.chaos.cli import HANG_S
from local.chaos.hostile import HostileFaults
from local.chaos.injection import ChaosEnvironment, InjectionCounts
from local.chaos.portals import Credential, emulators, tokens_used

SCOPE_LOSS = "batch scopes lost (per-contact mode)"
SCOPE_LOSS_POLL_S = 0.05


@dataclass(frozen=True)
class Window:
    """One fault window of the cycle: starts at `at` (fraction of the cycle), lasts `length` of it.
    `faults` go to the emulator; `hostile` kinds hit the run's --hostile-rate share of calls in the relay."""

    name: str
    at: float
    length: float
    faults: dict[str, Any] = field(default_factory=dict)
    hostile: tuple[str, ...] = ()


WINDOWS = (
    Window("429 burst (TEN_SECONDLY)", 0.04, 0.06, {"throttle_for_s": 1e9}),
    Window("hostile 2xx bodies", 0.10, 0.04, hostile=("empty_200", "null_200", "truncated_200")),
    Window("hang past read timeout", 0.14, 0.04, {"script": ("hang",) * 6, "hang_s": HANG_S}),
    Window("hostile shapes", 0.18, 0.04, hostile=("list_207", "no_status_200", "wrong_content_type")),
    Window("whole-batch 400", 0.22, 0.08, {"whole_batch_400": True}),
    Window("hostile proxy pages", 0.30, 0.04, hostile=("html_400", "html_413", "html_200", "redirect")),
    Window("status PROCESSING", 0.34, 0.05, {"processing": True}),
    Window("hostile slow and broken", 0.39, 0.05, hostile=("trickle", "reset", "hang", "huge_200")),
    Window("nameless error context", 0.44, 0.08, {"nameless_context": True}),
    # The portal loses its batch scopes (403 MISSING_SCOPES from the real scope check): environments go
    # per contact; at the end the scopes come back and the environments are recycled (see _close).
    Window(SCOPE_LOSS, 0.54, 0.08),
    Window("429 DAILY", 0.66, 0.05, {"daily_exhausted": True}),
    Window("401 token revoked", 0.76, 0.04, {}),  # revoke now, rotate the secret at the end
    Window("DLQ outage", 0.86, 0.08, {}),
)


class Schedule:
    """Cycles through WINDOWS, with the background faults always on, until stopped. Stopping restores
    everything (baseline faults off, DLQ back, a live token in the secret). With several portals
    (`credentials`, one per portal) every window hits every portal: each its faults, each its token
    revoked and rotated into its own secret, each its batch scopes lost."""

    def __init__(
        self,
        *,
        credentials: Sequence[Credential],
        sqs: Any,
        secrets: Any,
        provisioned: Provisioned,
        baseline: Any,
        cycle_s: float,
        counts: InjectionCounts,
        archive: DeadLetters,
        dlq_outage: bool,
        environments: Sequence[ChaosEnvironment],
        hostile: HostileFaults,
        hostile_rate: float,
    ) -> None:
        self.credentials = credentials
        self.emulators = emulators(credentials)
        self.sqs = sqs
        self.secrets = secrets
        self.provisioned = provisioned
        self.baseline = baseline
        self.cycle_s = cycle_s
        self.counts = counts
        self.archive = archive
        self.dlq_outage = dlq_outage
        self.environments = environments
        self.hostile = hostile
        self.hostile_rate = hostile_rate
        self._scopes_lost = False
        self._forbidden_at: dict[int, int] = {}  # per credential: its portal's 403s when the scopes went
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="chaos-schedule")
        self._dlq_down = False
        self._dlq_attributes: dict[str, str] = {}
        self.errors: list[str] = []
        # (time.time()) from the DLQ's last drain to its deletion: a dead-letter send landing in there
        # is destroyed with the queue, by the harness, not lost by the function
        self.destroy_windows: list[tuple[float, float]] = []
        # (time.time()) from the DLQ's deletion to its re-creation: a dead-letter send then is refused
        self.outage_windows: list[tuple[float, float]] = []
        self._down_at = 0.0  # time.time() of the DLQ's deletion

    @property
    def tokens_used(self) -> list[str]:
        """Every token any portal had during the run (invariant 4 looks for each in the logs)."""
        return tokens_used(self.credentials)

    def _set_faults(self, faults: Any) -> None:
        for emulator in self.emulators:
            emulator.set_faults(faults)

    def start(self) -> None:
        self._set_faults(self.baseline)
        for env in self.environments:
            env.active.set()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30.0)
        for env in self.environments:
            env.active.clear()
        from local.hubspot_emulator import Faults

        self._set_faults(Faults())
        self.hostile.clear()
        if self._scopes_lost:
            self._scopes_back()
        if self._dlq_down:
            self._dlq_up()
        for credential in self.credentials:
            credential.ensure_live(self.secrets, self.counts)

    def _run(self) -> None:
        start = time.monotonic()
        cycle = 0
        while not self._stop.is_set():
            for index, window in enumerate(WINDOWS):
                begin = start + (cycle + window.at) * self.cycle_s
                after = WINDOWS[index + 1].at if index + 1 < len(WINDOWS) else 1.0 + WINDOWS[0].at
                if not self._sleep_until(begin):
                    return
                try:
                    self._open(window)
                    end = begin + window.length * self.cycle_s
                    self._sleep_until(end)
                    if window.name == SCOPE_LOSS:  # at most until the next window opens
                        self._until_scopes_refused(start + (cycle + after) * self.cycle_s)
                    self._close(window)
                except Exception as exc:  # keep cycling; report it
                    self.errors.append(f"{window.name}: {type(exc).__name__}: {exc}")
                if self._stop.is_set():
                    return
            cycle += 1

    def _until_scopes_refused(self, latest: float) -> None:
        """Keep the batch scopes lost until a portal has refused a call for them (403), at most until
        ``latest``: the small profile's window lasts one second, and a run of make test once met no
        batch call in any of them, so it never went per contact."""
        while time.monotonic() < latest and not self._stop.is_set():
            if any(_forbidden(c.emulator) > self._forbidden_at.get(id(c), 0) for c in self.credentials):
                return
            self._stop.wait(SCOPE_LOSS_POLL_S)

    def _sleep_until(self, moment: float) -> bool:
        return not self._stop.wait(max(0.0, moment - time.monotonic()))

    def _open(self, window: Window) -> None:
        with self.counts.lock:
            self.counts.windows[window.name] += 1
        if window.name.startswith("401"):
            for credential in self.credentials:
                credential.revoke()
            return
        if window.name == "DLQ outage":
            if self.dlq_outage:
                self._dlq_down_now()
            return
        if window.name == SCOPE_LOSS:
            self._scopes_lost = True
            for credential in self.credentials:
                self._forbidden_at[id(credential)] = _forbidden(credential.emulator)
                credential.emulator.set_batch_scopes(credential.token, False)
            return
        if window.hostile:
            self.hostile.set(window.hostile, self.hostile_rate)
            return
        self._set_faults(dataclasses.replace(self.baseline, **window.faults))

    def _close(self, window: Window) -> None:
        if window.name.startswith("401"):
            for credential in self.credentials:
                credential.rotate(self.secrets, self.counts)
            return
        if window.name == "DLQ outage":
            if self._dlq_down:
                self._dlq_up()
            return
        if window.name == SCOPE_LOSS:
            self._scopes_back()
            return
        if window.hostile:
            self.hostile.clear()
            return
        self._set_faults(self.baseline)

    def _scopes_back(self) -> None:
        """The portal regains its batch scopes. The function probes the batch route again after 15
        minutes, longer than a run; Lambda recycles execution environments at any time, so the run
        recycles them here (each at its next invocation) and the rest of the run goes back to batches."""
        for credential in self.credentials:
            credential.emulator.set_batch_scopes(credential.token, True)
        self._scopes_lost = False
        for env in self.environments:
            env.recycle_requested.set()

    def _dlq_down_now(self) -> None:
        url = self.provisioned.dead_letter_queue.url
        attributes = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        self._dlq_attributes = {
            k: v
            for k, v in attributes.items()
            if k
            not in {
                "QueueArn",
                "ApproximateNumberOfMessages",
                "ApproximateNumberOfMessagesNotVisible",
                "ApproximateNumberOfMessagesDelayed",
                "CreatedTimestamp",
                "LastModifiedTimestamp",
                "SqsManagedSseEnabled",
            }
        }
        # Deleting a queue deletes its messages: take them out first and keep them (the harness's
        # record of what was dead-lettered), then delete.
        drained_at = time.time()
        read_dead_letters(self.sqs, url, self.archive, delete=True)
        self.sqs.delete_queue(QueueUrl=url)
        self.destroy_windows.append((drained_at, time.time()))
        self._dlq_down = True
        self._down_at = time.time()
        with self.counts.lock:
            self.counts.dlq_outages += 1

    def _dlq_up(self) -> None:
        name = self.provisioned.dead_letter_queue.name
        self.sqs.create_queue(QueueName=name, Attributes=self._dlq_attributes)
        # moto binds a RedrivePolicy to the queue object, AWS to the ARN: set the same policy again
        # so the source queues redrive into the recreated DLQ, as they would in AWS.
        for queue in self.provisioned.queues:
            policy = self.sqs.get_queue_attributes(QueueUrl=queue.url, AttributeNames=["RedrivePolicy"])
            text = policy["Attributes"].get("RedrivePolicy")
            if text:
                self.sqs.set_queue_attributes(QueueUrl=queue.url, Attributes={"RedrivePolicy": text})
        self._dlq_down = False
        up_at = time.time()
        self.outage_windows.append((self._down_at, up_at))
        with self.counts.lock:
            self.counts.dlq_outage_s += up_at - self._down_at


def _forbidden(emulator: Any) -> int:
    """How many calls the portal has refused with 403 so far."""
    return int(emulator.counters().get("by_status", {}).get("403", 0))
