"""The contract between the composition function and the runtime it deploys.

The function writes these environment variables, mount paths and secret keys into the
Deployment it composes; the runtime reads them. Both sides import this module, so the
names cannot drift apart. It has no dependencies beyond the standard library.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "API_TOKENS_FILE",
    "API_TOKENS_MOUNT",
    "CACHE_ENV",
    "DATABASE_ENV",
    "DEFINITION_FILE",
    "DEFINITION_MOUNT",
    "ENV",
    "HTTP_PORT",
    "NATS_AUTH_MOUNT",
    "NATS_CREDS_FILE",
    "NATS_NKEY_SEED_FILE",
    "NATS_TLS_CA_FILE",
    "NATS_TLS_CERT_FILE",
    "NATS_TLS_KEY_FILE",
    "NATS_TLS_MOUNT",
    "QUEUE_ENV",
    "STATE_DIR",
    "TASK_ENV",
    "TOOL_GRANTS_FILE",
    "TOOL_GRANTS_MOUNT",
    "TRIGGER_ENV",
    "api_audience",
    "tool_credential_env",
]

HTTP_PORT: Final = 8080
"""The runtime serves CloudEvents, /health, /ready and /metrics on this one port."""

DEFINITION_MOUNT: Final = "/etc/xagent/definition"
DEFINITION_FILE: Final = "definition.json"
TOOL_GRANTS_MOUNT: Final = "/etc/xagent/tools"
TOOL_GRANTS_FILE: Final = "grants.json"
API_TOKENS_MOUNT: Final = "/etc/xagent/api-auth"
API_TOKENS_FILE: Final = "tokens"
NATS_AUTH_MOUNT: Final = "/etc/xagent/nats/auth"
NATS_CREDS_FILE: Final = "user.creds"
"""Key (and file name) of a NATS creds file (JWT and nkey seed, from ``nsc``)."""
NATS_NKEY_SEED_FILE: Final = "nkey.seed"
"""Key (and file name) of a NATS user nkey seed (``SU...``)."""
NATS_TLS_MOUNT: Final = "/etc/xagent/nats/tls"
NATS_TLS_CA_FILE: Final = "ca.crt"
NATS_TLS_CERT_FILE: Final = "tls.crt"
NATS_TLS_KEY_FILE: Final = "tls.key"
"""The keys of a ``kubernetes.io/tls`` Secret (and cert-manager's)."""
STATE_DIR: Final = "/tmp/xagent"  # noqa: S108 - an emptyDir mount, private to the pod
"""Writable scratch space: the only writable path under a read-only root filesystem."""


class ENV:
    """Environment variable names the function sets and the runtime reads (seed 000 names)."""

    AGENT_NAME: Final = "AGENT_NAME"
    AGENT_NAMESPACE: Final = "AGENT_NAMESPACE"
    AGENT_DEFINITION_ID: Final = "AGENT_DEFINITION_ID"
    AGENT_DEFINITION_PATH: Final = "AGENT_DEFINITION_PATH"
    TOOL_GRANTS_PATH: Final = "TOOL_GRANTS_PATH"
    TENANT_ID: Final = "TENANT_ID"
    RISK_TIER: Final = "RISK_TIER"

    MODEL_PROVIDER: Final = "MODEL_PROVIDER"
    MODEL_NAME: Final = "MODEL_NAME"
    MODEL_ENDPOINT: Final = "MODEL_ENDPOINT"
    MODEL_FALLBACK: Final = "MODEL_FALLBACK"
    MODEL_TEMPERATURE: Final = "MODEL_TEMPERATURE"
    MODEL_MAX_TOKENS: Final = "MODEL_MAX_TOKENS"
    MODEL_TOP_P: Final = "MODEL_TOP_P"
    MODEL_API_VERSION: Final = "MODEL_API_VERSION"
    MODEL_REGION: Final = "MODEL_REGION"
    MODEL_MAX_RETRIES: Final = "MODEL_MAX_RETRIES"
    """Provider-client retries before the fallback model takes over (runtime default 2)."""
    SYSTEM_PROMPT: Final = "SYSTEM_PROMPT"

    MAX_PARALLEL_SESSIONS: Final = "MAX_PARALLEL_SESSIONS"
    MAX_CONTEXT_MESSAGES: Final = "MAX_CONTEXT_MESSAGES"
    CONVERSATION_TTL_SECONDS: Final = "CONVERSATION_TTL_SECONDS"
    RESULTS_TTL_SECONDS: Final = "RESULTS_TTL_SECONDS"

    LOG_LEVEL: Final = "LOG_LEVEL"
    LOG_PROMPTS: Final = "LOG_PROMPTS"
    STREAM_TOKENS: Final = "STREAM_TOKENS"
    OTEL_EXPORTER_OTLP_ENDPOINT: Final = "OTEL_EXPORTER_OTLP_ENDPOINT"
    OTEL_TRACES_SAMPLER_ARG: Final = "OTEL_TRACES_SAMPLER_ARG"
    OTEL_SERVICE_NAME: Final = "OTEL_SERVICE_NAME"
    OTEL_EXPORTER_OTLP_PROTOCOL: Final = "OTEL_EXPORTER_OTLP_PROTOCOL"
    OTEL_EXPORTER_OTLP_HEADERS: Final = "OTEL_EXPORTER_OTLP_HEADERS"
    """``k=v`` pairs, e.g. ``Authorization=Basic ...``; read from a Secret, never a literal."""

    PORT: Final = "PORT"
    API_AUTH_MODE: Final = "API_AUTH_MODE"
    """none, token or serviceAccount (runtime.serve.auth); the function always writes it."""
    API_AUTH_TOKENS_PATH: Final = "API_AUTH_TOKENS_PATH"
    API_AUTH_AUDIENCE: Final = "API_AUTH_AUDIENCE"
    STATE_DIR: Final = "XAGENT_STATE_DIR"
    SHUTDOWN_GRACE_SECONDS: Final = "SHUTDOWN_GRACE_SECONDS"


class DATABASE_ENV:  # noqa: N801 - a namespace of constants, named like one
    """Postgres connection: DATABASE_URL wins; otherwise the PG_* parts (seed 001 names)."""

    URL: Final = "DATABASE_URL"
    HOST: Final = "PG_HOST"
    PORT: Final = "PG_PORT"
    USER: Final = "PG_USER"
    PASSWORD: Final = "PG_PASSWORD"  # noqa: S105 - a variable name, not a password
    DATABASE: Final = "PG_DATABASE"


class CACHE_ENV:  # noqa: N801
    """Redis/Dragonfly connection: REDIS_URL wins; otherwise host, port and password."""

    URL: Final = "REDIS_URL"
    HOST: Final = "REDIS_HOST"
    PORT: Final = "REDIS_PORT"
    PASSWORD: Final = "REDIS_PASSWORD"  # noqa: S105 - a variable name, not a password


class QUEUE_ENV:  # noqa: N801
    """NATS JetStream: the durable consumer the NACK Consumer declares, and its subjects."""

    URL: Final = "NATS_URL"
    STREAM: Final = "NATS_STREAM"
    CONSUMER: Final = "NATS_CONSUMER"
    JOBS_SUBJECT: Final = "NATS_JOBS_SUBJECT"
    RESULTS_SUBJECT: Final = "NATS_RESULTS_SUBJECT"
    DEAD_LETTER_SUBJECT: Final = "NATS_DEAD_LETTER_SUBJECT"
    ACK_WAIT_SECONDS: Final = "NATS_ACK_WAIT_SECONDS"
    MAX_DELIVER: Final = "NATS_MAX_DELIVER"
    USER: Final = "NATS_USER"
    PASSWORD: Final = "NATS_PASSWORD"  # noqa: S105 - a variable name, not a password
    TOKEN: Final = "NATS_TOKEN"  # noqa: S105 - a variable name, not a token
    CREDS_PATH: Final = "NATS_CREDS_PATH"
    NKEY_SEED_PATH: Final = "NATS_NKEY_SEED_PATH"
    TLS_CA_PATH: Final = "NATS_TLS_CA_PATH"
    TLS_CERT_PATH: Final = "NATS_TLS_CERT_PATH"
    TLS_KEY_PATH: Final = "NATS_TLS_KEY_PATH"


class TASK_ENV:  # noqa: N801
    """What ``xagent-runtime task`` reads in task mode's Job besides the runtime's own env
    (runtime/task.py)."""

    INPUT: Final = "XAGENT_TASK_INPUT"
    """The user message the agent answers once."""
    THREAD_ID: Final = "XAGENT_TASK_THREAD_ID"
    """The conversation the message joins; unset: the task is its own thread."""
    RUN: Final = "XAGENT_TASK_RUN"
    """The Job's run digest (downward API, the pod's ``xagent.dev/task-run`` label): part of
    the job id, so every pod of one Job is the same run and a changed agent a new one."""


class TRIGGER_ENV:  # noqa: N801
    """What ``xagent-runtime enqueue`` reads in a schedule's CronJob (runtime/enqueue.py).

    With engine nats it publishes to QUEUE_ENV's jobs subject; with engine none it posts to
    AGENT_URL, with the bearer token in TOKEN_PATH when the API authenticates.
    """

    SCHEDULE: Final = "XAGENT_SCHEDULE"
    MESSAGE: Final = "XAGENT_SCHEDULE_MESSAGE"
    THREAD_ID: Final = "XAGENT_SCHEDULE_THREAD_ID"
    JOB_NAME: Final = "XAGENT_JOB_NAME"
    """The Kubernetes Job's name (downward API): the CronJob controller names each Job
    ``<cronjob>-<scheduled time in minutes since the epoch>``, so a retried pod finds the
    same scheduled time and enqueues the same job id."""
    AGENT_URL: Final = "XAGENT_AGENT_URL"
    TOKEN_PATH: Final = "XAGENT_API_TOKEN_PATH"  # noqa: S105 - a variable name


def api_audience(namespace: str, name: str) -> str:
    """The audience a ServiceAccount token must be bound to for an agent's API."""
    return f"xagent.dev/{namespace}/{name}"


def tool_credential_env(tool: str) -> str:
    """Return the variable that carries a tool's credential, e.g. ``TOOL_GITHUB_TOKEN``."""
    cleaned = "".join(c if c.isalnum() else "_" for c in tool.upper())
    return f"TOOL_{cleaned}_TOKEN"
