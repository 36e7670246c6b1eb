"""Who may reach the runtime pods: their own namespace and the namespaces listed in
spec.networkPolicy.ingressNamespaces, on the http port only.

Only ingress is restricted. The runtime's egress goes to LLM APIs on the internet whose
addresses change and cannot be named by a NetworkPolicy (no FQDN rules), plus Postgres,
Redis, NATS and tool endpoints that may live anywhere; an egress policy that allowed all of
that would allow nearly everything. Restrict egress with a CNI that supports FQDN rules.

Anything outside the namespace that must reach the pods needs its namespace listed, e.g.
Prometheus for the ServiceMonitor's scrapes. KEDA does not: it asks NATS, not the pods.

The agent's own cache and database pods get a policy always, whatever spec.networkPolicy
says (a tenant cannot open them): only the agent's runtime pods reach them on the client
port, plus what their operators need, from the operator namespaces the platform's policy
input names (policy.networkPolicy.cnpgOperatorNamespace, dragonflyOperatorNamespace):

* redis: the runtime on 6379.
* dragonfly: the runtime on 6379; the operator and the instances themselves on the admin
  port 9999, which takes no password (replication and role changes go through it).
* cnpg: the runtime on 5432; the operator on 5432 and 8000 (the instance manager); the
  instances (and CNPG's join and backup jobs, which carry the same label) to each other on
  any port, for streaming replication (CloudNativePG "Networking").
"""

from __future__ import annotations

from contract.defaults import POSTGRES_PORT
from function.builders import cache, postgres
from function.builders.base import AgentContext, Desired, Manifest
from function.builders.service import PORT_NAME
from function.spec import CacheEngine, DatabaseEngine

__all__ = [
    "CACHE_KEY",
    "CNPG_CLUSTER_LABEL",
    "CNPG_INSTANCE_MANAGER_PORT",
    "DATABASE_KEY",
    "KEY",
    "NAMESPACE_NAME_LABEL",
    "POSTGRES_PORT",
    "build",
]

KEY = "networkpolicy"
CACHE_KEY = "networkpolicy-cache"
DATABASE_KEY = "networkpolicy-database"
CNPG_INSTANCE_MANAGER_PORT = 8000
CNPG_CLUSTER_LABEL = "cnpg.io/cluster"
"""Set by CNPG on every pod of a Cluster, its instances and its jobs."""
CNPG_OPERATOR_LABELS = {"app.kubernetes.io/name": "cloudnative-pg"}
"""The operator's pods, in its manifests and its Helm chart alike."""
DRAGONFLY_OPERATOR_LABELS = {"control-plane": "controller-manager"}
"""The Dragonfly operator's pods (the label its own NetworkPolicy admits)."""
COMPONENT = "runtime"
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"
"""Set by the API server on every namespace (1.22+), so it cannot be forged by a tenant."""


def build(ctx: AgentContext) -> Desired:
    """The runtime's ingress policy (when spec.networkPolicy.enabled) and the cache's."""
    return {**_runtime(ctx), **_cache(ctx), **_database(ctx)}


def _cache(ctx: AgentContext) -> Desired:
    """Only the agent's own runtime pods reach the cache it composes (always)."""
    engine = ctx.spec.persistence.cache.engine
    runtime = _rule([_pods(ctx.selector_labels())], [cache.REDIS_PORT])
    if engine == CacheEngine.REDIS:
        pods, rules = cache.selector(ctx), [runtime]
    elif engine == CacheEngine.DRAGONFLY:
        pods = cache.dragonfly_selector(ctx)
        operator = _operator(
            ctx.policy.network_policy.dragonfly_operator_namespace, DRAGONFLY_OPERATOR_LABELS
        )
        rules = [runtime, _rule([operator, _pods(pods)], [cache.DRAGONFLY_ADMIN_PORT])]
    else:
        return {}
    return {CACHE_KEY: _policy(ctx, cache.cache_name(ctx), cache.COMPONENT, pods, rules)}


def _database(ctx: AgentContext) -> Desired:
    """Only the agent's runtime, the CNPG operator and the instances reach a CNPG Cluster."""
    if ctx.spec.persistence.database.engine != DatabaseEngine.CNPG:
        return {}
    name = postgres.cluster_name(ctx)
    pods = {CNPG_CLUSTER_LABEL: name}
    operator = _operator(ctx.policy.network_policy.cnpg_operator_namespace, CNPG_OPERATOR_LABELS)
    rules = [
        _rule([_pods(ctx.selector_labels())], [POSTGRES_PORT]),
        _rule([operator], [POSTGRES_PORT, CNPG_INSTANCE_MANAGER_PORT]),
        {"from": [_pods(pods)]},
    ]
    return {DATABASE_KEY: _policy(ctx, name, postgres.COMPONENT, pods, rules)}


def _policy(
    ctx: AgentContext, name: str, component: str, pods: dict[str, str], rules: list[Manifest]
) -> Manifest:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": ctx.metadata(name, component),
        "spec": {
            "podSelector": {"matchLabels": dict(pods)},
            "policyTypes": ["Ingress"],
            "ingress": rules,
        },
    }


def _rule(peers: list[Manifest], ports: list[int]) -> Manifest:
    return {"from": peers, "ports": [{"protocol": "TCP", "port": port} for port in ports]}


def _pods(labels: dict[str, str]) -> Manifest:
    """Pods of the XAgent's namespace with these labels."""
    return {"podSelector": {"matchLabels": dict(labels)}}


def _operator(namespace: str, labels: dict[str, str]) -> Manifest:
    """An operator's pods in its namespace, selected by the namespace's immutable name label."""
    return {
        "namespaceSelector": {"matchLabels": {NAMESPACE_NAME_LABEL: namespace}},
        "podSelector": {"matchLabels": dict(labels)},
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
