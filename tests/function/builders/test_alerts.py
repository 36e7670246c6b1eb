"""The PrometheusRule: with the ServiceMonitor, scoped to the agent, thresholds from the spec."""

from __future__ import annotations

import pytest

from contract.metrics import METRICS
from function.builders import alerts, service, service_monitor
from tests.function.factories import Case, case_ids, make_ctx, make_spec
from tests.function.schemas import assert_valid


def _rules(**alert_spec: object) -> dict[str, dict]:
    ctx = make_ctx(make_spec(observability={"alerts": alert_spec}))
    rule = assert_valid(alerts.build(ctx))["prometheusrule"]
    return {r["alert"]: r for r in rule["spec"]["groups"][0]["rules"]}


def test_build() -> None:
    ctx = make_ctx(make_spec(observability={"serviceMonitor": {"labels": {"release": "kps"}}}))
    got = assert_valid(alerts.build(ctx))["prometheusrule"]
    assert got["apiVersion"] == "monitoring.coreos.com/v1"
    assert got["kind"] == "PrometheusRule"
    assert got["metadata"]["name"] == ctx.child("alerts")
    # Prometheus selects rules by the release label it selects ServiceMonitors by.
    assert got["metadata"]["labels"]["release"] == "kps"
    assert got["metadata"]["labels"].items() >= ctx.labels("runtime").items()
    names = [r["alert"] for r in got["spec"]["groups"][0]["rules"]]
    assert names == ["XAgentDeadLetters", "XAgentJobErrorRate", "XAgentQueueLag", "XAgentNotReady"]


DISABLED = [
    Case(
        name="ServiceMonitorOff",
        reason="Nothing scrapes the series.",
        args={"serviceMonitor": {"enabled": False}},
    ),
    Case(name="AlertsOff", reason="Opted out.", args={"alerts": {"enabled": False}}),
]


@pytest.mark.parametrize("case", DISABLED, ids=case_ids(DISABLED))
def test_disabled(case: Case) -> None:
    assert alerts.build(make_ctx(make_spec(observability=case.args))) == {}, case.reason


def test_thresholds_come_from_the_spec() -> None:
    rules = _rules(
        deadLetters=3,
        deadLetterWindow="1h",
        errorRate=0.25,
        errorRateWindow="1.5m",
        queueLag=42,
        queueLagFor="2m",
        notReadyFor="90s",
    )
    assert rules["XAgentDeadLetters"]["expr"].endswith("[1h])) >= 3")
    assert "for" not in rules["XAgentDeadLetters"]
    assert "[1m30s]" in rules["XAgentJobErrorRate"]["expr"]
    assert rules["XAgentJobErrorRate"]["expr"].endswith("> 0.25")
    assert rules["XAgentQueueLag"]["expr"].endswith("> 42")
    assert rules["XAgentQueueLag"]["for"] == "2m"
    assert rules["XAgentNotReady"]["for"] == "1m30s"


def test_every_series_is_scoped_to_the_agent() -> None:
    ctx = make_ctx()
    monitor = service_monitor.build(ctx)["servicemonitor"]
    svc = service.build(ctx)["service"]
    # The operator labels scraped series with the Service's namespace and name.
    assert svc["metadata"]["name"] == ctx.deployment_name
    assert monitor["metadata"]["namespace"] == ctx.namespace
    for rule in _rules().values():
        expr = rule["expr"]
        assert f'namespace="{ctx.namespace}"' in expr
        assert f'service="{ctx.deployment_name}"' in expr or "kube_deployment" in expr


def test_rules_query_series_the_runtime_exports() -> None:
    exported = {v for k, v in vars(METRICS).items() if k.isupper()}
    for rule in _rules().values():
        if rule["alert"] != "XAgentNotReady":
            assert any(name in rule["expr"] for name in exported), rule["expr"]


def test_extra_labels_do_not_replace_severity() -> None:
    rules = _rules(labels={"team": "ml", "severity": "info"})
    assert rules["XAgentNotReady"]["labels"]["team"] == "ml"
    assert rules["XAgentNotReady"]["labels"]["severity"] == "critical"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("deadLetterWindow", "0s"),
        ("errorRateWindow", "0m"),
        ("labels", {"bad-name": "x"}),
        ("labels", {"__name__": "x"}),
        ("errorRate", 0),
    ],
)
def test_the_xrd_refuses_what_prometheus_would(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=field if field != "errorRate" else "error_rate|errorRate"):
        make_spec(observability={"alerts": {field: value}})
