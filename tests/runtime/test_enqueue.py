"""The enqueue command's pure parts: scheduled time, job ids, the token file."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contract.env import QUEUE_ENV, TRIGGER_ENV
from runtime.enqueue import EnqueueError, Trigger, _token, job_for, scheduled_time
from runtime.queue.nats_auth import NatsAuth


def trigger(job_name: str, schedule: str = "nightly", thread: str | None = None) -> Trigger:
    return Trigger(
        agent="a",
        namespace="n",
        schedule=schedule,
        message="hi",
        job_name=job_name,
        thread_id=thread,
        nats_url="nats://x:4222",
        jobs_subject="s.jobs",
    )


def test_scheduled_time_from_the_controllers_job_name():
    assert scheduled_time("x-schedule-nightly-abc-29412720") == datetime(
        2025, 12, 3, 12, 0, tzinfo=UTC
    )
    assert scheduled_time("manual-run") is None
    assert scheduled_time("12345") is None
    assert scheduled_time("x-99999999999999999999") is None


@given(st.integers(0, 10**9), st.integers(0, 10**9))
def test_job_id_is_one_per_schedule_and_time(a: int, b: int):
    first, second = job_for(trigger(f"cj-{a}")), job_for(trigger(f"cj-{b}"))
    assert (first.job_id == second.job_id) == (a == b)
    assert job_for(trigger(f"cj-{a}")).job_id == first.job_id
    assert job_for(trigger(f"cj-{a}", schedule="other")).job_id != first.job_id


def test_job_carries_message_thread_and_trigger_metadata():
    job = job_for(trigger("cj-29412720", thread="reports"))
    assert job.thread == "reports"
    assert job.input is not None
    assert job.input.messages[0].content == "hi"
    assert job.metadata["trigger"] == {
        "schedule": "nightly",
        "jobName": "cj-29412720",
        "scheduledTime": "2025-12-03T12:00:00Z",
    }
    assert job_for(trigger("hand-made")).job_id == "schedule:nightly:job-hand-made"


def test_token_file_forms(tmp_path: Path):
    path = tmp_path / "t"
    path.write_text("# comment\n\nprincipal:tok-1\nother:tok-2\n")
    assert _token(path) == "tok-1"
    path.write_text("eyJhbGciOi.jwt.sig\n")
    assert _token(path) == "eyJhbGciOi.jwt.sig"
    path.write_text("# only a comment\n")
    with pytest.raises(EnqueueError, match="holds no token"):
        _token(path)
    with pytest.raises(EnqueueError, match="cannot read"):
        _token(tmp_path / "missing")


def test_the_http_url_wins_over_a_queue():
    env = {
        TRIGGER_ENV.SCHEDULE: "s",
        TRIGGER_ENV.MESSAGE: "m",
        TRIGGER_ENV.JOB_NAME: "j-1",
        TRIGGER_ENV.AGENT_URL: "http://agent:8080/",
        QUEUE_ENV.URL: "nats://x:4222",
        QUEUE_ENV.JOBS_SUBJECT: "s.jobs",
    }
    parsed = Trigger.from_env(env)
    assert parsed.agent_url == "http://agent:8080/"
    assert parsed.nats_url is None
    assert parsed.nats_auth is None  # the API's token, not the queue's credentials


NATS_BASE = {
    TRIGGER_ENV.SCHEDULE: "s",
    TRIGGER_ENV.MESSAGE: "m",
    TRIGGER_ENV.JOB_NAME: "j-1",
    QUEUE_ENV.URL: "nats://x:4222",
    QUEUE_ENV.JOBS_SUBJECT: "s.jobs",
}
_SECRET_TEXT = st.text(st.characters(blacklist_categories=["Cs"]), max_size=20)


@settings(deadline=None)
@given(
    user=st.one_of(st.none(), _SECRET_TEXT),
    password=st.one_of(st.none(), _SECRET_TEXT),
    token=st.one_of(st.none(), _SECRET_TEXT),
)
def test_queue_credentials_are_read_as_the_server_reads_them(
    user: str | None, password: str | None, token: str | None
):
    """The enqueue pod's env goes through the server's own NATS settings (runtime.settings):
    the same names, the same pairing rule, empty values unset."""
    given_env = {QUEUE_ENV.USER: user, QUEUE_ENV.PASSWORD: password, QUEUE_ENV.TOKEN: token}
    env = {**NATS_BASE, **{k: v for k, v in given_env.items() if v is not None}}
    if bool(user) != bool(password):
        with pytest.raises(ValueError, match=f"{QUEUE_ENV.USER} and {QUEUE_ENV.PASSWORD}"):
            Trigger.from_env(env)
        return
    auth = NatsAuth.from_settings(Trigger.from_env(env).nats_auth)
    options = auth.connect_options()
    assert options.get("user") == (user or None)
    assert options.get("password") == (password or None)
    assert options.get("token") == (token or None)
    assert auth.identity == bool(user or token)


def test_queue_credential_files_must_be_there(tmp_path: Path):
    seed = tmp_path / "nkey.seed"
    env = {**NATS_BASE, QUEUE_ENV.NKEY_SEED_PATH: str(seed)}
    with pytest.raises(ValueError, match=f"{QUEUE_ENV.NKEY_SEED_PATH}: {seed} is not a file"):
        Trigger.from_env(env)
    seed.write_text("SU...")
    auth = NatsAuth.from_settings(Trigger.from_env(env).nats_auth)
    assert auth.connect_options() == {"nkeys_seed": str(seed)}
