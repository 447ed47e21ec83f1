"""The one entry point of the HTTP layer: `/_emulator/...` is the control surface, the rest is the API.

It sits above `core`, `control` and `pipeline` (they never import it), so the package has no import
cycle: `core` holds state, `control` and `pipeline` act on it, `server` calls `handle`.
"""

from __future__ import annotations

from local.hubspot_emulator import control, pipeline
from local.hubspot_emulator.core import EmulatorCore
from local.hubspot_emulator.messages import Outcome, Request


def handle(core: EmulatorCore, request: Request) -> Outcome:
    """Answer one request."""
    if request.path.startswith(control.PREFIX):
        return control.handle(core, request)
    return pipeline.process(core, request)
