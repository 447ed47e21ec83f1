"""A HubSpot stand-in that answers in shapes nobody planned for, over loopback HTTP.

``answers`` builds the answers (pure); ``server`` serves them. Tests start it directly; a chaos run calls
``start_hostile(profile, upstream=emulator_url)`` and points the function at the returned URL: the
profile's faults then hit a share of the calls and the rest go through to the emulator.
"""

from local.hostile.answers import FAULT_KINDS, Answer, batch_answer, fault_answer
from local.hostile.server import HostileServer, Profile, Relay, UpstreamFailed, running_hostile, start_hostile

__all__ = [
    "FAULT_KINDS",
    "Answer",
    "HostileServer",
    "Profile",
    "Relay",
    "UpstreamFailed",
    "batch_answer",
    "fault_answer",
    "running_hostile",
    "start_hostile",
]
