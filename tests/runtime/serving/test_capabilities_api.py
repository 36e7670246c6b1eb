"""Approvals, budgets and MCP readiness over HTTP, on a running runtime with real services."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from contract.env import ENV
from tests.runtime.mcp_server import McpTestServer
from tests.runtime.serving.conftest import TIMEOUT, wait_for

pytestmark = pytest.mark.services

BINARY = {
    "ce-specversion": "1.0",
    "ce-type": "dev.example.agent.execute",
    "ce-source": "tests",
    "content-type": "application/json",
}
DEFINITION = {
    "tool_definitions": [{"name": "calculator", "type": "builtin"}],
    "nodes": [{"type": "orchestrator", "name": "assistant", "tools": ["calculator"]}],
}


def job(thread: str, text: str) -> tuple[str, str]:
    job_id = uuid.uuid4().hex
    body = {
        "job_id": job_id,
        "thread_id": thread,
        "input": {"messages": [{"role": "user", "content": text}]},
    }
    return job_id, json.dumps(body)


def files(tmp_path: Path, **grants: Any) -> dict[str, str]:
    definition = tmp_path / "definition.json"
    definition.write_text(json.dumps(DEFINITION))
    path = tmp_path / "grants.json"
    path.write_text(json.dumps({"tools": [{"name": "calculator", "kind": "primitive"}], **grants}))
    return {ENV.AGENT_DEFINITION_PATH: str(definition), ENV.TOOL_GRANTS_PATH: str(path)}


async def run_record(client: httpx.AsyncClient, job_id: str, status: str) -> dict[str, Any]:
    async def get() -> dict[str, Any]:
        answer = await client.get(f"/runs/{job_id}")
        return answer.json() if answer.status_code == 200 else {}

    return await wait_for(get, lambda r: r.get("status") == status, within=TIMEOUT)


async def test_approve_over_http(start_agent, tmp_path: Path) -> None:
    approvals = {"tools": ["calculator"], "timeoutSeconds": 600, "timeoutAction": "reject"}
    running = await start_agent(**files(tmp_path, approvals=approvals))
    async with httpx.AsyncClient(base_url=running.base_url, timeout=TIMEOUT) as client:
        job_id, body = job("t1", 'call:calculator:{"expression": "6*7"}')
        assert (await client.post("/", content=body, headers=BINARY)).status_code == 202
        waiting = await run_record(client, job_id, "awaiting_approval")
        (pending,) = waiting["approvals"]
        assert (pending["tool_name"], pending["status"]) == ("calculator", "pending")
        listed = (await client.get("/threads/t1/approvals")).json()["approvals"]
        assert [a["tool_args"] for a in listed] == [{"expression": "6*7"}]

        decision = {"approval_id": pending["approval_id"], "decision": "approve", "by": "alice"}
        answer = await client.post("/threads/t1/approvals", json=decision)
        assert answer.status_code == 202, answer.text
        assert answer.json()["status"] == "approved"
        done = await run_record(client, job_id, "succeeded")
        assert done["output"] == "tool results: 42"
        assert done["approvals"][0]["decided_by"] == "alice"

        again = await client.post("/threads/t1/approvals", json={**decision, "by": "bob"})
        assert again.status_code == 409
        assert again.json()["error"] == "the approval was already decided: approved by alice"
        unknown = await client.post("/threads/t1/approvals", json={**decision, "approval_id": "x"})
        assert unknown.status_code == 404
        bad = await client.post("/threads/t1/approvals", json={**decision, "decision": "edit"})
        assert bad.status_code == 400
        assert "args is required" in bad.json()["error"]


async def test_a_decision_sent_again_after_the_queue_failed_resumes_the_run(
    start_agent, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    approvals = {"tools": ["calculator"], "timeoutSeconds": 600, "timeoutAction": "reject"}
    running = await start_agent(**files(tmp_path, approvals=approvals))
    async with httpx.AsyncClient(base_url=running.base_url, timeout=TIMEOUT) as client:
        job_id, body = job("t1", 'call:calculator:{"expression": "6*7"}')
        assert (await client.post("/", content=body, headers=BINARY)).status_code == 202
        (pending,) = (await run_record(client, job_id, "awaiting_approval"))["approvals"]
        decision = {"approval_id": pending["approval_id"], "decision": "approve", "by": "alice"}

        async def unavailable(_job: Any) -> None:
            raise ConnectionError("nats: no servers available")

        with monkeypatch.context() as patch:
            patch.setattr(running.queue, "submit", unavailable)
            refused = await client.post("/threads/t1/approvals", json=decision)
        assert refused.status_code == 503, refused.text
        assert "send the decision again" in refused.json()["error"]
        assert (await client.get(f"/runs/{job_id}")).json()["status"] == "awaiting_approval"

        again = await client.post("/threads/t1/approvals", json=decision)
        assert again.status_code == 409
        done = await run_record(client, job_id, "succeeded")
        assert done["output"] == "tool results: 42"
        # Once the run went on, a repeated decision enqueues nothing more.
        await client.post("/threads/t1/approvals", json=decision)
        resumes = [r for r in await running.agent.stores.runs.thread_runs("t1") if "~" in r.job_id]
        assert [r.attempts for r in resumes] == [1]


async def test_daily_budget_refuses_with_429(start_agent, tmp_path: Path) -> None:
    running = await start_agent(**files(tmp_path, budgets={"daily": {"tokens": 10}}))
    async with httpx.AsyncClient(base_url=running.base_url, timeout=TIMEOUT) as client:
        first_id, body = job("t1", "hello")
        answer = await client.post("/?wait=true", content=body, headers=BINARY)
        assert answer.status_code == 200
        _, body = job("t2", "hello again")
        refused = await client.post("/", content=body, headers=BINARY)
        assert refused.status_code == 429
        assert refused.json()["error"] == "daily budget exceeded: 15 of 10 tokens used"
        assert 0 < int(refused.headers["Retry-After"]) <= 86400
        record = await run_record(client, first_id, "succeeded")
        assert record["tokens"]["total_tokens"] == 15


async def test_ready_is_degraded_while_an_mcp_server_is_down(start_agent, tmp_path: Path) -> None:
    server = McpTestServer().start()
    try:
        mcp = [{"name": "calc", "url": server.url, "timeoutSeconds": 2, "tools": [{"name": "add"}]}]
        running = await start_agent(**files(tmp_path, mcpServers=mcp))
        async with httpx.AsyncClient(base_url=running.base_url, timeout=TIMEOUT) as client:
            up = await client.get("/ready")
            assert (up.status_code, up.json()["dependencies"]["mcp"]) == (200, "up")
            server.stop()
            # A failed call marks the server down; /ready lists it again and reports it.
            await running.agent.capabilities.toolset.refresh()
            down = await client.get("/ready")
            assert down.status_code == 200
            assert down.json()["status"] == "degraded"
            assert down.json()["dependencies"]["mcp"] == "degraded"
    finally:
        server.stop()
