"""scripts/e2e-kind.sh without a cluster: syntax, usage, and the no-Docker skip.

The script itself needs a Docker engine, kind, kubectl, helm and the internet; here only its
contract is tested. PATH is arranged so `docker` and `kind` are stubs that record their calls:
with a Docker engine that does not answer, the script must skip (exit 0) before creating
anything, so the `kind` stub must record nothing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.crossplane.conftest import ROOT

SCRIPT = ROOT / "scripts" / "e2e-kind.sh"
SKIP = "SKIP: e2e-kind needs a running Docker engine (docker info failed); nothing was created"


def bash() -> str:
    path = shutil.which("bash")
    assert path is not None
    return path


def e2e(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [bash(), str(SCRIPT), *args],
        capture_output=True,
        text=True,
        check=False,
        env=env,
        timeout=60,
        cwd=ROOT,
    )


@pytest.fixture
def stubbed_path(tmp_path: Path) -> tuple[dict[str, str], Path]:
    """An env whose PATH starts with failing `docker` and recording `kind`/`helm`/`kubectl`."""
    stubs = tmp_path / "bin"
    stubs.mkdir()
    calls = tmp_path / "calls.log"
    (stubs / "docker").write_text(
        f"#!{bash()}\necho \"docker $*\" >> '{calls}'\n"
        "echo 'Cannot connect to the Docker daemon' >&2\nexit 1\n"
    )
    for name in ("kind", "helm", "kubectl"):
        (stubs / name).write_text(f"#!{bash()}\necho \"{name} $*\" >> '{calls}'\nexit 0\n")
    for stub in stubs.iterdir():
        stub.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k != "E2E_REQUIRE_DOCKER"}
    env["PATH"] = f"{stubs}{os.pathsep}{os.environ.get('PATH', '')}"
    return env, calls


def test_syntax() -> None:
    result = subprocess.run(
        [bash(), "-n", str(SCRIPT)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr


def test_help_lists_every_flag_and_the_exit_codes() -> None:
    result = e2e("--help")
    assert result.returncode == 0
    for flag in (
        "--cluster-name",
        "--keep",
        "--crossplane-version",
        "--skip-operators",
        "--timeout",
        "E2E_REQUIRE_DOCKER",
    ):
        assert flag in result.stdout
    assert "Exit codes:" in result.stdout


@pytest.mark.parametrize("args", [("--bogus",), ("--timeout",), ("--cluster-name", "--keep")])
def test_bad_usage_exits_2(args: tuple[str, ...]) -> None:
    result = e2e(*args)
    assert result.returncode == 2
    assert result.stderr.startswith("e2e-kind: ")
    assert "--help" in result.stderr


def test_no_docker_engine_skips_and_creates_nothing(
    stubbed_path: tuple[dict[str, str], Path],
) -> None:
    env, calls = stubbed_path
    result = e2e("--cluster-name", "never", env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == SKIP
    assert calls.read_text().splitlines() == ["docker info"]


def test_no_docker_at_all_skips(tmp_path: Path) -> None:
    env = {"PATH": str(tmp_path), "HOME": str(tmp_path)}
    result = e2e(env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == SKIP


def test_require_docker_turns_the_skip_into_a_failure(
    stubbed_path: tuple[dict[str, str], Path],
) -> None:
    env, calls = stubbed_path
    result = e2e(env={**env, "E2E_REQUIRE_DOCKER": "1"})
    assert result.returncode == 1
    assert "E2E_REQUIRE_DOCKER=1" in result.stderr
    assert calls.read_text().splitlines() == ["docker info"]
