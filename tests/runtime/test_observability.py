"""JSON logs with job context, metrics, prompt policy and fault-tolerant tracing setup."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging

import pytest

from runtime import observability as obs


def format_record(message: str, **extra: object) -> dict[str, object]:
    record = logging.LogRecord("runtime.test", logging.INFO, __file__, 1, message, None, None)
    for key, value in extra.items():
        setattr(record, key, value)
    return json.loads(obs.JsonFormatter().format(record))


def test_log_lines_carry_the_bound_job_and_extras() -> None:
    assert "job_id" not in format_record("outside")
    with obs.bind_job("j1", "t1"):
        line = format_record("inside", node="main")
    assert {k: line[k] for k in ("message", "level", "logger", "job_id", "thread_id", "node")} == {
        "message": "inside",
        "level": "info",
        "logger": "runtime.test",
        "job_id": "j1",
        "thread_id": "t1",
        "node": "main",
    }
    assert "job_id" not in format_record("after")


async def test_concurrent_jobs_keep_their_own_context() -> None:
    async def log_as(job: str) -> str:
        with obs.bind_job(job, f"thread-{job}"):
            await asyncio.sleep(0.01)  # interleave with the other task
            return str(format_record("x")["job_id"])

    assert await asyncio.gather(log_as("a"), log_as("b")) == ["a", "b"]


@pytest.mark.parametrize(
    ("mode", "want"),
    [
        pytest.param("none", None, id="None"),
        pytest.param(
            "redacted",
            {"length": 5, "sha256": hashlib.sha256(b"hello").hexdigest()},
            id="Redacted",
        ),
        pytest.param("full", {"length": 5, "text": "hello"}, id="Full"),
    ],
)
def test_describe_prompt(mode: obs.LogPrompts, want: object) -> None:
    assert obs.describe_prompt("hello", mode) == want


def test_tokens_are_counted_by_model_and_kind() -> None:
    def value(kind: str) -> float:
        got = obs.REGISTRY.get_sample_value(
            "xagent_tokens_total", {"model": "metric-model", "kind": kind}
        )
        return got or 0.0

    before = (value("input"), value("output"))
    obs.record_tokens("metric-model", 7, 3)
    assert (value("input"), value("output")) == (before[0] + 7, before[1] + 3)


def test_metrics_render_every_runtime_series() -> None:
    obs.JOBS_TOTAL.labels(status="completed")
    body, content_type = obs.render_metrics()
    assert content_type.startswith("text/plain")
    for name in (
        "xagent_jobs_total",
        "xagent_job_duration_seconds",
        "xagent_tokens_total",
        "xagent_in_flight_jobs",
        "xagent_queue_redeliveries_total",
        "xagent_event_publish_errors_total",
    ):
        assert name.encode() in body


def test_tracing_is_off_without_endpoint() -> None:
    assert obs.configure_tracing(None, 1.0, "svc") is False


def test_tracing_failure_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    # A ratio outside [0, 1] makes the sampler raise: setup must log it and carry on.
    with caplog.at_level(logging.ERROR, logger="runtime.observability"):
        assert obs.configure_tracing("http://127.0.0.1:4317", 7.0, "svc") is False
    assert caplog.records[0].getMessage() == "tracing not configured; serving without it"
