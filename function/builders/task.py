"""Task mode: one batch/v1 Job that runs the agent once (``spec.mode: task``, seed 003).

The Job's pod is the runtime pod (same image, env, mounts, ServiceAccount, security context
and labels, so the NetworkPolicies that admit the runtime to its database and cache admit
it) running ``xagent-runtime task`` (runtime/task.py) instead of the server: it answers
``spec.task.input`` once, keeps the run record in the agent's store and exits. It serves
nothing, so it has no ports and no probes. Task mode composes no Deployment, Service,
autoscaler, disruption budget, queue or monitoring (function/builders/__init__.py
``SERVICE_ONLY``); compose.py reads the Job and its pod into ``status.task``
(function/task_status.py).

A Job's pod template is immutable, so the template holds nothing that changes by itself (no
config checksum or secrets-version annotations: a task reads its credentials once), and
the Job is named, and keyed, by a digest of everything the pod runs with (the template and
the mounted files' content). A changed task or agent is a new Job, and the old one is
deleted as no longer desired, instead of an update the API server would refuse. The Job has
no ``ttlSecondsAfterFinished``: Crossplane would create it again, and the task would run
again.
"""

from __future__ import annotations

import json
import math

from contract.env import TASK_ENV
from contract.task import EXIT_BAD_CONFIG, EXIT_FAILED
from function import units
from function.builders import deployment
from function.builders.base import AgentContext, Desired, Manifest, env_var
from function.names import short_hash
from function.spec import AgentMode, TaskSpec

__all__ = ["KEY_PREFIX", "RUN_LABEL", "TASK_ARGS", "build", "task_key"]

KEY_PREFIX = "task-"
"""Composition keys of task Jobs: ``task-<run digest>``."""
COMPONENT = "task"
RUN_LABEL = "xagent.dev/task-run"
"""On the task's pods: the run digest, which the function asks Crossplane for pods by."""
TASK_ARGS = ["task"]
"""The image's entrypoint is ``python -m runtime``; this argument runs the agent once."""
_SERVER_ONLY = ("ports", "startupProbe", "livenessProbe", "readinessProbe")
"""A task serves no HTTP: probes on /health would only kill it."""


def task_key(desired: Desired) -> str | None:
    """The key of the task's Job among ``desired``, if one is composed."""
    return next((key for key in desired if key.startswith(KEY_PREFIX)), None)


def build(ctx: AgentContext) -> Desired:
    """The task's Job in task mode; nothing otherwise."""
    task = ctx.spec.task
    if ctx.spec.mode != AgentMode.TASK or task is None:
        return {}
    pod = _pod(ctx, task)
    labels = ctx.labels(deployment.COMPONENT)
    # Everything the pod runs with, and the mounted files' content, which it does not show.
    canonical = json.dumps(
        {"labels": labels, "pod": pod, "config": ctx.added_config()},
        sort_keys=True,
        separators=(",", ":"),
    )
    run = short_hash(canonical)
    labels = {**labels, RUN_LABEL: run}
    spec: Manifest = {
        "backoffLimit": task.retries,
        "activeDeadlineSeconds": max(1, math.ceil(units.duration_seconds(task.timeout))),
        # A run that ended with a result, or a bad configuration, fails the same way again;
        # only a retryable failure (a provider outage) is worth another pod. A node drain
        # is not the task's failure.
        "podFailurePolicy": {
            "rules": [
                {
                    "action": "FailJob",
                    "onExitCodes": {
                        "containerName": deployment.CONTAINER_NAME,
                        "operator": "In",
                        "values": [EXIT_FAILED, EXIT_BAD_CONFIG],
                    },
                },
                {
                    "action": "Ignore",
                    "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}],
                },
            ]
        },
        "template": {"metadata": {"labels": labels}, "spec": pod},
    }
    return {
        f"{KEY_PREFIX}{run}": {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": ctx.metadata(ctx.child("task", run), COMPONENT),
            "spec": spec,
        }
    }


def _pod(ctx: AgentContext, task: TaskSpec) -> Manifest:
    container = deployment.runtime_container(ctx)
    for field in _SERVER_ONLY:
        container.pop(field, None)
    container["args"] = TASK_ARGS
    container["env"] = [*container["env"], *_task_env(task)]
    # The summary status.task shows (runtime/task.py), also in `kubectl describe pod`.
    container["terminationMessagePolicy"] = "File"
    pod = deployment.runtime_pod(ctx, container)
    pod["restartPolicy"] = "Never"
    pod.pop("topologySpreadConstraints", None)  # one pod; no pod-template-hash to match
    return pod


def _task_env(task: TaskSpec) -> list[Manifest]:
    env: list[Manifest] = [
        env_var(TASK_ENV.INPUT, task.input),
        # The pod's own run label (set below): one run id for every pod of this Job.
        {
            "name": TASK_ENV.RUN,
            "valueFrom": {"fieldRef": {"fieldPath": f"metadata.labels['{RUN_LABEL}']"}},
        },
    ]
    if task.thread_id:
        env.append(env_var(TASK_ENV.THREAD_ID, task.thread_id))
    return env
