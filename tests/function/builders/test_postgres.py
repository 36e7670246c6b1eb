"""The Postgres builder: one case per engine, its resources, fields and runtime env."""

from __future__ import annotations

from typing import Any

from contract.env import DATABASE_ENV
from function.builders import postgres
from tests.function.builders.engine_table import EngineCase, Want, engine_tests
from tests.function.factories import make_ctx, make_spec

CNPG_SECRET = "support-bot-pg-324eee0abd-app"
ROLE_SECRET = "support-bot-pg-credentials-677116374f"
SQL_DB = "xagent_agents_support-bot"
SQL_API = "postgresql.sql.m.crossplane.io/v1alpha1"
CNPG_KINDS = {"database": ("postgresql.cnpg.io/v1", "Cluster", "support-bot-pg-324eee0abd")}
SQL_KINDS = {
    "database": (SQL_API, "Database", "support-bot-pg-324eee0abd"),
    "database-role": (SQL_API, "Role", "support-bot-pg-324eee0abd"),
}


def secret_env(name: str, secret: str, key: str) -> dict[str, Any]:
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}


CNPG_ENV = [
    secret_env(DATABASE_ENV.HOST, CNPG_SECRET, "host"),
    secret_env(DATABASE_ENV.PORT, CNPG_SECRET, "port"),
    secret_env(DATABASE_ENV.USER, CNPG_SECRET, "username"),
    secret_env(DATABASE_ENV.PASSWORD, CNPG_SECRET, "password"),
    secret_env(DATABASE_ENV.DATABASE, CNPG_SECRET, "dbname"),
]

CASES = [
    EngineCase(
        "CnpgDefaults",
        "the default engine: one instance, 1Gi, operator image, database xagent owned by xagent",
        {},
        Want(
            kinds=CNPG_KINDS,
            fields={
                ("database", "spec", "instances"): 1,
                ("database", "spec", "storage"): {"size": "1Gi"},
                ("database", "spec", "bootstrap", "initdb"): {
                    "database": "xagent",
                    "owner": "xagent",
                },
                ("database", "spec", "imageName"): None,
                ("database", "spec", "monitoring"): None,
                ("database", "metadata", "namespace"): "agents",
            },
            env=CNPG_ENV,
        ),
    ),
    EngineCase(
        "CnpgSized",
        "instances, storage class and image come from the spec",
        {
            "instances": 3,
            "storage": {"size": "20Gi", "storageClass": "fast"},
            "imageName": "ghcr.io/cloudnative-pg/postgresql:17.2",
        },
        Want(
            kinds=CNPG_KINDS,
            fields={
                ("database", "spec", "instances"): 3,
                ("database", "spec", "storage"): {"size": "20Gi", "storageClass": "fast"},
                ("database", "spec", "imageName"): "ghcr.io/cloudnative-pg/postgresql:17.2",
            },
            env=CNPG_ENV,
        ),
    ),
    EngineCase(
        "Sql",
        "a login Role with a generated password owns a Database, both named per namespace",
        {"engine": "sql", "sql": {"providerConfigRef": "shared-pg"}},
        Want(
            kinds=SQL_KINDS,
            fields={
                ("database", "metadata", "annotations", "crossplane.io/external-name"): SQL_DB,
                ("database-role", "metadata", "annotations", "crossplane.io/external-name"): SQL_DB,
                ("database", "spec", "providerConfigRef"): {
                    "name": "shared-pg",
                    "kind": "ClusterProviderConfig",
                },
                ("database-role", "spec", "providerConfigRef"): {
                    "name": "shared-pg",
                    "kind": "ClusterProviderConfig",
                },
                ("database", "spec", "forProvider", "ownerRef"): {
                    "name": "support-bot-pg-324eee0abd"
                },
                ("database-role", "spec", "forProvider", "privileges"): {"login": True},
                ("database-role", "spec", "forProvider", "passwordSecretRef"): None,
                ("database-role", "spec", "writeConnectionSecretToRef"): {"name": ROLE_SECRET},
            },
            env=[
                secret_env(DATABASE_ENV.HOST, ROLE_SECRET, "endpoint"),
                secret_env(DATABASE_ENV.PORT, ROLE_SECRET, "port"),
                secret_env(DATABASE_ENV.USER, ROLE_SECRET, "username"),
                secret_env(DATABASE_ENV.PASSWORD, ROLE_SECRET, "password"),
                {"name": DATABASE_ENV.DATABASE, "value": SQL_DB},
            ],
        ),
    ),
    EngineCase(
        "SqlWithHost",
        "sql.host (and its port) replace the provider's endpoint, e.g. a pooler",
        {"engine": "sql", "sql": {"host": "pgbouncer.db.svc", "port": 6432}},
        Want(
            kinds=SQL_KINDS,
            fields={
                ("database", "spec", "providerConfigRef", "name"): "default",
            },
            env=[
                {"name": DATABASE_ENV.HOST, "value": "pgbouncer.db.svc"},
                {"name": DATABASE_ENV.PORT, "value": "6432"},
                secret_env(DATABASE_ENV.USER, ROLE_SECRET, "username"),
                secret_env(DATABASE_ENV.PASSWORD, ROLE_SECRET, "password"),
                {"name": DATABASE_ENV.DATABASE, "value": SQL_DB},
            ],
        ),
    ),
    EngineCase(
        "External",
        "nothing composed; DATABASE_URL comes from the user's Secret",
        {"engine": "external", "external": {"secretName": "my-pg", "key": "url"}},
        Want(kinds={}, env=[secret_env(DATABASE_ENV.URL, "my-pg", "url")]),
    ),
    EngineCase(
        "ExternalDefaultKey",
        "the key defaults to uri",
        {"engine": "external", "external": {"secretName": "my-pg"}},
        Want(kinds={}, env=[secret_env(DATABASE_ENV.URL, "my-pg", "uri")]),
    ),
    EngineCase(
        "None",
        "nothing composed and no env: the runtime falls back to SQLite",
        {"engine": "none"},
        Want(kinds={}, env=[]),
    ),
]


def render(case: EngineCase) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    ctx = make_ctx(make_spec(persistence={"database": case.args}))
    return postgres.build(ctx), postgres.database_env(ctx)


test_resources, test_fields, test_env, test_manifests_validate = engine_tests(
    CASES, render, component="database"
)


def test_sql_names_are_unique_per_namespace() -> None:
    """``a-b/c`` and ``a/b-c`` would collide as ``a-b-c``; the underscore keeps them apart."""
    spec = make_spec(persistence={"database": {"engine": "sql"}})
    one = postgres.sql_database_name(make_ctx(spec, name="c", namespace="a-b"))
    two = postgres.sql_database_name(make_ctx(spec, name="b-c", namespace="a"))
    assert one != two


def test_sql_name_fits_a_postgres_identifier() -> None:
    spec = make_spec(persistence={"database": {"engine": "sql"}})
    ctx = make_ctx(spec, name="n" * 63, namespace="s" * 63)
    name = postgres.sql_database_name(ctx)
    assert len(name) <= 63
    assert name != postgres.sql_database_name(
        make_ctx(spec, name="n" * 62 + "m", namespace="s" * 63)
    )


def test_manifests_share_no_objects() -> None:
    """Two manifests never alias one dict, so mutating one cannot change the other."""
    ctx = make_ctx(make_spec(persistence={"database": {"engine": "sql"}}))
    desired = postgres.build(ctx)
    assert (
        desired["database"]["spec"]["providerConfigRef"]
        is not (desired["database-role"]["spec"]["providerConfigRef"])
    )
