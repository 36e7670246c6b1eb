"""The cache builder: one case per engine, its resources, fields and runtime env."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from contract.env import CACHE_ENV
from function import units
from function.builders import cache
from tests.function.builders.engine_table import EngineCase, Want, engine_tests
from tests.function.factories import make_ctx, make_spec

HOST = "support-bot-cache-863ee341b0.agents.svc.cluster.local"
PASSWORD_SECRET = "support-bot-cache-password-dc786cf8b9"
PASSWORD_REF = {"secretKeyRef": {"name": PASSWORD_SECRET, "key": "password"}}
IN_CLUSTER_ENV = [
    {"name": CACHE_ENV.HOST, "value": HOST},
    {"name": CACHE_ENV.PORT, "value": "6379"},
    {"name": CACHE_ENV.PASSWORD, "valueFrom": PASSWORD_REF},
]
CONTAINER = ("cache", "spec", "template", "spec", "containers", 0)
POD = ("cache", "spec", "template", "spec")
PASSWORD_KINDS = {
    "cache-password-generator": (
        "generators.external-secrets.io/v1alpha1",
        "Password",
        PASSWORD_SECRET,
    ),
    "externalsecret-cache-password": ("external-secrets.io/v1", "ExternalSecret", PASSWORD_SECRET),
}
DRAGONFLY_KINDS = {
    "cache": ("dragonflydb.io/v1alpha1", "Dragonfly", "support-bot-cache-863ee341b0"),
    **PASSWORD_KINDS,
}
REDIS_KINDS = {
    "cache": ("apps/v1", "Deployment", "support-bot-cache-863ee341b0"),
    "cache-service": ("v1", "Service", "support-bot-cache-863ee341b0"),
    **PASSWORD_KINDS,
}


CASES = [
    EngineCase(
        "DragonflyDefaults",
        "the default engine: one instance limited to 512Mi, evicting as a cache",
        {},
        Want(
            kinds=DRAGONFLY_KINDS,
            fields={
                ("cache", "spec", "replicas"): 1,
                ("cache", "spec", "args"): ["--cache_mode=true"],
                ("cache", "spec", "resources", "limits"): {"memory": "512Mi"},
                ("cache", "spec", "resources", "requests", "memory"): "512Mi",
                ("cache", "spec", "serviceSpec"): {
                    "name": "support-bot-cache-863ee341b0",
                    "type": "ClusterIP",
                },
                ("cache", "spec", "podSecurityContext", "runAsNonRoot"): True,
                ("cache", "spec", "podSecurityContext", "seccompProfile"): {
                    "type": "RuntimeDefault"
                },
                ("cache", "spec", "containerSecurityContext", "capabilities"): {"drop": ["ALL"]},
                ("cache", "spec", "snapshot"): None,
                ("cache", "spec", "authentication"): {
                    "passwordFromSecret": {"name": PASSWORD_SECRET, "key": "password"}
                },
                # The operator's policy would admit every pod of the namespace.
                ("cache", "spec", "networkPolicyEnabled"): False,
            },
            env=IN_CLUSTER_ENV,
        ),
    ),
    EngineCase(
        "DragonflySized",
        "replicas and memory come from the spec",
        {"replicas": 3, "memory": "2Gi"},
        Want(
            kinds=DRAGONFLY_KINDS,
            fields={
                ("cache", "spec", "replicas"): 3,
                ("cache", "spec", "resources", "limits"): {"memory": "2Gi"},
            },
            env=IN_CLUSTER_ENV,
        ),
    ),
    EngineCase(
        "Redis",
        "a restricted, persistence-free Redis with maxmemory at 90% of its limit",
        {"engine": "redis", "memory": "1Gi"},
        Want(
            kinds=REDIS_KINDS,
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
                    "--requirepass",
                    "$(REDIS_PASSWORD)",
                    "--maxmemory",
                    str(int(2**30 * 0.9)),
                    "--maxmemory-policy",
                    "allkeys-lru",
                ],
                (*CONTAINER, "env"): [{"name": "REDIS_PASSWORD", "valueFrom": PASSWORD_REF}],
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
    EngineCase(
        "RedisCustomImage",
        "spec.cache.image is the container image",
        {"engine": "redis", "image": "valkey/valkey:8-alpine"},
        Want(
            kinds=REDIS_KINDS,
            fields={(*CONTAINER, "image"): "valkey/valkey:8-alpine"},
            env=IN_CLUSTER_ENV,
        ),
    ),
    EngineCase(
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
    EngineCase(
        "None",
        "nothing composed, no env: events stay in memory",
        {"engine": "none"},
        Want(kinds={}, env=[]),
    ),
]


def render(case: EngineCase) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    ctx = make_ctx(make_spec(persistence={"cache": case.args}))
    return cache.build(ctx), cache.cache_env(ctx)


test_resources, test_fields, test_env, test_manifests_validate = engine_tests(CASES, render)


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
    assert units.quantity_bytes(case.args) == case.want, case.reason


@pytest.mark.parametrize("text", ["", "Mi", "12Qi", "1.2.3Gi", "abc"])
def test_quantity_bytes_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="not a Kubernetes quantity"):
        units.quantity_bytes(text)


@pytest.mark.parametrize("engine", ["dragonfly", "redis"])
def test_password_is_generated_once_and_never_a_value(engine: str) -> None:
    """ESO's Password generator writes the Secret once; no manifest holds the password."""
    ctx = make_ctx(make_spec(persistence={"cache": {"engine": engine}}))
    desired = cache.build(ctx)
    generator = desired["cache-password-generator"]["spec"]
    assert generator["length"] >= 32
    assert generator["symbols"] == 0, "a symbol would need escaping in a redis:// URL"
    synced = desired["externalsecret-cache-password"]["spec"]
    # A generator answers a new password on each read: a periodic refresh would change it
    # under the running cache.
    assert synced["refreshPolicy"] == "CreatedOnce"
    assert synced["dataFrom"] == [
        {
            "sourceRef": {
                "generatorRef": {
                    "apiVersion": "generators.external-secrets.io/v1alpha1",
                    "kind": "Password",
                    "name": PASSWORD_SECRET,
                }
            }
        }
    ]
    assert synced["target"] == {"name": PASSWORD_SECRET, "creationPolicy": "Owner"}


@pytest.mark.parametrize("engine", ["external", "none"])
def test_no_password_for_a_cache_not_composed(engine: str) -> None:
    args: dict[str, Any] = {"engine": engine}
    if engine == "external":
        args["external"] = {"secretName": "my-redis"}
    desired = cache.build(make_ctx(make_spec(persistence={"cache": args})))
    assert not any(m["kind"] in ("Password", "ExternalSecret") for m in desired.values())
