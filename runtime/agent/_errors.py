"""Which failures of a job are worth another delivery.

Classified by exception type and HTTP status, never by class-name strings: a provider outage,
rate limit, timeout or lost connection may pass; a bad request, a refused key or a broken
definition will fail the same way again.

The provider SDKs take seconds to import and an agent uses one of them, so their exception
types are looked up only in SDKs already imported: an exception from an SDK means the SDK
is loaded.
"""

from __future__ import annotations

import sys

import httpx

__all__ = ["RETRYABLE_STATUS", "is_retryable"]

RETRYABLE_STATUS = frozenset({408, 409, 425, 429})
"""Client-error statuses that mean "try again later"; every 5xx is retryable as well."""

_TRANSIENT: tuple[type[BaseException], ...] = (
    httpx.TransportError,  # connect/read timeouts, refused connections (ollama, http tools)
    ConnectionError,
    TimeoutError,
)
_SDK_TRANSIENT = (
    ("openai", "APIConnectionError"),  # includes APITimeoutError
    ("anthropic", "APIConnectionError"),
    ("psycopg", "OperationalError"),  # the checkpoint database went away
)
"""Connection errors of libraries loaded only when used (provider SDKs; psycopg, which
`xagent run` never loads): nothing raises them before their module is loaded."""
_SDK_STATUS = (
    ("openai", "APIStatusError"),
    ("anthropic", "APIStatusError"),
    ("ollama", "ResponseError"),
)
"""Provider SDK errors that carry the HTTP status in ``status_code``."""


def _loaded(pairs: tuple[tuple[str, str], ...]) -> tuple[type[BaseException], ...]:
    return tuple(
        getattr(sys.modules[module], name) for module, name in pairs if module in sys.modules
    )


def is_retryable(exc: BaseException) -> bool:
    """True when ``exc``, or an exception it was raised ``from``, is transient."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        transient = _TRANSIENT + _loaded(_SDK_TRANSIENT)
        if isinstance(current, transient) or _retryable_status(_status_of(current)):
            return True
        current = current.__cause__
    return False


def _status_of(exc: BaseException) -> int | None:
    if isinstance(exc, _loaded(_SDK_STATUS)):
        return exc.status_code  # type: ignore[attr-defined]
    if isinstance(exc, httpx.HTTPStatusError):
        return exc.response.status_code
    return None


def _retryable_status(status: int | None) -> bool:
    return status is not None and (status >= 500 or status in RETRYABLE_STATUS)
