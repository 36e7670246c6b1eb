"""The approval gate in the graph: a gated tool call waits for a human with ``interrupt()``.

The function resolves ``spec.approvals`` into the names of the tools that need approval (the
grants file's ``approvals``). `gate` wraps the node that runs an agent's tools: a call of a
gated tool interrupts the graph before it runs, and the resumed node receives the decision
(runtime.state.approvals): approve runs the call, edit runs it with the edited arguments,
reject answers the model with a tool error naming who rejected it and why.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from langchain_core.messages import ToolMessage
from langchain_core.runnables import RunnableConfig
from langgraph.types import interrupt

__all__ = ["gate"]


def gate(run_tools: Any, gated: set[str]) -> Callable[[dict[str, Any], RunnableConfig], Any]:
    """Wrap a tools node (``run_tools``, a ToolNode): gated calls interrupt before they run.

    The router sends each tool call on its own (``Send`` with a ``tool_call_with_context``
    input), so each pending call is its own task with its own interrupt.
    """

    async def approve_then_run(
        node_input: dict[str, Any], config: RunnableConfig
    ) -> dict[str, Any]:
        call = node_input.get("tool_call") if isinstance(node_input, dict) else None
        if call is not None and call.get("name") in gated:
            answer = interrupt(
                {"tool_name": call["name"], "tool_args": call["args"], "tool_call_id": call["id"]}
            )
            decision = answer.get("decision") if isinstance(answer, dict) else "reject"
            if decision == "edit":
                node_input = {**node_input, "tool_call": {**call, "args": answer.get("args")}}
            elif decision != "approve":
                who = answer.get("by") if isinstance(answer, dict) else None
                why = answer.get("reason") if isinstance(answer, dict) else None
                text = f"The call was rejected by {who or 'nobody'}" + (f": {why}" if why else "")
                return {
                    "messages": [
                        ToolMessage(
                            content=text,
                            tool_call_id=call["id"],
                            name=call["name"],
                            status="error",
                        )
                    ]
                }
        return await run_tools.ainvoke(node_input, config)

    return approve_then_run
