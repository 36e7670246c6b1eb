"""Message helpers shared by the graph and the executor."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langchain_core.messages import (
    AIMessage,
    AnyMessage,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)

from runtime.jobs import Message

__all__ = ["context_window", "text_of", "to_langchain"]


def text_of(content: Any) -> str:
    """The text of a message's content, which providers give as a string or a list of blocks."""
    if isinstance(content, BaseMessage):
        content = content.content
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for block in content:
            if isinstance(block, str):
                parts.append(block)
            elif isinstance(block, dict) and block.get("type") == "text":
                parts.append(str(block.get("text", "")))
        return "".join(parts)
    return "" if content is None else str(content)


def to_langchain(message: Message) -> AnyMessage:
    """A job's input message as the LangChain message of its role."""
    if message.role == "system":
        return SystemMessage(message.content)
    if message.role == "assistant":
        return AIMessage(message.content)
    return HumanMessage(message.content)


def context_window(messages: Sequence[AnyMessage], limit: int | None) -> list[AnyMessage]:
    """The last ``limit`` messages, never starting with a tool result.

    A tool result whose assistant tool call was cut off is rejected by every provider, so
    leading tool messages are dropped too. The checkpointed history is untouched: this only
    shapes what one model call sees.
    """
    if limit is None or len(messages) <= limit:
        return list(messages)
    window = list(messages[-limit:])
    while window and isinstance(window[0], ToolMessage):
        window.pop(0)
    return window
