"""Test factories: a minimal valid XAgent spec and the AgentContext builders receive.

``make_spec`` deep-merges camelCase overrides over the smallest spec that validates, so a
test states only what it is about. ``make_ctx`` wraps a spec the way fn.py does, computing
the definition ID and checksum the simple way (tests do not exercise definitionRef lookup).
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from function.builders import additions_for
from function.builders.base import AgentContext, Manifest
from function.input import Policy
from function.spec import XAgentSpec

__all__ = ["MINIMAL_SPEC", "Case", "case_ids", "deep_merge", "make_ctx", "make_spec"]

MINIMAL_SPEC: dict[str, Any] = {
    "tenantId": "t1",
    "model": {"provider": "openai", "name": "gpt-4o"},
    "definition": {
        "nodes": [{"type": "orchestrator", "name": "main", "systemPrompt": "You help."}],
    },
}
"""The smallest camelCase spec that validates: tenant t1, openai gpt-4o, one orchestrator."""


@dataclass(frozen=True)
class Case:
    """One row of a table-driven test: its id, why it exists, its input and expectation."""

    name: str
    reason: str
    args: dict[str, Any] = field(default_factory=dict)
    want: Any = None


def case_ids(cases: list[Case]) -> list[str]:
    """The ``ids=`` of ``pytest.mark.parametrize`` over ``cases``."""
    return [c.name for c in cases]


def deep_merge(base: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """``overrides`` over ``base``: dicts merge key by key, anything else replaces.

    A value of ``None`` removes the key, so a test can drop e.g. ``definition``.
    """
    out = copy.deepcopy(dict(base))
    for key, value in overrides.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def make_spec(**overrides: Any) -> XAgentSpec:
    """A validated spec: camelCase ``overrides`` deep-merged over MINIMAL_SPEC."""
    return XAgentSpec.model_validate(deep_merge(MINIMAL_SPEC, overrides))


def make_ctx(
    spec: XAgentSpec | None = None,
    name: str = "support-bot",
    namespace: str = "agents",
    observed: Mapping[str, Manifest] | None = None,
    policy: Policy | None = None,
) -> AgentContext:
    """The AgentContext of ``spec`` (MINIMAL_SPEC when None) for XR ``namespace/name``."""
    spec = spec if spec is not None else make_spec()
    if spec.definition is None:
        raise ValueError("make_ctx needs an inline definition; resolve definitionRef first")
    canonical = json.dumps(spec.definition.to_runtime_json(), sort_keys=True, separators=(",", ":"))
    definition_id = (
        spec.definition_ref.id if spec.definition_ref and spec.definition_ref.id else name
    )
    return AgentContext(
        name=name,
        namespace=namespace,
        spec=spec,
        definition=spec.definition,
        definition_id=definition_id,
        definition_checksum=hashlib.sha256(canonical.encode()).hexdigest(),
        additions=additions_for(spec),
        policy=policy if policy is not None else Policy(),
        observed=dict(observed or {}),
    )
