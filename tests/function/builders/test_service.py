"""The runtime Service."""

from __future__ import annotations

from function.builders import deployment, service
from tests.function.factories import make_ctx
from tests.function.schemas import assert_valid


def test_build() -> None:
    ctx = make_ctx()
    got = assert_valid(service.build(ctx))
    assert got == {
        "service": {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": ctx.metadata("support-bot", "runtime"),
            "spec": {
                "type": "ClusterIP",
                "selector": ctx.selector_labels(),
                "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}],
            },
        }
    }


def test_targets_the_runtime_pods() -> None:
    ctx = make_ctx()
    svc = service.build(ctx)["service"]["spec"]
    template = deployment.build(ctx)["deployment"]["spec"]["template"]
    assert template["metadata"]["labels"].items() >= svc["selector"].items()
    port_names = {p["name"] for p in template["spec"]["containers"][0]["ports"]}
    assert svc["ports"][0]["targetPort"] in port_names
    assert ctx.service_host.startswith(service.build(ctx)["service"]["metadata"]["name"] + ".")


def test_long_xr_name_fits() -> None:
    got = assert_valid(service.build(make_ctx(name="d" * 70)))["service"]
    assert len(got["metadata"]["name"]) <= 63
