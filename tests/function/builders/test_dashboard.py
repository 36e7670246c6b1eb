"""The Grafana dashboard ConfigMap: sidecar label, unique key, a dashboard Grafana's model loads."""

from __future__ import annotations

import json
from typing import Any

import pytest
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import dashboard as grafana
from grafana_foundation_sdk.models import timeseries

from contract.metrics import METRICS
from function.builders import dashboard
from tests.function.factories import make_ctx, make_spec
from tests.function.schemas import assert_valid


def _board(ctx) -> dict[str, Any]:
    cm = assert_valid(dashboard.build(ctx))["dashboard"]
    ((key, text),) = cm["data"].items()
    assert key == dashboard.data_key(ctx)
    return json.loads(text)


_ABSENT = object()


def _missing(want: Any, got: Any, path: str = "") -> list[str]:
    """Paths of ``want`` that ``got`` lacks or holds differently (got may add defaults)."""
    if isinstance(want, dict):
        if not isinstance(got, dict):
            return [path]
        return [m for k, v in want.items() for m in _missing(v, got.get(k, _ABSENT), f"{path}.{k}")]
    if isinstance(want, list):
        if not isinstance(got, list) or len(got) != len(want):
            return [path]
        pairs = enumerate(zip(want, got, strict=True))
        return [m for i, (a, b) in pairs for m in _missing(a, b, f"{path}[{i}]")]
    return [] if want == got else [f"{path}: {want!r} != {got!r}"]


def test_configmap() -> None:
    ctx = make_ctx(
        make_spec(
            observability={
                "dashboard": {
                    "sidecarLabel": "grafana/dash",
                    "sidecarLabelValue": "yes",
                    "folder": "Agents",
                }
            }
        )
    )
    cm = assert_valid(dashboard.build(ctx))["dashboard"]
    assert cm["kind"] == "ConfigMap"
    assert cm["metadata"]["labels"]["grafana/dash"] == "yes"
    assert cm["metadata"]["labels"].items() >= ctx.labels("runtime").items()
    assert cm["metadata"]["annotations"] == {"grafana_folder": "Agents"}
    assert dashboard.data_key(ctx) == "xagent_agents_support-bot.json"


def test_default_sidecar_label() -> None:
    cm = dashboard.build(make_ctx())["dashboard"]
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert "annotations" not in cm["metadata"]


@pytest.mark.parametrize(
    "observability",
    [{"serviceMonitor": {"enabled": False}}, {"dashboard": {"enabled": False}}],
)
def test_disabled(observability: dict) -> None:
    assert dashboard.build(make_ctx(make_spec(observability=observability))) == {}


def test_keys_are_unique_per_agent() -> None:
    # "a-b"/"c" and "a"/"b-c" would share a key joined by "-".
    one = dashboard.data_key(make_ctx(namespace="a-b", name="c"))
    two = dashboard.data_key(make_ctx(namespace="a", name="b-c"))
    assert one != two


def test_long_names_fit_a_configmap_key() -> None:
    key = dashboard.data_key(make_ctx(namespace="n" * 63, name="x" * 253))
    assert len(key) <= 253
    assert key.endswith(".json")


CAPABLE = make_spec(budgets={"daily": {"tokens": 1000}}, approvals={"all": True})
"""A spec with a daily budget and approvals: every panel there is."""


@pytest.mark.parametrize("spec", [None, CAPABLE], ids=["minimal", "budgets-approvals"])
def test_grafana_model_loads_it_unchanged(spec) -> None:
    board = _board(make_ctx(spec))
    model = grafana.Dashboard.from_json(board)
    back = json.loads(json.dumps(model, cls=JSONEncoder))
    assert _missing(board, back) == []
    for panel in board["panels"]:
        assert panel["type"] == "timeseries"
        for part, cls in (("options", timeseries.Options), ("fieldConfig", None)):
            if cls is not None:
                loaded = json.loads(json.dumps(cls.from_json(panel[part]), cls=JSONEncoder))
                assert _missing(panel[part], loaded) == [], panel["title"]
        assert {t["refId"] for t in panel["targets"]} == {
            chr(ord("A") + i) for i in range(len(panel["targets"]))
        }


@pytest.mark.parametrize("spec", [None, CAPABLE], ids=["minimal", "budgets-approvals"])
def test_panels_do_not_overlap(spec) -> None:
    cells = set()
    for panel in _board(make_ctx(spec))["panels"]:
        pos = panel["gridPos"]
        for x in range(pos["x"], pos["x"] + pos["w"]):
            for y in range(pos["y"], pos["y"] + pos["h"]):
                assert (x, y) not in cells, panel["title"]
                cells.add((x, y))
        assert pos["x"] + pos["w"] <= 24


def test_covers_jobs_latency_tokens_queue_and_errors() -> None:
    exprs = " ".join(t["expr"] for p in _board(make_ctx())["panels"] for t in p["targets"])
    for metric in (
        METRICS.JOBS_TOTAL,
        METRICS.LLM_REQUEST_DURATION_SECONDS,
        METRICS.TOKENS_TOTAL,
        METRICS.QUEUE_PENDING_JOBS,
        METRICS.QUEUE_WAIT_SECONDS,
        METRICS.MODEL_ERRORS_TOTAL,
        METRICS.TOOL_CALLS_TOTAL,
    ):
        assert metric in exprs, metric


@pytest.mark.parametrize("label", ["app.kubernetes.io/name", "xagent.dev/agent", "bad label"])
def test_sidecar_label_may_not_be_ours_or_invalid(label: str) -> None:
    with pytest.raises(ValueError, match=r"sidecarLabel|sidecar_label"):
        make_spec(observability={"dashboard": {"sidecarLabel": label}})


def test_budget_and_approval_panels_only_with_budgets_and_approvals() -> None:
    def exprs(spec) -> str:
        return " ".join(t["expr"] for p in _board(make_ctx(spec))["panels"] for t in p["targets"])

    wanted = (
        METRICS.BUDGET_REMAINING,
        METRICS.APPROVALS_PENDING,
        METRICS.APPROVALS_OLDEST_PENDING,
    )
    assert all(m in exprs(CAPABLE) for m in wanted)
    assert not any(m in exprs(None) for m in wanted)
    # A job or thread budget alone sets no daily gauge: no panel that stays empty.
    assert METRICS.BUDGET_REMAINING not in exprs(make_spec(budgets={"job": {"tokens": 10}}))
