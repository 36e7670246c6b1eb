"""Wiring of the runtime process: settings in, queue worker and HTTP server out, drain on exit.

``serve(settings)`` opens the agent (definition, stores, event sink, graph, executor), starts
the queue worker and uvicorn in one event loop and runs until SIGTERM or SIGINT. Then it stops
pulling jobs, lets running jobs finish within ``shutdown_grace_seconds`` (naking the rest so
another replica picks them up at once), stops the HTTP server and closes every connection, and
returns; ``main()`` exits 0. A startup failure (bad configuration, unreachable database or
NATS) is logged and exits non-zero, so Kubernetes restarts the pod.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Iterator

import uvicorn

from runtime.api import ApiDeps, ReadinessCheck, create_app
from runtime.auth import Authenticator, StaticTokens, TokenReviewer
from runtime.config import ConfigError, DefinitionError, Settings, load_settings
from runtime.contract import ENV
from runtime.executor import AgentRuntime, open_agent
from runtime.jobs import JobExecutor
from runtime.observability import configure_logging, configure_tracing
from runtime.queue import InProcessQueue, JetStreamOptions, JetStreamQueue, JobSource, QueueOptions
from runtime.retention import Sweeper

__all__ = [
    "build_authenticator",
    "build_queue",
    "main",
    "queue_options",
    "readiness_checks",
    "serve",
]

log = logging.getLogger(__name__)


def queue_options(settings: Settings) -> QueueOptions:
    """The worker tunables the settings ask for."""
    return QueueOptions(
        max_parallel_sessions=settings.max_parallel_sessions,
        ack_wait_seconds=settings.nats_ack_wait_seconds,
        max_deliver=settings.nats_max_deliver,
    )


def build_queue(settings: Settings, agent: AgentRuntime, executor: JobExecutor) -> JobSource:
    """JetStream when NATS_URL is set, the in-process queue otherwise."""
    store = agent.stores.idempotency
    if not settings.nats_url:
        return InProcessQueue(executor, store, queue_options(settings), runs=agent.stores.runs)
    connection = JetStreamOptions(
        url=settings.nats_url,
        stream=settings.nats_stream or "",
        consumer=settings.nats_consumer or "",
        jobs_subject=settings.nats_jobs_subject or "",
        results_subject=settings.nats_results_subject or "",
        dead_letter_subject=settings.nats_dead_letter_subject or "",
    )
    return JetStreamQueue(
        connection, executor, store, queue_options(settings), runs=agent.stores.runs
    )


def sweep_interval(settings: Settings) -> float:
    """How often retention sweeps: a quarter of the shorter TTL, between 10 s and 5 min."""
    shortest = min(settings.conversation_ttl_seconds, settings.results_ttl_seconds)
    return min(max(shortest / 4, 10.0), 300.0)


def build_authenticator(settings: Settings) -> Authenticator | None:
    """What API_AUTH_MODE asks for: bearer tokens from a file, TokenReview, or nothing."""
    if settings.api_auth_mode == "token":
        return StaticTokens(settings.api_auth_tokens_path)
    if settings.api_auth_mode == "serviceAccount":
        return TokenReviewer(settings.api_auth_audience or "")
    log.warning("%s is none: the HTTP API accepts every caller", ENV.API_AUTH_MODE)
    return None


async def serve(settings: Settings) -> None:
    """Serve until SIGTERM/SIGINT, then drain within the shutdown grace and return."""
    stop = asyncio.Event()
    with _signals_set(stop):
        async with open_agent(settings) as agent:
            queue = build_queue(settings, agent, agent.executor)
            deps = ApiDeps(
                queue=queue,
                events=agent.sink,
                checks=readiness_checks(settings, agent, queue),
                source=f"xagent/{settings.agent_namespace}/{settings.agent_name}",
                auth=build_authenticator(settings),
                runs=agent.stores.runs,
                thread_messages=agent.executor.thread_messages,
            )
            sweeper = Sweeper(
                agent.stores,
                settings.conversation_ttl_seconds,
                settings.results_ttl_seconds,
                interval=sweep_interval(settings),
            )
            await queue.start()
            sweeper.start()
            try:
                await _serve_until(stop, queue, deps, settings)
            finally:
                await sweeper.stop()
    log.info("stopped")


async def _serve_until(
    stop: asyncio.Event, queue: JobSource, deps: ApiDeps, settings: Settings
) -> None:
    grace = settings.shutdown_grace_seconds
    server = _Server(
        uvicorn.Config(
            create_app(deps),
            host="0.0.0.0",
            port=settings.port,
            log_config=None,
            access_log=False,
            lifespan="on",
            timeout_graceful_shutdown=max(int(grace), 1),
        )
    )
    server_task = asyncio.create_task(server.serve(), name="http")
    stop_task = asyncio.create_task(stop.wait(), name="stop")
    await asyncio.wait({server_task, stop_task}, return_when=asyncio.FIRST_COMPLETED)
    stop_task.cancel()
    if not stop.is_set():
        # The server ended on its own (port taken, lifespan failed): drain, then fail.
        await queue.drain(grace)
        server_task.result()
        raise RuntimeError("the HTTP server stopped unexpectedly")
    log.info("shutting down; draining for up to %.0fs", grace)
    deps.stopping.set()  # /ready turns 503 and event streams end
    server.should_exit = True
    # In parallel: the worker lets running jobs finish (naking the rest) while uvicorn
    # finishes open requests, synchronous jobs included; both within the grace.
    await asyncio.gather(queue.drain(grace), server_task)


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: serve() owns SIGTERM and SIGINT.

    uvicorn would otherwise re-raise a captured signal after shutdown and end the process
    by that signal instead of exiting 0.
    """

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@contextlib.contextmanager
def _signals_set(stop: asyncio.Event) -> Iterator[None]:
    loop = asyncio.get_running_loop()
    signals = (signal.SIGTERM, signal.SIGINT)
    for sig in signals:
        loop.add_signal_handler(sig, _on_signal, stop, sig)
    try:
        yield
    finally:
        for sig in signals:
            loop.remove_signal_handler(sig)


def _on_signal(stop: asyncio.Event, sig: signal.Signals) -> None:
    if stop.is_set():
        log.warning("%s again while draining; still draining", sig.name)
        return
    log.info("received %s", sig.name)
    stop.set()


def readiness_checks(
    settings: Settings, agent: AgentRuntime, queue: JobSource
) -> list[ReadinessCheck]:
    """What /ready pings: NATS, Postgres and the cache, each marked when embedded."""
    return [
        ReadinessCheck("nats", queue.ping, embedded=not settings.nats_url),
        ReadinessCheck("postgres", agent.stores.ping, embedded=agent.stores.backend != "postgres"),
        ReadinessCheck("cache", agent.sink.ping, embedded=not settings.redis_url),
    ]


def main() -> None:
    """``python -m runtime``: load settings from the environment and serve."""
    try:
        settings = load_settings()
    except ConfigError as err:
        configure_logging("INFO")
        log.error("%s", err)
        sys.exit(2)
    configure_logging(settings.log_level)
    configure_tracing(
        settings.otel_endpoint, settings.otel_sample_ratio, settings.otel_service_name or ""
    )
    try:
        asyncio.run(serve(settings))
    except (ConfigError, DefinitionError) as err:
        log.error("%s", err)
        sys.exit(2)
    except Exception:
        log.exception("runtime failed")
        sys.exit(1)
