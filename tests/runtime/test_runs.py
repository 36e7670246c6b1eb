"""Run records: one conformance suite over embedded SQLite and a real Postgres database."""

from __future__ import annotations

import asyncio
import time

import psycopg
import pytest

from runtime.jobs import TokenUsage
from runtime.settings import Settings
from runtime.state.runs import MIGRATIONS, PostgresRunStore, RunRecord, RunStatus, RunStore
from runtime.state.store import open_stores, postgres_pool


async def test_create_update_get(backend_settings: Settings) -> None:
    async with open_stores(backend_settings) as stores:
        runs = stores.runs
        assert isinstance(runs, RunStore)
        assert await runs.get("j1") is None
        created = await runs.create(RunRecord(job_id="j1", thread_id="t1", owner="alice"))
        assert created.status == RunStatus.QUEUED
        assert created.owner == "alice"
        assert created.attempts == 0

        updated = await runs.update(
            "j1",
            status=RunStatus.SUCCEEDED,
            attempts=2,
            started_at=10.0,
            finished_at=12.5,
            tokens=TokenUsage(input_tokens=3, output_tokens=4, total_tokens=7),
            cost=0.25,
            model="m",
            output="x" * 2_000_000,
            approvals=[{"tool": "rm", "decision": "approved", "by": "bob"}],
        )
        assert updated is not None
        got = await runs.get("j1")
        assert got == updated
        assert got.status == RunStatus.SUCCEEDED
        assert got.tokens.total_tokens == 7
        assert got.cost == 0.25
        assert len(got.output or "") == 2_000_000
        assert got.approvals == [{"tool": "rm", "decision": "approved", "by": "bob"}]
        assert got.updated_at >= got.created_at
        assert await runs.update("missing", status=RunStatus.FAILED) is None


async def test_create_keeps_the_first_record(backend_settings: Settings) -> None:
    async with open_stores(backend_settings) as stores:
        await stores.runs.create(RunRecord(job_id="j1", thread_id="t1", owner="alice"))
        await stores.runs.update("j1", status=RunStatus.RUNNING)
        again = await stores.runs.create(RunRecord(job_id="j1", thread_id="t2", owner="eve"))
        assert (again.thread_id, again.owner, again.status) == ("t1", "alice", RunStatus.RUNNING)


async def test_unknown_field_is_refused(backend_settings: Settings) -> None:
    async with open_stores(backend_settings) as stores:
        await stores.runs.create(RunRecord(job_id="j1", thread_id="t1"))
        with pytest.raises(ValueError, match="owner"):
            await stores.runs.update("j1", owner="eve")
        with pytest.raises(ValueError, match="not-a-status"):
            await stores.runs.update("j1", status="not-a-status")


async def test_threads_are_owned_by_their_first_user(backend_settings: Settings) -> None:
    async with open_stores(backend_settings) as stores:
        runs = stores.runs
        assert (await runs.claim_thread("t1", "alice")).owner == "alice"
        assert (await runs.claim_thread("t1", "eve")).owner == "alice"
        await runs.create(RunRecord(job_id="j1", thread_id="t1", owner="eve"))
        thread = await runs.get_thread("t1")
        assert thread is not None
        assert thread.owner == "alice"
        assert await runs.get_thread("nope") is None


async def test_thread_runs_in_order_and_deletion(backend_settings: Settings) -> None:
    async with open_stores(backend_settings) as stores:
        runs = stores.runs
        for i, job in enumerate(["b", "a", "c"]):
            await runs.create(RunRecord(job_id=job, thread_id="t1", created_at=100.0 + i))
        await runs.create(RunRecord(job_id="other", thread_id="t2"))
        assert [r.job_id for r in await runs.thread_runs("t1")] == ["b", "a", "c"]
        await runs.delete_thread("t1")
        assert await runs.thread_runs("t1") == []
        assert await runs.get_thread("t1") is None
        assert await runs.get("other") is not None


async def test_retention_queries(backend_settings: Settings) -> None:
    async with open_stores(backend_settings) as stores:
        runs = stores.runs
        now = time.time()
        await runs.create(RunRecord(job_id="old", thread_id="t-old"))
        await runs.update("old", status=RunStatus.SUCCEEDED, finished_at=now - 100)
        await runs.create(RunRecord(job_id="new", thread_id="t-new"))
        await runs.update("new", status=RunStatus.SUCCEEDED, finished_at=now)
        await runs.create(RunRecord(job_id="running", thread_id="t-new"))
        assert await runs.delete_runs_finished_before(now - 50) == 1
        assert await runs.get("old") is None
        assert await runs.get("new") is not None
        assert await runs.get("running") is not None
        assert set(await runs.idle_threads(now + 1)) == {"t-old", "t-new"}
        assert await runs.idle_threads(now - 3600) == []


async def test_setup_is_idempotent_and_versioned(postgres_database: str) -> None:
    async with postgres_pool(postgres_database, 2) as pool:
        store = PostgresRunStore(pool)
        await store.setup()
        await store.setup()
    with psycopg.connect(postgres_database) as conn:
        versions = [v for (v,) in conn.execute("SELECT v FROM xagent_runs_migrations ORDER BY v")]
    assert versions == list(range(len(MIGRATIONS)))


async def test_replicas_starting_together_migrate_once(
    make_settings, postgres_database: str
) -> None:
    # Four pods on a fresh database: langgraph's migrations failed on a duplicate version.
    settings = make_settings(database_url=postgres_database)

    async def start() -> None:
        async with open_stores(settings) as stores:
            await stores.ping()

    await asyncio.gather(*(start() for _ in range(4)))
