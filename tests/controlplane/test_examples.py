"""Every example, reconciled by a real Crossplane against a real API server.

Each composes (Synced=True), and what it composed exists in the API server with the XR as
its controller and equals `xagent render` of the same inputs field by field, after the API
server's defaulting: nothing pruned, rejected or rewritten. The policy-violation example
composes nothing and says which rules it broke.
"""

from __future__ import annotations

import pytest

from tests.controlplane.kube import Kube, condition
from tests.controlplane.xagents import (
    EXAMPLES,
    Example,
    composed,
    live_xr,
    wait_condition,
    wait_matches_render,
)

pytestmark = pytest.mark.controlplane

POLICY_VIOLATION = "policy-violation"
COMPOSING = sorted(
    p.parent.name for p in EXAMPLES.glob("*/xr.yaml") if p.parent.name != POLICY_VIOLATION
)


@pytest.mark.parametrize("name", COMPOSING)
def test_example_composes_what_render_prints(kube: Kube, namespace: str, name: str) -> None:
    example = Example.load(EXAMPLES / name, namespace)
    example.apply(kube)

    xr = wait_condition(kube, example.xr, "Synced")
    objs = wait_matches_render(kube, example)

    assert objs, "nothing composed"
    uid = xr["metadata"]["uid"]
    for key, obj in objs.items():
        controllers = [r for r in obj["metadata"].get("ownerReferences", []) if r.get("controller")]
        assert [(r["kind"], r["uid"]) for r in controllers] == [("XAgent", uid)], key


def test_policy_violation_composes_nothing(kube: Kube, namespace: str) -> None:
    example = Example.load(EXAMPLES / POLICY_VIOLATION, namespace)
    example.apply(kube)

    xr = wait_condition(kube, example.xr, "PolicyCompliant", "False")

    message = condition(xr, "PolicyCompliant")["message"]
    # The rules the example breaks, named as `xagent render` names them on stderr.
    assert "spec.model.provider" in message
    assert "develop_in_container" in message
    assert composed(kube, xr) == {}
    assert live_xr(kube, example.xr)["spec"]["crossplane"].get("resourceRefs") in (None, [])
