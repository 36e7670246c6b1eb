"""The Prometheus operator ServiceMonitor that scrapes the runtime's /metrics."""

from __future__ import annotations

from function import units
from function.builders.base import AgentContext, Desired
from function.builders.service import PORT_NAME

__all__ = ["KEY", "METRICS_PATH", "build", "prometheus_duration"]

KEY = "servicemonitor"
COMPONENT = "runtime"
METRICS_PATH = "/metrics"
_UNITS_MS = (("h", 3_600_000), ("m", 60_000), ("s", 1_000), ("ms", 1))


def build(ctx: AgentContext) -> Desired:
    """A ServiceMonitor on the runtime Service, when spec.observability.serviceMonitor.enabled.

    It selects the Service by the runtime's selector labels, which the Service carries and no
    other Service of the XR does, in the ServiceMonitor's own namespace (the default).
    """
    monitor = ctx.spec.observability.service_monitor
    if not monitor.enabled:
        return {}
    return {
        KEY: {
            "apiVersion": "monitoring.coreos.com/v1",
            "kind": "ServiceMonitor",
            "metadata": _metadata(ctx, monitor.labels),
            "spec": {
                "selector": {"matchLabels": ctx.selector_labels()},
                "endpoints": [
                    {
                        "port": PORT_NAME,
                        "path": METRICS_PATH,
                        "interval": prometheus_duration(monitor.interval),
                    }
                ],
            },
        }
    }


def _metadata(ctx: AgentContext, extra_labels: dict[str, str]) -> dict:
    metadata = ctx.metadata(ctx.deployment_name, COMPONENT)
    # xagent's own labels win: they identify the object for Crossplane and for people.
    metadata["labels"] = {**extra_labels, **metadata["labels"]}
    return metadata


def prometheus_duration(duration: str) -> str:
    """A spec duration (``1.5m``, ``30s1m``) as Prometheus writes it (``1m30s``).

    The spec accepts decimals and any unit order; the ServiceMonitor schema takes only
    whole numbers of h, m, s and ms, largest first.
    """
    remaining = round(units.seconds(duration) * 1000)
    if remaining == 0:
        return "0"
    parts = []
    for unit, size in _UNITS_MS:
        count, remaining = divmod(remaining, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)
