"""Readiness verdicts: observed fixtures in observed/*.yaml, and the order check() applies."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from function import readiness
from function.readiness import CHECKS, Verdict, check

OBSERVED = Path(__file__).parent / "observed"


def observed(name: str) -> dict[str, Any]:
    """The observed object in ``observed/<name>.yaml``."""
    return yaml.safe_load((OBSERVED / f"{name}.yaml").read_text())


@dataclass(frozen=True)
class Case:
    name: str
    reason: str
    args: str
    """Fixture file stem."""
    want: tuple[bool, str]
    """(ready, reason) of the verdict."""


FIXTURE_CASES = [
    Case("CnpgHealthy", "Ready=True is ready", "cnpg-cluster-healthy", (True, "ClusterIsReady")),
    Case(
        "CnpgProvisioning",
        "initdb still running: the condition's reason explains it",
        "cnpg-cluster-provisioning",
        (False, "ClusterIsNotReady"),
    ),
    Case(
        "CnpgPhaseOnly",
        "no conditions at all: fall back to the healthy phase",
        "cnpg-cluster-phase-only",
        (True, "HealthyPhase"),
    ),
    Case("ExternalSecretSynced", "Ready=True", "externalsecret-synced", (True, "SecretSynced")),
    Case(
        "ExternalSecretSyncError",
        "a missing remote key surfaces ESO's own reason",
        "externalsecret-sync-error",
        (False, "SecretSyncedError"),
    ),
    Case(
        "DeploymentAvailable",
        "all replicas updated and available",
        "deployment-available",
        (True, "Available"),
    ),
    Case(
        "DeploymentRolling",
        "1/3 updated: old pods still serve but the rollout is not done",
        "deployment-rolling",
        (False, "RollingOut"),
    ),
    Case(
        "DeploymentAutoscaled",
        "spec.replicas absent (KEDA owns it): status.replicas is the desired count",
        "deployment-autoscaled",
        (True, "Available"),
    ),
    Case(
        "DeploymentStale",
        "observedGeneration behind generation: the status is of an older spec",
        "deployment-stale",
        (False, "NotReconciled"),
    ),
    Case(
        "DeploymentDeadlineExceeded",
        "a stuck rollout names the deadline, not just the replica counts",
        "deployment-deadline-exceeded",
        (False, "ProgressDeadlineExceeded"),
    ),
    Case(
        "DeploymentUnavailable",
        "updated but no pod ready",
        "deployment-unavailable",
        (False, "ReplicasUnavailable"),
    ),
    Case("DragonflyReady", "phase ready", "dragonfly-ready", (True, "Ready")),
    Case(
        "DragonflyConfiguring",
        "phase configuring-replication becomes a CamelCase reason",
        "dragonfly-configuring",
        (False, "ConfiguringReplication"),
    ),
    Case("DragonflyRolling", "ready but rolling", "dragonfly-rolling", (False, "RollingUpdate")),
    Case("StreamReady", "Ready=True", "nack-stream-ready", (True, "Created")),
    Case("StreamErrored", "NACK's Errored reason", "nack-stream-errored", (False, "Errored")),
    Case(
        "StreamStale",
        "Ready=True of an older generation is not trusted",
        "nack-stream-stale",
        (False, "NotReconciled"),
    ),
    Case("ConsumerReady", "Ready=True", "nack-consumer-ready", (True, "Created")),
    Case("ConsumerNoStream", "stream missing", "nack-consumer-no-stream", (False, "Errored")),
    Case(
        "ScaledObjectReady",
        "Ready=True while Active=False",
        "scaledobject-ready",
        (True, "ScaledObjectReady"),
    ),
    Case(
        "ScaledObjectCheckFailed",
        "KEDA's reason",
        "scaledobject-check-failed",
        (False, "ScaledObjectCheckFailed"),
    ),
    Case("HpaActive", "ScalingActive=True", "hpa-active", (True, "ValidMetricFound")),
    Case(
        "HpaMetricsMissing",
        "AbleToScale=True is enough: metrics are briefly missing after every rollout",
        "hpa-metrics-missing",
        (True, "SucceededGetScale"),
    ),
    Case(
        "HpaNoTarget",
        "AbleToScale=False is a real fault",
        "hpa-no-target",
        (False, "FailedGetScale"),
    ),
    Case("RoleReady", "Synced and Ready", "sql-role-ready", (True, "Available")),
    Case(
        "DatabaseCreating",
        "Synced, Ready=False Creating",
        "sql-database-creating",
        (False, "Creating"),
    ),
    Case(
        "DatabaseReconcileError",
        "Synced=False wins over a stale Ready=True",
        "sql-database-reconcile-error",
        (False, "ReconcileError"),
    ),
    Case(
        "LegacyDatabaseReady",
        "cluster-scoped group",
        "sql-legacy-database-ready",
        (True, "Available"),
    ),
    Case(
        "LoadBalancerPending",
        "no ingress yet",
        "service-loadbalancer-pending",
        (False, "LoadBalancerPending"),
    ),
    Case(
        "LoadBalancerReady",
        "ingress assigned",
        "service-loadbalancer-ready",
        (True, "LoadBalancerReady"),
    ),
    Case("ClusterIPService", "nothing to wait for", "service-clusterip", (True, "Exists")),
]


@pytest.mark.parametrize("case", FIXTURE_CASES, ids=[c.name for c in FIXTURE_CASES])
def test_fixture_verdicts(case: Case) -> None:
    got = check(observed(case.args))
    assert isinstance(got, Verdict), case.reason
    assert (got.ready, got.reason) == case.want, f"{case.reason}: got {got}"


def test_every_fixture_has_a_case() -> None:
    used = {c.args for c in FIXTURE_CASES}
    files = {p.stem for p in OBSERVED.glob("*.yaml")}
    assert files == used, "fixtures without a case (or cases without a fixture)"


def test_every_fixture_kind_has_a_check() -> None:
    for path in OBSERVED.glob("*.yaml"):
        obj = yaml.safe_load(path.read_text())
        assert (obj["apiVersion"], obj["kind"]) in CHECKS, path.name


ALWAYS_READY = [
    ("v1", "ServiceAccount"),
    ("v1", "ConfigMap"),
    ("v1", "Secret"),
    ("networking.k8s.io/v1", "NetworkPolicy"),
    ("policy/v1", "PodDisruptionBudget"),
    ("monitoring.coreos.com/v1", "ServiceMonitor"),
    ("monitoring.coreos.com/v1", "PrometheusRule"),
    ("generators.external-secrets.io/v1alpha1", "Password"),
    ("jetstream.nats.io/v1beta2", "Account"),
    ("batch/v1", "CronJob"),
]

EMITTED_KINDS = [
    *ALWAYS_READY,
    ("v1", "Service"),
    ("apps/v1", "Deployment"),
    ("autoscaling/v2", "HorizontalPodAutoscaler"),
    ("external-secrets.io/v1", "ExternalSecret"),
    ("postgresql.cnpg.io/v1", "Cluster"),
    ("postgresql.cnpg.io/v1", "ScheduledBackup"),
    ("postgresql.sql.m.crossplane.io/v1alpha1", "Database"),
    ("postgresql.sql.m.crossplane.io/v1alpha1", "Role"),
    ("postgresql.sql.crossplane.io/v1alpha1", "Database"),
    ("postgresql.sql.crossplane.io/v1alpha1", "Role"),
    ("dragonflydb.io/v1alpha1", "Dragonfly"),
    ("jetstream.nats.io/v1beta2", "Stream"),
    ("jetstream.nats.io/v1beta2", "Consumer"),
    ("keda.sh/v1alpha1", "ScaledObject"),
    ("batch/v1", "Job"),
]


def test_table_covers_the_composed_kinds() -> None:
    assert set(EMITTED_KINDS) == set(CHECKS)


def _bare(key: tuple[str, str], **extra: Any) -> dict[str, Any]:
    return {"apiVersion": key[0], "kind": key[1], "metadata": {"name": "x"}, **extra}


def _ids(keys: list[tuple[str, str]]) -> list[str]:
    return [f"{kind}.{api}" for api, kind in keys]


@pytest.mark.parametrize("key", ALWAYS_READY, ids=_ids(ALWAYS_READY))
def test_always_ready(key: tuple[str, str]) -> None:
    assert check(_bare(key)) == Verdict(True, readiness.EXISTS)


WITH_STATUS = [k for k in EMITTED_KINDS if k not in ALWAYS_READY and k != ("v1", "Service")]


@pytest.mark.parametrize("key", WITH_STATUS, ids=_ids(WITH_STATUS))
def test_missing_status_is_not_ready(key: tuple[str, str]) -> None:
    got = check(_bare(key))
    assert not got.ready, "a kind with a status is never ready before it has one"
    assert got.reason == readiness.NO_STATUS, got


MALFORMED = [
    {"status": "oops"},
    {"status": {"conditions": "oops"}},
    {"status": {"conditions": ["oops"]}},
    {"status": {"observedGeneration": "2"}, "metadata": {"generation": 3}},
]


@pytest.mark.parametrize("key", WITH_STATUS, ids=_ids(WITH_STATUS))
@pytest.mark.parametrize(
    "extra", MALFORMED, ids=["string", "conditionsString", "conditionItem", "generationType"]
)
def test_malformed_status_is_a_verdict(key: tuple[str, str], extra: dict[str, Any]) -> None:
    got = check(_bare(key, **extra))
    assert isinstance(got, Verdict)
    assert not got.ready, got


@dataclass(frozen=True)
class OrderCase:
    name: str
    reason: str
    args: dict[str, Any] | None
    want: Verdict


ORDER_CASES = [
    OrderCase(
        "None",
        "Crossplane has not observed it",
        None,
        Verdict(False, readiness.NOT_OBSERVED, "not observed yet"),
    ),
    OrderCase(
        "Empty",
        "an empty observed object is not observed",
        {},
        Verdict(False, readiness.NOT_OBSERVED, "not observed yet"),
    ),
    OrderCase(
        "UnknownKind",
        "no check: not ready, never guessed",
        {"apiVersion": "example.org/v1", "kind": "Widget", "status": {}},
        Verdict(False, readiness.NO_CHECK, "no readiness check for example.org/v1 Widget"),
    ),
    OrderCase(
        "UnknownVersion",
        "the key is (apiVersion, kind): another version of a known kind has no check",
        {"apiVersion": "external-secrets.io/v1beta1", "kind": "ExternalSecret"},
        Verdict(
            False,
            readiness.NO_CHECK,
            "no readiness check for external-secrets.io/v1beta1 ExternalSecret",
        ),
    ),
]


@pytest.mark.parametrize("case", ORDER_CASES, ids=[c.name for c in ORDER_CASES])
def test_check_order(case: OrderCase) -> None:
    assert check(case.args) == case.want, case.reason


def test_verdict_is_frozen() -> None:
    verdict = Verdict(True, "Exists")
    with pytest.raises(AttributeError):
        verdict.ready = False  # type: ignore[misc]
