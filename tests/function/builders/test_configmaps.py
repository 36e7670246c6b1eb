"""The definition and tool grants ConfigMaps."""

from __future__ import annotations

import json

import pytest

from contract import env as contract_env
from contract.definition import AgentDefinition
from contract.grants import ToolGrants
from function.builders import configmaps
from tests.function.factories import Case, case_ids, make_ctx, make_spec
from tests.function.schemas import assert_valid

TOOLS = {
    "allowed": [
        {"name": "github", "kind": "domain", "credentials": {"remoteRef": {"key": "gh"}}},
        {"name": "clock", "kind": "primitive"},
        {"name": "jira", "kind": "process", "credentials": {"secretRef": {"name": "jira"}}},
    ]
}


def _data(desired: dict, key: str, file: str) -> dict:
    return json.loads(desired[key]["data"][file])


def test_definition_is_the_runtime_json() -> None:
    ctx = make_ctx()
    desired = assert_valid(configmaps.build(ctx))
    cm = desired["configmap-definition"]
    assert cm["metadata"]["name"] == "support-bot-definition-9d2e497dff"
    assert set(cm["data"]) == {contract_env.DEFINITION_FILE}
    parsed = _data(desired, "configmap-definition", contract_env.DEFINITION_FILE)
    assert parsed == ctx.definition.to_runtime_json()
    # The runtime reads it back into the same graph (snake_case keys, seed 001).
    assert AgentDefinition.model_validate(parsed) == ctx.definition
    assert "system_prompt" in parsed["nodes"][0]
    assert cm["metadata"]["annotations"] == {
        "xagent.dev/definition-id": ctx.definition_id,
        "xagent.dev/definition-checksum": ctx.definition_checksum,
    }


def test_definition_text_is_canonical() -> None:
    # The same graph written with keys in another order renders byte for byte the same.
    a = make_spec(definition={"nodes": [{"type": "orchestrator", "name": "main", "tools": []}]})
    b = make_spec(definition={"nodes": [{"tools": [], "name": "main", "type": "orchestrator"}]})
    assert configmaps.definition_data(make_ctx(a)) == configmaps.definition_data(make_ctx(b))


GRANT_CASES = [
    Case(
        name="NoTools",
        reason="Nothing granted: the runtime binds no tool.",
        args={},
        want={"tools": [], "riskTier": "low", "tenantId": "t1"},
    ),
    Case(
        name="Grants",
        reason="Every grant in order; credentialEnv only where the grant has credentials.",
        args={"tools": TOOLS, "riskTier": "high", "tenantId": "acme"},
        want={
            "tools": [
                {"name": "github", "kind": "domain", "credentialEnv": "TOOL_GITHUB_TOKEN"},
                {"name": "clock", "kind": "primitive"},
                {"name": "jira", "kind": "process", "credentialEnv": "TOOL_JIRA_TOKEN"},
            ],
            "riskTier": "high",
            "tenantId": "acme",
        },
    ),
]


@pytest.mark.parametrize("case", GRANT_CASES, ids=case_ids(GRANT_CASES))
def test_tool_grants(case: Case) -> None:
    desired = assert_valid(configmaps.build(make_ctx(make_spec(**case.args))))
    got = _data(desired, "configmap-tool-grants", contract_env.TOOL_GRANTS_FILE)
    assert got == case.want, case.reason
    # The runtime's own loader reads the same grants.
    grants = ToolGrants.model_validate(got)
    assert [t.name for t in grants.tools] == [t["name"] for t in case.want["tools"]]


def test_clashing_credential_variables_are_distinct() -> None:
    tools = {
        "allowed": [
            {"name": "my-tool", "kind": "domain", "credentials": {"remoteRef": {"key": "a"}}},
            {"name": "my_tool", "kind": "domain", "credentials": {"remoteRef": {"key": "b"}}},
        ]
    }
    grants = configmaps.tool_grants(make_ctx(make_spec(tools=tools)))
    envs = [t["credentialEnv"] for t in grants["tools"]]
    assert envs[0] == "TOOL_MY_TOOL_TOKEN"
    assert len(set(envs)) == 2


def test_long_xr_name_fits() -> None:
    desired = assert_valid(configmaps.build(make_ctx(name="b" * 70)))
    names = [m["metadata"]["name"] for m in desired.values()]
    assert all(len(n) <= 63 for n in names)
    assert len(set(names)) == 2


def test_mcp_servers_in_grants_name_variables_not_values() -> None:
    spec = make_spec(
        tools={
            "mcpServers": [
                {
                    "name": "corp",
                    "url": "https://tools.corp.example/mcp",
                    "credentials": {"remoteRef": {"key": "xagent/t1/corp-mcp"}},
                    "headers": [{"name": "X-Tenant", "credentials": {"secretRef": {"name": "s"}}}],
                    "tools": [{"name": "search", "kind": "domain"}],
                },
                {"name": "open", "url": "http://open:8000/sse", "transport": "sse"},
            ]
        }
    )
    grants = configmaps.tool_grants(make_ctx(spec))
    assert grants["mcpServers"] == [
        {
            "name": "corp",
            "url": "https://tools.corp.example/mcp",
            "transport": "streamable-http",
            "timeoutSeconds": 30,
            "headerEnv": {"Authorization": "MCP_CORP_TOKEN", "X-Tenant": "MCP_CORP_HEADER_0"},
            "tools": [{"name": "search", "kind": "domain"}],
        },
        {
            "name": "open",
            "url": "http://open:8000/sse",
            "transport": "sse",
            "timeoutSeconds": 30,
            "headerEnv": {},
            "tools": [],
        },
    ]


def test_no_mcp_servers_no_key() -> None:
    assert "mcpServers" not in configmaps.tool_grants(make_ctx())
