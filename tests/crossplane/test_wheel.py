"""An installed xagent (a wheel, no checkout) renders, validates and generates like the clone.

The wheel is built offline with the dev extra's hatchling (no build isolation) and installed
with `pip --no-index` into a new venv whose only other path is a .pth line to this venv's
site-packages: its dependencies resolve there, at the same pins, while `function`, `runtime`
and `contract` come from the wheel (a .pth line adds a folder without running the editable
install's own .pth in it). Every command runs from a folder outside the repository, which
holds a copy of examples/ only.

The helm plugin is installed the way scripts/helm-xagent.sh says when it finds no xagent:
a venv in the plugin's folder and `pip install` of that folder (here a copy of the tracked
files, as `helm plugin install <url>` clones them), with no other xagent on PATH.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from tests.crossplane.conftest import ROOT, run, xagent_command

pytestmark = pytest.mark.slow

# pip flags that keep an install from the wheel or a source folder offline.
OFFLINE = ["--no-index", "--no-build-isolation"]
# The Dockerfiles copy these (relative to the root) into the context the wheel is built from.
FORCE_INCLUDED = ("compositions/xagent.yaml",)


def _new_venv(venv: Path) -> Path:
    """A new venv (no pip: the tests' pip installs into it) that sees the tests' deps."""
    made = run([sys.executable, "-m", "venv", "--without-pip", venv])
    assert made.returncode == 0, made.stderr
    return _see_test_deps(venv / "bin" / "python")


def _see_test_deps(python: Path) -> Path:
    """Give a venv this interpreter's site-packages through a .pth line."""
    purelib = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    Path(purelib, "_xagent_test_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return python


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel of this checkout."""
    out = tmp_path_factory.mktemp("wheel")
    built = run([sys.executable, "-m", "pip", "wheel", "--no-deps", *OFFLINE, "-w", out, ROOT])
    assert built.returncode == 0, built.stderr
    (found,) = out.glob("xagent-*.whl")
    return found


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The `xagent` script of a fresh venv that has the wheel installed."""
    python = _new_venv(tmp_path_factory.mktemp("venv") / "v")
    done = run([sys.executable, "-m", "pip", "--python", python, "install", *OFFLINE, wheel])
    assert done.returncode == 0, done.stderr
    where = subprocess.run(
        [python, "-c", "import function; print(function.__file__)"],
        cwd=python.parent,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert not where.startswith(str(ROOT)), f"function imported from the checkout: {where}"
    return python.with_name("xagent")


@pytest.fixture(scope="module")
def elsewhere(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder outside the repository holding a copy of examples/."""
    folder = tmp_path_factory.mktemp("elsewhere")
    shutil.copytree(ROOT / "examples", folder / "examples")
    return folder


RENDERS = {
    "several": [f"examples/{x}/xr.yaml" for x in ("minimal", "model-and-prompt", "full")],
    "observed": ["examples/running/xr.yaml", "-o", "examples/running/observed.yaml", "-x"],
    "required": ["examples/definition-ref/xr.yaml", "-e", "examples/definition-ref/required.yaml"],
}


def test_wheel_carries_what_render_and_validate_read(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        for rel in FORCE_INCLUDED:
            assert z.read(f"function/_data/{rel}") == (ROOT / rel).read_bytes()
    crds = {p.relative_to(ROOT).as_posix() for p in (ROOT / "function/schemas/crds").rglob("*")}
    assert {c for c in crds if "." in Path(c).name} <= names


@pytest.mark.parametrize("args", RENDERS.values(), ids=RENDERS.keys())
def test_render_from_the_wheel_equals_the_clone(
    installed: Path, elsewhere: Path, args: list[str]
) -> None:
    from_wheel = run([installed, "render", *args], cwd=elsewhere)
    from_clone = run([*xagent_command(), "render", *args])
    assert from_wheel.returncode == 0, from_wheel.stderr
    assert from_clone.returncode == 0, from_clone.stderr
    assert from_wheel.stdout == from_clone.stdout


def test_validate_from_the_wheel(installed: Path, elsewhere: Path) -> None:
    """Core kinds (kubernetes-validate) and the vendored CRD kinds, from the wheel."""
    rendered = run([installed, "render", "examples/running/xr.yaml", "-x"], cwd=elsewhere)
    assert rendered.returncode == 0, rendered.stderr
    (elsewhere / "out.yaml").write_text(rendered.stdout)
    assert "kind: Cluster\n" in rendered.stdout  # a CNPG Cluster: a vendored CRD's kind
    checked = run([installed, "validate", "out.yaml", "examples/full/xr.yaml"], cwd=elsewhere)
    assert checked.returncode == 0, checked.stderr
    assert "2 file(s) valid" in checked.stderr


def test_xrd_from_the_wheel_writes_into_a_root(installed: Path, tmp_path: Path) -> None:
    """A wheel has no checkout: xrd says to pass --root, and writes what the clone has."""
    lost = run([installed, "xrd", "--check"], cwd=tmp_path)
    assert lost.returncode == 1
    assert "pass --root" in lost.stderr
    wrote = run([installed, "xrd", "--root", tmp_path / "p"], cwd=tmp_path)
    assert wrote.returncode == 0, wrote.stderr
    for rel in ("xrds/xagent.yaml", "xrds/legacy/xagent.yaml"):
        assert (tmp_path / "p" / rel).read_text() == (ROOT / rel).read_text()


def _install_hint(plugin_dir: Path) -> tuple[str, str]:
    """The two commands scripts/helm-xagent.sh prints when it finds no xagent."""
    empty = plugin_dir.parent / "empty-path"
    empty.mkdir(exist_ok=True)
    said = subprocess.run(
        ["/bin/bash", str(ROOT / "scripts" / "helm-xagent.sh")],
        env={"HELM_PLUGIN_DIR": str(plugin_dir), "PATH": str(empty)},
        capture_output=True,
        text=True,
        check=False,
    )
    (line,) = [ln.strip() for ln in said.stderr.splitlines() if "-m venv" in ln]
    make_venv, pip_install = line.split(" && ")
    return make_venv, pip_install


@pytest.mark.helm
def test_helm_xagent_render_from_a_plugin_installed_as_the_hint_says(
    helm: Path, elsewhere: Path, tmp_path: Path
) -> None:
    source = tmp_path / "xagent"
    # What a clone holds: the tracked files (and new ones not yet committed).
    listed = run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"])
    for rel in filter(None, listed.stdout.split("\0")):
        if (ROOT / rel).is_file():
            (source / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / rel, source / rel)
    # No xagent on PATH: the plugin must use the one the hint installs.
    path = os.pathsep.join(
        d for d in os.environ.get("PATH", "").split(os.pathsep) if not Path(d, "xagent").exists()
    )
    env = {
        **os.environ,
        "PATH": path,
        **{f"HELM_{v}": str(tmp_path / "helm" / v.lower()) for v in ("PLUGINS", "DATA_HOME")},
        "HELM_CONFIG_HOME": str(tmp_path / "helm" / "config"),
        "HELM_CACHE_HOME": str(tmp_path / "helm" / "cache"),
    }
    installed = run([helm, "plugin", "install", source], env=env)
    assert installed.returncode == 0, installed.stderr
    plugin_dir = tmp_path / "helm" / "plugins" / "xagent"
    not_yet = run([helm, "xagent", "render", "examples/minimal/xr.yaml"], env=env, cwd=elsewhere)
    assert not_yet.returncode != 0
    make_venv, pip_install = _install_hint(plugin_dir)
    assert make_venv == f'python3 -m venv "{plugin_dir}/.venv"'
    assert pip_install == f'"{plugin_dir}/.venv/bin/pip" install "{plugin_dir}"'
    # The hint's two commands; the venv sees the tests' dependencies (no index here).
    made = run(["/bin/bash", "-c", make_venv], env=env)
    assert made.returncode == 0, made.stderr
    _see_test_deps(plugin_dir / ".venv" / "bin" / "python")
    done = run(["/bin/bash", "-c", f"{pip_install} {' '.join(OFFLINE)}"], env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    args = ["render", "examples/running/xr.yaml", "-o", "examples/running/observed.yaml"]
    via_helm = run([helm, "xagent", *args], env=env, cwd=elsewhere)
    direct = run([*xagent_command(), *args])
    assert via_helm.returncode == 0, via_helm.stderr
    assert via_helm.stdout == direct.stdout


@pytest.mark.parametrize("dockerfile", ["Dockerfile", "package/function/Dockerfile"])
def test_dockerfiles_copy_what_the_wheel_force_includes(dockerfile: str) -> None:
    """The images build the wheel from a trimmed context: it must hold the packaged files."""
    text = (ROOT / dockerfile).read_text()
    ignore = (ROOT / ".dockerignore").read_text().splitlines()
    for rel in FORCE_INCLUDED:
        assert f"COPY {rel} ./{rel}" in text
        assert f"!{rel}" in ignore
