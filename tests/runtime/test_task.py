"""``xagent-runtime task`` (task mode's Job): the agent runs once on the task's input through
the real provider client (the stub LLM), on SQLite and on a real Postgres; it records the run,
prints the result and leaves a bounded summary in the termination message; a pod the Job
retries after a recorded result does not call the model again."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest

from contract.env import DATABASE_ENV, ENV, TASK_ENV
from contract.task import EXIT_RETRY, TERMINATION_LIMIT, TaskSummary
from runtime import task
from runtime.jobs import JobResult, JobStatus
from runtime.settings import load_settings
from runtime.state.runs import RunRecord, RunStatus
from runtime.state.store import open_stores
from tests.runtime.conftest import DEFINITIONS, STUB_MODEL
from tests.runtime.stub_llm import COMPLETION_TOKENS, StubLLM

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(params=["sqlite", "postgres"])
def task_env(
    request: pytest.FixtureRequest, llm: StubLLM, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    """The Job pod's environment, on each store backend; also set in the process."""
    env = {
        ENV.AGENT_NAME: "nightly-report",
        ENV.AGENT_NAMESPACE: "agents",
        ENV.AGENT_DEFINITION_PATH: str(DEFINITIONS / "single.json"),
        ENV.TOOL_GRANTS_PATH: str(tmp_path / "no-grants.json"),
        ENV.STATE_DIR: str(tmp_path / "state"),
        ENV.MODEL_PROVIDER: "openai-compatible",
        ENV.MODEL_NAME: STUB_MODEL,
        ENV.MODEL_ENDPOINT: llm.base_url,
        ENV.MODEL_MAX_RETRIES: "0",
        TASK_ENV.INPUT: "summarize the night",
    }
    if request.param == "postgres":
        env[DATABASE_ENV.URL] = request.getfixturevalue("postgres_database")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


async def _run_record(job_id: str) -> RunRecord | None:
    async with open_stores(load_settings()) as stores:
        return await stores.runs.get(job_id)


def test_runs_once_records_and_reports(task_env, llm, tmp_path, capsys):
    termination = tmp_path / "termination-log"
    assert task.main(task_env, termination_log=termination) == 0
    result = JobResult.model_validate_json(capsys.readouterr().out)
    assert result.status == JobStatus.COMPLETED
    assert result.output == "stub answer: summarize the night"
    assert result.job_id.startswith("task:agents:nightly-report:")
    summary = TaskSummary.model_validate_json(termination.read_text())
    assert summary.status == "completed"
    assert summary.output_ref == f"/runs/{result.job_id}"
    assert summary.output_tokens == COMPLETION_TOKENS
    assert summary.input_tokens > 0
    assert "output" not in json.loads(termination.read_text())
    assert len(llm.requests) == 1
    record = asyncio.run(_run_record(result.job_id))
    assert record is not None
    assert record.status == RunStatus.SUCCEEDED
    assert record.output == result.output

    # The Job retries the pod (or a new Job runs the same task) after the result was
    # recorded: the same result, and no second model call.
    termination.unlink()
    assert task.main(task_env, termination_log=termination) == 0
    again = JobResult.model_validate_json(capsys.readouterr().out)
    assert again.output == result.output
    assert TaskSummary.model_validate_json(termination.read_text()) == summary
    assert len(llm.requests) == 1


def test_another_input_or_run_is_another_job(task_env, llm, tmp_path, capsys):
    assert task.main(task_env, tmp_path / "log") == 0
    first = JobResult.model_validate_json(capsys.readouterr().out)
    changed = {**task_env, TASK_ENV.INPUT: "summarize the day"}
    assert task.main(changed, tmp_path / "log") == 0
    second = JobResult.model_validate_json(capsys.readouterr().out)
    assert second.job_id != first.job_id
    assert second.output == "stub answer: summarize the day"
    assert len(llm.requests) == 2
    # Another Job (a changed agent: another run digest) is another run of the same input.
    assert task.main({**task_env, TASK_ENV.RUN: "0123456789"}, tmp_path / "log") == 0
    third = JobResult.model_validate_json(capsys.readouterr().out)
    assert third.job_id not in {first.job_id, second.job_id}
    assert len(llm.requests) == 3


def test_a_permanent_failure_is_recorded_and_not_retried(task_env, llm, tmp_path, monkeypatch):
    monkeypatch.setenv(ENV.MODEL_NAME, "bad-request-model")
    termination = tmp_path / "log"
    assert task.main(task_env, termination) == 1
    summary = TaskSummary.model_validate_json(termination.read_text())
    assert summary.status == "failed"
    assert summary.error
    calls = len(llm.requests)
    assert task.main(task_env, termination) == 1
    assert len(llm.requests) == calls


def test_a_retryable_failure_records_no_result(task_env, llm, tmp_path, monkeypatch):
    # A provider outage: the pod fails without a result, so the Job's next pod tries again.
    monkeypatch.setenv(ENV.MODEL_NAME, "broken-model")
    termination = tmp_path / "log"
    assert task.main(task_env, termination) == EXIT_RETRY
    assert not termination.exists()
    calls = len(llm.requests)
    assert calls >= 1
    assert task.main(task_env, termination) == EXIT_RETRY
    assert len(llm.requests) > calls


def test_the_summary_fits_the_termination_message_whatever_the_result():
    huge = JobResult(
        job_id="task:" + "n" * 190,
        thread_id="t",
        status=JobStatus.FAILED,
        error="e" * 100_000,
        model="m" * 10_000,
        output="o" * 100_000,
    )
    text = task.summary(huge).to_json()
    assert len(text.encode()) <= TERMINATION_LIMIT
    assert "ooo" not in text


def test_the_entrypoint_dispatches_task_and_names_a_missing_input(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "runtime", "task"],
        env={
            "PATH": "/usr/bin:/bin",
            ENV.STATE_DIR: str(tmp_path),
            ENV.MODEL_PROVIDER: "openai-compatible",
            ENV.MODEL_NAME: "m",
            ENV.MODEL_ENDPOINT: "http://127.0.0.1:9/v1",
        },
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert TASK_ENV.INPUT in done.stderr


def test_an_unexpected_failure_is_retried_not_final(task_env, llm, tmp_path, monkeypatch):
    """Only a recorded result (1) or a bad configuration (2) fails the Job for good; a
    backend that is not there yet (the Job starts with its database) must not exit 1, which
    Python uses for any uncaught exception. Here the store cannot be opened at all."""
    monkeypatch.setenv(ENV.STATE_DIR, "/dev/null/state")
    monkeypatch.delenv(DATABASE_ENV.URL, raising=False)
    assert task.main(task_env, tmp_path / "log") == EXIT_RETRY
    assert len(llm.requests) == 0
