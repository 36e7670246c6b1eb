"""Postgres for LangGraph checkpoints: one function per database engine.

Engines:
    cnpg: a CloudNativePG ``Cluster``. The operator writes the ``<cluster>-app`` Secret
        (keys ``username``, ``user``, ``password``, ``dbname``, ``host``, ``port``, ``uri``,
        ``jdbc-uri``, ``pgpass``, ``fqdn-uri``; cloudnative-pg ``pkg/specs/secrets.go``).
    sql: a ``Database`` and a login ``Role`` on a shared server, through provider-sql's
        namespaced group. The Role writes its connection Secret (keys ``username``,
        ``password``, ``endpoint``, ``port``; provider-sql ``GetConnectionDetails``).
    external: nothing composed; the user's Secret holds a connection URL.
    none: nothing composed; the runtime falls back to SQLite in the pod.

The runtime gets the ``PG_*`` parts rather than ``DATABASE_URL`` for cnpg and sql: the
runtime percent-encodes the password itself when it assembles the URL, and the sql engine's
Secret has no URL at all, so both engines reach the runtime the same way.
"""

from __future__ import annotations

from collections.abc import Callable

from contract.env import DATABASE_ENV
from function.builders import backup
from function.builders.base import AgentContext, Desired, Manifest, RuntimeAdditions, env_var
from function.names import CNPG_CLUSTER_MAX, nats_token
from function.spec import DatabaseEngine

__all__ = [
    "CNPG_API_VERSION",
    "DATABASE_NAME",
    "DATABASE_OWNER",
    "EXTERNAL_NAME_ANNOTATION",
    "RUNTIME",
    "SQL_API_VERSION",
    "build",
    "cluster_name",
    "cnpg_app_secret_name",
    "database_env",
    "role_secret_name",
    "sql_database_name",
]

COMPONENT = "database"
CNPG_API_VERSION = "postgresql.cnpg.io/v1"
SQL_API_VERSION = "postgresql.sql.m.crossplane.io/v1alpha1"
EXTERNAL_NAME_ANNOTATION = "crossplane.io/external-name"

DATABASE_NAME = "xagent"
"""The database (and its owner) inside a CNPG Cluster, which holds only this agent's data."""
DATABASE_OWNER = "xagent"
_PG_IDENTIFIER_MAX = 63
"""NAMEDATALEN - 1: longer role and database names are silently truncated by Postgres."""

_CNPG_REQUESTS = {"cpu": "100m", "memory": "256Mi"}
_CNPG_LIMITS = {"memory": "1Gi"}
"""Checkpoints are small rows. No CPU limit: a busy primary should not be throttled."""


def build(ctx: AgentContext) -> Desired:
    """Desired Postgres resources of the configured engine."""
    return _BACKENDS[ctx.spec.persistence.database.engine](ctx)


def database_env(ctx: AgentContext) -> list[Manifest]:
    """EnvVars connecting the runtime container to its database; empty for engine none."""
    db = ctx.spec.persistence.database
    if db.engine == DatabaseEngine.CNPG:
        secret = cnpg_app_secret_name(ctx)
        return [
            _secret_env(DATABASE_ENV.HOST, secret, "host"),
            _secret_env(DATABASE_ENV.PORT, secret, "port"),
            _secret_env(DATABASE_ENV.USER, secret, "username"),
            _secret_env(DATABASE_ENV.PASSWORD, secret, "password"),
            _secret_env(DATABASE_ENV.DATABASE, secret, "dbname"),
        ]
    if db.engine == DatabaseEngine.SQL:
        secret = role_secret_name(ctx)
        # spec.persistence.database.sql.host (with its port) overrides the endpoint the
        # provider itself reaches the server on, e.g. a pooler in front of it.
        address = (
            [
                env_var(DATABASE_ENV.HOST, db.sql.host),
                env_var(DATABASE_ENV.PORT, str(db.sql.port)),
            ]
            if db.sql.host
            else [
                _secret_env(DATABASE_ENV.HOST, secret, "endpoint"),
                _secret_env(DATABASE_ENV.PORT, secret, "port"),
            ]
        )
        return [
            *address,
            _secret_env(DATABASE_ENV.USER, secret, "username"),
            _secret_env(DATABASE_ENV.PASSWORD, secret, "password"),
            env_var(DATABASE_ENV.DATABASE, sql_database_name(ctx)),
        ]
    if db.engine == DatabaseEngine.EXTERNAL and db.external is not None:
        return [_secret_env(DATABASE_ENV.URL, db.external.secret_name, db.external.key)]
    return []


# --- names ---------------------------------------------------------------------------------


RUNTIME = RuntimeAdditions(env=database_env)


def cluster_name(ctx: AgentContext) -> str:
    """The CNPG Cluster, and the provider-sql Database and Role objects."""
    return ctx.child("pg", max_length=CNPG_CLUSTER_MAX)


def cnpg_app_secret_name(ctx: AgentContext) -> str:
    """The Secret CNPG writes for the application owner of ``cluster_name``."""
    return f"{cluster_name(ctx)}-app"


def role_secret_name(ctx: AgentContext) -> str:
    """The connection Secret provider-sql writes for the login Role."""
    return ctx.child("pg-credentials")


def sql_database_name(ctx: AgentContext) -> str:
    """The database and role name on a shared server: unique per namespace and XR.

    Kubernetes names never contain ``_``, so ``xagent_<namespace>_<name>`` cannot collide
    across namespaces the way ``<namespace>-<name>`` could; long names end in a hash.
    """
    return nats_token("xagent", ctx.namespace, ctx.name, max_length=_PG_IDENTIFIER_MAX)


# --- backends ------------------------------------------------------------------------------


def build_cnpg(ctx: AgentContext) -> Desired:
    """A CloudNativePG Cluster with one application database owned by one role.

    ``monitoring.enablePodMonitor`` is deprecated in CNPG 1.30 and left unset; scrape the
    instances with a PodMonitor of your own if you need Postgres metrics.
    """
    db = ctx.spec.persistence.database
    storage: Manifest = {"size": db.storage.size}
    if db.storage.storage_class:
        storage["storageClass"] = db.storage.storage_class
    spec: Manifest = {
        "instances": db.instances,
        "storage": storage,
        "bootstrap": {"initdb": {"database": DATABASE_NAME, "owner": DATABASE_OWNER}},
        "resources": {"requests": dict(_CNPG_REQUESTS), "limits": dict(_CNPG_LIMITS)},
    }
    if db.image_name:
        spec["imageName"] = db.image_name
    if (backup_config := backup.cluster_backup(ctx)) is not None:
        spec["backup"] = backup_config
    return {
        "database": {
            "apiVersion": CNPG_API_VERSION,
            "kind": "Cluster",
            "metadata": ctx.metadata(cluster_name(ctx), COMPONENT),
            "spec": spec,
        }
    }


def build_sql(ctx: AgentContext) -> Desired:
    """A database on a shared server, owned by a login Role whose password is generated.

    The Database names the Role as its owner (``ownerRef``), so the role may create the
    checkpoint tables without a Grant (provider-sql's Grant kind is not in the shared CRDs;
    on Postgres 15+ the ``public`` schema belongs to the database owner). Until the Role
    exists the reference does not resolve and the provider retries, so the order in which
    the two are created does not matter. provider-sql's own user must be a superuser or a
    member of the role to create a database owned by it.
    """
    sql = ctx.spec.persistence.database.sql
    name = cluster_name(ctx)
    external = {EXTERNAL_NAME_ANNOTATION: sql_database_name(ctx)}

    def provider_config_ref() -> Manifest:
        return {"name": sql.provider_config_ref, "kind": sql.provider_config_kind}

    role = {
        "apiVersion": SQL_API_VERSION,
        "kind": "Role",
        "metadata": ctx.metadata(name, COMPONENT, annotations=external),
        "spec": {
            "providerConfigRef": provider_config_ref(),
            "forProvider": {"privileges": {"login": True}},
            "writeConnectionSecretToRef": {"name": role_secret_name(ctx)},
        },
    }
    database = {
        "apiVersion": SQL_API_VERSION,
        "kind": "Database",
        "metadata": ctx.metadata(name, COMPONENT, annotations=dict(external)),
        "spec": {
            "providerConfigRef": provider_config_ref(),
            "forProvider": {"ownerRef": {"name": name}},
        },
    }
    return {"database": database, "database-role": role}


def build_external(ctx: AgentContext) -> Desired:
    """Nothing to compose: the runtime reads DATABASE_URL from the user's Secret."""
    return {}


def build_none(ctx: AgentContext) -> Desired:
    """Nothing to compose: the runtime keeps checkpoints in SQLite."""
    return {}


_BACKENDS: dict[str, Callable[[AgentContext], Desired]] = {
    DatabaseEngine.CNPG: build_cnpg,
    DatabaseEngine.SQL: build_sql,
    DatabaseEngine.EXTERNAL: build_external,
    DatabaseEngine.NONE: build_none,
}


def _secret_env(name: str, secret: str, key: str) -> Manifest:
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}
