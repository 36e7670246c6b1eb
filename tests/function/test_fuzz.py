"""Property-based tests of RunFunction with XAgent specs generated from the XRD's own schema.

Valid specs (every constraint the XRD states) and mutated ones (a value swapped for a wrong
type, null, huge number, long or odd string) go through RunFunction. Properties:

- it never raises and never answers ``internal error``;
- every Fatal names a field path;
- every composed manifest validates against the Kubernetes and CRD schemas and fits the
  operators' name limits (tests/function/name_limits.py);
- kubeconform -strict accepts every composed manifest of every success (one process for the
  whole run, after the examples: tests/kubeconform.py).

Profiles: ``ci`` (default, a few hundred examples) and ``long`` (10,000):
``XAGENT_HYPOTHESIS_PROFILE=long pytest tests/function/test_fuzz.py``.
"""

from __future__ import annotations

import asyncio
import os
import re
from pathlib import Path
from typing import Any

import yaml
from crossplane.function import resource
from crossplane.function.proto.v1 import run_function_pb2 as fnv1
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from function.fn import FunctionRunner
from function.validate import validate_manifest
from tests import kubeconform
from tests.function.name_limits import name_problems

settings.register_profile(
    "ci", max_examples=150, deadline=None, suppress_health_check=list(HealthCheck)
)
settings.register_profile(
    "long", max_examples=10_000, deadline=None, suppress_health_check=list(HealthCheck)
)
PROFILE = settings.get_profile(os.environ.get("XAGENT_HYPOTHESIS_PROFILE", "ci"))
"""Applied to these tests only: loading it globally would change every other module's."""

ROOT = Path(__file__).resolve().parents[2]
_XRD = yaml.safe_load((ROOT / "xrds" / "xagent.yaml").read_text())
SPEC_SCHEMA = _XRD["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
PATH_IN_MESSAGE = re.compile(r"\b(spec|input)(\.[A-Za-z]|\[|:)")


def from_schema(schema: dict[str, Any], depth: int = 0) -> st.SearchStrategy[Any]:
    """Values the schema admits (CEL rules aside: the function answers those with a path)."""
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    kind = schema.get("type")
    if kind == "string":
        if "pattern" in schema:
            text = st.from_regex(schema["pattern"], fullmatch=True)
        else:
            text = st.text(max_size=40)
        limit = schema.get("maxLength")
        return text.filter(lambda s: limit is None or len(s) <= limit) if limit else text
    if kind == "integer":
        return st.integers(schema.get("minimum", -(2**31)), schema.get("maximum", 2**31 - 1))
    if kind == "number":
        return st.floats(schema.get("minimum", -1e6), schema.get("maximum", 1e6), allow_nan=False)
    if kind == "boolean":
        return st.booleans()
    if kind == "array":
        items = from_schema(schema.get("items", {}), depth + 1)
        return st.lists(items, max_size=min(schema.get("maxItems", 3), 3 if depth < 3 else 1))
    if kind == "object" or "properties" in schema:
        props = schema.get("properties") or {}
        if not props:
            if schema.get("x-kubernetes-preserve-unknown-fields") or depth > 4:
                return st.just({})
            values = from_schema(schema.get("additionalProperties") or {"type": "string"}, 9)
            return st.dictionaries(
                st.from_regex(r"[a-z][a-z0-9]{0,8}", fullmatch=True), values, max_size=2
            )
        required = set(schema.get("required") or [])
        return st.fixed_dictionaries(
            {k: from_schema(v, depth + 1) for k, v in props.items() if k in required},
            optional={k: from_schema(v, depth + 1) for k, v in props.items() if k not in required},
        )
    return st.just(None)


ODD = st.sampled_from(
    [None, -1, 2**63, 1e308, "", "x" * 300, "\x00", " a ", "ünï", [], {}, {"x": 1}, True, "1e99"]
)


@st.composite
def mutated(draw, base: st.SearchStrategy[dict[str, Any]]) -> dict[str, Any]:
    """A valid spec with one value (or key) replaced by something the schema does not admit."""
    spec = draw(base)
    paths: list[list[Any]] = []

    def walk(node: Any, path: list[Any]) -> None:
        paths.append(path)
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, [*path, k])
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, [*path, i])

    walk(spec, [])
    path = draw(st.sampled_from(paths[1:] or [[]]))
    if not path:
        return spec
    parent = spec
    for part in path[:-1]:
        parent = parent[part]
    if isinstance(parent, dict) and draw(st.booleans()):
        parent[path[-1] + "Typo"] = parent.pop(path[-1])
    else:
        parent[path[-1]] = draw(ODD)
    return spec


def _drop_definition(spec: dict[str, Any]) -> dict[str, Any]:
    # A random graph is rarely buildable; the smallest XAgent composes, so half the specs
    # leave the definition out and reach every builder.
    return {k: v for k, v in spec.items() if k not in ("definition", "definitionRef")}


VALID = from_schema(SPEC_SCHEMA).flatmap(
    lambda spec: st.sampled_from([spec, _drop_definition(spec)])
)
SPECS = st.one_of(VALID, mutated(VALID))
RUNNER = FunctionRunner()


def _run(spec: Any) -> fnv1.RunFunctionResponse:
    req = fnv1.RunFunctionRequest()
    resource.update(
        req.observed.composite,
        {
            "apiVersion": "xagent.dev/v1alpha1",
            "kind": "XAgent",
            "metadata": {"name": "fuzz", "namespace": "agents"},
            "spec": spec,
        },
    )
    return asyncio.run(RUNNER.RunFunction(req))


def test_run_function_answers_every_spec() -> None:
    composed: list[tuple[str, dict[str, Any]]] = []

    @settings(PROFILE)
    @given(SPECS)
    def answers(spec: Any) -> None:
        try:
            rsp = _run(spec)
        except ValueError:
            return  # not representable in a protobuf Struct at all (a NUL key, say): no request
        fatal = [r.message for r in rsp.results if r.severity == fnv1.SEVERITY_FATAL]
        for message in fatal:
            assert "internal error" not in message, message
            assert PATH_IN_MESSAGE.search(message), message
        if fatal:
            assert len(rsp.desired.resources) == 0
            return
        for key, desired in rsp.desired.resources.items():
            manifest = resource.struct_to_dict(desired.resource)
            assert validate_manifest(manifest) == [], (key, validate_manifest(manifest))
            assert name_problems(manifest) == [], key
            composed.append((f"{key} of spec {spec!r}"[:2000], manifest))

    answers()
    # Hypothesis shrinks only in-run failures; a kubeconform rejection prints the spec instead.
    kubeconform.assert_conform(composed)


def test_a_sub_second_approval_timeout_composes() -> None:
    """Found by the fuzz run: "6ms" was truncated to 0 seconds, which the grants file refuses."""
    spec = {
        "tenantId": "0",
        "model": {"name": "l?", "provider": "openai"},
        "approvals": {"timeout": "6ms"},
    }
    response = _run(spec)
    fatal = [r.message for r in response.results if r.severity == fnv1.SEVERITY_FATAL]
    assert fatal == []
    assert len(response.desired.resources) > 0
