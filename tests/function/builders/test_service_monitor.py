"""The ServiceMonitor that scrapes the runtime."""

from __future__ import annotations

import pytest

from function.builders import service, service_monitor
from function.builders.service_monitor import prometheus_duration
from tests.function.factories import Case, case_ids, make_ctx, make_spec
from tests.function.schemas import assert_valid


def test_build() -> None:
    ctx = make_ctx(make_spec(observability={"serviceMonitor": {"interval": "15s"}}))
    got = assert_valid(service_monitor.build(ctx))
    assert got == {
        "servicemonitor": {
            "apiVersion": "monitoring.coreos.com/v1",
            "kind": "ServiceMonitor",
            "metadata": ctx.metadata("support-bot", "runtime"),
            "spec": {
                "selector": {"matchLabels": ctx.selector_labels()},
                "endpoints": [{"port": "http", "path": "/metrics", "interval": "15s"}],
            },
        }
    }


def test_disabled() -> None:
    spec = make_spec(observability={"serviceMonitor": {"enabled": False}})
    assert service_monitor.build(make_ctx(spec)) == {}


def test_selects_the_service() -> None:
    ctx = make_ctx()
    monitor = service_monitor.build(ctx)["servicemonitor"]["spec"]
    svc = service.build(ctx)["service"]
    assert svc["metadata"]["labels"].items() >= monitor["selector"]["matchLabels"].items()
    assert monitor["endpoints"][0]["port"] in {p["name"] for p in svc["spec"]["ports"]}


DURATION_CASES = [
    Case(name="Seconds", reason="Unchanged.", args={"d": "30s"}, want="30s"),
    Case(name="Decimal", reason="Decimals become whole units.", args={"d": "1.5m"}, want="1m30s"),
    Case(name="Order", reason="Largest unit first.", args={"d": "30s1m"}, want="1m30s"),
    Case(name="Millis", reason="Sub-second parts stay.", args={"d": "1.25s"}, want="1s250ms"),
    Case(name="Hours", reason="Hours.", args={"d": "2h"}, want="2h"),
    Case(name="Zero", reason="Zero.", args={"d": "0s"}, want="0"),
]


@pytest.mark.parametrize("case", DURATION_CASES, ids=case_ids(DURATION_CASES))
def test_prometheus_duration(case: Case) -> None:
    assert prometheus_duration(case.args["d"]) == case.want, case.reason


@pytest.mark.parametrize("interval", ["1.5m", "30s1m", "250ms"])
def test_interval_is_valid_for_the_crd(interval: str) -> None:
    spec = make_spec(observability={"serviceMonitor": {"interval": interval}})
    assert_valid(service_monitor.build(make_ctx(spec)))


def test_long_xr_name_fits() -> None:
    got = assert_valid(service_monitor.build(make_ctx(name="h" * 70)))["servicemonitor"]
    assert len(got["metadata"]["name"]) <= 63


def test_extra_labels_reach_the_service_monitor_but_not_over_ours() -> None:
    """A Prometheus that selects by a release label finds the ServiceMonitor."""
    ctx = make_ctx(
        make_spec(
            observability={
                "serviceMonitor": {
                    "labels": {"release": "kube-prometheus", "xagent.dev/agent": "spoof"}
                }
            }
        )
    )
    labels = service_monitor.build(ctx)["servicemonitor"]["metadata"]["labels"]
    assert labels["release"] == "kube-prometheus"
    assert labels["xagent.dev/agent"] == "support-bot"
