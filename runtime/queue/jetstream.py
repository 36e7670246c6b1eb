"""The JetStream queue: a durable pull consumer as the shared worker's backend.

It also listens to its consumer's max-deliveries advisory, to dead-letter a job whose last
delivery ended without an ack. This is the only runtime module that imports nats, and only
once a queue connects.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from contract import queue as queue_defaults
from runtime import observability as obs
from runtime.jobs import Job, JobExecutor, JobResult, JobTooLargeError
from runtime.queue.nats_auth import NatsAuth
from runtime.queue.worker import MAX_EMBEDDED_PAYLOAD, DeadLetter, QueueOptions, Worker

if TYPE_CHECKING:
    from runtime.state.runs import RunStore
    from runtime.state.store import IdempotencyStore

__all__ = ["JOB_ID_HEADER", "JetStreamOptions", "JetStreamQueue", "job_message"]

# Every queue module logs as "runtime.queue": one name to filter the queue's records by.
log = logging.getLogger("runtime.queue")

MSG_ID_HEADER = "Nats-Msg-Id"
JOB_ID_HEADER = "Xagent-Job-Id"
"""On every job, result and dead letter: the job id, for subscribers that drop repeats."""
_HEADER_ROOM = 512
"""Bytes kept free of a message's max payload for its headers."""
_REMEMBERED_DELIVERIES = 10_000
MAX_DELIVERIES_ADVISORY = "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.{stream}.{consumer}"
"""Where JetStream announces a message whose deliveries ran out without an ack or term."""
_ADVISORY_DRAIN_SECONDS = 5.0


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
    auth: NatsAuth = field(default_factory=NatsAuth)


class _JsDelivery:
    def __init__(self, msg: Any, attempt: int) -> None:
        self._msg = msg
        self.data: bytes = msg.data
        self.attempt = attempt
        meta = msg.metadata
        _observe_queue(meta)
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


def _observe_queue(meta: Any) -> None:
    """Queue wait of this delivery and the consumer's backlog behind it."""
    if meta.num_pending is not None:
        obs.QUEUE_PENDING_JOBS.set(meta.num_pending)
    if meta.num_delivered == 1 and meta.timestamp is not None:
        # First deliveries only: a redelivery's wait includes the earlier attempts.
        waited = (datetime.now(UTC) - meta.timestamp).total_seconds()
        obs.QUEUE_WAIT_SECONDS.observe(max(waited, 0.0))


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

    It is the worker's Backend (fetch, publish_result, publish_dead_letter); the worker runs
    the pull loop.
    """

    def __init__(
        self,
        connection: JetStreamOptions,
        executor: JobExecutor,
        store: IdempotencyStore | None = None,
        options: QueueOptions | None = None,
        runs: RunStore | None = None,
    ) -> None:
        self.connection = connection
        self.options = options or QueueOptions()
        self._worker = Worker(self, executor, store, self.options, runs)
        self._nc: Any = None
        self._js: Any = None
        self._sub: Any = None
        self._advisories: Any = None
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
            **self.connection.auth.connect_options(),
        )
        self._js = self._nc.jetstream()
        await self._ensure_streams()
        await self._ensure_consumer()

    async def start(self) -> None:
        """Connect, then pull jobs until drained."""
        await self.connect()
        if not self._worker.started:
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
            self._worker.start()

    async def submit(self, job: Job) -> None:
        """Publish ``job`` to the jobs subject (JetStream dedups by job id).

        Raises:
            JobTooLargeError: The job is larger than the server's max payload.
        """
        await self.connect()
        body, headers = job_message(job, self._nc.max_payload)
        await self._js.publish(self.connection.jobs_subject, body, headers=headers)

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
        await self._worker.stop(grace_seconds)
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
        from nats.js.errors import BadRequestError, NotFoundError

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
        try:
            await self._js.add_stream(
                StreamConfig(
                    name=conn.stream,
                    subjects=subjects,
                    duplicate_window=queue_defaults.DUPLICATE_WINDOW_SECONDS,
                )
            )
        except BadRequestError:
            # Replicas starting together race to create it: one that saw the other's new
            # stream by a subject (so asked for fewer subjects) is refused; the stream now
            # exists, which is all this wanted. Anything else is re-raised.
            try:
                await self._js.stream_info(conn.stream)
            except NotFoundError:
                raise
            log.info("stream %s was created by another replica", conn.stream)

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
                max_ack_pending=queue_defaults.max_ack_pending(
                    self.options.max_parallel_sessions, pods=None
                ),
            ),
        )

    # -- the worker's Backend ----------------------------------------------------------------

    async def fetch(self, limit: int, stopping: asyncio.Event) -> Sequence[_JsDelivery]:
        """Pull up to ``limit`` jobs, waiting at most the fetch timeout.

        ``stopping`` is not awaited: a pull request abandoned mid-way could capture jobs
        that then wait out ack_wait, so the short timeout bounds a drain instead.
        """
        try:
            msgs = await self._sub.fetch(batch=limit, timeout=self.options.fetch_timeout_seconds)
        except TimeoutError:  # no job within the fetch timeout (nats raises both kinds)
            return []
        jobs = []
        for msg in msgs:
            if msg.subject in self._own_output:
                # Only a consumer whose filter the server ignored delivers these (a
                # filterSubjects consumer on NATS before 2.10): never run the agent's own
                # results and dead letters as jobs.
                await msg.term()
                continue
            jobs.append(_JsDelivery(msg, self._attempt(msg)))
        return jobs

    @property
    def _own_output(self) -> tuple[str, str]:
        return (self.connection.results_subject, self.connection.dead_letter_subject)

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

    async def publish_result(self, result: JobResult) -> None:
        """Publish ``result`` on the results subject (``<job_id>:result``)."""
        body = result.model_dump_json().encode()
        if len(body) + _HEADER_ROOM > self._nc.max_payload:
            # The run record holds the whole answer (recorded before publishing).
            body = result.without_output().model_dump_json().encode()
        await self._publish(
            self.connection.results_subject, body, f"{result.job_id}:result", result.job_id
        )

    async def publish_dead_letter(self, letter: DeadLetter) -> bool:
        """Publish ``letter`` on the dead-letter subject; False when it was a duplicate."""
        key = letter.job_id or f"seq-{letter.source.get('stream_sequence', 'unknown')}"
        body = letter.to_json(max_embedded=min(MAX_EMBEDDED_PAYLOAD, self._nc.max_payload // 2))
        return await self._publish(
            self.connection.dead_letter_subject, body, f"{key}:dead", letter.job_id
        )

    async def _publish(self, subject: str, body: bytes, msg_id: str, job_id: str | None) -> bool:
        """Publish with ``msg_id``; False when the stream dropped it as a duplicate."""
        from nats.js.errors import NoStreamResponseError

        headers = _headers(msg_id, job_id)
        try:
            ack = await self._js.publish(subject, body, headers=headers)
        except NoStreamResponseError:
            # No stream captures the subject: still tell core-NATS subscribers.
            log.warning("no stream captures %s; publishing without persistence", subject)
            await self._nc.publish(subject, body, headers=headers)
            return True
        return not ack.duplicate


def job_message(job: Job, max_payload: int) -> tuple[bytes, dict[str, str]]:
    """A job's message body and headers (its id as ``Nats-Msg-Id`` and ``Xagent-Job-Id``).

    Raises:
        JobTooLargeError: The job is larger than a message of ``max_payload`` bytes carries.
    """
    body = job.model_dump_json().encode()
    if len(body) + _HEADER_ROOM > max_payload:
        raise JobTooLargeError(
            f"the job is {len(body)} bytes; the queue carries at most {max_payload - _HEADER_ROOM}"
        )
    return body, _headers(job.job_id, job.job_id)


def _headers(msg_id: str, job_id: str | None) -> dict[str, str]:
    """``Nats-Msg-Id`` for the stream's dedup, ``Xagent-Job-Id`` for plain subscribers'."""
    headers = {MSG_ID_HEADER: msg_id}
    if job_id:
        headers[JOB_ID_HEADER] = job_id
    return headers
