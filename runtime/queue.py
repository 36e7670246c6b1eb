"""Where jobs come from: a JetStream pull consumer, or an in-process queue when embedded.

Both queues share one worker (``_Worker``) so their semantics cannot drift apart:

- at most ``max_parallel_sessions`` jobs run at once; the worker fetches only as many
  messages as it has free slots;
- while a job runs, the message is kept alive with in-progress acks every third of
  ``ack_wait``, so a long job is not redelivered to another worker;
- a job is idempotent by ``job_id``: its result is recorded in the ``IdempotencyStore`` and
  published (``Nats-Msg-Id`` = ``<job_id>:result``, so JetStream drops a repeat) before the
  message is acked; a redelivered job whose result is recorded is not run again;
- ``RetryableError`` naks the message with an exponential backoff by delivery count; at
  ``max_deliver`` deliveries, and at once for any other error or an unparsable message, the
  job goes to the dead-letter subject with the error and its original payload, and the
  message is terminated;
- a job whose last allowed delivery ends without an ack (its worker was killed, or it timed
  out) is never delivered again: JetStream announces it on the consumer's max-deliveries
  advisory, and every JetStream worker listening sends it to the dead-letter subject unless
  its result is recorded (the shared ``Nats-Msg-Id`` keeps one dead letter);
- ``drain(grace)`` stops fetching, waits up to ``grace`` seconds for running jobs and naks
  what is unfinished so another worker picks it up immediately. Nothing is lost.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import ValidationError

from runtime.jobs import Job, JobExecutor, JobResult, JobStatus, RetryableError
from runtime.observability import JOBS_TOTAL, QUEUE_REDELIVERIES_TOTAL

if TYPE_CHECKING:
    from runtime.store import IdempotencyStore

__all__ = [
    "DeadLetter",
    "InProcessQueue",
    "JetStreamQueue",
    "JobQueue",
    "JobSource",
    "QueueOptions",
    "backoff_delay",
]

log = logging.getLogger(__name__)

MSG_ID_HEADER = "Nats-Msg-Id"
DUPLICATE_WINDOW = 120.0
"""Seconds a stream this module creates remembers a Nats-Msg-Id (the function's ``2m``)."""
_REMEMBERED_DELIVERIES = 10_000
DEAD_LETTERED = "dead_lettered"
"""The ``xagent_jobs_total`` status of a job the queue gave up on."""
MAX_DELIVERIES_ADVISORY = "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.{stream}.{consumer}"
"""Where JetStream announces a message whose deliveries ran out without an ack or term."""
EXHAUSTED_ERROR = (
    "max deliveries ({deliveries}) exhausted without an ack; the last worker died or timed out"
)
_ADVISORY_DRAIN_SECONDS = 5.0


@dataclass(frozen=True)
class QueueOptions:
    """Worker tunables; ``runtime.main.queue_options`` fills them from the Settings."""

    max_parallel_sessions: int = 4
    ack_wait_seconds: float = 30.0
    max_deliver: int = 5
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


class JobQueue(Protocol):
    """What the HTTP API needs from a queue: enqueue, run now, and a reachability check."""

    async def submit(self, job: Job) -> None:
        """Enqueue ``job`` durably; a worker runs it later."""
        ...

    async def run(self, job: Job) -> JobResult:
        """Run ``job`` now in this process, under the same limit and idempotency."""
        ...

    async def ping(self) -> bool:
        """Whether the queue backend answers."""
        ...


class JobSource(JobQueue, Protocol):
    """A queue with a worker loop: what main.py starts and drains."""

    async def start(self) -> None:
        """Connect and start pulling jobs."""
        ...

    async def drain(self, grace_seconds: float) -> None:
        """Stop pulling, let running jobs finish within the grace, nak the rest, close."""
        ...


@dataclass
class DeadLetter:
    """A job given up on: why, after how many deliveries, and what it was."""

    error: str
    attempts: int
    payload: bytes
    job_id: str | None = None
    source: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> bytes:
        """The dead-letter message body."""
        try:
            original: Any = json.loads(self.payload)
        except (ValueError, UnicodeDecodeError):
            original = {"base64": base64.b64encode(self.payload).decode()}
        body = {
            "job_id": self.job_id,
            "error": self.error,
            "attempts": self.attempts,
            "source": self.source,
            "payload": original,
        }
        return json.dumps(body).encode()


class _Delivery(Protocol):
    """One delivery of a job message, whatever carried it."""

    data: bytes
    attempt: int

    def describe(self) -> dict[str, Any]: ...
    async def ack(self) -> None: ...
    async def nak(self, delay: float) -> None: ...
    async def term(self) -> None: ...
    async def in_progress(self) -> None: ...


PublishResult = Callable[[JobResult], Awaitable[None]]
PublishDeadLetter = Callable[[DeadLetter], Awaitable[bool]]
"""Publishes a dead letter; False when the stream already held it (a duplicate)."""


class _Worker:
    """Runs deliveries with bounded parallelism, idempotency, retries and dead-lettering."""

    def __init__(
        self,
        executor: JobExecutor,
        store: IdempotencyStore | None,
        options: QueueOptions,
        publish_result: PublishResult,
        publish_dead_letter: PublishDeadLetter,
    ) -> None:
        self._executor = executor
        self._store = store
        self._options = options
        self._publish_result = publish_result
        self._publish_dead_letter = publish_dead_letter
        self._slots = asyncio.Semaphore(options.max_parallel_sessions)
        self._tasks: set[asyncio.Task[None]] = set()
        self._running: dict[str, asyncio.Future[JobResult]] = {}

    # -- slots -------------------------------------------------------------------------------

    async def acquire_slots(self, stopping: asyncio.Event) -> int:
        """Wait for a free slot, then take every other free one; returns how many.

        Returns 0, holding nothing, once ``stopping`` is set: a drain never waits for a
        slot to free up before it stops fetching.
        """
        if stopping.is_set():
            return 0
        first = asyncio.ensure_future(self._slots.acquire())
        stop = asyncio.ensure_future(stopping.wait())
        try:
            await asyncio.wait({first, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
            first.cancel()  # a no-op when it already holds the slot
        await asyncio.wait({first})  # let a cancellation land before looking
        if first.cancelled():
            return 0
        if stopping.is_set():
            self._slots.release()
            return 0
        taken = 1
        while not self._slots.locked():
            await self._slots.acquire()  # free: returns at once
            taken += 1
        return taken

    def release_slots(self, count: int) -> None:
        """Give back ``count`` slots that were not used."""
        for _ in range(count):
            self._slots.release()

    def spawn(self, delivery: _Delivery) -> None:
        """Handle ``delivery`` in the background on a slot the caller already holds."""
        task = asyncio.create_task(self._handle_on_slot(delivery))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _handle_on_slot(self, delivery: _Delivery) -> None:
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
        except _ExecutorError as exc:
            raise exc.cause from None
        finally:
            self._tasks.discard(task)  # type: ignore[arg-type]

    # -- one delivery ------------------------------------------------------------------------

    async def handle(self, delivery: _Delivery) -> None:
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

    async def _handle(self, delivery: _Delivery) -> None:
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
                await self._publish_result(result)
                return result
        # The executor counts jobs, their duration and the in-flight gauge itself.
        try:
            result = await self._executor.execute(job)
        except RetryableError:
            raise
        except Exception as exc:
            raise _ExecutorError(exc) from exc
        if store is not None:
            await store.record_result(job.job_id, result.model_dump_json())
        await self._publish_result(result)
        return result

    async def dead_letter_exhausted(self, delivery: _Delivery) -> None:
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

    async def _dead_letter(self, delivery: _Delivery, job: Job | None, error: str) -> None:
        letter = DeadLetter(
            error=error,
            attempts=delivery.attempt,
            payload=delivery.data,
            job_id=job.job_id if job else None,
            source=delivery.describe(),
        )
        if await self._publish_dead_letter(letter):
            log.error("job dead-lettered: %s", error, extra=delivery.describe())
            JOBS_TOTAL.labels(status=DEAD_LETTERED).inc()
        else:
            # Another worker (or an earlier try of this one) dead-lettered it first.
            log.info("job already dead-lettered: %s", error, extra=delivery.describe())
        if job is not None:
            # Whoever waits on the results subject learns the job ended. Not recorded in
            # the store, so the same job id may be submitted again later.
            failed = JobResult(
                job_id=job.job_id, thread_id=job.thread, status=JobStatus.FAILED, error=error
            )
            await self._publish_result(failed)
        await delivery.term()

    async def _keep_alive(self, delivery: _Delivery) -> None:
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


class _ExecutorError(Exception):
    """The executor raised something other than RetryableError: retrying will not help."""

    def __init__(self, cause: Exception) -> None:
        super().__init__(f"{type(cause).__name__}: {cause}")
        self.cause = cause


def _brief(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in err['loc']) or 'body'}: {err['msg']}" for err in exc.errors()
    )


# --- in-process queue -------------------------------------------------------------------------


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
    the job back after its delay.
    """

    def __init__(
        self,
        executor: JobExecutor,
        store: IdempotencyStore | None = None,
        options: QueueOptions | None = None,
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
        self._worker = _Worker(
            executor, store, self.options, self._publish_result, self._publish_dead_letter
        )
        self._loop_task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    async def start(self) -> None:
        """Start the worker loop."""
        if self._loop_task is None:
            self._loop_task = asyncio.create_task(self._pull_loop())

    async def submit(self, job: Job) -> None:
        """Enqueue ``job``."""
        if self._stopping.is_set():
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
        self._stopping.set()
        if self._loop_task is not None:
            await self._loop_task
        await self._worker.wait_idle(grace_seconds)
        for timer in self._timers:
            timer.cancel()
        if self._queue.qsize() or self._timers:
            log.warning(
                "in-process queue stopped with %d job(s) queued; they are not durable",
                self._queue.qsize() + len(self._timers),
            )

    async def _pull_loop(self) -> None:
        while True:
            taken = await self._worker.acquire_slots(self._stopping)
            if not taken:
                return
            used = 0
            try:
                delivery = await self._next()
                while delivery is not None:
                    self._worker.spawn(delivery)
                    used += 1
                    delivery = (
                        self._queue.get_nowait() if used < taken and self._queue.qsize() else None
                    )
            finally:
                self._worker.release_slots(taken - used)

    async def _next(self) -> _LocalDelivery | None:
        """The next job, or None once stopping (the job stays queued then)."""
        getter = asyncio.ensure_future(self._queue.get())
        stop = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait({getter, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
            getter.cancel()  # a no-op when it already got a job
        await asyncio.wait({getter})  # let a cancellation land before looking
        if getter.cancelled():
            return None
        delivery = getter.result()
        if self._stopping.is_set():
            self._queue.put_nowait(delivery)
            return None
        return delivery

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

    async def _publish_result(self, result: JobResult) -> None:
        self.results.append(result)
        if self._on_result is not None:
            await self._on_result(result)

    async def _publish_dead_letter(self, letter: DeadLetter) -> bool:
        self.dead_letters.append(letter)
        if self._on_dead_letter is not None:
            await self._on_dead_letter(letter)
        return True


# --- JetStream --------------------------------------------------------------------------------


@dataclass(frozen=True)
class JetStreamOptions:
    """Where the JetStream queue connects and which names it uses."""

    url: str
    stream: str
    consumer: str
    jobs_subject: str
    results_subject: str
    dead_letter_subject: str
    connect_timeout_seconds: float = 5.0


class _JsDelivery:
    def __init__(self, msg: Any, attempt: int) -> None:
        self._msg = msg
        self.data: bytes = msg.data
        self.attempt = attempt
        meta = msg.metadata
        self._describe = {
            "stream": meta.stream,
            "consumer": meta.consumer,
            "stream_sequence": meta.sequence.stream,
            "attempt": attempt,
            "subject": msg.subject,
        }

    def describe(self) -> dict[str, Any]:
        return dict(self._describe)

    async def ack(self) -> None:
        await self._msg.ack_sync()

    async def nak(self, delay: float) -> None:
        await self._msg.nak(delay=delay or None)

    async def term(self) -> None:
        await self._msg.term()

    async def in_progress(self) -> None:
        await self._msg.in_progress()


class _ExhaustedDelivery:
    """A stored job message JetStream will not deliver again: there is nothing to settle."""

    def __init__(self, msg: Any, stream: str, consumer: str, deliveries: int) -> None:
        self.data: bytes = msg.data or b""
        self.attempt = deliveries
        self._describe = {
            "stream": stream,
            "consumer": consumer,
            "stream_sequence": msg.seq,
            "attempt": deliveries,
            "subject": msg.subject,
        }

    def describe(self) -> dict[str, Any]:
        return dict(self._describe)

    async def ack(self) -> None:
        return None

    async def nak(self, delay: float) -> None:
        return None

    async def term(self) -> None:
        return None

    async def in_progress(self) -> None:
        return None


class JetStreamQueue:
    """A durable JetStream pull consumer feeding the worker.

    In a cluster the NACK operator declares the stream and consumer (function/builders/
    queue.py); when they are missing (locally, in tests) ``start`` creates them the same way:
    one stream on the jobs, results and dead-letter subjects, and a durable explicit-ack
    consumer filtered on the jobs subject.

    Every message carries a ``Nats-Msg-Id`` derived from the job id, distinct per kind:
    ``<job_id>`` on a job, ``<job_id>:result`` on its result, ``<job_id>:dead`` on its dead
    letter. They share one stream, and its duplicate window would drop a result whose id
    equalled the id of the job that asked for it.

    While started, it also listens (core NATS) to the consumer's max-deliveries advisory:
    JetStream sends it when a job's last allowed delivery ends without an ack, a worker
    killed or timed out on it, and then never delivers the job again. Every worker hears it
    and dead-letters the stored job (``<job_id>:dead`` keeps it to one dead letter). The
    server sends it only while some worker pulls, so one that starts later still catches it.
    """

    def __init__(
        self,
        connection: JetStreamOptions,
        executor: JobExecutor,
        store: IdempotencyStore | None = None,
        options: QueueOptions | None = None,
    ) -> None:
        self.connection = connection
        self.options = options or QueueOptions()
        self._worker = _Worker(
            executor, store, self.options, self._publish_result, self._publish_dead_letter
        )
        self._nc: Any = None
        self._js: Any = None
        self._sub: Any = None
        self._advisories: Any = None
        self._loop_task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._deliveries: OrderedDict[int, int] = OrderedDict()

    async def connect(self) -> None:
        """Connect to NATS and make sure stream and consumer exist (no pulling yet)."""
        import nats

        if self._nc is not None:
            return
        self._nc = await nats.connect(
            self.connection.url,
            connect_timeout=self.connection.connect_timeout_seconds,
            max_reconnect_attempts=-1,
            name=f"xagent-runtime/{self.connection.consumer}",
        )
        self._js = self._nc.jetstream()
        await self._ensure_streams()
        await self._ensure_consumer()

    async def start(self) -> None:
        """Connect, then pull jobs until drained."""
        await self.connect()
        if self._loop_task is None:
            # Before the first pull: the server announces an exhausted job only while a
            # worker pulls, so every puller is listening by then.
            self._advisories = await self._nc.subscribe(
                MAX_DELIVERIES_ADVISORY.format(
                    stream=self.connection.stream, consumer=self.connection.consumer
                ),
                cb=self._on_max_deliveries,
            )
            self._sub = await self._js.pull_subscribe_bind(
                durable=self.connection.consumer, stream=self.connection.stream
            )
            self._loop_task = asyncio.create_task(self._pull_loop())

    async def submit(self, job: Job) -> None:
        """Publish ``job`` to the jobs subject (JetStream dedups by job id)."""
        await self.connect()
        await self._js.publish(
            self.connection.jobs_subject,
            job.model_dump_json().encode(),
            headers={MSG_ID_HEADER: job.job_id},
        )

    async def run(self, job: Job) -> JobResult:
        """Run ``job`` now under the concurrency limit; its result is published too."""
        await self.connect()
        return await self._worker.run_now(job)

    async def ping(self) -> bool:
        """Whether NATS answers a round trip within a second."""
        nc = self._nc
        if nc is None or not nc.is_connected:
            return False
        try:
            await nc.flush(timeout=1)
        except Exception:
            return False
        return True

    async def drain(self, grace_seconds: float) -> None:
        """Stop fetching, let running jobs finish within the grace, nak the rest, close."""
        self._stopping.set()
        if self._loop_task is not None:
            await self._loop_task
        await self._worker.wait_idle(grace_seconds)
        advisories, self._advisories = self._advisories, None
        if advisories is not None:
            # Stop listening, but finish dead-lettering what was already announced.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(advisories.drain(), _ADVISORY_DRAIN_SECONDS)
        await self.close()

    async def close(self) -> None:
        """Flush what was published and acked, then close the connection."""
        nc, self._nc = self._nc, None
        if nc is None:
            return
        for sub in (self._advisories, self._sub):
            if sub is not None:
                with contextlib.suppress(Exception):
                    await sub.unsubscribe()
        self._advisories = self._sub = None
        with contextlib.suppress(Exception):
            await nc.flush(timeout=2)
        await nc.close()

    # -- internals ---------------------------------------------------------------------------

    async def _ensure_streams(self) -> None:
        from nats.js.api import StreamConfig
        from nats.js.errors import NotFoundError

        conn = self.connection
        try:
            await self._js.stream_info(conn.stream)
            return  # declared by NACK (or an earlier run): never reshaped here
        except NotFoundError:
            pass
        # Like the function's NACK Stream: one stream holds jobs, results and dead letters.
        subjects = [conn.jobs_subject]
        for subject in (conn.results_subject, conn.dead_letter_subject):
            try:
                await self._js.find_stream_name_by_subject(subject)
            except NotFoundError:
                subjects.append(subject)
        log.info("creating stream %s on %s", conn.stream, ", ".join(subjects))
        await self._js.add_stream(
            StreamConfig(name=conn.stream, subjects=subjects, duplicate_window=DUPLICATE_WINDOW)
        )

    async def _ensure_consumer(self) -> None:
        from nats.js.api import AckPolicy, ConsumerConfig
        from nats.js.errors import NotFoundError

        conn = self.connection
        try:
            await self._js.consumer_info(conn.stream, conn.consumer)
            return
        except NotFoundError:
            pass
        log.info("creating durable consumer %s on %s", conn.consumer, conn.stream)
        await self._js.add_consumer(
            conn.stream,
            ConsumerConfig(
                name=conn.consumer,
                durable_name=conn.consumer,
                ack_policy=AckPolicy.EXPLICIT,
                filter_subject=conn.jobs_subject,
                ack_wait=self.options.ack_wait_seconds,
                max_deliver=self.options.max_deliver,
                max_ack_pending=max(1000, self.options.max_parallel_sessions),
            ),
        )

    async def _pull_loop(self) -> None:
        while True:
            taken = await self._worker.acquire_slots(self._stopping)
            if not taken:
                return
            used = 0
            try:
                try:
                    # Never cancelled: a pull request abandoned mid-way could capture jobs
                    # that then wait out ack_wait; the short timeout bounds a drain instead.
                    msgs = await self._sub.fetch(
                        batch=taken, timeout=self.options.fetch_timeout_seconds
                    )
                except TimeoutError:  # no job within the fetch timeout (nats raises both kinds)
                    continue
                except Exception:
                    if self._stopping.is_set():
                        return
                    log.warning("fetching jobs failed; retrying", exc_info=True)
                    await asyncio.sleep(1)
                    continue
                for msg in msgs:
                    if self._stopping.is_set():
                        # Fetched while shutting down: hand it straight back.
                        with contextlib.suppress(Exception):
                            await msg.nak()
                        continue
                    self._worker.spawn(_JsDelivery(msg, self._attempt(msg)))
                    used += 1
            finally:
                self._worker.release_slots(taken - used)

    def _attempt(self, msg: Any) -> int:
        """Which delivery of its job ``msg`` is, by the server and by this worker's count.

        nats-server before 2.10.14 may report a redelivery after a delayed nak as delivery
        1 again (nats-server#5305); counting here too keeps backoff and max_deliver right.
        """
        meta = msg.metadata
        seq = meta.sequence.stream
        attempt = max(meta.num_delivered, self._deliveries.pop(seq, 0) + 1)
        self._deliveries[seq] = attempt
        while len(self._deliveries) > _REMEMBERED_DELIVERIES:
            self._deliveries.popitem(last=False)
        return attempt

    async def _on_max_deliveries(self, msg: Any) -> None:
        """Dead-letter the job a max-deliveries advisory names; never raises."""
        from nats.js.errors import NotFoundError

        conn = self.connection
        try:
            advisory = json.loads(msg.data)
            seq = int(advisory["stream_seq"])
            deliveries = int(advisory.get("deliveries") or self.options.max_deliver)
        except (ValueError, TypeError, KeyError):
            log.warning("ignoring a malformed max-deliveries advisory: %r", msg.data[:200])
            return
        self._deliveries.pop(seq, None)
        where = {"stream": conn.stream, "consumer": conn.consumer, "stream_sequence": seq}
        try:
            stored = await self._js.get_msg(conn.stream, seq)
        except NotFoundError:
            log.error("a job ran out of deliveries and is no longer in the stream", extra=where)
            return
        except Exception:
            log.exception("could not read a job that ran out of deliveries", extra=where)
            return
        delivery = _ExhaustedDelivery(stored, conn.stream, conn.consumer, deliveries)
        try:
            await self._worker.dead_letter_exhausted(delivery)
        except Exception:
            # Another worker heard the same advisory and may do better; JetStream does
            # not announce it twice.
            log.exception("could not dead-letter a job that ran out of deliveries", extra=where)

    async def _publish_result(self, result: JobResult) -> None:
        body = result.model_dump_json().encode()
        await self._publish(self.connection.results_subject, body, f"{result.job_id}:result")

    async def _publish_dead_letter(self, letter: DeadLetter) -> bool:
        key = letter.job_id or f"seq-{letter.source.get('stream_sequence', 'unknown')}"
        return await self._publish(
            self.connection.dead_letter_subject, letter.to_json(), f"{key}:dead"
        )

    async def _publish(self, subject: str, body: bytes, msg_id: str) -> bool:
        """Publish with ``msg_id``; False when the stream dropped it as a duplicate."""
        from nats.js.errors import NoStreamResponseError

        try:
            ack = await self._js.publish(subject, body, headers={MSG_ID_HEADER: msg_id})
        except NoStreamResponseError:
            # No stream captures the subject: still tell core-NATS subscribers.
            log.warning("no stream captures %s; publishing without persistence", subject)
            await self._nc.publish(subject, body, headers={MSG_ID_HEADER: msg_id})
            return True
        return not ack.duplicate
