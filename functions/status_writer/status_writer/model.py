"""The values that flow through the pipeline. Plain data, no I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Outcome(StrEnum):
    """Exactly one of these ends every record of an invocation."""

    APPLIED = "applied"  # HubSpot confirmed the write
    SUPERSEDED = "superseded"  # a newer update for the same key (in the batch, the ledger or HubSpot) won
    DEAD_LETTERED = "dead_lettered"  # can never succeed: sent to the DLQ with a reason, then deleted
    RETRYABLE = "retryable"  # reported in batchItemFailures; SQS delivers it again


class FailureCategory(StrEnum):
    """Why a record did not apply; the DLQ attribute and the log field carry this name."""

    INVALID_MESSAGE = "INVALID_MESSAGE"
    HUBSPOT_REJECTED_ITEM = "HUBSPOT_REJECTED_ITEM"
    HUBSPOT_REJECTED_BATCH = "HUBSPOT_REJECTED_BATCH"
    RATE_LIMITED = "RATE_LIMITED"
    DAILY_LIMIT = "DAILY_LIMIT"
    HUBSPOT_UNAVAILABLE = "HUBSPOT_UNAVAILABLE"
    NETWORK = "NETWORK"
    AUTHENTICATION = "AUTHENTICATION"
    MISSING_SCOPES = "MISSING_SCOPES"
    UNKNOWN_OUTCOME = "UNKNOWN_OUTCOME"
    TIME_BUDGET = "TIME_BUDGET"
    AWAITING_UNSUBSCRIBE_ALL = "AWAITING_UNSUBSCRIBE_ALL"
    LEDGER_UNAVAILABLE = "LEDGER_UNAVAILABLE"
    REPLAY_INCOMPLETE = "REPLAY_INCOMPLETE"
    UNCONFIRMED_CHANGE = "UNCONFIRMED_CHANGE"
    DEAD_LETTER_UNAVAILABLE = "DEAD_LETTER_UNAVAILABLE"
    RECEIVES_EXHAUSTED = "RECEIVES_EXHAUSTED"  # would come back from its queue's last receive
    INTERNAL_ERROR = "INTERNAL_ERROR"


@dataclass(slots=True, unsafe_hash=True)  # not frozen: a frozen __init__ costs 3 us more per message
class Message:
    """What the pipeline keeps of an SQS record: enough to answer SQS and to dead-letter it."""

    message_id: str
    position: int
    body: str
    receipt_handle: str = ""
    sent_timestamp_ms: int = 0
    receive_count: int = 1
    group_id: str | None = None
    source_arn: str = ""
    attributes: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    sqs_id: str | None = None  # SQS's messageId when ``message_id`` was made unique (identity)
    portal_id: str | None = field(
        default=None, compare=False
    )  # its portal, once parsed (README: Many portals)

    @property
    def sqs_message_id(self) -> str:
        """The id SQS knows the record by: what the response reports and the DLQ copy names."""
        return self.message_id if self.sqs_id is None else self.sqs_id


@dataclass(slots=True, unsafe_hash=True)  # not frozen: a frozen __init__ costs 3 us more per message
class StatusUpdate:
    """One validated subscription-status change, ready to become a batch/write input."""

    message: Message
    email: str
    subscription_id: int
    status_state: str
    channel: str = "EMAIL"
    legal_basis: str | None = None
    legal_basis_explanation: str | None = None
    occurred_at_us: int | None = None  # microseconds since the epoch, UTC
    portal_id: str | None = None  # HubSpot's account id; None: the deployment's one portal

    @property
    def key(self) -> tuple[str, int, str]:
        """HubSpot stores one status per (email, subscription, channel); emails compare case-insensitively."""
        return (self.email.lower(), self.subscription_id, self.channel)

    @property
    def subscriber(self) -> tuple[str, str]:
        return (self.email.lower(), self.channel)

    @property
    def recency(self) -> tuple[int, int, int]:
        return recency(self.message, self.occurred_at_us)

    def to_input(self) -> dict[str, Any]:
        """The PublicStatusRequest HubSpot expects (field names are HubSpot's own)."""
        item: dict[str, Any] = {
            "subscriberIdString": self.email,
            "subscriptionId": self.subscription_id,
            "channel": self.channel,
            "statusState": self.status_state,
        }
        if self.legal_basis is not None:
            item["legalBasis"] = self.legal_basis
        if self.legal_basis_explanation is not None:
            item["legalBasisExplanation"] = self.legal_basis_explanation
        return item


@dataclass(frozen=True, slots=True)
class UnsubscribeAll:
    """One validated "opt this contact out of everything" request (portal-wide, or one brand)."""

    message: Message
    email: str
    channel: str = "EMAIL"
    business_unit_id: int | None = None  # None: every brand (portal-wide)
    occurred_at_us: int | None = None
    portal_id: str | None = None

    @property
    def key(self) -> tuple[str, str, int | None]:
        return (self.email.lower(), self.channel, self.business_unit_id)

    @property
    def subscriber(self) -> tuple[str, str]:
        return (self.email.lower(), self.channel)

    @property
    def recency(self) -> tuple[int, int, int]:
        return recency(self.message, self.occurred_at_us)


def recency(message: Message, occurred_at_us: int | None) -> tuple[int, int, int]:
    """Sort key for "newest wins": occurredAt, then SentTimestamp, then position in the batch."""
    sent_us = message.sent_timestamp_ms * 1000
    occurred = occurred_at_us if occurred_at_us is not None else sent_us
    return (occurred, message.sent_timestamp_ms, message.position)


@dataclass(frozen=True, slots=True)
class Rejected:
    """A record that failed local validation: it never reaches HubSpot."""

    message: Message
    reason: str


@dataclass(frozen=True, slots=True)
class Failure:
    """Why an update did not apply, and whether trying again can help."""

    category: FailureCategory
    detail: str
    permanent: bool
    retry_after_s: int | None = None  # a floor for the message's next visibility timeout


@dataclass(frozen=True, slots=True)
class ItemResult:
    """HubSpot's answer for one input: applied when failure is None. ``stamps``: the ``timestamp``s
    HubSpot gave the statuses this input set (µs since the epoch), so the ledger can later tell the
    function's own writes from HubSpot-side changes (README: Outcomes, HubSpot-side changes)."""

    failure: Failure | None = None
    stamps: tuple[int, ...] = ()
    source: str | None = None  # the ``source`` HubSpot gave what it set: the function's own writes' source

    @property
    def applied(self) -> bool:
        return self.failure is None


APPLIED = ItemResult()


# The delivery's own verdicts (deliver.py), beside HubSpot's (outcomes.py).
AWAITING_UNSUBSCRIBE_ALL = Failure(
    FailureCategory.AWAITING_UNSUBSCRIBE_ALL,
    "sent only after the same contact's older unsubscribe-all applies; that did not happen yet",
    permanent=False,
)
LEDGER_UNAVAILABLE = Failure(
    FailureCategory.LEDGER_UNAVAILABLE, "the version ledger could not be read or written", permanent=False
)
REPLAY_INCOMPLETE = Failure(
    FailureCategory.REPLAY_INCOMPLETE,
    "applied, but a crossing update of the same contact could not be re-sent in order yet",
    permanent=False,
)
UNCONFIRMED_CHANGE = Failure(
    FailureCategory.UNCONFIRMED_CHANGE,
    "HubSpot holds a newer change that may be another invocation's write, not recorded yet",
    permanent=False,
)
# Failures after which HubSpot may or may not have applied the call.
UNCERTAIN = frozenset(
    {FailureCategory.UNKNOWN_OUTCOME, FailureCategory.NETWORK, FailureCategory.HUBSPOT_UNAVAILABLE}
)
