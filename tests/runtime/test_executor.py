"""GraphExecutor end to end through the stub LLM: tools, delegation, tokens, events, errors."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import uuid
from collections.abc import AsyncIterator, Callable

import pytest

from contract.definition import AgentDefinition
from contract.grants import ToolGrants
from runtime import observability as obs
from runtime.agent.executor import GraphExecutor
from runtime.jobs import Job, JobInput, JobStatus, Message, RetryableError
from runtime.settings import Settings
from runtime.startup import AgentRuntime, open_agent
from runtime.state.stream import EventType, MemoryEventSink, StreamEvent
from tests.runtime.conftest import STUB_MODEL, SettingsFactory, example, grant_all
from tests.runtime.stub_llm import COMPLETION_TOKENS, PROMPT_TOKENS_PER_MESSAGE, StubLLM


def make_job(text: str, *, thread: str | None = None, job_id: str | None = None) -> Job:
    return Job(
        job_id=job_id or uuid.uuid4().hex,
        thread_id=thread,
        input=JobInput(messages=[Message(role="user", content=text)]),
    )


@pytest.fixture
async def team(make_settings: SettingsFactory) -> AsyncIterator[AgentRuntime]:
    definition = example("research_team")
    async with open_agent(
        make_settings(), definition=definition, grants=grant_all(definition), sink=MemoryEventSink()
    ) as agent:
        yield agent


async def events_of(agent: AgentRuntime, thread: str) -> list[StreamEvent]:
    return [e for _, e in await agent.sink.read_events(thread, "0", count=10_000)]


async def test_orchestrator_delegates_to_sub_agent_which_calls_its_tool(
    llm: StubLLM, team: AgentRuntime
) -> None:
    job = make_job('delegate:researcher:call:calculator:{"expression": "6 * 7"}')
    result = await team.executor.execute(job)

    assert result.status == JobStatus.COMPLETED, result.error
    # researcher: calculator -> "42" -> "tool results: 42"; lead wraps the sub-agent's answer.
    assert result.output == "tool results: tool results: 42"
    assert [r["model"] for r in llm.requests] == ["stub-model"] * 4
    researcher_first = llm.requests[1]["messages"]
    assert researcher_first == [
        {"role": "system", "content": "You research."},
        {"role": "user", "content": 'call:calculator:{"expression": "6 * 7"}'},
    ], "a sub-agent sees only its task, not the lead's conversation"
    tools = [
        (e.type, e.data["tool_name"])
        for e in await events_of(team, job.thread)
        if "tool_name" in e.data
    ]
    assert tools == [
        (EventType.TOOL_START, "delegate_to_researcher"),
        (EventType.TOOL_START, "calculator"),
        (EventType.TOOL_END, "calculator"),
        (EventType.TOOL_END, "delegate_to_researcher"),
    ]


async def test_tool_call_is_executed_and_answer_streamed(
    llm: StubLLM, make_settings: SettingsFactory
) -> None:
    definition = example("tool_node")
    async with open_agent(
        make_settings(), definition=definition, grants=grant_all(definition), sink=MemoryEventSink()
    ) as agent:
        job = make_job('call:calc:{"expression": "2 ** 10"}')
        result = await agent.executor.execute(job)
        events = await events_of(agent, job.thread)

    assert result.output == "tool results: 1024"
    assert llm.tool_names(0) == ["calc"]
    assert llm.requests[1]["messages"][-1] == {
        "role": "tool",
        "content": "1024",
        "tool_call_id": llm.requests[1]["messages"][-2]["tool_calls"][0]["id"],
    }
    kinds = [e.type for e in events]
    assert kinds[0] == EventType.TOOL_START
    assert events[0].data == {
        "tool_name": "calc",
        "tool_input": {"expression": "2 ** 10"},
        "node": "calc",
    }
    assert events[1].type == EventType.TOOL_END
    assert events[1].data["tool_output"] == "1024"
    tokens = "".join(e.data["token"] for e in events if e.type == EventType.TOKEN)
    assert tokens == "tool results: 1024"
    assert kinds[-1] == EventType.END
    assert events[-1].data["final_result"] == "tool results: 1024"


async def test_token_counts_sum_every_model_call(llm: StubLLM, team: AgentRuntime) -> None:
    result = await team.executor.execute(make_job("delegate:writer:draft\ncall:current_time:{}"))

    calls = len(llm.requests)
    sent = sum(len(r["messages"]) for r in llm.requests)
    assert calls == 3  # lead, writer, lead again
    assert result.tokens.input_tokens == PROMPT_TOKENS_PER_MESSAGE * sent
    assert result.tokens.output_tokens == COMPLETION_TOKENS * calls
    assert result.tokens.total_tokens == result.tokens.input_tokens + result.tokens.output_tokens
    assert all(r["stream"] and r["stream_options"] == {"include_usage": True} for r in llm.requests)


async def test_second_job_of_a_thread_sees_the_first(
    llm: StubLLM, backend_settings: Settings
) -> None:
    definition = example("single")
    async with open_agent(
        backend_settings, definition=definition, grants=ToolGrants(), sink=MemoryEventSink()
    ) as agent:
        await agent.executor.execute(make_job("my name is Ada", thread="conv-1"))
    # A new process (new stores, new graph) resumes the thread from the checkpoint.
    async with open_agent(
        backend_settings, definition=definition, grants=ToolGrants(), sink=MemoryEventSink()
    ) as agent:
        result = await agent.executor.execute(make_job("what is my name?", thread="conv-1"))

    assert result.status == JobStatus.COMPLETED
    assert [(m["role"], m["content"]) for m in llm.requests[-1]["messages"]] == [
        ("system", "You are a helpful assistant."),
        ("user", "my name is Ada"),
        ("assistant", "stub answer: my name is Ada"),
        ("user", "what is my name?"),
    ]


async def test_redelivered_finished_job_returns_its_answer_without_rerunning(
    llm: StubLLM, team: AgentRuntime
) -> None:
    job = make_job("hello", thread="t-redeliver")
    first = await team.executor.execute(job)
    calls = len(llm.requests)
    again = await team.executor.execute(job)

    assert len(llm.requests) == calls
    assert (again.status, again.output) == (JobStatus.COMPLETED, first.output)


async def test_redelivered_interrupted_job_resumes_from_its_checkpoint(
    llm: StubLLM, make_settings: SettingsFactory
) -> None:
    definition = AgentDefinition.model_validate(
        {
            "tool_definitions": [{"name": "echo"}],
            "nodes": [{"type": "orchestrator", "name": "main", "tools": ["echo"]}],
        }
    )
    # The model's answer to the tool result is slow: the job is cut off while waiting for it.
    job = make_job('call:echo:{"input": "sleep:1"}', thread="t-crash")
    async with open_agent(
        make_settings(), definition=definition, grants=grant_all(definition)
    ) as agent:
        task = asyncio.create_task(agent.executor.execute(job))
        await until(lambda: len(llm.requests) == 2)  # the model step after the tool started
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    llm.reset()
    async with open_agent(
        make_settings(), definition=definition, grants=grant_all(definition)
    ) as agent:
        result = await agent.executor.execute(job)
        events = await events_of(agent, job.thread)

    assert result.output == "tool results: sleep:1"
    # Resumed at the model step: the tool did not run again, the input was not repeated.
    assert EventType.TOOL_START not in [e.type for e in events]
    assert [m["role"] for m in llm.requests[0]["messages"]] == ["user", "assistant", "tool"]


async def until(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(10):
        while not condition():  # noqa: ASYNC110 - set from the stub server's thread
            await asyncio.sleep(0.02)


async def test_unreachable_model_is_retryable(make_settings: SettingsFactory) -> None:
    settings = make_settings(model_endpoint="http://127.0.0.1:9/v1")
    definition = example("single")
    async with open_agent(
        settings, definition=definition, grants=ToolGrants(), sink=MemoryEventSink()
    ) as agent:
        job = make_job("hi")
        with pytest.raises(RetryableError, match="Connection error"):
            await agent.executor.execute(job)
        events = await events_of(agent, job.thread)
    assert [(e.type, e.data["retryable"]) for e in events] == [(EventType.ERROR, True)]


async def test_provider_5xx_without_fallback_is_retryable(make_settings: SettingsFactory) -> None:
    definition = example("single")
    async with open_agent(
        make_settings(model_name="broken-model"), definition=definition, grants=ToolGrants()
    ) as agent:
        with pytest.raises(RetryableError, match="Error code: 500"):
            await agent.executor.execute(make_job("hi"))


async def test_bad_request_fails_without_retry(make_settings: SettingsFactory) -> None:
    definition = example("single")
    async with open_agent(
        make_settings(model_name="bad-request-model"), definition=definition, grants=ToolGrants()
    ) as agent:
        result = await agent.executor.execute(make_job("hi"))
    assert result.status == JobStatus.FAILED
    assert result.error is not None
    assert "Error code: 400 - stub: bad request" in result.error


async def test_runaway_loop_fails_at_recursion_limit(make_settings: SettingsFactory) -> None:
    definition = example("tool_node")
    settings = make_settings()
    async with open_agent(settings, definition=definition, grants=grant_all(definition)) as agent:
        # One tool round trip takes three steps (model, tool, model): two must stop it.
        executor = GraphExecutor(agent.graph, agent.sink, settings, recursion_limit=2)
        result = await executor.execute(make_job('call:calc:{"expression": "1"}'))
    assert result.status == JobStatus.FAILED
    assert result.error == "the agent did not finish within 2 graph steps"


@pytest.mark.parametrize(
    ("mode", "want"),
    [
        pytest.param("none", None, id="None"),
        pytest.param(
            "redacted",
            {
                "length": 6,
                "sha256": hashlib.sha256(b"secret").hexdigest(),
            },
            id="Redacted",
        ),
        pytest.param("full", {"length": 6, "text": "secret"}, id="Full"),
    ],
)
async def test_prompts_are_logged_per_policy(
    mode: str,
    want: dict[str, object] | None,
    make_settings: SettingsFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    definition = example("single")
    async with open_agent(
        make_settings(log_prompts=mode), definition=definition, grants=ToolGrants()
    ) as agent:
        with caplog.at_level(logging.INFO, logger="runtime.agent.executor"):
            await agent.executor.execute(make_job("secret"))
    started = next(r for r in caplog.records if r.getMessage() == "job started")
    assert getattr(started, "prompt", None) == want
    if mode != "full":
        assert "secret" not in json.dumps([vars(r) for r in caplog.records], default=str)


async def test_definition_model_overrides_reach_the_provider(
    llm: StubLLM, team: AgentRuntime
) -> None:
    await team.executor.execute(make_job("delegate:writer:draft"))
    writer = next(r for r in llm.requests if r["model"] == "writer-model")
    assert writer["temperature"] == 0.9


async def test_fallback_model_completes_the_job(
    llm: StubLLM, make_settings: SettingsFactory
) -> None:
    settings = make_settings(model_name="broken-model", model_fallback=STUB_MODEL)
    definition = example("single")
    async with open_agent(settings, definition=definition, grants=ToolGrants()) as agent:
        result = await agent.executor.execute(make_job("hi"))

    assert (result.status, result.output, result.model) == (
        JobStatus.COMPLETED,
        "stub answer: hi",
        STUB_MODEL,
    )
    # Only the call that answered used tokens.
    assert result.tokens.output_tokens == COMPLETION_TOKENS


async def test_jobs_and_tokens_are_counted(team: AgentRuntime) -> None:
    def sample(name: str, labels: dict[str, str]) -> float:
        return obs.REGISTRY.get_sample_value(name, labels) or 0.0

    completed = sample("xagent_jobs_total", {"status": "completed"})
    output = sample("xagent_tokens_total", {"model": STUB_MODEL, "kind": "output"})
    result = await team.executor.execute(make_job("hello"))

    assert sample("xagent_jobs_total", {"status": "completed"}) == completed + 1
    assert sample("xagent_tokens_total", {"model": STUB_MODEL, "kind": "output"}) == (
        output + result.tokens.output_tokens
    )
    assert sample("xagent_in_flight_jobs", {}) == 0


class BrokenSink(MemoryEventSink):
    async def publish(self, thread_id: str, event: StreamEvent) -> str:
        raise ConnectionError("redis went away")


async def test_event_sink_failure_does_not_fail_the_job(make_settings: SettingsFactory) -> None:
    errors = obs.REGISTRY.get_sample_value("xagent_event_publish_errors_total") or 0.0
    definition = example("single")
    async with open_agent(
        make_settings(), definition=definition, grants=ToolGrants(), sink=BrokenSink()
    ) as agent:
        result = await agent.executor.execute(make_job("hi"))
    assert result.status == JobStatus.COMPLETED
    # Every token and the end event were dropped, and counted.
    assert obs.REGISTRY.get_sample_value("xagent_event_publish_errors_total") == errors + 4
