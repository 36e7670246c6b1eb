"""Scheduled triggers: a valid CronJob per schedule, running enqueue against the agent's queue."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from contract.env import QUEUE_ENV, TRIGGER_ENV
from function.builders import build_all, schedules
from function.names import CRONJOB_MAX
from tests.function.factories import make_ctx, make_spec
from tests.function.name_limits import name_problems
from tests.function.schemas import assert_valid

NIGHTLY = {"name": "nightly", "schedule": "0 2 * * *", "message": "Summarize the day."}


def _spec(*entries: dict[str, Any], **overrides: Any):
    return make_spec(triggers={"schedules": list(entries)}, **overrides)


def _env(cronjob: dict[str, Any]) -> dict[str, Any]:
    [container] = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


def test_a_cronjob_per_schedule_with_the_stated_policies() -> None:
    ctx = make_ctx(_spec(NIGHTLY, {**NIGHTLY, "name": "weekly", "timeZone": "Europe/Berlin"}))
    desired = assert_valid(build_all(ctx))
    nightly, weekly = desired["cronjob-nightly"], desired["cronjob-weekly"]
    assert nightly["kind"] == "CronJob"
    assert nightly["spec"]["schedule"] == "0 2 * * *"
    assert "timeZone" not in nightly["spec"]
    assert weekly["spec"]["timeZone"] == "Europe/Berlin"
    assert nightly["spec"]["concurrencyPolicy"] == "Forbid"
    assert nightly["spec"]["startingDeadlineSeconds"] == 300
    pod = nightly["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    assert pod["serviceAccountName"] == ctx.service_account_name
    [container] = pod["containers"]
    assert container["args"] == ["enqueue"]
    assert container["image"] == ctx.spec.image.reference
    env = _env(nightly)
    assert env[TRIGGER_ENV.SCHEDULE] == "nightly"
    assert env[TRIGGER_ENV.MESSAGE] == "Summarize the day."
    assert TRIGGER_ENV.THREAD_ID not in env
    assert env[QUEUE_ENV.JOBS_SUBJECT] == f"{ctx.subject_prefix}.jobs"
    assert env[TRIGGER_ENV.JOB_NAME] == {
        "fieldRef": {"fieldPath": "metadata.labels['batch.kubernetes.io/job-name']"}
    }
    # The trigger's pods are not runtime pods: no Service, PDB or scaler selects them.
    labels = pod and nightly["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["labels"]
    assert not ctx.selector_labels().items() <= labels.items()


def test_no_schedules_no_cronjobs() -> None:
    assert not [m for m in build_all(make_ctx()).values() if m["kind"] == "CronJob"]


@pytest.mark.parametrize(
    ("auth", "token"),
    [
        ({"mode": "serviceAccount"}, "projected"),
        ({"mode": "token", "tokenSecretRef": {"name": "api-tokens"}}, "secret"),
        ({"mode": "none"}, None),
    ],
)
def test_engine_none_posts_to_the_api_with_its_auth(auth: dict[str, Any], token: str | None):
    ctx = make_ctx(_spec(NIGHTLY, queue={"engine": "none"}, api={"auth": auth}))
    cronjob = assert_valid(build_all(ctx))["cronjob-nightly"]
    env = _env(cronjob)
    assert QUEUE_ENV.URL not in env
    assert env[TRIGGER_ENV.AGENT_URL] == f"http://{ctx.service_host}:8080/"
    pod = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    if token is None:
        assert TRIGGER_ENV.TOKEN_PATH not in env
        assert "volumes" not in pod
        return
    [volume] = pod["volumes"]
    assert token in volume
    if token == "projected":
        [source] = volume["projected"]["sources"]
        assert source["serviceAccountToken"]["audience"] == f"xagent.dev/agents/{ctx.name}"
    else:
        assert volume["secret"]["secretName"] == "api-tokens"
    assert env[TRIGGER_ENV.TOKEN_PATH].startswith(
        pod["containers"][0]["volumeMounts"][0]["mountPath"]
    )


@settings(max_examples=60, deadline=None)
@given(
    xr=st.from_regex(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?", fullmatch=True),
    # At most 39 characters: the second schedule's name adds an "x" and names stop at 40.
    schedule=st.from_regex(r"[a-z0-9]([-a-z0-9]{0,37}[a-z0-9])?", fullmatch=True),
)
def test_cronjob_names_fit_and_stay_apart(xr: str, schedule: str) -> None:
    spec = _spec({**NIGHTLY, "name": schedule}, {**NIGHTLY, "name": schedule + "x"})
    ctx = make_ctx(spec, name=xr)
    names = [schedules.cronjob_name(ctx, s) for s in spec.triggers.schedules]
    assert len(set(names)) == 2
    for name in names:
        assert len(name) <= CRONJOB_MAX
        assert not name_problems({"kind": "CronJob", "metadata": {"name": name}})


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ({"schedule": "61 * * * *"}, "minute"),
        ({"schedule": "@every 5m"}, "want 5 fields"),
        ({"timeZone": "Mars/Olympus"}, "not an IANA time zone"),
        ({"timeZone": "Local"}, "explicit IANA zone"),
        ({"timeZone": "../etc/passwd"}, "should match pattern"),
        ({"startingDeadlineSeconds": 5}, "greater than or equal to 10"),
        ({"message": ""}, "at least 1 character"),
        ({"name": "Nightly"}, "should match pattern"),
    ],
)
def test_invalid_schedules_name_the_field(entry: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValidationError) as err:
        _spec({**NIGHTLY, **entry})
    assert problem in str(err.value)
    assert "triggers.schedules.0" in str(err.value)


def test_schedule_names_are_unique() -> None:
    with pytest.raises(ValidationError, match=r"schedules\[1\].name: 'nightly' is used twice"):
        _spec(NIGHTLY, NIGHTLY)


@pytest.mark.parametrize(
    "auth",
    [
        {"method": "userPassword", "secret": {"secretName": "nats-creds"}},
        {"tls": {"secretName": "nats-tls"}},
    ],
)
def test_schedules_with_nats_auth_are_refused_not_left_to_fail(auth: dict[str, Any]) -> None:
    """The enqueue pod would connect without the queue's credentials and every run fail."""
    with pytest.raises(ValidationError, match=r"triggers.schedules: not yet supported"):
        _spec(NIGHTLY, queue={"engine": "nats", "auth": auth})
    # Without schedules, or over the HTTP API, the same queue auth is fine.
    make_spec(queue={"engine": "nats", "auth": auth})
    _spec(NIGHTLY, queue={"engine": "none"})
