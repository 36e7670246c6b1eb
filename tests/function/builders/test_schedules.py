"""Scheduled triggers: a valid CronJob per schedule, running enqueue against the agent's queue."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from contract.env import QUEUE_ENV, TRIGGER_ENV
from function.builders import build_all, nats_auth, schedules
from function.input import Policy
from function.names import CRONJOB_MAX
from tests.function.factories import make_ctx, make_spec
from tests.function.kubelet import expand as kubelet_expand
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


ALLOW_NATS = Policy(queues={"authSecrets": ["nats-*"]})
NATS_AUTH = [
    {"method": "userPassword", "secret": {"secretName": "nats-creds"}},
    {"method": "token", "secret": {"remoteKey": "team-a/nats"}},
    {"method": "creds", "secret": {"secretName": "nats-creds"}},
    {"method": "nkey", "secret": {"secretName": "nats-nkey"}, "tls": {"secretName": "nats-tls"}},
    {"tls": {"secretName": "nats-tls", "clientCertificate": False}},
]


def _credentials(pod: dict[str, Any]) -> tuple[list[Any], list[Any], list[Any]]:
    """A pod's NATS credential env, its Secret volumes and their mounts (the container's)."""
    [container] = pod["containers"]
    secret_volumes = [v for v in pod.get("volumes", []) if "secret" in v]
    names = {v["name"] for v in secret_volumes}
    env = [
        e
        for e in container["env"]
        if e["name"].startswith("NATS_") and e["name"] not in _QUEUE_NAMES
    ]
    mounts = [m for m in container.get("volumeMounts", []) if m["name"] in names]
    return env, secret_volumes, mounts


_QUEUE_NAMES = {QUEUE_ENV.URL, QUEUE_ENV.STREAM, QUEUE_ENV.JOBS_SUBJECT}


def _assert_carries_the_runtimes_credentials(ctx: Any) -> None:
    desired = assert_valid(build_all(ctx))
    runtime_pod = desired["deployment"]["spec"]["template"]["spec"]
    cronjob = desired["cronjob-nightly"]
    pod = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    env, volumes, mounts = _credentials(pod)
    runtime_env, runtime_volumes, runtime_mounts = _credentials(runtime_pod)
    # The runtime also gets other NATS_ variables (consumer, results subject...): compare
    # only what nats_auth composes, which the runtime must have too.
    wanted = {e["name"] for e in nats_auth.nats_env(ctx)}
    assert wanted, "the case composes no credentials"
    assert env == [e for e in runtime_env if e["name"] in wanted]
    assert volumes == runtime_volumes
    assert mounts == runtime_mounts
    assert all(m["readOnly"] for m in mounts)
    # 0440 files, readable through the pod's group as in the runtime's pod.
    assert pod["securityContext"]["fsGroup"] == runtime_pod["securityContext"]["fsGroup"]
    # Not a copy: the CronJob's entries are the ones the runtime's builder composes.
    assert env == nats_auth.nats_env(ctx)
    assert list(zip(volumes, mounts, strict=True)) == nats_auth.nats_mounts(ctx)


@pytest.mark.parametrize("auth", NATS_AUTH, ids=lambda a: a.get("method", "tlsOnly"))
def test_schedules_with_nats_auth_carry_the_runtimes_credentials(auth: dict[str, Any]) -> None:
    """Before, the spec was refused: the enqueue pod had no credentials and every run failed."""
    ctx = make_ctx(_spec(NIGHTLY, queue={"engine": "nats", "auth": auth}), policy=ALLOW_NATS)
    _assert_carries_the_runtimes_credentials(ctx)


@settings(max_examples=40, deadline=None)
@given(
    method=st.sampled_from(["userPassword", "token", "creds", "nkey", "none"]),
    secret=st.one_of(
        st.from_regex(r"nats-[a-z0-9]([-a-z0-9]{0,40}[a-z0-9])?", fullmatch=True).map(
            lambda n: {"secretName": n}
        ),
        st.from_regex(r"[a-z0-9][-a-z0-9/_.]{0,60}", fullmatch=True).map(
            lambda k: {"remoteKey": k}
        ),
    ),
    tls=st.one_of(
        st.none(),
        st.builds(
            lambda name, client: {"secretName": name, "clientCertificate": client},
            st.from_regex(r"nats-[a-z0-9]{1,20}", fullmatch=True),
            st.booleans(),
        ),
    ),
)
def test_any_queue_auth_reaches_the_enqueue_pod_as_it_reaches_the_runtime(
    method: str, secret: dict[str, str], tls: dict[str, Any] | None
) -> None:
    if method == "none" and tls is None:
        return
    auth: dict[str, Any] = {"method": method}
    if method != "none":
        auth["secret"] = secret
    if tls is not None:
        auth["tls"] = tls
    spec = _spec(NIGHTLY, queue={"engine": "nats", "auth": auth})
    _assert_carries_the_runtimes_credentials(make_ctx(spec, policy=ALLOW_NATS))


def test_engine_none_gets_no_nats_credentials() -> None:
    auth = {"method": "userPassword", "secret": {"secretName": "nats-creds"}}
    ctx = make_ctx(_spec(NIGHTLY, queue={"engine": "none", "auth": auth}), policy=ALLOW_NATS)
    env = _env(assert_valid(build_all(ctx))["cronjob-nightly"])
    assert not [name for name in env if name.startswith("NATS_")]


def _expanded(cronjob: dict[str, Any], secrets: dict[str, str]) -> dict[str, str]:
    """The container's literal values as the kubelet hands them over: each expanded from the
    variables before it (``secrets`` stand in for secretKeyRef values)."""
    [container] = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    seen: dict[str, str] = {}
    for entry in container["env"]:
        if "value" in entry:
            seen[entry["name"]] = kubelet_expand(entry["value"], seen)
        else:
            seen[entry["name"]] = secrets.get(entry["name"], "")
    return seen


def test_the_message_is_sent_verbatim_never_expanded() -> None:
    """Before, the kubelet expanded $(NAME) from the pod's earlier variables and $$ to $."""
    hostile = "print $(NATS_PASSWORD), $(XAGENT_SCHEDULE) and $$(X); costs $5$"
    entry = {**NIGHTLY, "message": hostile, "threadId": "$(AGENT_NAME)"}
    auth = {"method": "userPassword", "secret": {"secretName": "nats-creds"}}
    ctx = make_ctx(_spec(entry, queue={"auth": auth}), policy=ALLOW_NATS)
    env = _expanded(build_all(ctx)["cronjob-nightly"], {QUEUE_ENV.PASSWORD: "pw"})
    assert env[TRIGGER_ENV.MESSAGE] == hostile
    assert env[TRIGGER_ENV.THREAD_ID] == "$(AGENT_NAME)"


@settings(max_examples=60, deadline=None)
@given(
    message=st.text(alphabet="$()AGENT_NAME x", min_size=1, max_size=40),
    thread=st.text(alphabet="$()AGENT_NAME x", min_size=1, max_size=20),
)
def test_any_message_and_thread_reach_enqueue_unchanged(message: str, thread: str) -> None:
    entry = {**NIGHTLY, "message": message, "threadId": thread}
    env = _expanded(build_all(make_ctx(_spec(entry)))["cronjob-nightly"], {})
    assert env[TRIGGER_ENV.MESSAGE] == message
    assert env[TRIGGER_ENV.THREAD_ID] == thread
