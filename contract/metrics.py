"""Names of the Prometheus series the runtime exports, as a scrape shows them.

The runtime registers its metrics under these names (prometheus_client adds ``_total`` to a
counter and ``_bucket``/``_sum``/``_count`` to a histogram), and the function's alerting
rules and dashboard query them; both sides import this module, so a rename cannot leave a
rule querying a series that no longer exists. Standard library only.
"""

from __future__ import annotations

from typing import Final

__all__ = ["BUDGET_UNIT", "LABELS", "METRICS", "STATUS"]


class METRICS:
    """Series names, exactly as exposed on /metrics."""

    JOBS_TOTAL: Final = "xagent_jobs_total"
    JOB_DURATION_SECONDS: Final = "xagent_job_duration_seconds"
    TOKENS_TOTAL: Final = "xagent_tokens_total"
    IN_FLIGHT_JOBS: Final = "xagent_in_flight_jobs"
    EVENT_PUBLISH_ERRORS_TOTAL: Final = "xagent_event_publish_errors_total"
    QUEUE_REDELIVERIES_TOTAL: Final = "xagent_queue_redeliveries_total"
    LLM_REQUEST_DURATION_SECONDS: Final = "xagent_llm_request_duration_seconds"
    """Histogram of one model call, by provider and model."""
    MODEL_ERRORS_TOTAL: Final = "xagent_model_errors_total"
    """Failed model calls, by provider, model and error type."""
    TOOL_CALLS_TOTAL: Final = "xagent_tool_calls_total"
    """Tool calls, by tool and outcome (``ok``, ``error``)."""
    QUEUE_WAIT_SECONDS: Final = "xagent_queue_wait_seconds"
    """Histogram of the time a job spent in the queue before a worker started it."""
    QUEUE_PENDING_JOBS: Final = "xagent_queue_pending_jobs"
    """Jobs waiting behind the last one delivered (the consumer's pending count)."""
    BUDGET_REMAINING: Final = "xagent_budget_remaining"
    """What is left of the daily budget, by unit (``tokens``, ``cost``), as a pod last checked."""
    APPROVALS_PENDING: Final = "xagent_approvals_pending"
    """Tool calls waiting for a human decision, over every thread."""
    APPROVALS_OLDEST_PENDING: Final = "xagent_approvals_oldest_pending_timestamp_seconds"
    """When the longest-waiting pending call was opened (Unix seconds); 0 when none waits."""


class LABELS:
    """Label names of the series above."""

    STATUS: Final = "status"
    MODEL: Final = "model"
    PROVIDER: Final = "provider"
    KIND: Final = "kind"
    ERROR_TYPE: Final = "type"
    TOOL: Final = "tool"
    OUTCOME: Final = "outcome"
    UNIT: Final = "unit"


class BUDGET_UNIT:  # noqa: N801 - a namespace of constants, like the classes above
    """Values of ``xagent_budget_remaining{unit}``."""

    TOKENS: Final = "tokens"
    COST: Final = "cost"


class STATUS:
    """Values of ``xagent_jobs_total{status}``."""

    COMPLETED: Final = "completed"
    FAILED: Final = "failed"
    RETRYABLE: Final = "retryable"
    DEAD_LETTERED: Final = "dead_lettered"
