"""Composed names fit every operator's limit and never collide between two XAgents.

Issue 10 (operator limits) and issue 9 item 6 (injectivity): ``a.b``/``a-b``,
``1abc``/``x1abc`` and agent ``bot`` (redis cache) / agent ``bot-cache`` used to compose the
same objects; a 63-character XR name gave a 63-character CNPG Cluster and Dragonfly.
"""

from __future__ import annotations

import itertools
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from function.builders import build_all
from function.builders.base import AgentContext
from function.builders.postgres import sql_database_name
from function.names import child_name, nats_token, root_name
from tests.function.factories import make_ctx
from tests.function.name_limits import name_problems
from tests.function.test_registry import _spec

# Names depend on which objects exist (database, cache, queue); the autoscaler only adds
# kinds named like the Deployment, so it alternates instead of multiplying the cases.
ENGINES = [
    (db, cache, queue, ("keda", "hpa", "none")[i % 3])
    for i, (db, cache, queue) in enumerate(
        itertools.product(
            ["cnpg", "sql", "external", "none"],
            ["dragonfly", "redis", "external", "none"],
            ["nats", "none"],
        )
    )
]

# XR names as the API server admits them: DNS-1123 subdomains of at most 253 characters.
LABEL = r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?"
XR_NAME = st.from_regex(rf"\A{LABEL}(\.{LABEL}){{0,4}}\Z").filter(lambda s: len(s) <= 253)

ODD_NAMES = [
    "a",
    "1abc",
    "x1abc",
    "a.b",
    "a-b",
    "bot",
    "bot-cache",
    "a" * 63,
    "a" * 64,
    "b" * 253,
    "9" * 63,
    "my.agent.example.com",
    "agent-0123456789",
    "agent-0123456789a",
]

COLLIDING_BEFORE = [("a.b", "a-b"), ("1abc", "x1abc"), ("bot", "bot-cache"), ("a" * 70, "a" * 71)]


def _identities(ctx: AgentContext, desired) -> set[tuple[str, str]]:
    """Everything two agents in one namespace must not share: objects and queue/db names."""
    out = {(m["kind"], m["metadata"]["name"]) for m in desired.values()}
    out |= {("stream", ctx.stream_name), ("subjects", ctx.subject_prefix)}
    out.add(("sql-database", sql_database_name(ctx)))
    return out


def _compose(name: str, engines=("sql", "redis", "nats", "keda")):
    ctx = make_ctx(_spec(*engines), name=name)
    return ctx, build_all(ctx)


@pytest.mark.parametrize("engines", ENGINES, ids=["-".join(e) for e in ENGINES])
def test_long_and_odd_names_fit_every_limit(engines) -> None:
    for name in ODD_NAMES:
        _, desired = _compose(name, engines)
        problems = [p for m in desired.values() for p in name_problems(m)]
        assert problems == [], name


@pytest.mark.parametrize("engines", ENGINES, ids=["-".join(e) for e in ENGINES])
def test_known_collisions_are_gone(engines) -> None:
    for one, two in COLLIDING_BEFORE:
        a, b = _compose(one, engines), _compose(two, engines)
        assert _identities(*a) & _identities(*b) == set(), (one, two)


@settings(max_examples=100, deadline=None)
@given(XR_NAME, XR_NAME)
def test_names_are_injective_pairwise(one: str, two: str) -> None:
    if one == two:
        return
    a, b = _compose(one), _compose(two)
    assert _identities(*a) & _identities(*b) == set()
    assert name_problems_all(a[1]) == []


def name_problems_all(desired) -> list[str]:
    return [p for m in desired.values() for p in name_problems(m)]


@settings(max_examples=30, deadline=None)
@given(XR_NAME)
def test_names_are_deterministic(name: str) -> None:
    assert _identities(*_compose(name)) == _identities(*_compose(name))


def test_plain_names_stay_readable() -> None:
    assert root_name("support-bot") == "support-bot"
    assert re.fullmatch(r"support-bot-cache-[0-9a-f]{10}", child_name("support-bot", "cache"))
    # Dots, a leading digit, a hash-like tail or excess length all get a hash of their own.
    for name in ["a.b", "1abc", "agent-0123456789", "a" * 64]:
        assert re.fullmatch(r"[a-z][-a-z0-9]*-[0-9a-f]{10}", root_name(name)), name


def test_nats_tokens_hash_what_they_clean() -> None:
    assert nats_token("xagent", "ns", "a-b") == "xagent_ns_a-b"
    assert nats_token("xagent", "ns", "a.b") != nats_token("xagent", "ns", "a-b")
    token = nats_token("xagent", "ns", "a.b")
    assert not set(token) & set(".*> \t")
    assert len(nats_token("x" * 300, max_length=63)) == 63


@pytest.mark.parametrize("engines", list(itertools.islice(ENGINES, 0, None, 7)))
def test_tool_and_model_secrets_of_odd_names_differ(engines) -> None:
    ctx = make_ctx(
        _spec(*engines).model_copy(
            update={
                "tools": _spec(*engines).tools.model_validate(
                    {
                        "allowed": [
                            {"name": n, "kind": "domain", "credentials": {"remoteRef": {"key": n}}}
                            for n in ("My_Tool", "my-tool", "my_tool", "x" * 64)
                        ]
                    }
                )
            }
        ),
        name="a" * 63,
    )
    desired = build_all(ctx)
    secrets = [m for m in desired.values() if m["kind"] == "ExternalSecret"]
    names = [m["spec"]["target"]["name"] for m in secrets]
    assert len(names) == len(set(names))
    assert name_problems_all(desired) == []
