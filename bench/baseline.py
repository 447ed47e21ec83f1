"""The per-record baseline: the SQS-to-HubSpot handler most tutorials show, written as a competent user
would write it. Only the bench imports it; it is never deployed.

Powertools' ``BatchProcessor`` hands each record to ``record_handler``, which makes one call to the
single-contact endpoint ``POST /communication-preferences/v4/statuses/{subscriberIdString}``;
``process_partial_response`` reports the records that raised as ``batchItemFailures``. One keep-alive
``httpx.Client`` per execution environment with explicit timeouts, and the token from Secrets Manager
through Powertools Parameters (cached in memory), as the function itself does. The same environment
variables as the function configure it.
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import quote

import httpx
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.parameters import get_secret
from aws_lambda_powertools.utilities.typing import LambdaContext

STATUS_PATH = "/communication-preferences/v4/statuses/{email}"
FIELDS = ("subscriptionId", "statusState", "channel", "legalBasis", "legalBasisExplanation")

SECRET_ID = os.environ["HUBSPOT_SECRET_ID"]
SECRET_MAX_AGE_S = int(os.environ.get("POWERTOOLS_PARAMETERS_MAX_AGE", "300"))
processor = BatchProcessor(event_type=EventType.SQS)
logger = Logger()
client = httpx.Client(
    base_url=os.environ.get("HUBSPOT_API_BASE_URL", "https://api.hubapi.com"),
    timeout=httpx.Timeout(
        float(os.environ.get("HUBSPOT_READ_TIMEOUT_SECONDS", "10")),
        connect=float(os.environ.get("HUBSPOT_CONNECT_TIMEOUT_SECONDS", "3")),
    ),
)


def access_token() -> str:
    """``{"accessToken": "pat-..."}`` from Secrets Manager; Powertools caches it for SECRET_MAX_AGE_S."""
    secret = get_secret(SECRET_ID, transform="json", max_age=SECRET_MAX_AGE_S)
    return str(secret["accessToken"])


def record_handler(record: SQSRecord) -> dict[str, Any]:
    """One status update, one HubSpot call; raising marks the record failed (SQS redelivers it)."""
    update = record.json_body
    payload = {name: update[name] for name in FIELDS if update.get(name) is not None}
    payload.setdefault("channel", "EMAIL")
    response = client.post(
        STATUS_PATH.format(email=quote(update["subscriberIdString"], safe="@")),
        json=payload,
        headers={"Authorization": f"Bearer {access_token()}"},
    )
    response.raise_for_status()
    return response.json()  # type: ignore[no-any-return]


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
