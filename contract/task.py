"""Task mode's summary: what the runtime's one-shot run leaves in its termination message.

``xagent-runtime task`` (runtime/task.py) writes a ``TaskSummary`` as JSON to the
container's termination message; the function (function/task_status.py) reads it back from
the observed Pod into the XR's ``status.task``. The tenant's pod writes that text, so the
reader treats it as hostile: at most ``TERMINATION_LIMIT`` bytes, this model with bounded
fields, unknown keys ignored and never copied anywhere.
"""

from __future__ import annotations

from typing import Final

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

__all__ = [
    "ERROR_LIMIT",
    "EXIT_BAD_CONFIG",
    "EXIT_COMPLETED",
    "EXIT_FAILED",
    "EXIT_RETRY",
    "TERMINATION_LIMIT",
    "TaskSummary",
]

TERMINATION_LIMIT: Final = 4096
"""The kubelet keeps at most 4096 bytes of a termination message."""
ERROR_LIMIT: Final = 1000
"""The longest error text the summary carries (the run record keeps the whole of it)."""
_MAX_TOKENS = 2**53  # exact in a JSON number everywhere


class TaskSummary(BaseModel):
    """One task run, without its answer (the run record holds that, at ``output_ref``)."""

    model_config = ConfigDict(
        extra="ignore", alias_generator=to_camel, populate_by_name=True, frozen=True
    )

    job_id: str = Field(min_length=1, max_length=300)
    status: str = Field(pattern=r"^[a-z_]{1,40}$")
    """How the job ended (runtime.jobs.JobStatus: completed, failed, budget_exceeded...)."""
    output_ref: str | None = Field(default=None, max_length=400, pattern=r"^/runs/[^\s]+$")
    """Where the answer is: the runtime's ``GET /runs/<job id>`` (field ``output``)."""
    input_tokens: int = Field(default=0, ge=0, le=_MAX_TOKENS)
    output_tokens: int = Field(default=0, ge=0, le=_MAX_TOKENS)
    total_tokens: int = Field(default=0, ge=0, le=_MAX_TOKENS)
    cost: float | None = Field(default=None, ge=0, le=1e12, allow_inf_nan=False)
    """In the price table's currency (USD), when the model's price is known."""
    model: str | None = Field(default=None, max_length=200)
    error: str | None = Field(default=None, max_length=ERROR_LIMIT)
    duration_seconds: float = Field(default=0.0, ge=0, le=1e9, allow_inf_nan=False)

    def to_json(self) -> str:
        """The termination message: compact JSON, camelCase, nothing unset."""
        return self.model_dump_json(by_alias=True, exclude_none=True)


EXIT_COMPLETED: Final = 0
EXIT_FAILED: Final = 1
"""The run ended without completing and its result is recorded: another pod would only
report the same (the Job's podFailurePolicy fails the Job at once)."""
EXIT_BAD_CONFIG: Final = 2
"""The configuration is wrong (a missing input, an invalid setting): final too."""
EXIT_RETRY: Final = 3
"""A failure a retry may fix (a provider outage, a lost connection, a database still
starting, anything unexpected); nothing is recorded, and the Job starts another pod while
spec.task.retries allows."""
