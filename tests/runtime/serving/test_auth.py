"""Authentication and ownership of the HTTP API, on a running runtime with real services.

Bearer tokens come from a file, as the function mounts them from a Secret. ServiceAccount
tokens are verified by TokenReview: here against a local HTTPS server that speaks the
TokenReview API (tokenreview_server), which needs no control plane and can script what the
real one cannot (a refused reviewer, the cache); tests/controlplane/test_tokenreview.py runs
the same mode against the real kube-apiserver with the composed identity.
"""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from contract.env import ENV
from runtime.serve.auth import AuthError, StaticTokens, TokenReviewer
from tests.runtime.serving.conftest import TIMEOUT

pytestmark = pytest.mark.services

BINARY = {
    "ce-specversion": "1.0",
    "ce-type": "dev.example.agent.execute",
    "ce-source": "tests",
    "content-type": "application/json",
}


def job(job_id: str, thread: str, text: str = "hi") -> str:
    return json.dumps(
        {
            "job_id": job_id,
            "thread_id": thread,
            "input": {"messages": [{"role": "user", "content": text}]},
        }
    )


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def tokens_file(tmp_path: Path) -> Path:
    path = tmp_path / "tokens"
    path.write_text("# principal:token\nalice:alice-secret\nbob:bob-secret\n")
    return path


@pytest.fixture
async def client(start_agent, tokens_file: Path):
    running = await start_agent(
        **{ENV.API_AUTH_MODE: "token", ENV.API_AUTH_TOKENS_PATH: str(tokens_file)}
    )
    async with httpx.AsyncClient(base_url=running.base_url, timeout=TIMEOUT) as http:
        yield http


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        pytest.param({}, "missing Authorization header", id="NoHeader"),
        pytest.param({"Authorization": "Basic YTpi"}, "must be 'Bearer <token>'", id="Basic"),
        pytest.param(bearer("guess"), "invalid bearer token", id="WrongToken"),
    ],
)
async def test_every_route_but_probes_needs_a_token(client, headers, reason):
    for method, path in [
        ("POST", "/"),
        ("GET", "/runs/x"),
        ("GET", "/threads/x"),
        ("GET", "/threads/x/events"),
    ]:
        response = await client.request(
            method, path, headers={**BINARY, **headers}, content=job("j", "t")
        )
        assert response.status_code == 401, (method, path)
        assert reason in response.json()["error"]
        assert response.headers["www-authenticate"].startswith("Bearer")
    for path in ["/health", "/ready", "/metrics"]:
        assert (await client.get(path)).status_code == 200, path


async def test_runs_and_threads_belong_to_their_principal(client):
    alice, bob = bearer("alice-secret"), bearer("bob-secret")
    sync = await client.post(
        "/?wait=true", headers={**BINARY, "ce-id": "e1", **alice}, content=job("a1", "t-alice")
    )
    assert sync.status_code == 200, sync.text

    run = await client.get("/runs/a1", headers=alice)
    assert run.status_code == 200
    body = run.json()
    assert (body["status"], body["owner"], body["output"]) == (
        "succeeded",
        "alice",
        "stub answer: hi",
    )
    assert body["attempts"] == 1
    assert body["tokens"]["total_tokens"] > 0
    thread = await client.get("/threads/t-alice", headers=alice)
    assert thread.status_code == 200
    assert [m["content"] for m in thread.json()["messages"]] == ["hi", "stub answer: hi"]
    assert [r["job_id"] for r in thread.json()["runs"]] == ["a1"]

    for method, path, content in [
        ("GET", "/runs/a1", None),
        ("GET", "/threads/t-alice", None),
        ("GET", "/threads/t-alice/events", None),
        ("POST", "/", job("b1", "t-alice")),
        ("POST", "/", job("a1", "t-bob")),
    ]:
        response = await client.request(
            method, path, headers={**BINARY, "ce-id": "e2", **bob}, content=content
        )
        assert response.status_code == 403, (method, path, response.text)
        assert "another" in response.json()["error"]
    assert (await client.get("/runs/nope", headers=bob)).status_code == 404


def _rotate(path: Path, content: str) -> None:
    path.write_text(content)
    os.utime(path, (1, 1))  # a new mtime, whatever the clock's resolution


async def test_a_rotated_token_file_takes_effect(tokens_file: Path):
    tokens = StaticTokens(tokens_file)
    assert await tokens.authenticate("alice-secret") == "alice"
    _rotate(tokens_file, "carol:carol-secret\n")
    assert await tokens.authenticate("carol-secret") == "carol"
    with pytest.raises(AuthError) as err:
        await tokens.authenticate("alice-secret")
    assert err.value.status == 401


# --- TokenReview ------------------------------------------------------------------------------


class _Review(BaseHTTPRequestHandler):
    """Answers TokenReviews like kube-apiserver: token ``sa:<ns>:<name>:<audience>`` is valid."""

    reviewer_token = "runtime-own-token"
    requests: list[dict[str, Any]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).requests.append(body)
        if self.path != "/apis/authentication.k8s.io/v1/tokenreviews":
            self._send(404, {"kind": "Status", "code": 404})
            return
        if self.headers.get("Authorization") != f"Bearer {self.reviewer_token}":
            self._send(403, {"kind": "Status", "code": 403})
            return
        token, wanted = body["spec"]["token"], body["spec"].get("audiences") or []
        status: dict[str, Any] = {"authenticated": False, "error": "invalid bearer token"}
        parts = token.split(":", 3)
        if len(parts) == 4 and parts[0] == "sa":
            _, ns, name, audience = parts
            if audience in wanted:
                status = {
                    "authenticated": True,
                    "user": {"username": f"system:serviceaccount:{ns}:{name}"},
                    "audiences": [audience],
                }
            else:
                status = {"authenticated": False, "error": "token audiences is invalid"}
        self._send(201, {**body, "status": status})

    def _send(self, code: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        return


@pytest.fixture
def tokenreview_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """``(url, ca_path)`` of an HTTPS TokenReview endpoint with a throwaway certificate."""
    cert, key = tmp_path / "tls.crt", tmp_path / "tls.key"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Review)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Review.requests = []
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}", cert
    finally:
        server.shutdown()
        server.server_close()


async def test_tokenreview_is_audience_bound(tokenreview_server, tmp_path: Path):
    url, ca = tokenreview_server
    own = tmp_path / "own-token"
    own.write_text(_Review.reviewer_token)
    reviewer = TokenReviewer("xagent.dev/ns/agent", api_url=url, own_token_path=own, ca_path=ca)
    try:
        assert await reviewer.authenticate("sa:ns:client:xagent.dev/ns/agent") == (
            "system:serviceaccount:ns:client"
        )
        with pytest.raises(AuthError) as err:
            await reviewer.authenticate("sa:ns:client:https://kubernetes.default.svc")
        assert err.value.status == 401
        assert "audiences is invalid" in err.value.reason
        with pytest.raises(AuthError) as err:
            await reviewer.authenticate("garbage")
        assert err.value.status == 401
        # A verdict is cached: the second call sends no review.
        sent = len(_Review.requests)
        await reviewer.authenticate("sa:ns:client:xagent.dev/ns/agent")
        assert len(_Review.requests) == sent
        assert _Review.requests[0]["spec"]["audiences"] == ["xagent.dev/ns/agent"]
    finally:
        await reviewer.aclose()


async def test_tokenreview_refused_says_what_rbac_is_missing(tokenreview_server, tmp_path: Path):
    url, ca = tokenreview_server
    own = tmp_path / "own-token"
    own.write_text("not-allowed")
    reviewer = TokenReviewer("aud", api_url=url, own_token_path=own, ca_path=ca)
    try:
        with pytest.raises(AuthError) as err:
            await reviewer.authenticate("sa:ns:client:aud")
        assert err.value.status == 503
        assert "system:auth-delegator" in err.value.reason
    finally:
        await reviewer.aclose()


async def test_serviceaccount_mode_on_a_running_runtime(
    start_agent, tokenreview_server, tmp_path, monkeypatch
):
    url, ca = tokenreview_server
    own = tmp_path / "own-token"
    own.write_text(_Review.reviewer_token)
    monkeypatch.setattr("runtime.serve.auth.SA_TOKEN_PATH", own)
    monkeypatch.setattr("runtime.serve.auth.SA_CA_PATH", ca)
    host, port = url.removeprefix("https://").split(":")
    running = await start_agent(
        **{
            ENV.API_AUTH_MODE: "serviceAccount",
            "KUBERNETES_SERVICE_HOST": host,
            "KUBERNETES_SERVICE_PORT": port,
        }
    )
    audience = running.settings.api_auth_audience
    assert audience == f"xagent.dev/default/{running.settings.agent_name}"
    async with httpx.AsyncClient(base_url=running.base_url, timeout=TIMEOUT) as http:
        ok = await http.post(
            "/?wait=true",
            headers={**BINARY, "ce-id": "e", **bearer(f"sa:team:caller:{audience}")},
            content=job("s1", "t-s"),
        )
        assert ok.status_code == 200, ok.text
        run = (await http.get("/runs/s1", headers=bearer(f"sa:team:caller:{audience}"))).json()
        assert run["owner"] == "system:serviceaccount:team:caller"
        wrong = await http.get("/runs/s1", headers=bearer("sa:team:caller:other-audience"))
        assert wrong.status_code == 401
