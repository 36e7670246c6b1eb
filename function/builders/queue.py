"""The NATS JetStream jobs queue: a NACK Stream and the durable pull Consumer the pods share.

One stream per agent holds all three of its subjects (``<prefix>.jobs``, ``.results`` and
``.dead``) with limits retention, so results and dead letters stay readable for
``spec.queue.maxAge`` after the job was acked. The consumer filters ``.jobs`` only; the
runtime publishes results and dead letters itself, with a ``Nats-Msg-Id`` that the stream's
duplicate window de-duplicates.

``spec.triggers.subjects`` feed the same stream: a subject without a source stream is
captured by the agent's stream, one with a source stream is sourced from it (filtered on the
subject). Either way the consumer filters on it too (``filterSubjects``), so its messages are
jobs like those on ``.jobs``; function/policy.py keeps them inside the namespace and clear of
the agent's own subjects.
"""

from __future__ import annotations

from contract import queue as queue_defaults
from contract.env import QUEUE_ENV
from function import units
from function.builders import nats_auth
from function.builders.base import AgentContext, Desired, Manifest, RuntimeAdditions, env_var
from function.spec import QueueEngine

__all__ = [
    "NACK_API_VERSION",
    "RUNTIME",
    "build",
    "max_ack_pending",
    "queue_env",
    "subjects",
]

COMPONENT = "queue"
NACK_API_VERSION = "jetstream.nats.io/v1beta2"


def build(ctx: AgentContext) -> Desired:
    """The Stream and Consumer for engine nats; nothing for engine none."""
    if ctx.spec.queue.engine != QueueEngine.NATS:
        return {}
    return {"stream": _stream(ctx), "consumer": _consumer(ctx)}


def subjects(ctx: AgentContext) -> dict[str, str]:
    """The agent's subjects: ``jobs``, ``results`` and ``dead`` (dead letters)."""
    return queue_defaults.subjects(ctx.subject_prefix)


def max_ack_pending(ctx: AgentContext) -> int:
    """Jobs in flight across all pods: sessions per pod times the most pods there can be."""
    pods = ctx.most_replicas()
    return queue_defaults.max_ack_pending(ctx.spec.concurrency.max_parallel_sessions, pods)


def queue_env(ctx: AgentContext) -> list[Manifest]:
    """EnvVars connecting the runtime container to its queue; empty for engine none."""
    queue = ctx.spec.queue
    if queue.engine != QueueEngine.NATS:
        return []
    subj = subjects(ctx)
    return [
        env_var(QUEUE_ENV.URL, queue.url),
        env_var(QUEUE_ENV.STREAM, ctx.stream_name),
        env_var(QUEUE_ENV.CONSUMER, ctx.consumer_name),
        env_var(QUEUE_ENV.JOBS_SUBJECT, subj["jobs"]),
        env_var(QUEUE_ENV.RESULTS_SUBJECT, subj["results"]),
        env_var(QUEUE_ENV.DEAD_LETTER_SUBJECT, subj["dead"]),
        env_var(QUEUE_ENV.ACK_WAIT_SECONDS, _number(units.seconds(queue.ack_wait))),
        env_var(QUEUE_ENV.MAX_DELIVER, str(queue.max_deliver)),
    ]


RUNTIME = RuntimeAdditions(env=queue_env)


def _stream(ctx: AgentContext) -> Manifest:
    queue = ctx.spec.queue
    return {
        "apiVersion": NACK_API_VERSION,
        "kind": "Stream",
        "metadata": ctx.metadata(ctx.child("jobs"), COMPONENT),
        "spec": {
            "name": ctx.stream_name,
            "description": f"xagent {ctx.namespace}/{ctx.name}: jobs, results, dead letters",
            "subjects": [
                f"{ctx.subject_prefix}.>",
                *(t.subject for t in ctx.spec.triggers.subjects if t.stream is None),
            ],
            **_sources(ctx),
            "retention": "limits",
            "discard": "old",
            "maxAge": queue.max_age,
            "storage": queue.storage,
            "replicas": queue.replicas,
            "duplicateWindow": queue_defaults.DUPLICATE_WINDOW,
            "servers": [queue.url],
            **_account(ctx),
        },
    }


def _consumer(ctx: AgentContext) -> Manifest:
    queue = ctx.spec.queue
    return {
        "apiVersion": NACK_API_VERSION,
        "kind": "Consumer",
        "metadata": ctx.metadata(ctx.child("workers"), COMPONENT),
        "spec": {
            "durableName": ctx.consumer_name,
            "streamName": ctx.stream_name,
            "description": f"xagent {ctx.namespace}/{ctx.name} runtime workers",
            **_filter(ctx),
            "deliverPolicy": "all",
            "ackPolicy": "explicit",
            "ackWait": queue.ack_wait,
            "maxDeliver": queue.max_deliver,
            "maxAckPending": max_ack_pending(ctx),
            "replayPolicy": "instant",
            "servers": [queue.url],
            **_account(ctx),
        },
    }


def _account(ctx: AgentContext) -> Manifest:
    """``account``: the NACK Account holding NATS credentials (nats_auth.py), when any."""
    name = nats_auth.account_name(ctx)
    return {"account": name} if name else {}


def _sources(ctx: AgentContext) -> Manifest:
    sourced = [t for t in ctx.spec.triggers.subjects if t.stream is not None]
    if not sourced:
        return {}
    return {"sources": [{"name": t.stream, "filterSubject": t.subject} for t in sourced]}


def _filter(ctx: AgentContext) -> Manifest:
    jobs = subjects(ctx)["jobs"]
    extra = [t.subject for t in ctx.spec.triggers.subjects]
    # filterSubjects needs NATS 2.10; an agent without trigger subjects keeps filterSubject.
    return {"filterSubjects": [jobs, *extra]} if extra else {"filterSubject": jobs}


def _number(value: float) -> str:
    return str(int(value)) if value == int(value) else str(value)
