"""Fixtures for tests against the real control plane (tests/controlplane/plane.py).

One control plane serves the whole test run: it comes up on first use (about 20 s from
cached binaries) and goes down at the end, leaving no process behind. Each test works in its
own namespace. Missing binaries skip these tests, except under ``CI=true``, where they fail.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.controlplane import plane
from tests.controlplane.kube import Kube, KubeError
from tests.crossplane.conftest import unavailable

_namespaces = itertools.count()
REPORT: list[str] = []
"""Lines tests want in the run's summary (the 50-XAgent time and function calls)."""


@pytest.fixture(scope="session")
def control_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[plane.State]:
    """etcd, kube-apiserver, kube-controller-manager, Crossplane core and the function."""
    tools = plane.find_tools()
    if isinstance(tools, str):
        unavailable(tools)
    directory = tmp_path_factory.mktemp("controlplane")
    try:
        state = plane.up(directory, tools)
    except (plane.ControlPlaneError, TimeoutError, KubeError) as e:
        pytest.fail(f"control plane bring-up failed: {e}\n{_logs(directory)}", pytrace=False)
    try:
        yield state
    finally:
        plane.stop(state)


def _logs(directory: Path) -> str:
    return "\n".join(
        f"--- {f.name} (end)\n{f.read_text(errors='replace')[-2000:]}"
        for f in sorted((directory / "logs").glob("*.log"))
    )


@pytest.fixture(scope="session")
def kube(control_plane: plane.State) -> Iterator[Kube]:
    """A cluster-admin client (system:masters)."""
    client = control_plane.admin()
    yield client
    client.close()


@pytest.fixture
def namespace(kube: Kube, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace for one test, deleted afterwards."""
    name = f"t{next(_namespaces)}-{request.node.originalname.removeprefix('test_')}"
    name = name.replace("_", "-")[:50].rstrip("-")
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
    kube.apply(ns)
    yield name
    kube.delete(ns)


def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> None:
    """On failure, attach the end of every control-plane log to the report."""
    if call.when != "call" or call.excinfo is None or "control_plane" not in item.fixturenames:
        return
    state = item.funcargs.get("control_plane")
    if isinstance(state, plane.State):
        item.add_report_section("call", "control-plane logs", _logs(state.path))


def pytest_terminal_summary(terminalreporter) -> None:
    for line in REPORT:
        terminalreporter.write_line(line)
