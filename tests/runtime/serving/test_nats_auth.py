"""The runtime authenticates to a real nats-server that requires it.

A nats-server of the test's own (JetStream on, a free port) admits a user with a password
and a user with an nkey. The function renders an XAgent with ``spec.queue.auth``; the
runtime container's environment and Secret volumes are materialised as the kubelet would
(secretKeyRef values from a Secret's data, volumes as files under a temporary root), read
through the runtime's real Settings, and its JetStream queue connects, creates its stream
and consumer and runs a job. Without the credentials, or with wrong ones, it is refused.

A schedule's enqueue pod goes the same way from the rendered CronJob: ``python -m runtime
enqueue`` with the pod's env and files publishes a job that lands in the stream, against
servers that require a password, an nkey, a token, or mutual TLS; without what the server
requires it fails non-zero naming it.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from ipaddress import ip_address
from pathlib import Path
from typing import Any
from unittest import mock

import nkeys
import pytest

from contract.env import ENV, QUEUE_ENV
from function.builders import build_all
from function.input import Policy
from runtime.jobs import Job
from runtime.queue import JetStreamOptions, JetStreamQueue
from runtime.queue.nats_auth import NatsAuth
from runtime.settings import ConfigError, load_settings
from runtime.startup import nats_auth
from tests.function.factories import make_ctx, make_spec
from tests.runtime.serving.conftest import TIMEOUT, free_port, make_job, wait_for
from tests.runtime.serving.test_enqueue import enqueue

pytestmark = pytest.mark.services

USER, PASSWORD = "agent", "pa:ss@word/1"
ALLOW = Policy(queues={"authSecrets": ["nats-*"]})
SEED = nkeys.encode_seed(b"\x07" * 32, nkeys.PREFIX_BYTE_USER)


@dataclass
class NatsServer:
    url: str
    process: subprocess.Popen[bytes]
    admin: dict[str, Any]
    """nats.connect options of a user allowed to manage streams."""


def _serve(tmp_path: Path, config: str, admin: dict[str, Any]) -> Iterator[NatsServer]:
    """nats-server -js with ``config`` on a free loopback port, stopped afterwards."""
    if shutil.which("nats-server") is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("nats-server is not installed (scripts/services.sh installs it)")
        pytest.skip("nats-server is not installed")
    port = free_port()
    path = tmp_path / "nats.conf"
    path.write_text(
        f"""
listen: 127.0.0.1:{port}
jetstream {{ store_dir: "{tmp_path / "js"}" }}
{config}
"""
    )
    process = subprocess.Popen(
        ["nats-server", "-c", str(path)],
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "nats.log").open("wb"),
    )
    try:
        yield NatsServer(f"nats://127.0.0.1:{port}", process, admin)
    finally:
        process.terminate()
        process.wait(timeout=10)


_USERS = f"""
authorization {{
  users = [
    {{ user: "{USER}", password: "{PASSWORD}" }}
    {{ nkey: "{nkeys.from_seed(SEED).public_key.decode()}" }}
  ]
}}
"""


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[NatsServer]:
    """nats-server -js requiring a password or an nkey, on a free loopback port."""
    yield from _serve(tmp_path, _USERS, {"user": USER, "password": PASSWORD})


TOKEN = "s3cret-t0ken"


@pytest.fixture
def token_nats_server(tmp_path: Path) -> Iterator[NatsServer]:
    """nats-server -js requiring a token (NATS takes a token or users, not both)."""
    config = f'authorization {{ token: "{TOKEN}" }}'
    yield from _serve(tmp_path, config, {"token": TOKEN})


@pytest.fixture
def tls_nats_server(tmp_path: Path) -> Iterator[tuple[NatsServer, dict[str, bytes]]]:
    """The same users over mutual TLS: the server presents a certificate of a test CA and
    requires a client certificate of it. Yields the server and the ``kubernetes.io/tls``
    Secret's data (ca.crt, tls.crt, tls.key) for a client."""
    pki = certificates()
    files = {name: tmp_path / name for name in pki}
    for name, data in pki.items():
        files[name].write_bytes(data)
    config = f"""
tls {{
  cert_file: "{files["server.crt"]}"
  key_file: "{files["server.key"]}"
  ca_file: "{files["ca.crt"]}"
  verify: true
}}
{_USERS}
"""
    client = {"ca.crt": pki["ca.crt"], "tls.crt": pki["client.crt"], "tls.key": pki["client.key"]}
    admin_tls = NatsAuth(
        tls_ca_path=files["ca.crt"],
        tls_cert_path=files["client.crt"],
        tls_key_path=files["client.key"],
    ).tls_context()
    admin = {"user": USER, "password": PASSWORD, "tls": admin_tls}
    for server in _serve(tmp_path, config, admin):
        yield server, client


def certificates() -> dict[str, bytes]:
    """A throwaway CA, a server certificate for 127.0.0.1 and a client certificate (PEM)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.now(UTC)

    def name(common: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])

    def builder(subject: str, issuer: x509.Name, key: Any) -> x509.CertificateBuilder:
        return (
            x509.CertificateBuilder()
            .subject_name(name(subject))
            .issuer_name(issuer)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=1))
        )

    def pem(cert: x509.Certificate, key: Any) -> tuple[bytes, bytes]:
        return cert.public_bytes(serialization.Encoding.PEM), key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        builder("xagent test CA", name("xagent test CA"), ca_key)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    out = {"ca.crt": pem(ca, ca_key)[0]}
    for role, usage, san in (
        ("server", ExtendedKeyUsageOID.SERVER_AUTH, [x509.IPAddress(ip_address("127.0.0.1"))]),
        ("client", ExtendedKeyUsageOID.CLIENT_AUTH, []),
    ):
        key = ec.generate_private_key(ec.SECP256R1())
        cert = builder(f"xagent test {role}", ca.subject, key).add_extension(
            x509.ExtendedKeyUsage([usage]), critical=False
        )
        if san:
            cert = cert.add_extension(x509.SubjectAlternativeName(san), critical=False)
        out[f"{role}.crt"], out[f"{role}.key"] = pem(cert.sign(ca_key, hashes.SHA256()), key)
    return out


async def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _settings(url: str, **env: str) -> Any:
    base = {
        ENV.AGENT_NAME: "bot",
        ENV.AGENT_NAMESPACE: "agents",
        ENV.MODEL_PROVIDER: "openai",
        ENV.MODEL_NAME: "gpt-4o",
        QUEUE_ENV.URL: url,
    }
    with mock.patch.dict(os.environ, {**base, **env}, clear=True):
        return load_settings()


_CREDENTIAL_ENV = {
    QUEUE_ENV.USER,
    QUEUE_ENV.PASSWORD,
    QUEUE_ENV.TOKEN,
    QUEUE_ENV.CREDS_PATH,
    QUEUE_ENV.NKEY_SEED_PATH,
    QUEUE_ENV.TLS_CA_PATH,
    QUEUE_ENV.TLS_CERT_PATH,
    QUEUE_ENV.TLS_KEY_PATH,
}


def _rendered(url: str, auth: dict[str, Any] | None, **spec: Any) -> dict[str, Any]:
    """The function's desired objects for an XAgent whose queue is ``url``."""
    queue: dict[str, Any] = {"url": url}
    if auth is not None:
        queue["auth"] = auth
    ctx = make_ctx(make_spec(queue=queue, **spec), policy=ALLOW)
    return build_all(ctx)


def kubelet_env(
    pod: dict[str, Any],
    secrets: dict[str, dict[str, bytes]],
    root: Path,
    labels: dict[str, str] | None = None,
    *,
    mount: bool = True,
) -> dict[str, str]:
    """The one container's environment as the kubelet gives it: secretKeyRefs read from
    ``secrets``, label fieldRefs from ``labels``, Secret volumes written under ``root`` with
    their mode (``mount=False``: a pod whose volumes are missing), and every value that names
    a path under a mount moved there. Secrets not in ``secrets`` and other sources (resource
    fields) are left out."""
    (container,) = pod["containers"]
    mounts = {m["name"]: m["mountPath"] for m in container.get("volumeMounts", [])}
    for volume in pod.get("volumes", []) if mount else []:
        if "secret" not in volume:
            continue
        target = root / mounts[volume["name"]].lstrip("/")
        target.mkdir(parents=True)
        data = secrets[volume["secret"]["secretName"]]
        for item in volume["secret"]["items"]:
            path = target / item["path"]
            path.write_bytes(data[item["key"]])
            path.chmod(volume["secret"].get("defaultMode", 0o644))
    env: dict[str, str] = {}
    for entry in container["env"]:
        name = entry["name"]
        if "valueFrom" not in entry:
            value = entry.get("value", "")
            if any(value.startswith(f"{m}/") for m in mounts.values()):
                value = str(root / value.lstrip("/"))
            env[name] = value
            continue
        source = entry["valueFrom"]
        if "secretKeyRef" in source:
            ref = source["secretKeyRef"]
            if ref["name"] in secrets:
                env[name] = secrets[ref["name"]][ref["key"]].decode()
        elif "fieldRef" in source:
            path = source["fieldRef"]["fieldPath"]
            label = path.removeprefix("metadata.labels['").removesuffix("']")
            env[name] = (labels or {})[label]
    return env


def _rendered_env(
    url: str, auth: dict[str, Any], secrets: dict[str, dict[str, bytes]], root: Path
) -> dict[str, str]:
    """The runtime container's NATS credentials as the kubelet gives them, from the
    function's Deployment."""
    pod = _rendered(url, auth)["deployment"]["spec"]["template"]["spec"]
    env = kubelet_env(pod, secrets, root)
    # Unset contract variables are written as "" (protected env), which the runtime ignores.
    return {k: v for k, v in env.items() if k in _CREDENTIAL_ENV and v}


def _options(settings: Any, names: JetStreamOptions) -> JetStreamOptions:
    return replace(
        names, url=settings.nats_url, auth=nats_auth(settings), connect_timeout_seconds=2
    )


async def _connect(options: JetStreamOptions, scripted: Any) -> JetStreamQueue:
    port = int(options.url.rsplit(":", 1)[1])
    await wait_for(lambda: _listening(port), bool, within=TIMEOUT)
    queue = JetStreamQueue(options, scripted)
    await queue.connect()
    return queue


async def test_user_and_password_from_the_rendered_secret(
    nats_server, names, scripted, tmp_path
) -> None:
    secrets = {"nats-creds": {"user": USER.encode(), "password": PASSWORD.encode()}}
    auth = {"method": "userPassword", "secret": {"secretName": "nats-creds"}}
    env = _rendered_env(nats_server.url, auth, secrets, tmp_path)
    assert set(env) == {QUEUE_ENV.USER, QUEUE_ENV.PASSWORD}
    await _runs_a_job(nats_server.url, env, names, scripted)


async def _runs_a_job(url: str, env: dict[str, str], names: Any, scripted: Any) -> None:
    """The runtime's queue, configured by ``env`` through its Settings, runs one job."""
    queue = await _connect(_options(_settings(url, **env), names), scripted)
    try:
        await queue.start()
        await queue.submit(make_job(job_id="auth-1"))
        await wait_for(lambda: _ran(scripted), lambda n: n >= 1, within=TIMEOUT)
    finally:
        await queue.drain(1)


async def _ran(scripted: Any) -> int:
    return len(scripted.calls)


async def test_nkey_seed_from_the_rendered_volume(nats_server, names, scripted, tmp_path) -> None:
    secrets = {"nats-nkey": {"nkey.seed": SEED}}
    auth = {"method": "nkey", "secret": {"secretName": "nats-nkey"}}
    env = _rendered_env(nats_server.url, auth, secrets, tmp_path)
    assert set(env) == {QUEUE_ENV.NKEY_SEED_PATH}
    queue = await _connect(_options(_settings(nats_server.url, **env), names), scripted)
    await queue.drain(1)


@pytest.mark.parametrize(
    "env",
    [
        {},
        {QUEUE_ENV.USER: USER, QUEUE_ENV.PASSWORD: "wrong"},
    ],
    ids=["NoCredentials", "WrongPassword"],
)
async def test_refused_without_the_right_credentials(nats_server, names, scripted, env) -> None:
    """The same connect options, without reconnecting (the runtime retries forever, so a
    pod with wrong credentials stays unready rather than crash-looping)."""
    import nats

    settings = _settings(nats_server.url, **env)
    options = _options(settings, names)
    port = int(options.url.rsplit(":", 1)[1])
    await wait_for(lambda: _listening(port), bool, within=TIMEOUT)
    with pytest.raises(nats.errors.Error, match=r"(?i)authoriz"):
        await nats.connect(
            options.url, allow_reconnect=False, connect_timeout=2, **options.auth.connect_options()
        )


def test_user_without_password_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=f"{QUEUE_ENV.USER} and {QUEUE_ENV.PASSWORD}"):
        _settings("nats://127.0.0.1:4222", **{QUEUE_ENV.USER: USER})


# --- a schedule's enqueue pod (function/builders/schedules.py, runtime/enqueue.py) ----------

NIGHTLY = {"name": "nightly", "schedule": "0 2 * * *", "message": "Summarize the day."}
SCHEDULED = 29_412_720
"""2025-12-03T12:00Z in minutes since the epoch: the Job name's suffix the controller writes."""
PASSWORD_AUTH = {"method": "userPassword", "secret": {"secretName": "nats-creds"}}
NKEY_AUTH = {"method": "nkey", "secret": {"secretName": "nats-nkey"}}
SECRETS = {
    "nats-creds": {"user": USER.encode(), "password": PASSWORD.encode()},
    "nats-nkey": {"nkey.seed": SEED},
}


def _cronjob_env(
    url: str, auth: dict[str, Any] | None, root: Path, *, mount: bool = True, **secrets: Any
) -> dict[str, str]:
    """The enqueue container's environment as the kubelet gives it, from the RENDERED
    CronJob, in a Job the controller named for the scheduled time."""
    cronjob = _rendered(url, auth, triggers={"schedules": [NIGHTLY]})["cronjob-nightly"]
    pod = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    job = f"{cronjob['metadata']['name']}-{SCHEDULED}"
    labels = {"batch.kubernetes.io/job-name": job}
    return kubelet_env(pod, {**SECRETS, **secrets}, root, labels, mount=mount)


async def _stream_for(server: NatsServer, env: dict[str, str]) -> Any:
    """The agent's stream on the server (NACK's job in a cluster), made as the user."""
    import nats

    port = int(server.url.rsplit(":", 1)[1])
    await wait_for(lambda: _listening(port), bool, within=TIMEOUT)
    nc = await nats.connect(server.url, allow_reconnect=False, **server.admin)
    js = nc.jetstream()
    stream = env[QUEUE_ENV.STREAM]
    await js.add_stream(name=stream, subjects=[env[QUEUE_ENV.JOBS_SUBJECT]])
    return nc


@pytest.mark.parametrize("auth", [PASSWORD_AUTH, NKEY_AUTH], ids=["UserPassword", "Nkey"])
async def test_scheduled_job_lands_in_the_stream_with_the_rendered_credentials(
    nats_server, tmp_path, auth
) -> None:
    """Before, schedules with queue.auth were refused: the pod had no credentials."""
    env = _cronjob_env(nats_server.url, auth, tmp_path)
    assert env[QUEUE_ENV.URL] == nats_server.url
    nc = await _stream_for(nats_server, env)
    try:
        done = await enqueue(env)
        assert done.returncode == 0, done.stderr
        job_id = "schedule:nightly:20251203T1200Z"
        assert done.stdout.strip() == f"enqueued job {job_id} on {env[QUEUE_ENV.JOBS_SUBJECT]}"
        js = nc.jetstream()
        message = await js.get_last_msg(env[QUEUE_ENV.STREAM], env[QUEUE_ENV.JOBS_SUBJECT])
        assert message.headers is not None
        assert message.headers["Nats-Msg-Id"] == job_id
        job = Job.model_validate_json(message.data or b"")
        assert job.input is not None
        assert job.input.messages[0].content == NIGHTLY["message"]
        # A retried pod: the same id, dropped by the stream's duplicate window.
        again = await enqueue(env)
        assert again.returncode == 0, again.stderr
        assert again.stdout.startswith(f"already enqueued job {job_id}")
        assert (await js.stream_info(env[QUEUE_ENV.STREAM])).state.messages == 1
    finally:
        await nc.close()


@pytest.mark.parametrize(
    ("auth", "secrets", "expected"),
    [
        (None, {}, f"no credentials were set (none of {QUEUE_ENV.USER}/{QUEUE_ENV.PASSWORD}"),
        (
            PASSWORD_AUTH,
            {"nats-creds": {"user": USER.encode(), "password": b"wrong"}},
            "credentials from spec.queue.auth's Secret were not accepted",
        ),
    ],
    ids=["NoCredentials", "WrongPassword"],
)
async def test_scheduled_enqueue_refused_fails_loudly(
    nats_server, tmp_path, auth, secrets, expected
) -> None:
    """Before: "cannot reach NATS ... no servers available", after two seconds of retries."""
    env = _cronjob_env(nats_server.url, auth, tmp_path, **secrets)
    nc = await _stream_for(nats_server, env)
    try:
        done = await enqueue(env)
        assert done.returncode == 1
        assert "refused the connection" in done.stderr
        assert "Authorization Violation" in done.stderr
        assert expected in done.stderr
        assert "Traceback" not in done.stderr
        assert (await nc.jetstream().stream_info(env[QUEUE_ENV.STREAM])).state.messages == 0
    finally:
        await nc.close()


async def test_scheduled_enqueue_without_its_mounted_seed_names_the_variable(
    nats_server, tmp_path
) -> None:
    env = _cronjob_env(nats_server.url, NKEY_AUTH, tmp_path, mount=False)
    done = await enqueue(env)
    assert done.returncode == 2
    assert f"{QUEUE_ENV.NKEY_SEED_PATH}: {env[QUEUE_ENV.NKEY_SEED_PATH]} is not a file" in (
        done.stderr
    )


TLS_AUTH = {**PASSWORD_AUTH, "tls": {"secretName": "nats-tls"}}


async def test_scheduled_job_over_mutual_tls(tls_nats_server, tmp_path) -> None:
    """The CA and client certificate reach the enqueue pod as files of the TLS Secret."""
    server, client = tls_nats_server
    env = _cronjob_env(server.url, TLS_AUTH, tmp_path / "pod", **{"nats-tls": client})
    assert {QUEUE_ENV.TLS_CA_PATH, QUEUE_ENV.TLS_CERT_PATH, QUEUE_ENV.TLS_KEY_PATH} <= set(env)
    nc = await _stream_for(server, env)
    try:
        done = await enqueue(env)
        assert done.returncode == 0, done.stderr
        info = await nc.jetstream().stream_info(env[QUEUE_ENV.STREAM])
        assert info.state.messages == 1
    finally:
        await nc.close()


async def test_runtime_over_mutual_tls(tls_nats_server, names, scripted, tmp_path) -> None:
    server, client = tls_nats_server
    secrets = {**SECRETS, "nats-tls": client}
    env = _rendered_env(server.url, TLS_AUTH, secrets, tmp_path / "pod")
    assert QUEUE_ENV.TLS_CERT_PATH in env
    await _runs_a_job(server.url, env, names, scripted)


async def test_scheduled_job_without_the_client_certificate_fails(
    tls_nats_server, tmp_path
) -> None:
    """The server requires a client certificate; a CA alone (clientCertificate: false) is
    refused, loudly, and nothing lands."""
    server, client = tls_nats_server
    auth = {**PASSWORD_AUTH, "tls": {"secretName": "nats-tls", "clientCertificate": False}}
    env = _cronjob_env(server.url, auth, tmp_path / "pod", **{"nats-tls": client})
    assert QUEUE_ENV.TLS_CERT_PATH not in env
    nc = await _stream_for(server, env)
    try:
        done = await enqueue(env)
        assert done.returncode == 1
        # The cause (the refused handshake; a connection the server dropped mid-handshake),
        # not nats-py's closing "no servers available for connection".
        cause = r"SSL\w*Error|BrokenPipeError|ConnectionResetError"
        assert re.search(rf"cannot reach NATS at {server.url}: ({cause})", done.stderr)
        assert "Traceback" not in done.stderr
        info = await nc.jetstream().stream_info(env[QUEUE_ENV.STREAM])
        assert info.state.messages == 0
    finally:
        await nc.close()


async def test_scheduled_job_with_a_token(token_nats_server, tmp_path) -> None:
    auth = {"method": "token", "secret": {"secretName": "nats-token"}}
    secrets = {"nats-token": {"token": TOKEN.encode()}}
    env = _cronjob_env(token_nats_server.url, auth, tmp_path, **secrets)
    assert env[QUEUE_ENV.TOKEN] == TOKEN
    nc = await _stream_for(token_nats_server, env)
    try:
        done = await enqueue(env)
        assert done.returncode == 0, done.stderr
        info = await nc.jetstream().stream_info(env[QUEUE_ENV.STREAM])
        assert info.state.messages == 1
        # The same pod without the token is refused, naming what is missing.
        bare = {k: v for k, v in env.items() if k != QUEUE_ENV.TOKEN}
        refused = await enqueue(bare)
        assert refused.returncode == 1
        assert f"none of {QUEUE_ENV.USER}/{QUEUE_ENV.PASSWORD}, {QUEUE_ENV.TOKEN}" in (
            refused.stderr
        )
    finally:
        await nc.close()
