"""``xagent-runtime task``: run the agent once on the task's input, record the result, exit.

Task mode (``spec.mode: task``, seed 003's run-once lifecycle) composes a Job instead of a
Deployment (function/builders/task.py); its pod runs this. It opens the agent as the server
does (definition, grants, stores, event sink, graph, executor), runs the one job the
environment describes (contract.env.TASK_ENV), keeps the run record in the agent's store
(``GET /runs/<job id>``), prints the whole result as JSON on stdout and writes a short
summary (contract.task.TaskSummary: status, tokens, cost, the run's reference) to the
container's termination message, which the function reads into the XR's ``status.task``.
Exit codes (contract.task): 0 the agent completed; 1 it did not, and the result is recorded;
2 bad configuration; 3 a failure a retry may fix (nothing recorded: the Job's next pod tries
again). The Job's podFailurePolicy fails the Job at once on 1 and 2.

The job id is a pure function of the agent, the Job's run digest (TASK_ENV.RUN), the input
and the thread: a pod the Job retries after the result was recorded finds the result in the
store and reports it without calling the model again; a changed agent or task is a new Job,
with a new run digest, and runs anew.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import sys
from collections.abc import Mapping
from pathlib import Path

from contract import protected_env
from contract.env import TASK_ENV
from contract.task import (
    ERROR_LIMIT,
    EXIT_BAD_CONFIG,
    EXIT_COMPLETED,
    EXIT_FAILED,
    EXIT_RETRY,
    TaskSummary,
)
from runtime.agent.files import DefinitionError
from runtime.jobs import Job, JobInput, JobResult, JobStatus, Message, RetryableError
from runtime.observability import configure_logging, shutdown_tracing
from runtime.settings import ConfigError, Settings, load_settings

__all__ = ["TERMINATION_LOG", "main", "run_task", "summary", "task_job"]

log = logging.getLogger("runtime.task")

TERMINATION_LOG = Path("/dev/termination-log")
"""The kubelet's default ``terminationMessagePath``."""


def task_job(settings: Settings, env: Mapping[str, str]) -> Job:
    """The one job of this task; ValueError naming the missing variable."""
    text = env.get(TASK_ENV.INPUT)
    if not text:
        raise ValueError(f"{TASK_ENV.INPUT}: the task's input is not set")
    thread = env.get(TASK_ENV.THREAD_ID) or None
    run = env.get(TASK_ENV.RUN) or ""
    # The same run (the Job: agent and task), input and thread is the same job: a retried
    # pod reuses the recorded result. No "/" in it: GET /runs/<job id> must reach it.
    digest = hashlib.sha256(f"{run}\0{thread or ''}\0{text}".encode()).hexdigest()[:16]
    return Job(
        job_id=f"task:{settings.agent_namespace}:{settings.agent_name}:{digest}",
        thread_id=thread,
        input=JobInput(messages=[Message(role="user", content=text)]),
        metadata={"trigger": {"task": settings.agent_name}},
    )


async def run_task(settings: Settings, job: Job) -> JobResult:
    """Run ``job`` once with the agent the settings describe; a recorded result is reused."""
    from runtime.startup import open_agent
    from runtime.state.runs import RunLog

    async with open_agent(settings) as agent:
        results = agent.stores.idempotency
        recorded = await results.get_result(job.job_id)
        if recorded is not None:
            log.info("the task's result is recorded; not running it again")
            return JobResult.model_validate_json(recorded)
        runs = RunLog(agent.stores.runs)
        await runs.started(job.job_id, job.thread)
        try:
            result = await agent.executor.execute(job)
        except RetryableError as err:
            await runs.retrying(job.job_id, str(err))
            raise
        await runs.finished(result)
        await results.record_result(job.job_id, result.model_dump_json())
        return result


def summary(result: JobResult) -> TaskSummary:
    """The termination message: what the XR's status needs, never the answer itself (it may
    be large; it is in the run record and on stdout)."""
    return TaskSummary(
        job_id=result.job_id,
        status=result.status.value,
        output_ref=f"/runs/{result.job_id}",
        input_tokens=result.tokens.input_tokens,
        output_tokens=result.tokens.output_tokens,
        total_tokens=result.tokens.total_tokens,
        cost=result.cost,
        model=result.model[:200] if result.model else None,
        error=result.error[:ERROR_LIMIT] if result.error else None,
        duration_seconds=max(result.duration_seconds, 0.0),
    )


def main(env: Mapping[str, str] | None = None, termination_log: Path = TERMINATION_LOG) -> int:
    """Run the task the environment describes; the process exit code."""
    if env is None:
        # As the server does, before any provider client reads them (runtime.main).
        protected_env.scrub(os.environ)
        env = os.environ
    try:
        settings = load_settings()
        job = task_job(settings, env)
    except (ConfigError, ValueError) as err:
        configure_logging("INFO")
        log.error("%s", err)
        return EXIT_BAD_CONFIG
    configure_logging(settings.log_level)
    from runtime.startup import start_tracing

    start_tracing(settings)
    try:
        result = asyncio.run(run_task(settings, job))
    except (ConfigError, DefinitionError) as err:
        log.error("%s", err)
        return EXIT_BAD_CONFIG
    except RetryableError as err:
        log.error("the task failed and may succeed in the Job's next pod: %s", err)
        return EXIT_RETRY
    except Exception:
        # A database still starting (the Job starts with it), a lost connection: Python's
        # own exit code 1 would fail the Job for good (podFailurePolicy), so retry instead.
        log.exception("the task failed unexpectedly; the Job's next pod tries again")
        return EXIT_RETRY
    finally:
        shutdown_tracing()
    try:
        termination_log.write_text(summary(result).to_json())
    except OSError as err:  # outside a pod there may be no termination log
        log.warning("could not write the termination message: %s", err)
    sys.stdout.write(result.model_dump_json() + "\n")
    sys.stdout.flush()
    return EXIT_COMPLETED if result.status == JobStatus.COMPLETED else EXIT_FAILED
