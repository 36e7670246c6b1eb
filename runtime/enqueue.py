"""``xagent-runtime enqueue``: put one scheduled job on the agent's queue, then exit.

A schedule's CronJob (function/builders/schedules.py) runs this in the runtime image. It reads
its work from the environment (contract.env.TRIGGER_ENV) and publishes one job in the
contract's format (runtime.jobs.Job): to the JetStream jobs subject with engine nats, or as a
CloudEvent to the agent's HTTP API with engine none. It runs no agent and loads no LangGraph.

The job id is a pure function of the schedule and its scheduled time, which the pod finds in
its Job's name (``<cronjob>-<minutes since the epoch>``, set by the CronJob controller). A
pod the Job retries after a publish that did reach the queue enqueues the same id again,
and the stream's duplicate window (``Nats-Msg-Id``) or the worker's idempotency record
drops it: a schedule never runs twice for one time. With ``spec.queue.auth`` the pod carries
the runtime's NATS credential env and Secret files, read here through the server's own
settings (runtime.settings.NatsAuthSettings). Exit codes: 0 enqueued (or already
enqueued), 1 the queue or API refused or was unreachable (the Job retries), 2 bad
configuration.
"""

from __future__ import annotations

import asyncio
import logging
import os
import ssl
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from contract.env import ENV, QUEUE_ENV, TRIGGER_ENV
from runtime.jobs import Job, JobInput, Message

if TYPE_CHECKING:
    from runtime.queue.nats_auth import NatsAuth
    from runtime.settings import NatsAuthSettings

__all__ = ["EnqueueError", "Trigger", "enqueue", "job_for", "main", "scheduled_time"]

log = logging.getLogger("runtime.enqueue")

JOB_EVENT_TYPE = "dev.xagent.job"
"""CloudEvent type of a job posted to the HTTP API."""
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_TIMEOUT_SECONDS = 10.0


class EnqueueError(Exception):
    """The job could not be enqueued; a retry may succeed."""


@dataclass(frozen=True)
class Trigger:
    """One run of a schedule: what to send, and where."""

    agent: str
    namespace: str
    schedule: str
    message: str
    job_name: str
    thread_id: str | None = None
    nats_url: str | None = None
    jobs_subject: str | None = None
    agent_url: str | None = None
    token_path: Path | None = None
    nats_auth: NatsAuthSettings | None = None
    """The queue's credentials and TLS files (spec.queue.auth), read as the server reads them."""

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Trigger:
        """The trigger the CronJob's env describes; ValueError naming what is missing."""

        def get(name: str) -> str | None:
            return env.get(name) or None

        missing = [
            n
            for n in (TRIGGER_ENV.SCHEDULE, TRIGGER_ENV.MESSAGE, TRIGGER_ENV.JOB_NAME)
            if not get(n)
        ]
        nats_url, subject = get(QUEUE_ENV.URL), get(QUEUE_ENV.JOBS_SUBJECT)
        agent_url = get(TRIGGER_ENV.AGENT_URL)
        if not agent_url and not (nats_url and subject):
            missing.append(
                f"{QUEUE_ENV.URL} and {QUEUE_ENV.JOBS_SUBJECT}, or {TRIGGER_ENV.AGENT_URL}"
            )
        if missing:
            raise ValueError("enqueue needs " + ", ".join(missing))
        token = get(TRIGGER_ENV.TOKEN_PATH)
        nats_auth = None if agent_url else _nats_auth(env)
        return cls(
            agent=get(ENV.AGENT_NAME) or "",
            namespace=get(ENV.AGENT_NAMESPACE) or "",
            schedule=env[TRIGGER_ENV.SCHEDULE],
            message=env[TRIGGER_ENV.MESSAGE],
            job_name=env[TRIGGER_ENV.JOB_NAME],
            thread_id=get(TRIGGER_ENV.THREAD_ID),
            nats_url=nats_url if not agent_url else None,
            jobs_subject=subject if not agent_url else None,
            agent_url=agent_url,
            token_path=Path(token) if token else None,
            nats_auth=nats_auth,
        )


def _nats_auth(env: Mapping[str, str]) -> NatsAuthSettings:
    """The NATS credential settings of ``env``, read as the server reads them; ValueError
    naming a bad variable, or a file variable whose file is not there (a pod without its
    Secret's volume, which no retry mends)."""
    from runtime.settings import nats_auth_settings

    settings = nats_auth_settings(env)
    for field, info in type(settings).model_fields.items():
        path = getattr(settings, field)
        if isinstance(path, Path) and not path.is_file():
            raise ValueError(
                f"{info.validation_alias}: {path} is not a file (is the queue auth Secret mounted?)"
            )
    return settings


def scheduled_time(job_name: str) -> datetime | None:
    """The scheduled time the CronJob controller wrote into ``job_name``; None if it did not.

    The controller names a Job ``<cronjob>-<scheduled time in minutes since the epoch>``; a
    Job created by hand (``kubectl create job --from=cronjob/...``) has any other name.
    """
    _, sep, suffix = job_name.rpartition("-")
    if not sep or not suffix.isdigit() or len(suffix) > 10:
        return None
    return _EPOCH + timedelta(minutes=int(suffix))


def job_for(trigger: Trigger) -> Job:
    """The job of one scheduled run, with an id derived from schedule and scheduled time."""
    when = scheduled_time(trigger.job_name)
    run = when.strftime("%Y%m%dT%H%MZ") if when else f"job-{trigger.job_name}"
    job_id = f"schedule:{trigger.schedule}:{run}"
    trigger_meta = {"schedule": trigger.schedule, "jobName": trigger.job_name}
    if when:
        trigger_meta["scheduledTime"] = when.isoformat().replace("+00:00", "Z")
    return Job(
        job_id=job_id,
        thread_id=trigger.thread_id,
        input=JobInput(messages=[Message(role="user", content=trigger.message)]),
        metadata={"trigger": trigger_meta},
    )


async def enqueue(trigger: Trigger) -> tuple[Job, bool]:
    """Enqueue the trigger's job; returns it and whether it was new (False: a repeat)."""
    job = job_for(trigger)
    if trigger.agent_url:
        return job, await _post(trigger, job)
    return job, await _publish(trigger, job)


async def _publish(trigger: Trigger, job: Job) -> bool:
    import nats
    from nats.errors import Error as NatsError
    from nats.js.errors import NoStreamResponseError

    from runtime.queue.jetstream import job_message
    from runtime.queue.nats_auth import NatsAuth

    url, subject = trigger.nats_url or "", trigger.jobs_subject or ""
    auth = NatsAuth.from_settings(trigger.nats_auth) if trigger.nats_auth else NatsAuth()
    errors: list[Exception] = []

    async def record(err: Exception) -> None:
        # nats-py reports why a server refused (e.g. 'Authorization Violation') only here;
        # connect itself then raises "no servers available".
        errors.append(err)

    try:
        nc = await nats.connect(
            url,
            connect_timeout=_TIMEOUT_SECONDS,
            max_reconnect_attempts=1,
            name=f"xagent-enqueue/{trigger.namespace}/{trigger.agent}",
            error_cb=record,
            **auth.connect_options(),
        )
    except (OSError, NatsError, TimeoutError) as err:
        raise EnqueueError(_connect_failure(url, auth, [*errors, err])) from None
    try:
        body, headers = job_message(job, nc.max_payload)
        try:
            ack = await nc.jetstream().publish(
                subject, body, headers=headers, timeout=_TIMEOUT_SECONDS
            )
        except NoStreamResponseError:
            raise EnqueueError(
                f"no JetStream stream captures {subject}: is the agent's Stream ready?"
            ) from None
        except (NatsError, TimeoutError) as err:
            raise EnqueueError(f"publishing to {subject} failed: {err}") from None
        return not ack.duplicate
    finally:
        await nc.close()


def _connect_failure(url: str, auth: NatsAuth, errors: list[Exception]) -> str:
    """Why enqueue could not connect, naming the credentials when the server wants some."""
    refused = next((e for e in errors if "authoriz" in str(e).lower()), None)
    if refused is None:
        # The reported cause over the final "no servers available": a refused TLS handshake
        # first (a retry after it may only see a broken pipe), else the last one reported.
        tls = [e for e in errors if isinstance(e, ssl.SSLError)]
        cause = tls[0] if tls else errors[-2] if len(errors) > 1 else errors[-1]
        return f"cannot reach NATS at {url}: {cause!r}"
    if not auth.identity:
        sent = (
            f"no credentials were set (none of {QUEUE_ENV.USER}/{QUEUE_ENV.PASSWORD}, "
            f"{QUEUE_ENV.TOKEN}, {QUEUE_ENV.CREDS_PATH}, {QUEUE_ENV.NKEY_SEED_PATH}): "
            "set spec.queue.auth to the method the server requires"
        )
    else:
        sent = "the credentials from spec.queue.auth's Secret were not accepted"
    return f"NATS at {url} refused the connection ({refused}): {sent}"


async def _post(trigger: Trigger, job: Job) -> bool:
    import httpx

    url = trigger.agent_url or ""
    headers = {
        "ce-specversion": "1.0",
        "ce-id": job.job_id,
        "ce-type": JOB_EVENT_TYPE,
        "ce-source": f"xagent/{trigger.namespace}/{trigger.agent}/schedules/{trigger.schedule}",
        "content-type": "application/json",
    }
    if trigger.token_path is not None:
        headers["authorization"] = f"Bearer {_token(trigger.token_path)}"
    try:
        async with httpx.AsyncClient(timeout=_TIMEOUT_SECONDS) as client:
            response = await client.post(url, content=job.model_dump_json(), headers=headers)
    except httpx.HTTPError as err:
        raise EnqueueError(f"cannot reach the agent at {url}: {err!r}") from None
    if response.status_code != 202:
        raise EnqueueError(f"the agent answered {response.status_code}: {response.text[:500]}")
    return True


def _token(path: Path) -> str:
    """The first token of ``path``: a projected ServiceAccount token, or the API's token file
    (``principal:token`` lines, or bare tokens; runtime.serve.auth.StaticTokens)."""
    try:
        text = path.read_text()
    except OSError as err:
        raise EnqueueError(f"cannot read the API token at {path}: {err.strerror}") from None
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            return line.rpartition(":")[2].strip()
    raise EnqueueError(f"{path} holds no token")


def main(env: Mapping[str, str] | None = None) -> int:
    """Enqueue the job the environment describes; the process exit code."""
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    try:
        trigger = Trigger.from_env(os.environ if env is None else env)
    except ValueError as err:
        log.error("%s", err)
        return 2
    try:
        job, new = asyncio.run(enqueue(trigger))
    except EnqueueError as err:
        log.error("%s", err)
        return 1
    where = trigger.agent_url or trigger.jobs_subject
    state = "enqueued" if new else "already enqueued"
    # stdout: the one line a `kubectl logs` of the run shows.
    print(f"{state} job {job.job_id} on {where}")
    return 0
