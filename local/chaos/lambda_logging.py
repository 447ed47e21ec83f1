"""The Lambda Python runtime's logging set-up, for a chaos run's workers: one handler on the root logger
at the function's application log level (``AWS_LAMBDA_LOG_LEVEL``, from the template's ``LogLevel``),
then the template's handler, imported from its CodeUri as the runtime imports it.

Without it, a local worker has no root handler, so a library logger's DEBUG line (botocore's request and
response bodies) would never be written, and invariant 4 ("no token, no raw email in any log line")
could not see it. With it, ``make chaos ARGS="--parameter LogLevel=DEBUG"`` writes every line Lambda
would write (README: Reliability).
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

from local.aws.worker import resolve
from local.chaos.cli import WRAPPED_HANDLER


def _configure_root() -> None:
    root = logging.getLogger()
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("[%(levelname)s]\t%(asctime)s\t%(name)s\t%(message)s"))
    root.addHandler(handler)
    level = os.environ.get("AWS_LAMBDA_LOG_LEVEL", "INFO").upper()
    root.setLevel({"WARN": "WARNING", "TRACE": "DEBUG"}.get(level, level))


_configure_root()
_template_handler = resolve(os.environ[WRAPPED_HANDLER], ".")


def handler(event: Any, context: Any) -> Any:
    """The template's handler, unchanged."""
    return _template_handler(event, context)
