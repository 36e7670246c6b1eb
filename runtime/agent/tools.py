"""LangChain tools from the definition's ToolDefinitions, filtered by the agent's grants.

`granted_tools` is the one gate between a definition and a model: graph.py obtains every tool
it binds or executes from it, and it drops (with a warning naming them) every tool the policy
did not grant. Keep it that way: a second path to build tools would be a second policy.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable
from typing import Any

import httpx
from langchain_core.tools import BaseTool, StructuredTool, ToolException

from contract import env as contract_env
from contract.definition import AgentDefinition, ToolDefinition, ToolType
from contract.grants import GrantedTool, ToolGrants
from runtime.agent._builtins import BUILTIN_SCHEMAS, BUILTINS
from runtime.agent.files import DefinitionError

__all__ = [
    "DEFAULT_ARGS_SCHEMA",
    "MAX_TOOL_OUTPUT",
    "builtin_names",
    "granted_tools",
    "tool_problems",
]

log = logging.getLogger(__name__)

DEFAULT_ARGS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"input": {"type": "string", "description": "The tool's input."}},
    "required": ["input"],
}
"""Arguments of a tool whose definition gives no ``parameters``."""

MAX_TOOL_OUTPUT = 16_000
"""Characters of tool output handed back to the model; more would flood its context."""


def builtin_names() -> list[str]:
    """Names of the builtin implementations this runtime ships."""
    return sorted(BUILTINS)


def tool_problems(definition: AgentDefinition) -> list[str]:
    """Problems only the runtime can see: builtins it does not ship, each naming the tool."""
    out = []
    for i, tool in enumerate(definition.tool_definitions):
        impl = tool.builtin or tool.name
        if tool.type == ToolType.BUILTIN and impl not in BUILTINS:
            out.append(
                f"tool_definitions[{i}]: tool {tool.name!r} names unknown builtin {impl!r} "
                f"(this runtime ships {', '.join(builtin_names())})"
            )
    return out


def granted_tools(
    names: Iterable[str], definition: AgentDefinition, grants: ToolGrants, *, node: str
) -> list[BaseTool]:
    """Build the tools ``node`` may call: those it names that the policy granted.

    Args:
        names: Tool names the node lists (ToolDefinition names).
        definition: Where the tools are defined.
        grants: What the agent's policy allows.
        node: The node asking, for the warning.

    Returns:
        One LangChain tool per granted name, in the order given. Ungranted names are left out
        and logged as a warning; they are never handed to a model or a ToolNode.

    Raises:
        DefinitionError: A name is not defined, or names a builtin this runtime lacks.
    """
    by_name = {t.name: t for t in definition.tool_definitions}
    tools: list[BaseTool] = []
    denied: list[str] = []
    for name in names:
        if name not in by_name:
            raise DefinitionError(f"node {node!r}: unknown tool {name!r}")
        grant = grants.get(name)
        if grant is None:
            denied.append(name)
            continue
        tools.append(_build_tool(by_name[name], grant))
    if denied:
        log.warning(
            "tools not granted by policy are not bound",
            extra={"node": node, "denied_tools": denied},
        )
    return tools


def _build_tool(tool: ToolDefinition, grant: GrantedTool) -> BaseTool:
    if tool.type == ToolType.HTTP:
        return _http_tool(tool, grant)
    return _builtin_tool(tool)


def _builtin_tool(tool: ToolDefinition) -> BaseTool:
    impl_name = tool.builtin or tool.name
    impl = BUILTINS.get(impl_name)
    if impl is None:
        raise DefinitionError(f"tool {tool.name!r}: unknown builtin {impl_name!r}")

    async def run(**kwargs: Any) -> str:
        try:
            return impl(kwargs)
        except (ValueError, TypeError, OverflowError) as err:
            # The model sent bad arguments: tell it, so it can correct itself.
            raise ToolException(f"{tool.name}: {err}") from None

    return StructuredTool(
        name=tool.name,
        description=tool.description or f"Builtin tool {impl_name}.",
        args_schema=tool.parameters or BUILTIN_SCHEMAS.get(impl_name, DEFAULT_ARGS_SCHEMA),
        coroutine=run,
        handle_tool_error=True,
        metadata={"xagent_tool_type": "builtin"},
    )


def _http_tool(tool: ToolDefinition, grant: GrantedTool) -> BaseTool:
    url = str(tool.url)
    credential_env = grant.credential_env or contract_env.tool_credential_env(tool.name)

    async def run(**kwargs: Any) -> str:
        headers = {"Accept": "application/json"}
        # Read at call time: the credential is not kept in memory beyond the request.
        if token := os.environ.get(credential_env):
            headers["Authorization"] = f"Bearer {token}"
        request: dict[str, Any] = {"params": kwargs} if tool.method == "GET" else {"json": kwargs}
        try:
            async with httpx.AsyncClient(timeout=tool.timeout_seconds) as client:
                response = await client.request(tool.method, url, headers=headers, **request)
            response.raise_for_status()
        except httpx.HTTPStatusError as err:
            raise ToolException(
                f"{tool.name}: HTTP {err.response.status_code} from the tool endpoint"
            ) from None
        except (TimeoutError, httpx.HTTPError) as err:
            raise ToolException(f"{tool.name}: request failed: {type(err).__name__}") from None
        return _truncate(_response_text(response))

    return StructuredTool(
        name=tool.name,
        description=tool.description or f"Calls {tool.method} {url}.",
        args_schema=tool.parameters or DEFAULT_ARGS_SCHEMA,
        coroutine=run,
        handle_tool_error=True,
        metadata={"xagent_tool_type": "http"},
    )


def _response_text(response: httpx.Response) -> str:
    try:
        return json.dumps(response.json())
    except ValueError:
        return response.text


def _truncate(text: str) -> str:
    if len(text) <= MAX_TOOL_OUTPUT:
        return text
    return text[:MAX_TOOL_OUTPUT] + f"... [truncated {len(text) - MAX_TOOL_OUTPUT} characters]"
