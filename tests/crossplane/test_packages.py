"""scripts/build-packages.sh builds both xpkgs with the real `crossplane xpkg build`.

An xpkg is a `docker save`-style tar: manifest.json, an image config, gzip layers. The layer
labelled ``io.crossplane.xpkg: base`` holds package.yaml, the package's objects as one YAML
stream (crossplane.yaml first); another holds the examples as .up/examples.yaml. The tests
open both.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import shutil
import tarfile
from pathlib import Path

import pytest
import yaml

from function.readiness import CHECKS
from tests.crossplane.conftest import ROOT, run

pytestmark = pytest.mark.crossplane

RBAC = ROOT / "package" / "rbac.yaml"
CRDS = ROOT / "function" / "schemas" / "crds"
VERBS = {"get", "list", "watch", "create", "update", "patch", "delete"}
CORE_PLURALS = {
    "ServiceAccount": "serviceaccounts",
    "ConfigMap": "configmaps",
    "Secret": "secrets",
    "Service": "services",
    "Deployment": "deployments",
    "HorizontalPodAutoscaler": "horizontalpodautoscalers",
    "NetworkPolicy": "networkpolicies",
    "PodDisruptionBudget": "poddisruptionbudgets",
    "CronJob": "cronjobs",
    "Job": "jobs",
}


@pytest.fixture(scope="module")
def packages(crossplane: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Both packages, built once into a temporary output dir."""
    out = tmp_path_factory.mktemp("xpkg")
    env = {**os.environ, "XAGENT_TOOLS_BIN": str(crossplane.parent)}
    result = run(["bash", "scripts/build-packages.sh", "--output", out], env=env)
    assert result.returncode == 0, result.stderr
    paths = [Path(line) for line in result.stdout.split()]
    assert paths == [out / "function-xagent.xpkg", out / "configuration-xagent.xpkg"]
    return {p.stem: p for p in paths}


def contents(xpkg: Path) -> dict[str, list[dict]]:
    """The YAML documents of every file in the xpkg's layers, by file name."""
    out = {}
    with tarfile.open(xpkg) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))[0]
        config = json.load(tar.extractfile(manifest["Config"]))
        base = [k for k, v in config["config"]["Labels"].items() if v == "base"]
        assert base, "no layer is labelled io.crossplane.xpkg: base"
        for layer in manifest["Layers"]:
            data = gzip.decompress(tar.extractfile(layer).read())
            with tarfile.open(fileobj=io.BytesIO(data)) as inner:
                for member in inner.getmembers():
                    if member.isfile() and member.name.endswith(".yaml"):
                        text = inner.extractfile(member).read().decode()
                        out[member.name] = [d for d in yaml.safe_load_all(text) if d]
    return out


def kinds(docs: list[dict]) -> list[tuple[str, str, str]]:
    return [(d["apiVersion"], d["kind"], d["metadata"]["name"]) for d in docs]


def test_function_package(packages: dict[str, Path]) -> None:
    content = contents(packages["function-xagent"])
    assert kinds(content["package.yaml"]) == [
        ("meta.pkg.crossplane.io/v1", "Function", "function-xagent"),
        ("apiextensions.k8s.io/v1", "CustomResourceDefinition", "inputs.fn.xagent.dev"),
    ]
    meta = content["package.yaml"][0]["metadata"]["annotations"]
    for key in ("maintainer", "source", "description", "readme"):
        assert meta.get(f"meta.crossplane.io/{key}"), f"meta.crossplane.io/{key} is empty"
    assert ("xagent.dev/v1alpha1", "XAgent", "support-bot") in kinds(content[".up/examples.yaml"])


def test_configuration_package(packages: dict[str, Path]) -> None:
    docs = contents(packages["configuration-xagent"])["package.yaml"]
    assert kinds(docs[:1]) == [
        ("meta.pkg.crossplane.io/v1", "Configuration", "configuration-xagent"),
    ]
    assert sorted(kinds(docs[1:])) == [
        ("apiextensions.crossplane.io/v1", "Composition", "xagent"),
        ("apiextensions.crossplane.io/v2", "CompositeResourceDefinition", "xagents.xagent.dev"),
    ]
    spec = docs[0]["spec"]
    assert spec["crossplane"]["version"] == ">=v2.0.0"
    assert spec["dependsOn"] == [
        {
            "apiVersion": "pkg.crossplane.io/v1",
            "kind": "Function",
            "package": "ghcr.io/xagent-dev/function-xagent",
            "version": ">=v0.1.0",
        }
    ]
    composition = next(d for d in docs if d["kind"] == "Composition")
    assert composition["spec"]["pipeline"][0]["functionRef"]["name"] == "function-xagent"


def test_packages_are_reproducible(
    packages: dict[str, Path], crossplane: Path, tmp_path: Path
) -> None:
    env = {**os.environ, "XAGENT_TOOLS_BIN": str(crossplane.parent)}
    result = run(["bash", "scripts/build-packages.sh", "--output", tmp_path], env=env)
    assert result.returncode == 0, result.stderr
    for name, path in packages.items():
        assert (tmp_path / f"{name}.xpkg").read_bytes() == path.read_bytes()


def test_configuration_cannot_carry_the_cluster_role(crossplane: Path, tmp_path: Path) -> None:
    """Why package/rbac.yaml ships beside the packages, not in one."""
    root = tmp_path / "root"
    root.mkdir()
    shutil.copy(ROOT / "package" / "configuration" / "crossplane.yaml", root)
    shutil.copy(RBAC, root)
    result = run(
        [
            crossplane,
            "xpkg",
            "build",
            f"--package-root={root}",
            f"--examples-root={tmp_path / 'none'}",
            "-o",
            tmp_path / "x.xpkg",
        ]
    )
    assert result.returncode != 0
    assert 'no kind "ClusterRole" is registered' in result.stderr


def _plurals() -> dict[tuple[str, str], str]:
    out = {}
    for path in CRDS.rglob("*.y*ml"):
        for crd in yaml.safe_load_all(path.read_text()):
            if crd and crd.get("kind") == "CustomResourceDefinition":
                out[(crd["spec"]["group"], crd["spec"]["names"]["kind"])] = crd["spec"]["names"][
                    "plural"
                ]
    return out


def _composed_kinds() -> set[tuple[str, str]]:
    """(apiVersion, kind) of every object the rendered examples compose (the XR aside).

    The examples between them turn every engine and feature on, and the goldens are what the
    builders render, so this is the set of kinds the function composes.
    """
    out = set()
    for path in (ROOT / "tests" / "golden").glob("*.yaml"):
        for obj in yaml.safe_load_all(path.read_text()):
            if obj and obj.get("kind") != "XAgent":
                out.add((obj["apiVersion"], obj["kind"]))
    return out


def test_rbac_grants_exactly_the_composed_kinds() -> None:
    """All verbs on every composed kind, and nothing else (no Secrets, no unused groups);
    read-only access to the pods task mode reads, and nothing else read-only."""
    role, read = yaml.safe_load_all(RBAC.read_text())
    assert read["kind"] == "ClusterRole"
    assert read["metadata"]["labels"]["rbac.crossplane.io/aggregate-to-crossplane"] == "true"
    assert read["rules"] == [
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]}
    ]
    assert role["kind"] == "ClusterRole"
    assert role["metadata"]["labels"]["rbac.crossplane.io/aggregate-to-crossplane"] == "true"
    granted = {
        (group, resource)
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
    }
    assert all(set(rule["verbs"]) == VERBS for rule in role["rules"])
    plurals = _plurals()
    composed = set()
    for api_version, kind in _composed_kinds():
        group = api_version.rpartition("/")[0]
        composed.add((group, plurals.get((group, kind)) or CORE_PLURALS[kind]))
    assert granted == composed
    # Every kind a builder may emit has a readiness check (test_registry); each is composed
    # by some example, except kinds only ever observed.
    observed_only = {("v1", "Secret")} | {
        ("postgresql.sql.crossplane.io/v1alpha1", k) for k in ("Database", "Role")
    }
    assert set(CHECKS) - observed_only == _composed_kinds()


def test_function_dockerfile_shape() -> None:
    """It cannot be built here (no Docker engine); keep its contract in view."""
    text = (ROOT / "package" / "function" / "Dockerfile").read_text()
    stages = [line for line in text.splitlines() if line.startswith("FROM ")]
    assert len(stages) == 2
    assert stages[-1] == "FROM gcr.io/distroless/python3-debian12:nonroot"
    assert "USER nonroot:nonroot" in text
    assert 'ENTRYPOINT ["/venv/fn/bin/xagent", "serve"' in text
    assert "TLS_SERVER_CERTS_DIR" in text
