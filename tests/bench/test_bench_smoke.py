"""The benchmarks under bench/ run end to end and print their ratios (no timing asserted)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.runtime.conftest import require_service

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
        (w, s)
        for w in ("first", "cold", "steady", "shuffled")
        for s in ("floor", "xagent", "idiomatic")
    }
    assert all(float(r[5]) > 0 and float(r[6]) > 0 for r in rows)
    assert {r[5] for r in rows if r[1] == "floor"} == {"1.00"}


@pytest.mark.services
def test_runtime_bench_prints_ratios_worker_figures_and_cli_time():
    for env in ("XAGENT_TEST_NATS_URL", "XAGENT_TEST_DATABASE_URL", "XAGENT_TEST_REDIS_URL"):
        require_service(env)
    args = ("--jobs", "2", "--rounds", "1", "--queue-jobs", "4", "--cli-runs", "1")
    out = _run("bench/bench_runtime.py", *args)
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines()[1:]}
    assert {"bare", "features", "executor"} <= rows.keys()
    assert rows["bare"][2] == "1.00"
    assert all(float(rows[k][2]) > 0 for k in ("features", "executor"))
    for key in (
        "start_to_ready_s",
        "start_to_ready_migrated_s",
        "idle_rss_mib",
        "jobs_per_s_1_workers",
        "xagent_run_s",
        "langgraph_import_s",
    ):
        assert float(rows[key][0]) > 0, key


def test_render_bench_prints_one_and_many():
    out = _run("bench/bench_render.py", "--count", "3", "--runs", "1")
    rows = {line.split()[0]: float(line.split()[1]) for line in out.splitlines()[1:]}
    assert set(rows) == {
        "python_startup_s",
        "render_one_s",
        "render_3_in_one_process_s",
        "per_xr_ms",
    }
    assert rows["render_one_s"] > 0
