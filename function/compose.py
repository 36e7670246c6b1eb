"""From a validated XAgent to an Outcome: desired resources, readiness, conditions, status.

Pure: no protobuf until `apply`, so every decision is testable on plain data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from crossplane.function import response
from crossplane.function.proto.v1 import run_function_pb2 as fnv1
from crossplane.function.resource import Condition

from function import _struct, conditions, observed, policy, readiness, rotation
from function.builders import ADDITIONS, AgentContext, Desired, build_all, external_secrets
from function.builders import queue as queue_builder
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
        additions=ADDITIONS,
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
        "serviceEndpoint": f"http://{ctx.service_host}",
        "resolvedModel": resolved_model,
        "definitionId": ctx.definition_id,
        "definitionChecksum": ctx.definition_checksum,
    }
    if spec.queue.engine == QueueEngine.NATS:
        subjects = queue_builder.subjects(ctx)
        status["queueSubject"] = subjects["jobs"]
        status["resultsSubject"] = subjects["results"]
    return Outcome(
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
    response.set_conditions(rsp, *outcome.conditions)
    for text in outcome.warnings:
        response.warning(rsp, text)
    if outcome.fatal:
        response.fatal(rsp, outcome.fatal)
