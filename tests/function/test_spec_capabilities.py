"""Spec validation of the capability fields: MCP servers, budgets and approvals."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from tests.function.factories import Case, case_ids, make_spec

SERVER: dict[str, Any] = {"name": "corp", "url": "https://tools.corp.example/mcp"}

INVALID = [
    Case(
        "DuplicateServer",
        "Two servers of one name would share variables and Secrets.",
        {"tools": {"mcpServers": [SERVER, SERVER]}},
        "mcpServers[1].name: duplicate server 'corp'",
    ),
    Case(
        "ToolGrantedTwice",
        "The model calls tools by name, so an MCP tool may not shadow a granted tool.",
        {
            "tools": {
                "allowed": [{"name": "search", "kind": "domain"}],
                "mcpServers": [{**SERVER, "tools": [{"name": "search", "kind": "domain"}]}],
            }
        },
        "mcpServers[0].tools[0].name: tool 'search' is granted twice",
    ),
    Case(
        "AuthorizationTwice",
        "A bearer token is the Authorization header; a second one would be ambiguous.",
        {
            "tools": {
                "mcpServers": [
                    {
                        **SERVER,
                        "credentials": {"secretRef": {"name": "s"}},
                        "headers": [
                            {"name": "authorization", "credentials": {"secretRef": {"name": "s"}}}
                        ],
                    }
                ]
            }
        },
        "headers[0].name: header 'authorization' is set twice",
    ),
    Case(
        "HeaderWithoutSecret",
        "Header values come from secrets only, never literals.",
        {"tools": {"mcpServers": [{**SERVER, "headers": [{"name": "X-Key", "value": "v"}]}]}},
        "credentials",
    ),
    Case(
        "NotAnHttpUrl",
        "Only HTTP transports exist; a stdio command line is not a URL.",
        {"tools": {"mcpServers": [{**SERVER, "url": "npx some-server"}]}},
        "url",
    ),
]


@pytest.mark.parametrize("case", INVALID, ids=case_ids(INVALID))
def test_invalid(case: Case) -> None:
    with pytest.raises(ValidationError) as err:
        make_spec(**case.args)
    assert case.want in str(err.value), case.reason


def test_mcp_defaults() -> None:
    server = make_spec(tools={"mcpServers": [SERVER]}).tools.mcp_servers[0]
    assert (server.transport, server.timeout_seconds, server.tools) == ("streamable-http", 30, [])


def test_budget_limit_needs_a_part() -> None:
    with pytest.raises(ValidationError, match="set tokens, cost or both"):
        make_spec(budgets={"job": {}})


def test_budgets_travel_in_the_grants_file() -> None:
    from function.builders import configmaps
    from tests.function.factories import make_ctx

    spec = make_spec(
        budgets={
            "job": {"tokens": 100},
            "daily": {"cost": 2.5},
            "prices": [{"model": "m", "inputPerMillion": 1, "outputPerMillion": 2}],
        }
    )
    assert configmaps.tool_grants(make_ctx(spec))["budgets"] == {
        "job": {"tokens": 100},
        "daily": {"cost": 2.5},
        "prices": [{"model": "m", "inputPerMillion": 1.0, "outputPerMillion": 2.0}],
    }


APPROVAL_TOOLS = {
    "allowed": [
        {"name": "search", "kind": "domain"},
        {"name": "deploy", "kind": "process", "risk": "high"},
        {"name": "shell", "kind": "primitive"},
    ],
    "mcpServers": [{**SERVER, "tools": [{"name": "wiki", "kind": "domain"}]}],
}

APPROVALS = [
    Case("ByName", "Named tools only.", {"tools": ["wiki"]}, ["wiki"]),
    Case(
        "All",
        "Every granted tool, MCP ones too.",
        {"all": True},
        ["deploy", "search", "shell", "wiki"],
    ),
    Case(
        "ByDeclaredRisk",
        "deploy declares high risk.",
        {"minRiskTier": "high"},
        ["deploy"],
    ),
    Case(
        "ByPolicyRaisedRisk",
        "A primitive rule of minimumRiskTier medium makes shell a medium-risk tool.",
        {"minRiskTier": "medium", "policy": True},
        ["deploy", "shell"],
    ),
]


@pytest.mark.parametrize("case", APPROVALS, ids=case_ids(APPROVALS))
def test_approvals_resolve_to_tool_names(case: Case) -> None:
    from function.builders import configmaps
    from function.input import Policy
    from tests.function.factories import make_ctx

    args = dict(case.args)
    policy = Policy()
    if args.pop("policy", False):
        policy = Policy.model_validate(
            {"tools": [{"kind": "primitive", "minimumRiskTier": "medium"}]}
        )
    spec = make_spec(riskTier="high", tools=APPROVAL_TOOLS, approvals=args)
    got = configmaps.tool_grants(make_ctx(spec, policy=policy))["approvals"]
    assert got == {"tools": case.want, "timeoutSeconds": 86400, "timeoutAction": "reject"}, (
        case.reason
    )


def test_approval_of_an_ungranted_tool_is_refused() -> None:
    with pytest.raises(ValidationError, match=r"approvals.tools\[0\]: tool 'rm' is not granted"):
        make_spec(approvals={"tools": ["rm"]})
