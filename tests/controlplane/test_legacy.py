"""The legacy v1 XRD: an ``Agent`` claim in a namespace composes through a cluster XAgent.

The legacy XRD defines the same xagents.xagent.dev as the v2 one, so it gets a control plane
of its own for this module. The claim's cluster-scoped XAgent composes, into the claim's
namespace, the objects the v2 example composes, each equal to `xagent render` of that XAgent.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest

from function.render import RenderInputs, render
from tests.controlplane import plane
from tests.controlplane.conftest import unavailable
from tests.controlplane.kube import Kube, has_condition, load_documents, wait_for
from tests.controlplane.xagents import (
    COMPOSITION_RESOURCE_NAME,
    EXAMPLES,
    SYNC_TIMEOUT,
    Example,
    composed,
    differences,
)

pytestmark = pytest.mark.controlplane


@pytest.fixture(scope="module")
def legacy_kube(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kube]:
    tools = plane.find_tools()
    if isinstance(tools, str):
        unavailable(tools)
    state = plane.up(tmp_path_factory.mktemp("legacy"), tools, plane.LEGACY_XRD)
    client = state.admin()
    try:
        yield client
    finally:
        client.close()
        plane.stop(state)


def _claimed_xr(kube: Kube, claim: dict[str, Any]) -> dict[str, Any] | None:
    live = kube.get(
        claim["apiVersion"],
        claim["kind"],
        claim["metadata"]["name"],
        claim["metadata"]["namespace"],
    )
    ref = (live or {}).get("spec", {}).get("resourceRef")
    return kube.get(ref["apiVersion"], ref["kind"], ref["name"]) if ref else None


def _mismatches(kube: Kube, claim: dict[str, Any], composition: dict[str, Any]) -> list[str]:
    xr = _claimed_xr(kube, claim)
    if xr is None or not has_condition(xr, "Synced"):
        return ["the claim has no Synced XAgent yet"]
    objs = composed(kube, xr)
    sent = {
        "apiVersion": xr["apiVersion"],
        "kind": xr["kind"],
        "metadata": {
            k: xr["metadata"][k] for k in ("name", "uid", "labels") if k in xr["metadata"]
        },
        "spec": {
            k: v
            for k, v in xr["spec"].items()
            if k not in ("crossplane", "claimRef", "resourceRefs")
        },
    }
    want = {
        d["metadata"]["annotations"][COMPOSITION_RESOURCE_NAME]: d
        for d in render(
            RenderInputs(xr=sent, composition=composition, observed=list(objs.values()))
        )[1:]
    }
    out = [] if set(objs) == set(want) else [f"composed {sorted(objs)}, rendered {sorted(want)}"]
    for key in sorted(set(want) & set(objs)):
        out += [f"{key}{d}" for d in differences(want[key], objs[key])]
    return out


def test_agent_claim_composes_through_a_cluster_xagent(legacy_kube: Kube) -> None:
    kube = legacy_kube
    example = Example.load(EXAMPLES / "minimal", "claims")
    kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "claims"}})
    kube.apply(example.composition)
    claim = copy.deepcopy(example.xr)
    claim["kind"] = "Agent"
    claim["spec"].pop("crossplane")
    claim["spec"]["compositionRef"] = {"name": example.composition["metadata"]["name"]}
    kube.apply(claim)

    last: list[str] = []

    def matches() -> bool:
        last[:] = _mismatches(kube, claim, example.composition)
        return not last

    try:
        wait_for(matches, SYNC_TIMEOUT, "the claim's XAgent to match xagent render")
    except TimeoutError as e:
        raise AssertionError(f"{e}:\n" + "\n".join(last)) from None

    xr = _claimed_xr(kube, claim)
    assert "namespace" not in xr["metadata"]
    objs = composed(kube, xr)
    assert {o["metadata"]["namespace"] for o in objs.values()} == {"claims"}
    # The same objects the v2 XRD composes for the same spec.
    (v2_xr,) = load_documents(EXAMPLES / "minimal" / "xr.yaml")
    v2 = render(RenderInputs(xr=v2_xr, composition=example.composition))[1:]
    assert set(objs) == {d["metadata"]["annotations"][COMPOSITION_RESOURCE_NAME] for d in v2}
