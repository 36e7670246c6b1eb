"""Scheduled triggers: one batch/v1 CronJob per ``spec.triggers.schedules[]`` entry.

Each run starts a pod of the runtime image with ``enqueue`` (runtime/enqueue.py): it puts one
job with the schedule's message on the agent's queue and exits. The agent's own workers run
the job, so a schedule needs nothing a cluster does not already have, works the same with
every queue engine, and its run is an ordinary job (retries, dead letters, run records).

Policies, both fixed and stated in the README:

- Overlap: ``concurrencyPolicy: Forbid``. The enqueue pod lives seconds; a run still going at
  the next time means the queue or the API is down, and a second pod would only pile up.
- Missed runs: ``startingDeadlineSeconds`` (per schedule, 300 by default). A run that could
  not start within it (controller down, Forbid) is skipped, not caught up later.
- Credentials: with ``spec.queue.auth`` the pod gets the queue's NATS credential env and
  read-only Secret files exactly as the runtime does (nats_auth.nats_env/nats_mounts). Each
  run is a new pod that reads the Secret afresh, so a rotated credential needs no rollout.
- Retries: the Job retries a failed pod (``backoffLimit``). The job id is derived from the
  schedule and its scheduled time (the Job's name), so a retry enqueues the same job id,
  which the stream's duplicate window and the worker's idempotency record drop.
"""

from __future__ import annotations

from contract import env as contract_env
from contract.env import QUEUE_ENV, TRIGGER_ENV
from function.builders import nats_auth, queue
from function.builders.base import AgentContext, Desired, Manifest, env_var
from function.builders.deployment import container_security_context, pod_security_context
from function.names import CRONJOB_MAX
from function.spec import ApiAuthMode, QueueEngine, ScheduleTrigger

__all__ = ["COMPONENT", "CONTAINER_NAME", "ENQUEUE_ARGS", "build", "cronjob_name", "key"]

COMPONENT = "trigger"
CONTAINER_NAME = "enqueue"
ENQUEUE_ARGS = ["enqueue"]
"""The runtime image's entrypoint is ``python -m runtime``; this argument selects enqueue."""
JOB_NAME_LABEL = "batch.kubernetes.io/job-name"
"""Set by the Job controller on every pod it creates (Kubernetes 1.27+)."""
BACKOFF_LIMIT = 3
ACTIVE_DEADLINE_SECONDS = 120
"""An enqueue pod publishes one message; one still running after this long is stuck."""
HISTORY = {"successfulJobsHistoryLimit": 1, "failedJobsHistoryLimit": 3}
_AUTH_VOLUME = "api-token"
_AUTH_MOUNT = "/var/run/secrets/xagent"
_TOKEN_FILE = "token"  # noqa: S105 - a file name
_SA_TOKEN_SECONDS = 600
"""The shortest lifetime the kubelet accepts for a projected token."""


def key(schedule: ScheduleTrigger) -> str:
    """The composition-resource key of a schedule's CronJob."""
    return f"cronjob-{schedule.name}"


def cronjob_name(ctx: AgentContext, schedule: ScheduleTrigger) -> str:
    """``<xr>-schedule-<name>-<hash>``, within a CronJob's 52 characters (function.names)."""
    return ctx.child("schedule", schedule.name, max_length=CRONJOB_MAX)


def build(ctx: AgentContext) -> Desired:
    """A CronJob per schedule; nothing without schedules."""
    return {key(s): _cronjob(ctx, s) for s in ctx.spec.triggers.schedules}


def _cronjob(ctx: AgentContext, schedule: ScheduleTrigger) -> Manifest:
    spec: Manifest = {"schedule": schedule.schedule}
    if schedule.time_zone:
        spec["timeZone"] = schedule.time_zone
    spec |= {
        "concurrencyPolicy": "Forbid",
        "startingDeadlineSeconds": schedule.starting_deadline_seconds,
        "suspend": schedule.suspend,
        **HISTORY,
        "jobTemplate": {
            "metadata": {"labels": ctx.labels(COMPONENT)},
            "spec": {
                "backoffLimit": BACKOFF_LIMIT,
                "activeDeadlineSeconds": ACTIVE_DEADLINE_SECONDS,
                "template": {
                    "metadata": {"labels": ctx.labels(COMPONENT)},
                    "spec": _pod_spec(ctx, schedule),
                },
            },
        },
    }
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": ctx.metadata(cronjob_name(ctx, schedule), COMPONENT),
        "spec": spec,
    }


def _env(ctx: AgentContext, schedule: ScheduleTrigger) -> list[Manifest]:
    env: list[Manifest] = [
        env_var(contract_env.ENV.AGENT_NAME, ctx.name),
        env_var(contract_env.ENV.AGENT_NAMESPACE, ctx.namespace),
        env_var(TRIGGER_ENV.SCHEDULE, schedule.name),
        env_var(TRIGGER_ENV.MESSAGE, schedule.message),
    ]
    if schedule.thread_id:
        env.append(env_var(TRIGGER_ENV.THREAD_ID, schedule.thread_id))
    env.append(
        {
            "name": TRIGGER_ENV.JOB_NAME,
            "valueFrom": {"fieldRef": {"fieldPath": f"metadata.labels['{JOB_NAME_LABEL}']"}},
        }
    )
    if ctx.spec.queue.engine == QueueEngine.NATS:
        # The queue connection the runtime itself gets; enqueue reads the URL and subject.
        wanted = {QUEUE_ENV.URL, QUEUE_ENV.STREAM, QUEUE_ENV.JOBS_SUBJECT}
        env += [e for e in queue.queue_env(ctx) if e["name"] in wanted]
        # spec.queue.auth: the runtime's own credential env (values from the Secret, files
        # by their mounted paths); _pod_spec mounts the files.
        env += nats_auth.nats_env(ctx)
    else:
        url = f"http://{ctx.service_host}:{contract_env.HTTP_PORT}/"
        env.append(env_var(TRIGGER_ENV.AGENT_URL, url))
        if _token_volume(ctx) is not None:
            env.append(env_var(TRIGGER_ENV.TOKEN_PATH, f"{_AUTH_MOUNT}/{_TOKEN_FILE}"))
    return env


def _token_volume(ctx: AgentContext) -> Manifest | None:
    """The bearer token enqueue presents to the API (engine none only).

    serviceAccount: a projected token of the runtime's ServiceAccount bound to the API's
    audience (the principal that owns scheduled runs); token: the API's own token Secret,
    whose first token enqueue sends; none: no token.
    """
    if ctx.spec.queue.engine == QueueEngine.NATS:
        return None
    auth = ctx.spec.api.auth
    if auth.mode == ApiAuthMode.SERVICE_ACCOUNT:
        audience = auth.audience or contract_env.api_audience(ctx.namespace, ctx.name)
        token = {
            "audience": audience,
            "expirationSeconds": _SA_TOKEN_SECONDS,
            "path": _TOKEN_FILE,
        }
        return {"name": _AUTH_VOLUME, "projected": {"sources": [{"serviceAccountToken": token}]}}
    if auth.mode == ApiAuthMode.TOKEN and auth.token_secret_ref is not None:
        ref = auth.token_secret_ref
        return {
            "name": _AUTH_VOLUME,
            "secret": {"secretName": ref.name, "items": [{"key": ref.key, "path": _TOKEN_FILE}]},
        }
    return None


def _pod_spec(ctx: AgentContext, schedule: ScheduleTrigger) -> Manifest:
    image = ctx.spec.image
    container: Manifest = {
        "name": CONTAINER_NAME,
        "image": image.reference,
        "imagePullPolicy": image.pull_policy,
        "args": ENQUEUE_ARGS,
        "env": _env(ctx, schedule),
        "resources": {
            "requests": {"cpu": "10m", "memory": "64Mi"},
            "limits": {"memory": "256Mi"},
        },
        "securityContext": container_security_context(),
    }
    mounts = nats_auth.nats_mounts(ctx)
    volume = _token_volume(ctx)
    if volume is not None:
        mounts.append((volume, {"name": _AUTH_VOLUME, "mountPath": _AUTH_MOUNT, "readOnly": True}))
    if mounts:
        container["volumeMounts"] = [mount for _, mount in mounts]
    pod: Manifest = {
        "serviceAccountName": ctx.service_account_name,
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "restartPolicy": "Never",
        "securityContext": pod_security_context(),
        "containers": [container],
    }
    if mounts:
        pod["volumes"] = [v for v, _ in mounts]
    if image.image_pull_secrets:
        pod["imagePullSecrets"] = [{"name": s.name} for s in image.image_pull_secrets]
    return pod
