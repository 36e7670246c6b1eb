"""Who may reach the runtime pods: their own namespace and the namespaces listed in
spec.networkPolicy.ingressNamespaces, on the http port only.

Only ingress is restricted. The runtime's egress goes to LLM APIs on the internet whose
addresses change and cannot be named by a NetworkPolicy (no FQDN rules), plus Postgres,
Redis, NATS and tool endpoints that may live anywhere; an egress policy that allowed all of
that would allow nearly everything. Restrict egress with a CNI that supports FQDN rules.

Anything outside the namespace that must reach the pods needs its namespace listed, e.g.
Prometheus for the ServiceMonitor's scrapes. KEDA does not: it asks NATS, not the pods.
"""

from __future__ import annotations

from function.builders import cache
from function.builders.base import AgentContext, Desired, Manifest
from function.builders.service import PORT_NAME
from function.spec import CacheEngine

__all__ = ["CACHE_KEY", "KEY", "NAMESPACE_NAME_LABEL", "build"]

KEY = "networkpolicy"
CACHE_KEY = "networkpolicy-cache"
COMPONENT = "runtime"
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"
"""Set by the API server on every namespace (1.22+), so it cannot be forged by a tenant."""


def build(ctx: AgentContext) -> Desired:
    """The runtime's ingress policy (when spec.networkPolicy.enabled) and the cache's."""
    return {**_runtime(ctx), **_cache(ctx)}


def _cache(ctx: AgentContext) -> Desired:
    """Only the agent's own runtime pods reach the redis engine it composes (always)."""
    if ctx.spec.persistence.cache.engine != CacheEngine.REDIS:
        return {}
    return {
        CACHE_KEY: {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": ctx.metadata(cache.cache_name(ctx), cache.COMPONENT),
            "spec": {
                "podSelector": {"matchLabels": cache.selector(ctx)},
                "policyTypes": ["Ingress"],
                "ingress": [
                    {
                        "from": [{"podSelector": {"matchLabels": ctx.selector_labels()}}],
                        "ports": [{"protocol": "TCP", "port": cache.REDIS_PORT}],
                    }
                ],
            },
        }
    }


def _runtime(ctx: AgentContext) -> Desired:
    policy = ctx.spec.network_policy
    if not policy.enabled:
        return {}
    # An empty podSelector without a namespaceSelector: every pod of this namespace.
    peers: list[Manifest] = [{"podSelector": {}}]
    namespaces = sorted(set(policy.ingress_namespaces) - {ctx.namespace})
    if namespaces:
        peers.append(
            {
                "namespaceSelector": {
                    "matchExpressions": [
                        {"key": NAMESPACE_NAME_LABEL, "operator": "In", "values": namespaces}
                    ]
                }
            }
        )
    return {
        KEY: {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": ctx.metadata(ctx.deployment_name, COMPONENT),
            "spec": {
                "podSelector": {"matchLabels": ctx.selector_labels()},
                "policyTypes": ["Ingress"],
                "ingress": [{"from": peers, "ports": [{"protocol": "TCP", "port": PORT_NAME}]}],
            },
        }
    }
