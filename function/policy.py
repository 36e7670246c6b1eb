"""Platform policy: what a tenant's XAgent may use, checked before anything is composed.

Rules, each reported with the field path to fix: per-tenant providers, models and endpoints;
minimum risk tiers of the tools the runtime will actually bind (a builtin by what it runs,
an http tool by its URL) and the URLs http tools may call; credentials confined to the
tenant's remote-key prefix, allowed stores and the XAgent's own Secrets; no credentials
inside URLs; NATS streams and subjects inside the XAgent's namespace; provider configs and
cloud identity annotations from allow-lists.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from contract.builtins import BUILTIN_KINDS
from contract.definition import AgentDefinition, NodeType, ToolType
from contract.prices import BUILTIN_PRICES, Price
from function import nats_subjects, urls
from function.input import Policy
from function.names import HASH_LEN
from function.spec import Credentials, DatabaseEngine, RiskTier, XAgentSpec

if TYPE_CHECKING:  # the builders import this module
    from function.builders.base import AgentContext

__all__ = [
    "IDENTITY_ANNOTATION_PREFIXES",
    "BoundTool",
    "Violation",
    "approval_tools",
    "bound_tools",
    "check",
    "env_violations",
    "lines",
    "named_secret_violations",
    "tool_risk",
    "trigger_violations",
]

IDENTITY_ANNOTATION_PREFIXES = ("eks.amazonaws.com/", "iam.gke.io/", "azure.workload.identity/")
"""ServiceAccount annotation keys that hand the pods a cloud identity."""


@dataclass(frozen=True)
class Violation:
    """One broken rule: which rule, at which field, and why."""

    rule: str
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message} (policy rule {self.rule})"


def lines(violations: Iterable[Violation]) -> list[str]:
    """One line per broken requirement (field and message), in order, each once.

    Several rules can ask the same of one field (a tool's own rule and a ``*`` rule): the
    line names every one of them instead of repeating itself.
    """
    rules: dict[tuple[str, str], list[str]] = {}
    for v in violations:
        named = rules.setdefault((v.path, v.message), [])
        if v.rule not in named:
            named.append(v.rule)
    return [
        f"{path}: {message} (policy rule{'s' if len(named) > 1 else ''} {' and '.join(named)})"
        for (path, message), named in rules.items()
    ]


def check(
    spec: XAgentSpec,
    definition: AgentDefinition,
    policy: Policy,
    definition_path: str = "spec.definition",
    *,
    namespace: str = "default",
) -> list[Violation]:
    """Every policy violation of an XAgent; empty when it complies.

    ``definition_path`` names where the definition came from (inline, or a ConfigMap), so a
    node's violation points at the place to fix it; ``namespace`` is the XAgent's.
    """
    return [
        *_model_violations(spec, definition, policy, definition_path),
        *_endpoint_violations(spec, policy),
        *_tool_violations(spec, definition, policy, definition_path),
        *_credential_violations(spec, policy, namespace),
        *_url_secret_violations(spec, definition, definition_path),
        *_queue_violations(spec, policy, namespace),
        *_identity_violations(spec, policy, namespace),
        *_network_violations(spec, policy),
        *_mcp_violations(spec, policy),
        *_budget_violations(spec, policy),
        *_approval_violations(spec, definition, policy, definition_path),
    ]


def _model_violations(
    spec: XAgentSpec, definition: AgentDefinition, policy: Policy, definition_path: str
) -> list[Violation]:
    if not policy.tenants:
        return []
    tenant = policy.tenant(spec.tenant_id)
    if tenant is None:
        return [
            Violation(
                "tenants",
                "spec.tenantId",
                f"tenant {spec.tenant_id!r} is not listed in the platform policy",
            )
        ]
    rule = f"tenants[{policy.tenants.index(tenant)}] (tenantId {tenant.tenant_id})"
    # (path of the provider field, provider, path of the model field, model)
    uses: list[tuple[str, str | None, str, str | None]] = [
        ("spec.model.provider", spec.model.provider, "spec.model.name", spec.model.name),
        ("", None, "spec.model.fallbackModel", spec.model.fallback_model),
    ]
    for i, node in enumerate(definition.nodes):
        if node.model is not None:
            at = f"{definition_path}.nodes[{i}].model"
            uses.append(
                (f"{at}.provider", node.model.provider, f"{at}.modelName", node.model.model_name)
            )
    out = []
    for provider_path, provider, model_path, model in uses:
        if provider is not None and not tenant.allows_provider(provider):
            out.append(
                Violation(
                    rule,
                    provider_path,
                    f"provider {provider!r} is not allowed for tenant {spec.tenant_id!r}",
                )
            )
        if model is not None and not tenant.allows_model(model):
            out.append(
                Violation(
                    rule,
                    model_path,
                    f"model {model!r} is not allowed for tenant {spec.tenant_id!r}",
                )
            )
    return out


def _endpoint_violations(spec: XAgentSpec, policy: Policy) -> list[Violation]:
    # Nodes of another provider get no endpoint (runtime models.resolve_model): only the
    # spec's own endpoint can point a provider elsewhere.
    endpoint = spec.model.endpoint
    tenant = policy.tenant(spec.tenant_id) if policy.tenants else None
    if endpoint is None or tenant is None:
        return []
    patterns = tenant.endpoint_patterns(spec.model.provider)
    if patterns is None or any(urls.matches(endpoint, p) for p in patterns):
        return []
    allowed = ", ".join(patterns) or "none"
    return [
        Violation(
            f"tenants[{policy.tenants.index(tenant)}] (tenantId {tenant.tenant_id})",
            "spec.model.endpoint",
            f"endpoint {endpoint!r} is not allowed for provider {spec.model.provider} of tenant "
            f"{spec.tenant_id!r} (allowed: {allowed})",
        )
    ]


@dataclass(frozen=True)
class BoundTool:
    """A granted tool as the runtime will bind it."""

    grant: int
    """Index in spec.tools.allowed."""
    names: list[str]
    """The grant's name and, for a builtin, the builtin it runs."""
    kind: str
    """The builtin's own kind, else the grant's."""
    url: str | None = None


def bound_tools(spec: XAgentSpec, definition: AgentDefinition) -> list[BoundTool]:
    """Each grant with what the runtime binds for it (runtime tools.granted_tools)."""
    by_name = {t.name: t for t in definition.tool_definitions}
    out = []
    for i, grant in enumerate(spec.tools.allowed):
        tool = by_name.get(grant.name)
        if tool is None:
            out.append(BoundTool(i, [grant.name], grant.kind))
        elif tool.type == ToolType.HTTP:
            out.append(BoundTool(i, [grant.name], grant.kind, tool.url))
        else:
            impl = tool.builtin or tool.name
            out.append(BoundTool(i, [grant.name, impl], BUILTIN_KINDS.get(impl, grant.kind)))
    return out


def _tool_violations(
    spec: XAgentSpec, definition: AgentDefinition, policy: Policy, definition_path: str
) -> list[Violation]:
    tier = RiskTier(spec.risk_tier)
    out = []
    for bound in bound_tools(spec, definition):
        for j, rule in enumerate(policy.tools):
            needed = RiskTier(rule.minimum_risk_tier)
            if rule.matches(bound.names, bound.kind, bound.url) and tier.rank < needed.rank:
                out.append(
                    Violation(
                        f"tools[{j}] (tool {rule.tool}, minimumRiskTier {needed})",
                        f"spec.tools.allowed[{bound.grant}]",
                        f"tool {bound.names[0]!r} needs riskTier {needed}, the agent has {tier}",
                    )
                )
    # MCP tools obey the same rules as any other tool: the model cannot tell them apart.
    for i, server in enumerate(spec.tools.mcp_servers):
        for k, grant in enumerate(server.tools):
            for j, rule in enumerate(policy.tools):
                needed = RiskTier(rule.minimum_risk_tier)
                if rule.matches([grant.name], grant.kind, server.url) and tier.rank < needed.rank:
                    out.append(
                        Violation(
                            f"tools[{j}] (tool {rule.tool}, minimumRiskTier {needed})",
                            f"spec.tools.mcpServers[{i}].tools[{k}]",
                            f"tool {grant.name!r} needs riskTier {needed}, the agent has {tier}",
                        )
                    )
        problem = policy.tool_urls.problem(server.url)
        if problem:
            out.append(
                Violation(
                    "toolUrls",
                    f"spec.tools.mcpServers[{i}].url",
                    f"MCP server {server.name!r} URL {server.url!r} {problem}",
                )
            )
    for i, tool in enumerate(definition.tool_definitions):
        if tool.type == ToolType.HTTP and tool.url:
            problem = policy.tool_urls.problem(tool.url)
            if problem:
                out.append(
                    Violation(
                        "toolUrls",
                        f"{definition_path}.toolDefinitions[{i}].url",
                        f"tool {tool.name!r} URL {tool.url!r} {problem}",
                    )
                )
    return out


def _credential_violations(spec: XAgentSpec, policy: Policy, namespace: str) -> list[Violation]:
    rules = policy.credentials
    prefix = rules.key_prefix(spec.tenant_id, namespace)
    keys = [
        (f"{path}.remoteRef.key", creds.remote_ref.key)
        for path, creds in _credential_fields(spec)
        if creds.remote_ref is not None
    ]
    for path, source in (
        ("spec.queue.auth.secret", spec.queue.auth.secret),
        ("spec.queue.auth.tls", spec.queue.auth.tls),
    ):
        if source is not None and source.remote_key is not None:
            keys.append((f"{path}.remoteKey", source.remote_key))
    out = []
    for path, key in keys:
        if not key.startswith(prefix) or ".." in key.split("/") or "//" in key:
            out.append(
                Violation(
                    "credentials.remoteKeyPrefix",
                    path,
                    f"remote key {key!r} is outside the tenant's prefix {prefix!r}",
                )
            )
    store = spec.secrets
    if not rules.allows_store(store.store_kind, store.store_name):
        out.append(
            Violation(
                "credentials.stores",
                "spec.secrets.storeName",
                f"{store.store_kind} {store.store_name!r} is not an allowed secret store",
            )
        )
    return out


def _url_secret_violations(
    spec: XAgentSpec, definition: AgentDefinition, definition_path: str
) -> list[Violation]:
    found: list[tuple[str, str | None]] = [
        ("spec.model.endpoint", spec.model.endpoint),
        ("spec.queue.url", spec.queue.url),
        ("spec.observability.tracing.endpoint", spec.observability.tracing.endpoint),
    ]
    found += [
        (f"{definition_path}.toolDefinitions[{i}].url", t.url)
        for i, t in enumerate(definition.tool_definitions)
    ]
    found += [
        (f"spec.tools.mcpServers[{i}].url", s.url) for i, s in enumerate(spec.tools.mcp_servers)
    ]
    out = []
    for path, url in found:
        problem = urls.credential_problem(url) if url else None
        if problem:
            out.append(Violation("secrets-as-references", path, f"URL {problem}"))
    host = spec.persistence.database.sql.host
    if host and any(c in host for c in "@/?#"):
        out.append(
            Violation(
                "secrets-as-references",
                "spec.persistence.database.sql.host",
                "must be a bare host name; credentials come from the provider-sql connection "
                "Secret",
            )
        )
    return out


def _queue_violations(spec: XAgentSpec, policy: Policy, namespace: str) -> list[Violation]:
    out = []
    queue = spec.queue
    for path, value, prefixes in (
        ("spec.queue.stream", queue.stream, policy.queues.streams_in(namespace, spec.tenant_id)),
        (
            "spec.queue.subjectPrefix",
            queue.subject_prefix,
            policy.queues.subjects_in(namespace, spec.tenant_id),
        ),
    ):
        if value is None:
            continue
        if not any(value.startswith(p) for p in prefixes):
            out.append(_outside("queues", path, value, prefixes))
    for path, source in (
        ("spec.queue.auth.secret", queue.auth.secret),
        ("spec.queue.auth.tls", queue.auth.tls),
    ):
        secret = source.secret_name if source is not None else None
        if secret is not None and not any(
            fnmatch.fnmatchcase(secret, g) for g in policy.queues.auth_secrets
        ):
            out.append(
                Violation(
                    "queues.authSecrets",
                    f"{path}.secretName",
                    f"Secret {secret!r} is not allowed for NATS credentials",
                )
            )
    sql = spec.persistence.database.sql
    if (
        spec.persistence.database.engine == DatabaseEngine.SQL
        and sql.provider_config_kind == "ClusterProviderConfig"
        and not any(
            fnmatch.fnmatchcase(sql.provider_config_ref, g) for g in policy.provider_configs
        )
    ):
        out.append(
            Violation(
                "providerConfigs",
                "spec.persistence.database.sql.providerConfigRef",
                f"ClusterProviderConfig {sql.provider_config_ref!r} is not allowed",
            )
        )
    return out


def _identity_violations(spec: XAgentSpec, policy: Policy, namespace: str) -> list[Violation]:
    def expand(template: str) -> str:
        return template.replace("{tenantId}", spec.tenant_id).replace("{namespace}", namespace)

    out = []
    for key, value in spec.service_account.annotations.items():
        if not key.lower().startswith(IDENTITY_ANNOTATION_PREFIXES):
            continue
        if not any(
            fnmatch.fnmatchcase(key.lower(), rule.key.lower())
            and fnmatch.fnmatchcase(value, expand(rule.value))
            for rule in policy.identity_annotations
        ):
            out.append(
                Violation(
                    "identityAnnotations",
                    f"spec.serviceAccount.annotations[{key}]",
                    "cloud identity annotation is not allowed for this tenant",
                )
            )
    return out


def trigger_violations(ctx: AgentContext) -> list[Violation]:
    """spec.triggers.subjects confined to the namespace, clear of the agent's own subjects.

    Each subject must start with a subject prefix of the policy and each source stream with
    a stream prefix (as spec.queue's own names must), so an agent never reads another
    namespace's messages. A subject may not overlap the agent's own subject space (the
    worker would take its own results and dead letters for jobs) or another trigger subject
    (JetStream refuses a consumer whose filters overlap).
    """
    queues = ctx.policy.queues
    subject_prefixes = queues.subjects_in(ctx.namespace, ctx.spec.tenant_id)
    stream_prefixes = queues.streams_in(ctx.namespace, ctx.spec.tenant_id)
    own = f"{ctx.subject_prefix}.>"
    out: list[Violation] = []
    seen: list[str] = []
    for i, trigger in enumerate(ctx.spec.triggers.subjects):
        path = f"spec.triggers.subjects[{i}]"
        subject = trigger.subject
        if not any(subject.startswith(p) for p in subject_prefixes):
            out.append(_outside("queues", f"{path}.subject", subject, subject_prefixes))
        elif nats_subjects.overlap(subject, own):
            out.append(
                Violation(
                    "queues",
                    f"{path}.subject",
                    f"{subject!r} overlaps the agent's own subjects {own!r} (its jobs, results "
                    "and dead letters)",
                )
            )
        clash = next((s for s in seen if nats_subjects.overlap(subject, s)), None)
        if clash is not None:
            out.append(Violation("queues", f"{path}.subject", f"{subject!r} overlaps {clash!r}"))
        seen.append(subject)
        if trigger.stream is not None:
            if not any(trigger.stream.startswith(p) for p in stream_prefixes):
                out.append(_outside("queues", f"{path}.stream", trigger.stream, stream_prefixes))
            elif trigger.stream == ctx.stream_name:
                out.append(
                    Violation(
                        "queues", f"{path}.stream", "the agent's own stream cannot be a source"
                    )
                )
    return out


def _outside(rule: str, path: str, value: str, prefixes: list[str]) -> Violation:
    allowed = " or ".join(repr(p) for p in prefixes) or "nothing: none allowed"
    return Violation(
        rule, path, f"{value!r} is outside this namespace's NATS names (must start with {allowed})"
    )


def env_violations(ctx: AgentContext) -> list[Violation]:
    """Secrets spec.env, spec.envFrom and the tracing headers read: only the XAgent's own, or
    allowed ones.

    The XAgent's own are those it composes (synced credentials) or names as credentials
    (secretRef, external database or cache); anything else matches policy
    credentials.envSecrets or is refused, so an agent cannot read another agent's keys.
    """
    from function.builders import external_secrets  # the builders import this module

    spec = ctx.spec
    own = {
        c.secret_name
        for c in (*external_secrets.model_credentials(ctx), *external_secrets.tool_credentials(ctx))
    }
    own |= {
        ext.secret_name
        for ext in (spec.persistence.database.external, spec.persistence.cache.external)
        if ext is not None
    }
    globs = [g.replace("{name}", ctx.name) for g in ctx.policy.credentials.env_secrets]
    refs = [
        (f"spec.env[{i}].valueFrom.secretKeyRef.name", (e.value_from or {}).get("secretKeyRef"))
        for i, e in enumerate(spec.env)
    ] + [(f"spec.envFrom[{i}].secretRef.name", e.secret_ref) for i, e in enumerate(spec.env_from)]
    headers = spec.observability.tracing.headers_secret_ref
    if headers is not None:
        refs.append(("spec.observability.tracing.headersSecretRef.name", {"name": headers.name}))
    out = []
    for path, ref in refs:
        secret = ref.get("name") if isinstance(ref, dict) else None
        if secret is None or secret in own or any(fnmatch.fnmatchcase(secret, g) for g in globs):
            continue
        out.append(
            Violation(
                "credentials.envSecrets",
                path,
                f"Secret {secret!r} is neither this XAgent's nor allowed by policy",
            )
        )
    return out


_COMPOSED_SHAPE = re.compile(rf"-[0-9a-f]{{{HASH_LEN}}}(-[a-z0-9-]+)?$")
"""What a Secret xagent composes looks like: an ExternalSecret's target ends in the identity
hash, an operator's (CloudNativePG's ``<cluster>-app``) adds a role after it."""


def named_secret_violations(ctx: AgentContext) -> list[Violation]:
    """Existing Secrets the credential fields name: allowed by policy, and never another
    XAgent's.

    Naming a Secret hands its keys to this XAgent's pods (and a tool's token to the tool's
    URL), so a tenant must not be able to name the Secrets xagent composed for another
    XAgent of the namespace (its synced keys, its cache password, its database's
    credentials). Those carry the identity hash in their names; this XAgent's own are known.
    """
    from function.builders import external_secrets  # the builders import this module

    own = {
        c.secret_name
        for c in (*external_secrets.model_credentials(ctx), *external_secrets.tool_credentials(ctx))
        if c.resource_key is not None
    }
    globs = [g.replace("{name}", ctx.name) for g in ctx.policy.credentials.existing_secrets]
    out = []
    for path, secret in _named_secrets(ctx):
        if secret in own:
            continue
        if _COMPOSED_SHAPE.search(secret):
            message = (
                f"Secret {secret!r} looks like one xagent composes for another XAgent "
                "(it ends in an identity hash); name a Secret of your own"
            )
        elif not any(fnmatch.fnmatchcase(secret, g) for g in globs):
            message = f"Secret {secret!r} is not allowed by policy"
        else:
            continue
        out.append(Violation("credentials.existingSecrets", path, message))
    return out


def _credential_fields(spec: XAgentSpec) -> list[tuple[str, Credentials]]:
    """``(field path, credentials)`` of the model, each tool grant, MCP server and header."""
    found: list[tuple[str, Credentials | None]] = [
        ("spec.model.credentials", spec.model.credentials)
    ]
    found += [
        (f"spec.tools.allowed[{i}].credentials", g.credentials)
        for i, g in enumerate(spec.tools.allowed)
    ]
    for i, server in enumerate(spec.tools.mcp_servers):
        found.append((f"spec.tools.mcpServers[{i}].credentials", server.credentials))
        found += [
            (f"spec.tools.mcpServers[{i}].headers[{j}].credentials", h.credentials)
            for j, h in enumerate(server.headers)
        ]
    return [(path, creds) for path, creds in found if creds is not None]


def _named_secrets(ctx: AgentContext) -> list[tuple[str, str]]:
    """``(field path, Secret name)`` of every credential field that names an existing Secret."""
    spec = ctx.spec
    found = [
        (f"{path}.secretRef.name", c.secret_ref.name)
        for path, c in _credential_fields(spec)
        if c.secret_ref is not None
    ]
    persistence = spec.persistence
    for path, ext in (
        ("spec.persistence.database.external.secretName", persistence.database.external),
        ("spec.persistence.cache.external.secretName", persistence.cache.external),
    ):
        if ext is not None:
            found.append((path, ext.secret_name))
    backup = persistence.database.backup
    if backup is not None and backup.credentials.secret_name is not None:
        found.append(
            (
                "spec.persistence.database.backup.credentials.secretName",
                backup.credentials.secret_name,
            )
        )
    token = spec.api.auth.token_secret_ref
    if token is not None:
        found.append(("spec.api.auth.tokenSecretRef.name", token.name))
    return found


def _network_violations(spec: XAgentSpec, policy: Policy) -> list[Violation]:
    rules = policy.network_policy
    out = []
    repo = spec.image.repository
    if policy.images and not any(fnmatch.fnmatchcase(repo, g) for g in policy.images):
        out.append(Violation("images", "spec.image.repository", f"image {repo!r} is not allowed"))
    if rules.required and not spec.network_policy.enabled:
        out.append(
            Violation(
                "networkPolicy.required",
                "spec.networkPolicy.enabled",
                "the platform requires the runtime's NetworkPolicy",
            )
        )
    if rules.ingress_namespaces:
        for i, ns in enumerate(spec.network_policy.ingress_namespaces):
            if not any(fnmatch.fnmatchcase(ns, g) for g in rules.ingress_namespaces):
                out.append(
                    Violation(
                        "networkPolicy.ingressNamespaces",
                        f"spec.networkPolicy.ingressNamespaces[{i}]",
                        f"namespace {ns!r} may not reach the runtime",
                    )
                )
    return out


def tool_risk(
    policy: Policy, names: list[str], kind: str, url: str | None, declared: str | None
) -> RiskTier:
    """How risky calling a tool is: its declared risk, raised to every matching tool rule's
    minimumRiskTier (a tool only high-tier agents may hold is a high-risk tool)."""
    risk = RiskTier(declared or RiskTier.LOW)
    for rule in policy.tools:
        needed = RiskTier(rule.minimum_risk_tier)
        if rule.matches(names, kind, url) and needed.rank > risk.rank:
            risk = needed
    return risk


def _mcp_violations(spec: XAgentSpec, policy: Policy) -> list[Violation]:
    tenant = policy.tenant(spec.tenant_id) if policy.tenants else None
    if tenant is None:
        return []  # an unlisted tenant is already refused by _model_violations
    rule = f"tenants[{policy.tenants.index(tenant)}] (tenantId {tenant.tenant_id})"
    return [
        Violation(
            rule,
            f"spec.tools.mcpServers[{i}].url",
            f"MCP server {server.url!r} matches none of the tenant's allowedMcpUrls",
        )
        for i, server in enumerate(spec.tools.mcp_servers)
        if not tenant.allows_mcp_url(server.url)
    ]


def _budget_violations(spec: XAgentSpec, policy: Policy) -> list[Violation]:
    tenant = policy.tenant(spec.tenant_id) if policy.tenants else None
    if tenant is None or tenant.max_budgets is None:
        return []
    rule = f"tenants[{policy.tenants.index(tenant)}] (tenantId {tenant.tenant_id}) maxBudgets"
    out = []
    caps_cost = False
    for scope in ("job", "thread", "daily"):
        cap = getattr(tenant.max_budgets, scope)
        if cap is None:
            continue
        caps_cost = caps_cost or cap.cost is not None
        got = getattr(spec.budgets, scope) if spec.budgets else None
        for part in ("tokens", "cost"):
            limit = getattr(cap, part)
            value = getattr(got, part) if got else None
            if limit is not None and (value is None or value > limit):
                out.append(
                    Violation(
                        rule,
                        f"spec.budgets.{scope}.{part}",
                        f"must be set and at most {limit} for tenant {spec.tenant_id!r}"
                        + ("" if value is None else f", is {value}"),
                    )
                )
    if caps_cost and spec.budgets:
        # A price below the built-in one would stretch a capped cost budget.
        for i, price in enumerate(spec.budgets.prices):
            builtin = _dearest_overlap(price.model)
            if builtin and (
                price.input_per_million < builtin.input_per_million
                or price.output_per_million < builtin.output_per_million
            ):
                out.append(
                    Violation(
                        rule,
                        f"spec.budgets.prices[{i}]",
                        f"model {price.model!r} may not be priced below the built-in "
                        f"{builtin.input_per_million}/{builtin.output_per_million} per million "
                        "tokens while the tenant's cost is capped",
                    )
                )
    return out


def _dearest_overlap(pattern: str) -> Price | None:
    # A spec entry may be a glob (gpt-4o*, even *): it undercuts every built-in entry it
    # could shadow, so compare against the dearest of those.
    overlapping = [
        p
        for p in BUILTIN_PRICES
        if fnmatch.fnmatchcase(p.model, pattern) or fnmatch.fnmatchcase(pattern, p.model)
    ]
    return max(overlapping, key=lambda p: (p.input_per_million, p.output_per_million), default=None)


def approval_tools(spec: XAgentSpec, definition: AgentDefinition, policy: Policy) -> list[str]:
    """Granted tools whose calls need approval (spec.approvals), sorted."""
    approvals = spec.approvals
    if approvals is None:
        return []
    risks = {
        b.names[0]: tool_risk(policy, b.names, b.kind, b.url, grant.risk)
        for b, grant in zip(bound_tools(spec, definition), spec.tools.allowed, strict=True)
    }
    for server in spec.tools.mcp_servers:
        for t in server.tools:
            risks[t.name] = tool_risk(policy, [t.name], t.kind, server.url, t.risk)
    floor = RiskTier(approvals.min_risk_tier) if approvals.min_risk_tier else None
    return sorted(
        name
        for name, risk in risks.items()
        if approvals.all
        or name in approvals.tools
        or (floor is not None and risk.rank >= floor.rank)
    )


def _approval_violations(
    spec: XAgentSpec, definition: AgentDefinition, policy: Policy, definition_path: str
) -> list[Violation]:
    # A sub-agent runs inside one orchestrator step with no checkpoint of its own, so it
    # cannot wait for a decision; the runtime would refuse to start (runtime graph._tools_node).
    gated = set(approval_tools(spec, definition, policy))
    by_name = {n.name: n for n in definition.nodes}
    out = []
    for i, node in enumerate(definition.nodes):
        if node.type != NodeType.SUB_AGENT:
            continue
        reached = set(node.tools) | {
            t
            for e in definition.edges
            if e.source == node.name
            for t in by_name[e.target].tools
            if by_name[e.target].type == NodeType.TOOL
        }
        if hits := sorted(reached & gated):
            out.append(
                Violation(
                    "approvals",
                    f"{definition_path}.nodes[{i}].tools",
                    f"sub-agent {node.name!r} may call {', '.join(hits)}, which need approval; "
                    "only the orchestrator's calls can wait for one",
                )
            )
    return out
