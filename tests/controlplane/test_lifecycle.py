"""An XAgent's life in a real control plane: readiness, definitionRef, updates, deletion.

The tests act as the operators (tests/controlplane/operators.py) and check that Crossplane,
driven by the function, moves the XR's conditions and composed resources as `xagent render`
says it should.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.controlplane import operators
from tests.controlplane.kube import Kube, condition, wait_for
from tests.controlplane.xagents import (
    EXAMPLES,
    SYNC_TIMEOUT,
    Example,
    composed,
    live_xr,
    wait_condition,
    wait_matches_render,
)

pytestmark = pytest.mark.controlplane

# The garbage collector may need one discovery period (30 s) to learn a new owner kind.
GC_TIMEOUT = 120.0
CHECKSUM_ANNOTATION = "xagent.dev/definition-checksum"


def _ref(obj: dict[str, Any]) -> tuple[str, str, str, str | None]:
    m = obj["metadata"]
    return obj["apiVersion"], obj["kind"], m["name"], m.get("namespace")


def _gone(kube: Kube, objs: dict[str, dict[str, Any]]) -> list[str]:
    """The keys of ``objs`` still in the API server."""
    return [k for k, o in objs.items() if kube.get(*_ref(o)) is not None]


def _composed_example(
    kube: Kube, namespace: str, name: str
) -> tuple[Example, dict[str, dict[str, Any]]]:
    example = Example.load(EXAMPLES / name, namespace)
    example.apply(kube)
    wait_condition(kube, example.xr, "Synced")
    return example, wait_matches_render(kube, example)


def test_deleting_the_xagent_deletes_what_it_composed(kube: Kube, namespace: str) -> None:
    example, objs = _composed_example(kube, namespace, "full")

    kube.delete(example.xr)

    wait_for(lambda: live_xr(kube, example.xr) is None, SYNC_TIMEOUT, "the XR to be deleted")
    last: list[str] = []

    def all_gone() -> bool:
        last[:] = _gone(kube, objs)
        return not last

    wait_for(all_gone, GC_TIMEOUT, f"the composed resources to be deleted (left: {last})")


def _conditions(kube: Kube, xr: dict[str, Any]) -> dict[str, str]:
    obj = live_xr(kube, xr) or {}
    return {c["type"]: c["status"] for c in obj.get("status", {}).get("conditions", [])}


def _wait_conditions(kube: Kube, xr: dict[str, Any], want: dict[str, str]) -> None:
    wait_for(
        lambda: all(_conditions(kube, xr).get(t) == s for t, s in want.items()),
        SYNC_TIMEOUT,
        f"conditions {want} (have {_conditions(kube, xr)})",
    )


def test_operator_status_drives_readiness(kube: Kube, namespace: str) -> None:
    example, objs = _composed_example(kube, namespace, "minimal")
    by_kind = {o["kind"]: o for o in objs.values()}
    # The model key and the generated cache password each have an ExternalSecret: secrets
    # are ready only when every one of them is.
    external_secrets = [o for o in objs.values() if o["kind"] == "ExternalSecret"]
    assert len(external_secrets) >= 2, sorted(objs)
    xr = example.xr
    _wait_conditions(
        kube,
        xr,
        {
            "DefinitionResolved": "True",
            "SecretsReady": "False",
            "RuntimeReady": "False",
            "Ready": "False",
        },
    )

    operators.set_ready(kube, external_secrets[0])
    _wait_conditions(kube, xr, {"SecretsReady": "False", "RuntimeReady": "False", "Ready": "False"})
    for secret in external_secrets[1:]:
        operators.set_ready(kube, secret)
    _wait_conditions(kube, xr, {"SecretsReady": "True", "RuntimeReady": "False", "Ready": "False"})

    operators.set_ready(kube, by_kind["Deployment"])
    _wait_conditions(kube, xr, {"SecretsReady": "True", "RuntimeReady": "True", "Ready": "False"})

    for obj in operators.kinds_with_status(objs).values():
        operators.set_ready(kube, obj)
    _wait_conditions(kube, xr, {"SecretsReady": "True", "RuntimeReady": "True", "Ready": "True"})

    operators.set_ready(kube, by_kind["Deployment"], ready=False)
    _wait_conditions(kube, xr, {"RuntimeReady": "False", "Ready": "False"})
    operators.set_ready(kube, external_secrets[-1], ready=False)
    _wait_conditions(kube, xr, {"SecretsReady": "False", "RuntimeReady": "False", "Ready": "False"})


def _deployment(kube: Kube, xr: dict[str, Any]) -> dict[str, Any]:
    live = live_xr(kube, xr) or {}
    deployments = [o for o in composed(kube, live).values() if o["kind"] == "Deployment"]
    assert len(deployments) == 1, deployments
    return deployments[0]


def test_definition_ref_follows_its_config_map(kube: Kube, namespace: str) -> None:
    example = Example.load(EXAMPLES / "definition-ref", namespace)
    (config_map,) = example.required
    kube.apply(example.composition)
    kube.apply(example.xr)

    xr = wait_condition(kube, example.xr, "DefinitionResolved", "False")
    assert condition(xr, "DefinitionResolved")["reason"] == "ConfigMapNotFound"
    assert config_map["metadata"]["name"] in condition(xr, "DefinitionResolved")["message"]

    kube.apply(config_map)
    wait_condition(kube, example.xr, "DefinitionResolved")
    wait_matches_render(kube, example)
    before = _deployment(kube, example.xr)

    changed = copy.deepcopy(config_map)
    key = next(iter(changed["data"]))
    changed["data"][key] = changed["data"][key].replace("answer simple ones", "answer none")
    kube.apply(changed)
    example.required = [changed]
    wait_matches_render(kube, example)
    after = _deployment(kube, example.xr)

    annotations = lambda d: d["spec"]["template"]["metadata"].get("annotations", {})  # noqa: E731
    changed_keys = {
        k
        for k in annotations(before) | annotations(after)
        if annotations(before).get(k) != annotations(after).get(k)
    }
    assert changed_keys, "the Deployment's pod template did not change with its definition"


def test_updates_and_engine_switches(kube: Kube, namespace: str) -> None:
    example, objs = _composed_example(kube, namespace, "minimal")
    spec = example.xr["spec"]

    spec["model"]["name"] = "gpt-4o"
    spec["scaling"] = {"minReplicas": 2, "maxReplicas": 5}
    kube.apply(example.xr)
    after = wait_matches_render(kube, example)
    changed = {
        k
        for k in objs
        if k in after
        and objs[k]["metadata"]["resourceVersion"] != after[k]["metadata"]["resourceVersion"]
    }
    assert changed, "nothing was updated"

    spec["queue"] = {"engine": "none"}
    spec["scaling"] = {"autoscaler": "hpa", "minReplicas": 2, "maxReplicas": 5}
    spec["persistence"] = {"cache": {"engine": "none"}}
    kube.apply(example.xr)
    switched = wait_matches_render(kube, example)
    dropped = {k: o for k, o in after.items() if k not in switched}
    kinds = {o["kind"] for o in dropped.values()}
    assert {"Stream", "Consumer", "Dragonfly", "ScaledObject"} <= kinds, kinds
    assert "HorizontalPodAutoscaler" in {o["kind"] for o in switched.values()}
    wait_for(
        lambda: not _gone(kube, dropped), SYNC_TIMEOUT, "what the engines composed to be deleted"
    )
