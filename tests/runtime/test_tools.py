"""Tools: builtins, HTTP tools with credentials, and the grants gate."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

import pytest
from langchain_core.utils.function_calling import convert_to_openai_tool

from contract.definition import AgentDefinition
from contract.grants import GrantedTool, ToolGrants
from runtime.agent._builtins import safe_eval
from runtime.agent.files import DefinitionError
from runtime.agent.tools import DEFAULT_ARGS_SCHEMA, granted_tools
from tests.runtime.stub_llm import StubLLM


def definition_with(*tools: dict[str, Any]) -> AgentDefinition:
    return AgentDefinition.model_validate(
        {
            "tool_definitions": list(tools),
            "nodes": [
                {"type": "orchestrator", "name": "main", "tools": [t["name"] for t in tools]}
            ],
        }
    )


def one_tool(tool: dict[str, Any], grant: GrantedTool | None = None) -> Any:
    definition = definition_with(tool)
    grants = ToolGrants(tools=[grant or GrantedTool(name=tool["name"])])
    (built,) = granted_tools([tool["name"]], definition, grants, node="main")
    return built


async def call(tool: Any, args: dict[str, Any]) -> Any:
    """Invoke as a model's tool call does, so tool errors come back as content."""
    message = await tool.ainvoke({"name": tool.name, "args": args, "id": "c1", "type": "tool_call"})
    return message.content


@pytest.mark.parametrize(
    ("expression", "want"),
    [
        pytest.param("1 + 2 * 3", 7, id="Precedence"),
        pytest.param("(1 + 2) * 3", 9, id="Parentheses"),
        pytest.param("7 / 2", 3.5, id="TrueDivision"),
        pytest.param("7 // 2 + 7 % 2", 4, id="FloorAndMod"),
        pytest.param("-2 ** 2", -4, id="UnaryAndPower"),
        pytest.param("sqrt(16) + max(1, 2)", 6.0, id="Functions"),
        pytest.param("round(pi, 2)", 3.14, id="Constants"),
    ],
)
def test_calculator_evaluates_arithmetic(expression: str, want: float) -> None:
    assert safe_eval(expression) == want


@pytest.mark.parametrize(
    ("expression", "want"),
    [
        pytest.param("__import__('os').system('true')", "unsupported", id="NoCalls"),
        pytest.param("().__class__", "unsupported", id="NoAttributes"),
        pytest.param("x + 1", "unsupported", id="NoNames"),
        pytest.param("'a' * 3", "unsupported", id="NoStrings"),
        pytest.param("9 ** 9 ** 9", "exponent", id="NoHugePowers"),
        pytest.param("1 / 0", "division by zero", id="DivisionByZero"),
        pytest.param("1 +", "not an arithmetic expression", id="Syntax"),
        pytest.param("1" * 600, "longer than", id="TooLong"),
    ],
)
def test_calculator_refuses_anything_but_arithmetic(expression: str, want: str) -> None:
    with pytest.raises(ValueError, match=want):
        safe_eval(expression)


async def test_calculator_tool_returns_errors_to_the_model() -> None:
    calculator = one_tool({"name": "calculator"})
    assert await call(calculator, {"expression": "6 * 7"}) == "42"
    refused = await call(calculator, {"expression": "open('/etc/passwd')"})
    assert refused == "calculator: unsupported syntax: \"open('/etc/passwd')\" (Call)"


async def test_current_time_is_utc_iso() -> None:
    now = datetime.fromisoformat(await call(one_tool({"name": "current_time"}), {}))
    assert now.tzinfo == UTC
    assert abs((datetime.now(UTC) - now).total_seconds()) < 60


async def test_builtin_under_another_name_with_own_parameters() -> None:
    schema = {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}
    tool = one_tool({"name": "repeat", "builtin": "echo", "parameters": schema})
    assert convert_to_openai_tool(tool)["function"]["parameters"] == schema
    assert await call(tool, {"text": "hi"}) == '{"text": "hi"}'


async def test_http_tool_posts_json_with_bearer_credential(
    llm: StubLLM, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOOL_LOOKUP_TOKEN", "s3cret")
    base = llm.base_url.removesuffix("/v1")
    tool = one_tool({"name": "lookup", "type": "http", "url": f"{base}/tools/echo"})

    assert convert_to_openai_tool(tool)["function"]["parameters"] == DEFAULT_ARGS_SCHEMA
    out = json.loads(await call(tool, {"input": "q"}))
    assert out == {
        "method": "POST",
        "json": {"input": "q"},
        "query": "",
        "authorization": "Bearer s3cret",
    }


async def test_http_tool_uses_the_grants_credential_env_and_get_query(
    llm: StubLLM, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_PAT", "pat")
    base = llm.base_url.removesuffix("/v1")
    tool = one_tool(
        {"name": "gh", "type": "http", "url": f"{base}/tools/echo", "method": "GET"},
        GrantedTool(name="gh", kind="domain", credentialEnv="GITHUB_PAT"),
    )
    out = json.loads(await call(tool, {"input": "x y"}))
    assert (out["method"], out["query"], out["authorization"]) == ("GET", "input=x+y", "Bearer pat")


async def test_http_tool_without_credential_sends_no_authorization(llm: StubLLM) -> None:
    base = llm.base_url.removesuffix("/v1")
    tool = one_tool({"name": "lookup", "type": "http", "url": f"{base}/tools/echo"})
    assert json.loads(await call(tool, {"input": "q"}))["authorization"] is None


@pytest.mark.parametrize(
    ("path", "want"),
    [
        pytest.param("/tools/fail", "lookup: HTTP 503 from the tool endpoint", id="ServerError"),
        pytest.param(None, "lookup: request failed: ConnectError", id="Unreachable"),
    ],
)
async def test_http_tool_failures_reach_the_model_as_text(
    llm: StubLLM, path: str | None, want: str
) -> None:
    url = llm.base_url.removesuffix("/v1") + path if path else "http://127.0.0.1:9/x"
    tool = one_tool({"name": "lookup", "type": "http", "url": url, "timeoutSeconds": 5})
    assert await call(tool, {"input": "q"}) == want


def test_only_granted_tools_are_built_and_the_rest_are_named(
    caplog: pytest.LogCaptureFixture,
) -> None:
    definition = definition_with({"name": "calculator"}, {"name": "echo"}, {"name": "current_time"})
    with caplog.at_level(logging.WARNING, logger="runtime.agent.tools"):
        tools = granted_tools(
            ["calculator", "echo", "current_time"],
            definition,
            ToolGrants(tools=[GrantedTool(name="echo")]),
            node="main",
        )
    assert [t.name for t in tools] == ["echo"]
    (warning,) = caplog.records
    assert (warning.node, warning.denied_tools) == ("main", ["calculator", "current_time"])  # type: ignore[attr-defined]


def test_unknown_tool_name_is_a_definition_error() -> None:
    with pytest.raises(DefinitionError, match="node 'main': unknown tool 'nope'"):
        granted_tools(["nope"], definition_with(), ToolGrants(), node="main")
