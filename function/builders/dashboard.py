"""A Grafana dashboard of this agent, in a ConfigMap the Grafana dashboard sidecar loads.

Composed only when the ServiceMonitor is: the panels query the series it scrapes, scoped to
this agent like the alerting rules (alerts.selector). The sidecar (kiwigrid k8s-sidecar, as
kube-prometheus-stack and the Grafana chart run it) picks up ConfigMaps carrying
``sidecarLabel: sidecarLabelValue`` and writes each key to a file, so the key is unique per
agent: two agents' dashboards never overwrite each other.
"""

from __future__ import annotations

import json
from typing import Any

from contract.metrics import LABELS, METRICS, STATUS
from function.builders.alerts import selector
from function.builders.base import AgentContext, Desired, Manifest
from function.names import short_hash

__all__ = ["FOLDER_ANNOTATION", "KEY", "build", "dashboard", "data_key"]

KEY = "dashboard"
COMPONENT = "runtime"
FOLDER_ANNOTATION = "grafana_folder"
"""The k8s-sidecar's default ``folderAnnotation``."""
SCHEMA_VERSION = 39
_WIDTH = 12
_HEIGHT = 8
_KEY_MAX = 253 - len(".json")


def build(ctx: AgentContext) -> Desired:
    """The dashboard ConfigMap, when the ServiceMonitor and the dashboard are enabled."""
    obs = ctx.spec.observability
    board = obs.dashboard
    if not (obs.service_monitor.enabled and board.enabled):
        return {}
    metadata = ctx.metadata(ctx.child("dashboard"), COMPONENT)
    metadata["labels"] = {board.sidecar_label: board.sidecar_label_value, **metadata["labels"]}
    if board.folder:
        metadata["annotations"] = {FOLDER_ANNOTATION: board.folder}
    return {
        KEY: {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": metadata,
            "data": {
                data_key(ctx): json.dumps(dashboard(ctx), sort_keys=True, separators=(",", ":"))
            },
        }
    }


def data_key(ctx: AgentContext) -> str:
    """The file the sidecar writes: ``xagent_<namespace>_<name>.json``, unique per agent.

    Neither a namespace nor an object name contains ``_``, so the key is injective; a key
    past the ConfigMap limit keeps a prefix and ends in a hash of the whole.
    """
    key = f"xagent_{ctx.namespace}_{ctx.name}"
    if len(key) > _KEY_MAX:
        digest = short_hash(key)
        key = f"{key[: _KEY_MAX - len(digest) - 1]}_{digest}"
    return f"{key}.json"


def dashboard(ctx: AgentContext) -> dict[str, Any]:
    """The dashboard model (Grafana schemaVersion 39)."""
    sel = selector(ctx)
    jobs = METRICS.JOBS_TOTAL
    failed = selector(ctx, **{LABELS.STATUS: f"{STATUS.FAILED}|{STATUS.DEAD_LETTERED}"})
    panels = [
        _timeseries(
            "Jobs per second by status",
            [(f"sum by (status) (rate({jobs}{sel}[$__rate_interval]))", "{{status}}")],
            "ops",
        ),
        _timeseries(
            "Job duration",
            [
                (_quantile(0.5, METRICS.JOB_DURATION_SECONDS, sel), "p50"),
                (_quantile(0.95, METRICS.JOB_DURATION_SECONDS, sel), "p95"),
            ],
            "s",
        ),
        _timeseries(
            "Model latency p95 by provider and model",
            [
                (
                    _quantile(0.95, METRICS.LLM_REQUEST_DURATION_SECONDS, sel, "provider, model"),
                    "{{provider}} {{model}}",
                )
            ],
            "s",
        ),
        _timeseries(
            "Tokens per second by model",
            [
                (
                    f"sum by (model, kind) (rate({METRICS.TOKENS_TOTAL}{sel}[$__rate_interval]))",
                    "{{model}} {{kind}}",
                )
            ],
            "short",
        ),
        _timeseries(
            "Queue: pending jobs and wait",
            [
                (f"max({METRICS.QUEUE_PENDING_JOBS}{sel})", "pending jobs"),
                (_quantile(0.95, METRICS.QUEUE_WAIT_SECONDS, sel), "wait p95 (s)"),
            ],
            "short",
        ),
        _timeseries(
            "Model errors by provider and type",
            [
                (
                    "sum by (provider, type) "
                    f"(rate({METRICS.MODEL_ERRORS_TOTAL}{sel}[$__rate_interval]))",
                    "{{provider}} {{type}}",
                ),
                (f"sum(rate({jobs}{failed}[$__rate_interval]))", "failed jobs"),
            ],
            "ops",
        ),
        _timeseries(
            "Tool calls by tool and outcome",
            [
                (
                    "sum by (tool, outcome) "
                    f"(rate({METRICS.TOOL_CALLS_TOTAL}{sel}[$__rate_interval]))",
                    "{{tool}} {{outcome}}",
                )
            ],
            "ops",
        ),
        _timeseries(
            "Jobs in flight",
            [(f"sum({METRICS.IN_FLIGHT_JOBS}{sel})", "in flight")],
            "short",
        ),
    ]
    spec = ctx.spec
    if spec.budgets is not None and spec.budgets.daily is not None:
        panels.append(
            _timeseries(
                "Daily budget remaining by unit",
                [
                    (
                        f"min by ({LABELS.UNIT}) ({METRICS.BUDGET_REMAINING}{sel})",
                        f"{{{{{LABELS.UNIT}}}}}",
                    )
                ],
                "short",
            )
        )
    if spec.approvals is not None:
        panels.append(
            _timeseries(
                "Approvals: pending calls and the oldest one's wait",
                [
                    (f"max({METRICS.APPROVALS_PENDING}{sel})", "pending calls"),
                    (
                        f"time() - min({METRICS.APPROVALS_OLDEST_PENDING}{sel} > 0)",
                        "oldest wait (s)",
                    ),
                ],
                "short",
            )
        )
    for i, panel in enumerate(panels):
        panel["id"] = i + 1
        panel["gridPos"] = {
            "h": _HEIGHT,
            "w": _WIDTH,
            "x": (i % 2) * _WIDTH,
            "y": (i // 2) * _HEIGHT,
        }
    return {
        "uid": f"xagent-{short_hash(f'{ctx.namespace}/{ctx.name}')}",
        "title": f"xagent {ctx.namespace}/{ctx.name}",
        "tags": ["xagent"],
        "timezone": "browser",
        "editable": False,
        "schemaVersion": SCHEMA_VERSION,
        "time": {"from": "now-6h", "to": "now"},
        "refresh": "30s",
        "templating": {
            "list": [
                {
                    "name": "datasource",
                    "label": "Data source",
                    "type": "datasource",
                    "query": "prometheus",
                }
            ]
        },
        "panels": panels,
    }


def _quantile(q: float, histogram: str, sel: str, by: str = "") -> str:
    group = f"le, {by}" if by else "le"
    return (
        f"histogram_quantile({q}, sum by ({group}) "
        f"(rate({histogram}_bucket{sel}[$__rate_interval])))"
    )


def _timeseries(title: str, targets: list[tuple[str, str]], unit: str) -> Manifest:
    return {
        "type": "timeseries",
        "title": title,
        "datasource": {"type": "prometheus", "uid": "${datasource}"},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "options": {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True}},
        "targets": [
            {
                "refId": chr(ord("A") + i),
                "datasource": {"type": "prometheus", "uid": "${datasource}"},
                "expr": expr,
                "legendFormat": legend,
            }
            for i, (expr, legend) in enumerate(targets)
        ],
    }
