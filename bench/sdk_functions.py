"""The reference functions bench_function_grpc.py serves next to xagent, with the SDK alone.

    python bench/sdk_functions.py floor ADDRESS       # returns response.to(req): the floor
    python bench/sdk_functions.py idiomatic ADDRESS   # composes 15 resources, SDK style

Both run under the SDK's own `runtime.serve`, as `xagent serve` does, so the only
difference between the cases is what RunFunction does.
"""

from __future__ import annotations

import sys

from crossplane.function import logging, resource, response, runtime
from crossplane.function.proto.v1 import run_function_pb2 as fnv1
from crossplane.function.proto.v1 import run_function_pb2_grpc as grpcv1

KINDS = (
    ("v1", "ServiceAccount"),
    ("v1", "ConfigMap"),
    ("v1", "ConfigMap"),
    ("external-secrets.io/v1", "ExternalSecret"),
    ("apps/v1", "Deployment"),
    ("v1", "Service"),
    ("postgresql.cnpg.io/v1", "Cluster"),
    ("dragonflydb.io/v1alpha1", "Dragonfly"),
    ("jetstream.nats.io/v1beta2", "Stream"),
    ("jetstream.nats.io/v1beta2", "Consumer"),
    ("keda.sh/v1alpha1", "ScaledObject"),
    ("networking.k8s.io/v1", "NetworkPolicy"),
    ("policy/v1", "PodDisruptionBudget"),
    ("monitoring.coreos.com/v1", "ServiceMonitor"),
    ("v1", "Secret"),
)


class Floor(grpcv1.FunctionRunnerService):
    """The least a function can do: echo the desired state back."""

    async def RunFunction(self, req, _=None):
        """Answer with the request's desired state, unchanged."""
        return response.to(req)


class Idiomatic(grpcv1.FunctionRunnerService):
    """What the SDK's documentation suggests: dicts through resource.update, 15 resources."""

    def __init__(self) -> None:
        self.log = logging.get_logger()

    async def RunFunction(self, req, _=None):
        """Compose 15 resources from the XR's spec, marking the observed ones ready."""
        log = self.log.bind(tag=req.meta.tag)
        rsp = response.to(req)
        xr = resource.struct_to_dict(req.observed.composite.resource)
        meta, spec = xr.get("metadata", {}), xr.get("spec", {})
        name, namespace = meta.get("name", "x"), meta.get("namespace", "default")
        labels = {"app.kubernetes.io/name": name, "xagent.dev/tenant": spec.get("tenantId", "")}
        for i, (api_version, kind) in enumerate(KINDS):
            key = f"{kind.lower()}-{i}"
            resource.update(
                rsp.desired.resources[key],
                {
                    "apiVersion": api_version,
                    "kind": kind,
                    "metadata": {"name": f"{name}-{i}", "namespace": namespace, "labels": labels},
                    "spec": {
                        "replicas": 1,
                        "selector": {"matchLabels": labels},
                        "template": {
                            "metadata": {"labels": labels},
                            "spec": {
                                "containers": [
                                    {
                                        "name": "main",
                                        "image": "ghcr.io/example/agent:1",
                                        "env": [
                                            {"name": f"E{j}", "value": str(j)} for j in range(8)
                                        ],
                                    }
                                ]
                            },
                        },
                    },
                },
            )
            if key in req.observed.resources:
                rsp.desired.resources[key].ready = fnv1.READY_TRUE
        resource.update(rsp.desired.composite, {"status": {"phase": "Ready"}})
        response.normal(rsp, "composed")
        log.debug("composed", resources=len(KINDS))
        return rsp


def main() -> None:
    """Serve one of the reference functions on an insecure address."""
    kind, address = sys.argv[1], sys.argv[2]
    logging.configure(logging.Level.INFO)
    servicer = {"floor": Floor, "idiomatic": Idiomatic}[kind]()
    runtime.serve(servicer, address, creds=None, insecure=True)


if __name__ == "__main__":
    main()
