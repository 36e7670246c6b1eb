"""Defaults of the NATS JetStream jobs queue, shared by the NACK objects and the runtime.

The function declares the Stream and Consumer through NACK; a runtime started without them
(``xagent run``, a local NATS) declares its own from the same defaults, so both shapes agree.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "ACK_WAIT_SECONDS",
    "DEFAULT_STREAM",
    "DUPLICATE_WINDOW",
    "DUPLICATE_WINDOW_SECONDS",
    "MAX_DELIVER",
    "MAX_PARALLEL_SESSIONS",
    "SELF_DECLARED_MAX_ACK_PENDING",
    "SUBJECT_ROOT",
    "max_ack_pending",
    "subjects",
]

DEFAULT_STREAM: Final = "XAGENT_JOBS"
"""The stream a runtime uses when NATS_STREAM is unset (the function always sets it)."""

SUBJECT_ROOT: Final = "xagent"
"""First token of the default subject prefix ``xagent.<namespace>.<name>``."""

DUPLICATE_WINDOW_SECONDS: Final = 120
"""How long the stream remembers a Nats-Msg-Id: covers a publisher's retries after a crash."""
DUPLICATE_WINDOW: Final = f"{DUPLICATE_WINDOW_SECONDS // 60}m"
"""The same window as a NACK duration."""

ACK_WAIT_SECONDS: Final = 30
"""Time a job may run between progress acks before JetStream redelivers it.

The worker sends an in-progress ack every third of it, so a running job is never redelivered,
while the job of a killed worker is redelivered after at most this long."""
MAX_DELIVER: Final = 5
"""Deliveries before a job goes to the dead-letter subject."""
MAX_PARALLEL_SESSIONS: Final = 4
"""Jobs one pod runs at once."""

SELF_DECLARED_MAX_ACK_PENDING: Final = 1000
"""Floor of a consumer the runtime declares itself: it cannot know how many pods share it."""


def subjects(prefix: str) -> dict[str, str]:
    """An agent's subjects under ``prefix``: ``jobs``, ``results`` and ``dead`` (dead letters)."""
    return {"jobs": f"{prefix}.jobs", "results": f"{prefix}.results", "dead": f"{prefix}.dead"}


def max_ack_pending(sessions_per_pod: int, pods: int | None) -> int:
    """Jobs in flight across all pods: sessions per pod times the most pods there can be.

    ``pods`` is None when the runtime declares the consumer itself and the pod count is
    unknown; then the consumer leaves room for ``SELF_DECLARED_MAX_ACK_PENDING`` jobs.
    """
    if pods is None:
        return max(SELF_DECLARED_MAX_ACK_PENDING, sessions_per_pod)
    return sessions_per_pod * max(pods, 1)
