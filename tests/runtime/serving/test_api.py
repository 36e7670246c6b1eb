"""The HTTP API of a running runtime: CloudEvents, SSE, probes and metrics."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from contract.env import ENV
from runtime.jobs import JobResult, JobStatus
from runtime.serve.api import RESULT_EVENT_TYPE, WAIT_HEADER
from tests.runtime.serving.conftest import TIMEOUT, free_port, wait_for

pytestmark = pytest.mark.services

JOB = {"job_id": "job-1", "input": {"messages": [{"role": "user", "content": "hi"}]}}
STRUCTURED = {"content-type": "application/cloudevents+json"}
BINARY = {
    "ce-specversion": "1.0",
    "ce-type": "dev.example.agent.execute",
    "ce-source": "tests",
    "ce-id": "event-1",
    "content-type": "application/json",
}


def structured(data: object, **attributes: str) -> bytes:
    event = {
        "specversion": "1.0",
        "type": "dev.example.agent.execute",
        "source": "tests",
        "id": "event-1",
        "datacontenttype": "application/json",
        "data": data,
        **attributes,
    }
    return json.dumps(event).encode()


@pytest.fixture
async def client(start_agent):
    running = await start_agent()
    async with httpx.AsyncClient(base_url=running.base_url, timeout=TIMEOUT) as http:
        yield http


async def test_binary_event_with_wait_answers_a_binary_result_event(client, llm):
    response = await client.post("/?wait=true", headers=BINARY, content=json.dumps(JOB))

    assert response.status_code == 200, response.text
    assert response.headers["ce-type"] == RESULT_EVENT_TYPE
    assert response.headers["ce-id"] == "job-1:result"
    assert response.headers["ce-subject"] == "job-1"
    result = JobResult.model_validate_json(response.content)
    assert result.status == JobStatus.COMPLETED
    assert result.output == "stub answer: hi"


async def test_structured_event_with_wait_header_answers_a_structured_event(client):
    response = await client.post(
        "/", headers={**STRUCTURED, WAIT_HEADER: "true"}, content=structured(JOB)
    )

    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/cloudevents+json")
    event = response.json()
    assert event["type"] == RESULT_EVENT_TYPE
    assert event["specversion"] == "1.0"
    assert event["data"]["job_id"] == "job-1"
    assert event["data"]["output"] == "stub answer: hi"


@pytest.mark.parametrize("mode", ["binary", "structured"])
async def test_event_without_wait_is_enqueued_and_answered_202(client, bus, mode):
    job = {**JOB, "job_id": f"queued-{mode}", "thread_id": "t-queued"}
    if mode == "binary":
        response = await client.post("/", headers=BINARY, content=json.dumps(job))
    else:
        response = await client.post("/", headers=STRUCTURED, content=structured(job))

    assert response.status_code == 202, response.text
    assert response.json() == {
        "job_id": job["job_id"],
        "thread_id": "t-queued",
        "status": "accepted",
    }
    assert response.headers["location"] == "/threads/t-queued/events"
    [result] = await bus.wait_results(1)
    assert result.job_id == job["job_id"]
    assert result.status == JobStatus.COMPLETED


async def test_job_id_defaults_to_the_event_id(client, bus):
    job = {"input": JOB["input"]}

    response = await client.post("/", headers=BINARY, content=json.dumps(job))

    assert response.status_code == 202, response.text
    assert response.json()["job_id"] == "event-1"


@dataclass
class BadEventCase:
    name: str
    reason: str
    headers: dict[str, str]
    body: bytes
    want: str


BAD_EVENTS = [
    BadEventCase(
        "PlainJson",
        "a JSON body without ce-* headers or the CloudEvents content type is no CloudEvent",
        {"content-type": "application/json"},
        json.dumps(JOB).encode(),
        "not a CloudEvent",
    ),
    BadEventCase(
        "StructuredNotJson",
        "a structured event must parse as JSON",
        STRUCTURED,
        b"{not json",
        "invalid CloudEvent",
    ),
    BadEventCase(
        "BinaryWithoutSource",
        "source is a required attribute",
        {k: v for k, v in BINARY.items() if k != "ce-source"},
        json.dumps(JOB).encode(),
        "source",
    ),
    BadEventCase(
        "WrongSpecVersion",
        "only CloudEvents 1.0 (and 0.3) exist",
        {**BINARY, "ce-specversion": "9.9"},
        json.dumps(JOB).encode(),
        "specversion",
    ),
    BadEventCase(
        "DataNotAnObject",
        "the data must be a job object",
        STRUCTURED,
        structured(["a", "list"]),
        "must be a JSON object",
    ),
    BadEventCase(
        "NoMessages",
        "a job needs at least one input message; the error names the field",
        STRUCTURED,
        structured({"job_id": "j", "input": {"messages": []}}),
        "data.input.messages",
    ),
    BadEventCase(
        "BadRole",
        "message roles are user, system or assistant",
        STRUCTURED,
        structured({"job_id": "j", "input": {"messages": [{"role": "tool", "content": "x"}]}}),
        "data.input.messages.0.role",
    ),
    BadEventCase(
        "AgentDefinitionInData",
        "the definition comes from the agent's ConfigMap, never from an event",
        STRUCTURED,
        structured({**JOB, "agent_definition": {"nodes": []}}),
        "agent_definition is not accepted",
    ),
]


@pytest.mark.parametrize("case", BAD_EVENTS, ids=[c.name for c in BAD_EVENTS])
async def test_bad_event_is_rejected_with_400(client, bus, case):
    response = await client.post("/?wait=true", headers=case.headers, content=case.body)

    assert response.status_code == 400, case.reason
    assert case.want in response.json()["error"], case.reason
    assert await bus.results() == []


async def test_thread_events_stream_as_server_sent_events(client):
    job = {**JOB, "job_id": "sse-job", "thread_id": "t-sse"}
    response = await client.post("/", headers=BINARY, content=json.dumps(job))
    assert response.status_code == 202

    events = []
    async with client.stream("GET", "/threads/t-sse/events") as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        frame: dict[str, str] = {}
        async for line in stream.aiter_lines():
            if line.startswith(("id: ", "event: ", "data: ")):
                key, _, value = line.partition(": ")
                frame[key] = value
            elif not line and "data" in frame:
                events.append(frame)
                if frame["event"] == "end":
                    break
                frame = {}

    kinds = [e["event"] for e in events]
    assert kinds[-1] == "end"
    assert "on_llm_stream" in kinds
    tokens = "".join(json.loads(e["data"])["data"]["token"] for e in events[:-1])
    assert tokens == "stub answer: hi"
    end = json.loads(events[-1]["data"])
    assert end["job_id"] == "sse-job"
    assert end["data"]["final_result"] == "stub answer: hi"
    ids = [e["id"] for e in events]
    assert len(set(ids)) == len(ids)

    # Resuming after the last id seen returns nothing old.
    async with client.stream("GET", f"/threads/t-sse/events?last_id={ids[-1]}") as stream:
        lines = []
        async for line in stream.aiter_lines():
            lines.append(line)
            if line.startswith(": keep-alive"):
                break
    assert not [line for line in lines if line.startswith("id: ")]


async def test_health_answers_while_the_process_lives(client):
    response = await client.get("/health")

    assert response.status_code == 200
    assert response.json() == {"status": "alive"}


async def test_metrics_expose_the_runtime_metrics(client):
    response = await client.post("/?wait=true", headers=BINARY, content=json.dumps(JOB))
    assert response.status_code == 200

    metrics = await client.get("/metrics")

    assert metrics.status_code == 200
    assert metrics.headers["content-type"].startswith("text/plain")
    text = metrics.text
    for sample in (
        'xagent_jobs_total{status="completed"}',
        "xagent_job_duration_seconds_bucket",
        'xagent_tokens_total{kind="input",model="stub-model"}',
        'xagent_tokens_total{kind="output",model="stub-model"}',
        "xagent_in_flight_jobs ",
        "xagent_queue_redeliveries_total ",
    ):
        assert sample in text, sample


# --- readiness ----------------------------------------------------------------------------------


class DedicatedRedis:
    """A redis-server of the test's own, on its own port, to stop and start at will."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.workdir = workdir
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--bind", "127.0.0.1",
                "--port", str(self.port),
                "--save", "",
                "--appendonly", "no",
                "--dir", str(self.workdir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=TIMEOUT)


@pytest.fixture
def dedicated_redis(tmp_path):
    redis = DedicatedRedis(tmp_path)
    redis.start()
    try:
        yield redis
    finally:
        redis.stop()


async def test_ready_follows_a_dependency_going_away_and_coming_back(start_agent, dedicated_redis):
    running = await start_agent(REDIS_URL=dedicated_redis.url)
    async with httpx.AsyncClient(base_url=running.base_url, timeout=TIMEOUT) as client:

        async def ready() -> httpx.Response:
            return await client.get("/ready")

        up = await wait_for(ready, lambda r: r.status_code == 200)
        assert up.json() == {
            "status": "ready",
            "dependencies": {"nats": "up", "postgres": "up", "cache": "up"},
        }

        dedicated_redis.stop()
        down = await wait_for(ready, lambda r: r.status_code == 503)
        assert down.json() == {
            "status": "not ready",
            "dependencies": {"nats": "up", "postgres": "up", "cache": "unreachable"},
        }
        health = await client.get("/health")
        assert health.status_code == 200  # alive all the same

        dedicated_redis.start()
        back = await wait_for(ready, lambda r: r.status_code == 200)
        assert back.json()["dependencies"]["cache"] == "up"


async def test_embedded_backends_count_as_ready_and_serve_jobs(start_agent):
    running = await start_agent(NATS_URL="", DATABASE_URL="", REDIS_URL="")
    async with httpx.AsyncClient(base_url=running.base_url, timeout=TIMEOUT) as client:
        ready = await client.get("/ready")
        assert ready.status_code == 200
        assert ready.json()["dependencies"] == {
            "nats": "embedded",
            "postgres": "embedded",
            "cache": "embedded",
        }

        queued = await client.post("/", headers=BINARY, content=json.dumps(JOB))
        assert queued.status_code == 202

        async def results():
            return running.queue.results  # the in-process queue keeps them in memory

        [result] = await wait_for(results, bool)
        assert result.job_id == "job-1"
        assert result.output == "stub answer: hi"


async def test_a_sync_run_that_fails_transiently_leaves_a_failed_run_record(start_agent):
    running = await start_agent(**{ENV.MODEL_NAME: "broken-model"})
    async with httpx.AsyncClient(base_url=running.base_url, timeout=TIMEOUT) as http:
        response = await http.post("/?wait=true", headers=BINARY, content=json.dumps(JOB))
        assert response.status_code == 503, response.text
        assert response.headers["retry-after"] == "5"
        run = (await http.get(f"/runs/{JOB['job_id']}")).json()
    assert run["status"] == "failed"
    assert run["error"]
    assert run["finished_at"] is not None
