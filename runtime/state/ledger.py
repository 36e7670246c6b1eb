"""Budget counters: what each budget window has spent, atomic across pods.

One row per window key in ``xagent_budget_usage``, incremented with one
``INSERT ... ON CONFLICT DO UPDATE SET tokens = tokens + ...`` statement: atomic across every
pod sharing the Postgres database (SQLite, in the pod, when there is none).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import aiosqlite

if TYPE_CHECKING:  # psycopg loads with the first Postgres pool: `xagent run` has none
    from psycopg_pool import AsyncConnectionPool

__all__ = ["Ledger", "PostgresLedger", "SqliteLedger", "Usage"]

_SCHEMA = """CREATE TABLE IF NOT EXISTS xagent_budget_usage (
    scope TEXT PRIMARY KEY,
    tokens BIGINT NOT NULL DEFAULT 0,
    cost DOUBLE PRECISION NOT NULL DEFAULT 0,
    updated_at DOUBLE PRECISION NOT NULL
)"""
_ADD = """INSERT INTO xagent_budget_usage (scope, tokens, cost, updated_at)
    VALUES (%s, %s, %s, %s)
    ON CONFLICT (scope) DO UPDATE SET
        tokens = xagent_budget_usage.tokens + excluded.tokens,
        cost = xagent_budget_usage.cost + excluded.cost,
        updated_at = excluded.updated_at"""
_GET = "SELECT scope, tokens, cost FROM xagent_budget_usage WHERE scope = %s"
_FORGET = "DELETE FROM xagent_budget_usage WHERE updated_at < %s RETURNING scope"


@dataclass(frozen=True)
class Usage:
    """Tokens and cost spent in one window."""

    tokens: int = 0
    cost: float = 0.0


class Ledger(Protocol):
    """Usage counters, one row per window key."""

    async def add(self, scopes: Sequence[str], tokens: int, cost: float) -> None:
        """Add to every window in ``scopes`` atomically."""
        ...

    async def usage(self, scopes: Sequence[str]) -> dict[str, Usage]:
        """What each window in ``scopes`` has spent (zero when never used)."""
        ...

    async def forget_before(self, before: float) -> int:
        """Delete windows last added to before ``before`` (epoch seconds); return how many."""
        ...


class PostgresLedger:
    """Ledger in Postgres: the shared database makes the counters agree across pods."""

    def __init__(self, pool: AsyncConnectionPool) -> None:
        """Use connections of ``pool`` (autocommit, dict rows)."""
        self._pool = pool

    async def setup(self) -> None:
        """Create the table if it does not exist."""
        async with self._pool.connection() as conn:
            await conn.execute(_SCHEMA)

    async def add(self, scopes: Sequence[str], tokens: int, cost: float) -> None:
        """See Ledger.add: one transaction, each row incremented in place."""
        now = time.time()
        async with self._pool.connection() as conn, conn.transaction():
            for scope in scopes:
                await conn.execute(_ADD, (scope, tokens, cost, now))

    async def usage(self, scopes: Sequence[str]) -> dict[str, Usage]:
        """See Ledger.usage."""
        out = {s: Usage() for s in scopes}
        async with self._pool.connection() as conn:
            for scope in scopes:
                cur = await conn.execute(_GET, (scope,))
                row = await cur.fetchone()
                if row:
                    out[scope] = Usage(int(row["tokens"]), float(row["cost"]))
        return out

    async def forget_before(self, before: float) -> int:
        """See Ledger.forget_before."""
        async with self._pool.connection() as conn:
            cur = await conn.execute(_FORGET, (before,))
            return len(await cur.fetchall())


class SqliteLedger:
    """Ledger in an embedded SQLite file (one pod)."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        """Use the open connection ``conn``."""
        self._conn = conn

    @classmethod
    @contextlib.asynccontextmanager
    async def open(cls, path: Path | str) -> AsyncIterator[SqliteLedger]:
        """Open (and create) the ledger at ``path``; closed on exit."""
        async with aiosqlite.connect(path) as conn:
            ledger = cls(conn)
            await ledger.setup()
            yield ledger

    async def setup(self) -> None:
        """Create the table if it does not exist."""
        await self._conn.execute(_SCHEMA)
        await self._conn.commit()

    async def add(self, scopes: Sequence[str], tokens: int, cost: float) -> None:
        """See Ledger.add."""
        now = time.time()
        for scope in scopes:
            await self._conn.execute(_ADD.replace("%s", "?"), (scope, tokens, cost, now))
        await self._conn.commit()

    async def usage(self, scopes: Sequence[str]) -> dict[str, Usage]:
        """See Ledger.usage."""
        out = {s: Usage() for s in scopes}
        for scope in scopes:
            async with self._conn.execute(_GET.replace("%s", "?"), (scope,)) as cur:
                row = await cur.fetchone()
            if row:
                out[scope] = Usage(int(row[1]), float(row[2]))
        return out

    async def forget_before(self, before: float) -> int:
        """See Ledger.forget_before."""
        async with self._conn.execute(_FORGET.replace("%s", "?"), (before,)) as cur:
            forgotten = len(list(await cur.fetchall()))
        await self._conn.commit()
        return forgotten
