"""Logs, metrics and traces of the runtime.

Every log line is one JSON object carrying the job and thread it belongs to (bound through
context variables, so concurrent jobs never mix them up). Metrics live in one registry that the
serving layer exposes on /metrics. Tracing is optional: a failure to configure it is logged and
the runtime serves on, as the style guide asks.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import json
import logging
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, Literal

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)

__all__ = [
    "EVENT_PUBLISH_ERRORS_TOTAL",
    "IN_FLIGHT_JOBS",
    "JOBS_TOTAL",
    "JOB_DURATION_SECONDS",
    "QUEUE_REDELIVERIES_TOTAL",
    "REGISTRY",
    "TOKENS_TOTAL",
    "JsonFormatter",
    "bind_job",
    "configure_logging",
    "configure_tracing",
    "describe_prompt",
    "get_tracer",
    "record_tokens",
    "render_metrics",
]

LogPrompts = Literal["none", "redacted", "full"]

_job_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("xagent_job_id", default=None)
_thread_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "xagent_thread_id", default=None
)

# Attributes every LogRecord has; anything else was passed through `extra=` and is logged.
_RECORD_FIELDS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "taskName",
}

REGISTRY = CollectorRegistry()
"""The registry /metrics serves; a private one, so tests and imports never collide."""
ProcessCollector(registry=REGISTRY)
PlatformCollector(registry=REGISTRY)

JOBS_TOTAL = Counter(
    "xagent_jobs", "Jobs finished, by status (completed, failed).", ["status"], registry=REGISTRY
)
JOB_DURATION_SECONDS = Histogram(
    "xagent_job_duration_seconds",
    "Wall time of one job, from start to result.",
    buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600),
    registry=REGISTRY,
)
TOKENS_TOTAL = Counter(
    "xagent_tokens",
    "Model tokens, by model and kind (input, output).",
    ["model", "kind"],
    registry=REGISTRY,
)
IN_FLIGHT_JOBS = Gauge("xagent_in_flight_jobs", "Jobs running right now.", registry=REGISTRY)
EVENT_PUBLISH_ERRORS_TOTAL = Counter(
    "xagent_event_publish_errors",
    "Live events the sink did not take (the job goes on; its result still travels the queue).",
    registry=REGISTRY,
)
QUEUE_REDELIVERIES_TOTAL = Counter(
    "xagent_queue_redeliveries",
    "Jobs the queue delivered more than once.",
    registry=REGISTRY,
)


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON line with time, level, logger, job and thread."""

    def format(self, record: logging.LogRecord) -> str:
        """Render ``record`` as JSON; extras passed with ``extra=`` become fields."""
        out: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if (job_id := _job_id.get()) is not None:
            out["job_id"] = job_id
        if (thread_id := _thread_id.get()) is not None:
            out["thread_id"] = thread_id
        for key, value in vars(record).items():
            if key not in _RECORD_FIELDS and not key.startswith("_"):
                out[key] = value
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


def configure_logging(level: str = "INFO") -> None:
    """Send every logger's records to stderr as JSON lines at ``level``."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Client libraries log every request at INFO; that is noise next to job logs.
    for noisy in ("httpx", "httpcore", "openai", "anthropic"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))


@contextlib.contextmanager
def bind_job(job_id: str | None, thread_id: str | None) -> Iterator[None]:
    """Stamp every log line written inside the block with ``job_id`` and ``thread_id``."""
    job_token = _job_id.set(job_id)
    thread_token = _thread_id.set(thread_id)
    try:
        yield
    finally:
        _thread_id.reset(thread_token)
        _job_id.reset(job_token)


def describe_prompt(text: str, mode: LogPrompts) -> dict[str, Any] | None:
    """What may be logged of a prompt under the logPrompts policy.

    Args:
        text: The prompt or answer.
        mode: ``none`` logs nothing, ``redacted`` only the length and a SHA-256 (enough to
            correlate without reading), ``full`` the text itself.

    Returns:
        Fields to log, or None when nothing may be logged.
    """
    if mode == "none":
        return None
    if mode == "redacted":
        return {"length": len(text), "sha256": hashlib.sha256(text.encode()).hexdigest()}
    return {"length": len(text), "text": text}


def record_tokens(model: str, input_tokens: int, output_tokens: int) -> None:
    """Count one model call's tokens in ``xagent_tokens_total{model,kind}``."""
    if input_tokens:
        TOKENS_TOTAL.labels(model=model, kind="input").inc(input_tokens)
    if output_tokens:
        TOKENS_TOTAL.labels(model=model, kind="output").inc(output_tokens)


def render_metrics() -> tuple[bytes, str]:
    """The /metrics body and its content type."""
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def configure_tracing(endpoint: str | None, sample_ratio: float, service_name: str) -> bool:
    """Export traces over OTLP/gRPC to ``endpoint``, sampling ``sample_ratio`` of root traces.

    Args:
        endpoint: The OTLP collector, e.g. ``http://otel-collector:4317``; None disables tracing.
        sample_ratio: Fraction of new traces kept (TraceIdRatioBased); children follow parents.
        service_name: ``service.name`` of the exported spans.

    Returns:
        True when a tracer provider was installed. Never raises: a broken tracing setup must
        not stop the agent from serving, so the failure is logged instead.
    """
    if not endpoint:
        return False
    try:
        from opentelemetry import trace
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
        from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

        provider = TracerProvider(
            resource=Resource.create({"service.name": service_name}),
            sampler=ParentBased(TraceIdRatioBased(sample_ratio)),
        )
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
        trace.set_tracer_provider(provider)
    except Exception:
        logging.getLogger(__name__).exception(
            "tracing not configured; serving without it", extra={"otlp_endpoint": endpoint}
        )
        return False
    return True


def get_tracer() -> Any:
    """The runtime's tracer; a no-op one until configure_tracing installed a provider."""
    from opentelemetry import trace

    return trace.get_tracer("xagent.runtime")
