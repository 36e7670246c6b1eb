"""The gRPC server: the SDK's, except that a request protobuf cannot decode still gets an answer.

Crossplane (Go) encodes an XR nested deeper than the Python protobuf runtime will decode
(upb stops at 100 message levels, about 27 levels of JSON inside an XR). The generated
handler would fail such a call with UNKNOWN and no result, so Crossplane would only retry;
this one answers it with a Fatal result that says what to fix.
"""

from __future__ import annotations

import asyncio
import signal
from dataclasses import dataclass

import grpc
from crossplane.function.proto.v1 import run_function_pb2 as fnv1
from crossplane.function.proto.v1beta1 import run_function_pb2_grpc as grpcv1beta1
from crossplane.function.runtime import (
    SERVICE_NAMES,
    SHUTDOWN_GRACE_PERIOD_SECONDS,
    BetaFunctionRunner,
)
from google.protobuf.message import DecodeError
from grpc_reflection.v1alpha import reflection

__all__ = ["SERVICE", "Undecodable", "decode_request", "register", "serve"]

SERVICE = "apiextensions.fn.proto.v1.FunctionRunnerService"


@dataclass(frozen=True)
class Undecodable:
    """A RunFunctionRequest that protobuf could not decode, and why."""

    size: int
    error: str


def decode_request(data: bytes) -> fnv1.RunFunctionRequest | Undecodable:
    """Decode a request; one that cannot be decoded becomes an Undecodable, not an error."""
    try:
        return fnv1.RunFunctionRequest.FromString(data)
    except DecodeError as err:
        return Undecodable(len(data), str(err))


def _as_is(data: bytes) -> bytes:
    return data


def register(function, server: grpc.aio.Server) -> None:
    """Serve ``function`` on ``server``: v1 as bytes in and out, v1beta1 as the SDK does.

    v1 hands the received bytes to ``function.run_received``, which decodes them itself
    (tolerantly, see decode_request) only when its memo does not know them.
    """
    handlers = {
        "RunFunction": grpc.unary_unary_rpc_method_handler(
            function.run_received, request_deserializer=_as_is, response_serializer=_as_is
        )
    }
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
    grpcv1beta1.add_FunctionRunnerServiceServicer_to_server(
        BetaFunctionRunner(wrapped=function), server
    )
    reflection.enable_server_reflection(SERVICE_NAMES, server)


def serve(
    function,
    address: str,
    *,
    creds: grpc.ServerCredentials | None,
    insecure: bool,
) -> None:
    """Serve until SIGTERM, like crossplane.function.runtime.serve."""
    if creds is None and not insecure:
        raise ValueError("no credentials were provided and --insecure is not set")
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    server = grpc.aio.server()
    loop.add_signal_handler(
        signal.SIGTERM,
        lambda: asyncio.ensure_future(server.stop(grace=SHUTDOWN_GRACE_PERIOD_SECONDS)),
    )
    register(function, server)
    if creds is not None:
        server.add_secure_port(address, creds)
    if insecure:
        server.add_insecure_port(address)

    async def start() -> None:
        await server.start()
        await server.wait_for_termination()

    try:
        loop.run_until_complete(start())
    finally:
        loop.run_until_complete(server.stop(grace=SHUTDOWN_GRACE_PERIOD_SECONDS))
        loop.close()
