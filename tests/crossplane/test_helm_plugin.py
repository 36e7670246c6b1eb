"""`helm plugin install <repo>` gives `helm xagent`, the same CLI as `xagent`.

helm runs in throwaway HELM_PLUGINS / HELM_DATA_HOME / HELM_CONFIG_HOME / HELM_CACHE_HOME
folders, with the tests' own `xagent` first on PATH. Installing a local directory makes a
symlink to it and runs nothing (plugin.yaml has no hooks), so no network is needed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.crossplane.conftest import ROOT, run, xagent_command

pytestmark = pytest.mark.helm


@pytest.fixture(scope="module")
def helm_env(helm: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Env of a helm with the plugin installed from this repository."""
    home = tmp_path_factory.mktemp("helm")
    xagent_dir = str(Path(xagent_command()[0]).parent)
    env = {
        **os.environ,
        "HELM_PLUGINS": str(home / "plugins"),
        "HELM_DATA_HOME": str(home / "data"),
        "HELM_CONFIG_HOME": str(home / "config"),
        "HELM_CACHE_HOME": str(home / "cache"),
        "PATH": f"{xagent_dir}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    installed = run([helm, "plugin", "install", ROOT], env=env)
    assert installed.returncode == 0, installed.stderr
    assert "Installed plugin: xagent" in installed.stdout
    return env


def test_plugin_is_listed(helm: Path, helm_env: dict[str, str]) -> None:
    listed = run([helm, "plugin", "list"], env=helm_env)
    assert listed.returncode == 0, listed.stderr
    assert any(line.split()[:2] == ["xagent", "0.1.0"] for line in listed.stdout.splitlines())


def test_helm_xagent_render_equals_xagent_render(helm: Path, helm_env: dict[str, str]) -> None:
    args = ["render", "examples/minimal/xr.yaml"]
    via_helm = run([helm, "xagent", *args], env=helm_env)
    direct = run([*xagent_command(), *args])
    assert via_helm.returncode == 0, via_helm.stderr
    assert direct.returncode == 0, direct.stderr
    assert via_helm.stdout == direct.stdout
    assert yaml.safe_load(via_helm.stdout.split("---\n")[1])["kind"] == "XAgent"


def test_helm_xagent_passes_flags_through(helm: Path, helm_env: dict[str, str]) -> None:
    """Plugin flags reach xagent; helm's own global flags (-n) do not."""
    args = ["render", "examples/running/xr.yaml", "-o", "examples/running/observed.yaml", "-x"]
    via_helm = run([helm, "xagent", *args, "-n", "elsewhere"], env=helm_env)
    direct = run([*xagent_command(), *args])
    assert via_helm.returncode == 0, via_helm.stderr
    assert via_helm.stdout == direct.stdout


def test_helm_xagent_validate_fails_on_a_bad_file(
    helm: Path, helm_env: dict[str, str], tmp_path: Path
) -> None:
    bad = tmp_path / "bad.yaml"
    xr = yaml.safe_load((ROOT / "examples" / "minimal" / "xr.yaml").read_text())
    xr["spec"]["model"]["provider"] = "skynet"
    bad.write_text(yaml.safe_dump(xr))
    result = run([helm, "xagent", "validate", bad], env=helm_env)
    assert result.returncode != 0
    assert "spec.model.provider" in result.stderr
    good = run([helm, "xagent", "validate", "examples/minimal/xr.yaml"], env=helm_env)
    assert good.returncode == 0, good.stderr


def test_helm_xagent_xrd(helm: Path, helm_env: dict[str, str]) -> None:
    result = run([helm, "xagent", "xrd", "--help"], env=helm_env)
    assert result.returncode == 0, result.stderr
    assert "--check" in result.stdout


def test_plugin_has_no_hooks() -> None:
    plugin = yaml.safe_load((ROOT / "plugin.yaml").read_text())
    assert not {"hooks", "platformHooks", "downloaders"} & set(plugin)


def test_wrapper_says_how_to_install_xagent(tmp_path: Path) -> None:
    """No xagent in $HELM_PLUGIN_DIR/.venv/bin nor on PATH: a clear message, exit 127."""
    bash = shutil.which("bash")
    assert bash is not None
    empty = tmp_path / "empty"
    empty.mkdir()
    result = subprocess.run(
        [bash, str(ROOT / "scripts" / "helm-xagent.sh"), "render", "xr.yaml"],
        env={"HELM_PLUGIN_DIR": str(tmp_path / "plugin"), "PATH": str(empty)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 127
    assert "the xagent CLI is not installed" in result.stderr
    assert f'python3 -m venv "{tmp_path / "plugin"}/.venv"' in result.stderr
