"""Model latency, model errors and tool calls are counted per call (runtime/llm_metrics.py)."""

from __future__ import annotations

import uuid

import pytest

from contract.grants import ToolGrants
from runtime import observability as obs
from runtime.jobs import Job, JobInput, JobStatus, Message, RetryableError
from runtime.startup import open_agent
from runtime.state.stream import MemoryEventSink
from tests.runtime.conftest import STUB_MODEL, SettingsFactory, example, grant_all


def _sample(name: str, **labels: str) -> float:
    return obs.REGISTRY.get_sample_value(name, labels) or 0.0


def _job(text: str) -> Job:
    messages = [Message(role="user", content=text)]
    return Job(job_id=uuid.uuid4().hex, input=JobInput(messages=messages))


def _errors(model: str) -> dict[str, float]:
    """xagent_model_errors_total of ``model`` by error type."""
    return {
        sample.labels["type"]: sample.value
        for metric in obs.REGISTRY.collect()
        if metric.name == "xagent_model_errors"
        for sample in metric.samples
        if sample.name.endswith("_total") and sample.labels.get("model") == model
    }


async def test_model_calls_and_tool_calls_are_counted(make_settings: SettingsFactory) -> None:
    calls = (
        "xagent_llm_request_duration_seconds_count",
        {"provider": "openai", "model": STUB_MODEL},
    )
    tools = ("xagent_tool_calls_total", {"tool": "calc", "outcome": "ok"})
    before = (_sample(calls[0], **calls[1]), _sample(tools[0], **tools[1]))
    definition = example("tool_node")
    async with open_agent(
        make_settings(), definition=definition, grants=grant_all(definition), sink=MemoryEventSink()
    ) as agent:
        result = await agent.executor.execute(_job('call:calc:{"expression": "1 + 1"}'))
    assert result.status == JobStatus.COMPLETED
    assert _sample(calls[0], **calls[1]) - before[0] == 2
    assert _sample(tools[0], **tools[1]) - before[1] == 1


async def test_model_errors_are_counted_by_type(make_settings: SettingsFactory) -> None:
    before = sum(_errors("broken-model").values())
    definition = example("single")
    async with open_agent(
        make_settings(model_name="broken-model"), definition=definition, grants=ToolGrants()
    ) as agent:
        with pytest.raises(RetryableError):
            await agent.executor.execute(_job("hi"))
    after = _errors("broken-model")
    assert sum(after.values()) - before >= 1
    # The type is the client's exception class, never a message (bounded cardinality).
    assert all(kind.isidentifier() for kind in after)
