"""Budgets: windows, prices and counters atomic across pods, on real Postgres and SQLite."""

from __future__ import annotations

import asyncio

import pytest

from contract.grants import BudgetPolicy
from contract.prices import find_price
from runtime.agent.budgets import BudgetExceeded, Budgets
from runtime.observability import REGISTRY
from runtime.state.ledger import Ledger, PostgresLedger, SqliteLedger, Usage
from tests.runtime.conftest import postgres_store, store_on_both_databases

DAY = 1_700_000_000.0  # 2023-11-14T22:13:20Z


ledger = store_on_both_databases(SqliteLedger.open, PostgresLedger)


def budgets(ledger: Ledger, clock: list[float] | None = None, **policy: object) -> Budgets:
    now = clock or [DAY]
    return Budgets(
        BudgetPolicy.model_validate(policy),
        ledger,
        agent="ns/bot",
        tenant="t1",
        clock=lambda: now[0],
    )


async def test_job_budget_stops_after_the_crossing_call(ledger: Ledger) -> None:
    b = budgets(ledger, job={"tokens": 100})
    await b.check("j1", "t")
    await b.record("j1", "t", "m", 60, 30)
    await b.check("j1", "t")  # 90 < 100: the next call may run
    await b.record("j1", "t", "m", 10, 5)  # crosses: the call itself completed
    with pytest.raises(BudgetExceeded) as err:
        await b.check("j1", "t")
    assert (err.value.window, err.value.unit, err.value.used) == ("job", "tokens", 105)
    assert str(err.value) == "job budget exceeded: 105 of 100 tokens used"
    await b.check("j2", "t")  # another job of the same thread has its own job window


async def test_thread_and_cost_windows(ledger: Ledger) -> None:
    b = budgets(
        ledger,
        thread={"cost": 0.01},
        prices=[{"model": "pricey", "inputPerMillion": 1000, "outputPerMillion": 2000}],
    )
    cost = await b.record("j1", "t1", "pricey", 5, 5)
    assert cost == pytest.approx(0.015)
    with pytest.raises(BudgetExceeded, match="thread budget exceeded"):
        await b.check("j2", "t1")
    await b.check("j3", "t2")


async def test_daily_window_resets_at_utc_midnight(ledger: Ledger) -> None:
    clock = [DAY]
    b = budgets(ledger, clock, daily={"tokens": 10})
    await b.record("j1", "t1", "m", 10, 0)
    with pytest.raises(BudgetExceeded) as err:
        await b.check()
    assert err.value.window == "daily"
    assert err.value.retry_after == b.seconds_to_midnight() == 6400
    remaining = REGISTRY.get_sample_value(
        "xagent_budget_remaining", {"agent": "ns/bot", "tenant": "t1", "unit": "tokens"}
    )
    assert remaining == 0
    clock[0] += 6400
    await b.check()


async def test_no_limits_store_nothing_but_count_metrics(ledger: Ledger) -> None:
    b = budgets(ledger)
    before = REGISTRY.get_sample_value(
        "xagent_usage_tokens_total", {"model": "gpt-4o", "agent": "ns/bot", "tenant": "t1"}
    )
    assert await b.record("j", "t", "gpt-4o", 1_000_000, 0) == pytest.approx(2.5)
    after = REGISTRY.get_sample_value(
        "xagent_usage_tokens_total", {"model": "gpt-4o", "agent": "ns/bot", "tenant": "t1"}
    )
    assert after - (before or 0) == 1_000_000
    assert await ledger.usage(["job:ns/bot:j"]) == {"job:ns/bot:j": Usage()}


@pytest.mark.services
async def test_counters_are_atomic_across_pods(postgres_database: str) -> None:
    # Two pools stand for two pods; 2 x 50 concurrent increments must all count.
    async with (
        postgres_store(postgres_database, PostgresLedger) as a,
        postgres_store(postgres_database, PostgresLedger) as b,
    ):
        scopes = ["day:x", "job:x"]
        await asyncio.gather(*(led.add(scopes, 3, 0.5) for led in (a, b) for _ in range(50)))
        assert await a.usage(scopes) == await b.usage(scopes)
        usage = (await a.usage(["day:x"]))["day:x"]
        assert (usage.tokens, usage.cost) == (300, 50.0)


def test_prices_most_specific_match_and_spec_first() -> None:
    assert find_price("gpt-4o-mini").input_per_million == 0.15  # not gpt-4o's price
    assert find_price("gpt-4o").output_per_million == 10.0
    assert find_price("claude-sonnet-4-20250514").input_per_million == 3.0
    assert find_price("unknown-model") is None
    policy = BudgetPolicy.model_validate(
        {"prices": [{"model": "gpt-4o", "inputPerMillion": 5, "outputPerMillion": 20}]}
    )
    assert policy.price("gpt-4o").input_per_million == 5
    assert policy.price("gpt-4o-mini").input_per_million == 0.15
