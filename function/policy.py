"""Platform policy: per-tenant model allow-lists and minimum risk tiers per tool."""

from __future__ import annotations

from dataclasses import dataclass

from function.input import Policy
from function.spec import RiskTier, XAgentSpec
from runtime.definition import AgentDefinition

__all__ = ["Violation", "check"]


@dataclass(frozen=True)
class Violation:
    """One broken rule: which rule, at which field, and why."""

    rule: str
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message} (policy rule {self.rule})"


def check(
    spec: XAgentSpec,
    definition: AgentDefinition,
    policy: Policy,
    definition_path: str = "spec.definition",
) -> list[Violation]:
    """Every policy violation of an XAgent; empty when it complies.

    ``definition_path`` names where the definition came from (inline, or a ConfigMap), so a
    node's violation points at the place to fix it.
    """
    return _model_violations(spec, definition, policy, definition_path) + _tool_violations(
        spec, policy
    )


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


def _tool_violations(spec: XAgentSpec, policy: Policy) -> list[Violation]:
    tier = RiskTier(spec.risk_tier)
    out = []
    for i, grant in enumerate(spec.tools.allowed):
        for j, rule in enumerate(policy.tools):
            needed = RiskTier(rule.minimum_risk_tier)
            if rule.matches(grant.name, grant.kind) and tier.rank < needed.rank:
                out.append(
                    Violation(
                        f"tools[{j}] (tool {rule.tool}, minimumRiskTier {needed})",
                        f"spec.tools.allowed[{i}]",
                        f"tool {grant.name!r} needs riskTier {needed}, the agent has {tier}",
                    )
                )
    return out
