"""A bounded fault run: jobs through worker processes killed with SIGKILL and restarted services.

Three ``python -m runtime`` workers share one consumer on a nats-server, a redis-server and a
PostgreSQL server of this test's own (free ports, state in a temporary directory, so
restarting them disturbs no other test). While 300 jobs run, three workers are killed with
SIGKILL (each replaced, as a pod would be) and NATS, Redis and Postgres are each restarted
once. Then every job must have exactly one result as the shipped client reads them, the right
answer, no dead letter, and a succeeded run record holding that answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from contract.env import CACHE_ENV, ENV, QUEUE_ENV
from runtime.client import Deduplicator
from runtime.jobs import Job, JobResult, JobStatus
from tests.runtime.serving.conftest import RuntimeProcess, free_port, wait_for

pytestmark = pytest.mark.services

JOBS = 300
WORKERS = 3
ACK_WAIT = "3"


class Service:
    """A server process of this test's own, restartable on the same port and state."""

    def __init__(self, argv: list[str], port: int, log: Path) -> None:
        self.argv, self.port, self.log = argv, port, log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(self.argv, stdout=out, stderr=subprocess.STDOUT)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)

    async def wait_listening(self, within: float = 20.0) -> None:
        async def listening() -> bool:
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", self.port)
            except OSError:
                return False
            writer.close()
            return True

        await wait_for(listening, bool, within=within)

    async def restart(self) -> None:
        self.stop()
        self.start()
        await self.wait_listening()


def _missing(what: str) -> None:
    message = f"{what} is not installed (scripts/services.sh installs it)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


def _pg_bin() -> Path | None:
    """Where the PostgreSQL server binaries are, found as scripts/services.sh finds them."""
    candidates = [os.environ.get("XAGENT_PG_BIN", ""), "/usr/lib/postgresql/15/bin"]
    if initdb := shutil.which("initdb"):
        candidates.append(str(Path(initdb).parent))
    # Debian keeps them off PATH under /usr/lib/postgresql/<major>/bin: the newest major.
    candidates += sorted(
        glob.glob("/usr/lib/postgresql/*/bin"), key=lambda d: int(Path(d).parent.name), reverse=True
    )
    for candidate in candidates:
        if candidate and (Path(candidate) / "initdb").exists():
            return Path(candidate)
    return None


class Postgres:
    """A PostgreSQL server of this test's own: initdb in a temporary directory, pg_ctl.

    initdb and postgres refuse to run as root, so as root the server runs as ``postgres``
    (the user the Debian package creates), like scripts/services.sh.
    """

    def __init__(self, bin_dir: Path, port: int) -> None:
        self.bin, self.port = bin_dir, port
        # Not under pytest's tmp_path: that is private to root, and the server user must
        # reach its data directory.
        self.dir = Path(tempfile.mkdtemp(prefix="xagent-fault-pg-"))
        self.data = self.dir / "data"
        self.url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
        self._user = "postgres" if os.geteuid() == 0 else None
        if self._user is not None:
            entry = pwd.getpwnam(self._user)
            os.chown(self.dir, entry.pw_uid, entry.pw_gid)

    def _run(self, tool: str, *args: str) -> None:
        argv = [str(self.bin / tool), *args]
        if self._user is not None:
            argv = ["runuser", "-u", self._user, "--", *argv]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
        if done.returncode != 0:
            log = self.dir / "postgres.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            pytest.fail(f"{tool} {' '.join(args)} failed: {done.stderr}{done.stdout}\n{tail}")

    def init(self) -> None:
        self._run(
            "initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
            "--locale=C.UTF-8",
        )  # fmt: skip

    def start(self) -> None:
        options = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -c unix_socket_directories={self.dir}"
            " -c fsync=off -c max_connections=100"
        )
        self._run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.dir / "postgres.log"), "-w",
            "-t", "30", "-o", options, "start",
        )  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        if (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    async def restart(self) -> None:
        # fast: the server ends every session at once, so each worker's pooled
        # connections break mid-run; pg_ctl waits until the server accepts connections.
        await asyncio.to_thread(self.stop)
        await asyncio.to_thread(self.start)

    def remove(self) -> None:
        with contextlib.suppress(Exception):
            self.stop("immediate")
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def own_postgres() -> Iterator[Postgres]:
    """A PostgreSQL server on a free port, its data removed afterwards."""
    bin_dir = _pg_bin()
    if bin_dir is None:
        _missing("PostgreSQL (initdb, pg_ctl)")
    server = Postgres(bin_dir, free_port())
    try:
        server.init()
        server.start()
        yield server
    finally:
        server.remove()


@pytest.fixture
def postgres_database(own_postgres: Postgres) -> str:
    """The private server's database: agent_env hands it to the workers."""
    return own_postgres.url


@pytest.fixture
def own_services(tmp_path: Path) -> Iterator[tuple[Service, Service]]:
    """A nats-server (JetStream, file storage) and a redis-server on free ports."""
    for binary in ("nats-server", "redis-server"):
        if shutil.which(binary) is None:
            _missing(binary)
    nats_port, redis_port = free_port(), free_port()
    nats = Service(
        [
            "nats-server",
            "-a",
            "127.0.0.1",
            "-p",
            str(nats_port),
            "-js",
            "-sd",
            str(tmp_path / "nats"),
        ],
        nats_port,
        tmp_path / "nats.log",
    )
    redis = Service(
        [
            "redis-server",
            "--port",
            str(redis_port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(tmp_path),
        ],
        redis_port,
        tmp_path / "redis.log",
    )
    nats.start()
    redis.start()
    try:
        yield nats, redis
    finally:
        nats.stop()
        redis.stop()


def _job(i: int) -> Job:
    # The stub answers after the sleep directive's delay, so jobs are in flight when a
    # worker dies; the answer repeats the whole message.
    return Job.model_validate(
        {
            "job_id": f"fault-{i:04d}",
            "thread_id": f"thread-{i % 50}",
            "input": {"messages": [{"role": "user", "content": f"job {i}\nsleep:0.2"}]},
        }
    )


async def test_no_job_lost_wrong_or_duplicated_through_kills_and_restarts(
    own_services, own_postgres: Postgres, agent_env, postgres_database, tmp_path: Path
):
    import nats as nats_client

    nats, redis = own_services
    await nats.wait_listening()
    await redis.wait_listening()
    env = {
        **agent_env,
        QUEUE_ENV.URL: f"nats://127.0.0.1:{nats.port}",
        CACHE_ENV.URL: f"redis://127.0.0.1:{redis.port}/0",
        QUEUE_ENV.ACK_WAIT_SECONDS: ACK_WAIT,
        QUEUE_ENV.MAX_DELIVER: "10",
        ENV.MAX_PARALLEL_SESSIONS: "2",
    }
    spawned = 0

    def spawn() -> RuntimeProcess:
        nonlocal spawned
        spawned += 1
        log = tmp_path / f"worker-{spawned}.log"
        return RuntimeProcess({**env, ENV.PORT: str(free_port())}, log)

    workers = [spawn() for _ in range(WORKERS)]

    async def kill_and_replace(i: int) -> None:
        # SIGKILL mid-job, then a new process in its place (what a Deployment does).
        os.kill(workers[i].proc.pid, signal.SIGKILL)
        workers[i].proc.wait(timeout=10)
        workers[i].stop()
        workers[i] = spawn()

    nc = await nats_client.connect(env[QUEUE_ENV.URL], max_reconnect_attempts=-1)
    try:
        await asyncio.gather(*(w.wait_healthy(within=240) for w in workers))
        js = nc.jetstream()
        jobs = [_job(i) for i in range(JOBS)]
        for job in jobs:
            await js.publish(
                env[QUEUE_ENV.JOBS_SUBJECT],
                job.model_dump_json().encode(),
                headers={"Nats-Msg-Id": job.job_id},
            )

        async def results() -> int:
            with contextlib.suppress(Exception):
                info = await js.stream_info(
                    env[QUEUE_ENV.STREAM], subjects_filter=env[QUEUE_ENV.RESULTS_SUBJECT]
                )
                return (info.state.subjects or {}).get(env[QUEUE_ENV.RESULTS_SUBJECT], 0)
            return 0

        faults = [
            (25, lambda: kill_and_replace(0)),
            (60, nats.restart),
            (100, lambda: kill_and_replace(1)),
            (140, redis.restart),
            (180, own_postgres.restart),
            (220, lambda: kill_and_replace(2)),
        ]
        for threshold, fault in faults:
            await wait_for(results, lambda n, t=threshold: n >= t, within=60)
            await fault()
        await wait_for(results, lambda n: n >= JOBS, within=90)

        stored = await _all(js, env[QUEUE_ENV.STREAM], env[QUEUE_ENV.RESULTS_SUBJECT])
        dead = await _all(js, env[QUEUE_ENV.STREAM], env[QUEUE_ENV.DEAD_LETTER_SUBJECT])
    finally:
        await nc.close()
        for worker in workers:
            worker.stop()

    dedup = Deduplicator()
    by_job = {}
    for msg in stored:
        result = JobResult.model_validate_json(msg.data)
        if dedup.first(msg.headers["Xagent-Job-Id"]):
            by_job[result.job_id] = result
    assert dead == []
    assert len(stored) == JOBS, "a result was stored twice"
    assert sorted(by_job) == sorted(j.job_id for j in jobs)
    wrong = [
        (r.job_id, r.status, r.output)
        for r in by_job.values()
        if r.status != JobStatus.COMPLETED
        or r.output != f"stub answer: job {int(r.job_id.split('-')[1])}\nsleep:0.2"
    ]
    assert wrong == []
    with psycopg.connect(postgres_database) as conn:
        rows = conn.execute("SELECT job_id, status, output FROM xagent_runs").fetchall()
    assert {job_id: (status, output) for job_id, status, output in rows} == {
        r.job_id: ("succeeded", r.output) for r in by_job.values()
    }


async def _all(js, stream: str, subject: str) -> list:
    from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

    info = await js.stream_info(stream, subjects_filter=subject)
    count = (info.state.subjects or {}).get(subject, 0)
    if not count:
        return []
    sub = await js.pull_subscribe(
        subject,
        stream=stream,
        config=ConsumerConfig(
            deliver_policy=DeliverPolicy.ALL, ack_policy=AckPolicy.NONE, inactive_threshold=5.0
        ),
    )
    out: list = []
    deadline = time.monotonic() + 20
    try:
        while len(out) < count and time.monotonic() < deadline:
            with contextlib.suppress(TimeoutError):
                out += await sub.fetch(batch=count - len(out), timeout=2)
    finally:
        await sub.unsubscribe()
    return out
