"""The bodies a generated workload is made of (local.workload.workload.generate): valid status updates,
unsubscribe-alls, and invalid records of each kind the message contract rules out (README, Message
contract)."""

from __future__ import annotations

import json
import random
from datetime import datetime
from typing import Any

KNOWN_SUBSCRIPTION_IDS = (1001, 1002, 1003)
UNKNOWN_SUBSCRIPTION_ID = 999999
STATUS_STATES = ("SUBSCRIBED", "UNSUBSCRIBED", "NOT_SPECIFIED")
LEGAL_BASES = (
    "CONSENT_WITH_NOTICE",
    "LEGITIMATE_INTEREST_CLIENT",
    "LEGITIMATE_INTEREST_OTHER",
    "LEGITIMATE_INTEREST_PQL",
    "NON_GDPR",
    "PERFORMANCE_OF_CONTRACT",
    "PROCESS_AND_STORE",
)
UNSUBSCRIBE_ALL = "UNSUBSCRIBE_ALL"


def iso(moment: datetime) -> str:
    """ISO-8601 UTC with milliseconds and a `Z`, as the generated `occurredAt`s are spelled."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def update_body(rng: random.Random, email: str, subscription_id: int, moment: datetime) -> dict[str, Any]:
    state = rng.choices(STATUS_STATES, weights=(5, 4, 1))[0]
    body: dict[str, Any] = {
        "subscriberIdString": email,
        "subscriptionId": subscription_id,
        "statusState": state,
        "occurredAt": iso(moment),
    }
    if rng.random() < 0.5:
        body["channel"] = "EMAIL"
    if state == "SUBSCRIBED" and rng.random() < 0.3:
        body["legalBasis"] = rng.choice(LEGAL_BASES)
        body["legalBasisExplanation"] = "Opted in via the preference centre"
    return body


def invalid_body(rng: random.Random, index: int, moment: datetime) -> str:
    good = {
        "subscriberIdString": f"broken{index}@example.com",
        "subscriptionId": KNOWN_SUBSCRIPTION_IDS[index % len(KNOWN_SUBSCRIPTION_IDS)],
        "statusState": "UNSUBSCRIBED",
        "occurredAt": iso(moment),
    }
    kind = index % 5
    if kind == 0:
        return json.dumps({**good, "subscriberIdString": f"not-an-email-{index}"})
    if kind == 1:
        return json.dumps({**good, "favouriteColour": "teal"})
    if kind == 2:
        return json.dumps({**good, "subscriptionId": "one-thousand-and-one"})
    if kind == 3:
        return '{"subscriberIdString": "truncated@example.com", "subscriptionId": 10'
    return json.dumps({**good, "subscriptionId": UNKNOWN_SUBSCRIPTION_ID})


def email_address(rng: random.Random, index: int, domain: str) -> str:
    email = f"user{index:05d}@{domain}"
    return email.capitalize() if rng.random() < 0.05 else email  # keys compare case-insensitively


def unsubscribe_all_body(rng: random.Random, email: str, moment: datetime) -> str:
    body: dict[str, Any] = {"action": UNSUBSCRIBE_ALL, "subscriberIdString": email}
    if rng.random() < 0.5:
        body["channel"] = "EMAIL"
    if rng.random() < 0.5:
        body["businessUnitId"] = 0  # the default brand; absent means every brand
    body["occurredAt"] = iso(moment)
    return json.dumps(body)
