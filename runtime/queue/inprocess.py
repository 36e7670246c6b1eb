"""The in-process queue: an asyncio.Queue as the shared worker's backend, for embedded use."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from runtime.jobs import Job, JobExecutor, JobResult
from runtime.queue.worker import DeadLetter, PublishResult, QueueOptions, Worker, unless_stopped

if TYPE_CHECKING:
    from runtime.state.runs import RunStore
    from runtime.state.store import IdempotencyStore

__all__ = ["InProcessQueue"]

# Every queue module logs as "runtime.queue": one name to filter the queue's records by.
log = logging.getLogger("runtime.queue")


@dataclass
class _LocalDelivery:
    queue: InProcessQueue
    data: bytes
    attempt: int = 1

    def describe(self) -> dict[str, Any]:
        return {"attempt": self.attempt, "queue": "in-process"}

    async def ack(self) -> None:
        return None

    async def nak(self, delay: float) -> None:
        self.queue._redeliver(self, delay)

    async def term(self) -> None:
        return None

    async def in_progress(self) -> None:
        return None


class InProcessQueue:
    """An asyncio.Queue with the JetStream worker's semantics, minus durability.

    For embedded use (no NATS configured): every published result and dead letter is kept
    in ``results`` and ``dead_letters`` (and handed to the optional callbacks); a nak puts
    the job back after its delay. It is the worker's Backend (fetch, publish_result,
    publish_dead_letter); the worker runs the pull loop.
    """

    def __init__(
        self,
        executor: JobExecutor,
        store: IdempotencyStore | None = None,
        options: QueueOptions | None = None,
        runs: RunStore | None = None,
        on_result: PublishResult | None = None,
        on_dead_letter: Callable[[DeadLetter], Awaitable[None]] | None = None,
    ) -> None:
        self.options = options or QueueOptions()
        self.results: list[JobResult] = []
        self.dead_letters: list[DeadLetter] = []
        self._on_result = on_result
        self._on_dead_letter = on_dead_letter
        self._queue: asyncio.Queue[_LocalDelivery] = asyncio.Queue()
        self._timers: set[asyncio.TimerHandle] = set()
        self._worker = Worker(self, executor, store, self.options, runs)

    async def start(self) -> None:
        """Start the worker loop."""
        self._worker.start()

    async def submit(self, job: Job) -> None:
        """Enqueue ``job``."""
        if self._worker.stopping:
            raise RuntimeError("queue is draining")
        self._queue.put_nowait(_LocalDelivery(self, job.model_dump_json().encode()))

    async def submit_raw(self, data: bytes) -> None:
        """Enqueue a raw message body, as a producer would publish it."""
        self._queue.put_nowait(_LocalDelivery(self, data))

    async def run(self, job: Job) -> JobResult:
        """Run ``job`` now under the concurrency limit."""
        return await self._worker.run_now(job)

    async def ping(self) -> bool:
        """Always reachable: it lives in this process."""
        return True

    async def drain(self, grace_seconds: float) -> None:
        """Stop taking jobs, wait for running ones within the grace, then stop."""
        await self._worker.stop(grace_seconds)
        for timer in self._timers:
            timer.cancel()
        if self._queue.qsize() or self._timers:
            log.warning(
                "in-process queue stopped with %d job(s) queued; they are not durable",
                self._queue.qsize() + len(self._timers),
            )

    # -- the worker's Backend ----------------------------------------------------------------

    async def fetch(self, limit: int, stopping: asyncio.Event) -> Sequence[_LocalDelivery]:
        """Wait for a job, then take up to ``limit`` queued; none once stopping (they stay)."""
        got = await unless_stopped(self._queue.get(), stopping)
        if got is None:
            return []
        batch = [got.result()]
        while len(batch) < limit and self._queue.qsize():
            batch.append(self._queue.get_nowait())
        if stopping.is_set():
            for delivery in batch:
                self._queue.put_nowait(delivery)
            return []
        return batch

    def _redeliver(self, delivery: _LocalDelivery, delay: float) -> None:
        again = _LocalDelivery(self, delivery.data, delivery.attempt + 1)
        if delay <= 0:
            self._queue.put_nowait(again)
            return

        def put() -> None:
            self._timers.discard(timer)
            self._queue.put_nowait(again)

        timer = asyncio.get_running_loop().call_later(delay, put)
        self._timers.add(timer)

    async def publish_result(self, result: JobResult) -> None:
        """Keep ``result`` (and hand it to on_result)."""
        self.results.append(result)
        if self._on_result is not None:
            await self._on_result(result)

    async def publish_dead_letter(self, letter: DeadLetter) -> bool:
        """Keep ``letter`` (and hand it to on_dead_letter); never a duplicate."""
        self.dead_letters.append(letter)
        if self._on_dead_letter is not None:
            await self._on_dead_letter(letter)
        return True
