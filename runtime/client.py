"""A client's side of the results subject: every job's result once.

The runtime publishes each result with ``Nats-Msg-Id: <job_id>:result`` (the results stream
drops a repeat within its duplicate window) and ``Xagent-Job-Id: <job_id>``. A redelivered
job republishes its recorded result, because the worker cannot know whether the first
publish reached the stream before it died: a plain core-NATS subscriber of the results
subject can then see a result twice. ``read_results`` is the shipped way to read them that
drops such repeats; over HTTP, ``GET /runs/<job_id>`` has one record per job by construction.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import AsyncIterator
from typing import Any

from runtime.jobs import JobResult
from runtime.queue.jetstream import JOB_ID_HEADER

__all__ = ["Deduplicator", "read_results"]


class Deduplicator:
    """Remembers the last ``capacity`` job ids seen; ``first(job_id)`` is True once per id."""

    def __init__(self, capacity: int = 100_000) -> None:
        """Remember up to ``capacity`` job ids (the oldest are forgotten first)."""
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._capacity = capacity

    def first(self, job_id: str) -> bool:
        """Whether this is the first time ``job_id`` is seen (and remember it)."""
        if job_id in self._seen:
            self._seen.move_to_end(job_id)
            return False
        self._seen[job_id] = None
        while len(self._seen) > self._capacity:
            self._seen.popitem(last=False)
        return True


async def read_results(
    nc: Any, subject: str, *, dedup: Deduplicator | None = None
) -> AsyncIterator[JobResult]:
    """Subscribe to ``subject`` on the NATS connection ``nc``; yield each job's result once.

    A result whose answer was too large for a message has ``output_ref`` set: fetch the
    answer from that API path (``GET /runs/<job_id>``).
    """
    dedup = dedup or Deduplicator()
    sub = await nc.subscribe(subject)
    try:
        async for msg in sub.messages:
            result = JobResult.model_validate_json(msg.data)
            job_id = (msg.headers or {}).get(JOB_ID_HEADER) or result.job_id
            if dedup.first(job_id):
                yield result
    finally:
        await sub.unsubscribe()
