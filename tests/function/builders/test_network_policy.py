"""The runtime's ingress NetworkPolicy."""

from __future__ import annotations

import pytest

from function.builders import cache, deployment, network_policy
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
        assert got == {}, case.reason
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
    assert list(network_policy.build(make_ctx(spec))) == [network_policy.CACHE_KEY]
