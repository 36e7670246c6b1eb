"""The ordered registry of builders: one module per composed kind (or kind family).

fn.py walks BUILDERS in this order. A test fails when a module in this package is missing
from the registry, or when a builder emits a kind that readiness.py has no check for.
ADDITIONS collects, in the same order, what each module declares it adds to the runtime
(its ``RUNTIME``, base.RuntimeAdditions); contexts carry them to the Deployment builder.
In task mode (spec.mode task) the SERVICE_ONLY modules build nothing and add nothing: the
task's Job (task.py) replaces the long-running runtime and what serves, scales and feeds it.
"""

from __future__ import annotations

from types import ModuleType

from function.builders import (
    alerts,
    autoscaler,
    backup,
    cache,
    configmaps,
    dashboard,
    deployment,
    disruption,
    external_secrets,
    nats_auth,
    network_policy,
    postgres,
    queue,
    schedules,
    service,
    service_account,
    service_monitor,
    task,
)
from function.builders.base import AgentContext, Builder, Desired, Manifest, RuntimeAdditions
from function.spec import AgentMode, XAgentSpec

__all__ = [
    "ADDITIONS",
    "BUILDERS",
    "SERVICE_ONLY",
    "AgentContext",
    "Builder",
    "Desired",
    "Manifest",
    "RuntimeAdditions",
    "additions_for",
    "build_all",
]

_MODULES = (
    service_account,
    configmaps,
    external_secrets,
    postgres,
    backup,
    cache,
    nats_auth,
    queue,
    deployment,
    service,
    autoscaler,
    network_policy,
    disruption,
    service_monitor,
    alerts,
    dashboard,
    schedules,
    task,
)

SERVICE_ONLY = frozenset(
    {
        "deployment",
        "service",
        "autoscaler",
        "disruption",
        "queue",
        "nats_auth",
        "service_monitor",
        "alerts",
        "dashboard",
        "schedules",
    }
)
"""Modules of the long-running agent: a task's pod serves no API, reads no queue and is
not scraped, so task mode composes none of their objects and takes none of their env."""


def _name(module: ModuleType) -> str:
    return module.__name__.rpartition(".")[2]


BUILDERS: tuple[tuple[str, Builder], ...] = tuple(
    (_name(module), module.build) for module in _MODULES
)

ADDITIONS: tuple[RuntimeAdditions, ...] = tuple(
    module.RUNTIME for module in _MODULES if hasattr(module, "RUNTIME")
)


def _task_mode(spec: XAgentSpec) -> bool:
    return spec.mode == AgentMode.TASK


def additions_for(spec: XAgentSpec) -> tuple[RuntimeAdditions, ...]:
    """ADDITIONS, without the SERVICE_ONLY modules' in task mode."""
    if not _task_mode(spec):
        return ADDITIONS
    return tuple(
        module.RUNTIME
        for module in _MODULES
        if hasattr(module, "RUNTIME") and _name(module) not in SERVICE_ONLY
    )


def build_all(ctx: AgentContext) -> Desired:
    """Run every builder in order; a key emitted twice is a bug, not an override."""
    desired: Desired = {}
    skipped = SERVICE_ONLY if _task_mode(ctx.spec) else frozenset()
    for module, build in BUILDERS:
        if module in skipped:
            continue
        for key, manifest in build(ctx).items():
            if key in desired:
                raise RuntimeError(f"builder {module} emitted key {key!r} twice")
            desired[key] = manifest
    return desired
