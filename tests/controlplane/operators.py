"""The tests play the operators: nothing runs pods or controllers for the composed kinds here.

``ready_status`` is the status each operator writes once its object works (a Deployment's
controller, External Secrets, CloudNativePG, provider-sql, Dragonfly, NACK, KEDA, the HPA
controller), in the shape of that kind's status schema; ``unready_status`` the one it writes
while it does not. Kinds with no status (ConfigMap, Service, ...) map to None.
"""

from __future__ import annotations

from typing import Any

from tests.controlplane.kube import Kube

NOW = "2026-01-01T00:00:00Z"


def _condition(type_: str, ok: bool) -> dict[str, Any]:
    return {
        "type": type_,
        "status": "True" if ok else "False",
        "reason": "FakedByTest" if ok else "NotYetFakedByTest",
        "message": f"{type_} set by tests/controlplane",
        "lastTransitionTime": NOW,
    }


def _status(obj: dict[str, Any], ok: bool) -> dict[str, Any] | None:
    kind = obj["kind"]
    generation = obj["metadata"].get("generation", 1)
    if kind == "Deployment":
        n = obj["spec"].get("replicas", 1)
        up = n if ok else 0
        return {
            "observedGeneration": generation,
            "replicas": n,
            "updatedReplicas": n,
            "readyReplicas": up,
            "availableReplicas": up,
            "unavailableReplicas": n - up,
            "conditions": [_condition("Available", ok)],
        }
    if kind == "HorizontalPodAutoscaler":
        n = obj["spec"].get("minReplicas", 1)
        return {
            "currentReplicas": n,
            "desiredReplicas": n,
            "conditions": [_condition("AbleToScale", ok)],
        }
    if kind in ("ExternalSecret", "ScaledObject", "Cluster"):
        return {"conditions": [_condition("Ready", ok)]}
    if kind in ("Stream", "Consumer"):
        return {"observedGeneration": generation, "conditions": [_condition("Ready", ok)]}
    if kind in ("Database", "Role"):  # provider-sql managed resources
        return {"conditions": [_condition("Synced", True), _condition("Ready", ok)]}
    if kind == "Dragonfly":
        return {"phase": "ready" if ok else "resources-created"}
    return None


def ready_status(obj: dict[str, Any]) -> dict[str, Any] | None:
    return _status(obj, True)


def unready_status(obj: dict[str, Any]) -> dict[str, Any] | None:
    return _status(obj, False)


def set_ready(kube: Kube, obj: dict[str, Any], ready: bool = True) -> None:
    """Write the operator's (un)ready status onto a live object, if its kind has one."""
    status = _status(obj, ready)
    if status is not None:
        kube.patch_status(obj, status)


def kinds_with_status(objs: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {k: o for k, o in objs.items() if ready_status(o) is not None}
