"""The Prometheus operator PrometheusRule that alerts on the runtime's own metrics.

Composed only when the ServiceMonitor is (spec.observability.serviceMonitor.enabled): the
rules query the series that ServiceMonitor scrapes, and Prometheus selects rules by the same
release label it selects ServiceMonitors by, so the rule carries serviceMonitor.labels.

Every expression is scoped to this agent by the ``namespace`` and ``service`` target labels
the Prometheus operator gives every series a ServiceMonitor scrapes. ``XAgentNotReady``
reads kube-state-metrics (``kube_deployment_status_replicas_unavailable``), which the usual
Prometheus stacks run; without it that one rule never fires.

``XAgentBudgetNearlySpent`` (with spec.budgets.daily) and ``XAgentApprovalsWaiting`` (with
spec.approvals) read gauges each pod sets from the shared counters: the budget's when a pod
checks it (before each model call and each new job), the approvals' on every sweep pass. The
budget rule takes the lowest of the pods' values, the freshest during a day; after midnight
UTC a pod that has not checked yet still shows yesterday's until its next job.
"""

from __future__ import annotations

from contract.metrics import BUDGET_UNIT, LABELS, METRICS, STATUS
from function import units
from function.builders.base import AgentContext, Desired, Manifest
from function.builders.service_monitor import prometheus_duration

__all__ = ["ERROR_RATE_FOR", "KEY", "build", "group_name", "rules", "selector"]

KEY = "prometheusrule"
COMPONENT = "runtime"
API_VERSION = "monitoring.coreos.com/v1"
ERROR_RATE_FOR = "5m"
"""How long the error rate must stay above the threshold: one bad minute is not an incident."""
LATENCY_WINDOW = "5m"
"""The window the job-duration percentile is computed over."""
LATENCY_FOR = "10m"
"""How long the percentile must stay above alerts.jobLatency."""


def build(ctx: AgentContext) -> Desired:
    """A PrometheusRule with one group of this agent's alerts, when monitoring is on."""
    obs = ctx.spec.observability
    if not (obs.service_monitor.enabled and obs.alerts.enabled):
        return {}
    metadata = ctx.metadata(ctx.child("alerts"), COMPONENT)
    # xagent's own labels win, as on the ServiceMonitor.
    metadata["labels"] = {**obs.service_monitor.labels, **metadata["labels"]}
    return {
        KEY: {
            "apiVersion": API_VERSION,
            "kind": "PrometheusRule",
            "metadata": metadata,
            "spec": {"groups": [{"name": group_name(ctx), "rules": rules(ctx)}]},
        }
    }


def group_name(ctx: AgentContext) -> str:
    """The rule group; unique per agent, as Prometheus requires across loaded files."""
    return f"xagent.{ctx.namespace}.{ctx.name}"


def selector(ctx: AgentContext, **extra: str) -> str:
    """A PromQL label matcher for this agent's scraped series (``=~`` when a value has |)."""
    pairs = {"namespace": ctx.namespace, "service": ctx.deployment_name, **extra}
    return "{" + ",".join(f'{k}{"=~" if "|" in v else "="}"{v}"' for k, v in pairs.items()) + "}"


def rules(ctx: AgentContext) -> list[Manifest]:
    """The alerting rules, thresholds from spec.observability.alerts."""
    alerts = ctx.spec.observability.alerts
    jobs = METRICS.JOBS_TOTAL
    failed = f"{STATUS.FAILED}|{STATUS.DEAD_LETTERED}"
    finished = f"{STATUS.COMPLETED}|{failed}"
    dead_window = prometheus_duration(alerts.dead_letter_window)
    rate_window = prometheus_duration(alerts.error_rate_window)
    agent = f"{ctx.namespace}/{ctx.name}"
    return [
        _rule(
            ctx,
            "XAgentDeadLetters",
            f"sum(increase({jobs}{selector(ctx, **{LABELS.STATUS: STATUS.DEAD_LETTERED})}"
            f"[{dead_window}])) >= {alerts.dead_letters}",
            "0",
            "warning",
            f"Agent {agent} dead-lettered jobs",
            f"{{{{ $value }}}} jobs went to the dead-letter subject in {dead_window}: they "
            "failed every delivery. Read them from the agent's .dead subject.",
        ),
        _rule(
            ctx,
            "XAgentJobErrorRate",
            f"sum(rate({jobs}{selector(ctx, **{LABELS.STATUS: failed})}[{rate_window}])) / "
            f"sum(rate({jobs}{selector(ctx, **{LABELS.STATUS: finished})}[{rate_window}])) "
            f"> {alerts.error_rate:g}",
            ERROR_RATE_FOR,
            "warning",
            f"Agent {agent} fails too many jobs",
            f"{{{{ $value | humanizePercentage }}}} of finished jobs failed over {rate_window} "
            f"(threshold {alerts.error_rate:g}).",
        ),
        _rule(
            ctx,
            "XAgentQueueLag",
            f"max({METRICS.QUEUE_PENDING_JOBS}{selector(ctx)}) > {alerts.queue_lag}",
            prometheus_duration(alerts.queue_lag_for),
            "warning",
            f"Agent {agent} falls behind its queue",
            f"{{{{ $value }}}} jobs are waiting (threshold {alerts.queue_lag}); the agent "
            "may be at maxReplicas or stuck.",
        ),
        _rule(
            ctx,
            "XAgentNotReady",
            "max(kube_deployment_status_replicas_unavailable"
            f'{{namespace="{ctx.namespace}",deployment="{ctx.deployment_name}"}}) > 0',
            prometheus_duration(alerts.not_ready_for),
            "critical",
            f"Agent {agent} has replicas that are not ready",
            "{{ $value }} runtime replicas are unavailable: /ready fails (Postgres, cache "
            "or NATS unreachable) or the pods do not start.",
        ),
        *_latency_rules(ctx),
        *_budget_rules(ctx),
        *_approval_rules(ctx),
    ]


def _latency_rules(ctx: AgentContext) -> list[Manifest]:
    """Slow jobs: the p95 job duration over LATENCY_WINDOW above alerts.jobLatency."""
    latency = ctx.spec.observability.alerts.job_latency
    if latency is None:
        return []
    seconds = float(units.duration_seconds(latency))
    buckets = f"{METRICS.JOB_DURATION_SECONDS}_bucket{selector(ctx)}"
    agent = f"{ctx.namespace}/{ctx.name}"
    return [
        _rule(
            ctx,
            "XAgentSlowJobs",
            f"histogram_quantile(0.95, sum by (le) (rate({buckets}[{LATENCY_WINDOW}]))) "
            f"> {seconds!r}",
            LATENCY_FOR,
            "warning",
            f"Agent {agent} answers slowly",
            "95% of jobs took up to {{ $value | humanizeDuration }} over the last "
            f"{LATENCY_WINDOW} (threshold {prometheus_duration(latency)}): the model, a tool "
            "or a backend is slow.",
        )
    ]


def _budget_rules(ctx: AgentContext) -> list[Manifest]:
    """Budget nearly spent: a daily limit's remaining amount under its share, per unit."""
    budgets = ctx.spec.budgets
    daily = budgets.daily if budgets is not None else None
    if daily is None:
        return []
    share = ctx.spec.observability.alerts.budget_remaining
    limits = {BUDGET_UNIT.TOKENS: daily.tokens, BUDGET_UNIT.COST: daily.cost}
    remaining = METRICS.BUDGET_REMAINING
    # One alert per limited unit: the unit label tells them apart. repr() is the shortest
    # exact float, which PromQL parses (1e+22 included).
    expr = " or ".join(
        f"min by ({LABELS.UNIT}) ({remaining}{selector(ctx, **{LABELS.UNIT: unit})}) "
        f"< {float(limit) * share!r}"
        for unit, limit in limits.items()
        if limit is not None
    )
    agent = f"{ctx.namespace}/{ctx.name}"
    return [
        _rule(
            ctx,
            "XAgentBudgetNearlySpent",
            expr,
            "0",
            "warning",
            f"Agent {agent} has nearly spent its daily budget",
            f"Only {{{{ $value }}}} {{{{ $labels.{LABELS.UNIT} }}}} of the daily budget are "
            f"left (alert below {share * 100:g}% of the limit). When it is spent, new jobs are "
            "refused until midnight UTC.",
        )
    ]


def _approval_rules(ctx: AgentContext) -> list[Manifest]:
    """Approvals waiting too long: the oldest undecided tool call is older than approvalWait."""
    approvals = ctx.spec.approvals
    if approvals is None:
        return []
    wait = ctx.spec.observability.alerts.approval_wait
    seconds = float(units.duration_seconds(wait))
    oldest = METRICS.APPROVALS_OLDEST_PENDING
    agent = f"{ctx.namespace}/{ctx.name}"
    # 0 means nothing waits; min over pods whose view has something waiting.
    return [
        _rule(
            ctx,
            "XAgentApprovalsWaiting",
            f"time() - min({oldest}{selector(ctx)} > 0) > {seconds!r}",
            "0",
            "warning",
            f"Agent {agent} has tool calls waiting too long for approval",
            f"The oldest pending tool call has waited {{{{ $value | humanizeDuration }}}} "
            f"for a human decision (alert after {prometheus_duration(wait)}; it times out "
            f"after {prometheus_duration(approvals.timeout)} with action "
            f"{approvals.timeout_action}). Decide it with POST /threads/{{id}}/approvals.",
        )
    ]


def _rule(
    ctx: AgentContext,
    name: str,
    expr: str,
    for_: str,
    severity: str,
    summary: str,
    description: str,
) -> Manifest:
    rule: Manifest = {"alert": name, "expr": expr}
    if for_ != "0":
        rule["for"] = for_
    rule["labels"] = {
        **ctx.spec.observability.alerts.labels,
        "severity": severity,
        "namespace": ctx.namespace,
        "xagent": ctx.name,
    }
    rule["annotations"] = {"summary": summary, "description": description}
    return rule
