"""The control routes from another process: what `make chaos` and `make run` call to act in HubSpot
over loopback HTTP, as a test drives a running emulator (docs/emulator.md, Control API). Standard
library only, like the rest of the emulator."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any

from local.hubspot_emulator.control import PORTAL_PARAMETER, PREFIX


def control_call(
    base_url: str,
    path: str,
    body: Mapping[str, Any],
    timeout_s: float = 10.0,
    *,
    portal: int | None = None,
) -> Any:
    """POST `body` to `/_emulator/<path>` (of `portal`, default the first; docs/emulator.md, Several
    portals) and return the JSON answer; ValueError for a refused one."""
    query = "" if portal is None else f"?{PORTAL_PARAMETER}={int(portal)}"
    request = urllib.request.Request(  # noqa: S310 - the caller's own emulator URL (loopback)
        base_url.rstrip("/") + PREFIX + path + query,
        data=json.dumps(dict(body)).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as answer:  # noqa: S310
            return json.loads(answer.read())
    except urllib.error.HTTPError as err:
        detail = err.read().decode("utf-8", "replace")
        raise ValueError(f"{PREFIX}{path}: {err.code} {detail[:300]}") from None


def act(
    base_url: str, change: Mapping[str, Any], timeout_s: float = 10.0, *, portal: int | None = None
) -> dict[str, Any]:
    """A HubSpot-side change through `POST /_emulator/actor` (local.hubspot_emulator.actors) in
    `portal` (default the first): its `{"results": [...], "wide_statuses": [...]}` answer."""
    answer: dict[str, Any] = control_call(base_url, "actor", change, timeout_s, portal=portal)
    return answer
