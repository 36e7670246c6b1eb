"""Every example renders to its golden file, and every rendered manifest is schema-valid.

Set XAGENT_UPDATE_GOLDEN=1 to rewrite the goldens, then review the diff.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from function.render import DEFAULT_COMPOSITION, RenderError, render_files
from function.validate import validate_documents
from tests import kubeconform

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
GOLDEN = ROOT / "tests" / "golden"
SCENARIOS = sorted(p.parent.name for p in EXAMPLES.glob("*/xr.yaml"))
FAILING = {
    "policy-violation": [
        "spec.model.provider: provider 'openai' is not allowed for tenant 'globex'",
        "spec.tools.allowed[0]: tool 'develop_in_container' needs riskTier high",
    ]
}


def render_example(name: str) -> str:
    folder = EXAMPLES / name
    optional = {
        "composition": folder / "composition.yaml",
        "observed": folder / "observed.yaml",
        "required": folder / "required.yaml",
    }
    kwargs = {k: p for k, p in optional.items() if p.exists()}
    kwargs.setdefault("composition", DEFAULT_COMPOSITION)
    return render_files(folder / "xr.yaml", **kwargs)


@pytest.mark.parametrize("name", [s for s in SCENARIOS if s not in FAILING])
def test_example_matches_golden(name: str) -> None:
    out = render_example(name)
    golden = GOLDEN / f"{name}.yaml"
    if os.environ.get("XAGENT_UPDATE_GOLDEN"):
        golden.write_text(out)
    assert golden.exists(), f"no golden for {name}: run with XAGENT_UPDATE_GOLDEN=1"
    assert out == golden.read_text()


@pytest.mark.parametrize("name", [s for s in SCENARIOS if s not in FAILING])
def test_golden_manifests_are_schema_valid(name: str) -> None:
    """Goldens are checked against Kubernetes and the vendored CRDs, not only compared."""
    docs = list(yaml.safe_load_all((GOLDEN / f"{name}.yaml").read_text()))
    # The XR is printed with its status only; validate it with the example's spec.
    docs[0]["spec"] = yaml.safe_load((EXAMPLES / name / "xr.yaml").read_text())["spec"]
    labelled = [(f"{d['kind']}/{d['metadata']['name']}", d) for d in docs]
    report = validate_documents(labelled)
    assert report.errors == []
    assert report.skipped == [], "every composed kind needs a schema"


def test_goldens_pass_kubeconform() -> None:
    """kubeconform -strict, an independent validator, accepts every composed manifest.

    One process for every golden; the XR (first document) is not a composed manifest.
    """
    kubeconform.assert_conform(
        (f"{name}: {d['kind']}/{d['metadata']['name']}", d)
        for name in SCENARIOS
        if name not in FAILING
        for d in list(yaml.safe_load_all((GOLDEN / f"{name}.yaml").read_text()))[1:]
    )


@pytest.mark.parametrize("name", sorted(FAILING))
def test_failing_example_names_rule(name: str) -> None:
    with pytest.raises(RenderError) as err:
        render_example(name)
    for fragment in FAILING[name]:
        assert fragment in str(err.value)


def test_render_lists_policy_violations_one_per_line() -> None:
    with pytest.raises(RenderError) as err:
        render_example("policy-violation")
    assert str(err.value).splitlines() == [
        "policy violation:",
        "- spec.model.provider: provider 'openai' is not allowed for tenant 'globex' "
        "(policy rule tenants[0] (tenantId globex))",
        "- spec.model.name: model 'gpt-4o' is not allowed for tenant 'globex' "
        "(policy rule tenants[0] (tenantId globex))",
        "- spec.tools.allowed[0]: tool 'develop_in_container' needs riskTier high, the agent has "
        "low (policy rule tools[0] (tool develop_in_container, minimumRiskTier high))",
        "- spec.tools.allowed[0]: tool 'develop_in_container' needs riskTier medium, the agent "
        "has low (policy rule tools[1] (tool *, minimumRiskTier medium))",
    ]


def test_every_example_has_a_readme_or_comment() -> None:
    for name in SCENARIOS:
        text = (EXAMPLES / name / "xr.yaml").read_text()
        assert text.startswith("#"), f"examples/{name}/xr.yaml should say what it shows"


@pytest.mark.parametrize("name", SCENARIOS)
def test_example_xr_is_valid(name: str) -> None:
    docs = [(name, yaml.safe_load((EXAMPLES / name / "xr.yaml").read_text()))]
    assert validate_documents(docs).errors == []
