"""Tools from Model Context Protocol servers, through ``langchain-mcp-adapters``.

The grants file lists each MCP server (``spec.tools.mcpServers``) with the tools the agent is
granted from it. `McpToolset` makes one LangChain tool per *granted* name, whatever the
server offers: a tool the server lists but the spec does not grant is never built, so no
model ever sees it. Each granted tool is a proxy that calls the adapter's tool for that name:

- the adapter opens a new session for every call, so a restarted server is simply reached
  again on the next call (no long-lived session to repair);
- a server that cannot be listed (at startup, or after it went away) keeps its granted tools
  bound under a permissive schema; a call lists the server again first, and answers the model
  with a tool error while it stays unreachable, so the rest of the agent works on;
- ``xagent_mcp_server_up{server}`` and `McpToolset.ping` (``/ready``'s ``mcp`` entry,
  ``degraded`` rather than down) say which servers answer.

Header values (a bearer token, secret headers) are read from the variables the function
named in the grants file when a server is listed; they are never written anywhere.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from langchain_core.tools import BaseTool, StructuredTool, ToolException
from prometheus_client import Gauge

from contract.grants import McpServerGrant, McpToolGrant
from runtime.observability import REGISTRY

if TYPE_CHECKING:
    from langchain_mcp_adapters.sessions import Connection

__all__ = ["MCP_SERVER_UP", "PERMISSIVE_SCHEMA", "McpToolset", "connection"]

log = logging.getLogger(__name__)

MCP_SERVER_UP = Gauge(
    "xagent_mcp_server_up",
    "1 when the MCP server answered its last listing or call, 0 when it did not.",
    ["server"],
    registry=REGISTRY,
)

PERMISSIVE_SCHEMA: dict[str, Any] = {"type": "object", "additionalProperties": True}
"""Arguments of a granted tool whose server has not been listed yet."""

_TRANSPORTS = {"streamable-http": "streamable_http", "sse": "sse"}
"""Our spelling (spec.tools.mcpServers[].transport) -> the adapter's."""


def connection(server: McpServerGrant) -> Connection:
    """The adapter's connection settings, with header values read from the environment."""
    headers = {}
    for header, env in server.header_env.items():
        value = os.environ.get(env)
        if value:
            is_bearer = header.lower() == "authorization" and not value.startswith("Bearer ")
            headers[header] = f"Bearer {value}" if is_bearer else value
    return {  # type: ignore[return-value]
        "transport": _TRANSPORTS[server.transport],
        "url": server.url,
        "headers": headers,
        "timeout": server.timeout_seconds,
    }


class McpToolset:
    """The granted tools of every MCP server, and which servers answer."""

    def __init__(self, servers: Sequence[McpServerGrant]) -> None:
        """Make one proxy per granted tool; nothing is contacted until `refresh`."""
        self._servers = {s.name: s for s in servers}
        self._remote: dict[str, dict[str, BaseTool]] = {s.name: {} for s in servers}
        self._up: dict[str, bool] = {s.name: False for s in servers}
        self._locks = {s.name: asyncio.Lock() for s in servers}
        self.tools: list[BaseTool] = [
            self._proxy(server, grant) for server in servers for grant in server.tools
        ]
        for server in servers:
            MCP_SERVER_UP.labels(server=server.name).set(0)

    @property
    def servers(self) -> list[str]:
        """Names of the configured servers."""
        return list(self._servers)

    def up(self) -> dict[str, bool]:
        """Server name -> whether it answered last time."""
        return dict(self._up)

    async def refresh(self, server: str | None = None) -> dict[str, bool]:
        """List ``server`` (every server when None) again; return which answered."""
        names = [server] if server is not None else list(self._servers)
        await asyncio.gather(*(self._list(name) for name in names))
        return self.up()

    async def ping(self) -> bool:
        """For /ready: list the servers that were down; False when any still is."""
        down = [name for name, up in self._up.items() if not up]
        if down:
            await asyncio.gather(*(self._list(name) for name in down))
        return all(self._up.values())

    async def _list(self, name: str) -> None:
        # Imported here: the MCP SDK costs startup time an agent without servers never needs.
        from langchain_mcp_adapters.tools import load_mcp_tools

        server = self._servers[name]
        async with self._locks[name]:
            try:
                tools = await asyncio.wait_for(
                    load_mcp_tools(None, connection=connection(server), server_name=name),
                    server.timeout_seconds,
                )
            except Exception as err:
                self._mark(name, up=False, reason=f"{type(err).__name__}: {err}")
                return
            granted = {g.name for g in server.tools}
            offered = {t.name: t for t in tools}
            self._remote[name] = {n: t for n, t in offered.items() if n in granted}
            if missing := sorted(granted - set(offered)):
                log.warning(
                    "MCP server does not offer granted tools",
                    extra={"mcp_server": name, "missing_tools": missing},
                )
            for proxy in self.tools:
                remote = self._remote[name].get(proxy.name)
                if remote is not None and (proxy.metadata or {}).get("xagent_mcp_server") == name:
                    proxy.description = remote.description or proxy.description
                    if isinstance(remote.args_schema, dict):
                        proxy.args_schema = remote.args_schema
            self._mark(name, up=True)

    def _mark(self, name: str, *, up: bool, reason: str = "") -> None:
        if not up:
            log.warning("MCP server unreachable", extra={"mcp_server": name, "error": reason[:500]})
        elif not self._up.get(name):
            log.info("MCP server reachable", extra={"mcp_server": name})
        self._up[name] = up
        MCP_SERVER_UP.labels(server=name).set(1 if up else 0)

    def _proxy(self, server: McpServerGrant, grant: McpToolGrant) -> BaseTool:
        async def call(**kwargs: Any) -> Any:
            remote = self._remote[server.name].get(grant.name)
            if remote is None:
                await self._list(server.name)
                remote = self._remote[server.name].get(grant.name)
            if remote is None:
                state = "is unreachable" if not self._up[server.name] else "does not offer it"
                raise ToolException(f"{grant.name}: MCP server {server.name!r} {state}")
            try:
                content = await remote.ainvoke(kwargs)
            except ToolException:
                raise
            except Exception as err:
                # The adapter opens a new session per call: the next call reconnects.
                self._mark(server.name, up=False, reason=f"{type(err).__name__}: {err}")
                raise ToolException(
                    f"{grant.name}: MCP server {server.name!r} is unreachable"
                ) from None
            self._mark(server.name, up=True)
            return _text(content)

        return StructuredTool(
            name=grant.name,
            description=f"Tool {grant.name} of MCP server {server.name}.",
            args_schema=dict(PERMISSIVE_SCHEMA),
            coroutine=call,
            handle_tool_error=True,
            metadata={"xagent_tool_type": "mcp", "xagent_mcp_server": server.name},
        )


def _text(content: Any) -> str:
    # The adapter answers content blocks; the model gets their text, like any other tool's.
    if isinstance(content, list):
        parts = [b.get("text", "") if isinstance(b, dict) else str(b) for b in content]
        return "\n".join(p for p in parts if p)
    return "" if content is None else str(content)
