"""The queue builder: the NACK Stream and Consumer, the subjects and the runtime env."""

from __future__ import annotations

from typing import Any

from contract.env import QUEUE_ENV
from function.builders import queue
from tests.function.builders.engine_table import EngineCase, Want, engine_tests
from tests.function.factories import make_ctx, make_spec

NACK = "jetstream.nats.io/v1beta2"
STREAM = "xagent_agents_support-bot"
CONSUMER = "support-bot_workers"
PREFIX = "xagent.agents.support-bot"
URL = "nats://nats.nats.svc.cluster.local:4222"


def env(**overrides: str) -> list[dict[str, str]]:
    """The default NATS env with some values replaced (by QUEUE_ENV attribute name)."""
    values = {
        "URL": URL,
        "STREAM": STREAM,
        "CONSUMER": CONSUMER,
        "JOBS_SUBJECT": f"{PREFIX}.jobs",
        "RESULTS_SUBJECT": f"{PREFIX}.results",
        "DEAD_LETTER_SUBJECT": f"{PREFIX}.dead",
        "ACK_WAIT_SECONDS": "30",
        "MAX_DELIVER": "5",
        **overrides,
    }
    return [{"name": getattr(QUEUE_ENV, k), "value": v} for k, v in values.items()]


KINDS = {
    "stream": (NACK, "Stream", "support-bot-jobs-9ed0c74745"),
    "consumer": (NACK, "Consumer", "support-bot-workers-8464d0beac"),
}

CASES = [
    EngineCase(
        "NatsDefaults",
        "one stream holds jobs, results and dead letters; a durable pull consumer reads jobs",
        {},
        Want(
            kinds=KINDS,
            fields={
                ("stream", "spec", "name"): STREAM,
                ("stream", "spec", "subjects"): [f"{PREFIX}.>"],
                ("stream", "spec", "retention"): "limits",
                ("stream", "spec", "storage"): "file",
                ("stream", "spec", "replicas"): 1,
                ("stream", "spec", "maxAge"): "168h",
                ("stream", "spec", "duplicateWindow"): "2m",
                ("stream", "spec", "servers"): [URL],
                ("consumer", "spec", "durableName"): CONSUMER,
                ("consumer", "spec", "streamName"): STREAM,
                ("consumer", "spec", "filterSubject"): f"{PREFIX}.jobs",
                ("consumer", "spec", "ackPolicy"): "explicit",
                ("consumer", "spec", "deliverPolicy"): "all",
                ("consumer", "spec", "ackWait"): "30s",
                ("consumer", "spec", "maxDeliver"): 5,
                ("consumer", "spec", "maxAckPending"): 4 * 10,
                ("consumer", "spec", "deliverSubject"): None,
                ("consumer", "spec", "servers"): [URL],
            },
            env=env(),
        ),
    ),
    EngineCase(
        "NatsTuned",
        "every queue knob reaches the stream, consumer and env",
        {
            "queue": {
                "url": "tls://nats.example:4222",
                "stream": "JOBS",
                "subjectPrefix": "acme.bots.support",
                "ackWait": "1m30s",
                "maxDeliver": 3,
                "maxAge": "24h",
                "replicas": 3,
                "storage": "memory",
            },
            "concurrency": {"maxParallelSessions": 8},
            "scaling": {"maxReplicas": 5},
        },
        Want(
            kinds=KINDS,
            fields={
                ("stream", "spec", "name"): "JOBS",
                ("stream", "spec", "subjects"): ["acme.bots.support.>"],
                ("stream", "spec", "storage"): "memory",
                ("stream", "spec", "replicas"): 3,
                ("stream", "spec", "maxAge"): "24h",
                ("stream", "spec", "servers"): ["tls://nats.example:4222"],
                ("consumer", "spec", "streamName"): "JOBS",
                ("consumer", "spec", "filterSubject"): "acme.bots.support.jobs",
                ("consumer", "spec", "ackWait"): "1m30s",
                ("consumer", "spec", "maxDeliver"): 3,
                ("consumer", "spec", "maxAckPending"): 8 * 5,
            },
            env=env(
                URL="tls://nats.example:4222",
                STREAM="JOBS",
                JOBS_SUBJECT="acme.bots.support.jobs",
                RESULTS_SUBJECT="acme.bots.support.results",
                DEAD_LETTER_SUBJECT="acme.bots.support.dead",
                ACK_WAIT_SECONDS="90",
                MAX_DELIVER="3",
            ),
        ),
    ),
    EngineCase(
        "FixedReplicas",
        "without an autoscaler the pod count is minReplicas",
        {"scaling": {"autoscaler": "none", "minReplicas": 3, "maxReplicas": 10}},
        Want(kinds=KINDS, fields={("consumer", "spec", "maxAckPending"): 4 * 3}, env=env()),
    ),
    EngineCase(
        "FixedZeroReplicas",
        "maxAckPending is never 0 (NATS would read it as its default)",
        {"scaling": {"autoscaler": "none", "minReplicas": 0}},
        Want(kinds=KINDS, fields={("consumer", "spec", "maxAckPending"): 4}, env=env()),
    ),
    EngineCase(
        "None",
        "nothing composed, no env: the agent takes work over HTTP only",
        {"queue": {"engine": "none"}},
        Want(kinds={}, env=[]),
    ),
]


def render(case: EngineCase) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    ctx = make_ctx(make_spec(**case.args))
    return queue.build(ctx), queue.queue_env(ctx)


test_resources, test_fields, test_env, test_manifests_validate = engine_tests(CASES, render)


def test_subjects() -> None:
    assert queue.subjects(make_ctx()) == {
        "jobs": f"{PREFIX}.jobs",
        "results": f"{PREFIX}.results",
        "dead": f"{PREFIX}.dead",
    }


def test_stream_captures_every_subject() -> None:
    """Jobs, results and dead letters all land in the one stream."""
    ctx = make_ctx()
    (wildcard,) = queue.build(ctx)["stream"]["spec"]["subjects"]
    prefix = wildcard.removesuffix(">")
    assert all(s.startswith(prefix) for s in queue.subjects(ctx).values())
