"""ApprovalStore on real Postgres and SQLite: one decision wins, the rest answer why not."""

from __future__ import annotations

import asyncio

import pytest

from runtime.observability import REGISTRY
from runtime.state.approvals import (
    Approval,
    ApprovalConflict,
    ApprovalStatus,
    ApprovalStore,
    Decision,
    PostgresApprovalStore,
    SqliteApprovalStore,
    approval_id,
)
from tests.runtime.conftest import postgres_store, store_on_both_databases

NOW = 1_000_000.0


store = store_on_both_databases(SqliteApprovalStore.open_file, PostgresApprovalStore)


def pending(call: str = "call_1", expires: float = NOW + 60) -> Approval:
    return Approval(
        approval_id=approval_id("t1", call),
        thread_id="t1",
        job_id="j1",
        interrupt_id="i1",
        tool_name="deploy",
        tool_args={"env": "prod"},
        created_at=NOW,
        expires_at=expires,
    )


def decide(kind: str = "approve", who: str = "alice", **kw: object) -> Decision:
    return Decision(approval_id=approval_id("t1", "call_1"), decision=kind, by=who, **kw)


async def test_decide_once_then_409(store: ApprovalStore) -> None:
    await store.open(pending())
    assert [a.tool_args for a in await store.pending("t1")] == [{"env": "prod"}]
    assert await store.count_pending() == 1
    assert REGISTRY.get_sample_value("xagent_approvals_pending") == 1
    won = await store.decide("t1", decide("edit", args={"env": "staging"}, reason="not prod"), NOW)
    assert won.status == ApprovalStatus.EDITED
    assert won.resume_value() == {
        "decision": "edit",
        "args": {"env": "staging"},
        "by": "alice",
        "reason": "not prod",
    }
    with pytest.raises(ApprovalConflict) as err:
        await store.decide("t1", decide("reject", "bob"), NOW)
    assert err.value.status == 409
    assert str(err.value) == "the approval was already decided: edited by alice"
    await store.open(pending())  # a re-run of the node does not reopen a decided call
    assert await store.pending("t1") == []


async def test_oldest_pending_gauge_follows_the_longest_wait(store: ApprovalStore) -> None:
    """The waiting-too-long alert reads when the oldest undecided call was opened."""
    oldest = "xagent_approvals_oldest_pending_timestamp_seconds"
    first = pending("call_1")
    later = pending("call_2").model_copy(update={"created_at": NOW + 30})
    await store.open(later)
    await store.open(first)
    assert await store.count_pending() == 2
    assert REGISTRY.get_sample_value(oldest) == NOW
    await store.decide("t1", decide(), NOW + 40)  # call_1, the oldest
    assert await store.count_pending() == 1
    assert REGISTRY.get_sample_value(oldest) == NOW + 30
    await store.decide(
        "t1", Decision(approval_id=later.approval_id, decision="reject", by="bob"), NOW + 41
    )
    assert await store.count_pending() == 0
    assert REGISTRY.get_sample_value(oldest) == 0


async def test_unknown_or_other_thread_is_404(store: ApprovalStore) -> None:
    await store.open(pending())
    with pytest.raises(ApprovalConflict) as err:
        await store.decide("t2", decide(), NOW)  # the id exists, but on another thread
    assert err.value.status == 404


async def test_timeout(store: ApprovalStore) -> None:
    await store.open(pending(expires=NOW + 10))
    with pytest.raises(ApprovalConflict, match="timed out") as err:
        await store.decide("t1", decide(), NOW + 11)
    assert err.value.status == 409
    (expired,) = await store.expire_due("reject", NOW + 11)
    assert expired.status == ApprovalStatus.EXPIRED
    assert expired.resume_value()["decision"] == "reject"
    assert await store.expire_due("reject", NOW + 12) == []  # each expires once
    with pytest.raises(ApprovalConflict, match="timed out"):
        await store.decide("t1", decide(), NOW + 12)


def test_edit_needs_args() -> None:
    with pytest.raises(ValueError, match="args is required with decision edit"):
        decide("edit")
    with pytest.raises(ValueError, match="args is required"):
        decide("approve", args={})


@pytest.mark.services
async def test_concurrent_decisions_on_two_pods_exactly_one_wins(postgres_database: str) -> None:
    async with (
        postgres_store(postgres_database, PostgresApprovalStore) as a,
        postgres_store(postgres_database, PostgresApprovalStore) as b,
    ):
        await a.open(pending())
        attempts = [
            (a if i % 2 else b).decide("t1", decide("approve" if i % 2 else "reject", f"u{i}"), NOW)
            for i in range(10)
        ]
        results = await asyncio.gather(*attempts, return_exceptions=True)
        winners = [r for r in results if isinstance(r, Approval)]
        losers = [r for r in results if isinstance(r, ApprovalConflict)]
        assert len(winners) == 1
        assert len(losers) == 9
        assert {r.status for r in losers} == {409}
        assert (await a.get("t1", winners[0].approval_id)).decided_by == winners[0].decided_by
