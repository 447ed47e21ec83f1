"""Which portal each update is for (README: Many portals). Pure: no I/O.

A deployment whose ``HUBSPOT_SECRET_ID`` holds ``{portalId}`` serves several HubSpot accounts: each
message names its portal (``portalId``, else ``HUBSPOT_DEFAULT_PORTAL_ID``) and is sent with that
portal's credential only. A single-portal deployment serves the messages without ``portalId``, and
those naming its own portal when ``HUBSPOT_DEFAULT_PORTAL_ID`` says which that is. A message whose
portal cannot be served is refused (``INVALID_MESSAGE``): it is never written to another portal.
"""

from __future__ import annotations

from collections.abc import Iterable

from status_writer.config import PORTAL_PLACEHOLDER, Settings
from status_writer.entries import Update

Portal = str | None  # None: the single-portal deployment's one portal


def by_portal(
    updates: Iterable[Update], settings: Settings
) -> tuple[dict[Portal, list[Update]], dict[str, str]]:
    """The updates per portal, and the refused ones (message id -> why)."""
    groups: dict[Portal, list[Update]] = {}
    refused: dict[str, str] = {}
    for update in updates:
        portal, problem = portal_of(update, settings)
        if problem is not None:
            refused[update.message.message_id] = problem
        else:
            groups.setdefault(portal, []).append(update)
    return groups, refused


def portal_of(update: Update, settings: Settings) -> tuple[Portal, str | None]:
    """The update's portal, or why it has none this deployment can serve."""
    named, default = update.portal_id, settings.default_portal_id
    if settings.multi_portal:
        if named is None and default is None:
            return None, "portalId is required: this deployment serves several portals"
        return named or default, None
    if named is not None and default is not None and named != default:
        return None, f"portalId {named} is not the portal this deployment serves ({default})"
    return None, None


def secret_name(pattern: str, portal: str) -> str:
    """The portal's secret: ``pattern`` with its ``{portalId}`` replaced (the id is digits only)."""
    return pattern.replace(PORTAL_PLACEHOLDER, portal)
