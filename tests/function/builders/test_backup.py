"""CNPG backups: the Cluster's barman-cloud configuration and the ScheduledBackup."""

from __future__ import annotations

from typing import Any

import pytest

from function.builders import backup, build_all, postgres
from tests.function.factories import Case, case_ids, make_ctx, make_spec
from tests.function.schemas import assert_valid


def _spec(**fields: Any):
    return make_spec(persistence={"database": {"backup": fields}})


S3 = {"destinationPath": "s3://backups/agents", "credentials": {"secretName": "aws-creds"}}


def test_cluster_and_schedule() -> None:
    ctx = make_ctx(_spec(**S3, schedule="@daily", retention="14d"))
    desired = assert_valid(build_all(ctx))
    cluster = desired["database"]
    assert cluster["spec"]["backup"] == {
        "barmanObjectStore": {
            "destinationPath": "s3://backups/agents",
            "s3Credentials": {
                "accessKeyId": {"name": "aws-creds", "key": "ACCESS_KEY_ID"},
                "secretAccessKey": {"name": "aws-creds", "key": "ACCESS_SECRET_KEY"},
            },
            "wal": {"compression": "gzip"},
            "data": {"compression": "gzip"},
        },
        "retentionPolicy": "14d",
    }
    scheduled = desired["database-backup"]
    assert scheduled["kind"] == "ScheduledBackup"
    assert scheduled["spec"] == {
        "cluster": {"name": cluster["metadata"]["name"]},
        "schedule": "0 0 0 * * *",
        "method": "barmanObjectStore",
        "immediate": True,
        "backupOwnerReference": "self",
    }


CREDENTIALS = [
    Case(
        name="S3WithRegionAndEndpoint",
        reason="MinIO and friends: an endpoint and a region key.",
        args={
            "destinationPath": "s3://b",
            "endpointUrl": "http://minio.minio:9000",
            "credentials": {"secretName": "m", "regionKey": "REGION"},
        },
        want={
            "endpointURL": "http://minio.minio:9000",
            "s3Credentials": {
                "accessKeyId": {"name": "m", "key": "ACCESS_KEY_ID"},
                "secretAccessKey": {"name": "m", "key": "ACCESS_SECRET_KEY"},
                "region": {"name": "m", "key": "REGION"},
            },
        },
    ),
    Case(
        name="S3FromIAMRole",
        reason="IRSA: no Secret at all.",
        args={"destinationPath": "s3://b", "credentials": {"inheritFromIdentity": True}},
        want={"s3Credentials": {"inheritFromIAMRole": True}},
    ),
    Case(
        name="GCS",
        reason="A service account key.",
        args={"provider": "gcs", "destinationPath": "gs://b/p", "credentials": {"secretName": "g"}},
        want={
            "googleCredentials": {"applicationCredentials": {"name": "g", "key": "gcsCredentials"}}
        },
    ),
    Case(
        name="GKEIdentity",
        reason="Workload identity.",
        args={
            "provider": "gcs",
            "destinationPath": "gs://b",
            "credentials": {"inheritFromIdentity": True},
        },
        want={"googleCredentials": {"gkeEnvironment": True}},
    ),
    Case(
        name="Azure",
        reason="A connection string.",
        args={
            "provider": "azure",
            "destinationPath": "https://acct.blob.core.windows.net/c",
            "credentials": {"secretName": "az"},
        },
        want={
            "azureCredentials": {
                "connectionString": {"name": "az", "key": "AZURE_CONNECTION_STRING"}
            }
        },
    ),
    Case(
        name="AzureAD",
        reason="Azure AD workload identity.",
        args={
            "provider": "azure",
            "destinationPath": "https://acct.blob.core.windows.net/c",
            "credentials": {"inheritFromIdentity": True},
        },
        want={"azureCredentials": {"inheritFromAzureAD": True}},
    ),
]


@pytest.mark.parametrize("case", CREDENTIALS, ids=case_ids(CREDENTIALS))
def test_credentials(case: Case) -> None:
    ctx = make_ctx(_spec(**case.args))
    desired = assert_valid(build_all(ctx))
    store = desired["database"]["spec"]["backup"]["barmanObjectStore"]
    got = {k: v for k, v in store.items() if k not in {"destinationPath", "wal", "data"}}
    assert got == case.want, case.reason


def test_no_backup_by_default() -> None:
    ctx = make_ctx()
    assert backup.build(ctx) == {}
    assert "backup" not in postgres.build(ctx)["database"]["spec"]


REFUSED = [
    Case(
        name="OtherEngine",
        reason="Only cnpg is backed up.",
        args={"persistence": {"database": {"engine": "none", "backup": S3}}},
    ),
    Case(
        name="BadSchedule",
        reason="A CronJob-invalid schedule.",
        args={"persistence": {"database": {"backup": {**S3, "schedule": "61 * * * *"}}}},
    ),
    Case(
        name="BadRetention",
        reason="CNPG wants N[dwm].",
        args={"persistence": {"database": {"backup": {**S3, "retention": "30y"}}}},
    ),
    Case(
        name="SchemeMismatch",
        reason="gcs needs gs://.",
        args={"persistence": {"database": {"backup": {**S3, "provider": "gcs"}}}},
    ),
    Case(
        name="TwoCredentialSources",
        reason="Secret or identity, not both.",
        args={
            "persistence": {
                "database": {
                    "backup": {
                        **S3,
                        "credentials": {"secretName": "a", "inheritFromIdentity": True},
                    }
                }
            }
        },
    ),
    Case(
        name="NoCredentialSource",
        reason="One of them.",
        args={"persistence": {"database": {"backup": {**S3, "credentials": {}}}}},
    ),
]


@pytest.mark.parametrize("case", REFUSED, ids=case_ids(REFUSED))
def test_refused(case: Case) -> None:
    with pytest.raises(ValueError, match=r"backup|schedule|retention|destinationPath|secretName"):
        make_spec(**case.args)
