"""Fixtures of the runtime tests: the stub LLM, settings, example definitions, real services.

The LLM is the only stub. Postgres and Redis are real, on loopback, named by
XAGENT_TEST_DATABASE_URL and XAGENT_TEST_REDIS_URL (``eval "$(scripts/services.sh start)"``);
without them the tests that need them skip, except under CI=true, where they fail
(`require_service`). Each such test gets its own database or key prefix, dropped in ``finally``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any, Protocol, TypeVar
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
import redis

from contract import env as contract_env
from contract.definition import AgentDefinition
from contract.grants import GrantedTool, ToolGrants
from contract.providers import PROVIDERS
from runtime.settings import Settings, load_settings
from runtime.state.store import postgres_pool
from tests.runtime.stub_llm import StubLLM

DEFINITIONS = Path(__file__).parent / "definitions"
GOLDEN = Path(__file__).parent / "golden"
STUB_MODEL = "stub-model"


def require_service(env: str) -> str:
    """The URL of a real service from ``env``; skip without it, fail without it under CI=true."""
    value = os.environ.get(env)
    if value:
        return value
    message = f'{env} is not set; start the services: eval "$(scripts/services.sh start)"'
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


def example(name: str) -> AgentDefinition:
    """The example definition ``tests/runtime/definitions/<name>.json``."""
    return AgentDefinition.model_validate(json.loads((DEFINITIONS / f"{name}.json").read_text()))


def example_names() -> list[str]:
    """Names of every example definition."""
    return sorted(p.stem for p in DEFINITIONS.glob("*.json"))


def grant_all(definition: AgentDefinition) -> ToolGrants:
    """Grants of every tool ``definition`` defines."""
    return ToolGrants(tools=[GrantedTool(name=t.name) for t in definition.tool_definitions])


_RUNTIME_ENV = {
    value
    for group in (
        contract_env.ENV,
        contract_env.DATABASE_ENV,
        contract_env.CACHE_ENV,
        contract_env.QUEUE_ENV,
    )
    for name, value in vars(group).items()
    if not name.startswith("_") and isinstance(value, str)
} | {p.key_env for p in PROVIDERS}


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # Settings read the process environment: a developer's OPENAI_API_KEY or MODEL_NAME
    # must not change what a test sees.
    for name in _RUNTIME_ENV:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    # The runtime's entry points (task.main, enqueue.main) configure logging as in their pod:
    # the root logger's only handler then writes to this test's captured stderr, closed after
    # it; later tests must not log into it.
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture(scope="session")
def stub_llm() -> Iterator[StubLLM]:
    """The stub OpenAI-compatible server, shared by the session."""
    server = StubLLM().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def llm(stub_llm: StubLLM) -> StubLLM:
    """The stub server with an empty request log."""
    stub_llm.reset()
    return stub_llm


SettingsFactory = Callable[..., Settings]


@pytest.fixture
def make_settings(llm: StubLLM, tmp_path: Path) -> SettingsFactory:
    """Settings pointing at the stub, with state in tmp_path; keyword args override."""

    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "model_provider": "openai-compatible",
            "model_name": STUB_MODEL,
            "model_endpoint": llm.base_url,
            "model_max_retries": 0,  # the stub answers at once; retries only slow tests
            "state_dir": tmp_path / "state",
            "tool_grants_path": tmp_path / "no-grants.json",
            "definition_path": tmp_path / "no-definition.json",
        }
        return load_settings(**{**values, **overrides})

    return make


def _with_path(url: str, path: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=path))


@pytest.fixture
def postgres_database() -> Iterator[str]:
    """A URL of a fresh Postgres database of its own, dropped afterwards."""
    admin_url = require_service("XAGENT_TEST_DATABASE_URL")
    name = f"xagent_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield _with_path(admin_url, f"/{name}")
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class _SetUp(Protocol):
    async def setup(self) -> None: ...


S = TypeVar("S", bound=_SetUp)


@contextlib.asynccontextmanager
async def postgres_store(url: str, make: Callable[[Any], S]) -> AsyncIterator[S]:
    """A store ``make(pool)`` on a pool of its own (one pod), its tables set up."""
    async with postgres_pool(url, 4) as pool:
        store = make(pool)
        await store.setup()
        yield store


def store_on_both_databases(
    open_sqlite: Callable[[Path], AbstractAsyncContextManager[Any]],
    make_postgres: Callable[[Any], _SetUp],
) -> Any:
    """A fixture running each test twice: on a SQLite file of its own (``open_sqlite(path)``)
    and on a fresh Postgres database (``make_postgres(pool)``, set up; skipped without it)."""

    @pytest.fixture(params=["sqlite", "postgres"])
    async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Any]:
        if request.param == "sqlite":
            async with open_sqlite(tmp_path / "store.sqlite") as s:
                yield s
        else:
            url = request.getfixturevalue("postgres_database")
            async with postgres_store(url, make_postgres) as s:
                yield s

    return store


@pytest.fixture
def redis_agent() -> Iterator[tuple[str, str]]:
    """``(redis_url, agent)``: an agent name no other test uses; its keys deleted afterwards."""
    url = require_service("XAGENT_TEST_REDIS_URL")
    agent = f"test-{uuid.uuid4().hex[:12]}"
    try:
        yield url, agent
    finally:
        with redis.Redis.from_url(url) as client:
            keys = list(client.scan_iter(match=f"xagent:{agent}:*"))
            if keys:
                client.delete(*keys)


@pytest.fixture(params=["sqlite", "postgres"])
def backend_settings(request: pytest.FixtureRequest, make_settings: SettingsFactory) -> Settings:
    """Settings on each store backend: embedded SQLite, then a real Postgres database."""
    if request.param == "sqlite":
        return make_settings()
    return make_settings(database_url=request.getfixturevalue("postgres_database"))
