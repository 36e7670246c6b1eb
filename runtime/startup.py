"""Startup wiring: settings in, an opened agent and its queue out.

``open_agent`` loads the definition and grants, opens the stores and the event sink and
builds the graph and its executor, for ``runtime.main`` and ``xagent run`` alike;
``build_queue`` picks the queue backend the settings call for, and ``readiness_checks`` says
what /ready pings. Each room (agent, state, queue, serve) is wired here and nowhere else.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from langgraph.graph.state import CompiledStateGraph

from contract.definition import AgentDefinition
from contract.env import ENV
from contract.grants import ToolGrants
from runtime.agent.capabilities import Capabilities, open_capabilities
from runtime.agent.executor import GraphExecutor
from runtime.agent.files import load_definition, load_tool_grants
from runtime.agent.graph import build_graph
from runtime.agent.mcp import McpToolset
from runtime.jobs import JobExecutor
from runtime.settings import Settings
from runtime.state.store import Stores, open_stores
from runtime.state.stream import EventSink, open_event_sink

if TYPE_CHECKING:
    from runtime.queue import JobSource, QueueOptions
    from runtime.queue.nats_auth import NatsAuth
    from runtime.serve.api import ReadinessCheck
    from runtime.serve.auth import Authenticator

# The queue (nats) and the HTTP API (fastapi) load in the functions that build them:
# `xagent run` opens an agent with neither, and starts faster without importing them.

__all__ = [
    "AgentRuntime",
    "build_authenticator",
    "build_queue",
    "open_agent",
    "queue_options",
    "readiness_checks",
    "start_tracing",
    "sweep_interval",
]

log = logging.getLogger(__name__)


@dataclass
class AgentRuntime:
    """Everything `open_agent` opened, for the serving layer and the CLI."""

    settings: Settings
    definition: AgentDefinition
    grants: ToolGrants
    stores: Stores
    sink: EventSink
    graph: CompiledStateGraph
    executor: GraphExecutor
    capabilities: Capabilities | None = None


@contextlib.asynccontextmanager
async def open_agent(
    settings: Settings,
    *,
    definition: AgentDefinition | None = None,
    grants: ToolGrants | None = None,
    grant_all: bool = False,
    sink: EventSink | None = None,
) -> AsyncIterator[AgentRuntime]:
    """Load the definition and grants, open stores and sink, build graph and executor.

    Args:
        settings: The runtime settings.
        definition: Use this definition instead of reading ``settings.definition_path``.
        grants: Use these grants instead of reading ``settings.tool_grants_path``.
        grant_all: Grant every defined tool when no grants file exists (``xagent run`` only).
        sink: Use this sink instead of the one the settings call for (not closed here).

    Raises:
        DefinitionError: The definition cannot be read or built (names node or edge).
        ConfigError: A grants file or model setting is invalid.
    """
    definition = definition or load_definition(settings)
    grants = grants or load_tool_grants(settings, definition, grant_all=grant_all)
    # Build once without a checkpointer first: a broken definition or model setting should
    # fail startup by itself, not after (or masked by) database connection attempts.
    gated = set(grants.approvals.tools) if grants.approvals else set()
    mcp_tools = McpToolset(grants.mcp_servers).tools
    build_graph(definition, settings, grants, None, extra_tools=mcp_tools, gated=gated)
    async with contextlib.AsyncExitStack() as stack:
        stores = await stack.enter_async_context(open_stores(settings))
        if sink is None:
            sink = await stack.enter_async_context(open_event_sink(settings))
        caps = await open_capabilities(
            settings, grants, ledger=stores.ledger, approvals=stores.approvals, runs=stores.runs
        )
        graph = build_graph(
            definition,
            settings,
            grants,
            stores.checkpointer,
            extra_tools=caps.toolset.tools,
            gated=caps.gated,
        )
        executor = GraphExecutor(graph, sink, settings, capabilities=caps)
        yield AgentRuntime(settings, definition, grants, stores, sink, graph, executor, caps)


def queue_options(settings: Settings) -> QueueOptions:
    """The worker tunables the settings ask for."""
    from runtime.queue import QueueOptions

    return QueueOptions(
        max_parallel_sessions=settings.max_parallel_sessions,
        ack_wait_seconds=settings.nats_ack_wait_seconds,
        max_deliver=settings.nats_max_deliver,
    )


def build_queue(settings: Settings, agent: AgentRuntime, executor: JobExecutor) -> JobSource:
    """JetStream when NATS_URL is set, the in-process queue otherwise."""
    from runtime.queue import InProcessQueue, JetStreamOptions, JetStreamQueue

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
        auth=nats_auth(settings),
    )
    return JetStreamQueue(
        connection, executor, store, queue_options(settings), runs=agent.stores.runs
    )


def nats_auth(settings: Settings) -> NatsAuth:
    """The NATS credentials and TLS files the settings name."""
    from runtime.queue.nats_auth import NatsAuth

    return NatsAuth.from_settings(settings)


def start_tracing(settings: Settings) -> bool:
    """Export traces as the OTEL_* variables say (endpoint, protocol, headers, sampling)."""
    from runtime.observability import configure_tracing

    return configure_tracing(
        settings.otel_endpoint,
        settings.otel_sample_ratio,
        settings.otel_service_name or "",
        protocol=settings.otel_protocol,
        headers=settings.otel_headers,
        log_prompts=settings.log_prompts,
    )


def sweep_interval(settings: Settings) -> float:
    """How often retention sweeps: a quarter of the shorter TTL, between 10 s and 5 min."""
    shortest = min(settings.conversation_ttl_seconds, settings.results_ttl_seconds)
    return min(max(shortest / 4, 10.0), 300.0)


def build_authenticator(settings: Settings) -> Authenticator | None:
    """What API_AUTH_MODE asks for: bearer tokens from a file, TokenReview, or nothing."""
    from runtime.serve.auth import StaticTokens, TokenReviewer

    if settings.api_auth_mode == "token":
        return StaticTokens(settings.api_auth_tokens_path)
    if settings.api_auth_mode == "serviceAccount":
        return TokenReviewer(settings.api_auth_audience or "")
    log.warning("%s is none: the HTTP API accepts every caller", ENV.API_AUTH_MODE)
    return None


def readiness_checks(
    settings: Settings, agent: AgentRuntime, queue: JobSource
) -> list[ReadinessCheck]:
    """What /ready pings: NATS, Postgres and the cache, each marked when embedded."""
    from runtime.serve.api import ReadinessCheck

    return [
        ReadinessCheck("nats", queue.ping, embedded=not settings.nats_url),
        ReadinessCheck("postgres", agent.stores.ping, embedded=agent.stores.backend != "postgres"),
        ReadinessCheck("cache", agent.sink.ping, embedded=not settings.redis_url),
        *_mcp_checks(agent),
    ]


def _mcp_checks(agent: AgentRuntime) -> list[ReadinessCheck]:
    from runtime.serve.api import ReadinessCheck

    caps = agent.capabilities
    if caps is None or not caps.toolset.servers:
        return []
    # The agent works on without its MCP tools: degraded, not down.
    return [ReadinessCheck("mcp", caps.toolset.ping, optional=True)]
