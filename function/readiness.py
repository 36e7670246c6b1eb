"""Is a composed resource ready? One check per (apiVersion, kind), each saying why.

``check`` applies function-auto-ready's order: a resource not observed yet is not ready; a
kind without a check is not ready (the registry test makes sure every composed kind has
one); otherwise the kind's check reads the observed status. A missing or malformed status
is a not-ready verdict with a reason, never an exception.

Every check is written against the status schema of its kind: the CRDs in shared/crds/
and the Kubernetes API for the built-in kinds.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["CHECKS", "Check", "Verdict", "check"]

Observed = Mapping[str, Any]


@dataclass(frozen=True)
class Verdict:
    """Whether a resource is ready, a CamelCase reason, and an optional human message."""

    ready: bool
    reason: str
    message: str = ""

    def __str__(self) -> str:
        return f"{self.reason} ({self.message})" if self.message else self.reason


Check = Callable[[Observed], Verdict]

# --- reasons -------------------------------------------------------------------------------

NOT_OBSERVED = "NotObserved"
NO_CHECK = "NoCheck"
NO_STATUS = "NoStatus"
CHECK_FAILED = "CheckFailed"
EXISTS = "Exists"
AVAILABLE = "Available"
NOT_RECONCILED = "NotReconciled"


def check(observed: Observed | None) -> Verdict:
    """The readiness of one observed resource (``None`` when Crossplane has not seen it)."""
    if not observed:
        return Verdict(False, NOT_OBSERVED, "not observed yet")
    key = (observed.get("apiVersion", ""), observed.get("kind", ""))
    kind_check = CHECKS.get(key)
    if kind_check is None:
        return Verdict(False, NO_CHECK, "no readiness check for {} {}".format(*key))
    try:
        return kind_check(observed)
    except (AttributeError, KeyError, TypeError, ValueError) as err:
        # A status of an unexpected shape (a string where a list belongs, say).
        return Verdict(False, CHECK_FAILED, f"malformed status: {err}")


# --- helpers -------------------------------------------------------------------------------


def _status(obj: Observed) -> Mapping[str, Any]:
    return obj.get("status") or {}


def _condition(obj: Observed, type_: str) -> Mapping[str, Any] | None:
    for cond in _status(obj).get("conditions") or []:
        if cond.get("type") == type_:
            return cond
    return None


def _is_true(cond: Mapping[str, Any] | None) -> bool:
    return cond is not None and cond.get("status") == "True"


def _from_condition(cond: Mapping[str, Any] | None, type_: str) -> Verdict:
    """The not-ready verdict a condition explains, in its own reason and message."""
    if cond is None:
        return Verdict(False, NO_STATUS, f"no {type_} condition")
    reason = cond.get("reason") or f"{type_}{cond.get('status', 'Unknown')}"
    return Verdict(False, reason, cond.get("message") or f"{type_} is {cond.get('status')}")


def _stale(obj: Observed) -> Verdict | None:
    """Not reconciled yet, when the status says which generation it describes."""
    observed_gen = _status(obj).get("observedGeneration")
    generation = (obj.get("metadata") or {}).get("generation")
    if observed_gen is not None and generation is not None and observed_gen < generation:
        return Verdict(
            False, NOT_RECONCILED, f"status is of generation {observed_gen}, not {generation}"
        )
    return None


def _camel(text: str) -> str:
    """``resources-created`` -> ``ResourcesCreated``."""
    return "".join(part.capitalize() for part in re.split(r"[^A-Za-z0-9]+", text) if part)


def _condition_check(type_: str = "Ready", *, generation: bool = False) -> Check:
    """Ready when condition ``type_`` is True (ESO, NACK, KEDA)."""

    def run(obj: Observed) -> Verdict:
        if generation and (stale := _stale(obj)):
            return stale
        cond = _condition(obj, type_)
        if _is_true(cond):
            return Verdict(True, cond.get("reason") or type_, cond.get("message") or "")
        return _from_condition(cond, type_)

    return run


# --- built-in kinds ------------------------------------------------------------------------


def always_ready(obj: Observed) -> Verdict:
    """Kinds with no status worth reading: existing is being ready."""
    return Verdict(True, EXISTS)


def service(obj: Observed) -> Verdict:
    """Ready unless a LoadBalancer has no ingress yet."""
    if (obj.get("spec") or {}).get("type") != "LoadBalancer":
        return Verdict(True, EXISTS)
    if ((_status(obj).get("loadBalancer") or {}).get("ingress")) or []:
        return Verdict(True, "LoadBalancerReady")
    return Verdict(False, "LoadBalancerPending", "no load balancer ingress yet")


def deployment(obj: Observed) -> Verdict:
    """The rollout is observed and complete, every replica is available, and Available=True.

    Desired replicas are ``spec.replicas``; when an autoscaler owns the field and it is
    absent, ``status.replicas``.
    """
    status = _status(obj)
    if not status:
        return Verdict(False, NO_STATUS, "no status yet")
    generation = (obj.get("metadata") or {}).get("generation", 0)
    if status.get("observedGeneration", 0) < generation:
        return Verdict(False, NOT_RECONCILED, "the controller has not seen the newest spec")
    progressing = _condition(obj, "Progressing")
    if progressing and progressing.get("reason") == "ProgressDeadlineExceeded":
        return _from_condition(progressing, "Progressing")
    spec_replicas = (obj.get("spec") or {}).get("replicas")
    desired = spec_replicas if spec_replicas is not None else status.get("replicas", 0)
    updated = status.get("updatedReplicas", 0)
    available = status.get("availableReplicas", 0)
    if updated != desired:
        return Verdict(False, "RollingOut", f"{updated}/{desired} replicas updated")
    if available != desired:
        return Verdict(False, "ReplicasUnavailable", f"{available}/{desired} replicas available")
    cond = _condition(obj, "Available")
    if not _is_true(cond):
        return _from_condition(cond, "Available")
    return Verdict(True, AVAILABLE, f"{available}/{desired} replicas available")


def job(obj: Observed) -> Verdict:
    """Task mode's Job: ready once it completed; a failed Job says why (its condition).

    FailureTarget is the controller's interim condition (Kubernetes 1.31+) before Failed,
    while it terminates the pods.
    """
    if not _status(obj):
        return Verdict(False, NO_STATUS, "no status yet")
    for type_ in ("Failed", "FailureTarget"):
        cond = _condition(obj, type_)
        if _is_true(cond):
            return Verdict(False, cond.get("reason") or type_, cond.get("message") or "")
    cond = _condition(obj, "Complete")
    if _is_true(cond):
        return Verdict(True, "Complete", f"completed at {_status(obj).get('completionTime')}")
    active = _status(obj).get("active") or 0
    if active:
        return Verdict(False, "Running", f"{active} pod(s) running")
    return Verdict(False, "Pending", "no pod running yet")


def horizontal_pod_autoscaler(obj: Observed) -> Verdict:
    """Ready when the HPA can read and scale its target (AbleToScale or ScalingActive True).

    ScalingActive alone would be too strict: it turns False whenever metrics are briefly
    missing (new pods, a metrics-server restart), and the workload itself is unaffected.
    AbleToScale False (the target or its scale subresource is missing) is a real fault.
    """
    able = _condition(obj, "AbleToScale")
    active = _condition(obj, "ScalingActive")
    if _is_true(active):
        return Verdict(True, active.get("reason") or "ScalingActive", active.get("message", ""))
    if _is_true(able):
        return Verdict(True, able.get("reason") or "AbleToScale", able.get("message", ""))
    return _from_condition(able or active, "AbleToScale")


# --- CRD kinds -----------------------------------------------------------------------------

CNPG_HEALTHY_PHASE = "Cluster in healthy state"


def cnpg_cluster(obj: Observed) -> Verdict:
    """Ready condition True; on an operator too old to set it, the healthy phase."""
    status = _status(obj)
    cond = _condition(obj, "Ready")
    phase = status.get("phase", "")
    detail = f"{phase}: {status.get('phaseReason', '')}".strip(": ") if phase else ""
    if _is_true(cond):
        return Verdict(True, cond.get("reason") or "Ready", detail)
    if cond is None and phase == CNPG_HEALTHY_PHASE:
        return Verdict(True, "HealthyPhase", phase)
    if cond is None:
        return Verdict(False, NO_STATUS if not phase else "Provisioning", detail or "no status")
    verdict = _from_condition(cond, "Ready")
    return Verdict(False, verdict.reason, detail or verdict.message)


def crossplane_managed(obj: Observed) -> Verdict:
    """A Crossplane managed resource: Synced=True (no reconcile error) and Ready=True."""
    if stale := _stale(obj):
        return stale
    synced = _condition(obj, "Synced")
    if not _is_true(synced):
        return _from_condition(synced, "Synced")
    ready = _condition(obj, "Ready")
    if not _is_true(ready):
        return _from_condition(ready, "Ready")
    return Verdict(True, ready.get("reason") or "Available", ready.get("message") or "")


def cnpg_scheduled_backup(obj: Observed) -> Verdict:
    """Scheduled (the operator set a check or schedule time) and no scheduling error.

    A ScheduledBackup has no conditions; ``status.error`` says why it cannot schedule.
    """
    status = _status(obj)
    if status.get("error"):
        return Verdict(False, "ScheduleError", str(status["error"]))
    scheduled = status.get("nextScheduleTime") or status.get("lastCheckTime")
    if not scheduled:
        return Verdict(False, NO_STATUS, "not scheduled yet")
    return Verdict(True, "Scheduled", f"next backup at {scheduled}")


DRAGONFLY_READY_PHASE = "ready"


def dragonfly(obj: Observed) -> Verdict:
    """Phase ``ready`` and no rolling update in progress.

    The operator's phases: ``resources-created``, ``configuring-replication``, ``ready``.
    """
    status = _status(obj)
    phase = status.get("phase")
    if not phase:
        return Verdict(False, NO_STATUS, "no phase yet")
    if phase != DRAGONFLY_READY_PHASE:
        return Verdict(False, _camel(phase), f"phase {phase}")
    if status.get("isRollingUpdate"):
        return Verdict(False, "RollingUpdate", "a rolling update is in progress")
    return Verdict(True, "Ready", "phase ready")


# --- the table -----------------------------------------------------------------------------

_CROSSPLANE_SQL = (
    "postgresql.sql.m.crossplane.io/v1alpha1",
    "postgresql.sql.crossplane.io/v1alpha1",
)

CHECKS: dict[tuple[str, str], Check] = {
    ("v1", "ServiceAccount"): always_ready,
    ("v1", "ConfigMap"): always_ready,
    ("v1", "Secret"): always_ready,
    ("v1", "Service"): service,
    ("networking.k8s.io/v1", "NetworkPolicy"): always_ready,
    ("policy/v1", "PodDisruptionBudget"): always_ready,
    ("batch/v1", "CronJob"): always_ready,
    ("batch/v1", "Job"): job,
    ("monitoring.coreos.com/v1", "ServiceMonitor"): always_ready,
    # Its status (v0.93) lists the Prometheus workloads that loaded it, which an XAgent
    # cannot know to expect; loading is not readiness of the agent anyway.
    ("monitoring.coreos.com/v1", "PrometheusRule"): always_ready,
    ("apps/v1", "Deployment"): deployment,
    ("autoscaling/v2", "HorizontalPodAutoscaler"): horizontal_pod_autoscaler,
    ("external-secrets.io/v1", "ExternalSecret"): _condition_check("Ready"),
    # A generator is a template with an empty status; the ExternalSecret that reads it
    # reports whether a password was written.
    ("generators.external-secrets.io/v1alpha1", "Password"): always_ready,
    ("postgresql.cnpg.io/v1", "Cluster"): cnpg_cluster,
    ("postgresql.cnpg.io/v1", "ScheduledBackup"): cnpg_scheduled_backup,
    **{
        (group, kind): crossplane_managed
        for group in _CROSSPLANE_SQL
        for kind in ("Database", "Role")
    },
    ("dragonflydb.io/v1alpha1", "Dragonfly"): dragonfly,
    # It holds references only; whether they work shows on the Stream and Consumer, and
    # the legacy NACK controller never writes an Account's status.
    ("jetstream.nats.io/v1beta2", "Account"): always_ready,
    ("jetstream.nats.io/v1beta2", "Stream"): _condition_check("Ready", generation=True),
    ("jetstream.nats.io/v1beta2", "Consumer"): _condition_check("Ready", generation=True),
    ("keda.sh/v1alpha1", "ScaledObject"): _condition_check("Ready"),
}
"""(apiVersion, kind) -> check. Explicit: no registration by import side effect."""
