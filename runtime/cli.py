"""``xagent run``: one agent turn on a local machine, with embedded defaults.

Checkpoints go to SQLite under the state dir (so ``--thread-id`` resumes a conversation),
events to an in-memory sink that this command prints as they arrive, and every tool the
definition defines is granted unless a grants file says otherwise. Without an API key it can
target any OpenAI-compatible endpoint::

    xagent run agent.json "What is 6*7?" --provider openai-compatible \\
        --endpoint http://127.0.0.1:8000/v1 --model my-model

The lead registers `run` in function/main.py and imports this module lazily, so the function
image never loads LangGraph.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import uuid
from pathlib import Path
from typing import Annotated, Any

import typer

from contract import env as contract_env
from contract.definition import AgentDefinition
from contract.providers import ModelProvider
from runtime.agent.files import DefinitionError, read_definition
from runtime.jobs import Job, JobInput, JobResult, JobStatus, Message, RetryableError
from runtime.observability import configure_logging
from runtime.settings import ConfigError, Settings, load_settings
from runtime.startup import open_agent
from runtime.state.stream import EventType, MemoryEventSink, StreamEvent

__all__ = ["run"]

_PREVIEW = 200  # characters of tool input/output shown per line


def _default(setting: str) -> str:
    """The runtime's own default of a setting, shown in --help (Settings is the one source)."""
    return str(Settings.model_fields[setting].default)


def run(
    message: Annotated[str, typer.Argument(help="The user message of this turn.")],
    definition: Annotated[
        Path,
        typer.Option("--definition", "-d", help="Agent definition, JSON or YAML (seed-001 form)."),
    ],
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            "-m",
            help="Model name.",
            show_default=f"{contract_env.ENV.MODEL_NAME}, or the orchestrator's model",
        ),
    ] = None,
    provider: Annotated[
        ModelProvider | None,
        typer.Option(
            help="Model provider.",
            show_default=f"{contract_env.ENV.MODEL_PROVIDER}, or the orchestrator's; "
            "else openai-compatible with --endpoint, openai without",
        ),
    ] = None,
    endpoint: Annotated[
        str | None, typer.Option(help="Model endpoint, e.g. http://127.0.0.1:8000/v1.")
    ] = None,
    thread_id: Annotated[
        str | None, typer.Option("--thread-id", help="Continue this conversation thread.")
    ] = None,
    api_key_env: Annotated[
        str | None,
        typer.Option(
            "--api-key-env",
            help="Variable holding the API key.",
            show_default="the provider's own, e.g. OPENAI_API_KEY",
        ),
    ] = None,
    fallback: Annotated[str | None, typer.Option(help="Fallback model on provider errors.")] = None,
    temperature: Annotated[
        float | None,
        typer.Option(help="Sampling temperature.", show_default="the provider's"),
    ] = None,
    max_tokens: Annotated[
        int | None, typer.Option(help="Max tokens per answer.", show_default="the provider's")
    ] = None,
    max_retries: Annotated[
        int | None,
        typer.Option(
            help="Provider-client retries per model call.",
            show_default=_default("model_max_retries"),
        ),
    ] = None,
    state_dir: Annotated[
        Path | None,
        typer.Option(help="Where SQLite checkpoints live.", show_default=_default("state_dir")),
    ] = None,
    stream: Annotated[
        bool, typer.Option("--stream/--no-stream", help="Print tokens as they arrive.")
    ] = True,
    verbose: Annotated[
        bool,
        typer.Option(
            "--verbose", "-v", help="Also print the runtime's JSON log lines (INFO) on stderr."
        ),
    ] = False,
) -> None:
    """Run one agent turn locally and print its streamed events and final answer."""
    if verbose:
        configure_logging("INFO")
    else:
        _quiet_logging()
    try:
        agent = read_definition(definition)
        settings = load_settings(
            **_model_overrides(agent, model, provider, endpoint, api_key_env),
            model_fallback=fallback,
            model_temperature=temperature,
            model_max_tokens=max_tokens,
            model_max_retries=max_retries,
            definition_path=definition,
            state_dir=state_dir,
            stream_tokens=stream,
        )
        result = asyncio.run(_run(settings, agent, message, thread_id or uuid.uuid4().hex))
    except (ConfigError, DefinitionError) as err:
        typer.secho(f"error: {err}", err=True, fg=typer.colors.RED)
        raise typer.Exit(2) from None
    except RetryableError as err:
        typer.secho(
            f"error: the model endpoint failed or is unreachable: {err}",
            err=True,
            fg=typer.colors.RED,
        )
        raise typer.Exit(1) from None
    if result.status != JobStatus.COMPLETED:
        typer.secho(f"error: the agent failed: {result.error}", err=True, fg=typer.colors.RED)
        raise typer.Exit(1)


def _quiet_logging() -> None:
    """No log lines: this command reports the turn and its failure in its own words."""
    logging.getLogger().handlers[:] = [logging.NullHandler()]


def _model_overrides(
    agent: AgentDefinition,
    model: str | None,
    provider: str | None,
    endpoint: str | None,
    api_key_env: str | None,
) -> dict[str, Any]:
    node_model = agent.orchestrator.model
    provider = (
        provider
        or os.environ.get(contract_env.ENV.MODEL_PROVIDER)
        or (node_model.provider if node_model else None)
        or ("openai-compatible" if endpoint else "openai")
    )
    name = (
        model
        or os.environ.get(contract_env.ENV.MODEL_NAME)
        or (node_model.model_name if node_model else None)
    )
    if not name:
        raise ConfigError(
            f"{contract_env.ENV.MODEL_NAME}: pass --model, set it, or name the "
            "orchestrator's model in the definition"
        )
    out: dict[str, Any] = {"model_provider": provider, "model_name": name}
    if endpoint:
        out["model_endpoint"] = endpoint
    if api_key_env:
        key = os.environ.get(api_key_env)
        if not key:
            raise ConfigError(f"{api_key_env}: not set (named by --api-key-env)")
        out["model_api_key"] = key
    return out


async def _run(settings: Settings, agent: AgentDefinition, message: str, thread: str) -> JobResult:
    sink = MemoryEventSink()
    job = Job(
        job_id=uuid.uuid4().hex,
        thread_id=thread,
        input=JobInput(messages=[Message(role="user", content=message)]),
    )
    async with open_agent(settings, definition=agent, grant_all=True, sink=sink) as runtime:
        task = asyncio.create_task(runtime.executor.execute(job))
        printer = _Printer()
        last_id = "0"
        while True:
            events = await sink.read_events(thread, last_id, block_ms=100)
            for event_id, event in events:
                printer.show(event)
                last_id = event_id
            if not events and task.done():
                break
        result = await task  # re-raises RetryableError
    printer.finish(result)
    return result


class _Printer:
    """Writes events to stdout as they arrive."""

    def __init__(self) -> None:
        self._node: str | None = None
        self._mid_line = False

    def show(self, event: StreamEvent) -> None:
        data = event.data
        if event.type == EventType.TOKEN:
            if data.get("node") != self._node:
                self._newline()
                self._node = data.get("node")
                typer.secho(f"[{self._node}] ", fg=typer.colors.CYAN, nl=False)
            typer.echo(data.get("token", ""), nl=False)
            self._mid_line = True
        elif event.type == EventType.TOOL_START:
            self._line(f"-> {data.get('tool_name')}({_preview(data.get('tool_input'))})")
        elif event.type == EventType.TOOL_END:
            self._line(f"<- {data.get('tool_name')}: {_preview(data.get('tool_output'))}")
        elif event.type == EventType.ERROR:
            self._line(f"error: {data.get('error')}", color=typer.colors.RED)

    def finish(self, result: JobResult) -> None:
        self._newline()
        if result.status == JobStatus.COMPLETED:
            typer.secho("answer: ", bold=True, nl=False)
            typer.echo(result.output or "")
        t = result.tokens
        typer.echo(
            f"tokens: input={t.input_tokens} output={t.output_tokens} total={t.total_tokens}"
            f"  model={result.model}  thread={result.thread_id}"
        )

    def _line(self, text: str, color: str = typer.colors.YELLOW) -> None:
        self._newline()
        typer.secho(text, fg=color)
        self._node = None

    def _newline(self) -> None:
        if self._mid_line:
            typer.echo()
            self._mid_line = False


def _preview(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= _PREVIEW else text[:_PREVIEW] + "..."
