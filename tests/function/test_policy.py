"""Policy rules: tenant allow-lists for providers and models, minimum risk tier per tool."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from function import compose
from function.definition_source import resolve
from function.input import Policy
from function.policy import Violation, check, lines
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

MCP_SERVER = {
    "name": "corp",
    "url": "https://tools.corp.example/mcp",
    "tools": [{"name": "search", "kind": "domain"}, {"name": "shell", "kind": "primitive"}],
}
MCP_TENANTS = {"tenants": [{"tenantId": "t1", "allowedMcpUrls": ["https://*.corp.example/mcp*"]}]}

BUDGET_CAPS = {
    "tenants": [{"tenantId": "t1", "maxBudgets": {"job": {"tokens": 1000}, "daily": {"cost": 10}}}]
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
        "McpUrlObeysToolUrlRules",
        "MCP servers are checked by the same toolUrls rules as http tools.",
        {"tools": {"mcpServers": [MCP_SERVER]}},
        {"toolUrls": {"denied": ["https://*.corp.example"]}},
        [("spec.tools.mcpServers[0].url", "toolUrls")],
    ),
    Case(
        "McpCredentialsStayUnderTheTenantPrefix",
        "An MCP token from another tenant's key is refused like any credential.",
        {
            "tools": {
                "mcpServers": [
                    {**MCP_SERVER, "credentials": {"remoteRef": {"key": "xagent/acme/mcp"}}}
                ]
            }
        },
        {},
        [("spec.tools.mcpServers[0].credentials.remoteRef.key", "credentials.remoteKeyPrefix")],
    ),
    Case(
        "GatedToolOnASubAgent",
        "A sub-agent cannot wait for a decision: approving its tools is refused at its node.",
        {
            "tools": {"allowed": [{"name": "calc", "kind": "domain"}]},
            "approvals": {"all": True},
            "definition": {
                "toolDefinitions": [{"name": "calc", "builtin": "calculator"}],
                "nodes": [
                    {"type": "orchestrator", "name": "main"},
                    {"type": "sub-agent", "name": "helper", "tools": ["calc"]},
                ],
                "edges": [{"source": "main", "target": "helper"}],
            },
        },
        {},
        [("spec.definition.nodes[1].tools", "approvals")],
    ),
    Case(
        "McpToolObeysToolRules",
        "An MCP tool is a tool: the primitive rule needs medium, the agent has low.",
        {"tools": {"mcpServers": [MCP_SERVER]}},
        TOOLS,
        [("spec.tools.mcpServers[0].tools[1]", "tools[1] (tool *, minimumRiskTier medium)")],
    ),
    Case(
        "McpUrlInsideAllowedPatterns",
        "The server's host and path match the tenant's pattern.",
        {"tools": {"mcpServers": [MCP_SERVER]}},
        MCP_TENANTS,
        [],
    ),
    Case(
        "McpUrlOutsideAllowedPatterns",
        "A host the tenant may not reach is refused at the url field.",
        {"tools": {"mcpServers": [{**MCP_SERVER, "url": "https://mcp.evil.example/mcp"}]}},
        MCP_TENANTS,
        [("spec.tools.mcpServers[0].url", "tenants[0] (tenantId t1)")],
    ),
    Case(
        "McpUrlPatternDoesNotCrossParts",
        "A glob over the whole URL would let the host hide in the path; parts match apart.",
        {
            "tools": {
                "mcpServers": [
                    {**MCP_SERVER, "url": "https://evil.example/x.corp.example/mcp"},
                    {**MCP_SERVER, "name": "b", "tools": [], "url": "https://u@a.corp.example/mcp"},
                    {**MCP_SERVER, "name": "c", "tools": [], "url": "http://a.corp.example/mcp"},
                ]
            }
        },
        MCP_TENANTS,
        [
            ("spec.tools.mcpServers[1].url", "secrets-as-references"),
            ("spec.tools.mcpServers[0].url", "tenants[0] (tenantId t1)"),
            ("spec.tools.mcpServers[2].url", "tenants[0] (tenantId t1)"),
        ],
    ),
    Case(
        "BudgetWithinCaps",
        "Budgets at or under the tenant's caps pass.",
        {"budgets": {"job": {"tokens": 1000}, "daily": {"tokens": 5, "cost": 10}}},
        BUDGET_CAPS,
        [],
    ),
    Case(
        "BudgetCappedScopeMustBeSet",
        "A capped scope left unset would be unlimited.",
        {},
        BUDGET_CAPS,
        [
            ("spec.budgets.job.tokens", "tenants[0] (tenantId t1) maxBudgets"),
            ("spec.budgets.daily.cost", "tenants[0] (tenantId t1) maxBudgets"),
        ],
    ),
    Case(
        "BudgetOverCap",
        "A budget above the cap is refused at its field.",
        {"budgets": {"job": {"tokens": 1001}, "daily": {"cost": 10.5}}},
        BUDGET_CAPS,
        [
            ("spec.budgets.job.tokens", "tenants[0] (tenantId t1) maxBudgets"),
            ("spec.budgets.daily.cost", "tenants[0] (tenantId t1) maxBudgets"),
        ],
    ),
    Case(
        "CheapPricesCannotStretchACostCap",
        "Pricing gpt-4o (or a glob shadowing it) below the built-in table is refused.",
        {
            "budgets": {
                "job": {"tokens": 10},
                "daily": {"cost": 1},
                "prices": [
                    {"model": "gpt-4o*", "inputPerMillion": 0, "outputPerMillion": 0},
                    {"model": "my-model", "inputPerMillion": 0, "outputPerMillion": 0},
                    {"model": "*", "inputPerMillion": 100, "outputPerMillion": 100},
                ],
            }
        },
        BUDGET_CAPS,
        [("spec.budgets.prices[0]", "tenants[0] (tenantId t1) maxBudgets")],
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
    # --- endpoints (issue 9 item 2) ---
    Case(
        "HostedProviderOnlyAtOfficialEndpoint",
        "openai pointed at another provider's API passes an openai-only allow-list no more.",
        {"model": {"endpoint": "https://api.anthropic.com/v1/"}},
        TENANTS,
        [("spec.model.endpoint", "tenants[0] (tenantId t1)")],
    ),
    Case(
        "OfficialEndpointAllowed",
        "The official endpoint, spelled with a path, is a hosted provider's default.",
        {"model": {"endpoint": "https://API.openai.com/v1/"}},
        TENANTS,
        [],
    ),
    Case(
        "UserinfoDoesNotSpoofHost",
        "api.openai.com@evil.example goes to evil.example (and carries credentials).",
        {"model": {"endpoint": "https://api.openai.com@evil.example/v1"}},
        TENANTS,
        [
            ("spec.model.endpoint", "tenants[0] (tenantId t1)"),
            ("spec.model.endpoint", "secrets-as-references"),
        ],
    ),
    Case(
        "ListedEndpointsReplaceDefault",
        "A tenant's endpoint rule for a provider is the whole list for it.",
        {"model": {"provider": "openai-compatible", "endpoint": "http://llm.other.svc:8000/v1"}},
        {
            "tenants": [
                {
                    "tenantId": "t1",
                    "allowedEndpoints": [
                        {"provider": "openai-compatible", "urls": ["http://vllm.models.svc:8000"]}
                    ],
                }
            ]
        },
        [("spec.model.endpoint", "tenants[0] (tenantId t1)")],
    ),
    Case(
        "SelfHostedProviderAnyEndpointByDefault",
        "ollama has no official endpoint: unrestricted unless the tenant lists some.",
        {"model": {"provider": "ollama", "name": "llama3", "endpoint": "http://ollama:11434"}},
        {"tenants": [{"tenantId": "t1"}]},
        [],
    ),
    # --- tools bound by identity (item 3) ---
    Case(
        "RenamedHttpToolMatchedByURL",
        "A tool called dev that calls the devcontainer URL needs the devcontainer's tier.",
        {
            "definition": {
                "toolDefinitions": [
                    {"name": "dev", "type": "http", "url": "http://DevContainer.tools.svc/exec"}
                ],
                "nodes": [{"type": "orchestrator", "name": "main", "tools": ["dev"]}],
            },
            "tools": {"allowed": [{"name": "dev", "kind": "domain"}]},
        },
        {"tools": [{"url": "http://devcontainer.tools.svc", "minimumRiskTier": "high"}]},
        [("spec.tools.allowed[0]", "tools[0] (tool *, minimumRiskTier high)")],
    ),
    Case(
        "RecasedNameStillMatches",
        "Develop_In_Container is develop_in_container.",
        {"tools": {"allowed": [{"name": "Develop_In_Container", "kind": "domain"}]}},
        TOOLS,
        [("spec.tools.allowed[0]", "tools[0] (tool develop_in_container, minimumRiskTier high)")],
    ),
    Case(
        "AliasedBuiltinMatchedByBuiltin",
        "calc2 runs the calculator builtin: a rule on calculator covers it.",
        {
            "definition": {
                "toolDefinitions": [{"name": "calc2", "builtin": "calculator"}],
                "nodes": [{"type": "orchestrator", "name": "main", "tools": ["calc2"]}],
            },
            "tools": {"allowed": [{"name": "calc2", "kind": "domain"}]},
        },
        {"tools": [{"tool": "calculator", "minimumRiskTier": "high"}]},
        [("spec.tools.allowed[0]", "tools[0] (tool calculator, minimumRiskTier high)")],
    ),
    Case(
        "BuiltinKindFromBuiltin",
        "A grant calling the calculator builtin domain is still a primitive.",
        {
            "definition": {
                "toolDefinitions": [{"name": "calculator"}],
                "nodes": [{"type": "orchestrator", "name": "main", "tools": ["calculator"]}],
            },
            "tools": {"allowed": [{"name": "calculator", "kind": "domain"}]},
        },
        TOOLS,
        [("spec.tools.allowed[0]", "tools[1] (tool *, minimumRiskTier medium)")],
    ),
    Case(
        "DeniedToolURL",
        "Tool URLs are checked against the deny-list, by host, case-insensitively.",
        {
            "definition": {
                "toolDefinitions": [
                    {"name": "meta", "type": "http", "url": "http://169.254.169.254/latest"}
                ],
                "nodes": [{"type": "orchestrator", "name": "main"}],
            },
        },
        {"toolUrls": {"denied": ["http://169.254.169.254"]}},
        [("spec.definition.toolDefinitions[0].url", "toolUrls")],
    ),
    Case(
        "ToolURLOutsideAllowList",
        "With an allow-list, a URL on another host is refused.",
        {
            "definition": {
                "toolDefinitions": [
                    {"name": "x", "type": "http", "url": "https://tools.example.com.evil.io/x"}
                ],
                "nodes": [{"type": "orchestrator", "name": "main"}],
            },
        },
        {"toolUrls": {"allowed": ["https://tools.example.com"]}},
        [("spec.definition.toolDefinitions[0].url", "toolUrls")],
    ),
    # --- credentials tied to the tenant (item 4) ---
    Case(
        "RemoteKeyOfAnotherTenant",
        "t1 may not read acme's key, by default policy.",
        {"model": {"credentials": {"remoteRef": {"key": "xagent/acme/openai"}}}},
        {},
        [("spec.model.credentials.remoteRef.key", "credentials.remoteKeyPrefix")],
    ),
    Case(
        "RemoteKeyTraversal",
        "xagent/t1/../acme/openai leaves the prefix.",
        {
            "tools": {
                "allowed": [
                    {
                        "name": "gh",
                        "kind": "domain",
                        "credentials": {"remoteRef": {"key": "xagent/t1/../acme/gh"}},
                    }
                ]
            }
        },
        {},
        [("spec.tools.allowed[0].credentials.remoteRef.key", "credentials.remoteKeyPrefix")],
    ),
    Case(
        "OwnRemoteKeyAllowed",
        "A key under xagent/t1/ is the tenant's own.",
        {"model": {"credentials": {"remoteRef": {"key": "xagent/t1/openai-prod"}}}},
        {},
        [],
    ),
    Case(
        "StoreNotAllowed",
        "Only allow-listed stores: the default ClusterSecretStore and namespaced stores.",
        {"secrets": {"storeName": "other-team-vault"}},
        {},
        [("spec.secrets.storeName", "credentials.stores")],
    ),
    Case(
        "NamespacedStoreAllowed",
        "A SecretStore lives in the tenant's namespace.",
        {"secrets": {"storeName": "mine", "storeKind": "SecretStore"}},
        {},
        [],
    ),
    # --- no secret literals (item 5) ---
    Case(
        "TokenInQueryOfEndpoint",
        "?api_key= in model.endpoint would land in env values.",
        {"model": {"endpoint": "https://api.openai.com/v1?api_key=sk-123"}},
        {},
        [("spec.model.endpoint", "secrets-as-references")],
    ),
    Case(
        "PasswordInQueueURL",
        "nats://user:pass@ would land in NACK resources.",
        {"queue": {"url": "nats://u:p@nats:4222"}},
        {},
        [("spec.queue.url", "secrets-as-references")],
    ),
    Case(
        "TokenInTracingAndToolURL",
        "Tracing endpoint and tool URLs too.",
        {
            "observability": {"tracing": {"endpoint": "http://otel:4317/?token=x"}},
            "definition": {
                "toolDefinitions": [
                    {"name": "t", "type": "http", "url": "http://svc/x?Access_Token=y"}
                ],
                "nodes": [{"type": "orchestrator", "name": "main"}],
            },
        },
        {},
        [
            ("spec.observability.tracing.endpoint", "secrets-as-references"),
            ("spec.definition.toolDefinitions[0].url", "secrets-as-references"),
        ],
    ),
    Case(
        "CredentialsInSqlHost",
        "The SQL host is a host, not a URL with a password.",
        {"persistence": {"database": {"engine": "sql", "sql": {"host": "u:p@pg.db"}}}},
        {},
        [("spec.persistence.database.sql.host", "secrets-as-references")],
    ),
    # --- queues and identity (item 7) ---
    Case(
        "StreamOfAnotherNamespace",
        "An XAgent in agents may not name team-b's stream or subjects.",
        {"queue": {"stream": "xagent_team-b_bot", "subjectPrefix": "xagent.team-b.bot"}},
        {},
        [("spec.queue.stream", "queues"), ("spec.queue.subjectPrefix", "queues")],
    ),
    Case(
        "OwnNamespaceStream",
        "Names under the XAgent's own namespace are fine.",
        {"queue": {"stream": "xagent_agents_custom", "subjectPrefix": "xagent.agents.custom"}},
        {},
        [],
    ),
    Case(
        "ProviderConfigNotAllowed",
        "A ClusterProviderConfig outside the allow-list reaches someone else's server.",
        {"persistence": {"database": {"engine": "sql", "sql": {"providerConfigRef": "finance"}}}},
        {},
        [("spec.persistence.database.sql.providerConfigRef", "providerConfigs")],
    ),
    Case(
        "IdentityAnnotationNotAllowed",
        "An IAM role annotation needs an allow rule; other annotations are free.",
        {
            "serviceAccount": {
                "annotations": {
                    "eks.amazonaws.com/role-arn": "arn:aws:iam::1:role/admin",
                    "example.com/owner": "me",
                }
            }
        },
        {},
        [("spec.serviceAccount.annotations[eks.amazonaws.com/role-arn]", "identityAnnotations")],
    ),
    Case(
        "IdentityAnnotationTemplated",
        "The tenant's own role matches the templated allow rule.",
        {
            "serviceAccount": {
                "annotations": {"EKS.amazonaws.com/role-arn": "arn:aws:iam::1:role/t1-x"}
            }
        },
        {
            "identityAnnotations": [
                {"key": "eks.amazonaws.com/role-arn", "value": "arn:aws:iam::1:role/{tenantId}-*"}
            ]
        },
        [],
    ),
    # --- network (item 8) ---
    Case(
        "NetworkPolicyRequired",
        "A tenant cannot switch the runtime's NetworkPolicy off when policy requires it.",
        {"networkPolicy": {"enabled": False}},
        {"networkPolicy": {"required": True}},
        [("spec.networkPolicy.enabled", "networkPolicy.required")],
    ),
    Case(
        "IngressNamespaceNotAllowed",
        "Only allowed namespaces may be let in.",
        {"networkPolicy": {"ingressNamespaces": ["gateway", "everyone-else"]}},
        {"networkPolicy": {"ingressNamespaces": ["gateway", "monitoring"]}},
        [("spec.networkPolicy.ingressNamespaces[1]", "networkPolicy.ingressNamespaces")],
    ),
    Case(
        "ImageNotAllowed",
        "Grants and env scrubbing are the runtime's: another image escapes both.",
        {"image": {"repository": "docker.io/evil/runtime"}},
        {"images": ["ghcr.io/xagent-dev/*"]},
        [("spec.image.repository", "images")],
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_policy(case: Case) -> None:
    spec = make_spec(**case.spec)
    assert spec.definition is not None
    got = [
        (v.path, v.rule)
        for v in check(
            spec, spec.definition, Policy.model_validate(case.policy), namespace="agents"
        )
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


def test_lines_name_each_broken_requirement_once_with_every_rule() -> None:
    same = "tool 'x' needs riskTier high, the agent has low"
    got = lines(
        [
            Violation("tools[0] (tool x)", "spec.tools.allowed[0]", same),
            Violation("tools[1] (tool *)", "spec.tools.allowed[0]", same),
            Violation("tools[1] (tool *)", "spec.tools.allowed[0]", same),
            Violation("tenants[0]", "spec.model.name", "model 'm' is not allowed"),
        ]
    )
    assert got == [
        f"spec.tools.allowed[0]: {same} (policy rules tools[0] (tool x) and tools[1] (tool *))",
        "spec.model.name: model 'm' is not allowed (policy rule tenants[0])",
    ]


def test_fatal_and_condition_list_one_rule_per_line() -> None:
    # The tool's own rule and a "*" rule ask the same of spec.tools.allowed[0].
    policy = Policy.model_validate(
        {
            "tenants": [{"tenantId": "t1", "allowedProviders": ["anthropic"]}],
            "tools": [
                {"tool": "shell", "minimumRiskTier": "high"},
                {"tool": "*", "minimumRiskTier": "high"},
            ],
        }
    )
    spec = make_spec(tools={"allowed": [{"name": "shell", "kind": "primitive"}]})
    outcome = compose.compose("bot", "agents", spec, resolve("bot", spec, None), policy, {})
    assert outcome.fatal is not None
    header, *rules = outcome.fatal.splitlines()
    assert header == "policy violation:"
    assert [r.split(":")[0] for r in rules] == ["- spec.model.provider", "- spec.tools.allowed[0]"]
    assert "(policy rules tools[0] (tool shell, minimumRiskTier high) and tools[1]" in rules[1]
    (condition,) = [c for c in outcome.conditions if c.typ == "PolicyCompliant"]
    assert condition.message is not None
    assert condition.message.splitlines() == [r.removeprefix("- ") for r in rules]
