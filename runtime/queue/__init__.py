"""Where jobs come from: a JetStream pull consumer, or an in-process queue when embedded.

Both queues share one worker (``runtime.queue.worker.Worker``) so their semantics cannot
drift apart:

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

This module is the seam: ``JobQueue`` is what the HTTP API needs, ``JobSource`` what
``runtime.startup`` builds and ``runtime.main`` starts and drains. The worker, its one pull
loop and its types live in ``runtime.queue.worker``; a backend (``runtime.queue.jetstream``,
``runtime.queue.inprocess``) is the worker's ``Backend``: it fetches deliveries and
publishes results and dead letters, and its ``Delivery`` acks, naks and terminates one
message. Public names are re-exported here.
"""

from __future__ import annotations

from typing import Protocol

from runtime.jobs import Job, JobResult
from runtime.queue.inprocess import InProcessQueue
from runtime.queue.jetstream import JetStreamOptions, JetStreamQueue
from runtime.queue.worker import DEAD_LETTERED, DeadLetter, QueueOptions, backoff_delay

__all__ = [
    "DEAD_LETTERED",
    "DeadLetter",
    "InProcessQueue",
    "JetStreamOptions",
    "JetStreamQueue",
    "JobQueue",
    "JobSource",
    "QueueOptions",
    "backoff_delay",
]


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
