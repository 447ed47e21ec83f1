"""Logger, metrics and the masking that keeps emails out of logs.

Emails are personal data: log lines show the domain and a short hash of the local part, never the
address. The HubSpot token is never passed to a logger at all, and the libraries that carry it or the
addresses (botocore logs whole requests and responses at DEBUG, httpcore every header) are held at
WARNING whatever the function's log level: the Lambda runtime's root logger takes the function's
LogLevel, and at DEBUG it would print the GetSecretValue response and every SQS and DynamoDB body.
"""

from __future__ import annotations

import hashlib
import logging
import re

from aws_lambda_powertools import Logger, Metrics

# Loggers of the libraries that see request and response bodies or headers.
LIBRARY_LOGGERS = ("botocore", "boto3", "s3transfer", "urllib3", "httpx", "httpcore")
LIBRARY_LEVEL = logging.WARNING


def quiet_libraries() -> None:
    """Hold the library loggers at WARNING (their children inherit it), whatever the root's level."""
    for name in LIBRARY_LOGGERS:
        logging.getLogger(name).setLevel(LIBRARY_LEVEL)


quiet_libraries()
logger = Logger()
metrics = Metrics()

# Deliberately broader than a valid address: anything around an "@" is masked, valid or not.
_EMAIL_LIKE = re.compile(r"[^\s@'\"<>()\[\],;:]+@[^\s@'\"<>()\[\],;:]*")


def mask_email(email: str) -> str:
    """``ada@example.com`` -> ``h:5c2f0ad1@example.com``: joinable across lines, not readable."""
    local, _, domain = email.rpartition("@")
    # surrogatepass: a lone surrogate (a broken producer's half emoji) is hashed, never a crash
    digest = hashlib.sha256(local.lower().encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return f"h:{digest}@{domain.lower()}" if local else f"h:{digest}"


def redact_emails(text: str) -> str:
    """Mask every email-looking substring (HubSpot's error messages may quote the address)."""
    return _EMAIL_LIKE.sub(lambda match: mask_email(match.group(0)), text)
