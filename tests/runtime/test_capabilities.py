"""MCP tools, approvals and budgets through a whole agent: the stub LLM asks for tool calls,
a real MCP server (FastMCP over streamable HTTP) answers them, stores are SQLite and Postgres."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from contract.definition import AgentDefinition
from runtime.agent.capabilities import sweep_approvals
from runtime.jobs import Job, JobInput, JobStatus, Message
from runtime.observability import REGISTRY
from runtime.settings import Settings
from runtime.startup import AgentRuntime, open_agent
from runtime.state.approvals import ApprovalConflict, Decision
from runtime.state.runs import RunStatus
from runtime.state.stream import EventType, MemoryEventSink
from tests.runtime.conftest import SettingsFactory
from tests.runtime.mcp_server import McpTestServer
from tests.runtime.stub_llm import StubLLM

DEFINITION = AgentDefinition.model_validate(
    {
        "tool_definitions": [{"name": "calculator", "type": "builtin"}],
        "nodes": [{"type": "orchestrator", "name": "assistant", "tools": ["calculator"]}],
    }
)


def job(text: str, thread: str | None = None) -> Job:
    return Job(
        job_id=uuid.uuid4().hex,
        thread_id=thread,
        input=JobInput(messages=[Message(role="user", content=text)]),
    )


def call(tool: str, **args: Any) -> str:
    return f"call:{tool}:{json.dumps(args)}"


@pytest.fixture
def mcp_server() -> Iterator[McpTestServer]:
    server = McpTestServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def grants_file(tmp_path: Path, mcp_server: McpTestServer) -> Callable[..., Path]:
    def write(**sections: Any) -> Path:
        body = {
            "tools": [{"name": "calculator", "kind": "primitive"}],
            "mcpServers": [
                {
                    "name": "calc",
                    "url": mcp_server.url,
                    "timeoutSeconds": 5,
                    "tools": [{"name": "add", "kind": "domain"}],
                }
            ],
            **sections,
        }
        path = tmp_path / f"grants-{uuid.uuid4().hex[:6]}.json"
        path.write_text(json.dumps(body))
        return path

    return write


def opened(settings: Settings, grants: Path) -> Any:
    settings = settings.model_copy(update={"tool_grants_path": grants})
    return open_agent(settings, definition=DEFINITION, sink=MemoryEventSink())


# --- MCP -------------------------------------------------------------------------------------


async def test_agent_calls_a_granted_mcp_tool_and_never_sees_another(
    llm: StubLLM,
    make_settings: SettingsFactory,
    grants_file: Callable[..., Path],
    mcp_server: McpTestServer,
) -> None:
    settings = make_settings(tool_grants_path=grants_file())
    async with open_agent(settings, definition=DEFINITION, sink=MemoryEventSink()) as agent:
        result = await agent.executor.execute(job(call("add", a=20, b=22)))
        assert result.status == JobStatus.COMPLETED, result.error
        assert result.output == "tool results: 42"
        assert mcp_server.calls == [("add", {"a": 20, "b": 22})]
        # The model was offered the granted MCP tool, never whoami or forbidden.
        assert llm.tool_names(0) == ["add", "calculator"]
        assert all("forbidden" not in json.dumps(r.get("tools")) for r in llm.requests)
        # A call of an ungranted MCP tool is answered as unknown, not run on the server.
        result = await agent.executor.execute(job(call("forbidden")))
        assert result.status == JobStatus.COMPLETED
        assert "forbidden" not in [name for name, _ in mcp_server.calls]


async def test_agent_survives_the_mcp_server_restarting(
    llm: StubLLM,
    make_settings: SettingsFactory,
    grants_file: Callable[..., Path],
    mcp_server: McpTestServer,
) -> None:
    settings = make_settings(tool_grants_path=grants_file())
    async with open_agent(settings, definition=DEFINITION, sink=MemoryEventSink()) as agent:
        caps = agent.capabilities
        assert caps is not None
        mcp_server.stop()
        down = await agent.executor.execute(job(call("add", a=1, b=2)))
        assert down.status == JobStatus.COMPLETED  # the model gets a tool error and answers
        assert "unreachable" in down.output
        assert await caps.toolset.ping() is False
        assert REGISTRY.get_sample_value("xagent_mcp_server_up", {"server": "calc"}) == 0
        mcp_server.start()
        up = await agent.executor.execute(job(call("add", a=1, b=2)))
        assert up.output == "tool results: 3"
        assert await caps.toolset.ping() is True


# --- budgets ---------------------------------------------------------------------------------


async def test_job_over_budget_stops_cleanly(
    llm: StubLLM, backend_settings: Settings, grants_file: Callable[..., Path]
) -> None:
    # A stub call costs 10 tokens per message sent + 5: the first (1 message) costs 15. A
    # 10-token job budget lets it run (nothing was spent yet) and stops the job after it.
    async with opened(backend_settings, grants_file(budgets={"job": {"tokens": 10}})) as agent:
        result = await agent.executor.execute(job(call("calculator", expression="1+1")))
        assert result.status == JobStatus.BUDGET_EXCEEDED
        assert result.error == "job budget exceeded: 15 of 10 tokens used"
        assert result.cost == 0.0  # stub-model is in no price table
        assert len(llm.requests) == 1  # checked before the second call, which never ran
        events = [e for _, e in await agent.sink.read_events(result.thread_id, "0")]
        assert events[-1].type == EventType.ERROR
        assert events[-1].data["window"] == "job"


async def test_thread_and_daily_budgets_with_prices(
    llm: StubLLM, backend_settings: Settings, grants_file: Callable[..., Path]
) -> None:
    budgets = {
        "thread": {"tokens": 40},
        "daily": {"cost": 1.5},
        "prices": [{"model": "stub-*", "inputPerMillion": 20000, "outputPerMillion": 40000}],
    }
    async with opened(backend_settings, grants_file(budgets=budgets)) as agent:
        caps = agent.capabilities
        assert caps is not None
        first = await agent.executor.execute(job("hi", thread="t"))
        assert first.status == JobStatus.COMPLETED
        assert first.cost == pytest.approx((10 * 20000 + 5 * 40000) / 1e6)  # 0.4
        # 3 messages: 35 tokens, 0.8; the thread has spent 50 tokens, the day 1.2.
        second = await agent.executor.execute(job("again", thread="t"))
        assert second.status == JobStatus.COMPLETED
        third = await agent.executor.execute(job("more", thread="t"))
        assert third.status == JobStatus.BUDGET_EXCEEDED
        assert third.error == "thread budget exceeded: 50 of 40 tokens used"
        # Another thread may still run, until the day's cost is spent (1.2 + 0.4).
        other = await agent.executor.execute(job("x", thread="u"))
        assert other.status == JobStatus.COMPLETED
        refused = await caps.admit(job("y", thread="v"))
        assert refused is not None
        assert refused.window == "daily"
        assert refused.retry_after > 0
        daily = await agent.executor.execute(job("y", thread="v"))
        assert daily.status == JobStatus.BUDGET_EXCEEDED
        assert daily.error.startswith("daily budget exceeded")
        remaining = REGISTRY.get_sample_value(
            "xagent_budget_remaining", {"agent": "default/local", "tenant": "", "unit": "cost"}
        )
        assert remaining == 0


# --- approvals -------------------------------------------------------------------------------


APPROVE_ADD = {"tools": ["add", "calculator"], "timeoutSeconds": 60, "timeoutAction": "reject"}


async def pending_of(agent: AgentRuntime, thread: str) -> list[Any]:
    caps = agent.capabilities
    assert caps is not None
    assert caps.approvals is not None
    return await caps.approvals.pending(thread)


async def decide_and_resume(agent: AgentRuntime, thread: str, decision: Decision) -> Any:
    caps = agent.capabilities
    assert caps is not None
    assert caps.approvals is not None
    approval = await caps.approvals.decide(thread, decision)
    return await agent.executor.execute(caps.resume_job(approval))


@pytest.mark.parametrize(
    ("decision", "want_output", "want_calls"),
    [
        ({"decision": "approve"}, "tool results: 5", [("add", {"a": 2, "b": 3})]),
        (
            {"decision": "edit", "args": {"a": 40, "b": 2}},
            "tool results: 42",
            [("add", {"a": 40, "b": 2})],
        ),
        (
            {"decision": "reject", "reason": "not today"},
            "tool results: The call was rejected by alice: not today",
            [],
        ),
    ],
    ids=["approve", "edit", "reject"],
)
async def test_approval_decisions(
    llm: StubLLM,
    backend_settings: Settings,
    grants_file: Callable[..., Path],
    mcp_server: McpTestServer,
    decision: dict[str, Any],
    want_output: str,
    want_calls: list[Any],
) -> None:
    async with opened(backend_settings, grants_file(approvals=APPROVE_ADD)) as agent:
        first = await agent.executor.execute(job(call("add", a=2, b=3), thread="t"))
        assert first.status == JobStatus.AWAITING_APPROVAL
        (pending,) = first.pending_approvals
        assert pending["tool_name"] == "add"
        assert mcp_server.calls == []  # nothing ran before the decision
        events = [e for _, e in await agent.sink.read_events("t", "0")]
        asked = [e for e in events if e.type == EventType.APPROVAL_REQUIRED]
        assert [e.data["approval_id"] for e in asked] == [pending["approval_id"]]
        assert "tool_input" not in asked[0].data  # logPrompts none: arguments withheld
        assert REGISTRY.get_sample_value("xagent_approvals_pending") >= 1
        resumed = await decide_and_resume(
            agent, "t", Decision(approval_id=pending["approval_id"], by="alice", **decision)
        )
        assert resumed.status == JobStatus.COMPLETED, resumed.error
        assert resumed.output == want_output
        assert mcp_server.calls == want_calls
        with pytest.raises(ApprovalConflict) as twice:
            await agent.capabilities.approvals.decide(
                "t", Decision(approval_id=pending["approval_id"], decision="approve", by="bob")
            )
        assert twice.value.status == 409
        assert "already decided" in str(twice.value)
        assert await pending_of(agent, "t") == []


async def test_approval_timeout_applies_its_action(
    llm: StubLLM, backend_settings: Settings, grants_file: Callable[..., Path]
) -> None:
    policy = {"tools": ["calculator"], "timeoutSeconds": 30, "timeoutAction": "reject"}
    async with opened(backend_settings, grants_file(approvals=policy)) as agent:
        caps = agent.capabilities
        first = await agent.executor.execute(job(call("calculator", expression="6*7"), thread="t"))
        (pending,) = first.pending_approvals
        assert await caps.expire_due() == []  # not yet
        caps.clock = lambda: pending["expires_at"] + 1
        (resume,) = await caps.expire_due()
        with pytest.raises(ApprovalConflict, match="timed out") as late:
            await caps.approvals.decide(
                "t",
                Decision(approval_id=pending["approval_id"], decision="approve", by="al"),
                now=pending["expires_at"] + 2,
            )
        assert late.value.status == 409
        result = await agent.executor.execute(resume)
        assert (
            result.output == "tool results: The call was rejected by timeout: no decision "
            "in time; timeout action reject"
        )


async def test_the_approval_sweeper_retries_a_resume_it_could_not_enqueue(
    llm: StubLLM, make_settings: SettingsFactory, grants_file: Callable[..., Path]
) -> None:
    policy = {"tools": ["calculator"], "timeoutSeconds": 30, "timeoutAction": "reject"}
    async with opened(make_settings(), grants_file(approvals=policy)) as agent:
        caps = agent.capabilities
        first = await agent.executor.execute(job(call("calculator", expression="6*7"), thread="t"))
        (pending,) = first.pending_approvals
        caps.clock = lambda: pending["expires_at"] + 1
        tries: list[Job] = []
        second_try = asyncio.Event()

        async def submit(resume: Job) -> None:
            tries.append(resume)
            if len(tries) == 1:
                raise ConnectionError("nats: no servers available")
            second_try.set()

        stop = asyncio.Event()
        sweeper = asyncio.create_task(sweep_approvals(caps, submit, stop, interval=0.05))
        try:
            await asyncio.wait_for(second_try.wait(), 20)
        finally:
            stop.set()
            await sweeper
        assert [t.job_id for t in tries] == [f"{first.job_id}~{pending['approval_id']}"] * 2


async def test_every_sweep_pass_refreshes_the_approval_gauges(
    llm: StubLLM, backend_settings: Settings, grants_file: Callable[..., Path]
) -> None:
    """A decision taken in another pod reaches this pod's gauges on its next sweep pass,
    so the waiting-too-long alert does not keep firing on a stale view."""
    oldest = "xagent_approvals_oldest_pending_timestamp_seconds"
    policy = {"tools": ["calculator"], "timeoutSeconds": 300, "timeoutAction": "reject"}
    async with opened(backend_settings, grants_file(approvals=policy)) as agent:
        caps = agent.capabilities
        first = await agent.executor.execute(job(call("calculator", expression="6*7"), thread="t"))
        (pending,) = first.pending_approvals
        (opened_call,) = await caps.approvals.pending("t")
        assert REGISTRY.get_sample_value(oldest) == opened_call.created_at
        # Decided through the store, as another pod's API would: this pod is not told.
        await caps.approvals.decide(
            "t", Decision(approval_id=pending["approval_id"], decision="approve", by="al")
        )
        assert REGISTRY.get_sample_value(oldest) == opened_call.created_at
        assert await caps.expire_due() == []  # nothing expired, but the pass counts
        assert REGISTRY.get_sample_value(oldest) == 0
        assert REGISTRY.get_sample_value("xagent_approvals_pending") == 0


async def test_new_turn_on_a_waiting_thread_is_refused(
    llm: StubLLM, backend_settings: Settings, grants_file: Callable[..., Path]
) -> None:
    async with opened(backend_settings, grants_file(approvals=APPROVE_ADD)) as agent:
        first = await agent.executor.execute(job(call("calculator", expression="1"), thread="t"))
        assert first.status == JobStatus.AWAITING_APPROVAL
        second = await agent.executor.execute(job("hello", thread="t"))
        assert second.status == JobStatus.FAILED
        assert "waits for 1 approval" in second.error


async def test_worker_gone_while_waiting_another_resumes(
    llm: StubLLM,
    make_settings: SettingsFactory,
    postgres_database: str,
    grants_file: Callable[..., Path],
    mcp_server: McpTestServer,
) -> None:
    # Two runtimes on one Postgres stand for two pods: the first stops at the approval and
    # goes away; the decision and the rest of the run happen on the second.
    settings = make_settings(database_url=postgres_database)
    grants = grants_file(approvals=APPROVE_ADD)
    async with opened(settings, grants) as first_pod:
        first = await first_pod.executor.execute(job(call("add", a=1, b=1), thread="t"))
        (pending,) = first.pending_approvals
    async with opened(settings, grants) as second_pod:
        assert [a.approval_id for a in await pending_of(second_pod, "t")] == [
            pending["approval_id"]
        ]
        resumed = await decide_and_resume(
            second_pod,
            "t",
            Decision(approval_id=pending["approval_id"], decision="approve", by="a"),
        )
        assert resumed.output == "tool results: 2"
        record = await second_pod.stores.runs.get(first.job_id)
        assert record is None or record.status in (RunStatus.SUCCEEDED, RunStatus.AWAITING_APPROVAL)


def test_a_sub_agent_cannot_hold_a_gated_tool(make_settings: SettingsFactory) -> None:
    from runtime.agent.files import DefinitionError
    from runtime.agent.graph import build_graph
    from tests.runtime.conftest import example, grant_all

    team = example("research_team")
    sub_tools = {t for n in team.nodes if n.type == "sub-agent" for t in n.tools}
    with pytest.raises(DefinitionError, match="need approval, which only the orchestrator"):
        build_graph(team, make_settings(), grant_all(team), None, gated=sub_tools)
