"""Redis-compatible cache for streamed events: one function per cache engine.

Engines:
    dragonfly: a Dragonfly instance; the operator creates a StatefulSet and a ClusterIP
        Service named after the instance, on port 6379, selecting the master
        (dragonfly-operator ``internal/resources/resources.go``).
    redis: a single-pod Redis Deployment and its Service, composed here.
    external: nothing composed; the user's Secret holds a ``redis://`` URL.
    none: nothing composed; the runtime keeps events in an in-process buffer.

Streamed events are a cache: a lost event stream costs a client a reconnect, never a job
(results live in Postgres and NATS). So both engines run without persistence and evict
under memory pressure (Dragonfly ``--cache_mode``, Redis ``allkeys-lru``) instead of failing
writes.

Both engines require a password that no manifest holds: ESO's Password generator makes it
and an ExternalSecret writes it once (``refreshPolicy: CreatedOnce``) into a Secret this XR
owns. Dragonfly reads it through ``authentication.passwordFromSecret``, Redis through
``--requirepass $(REDIS_PASSWORD)`` (the kubelet expands the variable from the Secret), and
the runtime through REDIS_PASSWORD. Together with the NetworkPolicy that admits only the
agent's own runtime (network_policy.py), a pod of the namespace that is not the runtime can
neither reach the cache nor, reaching it, use it.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from contract.defaults import REDIS_PORT
from contract.env import CACHE_ENV
from function import units
from function.builders import external_secrets
from function.builders.base import AgentContext, Desired, Manifest, RuntimeAdditions, env_var
from function.names import DRAGONFLY_MAX
from function.spec import CacheEngine

__all__ = [
    "COMPONENT",
    "DRAGONFLY_ADMIN_PORT",
    "DRAGONFLY_API_VERSION",
    "GENERATOR_API_VERSION",
    "PASSWORD_KEY",
    "REDIS_PORT",
    "RUNTIME",
    "build",
    "cache_env",
    "cache_host",
    "cache_name",
    "dragonfly_selector",
    "password_secret_name",
    "selector",
]

COMPONENT = "cache"
DRAGONFLY_API_VERSION = "dragonflydb.io/v1alpha1"
DRAGONFLY_ADMIN_PORT = 9999
"""Dragonfly's admin port (operator ``--admin_port``, ``--admin_nopass``): the operator
and replicas use it without a password, so only they may reach it (network_policy.py)."""
GENERATOR_API_VERSION = "generators.external-secrets.io/v1alpha1"
PASSWORD_KEY = "password"  # noqa: S105 - the generator's default key name, not a secret
PASSWORD_LENGTH = 32
"""Letters and digits only (``symbols: 0``): ~190 bits, and nothing a URL must escape."""
REDIS_UID = 999
"""The ``redis`` user of the official images (and ``dfly`` of Dragonfly's)."""
MAXMEMORY_RATIO = Decimal("0.9")
"""Share of the memory limit Redis may fill with data; the rest is buffers and overhead."""


def build(ctx: AgentContext) -> Desired:
    """Desired cache resources of the configured engine, and its password for a composed one."""
    desired = _BACKENDS[ctx.spec.persistence.cache.engine](ctx)
    if _composed(ctx):
        desired |= _password(ctx)
    return desired


def cache_env(ctx: AgentContext) -> list[Manifest]:
    """EnvVars connecting the runtime container to its cache; empty for engine none."""
    cache = ctx.spec.persistence.cache
    if _composed(ctx):
        return [
            env_var(CACHE_ENV.HOST, cache_host(ctx)),
            env_var(CACHE_ENV.PORT, str(REDIS_PORT)),
            _password_env(ctx, CACHE_ENV.PASSWORD),
        ]
    if cache.engine == CacheEngine.EXTERNAL and cache.external is not None:
        ref = {"name": cache.external.secret_name, "key": cache.external.key}
        return [{"name": CACHE_ENV.URL, "valueFrom": {"secretKeyRef": ref}}]
    return []


RUNTIME = RuntimeAdditions(env=cache_env)


def cache_name(ctx: AgentContext) -> str:
    """The Dragonfly instance, or the redis Deployment; also the Service of either."""
    # Dragonfly's limit, for the redis engine too: one name whichever engine runs.
    return ctx.child("cache", max_length=DRAGONFLY_MAX)


def password_secret_name(ctx: AgentContext) -> str:
    """The Secret (and the Password generator) holding the cache's password."""
    return ctx.child("cache-password")


def cache_host(ctx: AgentContext) -> str:
    """In-cluster DNS name of the cache Service."""
    return f"{cache_name(ctx)}.{ctx.namespace}.svc.cluster.local"


# --- backends ------------------------------------------------------------------------------


def build_dragonfly(ctx: AgentContext) -> Desired:
    """A Dragonfly instance sized by ``spec.persistence.cache``.

    Dragonfly sets its own maxmemory from the container's memory limit (80% of it), and
    falls back from io_uring to epoll where the RuntimeDefault seccomp profile blocks it.
    """
    cache = ctx.spec.persistence.cache
    name = cache_name(ctx)
    return {
        "cache": {
            "apiVersion": DRAGONFLY_API_VERSION,
            "kind": "Dragonfly",
            "metadata": ctx.metadata(name, COMPONENT),
            "spec": {
                "replicas": cache.replicas,
                "args": ["--cache_mode=true"],
                "resources": _resources(cache.memory),
                "serviceSpec": {"name": name, "type": "ClusterIP"},
                "authentication": {
                    "passwordFromSecret": {
                        "name": password_secret_name(ctx),
                        "key": PASSWORD_KEY,
                    }
                },
                # The operator's own policy admits every pod of the namespace on 6379, and
                # NetworkPolicies add up: ours (network_policy.py) admits the runtime only.
                "networkPolicyEnabled": False,
                "podSecurityContext": {**_pod_security_context(), "fsGroup": REDIS_UID},
                "containerSecurityContext": _container_security_context(read_only=False),
            },
        }
    }


def build_redis(ctx: AgentContext) -> Desired:
    """A single Redis pod without persistence, and its Service.

    The root filesystem is read-only; ``/data`` (Redis's working directory) is an emptyDir
    that stays empty, since both RDB snapshots and the AOF are off.
    """
    cache = ctx.spec.persistence.cache
    name = cache_name(ctx)
    pods = selector(ctx)
    maxmemory = int(units.quantity_bytes(cache.memory) * MAXMEMORY_RATIO)
    flags = [
        ("save", ""),
        ("appendonly", "no"),
        ("dir", "/data"),
        # The kubelet expands $(VAR) from the container's env, so the password never
        # appears in the manifest. With a password set, protected mode admits remote
        # clients; were the Secret's key empty, it would refuse them (fail closed).
        ("requirepass", f"$({CACHE_ENV.PASSWORD})"),
        ("maxmemory", str(maxmemory)),
        ("maxmemory-policy", "allkeys-lru"),
    ]
    container = {
        "name": "redis",
        "image": cache.image,
        "command": ["redis-server"],
        "args": [part for flag, value in flags for part in (f"--{flag}", value)],
        "env": [_password_env(ctx, CACHE_ENV.PASSWORD)],
        "ports": [{"name": "redis", "containerPort": REDIS_PORT, "protocol": "TCP"}],
        "resources": _resources(cache.memory),
        "readinessProbe": _tcp_probe(initial_delay=2),
        "livenessProbe": _tcp_probe(initial_delay=10),
        "securityContext": _container_security_context(read_only=True),
        "volumeMounts": [{"name": "data", "mountPath": "/data"}],
    }
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": ctx.metadata(name, COMPONENT),
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": pods},
            "template": {
                "metadata": {"labels": ctx.labels(COMPONENT)},
                "spec": {
                    "automountServiceAccountToken": False,
                    "enableServiceLinks": False,
                    "securityContext": {**_pod_security_context(), "fsGroup": REDIS_UID},
                    "containers": [container],
                    "volumes": [{"name": "data", "emptyDir": {"sizeLimit": "64Mi"}}],
                },
            },
        },
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": ctx.metadata(name, COMPONENT),
        "spec": {
            "type": "ClusterIP",
            "selector": dict(pods),
            "ports": [
                {"name": "redis", "port": REDIS_PORT, "targetPort": "redis", "protocol": "TCP"}
            ],
        },
    }
    return {"cache": deployment, "cache-service": service}


def build_external(ctx: AgentContext) -> Desired:
    """Nothing to compose: the runtime reads REDIS_URL from the user's Secret."""
    return {}


def build_none(ctx: AgentContext) -> Desired:
    """Nothing to compose: the runtime buffers events in memory."""
    return {}


_BACKENDS: dict[str, Callable[[AgentContext], Desired]] = {
    CacheEngine.DRAGONFLY: build_dragonfly,
    CacheEngine.REDIS: build_redis,
    CacheEngine.EXTERNAL: build_external,
    CacheEngine.NONE: build_none,
}


# --- password ------------------------------------------------------------------------------


def _composed(ctx: AgentContext) -> bool:
    return ctx.spec.persistence.cache.engine in (CacheEngine.DRAGONFLY, CacheEngine.REDIS)


def _password(ctx: AgentContext) -> Desired:
    """A Password generator and the ExternalSecret that writes its output once."""
    name = password_secret_name(ctx)
    generator = {
        "apiVersion": GENERATOR_API_VERSION,
        "kind": "Password",
        "metadata": ctx.metadata(name, COMPONENT),
        "spec": {
            "length": PASSWORD_LENGTH,
            "symbols": 0,
            "allowRepeat": True,
            "noUpper": False,
            "secretKeys": [PASSWORD_KEY],
        },
    }
    secret = {
        "apiVersion": external_secrets.API_VERSION,
        "kind": external_secrets.KIND,
        "metadata": ctx.metadata(name, COMPONENT),
        "spec": {
            # A generator answers a new password on every read: write it once, or each
            # refresh would change it under the running cache and runtime.
            "refreshPolicy": "CreatedOnce",
            "target": {"name": name, "creationPolicy": "Owner"},
            "dataFrom": [
                {
                    "sourceRef": {
                        "generatorRef": {
                            "apiVersion": GENERATOR_API_VERSION,
                            "kind": "Password",
                            "name": name,
                        }
                    }
                }
            ],
        },
    }
    return {"cache-password-generator": generator, "externalsecret-cache-password": secret}


def _password_env(ctx: AgentContext, env: str) -> Manifest:
    ref = {"name": password_secret_name(ctx), "key": PASSWORD_KEY}
    return {"name": env, "valueFrom": {"secretKeyRef": ref}}


# --- helpers -------------------------------------------------------------------------------


def selector(ctx: AgentContext) -> dict[str, str]:
    """Labels that select the redis engine's pods."""
    labels = ctx.labels(COMPONENT)
    return {k: labels[k] for k in ("app.kubernetes.io/name", "app.kubernetes.io/instance")}


def dragonfly_selector(ctx: AgentContext) -> dict[str, str]:
    """Labels the Dragonfly operator puts on the instance's pods (its StatefulSet selector,
    dragonfly-operator v1.6.1 ``internal/resources/resources.go``)."""
    return {
        "app": cache_name(ctx),
        "app.kubernetes.io/part-of": "dragonfly",
        "app.kubernetes.io/name": "dragonfly",
    }


def _tcp_probe(*, initial_delay: int) -> Manifest:
    return {
        "tcpSocket": {"port": "redis"},
        "initialDelaySeconds": initial_delay,
        "periodSeconds": 10,
        "timeoutSeconds": 2,
        "failureThreshold": 3,
    }


def _resources(memory: str) -> Manifest:
    # Memory request = limit: a cache that is OOM-killed under node pressure loses everything.
    return {"requests": {"cpu": "50m", "memory": memory}, "limits": {"memory": memory}}


def _pod_security_context() -> Manifest:
    return {
        "runAsNonRoot": True,
        "runAsUser": REDIS_UID,
        "runAsGroup": REDIS_UID,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def _container_security_context(*, read_only: bool) -> Manifest:
    return {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": read_only,
        "capabilities": {"drop": ["ALL"]},
    }
