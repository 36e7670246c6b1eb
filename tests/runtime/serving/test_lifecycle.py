"""The runtime process under SIGTERM and SIGKILL: drained, redelivered or dead-lettered."""

from __future__ import annotations

import asyncio
import signal

import pytest

from runtime.jobs import JobStatus
from tests.runtime.serving.conftest import requests_with, wait_requested

pytestmark = pytest.mark.services


async def test_sigterm_lets_the_running_job_finish_then_exits_0(
    spawn_runtime, bus, llm, job_factory
):
    runtime = spawn_runtime(SHUTDOWN_GRACE_SECONDS="15")
    await runtime.wait_healthy()
    job = job_factory(text="sleep:2")
    await bus.publish_job(job)
    await wait_requested(llm, "sleep:2")

    runtime.proc.send_signal(signal.SIGTERM)

    assert await runtime.wait_exit() == 0, runtime.log()
    [result] = await bus.results()
    assert result.job_id == job.job_id
    assert result.status == JobStatus.COMPLETED
    await bus.wait_consumed()
    assert "shutting down" in runtime.log()


async def test_sigterm_past_the_grace_naks_the_job_for_another_worker(
    spawn_runtime, start_agent, bus, llm, job_factory
):
    runtime = spawn_runtime(SHUTDOWN_GRACE_SECONDS="1", NATS_ACK_WAIT_SECONDS="60")
    await runtime.wait_healthy()
    job = job_factory(text="sleep:3")
    await bus.publish_job(job)
    await wait_requested(llm, "sleep:3")

    runtime.proc.send_signal(signal.SIGTERM)

    assert await runtime.wait_exit() == 0, runtime.log()
    assert await bus.results() == []
    # Handed back with a nak: redelivered at once, not after the 60s ack_wait.
    await start_agent(http=False, NATS_ACK_WAIT_SECONDS="60")
    [result] = await bus.wait_results(1, within=15)
    assert result.job_id == job.job_id
    assert result.status == JobStatus.COMPLETED
    await bus.wait_consumed()
    assert len(await bus.results()) == 1


async def test_sigkill_mid_job_redelivers_after_ack_wait_to_another_worker(
    spawn_runtime, start_agent, bus, llm, job_factory
):
    runtime = spawn_runtime(NATS_ACK_WAIT_SECONDS="2")
    await runtime.wait_healthy()
    job = job_factory(text="sleep:1")
    await bus.publish_job(job)
    await wait_requested(llm, "sleep:1")

    runtime.proc.kill()

    assert await runtime.wait_exit() == -signal.SIGKILL
    await start_agent(http=False, NATS_ACK_WAIT_SECONDS="2")
    [result] = await bus.wait_results(1)
    assert result.job_id == job.job_id
    assert result.status == JobStatus.COMPLETED
    assert len(requests_with(llm, "sleep:1")) == 2  # the killed run and the redelivered one
    await bus.wait_consumed()
    await asyncio.sleep(0.5)
    assert len(await bus.results()) == 1


async def test_sigkill_on_the_last_delivery_dead_letters_the_job(
    spawn_runtime, start_agent, bus, llm, job_factory
):
    last_delivery = {"NATS_ACK_WAIT_SECONDS": "2", "NATS_MAX_DELIVER": "1"}
    runtime = spawn_runtime(**last_delivery)
    await runtime.wait_healthy()
    job = job_factory(text="sleep:3")
    await bus.publish_job(job)
    await wait_requested(llm, "sleep:3")
    # Another worker lives on the same consumer while the job's only delivery is held.
    await start_agent(http=False, **last_delivery)

    runtime.proc.kill()

    assert await runtime.wait_exit() == -signal.SIGKILL
    # JetStream never delivers it again; the live worker hears the advisory.
    [letter] = await bus.wait_dead_letters(1, within=10)
    assert letter["job_id"] == job.job_id
    assert letter["attempts"] == 1
    assert "max deliveries (1) exhausted without an ack" in letter["error"]
    [result] = await bus.wait_results(1)
    assert result.job_id == job.job_id
    assert result.status == JobStatus.FAILED
    await bus.wait_consumed()
    await asyncio.sleep(0.5)
    assert len(await bus.dead_letters()) == 1
    assert len(requests_with(llm, "sleep:3")) == 1  # never run again
