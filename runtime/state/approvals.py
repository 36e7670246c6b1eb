"""Calls waiting for a human decision (``spec.approvals``), and the decisions taken.

The graph stops before a gated call with ``interrupt()`` (runtime.agent.approvals.gate); the
interrupt is in the checkpoint, so the waiting run needs no process: any pod resumes it,
after any restart.

The executor turns each interrupt into a row of ``xagent_approvals`` (`ApprovalStore.open`),
an ``approval_required`` event on the thread and the run's ``awaiting_approval`` status.
``POST /threads/{id}/approvals`` decides one (`ApprovalStore.decide`: a single conditional
``UPDATE``, so of two concurrent decisions exactly one wins) and enqueues a resume job; the
sweeper (`ApprovalStore.expire_due`) applies ``timeoutAction`` to calls nobody decided on in
time. The resumed node receives the `Decision`: approve runs the call, edit runs it with the
edited arguments, reject answers the model with a tool error naming who rejected it and why.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from collections.abc import AsyncIterator, Sequence
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import aiosqlite
from prometheus_client import Gauge
from pydantic import BaseModel, ConfigDict, Field, model_validator

from contract.metrics import METRICS
from runtime.observability import REGISTRY

if TYPE_CHECKING:  # psycopg loads with the first Postgres pool: `xagent run` has none
    from psycopg_pool import AsyncConnectionPool

__all__ = [
    "APPROVALS_OLDEST_PENDING",
    "APPROVALS_PENDING",
    "Approval",
    "ApprovalConflict",
    "ApprovalStatus",
    "ApprovalStore",
    "Decision",
    "PostgresApprovalStore",
    "SqliteApprovalStore",
    "approval_id",
]

APPROVALS_PENDING = Gauge(
    METRICS.APPROVALS_PENDING,
    "Tool calls waiting for a human decision (as this pod last counted them).",
    registry=REGISTRY,
)
APPROVALS_OLDEST_PENDING = Gauge(
    METRICS.APPROVALS_OLDEST_PENDING,
    "When the longest-waiting pending call was opened, Unix seconds; 0 when none waits.",
    registry=REGISTRY,
)


class Decision(BaseModel):
    """A human's decision on one pending call (the body of ``POST /threads/{id}/approvals``)."""

    model_config = ConfigDict(extra="forbid")

    approval_id: Annotated[str, Field(min_length=1, max_length=200)]
    decision: Literal["approve", "reject", "edit"]
    args: Annotated[
        dict[str, Any] | None, Field(description="The arguments to run with (edit only).")
    ] = None
    by: Annotated[str, Field(min_length=1, max_length=200, description="Who decided.")]
    reason: Annotated[str | None, Field(max_length=4000)] = None

    @model_validator(mode="after")
    def _args_for_edit(self) -> Decision:
        if (self.decision == "edit") != (self.args is not None):
            raise ValueError("args is required with decision edit, and only with it")
        return self


class ApprovalStatus(StrEnum):
    """Where a pending call is."""

    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    EDITED = "edited"
    EXPIRED = "expired"


_DECIDED = {
    "approve": ApprovalStatus.APPROVED,
    "reject": ApprovalStatus.REJECTED,
    "edit": ApprovalStatus.EDITED,
}


class Approval(BaseModel):
    """One call that needs (or needed) approval."""

    approval_id: str
    thread_id: str
    job_id: str
    interrupt_id: str
    tool_name: str
    tool_args: dict[str, Any] = {}
    status: ApprovalStatus = ApprovalStatus.PENDING
    created_at: float = Field(default_factory=time.time)
    expires_at: float = 0.0
    decided_at: float | None = None
    decided_by: str | None = None
    reason: str | None = None
    edited_args: dict[str, Any] | None = None

    def resume_value(self) -> dict[str, Any]:
        """What the interrupted node receives back from ``interrupt()``."""
        decision = {
            ApprovalStatus.APPROVED: "approve",
            ApprovalStatus.EDITED: "edit",
        }.get(self.status, "reject")
        return {
            "decision": decision,
            "args": self.edited_args,
            "by": self.decided_by,
            "reason": self.reason,
        }

    def record(self) -> dict[str, Any]:
        """The entry kept in the run record's ``approvals``."""
        return self.model_dump(mode="json", exclude={"interrupt_id"})


class ApprovalConflict(Exception):  # noqa: N818 - an HTTP 404/409 answer, not a bug
    """A decision that cannot be taken; ``status`` is the HTTP status to answer."""

    def __init__(self, status: int, message: str) -> None:
        """``status`` 404 (unknown) or 409 (decided, expired)."""
        self.status = status
        super().__init__(message)


def approval_id(thread_id: str, tool_call_id: str) -> str:
    """A stable id: the same pending call always gets the same one (a re-run re-opens nothing)."""
    digest = hashlib.sha256(f"{thread_id}\0{tool_call_id}".encode()).hexdigest()
    return f"apr-{digest[:24]}"


# --- the store --------------------------------------------------------------------------------

_SCHEMA = """CREATE TABLE IF NOT EXISTS xagent_approvals (
    approval_id TEXT PRIMARY KEY,
    thread_id TEXT NOT NULL,
    job_id TEXT NOT NULL,
    interrupt_id TEXT NOT NULL,
    tool_name TEXT NOT NULL,
    tool_args TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    expires_at DOUBLE PRECISION NOT NULL,
    decided_at DOUBLE PRECISION,
    decided_by TEXT,
    reason TEXT,
    edited_args TEXT
)"""
_INDEX = """CREATE INDEX IF NOT EXISTS xagent_approvals_pending
    ON xagent_approvals (status, expires_at)"""
_COLUMNS = (
    "approval_id, thread_id, job_id, interrupt_id, tool_name, tool_args, status, created_at, "
    "expires_at, decided_at, decided_by, reason, edited_args"
)
_OPEN = f"""INSERT INTO xagent_approvals ({_COLUMNS})
    VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, NULL, NULL, NULL, NULL)
    ON CONFLICT (approval_id) DO UPDATE SET interrupt_id = excluded.interrupt_id
    WHERE xagent_approvals.status = 'pending'"""  # noqa: S608 - constant column list
_DECIDE = f"""UPDATE xagent_approvals
    SET status = %s, decided_at = %s, decided_by = %s, reason = %s, edited_args = %s
    WHERE approval_id = %s AND thread_id = %s AND status = 'pending' AND expires_at > %s
    RETURNING {_COLUMNS}"""  # noqa: S608
_EXPIRE = f"""UPDATE xagent_approvals
    SET status = %s, decided_at = %s, decided_by = 'timeout', reason = %s
    WHERE status = 'pending' AND expires_at <= %s
    RETURNING {_COLUMNS}"""  # noqa: S608
_GET = f"SELECT {_COLUMNS} FROM xagent_approvals WHERE approval_id = %s AND thread_id = %s"  # noqa: S608
_PENDING = f"""SELECT {_COLUMNS} FROM xagent_approvals
    WHERE thread_id = %s AND status = 'pending' ORDER BY created_at"""  # noqa: S608
_FOR_JOB = f"""SELECT {_COLUMNS} FROM xagent_approvals
    WHERE thread_id = %s AND job_id = %s ORDER BY created_at"""  # noqa: S608
_COUNT = """SELECT COUNT(*) AS n, MIN(created_at) AS oldest FROM xagent_approvals
    WHERE status = 'pending'"""


def _approval(row: dict[str, Any]) -> Approval:
    values = dict(row)
    values["tool_args"] = json.loads(values["tool_args"] or "{}")
    values["edited_args"] = json.loads(values["edited_args"]) if values["edited_args"] else None
    return Approval.model_validate(values)


class ApprovalStore:
    """Pending and decided calls; one SQL text for Postgres and SQLite (``%s`` placeholders)."""

    async def _run(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        raise NotImplementedError

    async def setup(self) -> None:
        """Create the table if it does not exist."""
        await self._run(_SCHEMA)
        await self._run(_INDEX)

    async def open(self, approval: Approval) -> None:
        """Record a pending call; recording it again (a re-run) keeps its decision, if any."""
        await self._run(
            _OPEN,
            (
                approval.approval_id,
                approval.thread_id,
                approval.job_id,
                approval.interrupt_id,
                approval.tool_name,
                json.dumps(approval.tool_args, default=str),
                ApprovalStatus.PENDING.value,
                approval.created_at,
                approval.expires_at,
            ),
        )

    async def decide(
        self, thread_id: str, decision: Decision, now: float | None = None
    ) -> Approval:
        """Take ``decision``; exactly one of concurrent decisions on one call wins.

        Raises:
            ApprovalConflict: 404 when the thread has no such call, 409 when it was decided
                already or timed out (the message says by whom, or when).
        """
        now = time.time() if now is None else now
        rows = await self._run(
            _DECIDE,
            (
                _DECIDED[decision.decision].value,
                now,
                decision.by,
                decision.reason,
                json.dumps(decision.args) if decision.args is not None else None,
                decision.approval_id,
                thread_id,
                now,
            ),
        )
        if rows:
            return _approval(rows[0])
        current = await self.get(thread_id, decision.approval_id)
        if current is None:
            raise ApprovalConflict(
                404, f"thread {thread_id!r} has no approval {decision.approval_id!r}"
            )
        if current.status == ApprovalStatus.PENDING:
            raise ApprovalConflict(409, "the approval timed out; its timeout action applies")
        if current.decided_by == "timeout":
            raise ApprovalConflict(409, f"the approval timed out ({current.reason})")
        raise ApprovalConflict(
            409, f"the approval was already decided: {current.status} by {current.decided_by}"
        )

    async def get(self, thread_id: str, approval_id: str) -> Approval | None:
        """One call of ``thread_id``."""
        rows = await self._run(_GET, (approval_id, thread_id))
        return _approval(rows[0]) if rows else None

    async def pending(self, thread_id: str) -> list[Approval]:
        """The thread's calls waiting for a decision, oldest first."""
        return [_approval(r) for r in await self._run(_PENDING, (thread_id,))]

    async def for_job(self, thread_id: str, job_id: str) -> list[Approval]:
        """Every call of one job's run, decided or not (its run record's ``approvals``)."""
        return [_approval(r) for r in await self._run(_FOR_JOB, (thread_id, job_id))]

    async def expire_due(self, action: str, now: float | None = None) -> list[Approval]:
        """Close every pending call past its deadline with ``action``; each returned once."""
        now = time.time() if now is None else now
        status = ApprovalStatus.APPROVED if action == "approve" else ApprovalStatus.EXPIRED
        reason = f"no decision in time; timeout action {action}"
        rows = await self._run(_EXPIRE, (status.value, now, reason, now))
        return [_approval(r) for r in rows]

    async def delete_thread(self, thread_id: str) -> int:
        """Forget every call of ``thread_id`` (retention of an idle thread); how many."""
        rows = await self._run(
            "DELETE FROM xagent_approvals WHERE thread_id = %s RETURNING approval_id",
            (thread_id,),
        )
        return len(rows)

    async def forget_decided_before(self, before: float) -> int:
        """Forget calls decided (or timed out) before ``before``; pending ones stay."""
        rows = await self._run(
            "DELETE FROM xagent_approvals WHERE status <> %s AND decided_at < %s "
            "RETURNING approval_id",
            (ApprovalStatus.PENDING.value, before),
        )
        return len(rows)

    async def count_pending(self) -> int:
        """Calls waiting, over every thread (sets the pending and oldest-pending metrics)."""
        rows = await self._run(_COUNT)
        count = int(rows[0]["n"]) if rows else 0
        oldest = rows[0]["oldest"] if rows else None
        APPROVALS_PENDING.set(count)
        APPROVALS_OLDEST_PENDING.set(float(oldest) if count and oldest is not None else 0.0)
        return count


class PostgresApprovalStore(ApprovalStore):
    """ApprovalStore in Postgres, shared by every pod."""

    def __init__(self, pool: AsyncConnectionPool) -> None:
        """Use connections of ``pool`` (autocommit, dict rows)."""
        self._pool = pool

    async def _run(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        async with self._pool.connection() as conn:
            cur = await conn.execute(sql, params)
            return list(await cur.fetchall()) if cur.description else []


class SqliteApprovalStore(ApprovalStore):
    """ApprovalStore in an embedded SQLite file (one pod)."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        """Use the open connection ``conn``."""
        self._conn = conn
        self._conn.row_factory = aiosqlite.Row

    @classmethod
    @contextlib.asynccontextmanager
    async def open_file(cls, path: Path | str) -> AsyncIterator[SqliteApprovalStore]:
        """Open (and create) the store at ``path``; closed on exit."""
        async with aiosqlite.connect(path) as conn:
            store = cls(conn)
            await store.setup()
            yield store

    async def _run(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        async with self._conn.execute(sql.replace("%s", "?"), params) as cur:
            rows = [dict(r) for r in await cur.fetchall()]
        await self._conn.commit()
        return rows
