"""Retention: idle conversations and old results leave Postgres/SQLite, not only Redis.

``sweep`` deletes every thread unused for ``conversation_ttl`` (its checkpoints, its run
records, its approvals and the thread row, so the id is free again and no later owner sees
old runs), every run that ended more than ``results_ttl`` ago (with the job's recorded
result), approvals decided that long ago, and budget windows not added to for
``conversation_ttl`` or a day, whichever is longer (a daily window must outlive its day).
``Sweeper`` runs it periodically in the serving process; every replica may sweep, as each delete is
idempotent. Redis event streams expire on their own (``stream.RedisEventSink``).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from dataclasses import dataclass

from runtime.state.store import Stores

__all__ = ["SweepReport", "Sweeper", "sweep"]

log = logging.getLogger(__name__)

_BATCH = 500
_DAY = 24 * 3600.0


@dataclass(frozen=True)
class SweepReport:
    """What one sweep deleted."""

    threads: int
    runs: int
    approvals: int = 0
    budgets: int = 0


async def sweep(
    stores: Stores, conversation_ttl: float, results_ttl: float, now: float | None = None
) -> SweepReport:
    """Delete idle threads and old runs as of ``now`` (epoch seconds; the clock by default)."""
    now = time.time() if now is None else now
    threads = approvals = 0
    while True:
        idle = await stores.runs.idle_threads(now - conversation_ttl, limit=_BATCH)
        for thread_id in idle:
            # Checkpoints first, the thread row last: a crash in between leaves a thread
            # row to retry from.
            await stores.checkpointer.adelete_thread(thread_id)
            approvals += await stores.approvals.delete_thread(thread_id)
            await stores.runs.delete_thread(thread_id)
        threads += len(idle)
        if len(idle) < _BATCH:
            break
    runs = await stores.runs.delete_runs_finished_before(now - results_ttl)
    approvals += await stores.approvals.forget_decided_before(now - results_ttl)
    budgets = await stores.ledger.forget_before(now - max(conversation_ttl, _DAY))
    return SweepReport(threads=threads, runs=runs, approvals=approvals, budgets=budgets)


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
                if any(dataclasses.astuple(report)):
                    log.info("retention sweep deleted %s", dataclasses.asdict(report))
            except Exception:
                log.warning("retention sweep failed; retrying later", exc_info=True)
            await asyncio.sleep(self._interval)
