"""``xagent run`` (runtime.cli.run) against the stub LLM, in process and as a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from click.testing import Result
from typer.testing import CliRunner

from contract.providers import PROVIDERS
from function.main import RUNTIME_EXTRA_INSTALL
from runtime.cli import run
from runtime.settings import Settings
from tests.runtime.conftest import DEFINITIONS, STUB_MODEL
from tests.runtime.stub_llm import COMPLETION_TOKENS, PROMPT_TOKENS_PER_MESSAGE, StubLLM

app = typer.Typer()
app.command()(run)


def invoke(
    llm: StubLLM, tmp_path: Path, definition: str, *args: str, endpoint: str | None = None
) -> Result:
    base = ["--endpoint", endpoint or llm.base_url, "--state-dir", str(tmp_path / "state")]
    return CliRunner().invoke(app, ["--definition", definition, *args, *base, "--max-retries", "0"])


def test_run_prints_tools_answer_and_tokens(llm: StubLLM, tmp_path: Path) -> None:
    definition = str(DEFINITIONS / "tool_node.json")
    result = invoke(
        llm, tmp_path, definition, 'call:calc:{"expression": "6 * 7"}', "-m", STUB_MODEL
    )

    assert result.exit_code == 0, result.output
    sent = sum(len(r["messages"]) for r in llm.requests)
    lines = result.stdout.splitlines()
    assert lines[0] == '-> calc({"expression": "6 * 7"})'
    assert lines[1] == "<- calc: 42"
    assert lines[2] == "[main] tool results: 42"
    assert lines[3] == "answer: tool results: 42"
    assert lines[4].startswith(
        f"tokens: input={PROMPT_TOKENS_PER_MESSAGE * sent} output={2 * COMPLETION_TOKENS} "
        f"total={PROMPT_TOKENS_PER_MESSAGE * sent + 2 * COMPLETION_TOKENS}  model={STUB_MODEL}"
    )
    assert llm.requests[0]["model"] == STUB_MODEL


def test_run_resumes_a_thread(llm: StubLLM, tmp_path: Path) -> None:
    definition = str(DEFINITIONS / "single.json")
    thread = ["--thread-id", "chat-1", "-m", STUB_MODEL]
    assert invoke(llm, tmp_path, definition, "I am Ada", *thread).exit_code == 0
    assert invoke(llm, tmp_path, definition, "who am I?", *thread).exit_code == 0
    assert [m["content"] for m in llm.requests[-1]["messages"]][1:] == [
        "I am Ada",
        "stub answer: I am Ada",
        "who am I?",
    ]


def test_run_takes_the_model_from_the_definition(llm: StubLLM, tmp_path: Path) -> None:
    path = tmp_path / "agent.json"
    path.write_text(
        json.dumps(
            {"nodes": [{"type": "orchestrator", "name": "m", "model": {"modelName": "from-def"}}]}
        )
    )
    assert invoke(llm, tmp_path, str(path), "hi", "--no-stream").exit_code == 0
    assert llm.requests[-1]["model"] == "from-def"


@pytest.mark.parametrize(
    ("definition", "args", "endpoint", "code", "want"),
    [
        pytest.param(
            {
                "nodes": [{"type": "orchestrator", "name": "main"}],
                "edges": [{"source": "main", "target": "ghost"}],
            },
            ["-m", STUB_MODEL],
            None,
            2,
            "edges[0].target: unknown node 'ghost'",
            id="BadDefinitionNamesEdge",
        ),
        pytest.param(
            {"nodes": [{"type": "orchestrator", "name": "main"}]},
            [],
            None,
            2,
            "MODEL_NAME",
            id="NoModel",
        ),
        pytest.param(
            {"nodes": [{"type": "orchestrator", "name": "main"}]},
            ["-m", STUB_MODEL],
            "http://127.0.0.1:9/v1",
            1,
            "unreachable",
            id="UnreachableEndpoint",
        ),
        pytest.param(
            {"nodes": [{"type": "orchestrator", "name": "main"}]},
            ["-m", "bad-request-model"],
            None,
            1,
            "the agent failed: ",
            id="ModelRefuses",
        ),
    ],
)
def test_run_fails_with_a_clear_message(
    llm: StubLLM,
    tmp_path: Path,
    definition: dict[str, object],
    args: list[str],
    endpoint: str | None,
    code: int,
    want: str,
) -> None:
    path = tmp_path / "agent.json"
    path.write_text(json.dumps(definition))
    result = invoke(llm, tmp_path, str(path), "hi", *args, endpoint=endpoint)
    assert result.exit_code == code, result.output
    assert want in result.stderr


def test_run_as_a_process(llm: StubLLM, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MODEL_", "OPENAI_"))}
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            # The real entry point: `xagent run`, wired lazily in function/main.py.
            "from function.main import app; app()",
            "run",
            "--definition",
            str(DEFINITIONS / "single.json"),
            "hello there",
            "--provider",
            "openai-compatible",
            "--endpoint",
            llm.base_url,
            "--model",
            STUB_MODEL,
            "--state-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "answer: stub answer: hello there" in proc.stdout


def test_documented_definition_runs(llm: StubLLM, tmp_path: Path) -> None:
    """The definition README points at builds and answers on embedded defaults."""
    root = Path(__file__).resolve().parents[2]
    result = invoke(llm, tmp_path, str(root / "docs/run/assistant.yaml"), "hello", "-m", STUB_MODEL)
    assert result.exit_code == 0, result.stderr


def _help(width: int = 400) -> str:
    result = CliRunner().invoke(app, ["--help"], env={"COLUMNS": str(width)})
    assert result.exit_code == 0, result.output
    return result.stdout


def test_help_shows_the_real_defaults() -> None:
    """Brackets in help text were eaten as rich markup: `Model name .`."""
    text = _help()
    assert " ." not in text
    for option, default in [
        ("--model", "[default: (MODEL_NAME, or the orchestrator's model)]"),
        ("--max-retries", f"[default: ({Settings.model_fields['model_max_retries'].default})]"),
        ("--state-dir", f"[default: ({Settings.model_fields['state_dir'].default})]"),
        ("--api-key-env", "[default: (the provider's own, e.g. OPENAI_API_KEY)]"),
    ]:
        (line,) = [ln for ln in text.splitlines() if f" {option} " in ln]
        assert default in line, line


def test_help_lists_the_providers() -> None:
    (line,) = [ln for ln in _help().splitlines() if " --provider " in ln]
    assert "<" + "|".join(p.id for p in PROVIDERS) + ">" in line


def test_an_unknown_provider_names_the_flag_and_the_providers(llm: StubLLM, tmp_path: Path) -> None:
    definition = str(DEFINITIONS / "single.json")
    result = invoke(llm, tmp_path, definition, "hi", "-m", STUB_MODEL, "--provider", "openia")
    assert result.exit_code == 2
    said = " ".join(result.stderr.replace("│", " ").split())
    assert "Invalid value for '--provider': " in said
    assert "MODEL_PROVIDER" not in said
    for p in PROVIDERS:
        assert f"'{p.id}'" in said


@pytest.mark.parametrize(("flags", "json_lines"), [([], False), (["-v"], True)])
def test_json_logs_only_with_verbose(
    llm: StubLLM, tmp_path: Path, flags: list[str], json_lines: bool
) -> None:
    """A failing turn logs warnings; they are JSON lines on stderr with -v, none without."""
    definition = str(DEFINITIONS / "single.json")
    result = invoke(
        llm, tmp_path, definition, "hi", "-m", STUB_MODEL, *flags, endpoint="http://127.0.0.1:9/v1"
    )
    assert result.exit_code == 1
    logged = [ln for ln in result.stderr.splitlines() if ln.startswith("{")]
    assert bool(logged) is json_lines, result.stderr
    assert "error: the model endpoint failed or is unreachable" in result.stderr


def test_missing_runtime_extra_says_how_to_install_it_as_the_readme_does() -> None:
    """Without the runtime's dependencies, `xagent run` names both installs README names."""
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            # pydantic_settings is in the runtime extra only: hide it as if not installed.
            "import sys; sys.modules['pydantic_settings'] = None\n"
            "from function.main import app; app()",
            "run",
            "--help",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 1
    assert "`xagent run` needs the runtime extra (missing pydantic_settings)" in proc.stderr
    readme = (root / "README.md").read_text()
    for command in RUNTIME_EXTRA_INSTALL:
        assert command in proc.stderr
        assert f"`{command}`" in readme
