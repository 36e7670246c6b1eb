"""GraphExecutor: runs one job on the compiled graph (jobs.JobExecutor).

It streams the graph's events to the EventSink as seed 001's event types, sums token usage
into the result, and sorts failures: transient ones (provider outage, rate limit, lost
connection) raise RetryableError so the queue redelivers; anything a retry cannot fix ends as
a failed JobResult. ``runtime.startup.open_agent`` wires it to the settings, definition,
stores and sink.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import weakref
from dataclasses import dataclass, field
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.runnables import RunnableConfig
from langgraph.errors import GraphRecursionError
from langgraph.graph.state import CompiledStateGraph

from runtime import observability as obs
from runtime.agent._errors import is_retryable
from runtime.agent._messages import text_of, to_langchain
from runtime.agent.budgets import BudgetExceeded, BudgetGuard, guard_job
from runtime.agent.capabilities import Capabilities
from runtime.agent.llm_metrics import MetricsCallback
from runtime.jobs import Job, JobResult, JobStatus, RetryableError, TokenUsage
from runtime.settings import Settings
from runtime.state.approvals import Approval
from runtime.state.runs import RunStatus
from runtime.state.stream import EventSink, EventType, StreamEvent

__all__ = ["DEFAULT_RECURSION_LIMIT", "GraphExecutor"]

log = logging.getLogger(__name__)

DEFAULT_RECURSION_LIMIT = 50
_ROLES = {"human": "user", "ai": "assistant", "system": "system", "tool": "tool"}
"""Graph steps one job may take; each tool round trip costs two."""


@dataclass
class _Run:
    """What one job's event stream accumulates."""

    usage: TokenUsage = field(default_factory=TokenUsage)
    model: str | None = None
    final: list[BaseMessage] = field(default_factory=list)
    traceparent: str | None = None


class GraphExecutor:
    """Runs jobs on one compiled agent graph and publishes their events."""

    def __init__(
        self,
        graph: CompiledStateGraph,
        sink: EventSink,
        settings: Settings,
        *,
        recursion_limit: int = DEFAULT_RECURSION_LIMIT,
        capabilities: Capabilities | None = None,
    ) -> None:
        """Run jobs on ``graph``, publish events to ``sink``, obey ``settings``.

        ``capabilities`` adds budgets and approvals (runtime.agent.capabilities).
        """
        self._caps = capabilities
        self._graph = graph
        self._sink = sink
        self._settings = settings
        self._recursion_limit = recursion_limit
        # Two jobs of one thread must not interleave their checkpoints; jobs of different
        # threads run in parallel. Locks vanish with the last job holding them.
        self._thread_locks: weakref.WeakValueDictionary[str, asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )

    async def execute(self, job: Job) -> JobResult:
        """Run ``job`` on its thread.

        Returns:
            A completed result with the final answer and token counts, or a failed one
            when a retry cannot help (bad request, refused key, recursion limit, broken
            definition).

        Raises:
            RetryableError: A transient failure; another delivery may succeed.
        """
        lock = self._thread_locks.get(job.thread)
        if lock is None:
            lock = self._thread_locks[job.thread] = asyncio.Lock()
        with obs.bind_job(job.job_id, job.thread):
            async with lock:
                obs.IN_FLIGHT_JOBS.inc()
                try:
                    return await self._execute(job)
                finally:
                    obs.IN_FLIGHT_JOBS.dec()

    async def thread_messages(self, thread_id: str) -> list[dict[str, Any]]:
        """The thread's checkpointed messages, oldest first (``GET /threads/{id}``)."""
        if not self._graph.checkpointer:
            return []
        state = await self._graph.aget_state({"configurable": {"thread_id": thread_id}})
        return [
            {"id": m.id, "role": _ROLES.get(m.type, m.type), "content": text_of(m)}
            for m in state.values.get("messages", [])
        ]

    async def _execute(self, job: Job) -> JobResult:
        started = time.monotonic()
        run = _Run()
        prompt = "\n".join(m.content for m in job.input.messages) if job.input else ""
        self._log_text("job started", "prompt", prompt, resume=job.resume)
        caps = self._caps
        refused = await caps.admit(job) if caps else None
        if refused is not None:
            return await self._over_budget(job, run, refused, started)
        guard = caps.guard(job) if caps else None
        try:
            with (
                obs.job_span(job.job_id, job.thread, job.traceparent) as traceparent,
                guard_job(guard),
            ):
                run.traceparent = traceparent
                await self._stream(job, run)
        except BudgetExceeded as err:
            return await self._over_budget(job, run, err, started, guard)
        except Exception as err:
            return await self._failure(job, run, err, started)
        cost = guard.cost if guard else None
        if caps is not None and (waiting := await caps.open_approvals(self._graph, job, _cfg(job))):
            return await self._awaiting(job, run, waiting, started, cost)
        output = (
            text_of(run.final[-1]) if run.final and isinstance(run.final[-1], AIMessage) else ""
        )
        result = self._result(job, run, started, JobStatus.COMPLETED, output=output, cost=cost)
        end: dict[str, Any] = {"final_result": output, "tokens": result.tokens.model_dump()}
        if result.traceparent:
            end["traceparent"] = result.traceparent
        await self._publish(job, EventType.END, end)
        self._log_text("job completed", "answer", output, tokens=result.tokens.model_dump())
        if caps is not None and job.resume is not None:
            await caps.record(
                caps.origin_job(job), job.thread, status=RunStatus.SUCCEEDED, output=output
            )
        return result

    async def _awaiting(
        self, job: Job, run: _Run, waiting: list[Approval], started: float, cost: float | None
    ) -> JobResult:
        pending = []
        for approval in waiting:
            event: dict[str, Any] = {
                "approval_id": approval.approval_id,
                "tool_name": approval.tool_name,
                "expires_at": approval.expires_at,
            }
            # The call's arguments are as sensitive as a prompt: logPrompts decides.
            described = obs.describe_prompt(
                json.dumps(approval.tool_args, sort_keys=True, default=str),
                self._settings.log_prompts,
            )
            if described is not None:
                event["tool_input"] = (
                    approval.tool_args if self._settings.log_prompts == "full" else described
                )
            await self._publish(job, EventType.APPROVAL_REQUIRED, event)
            pending.append({k: event[k] for k in ("approval_id", "tool_name", "expires_at")})
        log.info("job awaits approval", extra={"approvals": [p["approval_id"] for p in pending]})
        return self._result(
            job, run, started, JobStatus.AWAITING_APPROVAL, pending_approvals=pending, cost=cost
        )

    async def _over_budget(
        self,
        job: Job,
        run: _Run,
        err: BudgetExceeded,
        started: float,
        guard: BudgetGuard | None = None,
    ) -> JobResult:
        # Final, not a failure: the worker acks it, never retries or dead-letters it.
        log.warning("job stopped: budget exceeded", extra=err.to_dict())
        await self._publish(job, EventType.ERROR, {**err.to_dict(), "retryable": False})
        cost = guard.cost if guard else None
        if self._caps is not None and job.resume is not None:
            await self._caps.record(
                self._caps.origin_job(job),
                job.thread,
                status=RunStatus.BUDGET_EXCEEDED,
                error=str(err),
            )
        return self._result(job, run, started, JobStatus.BUDGET_EXCEEDED, error=str(err), cost=cost)

    async def _stream(self, job: Job, run: _Run) -> None:
        config = _cfg(job, self._recursion_limit)
        config["callbacks"] = [MetricsCallback()]
        if job.input is None:
            await self._resume(job, run, config)
            return
        # Message ids derive from the job id, so a redelivered job is recognised in its
        # thread (and add_messages would replace, never duplicate, its input).
        messages = [
            to_langchain(m).model_copy(update={"id": f"{job.job_id}:{i}"})
            for i, m in enumerate(job.input.messages)
        ]
        graph_input: dict[str, Any] | None = {"messages": messages}
        if self._graph.checkpointer:
            state = await self._graph.aget_state(config)
            waiting = [i for t in state.tasks for i in t.interrupts]
            seen = any(m.id == messages[0].id for m in state.values.get("messages", []))
            if waiting and not seen:
                # The model's last answer holds calls with no result yet; a new turn on top
                # would be refused by every provider. Decide them first.
                raise ThreadAwaitsApprovalError(
                    f"thread {job.thread!r} waits for {len(waiting)} approval(s); decide them "
                    "with POST /threads/{id}/approvals first"
                )
            if any(m.id == messages[0].id for m in state.values.get("messages", [])):
                # A redelivery of a job this thread has seen: the run died after a
                # checkpoint. Finish it from there instead of starting over; if it had
                # already finished, its answer is in the checkpoint. `state.tasks`, not
                # `state.next`: a step whose writes were saved before the worker died is
                # left out of `next` but not yet applied, and resuming applies it.
                if not state.tasks:
                    run.final = _turn(state.values["messages"], messages[-1].id)
                    return
                log.info("resuming the job from its last checkpoint", extra={"next": state.next})
                graph_input = None
        # Default durability ("async"): each step's checkpoint is saved in the background
        # and all are flushed before the stream ends, so a finished job is durable when
        # execute returns; a job cut off mid-way resumes from its last saved step.
        async for event in self._graph.astream_events(graph_input, config, version="v2"):
            await self._on_event(job, run, event)
        if graph_input is None:
            # A resumed run may apply saved writes without running a node, so its stream
            # carries no final state: read this turn back from the checkpoint.
            state = await self._graph.aget_state(config)
            run.final = _turn(state.values.get("messages", []), messages[-1].id)

    async def _on_event(self, job: Job, run: _Run, event: Any) -> None:
        kind, data = event["event"], event.get("data", {})
        node = event.get("metadata", {}).get("langgraph_node")
        if kind == "on_chat_model_stream":
            token = text_of(data.get("chunk"))
            if token and self._settings.stream_tokens:
                await self._publish(job, EventType.TOKEN, {"token": token, "node": node})
        elif kind == "on_chat_model_end":
            self._count_tokens(run, data.get("output"), event.get("metadata", {}))
        elif kind == "on_tool_start":
            tool_input = data.get("input")
            await self._publish(
                job,
                EventType.TOOL_START,
                {"tool_name": event["name"], "tool_input": tool_input, "node": node},
            )
        elif kind == "on_tool_end":
            await self._publish(
                job,
                EventType.TOOL_END,
                {
                    "tool_name": event["name"],
                    "tool_output": text_of(data.get("output")),
                    "node": node,
                },
            )
        elif kind == "on_chain_end" and not event.get("parent_ids"):
            output = data.get("output")
            if isinstance(output, dict):
                run.final = list(output.get("messages", []))

    async def _resume(self, job: Job, run: _Run, config: RunnableConfig) -> None:
        """Continue a run that stopped for approval, with the decisions taken since."""
        command = await self._caps.resume_command(self._graph, job, config) if self._caps else None
        if command is None:
            log.info("nothing decided to resume", extra={"approval_id": job.resume})
        else:
            async for event in self._graph.astream_events(command, config, version="v2"):
                await self._on_event(job, run, event)
        state = await self._graph.aget_state(config)
        run.final = list(state.values.get("messages", []))[-1:]

    def _count_tokens(self, run: _Run, output: Any, metadata: dict[str, Any]) -> None:
        usage = getattr(output, "usage_metadata", None) or {}
        model = metadata.get("ls_model_name") or "unknown"
        run.model = model
        input_tokens = int(usage.get("input_tokens", 0))
        output_tokens = int(usage.get("output_tokens", 0))
        run.usage = TokenUsage(
            input_tokens=run.usage.input_tokens + input_tokens,
            output_tokens=run.usage.output_tokens + output_tokens,
            total_tokens=run.usage.total_tokens
            + int(usage.get("total_tokens", input_tokens + output_tokens)),
        )
        obs.record_tokens(model, input_tokens, output_tokens)

    async def _failure(self, job: Job, run: _Run, err: Exception, started: float) -> JobResult:
        message = _describe(err)
        if is_retryable(err):
            log.warning("job failed; retryable", extra={"error": message})
            obs.JOBS_TOTAL.labels(status="retryable").inc()
            await self._publish(job, EventType.ERROR, {"error": message, "retryable": True})
            raise RetryableError(message) from err
        if isinstance(err, GraphRecursionError):
            message = f"the agent did not finish within {self._recursion_limit} graph steps"
            log.warning("job failed", extra={"error": message})
        else:
            log.error("job failed", exc_info=err, extra={"error": message})
        await self._publish(job, EventType.ERROR, {"error": message, "retryable": False})
        return self._result(job, run, started, JobStatus.FAILED, error=message)

    def _result(
        self, job: Job, run: _Run, started: float, status: JobStatus, **kw: Any
    ) -> JobResult:
        duration = time.monotonic() - started
        obs.JOBS_TOTAL.labels(status=status.value).inc()
        obs.JOB_DURATION_SECONDS.observe(duration)
        return JobResult(
            job_id=job.job_id,
            thread_id=job.thread,
            status=status,
            tokens=run.usage,
            model=run.model,
            duration_seconds=round(duration, 3),
            traceparent=run.traceparent,
            **kw,
        )

    async def _publish(self, job: Job, kind: EventType, data: dict[str, Any]) -> None:
        # Live events are best effort: a Redis hiccup must not fail or retry the job,
        # whose result travels on the queue anyway.
        try:
            await self._sink.publish(job.thread, StreamEvent(kind.value, data, job.job_id))
        except Exception:
            obs.EVENT_PUBLISH_ERRORS_TOTAL.inc()
            log.warning("event not published", exc_info=True, extra={"event_type": kind.value})

    def _log_text(self, message: str, key: str, text: str, **extra: Any) -> None:
        described = obs.describe_prompt(text, self._settings.log_prompts)
        if described is not None:
            extra[key] = described
        log.info(message, extra=extra)


class ThreadAwaitsApprovalError(RuntimeError):
    """A new turn arrived on a thread that waits for approvals."""


def _cfg(job: Job, recursion_limit: int = DEFAULT_RECURSION_LIMIT) -> RunnableConfig:
    return {
        "configurable": {"thread_id": job.thread},
        "recursion_limit": recursion_limit,
        "metadata": {"job_id": job.job_id},
    }


def _turn(history: list[BaseMessage], last_input_id: str | None) -> list[BaseMessage]:
    """The messages of a thread's history from one job's last input message on."""
    for i in range(len(history) - 1, -1, -1):
        if history[i].id == last_input_id:
            return list(history[i:])
    return []


def _describe(err: BaseException) -> str:
    text = str(err).strip()
    return f"{type(err).__name__}: {text}" if text else type(err).__name__
