"""The benchmarks under bench/ run end to end and print their ratios (no timing asserted)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _run(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_function_grpc_bench_prints_ratios_for_every_server_and_workload():
    out = _run("bench/bench_function_grpc.py", "--rounds", "1", "--calls", "16", "--callers", "2")
    rows = [line.split() for line in out.splitlines()[2:]]
    assert {(r[0], r[1]) for r in rows} == {
        (w, s) for w in ("first", "cold", "steady") for s in ("floor", "xagent", "idiomatic")
    }
    assert all(float(r[5]) > 0 and float(r[6]) > 0 for r in rows)
    assert {r[5] for r in rows if r[1] == "floor"} == {"1.00"}
