"""kubeconform -strict as an independent check of rendered manifests, many per process.

The binary and the Kubernetes OpenAPI it is checked against come from scripts/build-tools.sh
(``kubeconform`` and ``kubernetes-openapi-<KUBE_VERSION>/`` in its pinned cache folder); the
schemas are generated from them and the vendored CRDs by tests/kubeconform_schemas.py and
cached under ~/.cache/xagent/tools/kubeconform-schemas/. Without the binary the checks skip,
except under ``CI=true``, where they fail (tests.crossplane.conftest.unavailable).

``check(manifests)`` writes each manifest to its own file and runs one kubeconform over all of
them, so a few hundred fuzz successes cost one process, not hundreds. ``record(manifests)``
adds manifests a test asserted valid to the session's batch, which tests/conftest.py checks
in one run when the session ends.
"""

from __future__ import annotations

import functools
import json
import os
import re
import subprocess
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from function import _goyaml as goyaml
from tests import kubeconform_schemas
from tests.crossplane.conftest import TOOLS_CACHE, find_tool, unavailable

ROOT = Path(__file__).resolve().parents[1]
SCHEMA_CACHE = TOOLS_CACHE / "kubeconform-schemas"
RECORDED: dict[str, tuple[str, dict[str, Any]]] = {}
"""Manifests tests asserted valid, by their JSON (each distinct one is checked once)."""


@functools.cache
def kube_version() -> str:
    """The Kubernetes version scripts/build-tools.sh pins (its one source)."""
    text = (ROOT / "scripts" / "build-tools.sh").read_text()
    match = re.search(r'^KUBE_VERSION="\$\{KUBE_VERSION:-(v[0-9.]+)\}"', text, re.M)
    assert match, "KUBE_VERSION pin not found in scripts/build-tools.sh"
    return match.group(1)


@functools.cache
def _tool() -> tuple[Path, Path] | str:
    """(binary, schema dir), or why they are unavailable."""
    binary = find_tool("kubeconform")
    if binary is None:
        return "kubeconform not found: run `bash scripts/build-tools.sh` (cold: about 2 min)"
    openapi = binary.resolve().parent / f"kubernetes-openapi-{kube_version()}"
    if not (openapi / ".complete").exists():
        return f"{openapi} missing: run `bash scripts/build-tools.sh`"
    return binary, kubeconform_schemas.cached(openapi, SCHEMA_CACHE)


def available() -> bool:
    """Whether check() can run here."""
    return not isinstance(_tool(), str)


def require() -> tuple[Path, Path]:
    """(binary, schema dir); skips the test (fails it under CI=true) when unavailable."""
    found = _tool()
    if isinstance(found, str):
        unavailable(found)
    return found


def check(manifests: Iterable[tuple[str, dict[str, Any]]]) -> dict[str, list[str]]:
    """label -> kubeconform's errors, for each (label, manifest) it does not accept."""
    binary, schemas = require()
    labelled = list(manifests)
    if not labelled:
        return {}
    with tempfile.TemporaryDirectory(prefix="kubeconform-") as tmp:
        files: dict[str, str] = {}
        for i, (label, manifest) in enumerate(labelled):
            path = Path(tmp) / f"{i:06d}.yaml"
            # As `xagent render` prints it, which is what go-yaml reads back: PyYAML's own
            # dumper leaves "1e-05" plain, which go-yaml reads as a number. Through JSON
            # first, so str enums are plain str.
            path.write_text(goyaml.dump(json.loads(json.dumps(manifest))))
            files[str(path)] = label
        run = subprocess.run(
            [
                str(binary),
                "-strict",
                "-summary",
                "-output",
                "json",
                "-schema-location",
                str(schemas / kubeconform_schemas.LOCATION),
                tmp,
            ],
            capture_output=True,
            text=True,
            timeout=600,
        )
    try:
        report = json.loads(run.stdout)
    except json.JSONDecodeError:
        raise AssertionError(f"kubeconform said: {run.stdout}{run.stderr}") from None
    found: dict[str, list[str]] = {}
    for result in report.get("resources") or []:
        if result.get("status") == "statusValid":
            continue
        label = files.get(result.get("filename", ""), result.get("filename", "?"))
        details = [f"{e['path']}: {e['msg']}" for e in result.get("validationErrors") or []]
        found.setdefault(label, []).extend(details or [result.get("msg", result["status"])])
    summary = report.get("summary") or {}
    if run.returncode and not found:
        raise AssertionError(f"kubeconform exited {run.returncode}: {run.stdout}{run.stderr}")
    if summary.get("valid", 0) + sum(map(len, found.values())) == 0:
        raise AssertionError(f"kubeconform checked nothing: {run.stdout}{run.stderr}")
    return found


def assert_conform(manifests: Iterable[tuple[str, dict[str, Any]]]) -> None:
    """Fail with every error kubeconform finds in ``manifests``."""
    found = check(manifests)
    assert not found, "kubeconform -strict rejects:\n" + "\n".join(
        f"  {label}: {err}" for label, errs in found.items() for err in errs
    )


def record(manifests: Iterable[tuple[str, dict[str, Any]]]) -> None:
    """Add (label, manifest) pairs to the session's batch, labelled with the current test."""
    test = os.environ.get("PYTEST_CURRENT_TEST", "?").rsplit(" ", 1)[0]
    for label, manifest in manifests:
        text = json.dumps(manifest, sort_keys=True)  # a copy: the test may change it later
        RECORDED.setdefault(text, (f"{test}: {label}", json.loads(text)))
