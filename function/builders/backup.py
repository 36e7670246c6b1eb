"""CloudNativePG backups of the cnpg engine's Cluster: a ScheduledBackup, and the Cluster's
``spec.backup`` (barman-cloud to an object store) that postgres.build_cnpg embeds.

CNPG 1.30 (the vendored CRD) still carries the in-tree ``barmanObjectStore`` method, which
needs no other CRD; the Barman Cloud plugin that replaces it upstream needs its own
ObjectStore kind, which a cluster may not have. WAL is archived continuously once the
Cluster has ``spec.backup``; the ScheduledBackup takes base backups on the schedule, and
``retentionPolicy`` prunes both. Credentials stay in the user's Secret: the Cluster names
it, the operator reads it, nothing is copied.
"""

from __future__ import annotations

from function import cron
from function.builders.base import AgentContext, Desired, Manifest
from function.spec import BackupProvider, BackupSpec, DatabaseEngine

__all__ = ["KEY", "build", "cluster_backup"]

KEY = "database-backup"
COMPONENT = "database"
CNPG_API_VERSION = "postgresql.cnpg.io/v1"
COMPRESSION = "gzip"
"""Supported by every barman-cloud release, for WAL and base backups alike."""


def build(ctx: AgentContext) -> Desired:
    """The ScheduledBackup, for engine cnpg with persistence.database.backup set."""
    backup = _backup(ctx)
    if backup is None:
        return {}
    # postgres embeds cluster_backup in the Cluster, so it imports this module first.
    from function.builders.postgres import cluster_name

    return {
        KEY: {
            "apiVersion": CNPG_API_VERSION,
            "kind": "ScheduledBackup",
            "metadata": ctx.metadata(ctx.child("pg-backup"), COMPONENT),
            "spec": {
                "cluster": {"name": cluster_name(ctx)},
                # CNPG's parser wants a seconds field first.
                "schedule": cron.with_seconds(backup.schedule),
                "method": "barmanObjectStore",
                "immediate": backup.immediate,
                # Backup objects belong to the schedule, so they go when the agent goes.
                "backupOwnerReference": "self",
            },
        }
    }


def cluster_backup(ctx: AgentContext) -> Manifest | None:
    """The Cluster's ``spec.backup``; None without persistence.database.backup."""
    backup = _backup(ctx)
    if backup is None:
        return None
    store: Manifest = {"destinationPath": backup.destination_path}
    if backup.endpoint_url:
        store["endpointURL"] = backup.endpoint_url
    store |= _credentials(backup)
    store["wal"] = {"compression": COMPRESSION}
    store["data"] = {"compression": COMPRESSION}
    return {"barmanObjectStore": store, "retentionPolicy": backup.retention}


def _backup(ctx: AgentContext) -> BackupSpec | None:
    db = ctx.spec.persistence.database
    return db.backup if db.engine == DatabaseEngine.CNPG else None


def _credentials(backup: BackupSpec) -> Manifest:
    creds = backup.credentials
    secret = creds.secret_name

    def ref(key: str) -> Manifest:
        return {"name": secret, "key": key}

    if backup.provider == BackupProvider.S3:
        if creds.inherit_from_identity:
            return {"s3Credentials": {"inheritFromIAMRole": True}}
        s3: Manifest = {
            "accessKeyId": ref(creds.access_key_id_key),
            "secretAccessKey": ref(creds.secret_access_key_key),
        }
        if creds.region_key:
            s3["region"] = ref(creds.region_key)
        return {"s3Credentials": s3}
    if backup.provider == BackupProvider.GCS:
        if creds.inherit_from_identity:
            return {"googleCredentials": {"gkeEnvironment": True}}
        return {
            "googleCredentials": {"applicationCredentials": ref(creds.application_credentials_key)}
        }
    if creds.inherit_from_identity:
        return {"azureCredentials": {"inheritFromAzureAD": True}}
    return {"azureCredentials": {"connectionString": ref(creds.connection_string_key)}}
