"""The runtime's PodDisruptionBudget, only where more than one replica is possible."""

from __future__ import annotations

import pytest

from function.builders import deployment, disruption
from tests.function.factories import Case, case_ids, make_ctx, make_spec
from tests.function.schemas import assert_valid

CASES = [
    Case(
        name="KedaCanScaleOut",
        reason="An autoscaler with maxReplicas > 1 can run several pods.",
        args={"scaling": {"autoscaler": "keda", "minReplicas": 1, "maxReplicas": 10}},
        want=1,
    ),
    Case(
        name="HpaOfTwo",
        reason="An HPA capped at two still runs two.",
        args={"scaling": {"autoscaler": "hpa", "minReplicas": 1, "maxReplicas": 2}},
        want=1,
    ),
    Case(
        name="AutoscalerCappedAtOne",
        reason="maxReplicas 1: a single pod, no budget.",
        args={"scaling": {"autoscaler": "keda", "minReplicas": 1, "maxReplicas": 1}},
        want=None,
    ),
    Case(
        name="FixedOne",
        reason="One fixed replica: a budget would only stall drains.",
        args={"scaling": {"autoscaler": "none", "minReplicas": 1}},
        want=None,
    ),
    Case(
        name="FixedThree",
        reason="Three fixed replicas: a budget.",
        args={
            "scaling": {"autoscaler": "none", "minReplicas": 3},
            "disruption": {"maxUnavailable": 2},
        },
        want=2,
    ),
    Case(
        name="FixedThreeMaxIgnored",
        reason="Without an autoscaler maxReplicas is not the ceiling; minReplicas is.",
        args={"scaling": {"autoscaler": "none", "minReplicas": 1, "maxReplicas": 5}},
        want=None,
    ),
    Case(
        name="Disabled",
        reason="No budget when disabled.",
        args={"disruption": {"enabled": False}},
        want=None,
    ),
]


@pytest.mark.parametrize("case", CASES, ids=case_ids(CASES))
def test_build(case: Case) -> None:
    ctx = make_ctx(make_spec(**case.args))
    got = assert_valid(disruption.build(ctx))
    if case.want is None:
        assert got == {}, case.reason
        return
    assert got["pdb"]["spec"] == {
        "maxUnavailable": case.want,
        "selector": {"matchLabels": ctx.selector_labels()},
        "unhealthyPodEvictionPolicy": "AlwaysAllow",
    }, case.reason


def test_selects_the_runtime_pods() -> None:
    ctx = make_ctx()
    selector = disruption.build(ctx)["pdb"]["spec"]["selector"]["matchLabels"]
    labels = deployment.build(ctx)["deployment"]["spec"]["template"]["metadata"]["labels"]
    assert labels.items() >= selector.items()


def test_long_xr_name_fits() -> None:
    got = assert_valid(disruption.build(make_ctx(name="g" * 70)))["pdb"]
    assert len(got["metadata"]["name"]) <= 63
