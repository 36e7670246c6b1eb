"""What every builder receives and returns.

A builder is a pure function ``(AgentContext) -> Desired``: plain dicts keyed by a stable
composition-resource name, no I/O and no protobuf. Keys are part of the API: Crossplane
matches observed resources by them, so a shipped key is never renamed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from contract.definition import AgentDefinition
from function.input import Policy
from function.k8s_types import env_literal
from function.names import DNS_LABEL_MAX, child_name, nats_token, root_name
from function.spec import XAgentSpec

__all__ = [
    "AgentContext",
    "Builder",
    "Desired",
    "Manifest",
    "Mount",
    "RuntimeAdditions",
    "env_var",
]

Manifest = dict[str, Any]
Desired = dict[str, Manifest]
Builder = Callable[["AgentContext"], Desired]
Mount = tuple[Manifest, Manifest]
"""A pod volume and the runtime container's volumeMount of it."""

PART_OF = "xagent"


def env_var(name: str, value: str) -> Manifest:
    """A container env entry whose value the container gets exactly as written.

    The kubelet expands ``$(NAME)`` in env values from the container's earlier variables, so
    a string written as is could become another variable's value: an endpoint of
    ``https://a$(MODEL_NAME).openai.azure.com`` passes the policy's host pattern and then
    names the host the model name spells. Every generated value goes through
    ``k8s_types.env_literal``. An empty value is left out: EnvVar.value is ``omitempty``,
    and the API server would store ``value: ""`` as no value, unlike the rendered object.
    """
    return {"name": name, "value": env_literal(value)} if value else {"name": name}


def _nothing(_ctx: AgentContext) -> list[Any]:
    return []


def _no_config(_ctx: AgentContext) -> dict[str, Any]:
    return {}


def _no(_ctx: AgentContext) -> bool:
    return False


@dataclass(frozen=True)
class RuntimeAdditions:
    """What a builder module adds to the runtime pod or the response, beside its own objects.

    A builder module that adds any declares ``RUNTIME = RuntimeAdditions(...)``; the registry
    (function/builders/__init__.py) collects them in registry order into
    ``AgentContext.additions``, where the Deployment builder and compose.py read them. So
    the Deployment builder imports no other builder, and a new backend's env reaches the
    pod by declaring it next to the objects it composes.
    """

    env: Callable[[AgentContext], list[Manifest]] = _nothing
    """EnvVars of the runtime container (connections, credentials), after its own."""
    warnings: Callable[[AgentContext], list[str]] = _nothing
    """Warnings for the response: choices the function changed or cannot honour."""
    mounts: Callable[[AgentContext], list[Mount]] = _nothing
    """Read-only files the runtime reads, mounted before the Deployment's own volumes."""
    config: Callable[[AgentContext], dict[str, Any]] = _no_config
    """What the pod reads at startup but its template does not show (mounted file
    content): part of the Deployment's config checksum, so a change rolls the pods."""
    owns_replicas: Callable[[AgentContext], bool] = _no
    """True when something else (an autoscaler) sets the Deployment's replica count."""


@dataclass(frozen=True)
class AgentContext:
    """Everything a builder may read about the XAgent being composed."""

    name: str
    namespace: str
    spec: XAgentSpec
    definition: AgentDefinition
    definition_id: str
    definition_checksum: str
    additions: tuple[RuntimeAdditions, ...]
    """Every builder module's declared RuntimeAdditions, in registry order."""
    policy: Policy = field(default_factory=Policy)
    observed: Mapping[str, Manifest] = field(default_factory=dict)
    required: Mapping[str, list[Manifest]] = field(default_factory=dict)
    """Required resources Crossplane fetched, by requirement name (function/rotation.py)."""

    # --- what builder modules add to the runtime (RuntimeAdditions) ---------------------------

    def added_env(self) -> list[Manifest]:
        """The env every builder module adds to the runtime container, in registry order."""
        return [entry for add in self.additions for entry in add.env(self)]

    def added_warnings(self) -> list[str]:
        """The warnings every builder module declares, in registry order."""
        return [text for add in self.additions for text in add.warnings(self)]

    def added_mounts(self) -> list[Mount]:
        """The volumes and mounts builder modules add to the runtime pod, in registry order."""
        return [mount for add in self.additions for mount in add.mounts(self)]

    def added_config(self) -> dict[str, Any]:
        """What builder modules put in the Deployment's config checksum."""
        return {key: value for add in self.additions for key, value in add.config(self).items()}

    def replicas_owned_elsewhere(self) -> bool:
        """Whether a builder (an autoscaler) owns the runtime Deployment's replica count."""
        return any(add.owns_replicas(self) for add in self.additions)

    def most_replicas(self) -> int:
        """The most runtime pods there can be: the autoscaler's ceiling, or the fixed count."""
        scaling = self.spec.scaling
        return scaling.max_replicas if self.replicas_owned_elsewhere() else scaling.min_replicas

    # --- names shared by more than one builder -----------------------------------------

    def child(self, *role: str, max_length: int = DNS_LABEL_MAX) -> str:
        """Name of a child object: ``<xr-name>-<role>-<hash>`` (function.names)."""
        return child_name(self.name, *role, max_length=max_length)

    @property
    def root(self) -> str:
        """Name of the runtime's own objects: the XR name when plain (function.names)."""
        return root_name(self.name)

    @property
    def service_account_name(self) -> str:
        """The runtime's ServiceAccount."""
        return self.root

    @property
    def deployment_name(self) -> str:
        """The runtime Deployment (also the Service and the selector's instance)."""
        return self.root

    @property
    def service_host(self) -> str:
        """In-cluster DNS name of the runtime Service."""
        return f"{self.deployment_name}.{self.namespace}.svc.cluster.local"

    @property
    def subject_prefix(self) -> str:
        """``<prefix>.jobs``, ``.results`` and ``.dead`` are this agent's subjects."""
        return (
            self.spec.queue.subject_prefix
            or f"xagent.{nats_token(self.namespace)}.{nats_token(self.name)}"
        )

    @property
    def stream_name(self) -> str:
        """The JetStream stream that holds the agent's subjects."""
        return self.spec.queue.stream or nats_token("xagent", self.namespace, self.name)

    @property
    def consumer_name(self) -> str:
        """The durable pull consumer the runtime pods share."""
        return nats_token(self.name, "workers")

    # --- labels ---------------------------------------------------------------------------

    def selector_labels(self) -> dict[str, str]:
        """Labels that select the runtime pods (immutable once a Deployment exists)."""
        return {
            "app.kubernetes.io/name": "xagent-runtime",
            "app.kubernetes.io/instance": self.root,
        }

    def labels(self, component: str) -> dict[str, str]:
        """Standard labels of an object of ``component`` (runtime, database, cache, ...)."""
        return {
            "app.kubernetes.io/name": f"xagent-{component}"
            if component != "runtime"
            else "xagent-runtime",
            "app.kubernetes.io/instance": self.root,
            "app.kubernetes.io/component": component,
            "app.kubernetes.io/part-of": PART_OF,
            "app.kubernetes.io/managed-by": "crossplane",
            "xagent.dev/agent": self.root,
            "xagent.dev/tenant": self.spec.tenant_id,
        }

    def metadata(self, name: str, component: str, **extra: Any) -> dict[str, Any]:
        """``metadata`` of a namespaced object: name, namespace and labels."""
        return {
            "name": name,
            "namespace": self.namespace,
            "labels": self.labels(component),
            **extra,
        }
