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
import os
import signal
import sys
from collections.abc import Iterator

import uvicorn

from contract import protected_env
from runtime.agent.capabilities import sweep_approvals
from runtime.agent.files import DefinitionError
from runtime.observability import configure_logging, shutdown_tracing
from runtime.queue import JobSource
from runtime.serve.api import ApiDeps, create_app
from runtime.settings import ConfigError, Settings, load_settings
from runtime.startup import (
    build_authenticator,
    build_queue,
    open_agent,
    readiness_checks,
    start_tracing,
    sweep_interval,
)
from runtime.state.retention import Sweeper

__all__ = ["main", "serve"]

log = logging.getLogger(__name__)


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
                capabilities=agent.capabilities,
            )
            sweeper = Sweeper(
                agent.stores,
                settings.conversation_ttl_seconds,
                settings.results_ttl_seconds,
                interval=sweep_interval(settings),
            )
            await queue.start()
            sweeper.start()
            approvals = None
            if agent.capabilities is not None and agent.capabilities.grants.approvals:
                approvals = asyncio.create_task(
                    sweep_approvals(agent.capabilities, queue.submit, stop), name="approvals"
                )
            try:
                await _serve_until(stop, queue, deps, settings)
            finally:
                await sweeper.stop()
                if approvals is not None:
                    approvals.cancel()
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


def main() -> None:
    """``python -m runtime``: load settings from the environment and serve."""
    # Before any provider client reads them: base URLs, proxies and CA bundles an envFrom
    # source may have put here (the function refuses them in spec.env).
    dropped = protected_env.scrub(os.environ)
    try:
        settings = load_settings()
    except ConfigError as err:
        configure_logging("INFO")
        log.error("%s", err)
        sys.exit(2)
    configure_logging(settings.log_level)
    if dropped:
        log.warning("ignored variables that would redirect provider calls: %s", ", ".join(dropped))
    start_tracing(settings)
    try:
        asyncio.run(serve(settings))
    except (ConfigError, DefinitionError) as err:
        log.error("%s", err)
        sys.exit(2)
    except Exception:
        log.exception("runtime failed")
        sys.exit(1)
    finally:
        shutdown_tracing()  # the last jobs' spans, still in the batch buffer
