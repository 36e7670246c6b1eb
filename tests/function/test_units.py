"""Quantities and durations: apimachinery's grammar, Go's range, bounded parsing, field paths.

Repros from issues 9 (item 10) and 10: ``cache.memory: "1e999999"`` cost 70 s of CPU,
``"1.2.3"`` and a 400-digit duration ended in an internal error with no field path,
``ackWait: 3000000h`` rendered a duration NACK cannot parse and ``0s`` one the runtime refuses.
"""

from __future__ import annotations

import signal
from decimal import Decimal

import pytest
from crossplane.function import resource
from crossplane.function.proto.v1 import run_function_pb2 as fnv1

from function import units
from function.fn import FunctionRunner
from tests.function.factories import MINIMAL_SPEC, deep_merge


@pytest.fixture(autouse=True)
def _bounded():
    """Fail instead of spinning: every parse here must finish in well under 5 s."""

    def expire(*_):
        raise TimeoutError("parsing took more than 5 s")

    old = signal.signal(signal.SIGALRM, expire)
    signal.alarm(5)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("512Mi", Decimal(512 * 2**20)),
        ("1", Decimal(1)),
        ("500m", Decimal("0.5")),
        ("1.5Gi", Decimal(3 * 2**29)),
        ("1e3", Decimal(1000)),
        ("1E", Decimal(10**18)),
        ("+2k", Decimal(2000)),
        (".5", Decimal("0.5")),
        ("0", Decimal(0)),
    ],
)
def test_quantity_value(text: str, want: Decimal) -> None:
    assert units.quantity_value(text) == want


@pytest.mark.parametrize(
    "text", ["1.2.3", "-1", "1e999999", "1e999", "9" * 31, "1Qi", "1mi", " 1", "1 ", "", "e3"]
)
def test_quantity_rejects(text: str) -> None:
    with pytest.raises(ValueError, match=r"quantity|larger"):
        units.quantity_value(text)


@pytest.mark.parametrize(
    ("text", "want"),
    [("1m30s", Decimal(90)), ("500ms", Decimal("0.5")), ("1.5h", Decimal(5400))],
)
def test_duration_seconds(text: str, want: Decimal) -> None:
    assert units.duration_seconds(text) == want


@pytest.mark.parametrize(
    ("text", "want"),
    [("60s", 60.0), ("1m30s", 90.0), ("1.5h", 5400.0), ("250ms", 0.25), ("2h0m5s", 7205.0)],
)
def test_seconds(text: str, want: float) -> None:
    assert units.seconds(text) == want


@pytest.mark.parametrize("text", ["3000000h", "9" * 400 + "s", "1d", "", "1h 2m", "-1s"])
def test_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError, match=r"duration|longer"):
        units.duration_seconds(text)


async def _run(spec_overrides: dict) -> fnv1.RunFunctionResponse:
    req = fnv1.RunFunctionRequest()
    resource.update(
        req.observed.composite,
        {
            "apiVersion": "xagent.dev/v1alpha1",
            "kind": "XAgent",
            "metadata": {"name": "a", "namespace": "n"},
            "spec": deep_merge(MINIMAL_SPEC, spec_overrides),
        },
    )
    return await FunctionRunner().RunFunction(req)


@pytest.mark.parametrize(
    ("overrides", "path"),
    [
        ({"persistence": {"cache": {"memory": "1.2.3"}}}, "spec.persistence.cache.memory"),
        ({"persistence": {"cache": {"memory": "1e999999"}}}, "spec.persistence.cache.memory"),
        ({"persistence": {"cache": {"memory": "1e99"}}}, "spec.persistence.cache.memory"),
        ({"persistence": {"cache": {"memory": "0"}}}, "spec.persistence.cache.memory"),
        ({"persistence": {"database": {"storage": {"size": "-1Gi"}}}}, "spec.persistence"),
        ({"resources": {"requests": {"cpu": "2"}}}, "spec.resources"),
        ({"resources": {"limits": {"memory": "1.2.3"}}}, "spec.resources.limits.memory"),
        ({"queue": {"ackWait": "3000000h"}}, "spec.queue.ackWait"),
        ({"queue": {"ackWait": "0s"}}, "spec.queue.ackWait"),
        ({"queue": {"ackWait": "9" * 400 + "s"}}, "spec.queue.ackWait"),
        ({"behavior": {"conversationTTL": "0h"}}, "spec.behavior.conversationTTL"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
async def test_bad_quantities_and_durations_are_fatal_naming_the_field(
    overrides: dict, path: str
) -> None:
    rsp = await _run(overrides)
    assert [r.severity for r in rsp.results] == [fnv1.SEVERITY_FATAL]
    assert rsp.results[0].message.startswith(path), rsp.results[0].message
    assert "internal error" not in rsp.results[0].message
    assert len(rsp.desired.resources) == 0


async def test_request_within_default_limit_composes() -> None:
    rsp = await _run({"resources": {"requests": {"cpu": "1"}}, "queue": {"maxAge": "0s"}})
    assert [r.message for r in rsp.results if r.severity == fnv1.SEVERITY_FATAL] == []


def test_the_xrd_carries_the_grammars() -> None:
    """The API server checks the same grammar the function does (the patterns once vanished)."""
    from pathlib import Path

    import yaml

    xrd = yaml.safe_load((Path(__file__).parents[2] / "xrds" / "xagent.yaml").read_text())
    spec = xrd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    props = spec["properties"]
    cache = props["persistence"]["properties"]["cache"]["properties"]
    assert cache["memory"]["pattern"] == units.QUANTITY
    limits = props["resources"]["properties"]["limits"]["properties"]
    assert limits["cpu"]["pattern"] == units.QUANTITY
    assert props["queue"]["properties"]["ackWait"]["pattern"] == units.DURATION
