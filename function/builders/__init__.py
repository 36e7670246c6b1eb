"""The ordered registry of builders: one module per composed kind (or kind family).

fn.py walks BUILDERS in this order. A test fails when a module in this package is missing
from the registry, or when a builder emits a kind that readiness.py has no check for.
ADDITIONS collects, in the same order, what each module declares it adds to the runtime
(its ``RUNTIME``, base.RuntimeAdditions); contexts carry them to the Deployment builder.
"""

from __future__ import annotations

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
)
from function.builders.base import AgentContext, Builder, Desired, Manifest, RuntimeAdditions

__all__ = [
    "ADDITIONS",
    "BUILDERS",
    "AgentContext",
    "Builder",
    "Desired",
    "Manifest",
    "RuntimeAdditions",
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
)

BUILDERS: tuple[tuple[str, Builder], ...] = tuple(
    (module.__name__.rpartition(".")[2], module.build) for module in _MODULES
)

ADDITIONS: tuple[RuntimeAdditions, ...] = tuple(
    module.RUNTIME for module in _MODULES if hasattr(module, "RUNTIME")
)


def build_all(ctx: AgentContext) -> Desired:
    """Run every builder in order; a key emitted twice is a bug, not an override."""
    desired: Desired = {}
    for module, build in BUILDERS:
        for key, manifest in build(ctx).items():
            if key in desired:
                raise RuntimeError(f"builder {module} emitted key {key!r} twice")
            desired[key] = manifest
    return desired
