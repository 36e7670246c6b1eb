"""Token and cost budgets (``spec.budgets``): checked before every model call, counted after.

Three windows, each optional, each in tokens and/or cost:

- ``job``: one job. The model call that crosses it completes (a call cannot be cut short),
  the next check stops the job, which ends ``budget_exceeded``: not retried, not dead-lettered.
- ``thread``: every job of one conversation together; a job of an exhausted thread ends the
  same way.
- ``daily``: the agent's UTC day. Over it, new jobs are refused until midnight: ``429`` with
  ``Retry-After`` on HTTP, and a ``budget_exceeded`` result (acked, never redelivered) for a
  job off the queue, so a client always gets an answer instead of a job parked for hours.

Counters live in runtime.state.ledger (atomic across pods); cost is priced by
contract.prices with the spec's own entries first.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import time
from collections.abc import Callable
from typing import Any

from prometheus_client import Counter, Gauge

from contract.grants import BudgetPolicy, WindowLimit
from contract.metrics import BUDGET_UNIT, LABELS, METRICS
from runtime.observability import REGISTRY
from runtime.state.ledger import Ledger, Usage

__all__ = [
    "BUDGET_REMAINING",
    "USAGE_COST",
    "USAGE_TOKENS",
    "BudgetExceeded",
    "BudgetGuard",
    "Budgets",
    "current_budget",
    "guard_job",
]

USAGE_TOKENS = Counter(
    "xagent_usage_tokens",
    "Model tokens (input plus output), by model, agent and tenant.",
    ["model", "agent", "tenant"],
    registry=REGISTRY,
)
USAGE_COST = Counter(
    "xagent_usage_cost",
    "Model cost in the price table's currency (USD), by model, agent and tenant.",
    ["model", "agent", "tenant"],
    registry=REGISTRY,
)
BUDGET_REMAINING = Gauge(
    METRICS.BUDGET_REMAINING,
    "What is left of the agent's daily budget, by unit (tokens, cost); set when limited.",
    ["agent", "tenant", LABELS.UNIT],
    registry=REGISTRY,
)


class BudgetExceeded(Exception):  # noqa: N818 - the outcome's name, budget_exceeded
    """A window's budget is spent; the job stops (or is refused) with this message."""

    def __init__(self, window: str, unit: str, limit: float, used: float, retry_after: int = 0):
        """``window`` (job, thread, daily) ran out of ``unit`` (tokens, cost)."""
        self.window, self.unit, self.limit, self.used = window, unit, limit, used
        self.retry_after = retry_after
        amount = f"{used:g} of {limit:g}" if unit == "tokens" else f"{used:.6g} of {limit:.6g}"
        super().__init__(f"{window} budget exceeded: {amount} {unit} used")

    def to_dict(self) -> dict[str, Any]:
        """The details a result, event or HTTP answer carries."""
        return {
            "window": self.window,
            "unit": self.unit,
            "limit": self.limit,
            "used": self.used,
            "error": str(self),
        }


class Budgets:
    """The agent's budgets: check before a model call, record after it."""

    def __init__(
        self,
        policy: BudgetPolicy,
        ledger: Ledger | None,
        *,
        agent: str,
        tenant: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """Enforce ``policy`` with counters in ``ledger`` (None: count metrics only)."""
        self.policy = policy
        self._ledger = ledger if policy.limited else None
        self._agent, self._tenant, self._clock = agent, tenant, clock

    def _windows(self, job_id: str | None, thread_id: str | None) -> dict[str, str]:
        day = dt.datetime.fromtimestamp(self._clock(), dt.UTC).date().isoformat()
        windows = {"daily": f"day:{self._agent}:{day}"}
        if thread_id is not None:
            windows["thread"] = f"thread:{self._agent}:{thread_id}"
        if job_id is not None:
            windows["job"] = f"job:{self._agent}:{job_id}"
        return windows

    def seconds_to_midnight(self) -> int:
        """Until the daily window resets (UTC)."""
        now = dt.datetime.fromtimestamp(self._clock(), dt.UTC)
        midnight = dt.datetime.combine(now.date() + dt.timedelta(days=1), dt.time(), dt.UTC)
        return max(1, int((midnight - now).total_seconds()))

    async def check(self, job_id: str | None = None, thread_id: str | None = None) -> None:
        """Raise BudgetExceeded when a window the call belongs to is spent.

        With neither id, only the daily window is checked (admission of a new job).
        """
        if self._ledger is None:
            return
        windows = self._windows(job_id, thread_id)
        used = await self._ledger.usage(list(windows.values()))
        for window in ("job", "thread", "daily"):
            limit = getattr(self.policy, window)
            if limit is None or window not in windows:
                continue
            spent = used[windows[window]]
            if window == "daily":
                self._set_remaining(limit, spent)
            retry = self.seconds_to_midnight() if window == "daily" else 0
            if limit.tokens is not None and spent.tokens >= limit.tokens:
                raise BudgetExceeded(window, "tokens", limit.tokens, spent.tokens, retry)
            if limit.cost is not None and spent.cost >= limit.cost:
                raise BudgetExceeded(window, "cost", limit.cost, spent.cost, retry)

    async def record(
        self, job_id: str, thread_id: str, model: str, input_tokens: int, output_tokens: int
    ) -> float:
        """Count one model call in every window and in the metrics; return its cost."""
        price = self.policy.price(model)
        cost = price.cost(input_tokens, output_tokens) if price else 0.0
        tokens = input_tokens + output_tokens
        labels = {"model": model, "agent": self._agent, "tenant": self._tenant}
        USAGE_TOKENS.labels(**labels).inc(tokens)
        USAGE_COST.labels(**labels).inc(cost)
        if self._ledger is not None and (tokens or cost):
            await self._ledger.add(list(self._windows(job_id, thread_id).values()), tokens, cost)
        return cost

    def _set_remaining(self, limit: WindowLimit, spent: Usage) -> None:
        labels = {"agent": self._agent, "tenant": self._tenant}
        if limit.tokens is not None:
            BUDGET_REMAINING.labels(**labels, unit=BUDGET_UNIT.TOKENS).set(
                max(0, limit.tokens - spent.tokens)
            )
        if limit.cost is not None:
            BUDGET_REMAINING.labels(**labels, unit=BUDGET_UNIT.COST).set(
                max(0.0, limit.cost - spent.cost)
            )


class BudgetGuard:
    """One job's view of the budgets: the model node calls it around every model call."""

    def __init__(self, budgets: Budgets, job_id: str, thread_id: str) -> None:
        """Guard the calls of ``job_id`` in ``thread_id``."""
        self._budgets, self._job, self._thread = budgets, job_id, thread_id
        self.cost = 0.0

    async def before_call(self) -> None:
        """Raise BudgetExceeded when the job, its thread or the agent's day is spent."""
        await self._budgets.check(self._job, self._thread)

    async def after_call(self, answer: Any, default_model: str) -> None:
        """Count the call's tokens and cost (usage the provider reported)."""
        usage = getattr(answer, "usage_metadata", None) or {}
        metadata = getattr(answer, "response_metadata", None) or {}
        model = str(metadata.get("model_name") or default_model)
        self.cost += await self._budgets.record(
            self._job,
            self._thread,
            model,
            int(usage.get("input_tokens", 0)),
            int(usage.get("output_tokens", 0)),
        )


_current: contextvars.ContextVar[BudgetGuard | None] = contextvars.ContextVar(
    "xagent_budget", default=None
)


def current_budget() -> BudgetGuard | None:
    """The guard of the job running in this context (graph nodes run in copies of it)."""
    return _current.get()


@contextlib.contextmanager
def guard_job(guard: BudgetGuard | None) -> Any:
    """Make ``guard`` the current one for the block (the executor wraps each job in it)."""
    token = _current.set(guard)
    try:
        yield guard
    finally:
        _current.reset(token)
