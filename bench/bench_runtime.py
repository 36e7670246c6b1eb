"""The agent runtime next to bare LangGraph, on the same zero-latency stub model, in one run.

The model is tests/runtime/stub_llm.py, an OpenAI-compatible server in its own process,
reached through the real provider client (langchain-openai), so every case pays the same
HTTP round trip and what differs is the runtime around it. In process, N one-turn jobs run
one after another, rounds interleaved:

- bare: a single-node LangGraph graph calling the model, `ainvoke`, nothing else;
- features: the same graph with what the executor adds: a streaming model, the SQLite
  checkpointer and `astream_events`, each event kept as an event sink would;
- executor: xagent's GraphExecutor on the same SQLite checkpointer and an in-memory sink.

Then through real NATS, Postgres and Redis (scripts/services.sh; skipped without
XAGENT_TEST_NATS_URL), `python -m runtime` worker processes: start-to-/ready time (the first
on a fresh database, creating its tables; the second on that migrated database, as a pod
scaled from zero starts), idle RSS, and jobs/s with one worker and with two (all jobs
published at once, results read from the results subject). Last, the wall time of one
`xagent run` turn against the stub, next to the time to import LangGraph and langchain-openai
alone, the floor under both `xagent run` and a worker's start.

    python bench/bench_runtime.py [--jobs 200] [--rounds 3] [--queue-jobs 500] [--cli-runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MODEL = "stub-model"
DEFINITION = ROOT / "tests/runtime/definitions/single.json"
SYSTEM = "You are a helpful assistant."


# --- the stub model, in its own process ----------------------------------------------------


@contextlib.contextmanager
def stub_llm():
    """Serve the stub on loopback in a child process; yield its base URL."""
    code = (
        "import sys, threading; from tests.runtime.stub_llm import StubLLM; "
        "s = StubLLM().start(); print(s.base_url, flush=True); sys.stdin.read()"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        yield proc.stdout.readline().strip()
    finally:
        proc.stdin.close()
        proc.terminate()
        proc.wait(timeout=10)


# --- in-process cases ------------------------------------------------------------------------


def _model(base_url: str, streaming: bool) -> Any:
    from langchain_openai import ChatOpenAI

    return ChatOpenAI(
        model=MODEL, base_url=base_url, api_key="unused", max_retries=0, streaming=streaming
    )


def _graph(model: Any, checkpointer: Any = None) -> Any:
    from langchain_core.messages import SystemMessage
    from langgraph.graph import START, MessagesState, StateGraph

    async def assistant(state: MessagesState) -> dict[str, Any]:
        return {"messages": [await model.ainvoke([SystemMessage(SYSTEM), *state["messages"]])]}

    builder = StateGraph(MessagesState)
    builder.add_node("assistant", assistant)
    builder.add_edge(START, "assistant")
    return builder.compile(checkpointer=checkpointer)


async def bare(
    base_url: str, state: Path, stack: contextlib.AsyncExitStack
) -> Callable[[int], Awaitable[None]]:
    graph = _graph(_model(base_url, streaming=False))

    async def turn(i: int) -> None:
        await graph.ainvoke({"messages": [("user", f"question {i}")]})

    return turn


async def features(
    base_url: str, state: Path, stack: contextlib.AsyncExitStack
) -> Callable[[int], Awaitable[None]]:
    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

    saver = await stack.enter_async_context(
        AsyncSqliteSaver.from_conn_string(str(state / "bare.sqlite"))
    )
    await saver.setup()
    graph = _graph(_model(base_url, streaming=True), saver)
    sink: list[Any] = []

    async def turn(i: int) -> None:
        config = {"configurable": {"thread_id": uuid.uuid4().hex}}
        inputs = {"messages": [("user", f"question {i}")]}
        async for event in graph.astream_events(inputs, config, version="v2"):
            sink.append((event["event"], event.get("name")))
        sink.clear()

    return turn


async def executor(
    base_url: str, state: Path, stack: contextlib.AsyncExitStack
) -> Callable[[int], Awaitable[None]]:
    from runtime.jobs import Job, JobInput, JobStatus, Message
    from runtime.settings import load_settings
    from runtime.startup import open_agent
    from runtime.state.stream import MemoryEventSink

    settings = load_settings(
        model_provider="openai-compatible",
        model_name=MODEL,
        model_endpoint=base_url,
        model_max_retries=0,
        state_dir=state / "executor",
        tool_grants_path=state / "no-grants.json",
        definition_path=DEFINITION,
    )
    agent = await stack.enter_async_context(
        open_agent(settings, grant_all=True, sink=MemoryEventSink())
    )

    async def turn(i: int) -> None:
        job = Job(
            job_id=uuid.uuid4().hex,
            thread_id=uuid.uuid4().hex,
            input=JobInput(messages=[Message(role="user", content=f"question {i}")]),
        )
        result = await agent.executor.execute(job)
        if result.status != JobStatus.COMPLETED:
            raise SystemExit(f"executor failed a job: {result.error}")

    return turn


async def in_process(base_url: str, jobs: int, rounds: int) -> dict[str, list[float]]:
    """Seconds per job of each case, one figure per round."""
    out: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        async with contextlib.AsyncExitStack() as stack:
            state = Path(tmp)
            turns = {
                "bare": await bare(base_url, state, stack),
                "features": await features(base_url, state, stack),
                "executor": await executor(base_url, state, stack),
            }
            for turn in turns.values():  # warm up: clients, connections, lazy imports
                for i in range(3):
                    await turn(i)
            for _ in range(rounds):
                for name, turn in turns.items():
                    start = time.perf_counter()
                    for i in range(jobs):
                        await turn(i)
                    out.setdefault(name, []).append((time.perf_counter() - start) / jobs)
    return out


# --- worker processes through NATS ----------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def _wait_ready(url: str, proc: subprocess.Popen, within: float = 120) -> float:
    import httpx

    start = time.perf_counter()
    async with httpx.AsyncClient(timeout=1) as client:
        while time.perf_counter() - start < within:
            if proc.poll() is not None:
                raise SystemExit(f"runtime exited with {proc.returncode}")
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(url)).status_code == 200:
                    return time.perf_counter() - start
            await asyncio.sleep(0.02)
    raise SystemExit(f"runtime not ready after {within}s")


@contextlib.asynccontextmanager
async def _database(admin_url: str):
    import psycopg

    name = f"xagent_bench_{uuid.uuid4().hex[:10]}"
    async with await psycopg.AsyncConnection.connect(admin_url, autocommit=True) as admin:
        await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield admin_url.rsplit("/", 1)[0] + "/" + name
    finally:
        async with await psycopg.AsyncConnection.connect(admin_url, autocommit=True) as admin:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def workers(base_url: str, jobs: int) -> dict[str, float] | None:
    """Start-to-/ready, idle RSS and jobs/s of one and of two worker processes."""
    import nats

    from contract.env import CACHE_ENV, DATABASE_ENV, ENV, QUEUE_ENV
    from runtime.jobs import Job, JobInput, Message

    nats_url = os.environ.get("XAGENT_TEST_NATS_URL")
    admin_url = os.environ.get("XAGENT_TEST_DATABASE_URL")
    redis_url = os.environ.get("XAGENT_TEST_REDIS_URL")
    if not (nats_url and admin_url and redis_url):
        return None
    tag = uuid.uuid4().hex[:10]
    out: dict[str, float] = {}
    nc = await nats.connect(nats_url)
    with tempfile.TemporaryDirectory() as tmp:
        async with _database(admin_url) as db_url:
            env = {
                **os.environ,
                ENV.AGENT_NAME: f"bench-{tag}",
                ENV.AGENT_DEFINITION_PATH: str(DEFINITION),
                ENV.TOOL_GRANTS_PATH: str(Path(tmp) / "no-grants.json"),
                ENV.STATE_DIR: str(Path(tmp) / "state"),
                ENV.MODEL_PROVIDER: "openai-compatible",
                ENV.MODEL_NAME: MODEL,
                ENV.MODEL_ENDPOINT: base_url,
                ENV.MODEL_MAX_RETRIES: "0",
                ENV.LOG_LEVEL: "WARNING",
                DATABASE_ENV.URL: db_url,
                CACHE_ENV.URL: redis_url,
                QUEUE_ENV.URL: nats_url,
                QUEUE_ENV.STREAM: f"BENCH_{tag}",
                QUEUE_ENV.CONSUMER: f"workers-{tag}",
                QUEUE_ENV.JOBS_SUBJECT: f"bench.{tag}.jobs",
                QUEUE_ENV.RESULTS_SUBJECT: f"bench.{tag}.results",
                QUEUE_ENV.DEAD_LETTER_SUBJECT: f"bench.{tag}.dead-letter",
            }
            procs: list[subprocess.Popen] = []
            try:
                for count in (1, 2):
                    port = _free_port()
                    proc = _spawn({**env, ENV.PORT: str(port)})
                    procs.append(proc)
                    ready = await _wait_ready(f"http://127.0.0.1:{port}/ready", proc)
                    if count == 1:  # the first also creates the tables
                        out["start_to_ready_s"] = ready
                        await asyncio.sleep(1)
                        out["idle_rss_mib"] = _rss_mib(proc.pid)
                    else:  # scale-out and scale from zero: the database is there
                        out["start_to_ready_migrated_s"] = ready
                    out[f"jobs_per_s_{count}_workers"] = await _throughput(
                        nc,
                        env,
                        jobs,
                        lambda i: Job(
                            job_id=uuid.uuid4().hex,
                            thread_id=uuid.uuid4().hex,
                            input=JobInput(messages=[Message(role="user", content=f"q {i}")]),
                        ),
                    )
            finally:
                for proc in procs:
                    proc.terminate()
                for proc in procs:
                    try:
                        proc.wait(timeout=15)
                    except subprocess.TimeoutExpired:
                        proc.kill()
                with contextlib.suppress(Exception):
                    await nc.jetstream().delete_stream(env[QUEUE_ENV.STREAM])
                await nc.close()
    return out


def _spawn(env: dict[str, str]) -> subprocess.Popen:
    """`python -m runtime`, as the Deployment runs it (started before its clock starts)."""
    return subprocess.Popen(
        [sys.executable, "-m", "runtime"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def _throughput(nc: Any, env: dict[str, str], jobs: int, make: Callable[[int], Any]) -> float:
    from contract.env import QUEUE_ENV

    done = asyncio.Event()
    seen: set[str] = set()
    bodies = [make(i) for i in range(jobs)]
    ids = {job.job_id for job in bodies}

    async def on_result(msg: Any) -> None:
        import json

        job_id = json.loads(msg.data).get("job_id")
        if job_id in ids:
            seen.add(job_id)
            if len(seen) == len(ids):
                done.set()

    sub = await nc.subscribe(env[QUEUE_ENV.RESULTS_SUBJECT], cb=on_result)
    js = nc.jetstream()
    start = time.perf_counter()
    for job in bodies:
        await js.publish(env[QUEUE_ENV.JOBS_SUBJECT], job.model_dump_json().encode())
    await asyncio.wait_for(done.wait(), 600)
    elapsed = time.perf_counter() - start
    await sub.unsubscribe()
    return jobs / elapsed


# --- xagent run ------------------------------------------------------------------------------


def cli_wall(base_url: str, runs: int = 3) -> dict[str, float]:
    """Median wall seconds of `xagent run` (one turn), of importing what any LangGraph
    turn on this provider imports (LangGraph and langchain-openai: the floor of both
    `xagent run` and a worker's start), and of `python -c 0`."""

    def wall(args: list[str]) -> float:
        samples = []
        for _ in range(runs):
            start = time.perf_counter()
            subprocess.run(args, cwd=ROOT, check=True, capture_output=True)
            samples.append(time.perf_counter() - start)
        return statistics.median(samples)

    with tempfile.TemporaryDirectory() as tmp:
        run = [
            *(sys.executable, "-m", "function", "run"),
            *("--definition", str(DEFINITION), "--provider", "openai-compatible"),
            *("--endpoint", base_url, "--model", MODEL, "--state-dir", tmp, "hello"),
        ]
        floor = [sys.executable, "-c", "import langgraph.graph, langchain_openai"]
        return {
            "xagent_run_s": wall(run),
            "langgraph_import_s": wall(floor),
            "python_startup_s": wall([sys.executable, "-c", "0"]),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=200, help="jobs per in-process case and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--queue-jobs", type=int, default=500, help="jobs per worker measurement")
    parser.add_argument("--cli-runs", type=int, default=3, help="runs of each timed command")
    args = parser.parse_args()
    with stub_llm() as base_url:
        per_job = asyncio.run(in_process(base_url, args.jobs, args.rounds))
        queue = asyncio.run(workers(base_url, args.queue_jobs))
        cli = cli_wall(base_url, args.cli_runs)
    print(f"machine: {os.cpu_count()} cpu, Python {sys.version.split()[0]}")
    print(f"{'case':10} {'ms/job':>8} {'jobs/s':>8} {'x bare':>7} {'x features':>11}")
    for name, samples in per_job.items():
        ms = statistics.median(samples) * 1e3
        x_bare = statistics.median(s / b for s, b in zip(samples, per_job["bare"], strict=True))
        x_feat = statistics.median(s / f for s, f in zip(samples, per_job["features"], strict=True))
        print(f"{name:10} {ms:8.2f} {1e3 / ms:8.0f} {x_bare:7.2f} {x_feat:11.2f}")
    if queue is None:
        print("workers: skipped (set XAGENT_TEST_NATS_URL, _DATABASE_URL, _REDIS_URL)")
    else:
        for key, value in queue.items():
            print(f"{key:24} {value:8.2f}")
    for key, value in cli.items():
        print(f"{key:24} {value:8.2f}")


if __name__ == "__main__":
    main()
