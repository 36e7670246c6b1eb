"""Task mode's output reference works: a runtime on the task's database serves the answer at
the summary's ``outputRef`` (real Postgres, Redis and NATS; the stub LLM)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from contract.env import TASK_ENV
from contract.task import TaskSummary
from runtime import task
from tests.runtime.serving.conftest import TIMEOUT


async def test_the_output_ref_is_served_by_a_runtime_on_the_same_database(
    start_agent, agent_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {**agent_env, TASK_ENV.INPUT: "summarize the night"}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    termination = tmp_path / "termination-log"
    # task.main runs its own event loop, as in its pod.
    assert await asyncio.to_thread(task.main, env, termination) == 0
    summary = TaskSummary.model_validate_json(termination.read_text())
    assert summary.output_ref is not None

    running = await start_agent()
    async with httpx.AsyncClient(base_url=running.base_url, timeout=TIMEOUT) as http:
        response = await http.get(summary.output_ref)
    assert response.status_code == 200, response.text
    run = response.json()
    assert run["job_id"] == summary.job_id
    assert run["status"] == "succeeded"
    assert run["output"] == "stub answer: summarize the night"
