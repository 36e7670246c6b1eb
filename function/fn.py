"""The composition function: XAgent -> composed resources, readiness and conditions."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import grpc
from crossplane.function import logging, request, response
from crossplane.function.proto.v1 import run_function_pb2 as fnv1
from crossplane.function.proto.v1 import run_function_pb2_grpc as grpcv1
from pydantic import ValidationError

from function import _struct, compose, definition_source, observed, scalars
from function.errors import InputError, messages
from function.input import FunctionInput
from function.memo import Memo, received
from function.server import Undecodable, decode_request
from function.spec import XAgentSpec

__all__ = ["DEADLINE_SECONDS", "FunctionRunner"]

DEADLINE_SECONDS = 30.0
"""Longest one request may compose before it is answered with a Fatal result."""
_POOL = ThreadPoolExecutor(max_workers=4, thread_name_prefix="compose")
"""Shared by every FunctionRunner: threads start on demand and are reused. Composing holds
the GIL, so more threads add no speed, only headroom for composes still running past their
deadline; each thread also grows its own malloc arena (8 threads cost the server ~3 MiB)."""


class FunctionRunner(grpcv1.FunctionRunnerService):
    """Serves the xagent composition function over gRPC.

    Composing is CPU work in plain Python: it runs on a worker thread, so the event loop keeps
    taking requests and one slow XAgent cannot stall every other; a request that outlives
    ``deadline`` seconds is answered with a Fatal result (its thread finishes on its own, the
    inputs being bounded).
    """

    def __init__(self, deadline: float = DEADLINE_SECONDS) -> None:
        self.log = logging.get_logger()
        self.deadline = deadline
        self.memo = Memo()

    async def RunFunction(
        self,
        req: fnv1.RunFunctionRequest | Undecodable,
        _: grpc.aio.ServicerContext | None = None,
    ) -> fnv1.RunFunctionResponse:
        """Compose an XAgent. Never raises: every failure becomes one Fatal result."""
        if isinstance(req, Undecodable):
            return _undecodable(req, self.log)
        # The memo is only touched on the event loop: a remembered answer costs no thread
        # hop, and the memo needs no lock.
        key = self.memo.key(req)
        rsp = self.memo.get(key, req.meta.tag)
        return rsp if rsp is not None else await self._compose(req, key)

    async def run_received(self, data: bytes, _: grpc.aio.ServicerContext | None = None) -> bytes:
        """RunFunction from the bytes as received to the bytes to send (the gRPC handler).

        A request whose bytes were seen before is answered from the memo without being
        decoded; a remembered answer is sent without being parsed or serialized again.
        """
        seen = received(data)
        if seen is not None and (body := self.memo.received(seen)) is not None:
            return body
        req = decode_request(data)
        if isinstance(req, Undecodable):
            return _undecodable(req, self.log).SerializeToString()
        key = self.memo.key(req)
        body = self.memo.get_bytes(key, req.meta.tag)
        if body is None:
            body = (await self._compose(req, key)).SerializeToString()
        if seen is not None and key in self.memo:
            self.memo.alias(seen, key)
        return body

    async def _compose(self, req: fnv1.RunFunctionRequest, key: bytes) -> fnv1.RunFunctionResponse:
        """Compose on a worker thread within the deadline; remember the answer if it may be."""
        loop = asyncio.get_running_loop()
        work = loop.run_in_executor(_POOL, self._respond, req)
        try:
            rsp, remember = await asyncio.wait_for(work, self.deadline)
        except TimeoutError:
            self.log.warning("deadline exceeded", tag=req.meta.tag, seconds=self.deadline)
            rsp = response.to(req)
            response.fatal(rsp, f"composing took longer than {self.deadline:g}s; gave up")
            return rsp
        if remember:
            self.memo.put(key, rsp)
        return rsp

    def compose(self, req: fnv1.RunFunctionRequest) -> fnv1.RunFunctionResponse:
        """The answer, on the calling thread: no event loop, memo or deadline (offline render)."""
        return self._respond(req)[0]

    def _respond(self, req: fnv1.RunFunctionRequest) -> tuple[fnv1.RunFunctionResponse, bool]:
        """The answer, and whether it may be remembered (not after an unexpected error)."""
        log = self.log.bind(tag=req.meta.tag)
        rsp = response.to(req)
        try:
            _run(req, rsp, log)
        except InputError as e:
            log.info("bad input", error=str(e))
            _drop_own_resources(req, rsp)
            response.fatal(rsp, str(e))
        except Exception as e:
            log.exception("unexpected error")
            _drop_own_resources(req, rsp)
            response.fatal(rsp, f"internal error composing XAgent: {type(e).__name__}: {e}")
            return rsp, False
        return rsp, True


def _undecodable(req: Undecodable, log) -> fnv1.RunFunctionResponse:
    log.info("undecodable request", size=req.size, error=req.error)
    rsp = fnv1.RunFunctionResponse()
    response.fatal(
        rsp,
        f"cannot decode the request ({req.size} bytes): {req.error}. The XR nests "
        "deeper than protobuf decodes; flatten free-form fields such as "
        "spec.definition.toolDefinitions[].parameters",
    )
    return rsp


def _drop_own_resources(req: fnv1.RunFunctionRequest, rsp: fnv1.RunFunctionResponse) -> None:
    """Nothing this run wrote before failing may look composed next to a Fatal result.

    Earlier pipeline steps' resources and the requirements (the referenced ConfigMap, to be
    fetched again once fixed) stay.
    """
    for key in list(rsp.desired.resources):
        if key not in req.desired.resources:
            del rsp.desired.resources[key]


def _run(req: fnv1.RunFunctionRequest, rsp: fnv1.RunFunctionResponse, log) -> None:
    policy = _parse(FunctionInput, _struct.to_dict(req.input), "input").policy
    try:
        xr = observed.xr(req)
    except ValueError as e:
        bad = scalars.nonfinite_numbers(req.observed.composite.resource)
        raise InputError("; ".join(bad) or str(e)) from e
    name = (xr.get("metadata") or {}).get("name") or "xagent"
    namespace = observed.xr_namespace(xr)
    raw_spec = observed.xr_spec(xr)
    if bad := scalars.problems(raw_spec, "spec"):
        raise InputError("; ".join(bad))
    spec = _parse(XAgentSpec, raw_spec, "spec")
    ref = spec.definition_ref
    required = None
    if ref is not None:
        response.require_resources(
            rsp,
            definition_source.REQUIREMENT,
            "v1",
            "ConfigMap",
            match_name=ref.name,
            namespace=namespace,
        )
        if definition_source.REQUIREMENT in req.required_resources:
            required = request.get_required_resources(req, definition_source.REQUIREMENT)
    resolution = definition_source.resolve(name, spec, required)
    fetched = {key: request.get_required_resources(req, key) for key in req.required_resources}
    outcome = compose.compose(
        name, namespace, spec, resolution, policy, observed.composed(req), fetched
    )
    compose.apply(outcome, rsp)
    log.info(
        "composed",
        resources=len(outcome.desired),
        warnings=len(outcome.warnings),
        fatal=bool(outcome.fatal),
    )


def _parse(model, data: dict, prefix: str):
    try:
        return model.model_validate(data)
    except ValidationError as e:
        raise InputError("; ".join(messages(e, prefix))) from e
