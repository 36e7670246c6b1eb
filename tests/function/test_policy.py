"""Policy rules: tenant allow-lists for providers and models, minimum risk tier per tool."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from function.input import Policy
from function.policy import check
from tests.function.factories import make_spec

TENANTS = {
    "tenants": [
        {"tenantId": "t1", "allowedProviders": ["openai"], "allowedModels": ["gpt-4o*"]},
        {"tenantId": "*", "allowedProviders": ["ollama"]},
    ],
}
TOOLS = {
    "tools": [
        {"tool": "develop_in_container", "minimumRiskTier": "high"},
        {"kind": "primitive", "minimumRiskTier": "medium"},
    ],
}


@dataclass
class Case:
    name: str
    reason: str
    spec: dict[str, Any]
    policy: dict[str, Any]
    want: list[tuple[str, str]]
    """(path, rule) of each violation, in order."""


CASES = [
    Case(
        "EmptyPolicyAllowsAll",
        "No tenants and no tool rules: nothing is checked.",
        {"model": {"provider": "anthropic", "name": "claude-x"}},
        {},
        [],
    ),
    Case("ListedTenantAllowed", "t1 may use openai gpt-4o.", {}, TENANTS, []),
    Case(
        "ModelGlobMismatch",
        "gpt-3.5 does not match gpt-4o*.",
        {"model": {"name": "gpt-3.5-turbo"}},
        TENANTS,
        [("spec.model.name", "tenants[0] (tenantId t1)")],
    ),
    Case(
        "FallbackModelChecked",
        "The fallback model must be allowed too.",
        {"model": {"fallbackModel": "o1"}},
        TENANTS,
        [("spec.model.fallbackModel", "tenants[0] (tenantId t1)")],
    ),
    Case(
        "WildcardTenantApplies",
        "A tenant not listed falls to the * entry.",
        {"tenantId": "t2"},
        TENANTS,
        [("spec.model.provider", "tenants[1] (tenantId *)")],
    ),
    Case(
        "UnlistedTenantDenied",
        "With tenants listed and no *, an unknown tenant is denied.",
        {"tenantId": "t9"},
        {"tenants": TENANTS["tenants"][:1]},
        [("spec.tenantId", "tenants")],
    ),
    Case(
        "NodeModelChecked",
        "A node's own model is subject to the allow-list.",
        {
            "definition": {
                "nodes": [
                    {"type": "orchestrator", "name": "main"},
                    {
                        "type": "sub-agent",
                        "name": "helper",
                        "model": {"provider": "anthropic", "modelName": "claude-x"},
                    },
                ],
                "edges": [{"source": "main", "target": "helper"}],
            }
        },
        TENANTS,
        [
            ("spec.definition.nodes[1].model.provider", "tenants[0] (tenantId t1)"),
            ("spec.definition.nodes[1].model.modelName", "tenants[0] (tenantId t1)"),
        ],
    ),
    Case(
        "HighRiskToolNeedsHighTier",
        "develop_in_container at riskTier medium.",
        {
            "riskTier": "medium",
            "tools": {"allowed": [{"name": "develop_in_container", "kind": "domain"}]},
        },
        TOOLS,
        [("spec.tools.allowed[0]", "tools[0] (tool develop_in_container, minimumRiskTier high)")],
    ),
    Case(
        "HighTierMayUseEverything",
        "riskTier high passes every tool rule.",
        {
            "riskTier": "high",
            "tools": {"allowed": [{"name": "develop_in_container", "kind": "primitive"}]},
        },
        TOOLS,
        [],
    ),
    Case(
        "KindRuleMatchesByKind",
        "Any primitive tool needs medium; a domain tool does not.",
        {
            "tools": {
                "allowed": [{"name": "cli", "kind": "primitive"}, {"name": "crm", "kind": "domain"}]
            }
        },
        TOOLS,
        [("spec.tools.allowed[0]", "tools[1] (tool *, minimumRiskTier medium)")],
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_policy(case: Case) -> None:
    spec = make_spec(**case.spec)
    assert spec.definition is not None
    got = [
        (v.path, v.rule) for v in check(spec, spec.definition, Policy.model_validate(case.policy))
    ]
    assert got == case.want, case.reason


def test_violation_message_names_rule_and_field() -> None:
    spec = make_spec(model={"name": "gpt-3.5-turbo"})
    assert spec.definition is not None
    (violation,) = check(spec, spec.definition, Policy.model_validate(TENANTS))
    assert str(violation) == (
        "spec.model.name: model 'gpt-3.5-turbo' is not allowed for tenant 't1' "
        "(policy rule tenants[0] (tenantId t1))"
    )
