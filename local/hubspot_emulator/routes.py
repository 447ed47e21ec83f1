"""The route table: which handler serves a method and path, which scopes it needs, what body it reads.

`/communication-preferences/{version}/...` resolves to the same routes for every served version (`v4`,
`2026-03`, `2026-09`; `EmulatorConfig.retired_versions` takes some away). An unknown path, or a retired
version's, is a 404 and a known path with the wrong method a 405, both in the `Error` shape.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Literal
from urllib.parse import unquote

from local.hubspot_emulator import api
from local.hubspot_emulator.auth import (
    SCOPE_BATCH_READ,
    SCOPE_BATCH_WRITE,
    SCOPE_READ,
    SCOPE_READ_WRITE,
    SCOPE_WRITE,
)
from local.hubspot_emulator.config import API_VERSIONS
from local.hubspot_emulator.messages import Call, Reply
from local.hubspot_emulator.shapes import ApiError

API_PREFIX = "/communication-preferences/"
VERSIONS = API_VERSIONS
OAUTH_TOKEN_PATH = "/oauth/v1/token"  # noqa: S105 - a URL path, not a secret

BodyKind = Literal["json", "form", "none"]
Scopes = tuple[frozenset[str], ...]

_BATCH_WRITE: Scopes = (frozenset({SCOPE_BATCH_WRITE}),)
_BATCH_READ: Scopes = (frozenset({SCOPE_BATCH_READ}),)
_READ: Scopes = (frozenset({SCOPE_READ}), frozenset({SCOPE_READ_WRITE}))
_WRITE: Scopes = (frozenset({SCOPE_WRITE}), frozenset({SCOPE_READ_WRITE}))
_READ_AND_WRITE: Scopes = (frozenset({SCOPE_READ, SCOPE_WRITE}), frozenset({SCOPE_READ_WRITE}))


@dataclass(frozen=True, slots=True)
class Route:
    """One operation. `name` is version-free and is what counters and the request log report."""

    name: str
    handler: Callable[[Call], Reply] | None
    scopes: Scopes
    body: BodyKind


@dataclass(frozen=True, slots=True)
class Resolved:
    """A matched route, its API version, and its `{subscriberIdString}` path parameter (URL-decoded)."""

    route: Route
    subscriber: str | None = None
    version: str = ""


OAUTH_TOKEN = Route("oauth/v1/token", None, (), "form")

_STATIC: dict[str, dict[str, Route]] = {
    "definitions": {"GET": Route("definitions", api.definitions, _READ, "none")},
    "links/generate": {"POST": Route("links/generate", api.generate_links, _READ_AND_WRITE, "json")},
    "statuses/batch/write": {"POST": Route("statuses/batch/write", api.batch_write, _BATCH_WRITE, "json")},
    "statuses/batch/read": {"POST": Route("statuses/batch/read", api.batch_read, _BATCH_READ, "json")},
    "statuses/batch/unsubscribe-all": {
        "POST": Route("statuses/batch/unsubscribe-all", api.batch_unsubscribe_all, _BATCH_WRITE, "json")
    },
    "statuses/batch/unsubscribe-all/read": {
        "POST": Route(
            "statuses/batch/unsubscribe-all/read", api.batch_unsubscribe_all_read, _BATCH_READ, "json"
        )
    },
}
_CONTACT: dict[str, Route] = {
    "GET": Route("statuses/{subscriberIdString}", api.get_status, _READ, "none"),
    "POST": Route("statuses/{subscriberIdString}", api.post_status, _WRITE, "json"),
}
_CONTACT_UNSUBSCRIBE_ALL: dict[str, Route] = {
    "GET": Route("statuses/{subscriberIdString}/unsubscribe-all", api.get_unsubscribe_all, _READ, "none"),
    "POST": Route("statuses/{subscriberIdString}/unsubscribe-all", api.post_unsubscribe_all, _WRITE, "none"),
}


def resolve(method: str, path: str, served: Collection[str] = VERSIONS) -> Resolved:
    """The route for `method path` in one of the `served` versions, or an `ApiError` 404/405."""
    if path == OAUTH_TOKEN_PATH:
        return Resolved(_pick({"POST": OAUTH_TOKEN}, method, path))
    if path.startswith(API_PREFIX):
        version, _, rest = path[len(API_PREFIX) :].partition("/")
        if version in served:
            methods = _STATIC.get(rest)
            if methods is not None:
                return Resolved(_pick(methods, method, path), None, version)
            parts = rest.split("/")
            if parts[0] == "statuses" and len(parts) in (2, 3) and parts[1] and parts[1] != "batch":
                if len(parts) == 2:
                    return Resolved(_pick(_CONTACT, method, path), unquote(parts[1]), version)
                if parts[2] == "unsubscribe-all":
                    return Resolved(_pick(_CONTACT_UNSUBSCRIBE_ALL, method, path), unquote(parts[1]), version)
    raise ApiError(
        404, "OBJECT_NOT_FOUND", f"No route for {method} {path[:200]}", sub_category="UNKNOWN_PATH"
    )


def _pick(methods: dict[str, Route], method: str, path: str) -> Route:
    route = methods.get(method)
    if route is None:
        raise ApiError(
            405,
            "VALIDATION_ERROR",
            f"HTTP method {method} is not supported by {path[:200]}; allowed: {', '.join(sorted(methods))}",
            sub_category="METHOD_NOT_ALLOWED",
        )
    return route
