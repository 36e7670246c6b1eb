"""A deterministic OpenAI-compatible chat server: the only stub in the runtime tests.

It serves ``POST /v1/chat/completions`` on 127.0.0.1 (random port), with and without
``stream: true``, and scripts its answers from the last message it receives:

- a user message whose lines are directives answers with one tool call per directive line:
  ``call:<tool>:<json args>`` calls ``<tool>``; ``delegate:<sub-agent>:<task>`` calls
  ``delegate_to_<sub-agent>`` with ``{"task": <task>}``; ``sleep:<seconds>`` only delays;
- trailing tool messages answer ``tool results: <result>; <result>`` (text), after a delay
  when a result reads ``sleep:<seconds>``;
- anything else answers ``stub answer: <last message text>``.

Models: ``broken-model`` answers HTTP 500 and ``bad-request-model`` HTTP 400; any other name
answers normally. Usage is deterministic: 10 prompt tokens per message sent and 5 completion
tokens per answer, and is sent as a final stream chunk when ``stream_options.include_usage``.
Every request body is kept in ``requests`` so tests can assert what the model was sent.

It also stands in for an HTTP tool: ``/tools/echo`` (GET or POST) answers with the method,
JSON body, query and Authorization header it received (kept in ``tool_requests``), and
``/tools/fail`` answers HTTP 503.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["COMPLETION_TOKENS", "PROMPT_TOKENS_PER_MESSAGE", "StubLLM"]

PROMPT_TOKENS_PER_MESSAGE = 10
COMPLETION_TOKENS = 5


@dataclass
class _Reply:
    text: str = ""
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    delay: float = 0.0


class StubLLM:
    """The stub server; start() it, point a model at ``base_url``, read ``requests``."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.tool_requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._calls = 0
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        """The OpenAI base URL, ending in /v1."""
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def start(self) -> StubLLM:
        """Serve in a background thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._server.shutdown()
        self._server.server_close()

    def reset(self) -> None:
        """Forget logged requests."""
        with self._lock:
            self.requests.clear()
            self.tool_requests.clear()

    def tool_names(self, index: int = -1) -> list[str]:
        """Names of the tools bound in request ``index``."""
        return sorted(t["function"]["name"] for t in self.requests[index].get("tools", []))

    def record(self, body: dict[str, Any]) -> None:
        """Log one request body."""
        with self._lock:
            self.requests.append(body)

    def next_call_id(self) -> str:
        """A deterministic, unique tool call id."""
        with self._lock:
            self._calls += 1
            return f"call_{self._calls}"

    def reply(self, messages: list[dict[str, Any]]) -> _Reply:
        """The scripted answer to ``messages``."""
        trailing = []
        for message in reversed(messages):
            if message.get("role") != "tool":
                break
            trailing.insert(0, _text(message.get("content")))
        if trailing:
            delay = sum(float(t.removeprefix("sleep:")) for t in trailing if t.startswith("sleep:"))
            return _Reply(text="tool results: " + "; ".join(trailing), delay=delay)
        last = _text(messages[-1].get("content")) if messages else ""
        reply = _Reply()
        for line in last.splitlines():
            kind, _, rest = line.strip().partition(":")
            if kind == "call":
                name, _, args = rest.partition(":")
                reply.tool_calls.append(self._call(name, json.loads(args or "{}")))
            elif kind == "delegate":
                name, _, task = rest.partition(":")
                reply.tool_calls.append(self._call(f"delegate_to_{name}", {"task": task}))
            elif kind == "sleep":
                reply.delay += float(rest)
        if not reply.tool_calls:
            reply.text = f"stub answer: {last}"
        return reply

    def _call(self, name: str, args: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": self.next_call_id(),
            "type": "function",
            "function": {"name": name, "arguments": json.dumps(args)},
        }


def _text(content: Any) -> str:
    if isinstance(content, list):
        return "".join(b.get("text", "") for b in content if isinstance(b, dict))
    return "" if content is None else str(content)


def _usage(messages: list[dict[str, Any]]) -> dict[str, int]:
    prompt = PROMPT_TOKENS_PER_MESSAGE * len(messages)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": COMPLETION_TOKENS,
        "total_tokens": prompt + COMPLETION_TOKENS,
    }


def _handler(stub: StubLLM) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep test output clean

        def do_GET(self) -> None:
            self._tool_endpoint(None)

        def do_POST(self) -> None:
            if self.path.startswith("/tools/"):
                length = int(self.headers.get("Content-Length", 0))
                self._tool_endpoint(json.loads(self.rfile.read(length) or b"null"))
                return
            if self.path.rstrip("/") != "/v1/chat/completions":
                self._json(404, {"error": {"message": f"no route {self.path}"}})
                return
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
            stub.record(body)
            model = body.get("model", "")
            if model == "broken-model":
                self._json(500, {"error": {"message": "stub: broken-model always fails"}})
                return
            if model == "bad-request-model":
                self._json(400, {"error": {"message": "stub: bad request", "type": "invalid"}})
                return
            reply = stub.reply(body.get("messages", []))
            if reply.delay:
                time.sleep(reply.delay)
            usage = _usage(body.get("messages", []))
            if body.get("stream"):
                include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
                self._stream(model, reply, usage if include_usage else None)
            else:
                self._json(200, _completion(model, reply, usage))

        def _tool_endpoint(self, body: Any) -> None:
            # A stand-in HTTP tool: /tools/echo reflects the request, /tools/fail answers 503.
            path, _, query = self.path.partition("?")
            if path == "/tools/fail":
                self._json(503, {"error": "stub tool unavailable"})
                return
            if path != "/tools/echo":
                self._json(404, {"error": f"no route {path}"})
                return
            reflected = {
                "method": self.command,
                "json": body,
                "query": query,
                "authorization": self.headers.get("Authorization"),
            }
            stub.tool_requests.append(reflected)
            self._json(200, reflected)

        def _json(self, status: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _stream(self, model: str, reply: _Reply, usage: dict[str, int] | None) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            for chunk in _chunks(model, reply, usage):
                self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                self.wfile.flush()
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()

    return Handler


def _completion(model: str, reply: _Reply, usage: dict[str, int]) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": reply.text or None}
    if reply.tool_calls:
        message["tool_calls"] = reply.tool_calls
    return {
        "id": "chatcmpl-stub",
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": "tool_calls" if reply.tool_calls else "stop",
            }
        ],
        "usage": usage,
    }


def _chunks(model: str, reply: _Reply, usage: dict[str, int] | None) -> list[dict[str, Any]]:
    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {
            "id": "chatcmpl-stub",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }

    out = [chunk({"role": "assistant", "content": ""})]
    words = reply.text.split(" ") if reply.text else []
    for i, word in enumerate(words):
        out.append(chunk({"content": word if i == len(words) - 1 else word + " "}))
    for i, call in enumerate(reply.tool_calls):
        head = {"id": call["id"], "type": "function"}
        head["function"] = {"name": call["function"]["name"], "arguments": ""}
        out.append(chunk({"tool_calls": [{"index": i, **head}]}))
        arguments = call["function"]["arguments"]
        half = len(arguments) // 2  # split arguments, as real servers do
        for part in (arguments[:half], arguments[half:]):
            out.append(chunk({"tool_calls": [{"index": i, "function": {"arguments": part}}]}))
    out.append(chunk({}, "tool_calls" if reply.tool_calls else "stop"))
    if usage is not None:
        out.append({**chunk({}), "choices": [], "usage": usage})
    return out
