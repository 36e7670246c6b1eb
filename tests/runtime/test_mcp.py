"""McpToolset against a real MCP server (the mcp SDK's FastMCP) in the test process."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from contract.grants import McpServerGrant
from runtime.agent.mcp import PERMISSIVE_SCHEMA, McpToolset
from runtime.observability import REGISTRY
from tests.runtime.mcp_server import McpTestServer


@pytest.fixture
def mcp_server() -> Iterator[McpTestServer]:
    server = McpTestServer().start()
    try:
        yield server
    finally:
        server.stop()


def grant(url: str, *tools: str, **extra: object) -> McpServerGrant:
    return McpServerGrant.model_validate(
        {"name": "calc", "url": url, "tools": [{"name": t} for t in tools], **extra}
    )


def up_metric(server: str = "calc") -> float | None:
    return REGISTRY.get_sample_value("xagent_mcp_server_up", {"server": server})


async def test_only_granted_tools_are_built(mcp_server: McpTestServer) -> None:
    toolset = McpToolset([grant(mcp_server.url, "add")])
    assert await toolset.refresh() == {"calc": True}
    assert [t.name for t in toolset.tools] == ["add"]
    (add,) = toolset.tools
    assert add.args_schema["required"] == ["a", "b"]  # the server's own schema
    assert await add.ainvoke({"a": 2, "b": 3}) == "5"
    assert mcp_server.calls == [("add", {"a": 2, "b": 3})]
    assert up_metric() == 1


async def test_headers_come_from_the_named_variables(
    mcp_server: McpTestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MCP_CALC_TOKEN", "s3cret")
    monkeypatch.setenv("MCP_CALC_HEADER_0", "acme")
    toolset = McpToolset(
        [
            grant(
                mcp_server.url,
                "whoami",
                headerEnv={"Authorization": "MCP_CALC_TOKEN", "X-Tenant": "MCP_CALC_HEADER_0"},
            )
        ]
    )
    await toolset.refresh()
    assert await toolset.tools[0].ainvoke({}) == "authorization=Bearer s3cret tenant=acme"


async def test_survives_a_server_restart(mcp_server: McpTestServer) -> None:
    toolset = McpToolset([grant(mcp_server.url, "add")])
    await toolset.refresh()
    (add,) = toolset.tools
    mcp_server.stop()
    answer = await add.ainvoke({"a": 1, "b": 1})
    assert "MCP server 'calc' is unreachable" in answer  # a tool error for the model
    assert toolset.up() == {"calc": False}
    assert up_metric() == 0
    mcp_server.start()
    assert await add.ainvoke({"a": 1, "b": 1}) == "2"
    assert toolset.up() == {"calc": True}


async def test_unreachable_at_start_then_found(mcp_server: McpTestServer) -> None:
    url = mcp_server.url
    mcp_server.stop()
    toolset = McpToolset([grant(url, "add", timeoutSeconds=2)])
    assert await toolset.refresh() == {"calc": False}
    (add,) = toolset.tools
    assert add.args_schema == PERMISSIVE_SCHEMA  # still bound: the model may try it
    assert await toolset.ping() is False
    mcp_server.start()
    assert await toolset.ping() is True  # /ready lists the servers that were down again
    assert add.args_schema["required"] == ["a", "b"]
    assert await add.ainvoke({"a": 4, "b": 5}) == "9"


async def test_granted_tool_the_server_lacks(mcp_server: McpTestServer) -> None:
    toolset = McpToolset([grant(mcp_server.url, "add", "nope")])
    await toolset.refresh()
    nope = next(t for t in toolset.tools if t.name == "nope")
    assert "does not offer it" in await nope.ainvoke({})


async def test_sse_transport() -> None:
    server = McpTestServer(transport="sse").start()
    try:
        toolset = McpToolset([grant(server.url, "add", transport="sse")])
        assert await toolset.refresh() == {"calc": True}
        assert await toolset.tools[0].ainvoke({"a": 20, "b": 22}) == "42"
    finally:
        server.stop()
