"""Graph building: shapes of the example definitions, build-time errors, grants, context."""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langgraph.checkpoint.memory import InMemorySaver

from contract.definition import AgentDefinition
from contract.grants import GrantedTool, ToolGrants
from runtime.agent._messages import context_window
from runtime.agent.files import DefinitionError
from runtime.agent.graph import build_graph, graph_shape
from tests.runtime.conftest import GOLDEN, SettingsFactory, example, example_names, grant_all
from tests.runtime.stub_llm import StubLLM


@pytest.mark.parametrize("name", example_names())
def test_graph_shape_matches_golden(name: str, make_settings: SettingsFactory) -> None:
    definition = example(name)
    graph = build_graph(definition, make_settings(), grant_all(definition), None)
    got = graph_shape(graph)
    golden = GOLDEN / f"graph_{name}.json"
    if os.environ.get("XAGENT_UPDATE_GOLDEN") == "1":
        golden.parent.mkdir(exist_ok=True)
        golden.write_text(json.dumps(got, indent=2) + "\n")
    assert golden.exists(), f"no golden {golden}; rerun with XAGENT_UPDATE_GOLDEN=1 and review"
    assert got == json.loads(golden.read_text())


def test_every_example_has_a_golden() -> None:
    goldens = sorted(p.name for p in GOLDEN.glob("graph_*.json"))
    assert goldens == [f"graph_{name}.json" for name in example_names()]


@dataclass
class BuildErrorCase:
    name: str
    reason: str
    definition: dict[str, Any]
    want: list[str]


ORCH = {"type": "orchestrator", "name": "main"}

BUILD_ERRORS = [
    BuildErrorCase(
        name="UnknownBuiltin",
        reason="A builtin the runtime does not ship cannot be built; name the tool.",
        definition={
            "tool_definitions": [{"name": "search", "builtin": "web_search"}],
            "nodes": [{**ORCH, "tools": ["search"]}],
        },
        want=["tool_definitions[0]", "'search'", "'web_search'"],
    ),
    BuildErrorCase(
        name="DelegationCycle",
        reason="Sub-agents delegating in a circle would recurse forever; name the edge.",
        definition={
            "nodes": [
                ORCH,
                {"type": "sub-agent", "name": "a"},
                {"type": "sub-agent", "name": "b"},
            ],
            "edges": [
                {"source": "main", "target": "a"},
                {"source": "a", "target": "b"},
                {"source": "b", "target": "a"},
            ],
        },
        want=["edges[2]", "a -> b -> a"],
    ),
    BuildErrorCase(
        name="ToolNodeCollidesWithOwnTool",
        reason="A tool node named like a tool its parent already calls would be ambiguous.",
        definition={
            "tool_definitions": [{"name": "calculator"}],
            "nodes": [
                {**ORCH, "tools": ["calculator"]},
                {"type": "tool", "name": "calculator", "tools": ["calculator"]},
            ],
            "edges": [{"source": "main", "target": "calculator"}],
        },
        want=["edges[0]", "'calculator'", "collides"],
    ),
    BuildErrorCase(
        name="DelegateToolNameTooLong",
        reason="delegate_to_<name> must fit the providers' 64-character tool names.",
        definition={
            "nodes": [ORCH, {"type": "sub-agent", "name": "s" * 60}],
            "edges": [{"source": "main", "target": "s" * 60}],
        },
        want=["edges[0]", "longer than 64"],
    ),
]


@pytest.mark.parametrize("case", BUILD_ERRORS, ids=[c.name for c in BUILD_ERRORS])
def test_build_errors_name_node_or_edge(
    case: BuildErrorCase, make_settings: SettingsFactory
) -> None:
    definition = AgentDefinition.model_validate(case.definition)
    with pytest.raises(DefinitionError) as err:
        build_graph(definition, make_settings(), grant_all(definition), None)
    for fragment in case.want:
        assert fragment in str(err.value), case.reason


async def test_ungranted_tools_never_reach_the_model(
    llm: StubLLM, make_settings: SettingsFactory, caplog: pytest.LogCaptureFixture
) -> None:
    definition = example("research_team")
    only_calculator = ToolGrants(tools=[GrantedTool(name="calculator")])
    with caplog.at_level(logging.WARNING, logger="runtime.agent.tools"):
        graph = build_graph(definition, make_settings(), only_calculator, InMemorySaver())
    denied = {
        (r.node, tuple(r.denied_tools))  # type: ignore[attr-defined]
        for r in caplog.records
        if hasattr(r, "denied_tools")
    }
    assert denied == {("lead", ("current_time",)), ("writer", ("echo",))}

    await graph.ainvoke(
        {"messages": [HumanMessage("delegate:writer:write it\ndelegate:researcher:look")]},
        {"configurable": {"thread_id": "t"}},
    )
    bound = {req["model"] + ":" + ",".join(llm.tool_names(i)) for i, req in enumerate(llm.requests)}
    # The lead sees only its delegations; the writer no tools at all; the researcher its grant.
    assert bound == {
        "stub-model:delegate_to_researcher,delegate_to_writer",
        "writer-model:",
        "stub-model:calculator",
    }


async def test_ungranted_tool_node_drops_its_edge(make_settings: SettingsFactory) -> None:
    graph = build_graph(example("tool_node"), make_settings(), ToolGrants(), None)
    assert "calc" not in graph_shape(graph)["nodes"]


async def test_model_call_sees_system_prompt_and_last_messages_only(
    llm: StubLLM, make_settings: SettingsFactory
) -> None:
    definition = example("single")
    graph = build_graph(
        definition, make_settings(max_context_messages=3), grant_all(definition), InMemorySaver()
    )
    config = {"configurable": {"thread_id": "long"}}
    for turn in range(4):
        await graph.ainvoke({"messages": [HumanMessage(f"turn {turn}")]}, config)
    last = llm.requests[-1]["messages"]
    assert [m["role"] for m in last] == ["system", "user", "assistant", "user"]
    assert last[0]["content"] == "You are a helpful assistant."
    assert last[-1]["content"] == "turn 3"
    # The checkpoint keeps the whole conversation; only the model call was trimmed.
    state = await graph.aget_state(config)
    assert len(state.values["messages"]) == 8


@pytest.mark.parametrize(
    ("limit", "want"),
    [
        pytest.param(None, ["h1", "a1", "t1", "a2"], id="NoLimit"),
        pytest.param(2, ["t1", "a2"][1:], id="DropsOrphanToolResult"),
        pytest.param(3, ["a1", "t1", "a2"], id="KeepsCallWithResult"),
        pytest.param(10, ["h1", "a1", "t1", "a2"], id="ShorterThanLimit"),
    ],
)
def test_context_window(limit: int | None, want: list[str]) -> None:
    messages = [
        HumanMessage("h1"),
        AIMessage("a1", tool_calls=[{"name": "x", "args": {}, "id": "c1"}]),
        ToolMessage("t1", tool_call_id="c1"),
        AIMessage("a2"),
    ]
    assert [m.content for m in context_window(messages, limit)] == want


async def test_minimal_xagent_definition_runs_with_the_spec_prompt(
    llm: StubLLM, make_settings: SettingsFactory
) -> None:
    """What the function composes for tenantId + model + systemPrompt + a builtin grant."""
    from function.definition_source import minimal_definition
    from tests.function.factories import make_spec

    spec = make_spec(
        definition=None,
        systemPrompt="Answer briefly.",
        tools={"allowed": [{"name": "calculator", "kind": "primitive"}]},
    )
    definition = AgentDefinition.model_validate(minimal_definition(spec).to_runtime_json())
    settings = make_settings(system_prompt=spec.system_prompt)
    graph = build_graph(definition, settings, grant_all(definition), InMemorySaver())
    await graph.ainvoke({"messages": [HumanMessage("hi")]}, {"configurable": {"thread_id": "m"}})
    first = llm.requests[0]
    assert first["messages"][0] == {"role": "system", "content": "Answer briefly."}
    assert llm.tool_names(0) == ["calculator"]
