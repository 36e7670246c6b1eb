"""Which failures of a job are worth another delivery.

Classified by exception type and HTTP status, never by class-name strings: a provider outage,
rate limit, timeout or lost connection may pass; a bad request, a refused key or a broken
definition will fail the same way again.
"""

from __future__ import annotations

import anthropic
import httpx
import ollama
import openai
import psycopg

__all__ = ["RETRYABLE_STATUS", "is_retryable"]

RETRYABLE_STATUS = frozenset({408, 409, 425, 429})
"""Client-error statuses that mean "try again later"; every 5xx is retryable as well."""

_TRANSIENT: tuple[type[BaseException], ...] = (
    openai.APIConnectionError,  # includes APITimeoutError
    anthropic.APIConnectionError,
    httpx.TransportError,  # connect/read timeouts, refused connections (ollama, http tools)
    psycopg.OperationalError,  # the checkpoint database went away
    ConnectionError,
    TimeoutError,
)


def is_retryable(exc: BaseException) -> bool:
    """True when ``exc``, or an exception it was raised ``from``, is transient."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, _TRANSIENT) or _retryable_status(_status_of(current)):
            return True
        current = current.__cause__
    return False


def _status_of(exc: BaseException) -> int | None:
    if isinstance(exc, openai.APIStatusError | anthropic.APIStatusError):
        return exc.status_code
    if isinstance(exc, httpx.HTTPStatusError):
        return exc.response.status_code
    if isinstance(exc, ollama.ResponseError):
        return exc.status_code
    return None


def _retryable_status(status: int | None) -> bool:
    return status is not None and (status >= 500 or status in RETRYABLE_STATUS)
