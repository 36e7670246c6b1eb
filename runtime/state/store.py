"""Durable state: the LangGraph checkpointer, run records (which hold each job's result, so
jobs are idempotent), budget counters and approvals.

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
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import aiosqlite
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

from runtime.settings import Settings
from runtime.state.approvals import ApprovalStore, PostgresApprovalStore, SqliteApprovalStore
from runtime.state.ledger import Ledger, PostgresLedger, SqliteLedger
from runtime.state.runs import PostgresRunStore, RunResults, RunStore, SqliteRunStore

if TYPE_CHECKING:  # psycopg loads with the first Postgres pool: `xagent run` has none
    from psycopg_pool import AsyncConnectionPool

__all__ = [
    "IdempotencyStore",
    "Stores",
    "open_checkpointer",
    "open_stores",
    "postgres_conninfo",
]

_SETUP_LOCK = 0x78616765  # "xage": the advisory lock key that serializes migrations


@runtime_checkable
class IdempotencyStore(Protocol):
    """Remembers each job's published result, so a redelivered job does not run twice.

    Implemented once, over the run records (``runtime.state.runs.RunResults``); queue tests
    may pass None for no idempotency.

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
    """What `open_stores` yields: the checkpointer, run records and the other stores."""

    checkpointer: BaseCheckpointSaver
    backend: str
    """``postgres`` or ``sqlite``."""
    runs: RunStore
    ledger: Ledger
    """Budget counters (runtime.state.ledger)."""
    approvals: ApprovalStore
    """Calls waiting for (or given) a human decision (runtime.state.approvals)."""

    @property
    def idempotency(self) -> IdempotencyStore:
        """Job results for the queue: the run records' view (one store of results)."""
        return RunResults(self.runs)

    async def ping(self) -> None:
        """Raise when the database does not answer (for /ready)."""
        await self.runs.ping()


def postgres_conninfo(url: str) -> str:
    """A libpq URL from ``url``; SQLAlchemy-style ``postgresql+psycopg://`` is accepted too."""
    return re.sub(r"^postgres(ql)?(\+\w+)?://", "postgresql://", url)


@contextlib.asynccontextmanager
async def open_stores(settings: Settings, *, pool_size: int | None = None) -> AsyncIterator[Stores]:
    """Open the checkpointer and the runtime's own stores the settings call for.

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
                    await runs.setup()
                    await ledger.setup()
                    await approvals.setup()
                finally:
                    await lock.execute("SELECT pg_advisory_unlock(%s)", (_SETUP_LOCK,))
            yield Stores(saver, "postgres", runs, ledger, approvals)
        return
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    async with (
        aiosqlite.connect(settings.sqlite_path) as conn,
        SqliteRunStore.open(settings.state_dir / "runs.sqlite") as runs,
        SqliteLedger.open(settings.state_dir / "budgets.sqlite") as ledger,
        SqliteApprovalStore.open_file(settings.state_dir / "approvals.sqlite") as approvals,
    ):
        saver = AsyncSqliteSaver(conn)
        await saver.setup()
        yield Stores(saver, "sqlite", runs, ledger, approvals)


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
