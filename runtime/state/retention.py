"""Retention: idle conversations and old results leave Postgres/SQLite, not only Redis.

``sweep`` deletes every thread unused for ``conversation_ttl`` (its checkpoints, its run
records and the thread row, so the id is free again and no later owner sees old runs) and
every run that ended more than ``results_ttl`` ago (with its idempotency entry). ``Sweeper``
runs it periodically in the serving process; every replica may sweep, as each delete is
idempotent. Redis event streams expire on their own (``stream.RedisEventSink``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass

from runtime.state.store import Stores

__all__ = ["SweepReport", "Sweeper", "sweep"]

log = logging.getLogger(__name__)

_BATCH = 500


@dataclass(frozen=True)
class SweepReport:
    """What one sweep deleted."""

    threads: int
    runs: int


async def sweep(
    stores: Stores, conversation_ttl: float, results_ttl: float, now: float | None = None
) -> SweepReport:
    """Delete idle threads and old runs as of ``now`` (epoch seconds; the clock by default)."""
    now = time.time() if now is None else now
    threads = 0
    while True:
        idle = await stores.runs.idle_threads(now - conversation_ttl, limit=_BATCH)
        for thread_id in idle:
            # Checkpoints first: a crash in between leaves a thread row to retry from.
            await stores.checkpointer.adelete_thread(thread_id)
            await stores.runs.delete_thread(thread_id)
        threads += len(idle)
        if len(idle) < _BATCH:
            break
    runs = await stores.runs.delete_runs_finished_before(now - results_ttl)
    await stores.idempotency.forget_before(now - results_ttl)
    return SweepReport(threads=threads, runs=runs)


class Sweeper:
    """Runs ``sweep`` every ``interval`` seconds until stopped; a failed sweep is logged."""

    def __init__(
        self, stores: Stores, conversation_ttl: float, results_ttl: float, interval: float
    ) -> None:
        """Sweep ``stores`` with these TTLs every ``interval`` seconds."""
        self._stores = stores
        self._conversation_ttl = conversation_ttl
        self._results_ttl = results_ttl
        self._interval = interval
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start sweeping in the background."""
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="retention")

    async def stop(self) -> None:
        """Stop sweeping (a sweep under way is cancelled; the next start redoes it)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _loop(self) -> None:
        while True:
            try:
                report = await sweep(self._stores, self._conversation_ttl, self._results_ttl)
                if report.threads or report.runs:
                    log.info(
                        "retention sweep deleted %d thread(s) and %d run(s)",
                        report.threads,
                        report.runs,
                    )
            except Exception:
                log.warning("retention sweep failed; retrying later", exc_info=True)
            await asyncio.sleep(self._interval)
