"""The `xagent` command line: render, validate and xrd, through typer's runner."""

from __future__ import annotations

from pathlib import Path

import yaml
from typer.testing import CliRunner

from function.main import app

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


def test_render_prints_xr_then_resources() -> None:
    result = runner.invoke(app, ["render", str(ROOT / "examples/minimal/xr.yaml")])
    assert result.exit_code == 0, result.stderr
    docs = list(yaml.safe_load_all(result.stdout))
    assert docs[0]["kind"] == "XAgent"
    keys = [
        d["metadata"]["annotations"]["crossplane.io/composition-resource-name"] for d in docs[1:]
    ]
    assert keys == sorted(keys)
    assert "deployment" in keys


def test_render_include_full_xr_keeps_spec() -> None:
    result = runner.invoke(app, ["render", str(ROOT / "examples/minimal/xr.yaml"), "-x"])
    assert result.exit_code == 0
    xr = next(yaml.safe_load_all(result.stdout))
    assert xr["spec"]["tenantId"] == "acme"


def test_render_fatal_exits_nonzero_with_field_path(tmp_path: Path) -> None:
    bad = yaml.safe_load((ROOT / "examples/minimal/xr.yaml").read_text())
    bad["spec"]["scaling"] = {"minReplicas": 5, "maxReplicas": 2}
    xr = tmp_path / "xr.yaml"
    xr.write_text(yaml.safe_dump(bad))
    result = runner.invoke(app, ["render", str(xr)])
    assert result.exit_code == 1
    assert result.stdout == ""
    assert "spec.scaling: minReplicas must not exceed maxReplicas" in result.stderr


def test_render_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["render", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 1
    assert "nope.yaml" in result.stderr


def test_validate_accepts_examples() -> None:
    files = [str(p) for p in sorted(ROOT.glob("examples/*/xr.yaml"))]
    result = runner.invoke(app, ["validate", *files])
    assert result.exit_code == 0, result.stderr


def test_validate_names_field_path_of_bad_manifest(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\n"
        "spec:\n  replicas: many\n  selector: {}\n  template: {}\n"
        "---\n"
        "apiVersion: xagent.dev/v1alpha1\nkind: XAgent\nmetadata: {name: y}\n"
        "spec: {tenantId: t, model: {provider: openai, name: m}, riskTier: extreme,\n"
        "       definition: {nodes: [{type: orchestrator, name: main}]}}\n"
    )
    result = runner.invoke(app, ["validate", str(bad)])
    assert result.exit_code == 1
    assert "Deployment/x: spec.replicas: 'many' is not of type 'integer'" in result.stderr
    assert "XAgent/y: spec.riskTier: 'extreme' is not one of" in result.stderr


def test_xrd_check_passes_on_committed_tree() -> None:
    result = runner.invoke(app, ["xrd", "--check", "--root", str(ROOT)])
    assert result.exit_code == 0, result.stderr


def test_xrd_check_fails_on_drift(tmp_path: Path) -> None:
    (tmp_path / "xrds").mkdir()
    (tmp_path / "xrds/xagent.yaml").write_text("stale\n")
    result = runner.invoke(app, ["xrd", "--check", "--root", str(tmp_path)])
    assert result.exit_code == 1
    assert "xrds/xagent.yaml" in result.stderr
