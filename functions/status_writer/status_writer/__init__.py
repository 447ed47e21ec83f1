"""Status writer: SQS records in, HubSpot Communication Preferences v4 batch writes out.

The data path, one module per step:
handler (``app``) → ``parse`` → ``coalesce`` → ``chunk`` → ``hubspot`` (call) → ``outcomes`` (map) →
``respond``. ``pipeline`` wires the steps; ``dead_letter`` and ``visibility`` are the SQS side effects.
The pure steps import no I/O modules.
"""
