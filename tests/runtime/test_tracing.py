"""Traces reach a real OTLP receiver over HTTP and gRPC: the job span continues the
caller's trace, and under it one span per model call and per tool call carries the
OpenTelemetry GenAI attributes; prompts only with logPrompts full; trace ids in logs."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator

import pytest
from opentelemetry import trace
from opentelemetry.util._once import Once

from function.builders import deployment
from runtime import observability as obs
from runtime.jobs import Job, JobInput, JobStatus, Message
from runtime.startup import open_agent, start_tracing
from runtime.state.stream import MemoryEventSink
from tests.function.factories import make_ctx, make_spec
from tests.runtime.conftest import STUB_MODEL, SettingsFactory, example, grant_all
from tests.runtime.otlp_receiver import GrpcReceiver, HttpReceiver, ReceivedSpan

CALLER_TRACE = "0af7651916cd43dd8448eb211c80319c"
CALLER_SPAN = "b7ad6b7169203331"
TRACEPARENT = f"00-{CALLER_TRACE}-{CALLER_SPAN}-01"
PROMPT = 'call:calc:{"expression": "2 ** 10"}'


@pytest.fixture(autouse=True)
def _fresh_tracing() -> Iterator[None]:
    """Each test installs its own provider: OpenTelemetry allows one per process."""

    def reset() -> None:
        obs.shutdown_tracing()
        trace._TRACER_PROVIDER_SET_ONCE = Once()  # what OpenTelemetry's own tests do
        trace._TRACER_PROVIDER = None

    reset()
    yield
    reset()


async def _run_job(make_settings: SettingsFactory, traceparent: str | None = TRACEPARENT):
    definition = example("tool_node")
    async with open_agent(
        make_settings(), definition=definition, grants=grant_all(definition), sink=MemoryEventSink()
    ) as agent:
        job = Job(
            job_id=uuid.uuid4().hex,
            input=JobInput(messages=[Message(role="user", content=PROMPT)]),
            traceparent=traceparent,
        )
        result = await agent.executor.execute(job)
    obs.shutdown_tracing()  # flush the batch to the receiver
    assert result.status == JobStatus.COMPLETED, result.error
    return result


def _descends_from(span: ReceivedSpan, ancestor: ReceivedSpan, spans: list[ReceivedSpan]) -> bool:
    by_id = {s.span_id: s for s in spans}
    current = span
    while current.parent_span_id:
        if current.parent_span_id == ancestor.span_id:
            return True
        if current.parent_span_id not in by_id:
            return False
        current = by_id[current.parent_span_id]
    return False


def _check_trace(spans: list[ReceivedSpan], result_traceparent: str | None) -> None:
    (job,) = [s for s in spans if s.name == "xagent.job"]
    assert job.trace_id == CALLER_TRACE
    assert job.parent_span_id == CALLER_SPAN
    assert result_traceparent == f"00-{CALLER_TRACE}-{job.span_id}-01"
    assert job.service_name == "xagent-test-agent"

    llm_calls = [s for s in spans if s.attributes.get("gen_ai.operation.name") == "chat"]
    assert len(llm_calls) == 2, "tool call, then the answer"
    for call in llm_calls:
        assert call.trace_id == CALLER_TRACE
        assert _descends_from(call, job, spans)
        assert call.attributes["gen_ai.provider.name"] == "openai"
        assert call.attributes["gen_ai.request.model"] == STUB_MODEL
        assert call.attributes["gen_ai.usage.input_tokens"] > 0
        assert call.attributes["gen_ai.usage.output_tokens"] > 0
    reasons = [c.attributes["gen_ai.response.finish_reasons"] for c in llm_calls]
    assert sorted(reasons) == [("stop",), ("tool_call",)]

    (tool,) = [s for s in spans if s.attributes.get("gen_ai.operation.name") == "execute_tool"]
    assert tool.attributes["gen_ai.tool.name"] == "calc"
    assert _descends_from(tool, job, spans)


async def test_http_receiver_gets_the_trace_with_headers(make_settings: SettingsFactory) -> None:
    with HttpReceiver() as receiver:
        assert obs.configure_tracing(
            receiver.endpoint,
            1.0,
            "xagent-test-agent",
            protocol="http/protobuf",
            headers="Authorization=Basic%20cGs6c2s=,x-tenant=acme",
        )
        result = await _run_job(make_settings)
    _check_trace(receiver.spans, result.traceparent)
    # Langfuse's OTLP endpoint authenticates with Basic auth in a header.
    assert receiver.headers
    assert all(h["authorization"] == "Basic cGs6c2s=" for h in receiver.headers)
    assert all(h["x-tenant"] == "acme" for h in receiver.headers)


async def test_grpc_receiver_gets_the_trace_with_metadata(make_settings: SettingsFactory) -> None:
    with GrpcReceiver() as receiver:
        assert obs.configure_tracing(
            receiver.endpoint,
            1.0,
            "xagent-test-agent",
            protocol="grpc",
            headers="Authorization=Bearer%20t0k",
        )
        result = await _run_job(make_settings)
    _check_trace(receiver.spans, result.traceparent)
    assert all(h["authorization"] == "Bearer t0k" for h in receiver.headers)


def _otel_env(entries: list[dict], secrets: dict[str, dict[str, str]]) -> dict[str, str]:
    """What the container sees of the OTEL_* ``entries``: values, secretKeyRefs resolved."""
    out = {}
    for entry in (e for e in entries if e["name"].startswith("OTEL_")):
        ref = (entry.get("valueFrom") or {}).get("secretKeyRef")
        out[entry["name"]] = secrets[ref["name"]][ref["key"]] if ref else entry.get("value", "")
    return out


@pytest.mark.parametrize(
    ("protocol", "receiver_type"),
    [("grpc", GrpcReceiver), ("http/protobuf", HttpReceiver)],
    ids=["grpc", "http"],
)
async def test_spec_tracing_fields_reach_the_receiver_with_the_secret_headers(
    make_settings: SettingsFactory,
    monkeypatch: pytest.MonkeyPatch,
    protocol: str,
    receiver_type: type[GrpcReceiver | HttpReceiver],
) -> None:
    """spec.observability.tracing (endpoint, protocol, headersSecretRef) through the
    function's Deployment env, the kubelet's secretKeyRef, the runtime's Settings and its
    startup, to a real receiver: the spans arrive over that protocol with the header."""
    with receiver_type() as receiver:
        tracing = {
            "endpoint": receiver.endpoint,
            "sampleRatio": 1,
            "protocol": protocol,
            "headersSecretRef": {"name": "langfuse-otlp", "key": "headers"},
        }
        ctx = make_ctx(make_spec(observability={"tracing": tracing}), name="test-agent")
        env = _otel_env(
            deployment.container_env(ctx),
            # Langfuse's OTLP auth: Basic base64(public key:secret key), URL-encoded.
            {"langfuse-otlp": {"headers": "Authorization=Basic%20cGstbGY6c2stbGY="}},
        )
        assert "OTEL_EXPORTER_OTLP_HEADERS" in env
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        settings = make_settings()
        assert settings.otel_protocol == protocol
        assert start_tracing(settings)
        result = await _run_job(make_settings)
    _check_trace(receiver.spans, result.traceparent)
    assert receiver.headers
    assert all(h["authorization"] == "Basic cGstbGY6c2stbGY=" for h in receiver.headers)


@pytest.mark.parametrize(
    ("policy", "exported"), [("none", False), ("redacted", False), ("full", True)]
)
async def test_prompts_leave_only_with_log_prompts_full(
    make_settings: SettingsFactory, policy: str, exported: bool
) -> None:
    with HttpReceiver() as receiver:
        obs.configure_tracing(
            receiver.endpoint,
            1.0,
            "xagent-test-agent",
            protocol="http/protobuf",
            log_prompts=policy,
        )
        await _run_job(make_settings)
    texts = [str(v) for s in receiver.spans for v in s.attributes.values() if isinstance(v, str)]
    assert any("2 ** 10" in t for t in texts) == exported


async def test_a_job_without_traceparent_starts_its_own_trace(
    make_settings: SettingsFactory,
) -> None:
    with HttpReceiver() as receiver:
        obs.configure_tracing(receiver.endpoint, 1.0, "xagent-test-agent", protocol="http/protobuf")
        result = await _run_job(make_settings, traceparent=None)
    (job,) = [s for s in receiver.spans if s.name == "xagent.job"]
    assert job.parent_span_id == ""
    # The flags byte may carry the random-trace-id bit besides "sampled".
    assert result.traceparent
    assert result.traceparent.startswith(f"00-{job.trace_id}-{job.span_id}-")


def test_log_lines_carry_the_trace_id() -> None:
    with HttpReceiver() as receiver:
        obs.configure_tracing(receiver.endpoint, 1.0, "t", protocol="http/protobuf")
        with obs.job_span("j", "t", TRACEPARENT):
            record = logging.LogRecord("x", logging.INFO, __file__, 1, "inside", None, None)
            line = json.loads(obs.JsonFormatter().format(record))
    assert line["trace_id"] == CALLER_TRACE
    assert len(line["span_id"]) == 16


def test_unknown_protocol_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    assert not obs.configure_tracing("http://127.0.0.1:1", 1.0, "t", protocol="thrift")
    assert "tracing not configured" in caplog.text
