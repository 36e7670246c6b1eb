"""The agent definition: the LangGraph graph of seed 001, as one pydantic model.

The runtime builds its StateGraph from it; the composition function embeds it in the XAgent
spec (camelCase, like every Kubernetes field) and writes it to the definition ConfigMap in
the seed's snake_case JSON. Both read the same model, so what the function accepts is what
the runtime can build. It depends on pydantic only.
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.alias_generators import to_camel

from contract.providers import ModelProvider

__all__ = [
    "AgentDefinition",
    "CamelModel",
    "DefinitionModel",
    "Edge",
    "Node",
    "NodeType",
    "ToolDefinition",
    "ToolType",
]

NAME_PATTERN = r"^[a-zA-Z][a-zA-Z0-9_-]{0,63}$"
"""Node and tool names become LLM tool names, which providers limit to this alphabet."""

MAX_PARAMETERS_DEPTH = 20
"""Nesting (objects and arrays) of a tool's parameters schema. Deeper is no real schema, and
past about 27 levels inside an XR the protobuf request Crossplane sends cannot be decoded."""
MAX_PARAMETERS_BYTES = 64 * 1024
"""JSON size of a tool's parameters schema: it is sent to the model with every call."""
MAX_TEXT = 100_000
"""Characters of one prompt or description."""


class CamelModel(BaseModel):
    """Base of every xagent API model: camelCase on the wire, snake_case in Python.

    Both spellings are accepted (camelCase from an XR, snake_case from seed-001 JSON); unknown
    fields are rejected, and enum fields hold their plain values.
    """

    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        extra="forbid",
        use_enum_values=True,
    )


class NodeType(StrEnum):
    """What a node of the agent graph is."""

    ORCHESTRATOR = "orchestrator"
    SUB_AGENT = "sub-agent"
    TOOL = "tool"


class ToolType(StrEnum):
    """How the runtime carries out a tool call."""

    BUILTIN = "builtin"
    HTTP = "http"


class ToolDefinition(CamelModel):
    """A tool the graph's nodes may call."""

    name: Annotated[str, Field(pattern=NAME_PATTERN, description="Tool name, unique.")]
    description: Annotated[
        str, Field(max_length=MAX_TEXT, description="What the tool does; shown to the model.")
    ] = ""
    type: Annotated[
        ToolType, Field(description="builtin: shipped with the runtime; http: a JSON POST to url.")
    ] = ToolType.BUILTIN
    builtin: Annotated[
        str | None,
        Field(
            max_length=64,
            description="Name of the builtin implementation (defaults to the tool name).",
        ),
    ] = None
    url: Annotated[str | None, Field(max_length=2048, description="Endpoint of an http tool.")] = (
        None
    )
    method: Annotated[
        str, Field(pattern=r"^(GET|POST|PUT|PATCH)$", description="HTTP method of an http tool.")
    ] = "POST"
    timeout_seconds: Annotated[float, Field(gt=0, le=600, description="Timeout of one call.")] = 30
    parameters: Annotated[
        dict[str, Any] | None,
        Field(description="JSON Schema of the tool's arguments (an object schema)."),
    ] = None

    @field_validator("parameters")
    @classmethod
    def _bounded(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is None:
            return None
        if _depth(value) > MAX_PARAMETERS_DEPTH:
            raise ValueError(f"nests more than {MAX_PARAMETERS_DEPTH} levels deep")
        size = len(json.dumps(value, separators=(",", ":"), default=str))
        if size > MAX_PARAMETERS_BYTES:
            raise ValueError(f"is {size} bytes of JSON, more than {MAX_PARAMETERS_BYTES}")
        return value

    @model_validator(mode="after")
    def _http_needs_url(self) -> ToolDefinition:
        if self.type == ToolType.HTTP and not self.url:
            raise ValueError(f"tool {self.name!r}: an http tool needs url")
        return self


class DefinitionModel(CamelModel):
    """A node's model; unset fields inherit the XAgent's spec.model."""

    provider: Annotated[ModelProvider | None, Field(description="Model provider of this node.")] = (
        None
    )
    model_name: Annotated[
        str | None, Field(max_length=200, description="Model name of this node.")
    ] = None
    temperature: Annotated[float | None, Field(ge=0, le=2, description="Sampling temperature.")] = (
        None
    )
    max_tokens: Annotated[
        int | None, Field(ge=1, le=1_000_000, description="Max tokens per reply.")
    ] = None
    top_p: Annotated[float | None, Field(ge=0, le=1, description="Nucleus sampling.")] = None


class Node(CamelModel):
    """One node of the graph: the orchestrator, a sub-agent it delegates to, or a tool."""

    type: Annotated[NodeType, Field(description="orchestrator, sub-agent or tool.")]
    name: Annotated[str, Field(pattern=NAME_PATTERN, description="Node name, unique.")]
    description: Annotated[
        str,
        Field(
            max_length=MAX_TEXT,
            description="What a sub-agent is for; the orchestrator "
            "sees it when it decides to delegate.",
        ),
    ] = ""
    model: Annotated[DefinitionModel | None, Field(description="Overrides spec.model.")] = None
    system_prompt: Annotated[
        str | None, Field(max_length=MAX_TEXT, description="The node's system prompt.")
    ] = None
    tools: Annotated[
        list[Annotated[str, Field(max_length=64)]],
        Field(
            max_length=100,
            description="Names of tool_definitions this node may "
            "call; a tool node names exactly one.",
        ),
    ] = []


class Edge(CamelModel):
    """A directed edge: the orchestrator delegates to a sub-agent or calls a tool node."""

    source: Annotated[str, Field(max_length=64, description="Name of the node the edge leaves.")]
    target: Annotated[str, Field(max_length=64, description="Name of the node the edge enters.")]


class AgentDefinition(CamelModel):
    """The agent graph (seed 001): tool definitions, nodes and edges."""

    tool_definitions: Annotated[
        list[ToolDefinition], Field(max_length=100, description="Tools nodes may use.")
    ] = []
    nodes: Annotated[
        list[Node],
        Field(min_length=1, max_length=100, description="Graph nodes; exactly one orchestrator."),
    ]
    edges: Annotated[list[Edge], Field(max_length=1000, description="Edges between nodes.")] = []

    @model_validator(mode="after")
    def _graph_is_buildable(self) -> AgentDefinition:
        problems = list(self.problems())
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def problems(self) -> list[str]:
        """Every reason the graph cannot be built, each naming the node, edge or tool."""
        out: list[str] = []
        tool_names = [t.name for t in self.tool_definitions]
        out += _duplicates("tool_definitions", tool_names)
        node_names = [n.name for n in self.nodes]
        out += _duplicates("nodes", node_names)
        orchestrators = [n.name for n in self.nodes if n.type == NodeType.ORCHESTRATOR]
        if len(orchestrators) != 1:
            out.append(f"nodes: need exactly one orchestrator, found {len(orchestrators)}")
        known_tools = set(tool_names)
        for i, node in enumerate(self.nodes):
            for tool in node.tools:
                if tool not in known_tools:
                    out.append(f"nodes[{i}].tools: node {node.name!r} names unknown tool {tool!r}")
            if node.type == NodeType.TOOL and len(node.tools) != 1:
                out.append(f"nodes[{i}].tools: tool node {node.name!r} must name exactly one tool")
        by_name = {n.name: n for n in self.nodes}
        for i, edge in enumerate(self.edges):
            for end in ("source", "target"):
                name = getattr(edge, end)
                if name not in by_name:
                    out.append(f"edges[{i}].{end}: unknown node {name!r}")
            src, dst = by_name.get(edge.source), by_name.get(edge.target)
            if src and dst:
                if src.type == NodeType.TOOL:
                    out.append(f"edges[{i}].source: tool node {src.name!r} cannot delegate")
                if dst.type == NodeType.ORCHESTRATOR:
                    out.append(f"edges[{i}].target: nothing may delegate to the orchestrator")
                if edge.source == edge.target:
                    out.append(f"edges[{i}]: node {src.name!r} cannot delegate to itself")
        return out

    @property
    def orchestrator(self) -> Node:
        """The single orchestrator node."""
        return next(n for n in self.nodes if n.type == NodeType.ORCHESTRATOR)

    def tool_names(self) -> set[str]:
        """Names of every tool any node may call."""
        return {t for n in self.nodes for t in n.tools}

    def to_runtime_json(self) -> dict[str, Any]:
        """The seed-001 form (snake_case) that the runtime reads from its ConfigMap."""
        return self.model_dump(mode="json", by_alias=False, exclude_none=True)


def _depth(value: Any, limit: int = MAX_PARAMETERS_DEPTH + 1) -> int:
    """Nesting depth of JSON ``value``, counted iteratively (no recursion to exhaust) and
    only up to ``limit``."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, level)
            if level >= limit:
                continue
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, level + 1) for child in children)
    return deepest


def _duplicates(field: str, names: list[str]) -> list[str]:
    seen: set[str] = set()
    out = []
    for i, name in enumerate(names):
        if name in seen:
            out.append(f"{field}[{i}].name: duplicate name {name!r}")
        seen.add(name)
    return out
