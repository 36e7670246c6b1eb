"""Fixtures for the tests that run the real Crossplane CLI, Crossplane core and helm.

The binaries come from scripts/build-tools.sh: ``$XAGENT_TOOLS_BIN``, else the newest folder
under ~/.cache/xagent/tools/ that holds the one asked for. A missing binary skips the test,
except under ``CI=true``, where it fails it: CI must never pass by skipping these.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

import pytest

ROOT = Path(__file__).resolve().parents[2]
TOOLS_CACHE = Path.home() / ".cache" / "xagent" / "tools"
SERVE_TIMEOUT = 30.0


def unavailable(message: str) -> NoReturn:
    """Skip the current test, or fail it when CI=true."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{message} (CI=true: a missing tool fails instead of skipping)", pytrace=False)
    pytest.skip(message)


def find_tool(name: str) -> Path | None:
    """``name`` from $XAGENT_TOOLS_BIN, else from the newest ~/.cache/xagent/tools/*/."""
    env = os.environ.get("XAGENT_TOOLS_BIN")
    if env:
        candidates = [Path(env)]
    else:
        candidates = sorted(
            (d for d in TOOLS_CACHE.glob("*") if d.is_dir()),
            key=lambda d: d.stat().st_mtime,
            reverse=True,
        )
    for folder in candidates:
        path = folder / name
        if path.is_file() and os.access(path, os.X_OK):
            return path
    return None


def tool(name: str) -> Path:
    """The path of a pinned tool, or skip (fail under CI) saying how to get it."""
    path = find_tool(name)
    if path is None:
        where = os.environ.get("XAGENT_TOOLS_BIN") or f"{TOOLS_CACHE}/*/"
        unavailable(
            f"{name} not found in {where}: run `bash scripts/build-tools.sh` and "
            "export XAGENT_TOOLS_BIN=<the dir it prints last>"
        )
    return path


@pytest.fixture(scope="session")
def crossplane() -> Path:
    """The Crossplane CLI."""
    return tool("crossplane")


@pytest.fixture(scope="session")
def crossplane_core() -> Path:
    """The Crossplane core binary `crossplane render --crossplane-binary` runs."""
    return tool("crossplane-core")


@pytest.fixture(scope="session")
def helm() -> Path:
    """helm v3."""
    return tool("helm")


def xagent_command() -> list[str]:
    """The `xagent` command of the interpreter running the tests."""
    script = Path(sys.executable).with_name("xagent")
    if script.is_file():
        return [str(script)]
    return [sys.executable, "-m", "function"]


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def function_target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`xagent serve --insecure` on a free loopback port, for the session: its address."""
    port = free_port()
    log = tmp_path_factory.mktemp("function") / "serve.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [*xagent_command(), "serve", "--insecure", "--address", f"127.0.0.1:{port}"],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_for_port(port, proc, log)
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _wait_for_port(port: int, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + SERVE_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"xagent serve exited with {proc.returncode}:\n{log.read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    pytest.fail(
        f"xagent serve did not listen on 127.0.0.1:{port} within {SERVE_TIMEOUT}s:\n"
        f"{log.read_text()}"
    )


def run(args: list[str | Path], **kwargs) -> subprocess.CompletedProcess[str]:
    """Run a command from the repository root; capture text output; never raise on failure."""
    kwargs.setdefault("cwd", ROOT)
    kwargs.setdefault("timeout", 120)
    return subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, check=False, **kwargs
    )
