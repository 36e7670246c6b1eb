"""spec.triggers.subjects: composed into the agent's Stream and Consumer, confined by policy."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from function import nats_subjects, policy
from function.builders import build_all
from function.input import Policy
from tests.function.factories import make_ctx, make_spec
from tests.function.schemas import assert_valid

# --- overlap, against brute force --------------------------------------------------------------


def _matches(filter_: str, subject: str) -> bool:
    f, s = filter_.split("."), subject.split(".")
    for i, token in enumerate(f):
        if token == ">":
            return len(s) > i
        if i >= len(s) or (token != "*" and token != s[i]):
            return False
    return len(f) == len(s)


_SUBJECTS = [".".join(p) for n in range(1, 5) for p in itertools.product("abc", repeat=n)]
_FILTER = st.lists(st.sampled_from(["a", "b", "*"]), min_size=0, max_size=3).flatmap(
    lambda tokens: st.sampled_from([".".join(tokens)] * bool(tokens) + [".".join([*tokens, ">"])])
)


@given(_FILTER, _FILTER)
def test_overlap_is_some_subject_matching_both(a: str, b: str) -> None:
    brute = any(_matches(a, s) and _matches(b, s) for s in _SUBJECTS)
    assert nats_subjects.overlap(a, b) == brute
    assert nats_subjects.overlap(b, a) == brute


# --- composition -------------------------------------------------------------------------------


def _spec(*subjects: dict[str, Any], **overrides: Any):
    return make_spec(triggers={"subjects": list(subjects)}, **overrides)


def test_captured_and_sourced_subjects_feed_the_workers() -> None:
    ctx = make_ctx(
        _spec(
            {"subject": "xagent.agents.orders.*"},
            {"subject": "xagent.agents.alerts.fired", "stream": "xagent_agents_events"},
        )
    )
    assert policy.trigger_violations(ctx) == []
    desired = assert_valid(build_all(ctx))
    stream, consumer = desired["stream"]["spec"], desired["consumer"]["spec"]
    assert stream["subjects"] == [f"{ctx.subject_prefix}.>", "xagent.agents.orders.*"]
    assert stream["sources"] == [
        {"name": "xagent_agents_events", "filterSubject": "xagent.agents.alerts.fired"}
    ]
    assert "filterSubject" not in consumer
    assert consumer["filterSubjects"] == [
        f"{ctx.subject_prefix}.jobs",
        "xagent.agents.orders.*",
        "xagent.agents.alerts.fired",
    ]


def test_without_trigger_subjects_the_consumer_is_unchanged() -> None:
    desired = build_all(make_ctx())
    assert desired["consumer"]["spec"]["filterSubject"].endswith(".jobs")
    assert "filterSubjects" not in desired["consumer"]["spec"]
    assert "sources" not in desired["stream"]["spec"]


def test_subjects_need_the_nats_engine() -> None:
    with pytest.raises(ValidationError, match=r"triggers\.subjects: needs queue\.engine nats"):
        _spec({"subject": "xagent.agents.orders"}, queue={"engine": "none"})


@pytest.mark.parametrize("subject", ["xagent.agents.>.x", "a..b", "a b", "a.b*", ">.a", "", ">"])
def test_malformed_filters_are_refused_by_the_schema(subject: str) -> None:
    with pytest.raises(ValidationError, match=r"triggers.subjects.0.subject"):
        _spec({"subject": subject})


# --- confinement: a hostile tenant -------------------------------------------------------------

HOSTILE = [
    # Another namespace's subjects, or none at all.
    ({"subject": "xagent.other.orders"}, "subjects[0].subject", "outside this namespace"),
    ({"subject": "orders.created"}, "subjects[0].subject", "outside this namespace"),
    ({"subject": "*.agents.orders"}, "subjects[0].subject", "outside this namespace"),
    ({"subject": "xagent.agentsx.orders"}, "subjects[0].subject", "outside this namespace"),
    # The agent's own results and dead letters would come back as jobs.
    ({"subject": "xagent.agents.>"}, "subjects[0].subject", "overlaps the agent's own"),
    ({"subject": "xagent.agents.*.results"}, "subjects[0].subject", "overlaps the agent's own"),
    (
        {"subject": "xagent.agents.support-bot.dead"},
        "subjects[0].subject",
        "overlaps the agent's own",
    ),
    # Another namespace's stream, or the agent's own.
    (
        {"subject": "xagent.agents.x", "stream": "xagent_other_events"},
        "subjects[0].stream",
        "outside this namespace",
    ),
    (
        {"subject": "xagent.agents.x", "stream": "xagent_agents_support-bot"},
        "subjects[0].stream",
        "the agent's own stream",
    ),
]


@pytest.mark.parametrize(("entry", "path", "problem"), HOSTILE)
def test_hostile_subjects_are_refused_with_the_field(entry, path, problem) -> None:
    violations = policy.trigger_violations(make_ctx(_spec(entry)))
    assert [v.path for v in violations] == [f"spec.triggers.{path}"]
    assert problem in violations[0].message
    assert violations[0].rule == "queues"


def test_overlapping_trigger_subjects_are_refused() -> None:
    ctx = make_ctx(
        _spec({"subject": "xagent.agents.orders.*"}, {"subject": "xagent.agents.orders.created"})
    )
    [violation] = policy.trigger_violations(ctx)
    assert violation.path == "spec.triggers.subjects[1].subject"
    assert "overlaps 'xagent.agents.orders.*'" in violation.message


def test_tenant_prefixes_from_the_policy() -> None:
    strict = Policy.model_validate(
        {"queues": {"subjectPrefixes": ["events.{tenantId}."], "streamPrefixes": []}}
    )
    ok = make_ctx(_spec({"subject": "events.t1.orders"}), policy=strict)
    assert policy.trigger_violations(ok) == []
    sourced = make_ctx(_spec({"subject": "events.t1.x", "stream": "EVENTS"}), policy=strict)
    [violation] = policy.trigger_violations(sourced)
    assert "none allowed" in violation.message


def test_a_hostile_spec_composes_nothing() -> None:
    """Through the whole function: a violation is a Fatal that composes no Stream at all."""
    from function import compose
    from function.definition_source import resolve

    ctx = make_ctx(_spec({"subject": "xagent.other.orders"}))
    outcome = compose.compose(
        ctx.name, ctx.namespace, ctx.spec, resolve(ctx.name, ctx.spec, None), Policy(), {}
    )
    assert outcome.desired == {}
    assert outcome.fatal is not None
    assert "spec.triggers.subjects[0].subject" in outcome.fatal
