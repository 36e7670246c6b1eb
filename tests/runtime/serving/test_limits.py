"""Size limits get a clear, permanent answer: 413, a pointer to the run record, a reference.

NATS carries at most max_payload bytes per message (1 MiB by default): a result over it is
published without its answer, pointing to ``/runs/<job_id>``; a dead letter references a
large payload instead of embedding it; the HTTP API answers 413 to a job the queue cannot
carry, never "retry later".
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path

import httpx
import pytest

from runtime.client import read_results
from runtime.jobs import JobStatus
from runtime.queue.jetstream import JOB_ID_HEADER
from runtime.state.runs import RunResults, RunStatus, SqliteRunStore
from tests.runtime.serving.conftest import TIMEOUT

pytestmark = pytest.mark.services

MIB = 1024 * 1024


async def test_a_result_over_max_payload_points_to_its_run_record(
    bus, make_queue, scripted, job_factory, tmp_path: Path
):
    async with SqliteRunStore.open(tmp_path / "runs.sqlite") as runs:
        await bus.start(scripted, runs=runs)
        job = job_factory(output_bytes=2 * MIB)

        await bus.publish_job(job)

        [result] = await bus.wait_results(1)
        assert result.status == JobStatus.COMPLETED
        assert result.output is None
        assert result.output_ref == f"/runs/{job.job_id}"
        record = await runs.get(job.job_id)
        assert record is not None
        assert record.status == RunStatus.SUCCEEDED
        assert len(record.output or "") == 2 * MIB
        assert await bus.dead_letters() == []
        [message] = await bus.messages(bus.options.results_subject)
        assert message.headers[JOB_ID_HEADER] == job.job_id


async def test_a_large_unparsable_job_is_dead_lettered_by_reference(bus, make_queue, scripted):
    await bus.start(scripted)
    payload = b"\xff" * (900 * 1024)  # fits in a message; its base64 would not

    await bus.publish_job(payload)

    [letter] = await bus.wait_dead_letters(1)
    assert "payload" not in letter
    ref = letter["payload_ref"]
    assert ref["bytes"] == len(payload)
    assert ref["stream"] == bus.options.stream
    stored = await bus.js.get_msg(ref["stream"], ref["stream_sequence"])
    assert stored.data == payload
    assert "unparsable job" in letter["error"]
    assert len(letter["error"]) <= 4096


@pytest.fixture
async def client(start_agent):
    running = await start_agent()
    async with httpx.AsyncClient(base_url=running.base_url, timeout=TIMEOUT) as http:
        yield http


BINARY = {
    "ce-specversion": "1.0",
    "ce-type": "dev.example.agent.execute",
    "ce-source": "tests",
    "ce-id": "e1",
    "content-type": "application/json",
}


def _job(text: str, job_id: str = "big") -> bytes:
    return json.dumps(
        {"job_id": job_id, "input": {"messages": [{"role": "user", "content": text}]}}
    ).encode()


@pytest.mark.parametrize(
    "size",
    [
        pytest.param(10 * MIB, id="OverTheApiLimit"),
        pytest.param(MIB - 200, id="UnderTheApiLimitOverTheQueues"),
    ],
)
async def test_an_oversized_job_is_refused_with_413(client, size):
    response = await client.post("/", headers=BINARY, content=_job("a" * size))

    assert response.status_code == 413, response.text
    assert "bytes" in response.json()["error"]
    assert "retry-after" not in response.headers


async def test_the_shipped_reader_drops_a_republished_result(
    bus, make_queue, scripted, job_factory, tmp_path: Path
):
    async with SqliteRunStore.open(tmp_path / "runs.sqlite") as runs:
        store = RunResults(runs)
        plain = await bus.nc.subscribe(bus.options.results_subject)
        reader = read_results(bus.nc, bus.options.results_subject)
        first = asyncio.ensure_future(reader.__anext__())
        await bus.nc.flush()
        await bus.start(scripted, store)
        job = job_factory()

        await bus.publish_job(job, msg_id="delivery-1")
        await bus.wait_results(1)
        # The same job again, as after a worker died between publishing and acking:
        # its result is recorded, so it is republished, not run.
        await bus.publish_job(job, msg_id="delivery-2")
        await bus.wait_consumed()

        got = [await plain.next_msg(timeout=TIMEOUT) for _ in range(2)]
        assert [m.headers[JOB_ID_HEADER] for m in got] == [job.job_id] * 2
        assert len(scripted.attempts(job.job_id)) == 1
        assert (await asyncio.wait_for(first, TIMEOUT)).job_id == job.job_id
        second = asyncio.ensure_future(reader.__anext__())
        done, _ = await asyncio.wait({second}, timeout=0.5)
        assert not done, "the repeat reached the reader"
        second.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await second
        await reader.aclose()
        await plain.unsubscribe()
