"""Numeric defaults both halves apply, declared once.

The API's defaults (function/spec.py, and so the XRD) and the runtime's own defaults for an
unset variable or file field (runtime/settings.py, contract/grants.py) are the same numbers:
a runtime started without the function (``xagent run``, a test) behaves as a composed one.
The queue's defaults live in contract/queue.py. tests/test_contract.py fails when function/
or runtime/ writes one of these numbers again as a default.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "APPROVAL_TIMEOUT_SECONDS",
    "CONVERSATION_TTL_SECONDS",
    "MCP_TIMEOUT_SECONDS",
    "POSTGRES_PORT",
    "REDIS_PORT",
    "RESULTS_TTL_SECONDS",
    "SHUTDOWN_GRACE_SECONDS",
    "duration",
]

_HOUR = 3600

CONVERSATION_TTL_SECONDS: Final = 24 * _HOUR
"""How long an idle thread's history and run records are kept."""
RESULTS_TTL_SECONDS: Final = 24 * _HOUR
"""How long a finished job's run record is kept."""
APPROVAL_TIMEOUT_SECONDS: Final = 24 * _HOUR
"""How long a tool call waits for an approval decision."""
MCP_TIMEOUT_SECONDS: Final = 30
"""How long the runtime waits for one MCP server call."""
SHUTDOWN_GRACE_SECONDS: Final = 25
"""How long the runtime drains in-flight jobs after SIGTERM; unfinished ones are redelivered."""
POSTGRES_PORT: Final = 5432
"""PostgreSQL's port when a connection names none."""
REDIS_PORT: Final = 6379
"""Redis's (and Dragonfly's) port when a connection names none."""

_UNITS = (("h", _HOUR), ("m", 60), ("s", 1))


def duration(seconds: int) -> str:
    """Whole seconds as a Go duration in the largest unit that divides them: 86400 -> ``24h``."""
    for unit, size in _UNITS:
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
