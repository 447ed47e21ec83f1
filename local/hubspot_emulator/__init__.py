"""A local HubSpot Communication Preferences emulator (API versions v4, 2026-03 and 2026-09) for tests,
local runs and benchmarks (dev only).

    from local.hubspot_emulator import running_emulator, EmulatorConfig, Faults, Subscription
    with running_emulator(EmulatorConfig(batch_limit=100), tokens=["pat-na1-test"]) as emu:
        httpx.post(f"{emu.base_url}/communication-preferences/2026-03/statuses/batch/write", ...)

From the shell: `python -m local.hubspot_emulator --host 127.0.0.1 --port 0 --token pat-local`.
See docs/emulator.md for routes, flags, the control API and fault profiles.
"""

from local.hubspot_emulator.auth import ALL_SCOPES
from local.hubspot_emulator.config import DEFAULT_SUBSCRIPTIONS, EmulatorConfig, Subscription
from local.hubspot_emulator.faults import PROFILES, Faults, profile
from local.hubspot_emulator.portals import PortalSpec
from local.hubspot_emulator.server import Emulator, running_emulator

__all__ = [
    "ALL_SCOPES",
    "DEFAULT_SUBSCRIPTIONS",
    "PROFILES",
    "Emulator",
    "EmulatorConfig",
    "Faults",
    "PortalSpec",
    "Subscription",
    "profile",
    "running_emulator",
]
