"""The runtime's PodDisruptionBudget: voluntary evictions (node drains, upgrades) take at
most spec.disruption.maxUnavailable pods at a time.

It is composed only when the agent can run more than one replica. With one replica a budget
protects nothing (the pod goes whatever the budget says, or the drain stalls), and while
that pod is not ready a budget leaves no disruption allowed, so the drain blocks until an
operator steps in.
"""

from __future__ import annotations

from function.builders.base import AgentContext, Desired

__all__ = ["KEY", "build"]

KEY = "pdb"
COMPONENT = "runtime"


def build(ctx: AgentContext) -> Desired:
    """A PodDisruptionBudget when enabled and more than one replica is possible."""
    disruption = ctx.spec.disruption
    if not disruption.enabled or ctx.most_replicas() <= 1:
        return {}
    return {
        KEY: {
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": ctx.metadata(ctx.deployment_name, COMPONENT),
            "spec": {
                "maxUnavailable": disruption.max_unavailable,
                "selector": {"matchLabels": ctx.selector_labels()},
                # A crash-looping pod serves nothing; never let it block a drain.
                "unhealthyPodEvictionPolicy": "AlwaysAllow",
            },
        }
    }
