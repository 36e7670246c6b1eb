"""The composition function over gRPC, next to the SDK's own floor, in one run.

Three servers, each its own process under the SDK's `runtime.serve`:

- floor: a servicer that returns `response.to(req)` (bench/sdk_functions.py), the least
  any Python function can cost;
- xagent: `xagent serve --insecure`;
- idiomatic: a 15-resource function written the way the SDK documents (reference).

One async gRPC client sends pre-serialized request bytes from CALLERS concurrent tasks
and reads the answers as bytes, so the client costs the same for every server. The
workloads are what Crossplane sends:

- first: the first reconcile of examples/full (no observed resources), the same bytes
  every call, as Crossplane repeats it until resources appear;
- cold: the same XR with a new metadata.resourceVersion each call, so no call can be
  answered from a memo: the full composition, every time;
- steady: examples/running with its observed resources, the common case (every poll
  and watch event of a running XAgent), the same bytes every call;
- shuffled: the same request with its Struct maps in a new order each call, as Go
  (Crossplane) writes them: equal requests, different bytes, so only the function's
  canonical key (decode, serialize deterministically) can find the remembered answer.

Rounds interleave the servers; each figure is the median over rounds, and the ratios
compare servers within the same round. Server RSS is read from /proc after the run.

    python bench/bench_function_grpc.py [--rounds 3] [--calls 3000] [--callers 16]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
from crossplane.function import resource
from crossplane.function.proto.v1 import run_function_pb2 as fnv1

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from function.render import first_request, load_inputs  # noqa: E402

METHOD = "/apiextensions.fn.proto.v1.FunctionRunnerService/RunFunction"
SERVERS = ("floor", "xagent", "idiomatic")
COLD_VARIANTS = 4096


@dataclass
class Sample:
    """One (server, workload) measurement."""

    p50: float
    p99: float
    rate: float


def workloads(calls: int) -> dict[str, list[bytes]]:
    """Pre-serialized requests per workload."""
    full = first_request(load_inputs(ROOT / "examples/full/xr.yaml"))
    running = first_request(
        load_inputs(
            ROOT / "examples/running/xr.yaml", observed=ROOT / "examples/running/observed.yaml"
        )
    )
    cold = []
    for i in range(min(calls, COLD_VARIANTS)):
        req = fnv1.RunFunctionRequest()
        req.CopyFrom(full)
        req.observed.composite.resource["metadata"]["resourceVersion"] = str(1000 + i)
        req.meta.tag = f"cold-{i}"
        cold.append(req.SerializeToString())
    xr = resource.struct_to_dict(running.observed.composite.resource)
    observed = {
        name: resource.struct_to_dict(o.resource) for name, o in running.observed.resources.items()
    }
    shuffled = []
    for i in range(min(calls, COLD_VARIANTS)):
        rng = random.Random(i)  # noqa: S311 - a reproducible order, not a secret
        req = fnv1.RunFunctionRequest()
        req.CopyFrom(running)
        req.observed.composite.ClearField("resource")
        resource.update(req.observed.composite, _shuffled(xr, rng))
        for name, body in observed.items():
            req.observed.resources[name].ClearField("resource")
            resource.update(req.observed.resources[name], _shuffled(body, rng))
        shuffled.append(req.SerializeToString())
    return {
        "first": [full.SerializeToString()],
        "cold": cold,
        "steady": [running.SerializeToString()],
        "shuffled": shuffled,
    }


def _shuffled(value: object, rng: random.Random) -> object:
    """`value` with every mapping's keys in a random order (protobuf writes them so)."""
    if isinstance(value, dict):
        items = list(value.items())
        rng.shuffle(items)
        return {k: _shuffled(v, rng) for k, v in items}
    if isinstance(value, list):
        return [_shuffled(v, rng) for v in value]
    return value


def _free_address() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{s.getsockname()[1]}"


def _command(server: str, address: str) -> list[str]:
    if server == "xagent":
        return [sys.executable, "-m", "function", "serve", "--insecure", "--address", address]
    return [sys.executable, str(ROOT / "bench" / "sdk_functions.py"), server, address]


@contextlib.contextmanager
def serving(servers: tuple[str, ...]) -> Iterator[dict[str, tuple[subprocess.Popen, str]]]:
    """Start every server; stop them all on the way out."""
    procs: dict[str, tuple[subprocess.Popen, str]] = {}
    try:
        for server in servers:
            address = _free_address()
            proc = subprocess.Popen(  # stdout: the servers log a line per call
                _command(server, address),
                cwd=ROOT,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            procs[server] = (proc, address)
        yield procs
    finally:
        for proc, _ in procs.values():
            proc.terminate()
        for proc, _ in procs.values():
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


def rss_mib(pid: int) -> float:
    """Resident set size of a process, MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def drive(address: str, requests: list[bytes], calls: int, callers: int) -> Sample:
    """Send `calls` requests from `callers` concurrent tasks; latency and throughput."""
    async with grpc.aio.insecure_channel(address) as channel:
        await asyncio.wait_for(channel.channel_ready(), 30)
        call = channel.unary_unary(METHOD)  # bytes in, bytes out: no client-side protobuf
        for body in requests[:callers]:  # warm up: imports, caches, connection
            fnv1.RunFunctionResponse.FromString(await call(body))
        latencies: list[float] = []
        counter = iter(range(calls))

        async def caller() -> None:
            for i in counter:
                body = requests[i % len(requests)]
                start = time.perf_counter()
                await call(body)
                latencies.append(time.perf_counter() - start)

        start = time.perf_counter()
        await asyncio.gather(*(caller() for _ in range(callers)))
        wall = time.perf_counter() - start
    latencies.sort()
    return Sample(
        p50=statistics.median(latencies),
        p99=latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
        rate=calls / wall,
    )


def check_answers(address: str, requests: dict[str, list[bytes]]) -> None:
    """Fail loudly when xagent answers a workload with a Fatal result."""

    async def one() -> None:
        async with grpc.aio.insecure_channel(address) as channel:
            await asyncio.wait_for(channel.channel_ready(), 30)
            call = channel.unary_unary(METHOD)
            for name, bodies in requests.items():
                rsp = fnv1.RunFunctionResponse.FromString(await call(bodies[0]))
                fatal = [r.message for r in rsp.results if r.severity == fnv1.SEVERITY_FATAL]
                if fatal or not rsp.desired.resources:
                    raise SystemExit(f"xagent answered {name} with {fatal or 'no resources'}")

    asyncio.run(one())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--calls", type=int, default=3000, help="calls per workload and round")
    parser.add_argument("--callers", type=int, default=16)
    args = parser.parse_args()
    reqs = workloads(args.calls)
    results: dict[tuple[str, str], list[Sample]] = {}
    with serving(SERVERS) as procs:
        check_answers(procs["xagent"][1], reqs)
        for _ in range(args.rounds):
            for workload, bodies in reqs.items():
                for server in SERVERS:
                    sample = asyncio.run(drive(procs[server][1], bodies, args.calls, args.callers))
                    results.setdefault((server, workload), []).append(sample)
        rss = {server: rss_mib(proc.pid) for server, (proc, _) in procs.items()}
    print(
        f"machine: {os.cpu_count()} cpu, Python {sys.version.split()[0]}, "
        f"{args.rounds} rounds x {args.calls} calls, {args.callers} callers"
    )
    header = f"{'workload':8} {'server':10} {'p50 ms':>8} {'p99 ms':>8} {'calls/s':>8}"
    print(f"{header} {'p50 x':>7} {'cost x':>7} {'RSS MiB':>8}")
    for workload in reqs:
        floor = results[("floor", workload)]
        for server in SERVERS:
            mine = results[(server, workload)]
            p50_ratio = statistics.median(m.p50 / f.p50 for m, f in zip(mine, floor, strict=True))
            cost_ratio = statistics.median(
                f.rate / m.rate for m, f in zip(mine, floor, strict=True)
            )
            print(
                f"{workload:8} {server:10} {statistics.median(m.p50 for m in mine) * 1e3:8.3f} "
                f"{statistics.median(m.p99 for m in mine) * 1e3:8.3f} "
                f"{statistics.median(m.rate for m in mine):8.0f} {p50_ratio:7.2f} "
                f"{cost_ratio:7.2f} {rss[server]:8.1f}"
            )


if __name__ == "__main__":
    main()
