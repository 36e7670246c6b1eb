"""Fifty XAgents in one namespace: every one composes within a stated time.

The time and the number of function calls Crossplane made are printed in the test summary
(benchmarks with ratios live in bench/; this only bounds the wait generously).
"""

from __future__ import annotations

import copy
import re
import time

import httpx
import pytest

from tests.controlplane import plane
from tests.controlplane.conftest import REPORT
from tests.controlplane.kube import Kube, has_condition, wait_for
from tests.controlplane.xagents import EXAMPLES, Example

pytestmark = pytest.mark.controlplane

COUNT = 50
STATED_TIMEOUT = 300.0
_CALLS = re.compile(r"^function_run_function_request_total\{[^}]*\} (\S+)$", re.MULTILINE)


def function_calls(state: plane.State) -> int:
    """RunFunction requests Crossplane has sent, from its own metrics."""
    text = httpx.get(state.crossplane_metrics, timeout=10).text
    return int(sum(float(v) for v in _CALLS.findall(text)))


def test_fifty_xagents_sync(kube: Kube, namespace: str, control_plane: plane.State) -> None:
    base = Example.load(EXAMPLES / "minimal", namespace)
    kube.apply(base.composition)
    calls_before = function_calls(control_plane)
    started = time.monotonic()
    names = [f"agent-{i:02d}" for i in range(COUNT)]
    for name in names:
        xr = copy.deepcopy(base.xr)
        xr["metadata"]["name"] = name
        kube.apply(xr)

    def unsynced() -> list[str]:
        items = kube.list(base.xr["apiVersion"], base.xr["kind"], namespace)
        synced = {i["metadata"]["name"] for i in items if has_condition(i, "Synced")}
        return [n for n in names if n not in synced]

    left: list[str] = []

    def all_synced() -> bool:
        left[:] = unsynced()
        return not left

    wait_for(all_synced, STATED_TIMEOUT, f"{COUNT} XAgents to be Synced (left: {left})", interval=1)
    elapsed = time.monotonic() - started
    calls = function_calls(control_plane) - calls_before
    REPORT.append(
        f"controlplane: {COUNT} XAgents Synced in {elapsed:.1f}s with {calls} function calls"
    )
    assert calls >= COUNT
