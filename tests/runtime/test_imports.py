"""Each entry point loads only what it uses: `xagent run` no HTTP server, queue or Redis client,
the function no LangGraph. Start time and memory follow from what is imported."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


def _loaded(module: str, candidates: list[str]) -> list[str]:
    code = (
        f"import json, sys, {module}; "
        f"print(json.dumps([m for m in {candidates!r} if m in sys.modules]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


@pytest.mark.parametrize(
    ("entry", "unused"),
    [
        ("runtime.cli", ["fastapi", "starlette", "uvicorn", "nats", "redis", "psycopg"]),
        ("function.fn", ["langgraph", "langchain_core", "openai", "fastapi", "yaml", "typer"]),
        ("function.main", ["langgraph", "grpc", "pydantic", "runtime"]),
    ],
)
def test_entry_point_does_not_import_what_it_does_not_use(entry: str, unused: list[str]) -> None:
    assert _loaded(entry, unused) == []


_SERVE = """
import json, sys
from function import server

def report(*_args, **_kwargs):
    print(json.dumps(sorted({name.split(".")[0] for name in sys.modules})))

server.serve = report
from function.main import app
app(["serve", "--insecure"], prog_name="xagent", standalone_mode=False)
"""


def test_the_function_server_loads_no_yaml_runtime_or_model_client() -> None:
    # `xagent serve` as the function image runs it, stopped where it would start serving.
    out = subprocess.run([sys.executable, "-c", _SERVE], capture_output=True, text=True, check=True)
    loaded = set(json.loads(out.stdout.splitlines()[-1]))
    assert {"grpc", "pydantic", "function"} <= loaded  # it did get as far as serving
    heavy = {"yaml", "jsonschema", "langgraph", "langchain_core", "openai", "fastapi", "uvicorn"}
    assert loaded & heavy == set()
