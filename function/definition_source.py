"""Finds the agent definition: inline in the spec, or in a ConfigMap the XR references.

A referenced ConfigMap is read through Crossplane's required resources: the function asks
for it, and Crossplane calls again with it (or with nothing, when it does not exist).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from crossplane.function.resource import Condition
from pydantic import ValidationError

from contract.builtins import BUILTIN_NAMES
from contract.definition import AgentDefinition, Node, NodeType, ToolDefinition
from function import conditions
from function.conditions import Reason
from function.errors import InputError, messages
from function.spec import XAgentSpec

__all__ = [
    "MAX_DEFINITION_BYTES",
    "MINIMAL_NODE",
    "REQUIREMENT",
    "Resolution",
    "load_yaml",
    "minimal_definition",
    "resolve",
]

REQUIREMENT = "definition"
"""Name of the required-resources entry that carries the referenced ConfigMap."""

MINIMAL_NODE = "agent"
"""The orchestrator of an XAgent that sets neither definition nor definitionRef."""

MAX_DEFINITION_BYTES = 1024 * 1024
"""The rendered definition ConfigMap holds at most this (the API server's 1 MiB object limit)."""


def load_yaml(text: str) -> Any:
    """Parse a definition's JSON or YAML, refusing aliases.

    JSON is tried first: PyYAML leaves a JSON surrogate-pair escape (``"\\ud83d\\ude42"``,
    what ``json.dump`` writes for an emoji) as two lone surrogates that no serializer takes.
    NaN and Infinity are refused: no Kubernetes object or protobuf Struct carries them.

    Raises:
        ValueError: Neither JSON nor YAML, or a non-finite number.
    """
    try:
        return json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError:
        pass
    # YAML only for definitions that are not JSON: the function's process stays without
    # PyYAML until a definitionRef needs it.
    from function import _yaml_noalias

    return _yaml_noalias.load(text)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number Kubernetes accepts")


@dataclass(frozen=True)
class Resolution:
    """A resolved definition, or the condition that says why there is none yet."""

    condition: Condition
    definition: AgentDefinition | None = None
    definition_id: str | None = None
    checksum: str | None = None
    path: str = "spec.definition"
    """Where the definition came from, as messages about its nodes should name it."""


def resolve(xr_name: str, spec: XAgentSpec, required: list[dict[str, Any]] | None) -> Resolution:
    """Resolve the definition of an XAgent.

    Args:
        xr_name: The XR's name, the definition ID of an inline definition.
        spec: The validated spec.
        required: The ConfigMaps Crossplane fetched for REQUIREMENT, or None when it has
            not fetched them yet.

    Raises:
        InputError: The ConfigMap holds a definition that cannot be built.
    """
    if spec.definition is not None:
        return _resolved(spec.definition, xr_name, Reason.INLINE, "inline definition")
    ref = spec.definition_ref
    if ref is None:
        return _resolved(
            minimal_definition(spec),
            xr_name,
            Reason.MINIMAL,
            "single orchestrator from spec.model, spec.systemPrompt and spec.tools.allowed",
        )
    if required is None:
        return Resolution(
            conditions.definition_unresolved(
                Reason.WAITING_FOR_DEFINITION, f"waiting for ConfigMap {ref.name}"
            )
        )
    if not required:
        return Resolution(
            conditions.definition_unresolved(
                Reason.CONFIG_MAP_NOT_FOUND, f"ConfigMap {ref.name} not found"
            )
        )
    data = required[0].get("data") or {}
    if ref.key not in data:
        return Resolution(
            conditions.definition_unresolved(
                Reason.CONFIG_MAP_KEY_MISSING, f"ConfigMap {ref.name} has no key {ref.key}"
            )
        )
    where = f"spec.definitionRef (ConfigMap {ref.name}, key {ref.key})"
    try:
        raw = load_yaml(data[ref.key])
    except (ValueError, RecursionError) as e:
        # RecursionError: nesting deeper than the parser's stack; ValueError also covers
        # integers longer than Python converts (sys.int_info.str_digits_check_threshold).
        raise InputError(f"{where}: {e or 'nested too deeply'}") from e
    try:
        definition = AgentDefinition.model_validate(raw)
    except ValidationError as e:
        raise InputError("; ".join(f"{where}: {m}" for m in messages(e, ""))) from e
    return _resolved(
        definition,
        ref.id or ref.name,
        Reason.CONFIG_MAP_FOUND,
        f"ConfigMap {ref.name} key {ref.key}",
        path=where,
    )


def minimal_definition(spec: XAgentSpec) -> AgentDefinition:
    """One orchestrator that may call every granted tool, each a builtin of the same name.

    Its system prompt is spec.systemPrompt, which reaches the runtime as SYSTEM_PROMPT (the
    prompt of nodes that set none), so it is not copied into the graph.

    Raises:
        InputError: A granted tool is not a builtin the runtime ships; a custom tool needs a
            definition that says what it is.
    """
    for i, grant in enumerate(spec.tools.allowed):
        if grant.name not in BUILTIN_NAMES:
            raise InputError(
                f"spec.tools.allowed[{i}].name: {grant.name!r} is not a builtin tool "
                f"({', '.join(sorted(BUILTIN_NAMES))}); without a definition only builtins can be "
                "bound, so describe other tools in spec.definition.toolDefinitions"
            )
    names = [grant.name for grant in spec.tools.allowed]
    return AgentDefinition(
        tool_definitions=[ToolDefinition(name=name) for name in names],
        nodes=[Node(type=NodeType.ORCHESTRATOR, name=MINIMAL_NODE, tools=names)],
    )


def _resolved(
    definition: AgentDefinition, def_id: str, reason: str, msg: str, path: str = "spec.definition"
) -> Resolution:
    canonical = json.dumps(definition.to_runtime_json(), sort_keys=True, separators=(",", ":"))
    # The ConfigMap holds it indented (builders.configmaps); bound that form, not this one.
    size = len(json.dumps(definition.to_runtime_json(), indent=2, ensure_ascii=False).encode())
    if size > MAX_DEFINITION_BYTES:
        raise InputError(
            f"{path}: the definition renders to {size} bytes, more than a ConfigMap holds "
            f"({MAX_DEFINITION_BYTES})"
        )
    return Resolution(
        condition=conditions.definition_resolved(reason, msg),
        definition=definition,
        definition_id=def_id,
        checksum=hashlib.sha256(canonical.encode()).hexdigest(),
        path=path,
    )
