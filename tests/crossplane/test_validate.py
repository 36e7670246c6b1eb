"""Offline validation with the real CLI: `crossplane resource validate` (v2.5's name for
`crossplane beta validate`).

Every call runs with its own empty --cache-dir and `--crossplane-image=` (without it the CLI
downloads Crossplane's own schemas), and with --error-on-missing-schemas, so a kind nobody
has a schema for fails instead of passing with a warning. The cache dir must stay empty: no
download happened.

What the CLI checks: XRD-derived CRDs and the vendored CRDs (function/schemas/crds/) with
full OpenAPI and CEL validation. Core kinds (Deployment, Service, ConfigMap, ...) need no
schema files: it decodes them strictly into client-go's built-in types, which catches
unknown fields and wrong types (only the first error) but not missing required fields or
semantic rules. `xagent validate` covers core kinds more fully with the Kubernetes JSON
schemas (kubernetes-validate); test_invalid_manifests_are_rejected checks both agree.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError
from typer.testing import CliRunner

from function.k8s_types import ONE_ENV_SOURCE
from function.main import app
from function.spec import XAgentSpec
from tests.crossplane.conftest import ROOT, run

pytestmark = pytest.mark.crossplane

CRDS = ROOT / "function" / "schemas" / "crds"
XRD = ROOT / "xrds" / "xagent.yaml"
LEGACY_XRD = ROOT / "xrds" / "legacy" / "xagent.yaml"
INPUT_CRD = ROOT / "package" / "function" / "input" / "fn.xagent.dev_inputs.yaml"
EXAMPLES = ROOT / "examples"
DATA = Path(__file__).parent / "validate"
FAILING_EXAMPLES = {"policy-violation"}


def validate(
    crossplane: Path, extensions: list[Path], resources: list[Path], cache: Path
) -> tuple[int, str]:
    """Run `crossplane resource validate`; its exit code and stdout+stderr."""
    result = run(
        [
            crossplane,
            "resource",
            "validate",
            ",".join(map(str, extensions)),
            ",".join(map(str, resources)),
            "--cache-dir",
            cache,
            "--crossplane-image=",
            "--error-on-missing-schemas",
        ]
    )
    downloaded = sorted(cache.rglob("*")) if cache.exists() else []
    assert downloaded == [], f"validate downloaded into its cache: {downloaded}"
    return result.returncode, result.stdout + result.stderr


def summary(output: str) -> str:
    """The CLI's last `Total N resources: ...` line."""
    return next(line for line in reversed(output.splitlines()) if line.startswith("Total "))


def test_xrds_and_compositions_are_valid(crossplane: Path, tmp_path: Path) -> None:
    """Against Crossplane's own XRD and Composition CRDs; each step input against ours."""
    compositions = [
        ROOT / "compositions" / "xagent.yaml",
        *sorted(EXAMPLES.glob("*/composition.yaml")),
    ]
    code, out = validate(
        crossplane,
        [CRDS / "crossplane", INPUT_CRD],
        [XRD, LEGACY_XRD, *compositions],
        tmp_path / "cache",
    )
    assert code == 0, out
    # Two XRDs, and each Composition with its step input.
    n = 2 + 2 * len(compositions)
    assert summary(out) == (
        f"Total {n} resources: 0 missing schemas, {n} success cases, 0 failure cases"
    )


@pytest.mark.parametrize(
    ("xrd", "claims"),
    [
        (XRD, []),
        (LEGACY_XRD, [DATA / "agent-claim.yaml"]),
    ],
    ids=["v2", "legacy"],
)
def test_example_xrs_are_valid_against_the_xrd(
    crossplane: Path, tmp_path: Path, xrd: Path, claims: list[Path]
) -> None:
    xrs = sorted(EXAMPLES.glob("*/xr.yaml"))
    code, out = validate(crossplane, [xrd], [*xrs, *claims], tmp_path / "cache")
    assert code == 0, out
    n = len(xrs) + len(claims)
    assert (
        summary(out) == f"Total {n} resources: 0 missing schemas, {n} success cases, "
        "0 failure cases"
    )


@pytest.mark.parametrize(
    "name",
    sorted(
        p.parent.name for p in EXAMPLES.glob("*/xr.yaml") if p.parent.name not in FAILING_EXAMPLES
    ),
)
def test_rendered_examples_are_valid(crossplane: Path, tmp_path: Path, name: str) -> None:
    """The full rendered stream (-x: the XR with its spec) against the XRD and the CRDs."""
    folder = EXAMPLES / name
    args = ["render", str(folder / "xr.yaml"), "--include-full-xr"]
    for flag, file in (("-o", "observed.yaml"), ("-e", "required.yaml")):
        if (folder / file).exists():
            args += [flag, str(folder / file)]
    rendered = CliRunner().invoke(app, args)
    assert rendered.exit_code == 0, rendered.stderr
    out_file = tmp_path / f"{name}.yaml"
    out_file.write_text(rendered.stdout)
    code, out = validate(crossplane, [CRDS, XRD], [out_file], tmp_path / "cache")
    assert code == 0, out
    n = rendered.stdout.count("\n---\n") + 1
    assert (
        summary(out) == f"Total {n} resources: 0 missing schemas, {n} success cases, "
        "0 failure cases"
    )
    core = "Kind=Job" if name == "task" else "Kind=Deployment"  # task mode runs a Job
    assert core in out, "core kinds are checked too"


def test_invalid_manifests_are_rejected(crossplane: Path, tmp_path: Path) -> None:
    """A bad enum and a CEL rule from the XRD, an unknown field in a core kind."""
    invalid = DATA / "invalid.yaml"
    code, out = validate(crossplane, [XRD], [invalid], tmp_path / "cache")
    assert code == 1
    assert "could not validate all resources" in out
    assert summary(out) == "Total 3 resources: 0 missing schemas, 0 success cases, 3 failure cases"
    assert 'bad-enum : spec.model.provider: Unsupported value: "skynet"' in out
    assert "CEL validation error" in out
    assert "bad-cel : spec.scaling: Invalid value: minReplicas must not exceed maxReplicas" in out
    assert 'bad-core : unknown field "spec.template.spec.containers[0].notAField"' in out
    # xagent validate rejects the same three, naming the same fields.
    ours = CliRunner().invoke(app, ["validate", str(invalid)])
    assert ours.exit_code == 1
    for fragment in (
        "XAgent/bad-enum: spec.model.provider:",
        "XAgent/bad-cel: spec.scaling: minReplicas must not exceed maxReplicas",
        "Deployment/bad-core: spec.template.spec.containers[0]: unknown field",
    ):
        assert fragment in ours.stderr


ENV_RULES = {
    "env-value-and-source": "spec.env[0]: Invalid value: set value or valueFrom, not both",
    "env-empty-source": f"spec.env[0].valueFrom: Invalid value: {ONE_ENV_SOURCE}",
    "env-two-sources": f"spec.env[0].valueFrom: Invalid value: {ONE_ENV_SOURCE}",
    "envfrom-no-source": "spec.envFrom[0]: Invalid value: set exactly one of configMapRef or "
    "secretRef",
    "envfrom-two-sources": "spec.envFrom[0]: Invalid value: set exactly one of configMapRef or "
    "secretRef",
}


def _refused_by_the_xrd_as_by_the_function(
    crossplane: Path, tmp_path: Path, stem: str, rules: dict[str, tuple[str, str]]
) -> None:
    """``<stem>.yaml`` holds one XAgent per rule name: crossplane's validation (the XRD's
    CEL rules) prints the rule's line for it and the function's model raises with the rule's
    fragment; every XAgent of ``<stem>-ok.yaml`` passes both."""
    bad = DATA / f"{stem}.yaml"
    code, out = validate(crossplane, [XRD], [bad], tmp_path / "cache")
    assert code == 1
    n = len(rules)
    assert (
        summary(out)
        == f"Total {n} resources: 0 missing schemas, 0 success cases, {n} failure cases"
    )
    for name, (line, fragment) in rules.items():
        assert f"{name} : {line}" in out, (name, out)
        spec = next(d for d in yaml.safe_load_all(bad.read_text()) if d["metadata"]["name"] == name)
        with pytest.raises(ValidationError) as err:
            XAgentSpec.model_validate(spec["spec"])
        assert fragment in str(err.value), name
    good = DATA / f"{stem}-ok.yaml"
    code, out = validate(crossplane, [XRD], [good], tmp_path / "cache-ok")
    assert code == 0, out
    XAgentSpec.model_validate(yaml.safe_load(good.read_text())["spec"])


def test_env_sources_are_refused_by_the_xrd_as_by_the_function(
    crossplane: Path, tmp_path: Path
) -> None:
    """The XRD's CEL rules refuse each env/envFrom the function refuses, with its message."""
    rules = {name: (line, line.split("Invalid value: ")[1]) for name, line in ENV_RULES.items()}
    _refused_by_the_xrd_as_by_the_function(crossplane, tmp_path, "env-sources", rules)


TASK_RULES = {
    "task-mode-without-task": ("task: set task exactly when mode is task", "task: set task"),
    "task-without-mode": ("task: set task exactly when mode is task", "task: set task"),
    "task-with-service-mode": ("task: set task exactly when mode is task", "task: set task"),
    "task-with-schedules": (
        "triggers: not with mode task (nothing reads the queue)",
        "triggers.schedules: not with mode task",
    ),
    "task-with-subjects": (
        "triggers: not with mode task (nothing reads the queue)",
        "triggers.subjects: not with mode task",
    ),
    "task-with-approvals": (
        "approvals: not with mode task (a task serves no API to decide on)",
        "approvals: not with mode task",
    ),
}


def test_task_mode_is_refused_by_the_xrd_as_by_the_function(
    crossplane: Path, tmp_path: Path
) -> None:
    """spec.mode and spec.task: the XRD's CEL rules refuse what the function refuses."""
    rules = {n: (f"spec: Invalid value: {cel}", frag) for n, (cel, frag) in TASK_RULES.items()}
    _refused_by_the_xrd_as_by_the_function(crossplane, tmp_path, "task-mode", rules)
