"""Several HubSpot portals behind one server (docs/emulator.md, Several portals).

HubSpot has one base URL for every account: the token says which portal a call is for. So the server
routes each API request to the portal whose credentials know its bearer token (the token endpoint: the
portal that registered the OAuth app of `client_id`); a token no portal knows goes to the first portal,
which answers the 401 it answers today. Each portal is an `EmulatorCore` of its own: store, tokens,
rate limiter, daily counter, faults, request log and counters. Control routes (`/_emulator/...`) act
on the portal their `portal` query parameter names, the first portal without one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import parse_qs

from local.hubspot_emulator import routes
from local.hubspot_emulator.config import EmulatorConfig
from local.hubspot_emulator.control import PORTAL_PARAMETER
from local.hubspot_emulator.core import EmulatorCore
from local.hubspot_emulator.faults import Faults
from local.hubspot_emulator.messages import Request
from local.hubspot_emulator.shapes import ApiError


@dataclass(frozen=True)
class PortalSpec:
    """One portal to start with: its id (HubSpot's account id), its private-app tokens, and its own
    config and faults (default: the emulator's, with `portal_id` set to this id)."""

    portal_id: int
    tokens: tuple[str, ...] = ()
    config: EmulatorConfig | None = None
    faults: Faults | None = None

    def __post_init__(self) -> None:
        if isinstance(self.portal_id, bool) or not isinstance(self.portal_id, int) or self.portal_id < 1:
            raise ValueError(f"portal_id must be a positive integer, got {self.portal_id!r:.40}")
        if isinstance(self.tokens, str):
            raise TypeError("tokens must be an iterable of token strings, not one string")
        object.__setattr__(self, "tokens", tuple(self.tokens))

    def core(self, default_config: EmulatorConfig | None, default_faults: Faults | None) -> EmulatorCore:
        """This portal's own state."""
        config = (self.config or default_config or EmulatorConfig()).replace(portal_id=self.portal_id)
        return EmulatorCore(config, tokens=self.tokens, faults=self.faults or default_faults)


def check_specs(specs: Iterable[PortalSpec]) -> list[PortalSpec]:
    """The specs as a list; ValueError when two share an id or a token (routing would be ambiguous)."""
    listed = list(specs)
    ids = [spec.portal_id for spec in listed]
    if len(set(ids)) != len(ids):
        raise ValueError(f"portal ids must be distinct, got {ids}")
    tokens = [token for spec in listed for token in spec.tokens]
    if len(set(tokens)) != len(tokens):
        raise ValueError("a token belongs to one portal: the same token was given to two portals")
    return listed


def parse_portal_id(value: object) -> int:
    """A portal id as HubSpot spells it: a positive integer or a string of digits."""
    if isinstance(value, str) and value.isascii() and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"a portal id is a positive integer, got {value!r:.40}")
    return value


def api_portal(portals: Mapping[int, EmulatorCore], first: EmulatorCore, request: Request) -> EmulatorCore:
    """The portal an API request is for: the one whose credentials know its token (or, at the token
    endpoint, its `client_id`); `first` when none does."""
    if len(portals) == 1:
        return first
    if request.method == "POST" and request.path == routes.OAUTH_TOKEN_PATH:
        client_id = _form_field(request.body, "client_id")
        return next((core for core in portals.values() if core.knows_client(client_id)), first)
    token = bearer_token(request.authorization)
    if token is None:
        return first
    return next((core for core in portals.values() if core.knows_token(token)), first)


def control_portal(portals: Mapping[int, EmulatorCore], first: EmulatorCore, query: str) -> EmulatorCore:
    """The portal a control request names with `?portal=ID` (`first` without one); a 404 for an id the
    emulator does not serve, a 400 for one that is no id."""
    values = parse_qs(query).get(PORTAL_PARAMETER)
    if not values:
        return first
    try:
        portal_id = parse_portal_id(values[0])
    except ValueError as err:
        raise ApiError(400, "VALIDATION_ERROR", str(err)) from None
    if portal_id not in portals:
        raise ApiError(404, "OBJECT_NOT_FOUND", f"No portal {portal_id}; served: {sorted(portals)}")
    return portals[portal_id]


def bearer_token(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, else None."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def _form_field(body: bytes, name: str) -> str:
    values = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True).get(name)
    return values[-1] if values else ""
