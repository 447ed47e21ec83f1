"""What a `make run` will do, decided before anything starts: the template's settings, the slot layout
over the queue shards, and the workload (events/*.json bodies plus generated updates)."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from local.aws import template_model
from local.aws.template_model import REPO_ROOT
from local.workload.actors import ActorChange, plan_actor_changes
from local.workload.workload import Workload, combine, from_event_files, generate

DEFAULT_MESSAGES = 3000
DEFAULT_REAL_MESSAGES = 20
FIRST_PORTAL_ID = 90_000_001  # `--portals N`: the emulator's portals are this id and the next N-1


def portal_ids(count: int) -> list[int]:
    """The portal ids of a `--portals N` run: none for one portal (today's single-portal run)."""
    return [FIRST_PORTAL_ID + index for index in range(count)] if count > 1 else []


def slot_layout(concurrency: int, shards: int) -> list[int]:
    """Slots per shard: `concurrency` spread as evenly as possible over `shards`."""
    return [concurrency // shards + (1 if shard < concurrency % shards else 0) for shard in range(shards)]


@dataclass
class Plan:
    """What this run will do, decided before anything starts."""

    settings: template_model.DeploymentSettings
    concurrency: int
    shards: int
    slots_per_shard: list[int]
    workload: Workload
    portal: dict[int, int]
    high_water: int | None
    notes: list[str] = field(default_factory=list)
    actors: list[ActorChange] = field(default_factory=list)  # HubSpot-side changes (emulator only)
    portals: list[int] = field(default_factory=list)  # `--portals N` > 1: the portals' ids


def event_files(pattern: str) -> list[Path]:
    """The SQS event files a glob names (relative to the repository unless absolute), sorted."""
    if Path(pattern).is_absolute():
        return sorted(Path(pattern).parent.glob(Path(pattern).name))
    return sorted(REPO_ROOT.glob(pattern))


def make_plan(args: argparse.Namespace, portal: Mapping[int, int]) -> Plan:
    """Resolve the template, the slot layout and the workload. `portal` maps the portal's subscription
    ids to their brand (the emulator's definitions; for a real portal, --subscription-ids in brand 0)."""
    settings = template_model.deployment_settings(path=args.template, overrides=args.parameters or None)
    concurrency = args.concurrency or settings.maximum_concurrency
    shards = min(args.shards, concurrency)
    slots = slot_layout(concurrency, shards)
    if args.subscription_id_list:
        portal = dict.fromkeys(args.subscription_id_list, 0)
        ids = tuple(args.subscription_id_list)
    else:
        ids = tuple(sorted(i for i, brand in portal.items() if brand == 0))
    default_messages = DEFAULT_REAL_MESSAGES if args.real_hubspot else DEFAULT_MESSAGES
    messages = default_messages if args.messages is None else args.messages
    portals = portal_ids(args.portals)
    generated = generate(
        messages,
        seed=args.seed,
        subscription_ids=ids,
        subscriptions=portal,
        domain=args.email_domain,
        portals=portals,
        missing_portal_ratio=args.missing_portal_ratio,
    )
    parts = [generated]
    if not args.no_events and not args.real_hubspot:
        parts.insert(0, from_event_files(event_files(args.events), portal, multi_portal=bool(portals)))
    workload = combine(*parts)
    actors = (
        []
        if args.real_hubspot
        else plan_actor_changes(generated.items, ratio=args.actor_ratio, seed=args.seed, portal=portal)
    )
    high_water = None if args.preload else (args.high_water or max(20, 2 * settings.batch_size))
    notes = []
    if concurrency != settings.maximum_concurrency:
        notes.append(
            f"concurrency {concurrency} (template MaximumConcurrency {settings.maximum_concurrency})"
        )
    if shards > 1:
        notes.append(f"{shards} identical source queues share the DLQ (moto is O(queue length) per call)")
    if actors:
        notes.append(f"{len(actors)} HubSpot-side changes (before the feed and during it)")
    notes += _portal_notes(portals, args)
    return Plan(
        settings, concurrency, shards, slots, workload, dict(portal), high_water, notes, actors, portals
    )


def _portal_notes(portals: list[int], args: argparse.Namespace) -> list[str]:
    if not portals:
        return []
    notes = [
        f"{len(portals)} portals {portals}: contacts spread over them, each message with its portalId, "
        "one secret per portal (hubspot/portal-{portalId}), the function in multi-portal mode"
    ]
    if args.missing_portal_ratio:
        notes.append(
            f"{args.missing_portal_ratio:.0%} of generated messages carry no portalId: INVALID_MESSAGE"
        )
    if not args.no_events:
        notes.append(
            "events/*.json bodies carry no portalId: INVALID_MESSAGE here (--no-events leaves them out)"
        )
    return notes
