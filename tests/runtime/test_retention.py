"""Retention sweeps Postgres/SQLite: idle threads lose checkpoints and runs, old runs go."""

from __future__ import annotations

import asyncio
import time

import pytest

from contract.grants import ToolGrants
from runtime.jobs import Job, JobInput, Message
from runtime.settings import Settings
from runtime.startup import open_agent, sweep_interval
from runtime.state.approvals import Approval, Decision
from runtime.state.retention import Sweeper, SweepReport, sweep
from runtime.state.runs import RunRecord, RunStatus
from runtime.state.store import open_stores
from runtime.state.stream import MemoryEventSink
from tests.runtime.conftest import SettingsFactory, example

HOUR = 3600.0


def _job(job_id: str, thread: str) -> Job:
    return Job(
        job_id=job_id,
        thread_id=thread,
        input=JobInput(messages=[Message(role="user", content="hi")]),
    )


async def test_sweep_deletes_idle_threads_and_old_runs(backend_settings: Settings) -> None:
    async with open_agent(
        backend_settings, definition=example("single"), grants=ToolGrants(), sink=MemoryEventSink()
    ) as agent:
        stores = agent.stores
        runs = stores.runs
        for job_id, thread in [("j-old", "old"), ("j-new", "new")]:
            result = await agent.executor.execute(_job(job_id, thread))
            await runs.create(RunRecord(job_id=job_id, thread_id=thread))
            await runs.update(job_id, status=RunStatus.SUCCEEDED, finished_at=time.time())
            await stores.idempotency.record_result(job_id, result.model_dump_json())

        def messages(thread: str):
            return agent.graph.aget_state({"configurable": {"thread_id": thread}})

        # Nothing is old enough yet.
        assert await sweep(stores, HOUR, 24 * HOUR) == SweepReport(threads=0, runs=0)
        assert (await messages("old")).values["messages"]

        # An hour and a bit later, both threads are idle: checkpoints and runs go.
        report = await sweep(stores, HOUR, 24 * HOUR, now=time.time() + HOUR + 60)
        assert report == SweepReport(threads=2, runs=0)
        for thread in ("old", "new"):
            assert (await messages(thread)).values == {}
            assert await runs.get_thread(thread) is None
            assert await runs.thread_runs(thread) == []

        # Results TTL on its own: a run that ended long ago goes, with its recorded result.
        await runs.create(RunRecord(job_id="j-kept", thread_id="t"))
        await runs.update("j-kept", status=RunStatus.SUCCEEDED, finished_at=time.time())
        await stores.idempotency.record_result("j-kept", "{}")
        report = await sweep(stores, 100 * HOUR, 24 * HOUR, now=time.time() + 25 * HOUR)
        assert (report.threads, report.runs) == (0, 1)
        assert await runs.get("j-kept") is None
        assert await stores.idempotency.get_result("j-kept") is None
        assert await runs.get_thread("t") is not None


async def test_sweep_prunes_approvals_and_budget_windows(backend_settings: Settings) -> None:
    now = time.time()
    async with open_stores(backend_settings) as stores:
        await stores.ledger.add(["job:j-idle", "thread:t-idle"], 10, 0.5)
        for job_id, thread in [("j-idle", "t-idle"), ("j-live", "t-live")]:
            await stores.runs.create(RunRecord(job_id=job_id, thread_id=thread))
        for approval_id, thread, job_id in [
            ("a-idle", "t-idle", "j-idle"),
            ("a-decided", "t-live", "j-live"),
            ("a-pending", "t-live", "j-live"),
        ]:
            await stores.approvals.open(
                Approval(
                    approval_id=approval_id,
                    thread_id=thread,
                    job_id=job_id,
                    interrupt_id="i",
                    tool_name="refund",
                    created_at=now,
                    expires_at=now + 500 * HOUR,
                )
            )
        await stores.approvals.decide(
            "t-live", Decision(approval_id="a-decided", decision="approve", by="alice"), now=now
        )

        # A day later, threads still live (conversationTTL 100h): only the decided call goes.
        report = await sweep(stores, 100 * HOUR, 24 * HOUR, now=now + 25 * HOUR)
        assert report == SweepReport(threads=0, runs=0, approvals=1, budgets=0)
        assert await stores.approvals.get("t-live", "a-decided") is None
        assert await stores.approvals.get("t-live", "a-pending") is not None
        assert (await stores.ledger.usage(["thread:t-idle"]))["thread:t-idle"].tokens == 10

        # Idle past conversationTTL: the threads' calls and the budget windows go.
        report = await sweep(stores, 100 * HOUR, 24 * HOUR, now=now + 101 * HOUR)
        assert report == SweepReport(threads=2, runs=0, approvals=2, budgets=2)
        assert await stores.approvals.for_job("t-idle", "j-idle") == []
        assert await stores.approvals.pending("t-live") == []
        usage = await stores.ledger.usage(["job:j-idle", "thread:t-idle"])
        assert {scope: u.tokens for scope, u in usage.items()} == {
            "job:j-idle": 0,
            "thread:t-idle": 0,
        }


async def test_a_daily_budget_window_outlives_a_short_conversation_ttl(
    backend_settings: Settings,
) -> None:
    now = time.time()
    async with open_stores(backend_settings) as stores:
        await stores.ledger.add(["day:agent:2026-11-29"], 10, 0.5)
        # Conversations expire after an hour, but the day's spending must count all day.
        report = await sweep(stores, HOUR, HOUR, now=now + 2 * HOUR)
        assert report.budgets == 0
        report = await sweep(stores, HOUR, HOUR, now=now + 25 * HOUR)
        assert report.budgets == 1


async def test_the_sweeper_runs_in_the_background(make_settings: SettingsFactory) -> None:
    settings = make_settings()
    async with open_agent(
        settings, definition=example("single"), grants=ToolGrants(), sink=MemoryEventSink()
    ) as agent:
        await agent.stores.runs.create(RunRecord(job_id="j", thread_id="t", created_at=0))
        sweeper = Sweeper(agent.stores, conversation_ttl=1e-3, results_ttl=1e-3, interval=0.05)
        sweeper.start()
        try:
            for _ in range(100):
                if await agent.stores.runs.get_thread("t") is None:
                    break
                await asyncio.sleep(0.05)
        finally:
            await sweeper.stop()
        assert await agent.stores.runs.get_thread("t") is None


@pytest.mark.parametrize(
    ("ttls", "want"),
    [
        pytest.param((86_400, 86_400), 300.0, id="CappedAtFiveMinutes"),
        pytest.param((60, 86_400), 15.0, id="QuarterOfTheShorter"),
        pytest.param((1, 1), 10.0, id="AtLeastTenSeconds"),
    ],
)
def test_sweep_interval(make_settings: SettingsFactory, ttls, want) -> None:
    settings = make_settings(conversation_ttl_seconds=ttls[0], results_ttl_seconds=ttls[1])
    assert sweep_interval(settings) == want
