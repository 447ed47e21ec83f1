"""`portalId` in the messages of a multi-portal workload (README, Message contract): reading it off a
body for the oracle, and putting the contact's portal into each generated body."""

from __future__ import annotations

import json
import random
from typing import Any

PORTAL_FIELD = "portalId"
NO_PORTAL: Any = object()  # the body names no portal


def split_portal(body: str) -> tuple[str, Any]:
    """The body without its top-level `portalId`, and that value (`NO_PORTAL` when there is none, or
    the body is no JSON object). A body that names a field twice is handed back whole (with its
    `portalId`): re-encoding it would drop the repeat that makes it INVALID_MESSAGE (README, Message
    contract), and the whole body is refused just the same."""
    repeated = False

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        nonlocal repeated
        repeated = repeated or len({name for name, _ in items}) != len(items)
        return dict(items)

    try:
        data = json.loads(body, object_pairs_hook=pairs)
    except ValueError:
        return body, NO_PORTAL
    if not isinstance(data, dict) or PORTAL_FIELD not in data:
        return body, NO_PORTAL
    value = data.pop(PORTAL_FIELD)
    return (body if repeated else json.dumps(data)), value


class PortalTagger:
    """Puts the current address's `portalId` into generated bodies, leaving it out of `missing_ratio`
    of them. Only for more than one portal, and on its own random stream, so a single-portal workload
    is exactly what it was."""

    def __init__(self, rng: random.Random, portals: tuple[int, ...], missing_ratio: float) -> None:
        self.rng = rng
        self.portals = portals if len(portals) > 1 else ()
        self.missing_ratio = missing_ratio
        self.current: int | None = None

    def address(self, index: int) -> None:
        """The address `index` is next: it belongs to portal `index` mod N."""
        self.current = self.portals[index % len(self.portals)] if self.portals else None

    def tag(self, body: str) -> str:
        """`body` with the current portal's id (an integer, a fifth of the time a string of digits)."""
        if self.current is None or self.rng.random() < self.missing_ratio:
            return body
        try:
            data = json.loads(body)
        except ValueError:
            return body  # a truncated body stays truncated (and invalid)
        spelled: int | str = str(self.current) if self.rng.random() < 0.2 else self.current
        return json.dumps({PORTAL_FIELD: spelled, **data})
