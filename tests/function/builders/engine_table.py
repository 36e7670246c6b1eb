"""The table harness shared by builders with one case per engine (cache, postgres, queue).

Each test module keeps its ``CASES`` and a ``render(case)`` that returns the desired resources
and the runtime env; :func:`engine_tests` turns them into the four parametrized tests, which the
module binds to ``test_*`` names so pytest collects them there::

    test_resources, test_fields, test_env, test_manifests_validate = engine_tests(CASES, render)
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import reduce
from typing import Any

import pytest

from function.readiness import CHECKS
from tests.function.schemas import validate_manifest


@dataclass(frozen=True)
class Want:
    kinds: dict[str, tuple[str, str, str]]
    """key -> (apiVersion, kind, metadata.name)."""
    fields: dict[tuple[Any, ...], Any] = field(default_factory=dict)
    """Path into the desired resources (key first) -> value; None means absent."""
    env: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class EngineCase:
    name: str
    reason: str
    args: dict[str, Any]
    """Spec overrides; the test module's ``render`` says where they go."""
    want: Want


Render = Callable[[EngineCase], tuple[dict[str, Any], list[dict[str, Any]]]]
"""case -> (desired resources by key, runtime env)."""

CaseTest = Callable[[EngineCase], None]


def at(desired: dict[str, Any], path: tuple[Any, ...]) -> Any:
    """The value at ``path`` in ``desired``, or None where the path does not exist."""
    try:
        return reduce(operator.getitem, path, desired)
    except (KeyError, IndexError):
        return None


def engine_tests(
    cases: Sequence[EngineCase], render: Render, *, component: str | None = None
) -> tuple[CaseTest, CaseTest, CaseTest, CaseTest]:
    """``test_resources``, ``test_fields``, ``test_env`` and ``test_manifests_validate`` over cases.

    With ``component``, every manifest must also carry that ``app.kubernetes.io/component`` label.
    """
    parametrize = pytest.mark.parametrize("case", cases, ids=[c.name for c in cases])

    @parametrize
    def test_resources(case: EngineCase) -> None:
        desired, _ = render(case)
        got = {k: (m["apiVersion"], m["kind"], m["metadata"]["name"]) for k, m in desired.items()}
        assert got == case.want.kinds, case.reason

    @parametrize
    def test_fields(case: EngineCase) -> None:
        desired, _ = render(case)
        for path, want in case.want.fields.items():
            assert at(desired, path) == want, f"{case.reason}: {'.'.join(map(str, path))}"

    @parametrize
    def test_env(case: EngineCase) -> None:
        _, env = render(case)
        assert env == case.want.env, case.reason

    @parametrize
    def test_manifests_validate(case: EngineCase) -> None:
        desired, _ = render(case)
        for key, manifest in desired.items():
            assert validate_manifest(manifest) == [], f"{case.reason}: {key}"
            assert (manifest["apiVersion"], manifest["kind"]) in CHECKS, key
            if component is not None:
                assert manifest["metadata"]["labels"]["app.kubernetes.io/component"] == component

    return test_resources, test_fields, test_env, test_manifests_validate
