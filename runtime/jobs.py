"""Jobs and results: what travels on the queue, and the seam between queue and executor."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "TRACEPARENT",
    "Job",
    "JobExecutor",
    "JobInput",
    "JobResult",
    "JobStatus",
    "JobTooLargeError",
    "Message",
    "RetryableError",
    "TokenUsage",
]


TRACEPARENT = r"^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$"
"""A W3C ``traceparent`` header value (version-traceid-spanid-flags)."""


class Message(BaseModel):
    """One chat message of a job's input."""

    model_config = ConfigDict(extra="ignore")

    role: str = Field(pattern=r"^(user|system|assistant)$")
    content: str


class JobInput(BaseModel):
    """The messages a job adds to its thread."""

    model_config = ConfigDict(extra="ignore")

    messages: list[Message] = Field(min_length=1)


class Job(BaseModel):
    """A unit of work: run the agent on ``input`` in conversation ``thread_id``.

    ``job_id`` makes a job idempotent: a redelivered job whose result was already
    published is acknowledged without running again.
    """

    model_config = ConfigDict(extra="ignore")

    job_id: str = Field(min_length=1, max_length=200)
    thread_id: str | None = Field(default=None, max_length=200)
    input: JobInput | None = None
    resume: str | None = Field(
        default=None,
        max_length=200,
        description="Continue the thread after a decision on this approval id; the decision "
        "itself is read from the approvals store, never from the job.",
    )
    metadata: dict[str, Any] = {}
    traceparent: str | None = Field(default=None, pattern=TRACEPARENT)
    """W3C trace context of the caller (a CloudEvent's ``traceparent``): the job's span
    becomes its child, so one trace runs from the caller through the agent."""

    @model_validator(mode="after")
    def _input_or_resume(self) -> Job:
        if (self.input is None) == (self.resume is None):
            raise ValueError("input: set input (a new turn) or resume (an approval), not both")
        return self

    @property
    def thread(self) -> str:
        """The conversation this job belongs to; a job without one is its own thread."""
        return self.thread_id or self.job_id


class JobStatus(StrEnum):
    """How a job ended."""

    COMPLETED = "completed"
    FAILED = "failed"
    AWAITING_APPROVAL = "awaiting_approval"
    """The run waits for a human decision on a tool call (``pending_approvals``)."""
    BUDGET_EXCEEDED = "budget_exceeded"
    """A job, thread or daily budget is spent; final, never retried."""


class TokenUsage(BaseModel):
    """Token counts of one job, summed over every model call."""

    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0


class JobResult(BaseModel):
    """What the runtime publishes to the results subject for each job."""

    job_id: str
    thread_id: str
    status: JobStatus
    output: str | None = None
    error: str | None = None
    tokens: TokenUsage = TokenUsage()
    model: str | None = None
    cost: float | None = None
    """What the job's model calls cost, in the price table's currency (USD)."""
    duration_seconds: float = 0.0
    pending_approvals: list[dict[str, Any]] = []
    """With awaiting_approval: each call waiting (approval_id, tool_name, expires_at)."""
    traceparent: str | None = None
    """The job span's trace context, so consumers of the result continue the trace."""
    output_ref: str | None = None
    """Set when the answer was too large for the results message: fetch it from this API
    path (``/runs/<job_id>``, field ``output``); ``output`` is None then."""

    def without_output(self) -> JobResult:
        """This result pointing to its run record instead of carrying the answer."""
        return self.model_copy(update={"output": None, "output_ref": f"/runs/{self.job_id}"})


class JobTooLargeError(ValueError):
    """A job is larger than the queue carries; a permanent refusal (HTTP 413)."""


class RetryableError(Exception):
    """A failure worth another delivery (a provider outage, a lost connection)."""


class JobExecutor(Protocol):
    """Runs one job to its result; raises RetryableError when a retry may succeed."""

    async def execute(self, job: Job) -> JobResult:
        """Run ``job`` on its thread and return the result."""
        ...
