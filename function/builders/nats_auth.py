"""NATS credentials as secret references: a NACK Account, and what the runtime reads.

``spec.queue.auth`` names a Secret per concern (the method's keys, and TLS certificates),
either an existing Secret the platform's policy allows (policy.queues.authSecrets) or a key
of the External Secrets store under the tenant's prefix, synced whole (``dataFrom.extract``)
into a Secret this XR owns. Nothing composed here holds a credential.

* NACK (v0.22.4) reads credentials only through an ``Account``: its ``user``, ``token``,
  ``creds``, ``nkey`` and ``tls`` name a Secret of the Account's namespace and keys in it.
  The Stream and Consumer name the Account (queue.py). The legacy controller honours it
  only with ``--crd-connect``; the control-loop controller always does.
* The runtime gets user, password and token as env from the Secret, and the creds file,
  nkey seed and TLS files as read-only Secret volumes (contract/env.py names both), which
  nats-py's connect takes as they are (runtime/queue/nats_auth.py).

Key names are fixed (contract/env.py): ``user``/``password``, ``token``, ``user.creds``,
``nkey.seed``, and the ``kubernetes.io/tls`` keys ``ca.crt``, ``tls.crt``, ``tls.key``.
"""

from __future__ import annotations

from contract import env as contract_env
from contract.env import QUEUE_ENV
from function.builders import external_secrets
from function.builders.base import AgentContext, Desired, Manifest, Mount, RuntimeAdditions, env_var
from function.spec import NatsAuthMethod, NatsSecretSource, QueueEngine

__all__ = [
    "ACCOUNT_KEY",
    "PASSWORD_KEY",
    "RUNTIME",
    "TOKEN_KEY",
    "USER_KEY",
    "account_name",
    "auth_secret_name",
    "build",
    "nats_env",
    "nats_mounts",
    "tls_secret_name",
    "watched_secrets",
]

COMPONENT = "queue"
ACCOUNT_KEY = "nats-account"
USER_KEY = "user"
PASSWORD_KEY = "password"  # noqa: S105 - a key name, not a password
TOKEN_KEY = "token"  # noqa: S105 - a key name, not a token
_VOLUME_AUTH = "nats-auth"
_VOLUME_TLS = "nats-tls"


def _enabled(ctx: AgentContext) -> bool:
    queue = ctx.spec.queue
    return queue.engine == QueueEngine.NATS and (
        queue.auth.method != NatsAuthMethod.NONE or queue.auth.tls is not None
    )


def account_name(ctx: AgentContext) -> str | None:
    """The NACK Account the Stream and Consumer name; None without auth or TLS."""
    return ctx.child("nats") if _enabled(ctx) else None


def auth_secret_name(ctx: AgentContext) -> str | None:
    """The Secret holding the method's keys; None for method none."""
    source = ctx.spec.queue.auth.secret
    return _secret_name(ctx, source, "nats-auth") if source is not None else None


def tls_secret_name(ctx: AgentContext) -> str | None:
    """The Secret holding the TLS files; None without TLS."""
    source = ctx.spec.queue.auth.tls
    return _secret_name(ctx, source, "nats-tls") if source is not None else None


def watched_secrets(ctx: AgentContext) -> list[str]:
    """The Secrets the runtime reads its NATS credentials and TLS files from (rotation.py).

    Names the policy allowed (secretName) or this XR's own ESO targets (remoteKey); none
    unless the runtime connects with them (engine nats).
    """
    if not _enabled(ctx):
        return []
    return [n for n in (auth_secret_name(ctx), tls_secret_name(ctx)) if n is not None]


def _secret_name(ctx: AgentContext, source: NatsSecretSource, role: str) -> str:
    return source.secret_name if source.secret_name is not None else ctx.child(role)


def build(ctx: AgentContext) -> Desired:
    """The Account, and an ExternalSecret per Secret synced from the store."""
    if not _enabled(ctx):
        return {}
    auth = ctx.spec.queue.auth
    desired: Desired = {ACCOUNT_KEY: _account(ctx)}
    for role, source in (("nats-auth", auth.secret), ("nats-tls", auth.tls)):
        if source is not None and source.remote_key is not None:
            desired[f"externalsecret-{role}"] = _external_secret(ctx, role, source.remote_key)
    return desired


def _account(ctx: AgentContext) -> Manifest:
    auth = ctx.spec.queue.auth
    name = account_name(ctx)
    spec: Manifest = {
        "name": name,
        "servers": [server.strip() for server in ctx.spec.queue.url.split(",")],
    }
    secret = {"name": auth_secret_name(ctx)}
    if auth.method == NatsAuthMethod.USER_PASSWORD:
        spec["user"] = {"secret": secret, "user": USER_KEY, "password": PASSWORD_KEY}
    elif auth.method == NatsAuthMethod.TOKEN:
        spec["token"] = {"secret": secret, "token": TOKEN_KEY}
    elif auth.method == NatsAuthMethod.CREDS:
        spec["creds"] = {"secret": secret, "file": contract_env.NATS_CREDS_FILE}
    elif auth.method == NatsAuthMethod.NKEY:
        spec["nkey"] = {"secret": secret, "seed": contract_env.NATS_NKEY_SEED_FILE}
    if auth.tls is not None:
        tls: Manifest = {
            "secret": {"name": tls_secret_name(ctx)},
            "ca": contract_env.NATS_TLS_CA_FILE,
        }
        if auth.tls.client_certificate:
            tls |= {"cert": contract_env.NATS_TLS_CERT_FILE, "key": contract_env.NATS_TLS_KEY_FILE}
        spec["tls"] = tls
    return {
        "apiVersion": "jetstream.nats.io/v1beta2",
        "kind": "Account",
        "metadata": ctx.metadata(name, COMPONENT),
        "spec": spec,
    }


def _external_secret(ctx: AgentContext, role: str, remote_key: str) -> Manifest:
    secrets = ctx.spec.secrets
    name = ctx.child(role)
    return {
        "apiVersion": external_secrets.API_VERSION,
        "kind": external_secrets.KIND,
        "metadata": ctx.metadata(name, COMPONENT),
        "spec": {
            "refreshInterval": secrets.refresh_interval,
            "secretStoreRef": {"name": secrets.store_name, "kind": secrets.store_kind},
            "target": {"name": name, "creationPolicy": "Owner"},
            "dataFrom": [{"extract": {"key": remote_key}}],
        },
    }


# --- the runtime ---------------------------------------------------------------------------


def nats_env(ctx: AgentContext) -> list[Manifest]:
    """The credential variables: values from the Secret, files by their mounted paths."""
    if not _enabled(ctx):
        return []
    auth = ctx.spec.queue.auth
    secret = auth_secret_name(ctx)
    out: list[Manifest] = []
    if auth.method == NatsAuthMethod.USER_PASSWORD:
        out += [
            _from(QUEUE_ENV.USER, secret, USER_KEY),
            _from(QUEUE_ENV.PASSWORD, secret, PASSWORD_KEY),
        ]
    elif auth.method == NatsAuthMethod.TOKEN:
        out.append(_from(QUEUE_ENV.TOKEN, secret, TOKEN_KEY))
    elif auth.method == NatsAuthMethod.CREDS:
        out.append(
            _file(QUEUE_ENV.CREDS_PATH, contract_env.NATS_AUTH_MOUNT, contract_env.NATS_CREDS_FILE)
        )
    elif auth.method == NatsAuthMethod.NKEY:
        out.append(
            _file(
                QUEUE_ENV.NKEY_SEED_PATH,
                contract_env.NATS_AUTH_MOUNT,
                contract_env.NATS_NKEY_SEED_FILE,
            )
        )
    if auth.tls is not None:
        out.append(
            _file(QUEUE_ENV.TLS_CA_PATH, contract_env.NATS_TLS_MOUNT, contract_env.NATS_TLS_CA_FILE)
        )
        if auth.tls.client_certificate:
            out += [
                _file(
                    QUEUE_ENV.TLS_CERT_PATH,
                    contract_env.NATS_TLS_MOUNT,
                    contract_env.NATS_TLS_CERT_FILE,
                ),
                _file(
                    QUEUE_ENV.TLS_KEY_PATH,
                    contract_env.NATS_TLS_MOUNT,
                    contract_env.NATS_TLS_KEY_FILE,
                ),
            ]
    return out


def nats_mounts(ctx: AgentContext) -> list[Mount]:
    """Read-only Secret volumes with exactly the files the runtime reads."""
    if not _enabled(ctx):
        return []
    auth = ctx.spec.queue.auth
    out: list[Mount] = []
    files = {
        NatsAuthMethod.CREDS: contract_env.NATS_CREDS_FILE,
        NatsAuthMethod.NKEY: contract_env.NATS_NKEY_SEED_FILE,
    }
    if auth.method in files:
        out.append(
            _volume(
                _VOLUME_AUTH,
                auth_secret_name(ctx),
                contract_env.NATS_AUTH_MOUNT,
                [files[auth.method]],
            )
        )
    if auth.tls is not None:
        keys = [contract_env.NATS_TLS_CA_FILE]
        if auth.tls.client_certificate:
            keys += [contract_env.NATS_TLS_CERT_FILE, contract_env.NATS_TLS_KEY_FILE]
        out.append(_volume(_VOLUME_TLS, tls_secret_name(ctx), contract_env.NATS_TLS_MOUNT, keys))
    return out


RUNTIME = RuntimeAdditions(env=nats_env, mounts=nats_mounts)


def _from(env: str, secret: str | None, key: str) -> Manifest:
    return {"name": env, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}


def _file(env: str, mount: str, file: str) -> Manifest:
    return env_var(env, f"{mount}/{file}")


def _volume(name: str, secret: str | None, mount: str, keys: list[str]) -> Mount:
    volume = {
        "name": name,
        # 0440 with the pod's fsGroup: readable by the runtime's group, nobody else.
        "secret": {
            "secretName": secret,
            "defaultMode": 0o440,
            "items": [{"key": key, "path": key} for key in keys],
        },
    }
    return volume, {"name": name, "mountPath": mount, "readOnly": True}
