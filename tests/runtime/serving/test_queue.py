"""Queue semantics, with a scripted executor standing in for the graph.

The tests taking ``queues`` are the shared conformance suite: they run against JetStream on a
real nats-server and against the in-process queue. The rest are JetStream-only (durability,
several workers on one consumer, ack_wait).
"""

from __future__ import annotations

import asyncio
import time

import pytest

from contract import queue as queue_defaults
from runtime.jobs import JobResult, JobStatus
from runtime.observability import JOBS_TOTAL, QUEUE_REDELIVERIES_TOTAL, REGISTRY
from runtime.queue import (
    DEAD_LETTERED,
    JetStreamOptions,
    JetStreamQueue,
    QueueOptions,
    backoff_delay,
)
from runtime.state.runs import RunResults, SqliteRunStore
from tests.runtime.serving.conftest import wait_for

pytestmark = pytest.mark.services


async def test_runs_a_job_and_publishes_its_result(queues, scripted, job_factory):
    await queues.start(scripted)
    job = job_factory(text="ping")

    await queues.publish_job(job)

    [result] = await queues.wait_results(1)
    assert result.job_id == job.job_id
    assert result.status == JobStatus.COMPLETED
    assert result.output == "echo: ping"
    if queues.durable:
        info = await queues.consumer_info()
        assert info.num_ack_pending == 0
        assert info.num_redelivered == 0


async def test_never_runs_more_than_max_parallel_sessions(queues, scripted, job_factory):
    await queues.start(scripted, max_parallel_sessions=3)
    jobs = [job_factory(sleep=0.4) for _ in range(10)]

    for job in jobs:
        await queues.publish_job(job)

    results = await queues.wait_results(len(jobs))
    assert {r.job_id for r in results} == {j.job_id for j in jobs}
    assert scripted.peak == 3


async def test_naks_with_backoff_on_retryable_error_then_succeeds(queues, scripted, job_factory):
    options = {"backoff_base_seconds": 0.5, "max_deliver": 5}
    await queues.start(scripted, **options)
    job = job_factory(retryable_failures=2)
    redeliveries_before = QUEUE_REDELIVERIES_TOTAL._value.get()

    await queues.publish_job(job)

    [result] = await queues.wait_results(1)
    assert result.status == JobStatus.COMPLETED
    first, second, third = scripted.attempts(job.job_id)
    backoff = QueueOptions(**options)
    assert backoff_delay(2, backoff) == 2 * backoff_delay(1, backoff)
    assert second - first >= backoff_delay(1, backoff) * 0.9
    assert third - second >= backoff_delay(2, backoff) * 0.9
    assert QUEUE_REDELIVERIES_TOTAL._value.get() - redeliveries_before == 2
    assert await queues.dead_letters() == []


async def test_dead_letters_after_max_deliver(queues, scripted, job_factory):
    await queues.start(scripted, backoff_base_seconds=0.1, max_deliver=3)
    job = job_factory(retryable_failures=99)

    await queues.publish_job(job)

    [letter] = await queues.wait_dead_letters(1)
    assert letter["job_id"] == job.job_id
    assert letter["attempts"] == 3
    assert "provider unavailable" in letter["error"]
    assert letter["payload"] == job.model_dump(mode="json")
    [result] = await queues.wait_results(1)
    assert result.status == JobStatus.FAILED
    assert "provider unavailable" in (result.error or "")
    await asyncio.sleep(0.5)  # nothing comes after the dead letter
    assert len(scripted.attempts(job.job_id)) == 3
    if queues.durable:
        assert (await queues.consumer_info()).num_ack_pending == 0


async def test_non_retryable_error_dead_letters_at_once(queues, scripted, job_factory):
    await queues.start(scripted, max_deliver=5)
    job = job_factory(crash=True)

    await queues.publish_job(job)

    [letter] = await queues.wait_dead_letters(1)
    assert letter["attempts"] == 1
    assert "ValueError: bad tool output" in letter["error"]
    assert len(scripted.attempts(job.job_id)) == 1


async def test_unparsable_message_goes_straight_to_dead_letter(queues, scripted):
    await queues.start(scripted)

    await queues.publish_job(b'{"job_id": "x", "input": {"messages": []}}')
    await queues.publish_job(b"\xff not json")

    first, second = await queues.wait_dead_letters(2)
    assert first["job_id"] is None
    assert "input.messages" in first["error"]
    assert first["payload"] == {"job_id": "x", "input": {"messages": []}}
    assert "unparsable job" in second["error"]
    assert "base64" in second["payload"]
    assert scripted.calls == []
    assert await queues.results() == []


async def test_drain_waits_for_running_jobs_within_the_grace(queues, scripted, job_factory):
    queue = await queues.start(scripted)
    job = job_factory(sleep=0.5)
    await queues.publish_job(job)
    await wait_for(lambda: _running(scripted), bool)

    await asyncio.wait_for(queue.drain(5.0), 10)

    [result] = await queues.results()
    assert result.job_id == job.job_id
    assert result.status == JobStatus.COMPLETED


# --- JetStream only ---------------------------------------------------------------------------


async def test_result_is_kept_when_the_producer_set_the_job_id_as_msg_id(
    make_queue, bus, scripted, job_factory
):
    # Jobs, results and dead letters share one stream (as the function declares it), so a
    # result with the job's own Nats-Msg-Id would be dropped as that job's duplicate.
    await make_queue(scripted)
    job = job_factory()

    await bus.publish_job(job, msg_id=job.job_id)
    await bus.publish_job(job, msg_id=job.job_id)  # a producer's retry: deduplicated

    [result] = await bus.wait_results(1)
    assert result.job_id == job.job_id
    [message] = await bus.messages(bus.options.results_subject)
    assert message.headers["Nats-Msg-Id"] == f"{job.job_id}:result"
    await bus.wait_consumed()
    assert len(scripted.attempts(job.job_id)) == 1


async def test_in_progress_acks_keep_a_long_job_from_redelivery(
    make_queue, bus, scripted, job_factory
):
    # Two workers on one consumer: were the message redelivered, the idle one would take it.
    for _ in range(2):
        await make_queue(scripted, ack_wait_seconds=1.0, max_parallel_sessions=1)
    job = job_factory(sleep=3.5)

    await bus.publish_job(job)

    [result] = await bus.wait_results(1)
    assert result.status == JobStatus.COMPLETED
    assert len(scripted.attempts(job.job_id)) == 1
    assert (await bus.consumer_info()).num_redelivered == 0


async def test_drain_naks_unfinished_jobs_for_immediate_redelivery(
    make_queue, bus, scripted, job_factory
):
    first = await make_queue(scripted, ack_wait_seconds=30)
    job = job_factory(sleep=5)
    await bus.publish_job(job)
    await wait_for(lambda: _running(scripted), bool)

    await asyncio.wait_for(first.drain(0.2), 10)

    await make_queue(scripted, ack_wait_seconds=30)
    [result] = await bus.wait_results(1, within=10)  # far sooner than the 30s ack_wait
    assert result.job_id == job.job_id
    assert len(scripted.attempts(job.job_id)) == 2


async def test_drain_does_not_wait_for_a_slot_to_stop_fetching(
    make_queue, bus, scripted, job_factory
):
    queue = await make_queue(scripted, max_parallel_sessions=1, ack_wait_seconds=30)
    await bus.publish_job(job_factory(sleep=30))
    await wait_for(lambda: _running(scripted), bool)

    # Every slot is busy for 30s; drain still ends within its grace.
    await asyncio.wait_for(queue.drain(0.5), 5)

    assert await bus.results() == []


async def _busy_workers(make_queue, bus, scripted, job_factory, store=None) -> list:
    """Two workers on one consumer (ack_wait 1s, max_deliver 2), each busy on a gated job.

    Busy, they do not pull, so the test's own fetches take the next jobs; they keep
    listening for advisories, and pull again once ``scripted.gate`` opens.
    """
    options = {"ack_wait_seconds": 1.0, "max_deliver": 2, "max_parallel_sessions": 1}
    workers = [await make_queue(scripted, store, **options) for _ in range(2)]
    for _ in range(2):
        await bus.publish_job(job_factory(gated=True))
    await wait_for(lambda: _running_count(scripted), lambda n: n == 2)
    return workers


async def test_a_job_whose_last_delivery_dies_unacked_is_dead_lettered_once(
    make_queue, bus, scripted, job_factory
):
    await _busy_workers(make_queue, bus, scripted, job_factory)
    dead_lettered_before = JOBS_TOTAL.labels(status=DEAD_LETTERED)._value.get()
    job = job_factory()
    await bus.publish_job(job)

    # A worker takes each delivery and dies holding it: JetStream will not deliver it again.
    [first] = await bus.take_unacked(1)
    [last] = await bus.take_unacked(1, within=10)  # redelivered once ack_wait expired
    assert (first.metadata.num_delivered, last.metadata.num_delivered) == (1, 2)
    scripted.gate.set()  # the live workers pull again; the server gives up on the job

    [letter] = await bus.wait_dead_letters(1, within=10)
    assert letter["job_id"] == job.job_id
    assert letter["attempts"] == 2
    assert letter["error"] == (
        "max deliveries (2) exhausted without an ack; the last worker died or timed out"
    )
    assert letter["payload"] == job.model_dump(mode="json")
    assert letter["source"]["stream_sequence"] == last.metadata.sequence.stream
    [message] = await bus.messages(bus.options.dead_letter_subject)
    assert message.headers["Nats-Msg-Id"] == f"{job.job_id}:dead"
    [failed] = [r for r in await bus.wait_results(3) if r.job_id == job.job_id]
    assert failed.status == JobStatus.FAILED
    assert failed.error == letter["error"]
    # Both workers heard the advisory; the stream kept one dead letter, counted once.
    await wait_for(lambda: _dead_lettered_since(dead_lettered_before), lambda n: n >= 1)
    await asyncio.sleep(0.5)
    assert len(await bus.dead_letters()) == 1
    assert await _dead_lettered_since(dead_lettered_before) == 1
    assert scripted.attempts(job.job_id) == []
    await bus.wait_consumed()


async def test_a_job_whose_result_is_recorded_is_not_dead_lettered_when_its_deliveries_run_out(
    make_queue, bus, scripted, job_factory, tmp_path
):
    async with SqliteRunStore.open(tmp_path / "runs.sqlite") as runs:
        store = RunResults(runs)
        workers = await _busy_workers(make_queue, bus, scripted, job_factory, store)
        done, lost = job_factory(), job_factory()
        # The last worker on ``done`` recorded its result, then died before the ack.
        recorded = JobResult(job_id=done.job_id, thread_id=done.thread, status=JobStatus.COMPLETED)
        await store.record_result(done.job_id, recorded.model_dump_json())
        await bus.publish_job(done)
        await bus.publish_job(lost)  # the control: exhausted the same way, not done

        await bus.take_unacked(2)
        await bus.take_unacked(2, within=10)
        scripted.gate.set()

        [letter] = await bus.wait_dead_letters(1, within=10)
        assert letter["job_id"] == lost.job_id
        # Drain finishes handling advisories already received before it closes.
        for worker in workers:
            await asyncio.wait_for(worker.drain(1.0), 10)
        assert [d["job_id"] for d in await bus.dead_letters()] == [lost.job_id]
        failed = [r for r in await bus.results() if r.status == JobStatus.FAILED]
        assert [r.job_id for r in failed] == [lost.job_id]
        assert scripted.attempts(done.job_id) == scripted.attempts(lost.job_id) == []


async def _dead_lettered_since(before: float) -> float:
    return JOBS_TOTAL.labels(status=DEAD_LETTERED)._value.get() - before


async def _running_count(scripted) -> int:
    return scripted.running


async def _running(scripted) -> bool:
    return scripted.running > 0


async def test_sync_run_on_an_idle_queue_does_not_wait_for_the_pull_loop(
    queues, scripted, job_factory
):
    # The pull loop waits for jobs as long as a fetch lasts; it must not hold the only slot
    # meanwhile, or a synchronous request on an idle pod waits for an async job to arrive.
    queue = await queues.start(scripted, max_parallel_sessions=1, fetch_timeout_seconds=4.0)
    await asyncio.sleep(0.2)  # the loop is idle, waiting for a job

    result = await asyncio.wait_for(queue.run(job_factory(text="now")), 2.0)

    assert result.output == "echo: now"


async def test_sync_and_queued_jobs_share_the_limit(queues, scripted, job_factory):
    queue = await queues.start(scripted, max_parallel_sessions=2)
    queued = [job_factory(sleep=0.3) for _ in range(4)]
    for job in queued:
        await queues.publish_job(job)

    sync = await asyncio.gather(*(queue.run(job_factory(sleep=0.3)) for _ in range(3)))

    assert all(r.status == JobStatus.COMPLETED for r in sync)
    await queues.wait_results(len(queued) + len(sync))
    assert scripted.peak == 2


async def test_a_killed_workers_job_is_redelivered_after_ack_wait(
    make_queue, bus, scripted, job_factory
):
    first = await make_queue(scripted, ack_wait_seconds=2.0)
    await first.drain(1.0)  # the consumer stays, nobody pulls
    job = job_factory()
    await bus.publish_job(job)
    [held] = await bus.take_unacked(1)  # a worker takes it and is killed
    taken_at = time.monotonic()

    await make_queue(scripted, ack_wait_seconds=2.0)

    [result] = await bus.wait_results(1)
    waited = time.monotonic() - taken_at
    assert result.job_id == job.job_id
    assert held.metadata.num_delivered == 1
    # Redelivered once ack_wait expired, not before; the bound leaves room for a fetch.
    assert 2.0 <= waited < 2.0 + 3.0, waited


async def test_the_default_ack_wait_is_the_contracts(nats_url, names, bus, scripted):
    queue = JetStreamQueue(JetStreamOptions(**{**names.__dict__, "url": nats_url}), scripted)
    try:
        await queue.connect()
        info = await bus.consumer_info()
    finally:
        await queue.close()
    assert info.config.ack_wait == queue_defaults.ACK_WAIT_SECONDS == 30


async def test_queue_wait_and_backlog_are_measured(make_queue, bus, scripted, job_factory):
    # Jobs published before any worker runs wait in the stream; each first delivery
    # observes its wait, and the backlog gauge falls to zero with the last one.
    def waits() -> float:
        return REGISTRY.get_sample_value("xagent_queue_wait_seconds_count") or 0.0

    before = waits()
    jobs = [job_factory() for _ in range(3)]
    # The stream exists once a queue started; stop fetching by publishing before the next.
    queue = await make_queue(scripted, max_parallel_sessions=1)
    await queue.drain(0)
    for job in jobs:
        await bus.publish_job(job)
    await make_queue(scripted, max_parallel_sessions=1)
    await bus.wait_results(3)
    assert waits() - before >= 3
    assert REGISTRY.get_sample_value("xagent_queue_pending_jobs") == 0


async def test_replicas_starting_together_all_find_one_stream(nats_url, names, bus, scripted):
    # Found by the fault test: three replicas starting at once on a NATS without the
    # NACK-declared stream. One saw another's new stream by a subject but not by name and
    # asked for a second, different stream ("stream name already in use"), and exited.
    options = JetStreamOptions(**{**names.__dict__, "url": nats_url})
    queues = [JetStreamQueue(options, scripted) for _ in range(8)]
    try:
        await asyncio.gather(*(queue.connect() for queue in queues))
        info = await bus.js.stream_info(names.stream)
    finally:
        await asyncio.gather(*(queue.close() for queue in queues))
    assert set(info.config.subjects) == {
        names.jobs_subject,
        names.results_subject,
        names.dead_letter_subject,
    }
