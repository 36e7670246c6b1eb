"""Jobs through the whole runtime: NATS -> GraphExecutor (stub LLM) -> Postgres -> Redis -> NATS."""

from __future__ import annotations

import asyncio

import psycopg
import pytest
import redis.asyncio as aioredis

from runtime.jobs import JobStatus
from runtime.state.stream import StreamEvent, event_key
from tests.runtime.serving.conftest import requests_with
from tests.runtime.stub_llm import COMPLETION_TOKENS

pytestmark = pytest.mark.services


async def test_job_runs_through_graph_checkpoint_events_and_result(
    start_agent, bus, llm, job_factory, postgres_database, redis_agent
):
    await start_agent(http=False)
    job = job_factory(text="hello there", thread_id="thread-e2e")

    await bus.publish_job(job)

    [result] = await bus.wait_results(1)
    assert result.job_id == job.job_id
    assert result.thread_id == "thread-e2e"
    assert result.status == JobStatus.COMPLETED
    assert result.output == "stub answer: hello there"
    assert result.model == "stub-model"
    assert result.tokens.output_tokens == COMPLETION_TOKENS
    assert llm.requests[-1]["messages"][-1]["content"] == "hello there"

    with psycopg.connect(postgres_database) as conn:
        checkpoints = conn.execute(
            "SELECT count(*) FROM checkpoints WHERE thread_id = %s", ("thread-e2e",)
        ).fetchone()
        recorded = conn.execute(
            "SELECT result FROM xagent_runs WHERE job_id = %s", (job.job_id,)
        ).fetchone()
    assert checkpoints[0] > 0
    assert recorded is not None
    assert recorded[0] is not None

    redis_url, agent = redis_agent
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    try:
        entries = await client.xrange(event_key(agent, "thread-e2e"))
    finally:
        await client.aclose()
    events = [StreamEvent.from_fields(fields) for _, fields in entries]
    assert {e.job_id for e in events} == {job.job_id}
    assert "on_llm_stream" in [e.type for e in events]
    assert events[-1].type == "end"
    assert events[-1].data["final_result"] == "stub answer: hello there"

    info = await bus.consumer_info()
    assert info.num_ack_pending == 0
    assert info.num_redelivered == 0


async def test_thread_resumes_across_jobs_and_restarts(start_agent, bus, llm, job_factory):
    first = await start_agent(http=False)
    await bus.publish_job(job_factory(text="my name is Ada", thread_id="t-resume"))
    await bus.wait_results(1)
    await first.queue.drain(2.0)  # a new runtime must find the thread in Postgres

    second = await start_agent(http=False)
    await bus.publish_job(job_factory(text="what is my name?", thread_id="t-resume"))

    results = await bus.wait_results(2)
    assert [r.output for r in results] == [
        "stub answer: my name is Ada",
        "stub answer: what is my name?",
    ]
    sent = [(m["role"], m["content"]) for m in llm.requests[-1]["messages"]]
    assert ("user", "my name is Ada") in sent
    assert ("assistant", "stub answer: my name is Ada") in sent
    assert sent[-1] == ("user", "what is my name?")
    state = await second.agent.graph.aget_state({"configurable": {"thread_id": "t-resume"}})
    assert len(state.values["messages"]) == 4


@pytest.mark.parametrize("parallel", [1, 4], ids=["one-after-the-other", "concurrently"])
async def test_same_job_delivered_twice_runs_once_with_one_result(
    start_agent, bus, llm, job_factory, parallel
):
    await start_agent(http=False, MAX_PARALLEL_SESSIONS=str(parallel))
    job = job_factory(text="only once")

    # Two messages with the same job id: JetStream keeps both (no Nats-Msg-Id on them).
    await bus.publish_job(job)
    await bus.publish_job(job)

    await bus.wait_results(1)
    await asyncio.sleep(1.0)  # time for the second delivery to be handled
    assert len(await bus.results()) == 1
    assert len(requests_with(llm, "only once")) == 1
    info = await bus.consumer_info()
    assert info.num_pending == 0
    assert info.num_ack_pending == 0


async def test_done_job_redelivered_to_a_new_runtime_is_not_run_again(
    start_agent, bus, llm, job_factory
):
    first = await start_agent(http=False)
    job = job_factory(text="remember me")
    await bus.publish_job(job)
    [result] = await bus.wait_results(1)
    await first.queue.drain(2.0)

    await start_agent(http=False)  # empty memory: only the store knows the job is done
    await bus.publish_job(job)

    await bus.wait_consumed()
    assert await bus.results() == [result]
    assert len(requests_with(llm, "remember me")) == 1
