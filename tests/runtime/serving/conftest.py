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
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from contract.env import CACHE_ENV, DATABASE_ENV, ENV, QUEUE_ENV
from runtime.jobs import Job, JobResult, JobStatus, RetryableError
from runtime.queue import (
    InProcessQueue,
    JetStreamOptions,
    JetStreamQueue,
    JobSource,
    QueueOptions,
)
from runtime.serve.api import ApiDeps, create_app
from runtime.settings import Settings, load_settings
from runtime.startup import (
    AgentRuntime,
    build_authenticator,
    build_queue,
    open_agent,
    readiness_checks,
)
from tests.runtime.conftest import DEFINITIONS, STUB_MODEL, require_service
from tests.runtime.stub_llm import StubLLM

TIMEOUT = 20.0
"""Upper bound of any single wait in these tests; nothing waits unbounded."""


@pytest.fixture
def nats_url() -> str:
    return require_service("XAGENT_TEST_NATS_URL")


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


class Harness:
    """What queue tests drive: start workers, publish jobs, read results and dead letters.

    One implementation per queue kind, so the same tests run against both.
    """

    durable: bool = True

    async def start(self, executor: Any, store: Any = None, **options: Any) -> JobSource:
        raise NotImplementedError

    async def publish_job(self, job: Job | bytes) -> None:
        raise NotImplementedError

    async def results(self) -> list[JobResult]:
        raise NotImplementedError

    async def dead_letters(self) -> list[dict[str, Any]]:
        raise NotImplementedError

    async def wait_results(self, count: int, within: float = TIMEOUT) -> list[JobResult]:
        """Wait until ``count`` results are published; fail after ``within`` seconds."""
        return await wait_for(self.results, lambda rs: len(rs) >= count, within)

    async def wait_dead_letters(self, count: int, within: float = TIMEOUT) -> list[dict]:
        """Wait until ``count`` dead letters are published; fail after ``within`` seconds."""
        return await wait_for(self.dead_letters, lambda ds: len(ds) >= count, within)


class Bus(Harness):
    """The test's own NATS connection: publishes jobs, reads results and dead letters."""

    def __init__(self, nc: Any, options: JetStreamOptions) -> None:
        self.nc = nc
        self.js = nc.jetstream()
        self.options = options
        self.make_queue: Callable[..., Awaitable[JetStreamQueue]] | None = None

    async def start(self, executor: Any, store: Any = None, **options: Any) -> JobSource:
        assert self.make_queue is not None, "request the make_queue fixture"
        return await self.make_queue(executor, store, **options)

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

    async def take_unacked(self, count: int, within: float = TIMEOUT) -> list[Any]:
        """Fetch ``count`` job deliveries and never settle them: a worker killed holding them.

        To the server this is exactly a worker that fetched, then died before any ack.
        """
        sub = await self.js.pull_subscribe_bind(
            durable=self.options.consumer, stream=self.options.stream
        )
        taken: list[Any] = []
        deadline = time.monotonic() + within
        try:
            while len(taken) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    pytest.fail(f"took {len(taken)} of {count} deliveries within {within}s")
                # One pull request for the whole wait: one abandoned at its expiry could
                # capture a delivery nobody reads.
                with contextlib.suppress(TimeoutError):
                    taken += await sub.fetch(batch=count - len(taken), timeout=left)
        finally:
            await sub.unsubscribe()
        return taken

    async def consumer_info(self) -> Any:
        return await self.js.consumer_info(self.options.stream, self.options.consumer)

    async def wait_consumed(self, within: float = TIMEOUT) -> None:
        """Wait until the consumer has no job left: none pending, none unacked."""

        async def backlog() -> tuple[int, int]:
            info = await self.consumer_info()
            return info.num_pending, info.num_ack_pending

        await wait_for(backlog, lambda b: b == (0, 0), within)


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
        with contextlib.suppress(Exception):
            await nc.jetstream().delete_stream(jetstream.stream)
        await nc.close()


@pytest.fixture
async def make_queue(jetstream: JetStreamOptions, bus: Bus) -> AsyncIterator[Callable[..., Any]]:
    """Start JetStream workers on the test's names; drains every one at teardown."""
    started: list[JetStreamQueue] = []

    async def make(
        executor: Any, store: Any = None, runs: Any = None, **options: Any
    ) -> JetStreamQueue:
        queue = JetStreamQueue(jetstream, executor, store, _test_options(**options), runs=runs)
        await queue.start()
        started.append(queue)
        return queue

    bus.make_queue = make
    try:
        yield make
    finally:
        await _drain_all(started)


def _test_options(**options: Any) -> QueueOptions:
    return QueueOptions(**{"ack_wait_seconds": 5.0, "fetch_timeout_seconds": 0.5, **options})


async def _drain_all(queues: list[Any]) -> None:
    for queue in queues:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(queue.drain(1.0), 10)


class InProcessHarness(Harness):
    """The in-process queue behind the Harness interface; one queue per harness."""

    durable = False

    def __init__(self) -> None:
        self.queues: list[InProcessQueue] = []

    async def start(self, executor: Any, store: Any = None, **options: Any) -> JobSource:
        assert not self.queues, "in-process queues share no jobs: start one per test"
        queue = InProcessQueue(executor, store, _test_options(**options))
        await queue.start()
        self.queues.append(queue)
        return queue

    async def publish_job(self, job: Job | bytes) -> None:
        body = job if isinstance(job, bytes) else job.model_dump_json().encode()
        await self.queues[0].submit_raw(body)

    async def results(self) -> list[JobResult]:
        return list(self.queues[0].results) if self.queues else []

    async def dead_letters(self) -> list[dict[str, Any]]:
        letters = self.queues[0].dead_letters if self.queues else []
        return [json.loads(letter.to_json()) for letter in letters]


@pytest.fixture
async def in_process() -> AsyncIterator[InProcessHarness]:
    harness = InProcessHarness()
    try:
        yield harness
    finally:
        await _drain_all(harness.queues)


@pytest.fixture(params=["jetstream", "in-process"])
def queues(request: pytest.FixtureRequest) -> Harness:
    """Each queue kind in turn, behind one Harness: the shared conformance suite."""
    if request.param == "in-process":
        return request.getfixturevalue("in_process")
    request.getfixturevalue("make_queue")
    return request.getfixturevalue("bus")


# --- the scripted executor --------------------------------------------------------------------


@dataclass
class ScriptedExecutor:
    """A JobExecutor double that does what each job's ``metadata`` says.

    ``metadata.sleep`` seconds of work; ``metadata.gated`` waits until ``gate`` is set;
    ``metadata.retryable_failures`` first attempts raise RetryableError; ``metadata.crash``
    raises a plain error every time; ``metadata.output_bytes`` answers that many bytes.
    """

    calls: list[tuple[str, float]] = field(default_factory=list)
    running: int = 0
    peak: int = 0
    gate: asyncio.Event = field(default_factory=asyncio.Event)

    def attempts(self, job_id: str) -> list[float]:
        return [at for jid, at in self.calls if jid == job_id]

    async def execute(self, job: Job) -> JobResult:
        self.calls.append((job.job_id, time.monotonic()))
        self.running += 1
        self.peak = max(self.peak, self.running)
        try:
            await asyncio.sleep(float(job.metadata.get("sleep", 0)))
            if job.metadata.get("gated"):
                await self.gate.wait()
            if len(self.attempts(job.job_id)) <= int(job.metadata.get("retryable_failures", 0)):
                raise RetryableError("provider unavailable")
            if job.metadata.get("crash"):
                raise ValueError("bad tool output")
            output = f"echo: {job.input.messages[-1].content}"
            if job.metadata.get("output_bytes"):
                output = "x" * int(job.metadata["output_bytes"])
            return JobResult(
                job_id=job.job_id, thread_id=job.thread, status=JobStatus.COMPLETED, output=output
            )
        finally:
            self.running -= 1


@pytest.fixture
def scripted() -> ScriptedExecutor:
    return ScriptedExecutor()


def make_job(
    job_id: str | None = None, text: str = "hello", thread_id: str | None = None, **metadata: Any
) -> Job:
    """A one-message job; ``metadata`` scripts the ScriptedExecutor."""
    return Job.model_validate(
        {
            "job_id": job_id or f"job-{uuid.uuid4().hex[:8]}",
            "thread_id": thread_id,
            "input": {"messages": [{"role": "user", "content": text}]},
            "metadata": metadata,
        }
    )


@pytest.fixture
def job_factory() -> Callable[..., Job]:
    return make_job


def requests_with(llm: StubLLM, text: str) -> list[dict[str, Any]]:
    """The stub's requests whose last message is ``text``."""
    return [r for r in llm.requests if r["messages"][-1]["content"] == text]


async def wait_requested(llm: StubLLM, text: str, count: int = 1) -> None:
    """Wait until the stub LLM got ``count`` requests ending in ``text`` (a job is in flight)."""

    async def seen() -> int:
        return len(requests_with(llm, text))

    await wait_for(seen, lambda n: n >= count)


# --- the whole runtime ------------------------------------------------------------------------


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def agent_env(
    jetstream: JetStreamOptions,
    bus: Bus,  # removes the streams the runtime creates, whoever created them
    postgres_database: str,
    redis_agent: tuple[str, str],
    llm: StubLLM,
    tmp_path: Path,
) -> dict[str, str]:
    """The runtime's environment, by contract names: real services, names of this test only."""
    redis_url, agent = redis_agent
    return {
        ENV.AGENT_NAME: agent,
        ENV.AGENT_DEFINITION_PATH: str(DEFINITIONS / "single.json"),
        ENV.TOOL_GRANTS_PATH: str(tmp_path / "no-grants.json"),
        ENV.STATE_DIR: str(tmp_path / "state"),
        ENV.MODEL_PROVIDER: "openai-compatible",
        ENV.MODEL_NAME: STUB_MODEL,
        ENV.MODEL_ENDPOINT: llm.base_url,
        ENV.MODEL_MAX_RETRIES: "0",
        ENV.PORT: str(free_port()),
        ENV.SHUTDOWN_GRACE_SECONDS: "10",
        DATABASE_ENV.URL: postgres_database,
        CACHE_ENV.URL: redis_url,
        QUEUE_ENV.URL: jetstream.url,
        QUEUE_ENV.STREAM: jetstream.stream,
        QUEUE_ENV.CONSUMER: jetstream.consumer,
        QUEUE_ENV.JOBS_SUBJECT: jetstream.jobs_subject,
        QUEUE_ENV.RESULTS_SUBJECT: jetstream.results_subject,
        QUEUE_ENV.DEAD_LETTER_SUBJECT: jetstream.dead_letter_subject,
        QUEUE_ENV.ACK_WAIT_SECONDS: "5",
        QUEUE_ENV.MAX_DELIVER: "5",
    }


@dataclass
class RunningAgent:
    """A runtime started in the test's event loop: agent, queue worker and HTTP server."""

    settings: Settings
    agent: AgentRuntime
    queue: JobSource
    base_url: str | None


class _QuietServer(uvicorn.Server):
    # The test process keeps its own signal handlers.
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@pytest.fixture
async def start_agent(
    agent_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, bus: Bus
) -> AsyncIterator[Callable[..., Awaitable[RunningAgent]]]:
    """Start the runtime in process, the way main.serve wires it; stops it at teardown.

    ``start(http=False, **env)`` overrides contract variables of ``agent_env``.
    """
    stack = contextlib.AsyncExitStack()

    async def start(*, http: bool = True, **env: str) -> RunningAgent:
        for name, value in {**agent_env, **env}.items():
            monkeypatch.setenv(name, value)
        settings = load_settings()
        agent = await stack.enter_async_context(open_agent(settings))
        queue = build_queue(settings, agent, agent.executor)
        await queue.start()
        stack.push_async_callback(asyncio.wait_for, queue.drain(2.0), TIMEOUT)
        if not http:
            return RunningAgent(settings, agent, queue, None)
        deps = ApiDeps(
            queue=queue,
            events=agent.sink,
            checks=readiness_checks(settings, agent, queue),
            source=f"xagent/test/{settings.agent_name}",
            sse_block_ms=500,
            auth=build_authenticator(settings),
            runs=agent.stores.runs,
            thread_messages=agent.executor.thread_messages,
            capabilities=agent.capabilities,
        )
        server = _QuietServer(
            uvicorn.Config(
                create_app(deps), host="127.0.0.1", port=0, log_config=None, lifespan="on"
            )
        )
        task = asyncio.create_task(server.serve())

        async def stop() -> None:
            deps.stopping.set()
            server.should_exit = True
            await asyncio.wait_for(task, TIMEOUT)

        stack.push_async_callback(stop)
        await wait_for(lambda: _started(server, task), bool, within=TIMEOUT)
        port = server.servers[0].sockets[0].getsockname()[1]
        return RunningAgent(settings, agent, queue, f"http://127.0.0.1:{port}")

    try:
        yield start
    finally:
        await stack.aclose()


async def _started(server: uvicorn.Server, task: asyncio.Task[None]) -> bool:
    if task.done():
        task.result()  # raise what stopped it
        pytest.fail("the HTTP server stopped during startup")
    return server.started


class RuntimeProcess:
    """``python -m runtime`` in a subprocess, with its output in a log file."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.env = env
        self.log_path = log_path
        self.base_url = f"http://127.0.0.1:{env[ENV.PORT]}"
        self._log = log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "runtime"],
            env={**os.environ, **env},
            cwd=Path(__file__).parents[3],
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    async def wait_healthy(self, within: float = 60.0) -> None:
        async def healthy() -> bool:
            if self.proc.poll() is not None:
                pytest.fail(f"runtime exited with {self.proc.returncode}:\n{self.log()}")
            try:
                async with httpx.AsyncClient(timeout=1) as client:
                    return (await client.get(f"{self.base_url}/health")).status_code == 200
            except httpx.HTTPError:
                return False

        await wait_for(healthy, bool, within=within)

    async def wait_exit(self, within: float = TIMEOUT) -> int:
        async def exited() -> int | None:
            return self.proc.poll()

        await wait_for(exited, lambda code: code is not None, within=within)
        return int(self.proc.returncode)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=TIMEOUT)
        self._log.close()


@pytest.fixture
def spawn_runtime(
    agent_env: dict[str, str], tmp_path: Path
) -> Iterator[Callable[..., RuntimeProcess]]:
    """Start runtime subprocesses on the test's environment; kills leftovers at teardown."""
    started: list[RuntimeProcess] = []

    def spawn(**env: str) -> RuntimeProcess:
        merged = {**agent_env, ENV.PORT: str(free_port()), **env}
        process = RuntimeProcess(merged, tmp_path / f"runtime-{len(started)}.log")
        started.append(process)
        return process

    try:
        yield spawn
    finally:
        for process in started:
            process.stop()
