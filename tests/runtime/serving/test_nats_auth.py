"""The runtime authenticates to a real nats-server that requires it.

A nats-server of the test's own (JetStream on, a free port) admits a user with a password
and a user with an nkey. The function renders an XAgent with ``spec.queue.auth``; the
runtime container's environment and Secret volumes are materialised as the kubelet would
(secretKeyRef values from a Secret's data, volumes as files under a temporary root), read
through the runtime's real Settings, and its JetStream queue connects, creates its stream
and consumer and runs a job. Without the credentials, or with wrong ones, it is refused.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from unittest import mock

import nkeys
import pytest

from contract.env import ENV, QUEUE_ENV
from function.builders import build_all
from function.input import Policy
from runtime.queue import JetStreamOptions, JetStreamQueue
from runtime.settings import ConfigError, load_settings
from runtime.startup import nats_auth
from tests.function.factories import make_ctx, make_spec
from tests.runtime.serving.conftest import TIMEOUT, free_port, make_job, wait_for

pytestmark = pytest.mark.services

USER, PASSWORD = "agent", "pa:ss@word/1"
SEED = nkeys.encode_seed(b"\x07" * 32, nkeys.PREFIX_BYTE_USER)


@dataclass
class NatsServer:
    url: str
    process: subprocess.Popen[bytes]


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[NatsServer]:
    """nats-server -js requiring a password or an nkey, on a free loopback port."""
    if shutil.which("nats-server") is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("nats-server is not installed (scripts/services.sh installs it)")
        pytest.skip("nats-server is not installed")
    port = free_port()
    public = nkeys.from_seed(SEED).public_key.decode()
    config = tmp_path / "nats.conf"
    config.write_text(
        f"""
listen: 127.0.0.1:{port}
jetstream {{ store_dir: "{tmp_path / "js"}" }}
authorization {{
  users = [
    {{ user: "{USER}", password: "{PASSWORD}" }}
    {{ nkey: "{public}" }}
  ]
}}
"""
    )
    process = subprocess.Popen(
        ["nats-server", "-c", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "nats.log").open("wb"),
    )
    try:
        yield NatsServer(f"nats://127.0.0.1:{port}", process)
    finally:
        process.terminate()
        process.wait(timeout=10)


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


def _rendered_env(
    url: str, auth: dict[str, Any], secrets: dict[str, dict[str, bytes]], root: Path
) -> dict[str, str]:
    """The runtime container's environment as the kubelet gives it, from the function's
    Deployment: secretKeyRefs read from ``secrets``, Secret volumes written under ``root``
    (and every path the env names moved there)."""
    spec = make_spec(queue={"url": url, "auth": auth})
    ctx = make_ctx(spec, policy=Policy(queues={"authSecrets": ["nats-*"]}))
    desired = build_all(ctx)
    pod = desired["deployment"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    for volume in pod["volumes"]:
        if "secret" not in volume:
            continue
        target = root / mounts[volume["name"]].lstrip("/")
        target.mkdir(parents=True)
        data = secrets[volume["secret"]["secretName"]]
        for item in volume["secret"]["items"]:
            (target / item["path"]).write_bytes(data[item["key"]])
    env: dict[str, str] = {}
    for entry in container["env"]:
        if not entry["name"].startswith("NATS_"):
            continue
        if "valueFrom" in entry:
            ref = entry["valueFrom"]["secretKeyRef"]
            env[entry["name"]] = secrets[ref["name"]][ref["key"]].decode()
        elif entry.get("value", "").startswith("/"):
            env[entry["name"]] = str(root / entry["value"].lstrip("/"))
    return env


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
    queue = await _connect(_options(_settings(nats_server.url, **env), names), scripted)
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
