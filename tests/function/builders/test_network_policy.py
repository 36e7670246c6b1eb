"""The runtime's ingress NetworkPolicy."""

from __future__ import annotations

import pytest

from function.builders import cache, deployment, network_policy, postgres
from function.input import NetworkPolicyRules, Policy
from tests.function.factories import Case, case_ids, make_ctx, make_spec
from tests.function.schemas import assert_valid

CASES = [
    Case(
        name="OwnNamespace",
        reason="By default only pods of the agent's namespace may connect.",
        args={},
        want=[{"podSelector": {}}],
    ),
    Case(
        name="ListedNamespaces",
        reason="Listed namespaces are selected by their immutable name label.",
        args={"networkPolicy": {"ingressNamespaces": ["monitoring", "gateway", "agents"]}},
        want=[
            {"podSelector": {}},
            {
                "namespaceSelector": {
                    "matchExpressions": [
                        {
                            "key": "kubernetes.io/metadata.name",
                            "operator": "In",
                            "values": ["gateway", "monitoring"],
                        }
                    ]
                }
            },
        ],
    ),
    Case(
        name="Disabled",
        reason="No policy when disabled.",
        args={"networkPolicy": {"enabled": False}},
        want=None,
    ),
]


@pytest.mark.parametrize("case", CASES, ids=case_ids(CASES))
def test_build(case: Case) -> None:
    ctx = make_ctx(make_spec(**case.args))
    got = assert_valid(network_policy.build(ctx))
    if case.want is None:
        assert network_policy.KEY not in got, case.reason
        return
    spec = got["networkpolicy"]["spec"]
    assert spec == {
        "podSelector": {"matchLabels": ctx.selector_labels()},
        "policyTypes": ["Ingress"],
        "ingress": [{"from": case.want, "ports": [{"protocol": "TCP", "port": "http"}]}],
    }, case.reason


def test_selects_the_runtime_pods() -> None:
    ctx = make_ctx()
    selector = network_policy.build(ctx)["networkpolicy"]["spec"]["podSelector"]["matchLabels"]
    labels = deployment.build(ctx)["deployment"]["spec"]["template"]["metadata"]["labels"]
    assert labels.items() >= selector.items()


def test_long_xr_name_fits() -> None:
    got = assert_valid(network_policy.build(make_ctx(name="f" * 70)))["networkpolicy"]
    assert len(got["metadata"]["name"]) <= 63


def test_redis_cache_admits_only_the_agents_runtime() -> None:
    ctx = make_ctx(make_spec(persistence={"cache": {"engine": "redis"}}))
    desired = network_policy.build(ctx)
    cache_pods = cache.build(ctx)["cache"]["spec"]["selector"]["matchLabels"]
    policy = desired[network_policy.CACHE_KEY]["spec"]
    assert policy["podSelector"] == {"matchLabels": cache_pods}
    assert policy["policyTypes"] == ["Ingress"]
    (rule,) = policy["ingress"]
    assert rule["from"] == [{"podSelector": {"matchLabels": ctx.selector_labels()}}]
    assert rule["ports"] == [{"protocol": "TCP", "port": cache.REDIS_PORT}]


def test_cache_policy_stays_when_the_runtime_policy_is_off() -> None:
    spec = make_spec(persistence={"cache": {"engine": "redis"}}, networkPolicy={"enabled": False})
    assert network_policy.KEY not in network_policy.build(make_ctx(spec))
    assert network_policy.CACHE_KEY in network_policy.build(make_ctx(spec))


def _ports(rule: dict) -> set[int]:
    return {p["port"] for p in rule.get("ports", [])}


def _admitted(policy: dict, peer: dict) -> set[int] | None:
    """Ports on which ``peer`` (a peer entry, exactly) is admitted; None when not at all,
    an empty set when on every port."""
    out: set[int] | None = None
    for rule in policy["spec"]["ingress"]:
        if peer in rule.get("from", []):
            out = (out or set()) | _ports(rule)
            if not rule.get("ports"):
                return set()
    return out


def test_dragonfly_admits_the_runtime_and_the_operator_only() -> None:
    """The operator's own policy admits every pod of the namespace on 6379, and its admin
    port takes no password: ours admits the runtime on 6379, the operator and the instances
    on 9999, and the operator's policy is turned off (NetworkPolicies add up)."""
    ctx = make_ctx(make_spec(persistence={"cache": {"engine": "dragonfly"}}))
    desired = assert_valid(network_policy.build(ctx))
    policy = desired[network_policy.CACHE_KEY]
    instances = cache.dragonfly_selector(ctx)
    assert policy["spec"]["podSelector"] == {"matchLabels": instances}
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    runtime = {"podSelector": {"matchLabels": ctx.selector_labels()}}
    operator = {
        "namespaceSelector": {
            "matchLabels": {"kubernetes.io/metadata.name": "dragonfly-operator-system"}
        },
        "podSelector": {"matchLabels": {"control-plane": "controller-manager"}},
    }
    assert _admitted(policy, runtime) == {6379}
    assert _admitted(policy, operator) == {9999}
    assert _admitted(policy, {"podSelector": {"matchLabels": instances}}) == {9999}
    assert len(policy["spec"]["ingress"]) == 2, "nothing else is admitted"
    assert cache.build(ctx)["cache"]["spec"]["networkPolicyEnabled"] is False


def test_dragonfly_selector_is_the_operators_pod_selector() -> None:
    """dragonfly-operator v1.6.1 selects its StatefulSet's pods by app, part-of and name."""
    ctx = make_ctx(make_spec(persistence={"cache": {"engine": "dragonfly"}}))
    name = cache.cache_name(ctx)
    assert cache.dragonfly_selector(ctx) == {
        "app": name,
        "app.kubernetes.io/part-of": "dragonfly",
        "app.kubernetes.io/name": "dragonfly",
    }


def test_cnpg_admits_the_runtime_the_operator_and_its_own_instances() -> None:
    ctx = make_ctx(make_spec(persistence={"database": {"engine": "cnpg"}}))
    desired = assert_valid(network_policy.build(ctx))
    policy = desired[network_policy.DATABASE_KEY]
    cluster = {"cnpg.io/cluster": postgres.cluster_name(ctx)}
    assert policy["spec"]["podSelector"] == {"matchLabels": cluster}
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    runtime = {"podSelector": {"matchLabels": ctx.selector_labels()}}
    operator = {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "cnpg-system"}},
        "podSelector": {"matchLabels": {"app.kubernetes.io/name": "cloudnative-pg"}},
    }
    assert _admitted(policy, runtime) == {5432}
    assert _admitted(policy, operator) == {5432, 8000}
    # Streaming replication and joins: instances reach each other on any port.
    assert _admitted(policy, {"podSelector": {"matchLabels": cluster}}) == set()
    assert len(policy["spec"]["ingress"]) == 3, "nothing else is admitted"


def test_operator_namespaces_come_from_the_platform_policy() -> None:
    spec = make_spec(persistence={"database": {"engine": "cnpg"}, "cache": {"engine": "dragonfly"}})
    rules = NetworkPolicyRules(cnpgOperatorNamespace="pg-ops", dragonflyOperatorNamespace="df-ops")
    desired = network_policy.build(make_ctx(spec, policy=Policy(networkPolicy=rules)))
    namespaces = {
        key: [
            peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
            for rule in desired[key]["spec"]["ingress"]
            for peer in rule["from"]
            if "namespaceSelector" in peer
        ]
        for key in (network_policy.CACHE_KEY, network_policy.DATABASE_KEY)
    }
    assert namespaces == {
        network_policy.CACHE_KEY: ["df-ops"],
        network_policy.DATABASE_KEY: ["pg-ops"],
    }


@pytest.mark.parametrize(
    ("database", "cache_engine"),
    [("sql", "external"), ("external", "none"), ("none", "none")],
)
def test_no_data_policy_for_what_is_not_composed(database: str, cache_engine: str) -> None:
    persistence: dict = {"database": {"engine": database}, "cache": {"engine": cache_engine}}
    for part, engine in (("database", database), ("cache", cache_engine)):
        if engine == "external":
            persistence[part]["external"] = {"secretName": "ext"}
    desired = network_policy.build(make_ctx(make_spec(persistence=persistence)))
    assert list(desired) == [network_policy.KEY]


def test_data_policies_stay_when_the_runtime_policy_is_off() -> None:
    """A tenant cannot open its cache or database by turning spec.networkPolicy off."""
    spec = make_spec(
        persistence={"database": {"engine": "cnpg"}, "cache": {"engine": "dragonfly"}},
        networkPolicy={"enabled": False},
    )
    assert set(network_policy.build(make_ctx(spec))) == {
        network_policy.CACHE_KEY,
        network_policy.DATABASE_KEY,
    }
