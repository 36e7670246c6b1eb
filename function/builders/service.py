"""The runtime's in-cluster Service: CloudEvents, /health, /ready and /metrics."""

from __future__ import annotations

from function.builders.base import AgentContext, Desired

__all__ = ["KEY", "PORT", "PORT_NAME", "build"]

KEY = "service"
COMPONENT = "runtime"
PORT = 80
PORT_NAME = "http"
"""Also the container port's name: the Service targets it by name, so the container port
number can change without touching the Service; the ServiceMonitor scrapes it by name."""


def build(ctx: AgentContext) -> Desired:
    """A ClusterIP Service on port 80 in front of the runtime pods."""
    return {
        KEY: {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": ctx.metadata(ctx.deployment_name, COMPONENT),
            "spec": {
                "type": "ClusterIP",
                "selector": ctx.selector_labels(),
                "ports": [
                    {"name": PORT_NAME, "port": PORT, "targetPort": PORT_NAME, "protocol": "TCP"}
                ],
            },
        }
    }
