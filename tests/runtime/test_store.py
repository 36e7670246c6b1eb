"""Stores: one conformance suite over embedded SQLite and a real Postgres database."""

from __future__ import annotations

import json

import pytest
from langchain_core.messages import HumanMessage

from contract.definition import AgentDefinition
from runtime.agent.graph import build_graph
from runtime.settings import Settings
from runtime.state.store import IdempotencyStore, open_stores, postgres_conninfo
from tests.runtime.conftest import grant_all, require_service

RESULT = json.dumps({"job_id": "j1", "status": "completed", "output": "42"})


async def test_job_is_claimable_until_its_result_is_recorded(backend_settings: Settings) -> None:
    async with open_stores(backend_settings) as stores:
        store = stores.idempotency
        assert isinstance(store, IdempotencyStore)
        assert await store.get_result("j1") is None
        assert await store.claim("j1") is True
        # A delivery that died before recording a result leaves the job claimable.
        assert await store.claim("j1") is True
        await store.record_result("j1", RESULT)
        assert await store.claim("j1") is False
        assert await store.get_result("j1") == RESULT
        assert await store.get_result("other") is None


async def test_first_recorded_result_wins(backend_settings: Settings) -> None:
    async with open_stores(backend_settings) as stores:
        await stores.idempotency.record_result("j1", RESULT)
        await stores.idempotency.record_result("j1", json.dumps({"status": "failed"}))
        assert await stores.idempotency.get_result("j1") == RESULT


async def test_results_and_checkpoints_survive_reopening(backend_settings: Settings) -> None:
    definition = AgentDefinition.model_validate(
        {"nodes": [{"type": "orchestrator", "name": "main"}]}
    )
    config = {"configurable": {"thread_id": "durable"}}
    async with open_stores(backend_settings) as stores:
        await stores.idempotency.record_result("j1", RESULT)
        graph = build_graph(
            definition, backend_settings, grant_all(definition), stores.checkpointer
        )
        await graph.ainvoke({"messages": [HumanMessage("remember me")]}, config)
    async with open_stores(backend_settings) as stores:
        assert await stores.idempotency.get_result("j1") == RESULT
        graph = build_graph(
            definition, backend_settings, grant_all(definition), stores.checkpointer
        )
        state = await graph.aget_state(config)
        assert [m.content for m in state.values["messages"]] == [
            "remember me",
            "stub answer: remember me",
        ]


async def test_ping_answers_while_open(backend_settings: Settings) -> None:
    async with open_stores(backend_settings) as stores:
        await stores.ping()
        assert stores.backend == ("postgres" if backend_settings.database_url else "sqlite")
    with pytest.raises(Exception):  # noqa: B017, PT011 - closed: any driver error will do
        await stores.ping()


@pytest.mark.parametrize(
    ("url", "want"),
    [
        pytest.param("postgresql://u:p@h:5432/d", "postgresql://u:p@h:5432/d", id="Plain"),
        pytest.param("postgres://u@h/d", "postgresql://u@h/d", id="ShortScheme"),
        pytest.param("postgresql+psycopg://u@h/d", "postgresql://u@h/d", id="SqlAlchemyDriver"),
    ],
)
def test_postgres_conninfo(url: str, want: str) -> None:
    assert postgres_conninfo(url) == want


@pytest.mark.parametrize(
    ("ci", "outcome"),
    [
        pytest.param("", pytest.skip.Exception, id="SkipsLocally"),
        pytest.param("true", pytest.fail.Exception, id="FailsUnderCI"),
    ],
)
def test_missing_service_skips_or_fails(
    ci: str, outcome: type[BaseException], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("XAGENT_TEST_NOWHERE_URL", raising=False)
    monkeypatch.setenv("CI", ci)
    with pytest.raises(outcome, match="XAGENT_TEST_NOWHERE_URL is not set"):
        require_service("XAGENT_TEST_NOWHERE_URL")
    monkeypatch.setenv("XAGENT_TEST_NOWHERE_URL", "redis://x")
    assert require_service("XAGENT_TEST_NOWHERE_URL") == "redis://x"
