"""The builder registry is complete, and everything it can emit has a readiness check."""

from __future__ import annotations

import ast
import dataclasses
import importlib
import inspect
import itertools
import pkgutil

import pytest

import function.builders as builders_pkg
from function import compose, definition_source
from function.builders import ADDITIONS, BUILDERS, RuntimeAdditions, build_all, deployment
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


# --- what builders add to the runtime (base.RuntimeAdditions) ------------------------------


def test_deployment_imports_no_other_builder() -> None:
    """Builders declare their env, mounts and warnings; the Deployment never lists them."""
    tree = ast.parse(inspect.getsource(deployment))
    imported: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module)
            imported |= {f"{node.module}.{alias.name}" for alias in node.names}
    builder_modules = {f"function.builders.{name}" for name, _ in BUILDERS}
    assert imported & builder_modules == set()
    assert "function.builders" not in imported


def test_every_declared_addition_is_registered() -> None:
    modules = [importlib.import_module(f"function.builders.{name}") for name, _ in BUILDERS]
    declared = [getattr(module, "RUNTIME", None) for module in modules]
    assert tuple(a for a in declared if a is not None) == ADDITIONS


_EXTRA = RuntimeAdditions(
    env=lambda ctx: [{"name": "XAGENT_TEST_ADDED", "value": ctx.name}],
    warnings=lambda ctx: [f"added for {ctx.name}"],
    mounts=lambda ctx: [
        ({"name": "extra", "emptyDir": {}}, {"name": "extra", "mountPath": "/extra"})
    ],
    config=lambda ctx: {"extra": ctx.name},
    owns_replicas=lambda ctx: True,
)


def _pod(ctx) -> dict:
    return deployment.build(ctx)[deployment.KEY]["spec"]["template"]["spec"]


def test_a_declared_addition_reaches_the_deployment() -> None:
    """A new builder's RUNTIME is all it takes: env, mount, checksum and replicas follow."""
    plain = make_ctx(_spec("none", "none", "none", "none"))
    ctx = dataclasses.replace(plain, additions=(*plain.additions, _EXTRA))
    [container] = _pod(ctx)["containers"]
    assert {"name": "XAGENT_TEST_ADDED", "value": ctx.name} in container["env"]
    assert {"name": "extra", "mountPath": "/extra"} in container["volumeMounts"]
    assert {"name": "extra", "emptyDir": {}} in _pod(ctx)["volumes"]
    spec = deployment.build(ctx)[deployment.KEY]["spec"]
    assert "replicas" not in spec
    assert "replicas" in deployment.build(plain)[deployment.KEY]["spec"]
    checksum = deployment.CHECKSUM_ANNOTATION
    annotations = spec["template"]["metadata"]["annotations"]
    plain_annotations = deployment.build(plain)[deployment.KEY]["spec"]["template"]["metadata"]
    assert annotations[checksum] != plain_annotations["annotations"][checksum]
    assert ctx.added_warnings()[-1] == f"added for {ctx.name}"


@pytest.mark.parametrize("engines", ENGINES, ids=["-".join(e) for e in ENGINES])
def test_every_registered_env_reaches_the_deployment(engines: tuple[str, str, str, str]) -> None:
    ctx = make_ctx(_spec(*engines))
    [container] = _pod(ctx)["containers"]
    for addition in ADDITIONS:
        for entry in addition.env(ctx):
            assert entry in container["env"]


def test_declared_warnings_reach_the_response() -> None:
    spec = _spec("none", "none", "none", "keda")
    ctx = make_ctx(spec)
    resolution = definition_source.resolve(ctx.name, spec, None)
    outcome = compose.compose(ctx.name, ctx.namespace, spec, resolution, ctx.policy, {})
    assert ctx.added_warnings()
    assert set(ctx.added_warnings()) <= set(outcome.warnings)
