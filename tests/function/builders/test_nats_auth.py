"""NATS credentials as secret references: the NACK Account, the runtime's env and files."""

from __future__ import annotations

from typing import Any

import pytest

from contract.env import QUEUE_ENV
from function import policy
from function.builders import build_all, nats_auth, queue
from function.input import Policy
from tests.function.factories import Case, case_ids, make_ctx, make_spec
from tests.function.schemas import assert_valid

ACCOUNT = "support-bot-nats-e4baf70fe7"
SYNCED = "support-bot-nats-auth-2a33f2206f"
ALLOW = Policy(queues={"authSecrets": ["nats-*"]})


def _ref(env: str, secret: str, key: str) -> dict[str, Any]:
    return {"name": env, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}


CASES = [
    Case(
        name="UserPassword",
        reason="user and password keys of one Secret: NACK's user, the runtime's env",
        args={"method": "userPassword", "secret": {"secretName": "nats-creds"}},
        want=(
            {"user": {"secret": {"name": "nats-creds"}, "user": "user", "password": "password"}},
            [
                _ref(QUEUE_ENV.USER, "nats-creds", "user"),
                _ref(QUEUE_ENV.PASSWORD, "nats-creds", "password"),
            ],
            [],
        ),
    ),
    Case(
        name="Token",
        reason="the token key: NACK's token, the runtime's NATS_TOKEN",
        args={"method": "token", "secret": {"secretName": "nats-token"}},
        want=(
            {"token": {"secret": {"name": "nats-token"}, "token": "token"}},
            [_ref(QUEUE_ENV.TOKEN, "nats-token", "token")],
            [],
        ),
    ),
    Case(
        name="CredsSynced",
        reason="a creds file synced from the store: NACK's creds, the runtime's mounted file",
        args={"method": "creds", "secret": {"remoteKey": "xagent/t1/nats"}},
        want=(
            {"creds": {"secret": {"name": SYNCED}, "file": "user.creds"}},
            [{"name": QUEUE_ENV.CREDS_PATH, "value": "/etc/xagent/nats/auth/user.creds"}],
            [(SYNCED, ["user.creds"])],
        ),
    ),
    Case(
        name="Nkey",
        reason="an nkey seed: NACK's nkey, the runtime's mounted file",
        args={"method": "nkey", "secret": {"secretName": "nats-nkey"}},
        want=(
            {"nkey": {"secret": {"name": "nats-nkey"}, "seed": "nkey.seed"}},
            [{"name": QUEUE_ENV.NKEY_SEED_PATH, "value": "/etc/xagent/nats/auth/nkey.seed"}],
            [("nats-nkey", ["nkey.seed"])],
        ),
    ),
    Case(
        name="TlsOnly",
        reason="TLS without a client certificate: the CA alone",
        args={"tls": {"secretName": "nats-tls", "clientCertificate": False}},
        want=(
            {"tls": {"secret": {"name": "nats-tls"}, "ca": "ca.crt"}},
            [{"name": QUEUE_ENV.TLS_CA_PATH, "value": "/etc/xagent/nats/tls/ca.crt"}],
            [("nats-tls", ["ca.crt"])],
        ),
    ),
    Case(
        name="MutualTls",
        reason="mutual TLS: CA, certificate and key",
        args={"tls": {"secretName": "nats-tls"}},
        want=(
            {
                "tls": {
                    "secret": {"name": "nats-tls"},
                    "ca": "ca.crt",
                    "cert": "tls.crt",
                    "key": "tls.key",
                }
            },
            [
                {"name": QUEUE_ENV.TLS_CA_PATH, "value": "/etc/xagent/nats/tls/ca.crt"},
                {"name": QUEUE_ENV.TLS_CERT_PATH, "value": "/etc/xagent/nats/tls/tls.crt"},
                {"name": QUEUE_ENV.TLS_KEY_PATH, "value": "/etc/xagent/nats/tls/tls.key"},
            ],
            [("nats-tls", ["ca.crt", "tls.crt", "tls.key"])],
        ),
    ),
]


@pytest.mark.parametrize("case", CASES, ids=case_ids(CASES))
def test_account_env_and_files(case: Case) -> None:
    ctx = make_ctx(make_spec(queue={"auth": case.args}), policy=ALLOW)
    desired = assert_valid(build_all(ctx))  # the Account against NACK v0.22.4's CRD
    want_account, want_env, want_volumes = case.want
    account = desired[nats_auth.ACCOUNT_KEY]
    assert account["metadata"]["name"] == ACCOUNT
    assert account["spec"] == {
        "name": ACCOUNT,
        "servers": ["nats://nats.nats.svc.cluster.local:4222"],
        **want_account,
    }, case.reason
    assert desired["stream"]["spec"]["account"] == ACCOUNT
    assert desired["consumer"]["spec"]["account"] == ACCOUNT
    container = desired["deployment"]["spec"]["template"]["spec"]["containers"][0]
    set_env = [
        e
        for e in container["env"]
        if e in want_env or e.get("value", "").startswith("/etc/xagent/nats")
    ]
    assert set_env == want_env, case.reason
    volumes = desired["deployment"]["spec"]["template"]["spec"]["volumes"]
    got = [
        (v["secret"]["secretName"], [i["key"] for i in v["secret"]["items"]])
        for v in volumes
        if v["name"].startswith("nats-")
    ]
    assert got == want_volumes, case.reason


def test_remote_key_is_synced_into_an_owned_secret() -> None:
    ctx = make_ctx(make_spec(queue={"auth": CASES[2].args}))
    synced = build_all(ctx)["externalsecret-nats-auth"]
    assert synced["spec"]["dataFrom"] == [{"extract": {"key": "xagent/t1/nats"}}]
    assert synced["spec"]["target"] == {"name": SYNCED, "creationPolicy": "Owner"}


def test_no_account_without_auth() -> None:
    desired = build_all(make_ctx())
    assert nats_auth.ACCOUNT_KEY not in desired
    assert "account" not in desired["stream"]["spec"]
    assert "account" not in desired["consumer"]["spec"]


def test_nothing_for_queue_engine_none() -> None:
    spec = make_spec(queue={"engine": "none", "auth": CASES[0].args})
    assert nats_auth.build(make_ctx(spec, policy=ALLOW)) == {}
    assert queue.build(make_ctx(spec, policy=ALLOW)) == {}


@pytest.mark.parametrize(
    ("auth", "path", "rule"),
    [
        (
            {"method": "userPassword", "secret": {"secretName": "other-agents-nats"}},
            "spec.queue.auth.secret.secretName",
            "queues.authSecrets",
        ),
        (
            {"tls": {"secretName": "nats-tls"}},
            "spec.queue.auth.tls.secretName",
            "queues.authSecrets",
        ),
        (
            {"method": "creds", "secret": {"remoteKey": "xagent/acme/nats"}},
            "spec.queue.auth.secret.remoteKey",
            "credentials.remoteKeyPrefix",
        ),
        (
            {"tls": {"remoteKey": "xagent/t1/../acme/tls"}},
            "spec.queue.auth.tls.remoteKey",
            "credentials.remoteKeyPrefix",
        ),
    ],
)
def test_policy_refuses_secrets_that_are_not_the_tenants(auth: dict, path: str, rule: str) -> None:
    """A hostile tenant names another agent's NATS Secret, or another tenant's store key."""
    spec = make_spec(queue={"auth": auth})
    ctx = make_ctx(spec)
    got = policy.check(spec, ctx.definition, Policy(), namespace="agents")
    assert [(v.path, v.rule) for v in got] == [(path, rule)]


@pytest.mark.parametrize(
    "auth",
    [
        {"method": "userPassword"},
        {"secret": {"secretName": "nats-creds"}},
        {"method": "token", "secret": {"secretName": "a", "remoteKey": "xagent/t1/a"}},
    ],
    ids=["MethodWithoutSecret", "SecretWithoutMethod", "TwoSources"],
)
def test_spec_refuses_incoherent_auth(auth: dict) -> None:
    with pytest.raises(ValueError, match="secret"):
        make_spec(queue={"auth": auth})
