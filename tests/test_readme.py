"""README's commands, run verbatim where they can run here.

The ```sh blocks are taken from README.md by the heading they sit under, so a README edit that
breaks one fails here. Installs run offline: `pip install`/`pip wheel` get `--no-index
--no-build-isolation`, and a venv a command creates sees the tests' dependencies through a
.pth line (as in tests/crossplane/test_wheel.py); nothing else in a command changes. Not run:
the helm install from GitHub (network), `xagent run` against a model, the kind and cluster
recipes, and the `xagent serve &` recipe (tests/crossplane/test_render_parity.py runs it).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
BIN = str(Path(sys.executable).parent)
_HEADING = re.compile(r"^#{1,6} (.+)$")
_VENV = re.compile(r"^python3 -m venv (\S+) && (.+)$")
_PIP = re.compile(r'(\bpip"?) (install|wheel)\b')


def sh_blocks(heading: str) -> list[str]:
    """The ```sh blocks under ``heading`` (up to the next heading), continuation lines joined."""
    blocks, current, inside = [], None, None
    for line in README.splitlines():
        if inside is not None:
            if line.startswith("```"):
                if current:
                    blocks.append("\n".join(inside).replace("\\\n", ""))
                inside = None
            else:
                inside.append(line)
            continue
        if line.startswith("```sh"):
            inside = []
        elif m := _HEADING.match(line):
            current = m[1].strip() == heading
    assert blocks, f"README.md has no ```sh block under {heading!r}"
    return blocks


def the_block(heading: str, containing: str) -> str:
    (found,) = [b for b in sh_blocks(heading) if containing in b]
    return found


def bash(script: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 300):
    return subprocess.run(
        ["/bin/bash", "-euo", "pipefail", "-c", script],
        cwd=cwd,
        env=env or {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def run_offline(block: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Each line of an install block, with pip offline and new venvs seeing the tests' deps."""
    done = None
    for line in filter(None, (ln.strip() for ln in block.splitlines())):
        if m := _VENV.match(line):
            made = bash(f"python3 -m venv {m[1]}", cwd, env)
            assert made.returncode == 0, made.stderr
            venv = Path(bash(f"cd {m[1]} && pwd", cwd, env).stdout.strip())
            (purelib,) = venv.glob("lib/python3*/site-packages")
            (purelib / "_test_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
            line = m[2]
        done = bash(_PIP.sub(r"\1 \2 --no-index --no-build-isolation", line), cwd, env)
        assert done.returncode == 0, f"{line}\n{done.stderr}"
    assert done is not None
    return done


def clone_copy(dest: Path) -> Path:
    """The tracked files (and new ones not yet committed), as a clone has them."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    for rel in filter(None, listed.stdout.split("\0")):
        if (ROOT / rel).is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / rel, dest / rel)
    return dest


def render_in_clone(*args: str) -> str:
    done = bash(f"xagent render {' '.join(args)}", ROOT)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_xrd_check_from_another_directory() -> None:
    done = bash(the_block("Commands", "xrd --check"), ROOT)
    assert done.returncode == 0, done.stderr
    said = rf"^up to date: \d+ generated files in {re.escape(str(ROOT))}$"
    assert re.search(said, done.stderr, re.M), done.stderr


def test_policy_violation_render_fails_naming_the_field() -> None:
    """README: a policy violation exits non-zero with the message, naming the field path."""
    done = bash(the_block("Commands", "policy-violation"), ROOT)
    assert done.returncode == 1
    assert done.stdout == ""
    said = r"^error: examples/policy-violation/xr.yaml: .*\n- spec\.model\.provider: "
    assert re.search(said, done.stderr, re.S), done.stderr


@pytest.mark.crossplane
def test_crossplane_resource_validate_recipe() -> None:
    from tests.crossplane.conftest import tool

    tools = tool("crossplane").parent
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{tools}{os.pathsep}{os.environ['PATH']}"}
    done = bash(the_block("Commands", "crossplane resource validate"), ROOT, env)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.slow
@pytest.mark.parametrize(
    ("heading", "containing", "renders"),
    [
        ("Quickstart", "xagent render", "examples/minimal/xr.yaml"),
        ("From a wheel", "pip wheel", "examples/minimal/xr.yaml"),
    ],
    ids=["quickstart", "wheel"],
)
def test_install_and_render(tmp_path: Path, heading: str, containing: str, renders: str) -> None:
    """In a copy of the clone, HOME a fresh folder: the block installs and renders."""
    clone = clone_copy(tmp_path / "xagent")
    home = tmp_path / "home"
    home.mkdir()
    env = {
        **os.environ,
        "HOME": str(home),
        "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
    }
    done = run_offline(the_block(heading, containing), clone, env)
    assert done.stdout == render_in_clone(renders)
