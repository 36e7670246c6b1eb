"""Per-call model and tool metrics, from LangChain's callbacks.

A callback sees every model call, including the ones a fallback model replaced (their
errors never reach the executor), so latency and errors by provider and model are counted
here rather than from the job's outcome.
"""

from __future__ import annotations

import time
from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler

from runtime import observability as obs

__all__ = ["MetricsCallback"]

_UNKNOWN = "unknown"


class MetricsCallback(BaseCallbackHandler):
    """Feeds the model latency, model error and tool call series of runtime.observability."""

    run_inline = True  # plain bookkeeping: no thread hop per callback

    def __init__(self) -> None:
        self._llm: dict[UUID, tuple[float, str, str]] = {}
        self._tools: dict[UUID, str] = {}

    # --- models ------------------------------------------------------------------------

    def on_chat_model_start(
        self,
        serialized: dict[str, Any],
        messages: list[Any],
        *,
        run_id: UUID,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """A model call begins: remember when, and for which provider and model."""
        self._start_llm(run_id, metadata)

    def on_llm_start(
        self,
        serialized: dict[str, Any],
        prompts: list[str],
        *,
        run_id: UUID,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """A completion-style model call begins."""
        self._start_llm(run_id, metadata)

    def on_llm_end(self, response: Any, *, run_id: UUID, **kwargs: Any) -> None:
        """A model call answered."""
        self._end_llm(run_id)

    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        """A model call failed: count it by the client's exception class."""
        labels = self._end_llm(run_id)
        if labels is not None:
            obs.MODEL_ERRORS_TOTAL.labels(*labels, type(error).__name__).inc()

    # --- tools -------------------------------------------------------------------------

    def on_tool_start(
        self, serialized: dict[str, Any], input_str: str, *, run_id: UUID, **kwargs: Any
    ) -> None:
        """A tool call begins."""
        self._tools[run_id] = (serialized or {}).get("name") or kwargs.get("name") or _UNKNOWN

    def on_tool_end(self, output: Any, *, run_id: UUID, **kwargs: Any) -> None:
        """A tool call returned."""
        if (tool := self._tools.pop(run_id, None)) is not None:
            obs.TOOL_CALLS_TOTAL.labels(tool, "ok").inc()

    def on_tool_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        """A tool call raised."""
        if (tool := self._tools.pop(run_id, None)) is not None:
            obs.TOOL_CALLS_TOTAL.labels(tool, "error").inc()

    # --- helpers -----------------------------------------------------------------------

    def _start_llm(self, run_id: UUID, metadata: dict[str, Any] | None) -> None:
        meta = metadata or {}
        provider = str(meta.get("ls_provider") or _UNKNOWN)
        model = str(meta.get("ls_model_name") or _UNKNOWN)
        self._llm[run_id] = (time.monotonic(), provider, model)

    def _end_llm(self, run_id: UUID) -> tuple[str, str] | None:
        started = self._llm.pop(run_id, None)
        if started is None:
            return None
        begun, provider, model = started
        obs.LLM_REQUEST_DURATION_SECONDS.labels(provider, model).observe(time.monotonic() - begun)
        return provider, model
