"""status.task and readiness in task mode: the Job's phase, and the run's summary read from
its pod's termination message, which the tenant's pod writes (so it is parsed as hostile)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contract.task import TERMINATION_LIMIT, TaskSummary
from function import compose, conditions, readiness, task_status
from function.builders import task as task_builder
from function.definition_source import resolve
from function.input import Policy
from function.spec import TaskStatus
from tests.function.factories import make_spec

SUMMARY = TaskSummary(
    job_id="task:agents:bot:0123456789abcdef",
    status="completed",
    output_ref="/runs/task:agents:bot:0123456789abcdef",
    input_tokens=12,
    output_tokens=5,
    total_tokens=17,
    cost=0.0001,
    model="gpt-4o-mini",
)


def _job(*conds: tuple[str, str], **status: Any) -> dict[str, Any]:
    conditions_ = [
        {"type": t, "status": "True", "reason": r, "message": f"{t} {r}"} for t, r in conds
    ]
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "status": {"conditions": conditions_, **status},
    }


def _pod(
    message: Any, created: str = "2026-01-01T00:00:00Z", name: str = "runtime", job: str = "j"
) -> dict:
    owner = {"apiVersion": "batch/v1", "kind": "Job", "name": job, "uid": "u", "controller": True}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"creationTimestamp": created, "ownerReferences": [owner]},
        "status": {
            "containerStatuses": [
                {"name": name, "state": {"terminated": {"exitCode": 0, "message": message}}}
            ]
        },
    }


def test_a_completed_job_reports_the_run() -> None:
    job = _job(("Complete", "CompletionsReached"), startTime="t0", completionTime="t1")
    out = task_status.status("bot-task-x", job, [_pod(SUMMARY.to_json(), job="bot-task-x")])
    assert out == {
        "phase": "Succeeded",
        "jobName": "bot-task-x",
        "startTime": "t0",
        "completionTime": "t1",
        "runId": SUMMARY.job_id,
        "outputRef": SUMMARY.output_ref,
        "result": "completed",
        "inputTokens": 12,
        "outputTokens": 5,
        "totalTokens": 17,
        "cost": 0.0001,
        "model": "gpt-4o-mini",
    }
    assert readiness.check(job).ready


@pytest.mark.parametrize(
    ("job", "phase"),
    [
        (None, "Pending"),
        (_job(), "Pending"),
        (_job(active=1, startTime="t0"), "Running"),
        (_job(("FailureTarget", "BackoffLimitExceeded")), "Failed"),
        (_job(("Failed", "DeadlineExceeded")), "Failed"),
    ],
)
def test_phases(job: dict[str, Any] | None, phase: str) -> None:
    out = task_status.status("j", job, [])
    assert out["phase"] == phase
    verdict = readiness.check(job)
    assert not verdict.ready
    if phase == "Failed":
        assert out["reason"] in {"BackoffLimitExceeded", "DeadlineExceeded"}
        assert out["reason"] == verdict.reason


def test_a_completed_run_wins_over_a_failed_pod() -> None:
    failed = SUMMARY.model_copy(update={"status": "failed", "error": "boom"})
    pods = [
        _pod(SUMMARY.to_json(), "2026-01-01T00:00:00Z"),
        _pod(failed.to_json(), "2026-01-02T00:00:00Z"),
    ]
    assert task_status.summary(pods) == SUMMARY
    assert task_status.summary(pods[1:]) == failed


HOSTILE = [
    "",
    "not json",
    "[]",
    "null",
    json.dumps({"jobId": "x"}),  # no status
    json.dumps({**json.loads(SUMMARY.to_json()), "inputTokens": -1}),
    json.dumps({**json.loads(SUMMARY.to_json()), "inputTokens": 2**64}),
    json.dumps({**json.loads(SUMMARY.to_json()), "cost": "free"}),
    json.dumps({**json.loads(SUMMARY.to_json()), "status": "x" * 100}),
    json.dumps({**json.loads(SUMMARY.to_json()), "outputRef": "https://evil.example/"}),
    json.dumps({**json.loads(SUMMARY.to_json()), "model": "m" * 201}),
    '{"jobId": "x", "status": "completed", "cost": NaN}',
    SUMMARY.to_json()[:-1] + "," + '"x":"' + "y" * TERMINATION_LIMIT + '"}',  # too long
    "[" * 10_000,
    12,
    {"jobId": "x"},
    None,
]


@pytest.mark.parametrize("message", HOSTILE, ids=range(len(HOSTILE)))
def test_a_hostile_termination_message_is_no_summary(message: Any) -> None:
    assert task_status.summary([_pod(message)]) is None
    out = task_status.status("j", _job(("Complete", "x")), [_pod(message)])
    assert "runId" not in out
    assert out["phase"] == "Succeeded"


def test_unknown_keys_are_never_copied() -> None:
    message = json.dumps({**json.loads(SUMMARY.to_json()), "phase": "Hacked", "extra": "x"})
    out = task_status.status("j", _job(), [_pod(message)])
    assert out["phase"] == "Pending"
    assert set(out) <= set(TaskStatus.model_json_schema(by_alias=True)["properties"])
    assert "extra" not in json.dumps(out)


def test_another_container_s_message_is_ignored() -> None:
    assert task_status.summary([_pod(SUMMARY.to_json(), name="sidecar")]) is None


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=20,
)
_KEYS = st.sampled_from(
    [
        "status",
        "containerStatuses",
        "state",
        "terminated",
        "message",
        "name",
        "runtime",
        "conditions",
        "type",
        "Complete",
        "Failed",
        "True",
        "reason",
        "startTime",
        "active",
        "metadata",
        "creationTimestamp",
    ]
)
_SHAPED = st.recursive(
    st.none() | st.integers() | st.text(max_size=10) | _KEYS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_KEYS, inner, max_size=4),
    max_leaves=25,
)


@settings(max_examples=300, deadline=None)
@given(job=_JSON | _SHAPED, pods=st.lists(_JSON | _SHAPED, max_size=3))
def test_any_observed_shape_gives_a_valid_status_and_never_raises(
    job: Any, pods: list[Any]
) -> None:
    out = task_status.status("j", job if isinstance(job, dict) else None, pods)
    TaskStatus.model_validate(out)
    json.dumps(out, allow_nan=False)


def _compose(observed: dict[str, Any], required: dict[str, list[dict[str, Any]]]):
    spec = make_spec(mode="task", task={"input": "hi"})
    return compose.compose(
        "bot", "agents", spec, resolve("bot", spec, None), Policy(), observed, required
    )


def test_compose_asks_for_the_job_s_pods_and_reports_a_failure() -> None:
    first = _compose({}, {})
    key = task_builder.task_key(first.desired)
    assert key is not None
    job = first.desired[key]
    namespace, labels = first.pod_requirements[task_status.PODS_REQUIREMENT]
    assert namespace == "agents"
    assert labels.items() <= job["spec"]["template"]["metadata"]["labels"].items()
    assert labels[task_builder.RUN_LABEL] == key.removeprefix(task_builder.KEY_PREFIX)
    assert "serviceEndpoint" not in first.status
    assert first.status["task"]["phase"] == "Pending"

    failed = {key: {**job, **_job(("Failed", "BackoffLimitExceeded"))}}
    pods = {
        task_status.PODS_REQUIREMENT: [
            _pod(
                SUMMARY.model_copy(update={"status": "failed"}).to_json(),
                job=job["metadata"]["name"],
            )
        ]
    }
    out = _compose(failed, pods)
    assert out.status["phase"] == "Failed"
    assert out.status["task"]["reason"] == "BackoffLimitExceeded"
    assert out.status["task"]["result"] == "failed"
    [runtime] = [c for c in out.conditions if c.typ == conditions.RUNTIME_READY]
    assert runtime.status == "False"
    assert runtime.reason == conditions.Reason.TASK_FAILED
    assert "BackoffLimitExceeded" in (runtime.message or "")
    assert out.ready[key] is False

    done = {key: {**job, **_job(("Complete", "CompletionsReached"))}}
    pods = {task_status.PODS_REQUIREMENT: [_pod(SUMMARY.to_json(), job=job["metadata"]["name"])]}
    out = _compose(done, pods)
    assert out.ready[key] is True
    assert out.status["task"]["outputTokens"] == 5
    [runtime] = [c for c in out.conditions if c.typ == conditions.RUNTIME_READY]
    assert runtime.reason == conditions.Reason.TASK_SUCCEEDED


def test_the_status_schema_declares_status_task() -> None:
    from function.schema import structural_schema
    from function.spec import XAgentStatus

    props = structural_schema(XAgentStatus)["properties"]["task"]["properties"]
    assert {
        "phase",
        "jobName",
        "runId",
        "outputRef",
        "inputTokens",
        "outputTokens",
        "cost",
    } <= props.keys()


def test_only_the_job_s_own_pods_count() -> None:
    """The labels the function selects by are anyone's to set: a pod the Job does not
    control (another owner, no controller, another uid of the same name) is ignored."""
    job = {**_job(("Complete", "x")), "metadata": {"name": "j", "uid": "u"}}
    mine = _pod(SUMMARY.to_json())
    assert task_status.status("j", job, [mine])["runId"] == SUMMARY.job_id
    for owners in (
        [],
        [{"kind": "Job", "name": "j", "uid": "u"}],  # not the controller
        [{"kind": "Job", "name": "other", "uid": "u", "controller": True}],
        [{"kind": "Job", "name": "j", "uid": "old", "controller": True}],
        [{"kind": "ReplicaSet", "name": "j", "uid": "u", "controller": True}],
        "oops",
    ):
        forged = {**mine, "metadata": {"ownerReferences": owners}}
        assert "runId" not in task_status.status("j", job, [forged]), owners
