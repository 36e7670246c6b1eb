"""The runtime Deployment: one ``runtime`` container configured entirely by environment
variables and read-only mounted files (contract/env.py names both sides).

This module imports no other builder: what other builders add to the pod (env, mounted
files and their content, who owns ``replicas``) they declare as their ``RUNTIME``
(base.RuntimeAdditions), and the context carries it here in registry order.

The container env, in order: the contract variables from the spec, then what builders add
(model API keys, tool credentials, the database, cache and queue connections), an empty
value for every other
protected contract variable (so an envFrom source cannot supply it: explicit env wins over
envFrom), then the user's spec.env. A container must not hold a name twice, so the first
generated entry of a name wins, and a user entry replaces a generated literal of its name in
place (LOG_LEVEL, SYSTEM_PROMPT, ...). Protected names (contract/protected_env.py: identity,
model, endpoint, credentials, backends, SDK-redirecting variables) never reach this module:
the spec refuses them with the field path.
"""

from __future__ import annotations

import hashlib
import json
import math

from contract import env as contract_env
from contract import protected_env
from contract.defaults import SHUTDOWN_GRACE_SECONDS
from contract.env import ENV
from function import rotation, units
from function.builders.base import AgentContext, Desired, Manifest, Mount, env_var
from function.spec import ApiAuthMode, ResourceList

__all__ = [
    "CHECKSUM_ANNOTATION",
    "CONTAINER_NAME",
    "KEY",
    "PROTECTED_ENV",
    "RUN_AS",
    "SHUTDOWN_GRACE_SECONDS",
    "TERMINATION_GRACE_SECONDS",
    "build",
    "config_checksum",
    "container_env",
    "container_security_context",
    "pod_security_context",
    "runtime_container",
    "runtime_env",
    "runtime_pod",
]

KEY = "deployment"
COMPONENT = "runtime"
CONTAINER_NAME = "runtime"
PORT_NAME = "http"
CHECKSUM_ANNOTATION = "xagent.dev/config-checksum"

RUN_AS = 65532
"""The distroless ``nonroot`` user and group."""
TERMINATION_GRACE_SECONDS = SHUTDOWN_GRACE_SECONDS + 10
"""Longer than the drain, so the kubelet's SIGKILL never cuts a drain short."""
TMP_MOUNT = "/tmp"  # noqa: S108 - a pod-private emptyDir, not a shared host /tmp
TMP_SIZE_LIMIT = "1Gi"
"""Scratch space; contract_env.STATE_DIR lives under it (SQLite checkpoints with database none)."""

PROTECTED_ENV = protected_env.CONTRACT_NAMES
"""Contract variables written always, as "" when unset, so no envFrom source can supply one;
spec.env cannot name them at all (function/spec.py EnvVar)."""

_VOLUME_TMP = "tmp"
_VOLUME_API_TOKENS = "api-tokens"
_VOLUME_KUBE_API = "kube-api-access"
KUBE_API_MOUNT = "/var/run/secrets/kubernetes.io/serviceaccount"
"""Where the runtime finds its own token and the cluster CA (for TokenReview)."""


def build(ctx: AgentContext) -> Desired:
    """The runtime Deployment."""
    env = container_env(ctx)
    env_from = _env_from(ctx)
    spec: Manifest = {}
    if not ctx.replicas_owned_elsewhere():
        spec["replicas"] = ctx.spec.scaling.min_replicas
    spec |= {
        "selector": {"matchLabels": ctx.selector_labels()},
        # Surge before removing: capacity never drops during a rollout.
        "strategy": {
            "type": "RollingUpdate",
            "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
        },
        "template": {
            "metadata": {
                "labels": ctx.labels(COMPONENT),
                "annotations": {
                    CHECKSUM_ANNOTATION: config_checksum(ctx, env, env_from),
                    **_secrets_version(ctx),
                },
            },
            "spec": _pod_spec(ctx, _container(ctx, env, env_from)),
        },
    }
    return {
        KEY: {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": ctx.metadata(ctx.deployment_name, COMPONENT),
            "spec": spec,
        }
    }


def runtime_container(ctx: AgentContext) -> Manifest:
    """The runtime container as the Deployment runs it (task mode's Job runs it too)."""
    return _container(ctx, container_env(ctx), _env_from(ctx))


def runtime_pod(ctx: AgentContext, container: Manifest) -> Manifest:
    """The runtime pod's spec around ``container``: identity, security context, volumes."""
    return _pod_spec(ctx, container)


def pod_security_context() -> Manifest:
    """The restricted Pod Security Standard for every pod the function composes around the
    runtime image (the runtime, a schedule's enqueue, a task): the distroless ``nonroot``
    user, and its group for Secret files mounted 0440 (nats_auth)."""
    return {
        "runAsNonRoot": True,
        "runAsUser": RUN_AS,
        "runAsGroup": RUN_AS,
        "fsGroup": RUN_AS,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def container_security_context() -> Manifest:
    """The restricted Pod Security Standard for the runtime image's container."""
    return {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
    }


# --- env -----------------------------------------------------------------------------------


def runtime_env(ctx: AgentContext) -> list[Manifest]:
    """The contract variables (seed 000 names); unset optionals are left out unless protected."""
    spec = ctx.spec
    model = spec.model
    obs = spec.observability
    pairs: list[tuple[str, object]] = [
        (ENV.AGENT_NAME, ctx.name),
        (ENV.AGENT_NAMESPACE, ctx.namespace),
        (ENV.AGENT_DEFINITION_ID, ctx.definition_id),
        (
            ENV.AGENT_DEFINITION_PATH,
            f"{contract_env.DEFINITION_MOUNT}/{contract_env.DEFINITION_FILE}",
        ),
        (ENV.TOOL_GRANTS_PATH, f"{contract_env.TOOL_GRANTS_MOUNT}/{contract_env.TOOL_GRANTS_FILE}"),
        (ENV.TENANT_ID, spec.tenant_id),
        (ENV.RISK_TIER, spec.risk_tier),
        (ENV.MODEL_PROVIDER, model.provider),
        (ENV.MODEL_NAME, model.name),
        (ENV.MODEL_ENDPOINT, model.endpoint),
        (ENV.MODEL_FALLBACK, model.fallback_model),
        (ENV.MODEL_TEMPERATURE, model.temperature),
        (ENV.MODEL_MAX_TOKENS, model.max_tokens),
        (ENV.MODEL_TOP_P, model.top_p),
        (ENV.MODEL_API_VERSION, model.api_version),
        (ENV.MODEL_REGION, model.region),
        (ENV.SYSTEM_PROMPT, spec.system_prompt),
        (ENV.MAX_PARALLEL_SESSIONS, spec.concurrency.max_parallel_sessions),
        (ENV.MAX_CONTEXT_MESSAGES, spec.behavior.max_context_messages),
        (ENV.CONVERSATION_TTL_SECONDS, _whole_seconds(spec.behavior.conversation_ttl)),
        (ENV.RESULTS_TTL_SECONDS, _whole_seconds(spec.behavior.results_ttl)),
        (ENV.LOG_LEVEL, obs.log_level),
        (ENV.LOG_PROMPTS, obs.log_prompts),
        (ENV.STREAM_TOKENS, obs.stream_tokens),
    ]
    if obs.tracing.endpoint:
        pairs += [
            (ENV.OTEL_EXPORTER_OTLP_ENDPOINT, obs.tracing.endpoint),
            (ENV.OTEL_TRACES_SAMPLER_ARG, obs.tracing.sample_ratio),
            (ENV.OTEL_EXPORTER_OTLP_PROTOCOL, obs.tracing.protocol),
        ]
    pairs += [
        # The runtime's own default, so local and in-cluster traces and metrics match.
        (ENV.OTEL_SERVICE_NAME, f"xagent-{ctx.name}"),
        (ENV.STATE_DIR, contract_env.STATE_DIR),
        (ENV.PORT, contract_env.HTTP_PORT),
        (ENV.SHUTDOWN_GRACE_SECONDS, SHUTDOWN_GRACE_SECONDS),
        *_api_auth_env(ctx),
    ]
    # A protected variable is written even when unset (as "", which the runtime reads as
    # unset): otherwise an envFrom ConfigMap could supply it and slip past the policy check.
    return [
        env_var(name, "" if value is None else _env_value(value))
        for name, value in pairs
        if (value is not None and value != "") or name in PROTECTED_ENV
    ] + _tracing_headers_env(ctx)


def _tracing_headers_env(ctx: AgentContext) -> list[Manifest]:
    """OTEL_EXPORTER_OTLP_HEADERS from the tracing Secret: the value never enters the spec."""
    tracing = ctx.spec.observability.tracing
    ref = tracing.headers_secret_ref
    if ref is None or not tracing.endpoint:
        return []
    return [
        {
            "name": ENV.OTEL_EXPORTER_OTLP_HEADERS,
            "valueFrom": {"secretKeyRef": {"name": ref.name, "key": ref.key}},
        }
    ]


def _shadows(generated: list[Manifest]) -> list[Manifest]:
    """``""`` for each protected contract variable nothing generated, in name order."""
    have = {entry["name"] for entry in generated}
    return [env_var(name, "") for name in sorted(PROTECTED_ENV - have)]


def container_env(ctx: AgentContext) -> list[Manifest]:
    """The runtime container's env: generated entries, then spec.env (see module doc)."""
    generated = [*runtime_env(ctx), *ctx.added_env()]
    by_name: dict[str, Manifest] = {}
    for entry in [*generated, *_shadows(generated)]:
        by_name.setdefault(entry["name"], entry)
    for user in ctx.spec.env:
        # Protected names never get here (the spec refuses them); a generated secret
        # reference is never replaced either way.
        if "valueFrom" not in by_name.get(user.name, {}):
            # dicts keep insertion order: replacing a name keeps its position.
            by_name[user.name] = user.model_dump(by_alias=True, exclude_none=True)
    return list(by_name.values())


def config_checksum(ctx: AgentContext, env: list[Manifest], env_from: list[Manifest]) -> str:
    """sha256 of what the pod reads at startup but a pod template does not show.

    Mounted files' content (RuntimeAdditions.config) changes without any change to the
    template; putting its hash in a template annotation makes, for example, a new definition
    or new grants roll the pods.
    """
    payload = {
        **ctx.added_config(),
        "env": env,
        "envFrom": env_from,
    }
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _secrets_version(ctx: AgentContext) -> dict[str, str]:
    """The credential Secrets' fingerprint (function/rotation.py) as a template annotation.

    Until Crossplane has fetched the Secrets, the running pods' value is kept, so a
    reconcile that has not seen them yet never rolls the pods.
    """
    version = rotation.fingerprint(ctx, ctx.required)
    if version is None:
        template = ((ctx.observed.get(KEY) or {}).get("spec") or {}).get("template") or {}
        version = ((template.get("metadata") or {}).get("annotations") or {}).get(
            rotation.ANNOTATION
        )
    return {rotation.ANNOTATION: version} if version else {}


def _env_from(ctx: AgentContext) -> list[Manifest]:
    return [source.model_dump(by_alias=True, exclude_none=True) for source in ctx.spec.env_from]


def _env_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _whole_seconds(duration: str) -> int:
    # The runtime wants a whole number of seconds, at least one.
    return max(1, math.ceil(units.seconds(duration)))


def _api_auth_env(ctx: AgentContext) -> list[tuple[str, object]]:
    auth = ctx.spec.api.auth
    pairs: list[tuple[str, object]] = [(ENV.API_AUTH_MODE, ApiAuthMode(auth.mode).value)]
    if auth.mode == ApiAuthMode.SERVICE_ACCOUNT:
        audience = auth.audience or contract_env.api_audience(ctx.namespace, ctx.name)
        pairs.append((ENV.API_AUTH_AUDIENCE, audience))
    elif auth.mode == ApiAuthMode.TOKEN:
        path = f"{contract_env.API_TOKENS_MOUNT}/{contract_env.API_TOKENS_FILE}"
        pairs.append((ENV.API_AUTH_TOKENS_PATH, path))
    return pairs


def _mounts(ctx: AgentContext) -> list[Mount]:
    """What builders add, then scratch space, then what the API's authentication needs."""
    tmp = (
        {"name": _VOLUME_TMP, "emptyDir": {"sizeLimit": TMP_SIZE_LIMIT}},
        {"name": _VOLUME_TMP, "mountPath": TMP_MOUNT},
    )
    return [*ctx.added_mounts(), tmp, *_api_auth_mounts(ctx)]


def _api_auth_mounts(ctx: AgentContext) -> list[Mount]:
    """The token Secret, or the pod's own ServiceAccount token and cluster CA (the pod does
    not automount them otherwise)."""
    auth = ctx.spec.api.auth
    if auth.mode == ApiAuthMode.TOKEN and auth.token_secret_ref is not None:
        ref = auth.token_secret_ref
        volume = {
            "name": _VOLUME_API_TOKENS,
            "secret": {
                "secretName": ref.name,
                "items": [{"key": ref.key, "path": contract_env.API_TOKENS_FILE}],
            },
        }
        mount = {"name": _VOLUME_API_TOKENS, "mountPath": contract_env.API_TOKENS_MOUNT}
        return [(volume, mount | {"readOnly": True})]
    if auth.mode == ApiAuthMode.SERVICE_ACCOUNT:
        volume = {
            "name": _VOLUME_KUBE_API,
            "projected": {
                "sources": [
                    {"serviceAccountToken": {"path": "token", "expirationSeconds": 3607}},
                    {
                        "configMap": {
                            "name": "kube-root-ca.crt",
                            "items": [{"key": "ca.crt", "path": "ca.crt"}],
                        }
                    },
                ]
            },
        }
        mount = {"name": _VOLUME_KUBE_API, "mountPath": KUBE_API_MOUNT, "readOnly": True}
        return [(volume, mount)]
    return []


# --- pod -----------------------------------------------------------------------------------


def _container(ctx: AgentContext, env: list[Manifest], env_from: list[Manifest]) -> Manifest:
    image = ctx.spec.image
    container: Manifest = {
        "name": CONTAINER_NAME,
        "image": image.reference,
        "imagePullPolicy": image.pull_policy,
        "ports": [{"name": PORT_NAME, "containerPort": contract_env.HTTP_PORT, "protocol": "TCP"}],
        "env": env,
    }
    if env_from:
        container["envFrom"] = env_from
    container |= {
        "volumeMounts": [mount for _, mount in _mounts(ctx)],
        # /health only says the process lives; /ready checks Postgres, Redis and NATS, so a
        # pod that lost a backend leaves the Service without being restarted.
        "startupProbe": _probe("/health", period=5, failures=24),  # up to 2 minutes to start
        "livenessProbe": _probe("/health", period=10, failures=3),
        "readinessProbe": _probe("/ready", period=10, failures=3, timeout=5),
        "securityContext": container_security_context(),
    }
    resources = _resources(ctx)
    if resources:
        container["resources"] = resources
    return container


def _pod_spec(ctx: AgentContext, container: Manifest) -> Manifest:
    pod: Manifest = {
        "serviceAccountName": ctx.service_account_name,
        "automountServiceAccountToken": False,
        # Service links would add <SERVICE>_PORT=tcp://... for every Service of the
        # namespace; one named redis or pg would clobber REDIS_PORT or PG_PORT.
        "enableServiceLinks": False,
        "terminationGracePeriodSeconds": TERMINATION_GRACE_SECONDS,
        "securityContext": pod_security_context(),
        # Replicas on different nodes when the scheduler can, so a node loss takes one.
        "topologySpreadConstraints": [
            {
                "maxSkew": 1,
                "topologyKey": "kubernetes.io/hostname",
                "whenUnsatisfiable": "ScheduleAnyway",
                "labelSelector": {"matchLabels": ctx.selector_labels()},
                "matchLabelKeys": ["pod-template-hash"],
            }
        ],
        "containers": [container],
        "volumes": [volume for volume, _ in _mounts(ctx)],
    }
    if ctx.spec.image.image_pull_secrets:
        pod["imagePullSecrets"] = [{"name": s.name} for s in ctx.spec.image.image_pull_secrets]
    return pod


def _probe(path: str, *, period: int, failures: int, timeout: int = 3) -> Manifest:
    return {
        "httpGet": {"path": path, "port": PORT_NAME},
        "periodSeconds": period,
        "timeoutSeconds": timeout,
        "failureThreshold": failures,
    }


def _resources(ctx: AgentContext) -> Manifest:
    out: Manifest = {}
    for field in ("requests", "limits"):
        values = _quantities(getattr(ctx.spec.resources, field))
        if values:
            out[field] = values
    return out


def _quantities(resource_list: ResourceList) -> dict[str, str]:
    return {k: v for k, v in resource_list.model_dump().items() if v is not None}
