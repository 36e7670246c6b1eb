"""``xagent-runtime enqueue`` (a schedule's CronJob) against real NATS and the real HTTP API.

The command runs as the CronJob runs it: ``python -m runtime enqueue`` in a subprocess,
configured only by the env the function composes. What it enqueues is run by the runtime's
worker (stub LLM) to a result; a retried pod enqueues nothing twice.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

from contract.env import ENV, QUEUE_ENV, TRIGGER_ENV
from runtime.jobs import JobStatus
from tests.runtime.serving.conftest import requests_with

pytestmark = pytest.mark.services

ROOT = Path(__file__).resolve().parents[3]
SCHEDULED_MINUTES = 29_412_720
"""2025-12-03T12:00Z in minutes since the epoch: the suffix the CronJob controller writes."""


async def enqueue(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run the command; async, so an agent served in this test's event loop can answer."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("NATS_", "XAGENT_"))}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "runtime",
        "enqueue",
        env={**clean, **env},
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return subprocess.CompletedProcess([], proc.returncode, out.decode(), err.decode())


def schedule_env(message: str, **extra: str) -> dict[str, str]:
    return {
        ENV.AGENT_NAME: "reporter",
        ENV.AGENT_NAMESPACE: "agents",
        TRIGGER_ENV.SCHEDULE: "nightly",
        TRIGGER_ENV.MESSAGE: message,
        TRIGGER_ENV.JOB_NAME: f"reporter-schedule-nightly-0123456789-{SCHEDULED_MINUTES}",
        **extra,
    }


async def test_enqueued_job_runs_to_a_result_once(start_agent, bus, jetstream, llm):
    await start_agent(http=False)
    env = schedule_env(
        "morning report please",
        **{
            TRIGGER_ENV.THREAD_ID: "reports",
            QUEUE_ENV.URL: jetstream.url,
            QUEUE_ENV.JOBS_SUBJECT: jetstream.jobs_subject,
        },
    )

    first = await enqueue(env)
    assert first.returncode == 0, first.stderr
    job_id = "schedule:nightly:20251203T1200Z"
    assert first.stdout.strip() == f"enqueued job {job_id} on {jetstream.jobs_subject}"

    [result] = await bus.wait_results(1)
    assert result.job_id == job_id
    assert result.thread_id == "reports"
    assert result.status == JobStatus.COMPLETED
    assert result.output == "stub answer: morning report please"

    # The Job retries the pod (it died after publishing): the same job id, dropped.
    again = await enqueue(env)
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith(f"already enqueued job {job_id}")
    await bus.wait_consumed()
    assert len(await bus.results()) == 1
    assert len(requests_with(llm, "morning report please")) == 1


async def test_a_retry_after_the_duplicate_window_does_not_run_again(
    start_agent, bus, jetstream, llm
):
    """Past the stream's duplicate window, the worker's idempotency record drops the repeat."""
    await start_agent(http=False)
    env = schedule_env(
        "late retry",
        **{QUEUE_ENV.URL: jetstream.url, QUEUE_ENV.JOBS_SUBJECT: jetstream.jobs_subject},
    )
    assert (await enqueue(env)).returncode == 0
    [result] = await bus.wait_results(1)
    # Same body, another Nats-Msg-Id: what a publish after the window looks like to the worker.
    from runtime.enqueue import Trigger, job_for

    await bus.publish_job(job_for(Trigger.from_env(env)), msg_id="after-the-window")
    await bus.wait_consumed()
    assert len(requests_with(llm, "late retry")) == 1
    assert [r.job_id for r in await bus.results()] == [result.job_id]


async def test_through_the_http_api_with_a_token(start_agent, bus, tmp_path, llm):
    tokens = tmp_path / "tokens"
    tokens.write_text("# scheduler\nscheduler:s3cret-token\n")
    running = await start_agent(
        http=True,
        **{ENV.API_AUTH_MODE: "token", ENV.API_AUTH_TOKENS_PATH: str(tokens)},
    )
    token_file = tmp_path / "mounted-token"
    token_file.write_text("scheduler:s3cret-token\n")
    env = schedule_env(
        "over http",
        **{TRIGGER_ENV.AGENT_URL: f"{running.base_url}/", TRIGGER_ENV.TOKEN_PATH: str(token_file)},
    )

    done = await enqueue(env)
    assert done.returncode == 0, done.stderr
    [result] = await bus.wait_results(1)
    assert result.output == "stub answer: over http"
    record = await running.agent.stores.runs.get(result.job_id)
    assert record is not None
    assert record.owner == "scheduler"

    token_file.write_text("wrong-token\n")
    refused = await enqueue(env)
    assert refused.returncode == 1
    assert "401" in refused.stderr


async def test_no_stream_is_a_failure_the_job_retries(nats_url):
    env = schedule_env(
        "nobody listens",
        **{QUEUE_ENV.URL: nats_url, QUEUE_ENV.JOBS_SUBJECT: "xagent.nowhere.nobody.jobs"},
    )
    done = await enqueue(env)
    assert done.returncode == 1
    assert "no JetStream stream captures xagent.nowhere.nobody.jobs" in done.stderr


async def test_missing_configuration_names_the_variables():
    done = await enqueue({TRIGGER_ENV.SCHEDULE: "nightly"})
    assert done.returncode == 2
    assert TRIGGER_ENV.MESSAGE in done.stderr
    assert TRIGGER_ENV.JOB_NAME in done.stderr
    assert TRIGGER_ENV.AGENT_URL in done.stderr
