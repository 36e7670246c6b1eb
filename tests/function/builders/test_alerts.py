"""The PrometheusRule: with the ServiceMonitor, scoped to the agent, thresholds from the spec."""

from __future__ import annotations

import pytest

from contract.metrics import METRICS
from function.builders import alerts, service, service_monitor
from tests.function.factories import Case, case_ids, make_ctx, make_spec
from tests.function.schemas import assert_valid


def _rules(spec: dict | None = None, **alert_spec: object) -> dict[str, dict]:
    ctx = make_ctx(make_spec(**(spec or {}), observability={"alerts": alert_spec}))
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
        # Above zero, but under Prometheus' millisecond resolution: the range would be [0].
        ("deadLetterWindow", "0.0001ms"),
        ("errorRateWindow", "0.4ms"),
        ("labels", {"bad-name": "x"}),
        ("labels", {"__name__": "x"}),
        ("errorRate", 0),
    ],
)
def test_the_xrd_refuses_what_prometheus_would(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=field if field != "errorRate" else "error_rate|errorRate"):
        make_spec(observability={"alerts": {field: value}})


def test_budget_rule_per_limited_daily_unit() -> None:
    rules = _rules({"budgets": {"daily": {"tokens": 5000, "cost": 3}}}, budgetRemaining=0.2)
    expr = rules["XAgentBudgetNearlySpent"]["expr"]
    assert f"{METRICS.BUDGET_REMAINING}{{" in expr
    assert 'unit="tokens"}) < 1000.0' in expr
    assert 'unit="cost"}) < 0.6000000000000001' in expr
    assert "20%" in rules["XAgentBudgetNearlySpent"]["annotations"]["description"]
    only_cost = _rules({"budgets": {"daily": {"cost": 3}}})["XAgentBudgetNearlySpent"]["expr"]
    assert "tokens" not in only_cost


def test_budget_rule_needs_a_daily_budget() -> None:
    """Job and thread budgets set no gauge; without budgets there is nothing to spend."""
    assert "XAgentBudgetNearlySpent" not in _rules()
    assert "XAgentBudgetNearlySpent" not in _rules({"budgets": {"job": {"tokens": 10}}})


def test_approval_rule_with_approvals_only() -> None:
    assert "XAgentApprovalsWaiting" not in _rules()
    rules = _rules({"approvals": {"all": True, "timeout": "2h"}}, approvalWait="90m")
    rule = rules["XAgentApprovalsWaiting"]
    assert f"min({METRICS.APPROVALS_OLDEST_PENDING}{{" in rule["expr"]
    assert rule["expr"].endswith("> 5400.0")
    assert "times out after 2h" in rule["annotations"]["description"]


@pytest.mark.parametrize(("field", "value"), [("budgetRemaining", 0), ("budgetRemaining", 1)])
def test_budget_share_is_a_fraction(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=field + "|budget_remaining"):
        make_spec(observability={"alerts": {field: value}})


def test_latency_rule_only_with_a_threshold() -> None:
    assert "XAgentSlowJobs" not in _rules()
    rule = _rules(jobLatency="1.5m")["XAgentSlowJobs"]
    assert f"{METRICS.JOB_DURATION_SECONDS}_bucket{{" in rule["expr"]
    assert rule["expr"].endswith("> 90.0")
    assert rule["for"] == alerts.LATENCY_FOR
    assert "threshold 1m30s" in rule["annotations"]["description"]
