"""The builder registry is complete, and everything it can emit has a readiness check."""

from __future__ import annotations

import itertools
import pkgutil

import pytest

import function.builders as builders_pkg
from function.builders import BUILDERS, build_all
from function.readiness import CHECKS
from function.validate import validate_manifest
from tests.function.factories import make_ctx, make_spec

NOT_BUILDERS = {"base"}

ENGINES = list(
    itertools.product(
        ["cnpg", "sql", "external", "none"],
        ["dragonfly", "redis", "external", "none"],
        ["nats", "none"],
        ["keda", "hpa", "none"],
    )
)


def _spec(database: str, cache: str, queue: str, autoscaler: str):
    external = {"external": {"secretName": "conn"}}
    return make_spec(
        persistence={
            "database": {"engine": database, **(external if database == "external" else {})},
            "cache": {"engine": cache, **(external if cache == "external" else {})},
        },
        queue={"engine": queue},
        scaling={"autoscaler": autoscaler, "minReplicas": 2, "maxReplicas": 4},
    )


def test_every_builder_module_is_registered() -> None:
    modules = {m.name for m in pkgutil.iter_modules(builders_pkg.__path__)} - NOT_BUILDERS
    assert modules == {name for name, _ in BUILDERS}


@pytest.mark.parametrize("engines", ENGINES, ids=["-".join(e) for e in ENGINES])
def test_every_emitted_kind_has_a_readiness_check(engines: tuple[str, str, str, str]) -> None:
    desired = build_all(make_ctx(_spec(*engines)))
    kinds = {(m["apiVersion"], m["kind"]) for m in desired.values()}
    assert kinds <= set(CHECKS), kinds - set(CHECKS)


@pytest.mark.parametrize("engines", ENGINES, ids=["-".join(e) for e in ENGINES])
def test_names_are_unique_per_kind(engines: tuple[str, str, str, str]) -> None:
    desired = build_all(make_ctx(_spec(*engines), name="a" * 63))
    seen = [(m["kind"], m["metadata"]["name"]) for m in desired.values()]
    assert len(seen) == len(set(seen))
    assert all(len(name) <= 63 for _, name in seen)


@pytest.mark.parametrize("engines", ENGINES, ids=["-".join(e) for e in ENGINES])
def test_every_combination_is_schema_valid(engines: tuple[str, str, str, str]) -> None:
    desired = build_all(make_ctx(_spec(*engines)))
    problems = {k: validate_manifest(m) for k, m in desired.items()}
    assert {k: v for k, v in problems.items() if v} == {}
