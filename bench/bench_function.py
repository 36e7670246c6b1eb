"""How much the composition function costs next to the least it must do.

The baseline, measured in the same run, is validating the XR's spec with the pydantic
model: work every request needs. The measured cases run the whole composition
(definition, policy, every builder, readiness, protobuf response) on the examples. The
ratios, not the seconds, are the result: they hold on a noisy machine.

    python bench/bench_function.py [--rounds 200]
"""

from __future__ import annotations

import argparse
import statistics
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import yaml
from crossplane.function import logging, resource
from crossplane.function.proto.v1 import run_function_pb2 as fnv1

from function.fn import FunctionRunner
from function.spec import XAgentSpec

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ("minimal", "full")


def _time(fn: Callable[[], object], rounds: int) -> float:
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def _peak_bytes(fn: Callable[[], object]) -> int:
    tracemalloc.start()
    fn()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()
    logging.configure(logging.Level.DISABLED)
    runner = FunctionRunner()
    print(f"{'example':10} {'baseline':>10} {'function':>10} {'time x':>7} {'memory x':>9}")
    for name in EXAMPLES:
        xr = yaml.safe_load((ROOT / "examples" / name / "xr.yaml").read_text())
        req = fnv1.RunFunctionRequest()
        resource.update(req.observed.composite, xr)

        def baseline(spec: dict = xr["spec"]) -> object:
            return XAgentSpec.model_validate(spec)

        def compose(req: fnv1.RunFunctionRequest = req) -> object:
            return runner.compose(req)  # not RunFunction: its memo would answer repeats

        compose()  # warm caches (schemas, imports) outside the measurement
        t_base, t_fn = _time(baseline, args.rounds), _time(compose, args.rounds)
        m_base, m_fn = _peak_bytes(baseline), _peak_bytes(compose)
        print(
            f"{name:10} {t_base * 1e3:8.2f}ms {t_fn * 1e3:8.2f}ms {t_fn / t_base:7.1f} "
            f"{m_fn / m_base:9.1f}"
        )


if __name__ == "__main__":
    main()
