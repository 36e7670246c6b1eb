"""Fixtures shared by the builder tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from function.builders.base import AgentContext
from tests.function.factories import make_ctx as _make_ctx
from tests.function.factories import make_spec

# The shared table harness lives outside a test module; rewrite its asserts for readable failures.
pytest.register_assert_rewrite("tests.function.builders.engine_table")


@pytest.fixture
def make_ctx() -> Callable[..., AgentContext]:
    """``make_ctx(name=..., namespace=..., **spec_overrides)``: a context over MINIMAL_SPEC."""

    def make(name: str = "support-bot", namespace: str = "agents", **spec_overrides: Any):
        return _make_ctx(make_spec(**spec_overrides), name=name, namespace=namespace)

    return make
