"""MCP tools, approvals and budgets of one agent (the grants file's sections), for the executor.

`Capabilities` is what the executor and the API need of the three: the MCP toolset (bound to
the orchestrator), the names of the tools whose calls wait for approval, the budgets, and the
stores behind them. The executor calls it at fixed points of a job: `admit` (the daily
budget), `guard` (job and thread budgets around each model call), `resume_command` (a
decided approval), `open_approvals` (the interrupts a run stopped at) and `finish_resumed`
(the original run's record).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Command

from contract.grants import BudgetPolicy, ToolGrants
from runtime.agent.budgets import BudgetExceeded, BudgetGuard, Budgets
from runtime.agent.mcp import McpToolset
from runtime.jobs import Job
from runtime.settings import Settings
from runtime.state.approvals import Approval, ApprovalStatus, ApprovalStore, approval_id
from runtime.state.ledger import Ledger
from runtime.state.runs import RunStatus, RunStore

__all__ = ["Capabilities", "open_capabilities", "sweep_approvals"]

log = logging.getLogger(__name__)


@dataclass
class Capabilities:
    """The agent's MCP tools, approval gate and budgets, with their stores."""

    grants: ToolGrants
    toolset: McpToolset
    budgets: Budgets
    approvals: ApprovalStore | None = None
    runs: RunStore | None = None
    clock: Any = field(default=time.time)

    @property
    def gated(self) -> set[str]:
        """Tools whose calls wait for a decision."""
        return set(self.grants.approvals.tools) if self.grants.approvals else set()

    # --- budgets ------------------------------------------------------------------------

    async def admit(self, job: Job) -> BudgetExceeded | None:
        """Why a new job is refused (the daily budget is spent), or None."""
        if job.resume is not None:
            return None  # finishing a decided call is not new work
        try:
            await self.budgets.check()
        except BudgetExceeded as err:
            return err
        return None

    def guard(self, job: Job) -> BudgetGuard:
        """The job's budget guard (the model node finds it in its context)."""
        return BudgetGuard(self.budgets, job.job_id, job.thread)

    # --- approvals ----------------------------------------------------------------------

    async def resume_command(
        self, graph: CompiledStateGraph, job: Job, config: dict[str, Any]
    ) -> Command | None:
        """``Command(resume=...)`` with every decided call the thread still waits on.

        The decisions come from the store, never from the job: a forged resume job can only
        apply decisions that were really taken. None when nothing decided is pending.
        """
        if self.approvals is None:
            return None
        state = await graph.aget_state(config)
        resume: dict[str, Any] = {}
        for task in state.tasks:
            for pending in task.interrupts:
                call = pending.value if isinstance(pending.value, dict) else {}
                aid = approval_id(job.thread, str(call.get("tool_call_id", "")))
                approval = await self.approvals.get(job.thread, aid)
                if approval is not None and approval.status != ApprovalStatus.PENDING:
                    resume[pending.id] = approval.resume_value()
        return Command(resume=resume) if resume else None

    async def open_approvals(
        self, graph: CompiledStateGraph, job: Job, config: dict[str, Any]
    ) -> list[Approval]:
        """Record every call the run stopped at; return those still pending."""
        if self.approvals is None or self.grants.approvals is None:
            return []
        state = await graph.aget_state(config)
        now = self.clock()
        out = []
        origin = self.origin_job(job)
        for task in state.tasks:
            for pending in task.interrupts:
                call = pending.value if isinstance(pending.value, dict) else {}
                approval = Approval(
                    approval_id=approval_id(job.thread, str(call.get("tool_call_id", ""))),
                    thread_id=job.thread,
                    job_id=origin,
                    interrupt_id=pending.id,
                    tool_name=str(call.get("tool_name", "")),
                    tool_args=call.get("tool_args") or {},
                    created_at=now,
                    expires_at=now + self.grants.approvals.timeout_seconds,
                )
                await self.approvals.open(approval)
                current = await self.approvals.get(job.thread, approval.approval_id)
                if current is not None and current.status == ApprovalStatus.PENDING:
                    out.append(current)
        await self.approvals.count_pending()
        await self.record(origin, job.thread, status=RunStatus.AWAITING_APPROVAL)
        return out

    def origin_job(self, job: Job) -> str:
        """The job whose run a resume job continues (itself for a new job)."""
        return str(job.metadata.get("resume_of") or job.job_id)

    async def record(self, job_id: str, thread_id: str, **changes: Any) -> None:
        """Write the job's approvals (and ``changes``) into its run record."""
        if self.runs is None or self.approvals is None:
            return
        approvals = [a.record() for a in await self.approvals.for_job(thread_id, job_id)]
        try:
            await self.runs.update(job_id, approvals=approvals, **changes)
        except Exception:
            log.warning("run record not updated", exc_info=True, extra={"job_id": job_id})

    def resume_job(self, approval: Approval) -> Job:
        """The queue job that continues ``approval``'s run (one per decision)."""
        return Job(
            job_id=f"{approval.job_id}~{approval.approval_id}",
            thread_id=approval.thread_id,
            resume=approval.approval_id,
            metadata={"resume_of": approval.job_id},
        )

    async def expire_due(self) -> list[Job]:
        """Apply the timeout action to every call past its deadline; the jobs to enqueue."""
        if self.approvals is None or self.grants.approvals is None:
            return []
        action = self.grants.approvals.timeout_action
        expired = await self.approvals.expire_due(action, self.clock())
        jobs = []
        for approval in expired:
            await self.record(approval.job_id, approval.thread_id)
            jobs.append(self.resume_job(approval))
        # Every pass, not only after expiring some: a decision taken in another pod changes
        # the count too, and the waiting-too-long alert reads this pod's view.
        await self.approvals.count_pending()
        return jobs


async def open_capabilities(
    settings: Settings,
    grants: ToolGrants,
    *,
    ledger: Ledger | None,
    approvals: ApprovalStore | None,
    runs: RunStore | None,
) -> Capabilities:
    """List the MCP servers once (an unreachable one is degraded, not fatal); wire the rest."""
    toolset = McpToolset(grants.mcp_servers)
    if grants.mcp_servers:
        await toolset.refresh()
    budgets = Budgets(
        grants.budgets or BudgetPolicy(),
        ledger,
        agent=f"{settings.agent_namespace}/{settings.agent_name}",
        tenant=settings.tenant_id or "",
    )
    return Capabilities(grants, toolset, budgets, approvals, runs)


async def sweep_approvals(
    caps: Capabilities,
    submit: Callable[[Job], Awaitable[object]],
    stop: asyncio.Event,
    interval: float | None = None,
) -> None:
    """Until ``stop``: apply the timeout action to expired calls and enqueue their resumes.

    Every pod sweeps; the conditional UPDATE hands each expired call to exactly one of them.
    """
    timeout = caps.grants.approvals.timeout_seconds if caps.grants.approvals else 60.0
    every = interval or min(30.0, max(1.0, timeout / 10))
    # An expired call is handed to one pod once: a resume job this pod could not enqueue
    # (NATS down) is kept and tried again each pass, or its run would wait forever.
    unsent: list[Job] = []
    while not stop.is_set():
        try:
            unsent += await caps.expire_due()
        except Exception:
            log.warning("approval sweep failed; trying again", exc_info=True)
        while unsent:
            try:
                await submit(unsent[0])
            except Exception:
                log.warning("enqueueing a resume job failed; trying again", exc_info=True)
                break
            unsent.pop(0)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every)
