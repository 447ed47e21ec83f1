"""HubSpot's Communication Preferences paths for one API version, and the routes the function writes
and reads through. Pure: no I/O.

HubSpot publishes date-based API versions (a new one every March and September); ``v4`` is the older
name of the same contract. Every path the function calls comes from ``ApiPaths`` (README: Configuration,
``HUBSPOT_API_VERSION``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import quote

from status_writer.model import StatusUpdate, UnsubscribeAll

DEFAULT_API_VERSION = "2026-03"
API_VERSIONS: tuple[str, ...] = ("2026-03", "2026-09", "v4")
# auto: batch routes until HubSpot answers 403 MISSING_SCOPES, then per contact (README: Outcomes).
BATCH_MODES: tuple[str, ...] = ("auto", "batch", "per-contact")


class Route(StrEnum):
    """A kind of call; each has a batch endpoint and a per-contact twin, with separate scopes."""

    WRITE = "write"
    UNSUBSCRIBE_ALL = "unsubscribe-all"
    READ = "read"  # the freshness check's reads of statuses and wide opt-outs


# What HubSpot requires for each batch route (the 403's own body is the authority; this names the
# scope when the body cannot be read).
BATCH_SCOPES: dict[Route, str] = {
    Route.WRITE: "communication_preferences.statuses.batch.write",
    Route.UNSUBSCRIBE_ALL: "communication_preferences.statuses.batch.write",
    Route.READ: "communication_preferences.statuses.batch.read",
}


@dataclass(frozen=True, slots=True)
class ApiPaths:
    """The paths of one API version (``/communication-preferences/{version}/...``)."""

    version: str = DEFAULT_API_VERSION

    def __post_init__(self) -> None:
        if self.version not in API_VERSIONS:
            raise ValueError(
                f"unknown HubSpot API version {self.version!r}; allowed: {', '.join(API_VERSIONS)}"
            )

    @property
    def prefix(self) -> str:
        return f"/communication-preferences/{self.version}"

    @property
    def batch_write(self) -> str:
        return f"{self.prefix}/statuses/batch/write"

    @property
    def batch_unsubscribe_all(self) -> str:
        return f"{self.prefix}/statuses/batch/unsubscribe-all"

    @property
    def batch_read(self) -> str:
        return f"{self.prefix}/statuses/batch/read"

    @property
    def batch_unsubscribe_all_read(self) -> str:
        return f"{self.prefix}/statuses/batch/unsubscribe-all/read"

    @property
    def definitions(self) -> str:
        return f"{self.prefix}/definitions"

    def contact_status(self, email: str) -> str:
        """``POST|GET …/statuses/{subscriberIdString}``; the address is percent-encoded (``+``, ``/``)."""
        return f"{self.prefix}/statuses/{_segment(email)}"

    def contact_unsubscribe_all(self, email: str) -> str:
        """``POST|GET …/statuses/{subscriberIdString}/unsubscribe-all``."""
        return f"{self.contact_status(email)}/unsubscribe-all"


def route_of(items: Sequence[StatusUpdate | UnsubscribeAll]) -> Route:
    """The route a chunk of one kind of update goes through."""
    return Route.UNSUBSCRIBE_ALL if items and isinstance(items[0], UnsubscribeAll) else Route.WRITE


def _segment(email: str) -> str:
    return quote(email, safe="@")
