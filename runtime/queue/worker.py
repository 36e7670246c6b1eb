"""The worker both queues share, so their semantics cannot drift apart.

``Worker`` owns the pull loop and its lifecycle (start, stop, drain) and runs each
``Delivery`` to its ack, nak or termination: bounded parallelism, idempotency by job id,
in-progress acks, nak with backoff, dead-lettering and drain, as ``runtime.queue``
describes. This module is the seam: a backend implements ``Backend`` (fetch up to N
deliveries, publish a result or a dead letter) and ``Delivery`` (ack, nak, term, in-progress
of one message), and nothing else; the worker never sees how messages travel. ``QueueOptions``,
``backoff_delay``, ``DeadLetter`` and ``DEAD_LETTERED`` live here so the backends can import
them without a cycle; ``runtime.queue`` re-exports them.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from pydantic import ValidationError

from contract import queue as queue_defaults
from runtime.jobs import Job, JobExecutor, JobResult, JobStatus, RetryableError
from runtime.observability import JOBS_TOTAL, QUEUE_REDELIVERIES_TOTAL
from runtime.state.runs import RunLog

if TYPE_CHECKING:
    from runtime.state.runs import RunStore
    from runtime.state.store import IdempotencyStore

__all__ = [
    "DEAD_LETTERED",
    "EXHAUSTED_ERROR",
    "MAX_EMBEDDED_PAYLOAD",
    "Backend",
    "DeadLetter",
    "Delivery",
    "PublishResult",
    "QueueOptions",
    "Worker",
    "backoff_delay",
    "unless_stopped",
]

# Every queue module logs as "runtime.queue": one name to filter the queue's records by.
log = logging.getLogger("runtime.queue")

DEAD_LETTERED = "dead_lettered"
"""The ``xagent_jobs_total`` status of a job the queue gave up on."""
FETCH_RETRY_SECONDS = 1.0
"""Pause after a failed fetch (the backend unreachable) before the next."""
EXHAUSTED_ERROR = (
    "max deliveries ({deliveries}) exhausted without an ack; the last worker died or timed out"
)


@dataclass(frozen=True)
class QueueOptions:
    """Worker tunables; ``runtime.main.queue_options`` fills them from the Settings."""

    max_parallel_sessions: int = queue_defaults.MAX_PARALLEL_SESSIONS
    ack_wait_seconds: float = queue_defaults.ACK_WAIT_SECONDS
    max_deliver: int = queue_defaults.MAX_DELIVER
    backoff_base_seconds: float = 1.0
    backoff_max_seconds: float = 60.0
    fetch_timeout_seconds: float = 1.0

    def __post_init__(self) -> None:
        if self.max_parallel_sessions < 1:
            raise ValueError("max_parallel_sessions must be at least 1")
        if self.max_deliver < 1:
            raise ValueError("max_deliver must be at least 1")
        if self.ack_wait_seconds <= 0:
            raise ValueError("ack_wait_seconds must be positive")


def backoff_delay(attempt: int, options: QueueOptions) -> float:
    """Delay before delivery ``attempt + 1`` after delivery ``attempt`` failed retryably."""
    delay = options.backoff_base_seconds * 2 ** max(attempt - 1, 0)
    return min(delay, options.backoff_max_seconds)


MAX_EMBEDDED_PAYLOAD = 64 * 1024
"""Largest job payload a dead letter embeds; larger ones are referenced."""
MAX_ERROR_CHARS = 4096


@dataclass
class DeadLetter:
    """A job given up on: why, after how many deliveries, and what it was."""

    error: str
    attempts: int
    payload: bytes
    job_id: str | None = None
    source: dict[str, Any] = field(default_factory=dict)

    def to_json(self, max_embedded: int = MAX_EMBEDDED_PAYLOAD) -> bytes:
        """The dead-letter message body.

        A payload up to ``max_embedded`` bytes is embedded; a larger one is referenced
        (``payload_ref``: where it is stored, its size and sha256), so a dead letter always
        fits in a message. The error is cut to a few KiB for the same reason.
        """
        body: dict[str, Any] = {
            "job_id": self.job_id,
            "error": self.error[:MAX_ERROR_CHARS],
            "attempts": self.attempts,
            "source": self.source,
        }
        if len(self.payload) > max_embedded:
            body["payload_ref"] = {
                **{k: self.source[k] for k in ("stream", "stream_sequence") if k in self.source},
                "bytes": len(self.payload),
                "sha256": hashlib.sha256(self.payload).hexdigest(),
            }
            return json.dumps(body).encode()
        try:
            body["payload"] = json.loads(self.payload)
        except (ValueError, UnicodeDecodeError):
            body["payload"] = {"base64": base64.b64encode(self.payload).decode()}
        return json.dumps(body).encode()


class Delivery(Protocol):
    """One delivery of a job message, whatever carried it."""

    data: bytes
    attempt: int

    def describe(self) -> dict[str, Any]: ...
    async def ack(self) -> None: ...
    async def nak(self, delay: float) -> None: ...
    async def term(self) -> None: ...
    async def in_progress(self) -> None: ...


PublishResult = Callable[[JobResult], Awaitable[None]]


class Backend(Protocol):
    """What a queue backend provides the worker: deliveries in, results and dead letters out."""

    async def fetch(self, limit: int, stopping: asyncio.Event) -> Sequence[Delivery]:
        """Up to ``limit`` deliveries; may wait a while, and returns [] when none came.

        Once ``stopping`` is set it returns soon (how soon is the backend's to bound: a
        JetStream pull is never cancelled, an in-process wait is); a delivery it returns
        then is handed back by the worker.
        """
        ...

    async def publish_result(self, result: JobResult) -> None:
        """Publish a job's result."""
        ...

    async def publish_dead_letter(self, letter: DeadLetter) -> bool:
        """Publish a dead letter; False when it was already published (a duplicate)."""
        ...


class Worker:
    """Pulls deliveries from a backend and runs them with bounded parallelism, idempotency,
    retries and dead-lettering."""

    def __init__(
        self,
        backend: Backend,
        executor: JobExecutor,
        store: IdempotencyStore | None,
        options: QueueOptions,
        runs: RunStore | None = None,
    ) -> None:
        self._backend = backend
        self._executor = executor
        self._runs = RunLog(runs)
        self._store = store
        self._options = options
        self._slots = asyncio.Semaphore(options.max_parallel_sessions)
        self._tasks: set[asyncio.Task[None]] = set()
        self._running: dict[str, asyncio.Future[JobResult]] = {}
        self._stopping = asyncio.Event()
        self._loop: asyncio.Task[None] | None = None

    # -- the pull loop -----------------------------------------------------------------------

    @property
    def started(self) -> bool:
        """Whether the pull loop was started (it is never started twice)."""
        return self._loop is not None

    @property
    def stopping(self) -> bool:
        """Whether a drain began: no more deliveries are taken."""
        return self._stopping.is_set()

    def start(self) -> None:
        """Start pulling from the backend; a second call does nothing."""
        if self._loop is None:
            self._loop = asyncio.create_task(self._pull())

    async def _pull(self) -> None:
        while True:
            free = await self._free_slots()
            if not free:
                return
            try:
                deliveries = await self._backend.fetch(free, self._stopping)
            except Exception:
                if self._stopping.is_set():
                    return
                log.warning("fetching jobs failed; retrying", exc_info=True)
                await unless_stopped(asyncio.sleep(FETCH_RETRY_SECONDS), self._stopping)
                continue
            for delivery in deliveries:
                # Fetched while shutting down: dispatch hands it straight back.
                await self._dispatch(delivery)

    # -- slots -------------------------------------------------------------------------------

    async def _free_slots(self) -> int:
        """Wait until a slot is free; return how many are free now, holding none.

        The pull loop waits for jobs without holding slots, so a synchronous run (the
        HTTP ``wait`` path) never waits for an idle fetch. Returns 0 once stopping.
        """
        stopping = self._stopping
        if stopping.is_set():
            return 0
        if await unless_stopped(self._slots.acquire(), stopping) is None:
            return 0
        taken = 1
        while not self._slots.locked():
            await self._slots.acquire()  # free: returns at once
            taken += 1
        for _ in range(taken):
            self._slots.release()
        return 0 if stopping.is_set() else taken

    async def _dispatch(self, delivery: Delivery) -> bool:
        """Handle ``delivery`` in the background on the next free slot.

        A synchronous run may have taken the slot the loop saw free: the delivery then
        waits for one, kept alive by in-progress acks. Once ``stopping``, it is handed back
        (nak) instead and False returned.
        """
        stopping = self._stopping
        if stopping.is_set():
            await _nak_quietly(delivery)
            return False
        if self._slots.locked():
            keep_alive = asyncio.create_task(self._keep_alive(delivery))
            try:
                got = await unless_stopped(self._slots.acquire(), stopping)
            finally:
                keep_alive.cancel()
            if got is None:
                await _nak_quietly(delivery)
                return False
        else:
            await self._slots.acquire()  # free: returns at once
        task = asyncio.create_task(self._handle_on_slot(delivery))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return True

    async def _handle_on_slot(self, delivery: Delivery) -> None:
        try:
            await self.handle(delivery)
        finally:
            self._slots.release()

    async def run_now(self, job: Job) -> JobResult:
        """Run ``job`` synchronously on a slot (the HTTP ``wait`` path); drain waits for it."""
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            async with self._slots:
                return await self.execute_once(job)
        except RetryableError as exc:
            # Nothing retries a synchronous run: the caller does, by submitting it again.
            await self._runs.failed(job.job_id, job.thread, str(exc))
            raise
        except _ExecutorError as exc:
            await self._runs.failed(job.job_id, job.thread, str(exc))
            raise exc.cause from None
        finally:
            self._tasks.discard(task)  # type: ignore[arg-type]

    # -- one delivery ------------------------------------------------------------------------

    async def handle(self, delivery: Delivery) -> None:
        """Run one delivery to its ack, nak or termination; never raises but cancellation."""
        try:
            await self._handle(delivery)
        except asyncio.CancelledError:
            raise
        except Exception:
            # The queue's own dependencies failed (publishing, the store): hand the message
            # back for a later try; if even that fails it returns after ack_wait.
            log.exception("job delivery failed; it will be redelivered", extra=delivery.describe())
            with contextlib.suppress(Exception):
                await delivery.nak(backoff_delay(delivery.attempt, self._options))

    async def _handle(self, delivery: Delivery) -> None:
        try:
            job = Job.model_validate_json(delivery.data)
        except ValidationError as exc:
            await self._dead_letter(delivery, None, f"unparsable job: {_brief(exc)}")
            return
        if delivery.attempt > 1:
            QUEUE_REDELIVERIES_TOTAL.inc()
        keep_alive = asyncio.create_task(self._keep_alive(delivery))
        try:
            await self.execute_once(job)
        except RetryableError as exc:
            if delivery.attempt >= self._options.max_deliver:
                await self._dead_letter(delivery, job, f"retryable error: {exc}")
            else:
                await self._runs.retrying(job.job_id, str(exc))
                delay = backoff_delay(delivery.attempt, self._options)
                log.warning(
                    "job failed retryably; retrying in %.1fs: %s",
                    delay,
                    exc,
                    extra={"job_id": job.job_id, "attempt": delivery.attempt},
                )
                await delivery.nak(delay)
            return
        except asyncio.CancelledError:
            # Drain ran out of grace: hand the job back for immediate redelivery.
            with contextlib.suppress(Exception):
                await asyncio.shield(delivery.nak(0))
            raise
        except _ExecutorError as exc:
            # Not worth another delivery. Failures of the queue's own bookkeeping (store,
            # publishing) are not caught here: handle() hands those back for a retry.
            log.error("job failed", exc_info=exc.__cause__, extra={"job_id": job.job_id})
            await self._dead_letter(delivery, job, str(exc))
            return
        finally:
            keep_alive.cancel()
        await delivery.ack()

    async def execute_once(self, job: Job) -> JobResult:
        """Run ``job`` unless its result is recorded; record and publish the result."""
        running = self._running.get(job.job_id)
        if running is not None:
            # The same job id is already running here: share its outcome.
            return await asyncio.shield(running)
        future: asyncio.Future[JobResult] = asyncio.get_running_loop().create_future()
        self._running[job.job_id] = future
        try:
            result = await self._execute(job)
        except asyncio.CancelledError:
            future.cancel()
            raise
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # mark it retrieved: nobody may be sharing it
            raise
        else:
            future.set_result(result)
            return result
        finally:
            self._running.pop(job.job_id, None)

    async def _execute(self, job: Job) -> JobResult:
        store = self._store
        if store is not None:
            recorded = await store.get_result(job.job_id)
            if recorded is None and not await store.claim(job.job_id):
                recorded = await store.get_result(job.job_id)  # recorded in between
            if recorded is not None:
                result = JobResult.model_validate_json(recorded)
                log.info("job already done; not running it again", extra={"job_id": job.job_id})
                # Republishing is free: the results stream drops it by Nats-Msg-Id when the
                # first publish landed, and delivers it when a crash came between the two.
                await self._backend.publish_result(result)
                return result
        await self._runs.started(job.job_id, job.thread)
        # The executor counts jobs, their duration and the in-flight gauge itself.
        try:
            result = await self._executor.execute(job)
        except RetryableError:
            raise
        except Exception as exc:
            raise _ExecutorError(exc) from exc
        # The run record first: a result message too large to carry the answer points to it.
        await self._runs.finished(result)
        if store is not None:
            await store.record_result(job.job_id, result.model_dump_json())
        await self._backend.publish_result(result)
        return result

    async def dead_letter_exhausted(self, delivery: Delivery) -> None:
        """Dead-letter a job whose deliveries ran out without an ack, unless it is done.

        ``delivery`` is the stored message, with the server's delivery count as its attempt.
        A recorded result means the job ran and only its ack was lost: nothing to do.
        """
        error = EXHAUSTED_ERROR.format(deliveries=delivery.attempt)
        try:
            job = Job.model_validate_json(delivery.data)
        except ValidationError as exc:
            await self._dead_letter(delivery, None, f"{error}; unparsable job: {_brief(exc)}")
            return
        if await self._recorded(job):
            log.info(
                "job ran out of deliveries but its result is recorded; not dead-lettering it",
                extra={"job_id": job.job_id, **delivery.describe()},
            )
            return
        await self._dead_letter(delivery, job, error)

    async def _recorded(self, job: Job) -> bool:
        """Whether the store holds the result of ``job``; False when it cannot say."""
        if self._store is None:
            return False
        try:
            return await self._store.get_result(job.job_id) is not None
        except Exception:
            # Nothing will announce this job again: a needless dead letter beats a lost job.
            log.warning(
                "result store unreachable; dead-lettering the job anyway",
                exc_info=True,
                extra={"job_id": job.job_id},
            )
            return False

    async def _dead_letter(self, delivery: Delivery, job: Job | None, error: str) -> None:
        letter = DeadLetter(
            error=error,
            attempts=delivery.attempt,
            payload=delivery.data,
            job_id=job.job_id if job else None,
            source=delivery.describe(),
        )
        if await self._backend.publish_dead_letter(letter):
            log.error("job dead-lettered: %s", error, extra=delivery.describe())
            JOBS_TOTAL.labels(status=DEAD_LETTERED).inc()
        else:
            # Another worker (or an earlier try of this one) dead-lettered it first.
            log.info("job already dead-lettered: %s", error, extra=delivery.describe())
        if job is not None:
            await self._runs.dead_lettered(job.job_id, job.thread, error)
            # Whoever waits on the results subject learns the job ended. Not recorded in
            # the store, so the same job id may be submitted again later.
            failed = JobResult(
                job_id=job.job_id, thread_id=job.thread, status=JobStatus.FAILED, error=error
            )
            await self._backend.publish_result(failed)
        await delivery.term()

    async def _keep_alive(self, delivery: Delivery) -> None:
        interval = max(self._options.ack_wait_seconds / 3, 0.1)
        while True:
            await asyncio.sleep(interval)
            try:
                await delivery.in_progress()
            except Exception:
                log.warning("in-progress ack failed", exc_info=True, extra=delivery.describe())

    # -- shutdown ----------------------------------------------------------------------------

    @property
    def busy(self) -> int:
        """How many deliveries are being handled."""
        return len(self._tasks)

    async def stop(self, grace_seconds: float) -> None:
        """The start of every backend's drain: stop fetching, end the loop, let jobs finish."""
        self._stopping.set()
        if self._loop is not None:
            await self._loop
        await self.wait_idle(grace_seconds)

    async def wait_idle(self, grace_seconds: float) -> None:
        """Wait up to the grace for running deliveries; cancel (and so nak) the rest."""
        tasks = set(self._tasks)
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=max(grace_seconds, 0))
        if pending:
            log.warning("grace period over; handing %d job(s) back to the queue", len(pending))
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)


T = TypeVar("T")


async def unless_stopped(
    awaitable: Awaitable[T], stopping: asyncio.Event
) -> asyncio.Future[T] | None:
    """Await ``awaitable`` unless ``stopping`` is set first.

    Returns the finished future (read its result), or None when stopping won the race and
    the awaitable was cancelled, so nothing it would have taken (a slot, a job) is held.
    """
    task = asyncio.ensure_future(awaitable)
    stop = asyncio.ensure_future(stopping.wait())
    try:
        await asyncio.wait({task, stop}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stop.cancel()
        task.cancel()  # a no-op when it already finished
    await asyncio.wait({task})  # let a cancellation land before looking
    return None if task.cancelled() else task


async def _nak_quietly(delivery: Delivery) -> None:
    with contextlib.suppress(Exception):
        await delivery.nak(0)


class _ExecutorError(Exception):
    """The executor raised something other than RetryableError: retrying will not help."""

    def __init__(self, cause: Exception) -> None:
        super().__init__(f"{type(cause).__name__}: {cause}")
        self.cause = cause


def _brief(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in err['loc']) or 'body'}: {err['msg']}" for err in exc.errors()
    )
