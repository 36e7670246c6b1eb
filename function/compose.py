"""From a validated XAgent to an Outcome: desired resources, readiness, conditions, status.

Pure: no protobuf until `apply`, so every decision is testable on plain data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from crossplane.function import response
from crossplane.function.proto.v1 import run_function_pb2 as fnv1
from crossplane.function.resource import Condition

from function import _struct, conditions, observed, policy, readiness, rotation, task_status
from function.builders import AgentContext, Desired, additions_for, build_all, external_secrets
from function.builders import queue as queue_builder
from function.builders import task as task_builder
from function.definition_source import Resolution
from function.input import Policy
from function.spec import QueueEngine, XAgentSpec

__all__ = ["Outcome", "apply", "compose"]


class Phase:
    """status.phase values."""

    PENDING = "Pending"
    PROVISIONING = "Provisioning"
    READY = "Ready"
    FAILED = "Failed"


@dataclass
class Outcome:
    """Everything the function answers, before it becomes a protobuf response."""

    desired: Desired
    ready: dict[str, bool]
    conditions: list[Condition]
    status: dict[str, Any]
    warnings: list[str] = field(default_factory=list)
    fatal: str | None = None
    requirements: dict[str, tuple[str, str]] = field(default_factory=dict)
    """Secrets to fetch: required-resources entry -> (namespace, name) (rotation.py)."""
    pod_requirements: dict[str, tuple[str, dict[str, str]]] = field(default_factory=dict)
    """Pods to fetch: required-resources entry -> (namespace, labels) (task_status.py)."""
    xr_ready: bool | None = None
    """False holds the XR not Ready even when every composed resource is (or none is)."""


def compose(
    name: str,
    namespace: str,
    spec: XAgentSpec,
    resolution: Resolution,
    platform_policy: Policy,
    observed_resources: dict[str, dict[str, Any]],
    required: dict[str, list[dict[str, Any]]] | None = None,
) -> Outcome:
    """Decide the desired state of one XAgent."""
    resolved_model = f"{spec.model.provider}/{spec.model.name}"
    if resolution.definition is None:
        kept = observed.carry_forward(observed_resources)
        return Outcome(
            desired=kept,
            ready={k: readiness.check(observed_resources.get(k)).ready for k in kept},
            conditions=[resolution.condition, conditions.runtime_ready(None)],
            status={"phase": Phase.PENDING, "resolvedModel": resolved_model},
            xr_ready=False,
        )
    ctx = AgentContext(
        name=name,
        namespace=namespace,
        spec=spec,
        definition=resolution.definition,
        definition_id=resolution.definition_id or name,
        definition_checksum=resolution.checksum or "",
        additions=additions_for(spec),
        policy=platform_policy,
        observed=observed_resources,
        required=required or {},
    )
    violations = [
        *policy.check(
            spec, resolution.definition, platform_policy, resolution.path, namespace=namespace
        ),
        *policy.env_violations(ctx),
        *policy.named_secret_violations(ctx),
        *policy.trigger_violations(ctx),
    ]
    if violations:
        texts = policy.lines(violations)
        return Outcome(
            desired={},
            ready={},
            conditions=[
                resolution.condition,
                conditions.policy_violated(texts),
                conditions.runtime_ready(None),
            ],
            status={"phase": Phase.FAILED, "resolvedModel": resolved_model},
            fatal="policy violation:\n" + "\n".join(f"- {text}" for text in texts),
        )
    desired = build_all(ctx)
    verdicts = {k: readiness.check(observed_resources.get(k)) for k in desired}
    secrets = {k: verdicts[k] for k in external_secrets.external_secret_keys(desired)}
    status: dict[str, Any] = {
        "phase": Phase.READY if all(v.ready for v in verdicts.values()) else Phase.PROVISIONING,
        "resolvedModel": resolved_model,
        "definitionId": ctx.definition_id,
        "definitionChecksum": ctx.definition_checksum,
    }
    outcome = Outcome(
        desired=desired,
        ready={k: v.ready for k, v in verdicts.items()},
        conditions=[
            resolution.condition,
            conditions.policy_compliant(),
            conditions.secrets_ready(secrets),
            conditions.runtime_ready(verdicts.get("deployment")),
        ],
        status=status,
        requirements={k: (namespace, v) for k, v in rotation.requirements(ctx).items()},
        warnings=[*_ungranted_tools(ctx), *ctx.added_warnings()],
    )
    task_key = task_builder.task_key(desired)
    if task_key is not None:
        _task_outcome(outcome, ctx, task_key, verdicts[task_key])
        return outcome
    status["serviceEndpoint"] = f"http://{ctx.service_host}"
    if spec.queue.engine == QueueEngine.NATS:
        subjects = queue_builder.subjects(ctx)
        status["queueSubject"] = subjects["jobs"]
        status["resultsSubject"] = subjects["results"]
    return outcome


def _task_outcome(
    outcome: Outcome, ctx: AgentContext, key: str, verdict: readiness.Verdict
) -> None:
    """Task mode: the Job's readiness, status.task, and a request for the Job's pods."""
    job = outcome.desired[key]
    labels = job["spec"]["template"]["metadata"]["labels"]
    run_labels = {
        name: labels[name] for name in ("app.kubernetes.io/instance", task_builder.RUN_LABEL)
    }
    task = task_status.status(
        job["metadata"]["name"],
        ctx.observed.get(key),
        ctx.required.get(task_status.PODS_REQUIREMENT) or [],
    )
    outcome.status["task"] = task
    failed = task.get("phase") == task_status.Phase.FAILED
    if failed:
        outcome.status["phase"] = Phase.FAILED
    outcome.conditions = [
        conditions.task_ready(verdict, failed) if c.typ == conditions.RUNTIME_READY else c
        for c in outcome.conditions
    ]
    outcome.pod_requirements[task_status.PODS_REQUIREMENT] = (ctx.namespace, run_labels)


def _ungranted_tools(ctx: AgentContext) -> list[str]:
    granted = {t.name for t in ctx.spec.tools.allowed}
    return [
        f"spec.tools.allowed: tool {tool!r} is used by the definition but not granted; the "
        "runtime will not bind it"
        for tool in sorted(ctx.definition.tool_names() - granted)
    ]


def apply(outcome: Outcome, rsp: fnv1.RunFunctionResponse) -> None:
    """Write an Outcome into the gRPC response."""
    for key, manifest in outcome.desired.items():
        _struct.update(rsp.desired.resources[key].resource, manifest)
        rsp.desired.resources[key].ready = (
            fnv1.READY_TRUE if outcome.ready.get(key) else fnv1.READY_FALSE
        )
    _struct.update(rsp.desired.composite.resource, {"status": outcome.status})
    if outcome.xr_ready is False:
        rsp.desired.composite.ready = fnv1.READY_FALSE
    for entry, (namespace, secret) in outcome.requirements.items():
        response.require_resources(
            rsp, entry, "v1", "Secret", match_name=secret, namespace=namespace
        )
    for entry, (namespace, labels) in outcome.pod_requirements.items():
        response.require_resources(
            rsp, entry, "v1", "Pod", match_labels=labels, namespace=namespace
        )
    response.set_conditions(rsp, *outcome.conditions)
    for text in outcome.warnings:
        response.warning(rsp, text)
    if outcome.fatal:
        response.fatal(rsp, outcome.fatal)
