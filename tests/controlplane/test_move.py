"""Examples moved into a test's namespace, as the control-plane tests move them (no cluster).

An example is written for its own namespace; the control-plane tests apply it in a fresh one.
Whatever the policy binds to the namespace must move with it, or the XR breaks the policy
there and never composes: the trigger-subjects example once waited 90 s for a Synced that a
policy violation on spec.triggers.subjects kept away.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from function.render import RenderInputs, render
from tests.controlplane.xagents import EXAMPLES, Example

COMPOSING = sorted(
    p.parent.name for p in EXAMPLES.glob("*/xr.yaml") if p.parent.name != "policy-violation"
)
TEST_NAMESPACE = "t3-example-composes-what-render-prints"  # the shape conftest.py gives


def _render(example: Example) -> list[dict]:
    return render(
        RenderInputs(xr=example.xr, composition=example.composition, required=example.required)
    )


@pytest.mark.parametrize("name", COMPOSING)
def test_moved_example_composes(name: str) -> None:
    example = Example.load(EXAMPLES / name, TEST_NAMESPACE)

    docs = _render(example)  # a policy violation raises RenderError naming the field

    assert len(docs) > 1, "nothing composed"
    assert {d["metadata"].get("namespace") for d in docs[1:]} <= {TEST_NAMESPACE, None}


def test_trigger_subjects_move_with_the_namespace() -> None:
    example = Example.load(EXAMPLES / "triggers", TEST_NAMESPACE)

    ns = TEST_NAMESPACE
    assert example.xr["spec"]["triggers"]["subjects"] == [
        {"subject": f"xagent.{ns}.orders.*"},
        {"subject": f"xagent.{ns}.alerts.fired", "stream": f"xagent_{ns}_events"},
    ]


def test_names_outside_the_namespace_stay_outside() -> None:
    """Only the namespace-bound prefix moves: a name another namespace owns is not adopted."""
    example = Example.load(EXAMPLES / "triggers", "agents")
    example.xr["spec"]["triggers"]["subjects"] = [{"subject": "xagent.other.orders.*"}]

    example.move_to(TEST_NAMESPACE)

    assert example.xr["spec"]["triggers"]["subjects"] == [{"subject": "xagent.other.orders.*"}]


@settings(max_examples=15, deadline=None)
@given(st.from_regex(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?", fullmatch=True))
def test_triggers_example_composes_in_any_namespace(namespace: str) -> None:
    example = Example.load(EXAMPLES / "triggers", namespace)

    docs = _render(example)

    stream = next(d for d in docs if d["kind"] == "Stream")
    consumer = next(d for d in docs if d["kind"] == "Consumer")
    subjects = example.xr["spec"]["triggers"]["subjects"]
    assert consumer["spec"]["filterSubjects"][1:] == [t["subject"] for t in subjects]
    assert stream["spec"]["sources"] == [
        {"name": subjects[1]["stream"], "filterSubject": subjects[1]["subject"]}
    ]
