"""The agent definition as a LangGraph StateGraph.

Each agent (the orchestrator, and every sub-agent) is one ReAct loop with explicit nodes:

- ``<agent>``: the model node; the model is bound to the agent's granted tools, one
  ``delegate_to_<sub-agent>`` tool per edge to a sub-agent and one tool per edge to a tool node;
- ``<agent>.tools``: a ToolNode running the agent's own granted tools (and answering any
  call to a tool the model made up, so the history stays valid for the provider);
- ``<sub-agent>``: a ToolNode whose one tool runs that sub-agent's own compiled graph on the
  task it was given and returns its final answer to the delegating agent;
- ``<tool node>``: a ToolNode running the node's single tool.

The named routing function ``route_tool_calls`` sends each tool call of the model's answer to
the node that owns it (``Send``, so calls to different nodes run in parallel) and ends the
turn when there is none. Every node returns to the model node.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_core.messages import AIMessage, AnyMessage, HumanMessage, SystemMessage
from langchain_core.runnables import RunnableConfig
from langchain_core.tools import BaseTool, StructuredTool
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.prebuilt import ToolNode
from langgraph.types import Send
from pydantic import Field

from contract.definition import AgentDefinition, Node, NodeType
from contract.grants import ToolGrants
from runtime.agent._messages import context_window, text_of
from runtime.agent.approvals import gate
from runtime.agent.budgets import current_budget
from runtime.agent.files import DefinitionError
from runtime.agent.models import bind_model, resolve_model
from runtime.agent.tools import granted_tools, tool_problems
from runtime.settings import Settings

__all__ = [
    "DELEGATE_PREFIX",
    "MAX_TOOL_NAME",
    "AgentState",
    "DelegateTool",
    "build_graph",
    "delegate_tool_name",
    "graph_shape",
]

log = logging.getLogger(__name__)

DELEGATE_PREFIX = "delegate_to_"
MAX_TOOL_NAME = 64
"""Longest tool name OpenAI and Anthropic accept."""
TOOLS_SUFFIX = ".tools"  # '.' is outside NAME_PATTERN, so no definition node can collide


class AgentState(MessagesState):
    """The graph state: the conversation, appended to by every node."""


def delegate_tool_name(sub_agent: str) -> str:
    """The tool an agent calls to delegate to ``sub_agent``."""
    return f"{DELEGATE_PREFIX}{sub_agent}"


class DelegateTool(StructuredTool):
    """Runs a sub-agent's compiled graph on a task; keeps the graph for graph_shape."""

    agent: Any = Field(default=None, exclude=True)


@dataclass
class _Build:
    definition: AgentDefinition
    settings: Settings
    grants: ToolGrants
    extra_tools: Sequence[BaseTool] = ()
    """Bound to the orchestrator besides its own (the granted MCP tools)."""
    gated: frozenset[str] = frozenset()
    """Tools whose calls wait for a human decision (spec.approvals)."""
    by_name: dict[str, Node] = field(default_factory=dict)
    compiled: dict[str, CompiledStateGraph] = field(default_factory=dict)

    def edges_from(self, source: str) -> list[tuple[int, Node]]:
        return [
            (i, self.by_name[e.target])
            for i, e in enumerate(self.definition.edges)
            if e.source == source
        ]


def build_graph(
    definition: AgentDefinition,
    settings: Settings,
    grants: ToolGrants,
    checkpointer: BaseCheckpointSaver | None,
    *,
    extra_tools: Sequence[BaseTool] = (),
    gated: Iterable[str] = (),
) -> CompiledStateGraph:
    """Compile the definition's graph around its orchestrator.

    Args:
        definition: The validated agent definition.
        settings: The spec model, system prompt and context limit.
        grants: Tools the policy allows; nothing else is ever bound to a model.
        checkpointer: Where the conversation of each thread persists; sub-agents run
            inside one step of the orchestrator and keep no checkpoints of their own.
        extra_tools: Bound to the orchestrator besides its granted tools (MCP tools).
        gated: Tools whose calls interrupt the graph for a human decision first.

    Raises:
        DefinitionError: The graph cannot be built; the message names the node or edge.
        ConfigError: A node's model cannot be configured (provider, key, endpoint).
    """
    problems = tool_problems(definition) + _cycle_problems(definition)
    if problems:
        raise DefinitionError("; ".join(problems))
    build = _Build(
        definition,
        settings,
        grants,
        extra_tools=tuple(extra_tools),
        gated=frozenset(gated),
        by_name={n.name: n for n in definition.nodes},
    )
    orchestrator = definition.orchestrator
    _warn_unreachable(definition)
    return _agent_graph(build, orchestrator).compile(
        checkpointer=checkpointer, name=orchestrator.name
    )


def _cycle_problems(definition: AgentDefinition) -> list[str]:
    # A delegation cycle would recurse without end at build time and at run time.
    targets: dict[str, list[tuple[int, str]]] = {}
    for i, edge in enumerate(definition.edges):
        targets.setdefault(edge.source, []).append((i, edge.target))
    out: list[str] = []

    def visit(node: str, path: list[str]) -> None:
        for i, target in targets.get(node, []):
            if target in path:
                cycle = " -> ".join([*path[path.index(target) :], target])
                out.append(f"edges[{i}]: delegation cycle {cycle}")
            else:
                visit(target, [*path, target])

    visit(definition.orchestrator.name, [definition.orchestrator.name])
    return sorted(set(out))


def _warn_unreachable(definition: AgentDefinition) -> None:
    reached, frontier = set(), [definition.orchestrator.name]
    while frontier:
        name = frontier.pop()
        reached.add(name)
        frontier += [
            e.target for e in definition.edges if e.source == name and e.target not in reached
        ]
    if unreachable := sorted({n.name for n in definition.nodes} - reached):
        log.warning("nodes no edge reaches are never run", extra={"nodes": unreachable})


def _agent_graph(build: _Build, agent: Node) -> StateGraph:
    own_tools = granted_tools(agent.tools, build.definition, build.grants, node=agent.name)
    if agent.type == NodeType.ORCHESTRATOR:
        own_tools += [t for t in build.extra_tools if t.name not in {o.name for o in own_tools}]
    tools_node = agent.name + TOOLS_SUFFIX
    owner: dict[str, str] = {t.name: tools_node for t in own_tools}
    bound: list[BaseTool] = list(own_tools)
    graph = StateGraph(AgentState)
    for i, target in build.edges_from(agent.name):
        tool = _edge_tool(build, target)
        if tool is None:
            continue
        if tool.name in owner:
            raise DefinitionError(
                f"edges[{i}]: tool {tool.name!r} for node {target.name!r} collides with "
                f"another tool of node {agent.name!r}"
            )
        if len(tool.name) > MAX_TOOL_NAME:
            raise DefinitionError(
                f"edges[{i}]: tool name {tool.name!r} for node {target.name!r} is longer than "
                f"{MAX_TOOL_NAME} characters; shorten the node name"
            )
        owner[tool.name] = target.name
        bound.append(tool)
        graph.add_node(
            target.name, _tools_node(build, agent, [tool], target.name, inner=target.tools)
        )
        graph.add_edge(target.name, agent.name)
    graph.add_node(tools_node, _tools_node(build, agent, own_tools, tools_node))
    graph.add_edge(tools_node, agent.name)
    graph.add_node(agent.name, _model_node(build, agent, bound))
    graph.add_edge(START, agent.name)
    graph.add_conditional_edges(
        agent.name,
        _router(owner, default=tools_node),
        path_map=[*sorted({*owner.values(), tools_node}), END],
    )
    return graph


def _tools_node(
    build: _Build, agent: Node, tools: Sequence[BaseTool], name: str, inner: Sequence[str] = ()
) -> Any:
    """A ToolNode; behind an approval gate when any of its tools needs approval.

    A tool node's one tool is called by the node's name, so it is gated by its inner tool's.

    Raises:
        DefinitionError: A sub-agent may call a gated tool. A sub-agent runs inside one step
            of the orchestrator without a checkpoint of its own, so it cannot wait for a
            decision; refusing to start beats running the call unapproved.
    """
    node = ToolNode(list(tools), name=name)
    gated = {t.name for t in tools if t.name in build.gated}
    if any(t in build.gated for t in inner):
        gated |= {t.name for t in tools}
    if not gated:
        return node
    if agent.type != NodeType.ORCHESTRATOR:
        raise DefinitionError(
            f"node {agent.name!r}: tools {sorted(gated)} need approval, which only the "
            "orchestrator's calls can wait for; grant them to the orchestrator instead"
        )
    return gate(node, gated)


def _edge_tool(build: _Build, target: Node) -> BaseTool | None:
    if target.type == NodeType.SUB_AGENT:
        return _delegate_tool(build, target)
    tools = granted_tools(target.tools, build.definition, build.grants, node=target.name)
    if not tools:
        # Its one tool was not granted: the edge disappears, and the model never sees it.
        return None
    inner = tools[0]
    # The model calls a tool node by the node's name; the node runs its tool.
    return inner.model_copy(
        update={"name": target.name, "description": target.description or inner.description}
    )


def _delegate_tool(build: _Build, sub_agent: Node) -> BaseTool:
    if sub_agent.name not in build.compiled:
        # checkpointer=False: a delegation is one step of the parent; its inner loop is
        # not resumed on its own, so it need not be checkpointed.
        build.compiled[sub_agent.name] = _agent_graph(build, sub_agent).compile(
            checkpointer=False, name=sub_agent.name
        )
    agent = build.compiled[sub_agent.name]

    async def delegate(config: RunnableConfig, **kwargs: Any) -> str:
        task = str(kwargs.get("task", ""))
        result = await agent.ainvoke({"messages": [HumanMessage(task)]}, config)
        messages = result.get("messages", [])
        return text_of(messages[-1]) if messages else ""

    return DelegateTool(
        name=delegate_tool_name(sub_agent.name),
        description=sub_agent.description or f"Delegate a task to the sub-agent {sub_agent.name}.",
        args_schema={
            "type": "object",
            "properties": {
                "task": {
                    "type": "string",
                    "description": "The complete task for the sub-agent, with all context it "
                    "needs; it does not see this conversation.",
                }
            },
            "required": ["task"],
        },
        coroutine=delegate,
        agent=agent,
        metadata={"xagent_sub_agent": sub_agent.name},
    )


def _model_node(
    build: _Build, agent: Node, tools: Sequence[BaseTool]
) -> Callable[[AgentState, RunnableConfig], Any]:
    resolved = resolve_model(build.settings, agent.model)
    model = bind_model(resolved, tools)
    model_name = resolved.name
    prompt = _system_prompt(build.settings, agent)
    limit = build.settings.max_context_messages

    async def call_model(state: AgentState, config: RunnableConfig) -> dict[str, list[AnyMessage]]:
        messages = context_window(state["messages"], limit)
        if prompt:
            messages = [SystemMessage(prompt), *messages]
        guard = current_budget()
        if guard is not None:
            await guard.before_call()  # raises BudgetExceeded: the job ends here
        answer = await model.ainvoke(messages, config)
        if guard is not None:
            await guard.after_call(answer, model_name)
        return {"messages": [answer]}

    call_model.__name__ = f"call_model_{agent.name}"
    return call_model


def _system_prompt(settings: Settings, agent: Node) -> str | None:
    if agent.system_prompt:
        return agent.system_prompt
    if agent.type == NodeType.ORCHESTRATOR:
        return settings.system_prompt
    if agent.description:
        return f"You are {agent.name}: {agent.description}"
    return None


def _router(owner: dict[str, str], default: str) -> Callable[[AgentState], str | list[Send]]:
    def route_tool_calls(state: AgentState) -> str | list[Send]:
        """Send each tool call of the last answer to the node that owns it, or end the turn."""
        last = state["messages"][-1]
        if not isinstance(last, AIMessage) or not last.tool_calls:
            return END
        return [
            Send(
                owner.get(call["name"], default),
                {"__type": "tool_call_with_context", "tool_call": call, "state": state},
            )
            for call in last.tool_calls
        ]

    return route_tool_calls


def graph_shape(compiled: CompiledStateGraph) -> dict[str, Any]:
    """Nodes, edges and sub-agent graphs of a compiled graph, sorted, for snapshot tests.

    Edges are ``[source, target, "direct" | "conditional"]``; ``tools`` maps each tool-running
    node to the tools it runs; ``subgraphs`` maps each sub-agent node to its own shape.
    """
    drawn = compiled.get_graph()
    shape: dict[str, Any] = {
        "nodes": sorted(drawn.nodes),
        "edges": sorted(
            [e.source, e.target, "conditional" if e.conditional else "direct"] for e in drawn.edges
        ),
    }
    subgraphs, tools = {}, {}
    for name, spec in compiled.builder.nodes.items():
        if isinstance(spec.runnable, ToolNode):
            tools[name] = sorted(spec.runnable.tools_by_name)
            for tool in spec.runnable.tools_by_name.values():
                if isinstance(tool, DelegateTool):
                    subgraphs[name] = graph_shape(tool.agent)
    shape["tools"] = dict(sorted(tools.items()))
    if subgraphs:
        shape["subgraphs"] = dict(sorted(subgraphs.items()))
    return shape
