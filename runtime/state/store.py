"""Durable state: the LangGraph checkpointer and the job-result (idempotency) table.

Postgres when the settings name a database, embedded SQLite under the state dir otherwise.
Lifetimes are explicit, as in langgraph's own savers: `open_stores` is an async context
manager that owns its pool or connections, and migrations run only through the explicit
``setup()`` calls made here at startup.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import aiosqlite
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

from runtime.settings import Settings
from runtime.state.approvals import ApprovalStore, PostgresApprovalStore, SqliteApprovalStore
from runtime.state.ledger import Ledger, PostgresLedger, SqliteLedger
from runtime.state.runs import PostgresRunStore, RunStore, SqliteRunStore

if TYPE_CHECKING:  # psycopg loads with the first Postgres pool: `xagent run` has none
    from psycopg_pool import AsyncConnectionPool

__all__ = [
    "JOB_RESULTS_TABLE",
    "IdempotencyStore",
    "PostgresIdempotencyStore",
    "SqliteIdempotencyStore",
    "Stores",
    "open_checkpointer",
    "open_stores",
    "postgres_conninfo",
]

_SETUP_LOCK = 0x78616765  # "xage": the advisory lock key that serializes migrations
JOB_RESULTS_TABLE = "xagent_job_results"
"""The table of job results (spelled out in the SQL below, which is never assembled)."""


@runtime_checkable
class IdempotencyStore(Protocol):
    """Remembers each job's published result, so a redelivered job does not run twice.

    The queue calls ``get_result`` first: a stored result is republished and the message
    acked without running. Otherwise it calls ``claim`` and runs the job, then
    ``record_result`` once the result is durable, before acking.
    """

    async def claim(self, job_id: str) -> bool:
        """Note a delivery of ``job_id``; True when no result is recorded (run the job).

        A job claimed by an earlier delivery that died before recording a result is
        claimable again: only a recorded result makes a job done.
        """
        ...

    async def get_result(self, job_id: str) -> str | None:
        """The recorded result JSON of ``job_id``, or None."""
        ...

    async def record_result(self, job_id: str, result_json: str) -> None:
        """Record the result JSON of ``job_id``; a second record keeps the first."""
        ...

    async def ping(self) -> None:
        """Raise when the backing database does not answer."""
        ...

    async def forget_before(self, before: float) -> None:
        """Forget results recorded before ``before`` (epoch seconds): retention."""
        ...


@dataclass
class Stores:
    """What `open_stores` yields: the checkpointer, the idempotency store and run records."""

    checkpointer: BaseCheckpointSaver
    idempotency: IdempotencyStore
    backend: str
    """``postgres`` or ``sqlite``."""
    runs: RunStore
    ledger: Ledger
    """Budget counters (runtime.state.ledger)."""
    approvals: ApprovalStore
    """Calls waiting for (or given) a human decision (runtime.state.approvals)."""

    async def ping(self) -> None:
        """Raise when the database does not answer (for /ready)."""
        await self.idempotency.ping()


def postgres_conninfo(url: str) -> str:
    """A libpq URL from ``url``; SQLAlchemy-style ``postgresql+psycopg://`` is accepted too."""
    return re.sub(r"^postgres(ql)?(\+\w+)?://", "postgresql://", url)


@contextlib.asynccontextmanager
async def open_stores(settings: Settings, *, pool_size: int | None = None) -> AsyncIterator[Stores]:
    """Open the checkpointer and idempotency store the settings call for.

    Args:
        settings: ``database_url`` selects Postgres; otherwise SQLite files under
            ``state_dir`` (created if missing).
        pool_size: Postgres pool size; defaults to max parallel sessions plus two (the
            result bookkeeping and /ready), so jobs never queue for a connection.

    Yields:
        The opened stores, migrated (``setup()`` has run). They are closed on exit.
    """
    if settings.database_url:
        size = pool_size or settings.max_parallel_sessions + 2
        from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver

        async with postgres_pool(settings.database_url, size) as pool:
            saver = AsyncPostgresSaver(pool)
            idempotency = PostgresIdempotencyStore(pool)
            runs = PostgresRunStore(pool)
            # Replicas starting together on a fresh database would race each other's
            # migrations (langgraph's fail on a duplicate version): one at a time. Waiters
            # poll instead of blocking in pg_advisory_lock: langgraph builds indexes
            # CONCURRENTLY, which waits for every open statement, a blocked one too.
            ledger, approvals = PostgresLedger(pool), PostgresApprovalStore(pool)
            async with pool.connection() as lock:
                while not await _try_lock(lock):  # noqa: ASYNC110 - another process holds it
                    await asyncio.sleep(0.2)
                try:
                    await saver.setup()
                    await idempotency.setup()
                    await runs.setup()
                    await ledger.setup()
                    await approvals.setup()
                finally:
                    await lock.execute("SELECT pg_advisory_unlock(%s)", (_SETUP_LOCK,))
            yield Stores(saver, idempotency, "postgres", runs, ledger, approvals)
        return
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    async with (
        aiosqlite.connect(settings.sqlite_path) as conn,
        SqliteIdempotencyStore.open(settings.state_dir / "jobs.sqlite") as idempotency,
        SqliteRunStore.open(settings.state_dir / "runs.sqlite") as runs,
        SqliteLedger.open(settings.state_dir / "budgets.sqlite") as ledger,
        SqliteApprovalStore.open_file(settings.state_dir / "approvals.sqlite") as approvals,
    ):
        saver = AsyncSqliteSaver(conn)
        await saver.setup()
        yield Stores(saver, idempotency, "sqlite", runs, ledger, approvals)


async def _try_lock(conn: Any) -> bool:
    cur = await conn.execute("SELECT pg_try_advisory_lock(%s) AS locked", (_SETUP_LOCK,))
    row = await cur.fetchone()
    return bool(row and row["locked"])


@contextlib.asynccontextmanager
async def open_checkpointer(settings: Settings) -> AsyncIterator[BaseCheckpointSaver]:
    """Only the checkpointer of `open_stores` (for tools that run no queue)."""
    async with open_stores(settings) as stores:
        yield stores.checkpointer


@contextlib.asynccontextmanager
async def postgres_pool(url: str, size: int) -> AsyncIterator[AsyncConnectionPool]:
    """A pool on ``url`` with the connection settings every store here expects."""
    from psycopg.rows import dict_row
    from psycopg_pool import AsyncConnectionPool

    # The saver needs autocommit and dict rows; prepare_threshold=0 keeps it working behind
    # PgBouncer in transaction mode, which cannot hold prepared statements.
    pool = AsyncConnectionPool(
        postgres_conninfo(url),
        min_size=1,
        max_size=max(size, 2),
        kwargs={"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row},
        open=False,
    )
    await pool.open(wait=True, timeout=30)
    try:
        yield pool
    finally:
        await pool.close()


class PostgresIdempotencyStore:
    """IdempotencyStore in the Postgres table ``xagent_job_results``."""

    def __init__(self, pool: AsyncConnectionPool) -> None:
        """Use connections of ``pool`` (autocommit, dict rows)."""
        self._pool = pool

    async def setup(self) -> None:
        """Create the table if it does not exist."""
        async with self._pool.connection() as conn:
            await conn.execute(
                """CREATE TABLE IF NOT EXISTS xagent_job_results (
                    job_id TEXT PRIMARY KEY,
                    attempts INTEGER NOT NULL DEFAULT 1,
                    claimed_at TIMESTAMPTZ NOT NULL DEFAULT now(),
                    result TEXT,
                    completed_at TIMESTAMPTZ
                )"""
            )

    async def claim(self, job_id: str) -> bool:
        """See IdempotencyStore.claim."""
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                """INSERT INTO xagent_job_results (job_id) VALUES (%s)
                    ON CONFLICT (job_id) DO UPDATE
                    SET attempts = xagent_job_results.attempts + 1, claimed_at = now()
                    RETURNING result IS NULL AS open""",
                (job_id,),
            )
            row = await cur.fetchone()
        return bool(row and row["open"])

    async def get_result(self, job_id: str) -> str | None:
        """See IdempotencyStore.get_result."""
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                "SELECT result FROM xagent_job_results WHERE job_id = %s",
                (job_id,),
            )
            row = await cur.fetchone()
        return row["result"] if row else None

    async def record_result(self, job_id: str, result_json: str) -> None:
        """See IdempotencyStore.record_result."""
        async with self._pool.connection() as conn:
            await conn.execute(
                """INSERT INTO xagent_job_results (job_id, result, completed_at)
                    VALUES (%s, %s, now())
                    ON CONFLICT (job_id) DO UPDATE
                    SET result = COALESCE(xagent_job_results.result, EXCLUDED.result),
                        completed_at = COALESCE(xagent_job_results.completed_at, now())""",
                (job_id, result_json),
            )

    async def ping(self) -> None:
        """See IdempotencyStore.ping."""
        async with self._pool.connection(timeout=5) as conn:
            await conn.execute("SELECT 1")

    async def forget_before(self, before: float) -> None:
        """See IdempotencyStore.forget_before."""
        async with self._pool.connection() as conn:
            await conn.execute(
                "DELETE FROM xagent_job_results WHERE completed_at < to_timestamp(%s)", (before,)
            )


class SqliteIdempotencyStore:
    """IdempotencyStore in an embedded SQLite file, for single-pod and local runs."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        """Use the open connection ``conn``."""
        self._conn = conn

    @classmethod
    @contextlib.asynccontextmanager
    async def open(cls, path: Path | str) -> AsyncIterator[SqliteIdempotencyStore]:
        """Open (and create) the store at ``path``; closed on exit."""
        async with aiosqlite.connect(path) as conn:
            store = cls(conn)
            await store.setup()
            yield store

    async def setup(self) -> None:
        """Create the table if it does not exist."""
        await self._conn.execute(
            """CREATE TABLE IF NOT EXISTS xagent_job_results (
                job_id TEXT PRIMARY KEY,
                attempts INTEGER NOT NULL DEFAULT 1,
                claimed_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
                result TEXT,
                completed_at TEXT
            )"""
        )
        await self._conn.commit()

    async def claim(self, job_id: str) -> bool:
        """See IdempotencyStore.claim."""
        await self._conn.execute(
            """INSERT INTO xagent_job_results (job_id) VALUES (?)
                ON CONFLICT (job_id) DO UPDATE
                SET attempts = attempts + 1, claimed_at = CURRENT_TIMESTAMP""",
            (job_id,),
        )
        await self._conn.commit()
        return await self.get_result(job_id) is None

    async def get_result(self, job_id: str) -> str | None:
        """See IdempotencyStore.get_result."""
        async with self._conn.execute(
            "SELECT result FROM xagent_job_results WHERE job_id = ?", (job_id,)
        ) as cur:
            row = await cur.fetchone()
        return row[0] if row else None

    async def record_result(self, job_id: str, result_json: str) -> None:
        """See IdempotencyStore.record_result."""
        await self._conn.execute(
            """INSERT INTO xagent_job_results (job_id, result, completed_at)
                VALUES (?, ?, CURRENT_TIMESTAMP)
                ON CONFLICT (job_id) DO UPDATE
                SET result = COALESCE(result, excluded.result),
                    completed_at = COALESCE(completed_at, excluded.completed_at)""",
            (job_id, result_json),
        )
        await self._conn.commit()

    async def ping(self) -> None:
        """See IdempotencyStore.ping."""
        async with self._conn.execute("SELECT 1") as cur:
            await cur.fetchone()

    async def forget_before(self, before: float) -> None:
        """See IdempotencyStore.forget_before."""
        await self._conn.execute(
            "DELETE FROM xagent_job_results WHERE completed_at < datetime(?, 'unixepoch')",
            (before,),
        )
        await self._conn.commit()
