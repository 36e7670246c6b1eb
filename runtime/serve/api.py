"""The runtime's HTTP face: CloudEvents in, results and events out, probes and metrics.

``create_app(deps)`` builds the FastAPI app around injected dependencies; it imports no queue
or database client, only the protocols it talks to. Routes:

- ``POST /`` takes a CloudEvent (binary or structured mode) whose data is a ``jobs.Job``.
  With ``?wait=true`` (or the ``X-Xagent-Wait: true`` header) the job runs now and the
  answer is the result as a CloudEvent in the request's mode; otherwise the job is enqueued
  and the answer is ``202`` with the job id. A bad event is a ``400`` naming the problem.
- ``GET /threads/{thread_id}/events`` streams a thread's events as server-sent events.
- ``GET /runs/{job_id}``: the job's run record (status, timings, tokens, error, approvals and
  the whole answer); ``GET /threads/{thread_id}``: the thread, its runs and its messages.
- With an authenticator, every route but the probes and metrics needs a bearer token: 401
  without a valid one, 403 on a thread or run another principal owns (``runtime.serve.auth``).
- ``GET /health`` says the process lives; ``GET /ready`` is ``200`` only when every
  dependency answers its ping within a short timeout (and not while draining);
  ``GET /metrics`` is Prometheus text.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cloudevents.core.bindings.http import (
    HTTPMessage,
    from_http_event,
    to_binary_event,
    to_structured_event,
)
from cloudevents.core.v1.event import CloudEvent
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import ValidationError

from runtime.jobs import Job, JobTooLargeError, RetryableError
from runtime.observability import render_metrics
from runtime.queue import JobQueue
from runtime.serve.auth import Authenticator, AuthError, bearer_token
from runtime.state.approvals import ApprovalConflict, ApprovalStatus, Decision
from runtime.state.runs import RunRecord, RunStatus, RunStore
from runtime.state.stream import EventSink

if TYPE_CHECKING:
    from runtime.agent.capabilities import Capabilities

__all__ = [
    "RESULT_EVENT_TYPE",
    "WAIT_HEADER",
    "ApiDeps",
    "ReadinessCheck",
    "create_app",
]

log = logging.getLogger(__name__)

RESULT_EVENT_TYPE = "dev.xagent.job.result"
"""CloudEvent type of a synchronous job's answer."""
WAIT_HEADER = "x-xagent-wait"
"""Header that asks for a synchronous run, like the ``wait=true`` query parameter."""
_DEFINITION_FIELD = "agent_definition"
_TRUE = {"1", "true", "yes", "on"}
DEFAULT_MAX_JOB_BYTES = 1024 * 1024
"""NATS's default max payload: a larger job could never be queued."""
OPEN_PATHS = frozenset({"/health", "/ready", "/metrics"})
"""The only routes that answer without authentication."""

ThreadMessages = Callable[[str], Awaitable[list[dict[str, Any]]]]
"""A thread's checkpointed messages as JSON objects (role, content, id)."""


@dataclass(frozen=True)
class ReadinessCheck:
    """One dependency /ready pings: reachable when ``ping`` neither raises nor returns False.

    An embedded dependency (SQLite, in-memory events, in-process queue) is reported as such
    and counts as reachable.
    """

    name: str
    ping: Callable[[], Awaitable[object]]
    embedded: bool = False
    optional: bool = False
    """Unreachable only degrades the agent (an MCP server): /ready says so and stays 200."""


@dataclass
class ApiDeps:
    """Everything the app talks to, built and owned by the caller (main.py, tests).

    ``resources`` is entered when the app starts and exited when it stops: hand it what the
    app should open and close itself; leave it None when the caller manages lifetimes.
    ``stopping`` ends open event streams so shutdown is not held up by them.
    """

    queue: JobQueue
    events: EventSink | None = None
    checks: Sequence[ReadinessCheck] = ()
    source: str = "xagent/runtime"
    ready_timeout_seconds: float = 2.0
    sse_block_ms: int = 5_000
    resources: AbstractAsyncContextManager[Any] | None = None
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    auth: Authenticator | None = None
    """None: no authentication (only for local runs; the function always configures one)."""
    runs: RunStore | None = None
    thread_messages: ThreadMessages | None = None
    max_job_bytes: int = DEFAULT_MAX_JOB_BYTES
    """Largest request body POST / accepts (413 above); the queue may refuse less."""
    capabilities: Capabilities | None = None
    """Budgets (429 when the day's is spent) and approvals (the approvals routes)."""


class BadEventError(ValueError):
    """The request is not a CloudEvent carrying a job; the message says why."""


def create_app(deps: ApiDeps) -> FastAPI:
    """Build the runtime's FastAPI app around ``deps``."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            if deps.resources is not None:
                await stack.enter_async_context(deps.resources)
            try:
                yield
            finally:
                deps.stopping.set()

    app = FastAPI(
        title="xagent runtime",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.deps = deps

    @app.middleware("http")
    async def authenticate(request: Request, call_next: Callable[..., Any]) -> Response:
        request.state.principal = None
        if deps.auth is not None and request.url.path not in OPEN_PATHS:
            try:
                token = bearer_token(request.headers.get("authorization"))
                request.state.principal = await deps.auth.authenticate(token)
            except AuthError as exc:
                headers = {"WWW-Authenticate": 'Bearer realm="xagent"'}
                if exc.status == 401:
                    return _error(401, exc.reason, headers=headers)
                return _error(exc.status, exc.reason, retry_after=5 if exc.status == 503 else None)
        return await call_next(request)

    @app.post("/")
    async def receive(request: Request) -> Response:
        try:
            body = await _read_body(request, deps.max_job_bytes)
            event, structured = _parse_event(dict(request.headers), body)
            job = _job_from_event(event)
        except JobTooLargeError as exc:
            return _error(413, str(exc))
        except BadEventError as exc:
            return _error(400, str(exc))
        principal = request.state.principal
        if deps.capabilities is not None:
            refused = await deps.capabilities.admit(job)
            if refused is not None:
                # Permanent until midnight UTC: Retry-After says when it resets.
                return _error(429, str(refused), retry_after=refused.retry_after)
        denied = await _claim(deps, job, principal)
        if denied is not None:
            return denied
        if _wants_wait(request):
            return await _run_now(deps, job, structured)
        try:
            await deps.queue.submit(job)
        except JobTooLargeError as exc:
            await _forget(deps, job)
            return _error(413, str(exc))
        except Exception:
            log.exception("enqueueing job failed", extra={"job_id": job.job_id})
            return _error(503, "the job queue is unavailable; retry later", retry_after=5)
        return JSONResponse(
            {"job_id": job.job_id, "thread_id": job.thread, "status": "accepted"},
            status_code=202,
            headers={"Location": f"/threads/{job.thread}/events"},
        )

    @app.get("/runs/{job_id}")
    async def get_run(request: Request, job_id: str) -> Response:
        if deps.runs is None:
            return _error(404, "run records are not configured")
        record = await deps.runs.get(job_id)
        if record is None:
            return _error(404, f"no run of job {job_id!r}")
        if not _may_use(record.owner, request.state.principal):
            return _error(403, f"job {job_id!r} belongs to another client")
        return JSONResponse(record.model_dump(mode="json"))

    @app.get("/threads/{thread_id}")
    async def get_thread(request: Request, thread_id: str) -> Response:
        if deps.runs is None:
            return _error(404, "run records are not configured")
        thread = await deps.runs.get_thread(thread_id)
        if thread is None:
            return _error(404, f"no thread {thread_id!r}")
        if not _may_use(thread.owner, request.state.principal):
            return _error(403, f"thread {thread_id!r} belongs to another client")
        runs = await deps.runs.thread_runs(thread_id)
        messages = await deps.thread_messages(thread_id) if deps.thread_messages else []
        body = thread.model_dump(mode="json") | {
            "runs": [r.model_dump(mode="json", exclude={"output"}) for r in runs],
            "messages": messages,
        }
        return JSONResponse(body)

    @app.get("/threads/{thread_id}/events")
    async def thread_events(request: Request, thread_id: str, last_id: str = "0") -> Response:
        if deps.events is None:
            return _error(404, "event streaming is not configured")
        if deps.runs is not None:
            thread = await deps.runs.get_thread(thread_id)
            if thread is not None and not _may_use(thread.owner, request.state.principal):
                return _error(403, f"thread {thread_id!r} belongs to another client")
        start = request.headers.get("last-event-id") or last_id
        return StreamingResponse(
            _sse(deps.events, deps, request, thread_id, start),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    @app.get("/threads/{thread_id}/approvals")
    async def list_approvals(request: Request, thread_id: str) -> Response:
        store = deps.capabilities.approvals if deps.capabilities else None
        if store is None:
            return _error(404, "approvals are not configured")
        if (denied := await _thread_denied(deps, request, thread_id)) is not None:
            return denied
        pending = await store.pending(thread_id)
        return JSONResponse({"approvals": [a.record() for a in pending]})

    @app.post("/threads/{thread_id}/approvals")
    async def decide_approval(request: Request, thread_id: str) -> Response:
        caps = deps.capabilities
        if caps is None or caps.approvals is None:
            return _error(404, "approvals are not configured")
        if (denied := await _thread_denied(deps, request, thread_id)) is not None:
            return denied
        try:
            decision = Decision.model_validate_json(await request.body())
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors()
            )
            return _error(400, f"invalid decision: {problems}")
        try:
            approval = await caps.approvals.decide(thread_id, decision)
        except ApprovalConflict as exc:
            if exc.status == 409:
                await _resume_again(deps, thread_id, decision.approval_id)
            return _error(exc.status, str(exc))
        await caps.approvals.count_pending()
        await caps.record(approval.job_id, thread_id)
        job = caps.resume_job(approval)
        try:
            await deps.queue.submit(job)
        except Exception:
            # The decision stands. Sending it again answers 409 and enqueues the resume
            # job then (_resume_again).
            log.exception("enqueueing the resume job failed", extra={"job_id": job.job_id})
            return _error(
                503,
                "decision recorded; the job queue is unavailable: send the decision again",
                retry_after=5,
            )
        body = {
            "approval_id": approval.approval_id,
            "status": approval.status,
            "job_id": job.job_id,
        }
        return JSONResponse(body, status_code=202)

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "alive"}

    @app.get("/ready")
    async def ready() -> Response:
        states = await _check_all(deps)
        ok = all(state in ("up", "embedded", "degraded") for state in states.values())
        status = "ready" if ok else "not ready"
        if ok and "degraded" in states.values():
            status = "degraded"
        if deps.stopping.is_set():
            ok, status = False, "stopping"  # draining: send no new work here
        body = {"status": status, "dependencies": states}
        return JSONResponse(body, status_code=200 if ok else 503)

    @app.get("/metrics")
    async def metrics() -> Response:
        body, content_type = render_metrics()
        return Response(body, media_type=content_type)

    return app


# --- CloudEvents ------------------------------------------------------------------------------


def _parse_event(headers: dict[str, str], body: bytes) -> tuple[CloudEvent, bool]:
    """The CloudEvent in a request, and whether it came in structured mode."""
    binary = any(name.lower().startswith("ce-") for name in headers)
    content_type = headers.get("content-type", "").lower()
    if not binary and not content_type.startswith("application/cloudevents+json"):
        raise BadEventError(
            "not a CloudEvent: send ce-* headers (binary mode) or a "
            "application/cloudevents+json body (structured mode)"
        )
    try:
        event = from_http_event(HTTPMessage(headers=headers, body=body))
    except Exception as exc:
        raise BadEventError(f"invalid CloudEvent: {exc}") from None
    return event, not binary


def _job_from_event(event: CloudEvent) -> Job:
    data = event.get_data()
    if isinstance(data, bytes | str):
        try:
            data = json.loads(data)
        except ValueError:
            raise BadEventError("event data is not JSON") from None
    if not isinstance(data, dict):
        raise BadEventError("event data must be a JSON object describing the job")
    if _DEFINITION_FIELD in data:
        raise BadEventError(
            f"data.{_DEFINITION_FIELD} is not accepted: the agent's definition comes from "
            "its ConfigMap, not from the event"
        )
    data.setdefault("job_id", event.get_id())
    # CloudEvents distributed tracing extension: the caller's trace continues in the job.
    traceparent = event.get_extension("traceparent")
    if isinstance(traceparent, str) and traceparent:
        data.setdefault("traceparent", traceparent)
    try:
        return Job.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"data.{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise BadEventError(f"invalid job: {problems}") from None


async def _read_body(request: Request, limit: int) -> bytes:
    """The request body, refusing (JobTooLargeError) one over ``limit`` bytes unread."""
    too_large = f"the job is larger than {limit} bytes, the most this agent accepts"
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise JobTooLargeError(too_large)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise JobTooLargeError(too_large)
        chunks.append(chunk)
    return b"".join(chunks)


def _wants_wait(request: Request) -> bool:
    value = request.query_params.get("wait") or request.headers.get(WAIT_HEADER) or ""
    return value.lower() in _TRUE


async def _run_now(deps: ApiDeps, job: Job, structured: bool) -> Response:
    try:
        result = await deps.queue.run(job)
    except RetryableError as exc:
        return _error(503, f"job failed, retry later: {exc}", retry_after=5)
    except Exception as exc:
        log.exception("synchronous job failed", extra={"job_id": job.job_id})
        return _error(500, f"job failed: {type(exc).__name__}: {exc}")
    attributes = {
        "id": f"{job.job_id}:result",
        "source": deps.source,
        "type": RESULT_EVENT_TYPE,
        "subject": job.thread,
        "datacontenttype": "application/json",
    }
    if result.traceparent:
        attributes["traceparent"] = result.traceparent
    event = CloudEvent(attributes=attributes, data=result.model_dump(mode="json"))
    message = to_structured_event(event) if structured else to_binary_event(event)
    return Response(message.body, status_code=200, headers=message.headers)


def _error(
    status: int,
    message: str,
    retry_after: int | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    headers = dict(headers or {})
    if retry_after:
        headers["Retry-After"] = str(retry_after)
    return JSONResponse({"error": message}, status_code=status, headers=headers or None)


async def _resume_again(deps: ApiDeps, thread_id: str, approval_id: str) -> None:
    """Enqueue the resume job of a call decided already, while its run still waits.

    Its enqueueing may have failed when it was decided (503): a repeated decision is how the
    caller retries. The resume job id is fixed per call and jobs are idempotent by id, so a
    resume that did run is not run twice.
    """
    caps = deps.capabilities
    if caps is None or caps.approvals is None or deps.runs is None:
        return
    approval = await caps.approvals.get(thread_id, approval_id)
    if approval is None or approval.status == ApprovalStatus.PENDING:
        return
    run = await deps.runs.get(approval.job_id)
    if run is None or run.status != RunStatus.AWAITING_APPROVAL:
        return
    job = caps.resume_job(approval)
    try:
        await deps.queue.submit(job)
    except Exception:
        log.warning("enqueueing the resume job failed again", extra={"job_id": job.job_id})


# --- ownership --------------------------------------------------------------------------------


async def _thread_denied(deps: ApiDeps, request: Request, thread_id: str) -> Response | None:
    if deps.runs is None:
        return None
    thread = await deps.runs.get_thread(thread_id)
    if thread is not None and not _may_use(thread.owner, request.state.principal):
        return _error(403, f"thread {thread_id!r} belongs to another client")
    return None


def _may_use(owner: str | None, principal: str | None) -> bool:
    """Whether ``principal`` may use what ``owner`` owns.

    Without authentication (principal None) everything is shared; a thread or run with no
    owner came in on the queue, whose publishers NATS itself authorizes.
    """
    return principal is None or owner is None or owner == principal


async def _forget(deps: ApiDeps, job: Job) -> None:
    """Mark a job the queue refused as failed, so its run record does not wait forever."""
    if deps.runs is not None:
        await deps.runs.update(job.job_id, status=RunStatus.FAILED, error="refused: too large")


async def _claim(deps: ApiDeps, job: Job, principal: str | None) -> Response | None:
    """Record the job as queued for ``principal``; a 403 when the thread or job is another's."""
    if deps.runs is None:
        return None
    thread = await deps.runs.claim_thread(job.thread, principal)
    if not _may_use(thread.owner, principal):
        return _error(403, f"thread {job.thread!r} belongs to another client")
    record = await deps.runs.create(
        RunRecord(job_id=job.job_id, thread_id=job.thread, owner=principal, status=RunStatus.QUEUED)
    )
    if not _may_use(record.owner, principal) or record.thread_id != job.thread:
        return _error(403, f"job id {job.job_id!r} is taken by another job")
    return None


# --- events and readiness ---------------------------------------------------------------------


async def _sse(
    events: EventSink, deps: ApiDeps, request: Request, thread_id: str, last_id: str
) -> AsyncIterator[bytes]:
    yield b": connected\n\n"
    while not deps.stopping.is_set():
        if await request.is_disconnected():
            return
        try:
            batch = await events.read_events(thread_id, last_id, deps.sse_block_ms)
        except Exception:
            log.warning("reading thread events failed", exc_info=True)
            yield b'event: error\ndata: {"error": "event store unavailable"}\n\n'
            return
        if not batch:
            yield b": keep-alive\n\n"
            continue
        for event_id, event in batch:
            last_id = event_id
            payload = json.dumps(event.to_dict(), default=str)
            yield f"id: {event_id}\nevent: {event.type}\ndata: {payload}\n\n".encode()


async def _check_all(deps: ApiDeps) -> dict[str, str]:
    async def one(check: ReadinessCheck) -> str:
        try:
            ok = await asyncio.wait_for(check.ping(), deps.ready_timeout_seconds) is not False
        except Exception:
            ok = False
        if not ok:
            return "degraded" if check.optional else "unreachable"
        return "embedded" if check.embedded else "up"

    states = await asyncio.gather(*(one(c) for c in deps.checks))
    return {c.name: s for c, s in zip(deps.checks, states, strict=True)}
