"""What scales the runtime Deployment: KEDA on JetStream consumer lag, an HPA on CPU, or
nothing (fixed spec.scaling.minReplicas).

Whichever autoscaler is chosen owns ``replicas``: the Deployment then leaves the field out,
or every re-render would reset the count the autoscaler set (deployment.py reads
:func:`owns_replicas`).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from function.builders.base import AgentContext, Desired, Manifest, RuntimeAdditions
from function.spec import Autoscaler, QueueEngine

__all__ = [
    "HPA_KEY",
    "NATS_MONITORING_PORT",
    "RUNTIME",
    "SCALEDOBJECT_KEY",
    "build",
    "keda_falls_back",
    "monitoring_endpoint",
    "owns_replicas",
    "warnings",
]

SCALEDOBJECT_KEY = "scaledobject"
HPA_KEY = "hpa"
COMPONENT = "runtime"
NATS_MONITORING_PORT = 8222
"""The NATS server's HTTP monitoring port (its default, and the Helm chart's)."""
_HPA_MIN_REPLICAS = 1
"""An HPA cannot scale to zero without the HPAScaleToZero feature gate."""


def build(ctx: AgentContext) -> Desired:
    """The ScaledObject, the HPA, or nothing, after spec.scaling.autoscaler."""
    autoscaler = ctx.spec.scaling.autoscaler
    if autoscaler == Autoscaler.KEDA and not keda_falls_back(ctx):
        return {SCALEDOBJECT_KEY: _scaled_object(ctx)}
    if autoscaler in (Autoscaler.KEDA, Autoscaler.HPA):
        return {HPA_KEY: _hpa(ctx)}
    return {}


def owns_replicas(ctx: AgentContext) -> bool:
    """Whether an autoscaler (not the Deployment) sets the replica count."""
    return ctx.spec.scaling.autoscaler != Autoscaler.NONE


def keda_falls_back(ctx: AgentContext) -> bool:
    """KEDA scales on queue lag; without a queue there is no lag, so a CPU HPA stands in."""
    return (
        ctx.spec.scaling.autoscaler == Autoscaler.KEDA and ctx.spec.queue.engine == QueueEngine.NONE
    )


def warnings(ctx: AgentContext) -> list[str]:
    """Scaling choices the function changed or cannot honour."""
    scaling = ctx.spec.scaling
    out: list[str] = []
    if keda_falls_back(ctx):
        out.append(
            "spec.scaling.autoscaler is keda but spec.queue.engine is none: there is "
            "no consumer lag to scale on, so a CPU HorizontalPodAutoscaler is composed"
        )
    uses_hpa = scaling.autoscaler == Autoscaler.HPA or keda_falls_back(ctx)
    if uses_hpa and scaling.min_replicas < _HPA_MIN_REPLICAS:
        out.append(
            f"spec.scaling.minReplicas {scaling.min_replicas} is raised to "
            f"{_HPA_MIN_REPLICAS}: a HorizontalPodAutoscaler cannot scale to zero"
        )
    if uses_hpa and ctx.spec.resources.requests.cpu is None:
        out.append(
            "spec.resources.requests.cpu is unset: the HorizontalPodAutoscaler cannot "
            "compute CPU utilization and will not scale"
        )
    return out


def monitoring_endpoint(queue_url: str) -> str:
    """``nats://user:pw@nats.nats.svc:4222,...`` -> ``nats.nats.svc:8222``.

    Assumes the monitoring endpoint listens on the first server's host at the default
    monitoring port, as the NATS Helm chart sets it up; KEDA wants ``host:port``, no scheme.
    """
    first = queue_url.split(",")[0].strip()
    host = urlsplit(first).hostname or first
    if ":" in host:  # an IPv6 literal
        host = f"[{host}]"
    return f"{host}:{NATS_MONITORING_PORT}"


def _target_ref(ctx: AgentContext) -> Manifest:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "name": ctx.deployment_name}


def _scaled_object(ctx: AgentContext) -> Manifest:
    scaling = ctx.spec.scaling
    return {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": ctx.metadata(ctx.deployment_name, COMPONENT),
        "spec": {
            "scaleTargetRef": _target_ref(ctx),
            "minReplicaCount": scaling.min_replicas,
            "maxReplicaCount": scaling.max_replicas,
            "pollingInterval": scaling.polling_interval,
            "cooldownPeriod": scaling.cooldown_period,
            # Queue lag only: an agent mostly waits on model I/O, so its CPU says little
            # about backlog, and a second trigger would fight the lag one on scale-down.
            "triggers": [
                {
                    "type": "nats-jetstream",
                    "name": "jobs-lag",
                    "metadata": {
                        "natsServerMonitoringEndpoint": ctx.spec.queue.monitoring_endpoint
                        or monitoring_endpoint(ctx.spec.queue.url),
                        "account": ctx.spec.queue.account,
                        "stream": ctx.stream_name,
                        "consumer": ctx.consumer_name,
                        "lagThreshold": str(scaling.lag_threshold),
                    },
                }
            ],
        },
    }


def _hpa(ctx: AgentContext) -> Manifest:
    scaling = ctx.spec.scaling
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": ctx.metadata(ctx.deployment_name, COMPONENT),
        "spec": {
            "scaleTargetRef": _target_ref(ctx),
            "minReplicas": max(scaling.min_replicas, _HPA_MIN_REPLICAS),
            "maxReplicas": scaling.max_replicas,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {
                            "type": "Utilization",
                            "averageUtilization": scaling.target_cpu_utilization,
                        },
                    },
                }
            ],
        },
    }


RUNTIME = RuntimeAdditions(warnings=warnings, owns_replicas=owns_replicas)
