"""The XAgent API: one pydantic model, the single source of the XRD schemas.

Field names are snake_case in Python and camelCase on the wire (the alias). Descriptions,
defaults and constraints written here are what `xagent xrd` puts into xrds/, and what the
composition function validates an XR against, so the two can never disagree.
"""

from __future__ import annotations

import re
import zoneinfo
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, ConfigDict, Field, field_validator, model_validator
from pydantic.alias_generators import to_camel

from contract import defaults, protected_env
from contract import queue as queue_defaults
from contract.definition import AgentDefinition, CamelModel
from contract.enums import LogPrompts, OtlpProtocol, RiskTier, ToolKind
from contract.providers import PROVIDERS, ModelProvider, Need, provider
from function import cron, k8s_types, units, urls

__all__ = [
    "DNS_LABEL",
    "DURATION",
    "QUANTITY",
    "AgentBehavior",
    "AgentMode",
    "AlertsSpec",
    "ApiAuthMode",
    "ApiAuthSpec",
    "ApiSpec",
    "ApiTokenSecret",
    "ApprovalTimeoutAction",
    "ApprovalsSpec",
    "Autoscaler",
    "BackupSpec",
    "BudgetLimit",
    "BudgetsSpec",
    "CacheEngine",
    "DashboardSpec",
    "DatabaseEngine",
    "DefinitionRef",
    "ImageSpec",
    "LogPrompts",
    "McpServer",
    "McpToolSpec",
    "McpTransport",
    "ModelPrice",
    "ModelProvider",
    "ModelSpec",
    "NatsAuthMethod",
    "NatsAuthSpec",
    "NatsSecretSource",
    "NatsTlsSpec",
    "QueueEngine",
    "RiskTier",
    "ScheduleTrigger",
    "SecretKeyRef",
    "SubjectTrigger",
    "TaskSpec",
    "ToolGrant",
    "ToolKind",
    "TriggersSpec",
    "XAgentSpec",
    "XAgentStatus",
]

DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
DURATION = units.DURATION
QUANTITY = units.QUANTITY
ENV_NAME = r"^[-._a-zA-Z][-._a-zA-Z0-9]*$"
SUBJECT = r"^[^\s*>]+(\.[^\s*>]+)*$"
TOOL_NAME = r"^[a-zA-Z][a-zA-Z0-9_-]{0,63}$"
RISK_DESCRIPTION = (
    "How risky a call is (approvals.minRiskTier gates by it); a policy tool rule raises it to "
    "its minimumRiskTier. low when unset."
)


def _duration(positive: bool):
    def check(text: str) -> str:
        if units.duration_seconds(text) == 0 and positive:
            raise ValueError(f"{text!r}: must be longer than 0")
        return text

    return AfterValidator(check)


def _quantity(positive: bool):
    def check(text: str) -> str:
        if units.quantity_value(text) == 0 and positive:
            raise ValueError(f"{text!r}: must be more than 0")
        return text

    return AfterValidator(check)


Duration = Annotated[str, Field(pattern=DURATION), _duration(positive=True)]
"""A Go duration above 0 that fits time.Duration (the runtime and the operators need > 0)."""
DurationOrZero = Annotated[str, Field(pattern=DURATION), _duration(positive=False)]
"""A Go duration that fits time.Duration; 0 means no limit (maxAge) or never (refresh)."""
Quantity = Annotated[str, Field(pattern=QUANTITY), _quantity(positive=False)]
"""A Kubernetes quantity within 2^63-1 (requests and limits may be 0)."""
PositiveQuantity = Annotated[str, Field(pattern=QUANTITY), _quantity(positive=True)]
"""A Kubernetes quantity above 0 (a volume size, a memory limit)."""

# --- enums ---------------------------------------------------------------------------------


class AgentMode(StrEnum):
    """How the agent runs: a long-running service, or one task."""

    SERVICE = "service"
    TASK = "task"


class McpTransport(StrEnum):
    """How the runtime talks to an MCP server."""

    STREAMABLE_HTTP = "streamable-http"
    SSE = "sse"


class ApprovalTimeoutAction(StrEnum):
    """What happens to a call nobody decided on in time."""

    REJECT = "reject"
    APPROVE = "approve"


class DatabaseEngine(StrEnum):
    """Where checkpoints live."""

    CNPG = "cnpg"
    SQL = "sql"
    EXTERNAL = "external"
    NONE = "none"


class CacheEngine(StrEnum):
    """Where streamed events live."""

    DRAGONFLY = "dragonfly"
    REDIS = "redis"
    EXTERNAL = "external"
    NONE = "none"


class QueueEngine(StrEnum):
    """Where jobs come from."""

    NATS = "nats"
    NONE = "none"


class Autoscaler(StrEnum):
    """What scales the runtime Deployment."""

    KEDA = "keda"
    HPA = "hpa"
    NONE = "none"


class PullPolicy(StrEnum):
    """Kubernetes image pull policy."""

    ALWAYS = "Always"
    IF_NOT_PRESENT = "IfNotPresent"
    NEVER = "Never"


class SecretStoreKind(StrEnum):
    """The External Secrets store kinds."""

    SECRET_STORE = "SecretStore"  # noqa: S105 - a kind name, not a secret
    CLUSTER_SECRET_STORE = "ClusterSecretStore"  # noqa: S105


# --- building blocks -----------------------------------------------------------------------


class LocalObjectReference(CamelModel):
    """A reference to an object in the XAgent's namespace."""

    name: Annotated[str, Field(pattern=DNS_SUBDOMAIN, max_length=253, description="Object name.")]


class SecretKeyRef(CamelModel):
    """A key of an existing Secret in the XAgent's namespace."""

    name: Annotated[str, Field(pattern=DNS_SUBDOMAIN, max_length=253, description="Secret name.")]
    key: Annotated[
        str,
        Field(pattern=k8s_types.CONFIG_KEY, max_length=253, description="Key in the Secret."),
    ] = "api-key"


class RemoteRef(CamelModel):
    """A secret in the external store, synced by an ExternalSecret."""

    key: Annotated[
        str, Field(min_length=1, max_length=512, description="Key (path) in the external store.")
    ]
    property: Annotated[
        str | None,
        Field(description="Property within the remote secret; the whole value when unset."),
    ] = None


class Credentials(CamelModel):
    """Where a credential comes from: an existing Secret or a key in the external store."""

    secret_ref: Annotated[SecretKeyRef | None, Field(description="Use an existing Secret.")] = None
    remote_ref: Annotated[
        RemoteRef | None, Field(description="Sync from the secret store with an ExternalSecret.")
    ] = None

    @model_validator(mode="after")
    def _one_source(self) -> Credentials:
        if (self.secret_ref is None) == (self.remote_ref is None):
            raise ValueError("set exactly one of secretRef or remoteRef")
        return self


# --- spec sections -------------------------------------------------------------------------


class ImageSpec(CamelModel):
    """The runtime image."""

    repository: Annotated[
        str, Field(pattern=k8s_types.IMAGE, max_length=512, description="Image repository.")
    ] = "ghcr.io/xagent-dev/xagent-runtime"
    tag: Annotated[
        str,
        Field(
            # ASCII classes, not \w: the API server's RE2 reads \w as ASCII while pydantic's
            # Rust regex reads it as Unicode (admitting tags no registry serves), and the
            # Unicode form of this bounded repetition costs the function ~18 MiB of memory.
            pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$|^sha256:[a-f0-9]{64}$",
            description="Image tag, or a sha256 digest.",
        ),
    ] = "0.1.0"
    pull_policy: Annotated[PullPolicy, Field(description="Image pull policy.")] = (
        PullPolicy.IF_NOT_PRESENT
    )
    image_pull_secrets: Annotated[
        list[LocalObjectReference],
        Field(max_length=20, description="Secrets for a private registry."),
    ] = []

    @property
    def reference(self) -> str:
        """The full image reference."""
        sep = "@" if self.tag.startswith("sha256:") else ":"
        return f"{self.repository}{sep}{self.tag}"


class DefinitionRef(CamelModel):
    """An agent definition kept in a ConfigMap of the XAgent's namespace."""

    name: Annotated[
        str, Field(pattern=DNS_SUBDOMAIN, max_length=253, description="ConfigMap name.")
    ]
    key: Annotated[
        str,
        Field(
            pattern=r"^[-._a-zA-Z0-9]+$",
            max_length=253,
            description="Key holding the definition (JSON or YAML).",
        ),
    ] = "definition.json"
    id: Annotated[
        str | None,
        Field(
            max_length=253,
            description="Definition ID reported to the "
            "runtime (AGENT_DEFINITION_ID); defaults to name.",
        ),
    ] = None


def _needing(field: str) -> str:
    """``"azure-openai and ollama"``: the providers that need ``field`` (provider table)."""
    ids = [p.id for p in PROVIDERS if p.needs()[field] == Need.REQUIRED]
    return ", ".join(ids[:-1]) + " and " + ids[-1] if len(ids) > 1 else "".join(ids)


class ModelSpec(CamelModel):
    """The model every node uses unless its definition overrides it."""

    provider: Annotated[ModelProvider, Field(description="Model provider.")]
    name: Annotated[str, Field(min_length=1, max_length=200, description="Model name.")]
    endpoint: Annotated[
        str | None,
        Field(
            pattern=r"^https?://",
            max_length=2048,
            description=f"API base URL; required for {_needing('endpoint')}.",
        ),
    ] = None
    api_version: Annotated[
        str | None,
        Field(
            max_length=64,
            description=f"API version; required for {_needing('apiVersion')}.",
        ),
    ] = None
    region: Annotated[
        str | None,
        Field(
            pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
            max_length=32,
            description=f"Cloud region; required for {_needing('region')}.",
        ),
    ] = None
    fallback_model: Annotated[
        str | None, Field(max_length=200, description="Model used when the primary fails.")
    ] = None
    temperature: Annotated[float, Field(ge=0, le=2, description="Sampling temperature.")] = 0.7
    max_tokens: Annotated[
        int | None, Field(ge=1, le=1_000_000, description="Max tokens per reply.")
    ] = None
    top_p: Annotated[float | None, Field(ge=0, le=1, description="Nucleus sampling.")] = None
    credentials: Annotated[
        Credentials | None,
        Field(
            description="API key source. When unset, an ExternalSecret syncs remote key "
            "xagent/<tenantId>/<provider>, except for "
            + " and ".join(p.id for p in PROVIDERS if not p.needs_secret)
            + ", which run without one."
        ),
    ] = None

    @model_validator(mode="after")
    def _settings_the_provider_needs(self) -> ModelSpec:
        values = {"endpoint": self.endpoint, "apiVersion": self.api_version, "region": self.region}
        for name, need in provider(self.provider).needs().items():
            if need == Need.REQUIRED and not values[name]:
                raise ValueError(f"provider {self.provider} needs {name}")
        return self


class ToolGrant(CamelModel):
    """A tool the agent may call, and the credential it calls with."""

    name: Annotated[
        str,
        Field(pattern=TOOL_NAME, description="Tool name, as in the definition."),
    ]
    kind: Annotated[ToolKind, Field(description="domain, process or primitive.")]
    risk: Annotated[RiskTier | None, Field(description=RISK_DESCRIPTION)] = None
    credentials: Annotated[Credentials | None, Field(description="Credential for the tool.")] = None


class McpToolSpec(CamelModel):
    """A tool of an MCP server the agent may call; the server's other tools stay hidden."""

    name: Annotated[
        str,
        Field(
            pattern=TOOL_NAME,
            description="The tool's name on the MCP server; the model sees it under this name.",
        ),
    ]
    kind: Annotated[ToolKind, Field(description="domain, process or primitive.")]
    risk: Annotated[RiskTier | None, Field(description=RISK_DESCRIPTION)] = None


class McpHeader(CamelModel):
    """An HTTP header sent to an MCP server, its value read from a secret."""

    name: Annotated[
        str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9-]{0,99}$", description="Header name.")
    ]
    credentials: Annotated[Credentials, Field(description="Where the header's value comes from.")]


class McpServer(CamelModel):
    """A Model Context Protocol server and the tools the agent is granted from it."""

    name: Annotated[
        str,
        Field(
            pattern=DNS_LABEL,
            max_length=40,
            description="Server name, unique; names its credential Secrets and metrics.",
        ),
    ]
    url: Annotated[
        str,
        Field(
            pattern=r"^https?://[^\s]+$",
            max_length=2048,
            description="Endpoint of the server (e.g. https://mcp.example.com/mcp).",
        ),
    ]
    transport: Annotated[
        McpTransport,
        Field(description="streamable-http, or sse for servers that predate it."),
    ] = McpTransport.STREAMABLE_HTTP
    credentials: Annotated[
        Credentials | None,
        Field(description="Bearer token sent as Authorization; never a literal."),
    ] = None
    headers: Annotated[
        list[McpHeader],
        Field(max_length=20, description="Further headers, each value from a secret."),
    ] = []
    timeout_seconds: Annotated[
        float, Field(gt=0, le=600, description="Timeout of one request to the server.")
    ] = defaults.MCP_TIMEOUT_SECONDS
    tools: Annotated[
        list[McpToolSpec],
        Field(
            max_length=100,
            description="Tools granted from this server; none when empty (grants are explicit).",
        ),
    ] = []

    @model_validator(mode="after")
    def _headers_unique(self) -> McpServer:
        seen = {"authorization"} if self.credentials is not None else set()
        for i, header in enumerate(self.headers):
            if header.name.lower() in seen:
                raise ValueError(f"headers[{i}].name: header {header.name!r} is set twice")
            seen.add(header.name.lower())
        return self


class ToolsSpec(CamelModel):
    """Tool grants: nothing outside this list is ever bound to a model."""

    allowed: Annotated[
        list[ToolGrant],
        Field(max_length=100, description="Granted tools; the runtime binds no other."),
    ] = []
    mcp_servers: Annotated[
        list[McpServer],
        Field(
            max_length=20,
            description="MCP servers; the orchestrator is bound to the tools granted from each.",
        ),
    ] = []

    @model_validator(mode="after")
    def _unique(self) -> ToolsSpec:
        names = [t.name for t in self.allowed]
        for i, name in enumerate(names):
            if name in names[:i]:
                raise ValueError(f"allowed[{i}].name: duplicate tool {name!r}")
        servers: list[str] = []
        for i, server in enumerate(self.mcp_servers):
            if server.name in servers:
                raise ValueError(f"mcpServers[{i}].name: duplicate server {server.name!r}")
            servers.append(server.name)
            for j, tool in enumerate(server.tools):
                # The model calls every bound tool by name, so names must be unique overall.
                if tool.name in names:
                    raise ValueError(
                        f"mcpServers[{i}].tools[{j}].name: tool {tool.name!r} is granted twice"
                    )
                names.append(tool.name)
        return self


class ConcurrencySpec(CamelModel):
    """How much work one pod takes at once."""

    max_parallel_sessions: Annotated[
        int, Field(ge=1, le=1000, description="Jobs in flight per pod.")
    ] = queue_defaults.MAX_PARALLEL_SESSIONS


class ScalingSpec(CamelModel):
    """Replicas and how they follow the queue."""

    autoscaler: Annotated[
        Autoscaler,
        Field(
            description="keda: scale on JetStream consumer "
            "lag; hpa: on CPU; none: fixed minReplicas."
        ),
    ] = Autoscaler.KEDA
    min_replicas: Annotated[
        int,
        Field(
            ge=0,
            le=1000,
            description="Fewest replicas (0 lets KEDA scale to zero on an empty queue).",
        ),
    ] = 1
    max_replicas: Annotated[int, Field(ge=1, le=1000, description="Most replicas.")] = 10
    lag_threshold: Annotated[
        int, Field(ge=1, le=100_000, description="Pending jobs per replica before KEDA adds one.")
    ] = 5
    cooldown_period: Annotated[
        int,
        Field(
            ge=0,
            le=86_400,
            description="Seconds after the last trigger before scaling to minReplicas.",
        ),
    ] = 300
    polling_interval: Annotated[
        int, Field(ge=1, le=3600, description="Seconds between KEDA lag checks.")
    ] = 30
    target_cpu_utilization: Annotated[
        int, Field(ge=1, le=100, description="HPA target CPU percent.")
    ] = 80

    @model_validator(mode="after")
    def _bounds(self) -> ScalingSpec:
        if self.min_replicas > self.max_replicas:
            raise ValueError("minReplicas must not exceed maxReplicas")
        return self


class ResourceList(CamelModel):
    """CPU and memory quantities."""

    cpu: Annotated[Quantity | None, Field(description="CPU quantity, e.g. 500m.")] = None
    memory: Annotated[Quantity | None, Field(description="Memory quantity, e.g. 1Gi.")] = None


class ResourcesSpec(CamelModel):
    """Requests and limits of the runtime container."""

    requests: ResourceList = ResourceList(cpu="250m", memory="512Mi")
    limits: ResourceList = ResourceList(cpu="1", memory="1Gi")

    @model_validator(mode="after")
    def _requests_within_limits(self) -> ResourcesSpec:
        # The API server rejects a container whose request exceeds its limit.
        for resource in ("cpu", "memory"):
            request, limit = getattr(self.requests, resource), getattr(self.limits, resource)
            if request and limit and units.quantity_value(request) > units.quantity_value(limit):
                raise ValueError(f"requests.{resource} {request} exceeds limits.{resource} {limit}")
        return self


class StorageSpec(CamelModel):
    """A volume's size and class."""

    size: Annotated[PositiveQuantity, Field(description="Volume size.")] = "1Gi"
    storage_class: Annotated[
        str | None,
        Field(
            pattern=DNS_SUBDOMAIN,
            max_length=253,
            description="StorageClass; the cluster default when unset.",
        ),
    ] = None


class ExternalConnection(CamelModel):
    """A Secret holding a connection URL to a service xagent does not run."""

    secret_name: Annotated[
        str,
        Field(
            pattern=DNS_SUBDOMAIN, max_length=253, description="Secret in the XAgent's namespace."
        ),
    ]
    key: Annotated[str, Field(min_length=1, description="Key holding the URL.")] = "uri"


class SqlProviderSpec(CamelModel):
    """provider-sql settings, for engine sql."""

    provider_config_ref: Annotated[
        str, Field(description="ProviderConfig of provider-sql that reaches the Postgres server.")
    ] = "default"
    provider_config_kind: Annotated[
        Literal["ClusterProviderConfig", "ProviderConfig"],
        Field(description="Kind of providerConfigRef: cluster-wide, or in the XAgent's namespace."),
    ] = "ClusterProviderConfig"
    host: Annotated[
        str | None,
        Field(description="Host the runtime connects to; the provider's endpoint when unset."),
    ] = None
    port: Annotated[
        int,
        Field(
            ge=1,
            le=65535,
            description="Port the runtime connects to; only used together with host.",
        ),
    ] = defaults.POSTGRES_PORT


class BackupProvider(StrEnum):
    """The object store CloudNativePG's barman-cloud writes base backups and WAL to."""

    S3 = "s3"
    GCS = "gcs"
    AZURE = "azure"


class BackupCredentials(CamelModel):
    """A Secret of the XAgent's namespace holding the object store credentials.

    Key names default to the ones the CloudNativePG documentation uses.
    """

    secret_name: Annotated[
        str | None,
        Field(
            pattern=DNS_SUBDOMAIN,
            max_length=253,
            description="The Secret; unset with inheritFromIdentity.",
        ),
    ] = None
    access_key_id_key: Annotated[
        str, Field(min_length=1, description="s3: key of the access key ID.")
    ] = "ACCESS_KEY_ID"
    secret_access_key_key: Annotated[
        str, Field(min_length=1, description="s3: key of the secret access key.")
    ] = "ACCESS_SECRET_KEY"  # noqa: S105 - a key name, not a secret
    region_key: Annotated[
        str | None, Field(min_length=1, description="s3: key of the region, when needed.")
    ] = None
    application_credentials_key: Annotated[
        str, Field(min_length=1, description="gcs: key of the service account JSON.")
    ] = "gcsCredentials"
    connection_string_key: Annotated[
        str, Field(min_length=1, description="azure: key of the storage connection string.")
    ] = "AZURE_CONNECTION_STRING"
    inherit_from_identity: Annotated[
        bool,
        Field(
            description="Use the pod's cloud identity instead of a Secret (s3: IAM role, "
            "gcs: GKE workload identity, azure: Azure AD workload identity)."
        ),
    ] = False

    @model_validator(mode="after")
    def _one_source(self) -> BackupCredentials:
        if (self.secret_name is None) != self.inherit_from_identity:
            raise ValueError("set exactly one of secretName or inheritFromIdentity")
        return self


class BackupSpec(CamelModel):
    """CloudNativePG backups to an object store: base backups on a schedule, WAL continuously."""

    destination_path: Annotated[
        str,
        Field(
            pattern=r"^(s3|gs)://[^/\s]+(/\S*)?$|^https://\S+$",
            description="Where backups go: s3://bucket/path, gs://bucket/path, or the "
            "https:// URL of an Azure Blob container.",
        ),
    ]
    provider: Annotated[BackupProvider, Field(description="s3, gcs or azure.")] = BackupProvider.S3
    endpoint_url: Annotated[
        str | None,
        Field(pattern=r"^https?://", description="S3-compatible endpoint (MinIO, Ceph ...)."),
    ] = None
    credentials: BackupCredentials
    schedule: Annotated[
        str,
        Field(
            max_length=100,
            description="Cron schedule of base backups (5 fields or @daily; UTC).",
        ),
    ] = "0 2 * * *"
    retention: Annotated[
        str,
        Field(
            pattern=r"^[1-9][0-9]*[dwm]$",
            description="How long backups and WAL are kept: days, weeks or months, e.g. 30d.",
        ),
    ] = "30d"
    immediate: Annotated[
        bool, Field(description="Take the first base backup as soon as the schedule exists.")
    ] = True

    @model_validator(mode="after")
    def _valid(self) -> BackupSpec:
        if problem := cron.error(self.schedule):
            raise ValueError(f"schedule: {problem}")
        scheme = {"s3": "s3://", "gcs": "gs://", "azure": "https://"}[self.provider]
        if not self.destination_path.startswith(scheme):
            raise ValueError(f"destinationPath: provider {self.provider} needs a {scheme} path")
        return self


class DatabaseSpec(CamelModel):
    """Postgres for LangGraph checkpoints and job idempotency."""

    engine: Annotated[
        DatabaseEngine,
        Field(
            description="cnpg: a CloudNativePG Cluster; sql: "
            "a database on a shared server via provider-sql; "
            "external: a Secret you provide; none: SQLite in "
            "the pod (lost on restart)."
        ),
    ] = DatabaseEngine.CNPG
    instances: Annotated[int, Field(ge=1, le=9, description="CNPG instances.")] = 1
    storage: StorageSpec = StorageSpec()
    image_name: Annotated[
        str | None,
        Field(
            pattern=k8s_types.IMAGE,
            description="CNPG Postgres image; the operator default when unset.",
        ),
    ] = None
    sql: SqlProviderSpec = SqlProviderSpec()
    external: ExternalConnection | None = None
    backup: Annotated[
        BackupSpec | None,
        Field(description="Backups of the cnpg engine's Cluster; none when unset."),
    ] = None

    @model_validator(mode="after")
    def _external_needs_secret(self) -> DatabaseSpec:
        if self.engine == DatabaseEngine.EXTERNAL and self.external is None:
            raise ValueError("engine external needs external.secretName")
        if self.backup is not None and self.engine != DatabaseEngine.CNPG:
            raise ValueError("backup: only the cnpg engine is backed up by xagent")
        return self


class CacheSpec(CamelModel):
    """Redis-compatible cache for streamed events."""

    engine: Annotated[
        CacheEngine,
        Field(
            description="dragonfly: a Dragonfly instance; redis: "
            "a Redis Deployment; external: a Secret you provide; "
            "none: no event streaming."
        ),
    ] = CacheEngine.DRAGONFLY
    replicas: Annotated[
        int, Field(ge=1, le=9, description="Dragonfly replicas (the redis engine always runs one).")
    ] = 1
    image: Annotated[
        str, Field(pattern=k8s_types.IMAGE, description="Image of the redis engine.")
    ] = "redis:7.4-alpine"
    memory: Annotated[PositiveQuantity, Field(description="Memory limit.")] = "512Mi"
    external: ExternalConnection | None = None

    @model_validator(mode="after")
    def _external_needs_secret(self) -> CacheSpec:
        if self.engine == CacheEngine.EXTERNAL and self.external is None:
            raise ValueError("engine external needs external.secretName")
        return self


class PersistenceSpec(CamelModel):
    """State the agent keeps."""

    database: DatabaseSpec = DatabaseSpec()
    cache: CacheSpec = CacheSpec()


class NatsAuthMethod(StrEnum):
    """How the runtime and NACK authenticate to NATS."""

    NONE = "none"
    USER_PASSWORD = "userPassword"  # noqa: S105 - a method name, not a password
    TOKEN = "token"  # noqa: S105
    CREDS = "creds"
    NKEY = "nkey"


class NatsSecretSource(CamelModel):
    """A Secret whose keys hold NATS credentials: an existing one, or one synced from the store."""

    secret_name: Annotated[
        str | None,
        Field(
            pattern=DNS_SUBDOMAIN,
            max_length=253,
            description="An existing Secret of the namespace; policy.queues.authSecrets must "
            "allow it.",
        ),
    ] = None
    remote_key: Annotated[
        str | None,
        Field(
            min_length=1,
            max_length=512,
            description="A key in the External Secrets store, under the tenant's prefix; its "
            "properties become the keys of a Secret this XAgent owns.",
        ),
    ] = None

    @model_validator(mode="after")
    def _one_source(self) -> NatsSecretSource:
        if (self.secret_name is None) == (self.remote_key is None):
            raise ValueError("set exactly one of secretName or remoteKey")
        return self


class NatsTlsSpec(NatsSecretSource):
    """TLS to NATS: keys ca.crt, and tls.crt and tls.key for a client certificate."""

    client_certificate: Annotated[
        bool, Field(description="Present tls.crt and tls.key (mutual TLS); ca.crt alone if false.")
    ] = True


class NatsAuthSpec(CamelModel):
    """Credentials for NATS, used by the NACK Account and the runtime; never values."""

    method: Annotated[
        NatsAuthMethod,
        Field(
            description="The Secret's keys, by method: userPassword: user and password; token: "
            "token; creds: user.creds (nsc); nkey: nkey.seed."
        ),
    ] = NatsAuthMethod.NONE
    secret: Annotated[
        NatsSecretSource | None, Field(description="Where the method's keys are.")
    ] = None
    tls: Annotated[NatsTlsSpec | None, Field(description="TLS certificates.")] = None

    @model_validator(mode="after")
    def _secret_with_method(self) -> NatsAuthSpec:
        if (self.method == NatsAuthMethod.NONE) != (self.secret is None):
            raise ValueError("secret goes with a method other than none, and only with one")
        return self


class QueueSpec(CamelModel):
    """NATS JetStream jobs queue (NACK Stream + Consumer)."""

    engine: Annotated[QueueEngine, Field(description="nats: JetStream; none: HTTP only.")] = (
        QueueEngine.NATS
    )
    url: Annotated[
        str, Field(pattern=r"^(nats|tls)://", max_length=2048, description="NATS server URL.")
    ] = "nats://nats.nats.svc.cluster.local:4222"
    stream: Annotated[
        str | None,
        Field(
            pattern=r"^[A-Za-z0-9_-]{1,200}$",
            description="Stream name; derived from namespace and name when unset.",
        ),
    ] = None
    subject_prefix: Annotated[
        str | None,
        Field(
            pattern=SUBJECT,
            description="Subjects are "
            "<prefix>.jobs, .results and .dead; "
            "xagent.<namespace>.<name> when unset.",
        ),
    ] = None
    ack_wait: Annotated[
        Duration,
        Field(
            description="Time a job may run between progress acks before redelivery.",
        ),
    ] = f"{queue_defaults.ACK_WAIT_SECONDS}s"
    max_deliver: Annotated[
        int,
        Field(ge=1, le=100, description="Deliveries before a job goes to the dead-letter subject."),
    ] = queue_defaults.MAX_DELIVER
    max_age: Annotated[DurationOrZero, Field(description="Stream retention.")] = "168h"
    replicas: Annotated[int, Field(ge=1, le=5, description="Stream replicas.")] = 1
    storage: Annotated[
        str,
        Field(
            pattern=r"^(file|memory)$",
            description="Stream storage: file survives a NATS restart, memory does not.",
        ),
    ] = "file"
    monitoring_endpoint: Annotated[
        str | None,
        Field(
            pattern=r"^[^\s/:]+(:[0-9]{1,5})?$|^\[[0-9a-fA-F:]+\](:[0-9]{1,5})?$",
            description="host:port of the NATS HTTP monitoring endpoint KEDA reads consumer "
            "lag from; the first server of url on port 8222 when unset.",
        ),
    ] = None
    account: Annotated[
        str,
        Field(
            min_length=1,
            description="NATS account that holds the stream, for KEDA's lag lookup ($G, the "
            "global account, on a server without accounts).",
        ),
    ] = "$G"
    auth: NatsAuthSpec = NatsAuthSpec()

    @model_validator(mode="after")
    def _servers_parse(self) -> QueueSpec:
        # Each comma-separated server must be a URL with a host and a port that fits, or
        # NACK, KEDA's monitoring endpoint and the runtime cannot reach it.
        for server in self.url.split(","):
            if not re.fullmatch(r"(nats|tls)://\S+", server.strip()) or urls.parse(server) is None:
                raise ValueError(f"url: {server.strip()!r} is not a NATS server URL")
        return self


class SecretsSpec(CamelModel):
    """The External Secrets store that holds model and tool credentials."""

    store_name: Annotated[
        str,
        Field(
            pattern=DNS_SUBDOMAIN,
            max_length=253,
            description="SecretStore or ClusterSecretStore name.",
        ),
    ] = "default"
    store_kind: Annotated[SecretStoreKind, Field(description="Kind of the store.")] = (
        SecretStoreKind.CLUSTER_SECRET_STORE
    )
    refresh_interval: Annotated[
        DurationOrZero,
        Field(description="How often ESO re-reads the store (rotation)."),
    ] = "1h"


class OtlpHeadersSecret(SecretKeyRef):
    """A key of an existing Secret holding OTLP export headers."""

    key: Annotated[
        str,
        Field(pattern=k8s_types.CONFIG_KEY, max_length=253, description="Key in the Secret."),
    ] = "headers"


class TracingSpec(CamelModel):
    """OpenTelemetry traces."""

    endpoint: Annotated[
        str | None,
        Field(
            max_length=2048,
            description="OTLP endpoint: host:port or URL for grpc, the base URL for "
            "http/protobuf (/v1/traces is added); no traces when unset.",
        ),
    ] = None
    sample_ratio: Annotated[float, Field(ge=0, le=1, description="Share of jobs traced.")] = 0.1
    protocol: Annotated[
        OtlpProtocol,
        Field(description="grpc, or http/protobuf (Langfuse's OTLP endpoint is HTTP only)."),
    ] = OtlpProtocol.GRPC
    headers_secret_ref: Annotated[
        OtlpHeadersSecret | None,
        Field(
            description="A Secret key holding the export's headers as "
            "OTEL_EXPORTER_OTLP_HEADERS writes them (k=v pairs, comma separated, values "
            "URL-encoded), e.g. Authorization=Basic%20<base64> for Langfuse.",
        ),
    ] = None

    @model_validator(mode="after")
    def _needs_endpoint(self) -> TracingSpec:
        if self.headers_secret_ref is not None and not self.endpoint:
            raise ValueError("headersSecretRef needs an endpoint to send the headers to")
        return self


class ServiceMonitorSpec(CamelModel):
    """Prometheus operator scraping."""

    enabled: Annotated[bool, Field(description="Compose a ServiceMonitor.")] = True
    interval: Annotated[Duration, Field(description="Scrape interval.")] = "30s"
    labels: Annotated[
        dict[str, str],
        Field(
            max_length=32,
            description="Extra labels on the ServiceMonitor, e.g. the release label a "
            "Prometheus selects ServiceMonitors by.",
        ),
        k8s_types.labels,
    ] = {}


LABEL_KEY = (
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
)
LABEL_VALUE = r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$"
_OWN_LABEL_PREFIXES = ("app.kubernetes.io/", "xagent.dev/", "crossplane.io/")


_PROMETHEUS_RESOLUTION = units.duration_seconds("1ms")


class AlertsSpec(CamelModel):
    """Prometheus alerting rules on the runtime's metrics (a PrometheusRule)."""

    enabled: Annotated[
        bool, Field(description="Compose a PrometheusRule; only with serviceMonitor.enabled.")
    ] = True
    dead_letters: Annotated[
        int,
        Field(ge=1, le=1_000_000, description="Dead letters within deadLetterWindow that alert."),
    ] = 1
    dead_letter_window: Annotated[
        Duration, Field(description="Window dead letters are counted over.")
    ] = "15m"
    error_rate: Annotated[
        float,
        Field(gt=0, le=1, description="Share of finished jobs failing over errorRateWindow."),
    ] = 0.1
    error_rate_window: Annotated[
        Duration, Field(description="Window the job error rate is measured over.")
    ] = "10m"
    queue_lag: Annotated[
        int, Field(ge=1, le=10_000_000, description="Pending jobs in the queue that alert.")
    ] = 100
    queue_lag_for: Annotated[
        DurationOrZero,
        Field(description="How long the lag must last before alerting."),
    ] = "10m"
    not_ready_for: Annotated[
        DurationOrZero,
        Field(
            description="How long a runtime replica may be unavailable before alerting.",
        ),
    ] = "5m"
    job_latency: Annotated[
        Duration | None,
        Field(
            description="Alert when the 95th percentile of job duration stays above this "
            "for 10m; no latency alert when unset, since a good threshold depends on the "
            "model and the prompts.",
        ),
    ] = None
    budget_remaining: Annotated[
        float,
        Field(
            gt=0,
            lt=1,
            description="Share of a daily budget (spec.budgets.daily) left that alerts: the "
            "budget is nearly spent.",
        ),
    ] = 0.1
    approval_wait: Annotated[
        Duration,
        Field(
            description="How long a tool call may wait for a human decision (spec.approvals) "
            "before alerting.",
        ),
    ] = "1h"
    labels: Annotated[
        dict[str, str],
        Field(description="Extra labels on every alert, e.g. team or routing labels."),
    ] = {}

    @model_validator(mode="after")
    def _windows(self) -> AlertsSpec:
        for name in self.labels:
            # Prometheus label names; the rule would be rejected by the operator otherwise.
            if not re.fullmatch(r"[a-zA-Z_][a-zA-Z0-9_]*", name) or name.startswith("__"):
                raise ValueError(f"labels: {name!r} is not a Prometheus label name")
        # A PromQL range of zero is a parse error: the rule would be rejected. Prometheus
        # counts in milliseconds, so a shorter window is zero too.
        for field in ("dead_letter_window", "error_rate_window"):
            if units.duration_seconds(getattr(self, field)) < _PROMETHEUS_RESOLUTION:
                raise ValueError(f"{to_camel(field)} must be at least 1ms")
        return self


class DashboardSpec(CamelModel):
    """A Grafana dashboard in a ConfigMap, picked up by the Grafana dashboard sidecar."""

    enabled: Annotated[
        bool,
        Field(description="Compose the dashboard ConfigMap; only with serviceMonitor.enabled."),
    ] = True
    sidecar_label: Annotated[
        str,
        Field(
            pattern=LABEL_KEY,
            max_length=253,
            description="Label the Grafana sidecar selects dashboard ConfigMaps by.",
        ),
    ] = "grafana_dashboard"
    sidecar_label_value: Annotated[
        str, Field(pattern=LABEL_VALUE, max_length=63, description="Value of sidecarLabel.")
    ] = "1"
    folder: Annotated[
        str | None,
        Field(
            max_length=200,
            description="Grafana folder (the sidecar's grafana_folder annotation); the "
            "sidecar's default folder when unset.",
        ),
    ] = None

    @model_validator(mode="after")
    def _not_ours(self) -> DashboardSpec:
        if self.sidecar_label.startswith(_OWN_LABEL_PREFIXES):
            raise ValueError(f"sidecarLabel {self.sidecar_label!r} is a label xagent sets itself")
        return self


class ObservabilitySpec(CamelModel):
    """Logs, metrics and traces of the runtime."""

    log_prompts: Annotated[
        LogPrompts, Field(description="none, redacted (length and hash) or full.")
    ] = LogPrompts.NONE
    stream_tokens: Annotated[
        bool,
        Field(
            description="Publish each generated token as an on_llm_stream event of the "
            "thread's event stream; token counts in metrics and results are kept either way."
        ),
    ] = True
    log_level: Annotated[
        str, Field(pattern=r"^(DEBUG|INFO|WARNING|ERROR)$", description="Runtime log level.")
    ] = "INFO"
    tracing: TracingSpec = TracingSpec()
    service_monitor: ServiceMonitorSpec = ServiceMonitorSpec()
    alerts: AlertsSpec = AlertsSpec()
    dashboard: DashboardSpec = DashboardSpec()


class AgentBehavior(CamelModel):
    """Conversation handling (seed 002's runtime behaviour)."""

    conversation_ttl: Annotated[
        Duration,
        Field(
            alias="conversationTTL",
            description="How long an idle thread is kept: its event stream, checkpoints and "
            "run records are deleted after this long without a job.",
        ),
    ] = defaults.duration(defaults.CONVERSATION_TTL_SECONDS)
    results_ttl: Annotated[
        Duration,
        Field(
            alias="resultsTTL",
            description="How long a finished job's run record (GET /runs) is kept.",
        ),
    ] = defaults.duration(defaults.RESULTS_TTL_SECONDS)
    max_context_messages: Annotated[
        int | None, Field(ge=1, le=10_000, description="Messages sent to the model per turn.")
    ] = None


class EnvVar(CamelModel):
    """An extra environment variable of the runtime container."""

    name: Annotated[str, Field(pattern=ENV_NAME, description="Variable name.")]
    value: Annotated[str | None, Field(description="Literal value.")] = None
    value_from: Annotated[
        dict[str, Any] | None,
        *k8s_types.as_kubernetes(k8s_types.EnvVarSource, "A Kubernetes EnvVarSource."),
    ] = None

    @model_validator(mode="after")
    def _value_or_source(self) -> EnvVar:
        # core/v1 validation: "may not be specified when `value` is not empty".
        if self.value and self.value_from is not None:
            raise ValueError("set value or valueFrom, not both")
        return self

    @field_validator("value")
    @classmethod
    def _no_protected_references(cls, value: str | None) -> str | None:
        # The kubelet expands $(NAME) from the container's earlier variables: a value could
        # otherwise read the credentials and backends spec.env may not name.
        for name in k8s_types.env_references(value or ""):
            if protected_env.protected(name):
                raise ValueError(
                    f"$({name}) would read {name}, which is set by xagent (write $$ for a "
                    "literal $)"
                )
        return value

    @field_validator("name")
    @classmethod
    def _not_protected(cls, name: str) -> str:
        # Identity, model, endpoint, credential, backend and SDK-redirecting variables carry
        # what the function checked; refused in any letter case (contract/protected_env.py).
        if protected_env.protected(name):
            raise ValueError(f"{name} is set by xagent")
        return name


class EnvFromSource(CamelModel):
    """A ConfigMap or Secret whose keys become environment variables."""

    prefix: Annotated[
        str | None,
        Field(pattern=ENV_NAME, max_length=253, description="Prefix added to every key."),
    ] = None
    config_map_ref: Annotated[
        dict[str, Any] | None,
        *k8s_types.as_kubernetes(k8s_types.EnvFromSourceRef, "A Kubernetes ConfigMapEnvSource."),
    ] = None
    secret_ref: Annotated[
        dict[str, Any] | None,
        *k8s_types.as_kubernetes(k8s_types.EnvFromSourceRef, "A Kubernetes SecretEnvSource."),
    ] = None

    @model_validator(mode="after")
    def _one_source(self) -> EnvFromSource:
        if (self.config_map_ref is None) == (self.secret_ref is None):
            raise ValueError("set exactly one of configMapRef or secretRef")
        return self


class NetworkPolicySpec(CamelModel):
    """Who may reach the runtime."""

    enabled: Annotated[bool, Field(description="Compose a NetworkPolicy.")] = True
    ingress_namespaces: Annotated[
        list[Annotated[str, Field(pattern=DNS_LABEL, max_length=63)]],
        Field(
            max_length=100, description="Namespaces (by name) allowed in besides the agent's own."
        ),
    ] = []


class DisruptionSpec(CamelModel):
    """PodDisruptionBudget of the runtime."""

    enabled: Annotated[
        bool, Field(description="Compose a PodDisruptionBudget when more than one replica may run.")
    ] = True
    max_unavailable: Annotated[
        int, Field(ge=1, le=1000, description="Pods a drain may take at once.")
    ] = 1


class ServiceAccountSpec(CamelModel):
    """The runtime's ServiceAccount (e.g. IRSA or workload identity annotations)."""

    annotations: Annotated[
        dict[str, str],
        Field(max_length=64, description="Annotations of the ServiceAccount."),
        k8s_types.annotations,
    ] = {}


class BudgetLimit(CamelModel):
    """A limit on model tokens and/or cost; an unset part is unlimited."""

    tokens: Annotated[
        int | None, Field(ge=1, le=10**12, description="Model tokens (input plus output).")
    ] = None
    cost: Annotated[
        float | None,
        Field(ge=0, le=10**9, description="Cost, in the currency of the price table (USD)."),
    ] = None

    @model_validator(mode="after")
    def _some_limit(self) -> BudgetLimit:
        if self.tokens is None and self.cost is None:
            raise ValueError("set tokens, cost or both")
        return self


class ModelPrice(CamelModel):
    """What a model costs, per million tokens."""

    model: Annotated[
        str,
        Field(
            min_length=1,
            max_length=200,
            description="Model name as the provider reports it, or a glob (gpt-4o*).",
        ),
    ]
    input_per_million: Annotated[
        float, Field(ge=0, le=10**6, description="Price of a million input tokens.")
    ]
    output_per_million: Annotated[
        float, Field(ge=0, le=10**6, description="Price of a million output tokens.")
    ]


class BudgetsSpec(CamelModel):
    """Token and cost budgets, enforced by the runtime before every model call."""

    job: Annotated[
        BudgetLimit | None, Field(description="Per job; a job crossing it ends budget_exceeded.")
    ] = None
    thread: Annotated[
        BudgetLimit | None, Field(description="Per conversation thread, over all its jobs.")
    ] = None
    daily: Annotated[
        BudgetLimit | None,
        Field(description="Per agent per UTC day; over it, new jobs are refused until midnight."),
    ] = None
    prices: Annotated[
        list[ModelPrice],
        Field(
            max_length=200,
            description="Prices that override or extend the runtime's built-in table.",
        ),
    ] = []


class ApprovalsSpec(CamelModel):
    """Tool calls a human must approve before they run; the run waits, durably, meanwhile."""

    all: Annotated[bool, Field(description="Every call of a granted tool needs approval.")] = False
    tools: Annotated[
        list[Annotated[str, Field(pattern=TOOL_NAME)]],
        Field(max_length=200, description="Granted tools whose calls need approval."),
    ] = []
    min_risk_tier: Annotated[
        RiskTier | None,
        Field(description="Calls of tools whose risk is at least this tier need approval."),
    ] = None
    timeout: Annotated[Duration, Field(description="How long a call waits for a decision.")] = (
        defaults.duration(defaults.APPROVAL_TIMEOUT_SECONDS)
    )
    timeout_action: Annotated[
        ApprovalTimeoutAction,
        Field(description="reject (default) or approve a call nobody decided on in time."),
    ] = ApprovalTimeoutAction.REJECT


# --- the spec ------------------------------------------------------------------------------


class ApiAuthMode(StrEnum):
    """How the runtime's HTTP API authenticates callers."""

    SERVICE_ACCOUNT = "serviceAccount"
    TOKEN = "token"  # noqa: S105 - a mode name, not a secret
    NONE = "none"


class ApiTokenSecret(CamelModel):
    """A Secret key holding the API's bearer tokens, one ``principal:token`` per line."""

    name: Annotated[str, Field(pattern=DNS_SUBDOMAIN, max_length=253, description="Secret name.")]
    key: Annotated[
        str, Field(pattern=r"^[-._a-zA-Z0-9]+$", max_length=253, description="Key in the Secret.")
    ] = "tokens"


class ApiAuthSpec(CamelModel):
    """Who may call the runtime's HTTP API (everything but /health, /ready and /metrics)."""

    mode: Annotated[
        ApiAuthMode,
        Field(
            description="serviceAccount: Kubernetes ServiceAccount tokens bound to audience, "
            "verified with TokenReview (the runtime's ServiceAccount needs the "
            "system:auth-delegator ClusterRole); token: bearer tokens from tokenSecretRef; "
            "none: no authentication."
        ),
    ] = ApiAuthMode.SERVICE_ACCOUNT
    audience: Annotated[
        str | None,
        Field(
            min_length=1,
            max_length=253,
            description="Audience a ServiceAccount token must be bound to; "
            "xagent.dev/<namespace>/<name> when unset.",
        ),
    ] = None
    token_secret_ref: Annotated[
        ApiTokenSecret | None,
        Field(description="The Secret key with the bearer tokens; required for mode token."),
    ] = None

    @model_validator(mode="after")
    def _token_source(self) -> ApiAuthSpec:
        if self.mode == ApiAuthMode.TOKEN and self.token_secret_ref is None:
            raise ValueError("tokenSecretRef is required when mode is token")
        return self


class ApiSpec(CamelModel):
    """The runtime's HTTP API."""

    auth: ApiAuthSpec = ApiAuthSpec()


TIME_ZONE = r"^[A-Za-z][-A-Za-z0-9_+]*(/[A-Za-z0-9][-A-Za-z0-9_+]*)*$"
"""The shape of an IANA zone name; the function loads the zone too (``_known_zone``)."""


def _known_zone(name: str) -> str:
    # The API server loads CronJob.spec.timeZone with Go's time.LoadLocation (the IANA
    # database it embeds) and refuses "Local"; zoneinfo reads the same database.
    if name.lower() == "local":
        raise ValueError(f"{name!r}: name an explicit IANA zone, e.g. Europe/Berlin")
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{name!r} is not an IANA time zone, e.g. Europe/Berlin") from None
    return name


def _valid_cron(expr: str) -> str:
    if problem := cron.error(expr):
        raise ValueError(problem)
    return expr


class ScheduleTrigger(CamelModel):
    """A message sent to the agent on a cron schedule (a CronJob running ``enqueue``)."""

    name: Annotated[
        str,
        Field(
            pattern=DNS_LABEL,
            max_length=40,
            description="Schedule name, unique; part of the CronJob name and of each job id.",
        ),
    ]
    schedule: Annotated[
        str,
        Field(
            min_length=1,
            max_length=200,
            description="Cron expression: 5 fields (minute hour day month weekday) or a "
            "descriptor such as @daily.",
        ),
        AfterValidator(_valid_cron),
    ]
    time_zone: Annotated[
        str | None,
        Field(
            pattern=TIME_ZONE,
            max_length=64,
            description="IANA time zone the schedule runs in, e.g. Europe/Berlin; the "
            "controller's (usually UTC) when unset.",
        ),
        AfterValidator(lambda v: v if v is None else _known_zone(v)),
    ] = None
    message: Annotated[
        str,
        Field(min_length=1, max_length=32_768, description="The user message each run sends."),
    ]
    thread_id: Annotated[
        str | None,
        Field(
            min_length=1,
            max_length=200,
            description="Conversation every run continues; each run is its own thread when unset.",
        ),
    ] = None
    starting_deadline_seconds: Annotated[
        int,
        Field(
            ge=10,
            le=86_400,
            description="A run that could not start within this long of its time is skipped "
            "(missed runs are not caught up beyond it).",
        ),
    ] = 300
    suspend: Annotated[bool, Field(description="Pause the schedule.")] = False


SUBJECT_FILTER = r"^([^\s.*>]+|\*)(\.([^\s.*>]+|\*))*(\.>)?$"
"""A NATS subject filter: tokens split by ``.``, ``*`` a whole token, ``>`` only the last."""


class SubjectTrigger(CamelModel):
    """Messages on a NATS subject become the agent's jobs (each one a job in the contract's
    format, like a message on ``<prefix>.jobs``)."""

    subject: Annotated[
        str,
        Field(
            pattern=SUBJECT_FILTER,
            max_length=255,
            description="Subject filter (* and > wildcards); must lie in the namespace's "
            "subjects (policy queues.subjectPrefixes) and outside the agent's own.",
        ),
    ]
    stream: Annotated[
        str | None,
        Field(
            pattern=r"^[A-Za-z0-9_-]{1,200}$",
            description="Source the subject from this existing stream (of the namespace, "
            "policy queues.streamPrefixes); unset: the agent's stream captures the subject "
            "itself, which no other stream may then capture.",
        ),
    ] = None


class TriggersSpec(CamelModel):
    """What sends the agent work besides its own queue subject and HTTP API."""

    schedules: Annotated[
        list[ScheduleTrigger],
        Field(max_length=20, description="Messages sent on cron schedules."),
    ] = []
    subjects: Annotated[
        list[SubjectTrigger],
        Field(max_length=20, description="NATS subjects whose messages are jobs too."),
    ] = []

    @model_validator(mode="after")
    def _unique(self) -> TriggersSpec:
        seen: set[str] = set()
        for i, schedule in enumerate(self.schedules):
            if schedule.name in seen:
                raise ValueError(f"schedules[{i}].name: {schedule.name!r} is used twice")
            seen.add(schedule.name)
        return self


TASK_TIMEOUT_MAX_SECONDS = 7 * 86_400
"""The longest a task may run; a Job's activeDeadlineSeconds is bounded to it."""


def _task_timeout(text: str) -> str:
    if units.duration_seconds(text) > TASK_TIMEOUT_MAX_SECONDS:
        raise ValueError(f"{text!r}: at most 168h")
    return text


class TaskSpec(CamelModel):
    """The one run of an XAgent in task mode (a Job running ``xagent-runtime task``)."""

    input: Annotated[
        str,
        Field(
            min_length=1,
            max_length=32_768,
            description="The user message the agent answers once (an env value of the Job's "
            "pod, so bounded).",
        ),
    ]
    thread_id: Annotated[
        str | None,
        Field(
            min_length=1,
            max_length=200,
            description="Conversation the task continues; the task is its own thread when unset.",
        ),
    ] = None
    retries: Annotated[
        int,
        Field(
            ge=0,
            le=10,
            description="Pods started again after a failure a retry may fix (a provider "
            "outage, a lost connection): the Job's backoffLimit. A run that ended with a "
            "result, or a bad configuration, is final.",
        ),
    ] = 2
    timeout: Annotated[
        Duration,
        AfterValidator(_task_timeout),
        Field(
            description="How long the task may run, retries included (the Job's "
            "activeDeadlineSeconds); at most 168h."
        ),
    ] = "1h"


class XAgentSpec(CamelModel):
    """An AI agent: its graph, model, tools, policy tier and the infrastructure it runs on."""

    tenant_id: Annotated[
        str,
        Field(
            pattern=DNS_LABEL,
            max_length=63,
            description="Tenant the agent belongs to; policy is per tenant.",
        ),
    ]
    image: ImageSpec = ImageSpec()
    definition: Annotated[
        AgentDefinition | None,
        Field(
            description="Inline agent graph (seed 001). Set this or definitionRef, or neither "
            "for a single orchestrator built from model, systemPrompt and tools.allowed."
        ),
    ] = None
    definition_ref: Annotated[
        DefinitionRef | None, Field(description="Agent graph in a ConfigMap.")
    ] = None
    model: ModelSpec
    system_prompt: Annotated[
        str | None, Field(max_length=100_000, description="System prompt of nodes that set none.")
    ] = None
    tools: ToolsSpec = ToolsSpec()
    risk_tier: Annotated[RiskTier, Field(description="Trust tier; some tools need high.")] = (
        RiskTier.LOW
    )
    approvals: Annotated[
        ApprovalsSpec | None, Field(description="Human approval of tool calls; none when unset.")
    ] = None
    budgets: Annotated[
        BudgetsSpec | None, Field(description="Token and cost budgets; none when unset.")
    ] = None
    concurrency: ConcurrencySpec = ConcurrencySpec()
    scaling: ScalingSpec = ScalingSpec()
    resources: ResourcesSpec = ResourcesSpec()
    persistence: PersistenceSpec = PersistenceSpec()
    queue: QueueSpec = QueueSpec()
    secrets: SecretsSpec = SecretsSpec()
    observability: ObservabilitySpec = ObservabilitySpec()
    behavior: AgentBehavior = AgentBehavior()
    api: ApiSpec = ApiSpec()
    network_policy: NetworkPolicySpec = NetworkPolicySpec()
    disruption: DisruptionSpec = DisruptionSpec()
    service_account: ServiceAccountSpec = ServiceAccountSpec()
    triggers: TriggersSpec = TriggersSpec()
    mode: Annotated[
        AgentMode,
        Field(
            description="service: a Deployment serving the queue and HTTP API; task: one Job "
            "that answers spec.task.input once and reports in status.task. A task composes "
            "no Deployment, Service, autoscaler, disruption budget, queue or monitoring, so "
            "scaling, disruption, queue, api and observability.serviceMonitor are ignored.",
        ),
    ] = AgentMode.SERVICE
    task: Annotated[
        TaskSpec | None, Field(description="The task's input and limits; only with mode task.")
    ] = None
    env: Annotated[
        list[EnvVar],
        Field(
            max_length=200,
            description="Extra environment variables. One named like a tunable of xagent's "
            "(LOG_LEVEL, SYSTEM_PROMPT, ...) replaces it; identity, model, endpoint, "
            "credential, backend and SDK-redirecting variables (OPENAI_*, *_PROXY, "
            "SSL_CERT_FILE, ...) are refused in any letter case. valueFrom.secretKeyRef may "
            "read only Secrets the XAgent composes or names as credentials, or that the "
            "policy allows.",
        ),
    ] = []
    env_from: Annotated[
        list[EnvFromSource],
        Field(max_length=50, description="ConfigMaps and Secrets whose keys become variables."),
    ] = []

    @model_validator(mode="after")
    def _one_definition(self) -> XAgentSpec:
        if self.definition is not None and self.definition_ref is not None:
            raise ValueError("set at most one of definition or definitionRef")
        return self

    @model_validator(mode="after")
    def _subjects_need_nats(self) -> XAgentSpec:
        if self.triggers.subjects and self.queue.engine != QueueEngine.NATS:
            raise ValueError("triggers.subjects: needs queue.engine nats (NATS subjects)")
        return self

    @model_validator(mode="after")
    def _task_mode(self) -> XAgentSpec:
        if (self.mode == AgentMode.TASK) != (self.task is not None):
            raise ValueError("task: set task exactly when mode is task")
        if self.mode != AgentMode.TASK:
            return self
        # A task's pod reads no queue and serves no API: a schedule's or subject's jobs
        # would wait forever, and nobody could decide on an approval.
        if self.triggers.schedules:
            raise ValueError("triggers.schedules: not with mode task (nothing reads the queue)")
        if self.triggers.subjects:
            raise ValueError("triggers.subjects: not with mode task (nothing reads the queue)")
        if self.approvals is not None:
            raise ValueError("approvals: not with mode task (a task serves no API to decide on)")
        return self

    @model_validator(mode="after")
    def _approved_tools_granted(self) -> XAgentSpec:
        if self.approvals is None:
            return self
        granted = {t.name for t in self.tools.allowed} | {
            t.name for server in self.tools.mcp_servers for t in server.tools
        }
        for i, name in enumerate(self.approvals.tools):
            if name not in granted:
                raise ValueError(f"approvals.tools[{i}]: tool {name!r} is not granted")
        return self


class TaskStatus(CamelModel):
    """The task's run (mode task): from the Job's status and its pod's termination message."""

    phase: Annotated[
        str | None, Field(description="Pending, Running, Succeeded or Failed (the Job's).")
    ] = None
    job_name: Annotated[str | None, Field(description="The Job that runs the task.")] = None
    start_time: Annotated[str | None, Field(description="When the Job started.")] = None
    completion_time: Annotated[str | None, Field(description="When the Job succeeded.")] = None
    reason: Annotated[str | None, Field(description="Why the Job failed (its reason).")] = None
    message: Annotated[str | None, Field(description="The failure in words.")] = None
    run_id: Annotated[
        str | None, Field(description="The run record's job id in the agent's store.")
    ] = None
    output_ref: Annotated[
        str | None,
        Field(
            description="Where the answer is: the run record (GET /runs/<runId> of a runtime "
            "on the same database); also on the pod's stdout (kubectl logs job/<jobName>)."
        ),
    ] = None
    result: Annotated[
        str | None, Field(description="How the run ended: completed, failed, budget_exceeded.")
    ] = None
    input_tokens: Annotated[int | None, Field(description="Prompt tokens of the run.")] = None
    output_tokens: Annotated[int | None, Field(description="Completion tokens.")] = None
    total_tokens: Annotated[int | None, Field(description="Both together.")] = None
    cost: Annotated[
        float | None, Field(description="What the run cost in USD, when the price is known.")
    ] = None
    model: Annotated[str | None, Field(description="The model that answered.")] = None


class XAgentStatus(CamelModel):
    """What the function reports (conditions are added by Crossplane's XRD machinery)."""

    model_config = ConfigDict(extra="allow")

    phase: Annotated[str | None, Field(description="Pending, Provisioning, Ready or Failed.")] = (
        None
    )
    service_endpoint: Annotated[str | None, Field(description="In-cluster URL of the agent.")] = (
        None
    )
    resolved_model: Annotated[str | None, Field(description="provider/name in use.")] = None
    queue_subject: Annotated[str | None, Field(description="Subject to publish jobs to.")] = None
    results_subject: Annotated[str | None, Field(description="Subject results arrive on.")] = None
    definition_id: Annotated[str | None, Field(description="Resolved definition ID.")] = None
    definition_checksum: Annotated[
        str | None, Field(description="sha256 of the resolved definition.")
    ] = None
    task: Annotated[TaskStatus | None, Field(description="The task's run (mode task).")] = None
