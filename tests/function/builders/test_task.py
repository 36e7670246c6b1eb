"""Task mode: one valid Job running the runtime pod once, instead of the long-running agent."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from contract.env import QUEUE_ENV, TASK_ENV
from contract.task import EXIT_BAD_CONFIG, EXIT_FAILED
from function import rotation
from function.builders import SERVICE_ONLY, build_all, task
from function.builders.base import env_var
from tests.function.factories import make_ctx, make_spec
from tests.function.kubelet import expand as kubelet_expand
from tests.function.name_limits import name_problems
from tests.function.schemas import assert_valid

TASK = {"input": "Summarize the night.", "retries": 1, "timeout": "30m"}


def _spec(**overrides: Any):
    return make_spec(**{"mode": "task", "task": TASK, **overrides})


def _job(desired: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    [(key, job)] = [(k, m) for k, m in desired.items() if m["kind"] == "Job"]
    return key, job


def _env(job: dict[str, Any]) -> dict[str, Any]:
    [container] = job["spec"]["template"]["spec"]["containers"]
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


def test_a_job_runs_the_runtime_pod_once_and_nothing_serves() -> None:
    ctx = make_ctx(_spec())
    desired = assert_valid(build_all(ctx))
    key, job = _job(desired)
    assert key == task.task_key(desired)
    assert key.startswith(task.KEY_PREFIX)
    kinds = {m["kind"] for m in desired.values()}
    assert not kinds & {"Deployment", "Service", "ScaledObject", "PodDisruptionBudget"}
    assert not kinds & {"Stream", "Consumer", "ServiceMonitor", "PrometheusRule", "CronJob"}
    assert job["spec"]["backoffLimit"] == 1
    assert job["spec"]["activeDeadlineSeconds"] == 1800
    assert "ttlSecondsAfterFinished" not in job["spec"]  # Crossplane would run it again
    [fail, ignore] = job["spec"]["podFailurePolicy"]["rules"]
    assert fail["onExitCodes"]["values"] == [EXIT_FAILED, EXIT_BAD_CONFIG]
    assert ignore["action"] == "Ignore"

    # The runtime pod as the Deployment would run it, minus what serves.
    service_pod = build_all(make_ctx(make_spec()))["deployment"]["spec"]["template"]
    template = job["spec"]["template"]
    assert ctx.selector_labels().items() <= template["metadata"]["labels"].items()
    assert "annotations" not in template["metadata"]
    pod, theirs = template["spec"], service_pod["spec"]
    assert pod["restartPolicy"] == "Never"
    for field in ("serviceAccountName", "securityContext", "volumes", "enableServiceLinks"):
        assert pod[field] == theirs[field], field
    [container], [served] = pod["containers"], theirs["containers"]
    assert container["args"] == task.TASK_ARGS
    assert container["terminationMessagePolicy"] == "File"
    for field in ("ports", "startupProbe", "livenessProbe", "readinessProbe"):
        assert field not in container
    for field in ("image", "securityContext", "volumeMounts", "resources"):
        assert container[field] == served[field], field
    env = _env(job)
    assert env[TASK_ENV.INPUT] == TASK["input"]
    assert TASK_ENV.THREAD_ID not in env
    run = template["metadata"]["labels"][task.RUN_LABEL]
    assert key == f"{task.KEY_PREFIX}{run}"
    assert env[TASK_ENV.RUN] == {"fieldRef": {"fieldPath": f"metadata.labels['{task.RUN_LABEL}']"}}
    assert env[QUEUE_ENV.URL] is None  # no queue: the protected name is written empty
    assert not name_problems(job)


def test_service_mode_composes_no_job() -> None:
    desired = build_all(make_ctx(make_spec()))
    assert task.task_key(desired) is None
    assert {"deployment", "service"} <= desired.keys()


def test_service_only_builders_are_registered_modules() -> None:
    from function.builders import BUILDERS

    assert {name for name, _ in BUILDERS} >= SERVICE_ONLY


def test_the_thread_is_passed_when_set() -> None:
    _, job = _job(build_all(make_ctx(_spec(task={**TASK, "threadId": "nightly"}))))
    assert _env(job)[TASK_ENV.THREAD_ID] == "nightly"


def test_the_job_template_does_not_change_by_itself() -> None:
    """A Job's template is immutable: a rotated Secret, or an observed Deployment's
    annotations, must not change it (the API server would refuse the update)."""
    ctx = make_ctx(_spec())
    entries = rotation.requirements(ctx)
    assert entries  # the model key is watched

    def secrets(version: str) -> dict[str, list[dict[str, Any]]]:
        return {
            e: [{"metadata": {"name": n, "resourceVersion": version}}] for e, n in entries.items()
        }

    first = build_all(dataclasses.replace(ctx, required=secrets("1")))
    rotated = build_all(dataclasses.replace(ctx, required=secrets("2")))
    observed = {"deployment": {"spec": {"template": {"metadata": {"annotations": {"x": "y"}}}}}}
    again = build_all(dataclasses.replace(ctx, observed=observed))
    assert _job(first) == _job(rotated) == _job(again)


def test_another_task_is_another_job() -> None:
    """Changing the task (or the agent) makes a new Job instead of an immutable update."""
    key, job = _job(build_all(make_ctx(_spec())))
    key2, job2 = _job(build_all(make_ctx(_spec(task={**TASK, "input": "Another one."}))))
    key3, job3 = _job(build_all(make_ctx(_spec(systemPrompt="Be brief."))))
    assert len({key, key2, key3}) == 3
    assert len({job["metadata"]["name"], job2["metadata"]["name"], job3["metadata"]["name"]}) == 3


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"mode": "task", "task": None}, "task: set task exactly when mode is task"),
        ({"mode": "service"}, "task: set task exactly when mode is task"),
        (
            {"triggers": {"schedules": [{"name": "n", "schedule": "@daily", "message": "m"}]}},
            "triggers.schedules: not with mode task",
        ),
        ({"triggers": {"subjects": [{"subject": "a.b"}]}}, "triggers.subjects: not with mode task"),
        ({"approvals": {"tools": []}}, "approvals: not with mode task"),
        ({"task": {**TASK, "input": "x" * 32_769}}, "at most 32768 characters"),
        ({"task": {**TASK, "input": ""}}, "at least 1 character"),
        ({"task": {**TASK, "timeout": "169h"}}, "at most 168h"),
        ({"task": {**TASK, "timeout": "0s"}}, "must be longer than 0"),
        ({"task": {**TASK, "retries": 11}}, "less than or equal to 10"),
        ({"env": [{"name": "XAGENT_TASK_INPUT", "value": "x"}]}, "XAGENT_TASK_INPUT"),
    ],
)
def test_task_mode_refuses_what_makes_no_sense(overrides: dict[str, Any], message: str) -> None:
    spec = {"mode": "task", "task": TASK, **overrides}
    spec = {k: v for k, v in spec.items() if v is not None}
    if overrides.get("mode") == "service":
        spec["task"] = TASK
    with pytest.raises(ValidationError) as err:
        make_spec(**spec)
    assert message in str(err.value)


_TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    text=_TEXT.filter(bool).map(lambda t: t[:32_768]),
    thread=st.none() | _TEXT.filter(bool).map(lambda t: t[:200]),
    retries=st.integers(0, 10),
    seconds=st.integers(1, 7 * 86_400),
    xr=st.from_regex(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?", fullmatch=True),
)
def test_any_admitted_task_renders_a_valid_job(
    text: str, thread: str | None, retries: int, seconds: int, xr: str
) -> None:
    task_spec = {"input": text, "retries": retries, "timeout": f"{seconds}s"}
    if thread is not None:
        task_spec["threadId"] = thread
    ctx = make_ctx(_spec(task=task_spec), name=xr)
    desired = assert_valid(build_all(ctx))
    _, job = _job(desired)
    assert kubelet_expand(_env(job)[TASK_ENV.INPUT], {}) == text
    assert job["spec"]["activeDeadlineSeconds"] == seconds
    assert not name_problems(job)
    assert len(job["metadata"]["name"]) <= 63  # the pods' job-name label value


def test_the_input_is_never_expanded_from_the_pod_s_credentials() -> None:
    hostile = "print $(OPENAI_API_KEY) and $(PG_PASSWORD), $$(X) costs $5$"
    _, job = _job(build_all(make_ctx(_spec(task={**TASK, "input": hostile, "threadId": "$(X)"}))))
    secrets = {"OPENAI_API_KEY": "sk-secret", "PG_PASSWORD": "pw", "X": "x"}
    env = _env(job)
    assert kubelet_expand(env[TASK_ENV.INPUT], secrets) == hostile
    assert kubelet_expand(env[TASK_ENV.THREAD_ID], secrets) == "$(X)"


@given(st.text(alphabet="$()AB_x", max_size=30))
def test_any_input_reaches_the_runtime_unchanged(text: str) -> None:
    assert (
        kubelet_expand(env_var("X", text).get("value", ""), {"A": "secret", "AB": "secret"}) == text
    )
