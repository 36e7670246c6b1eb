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
import os
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

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

from contract.enums import LogPrompts, OtlpProtocol
from contract.metrics import LABELS, METRICS

__all__ = [
    "EVENT_PUBLISH_ERRORS_TOTAL",
    "IN_FLIGHT_JOBS",
    "JOBS_TOTAL",
    "JOB_DURATION_SECONDS",
    "LLM_REQUEST_DURATION_SECONDS",
    "MODEL_ERRORS_TOTAL",
    "QUEUE_PENDING_JOBS",
    "QUEUE_REDELIVERIES_TOTAL",
    "QUEUE_WAIT_SECONDS",
    "REGISTRY",
    "TOKENS_TOTAL",
    "TOOL_CALLS_TOTAL",
    "JsonFormatter",
    "bind_job",
    "configure_logging",
    "configure_tracing",
    "describe_prompt",
    "get_tracer",
    "job_span",
    "record_tokens",
    "render_metrics",
    "shutdown_tracing",
]

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
LLM_REQUEST_DURATION_SECONDS = Histogram(
    METRICS.LLM_REQUEST_DURATION_SECONDS,
    "Wall time of one model call, by provider and model (failed calls included).",
    [LABELS.PROVIDER, LABELS.MODEL],
    buckets=(0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120),
    registry=REGISTRY,
)
MODEL_ERRORS_TOTAL = Counter(
    METRICS.MODEL_ERRORS_TOTAL.removesuffix("_total"),
    "Failed model calls, by provider, model and error type (the client's exception class).",
    [LABELS.PROVIDER, LABELS.MODEL, LABELS.ERROR_TYPE],
    registry=REGISTRY,
)
TOOL_CALLS_TOTAL = Counter(
    METRICS.TOOL_CALLS_TOTAL.removesuffix("_total"),
    "Tool calls, by tool and outcome (ok, error).",
    [LABELS.TOOL, LABELS.OUTCOME],
    registry=REGISTRY,
)
QUEUE_WAIT_SECONDS = Histogram(
    METRICS.QUEUE_WAIT_SECONDS,
    "Time a job waited in the queue between publish and a worker taking it.",
    buckets=(0.01, 0.05, 0.1, 0.5, 1, 5, 15, 30, 60, 300, 900, 3600),
    registry=REGISTRY,
)
QUEUE_PENDING_JOBS = Gauge(
    METRICS.QUEUE_PENDING_JOBS,
    "Jobs waiting in the consumer behind the last one this pod took.",
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
        out |= _trace_ids()
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
    if mode == LogPrompts.NONE:
        return None
    if mode == LogPrompts.REDACTED:
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


OTLP_PROTOCOLS = tuple(p.value for p in OtlpProtocol)
"""``OTEL_EXPORTER_OTLP_PROTOCOL`` values the runtime exports with."""
_CONTENT_ENV = "TRACELOOP_TRACE_CONTENT"
"""The LangChain instrumentation records prompts and answers on spans unless this is false."""
_tracing: dict[str, Any] = {}


def configure_tracing(
    endpoint: str | None,
    sample_ratio: float,
    service_name: str,
    *,
    protocol: str = "grpc",
    headers: str | None = None,
    log_prompts: LogPrompts = "none",
) -> bool:
    """Export traces over OTLP to ``endpoint``: the job span, and under it one span per model
    call and per tool call with the OpenTelemetry GenAI attributes.

    The model and tool spans come from opentelemetry-instrumentation-langchain, which hooks
    LangChain's callbacks: ``gen_ai.provider.name``, ``gen_ai.request.model``,
    ``gen_ai.usage.input_tokens``/``output_tokens``, ``gen_ai.response.finish_reasons``; the
    prompts and answers only when ``log_prompts`` is ``full``.

    Args:
        endpoint: The OTLP receiver, e.g. ``http://otel-collector:4317`` (gRPC) or
            ``https://cloud.langfuse.com/api/public/otel`` (HTTP; ``/v1/traces`` is added as
            the OTLP spec says for a base URL); None disables tracing.
        sample_ratio: Fraction of new traces kept (TraceIdRatioBased); children follow parents.
        service_name: ``service.name`` of the exported spans.
        protocol: ``grpc`` or ``http/protobuf``.
        headers: ``key=value`` pairs separated by commas (``OTEL_EXPORTER_OTLP_HEADERS``),
            e.g. ``Authorization=Basic ...`` for Langfuse.
        log_prompts: The prompt policy; only ``full`` puts prompt text on spans.

    Returns:
        True when a tracer provider was installed. Never raises: a broken tracing setup must
        not stop the agent from serving, so the failure is logged instead.
    """
    if not endpoint:
        return False
    try:
        from opentelemetry import trace
        from opentelemetry.instrumentation.langchain import LangchainInstrumentor
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
        from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

        provider = TracerProvider(
            resource=Resource.create({"service.name": service_name}),
            sampler=ParentBased(TraceIdRatioBased(sample_ratio)),
        )
        provider.add_span_processor(BatchSpanProcessor(_exporter(endpoint, protocol, headers)))
        trace.set_tracer_provider(provider)
        # The instrumentation reads this on every call; "full" is the only policy that
        # allows prompt text to leave the pod.
        os.environ[_CONTENT_ENV] = "true" if log_prompts == "full" else "false"
        instrumentor = LangchainInstrumentor()
        if not instrumentor.is_instrumented_by_opentelemetry:
            # Once per process, on a provider that follows the installed one: re-instrumenting
            # loses the model spans, and a later configure_tracing (tests) must still count.
            instrumentor.instrument(tracer_provider=_CurrentTracerProvider())
        _tracing["provider"] = provider
    except Exception:
        logging.getLogger(__name__).exception(
            "tracing not configured; serving without it", extra={"otlp_endpoint": endpoint}
        )
        return False
    return True


class _CurrentTracerProvider:
    """A TracerProvider whose tracers use whichever provider is installed at each span."""

    def get_tracer(self, name: str, version: str | None = None, *args: Any, **kw: Any) -> Any:
        return _CurrentTracer(name, version)


class _CurrentTracer:
    def __init__(self, name: str, version: str | None) -> None:
        self._name, self._version = name, version

    def _tracer(self) -> Any:
        from opentelemetry import trace

        return trace.get_tracer(self._name, self._version)

    def start_span(self, *args: Any, **kwargs: Any) -> Any:
        return self._tracer().start_span(*args, **kwargs)

    def start_as_current_span(self, *args: Any, **kwargs: Any) -> Any:
        return self._tracer().start_as_current_span(*args, **kwargs)


def shutdown_tracing() -> None:
    """Export the spans still buffered (at shutdown); a no-op without tracing."""
    provider = _tracing.pop("provider", None)
    if provider is not None:
        provider.shutdown()


def _exporter(endpoint: str, protocol: str, headers: str | None) -> Any:
    parsed = _parse_headers(headers)
    if protocol == "http/protobuf":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        url = (
            endpoint
            if endpoint.rstrip("/").endswith("/v1/traces")
            else (endpoint.rstrip("/") + "/v1/traces")
        )
        return OTLPSpanExporter(endpoint=url, headers=parsed)
    if protocol != "grpc":
        raise ValueError(f"OTLP protocol {protocol!r} is not one of {OTLP_PROTOCOLS}")
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

    # gRPC metadata keys are lower case.
    return OTLPSpanExporter(
        endpoint=endpoint, headers={k.lower(): v for k, v in parsed.items()} or None
    )


def _parse_headers(headers: str | None) -> dict[str, str]:
    """``k=v,k2=v2`` (values URL-encoded, as OTEL_EXPORTER_OTLP_HEADERS) to a dict."""
    from urllib.parse import unquote

    out: dict[str, str] = {}
    for pair in (headers or "").split(","):
        key, sep, value = pair.partition("=")
        if sep and key.strip():
            out[unquote(key.strip())] = unquote(value.strip())
    return out


def _trace_ids() -> dict[str, str]:
    """The current span's trace and span id, for log lines; empty outside a recorded span."""
    if "provider" not in _tracing:
        return {}
    from opentelemetry import trace

    ctx = trace.get_current_span().get_span_context()
    if not ctx.is_valid:
        return {}
    return {"trace_id": format(ctx.trace_id, "032x"), "span_id": format(ctx.span_id, "016x")}


@contextlib.contextmanager
def job_span(job_id: str, thread_id: str, traceparent: str | None) -> Iterator[str | None]:
    """The job's span, a child of ``traceparent`` when the caller sent one.

    Yields the span's own ``traceparent`` (None when not recorded), for the result.
    """
    from opentelemetry import trace
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    propagator = TraceContextTextMapPropagator()
    parent = propagator.extract({"traceparent": traceparent}) if traceparent else None
    with get_tracer().start_as_current_span(
        "xagent.job",
        context=parent,
        attributes={"xagent.job_id": job_id, "gen_ai.conversation.id": thread_id},
    ) as span:
        carrier: dict[str, str] = {}
        if span.get_span_context().is_valid:
            propagator.inject(carrier, context=trace.set_span_in_context(span))
        yield carrier.get("traceparent")


def get_tracer() -> Any:
    """The runtime's tracer; a no-op one until configure_tracing installed a provider."""
    from opentelemetry import trace

    return trace.get_tracer("xagent.runtime")
