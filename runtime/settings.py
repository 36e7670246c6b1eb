"""Runtime settings from the environment the composition function writes (contract/env.py).

Every variable name comes from the contract, so the function and the runtime cannot drift.
`load_settings` turns a bad environment into one `ConfigError` naming each missing or invalid
variable, so a misconfigured pod fails at startup with a readable message instead of at the
first job. Unset backends fall back to embedded ones: SQLite under the state dir for
checkpoints, an in-memory event buffer instead of Redis, an in-process queue instead of NATS.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import quote

from pydantic import (
    AliasChoices,
    Field,
    SecretStr,
    ValidationError,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from contract import defaults
from contract import env as contract_env
from contract import queue as queue_defaults
from contract.enums import LogPrompts, OtlpProtocol, RiskTier
from contract.env import CACHE_ENV, DATABASE_ENV, ENV, QUEUE_ENV
from contract.providers import ModelProvider, provider

__all__ = [
    "ConfigError",
    "NatsAuthSettings",
    "Settings",
    "load_settings",
    "nats_auth_settings",
]


class ConfigError(ValueError):
    """The environment cannot configure the runtime; the message names each variable."""


_KEYWORDS: dict[str, str] = {}
"""Keyword name -> contract name, for keywords that differ from the field name."""


def _env(name: str, field: str | None = None) -> Any:
    # Only the contract's exact name is read from the environment: a field-name alias would
    # also be read there (model_fallback, in lower case, from spec.env or an envFrom source)
    # and slip a value past the function's policy checks. `xagent run` and tests still pass
    # values by keyword: load_settings maps ``field`` to ``name``.
    if field:
        _KEYWORDS[field] = name
    return name


_CONFIG = SettingsConfigDict(
    case_sensitive=True,
    env_ignore_empty=True,  # the function may write "" for an unset optional value
    # No validate_by_name: pydantic-settings would then read every field name from the
    # environment too. load_settings maps keyword field names to the contract names.
    extra="ignore",
)


class NatsAuthSettings(BaseSettings):
    """The NATS credentials and TLS files: the server's (Settings inherits them) and, alone,
    a schedule's enqueue pod's (``nats_auth_settings``), so both read them one way."""

    model_config = _CONFIG

    # NATS authentication: at most one of user/password, token, creds file or nkey seed,
    # and TLS files; secrets arrive from Secrets (env) or as mounted files, never literals.
    nats_user: Annotated[str | None, Field(validation_alias=QUEUE_ENV.USER)] = None
    nats_password: Annotated[SecretStr | None, Field(validation_alias=QUEUE_ENV.PASSWORD)] = None
    nats_token: Annotated[SecretStr | None, Field(validation_alias=QUEUE_ENV.TOKEN)] = None
    nats_creds_path: Annotated[Path | None, Field(validation_alias=QUEUE_ENV.CREDS_PATH)] = None
    nats_nkey_seed_path: Annotated[
        Path | None, Field(validation_alias=QUEUE_ENV.NKEY_SEED_PATH)
    ] = None
    nats_tls_ca_path: Annotated[Path | None, Field(validation_alias=QUEUE_ENV.TLS_CA_PATH)] = None
    nats_tls_cert_path: Annotated[Path | None, Field(validation_alias=QUEUE_ENV.TLS_CERT_PATH)] = (
        None
    )
    nats_tls_key_path: Annotated[Path | None, Field(validation_alias=QUEUE_ENV.TLS_KEY_PATH)] = None

    @model_validator(mode="after")
    def _pairs(self) -> NatsAuthSettings:
        for first, second, a, b in (
            (QUEUE_ENV.USER, QUEUE_ENV.PASSWORD, self.nats_user, self.nats_password),
            (
                QUEUE_ENV.TLS_CERT_PATH,
                QUEUE_ENV.TLS_KEY_PATH,
                self.nats_tls_cert_path,
                self.nats_tls_key_path,
            ),
        ):
            if (a is None) != (b is None):
                raise ValueError(f"{first} and {second} must be set together")
        return self


class Settings(NatsAuthSettings):
    """Everything the runtime reads from its environment, with the embedded defaults."""

    model_config = _CONFIG

    agent_name: Annotated[str, Field(validation_alias=_env(ENV.AGENT_NAME, "agent_name"))] = "local"
    agent_namespace: Annotated[
        str, Field(validation_alias=_env(ENV.AGENT_NAMESPACE, "agent_namespace"))
    ] = "default"
    agent_definition_id: Annotated[
        str | None, Field(validation_alias=_env(ENV.AGENT_DEFINITION_ID, "agent_definition_id"))
    ] = None
    definition_path: Annotated[
        Path, Field(validation_alias=_env(ENV.AGENT_DEFINITION_PATH, "definition_path"))
    ] = Path(contract_env.DEFINITION_MOUNT) / contract_env.DEFINITION_FILE
    tool_grants_path: Annotated[
        Path, Field(validation_alias=_env(ENV.TOOL_GRANTS_PATH, "tool_grants_path"))
    ] = Path(contract_env.TOOL_GRANTS_MOUNT) / contract_env.TOOL_GRANTS_FILE
    tenant_id: Annotated[str | None, Field(validation_alias=_env(ENV.TENANT_ID, "tenant_id"))] = (
        None
    )
    risk_tier: Annotated[RiskTier, Field(validation_alias=_env(ENV.RISK_TIER, "risk_tier"))] = (
        RiskTier.LOW
    )

    model_provider: Annotated[
        ModelProvider, Field(validation_alias=_env(ENV.MODEL_PROVIDER, "model_provider"))
    ]
    model_name: Annotated[
        str, Field(min_length=1, validation_alias=_env(ENV.MODEL_NAME, "model_name"))
    ]
    model_endpoint: Annotated[
        str | None, Field(validation_alias=_env(ENV.MODEL_ENDPOINT, "model_endpoint"))
    ] = None
    model_fallback: Annotated[
        str | None, Field(validation_alias=_env(ENV.MODEL_FALLBACK, "model_fallback"))
    ] = None
    model_temperature: Annotated[
        float | None,
        Field(ge=0, le=2, validation_alias=_env(ENV.MODEL_TEMPERATURE, "model_temperature")),
    ] = None
    model_max_tokens: Annotated[
        int | None,
        Field(ge=1, validation_alias=_env(ENV.MODEL_MAX_TOKENS, "model_max_tokens")),
    ] = None
    model_top_p: Annotated[
        float | None, Field(ge=0, le=1, validation_alias=_env(ENV.MODEL_TOP_P, "model_top_p"))
    ] = None
    model_api_version: Annotated[
        str | None, Field(validation_alias=_env(ENV.MODEL_API_VERSION, "model_api_version"))
    ] = None
    model_region: Annotated[
        str | None, Field(validation_alias=_env(ENV.MODEL_REGION, "model_region"))
    ] = None
    model_max_retries: Annotated[
        int, Field(ge=0, le=10, validation_alias=_env(ENV.MODEL_MAX_RETRIES, "model_max_retries"))
    ] = 2
    model_api_key: Annotated[
        SecretStr | None,
        Field(
            validation_alias="model_api_key",
            description="Set only by keyword; otherwise read from the provider's own variable "
            "(the provider table's key_env).",
        ),
    ] = None
    system_prompt: Annotated[
        str | None, Field(validation_alias=_env(ENV.SYSTEM_PROMPT, "system_prompt"))
    ] = None

    max_parallel_sessions: Annotated[
        int,
        Field(ge=1, validation_alias=_env(ENV.MAX_PARALLEL_SESSIONS, "max_parallel_sessions")),
    ] = queue_defaults.MAX_PARALLEL_SESSIONS
    max_context_messages: Annotated[
        int | None,
        Field(ge=1, validation_alias=_env(ENV.MAX_CONTEXT_MESSAGES, "max_context_messages")),
    ] = None
    conversation_ttl_seconds: Annotated[
        int,
        Field(
            ge=1, validation_alias=_env(ENV.CONVERSATION_TTL_SECONDS, "conversation_ttl_seconds")
        ),
    ] = defaults.CONVERSATION_TTL_SECONDS
    results_ttl_seconds: Annotated[
        int,
        Field(ge=1, validation_alias=_env(ENV.RESULTS_TTL_SECONDS, "results_ttl_seconds")),
    ] = defaults.RESULTS_TTL_SECONDS

    log_level: Annotated[
        Literal["DEBUG", "INFO", "WARNING", "ERROR"],
        Field(validation_alias=_env(ENV.LOG_LEVEL, "log_level")),
    ] = "INFO"
    log_prompts: Annotated[
        LogPrompts,
        Field(validation_alias=_env(ENV.LOG_PROMPTS, "log_prompts")),
    ] = LogPrompts.NONE
    stream_tokens: Annotated[
        bool, Field(validation_alias=_env(ENV.STREAM_TOKENS, "stream_tokens"))
    ] = True
    otel_endpoint: Annotated[
        str | None,
        Field(validation_alias=_env(ENV.OTEL_EXPORTER_OTLP_ENDPOINT, "otel_endpoint")),
    ] = None
    otel_sample_ratio: Annotated[
        float,
        Field(ge=0, le=1, validation_alias=_env(ENV.OTEL_TRACES_SAMPLER_ARG, "otel_sample_ratio")),
    ] = 1.0
    otel_service_name: Annotated[
        str | None, Field(validation_alias=_env(ENV.OTEL_SERVICE_NAME, "otel_service_name"))
    ] = None
    otel_protocol: Annotated[
        OtlpProtocol,
        Field(validation_alias=_env(ENV.OTEL_EXPORTER_OTLP_PROTOCOL, "otel_protocol")),
    ] = OtlpProtocol.GRPC
    otel_headers: Annotated[
        str | None,
        Field(validation_alias=_env(ENV.OTEL_EXPORTER_OTLP_HEADERS, "otel_headers"), repr=False),
    ] = None

    port: Annotated[int, Field(ge=1, le=65535, validation_alias=_env(ENV.PORT, "port"))] = (
        contract_env.HTTP_PORT
    )
    api_auth_mode: Annotated[
        Literal["none", "token", "serviceAccount"],
        Field(validation_alias=_env(ENV.API_AUTH_MODE, "api_auth_mode")),
    ] = "none"
    api_auth_tokens_path: Annotated[
        Path, Field(validation_alias=_env(ENV.API_AUTH_TOKENS_PATH, "api_auth_tokens_path"))
    ] = Path(contract_env.API_TOKENS_MOUNT) / contract_env.API_TOKENS_FILE
    api_auth_audience: Annotated[
        str | None, Field(validation_alias=_env(ENV.API_AUTH_AUDIENCE, "api_auth_audience"))
    ] = None
    state_dir: Annotated[Path, Field(validation_alias=_env(ENV.STATE_DIR, "state_dir"))] = Path(
        contract_env.STATE_DIR
    )
    shutdown_grace_seconds: Annotated[
        float,
        Field(ge=0, validation_alias=_env(ENV.SHUTDOWN_GRACE_SECONDS, "shutdown_grace_seconds")),
    ] = defaults.SHUTDOWN_GRACE_SECONDS

    database_url_raw: Annotated[
        SecretStr | None, Field(validation_alias=_env(DATABASE_ENV.URL, "database_url"))
    ] = None
    pg_host: Annotated[str | None, Field(validation_alias=DATABASE_ENV.HOST)] = None
    pg_port: Annotated[int, Field(ge=1, le=65535, validation_alias=DATABASE_ENV.PORT)] = (
        defaults.POSTGRES_PORT
    )
    pg_user: Annotated[str | None, Field(validation_alias=DATABASE_ENV.USER)] = None
    pg_password: Annotated[SecretStr | None, Field(validation_alias=DATABASE_ENV.PASSWORD)] = None
    pg_database: Annotated[str | None, Field(validation_alias=DATABASE_ENV.DATABASE)] = None

    redis_url_raw: Annotated[
        SecretStr | None, Field(validation_alias=_env(CACHE_ENV.URL, "redis_url"))
    ] = None
    redis_host: Annotated[str | None, Field(validation_alias=CACHE_ENV.HOST)] = None
    redis_port: Annotated[int, Field(ge=1, le=65535, validation_alias=CACHE_ENV.PORT)] = (
        defaults.REDIS_PORT
    )
    redis_password: Annotated[SecretStr | None, Field(validation_alias=CACHE_ENV.PASSWORD)] = None

    nats_url: Annotated[str | None, Field(validation_alias=_env(QUEUE_ENV.URL, "nats_url"))] = None
    nats_stream: Annotated[
        str | None, Field(validation_alias=_env(QUEUE_ENV.STREAM, "nats_stream"))
    ] = None
    nats_consumer: Annotated[
        str | None, Field(validation_alias=_env(QUEUE_ENV.CONSUMER, "nats_consumer"))
    ] = None
    nats_jobs_subject: Annotated[
        str | None, Field(validation_alias=_env(QUEUE_ENV.JOBS_SUBJECT, "nats_jobs_subject"))
    ] = None
    nats_results_subject: Annotated[
        str | None,
        Field(validation_alias=_env(QUEUE_ENV.RESULTS_SUBJECT, "nats_results_subject")),
    ] = None
    nats_dead_letter_subject: Annotated[
        str | None,
        Field(validation_alias=_env(QUEUE_ENV.DEAD_LETTER_SUBJECT, "nats_dead_letter_subject")),
    ] = None
    nats_ack_wait_seconds: Annotated[
        float,
        Field(gt=0, validation_alias=_env(QUEUE_ENV.ACK_WAIT_SECONDS, "nats_ack_wait_seconds")),
    ] = queue_defaults.ACK_WAIT_SECONDS
    nats_max_deliver: Annotated[
        int, Field(ge=1, validation_alias=_env(QUEUE_ENV.MAX_DELIVER, "nats_max_deliver"))
    ] = queue_defaults.MAX_DELIVER

    @model_validator(mode="after")
    def _derive(self) -> Settings:
        if self.model_api_key is None:
            key = os.environ.get(provider(self.model_provider).key_env)
            self.model_api_key = SecretStr(key) if key else None
        if self.database_url_raw is None and self.pg_host:
            missing = [
                name
                for name, value in (
                    (DATABASE_ENV.USER, self.pg_user),
                    (DATABASE_ENV.DATABASE, self.pg_database),
                )
                if not value
            ]
            if missing:
                raise ValueError(f"{', '.join(missing)} must be set when {DATABASE_ENV.HOST} is")
        # Subject and consumer names default from the agent's identity, so two agents sharing
        # one NATS never read each other's jobs.
        subjects = queue_defaults.subjects(
            f"{queue_defaults.SUBJECT_ROOT}.{self.agent_namespace}.{self.agent_name}"
        )
        self.nats_stream = self.nats_stream or queue_defaults.DEFAULT_STREAM
        self.nats_consumer = self.nats_consumer or f"{self.agent_namespace}-{self.agent_name}"
        self.nats_jobs_subject = self.nats_jobs_subject or subjects["jobs"]
        self.nats_results_subject = self.nats_results_subject or subjects["results"]
        self.nats_dead_letter_subject = self.nats_dead_letter_subject or subjects["dead"]
        self.otel_service_name = self.otel_service_name or f"xagent-{self.agent_name}"
        self.api_auth_audience = self.api_auth_audience or contract_env.api_audience(
            self.agent_namespace, self.agent_name
        )
        return self

    @property
    def database_url(self) -> str | None:
        """Postgres URL: DATABASE_URL, else assembled from PG_*; None means embedded SQLite."""
        if self.database_url_raw is not None:
            return self.database_url_raw.get_secret_value()
        if not self.pg_host:
            return None
        # Passwords may hold '@', '/' or ':'; unencoded they would split the URL wrongly.
        auth = quote(self.pg_user or "", safe="")
        if self.pg_password is not None:
            auth += ":" + quote(self.pg_password.get_secret_value(), safe="")
        return f"postgresql://{auth}@{self.pg_host}:{self.pg_port}/{quote(self.pg_database or '')}"

    @property
    def redis_url(self) -> str | None:
        """Redis URL: REDIS_URL, else host/port/password; None means the in-memory buffer."""
        if self.redis_url_raw is not None:
            return self.redis_url_raw.get_secret_value()
        if not self.redis_host:
            return None
        auth = ""
        if self.redis_password is not None:
            auth = ":" + quote(self.redis_password.get_secret_value(), safe="") + "@"
        return f"redis://{auth}{self.redis_host}:{self.redis_port}/0"

    @property
    def sqlite_path(self) -> Path:
        """Embedded checkpoint database, used when no Postgres is configured."""
        return self.state_dir / "checkpoints.sqlite"


_FIELD_TO_ENV = {
    name: (
        field.validation_alias.choices[0]
        if isinstance(field.validation_alias, AliasChoices)
        else field.validation_alias
    )
    for name, field in Settings.model_fields.items()
}


def load_settings(**overrides: Any) -> Settings:
    """Read Settings from the environment, with ``overrides`` (field names) taking precedence.

    Raises:
        ConfigError: Naming every missing or invalid variable, e.g.
            ``MODEL_TEMPERATURE: Input should be a valid number``. Values are never echoed,
            since some of them are secrets.
    """
    try:
        return Settings(
            **{
                _KEYWORDS.get(k) or _FIELD_TO_ENV.get(k, k): v
                for k, v in overrides.items()
                if v is not None
            }
        )
    except ValidationError as err:
        raise ConfigError(_describe(err)) from None


def nats_auth_settings(env: Mapping[str, str]) -> NatsAuthSettings:
    """The NATS credential settings of ``env`` and nothing else from anywhere.

    Raises:
        ConfigError: Naming each invalid variable, as load_settings does.
    """
    try:
        return _NatsAuthOfMapping(**{k: v for k, v in env.items() if v})
    except ValidationError as err:
        raise ConfigError(_describe(err)) from None


class _NatsAuthOfMapping(NatsAuthSettings):
    """Reads its keyword arguments only (empty values dropped, as env_ignore_empty does)."""

    @classmethod
    def settings_customise_sources(
        cls, settings_cls: type[BaseSettings], init_settings: Any, *_sources: Any, **_: Any
    ) -> tuple[Any, ...]:
        return (init_settings,)


def _describe(err: ValidationError) -> str:
    problems = []
    for e in err.errors(include_input=False, include_url=False):
        loc = [str(p) for p in e["loc"]]
        name = _FIELD_TO_ENV.get(loc[0], loc[0]) if loc else "environment"
        message = e["msg"].removeprefix("Value error, ")
        problems.append(f"{name}: {message}" if loc else message)
    return "invalid runtime configuration: " + "; ".join(problems)
