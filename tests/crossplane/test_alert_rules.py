"""The composed PrometheusRule, checked and unit-tested by the real promtool.

``promtool check rules`` parses every expression and template the way Prometheus (and the
Prometheus operator's admission webhook) does; ``promtool test rules`` evaluates the rules
over synthetic series named as the runtime exports them (contract/metrics.py) and asserts
which alerts fire. Each alert is tested above its threshold (fires, with its labels and
annotations) and below it (silent), and against a louder agent next door (scoped).

promtool comes from scripts/build-tools.sh; without it these tests skip, under CI=true fail.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contract.metrics import BUDGET_UNIT, LABELS, METRICS, STATUS
from function.builders import alerts, dashboard
from tests.crossplane.conftest import tool
from tests.function.factories import make_ctx, make_spec

pytestmark = pytest.mark.promtool

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "golden"
NAMESPACE, NAME = "agents", "support-bot"


@pytest.fixture(scope="module")
def promtool() -> Path:
    """The pinned promtool binary."""
    return tool("promtool")


def run(promtool: Path, *args: str | Path, cwd: Path | None = None) -> str:
    """promtool's output; a non-zero exit fails the test with it."""
    proc = subprocess.run(
        [str(promtool), *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=60
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    return out


def composed_groups(text: str) -> list[dict[str, Any]]:
    """spec.groups of every PrometheusRule in a rendered multi-document YAML stream."""
    return [
        group
        for doc in yaml.load_all(text, Loader=yaml.CSafeLoader)
        if doc and doc.get("kind") == "PrometheusRule"
        for group in doc["spec"]["groups"]
    ]


# --- every rendering that composes a PrometheusRule -----------------------------------------


def test_every_golden_rule_passes_promtool_check(promtool: Path, tmp_path: Path) -> None:
    files = []
    for golden in sorted(GOLDEN.glob("*.yaml")):
        groups = composed_groups(golden.read_text())
        if groups:
            path = tmp_path / golden.name
            path.write_text(yaml.safe_dump({"groups": groups}))
            files.append(path)
    assert files, "no golden composes a PrometheusRule: the check would check nothing"
    out = run(promtool, "check", "rules", *files)
    assert out.count("SUCCESS") == len(files), out


DURATIONS = st.builds(
    lambda n, frac, unit: f"{n}{frac}{unit}",
    st.just(0) | st.integers(0, 10_000),
    st.sampled_from(["", ".5", ".0001", ".000000001"]),
    st.sampled_from(["ms", "s", "m", "h"]),
)
ALERT_SPECS = st.fixed_dictionaries(
    {},
    optional={
        "deadLetters": st.integers(1, 1_000_000),
        "deadLetterWindow": DURATIONS,
        "errorRate": st.floats(1e-9, 1, exclude_min=False),
        "errorRateWindow": DURATIONS,
        "queueLag": st.integers(1, 10_000_000),
        "queueLagFor": DURATIONS,
        "notReadyFor": DURATIONS,
        "budgetRemaining": st.floats(1e-9, 1, exclude_max=True),
        "jobLatency": DURATIONS,
        "approvalWait": DURATIONS,
        "labels": st.dictionaries(
            st.from_regex(r"[a-zA-Z][a-zA-Z0-9_]{0,20}", fullmatch=True),
            st.text(max_size=30),
            max_size=3,
        ),
    },
)


LIMITS = st.fixed_dictionaries(
    {},
    optional={"tokens": st.integers(1, 10**12), "cost": st.floats(0, 10**9)},
)
CAPABILITY_SPECS = st.fixed_dictionaries(
    {},
    optional={
        "budgets": st.fixed_dictionaries({"daily": LIMITS}),
        "approvals": st.fixed_dictionaries({"all": st.just(True)}, optional={"timeout": DURATIONS}),
    },
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ALERT_SPECS, CAPABILITY_SPECS)
def test_every_admitted_alert_spec_passes_promtool_check(
    promtool: Path,
    tmp_path_factory: pytest.TempPathFactory,
    alert_spec: dict[str, Any],
    capabilities: dict[str, Any],
) -> None:
    """Whatever thresholds, labels, budgets and approvals the spec admits, Prometheus
    accepts the rules."""
    try:
        spec = make_spec(**capabilities, observability={"alerts": alert_spec})
    except ValueError:
        return
    ctx = make_ctx(spec, name=NAME, namespace=NAMESPACE)
    path = tmp_path_factory.mktemp("rules") / "rules.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "g", "rules": alerts.rules(ctx)}]}))
    run(promtool, "check", "rules", path)


def test_dashboard_queries_parse(promtool: Path, tmp_path: Path) -> None:
    """Every panel's query is PromQL Prometheus parses (as a recording rule; Grafana's
    $__rate_interval stands for a range)."""
    spec = make_spec(**CAPABILITIES)
    board = dashboard.dashboard(make_ctx(spec, name=NAME, namespace=NAMESPACE))
    exprs = [t["expr"] for panel in board["panels"] for t in panel["targets"]]
    rules = [
        {"record": f"xagent:panel_{i}", "expr": e.replace("$__rate_interval", "5m")}
        for i, e in enumerate(exprs)
    ]
    (tmp_path / "dashboard.yaml").write_text(
        yaml.safe_dump({"groups": [{"name": "d", "rules": rules}]})
    )
    out = run(promtool, "check", "rules", tmp_path / "dashboard.yaml")
    assert f"SUCCESS: {len(rules)} rules found" in out


# --- promtool test rules: each alert fires above its threshold, not below -------------------

THRESHOLDS = {
    "jobLatency": "45s",
    "budgetRemaining": 0.1,
    "approvalWait": "30m",
    "deadLetters": 3,
    "deadLetterWindow": "10m",
    "errorRate": 0.2,
    "errorRateWindow": "5m",
    "queueLag": 100,
    "queueLagFor": "10m",
    "notReadyFor": "5m",
    "labels": {"team": "ml"},
}


CAPABILITIES = {
    "budgets": {"daily": {"tokens": 1000, "cost": 2}},
    "approvals": {"all": True},
}
"""A daily budget in both units (alerts below 100 tokens and 0.2 left) and approvals."""


def _series(metric: str, values: str, **labels: str) -> dict[str, str]:
    pairs = ",".join(f'{k}="{v}"' for k, v in labels.items())
    return {"series": f"{metric}{{{pairs}}}", "values": values}


def _ours(metric: str, values: str, **labels: str) -> dict[str, str]:
    """A series scraped from this agent's Service, as the operator labels it."""
    ctx = make_ctx(name=NAME, namespace=NAMESPACE)
    scrape = {"namespace": NAMESPACE, "service": ctx.deployment_name, "pod": "p-1"}
    return _series(metric, values, **{**scrape, **labels})


def _neighbour(metric: str, values: str, **labels: str) -> dict[str, str]:
    """The same series from another agent's Service in the namespace: never ours to alert on."""
    return _series(metric, values, namespace=NAMESPACE, service="other-bot", pod="o-1", **labels)


def _expand(template: str, value: str) -> str:
    """The annotation Prometheus renders when ``$value`` prints (or humanizes) as ``value``."""
    return re.sub(r"\{\{ \$value( \| humanize(Percentage|Duration))? \}\}", value, template)


def _expected(rule: dict[str, Any], value: str) -> dict[str, Any]:
    return {
        "exp_labels": dict(rule["labels"]),
        "exp_annotations": {k: _expand(v, value) for k, v in rule["annotations"].items()},
    }


def _case(
    rule: dict[str, Any], series: list[dict[str, str]], at: str, fires: str | None
) -> dict[str, Any]:
    """One promtool test: ``series`` in, ``rule`` firing at ``at`` with $value ``fires``."""
    return {
        "interval": "1m",
        "input_series": series,
        "alert_rule_test": [
            {
                "eval_time": at,
                "alertname": rule["alert"],
                "exp_alerts": [] if fires is None else [_expected(rule, fires)],
            }
        ],
    }


def _cases(rules: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    jobs = METRICS.JOBS_TOTAL
    dead = {LABELS.STATUS: STATUS.DEAD_LETTERED}
    ok = {LABELS.STATUS: STATUS.COMPLETED}
    failed = {LABELS.STATUS: STATUS.FAILED}
    retry = {LABELS.STATUS: STATUS.RETRYABLE}
    lag, ready = METRICS.QUEUE_PENDING_JOBS, "kube_deployment_status_replicas_unavailable"
    deployment = make_ctx(name=NAME, namespace=NAMESPACE).deployment_name
    quiet = "0x30"
    return [
        # Dead letters: 3 within 10m (one a minute, minutes 3 to 5) fire at once (no for).
        _case(
            rules["XAgentDeadLetters"],
            [_ours(jobs, "0 0 0 1 2 3 3x20", **dead), _neighbour(jobs, "0+5x30", **dead)],
            "10m",
            "3",
        ),
        # Two are below the threshold; the neighbour's 150 are not ours.
        _case(
            rules["XAgentDeadLetters"],
            [_ours(jobs, "0 0 0 1 2 2x20", **dead), _neighbour(jobs, "0+5x30", **dead)],
            "10m",
            None,
        ),
        # Retryable failures are not dead letters.
        _case(rules["XAgentDeadLetters"], [_ours(jobs, "0+1x30", **retry)], "10m", None),
        # Error rate: 1 failed to 1 completed a minute is 50% > 20%, for 5m.
        _case(
            rules["XAgentJobErrorRate"],
            [_ours(jobs, "0+1x30", **ok), _ours(jobs, "0+1x30", **failed)],
            "20m",
            "50%",
        ),
        # ... but not before it lasted 5m (rate needs two samples, then `for`).
        _case(
            rules["XAgentJobErrorRate"],
            [_ours(jobs, "0+1x30", **ok), _ours(jobs, "0+1x30", **failed)],
            "4m",
            None,
        ),
        # 1 failed to 9 completed is 10% < 20%; the neighbour fails everything.
        _case(
            rules["XAgentJobErrorRate"],
            [
                _ours(jobs, "0+9x30", **ok),
                _ours(jobs, "0+1x30", **failed),
                _neighbour(jobs, "0+9x30", **failed),
            ],
            "20m",
            None,
        ),
        # Queue lag: 150 pending > 100 for 10m.
        _case(rules["XAgentQueueLag"], [_ours(lag, "150x30")], "15m", "150"),
        _case(rules["XAgentQueueLag"], [_ours(lag, "150x30")], "5m", None),
        _case(
            rules["XAgentQueueLag"],
            [_ours(lag, "100x30"), _neighbour(lag, "10000x30")],
            "15m",
            None,
        ),
        # Not ready: one replica unavailable for 5m (kube-state-metrics' labels).
        _case(
            rules["XAgentNotReady"],
            [_series(ready, "1x30", namespace=NAMESPACE, deployment=deployment)],
            "10m",
            "1",
        ),
        _case(
            rules["XAgentNotReady"],
            [
                _series(ready, quiet, namespace=NAMESPACE, deployment=deployment),
                _series(ready, "3x30", namespace=NAMESPACE, deployment="other-bot"),
            ],
            "10m",
            None,
        ),
        # Slow jobs: one job a minute, each between 30 and 60 s: p95 interpolates to 58.5 s,
        # above 45 s for 10m. Between 10 and 30 s it is 29 s: silent.
        _case(rules["XAgentSlowJobs"], _durations("30", "60"), "20m", "58.5s"),
        _case(rules["XAgentSlowJobs"], _durations("30", "60"), "8m", None),
        _case(rules["XAgentSlowJobs"], _durations("10", "30"), "20m", None),
        # Budget: two pods' views of the daily tokens; the lower, 60 < 100 (10% of 1000).
        _budget_case(rules, ("400x30", "60x30"), BUDGET_UNIT.TOKENS, "60"),
        _budget_case(rules, ("400x30", "150x30"), BUDGET_UNIT.TOKENS, None),
        # Cost: 0.1 left of 2 is under 10%.
        _budget_case(rules, ("0.1x30",), BUDGET_UNIT.COST, "0.1"),
        _budget_case(rules, ("0.5x30",), BUDGET_UNIT.COST, None),
        # Approvals: the oldest pending call was opened at 60 s; at 40m it waited 39m > 30m.
        _case(
            rules["XAgentApprovalsWaiting"],
            [
                _ours(METRICS.APPROVALS_OLDEST_PENDING, "60x60", pod="p-1"),
                # Another pod saw it decided already (0: nothing waits): it does not hide it.
                _ours(METRICS.APPROVALS_OLDEST_PENDING, "0x60", pod="p-2"),
            ],
            "40m",
            "39m 0s",
        ),
        # ... at 20m it waited 19m; and a neighbour's hours-old call is not ours.
        _case(
            rules["XAgentApprovalsWaiting"],
            [
                _ours(METRICS.APPROVALS_OLDEST_PENDING, "60x60", pod="p-1"),
                _neighbour(METRICS.APPROVALS_OLDEST_PENDING, "1x60"),
            ],
            "20m",
            None,
        ),
        # Nothing pending (0) never alerts, however late.
        _case(
            rules["XAgentApprovalsWaiting"],
            [_ours(METRICS.APPROVALS_OLDEST_PENDING, "0x60", pod="p-1")],
            "50m",
            None,
        ),
    ]


def _durations(above: str, within: str) -> list[dict[str, str]]:
    """xagent_job_duration_seconds buckets: one job a minute, each in (above, within]."""
    bucket = f"{METRICS.JOB_DURATION_SECONDS}_bucket"
    series = [_ours(bucket, "0x30", le=above)]
    series += [_ours(bucket, "0+1x30", le=le) for le in (within, "+Inf")]
    # A neighbour's jobs take ten minutes: not ours.
    series += [_neighbour(bucket, "0+1x30", le="600"), _neighbour(bucket, "0x30", le="300")]
    return series


def _budget_case(
    rules: dict[str, dict[str, Any]], pods: tuple[str, ...], unit: str, fires: str | None
) -> dict[str, Any]:
    """xagent_budget_remaining{unit}, one series per pod (``pods``: their values); at 5m."""
    series = [
        _ours(
            METRICS.BUDGET_REMAINING,
            v,
            pod=f"p-{i}",
            agent=f"{NAMESPACE}/{NAME}",
            tenant="t1",
            **{LABELS.UNIT: unit},
        )
        for i, v in enumerate(pods)
    ]
    # The other unit stays plentiful, and a neighbour's budget is spent: neither alerts.
    other = BUDGET_UNIT.COST if unit == BUDGET_UNIT.TOKENS else BUDGET_UNIT.TOKENS
    series.append(_ours(METRICS.BUDGET_REMAINING, "1000000x30", **{LABELS.UNIT: other}))
    series.append(_neighbour(METRICS.BUDGET_REMAINING, "0x30", **{LABELS.UNIT: unit}))
    case = _case(rules["XAgentBudgetNearlySpent"], series, "5m", fires)
    for alert in case["alert_rule_test"][0]["exp_alerts"]:
        alert["exp_labels"][LABELS.UNIT] = unit
        alert["exp_annotations"] = {
            k: v.replace(f"{{{{ $labels.{LABELS.UNIT} }}}}", unit)
            for k, v in alert["exp_annotations"].items()
        }
    return case


def test_each_alert_fires_above_its_threshold_and_not_below(promtool: Path, tmp_path: Path) -> None:
    spec = make_spec(**CAPABILITIES, observability={"alerts": THRESHOLDS})
    ctx = make_ctx(spec, name=NAME, namespace=NAMESPACE)
    rule = alerts.build(ctx)["prometheusrule"]
    rules = {r["alert"]: r for r in rule["spec"]["groups"][0]["rules"]}
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump({"groups": rule["spec"]["groups"]}))
    cases = _cases(rules)
    tested = {c["alert_rule_test"][0]["alertname"] for c in cases}
    assert tested == set(rules), f"untested alerts: {set(rules) - tested}"
    (tmp_path / "tests.yaml").write_text(
        yaml.safe_dump({"rule_files": ["rules.yaml"], "evaluation_interval": "1m", "tests": cases})
    )
    out = run(promtool, "test", "rules", "tests.yaml", cwd=tmp_path)
    assert "SUCCESS" in out, out


def test_a_wrong_expectation_fails(promtool: Path, tmp_path: Path) -> None:
    """The harness can fail: a firing alert expected silent is reported by promtool."""
    ctx = make_ctx(make_spec(observability={"alerts": THRESHOLDS}), name=NAME, namespace=NAMESPACE)
    rule = alerts.build(ctx)["prometheusrule"]
    rules = {r["alert"]: r for r in rule["spec"]["groups"][0]["rules"]}
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump({"groups": rule["spec"]["groups"]}))
    case = _case(
        rules["XAgentQueueLag"], [_ours(METRICS.QUEUE_PENDING_JOBS, "150x30")], "15m", None
    )
    (tmp_path / "tests.yaml").write_text(
        yaml.safe_dump({"rule_files": ["rules.yaml"], "evaluation_interval": "1m", "tests": [case]})
    )
    proc = subprocess.run(
        [str(promtool), "test", "rules", "tests.yaml"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
    )
    assert proc.returncode != 0
    assert "XAgentQueueLag" in proc.stdout + proc.stderr
