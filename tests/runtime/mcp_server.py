"""A real MCP server for the tests: the ``mcp`` SDK's FastMCP over streamable HTTP (or SSE).

It runs in a thread of the test process on a free loopback port, and can be stopped and
started again on the same port (a server restart). Its tools:

- ``add(a, b)``: the sum, as text;
- ``whoami()``: the Authorization and X-Tenant headers the call arrived with;
- ``forbidden()``: a tool the tests never grant, so it must never reach a model.

Every call is logged in ``calls``.
"""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import uvicorn
from mcp.server.fastmcp import Context, FastMCP

__all__ = ["McpTestServer"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class McpTestServer:
    """start() it, point a grant at ``url``, stop() and start() it again to restart."""

    def __init__(self, transport: str = "streamable-http") -> None:
        self.transport = transport
        self.port = _free_port()
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The endpoint a client connects to."""
        path = "/mcp" if self.transport == "streamable-http" else "/sse"
        return f"http://127.0.0.1:{self.port}{path}"

    def _app(self) -> Any:
        mcp = FastMCP("xagent-test", host="127.0.0.1", port=self.port, stateless_http=True)

        @mcp.tool(description="Add two integers.")
        def add(a: int, b: int) -> str:
            self.calls.append(("add", {"a": a, "b": b}))
            return str(a + b)

        @mcp.tool(description="The headers the call arrived with.")
        def whoami(ctx: Context) -> str:
            request = ctx.request_context.request
            headers = request.headers if request is not None else {}
            self.calls.append(("whoami", {}))
            return f"authorization={headers.get('authorization')} tenant={headers.get('x-tenant')}"

        @mcp.tool(description="Never granted.")
        def forbidden() -> str:
            self.calls.append(("forbidden", {}))
            return "this must never run"

        if self.transport == "sse":
            return mcp.sse_app()
        return mcp.streamable_http_app()

    def start(self) -> McpTestServer:
        """Serve on ``port`` in a background thread; return once it accepts connections."""
        config = uvicorn.Config(
            self._app(), host="127.0.0.1", port=self.port, log_level="warning", lifespan="on"
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the MCP test server did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        """Stop serving and wait until the port is closed."""
        if self._server is None or self._thread is None:
            return
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._server = self._thread = None
