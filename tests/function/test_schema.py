"""The XRDs, the input CRD and README's reference are generated from the model, never edited."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from function.input import FunctionInput
from function.schema import (
    README,
    generated_files,
    input_crd,
    readme_with_reference,
    structural_schema,
    walk_fields,
    xrd_legacy,
    xrd_v2,
)
from function.spec import XAgentSpec
from function.validate import validate_manifest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("rel", sorted(generated_files()))
def test_committed_artifact_matches_model(rel: str) -> None:
    committed = (ROOT / rel).read_text()
    assert committed == generated_files()[rel], f"{rel} drifted from the model: run `xagent xrd`"


def test_readme_reference_matches_model() -> None:
    readme = (ROOT / README).read_text()
    assert readme == readme_with_reference(readme), "README API reference is stale: `xagent xrd`"


def _walk(node: Any, path: str = "$"):
    if isinstance(node, dict):
        yield path, node
        for key, value in node.items():
            yield from _walk(value, f"{path}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _walk(value, f"{path}[{i}]")


@pytest.mark.parametrize("model", [XAgentSpec, FunctionInput], ids=lambda m: m.__name__)
def test_schema_is_structural(model: type) -> None:
    """Kubernetes rejects $ref, anyOf-with-null, additionalProperties false, untyped nodes."""
    schema = structural_schema(model)
    problems = []
    for path, node in _walk(schema):
        if path.endswith(".properties") or path.endswith(".default"):
            continue
        if ".default" in path or ".x-kubernetes-validations" in path:
            continue
        for bad in ("$ref", "anyOf", "oneOf", "allOf", "$defs", "title"):
            if bad in node:
                problems.append(f"{path}: {bad}")
        if node.get("additionalProperties") is False:
            problems.append(f"{path}: additionalProperties false")
        if "type" not in node and not node.get("x-kubernetes-preserve-unknown-fields"):
            problems.append(f"{path}: no type")
    assert problems == []


def test_every_spec_field_is_in_the_schema() -> None:
    schema = structural_schema(XAgentSpec)
    for field in XAgentSpec.model_fields.values():
        assert field.alias in schema["properties"]


@pytest.mark.parametrize(
    ("model_name", "rule_fragment"),
    [
        ("definitionRef", "!(has(self.definition) && has(self.definitionRef))"),
        ("model", "has(self.endpoint)"),
        ("scaling", "self.minReplicas <= self.maxReplicas"),
        ("env", "!has(self.valueFrom) || !has(self.value) || self.value == ''"),
        ("env valueFrom", ".filter(set, set).size() == 1"),
        ("envFrom", "has(self.configMapRef) != has(self.secretRef)"),
    ],
)
def test_cross_field_rules_are_cel(model_name: str, rule_fragment: str) -> None:
    """What pydantic validators check, the API server checks with CEL."""
    rules = [
        node["x-kubernetes-validations"]
        for _, node in _walk(xrd_v2())
        if "x-kubernetes-validations" in node
    ]
    assert any(rule_fragment in r["rule"] for group in rules for r in group), model_name


@pytest.mark.parametrize("xrd", [xrd_v2(), xrd_legacy()], ids=["v2", "legacy"])
def test_xrd_is_valid_against_crossplane_crd(xrd: dict[str, Any]) -> None:
    assert validate_manifest(xrd) == []


def test_xrd_shapes() -> None:
    v2, legacy = xrd_v2(), xrd_legacy()
    assert v2["apiVersion"] == "apiextensions.crossplane.io/v2"
    assert v2["spec"]["scope"] == "Namespaced"
    assert "claimNames" not in v2["spec"]
    assert legacy["apiVersion"] == "apiextensions.crossplane.io/v1"
    assert legacy["spec"]["claimNames"]["kind"] == "Agent"
    for xrd in (v2, legacy):
        assert xrd["spec"]["group"] == "xagent.dev"
        assert xrd["spec"]["names"]["kind"] == "XAgent"
        assert [v["name"] for v in xrd["spec"]["versions"]] == ["v1alpha1"]


def test_status_fields_are_in_schema() -> None:
    status = xrd_v2()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["status"]
    for field in ("phase", "serviceEndpoint", "resolvedModel", "queueSubject"):
        assert field in status["properties"]


@pytest.mark.parametrize(
    "path", sorted(ROOT.glob("**/composition*.yaml")), ids=lambda p: str(p.relative_to(ROOT))
)
def test_composition_inputs_parse(path: Path) -> None:
    """Every Composition we ship is valid and its step input is a valid Input."""
    if ".venv" in path.parts:
        pytest.skip("not ours")
    comp = yaml.safe_load(path.read_text())
    assert validate_manifest(comp) == []
    for step in comp["spec"]["pipeline"]:
        FunctionInput.model_validate(step["input"])


def test_input_crd_names() -> None:
    crd = input_crd()
    assert crd["metadata"]["name"] == "inputs.fn.xagent.dev"
    props = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]
    assert "policy" in props


def test_every_spec_field_is_described() -> None:
    """The generated reference and `kubectl explain` need a description for every field."""
    missing = [
        path
        for path, node, _ in walk_fields(structural_schema(XAgentSpec), "spec")
        if not node.get("description")
    ]
    assert missing == []


@pytest.mark.parametrize(
    ("tag", "valid"),
    [("v1.2_3", True), ("a" * 128, True), ("vé1", False), ("v٣", False), ("-x", False)],
)
def test_image_tag_is_read_as_the_api_server_reads_it(tag: str, valid: bool) -> None:
    """The XRD's RE2 reads \\w as ASCII; the function must not admit more (vé1) than it."""
    spec = {
        "tenantId": "t1",
        "model": {"provider": "openai", "name": "gpt-4o"},
        "image": {"tag": tag},
    }
    if valid:
        assert XAgentSpec.model_validate(spec).image.tag == tag
    else:
        with pytest.raises(ValidationError, match="should match pattern"):
            XAgentSpec.model_validate(spec)
