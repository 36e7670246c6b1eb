"""Secret rotation on a real control plane: when External Secrets rewrites a credential
Secret, Crossplane hands it to the function as a required resource and the Deployment's pod
template changes, so the pods roll (README "Secret rotation").

The test plays External Secrets: it writes the ExternalSecret's target Secret, then rotates
its value. Crossplane polls every 5 s here (tests/controlplane/plane.py).
"""

from __future__ import annotations

import base64
from typing import Any

import pytest

from function.rotation import ANNOTATION
from tests.controlplane.kube import Kube, wait_for
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


def _secrets_version(kube: Kube, xr: dict[str, Any]) -> str | None:
    live = live_xr(kube, xr) or {}
    [deployment] = [o for o in composed(kube, live).values() if o["kind"] == "Deployment"]
    return deployment["spec"]["template"]["metadata"].get("annotations", {}).get(ANNOTATION)


def _synced(kube: Kube, name: str, namespace: str, key: str, value: str) -> dict[str, Any]:
    """What External Secrets writes into the ExternalSecret's target."""
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace},
        "data": {key: base64.b64encode(value.encode()).decode()},
    }
    return kube.apply(secret)


def test_a_rotated_credential_rolls_the_runtime(kube: Kube, namespace: str) -> None:
    example = Example.load(EXAMPLES / "minimal", namespace)
    example.apply(kube)
    wait_condition(kube, example.xr, "Synced")
    model_key = wait_matches_render(kube, example)["externalsecret-model-openai"]
    target = model_key["spec"]["target"]["name"]
    secret_key = model_key["spec"]["data"][0]["secretKey"]
    before = _secrets_version(kube, example.xr)

    _synced(kube, target, namespace, secret_key, "sk-first")
    synced = wait_for(
        lambda: (v := _secrets_version(kube, example.xr)) != before and v,
        SYNC_TIMEOUT,
        "the pod template to take the synced Secret",
    )
    _synced(kube, "someone-elses", namespace, "token", "x")  # not a credential of this agent
    _synced(kube, target, namespace, secret_key, "sk-rotated")
    rotated = wait_for(
        lambda: (v := _secrets_version(kube, example.xr)) != synced and v,
        SYNC_TIMEOUT,
        "the pod template to take the rotated Secret",
    )
    assert rotated not in (before, synced)

    # What Crossplane composed is what render composes given only the rotated Secret: the
    # unrelated Secret counts for nothing.
    example.required = [kube.get("v1", "Secret", target, namespace)]
    wait_matches_render(kube, example)
