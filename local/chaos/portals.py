"""`make chaos --portals N`: the portals of a chaos run and their credentials (README, Many portals).

One portal (the default) is today's run: the emulator's single portal, the one secret, LOCAL_TOKEN.
With N > 1 the run takes `make run --portals N`'s layout (local.workload.plan.portal_ids, one token and
one secret per portal, docs/emulator.md "Several portals") and adds two faults of one portal each:

- the *revoked* portal has its token revoked for a window of every cycle (its calls answer 401, its
  messages come back as AUTHENTICATION), then a new token goes into HubSpot and into that portal's
  secret, as an operator rotates it (local.chaos.portal_faults);
- the *limited* portal has its own emulator rate limit, a tenth of the others', and a thirtieth of
  their traffic (`PortalLayout.rotation`), as a small portal on a lower tier. The run compresses the
  function's backoff 30 times (1-4 s for the template's 30-900 s) but not HubSpot's 10 s window, so a
  record of a throttled portal comes back 30 times as often, relative to that window, as deployed;
  each comes back with few of its portal's contacts, and the freshness check spends two of the three
  calls each batch of them costs. At an equal share, or a tenth, its backlog outlived the queue's 10
  receives (1,500 and 60 valid messages redriven by SQS); bench figure 8's throttled case measures the
  overload instead.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from local.chaos.cli import LOCAL_TOKEN
from local.chaos.injection import InjectionCounts
from local.workload.plan import portal_ids

REVOKED_INDEX = 1  # the second portal: its token is revoked for a window of every cycle
LIMITED_INDEX = 2  # the third (with two portals, the first): a tenth of the others' rate limit
RATE_DIVISOR = 10
TRAFFIC_DIVISOR = 30  # the limited portal's contacts: one for each other portal's thirty (docstring)


@dataclass
class Credential:
    """One portal's token as the fault schedule handles it: the emulator portal that knows it and the
    secret that holds it. Revoking and rotating hold a lock, as two schedules may touch one portal."""

    portal: int | None  # None: the single portal of a one-portal run
    emulator: Any  # the emulator portal (EmulatorCore) that knows this token
    secret_id: str
    token: str
    seed: int
    used: list[str] = field(default_factory=list)  # every token this portal had, for the leak scan
    live: bool = True
    generation: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        self.used.append(self.token)

    def revoke(self) -> None:
        """The token stops working (401 REVOKED_TOKEN at the next call)."""
        with self.lock:
            self.live = False
            self.emulator.revoke_token(self.token)

    def rotate(self, secrets: Any, counts: InjectionCounts) -> None:
        """A new private-app token in HubSpot, then in the portal's secret (as an operator rotates it)."""
        with self.lock:
            self.generation += 1
            owner = "" if self.portal is None else f"p{self.portal}-"
            token = f"pat-chaos-{self.seed}-{owner}{self.generation}-{os.urandom(6).hex()}"
            self.emulator.add_private_app_token(token)  # with every scope, the batch ones included
            secrets.put_secret_value(SecretId=self.secret_id, SecretString=json.dumps({"accessToken": token}))
            self.token = token
            self.used.append(token)
            self.live = True
        with counts.lock:
            counts.token_rotations += 1

    def ensure_live(self, secrets: Any, counts: InjectionCounts) -> None:
        """Rotate if the token is revoked (the end of a run leaves every portal a working token)."""
        if not self.live:
            self.rotate(secrets, counts)


@dataclass(frozen=True)
class PortalLayout:
    """The portals of a run: their ids and tokens, and which one gets which portal-specific fault."""

    ids: tuple[int, ...] = ()
    tokens: Mapping[int, str] = field(default_factory=dict)

    @classmethod
    def of(cls, count: int) -> PortalLayout:
        ids = tuple(portal_ids(count))
        return cls(ids, {portal: f"{LOCAL_TOKEN}-{portal}" for portal in ids})

    @property
    def revoked(self) -> int | None:
        return self.ids[REVOKED_INDEX % len(self.ids)] if self.ids else None

    @property
    def limited(self) -> int | None:
        return self.ids[LIMITED_INDEX % len(self.ids)] if self.ids else None

    @property
    def rotation(self) -> tuple[int, ...]:
        """The portals as the workload spreads contacts over them, in turn: each other portal
        TRAFFIC_DIVISOR times as often as the limited one (module docstring)."""
        others = tuple(portal for portal in self.ids if portal != self.limited)
        if not others or self.limited is None:
            return self.ids
        return others * TRAFFIC_DIVISOR + (self.limited,)

    @property
    def emulator_tokens(self) -> list[str] | None:
        """`running_emulator(tokens=...)`: LOCAL_TOKEN for one portal; with several, each spec has its own."""
        return None if self.ids else [LOCAL_TOKEN]

    def specs(self, config: Any) -> list[Any]:
        """The emulator's PortalSpecs (none for one portal): each portal its token, the limited one a
        tenth of the rate limit."""
        from local.hubspot_emulator import PortalSpec

        limited = config.replace(rate_limit_max=max(1, config.rate_limit_max // RATE_DIVISOR))
        if not self.ids:
            return []
        return [
            PortalSpec(portal, (token,), limited if portal == self.limited else None)
            for portal, token in self.tokens.items()
        ]

    def credentials(self, emulator: Any, provisioned: Any, seed: int) -> list[Credential]:
        """One Credential per portal (a one-portal run: the emulator itself and the one secret)."""
        if not self.ids:
            return [Credential(None, emulator, provisioned.secret_arn, LOCAL_TOKEN, seed)]
        return [
            Credential(portal, emulator.portal(portal), provisioned.portal_secrets[portal], token, seed)
            for portal, token in self.tokens.items()
        ]

    @staticmethod
    def credential(portal: int | None, credentials: Sequence[Credential]) -> Credential | None:
        """`portal`'s credential (None for none)."""
        return next((c for c in credentials if portal is not None and c.portal == portal), None)

    def describe(self, config: Any) -> str:
        limit = config.rate_limit_max
        return (
            f"portals:  {list(self.ids)}, one secret each; portal {self.revoked}'s token revoked for a "
            f"window of every cycle then rotated; portal {self.limited} rate-limited at "
            f"{max(1, limit // RATE_DIVISOR)} requests / {config.rate_limit_interval_ms // 1000} s "
            f"(the others {limit}) and a thirtieth of the others' contacts each\n"
        )


def emulators(credentials: Sequence[Credential]) -> list[Any]:
    """The emulator portals of a run, first first."""
    return [credential.emulator for credential in credentials]


def tokens_used(credentials: Sequence[Credential]) -> list[str]:
    return [token for credential in credentials for token in credential.used]
