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


BAD_FILES = {
    "truncated.json": '{"apiVersion": ',
    "broken.yaml": "a: [\n",
    "plain.txt": "hello world\n",
    "empty.yaml": "",
    "list.yaml": "- a\n- b\n",
}


def test_validate_refuses_what_is_not_a_manifest(tmp_path: Path) -> None:
    """Each used to exit 0 with "valid"; now non-zero, naming the file and the reason."""
    for name, text in BAD_FILES.items():
        (tmp_path / name).write_text(text)
    cases = [*(tmp_path / n for n in BAD_FILES), tmp_path / "missing.yaml", tmp_path]
    for path in cases:
        result = runner.invoke(app, ["validate", str(path)])
        assert result.exit_code == 1, (path, result.stderr)
        assert f"invalid: {path}: " in result.stderr, result.stderr
        assert "Traceback" not in result.stderr + result.stdout


def test_validate_fails_on_kinds_without_schema_unless_allowed(tmp_path: Path) -> None:
    f = tmp_path / "bar.yaml"
    f.write_text("apiVersion: foo.io/v1\nkind: Bar\nmetadata: {name: x}\n")
    result = runner.invoke(app, ["validate", str(f)])
    assert result.exit_code == 1
    assert "no schema for this kind" in result.stderr
    allowed = runner.invoke(app, ["validate", "--allow-missing-schemas", str(f)])
    assert allowed.exit_code == 0, allowed.stderr


def test_validate_accepts_the_running_observed_statuses() -> None:
    result = runner.invoke(app, ["validate", str(ROOT / "examples/running/observed.yaml")])
    assert result.exit_code == 0, result.stderr


def _minimal(tmp_path: Path, edit) -> Path:
    doc = yaml.safe_load((ROOT / "examples/minimal/xr.yaml").read_text())
    edit(doc)
    xr = tmp_path / "xr.yaml"
    xr.write_text(yaml.safe_dump(doc))
    return xr


def test_render_refuses_a_wrong_kind_like_crossplane(tmp_path: Path) -> None:
    xr = _minimal(tmp_path, lambda d: d.update(kind="XAgnt"))
    result = runner.invoke(app, ["render", str(xr)])
    assert result.exit_code == 1
    assert "compositeTypeRef.kind (XAgent) does not match XR's kind (XAgnt)" in result.stderr
    xr = _minimal(tmp_path, lambda d: d.update(apiVersion="xagent.dev/v2"))
    result = runner.invoke(app, ["render", str(xr)])
    assert result.exit_code == 1
    assert "compositeTypeRef.apiVersion (xagent.dev/v1alpha1) does not match" in result.stderr


def test_render_names_an_unknown_metadata_field(tmp_path: Path) -> None:
    xr = _minimal(
        tmp_path, lambda d: d["metadata"].update(namesapce=d["metadata"].pop("namespace"))
    )
    result = runner.invoke(app, ["render", str(xr)])
    assert result.exit_code == 1
    assert "metadata.namesapce: unknown field" in result.stderr


def test_render_echoes_a_bad_enum_value(tmp_path: Path) -> None:
    xr = _minimal(tmp_path, lambda d: d["spec"]["model"].update(provider="openia"))
    result = runner.invoke(app, ["render", str(xr)])
    assert result.exit_code == 1
    assert "got 'openia'" in result.stderr


def test_render_gives_one_line_for_what_is_not_an_xr(tmp_path: Path) -> None:
    for name, text in BAD_FILES.items():
        path = tmp_path / name
        path.write_text(text)
        result = runner.invoke(app, ["render", str(path)])
        assert result.exit_code == 1, name
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        assert str(path) in lines[0]


def test_xrd_check_works_from_another_directory(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["xrd", "--check"])
    assert result.exit_code == 0, result.stderr
    assert "up to date" in result.stderr
    assert not (tmp_path / "xrds").exists()
