"""Live execution events of each conversation thread, for SSE clients (seed 001 streaming).

`RedisEventSink` appends events to one Redis (or Dragonfly) stream per thread,
``xagent:{agent}:events:{thread_id}``, capped with ``XADD MAXLEN ~`` and expiring with the
conversation TTL. `MemoryEventSink` keeps the same interface in process for local runs and
single pods without Redis. Readers pass the last id they saw, so no event is lost between reads.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from collections import OrderedDict, deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from runtime.settings import Settings

if TYPE_CHECKING:  # redis loads with the first RedisEventSink: `xagent run` has none
    import redis.asyncio as aioredis

__all__ = [
    "DEFAULT_MAX_EVENTS",
    "EventSink",
    "EventType",
    "MemoryEventSink",
    "RedisEventSink",
    "StreamEvent",
    "event_key",
    "open_event_sink",
]

DEFAULT_MAX_EVENTS = 1000
"""Events kept per thread; an SSE client that falls further behind resumes from the oldest."""


class EventType(StrEnum):
    """Event types of seed 001, plus ``error``."""

    TOKEN = "on_llm_stream"  # noqa: S105 - an event name, not a secret
    TOOL_START = "on_tool_start"
    TOOL_END = "on_tool_end"
    END = "end"
    ERROR = "error"
    APPROVAL_REQUIRED = "approval_required"
    """A tool call waits for a human decision: ``{approval_id, tool_name, tool_input?, ...}``."""


@dataclass(frozen=True)
class StreamEvent:
    """One event of a thread.

    ``data`` by type: on_llm_stream ``{token, node}``; on_tool_start ``{tool_name,
    tool_input, node}``; on_tool_end ``{tool_name, tool_output, node}``; end
    ``{final_result, tokens}``; error ``{error, retryable}``.
    """

    type: str
    data: dict[str, Any] = field(default_factory=dict)
    job_id: str | None = None

    def to_fields(self) -> dict[str, str]:
        """Flat string fields, as a Redis stream entry stores them."""
        return {"type": self.type, "job_id": self.job_id or "", "data": json.dumps(self.data)}

    @classmethod
    def from_fields(cls, fields: dict[str, str]) -> StreamEvent:
        """The event back from its Redis stream entry."""
        return cls(
            type=fields.get("type", ""),
            data=json.loads(fields.get("data") or "{}"),
            job_id=fields.get("job_id") or None,
        )

    def to_dict(self) -> dict[str, Any]:
        """The JSON object an SSE ``data:`` line carries."""
        return {"type": self.type, "job_id": self.job_id, "data": self.data}


@runtime_checkable
class EventSink(Protocol):
    """Where the executor publishes events and SSE readers read them."""

    async def publish(self, thread_id: str, event: StreamEvent) -> str:
        """Append ``event`` to the thread's stream and return its id."""
        ...

    async def read_events(
        self, thread_id: str, last_id: str = "0", block_ms: int = 0, count: int = 100
    ) -> list[tuple[str, StreamEvent]]:
        """Events after ``last_id`` (``"0"``: from the oldest kept; ``"$"``: only new ones).

        Waits up to ``block_ms`` for one when there is none yet (0: do not wait).
        """
        ...

    async def ping(self) -> None:
        """Raise when the backend does not answer (for /ready)."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...


def event_key(agent: str, thread_id: str) -> str:
    """The Redis stream key of one thread's events."""
    return f"xagent:{agent}:events:{thread_id}"


class RedisEventSink:
    """EventSink on Redis/Dragonfly streams."""

    def __init__(
        self,
        client: aioredis.Redis,
        agent: str,
        *,
        ttl_seconds: int,
        max_events: int = DEFAULT_MAX_EVENTS,
        approximate: bool = True,
    ) -> None:
        """Publish through ``client`` (created with ``decode_responses=True``).

        Args:
            client: The Redis client; closed by aclose.
            agent: Agent name, part of every key.
            ttl_seconds: Each stream expires this long after its last event.
            max_events: Cap per stream.
            approximate: Trim with ``MAXLEN ~`` (Redis trims whole nodes, cheaply, so a
                stream may briefly hold somewhat more than the cap); False trims exactly.
        """
        self._client = client
        self._agent = agent
        self._ttl = ttl_seconds
        self._max = max_events
        self._approximate = approximate

    @classmethod
    def from_url(cls, url: str, agent: str, **kwargs: Any) -> RedisEventSink:
        """A sink with its own client for ``url``."""
        import redis.asyncio as aioredis

        return cls(aioredis.Redis.from_url(url, decode_responses=True), agent, **kwargs)

    async def publish(self, thread_id: str, event: StreamEvent) -> str:
        """See EventSink.publish."""
        key = event_key(self._agent, thread_id)
        async with self._client.pipeline(transaction=False) as pipe:
            pipe.xadd(
                key,
                event.to_fields(),  # type: ignore[arg-type]
                maxlen=self._max,
                approximate=self._approximate,
            )
            pipe.expire(key, self._ttl)
            entry_id, _ = await pipe.execute()
        return str(entry_id)

    async def read_events(
        self, thread_id: str, last_id: str = "0", block_ms: int = 0, count: int = 100
    ) -> list[tuple[str, StreamEvent]]:
        """See EventSink.read_events."""
        key = event_key(self._agent, thread_id)
        reply = await self._client.xread({key: last_id}, count=count, block=block_ms or None)
        return [
            (entry_id, StreamEvent.from_fields(fields))
            for _, entries in reply or []
            for entry_id, fields in entries
        ]

    async def ping(self) -> None:
        """See EventSink.ping."""
        await self._client.ping()

    async def aclose(self) -> None:
        """See EventSink.aclose."""
        await self._client.aclose()


class MemoryEventSink:
    """EventSink in process memory: for ``xagent run`` and pods without Redis."""

    def __init__(self, max_events: int = DEFAULT_MAX_EVENTS, max_threads: int = 1000) -> None:
        """Keep ``max_events`` per thread for the ``max_threads`` most recently active threads."""
        self._max_events = max_events
        self._max_threads = max_threads
        self._threads: OrderedDict[str, deque[tuple[int, StreamEvent]]] = OrderedDict()
        self._seq = itertools.count(1)
        self._changed = asyncio.Condition()

    async def publish(self, thread_id: str, event: StreamEvent) -> str:
        """See EventSink.publish."""
        events = self._threads.get(thread_id)
        if events is None:
            events = self._threads[thread_id] = deque(maxlen=self._max_events)
        self._threads.move_to_end(thread_id)
        while len(self._threads) > self._max_threads:
            self._threads.popitem(last=False)
        seq = next(self._seq)
        events.append((seq, event))
        async with self._changed:
            self._changed.notify_all()
        return _memory_id(seq)

    async def read_events(
        self, thread_id: str, last_id: str = "0", block_ms: int = 0, count: int = 100
    ) -> list[tuple[str, StreamEvent]]:
        """See EventSink.read_events."""
        after = self._last_seq(thread_id) if last_id == "$" else int(last_id.split("-")[0])
        found = self._after(thread_id, after, count)
        if found or block_ms <= 0:
            return found
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(block_ms / 1000), self._changed:
                await self._changed.wait_for(lambda: bool(self._after(thread_id, after, 1)))
        return self._after(thread_id, after, count)

    async def ping(self) -> None:
        """See EventSink.ping: memory always answers."""

    async def aclose(self) -> None:
        """See EventSink.aclose: nothing to release."""

    def _last_seq(self, thread_id: str) -> int:
        events = self._threads.get(thread_id)
        return events[-1][0] if events else 0

    def _after(self, thread_id: str, after: int, count: int) -> list[tuple[str, StreamEvent]]:
        events = self._threads.get(thread_id, ())
        return [(_memory_id(seq), e) for seq, e in events if seq > after][:count]


def _memory_id(seq: int) -> str:
    # Same shape as a Redis stream id, so readers treat both sinks alike.
    return f"{seq}-0"


@contextlib.asynccontextmanager
async def open_event_sink(
    settings: Settings, *, max_events: int = DEFAULT_MAX_EVENTS
) -> AsyncIterator[EventSink]:
    """The sink the settings call for: Redis when a Redis URL is set, memory otherwise."""
    sink: EventSink
    if settings.redis_url:
        sink = RedisEventSink.from_url(
            settings.redis_url,
            settings.agent_name,
            ttl_seconds=settings.conversation_ttl_seconds,
            max_events=max_events,
        )
    else:
        sink = MemoryEventSink(max_events=max_events)
    try:
        yield sink
    finally:
        await sink.aclose()
