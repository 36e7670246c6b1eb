"""Event sinks: one conformance suite over memory and a real Redis, then Redis cap and TTL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from runtime.state.stream import (
    EventSink,
    EventType,
    MemoryEventSink,
    RedisEventSink,
    StreamEvent,
    event_key,
    open_event_sink,
)
from tests.runtime.conftest import SettingsFactory

CAP = 5
TTL = 120


def token(i: int) -> StreamEvent:
    return StreamEvent(EventType.TOKEN, {"token": f"t{i}", "node": "main"}, job_id="j1")


@pytest.fixture(params=["memory", "redis"])
async def sink(request: pytest.FixtureRequest) -> AsyncIterator[EventSink]:
    if request.param == "memory":
        yield MemoryEventSink(max_events=CAP)
        return
    url, agent = request.getfixturevalue("redis_agent")
    redis_sink = RedisEventSink.from_url(
        url, agent, ttl_seconds=TTL, max_events=CAP, approximate=False
    )
    try:
        yield redis_sink
    finally:
        await redis_sink.aclose()


async def test_events_read_back_in_order_after_last_id(sink: EventSink) -> None:
    ids = [await sink.publish("th", token(i)) for i in range(3)]
    assert ids == sorted(ids, key=lambda i: tuple(map(int, i.split("-"))))

    everything = await sink.read_events("th", "0")
    assert [e for _, e in everything] == [token(0), token(1), token(2)]
    assert [i for i, _ in everything] == ids
    assert [e for _, e in await sink.read_events("th", ids[0])] == [token(1), token(2)]
    assert await sink.read_events("th", ids[-1]) == []
    assert await sink.read_events("other-thread", "0") == []


async def test_blocking_read_wakes_on_publish(sink: EventSink) -> None:
    reader = asyncio.create_task(sink.read_events("th", "$", block_ms=5000))
    await asyncio.sleep(0.2)  # let the reader block first; "$" means only newer events
    end = StreamEvent(EventType.END, {"final_result": "done"}, job_id="j1")
    await sink.publish("th", end)
    got = await asyncio.wait_for(reader, 5)
    assert [e for _, e in got] == [end]


async def test_blocking_read_times_out_empty(sink: EventSink) -> None:
    assert await sink.read_events("quiet", "0", block_ms=100) == []


async def test_stream_keeps_the_newest_events_up_to_the_cap(sink: EventSink) -> None:
    for i in range(CAP + 3):
        await sink.publish("th", token(i))
    kept = [e.data["token"] for _, e in await sink.read_events("th", "0")]
    assert kept == [f"t{i}" for i in range(3, CAP + 3)]


async def test_ping(sink: EventSink) -> None:
    await sink.ping()


async def test_redis_stream_is_capped_approximately_and_expires(
    redis_agent: tuple[str, str],
) -> None:
    url, agent = redis_agent
    sink = RedisEventSink.from_url(url, agent, ttl_seconds=TTL, max_events=100)
    client = aioredis.Redis.from_url(url)
    try:
        for i in range(1000):
            await sink.publish("th", token(i))
        key = event_key(agent, "th")
        length = await client.xlen(key)
        # MAXLEN ~ trims whole radix-tree nodes (100 entries each by default): bounded,
        # never below the cap, far below what was written.
        assert 100 <= length < 300
        assert 0 < await client.ttl(key) <= TTL
    finally:
        await client.aclose()
        await sink.aclose()


async def test_redis_ttl_is_refreshed_by_each_event(redis_agent: tuple[str, str]) -> None:
    url, agent = redis_agent
    sink = RedisEventSink.from_url(url, agent, ttl_seconds=TTL)
    client = aioredis.Redis.from_url(url)
    try:
        await sink.publish("th", token(0))
        key = event_key(agent, "th")
        await client.expire(key, 5)
        await sink.publish("th", token(1))
        assert await client.ttl(key) > 5
    finally:
        await client.aclose()
        await sink.aclose()


async def test_settings_choose_the_sink(
    make_settings: SettingsFactory, redis_agent: tuple[str, str]
) -> None:
    async with open_event_sink(make_settings()) as sink:
        assert isinstance(sink, MemoryEventSink)
    url, agent = redis_agent
    async with open_event_sink(make_settings(redis_url=url, agent_name=agent)) as sink:
        assert isinstance(sink, RedisEventSink)
        await sink.ping()


def test_event_round_trips_through_redis_fields() -> None:
    event = StreamEvent(EventType.TOOL_END, {"tool_name": "calc", "tool_output": "4"}, "j9")
    assert StreamEvent.from_fields(event.to_fields()) == event
    assert event.to_dict() == {
        "type": "on_tool_end",
        "job_id": "j9",
        "data": {"tool_name": "calc", "tool_output": "4"},
    }
