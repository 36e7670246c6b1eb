"""KEDA on JetStream lag, the CPU HPA, and the fallback between them."""

from __future__ import annotations

import pytest

from function.builders import autoscaler
from function.builders.autoscaler import monitoring_endpoint, warnings
from tests.function.factories import Case, case_ids, make_ctx, make_spec
from tests.function.schemas import assert_valid

BUILD_CASES = [
    Case(name="Keda", reason="KEDA with a queue: a ScaledObject.", args={}, want=["scaledobject"]),
    Case(
        name="KedaWithoutQueue",
        reason="No queue, no lag: a CPU HPA stands in.",
        args={"queue": {"engine": "none"}},
        want=["hpa"],
    ),
    Case(
        name="Hpa",
        reason="hpa: a CPU HPA.",
        args={"scaling": {"autoscaler": "hpa"}},
        want=["hpa"],
    ),
    Case(
        name="None",
        reason="none: nothing, the Deployment holds replicas.",
        args={"scaling": {"autoscaler": "none"}},
        want=[],
    ),
]


@pytest.mark.parametrize("case", BUILD_CASES, ids=case_ids(BUILD_CASES))
def test_build(case: Case) -> None:
    got = assert_valid(autoscaler.build(make_ctx(make_spec(**case.args))))
    assert sorted(got) == case.want, case.reason


def test_scaled_object() -> None:
    ctx = make_ctx(
        make_spec(
            queue={"url": "nats://nats.messaging.svc:4222", "stream": "JOBS"},
            scaling={
                "minReplicas": 0,
                "maxReplicas": 7,
                "lagThreshold": 3,
                "pollingInterval": 15,
                "cooldownPeriod": 120,
            },
        )
    )
    spec = autoscaler.build(ctx)["scaledobject"]["spec"]
    assert spec == {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "support-bot"},
        "minReplicaCount": 0,
        "maxReplicaCount": 7,
        "pollingInterval": 15,
        "cooldownPeriod": 120,
        "triggers": [
            {
                "type": "nats-jetstream",
                "name": "jobs-lag",
                "metadata": {
                    "natsServerMonitoringEndpoint": "nats.messaging.svc:8222",
                    "account": "$G",
                    "stream": "JOBS",
                    "consumer": ctx.consumer_name,
                    "lagThreshold": "3",
                },
            }
        ],
    }


def test_scaled_object_derived_names() -> None:
    ctx = make_ctx()
    metadata = autoscaler.build(ctx)["scaledobject"]["spec"]["triggers"][0]["metadata"]
    assert metadata["stream"] == ctx.stream_name
    assert metadata["consumer"] == ctx.consumer_name


HPA_CASES = [
    Case(
        name="Hpa",
        reason="CPU utilization target from the spec.",
        args={"scaling": {"autoscaler": "hpa", "minReplicas": 2, "targetCpuUtilization": 60}},
        want={"minReplicas": 2, "maxReplicas": 10, "averageUtilization": 60},
    ),
    Case(
        name="ZeroRaisedToOne",
        reason="An HPA cannot scale to zero.",
        args={"scaling": {"autoscaler": "hpa", "minReplicas": 0}},
        want={"minReplicas": 1, "maxReplicas": 10, "averageUtilization": 80},
    ),
    Case(
        name="Fallback",
        reason="The KEDA fallback uses the same HPA.",
        args={"queue": {"engine": "none"}, "scaling": {"maxReplicas": 4}},
        want={"minReplicas": 1, "maxReplicas": 4, "averageUtilization": 80},
    ),
]


@pytest.mark.parametrize("case", HPA_CASES, ids=case_ids(HPA_CASES))
def test_hpa(case: Case) -> None:
    hpa = autoscaler.build(make_ctx(make_spec(**case.args)))["hpa"]
    assert hpa["apiVersion"] == "autoscaling/v2"
    spec = hpa["spec"]
    assert spec["scaleTargetRef"]["name"] == "support-bot"
    got = {
        "minReplicas": spec["minReplicas"],
        "maxReplicas": spec["maxReplicas"],
        "averageUtilization": spec["metrics"][0]["resource"]["target"]["averageUtilization"],
    }
    assert got == case.want, case.reason
    assert spec["metrics"][0]["resource"]["name"] == "cpu"


ENDPOINT_CASES = [
    Case(
        name="Default",
        reason="The spec default NATS URL.",
        args={"url": "nats://nats.nats.svc.cluster.local:4222"},
        want="nats.nats.svc.cluster.local:8222",
    ),
    Case(
        name="Credentials",
        reason="User and password never reach the ScaledObject.",
        args={"url": "tls://user:secret@nats.example:4443"},
        want="nats.example:8222",
    ),
    Case(
        name="Cluster",
        reason="Several servers: the first one's host.",
        args={"url": "nats://a.nats:4222,nats://b.nats:4222"},
        want="a.nats:8222",
    ),
    Case(
        name="NoPort", reason="No port in the URL.", args={"url": "nats://nats"}, want="nats:8222"
    ),
    Case(
        name="IPv6",
        reason="An IPv6 literal keeps its brackets.",
        args={"url": "nats://[fd00::1]:4222"},
        want="[fd00::1]:8222",
    ),
]


@pytest.mark.parametrize("case", ENDPOINT_CASES, ids=case_ids(ENDPOINT_CASES))
def test_monitoring_endpoint(case: Case) -> None:
    assert monitoring_endpoint(case.args["url"]) == case.want, case.reason


WARNING_CASES = [
    Case(name="Keda", reason="Nothing to warn about.", args={}, want=[]),
    Case(
        name="KedaWithoutQueue",
        reason="The fallback is reported.",
        args={"queue": {"engine": "none"}},
        want=["spec.scaling.autoscaler is keda but spec.queue.engine is none"],
    ),
    Case(
        name="HpaFromZero",
        reason="minReplicas 0 raised to 1 is reported.",
        args={"scaling": {"autoscaler": "hpa", "minReplicas": 0}},
        want=["spec.scaling.minReplicas 0 is raised to 1"],
    ),
    Case(
        name="HpaWithoutCpuRequest",
        reason="An HPA on CPU needs a CPU request.",
        args={"scaling": {"autoscaler": "hpa"}, "resources": {"requests": {"memory": "1Gi"}}},
        want=["spec.resources.requests.cpu is unset"],
    ),
    Case(
        name="KedaZeroIsFine",
        reason="KEDA scales to zero.",
        args={"scaling": {"minReplicas": 0}},
        want=[],
    ),
]


@pytest.mark.parametrize("case", WARNING_CASES, ids=case_ids(WARNING_CASES))
def test_warnings(case: Case) -> None:
    got = warnings(make_ctx(make_spec(**case.args)))
    assert len(got) == len(case.want), (case.reason, got)
    for message, prefix in zip(got, case.want, strict=True):
        assert message.startswith(prefix), case.reason


def test_long_xr_name_fits() -> None:
    for spec in (make_spec(), make_spec(scaling={"autoscaler": "hpa"})):
        desired = assert_valid(autoscaler.build(make_ctx(spec, name="e" * 70)))
        for manifest in desired.values():
            assert len(manifest["metadata"]["name"]) <= 63
            assert manifest["spec"]["scaleTargetRef"]["name"] == manifest["metadata"]["name"]


def test_keda_monitoring_endpoint_and_account_from_spec() -> None:
    """A NATS with accounts, or monitoring elsewhere, is reachable through spec.queue."""
    ctx = make_ctx(
        make_spec(queue={"monitoringEndpoint": "nats-mon.nats.svc:8222", "account": "AGENTS"})
    )
    trigger = autoscaler.build(ctx)["scaledobject"]["spec"]["triggers"][0]["metadata"]
    assert trigger["natsServerMonitoringEndpoint"] == "nats-mon.nats.svc:8222"
    assert trigger["account"] == "AGENTS"
