"""A job redelivered after its worker died mid-run answers as if it had never been cut.

A worker killed with ``kill -9`` leaves in the database exactly a prefix of what a full run
writes: the checkpoints up to some step, and maybe the pending writes of the next one. These
tests run a job to the end, cut the thread's durable history back to every such prefix in
turn, and run the job again as its redelivery would: each must end with the real answer, its
input and answer in the thread once.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable

import psycopg
import pytest

from contract.grants import ToolGrants
from runtime.jobs import Job, JobInput, JobStatus, Message
from runtime.settings import Settings
from runtime.startup import open_agent
from runtime.state.stream import MemoryEventSink
from tests.runtime.conftest import example, grant_all

Sql = Callable[[str, tuple], list[tuple]]


def _sql(settings: Settings) -> tuple[Sql, str]:
    """Run SQL on the checkpoint database; the name of its pending-writes table."""
    if settings.database_url:
        url = settings.database_url

        def run_pg(query: str, params: tuple) -> list[tuple]:
            with psycopg.connect(url, autocommit=True) as conn:
                cur = conn.execute(query.replace("?", "%s"), params)
                return list(cur.fetchall()) if cur.description else []

        return run_pg, "checkpoint_writes"

    def run_sqlite(query: str, params: tuple) -> list[tuple]:
        with sqlite3.connect(settings.sqlite_path) as conn:
            rows = conn.execute(query, params).fetchall()
            conn.commit()
            return rows

    return run_sqlite, "writes"


def _job(thread: str, text: str, n: int) -> Job:
    return Job(
        job_id=f"{thread}-job{n}",
        thread_id=thread,
        input=JobInput(messages=[Message(role="user", content=text)]),
    )


CASES = {
    "single": ("single", "hello", "stub answer: hello"),
    "tool": ("tool_node", 'call:calc:{"expression": "2 ** 10"}', "tool results: 1024"),
}


@pytest.mark.parametrize("case", list(CASES))
async def test_redelivery_after_any_checkpoint_gives_the_real_answer(
    backend_settings: Settings, case: str
) -> None:
    async with contextlib.AsyncExitStack() as stack:
        await _check_every_cut(stack, backend_settings, case)


async def _check_every_cut(
    stack: contextlib.AsyncExitStack, backend_settings: Settings, case: str
) -> None:
    name, text, answer = CASES[case]
    definition = example(name)
    sql, writes_table = _sql(backend_settings)
    grants = grant_all(definition) if definition.tool_definitions else ToolGrants()

    async def run(job: Job) -> tuple[str | None, list]:
        # The executor keeps no state of a thread between jobs: the database is all a
        # new worker process would see.
        result = await agent.executor.execute(job)
        assert result.status == JobStatus.COMPLETED, result.error
        state = await agent.graph.aget_state({"configurable": {"thread_id": job.thread}})
        return result.output, state.values["messages"]

    agent = await stack.enter_async_context(
        open_agent(backend_settings, definition=definition, grants=grants, sink=MemoryEventSink())
    )
    # How many checkpoints one turn writes, after a first turn of the thread.
    await run(_job("probe", "first turn", 1))
    before = len(sql("SELECT checkpoint_id FROM checkpoints WHERE thread_id = ?", ("probe",)))
    await run(_job("probe", text, 2))
    ids = [
        r[0]
        for r in sql(
            "SELECT checkpoint_id FROM checkpoints WHERE thread_id = ? ORDER BY checkpoint_id",
            ("probe",),
        )
    ]
    cuts = range(before, len(ids))
    assert len(cuts) >= 2

    failures = []
    for cut in cuts:
        for keep_pending in (False, True):
            thread = f"{case}-{cut}-{keep_pending}"
            first = _job(thread, "first turn", 1)
            job = _job(thread, text, 2)
            await run(first)
            await run(job)
            kept = sql(
                "SELECT checkpoint_id FROM checkpoints WHERE thread_id = ? ORDER BY checkpoint_id",
                (thread,),
            )[cut][0]
            # The worker died right after checkpoint `kept` (and maybe the writes of the
            # tasks that followed it): everything later never reached the database.
            sql("DELETE FROM checkpoints WHERE thread_id = ? AND checkpoint_id > ?", (thread, kept))
            op = ">" if keep_pending else ">="
            sql(
                f"DELETE FROM {writes_table} WHERE thread_id = ? AND checkpoint_id {op} ?",
                (thread, kept),
            )

            output, messages = await run(job)  # the redelivery

            contents = [m.content for m in messages]
            if output != answer or contents.count(text) != 1 or contents[-1] != answer:
                failures.append((cut, keep_pending, output, contents))
    assert failures == []
