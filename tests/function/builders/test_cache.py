"""The cache builder: one case per engine, its resources, fields and runtime env."""

from __future__ import annotations

import operator
from dataclasses import dataclass, field
from functools import reduce
from typing import Any

import pytest

from function.builders import cache
from function.readiness import CHECKS
from runtime.contract import CACHE_ENV
from tests.function.factories import make_ctx, make_spec
from tests.function.schemas import validate_manifest

HOST = "support-bot-cache.agents.svc.cluster.local"
IN_CLUSTER_ENV = [
    {"name": CACHE_ENV.HOST, "value": HOST},
    {"name": CACHE_ENV.PORT, "value": "6379"},
]
CONTAINER = ("cache", "spec", "template", "spec", "containers", 0)
POD = ("cache", "spec", "template", "spec")


@dataclass(frozen=True)
class Want:
    kinds: dict[str, tuple[str, str, str]]
    """key -> (apiVersion, kind, metadata.name)."""
    fields: dict[tuple[Any, ...], Any] = field(default_factory=dict)
    """Path into the desired resources (key first) -> value; None means absent."""
    env: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class Case:
    name: str
    reason: str
    args: dict[str, Any]
    """spec.persistence.cache overrides."""
    want: Want


CASES = [
    Case(
        "DragonflyDefaults",
        "the default engine: one instance limited to 512Mi, evicting as a cache",
        {},
        Want(
            kinds={"cache": ("dragonflydb.io/v1alpha1", "Dragonfly", "support-bot-cache")},
            fields={
                ("cache", "spec", "replicas"): 1,
                ("cache", "spec", "args"): ["--cache_mode=true"],
                ("cache", "spec", "resources", "limits"): {"memory": "512Mi"},
                ("cache", "spec", "resources", "requests", "memory"): "512Mi",
                ("cache", "spec", "serviceSpec"): {
                    "name": "support-bot-cache",
                    "type": "ClusterIP",
                },
                ("cache", "spec", "podSecurityContext", "runAsNonRoot"): True,
                ("cache", "spec", "podSecurityContext", "seccompProfile"): {
                    "type": "RuntimeDefault"
                },
                ("cache", "spec", "containerSecurityContext", "capabilities"): {"drop": ["ALL"]},
                ("cache", "spec", "snapshot"): None,
                ("cache", "spec", "authentication"): None,
            },
            env=IN_CLUSTER_ENV,
        ),
    ),
    Case(
        "DragonflySized",
        "replicas and memory come from the spec",
        {"replicas": 3, "memory": "2Gi"},
        Want(
            kinds={"cache": ("dragonflydb.io/v1alpha1", "Dragonfly", "support-bot-cache")},
            fields={
                ("cache", "spec", "replicas"): 3,
                ("cache", "spec", "resources", "limits"): {"memory": "2Gi"},
            },
            env=IN_CLUSTER_ENV,
        ),
    ),
    Case(
        "Redis",
        "a restricted, persistence-free Redis with maxmemory at 90% of its limit",
        {"engine": "redis", "memory": "1Gi"},
        Want(
            kinds={
                "cache": ("apps/v1", "Deployment", "support-bot-cache"),
                "cache-service": ("v1", "Service", "support-bot-cache"),
            },
            fields={
                ("cache", "spec", "replicas"): 1,
                (*CONTAINER, "image"): "redis:7.4-alpine",
                (*CONTAINER, "command"): ["redis-server"],
                (*CONTAINER, "args"): [
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--dir",
                    "/data",
                    "--protected-mode",
                    "no",
                    "--maxmemory",
                    str(int(2**30 * 0.9)),
                    "--maxmemory-policy",
                    "allkeys-lru",
                ],
                (*CONTAINER, "resources", "limits"): {"memory": "1Gi"},
                (*CONTAINER, "securityContext"): {
                    "allowPrivilegeEscalation": False,
                    "readOnlyRootFilesystem": True,
                    "capabilities": {"drop": ["ALL"]},
                },
                (*CONTAINER, "readinessProbe", "tcpSocket"): {"port": "redis"},
                (*CONTAINER, "livenessProbe", "tcpSocket"): {"port": "redis"},
                (*CONTAINER, "volumeMounts"): [{"name": "data", "mountPath": "/data"}],
                (*POD, "securityContext", "runAsUser"): 999,
                (*POD, "securityContext", "runAsNonRoot"): True,
                (*POD, "securityContext", "seccompProfile"): {"type": "RuntimeDefault"},
                (*POD, "automountServiceAccountToken"): False,
                (*POD, "volumes", 0, "emptyDir"): {"sizeLimit": "64Mi"},
                ("cache-service", "spec", "ports"): [
                    {"name": "redis", "port": 6379, "targetPort": "redis", "protocol": "TCP"}
                ],
            },
            env=IN_CLUSTER_ENV,
        ),
    ),
    Case(
        "RedisCustomImage",
        "spec.cache.image is the container image",
        {"engine": "redis", "image": "valkey/valkey:8-alpine"},
        Want(
            kinds={
                "cache": ("apps/v1", "Deployment", "support-bot-cache"),
                "cache-service": ("v1", "Service", "support-bot-cache"),
            },
            fields={(*CONTAINER, "image"): "valkey/valkey:8-alpine"},
            env=IN_CLUSTER_ENV,
        ),
    ),
    Case(
        "External",
        "nothing composed; REDIS_URL from the user's Secret",
        {"engine": "external", "external": {"secretName": "my-redis", "key": "url"}},
        Want(
            kinds={},
            env=[
                {
                    "name": CACHE_ENV.URL,
                    "valueFrom": {"secretKeyRef": {"name": "my-redis", "key": "url"}},
                }
            ],
        ),
    ),
    Case(
        "None",
        "nothing composed, no env: events stay in memory",
        {"engine": "none"},
        Want(kinds={}, env=[]),
    ),
]
IDS = [c.name for c in CASES]


def render(case: Case) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    ctx = make_ctx(make_spec(persistence={"cache": case.args}))
    return cache.build(ctx), cache.cache_env(ctx)


def at(desired: dict[str, Any], path: tuple[Any, ...]) -> Any:
    try:
        return reduce(operator.getitem, path, desired)
    except (KeyError, IndexError):
        return None


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_resources(case: Case) -> None:
    desired, _ = render(case)
    got = {key: (m["apiVersion"], m["kind"], m["metadata"]["name"]) for key, m in desired.items()}
    assert got == case.want.kinds, case.reason


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_fields(case: Case) -> None:
    desired, _ = render(case)
    for path, want in case.want.fields.items():
        assert at(desired, path) == want, f"{case.reason}: {'.'.join(map(str, path))}"


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_env(case: Case) -> None:
    _, env = render(case)
    assert env == case.want.env, case.reason


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_manifests_validate(case: Case) -> None:
    desired, _ = render(case)
    for key, manifest in desired.items():
        assert validate_manifest(manifest) == [], f"{case.reason}: {key}"
        assert (manifest["apiVersion"], manifest["kind"]) in CHECKS, key


def test_redis_service_selects_only_the_cache_pod() -> None:
    ctx = make_ctx(make_spec(persistence={"cache": {"engine": "redis"}}))
    desired = cache.build(ctx)
    selector = desired["cache-service"]["spec"]["selector"]
    assert selector == desired["cache"]["spec"]["selector"]["matchLabels"]
    pod_labels = desired["cache"]["spec"]["template"]["metadata"]["labels"]
    assert selector.items() <= pod_labels.items()
    assert selector != ctx.selector_labels(), "must not select the runtime pods"


@dataclass(frozen=True)
class QuantityCase:
    name: str
    reason: str
    args: str
    want: int


QUANTITY_CASES = [
    QuantityCase("Mebibytes", "binary suffix", "512Mi", 512 * 2**20),
    QuantityCase("Gibibytes", "binary suffix", "1Gi", 2**30),
    QuantityCase("FractionalGi", "decimal number with a binary suffix", "1.5Gi", 3 * 2**29),
    QuantityCase("Gigabytes", "decimal suffix", "1G", 10**9),
    QuantityCase("Kilobytes", "lower-case k is the only decimal kilo", "64k", 64_000),
    QuantityCase("Plain", "no suffix: bytes", "1048576", 2**20),
    QuantityCase("Exponent", "decimal exponent", "1e9", 10**9),
    QuantityCase("Milli", "a milli-byte quantity rounds down", "1500m", 1),
]


@pytest.mark.parametrize("case", QUANTITY_CASES, ids=[c.name for c in QUANTITY_CASES])
def test_quantity_bytes(case: QuantityCase) -> None:
    assert cache.quantity_bytes(case.args) == case.want, case.reason


@pytest.mark.parametrize("text", ["", "Mi", "12Qi", "1.2.3Gi", "abc"])
def test_quantity_bytes_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="not a quantity"):
        cache.quantity_bytes(text)
