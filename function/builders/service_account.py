"""The runtime's ServiceAccount: an identity for cloud IAM, not for the Kubernetes API."""

from __future__ import annotations

from function.builders.base import AgentContext, Desired

__all__ = ["KEY", "build"]

KEY = "service-account"
COMPONENT = "runtime"


def build(ctx: AgentContext) -> Desired:
    """A ServiceAccount carrying spec.serviceAccount.annotations (IRSA, workload identity).

    The runtime never calls the Kubernetes API, so no token is mounted: a compromised agent
    pod holds no credential for the cluster. Cloud identity webhooks project their own token.
    """
    annotations = dict(ctx.spec.service_account.annotations)
    extra = {"annotations": annotations} if annotations else {}
    return {
        KEY: {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": ctx.metadata(ctx.service_account_name, COMPONENT, **extra),
            "automountServiceAccountToken": False,
        }
    }
