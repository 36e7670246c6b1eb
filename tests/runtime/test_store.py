"""Stores: one conformance suite over embedded SQLite and a real Postgres database."""

from __future__ import annotations

import json
import sqlite3

import psycopg
import pytest
from langchain_core.messages import HumanMessage
from psycopg import sql

from contract.definition import AgentDefinition
from runtime.agent.graph import build_graph
from runtime.jobs import JobResult, JobStatus, TokenUsage
from runtime.settings import Settings
from runtime.state.runs import MIGRATIONS, RunLog, RunRecord
from runtime.state.store import IdempotencyStore, open_stores, postgres_conninfo
from tests.runtime.conftest import grant_all, require_service

RESULT = json.dumps({"job_id": "j1", "thread_id": "t1", "status": "completed", "output": "42"})


def _same(recorded: str | None, expected: str) -> bool:
    return recorded is not None and json.loads(recorded) == json.loads(expected)


async def test_job_is_claimable_until_its_result_is_recorded(backend_settings: Settings) -> None:
    async with open_stores(backend_settings) as stores:
        store = stores.idempotency
        assert isinstance(store, IdempotencyStore)
        assert await store.get_result("j1") is None
        assert await store.claim("j1") is True
        # A delivery that died before recording a result leaves the job claimable.
        assert await store.claim("j1") is True
        await store.record_result("j1", RESULT)
        assert await store.claim("j1") is False
        assert _same(await store.get_result("j1"), RESULT)
        assert await store.get_result("other") is None


async def test_first_recorded_result_wins(backend_settings: Settings) -> None:
    async with open_stores(backend_settings) as stores:
        await stores.idempotency.record_result("j1", RESULT)
        second = json.dumps({"job_id": "j1", "thread_id": "t1", "status": "failed"})
        await stores.idempotency.record_result("j1", second)
        assert _same(await stores.idempotency.get_result("j1"), RESULT)
        # A second run of the job finishing late leaves the first run's record alone.
        late = JobResult(job_id="j1", thread_id="t1", status=JobStatus.COMPLETED, output="43")
        await RunLog(stores.runs).finished(late)
        assert (await stores.runs.get("j1")).output == "42"
        assert _same(await stores.idempotency.get_result("j1"), RESULT)


async def test_the_run_record_is_the_one_store_of_results(backend_settings: Settings) -> None:
    """The answer is stored once, in the run record; no other table holds results."""
    answer = "the answer, " * 1000
    result = JobResult(
        job_id="j1",
        thread_id="t1",
        status=JobStatus.COMPLETED,
        output=answer,
        tokens=TokenUsage(input_tokens=3, output_tokens=5, total_tokens=8),
        model="stub-model",
        cost=0.25,
        duration_seconds=1.5,
        traceparent="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    )
    async with open_stores(backend_settings) as stores:
        log = RunLog(stores.runs)
        await log.started("j1", "t1")
        await log.finished(result)
        await stores.idempotency.record_result("j1", result.model_dump_json())
        recorded = await stores.idempotency.get_result("j1")
        assert recorded is not None
        assert JobResult.model_validate_json(recorded) == result
        run = await stores.runs.get("j1")
        assert (run.status, run.output, run.tokens) == ("succeeded", answer, result.tokens)
        # A delivery that raced the recording one (found by the fault test) changes nothing.
        await log.started("j1", "t1")
        await log.retrying("j1", "lost connection")
        await log.dead_lettered("j1", "t1", "max deliveries exhausted")
        assert await stores.runs.get("j1") == run.model_copy(
            update={"updated_at": (await stores.runs.get("j1")).updated_at}
        )
        tables, answers = await _tables_and_answer_copies(backend_settings, answer)
    assert "xagent_job_results" not in tables
    assert answers == 1


async def test_a_result_without_answer_keeps_none(backend_settings: Settings) -> None:
    """An awaiting_approval result is republished as it was, whatever its run becomes."""
    waiting = JobResult(
        job_id="j1",
        thread_id="t1",
        status=JobStatus.AWAITING_APPROVAL,
        pending_approvals=[{"approval_id": "a1", "tool_name": "t", "expires_at": 1.0}],
    )
    async with open_stores(backend_settings) as stores:
        await RunLog(stores.runs).finished(waiting)
        await stores.idempotency.record_result("j1", waiting.model_dump_json())
        # The resumed run writes its answer into the origin's run record.
        await stores.runs.update("j1", status="succeeded", output="done")
        recorded = await stores.idempotency.get_result("j1")
        assert JobResult.model_validate_json(recorded) == waiting


async def test_runs_without_a_result_stay_claimable(backend_settings: Settings) -> None:
    """A failed synchronous run or a dead letter records no result: the id may run again."""
    async with open_stores(backend_settings) as stores:
        log = RunLog(stores.runs)
        await log.failed("sync", "t1", "provider unavailable")
        await log.dead_lettered("dead", "t1", "max deliveries exhausted")
        for job_id in ("sync", "dead"):
            assert await stores.idempotency.claim(job_id) is True
            assert await stores.idempotency.get_result(job_id) is None


async def test_a_database_of_the_previous_schema_is_migrated(backend_settings: Settings) -> None:
    """Migrations are append-only: a run stored before the result column keeps its data."""
    async with open_stores(backend_settings) as stores:
        await stores.runs.create(RunRecord(job_id="old", thread_id="t1"))
    await _drop_last_migration(backend_settings)
    async with open_stores(backend_settings) as stores:
        assert (await stores.runs.get("old")).thread_id == "t1"
        assert await stores.idempotency.claim("old") is True
        await stores.idempotency.record_result("old", RESULT)
        assert _same(await stores.idempotency.get_result("old"), RESULT)


async def _tables_and_answer_copies(settings: Settings, answer: str) -> tuple[set[str], int]:
    """Every table of the runtime's database(s), and how many cells hold ``answer``."""
    if settings.database_url:
        with psycopg.connect(postgres_conninfo(settings.database_url)) as conn:
            tables = {
                r[0]
                for r in conn.execute(
                    "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
                ).fetchall()
            }
            copies = 0
            for table in tables:
                row = conn.execute(
                    sql.SQL("SELECT count(*) FROM {} t WHERE strpos(t::text, %s) > 0").format(
                        sql.Identifier(table)
                    ),
                    (answer[:60],),
                ).fetchone()
                copies += row[0]
        return tables, copies
    tables, copies = set(), 0
    for path in settings.state_dir.glob("*.sqlite"):
        with sqlite3.connect(path) as conn:
            for (table,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'"):
                tables.add(table)
                for row in conn.execute(f'SELECT * FROM "{table}"'):
                    copies += sum(isinstance(v, str) and answer[:60] in v for v in row)
    return tables, copies


async def _drop_last_migration(settings: Settings) -> None:
    """Put the runs table back to the schema before the last migration (the result column)."""
    version = len(MIGRATIONS) - 1
    statements = [
        "ALTER TABLE xagent_runs DROP COLUMN result",
        f"DELETE FROM xagent_runs_migrations WHERE v = {version}",
    ]
    if settings.database_url:
        with psycopg.connect(postgres_conninfo(settings.database_url), autocommit=True) as conn:
            for statement in statements:
                conn.execute(statement)
        return
    with sqlite3.connect(settings.state_dir / "runs.sqlite") as conn:
        for statement in statements:
            conn.execute(statement)


async def test_results_and_checkpoints_survive_reopening(backend_settings: Settings) -> None:
    definition = AgentDefinition.model_validate(
        {"nodes": [{"type": "orchestrator", "name": "main"}]}
    )
    config = {"configurable": {"thread_id": "durable"}}
    async with open_stores(backend_settings) as stores:
        await stores.idempotency.record_result("j1", RESULT)
        graph = build_graph(
            definition, backend_settings, grant_all(definition), stores.checkpointer
        )
        await graph.ainvoke({"messages": [HumanMessage("remember me")]}, config)
    async with open_stores(backend_settings) as stores:
        assert _same(await stores.idempotency.get_result("j1"), RESULT)
        graph = build_graph(
            definition, backend_settings, grant_all(definition), stores.checkpointer
        )
        state = await graph.aget_state(config)
        assert [m.content for m in state.values["messages"]] == [
            "remember me",
            "stub answer: remember me",
        ]


async def test_ping_answers_while_open(backend_settings: Settings) -> None:
    async with open_stores(backend_settings) as stores:
        await stores.ping()
        assert stores.backend == ("postgres" if backend_settings.database_url else "sqlite")
    with pytest.raises(Exception):  # noqa: B017, PT011 - closed: any driver error will do
        await stores.ping()


@pytest.mark.parametrize(
    ("url", "want"),
    [
        pytest.param("postgresql://u:p@h:5432/d", "postgresql://u:p@h:5432/d", id="Plain"),
        pytest.param("postgres://u@h/d", "postgresql://u@h/d", id="ShortScheme"),
        pytest.param("postgresql+psycopg://u@h/d", "postgresql://u@h/d", id="SqlAlchemyDriver"),
    ],
)
def test_postgres_conninfo(url: str, want: str) -> None:
    assert postgres_conninfo(url) == want


@pytest.mark.parametrize(
    ("ci", "outcome"),
    [
        pytest.param("", pytest.skip.Exception, id="SkipsLocally"),
        pytest.param("true", pytest.fail.Exception, id="FailsUnderCI"),
    ],
)
def test_missing_service_skips_or_fails(
    ci: str, outcome: type[BaseException], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("XAGENT_TEST_NOWHERE_URL", raising=False)
    monkeypatch.setenv("CI", ci)
    with pytest.raises(outcome, match="XAGENT_TEST_NOWHERE_URL is not set"):
        require_service("XAGENT_TEST_NOWHERE_URL")
    monkeypatch.setenv("XAGENT_TEST_NOWHERE_URL", "redis://x")
    assert require_service("XAGENT_TEST_NOWHERE_URL") == "redis://x"
