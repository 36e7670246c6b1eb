"""ExternalSecrets for model API keys and tool credentials, and the env that reads them.

Every credential the runtime needs reaches it as an environment variable from a Secret
(seed 000: "Agent Deployment mounts secrets as env vars"). A credential comes from one of:

* ``secretRef``: an existing Secret of the namespace. Nothing is composed; the variable
  reads the user's Secret directly.
* ``remoteRef``: a key in the External Secrets store (``spec.secrets``). An ExternalSecret
  syncs it into a Secret this XR owns (``creationPolicy: Owner``, so it goes with the XR).
* nothing, for a model provider: the remote key ``xagent/<tenantId>/<provider>``, one
  secret per tenant and provider in the store. Tools without credentials get nothing.

Model providers are ``spec.model.provider`` plus every provider a definition node names.
``spec.model.credentials`` applies to ``spec.model.provider`` only: a node's other provider
always uses the default remote key. Providers whose row in the provider table needs no
secret (ollama, and bedrock with the pod's cloud identity) get one only with credentials.
"""

from __future__ import annotations

from dataclasses import dataclass

from contract import env as contract_env
from contract import providers
from function.builders.base import AgentContext, Desired, Manifest, RuntimeAdditions
from function.names import short_hash
from function.spec import Credentials

__all__ = [
    "API_VERSION",
    "KIND",
    "MODEL_SECRET_KEY",
    "RUNTIME",
    "TOOL_SECRET_KEY",
    "Credential",
    "build",
    "credential_env",
    "default_remote_key",
    "external_secret_keys",
    "mcp_credentials",
    "model_credentials",
    "model_key_env",
    "model_providers",
    "referenced_secrets",
    "tool_credential_env",
    "tool_credential_env_names",
    "tool_credentials",
    "warnings",
]

API_VERSION = "external-secrets.io/v1"
KIND = "ExternalSecret"
COMPONENT = "runtime"
MODEL_SECRET_KEY = "api-key"  # noqa: S105 - a key name, not a secret
"""Key of the API key in a synced model Secret (seed 000's ``api-key``)."""
TOOL_SECRET_KEY = "token"  # noqa: S105 - a key name, not a secret
"""Key of the credential in a synced tool Secret."""


@dataclass(frozen=True)
class Credential:
    """One secret value the runtime reads, and where it comes from.

    Attributes:
        env: The variable the runtime reads it from.
        secret_name: The Secret the variable's ``secretKeyRef`` names.
        secret_key: The key in that Secret.
        resource_key: Composition-resource key of the ExternalSecret that syncs the Secret;
            None when the Secret is the user's own (``secretRef``).
        remote_key: Key (path) in the external store, when synced.
        remote_property: Property of the remote secret, when synced and set.
    """

    env: str
    secret_name: str
    secret_key: str
    resource_key: str | None = None
    remote_key: str | None = None
    remote_property: str | None = None

    def env_var(self) -> Manifest:
        """The container EnvVar that reads this credential."""
        return {
            "name": self.env,
            "valueFrom": {"secretKeyRef": {"name": self.secret_name, "key": self.secret_key}},
        }


def build(ctx: AgentContext) -> Desired:
    """One ExternalSecret per synced model provider key and per synced tool credential."""
    return {
        cred.resource_key: _external_secret(ctx, cred)
        for cred in (*model_credentials(ctx), *tool_credentials(ctx))
        if cred.resource_key is not None
    }


def external_secret_keys(desired: Desired) -> list[str]:
    """Composition-resource keys of every ExternalSecret in ``desired``, sorted.

    SecretsReady waits for exactly these; an XAgent whose credentials all come from
    existing Secrets (or need none) has no key here.
    """
    return sorted(
        key
        for key, manifest in desired.items()
        if manifest.get("kind") == KIND
        and str(manifest.get("apiVersion", "")).startswith("external-secrets.io/")
    )


# --- model provider keys -------------------------------------------------------------------


def model_providers(ctx: AgentContext) -> list[str]:
    """Distinct providers the agent calls: spec.model.provider first, then by node order."""
    providers = [ctx.spec.model.provider]
    for node in ctx.definition.nodes:
        provider = node.model.provider if node.model else None
        if provider and provider not in providers:
            providers.append(provider)
    return providers


def default_remote_key(tenant_id: str, provider: str) -> str:
    """The store key a provider's API key is read from when no credentials are given."""
    return f"xagent/{tenant_id}/{provider}"


def _keyed_providers(ctx: AgentContext) -> list[tuple[str, str, Credentials | None]]:
    """(provider, key variable, own credentials) of each provider whose key travels to the pod.

    A provider's key travels when it has credentials (``spec.model.credentials`` applies to
    ``spec.model.provider`` only) or when its row says it needs a secret.
    """
    out = []
    for name in model_providers(ctx):
        row = providers.provider(name)
        own = ctx.spec.model.credentials if name == ctx.spec.model.provider else None
        if own is not None or row.needs_secret:
            out.append((name, row.key_env, own))
    return out


def model_credentials(ctx: AgentContext) -> list[Credential]:
    """The API key of each provider that needs one, one per environment variable.

    openai and openai-compatible read the same variable (OPENAI_API_KEY, the provider table's
    ``key_env``); the first provider to claim a variable wins, as a container cannot hold a
    variable twice. :func:`warnings` names the provider that lost.
    """
    out: list[Credential] = []
    claimed: set[str] = set()
    for name, env, own in _keyed_providers(ctx):
        if env in claimed:
            continue
        claimed.add(env)
        out.append(
            _credential(
                ctx,
                env,
                own,
                "model",
                name,
                MODEL_SECRET_KEY,
                default_remote=default_remote_key(ctx.spec.tenant_id, name),
            )
        )
    return out


def model_key_env(ctx: AgentContext) -> list[Manifest]:
    """EnvVars carrying each provider's API key (the provider table's ``key_env``)."""
    return [cred.env_var() for cred in model_credentials(ctx)]


# --- tool credentials ----------------------------------------------------------------------


def tool_credential_env_names(ctx: AgentContext) -> dict[str, str]:
    """Tool name -> the variable carrying its credential, for each grant with credentials.

    Normally contract_env.tool_credential_env(name). Two names that map to one variable
    (``my-tool`` and ``my_tool``) would clash, so the later one gets a hash of its name in
    the variable; the tool grants file tells the runtime which variable each tool reads.
    """
    out: dict[str, str] = {}
    for grant in ctx.spec.tools.allowed:
        if grant.credentials is None:
            continue
        env = contract_env.tool_credential_env(grant.name)
        if env in out.values():
            env = contract_env.tool_credential_env(f"{grant.name}_{short_hash(grant.name)}")
        out[grant.name] = env
    return out


def tool_credentials(ctx: AgentContext) -> list[Credential]:
    """The credential of each tool grant that has one, in grant order, then MCP servers'."""
    envs = tool_credential_env_names(ctx)
    return [
        _credential(ctx, envs[grant.name], grant.credentials, "tool", grant.name, TOOL_SECRET_KEY)
        for grant in ctx.spec.tools.allowed
        if grant.credentials is not None
    ] + [cred for _, _, cred in mcp_credentials(ctx)]


def mcp_credentials(ctx: AgentContext) -> list[tuple[str, str, Credential]]:
    """``(server, header, credential)`` of each MCP server's bearer token and secret headers.

    ``header`` is ``Authorization`` for the bearer token. Variables are
    ``MCP_<SERVER>_TOKEN`` and ``MCP_<SERVER>_HEADER_<i>``; tokens and headers use different
    Secret families (``mcp``, ``mcph``), so no server name can make two of them collide.
    """
    out: list[tuple[str, str, Credential]] = []
    for server in ctx.spec.tools.mcp_servers:
        base = "MCP_" + server.name.upper().replace("-", "_")
        if server.credentials is not None:
            cred = _credential(
                ctx, f"{base}_TOKEN", server.credentials, "mcp", server.name, TOOL_SECRET_KEY
            )
            out.append((server.name, "Authorization", cred))
        for i, header in enumerate(server.headers):
            cred = _credential(
                ctx,
                f"{base}_HEADER_{i}",
                header.credentials,
                "mcph",
                f"{server.name}-{i}",
                TOOL_SECRET_KEY,
            )
            out.append((server.name, header.name, cred))
    return out


def tool_credential_env(ctx: AgentContext) -> list[Manifest]:
    """EnvVars carrying each granted tool's credential."""
    return [cred.env_var() for cred in tool_credentials(ctx)]


# --- shared --------------------------------------------------------------------------------


def referenced_secrets(ctx: AgentContext) -> list[str]:
    """Names of the user's own Secrets (secretRef) the runtime reads, sorted and distinct.

    These are not composed, so nothing reports their readiness; a missing one leaves the
    pod in CreateContainerConfigError.
    """
    return sorted(
        {
            cred.secret_name
            for cred in (*model_credentials(ctx), *tool_credentials(ctx))
            if cred.resource_key is None
        }
    )


def warnings(ctx: AgentContext) -> list[str]:
    """Problems that leave the output usable: providers whose keys share one variable."""
    out: list[str] = []
    winners: dict[str, str] = {}
    for name, env, _ in _keyed_providers(ctx):
        if env in winners:
            out.append(
                f"providers {winners[env]} and {name} both read {env}; "
                f"{name} uses the key of {winners[env]}"
            )
        else:
            winners[env] = name
    return out


def credential_env(ctx: AgentContext) -> list[Manifest]:
    """Every credential variable of the runtime container: model keys, then tools'."""
    return [*model_key_env(ctx), *tool_credential_env(ctx)]


RUNTIME = RuntimeAdditions(env=credential_env, warnings=warnings)


def _credential(
    ctx: AgentContext,
    env: str,
    source: Credentials | None,
    family: str,
    name: str,
    secret_key: str,
    default_remote: str | None = None,
) -> Credential:
    """Where ``env`` reads from: the user's Secret, or a Secret an ExternalSecret syncs."""
    if source is not None and source.secret_ref is not None:
        return Credential(
            env=env, secret_name=source.secret_ref.name, secret_key=source.secret_ref.key
        )
    remote = source.remote_ref if source is not None else None
    return Credential(
        env=env,
        secret_name=_target_name(ctx, family, name),
        secret_key=secret_key,
        resource_key=f"externalsecret-{family}-{name}",
        remote_key=remote.key if remote is not None else default_remote,
        remote_property=remote.property if remote is not None else None,
    )


def _target_name(ctx: AgentContext, family: str, name: str) -> str:
    """``<xr>-<family>-<name>-<hash>``: the hash keeps ``My_Tool`` and ``my-tool`` apart."""
    return ctx.child(family, name)


def _external_secret(ctx: AgentContext, cred: Credential) -> Manifest:
    secrets = ctx.spec.secrets
    remote_ref: Manifest = {"key": cred.remote_key}
    if cred.remote_property:
        remote_ref["property"] = cred.remote_property
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": ctx.metadata(cred.secret_name, COMPONENT),
        "spec": {
            # The store is re-read every refreshInterval, so a rotated key reaches the Secret
            # (and, at the next pod start, the runtime) without touching the XAgent.
            "refreshInterval": secrets.refresh_interval,
            "secretStoreRef": {"name": secrets.store_name, "kind": secrets.store_kind},
            "target": {"name": cred.secret_name, "creationPolicy": "Owner"},
            "data": [{"secretKey": cred.secret_key, "remoteRef": remote_ref}],
        },
    }
