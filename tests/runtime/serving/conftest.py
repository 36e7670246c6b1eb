"""Fixtures of the serving tests: real NATS, Postgres and Redis, unique names per test.

Every test gets its own stream, consumer and subjects (and database, key prefix) and removes
them in ``finally``. The only doubles are ``ScriptedExecutor`` (a stand-in for the graph in
queue-semantics tests: it sleeps or fails as each job's metadata says) and the stub LLM.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from runtime.jobs import Job, JobResult, JobStatus, RetryableError
from runtime.queue import JetStreamOptions, JetStreamQueue, QueueOptions

TIMEOUT = 20.0
"""Upper bound of any single wait in these tests; nothing waits unbounded."""


def require_env(name: str) -> str:
    """The service URL in ``name``; skip without it, but fail under CI=true."""
    value = os.environ.get(name)
    if value:
        return value
    message = f'{name} is not set; run: eval "$(scripts/services.sh start)"'
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture
def nats_url() -> str:
    return require_env("XAGENT_TEST_NATS_URL")


@pytest.fixture
def redis_url() -> str:
    return require_env("XAGENT_TEST_REDIS_URL")


@pytest.fixture
def database_url() -> str:
    return require_env("XAGENT_TEST_DATABASE_URL")


# --- NATS -------------------------------------------------------------------------------------


@pytest.fixture
def names() -> JetStreamOptions:
    """Stream, consumer and subjects no other test uses."""
    tag = uuid.uuid4().hex[:10]
    return JetStreamOptions(
        url="",
        stream=f"T_{tag}",
        consumer=f"workers-{tag}",
        jobs_subject=f"t.{tag}.jobs",
        results_subject=f"t.{tag}.results",
        dead_letter_subject=f"t.{tag}.dead-letter",
    )


@pytest.fixture
def jetstream(nats_url: str, names: JetStreamOptions) -> JetStreamOptions:
    """The unique names with the NATS URL filled in."""
    return JetStreamOptions(**{**names.__dict__, "url": nats_url})


class Bus:
    """The test's own NATS connection: publishes jobs, reads results and dead letters."""

    def __init__(self, nc: Any, options: JetStreamOptions) -> None:
        self.nc = nc
        self.js = nc.jetstream()
        self.options = options

    async def publish_job(self, job: Job | bytes, msg_id: str | None = None) -> None:
        body = job if isinstance(job, bytes) else job.model_dump_json().encode()
        headers = {"Nats-Msg-Id": msg_id} if msg_id else None
        await self.js.publish(self.options.jobs_subject, body, headers=headers)

    async def messages(self, subject: str) -> list[Any]:
        """Every message stored on ``subject`` so far, oldest first."""
        from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
        from nats.js.errors import NotFoundError

        try:
            stream = await self.js.find_stream_name_by_subject(subject)
        except NotFoundError:
            return []
        info = await self.js.stream_info(stream, subjects_filter=subject)
        count = (info.state.subjects or {}).get(subject, 0)
        if not count:
            return []
        sub = await self.js.pull_subscribe(
            subject,
            stream=stream,
            config=ConsumerConfig(
                deliver_policy=DeliverPolicy.ALL,
                ack_policy=AckPolicy.NONE,
                inactive_threshold=5.0,
            ),
        )
        out: list[Any] = []
        try:
            while len(out) < count:
                out += await sub.fetch(batch=count - len(out), timeout=2)
        finally:
            await sub.unsubscribe()
        return out

    async def results(self) -> list[JobResult]:
        msgs = await self.messages(self.options.results_subject)
        return [JobResult.model_validate_json(m.data) for m in msgs]

    async def dead_letters(self) -> list[dict[str, Any]]:
        msgs = await self.messages(self.options.dead_letter_subject)
        return [json.loads(m.data) for m in msgs]

    async def wait_results(self, count: int, within: float = TIMEOUT) -> list[JobResult]:
        """Wait until ``count`` results are stored; fail after ``within`` seconds."""
        return await wait_for(self.results, lambda rs: len(rs) >= count, within)

    async def wait_dead_letters(self, count: int, within: float = TIMEOUT) -> list[dict]:
        return await wait_for(self.dead_letters, lambda ds: len(ds) >= count, within)

    async def consumer_info(self) -> Any:
        return await self.js.consumer_info(self.options.stream, self.options.consumer)


async def wait_for(
    probe: Callable[[], Any], done: Callable[[Any], bool], within: float = TIMEOUT
) -> Any:
    """Poll ``probe`` until ``done(value)``; fail the test with the last value after ``within``."""
    deadline = time.monotonic() + within
    while True:
        value = await probe()
        if done(value):
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {within}s; last value: {value!r}")
        await asyncio.sleep(0.1)


@pytest.fixture
async def bus(jetstream: JetStreamOptions) -> AsyncIterator[Bus]:
    """A NATS connection for the test; deletes the test's streams afterwards."""
    import nats

    nc = await nats.connect(jetstream.url, connect_timeout=5)
    try:
        yield Bus(nc, jetstream)
    finally:
        js = nc.jetstream()
        for stream in (jetstream.stream, f"{jetstream.stream}_RESULTS"):
            with contextlib.suppress(Exception):
                await js.delete_stream(stream)
        await nc.close()


@pytest.fixture
async def make_queue(jetstream: JetStreamOptions, bus: Bus) -> AsyncIterator[Callable[..., Any]]:
    """Start JetStream workers on the test's names; drains every one at teardown."""
    started: list[JetStreamQueue] = []

    async def make(executor: Any, store: Any = None, **options: Any) -> JetStreamQueue:
        defaults = {"ack_wait_seconds": 5.0, "fetch_timeout_seconds": 0.5}
        queue = JetStreamQueue(jetstream, executor, store, QueueOptions(**{**defaults, **options}))
        await queue.start()
        started.append(queue)
        return queue

    try:
        yield make
    finally:
        for queue in started:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(queue.drain(1.0), 10)


# --- the scripted executor --------------------------------------------------------------------


@dataclass
class ScriptedExecutor:
    """A JobExecutor double that does what each job's ``metadata`` says.

    ``metadata.sleep`` seconds of work; ``metadata.retryable_failures`` first attempts
    raise RetryableError; ``metadata.crash`` raises a plain error every time.
    """

    calls: list[tuple[str, float]] = field(default_factory=list)
    running: int = 0
    peak: int = 0

    def attempts(self, job_id: str) -> list[float]:
        return [at for jid, at in self.calls if jid == job_id]

    async def execute(self, job: Job) -> JobResult:
        self.calls.append((job.job_id, time.monotonic()))
        self.running += 1
        self.peak = max(self.peak, self.running)
        try:
            await asyncio.sleep(float(job.metadata.get("sleep", 0)))
            if len(self.attempts(job.job_id)) <= int(job.metadata.get("retryable_failures", 0)):
                raise RetryableError("provider unavailable")
            if job.metadata.get("crash"):
                raise ValueError("bad tool output")
            return JobResult(
                job_id=job.job_id,
                thread_id=job.thread,
                status=JobStatus.COMPLETED,
                output=f"echo: {job.input.messages[-1].content}",
            )
        finally:
            self.running -= 1


@pytest.fixture
def scripted() -> ScriptedExecutor:
    return ScriptedExecutor()


def make_job(job_id: str | None = None, text: str = "hello", **metadata: Any) -> Job:
    """A one-message job; ``metadata`` scripts the ScriptedExecutor."""
    return Job.model_validate(
        {
            "job_id": job_id or f"job-{uuid.uuid4().hex[:8]}",
            "input": {"messages": [{"role": "user", "content": text}]},
            "metadata": metadata,
        }
    )


@pytest.fixture
def job_factory() -> Callable[..., Job]:
    return make_job
