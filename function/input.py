"""The function's input: platform policy, set by whoever writes the Composition.

It is a versioned kind (like the Go functions' input/v1beta1) whose CRD in package/input/
is generated from this model by `xagent xrd`.
"""

from __future__ import annotations

import fnmatch
from typing import Annotated, Literal

from pydantic import Field

from contract import providers
from contract.definition import CamelModel
from function import urls
from function.names import nats_token
from function.spec import (
    DNS_LABEL,
    BudgetLimit,
    ModelProvider,
    RiskTier,
    SecretStoreKind,
    ToolKind,
)

__all__ = [
    "INPUT_API_VERSION",
    "INPUT_KIND",
    "BudgetCaps",
    "CredentialPolicy",
    "EndpointRule",
    "FunctionInput",
    "IdentityAnnotation",
    "NetworkPolicyRules",
    "Policy",
    "QueuePolicy",
    "StoreRule",
    "TenantPolicy",
    "ToolRule",
    "URLRules",
]

INPUT_GROUP = "fn.xagent.dev"
INPUT_VERSION = "v1beta1"
INPUT_API_VERSION = f"{INPUT_GROUP}/{INPUT_VERSION}"
INPUT_KIND = "Input"


class EndpointRule(CamelModel):
    """Endpoints one provider may be called at."""

    provider: Annotated[ModelProvider, Field(description="The provider these URLs are for.")]
    urls: Annotated[
        list[Annotated[str, Field(max_length=2048)]],
        Field(
            max_length=100,
            description="URL patterns scheme://host-glob[:port][/path-glob], e.g. "
            "https://*.openai.azure.com or http://vllm.models.svc.cluster.local:8000/v1.",
        ),
    ] = []


class BudgetCaps(CamelModel):
    """The most a tenant's XAgents may set in spec.budgets; a capped scope must be set."""

    job: Annotated[BudgetLimit | None, Field(description="Cap of budgets.job.")] = None
    thread: Annotated[BudgetLimit | None, Field(description="Cap of budgets.thread.")] = None
    daily: Annotated[BudgetLimit | None, Field(description="Cap of budgets.daily.")] = None


class TenantPolicy(CamelModel):
    """Which providers, models, endpoints, MCP servers and budgets a tenant may use."""

    tenant_id: Annotated[
        str, Field(min_length=1, description="Tenant ID, or * for every tenant not listed.")
    ]
    allowed_providers: Annotated[
        list[ModelProvider], Field(description="Providers the tenant may use; any when empty.")
    ] = []
    allowed_models: Annotated[
        list[str], Field(description="Model name globs (gpt-4o*); any when empty.")
    ] = []
    allowed_endpoints: Annotated[
        list[EndpointRule],
        Field(
            description="Endpoint patterns per provider. A provider not listed may use only its "
            "official endpoints when it is hosted (openai, anthropic, azure-openai, bedrock), "
            "and any endpoint when it is self-hosted (ollama, openai-compatible)."
        ),
    ] = []

    allowed_mcp_urls: Annotated[
        list[Annotated[str, Field(max_length=2048)]],
        Field(
            max_length=100,
            description="URL patterns scheme://host-glob[:port][/path-glob] MCP servers must "
            "match; any when empty.",
        ),
    ] = []
    max_budgets: Annotated[
        BudgetCaps | None,
        Field(
            description="Caps on spec.budgets. With a cost cap, spec.budgets.prices may not "
            "undercut the built-in price table."
        ),
    ] = None

    def allows_mcp_url(self, url: str) -> bool:
        """Whether an MCP server at ``url`` is allowed."""
        return not self.allowed_mcp_urls or any(
            urls.matches(url, pattern) for pattern in self.allowed_mcp_urls
        )

    def allows_provider(self, provider: str) -> bool:
        """Whether ``provider`` is allowed."""
        return not self.allowed_providers or provider in self.allowed_providers

    def allows_model(self, model: str) -> bool:
        """Whether ``model`` matches an allowed glob."""
        return not self.allowed_models or any(
            fnmatch.fnmatchcase(model, pattern) for pattern in self.allowed_models
        )

    def endpoint_patterns(self, provider: str) -> tuple[str, ...] | None:
        """URL patterns ``provider`` may be called at; None when any endpoint is allowed."""
        listed = [
            url for rule in self.allowed_endpoints if rule.provider == provider for url in rule.urls
        ]
        if any(rule.provider == provider for rule in self.allowed_endpoints):
            return tuple(listed)
        return providers.provider(provider).hosted_endpoints


class ToolRule(CamelModel):
    """The minimum risk tier an agent needs to be granted matching tools.

    A rule matches what the runtime binds, not what the spec calls it: ``tool`` is compared
    (case-insensitively) with the grant's name and, for a builtin, the builtin it runs; ``url``
    with an http tool's URL; ``kind`` with a builtin's own kind (the grant's kind only for
    other tools).
    """

    tool: Annotated[str, Field(description="Tool or builtin name glob.")] = "*"
    url: Annotated[
        str | None,
        Field(
            max_length=2048,
            description="Only http tools whose URL matches scheme://host-glob[:port][/path-glob].",
        ),
    ] = None
    kind: Annotated[ToolKind | None, Field(description="Only tools of this kind.")] = None
    minimum_risk_tier: Annotated[RiskTier, Field(description="Lowest tier allowed.")]

    def matches(self, names: list[str], kind: str, url: str | None = None) -> bool:
        """Whether the rule covers a tool known by ``names`` of ``kind`` calling ``url``."""
        pattern = self.tool.lower()
        if not any(fnmatch.fnmatchcase(n.lower(), pattern) for n in names):
            return False
        if self.url is not None and (url is None or not urls.matches(url, self.url)):
            return False
        return self.kind is None or self.kind == kind


class URLRules(CamelModel):
    """Which URLs http tools and MCP servers may call."""

    allowed: Annotated[
        list[Annotated[str, Field(max_length=2048)]],
        Field(max_length=200, description="URL patterns http tools may call; any when empty."),
    ] = []
    denied: Annotated[
        list[Annotated[str, Field(max_length=2048)]],
        Field(max_length=200, description="URL patterns no http tool may call."),
    ] = []

    def problem(self, url: str) -> str | None:
        """Why ``url`` may not be called, or None."""
        for pattern in self.denied:
            if urls.matches(url, pattern):
                return f"matches denied pattern {pattern!r}"
        if self.allowed and not any(urls.matches(url, p) for p in self.allowed):
            return "matches no allowed pattern"
        return None


class StoreRule(CamelModel):
    """An External Secrets store XAgents may read from."""

    kind: Annotated[SecretStoreKind, Field(description="SecretStore or ClusterSecretStore.")]
    name: Annotated[str, Field(min_length=1, description="Store name glob.")]


class CredentialPolicy(CamelModel):
    """Where credentials may come from: the tenant's own keys, allowed stores and Secrets."""

    remote_key_prefix: Annotated[
        str,
        Field(
            min_length=1,
            description="Every remoteRef key must start with this; {tenantId} and {namespace} "
            "are replaced by the XAgent's.",
        ),
    ] = "xagent/{tenantId}/"
    stores: Annotated[
        list[StoreRule],
        Field(description="Stores spec.secrets may name."),
    ] = [
        StoreRule(kind=SecretStoreKind.CLUSTER_SECRET_STORE, name="default"),
        StoreRule(kind=SecretStoreKind.SECRET_STORE, name="*"),
    ]
    env_secrets: Annotated[
        list[str],
        Field(
            description="Secret name globs spec.env valueFrom.secretKeyRef, spec.envFrom and "
            "spec.observability.tracing.headersSecretRef may read besides the Secrets the "
            "XAgent composes or names as credentials; {name} is the XAgent's name.",
        ),
    ] = []

    existing_secrets: Annotated[
        list[str],
        Field(
            description="Secret name globs the credential fields that name an existing Secret "
            "may name (model and tool secretRef, MCP tokens and headers, external database "
            "and cache, backup credentials, api.auth.tokenSecretRef); {name} is the XAgent's "
            "name. A Secret xagent composed for another XAgent is refused whatever this says.",
        ),
    ] = ["*"]

    def key_prefix(self, tenant_id: str, namespace: str) -> str:
        """The prefix for one XAgent."""
        return self.remote_key_prefix.replace("{tenantId}", tenant_id).replace(
            "{namespace}", namespace
        )

    def allows_store(self, kind: str, name: str) -> bool:
        """Whether spec.secrets may name this store."""
        return any(r.kind == kind and fnmatch.fnmatchcase(name, r.name) for r in self.stores)


class QueuePolicy(CamelModel):
    """Which NATS streams and subjects an XAgent may name."""

    stream_prefixes: Annotated[
        list[str],
        Field(
            description="An explicit spec.queue.stream must start with one of these; "
            "{namespace} and {tenantId} are replaced (namespace as a NATS token)."
        ),
    ] = ["xagent_{namespace}_"]
    subject_prefixes: Annotated[
        list[str],
        Field(description="An explicit spec.queue.subjectPrefix must start with one of these."),
    ] = ["xagent.{namespace}."]
    auth_secrets: Annotated[
        list[str],
        Field(
            description="Secret name globs spec.queue.auth may name as secretName (existing "
            "Secrets); none when empty. A remoteKey is synced from the store instead, under "
            "credentials.remoteKeyPrefix."
        ),
    ] = []

    def streams_in(self, namespace: str, tenant_id: str) -> list[str]:
        """The stream-name prefixes for one XAgent (``{namespace}`` as a NATS token)."""
        return [_expand_nats(t, namespace, tenant_id) for t in self.stream_prefixes]

    def subjects_in(self, namespace: str, tenant_id: str) -> list[str]:
        """The subject prefixes for one XAgent (``{namespace}`` as a NATS token)."""
        return [_expand_nats(t, namespace, tenant_id) for t in self.subject_prefixes]


def _expand_nats(template: str, namespace: str, tenant_id: str) -> str:
    return template.replace("{namespace}", nats_token(namespace)).replace("{tenantId}", tenant_id)


class IdentityAnnotation(CamelModel):
    """A cloud identity annotation a ServiceAccount may carry."""

    key: Annotated[str, Field(min_length=1, description="Annotation key glob.")]
    value: Annotated[
        str,
        Field(
            min_length=1,
            description="Value glob; {tenantId} and {namespace} are replaced.",
        ),
    ]


class NetworkPolicyRules(CamelModel):
    """What a tenant may do with the runtime's NetworkPolicy."""

    required: Annotated[bool, Field(description="spec.networkPolicy.enabled may not be false.")] = (
        False
    )
    ingress_namespaces: Annotated[
        list[str],
        Field(
            description="Namespace name globs spec.networkPolicy.ingressNamespaces may list; "
            "any when empty."
        ),
    ] = []
    cnpg_operator_namespace: Annotated[
        str,
        Field(
            pattern=DNS_LABEL,
            max_length=63,
            description="Namespace of the CloudNativePG operator: its pods (app.kubernetes.io/"
            "name=cloudnative-pg) may reach the database pods on 5432 and 8000.",
        ),
    ] = "cnpg-system"
    dragonfly_operator_namespace: Annotated[
        str,
        Field(
            pattern=DNS_LABEL,
            max_length=63,
            description="Namespace of the Dragonfly operator: its pods (control-plane="
            "controller-manager) may reach the cache pods' admin port 9999.",
        ),
    ] = "dragonfly-operator-system"


class Policy(CamelModel):
    """Platform policy. With no tenants listed, every tenant may use every model."""

    tenants: Annotated[
        list[TenantPolicy],
        Field(
            description="Per-tenant model allow-lists. "
            "When any is listed, a tenant that matches "
            "none is denied."
        ),
    ] = []
    tools: Annotated[list[ToolRule], Field(description="Minimum risk tier per tool.")] = []
    tool_urls: Annotated[
        URLRules, Field(description="URLs http tools and MCP servers may call.")
    ] = URLRules()
    credentials: CredentialPolicy = CredentialPolicy()
    queues: QueuePolicy = QueuePolicy()
    provider_configs: Annotated[
        list[str],
        Field(
            description="provider-sql ProviderConfig name globs "
            "spec.persistence.database.sql.providerConfigRef may name."
        ),
    ] = ["default"]
    network_policy: NetworkPolicyRules = NetworkPolicyRules()
    images: Annotated[
        list[str],
        Field(
            description="Runtime image repository globs spec.image.repository may name; any "
            "when empty. The runtime enforces grants and drops SDK-redirecting variables only "
            "if it is the runtime: pin the image to make that hold."
        ),
    ] = []
    identity_annotations: Annotated[
        list[IdentityAnnotation],
        Field(
            description="Cloud identity annotations (eks.amazonaws.com/*, iam.gke.io/*, "
            "azure.workload.identity/*) spec.serviceAccount.annotations may carry; none when "
            "empty. Other annotations are not restricted."
        ),
    ] = []

    def tenant(self, tenant_id: str) -> TenantPolicy | None:
        """The tenant's entry, else the * entry, else None."""
        exact = next((t for t in self.tenants if t.tenant_id == tenant_id), None)
        return exact or next((t for t in self.tenants if t.tenant_id == "*"), None)


class FunctionInput(CamelModel):
    """Input of the xagent composition function."""

    api_version: Annotated[Literal["fn.xagent.dev/v1beta1"], Field(alias="apiVersion")] = (
        "fn.xagent.dev/v1beta1"
    )
    kind: Literal["Input"] = "Input"
    metadata: dict[str, object] | None = None
    policy: Policy = Policy()
