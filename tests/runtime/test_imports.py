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
        ("runtime.cli", ["fastapi", "starlette", "uvicorn", "nats", "redis"]),
        ("function.fn", ["langgraph", "langchain_core", "openai", "fastapi"]),
        ("function.main", ["langgraph", "grpc", "pydantic", "runtime"]),
    ],
)
def test_entry_point_does_not_import_what_it_does_not_use(entry: str, unused: list[str]) -> None:
    assert _loaded(entry, unused) == []
