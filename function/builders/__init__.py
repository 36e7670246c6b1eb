"""The ordered registry of builders: one module per composed kind (or kind family).

fn.py walks BUILDERS in this order. A test fails when a module in this package is missing
from the registry, or when a builder emits a kind that readiness.py has no check for.
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
    network_policy,
    postgres,
    queue,
    service,
    service_account,
    service_monitor,
)
from function.builders.base import AgentContext, Builder, Desired, Manifest

__all__ = ["BUILDERS", "AgentContext", "Builder", "Desired", "Manifest", "build_all"]

BUILDERS: tuple[tuple[str, Builder], ...] = (
    ("service_account", service_account.build),
    ("configmaps", configmaps.build),
    ("external_secrets", external_secrets.build),
    ("postgres", postgres.build),
    ("backup", backup.build),
    ("cache", cache.build),
    ("queue", queue.build),
    ("deployment", deployment.build),
    ("service", service.build),
    ("autoscaler", autoscaler.build),
    ("network_policy", network_policy.build),
    ("disruption", disruption.build),
    ("service_monitor", service_monitor.build),
    ("alerts", alerts.build),
    ("dashboard", dashboard.build),
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
