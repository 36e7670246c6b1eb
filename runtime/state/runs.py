"""Run records: what happened to each job, and who owns each thread (``GET /runs``, ``/threads``).

One row per job in ``xagent_runs`` (status, timings, tokens, cost, error, approvals and the
answer itself, however large) and one per thread in ``xagent_threads`` (its owner, for
scoping, and when it was last used, for retention). The run record is also the one store of
each job's published result, which makes jobs idempotent (``RunResults``): the ``result``
column holds the first result recorded, its answer kept only once, in ``output``. Postgres
when the runtime has a database, SQLite in the pod otherwise: one ``RunStore`` interface over
both, the SQL written once with ``%s`` placeholders (SQLite's ``?`` substituted) and never
assembled from values.

Schema changes follow langgraph's checkpointer: ``MIGRATIONS`` is append-only, its index is
the schema version, ``setup()`` applies the missing ones and is called explicitly at startup.
Timestamps are epoch seconds (floats), the same type in both databases.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import AsyncIterator, Sequence
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import aiosqlite
from pydantic import BaseModel, Field

from runtime.jobs import JobResult, JobStatus, TokenUsage

if TYPE_CHECKING:  # psycopg loads with the first Postgres pool: `xagent run` has none
    from psycopg_pool import AsyncConnectionPool

__all__ = [
    "MIGRATIONS",
    "TERMINAL",
    "PostgresRunStore",
    "RunLog",
    "RunRecord",
    "RunResults",
    "RunStatus",
    "RunStore",
    "SqliteRunStore",
    "ThreadRecord",
]


class RunStatus(StrEnum):
    """Where a job is in its life."""

    QUEUED = "queued"
    RUNNING = "running"
    AWAITING_APPROVAL = "awaiting_approval"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    BUDGET_EXCEEDED = "budget_exceeded"
    DEAD_LETTERED = "dead_lettered"


TERMINAL = frozenset(
    {RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.BUDGET_EXCEEDED, RunStatus.DEAD_LETTERED}
)
"""Statuses a run does not leave unless the same job id is submitted again."""


class RunRecord(BaseModel):
    """One job's run, as ``GET /runs/{job_id}`` shows it."""

    job_id: str
    thread_id: str
    owner: str | None = None
    """The authenticated principal that submitted the job; None for jobs off the queue."""
    status: RunStatus = RunStatus.QUEUED
    attempts: int = 0
    created_at: float = Field(default_factory=time.time)
    updated_at: float = Field(default_factory=time.time)
    started_at: float | None = None
    finished_at: float | None = None
    duration_seconds: float | None = None
    tokens: TokenUsage = TokenUsage()
    cost: float | None = None
    model: str | None = None
    error: str | None = None
    approvals: list[dict[str, Any]] = []
    output: str | None = None


class ThreadRecord(BaseModel):
    """A conversation thread: who owns it and when it was last used."""

    thread_id: str
    owner: str | None = None
    created_at: float
    updated_at: float


MIGRATIONS: Sequence[str] = (
    "CREATE TABLE IF NOT EXISTS xagent_runs_migrations (v INTEGER PRIMARY KEY)",
    """CREATE TABLE IF NOT EXISTS xagent_runs (
        job_id TEXT PRIMARY KEY,
        thread_id TEXT NOT NULL,
        owner TEXT,
        status TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        created_at DOUBLE PRECISION NOT NULL,
        updated_at DOUBLE PRECISION NOT NULL,
        started_at DOUBLE PRECISION,
        finished_at DOUBLE PRECISION,
        duration_seconds DOUBLE PRECISION,
        input_tokens BIGINT NOT NULL DEFAULT 0,
        output_tokens BIGINT NOT NULL DEFAULT 0,
        total_tokens BIGINT NOT NULL DEFAULT 0,
        cost DOUBLE PRECISION,
        model TEXT,
        error TEXT,
        approvals TEXT NOT NULL DEFAULT '[]',
        output TEXT
    )""",
    "CREATE INDEX IF NOT EXISTS xagent_runs_thread_idx ON xagent_runs (thread_id, created_at)",
    "CREATE INDEX IF NOT EXISTS xagent_runs_finished_idx ON xagent_runs (finished_at)",
    """CREATE TABLE IF NOT EXISTS xagent_threads (
        thread_id TEXT PRIMARY KEY,
        owner TEXT,
        created_at DOUBLE PRECISION NOT NULL,
        updated_at DOUBLE PRECISION NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS xagent_threads_updated_idx ON xagent_threads (updated_at)",
    # The published result (RunResults): its JSON, without the answer when ``output`` has it.
    "ALTER TABLE xagent_runs ADD COLUMN result TEXT",
)
"""Append-only: the index of a statement is the schema version it brings."""

# Columns `update` may set, each to the value's column form (see _to_columns).
_UPDATABLE = (
    "status",
    "attempts",
    "started_at",
    "finished_at",
    "duration_seconds",
    "input_tokens",
    "output_tokens",
    "total_tokens",
    "cost",
    "model",
    "error",
    "approvals",
    "output",
)
_COLUMNS = ("job_id", "thread_id", "owner", "created_at", "updated_at", *_UPDATABLE)
_SELECT_RUN = f"SELECT {', '.join(_COLUMNS)} FROM xagent_runs"  # noqa: S608 - constant names


@runtime_checkable
class RunStore(Protocol):
    """Create, update and read run records; own and expire threads."""

    async def setup(self) -> None:
        """Apply the migrations this database lacks."""
        ...

    async def create(self, record: RunRecord) -> RunRecord:
        """Insert ``record`` unless its job id exists; return what is stored then.

        The thread is created too (owned by ``record.owner``) and marked as used now.
        """
        ...

    async def update(
        self, job_id: str, *, unless_recorded: bool = False, **changes: Any
    ) -> RunRecord | None:
        """Set fields of a run (RunRecord names; ``tokens`` a TokenUsage); None if absent.

        ``unless_recorded``: change nothing once the run holds a recorded result.
        """
        ...

    async def get(self, job_id: str) -> RunRecord | None:
        """The run of ``job_id``, or None."""
        ...

    async def thread_runs(self, thread_id: str) -> list[RunRecord]:
        """Every run of ``thread_id``, oldest first."""
        ...

    async def claim_thread(self, thread_id: str, owner: str | None) -> ThreadRecord:
        """Create the thread owned by ``owner`` unless it exists; return the stored thread."""
        ...

    async def get_thread(self, thread_id: str) -> ThreadRecord | None:
        """The thread ``thread_id``, or None."""
        ...

    async def idle_threads(self, before: float, limit: int = 500) -> list[str]:
        """Threads not used since ``before`` (epoch seconds), oldest first."""
        ...

    async def delete_thread(self, thread_id: str) -> None:
        """Forget the thread and every run of it."""
        ...

    async def delete_runs_finished_before(self, before: float) -> int:
        """Delete runs that ended before ``before``; return how many."""
        ...

    async def record_result(self, job_id: str, result: str, output: str | None) -> None:
        """Record the result JSON (without its answer) and the answer, unless one is recorded.

        The run must exist. Both columns are set in one statement, so a result and its
        answer always come from the same run of the job.
        """
        ...

    async def recorded_result(self, job_id: str) -> tuple[str, str | None] | None:
        """The recorded result JSON and the ``output`` column, or None when none is recorded."""
        ...

    async def ping(self) -> None:
        """Raise when the database does not answer."""
        ...


def _to_columns(changes: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in changes.items():
        if name == "tokens":
            usage = value if isinstance(value, TokenUsage) else TokenUsage.model_validate(value)
            out |= {
                "input_tokens": usage.input_tokens,
                "output_tokens": usage.output_tokens,
                "total_tokens": usage.total_tokens,
            }
        elif name == "approvals":
            out[name] = json.dumps(value)
        elif name == "status":
            out[name] = RunStatus(value).value
        elif name in _UPDATABLE:
            out[name] = value
        else:
            raise ValueError(f"run records have no updatable field {name!r}")
    return out


def _record(row: dict[str, Any]) -> RunRecord:
    values = dict(row)
    values["tokens"] = TokenUsage(
        input_tokens=values.pop("input_tokens") or 0,
        output_tokens=values.pop("output_tokens") or 0,
        total_tokens=values.pop("total_tokens") or 0,
    )
    values["approvals"] = json.loads(values.get("approvals") or "[]")
    return RunRecord.model_validate(values)


class _SqlRunStore:
    """The SQL both databases share; subclasses say how one statement runs."""

    _PLACEHOLDER = "%s"

    async def _run(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        raise NotImplementedError

    async def _script(self, statements: Sequence[tuple[str, Sequence[Any]]]) -> None:
        raise NotImplementedError

    def _sql(self, sql: str) -> str:
        return sql.replace("%s", self._PLACEHOLDER)

    async def setup(self) -> None:
        await self._run(MIGRATIONS[0])
        rows = await self._run("SELECT v FROM xagent_runs_migrations ORDER BY v DESC LIMIT 1")
        version = rows[0]["v"] if rows else -1
        for v in range(version + 1, len(MIGRATIONS)):
            await self._script(
                [(MIGRATIONS[v], ()), ("INSERT INTO xagent_runs_migrations (v) VALUES (%s)", (v,))]
            )

    async def create(self, record: RunRecord) -> RunRecord:
        now = time.time()
        values = {
            "job_id": record.job_id,
            "thread_id": record.thread_id,
            "owner": record.owner,
            "created_at": record.created_at,
            "updated_at": record.updated_at,
            **_to_columns(record.model_dump(include=set(_UPDATABLE) | {"tokens"})),
        }
        columns = ", ".join(values)
        marks = ", ".join(["%s"] * len(values))
        await self._script(
            [
                (
                    # Column names come from _COLUMNS, never from input.
                    f"INSERT INTO xagent_runs ({columns}) VALUES ({marks}) "  # noqa: S608
                    "ON CONFLICT (job_id) DO NOTHING",
                    tuple(values.values()),
                ),
                (
                    "INSERT INTO xagent_threads (thread_id, owner, created_at, updated_at) "
                    "VALUES (%s, %s, %s, %s) "
                    "ON CONFLICT (thread_id) DO UPDATE SET updated_at = EXCLUDED.updated_at",
                    (record.thread_id, record.owner, now, now),
                ),
            ]
        )
        stored = await self.get(record.job_id)
        assert stored is not None  # just inserted, or there before
        return stored

    async def update(
        self, job_id: str, *, unless_recorded: bool = False, **changes: Any
    ) -> RunRecord | None:
        columns = _to_columns(changes)
        columns["updated_at"] = time.time()
        sets = ", ".join(f"{name} = %s" for name in columns)
        where = "job_id = %s AND result IS NULL" if unless_recorded else "job_id = %s"
        await self._run(
            f"UPDATE xagent_runs SET {sets} WHERE {where}",  # noqa: S608 - names from _UPDATABLE
            (*columns.values(), job_id),
        )
        return await self.get(job_id)

    async def get(self, job_id: str) -> RunRecord | None:
        rows = await self._run(f"{_SELECT_RUN} WHERE job_id = %s", (job_id,))
        return _record(rows[0]) if rows else None

    async def thread_runs(self, thread_id: str) -> list[RunRecord]:
        rows = await self._run(
            f"{_SELECT_RUN} WHERE thread_id = %s ORDER BY created_at, job_id", (thread_id,)
        )
        return [_record(row) for row in rows]

    async def claim_thread(self, thread_id: str, owner: str | None) -> ThreadRecord:
        now = time.time()
        await self._run(
            "INSERT INTO xagent_threads (thread_id, owner, created_at, updated_at) "
            "VALUES (%s, %s, %s, %s) ON CONFLICT (thread_id) DO NOTHING",
            (thread_id, owner, now, now),
        )
        thread = await self.get_thread(thread_id)
        assert thread is not None
        return thread

    async def get_thread(self, thread_id: str) -> ThreadRecord | None:
        rows = await self._run(
            "SELECT thread_id, owner, created_at, updated_at FROM xagent_threads "
            "WHERE thread_id = %s",
            (thread_id,),
        )
        return ThreadRecord.model_validate(rows[0]) if rows else None

    async def idle_threads(self, before: float, limit: int = 500) -> list[str]:
        rows = await self._run(
            "SELECT thread_id FROM xagent_threads WHERE updated_at < %s "
            "ORDER BY updated_at LIMIT %s",
            (before, limit),
        )
        return [row["thread_id"] for row in rows]

    async def delete_thread(self, thread_id: str) -> None:
        await self._script(
            [
                ("DELETE FROM xagent_runs WHERE thread_id = %s", (thread_id,)),
                ("DELETE FROM xagent_threads WHERE thread_id = %s", (thread_id,)),
            ]
        )

    async def delete_runs_finished_before(self, before: float) -> int:
        rows = await self._run(
            "DELETE FROM xagent_runs WHERE finished_at < %s RETURNING job_id", (before,)
        )
        return len(rows)

    async def record_result(self, job_id: str, result: str, output: str | None) -> None:
        await self._run(
            "UPDATE xagent_runs SET result = %s, output = %s WHERE job_id = %s AND result IS NULL",
            (result, output, job_id),
        )

    async def recorded_result(self, job_id: str) -> tuple[str, str | None] | None:
        rows = await self._run(
            "SELECT result, output FROM xagent_runs WHERE job_id = %s AND result IS NOT NULL",
            (job_id,),
        )
        return (rows[0]["result"], rows[0]["output"]) if rows else None

    async def ping(self) -> None:
        await self._run("SELECT 1 AS one")


class PostgresRunStore(_SqlRunStore):
    """RunStore on a Postgres pool (autocommit connections with dict rows)."""

    def __init__(self, pool: AsyncConnectionPool) -> None:
        """Use connections of ``pool``."""
        self._pool = pool

    async def _run(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        async with self._pool.connection() as conn:
            cur = await conn.execute(sql, tuple(params))
            return list(await cur.fetchall()) if cur.description else []

    async def _script(self, statements: Sequence[tuple[str, Sequence[Any]]]) -> None:
        async with self._pool.connection() as conn, conn.transaction():
            for sql, params in statements:
                await conn.execute(sql, tuple(params))


class SqliteRunStore(_SqlRunStore):
    """RunStore in an embedded SQLite file, for single-pod and local runs."""

    _PLACEHOLDER = "?"

    def __init__(self, conn: aiosqlite.Connection) -> None:
        """Use the open connection ``conn``."""
        self._conn = conn
        self._conn.row_factory = aiosqlite.Row

    @classmethod
    @contextlib.asynccontextmanager
    async def open(cls, path: Path | str) -> AsyncIterator[SqliteRunStore]:
        """Open (and create) the store at ``path``, migrated; closed on exit."""
        async with aiosqlite.connect(path) as conn:
            store = cls(conn)
            await store.setup()
            yield store

    async def _run(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        async with self._conn.execute(self._sql(sql), tuple(params)) as cur:
            rows = [dict(row) for row in await cur.fetchall()]
        await self._conn.commit()
        return rows

    async def _script(self, statements: Sequence[tuple[str, Sequence[Any]]]) -> None:
        try:
            for sql, params in statements:
                await self._conn.execute(self._sql(sql), tuple(params))
        except BaseException:
            await self._conn.rollback()
            raise
        await self._conn.commit()


_RESULT_STATUS = {
    JobStatus.COMPLETED: RunStatus.SUCCEEDED,
    JobStatus.FAILED: RunStatus.FAILED,
    JobStatus.AWAITING_APPROVAL: RunStatus.AWAITING_APPROVAL,
    JobStatus.BUDGET_EXCEEDED: RunStatus.BUDGET_EXCEEDED,
}


class RunLog:
    """The queue's view of run records: one call per event of a job's life.

    A no-op without a store (tests of queue semantics alone). Failures propagate: the
    worker then hands the delivery back, as for any failure of its own bookkeeping.
    """

    def __init__(self, store: RunStore | None) -> None:
        """Record into ``store``, when there is one."""
        self.store = store

    async def started(self, job_id: str, thread_id: str) -> None:
        """A delivery of the job starts running (creates the record of a queue-only job)."""
        if self.store is None:
            return
        record = await self.store.create(
            RunRecord(job_id=job_id, thread_id=thread_id, status=RunStatus.RUNNING)
        )
        # A run whose result is recorded is done: a delivery that raced the one recording
        # it (and will find it recorded) must not make it look running again.
        await self.store.update(
            job_id,
            unless_recorded=True,
            status=RunStatus.RUNNING,
            attempts=record.attempts + 1,
            started_at=time.time(),
            finished_at=None,
            error=None,
        )

    async def retrying(self, job_id: str, error: str) -> None:
        """The delivery failed retryably; the job waits for its next delivery."""
        if self.store is not None:
            await self.store.update(
                job_id, unless_recorded=True, status=RunStatus.QUEUED, error=error
            )

    async def finished(self, result: JobResult) -> None:
        """The job ended with ``result`` (its whole answer is kept, however large)."""
        if self.store is None:
            return
        await self.store.create(RunRecord(job_id=result.job_id, thread_id=result.thread_id))
        await self.store.update(
            result.job_id,
            # A second run of the same job (two deliveries at once) leaves the first's alone.
            unless_recorded=True,
            status=_RESULT_STATUS.get(result.status, RunStatus.FAILED),
            finished_at=time.time(),
            duration_seconds=result.duration_seconds,
            tokens=result.tokens,
            model=result.model,
            cost=result.cost,
            error=result.error,
            output=result.output,
        )

    async def failed(self, job_id: str, thread_id: str, error: str) -> None:
        """A synchronous run failed without a result (the HTTP caller got an error)."""
        await self._ended_without_result(job_id, thread_id, RunStatus.FAILED, error)

    async def dead_lettered(self, job_id: str, thread_id: str, error: str) -> None:
        """The queue gave up on the job."""
        await self._ended_without_result(job_id, thread_id, RunStatus.DEAD_LETTERED, error)

    async def _ended_without_result(
        self, job_id: str, thread_id: str, status: RunStatus, error: str
    ) -> None:
        # unless_recorded: a result another delivery already recorded stays the answer.
        if self.store is None:
            return
        await self.store.create(RunRecord(job_id=job_id, thread_id=thread_id))
        await self.store.update(
            job_id, unless_recorded=True, status=status, error=error, finished_at=time.time()
        )


class RunResults:
    """The queue's IdempotencyStore (runtime.state.store), kept in the run records.

    A job is done once its run holds a recorded result: a redelivery republishes that
    result instead of running the job again. Runs that failed without a result (a
    synchronous run that failed retryably, a dead letter) record none, so the same job id
    can be submitted again. The first recorded result wins; its answer is stored once, in
    the run's ``output``, and put back into the result when it is read.
    """

    def __init__(self, store: RunStore) -> None:
        """Record results into the runs of ``store``."""
        self.store = store

    async def claim(self, job_id: str) -> bool:
        """True when no result is recorded: run the job (attempts are the run's)."""
        return await self.store.recorded_result(job_id) is None

    async def get_result(self, job_id: str) -> str | None:
        """The recorded result JSON of ``job_id``, with its answer, or None."""
        recorded = await self.store.recorded_result(job_id)
        if recorded is None:
            return None
        result, output = recorded
        body = json.loads(result)
        if "output" not in body:
            # Left out because the run's output held it when the result was recorded.
            body["output"] = output
        return json.dumps(body)

    async def record_result(self, job_id: str, result_json: str) -> None:
        """Record ``result_json`` as the job's result; a second record keeps the first."""
        body = json.loads(result_json)
        output = body.get("output")
        if output is not None:
            # The answer lives once, in ``output``. A result without one keeps its null:
            # a later write to ``output`` (a resumed run's answer) is not this result's.
            del body["output"]
        if await self.store.get(job_id) is None:
            # A worker without run bookkeeping (queue-only tests) records no run first.
            thread = str(body.get("thread_id") or job_id)
            await self.store.create(RunRecord(job_id=job_id, thread_id=thread))
        await self.store.record_result(job_id, json.dumps(body), output)

    async def ping(self) -> None:
        """Raise when the database does not answer."""
        await self.store.ping()

    async def forget_before(self, before: float) -> None:
        """Forget results of runs that ended before ``before`` (the runs go with them)."""
        await self.store.delete_runs_finished_before(before)
