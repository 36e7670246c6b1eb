"""Resource exhaustion: a hostile XAgent costs bounded work and never stalls other requests.

Each test reproduces one attack from issue 9 item 10 and bounds only that the call finishes
(generously), never how fast.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from crossplane.function import resource
from crossplane.function.proto.v1 import run_function_pb2 as fnv1

from function import fn, server
from function.definition_source import MAX_DEFINITION_BYTES
from tests.function.factories import deep_merge
from tests.function.test_fn import DEFINITION_CM, DEFINITION_REF, Case, request, xr

GENEROUS = 60.0
"""Seconds a bounded call may take on a loaded 2-core machine; a hang or blow-up exceeds it."""


def _fatals(rsp: fnv1.RunFunctionResponse) -> list[str]:
    return [r.message for r in rsp.results if r.severity == fnv1.SEVERITY_FATAL]


async def _run(case: Case) -> fnv1.RunFunctionResponse:
    return await asyncio.wait_for(fn.FunctionRunner().RunFunction(request(case)), GENEROUS)


def _with_definition(text: str) -> Case:
    cm = deep_merge(DEFINITION_CM, {"data": {"agent.yaml": text}})
    return Case("", "", xr(DEFINITION_REF), {}, required={"definition": [cm]})


def _nested(levels: int) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string"}
    for _ in range(levels):
        schema = {"type": "object", "properties": {"a": schema}}
    return schema


async def test_yaml_aliases_are_refused() -> None:
    # Five levels of ten aliases: 100,000 leaves from under 400 bytes (a real bomb adds levels).
    lines = ['a0: &a0 ["lol"]']
    for i in range(1, 6):
        lines.append(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]")
    bomb = "\n".join(lines) + "\nnodes:\n  - type: orchestrator\n    name: main\n"
    bomb += "    description: *a5\n"
    rsp = await _run(_with_definition(bomb))
    (message,) = _fatals(rsp)
    assert "spec.definitionRef (ConfigMap defs, key agent.yaml)" in message
    assert "alias *a0 is not allowed" in message


async def test_definition_configmap_is_capped_at_one_mebibyte() -> None:
    nodes = [{"type": "orchestrator", "name": "main", "systemPrompt": "x" * 90_000}] + [
        {"type": "sub-agent", "name": f"s{i}", "systemPrompt": "x" * 90_000} for i in range(12)
    ]
    edges = [{"source": "main", "target": f"s{i}"} for i in range(12)]
    case = Case("", "", xr({"definition": {"nodes": nodes, "edges": edges}}), {})
    (message,) = _fatals(await _run(case))
    assert message.startswith("spec.definition: the definition renders to ")
    assert f"more than a ConfigMap holds ({MAX_DEFINITION_BYTES})" in message


async def test_deep_tool_parameters_are_refused_with_their_path() -> None:
    text = (
        "toolDefinitions:\n  - name: t\n    parameters: "
        + str(_nested(12)).replace("'", '"')
        + "\nnodes:\n  - type: orchestrator\n    name: main\n"
    )
    (message,) = _fatals(await _run(_with_definition(text)))
    assert message == (
        "spec.definitionRef (ConfigMap defs, key agent.yaml): "
        "toolDefinitions[0].parameters: nests more than 20 levels deep"
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _serve(runner: fn.FunctionRunner) -> tuple[grpc.aio.Server, grpc.aio.Channel]:
    srv = grpc.aio.server()
    server.register(runner, srv)
    port = srv.add_insecure_port(f"127.0.0.1:{_free_port()}")
    await srv.start()
    return srv, grpc.aio.insecure_channel(f"127.0.0.1:{port}")


def _call(channel: grpc.aio.Channel):
    return channel.unary_unary(
        f"/{server.SERVICE}/RunFunction",
        request_serializer=lambda b: b,
        response_deserializer=fnv1.RunFunctionResponse.FromString,
    )


async def test_request_too_deep_to_decode_is_answered_with_a_fatal() -> None:
    # 45 schema levels: accepted by the XRD (parameters preserve unknown fields), but past
    # what the Python protobuf runtime decodes.
    spec = {"definition": {"toolDefinitions": [{"name": "t", "parameters": _nested(45)}]}}
    req = fnv1.RunFunctionRequest()
    resource.update(req.observed.composite, xr(spec))
    srv, channel = await _serve(fn.FunctionRunner())
    try:
        rsp = await _call(channel)(req.SerializeToString(), timeout=GENEROUS)
    finally:
        await channel.close()
        await srv.stop(None)
    (message,) = _fatals(rsp)
    assert message.startswith("cannot decode the request (")
    assert "spec.definition.toolDefinitions[].parameters" in message


@dataclass
class Slow:
    """Requests for an XR named ``slow`` set ``started``, then block until ``release``."""

    started: threading.Event
    release: threading.Event


@pytest.fixture
def slow_xr(monkeypatch: pytest.MonkeyPatch) -> Iterator[Slow]:
    slow = Slow(threading.Event(), threading.Event())
    real = fn._run

    def run(req: fnv1.RunFunctionRequest, rsp: fnv1.RunFunctionResponse, log: Any) -> None:
        name = resource.struct_to_dict(req.observed.composite.resource)["metadata"]["name"]
        if name == "slow":
            slow.started.set()
            slow.release.wait(GENEROUS)
        real(req, rsp, log)

    monkeypatch.setattr(fn, "_run", run)
    yield slow
    slow.release.set()


def _named(name: str) -> bytes:
    req = fnv1.RunFunctionRequest()
    resource.update(req.observed.composite, xr(name=name))
    return req.SerializeToString()


async def test_one_slow_request_does_not_block_others(slow_xr: Slow) -> None:
    srv, channel = await _serve(fn.FunctionRunner())
    try:
        slow = asyncio.ensure_future(_call(channel)(_named("slow"), timeout=3 * GENEROUS))
        assert await asyncio.to_thread(slow_xr.started.wait, GENEROUS)
        fast = await _call(channel)(_named("fast"), timeout=2 * GENEROUS)
        assert not slow.done(), "the fast request waited for the slow one"
        assert not _fatals(fast)
        slow_xr.release.set()
        assert not _fatals(await slow)
    finally:
        await channel.close()
        await srv.stop(None)


async def test_deadline_answers_with_a_fatal(slow_xr: Slow) -> None:
    req = fnv1.RunFunctionRequest.FromString(_named("slow"))
    rsp = await asyncio.wait_for(fn.FunctionRunner(deadline=0.2).RunFunction(req), GENEROUS)
    slow_xr.release.set()
    assert _fatals(rsp) == ["composing took longer than 0.2s; gave up"]
