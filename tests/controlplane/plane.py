"""A real control plane on loopback, without Docker: etcd, kube-apiserver, Crossplane core (out
of cluster), kube-controller-manager and the xagent function over mTLS.

``python -m tests.controlplane.plane up|down|env [--dir DIR]`` (scripts/controlplane.sh) and
the session fixture of tests/controlplane both run this module, so what a user tries is what
the tests exercise.

Order matters:
1. openssl makes a CA, the API server's serving cert, an admin client cert in system:masters,
   the service-account signing key, the function's server cert for 127.0.0.1 and Crossplane's
   client cert (core always dials functions with mTLS).
2. etcd, then kube-apiserver (RBAC, no endpoint reconciler: there are no nodes or pods).
3. ``crossplane core init`` installs Crossplane's CRDs (retried: the first run fails while
   they establish). Then the vendored CRDs of the composed kinds, the package's ClusterRole,
   the XRD and Composition.
4. kube-controller-manager, after those CRDs exist (its garbage collector rediscovers new
   types only every ~30 s; the XAgent CRD comes later and is found within that time): only
   the controllers a pod-less cluster needs, plus ClusterRole aggregation.
5. Crossplane's RBAC manager (as admin, like its own privileged service account, and only
   until it has written the XRD's ClusterRoles) and
   Crossplane core as the ``crossplane`` service account, bound only to the ``crossplane``
   ClusterRole that aggregates ``rbac.crossplane.io/aggregate-to-crossplane`` roles, as the
   Helm chart installs it (``--package-runtime=External``: nothing runs pods).
6. ``xagent serve --tls-certs-dir`` and a paused FunctionRevision whose status carries its
   endpoint: with the External runtime nothing else sets it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.controlplane.kube import Kube, KubeError, has_condition, load_documents, wait_for

ROOT = Path(__file__).resolve().parents[2]
TOOLS_CACHE = Path.home() / ".cache" / "xagent" / "tools"
DEFAULT_DIR = ROOT / "_output" / "controlplane"
BINARIES = ("etcd", "kube-apiserver", "kube-controller-manager", "crossplane-core")
CROSSPLANE_NAMESPACE = "crossplane-system"
CROSSPLANE_SA = "crossplane"
FUNCTION_NAME = "function-xagent"
FUNCTION_PACKAGE = "ghcr.io/xagent-dev/function-xagent:v0.1.0"
KCM_CONTROLLERS = ",".join(
    [
        "garbage-collector-controller",
        "namespace-controller",
        "serviceaccount-controller",
        "serviceaccount-token-controller",
        "root-ca-certificate-publisher-controller",
        "clusterrole-aggregation-controller",
    ]
)
STARTUP_TIMEOUT = 240.0
"""A ceiling, not a wait: every step returns as soon as it is done. On two busy cores (the
suite's other processes, a niced pytest whose children inherit the niceness) crossplane
core took over 90 s to establish the XRD, and every control-plane test errored at once."""


class ControlPlaneError(RuntimeError):
    """Bring-up failed; the message names the step and the log to read."""


def log(message: str) -> None:
    print(f"[controlplane] {message}", file=sys.stderr, flush=True)


# Binaries -------------------------------------------------------------------------------------


def find_tools() -> dict[str, Path] | str:
    """The four binaries and Crossplane's CRD dir, or a message saying what is missing."""
    env = os.environ.get("XAGENT_TOOLS_BIN")
    if env:
        folders = [Path(env)]
    else:
        folders = sorted(
            (d for d in TOOLS_CACHE.glob("*") if d.is_dir()),
            key=lambda d: d.stat().st_mtime,
            reverse=True,
        )
    found: dict[str, Path] = {}
    for name in (*BINARIES, "crossplane-crds"):
        for folder in folders:
            path = folder / name
            ok = path.is_dir() if name == "crossplane-crds" else os.access(path, os.X_OK)
            if path.exists() and ok:
                found[name] = path
                break
    missing = [n for n in (*BINARIES, "crossplane-crds") if n not in found]
    if missing:
        where = env or f"{TOOLS_CACHE}/*/"
        return (
            f"{', '.join(missing)} not found in {where}: run `bash scripts/build-tools.sh` "
            "(cold: about 20 min on 2 cores) and export XAGENT_TOOLS_BIN=<the dir it prints last>"
        )
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# Certificates ---------------------------------------------------------------------------------


def _openssl(*args: str | Path) -> None:
    subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True)


def _leaf(pki: Path, name: str, subject: str, sans: str | None) -> tuple[Path, Path]:
    """A key and a certificate signed by pki/ca, for client and server use."""
    key, csr, crt, ext = (pki / f"{name}.{s}" for s in ("key", "csr", "crt", "ext"))
    lines = [
        "basicConstraints=CA:FALSE",
        "keyUsage=critical,digitalSignature,keyEncipherment",
        "extendedKeyUsage=serverAuth,clientAuth",
    ]
    if sans:
        lines.append(f"subjectAltName={sans}")
    ext.write_text("\n".join(lines) + "\n")
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-subj", subject, "-out", csr)
    _openssl(
        "x509", "-req", "-in", csr, "-CA", pki / "ca.crt", "-CAkey", pki / "ca.key",
        "-CAcreateserial", "-days", "30", "-sha256", "-extfile", ext, "-out", crt,
    )  # fmt: skip
    csr.unlink()
    ext.unlink()
    return crt, key


def _tls_dir(pki: Path, name: str, crt: Path, key: Path) -> Path:
    """The tls.crt/tls.key/ca.crt layout both Crossplane and the function SDK read."""
    d = pki / name
    d.mkdir()
    shutil.copy(crt, d / "tls.crt")
    shutil.copy(key, d / "tls.key")
    shutil.copy(pki / "ca.crt", d / "ca.crt")
    return d


def make_pki(pki: Path) -> None:
    pki.mkdir(parents=True)
    _openssl(
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", pki / "ca.key",
        "-subj", "/CN=xagent-controlplane-ca", "-days", "30", "-out", pki / "ca.crt",
    )  # fmt: skip
    _leaf(
        pki,
        "apiserver",
        "/CN=kube-apiserver",
        "IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default.svc,IP:10.0.0.1",
    )
    _leaf(pki, "admin", "/O=system:masters/CN=xagent-admin", None)
    _openssl("genrsa", "-out", pki / "sa.key", "2048")
    _openssl("rsa", "-in", pki / "sa.key", "-pubout", "-out", pki / "sa.pub")
    _tls_dir(pki, "function", *_leaf(pki, "function", "/CN=function-xagent", "IP:127.0.0.1"))
    _tls_dir(pki, "crossplane-client", *_leaf(pki, "crossplane", "/CN=crossplane", None))


# State ----------------------------------------------------------------------------------------


@dataclass
class State:
    """What ``env``, ``down`` and the tests need to know about a running control plane."""

    dir: str
    server: str
    function_address: str
    pids: dict[str, int]
    crossplane_metrics: str = ""

    @property
    def path(self) -> Path:
        return Path(self.dir)

    @property
    def kubeconfig(self) -> Path:
        return self.path / "kubeconfig"

    def save(self) -> None:
        (self.path / "state.json").write_text(json.dumps(asdict(self), indent=2) + "\n")

    @classmethod
    def load(cls, directory: Path) -> State | None:
        f = directory / "state.json"
        return cls(**json.loads(f.read_text())) if f.is_file() else None

    def admin(self) -> Kube:
        pki = self.path / "pki"
        return Kube(self.server, pki / "ca.crt", cert=(pki / "admin.crt", pki / "admin.key"))

    def as_crossplane(self) -> Kube:
        """A client with Crossplane's own service-account identity."""
        token = (self.path / "crossplane.token").read_text().strip()
        return Kube(self.server, self.path / "pki" / "ca.crt", token=token)


def _kubeconfig(server: str, ca: Path, user: dict[str, str]) -> str:
    return yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {"name": "xagent", "cluster": {"server": server, "certificate-authority": str(ca)}}
            ],
            "users": [{"name": "user", "user": user}],
            "contexts": [{"name": "xagent", "context": {"cluster": "xagent", "user": "user"}}],
            "current-context": "xagent",
        }
    )  # fmt: skip


# Processes ------------------------------------------------------------------------------------


def _start(
    state: State, name: str, args: list[str | Path], env: dict[str, str] | None = None
) -> None:
    """Start a daemon in its own session (it outlives `up`), logging to logs/NAME.log."""
    logs = state.path / "logs"
    logs.mkdir(exist_ok=True)
    with (logs / f"{name}.log").open("ab") as out:
        proc = subprocess.Popen(
            [str(a) for a in args],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            cwd=ROOT,
            start_new_session=True,
        )
    state.pids[name] = proc.pid
    state.save()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child of this process counts as gone: reap it.
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True
    return done == 0


def _check_alive(state: State, name: str) -> None:
    if not _alive(state.pids[name]):
        tail = (state.path / "logs" / f"{name}.log").read_text(errors="replace")[-3000:]
        raise ControlPlaneError(f"{name} exited during startup; end of its log:\n{tail}")


def stop(state: State, only: str | None = None) -> None:
    """SIGTERM every process (newest first), SIGKILL what is left after 10 s."""
    pids = {n: p for n, p in state.pids.items() if only in (None, n)}
    for name, pid in reversed(list(pids.items())):
        if _alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
            log(f"stopping {name} (pid {pid})")
    deadline = time.monotonic() + 10
    for name, pid in pids.items():
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if _alive(pid):
            log(f"killing {name} (pid {pid})")
            os.kill(pid, signal.SIGKILL)
            while _alive(pid):
                time.sleep(0.05)
        del state.pids[name]
    state.save()


# Bring-up -------------------------------------------------------------------------------------


XRD = ROOT / "xrds" / "xagent.yaml"
LEGACY_XRD = ROOT / "xrds" / "legacy" / "xagent.yaml"


def up(directory: Path, tools: dict[str, Path], xrd: Path = XRD) -> State:
    """Bring everything up in ``directory`` (which must not hold a running plane).

    ``xrd``: the v2 XRD, or the legacy v1 one (both define xagents.xagent.dev).
    """
    started = time.monotonic()
    if directory.exists():
        old = State.load(directory)
        if old and any(_alive(p) for p in old.pids.values()):
            raise ControlPlaneError(f"a control plane already runs from {directory}: run down")
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    directory = directory.resolve()
    pki = directory / "pki"
    make_pki(pki)
    api_port = free_port()
    state = State(str(directory), f"https://127.0.0.1:{api_port}", "", {})
    state.save()
    try:
        _bring_up(state, tools, api_port, xrd)
    except BaseException:
        stop(state)
        raise
    log(f"up in {time.monotonic() - started:.0f}s: export KUBECONFIG={state.kubeconfig}")
    return state


def _bring_up(state: State, tools: dict[str, Path], api_port: int, xrd: Path) -> None:
    d, pki = state.path, state.path / "pki"
    state.kubeconfig.write_text(
        _kubeconfig(
            state.server,
            pki / "ca.crt",
            {"client-certificate": str(pki / "admin.crt"), "client-key": str(pki / "admin.key")},
        )
    )
    etcd_port, peer_port = free_port(), free_port()
    etcd_url = f"http://127.0.0.1:{etcd_port}"
    _start(state, "etcd", [
        tools["etcd"], "--name=xagent", f"--data-dir={d / 'etcd'}",
        f"--listen-client-urls={etcd_url}", f"--advertise-client-urls={etcd_url}",
        f"--listen-peer-urls=http://127.0.0.1:{peer_port}",
        f"--initial-advertise-peer-urls=http://127.0.0.1:{peer_port}",
        f"--initial-cluster=xagent=http://127.0.0.1:{peer_port}",
        # A throwaway store: durability costs fsyncs the tests do not need.
        "--unsafe-no-fsync", "--log-level=warn",
    ])  # fmt: skip
    wait_for(lambda: _http_ok(f"{etcd_url}/health"), 30, "etcd /health")
    _check_alive(state, "etcd")

    _start(state, "kube-apiserver", [
        tools["kube-apiserver"], f"--etcd-servers={etcd_url}",
        "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", f"--secure-port={api_port}",
        f"--cert-dir={d / 'apiserver'}",
        f"--tls-cert-file={pki / 'apiserver.crt'}",
        f"--tls-private-key-file={pki / 'apiserver.key'}",
        f"--client-ca-file={pki / 'ca.crt'}",
        f"--service-account-key-file={pki / 'sa.pub'}",
        f"--service-account-signing-key-file={pki / 'sa.key'}",
        "--service-account-issuer=https://kubernetes.default.svc",
        "--service-cluster-ip-range=10.0.0.0/24",
        "--authorization-mode=RBAC", "--endpoint-reconciler-type=none",
        "--enable-priority-and-fairness=false", "--profiling=false",
    ])  # fmt: skip
    admin = state.admin()
    try:
        wait_for(
            lambda: _check_alive(state, "kube-apiserver") or admin.raw_get("/readyz").is_success,
            STARTUP_TIMEOUT,
            "kube-apiserver /readyz",
        )
        _install(state, admin, tools, xrd)
    finally:
        admin.close()


def _http_ok(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).is_success
    except httpx.HTTPError:
        return False


def _namespace(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


def _install(state: State, admin: Kube, tools: dict[str, Path], xrd_file: Path) -> None:
    d, pki = state.path, state.path / "pki"
    admin.apply(_namespace(CROSSPLANE_NAMESPACE))
    env = {
        "KUBECONFIG": str(state.kubeconfig),
        "POD_NAMESPACE": CROSSPLANE_NAMESPACE,
        # The Secret names the Helm chart gives Crossplane (core init fills them).
        "TLS_CA_SECRET_NAME": "crossplane-root-ca",
        "TLS_SERVER_SECRET_NAME": "crossplane-tls-server",
        "TLS_CLIENT_SECRET_NAME": "crossplane-tls-client",
    }

    log("crossplane core init (Crossplane's CRDs)")

    def init() -> bool:
        r = subprocess.run(
            [str(tools["crossplane-core"]), "core", "init", "--enable-webhooks=false"],
            env={**os.environ, **env, "CRDS_PATH": str(tools["crossplane-crds"])},
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        (d / "logs" / "crossplane-init.log").write_text(r.stdout + r.stderr)
        return r.returncode == 0

    wait_for(init, STARTUP_TIMEOUT, "crossplane core init", interval=1)

    log("vendored CRDs of the composed kinds, package RBAC, XRD, Composition")
    crds = [
        doc
        for f in sorted((ROOT / "function" / "schemas" / "crds").rglob("*.y*ml"))
        if f.parent.name != "crossplane"  # core init installed Crossplane's own
        for doc in load_documents(f)
    ]
    admin.apply_all(crds)
    admin.apply_all(load_documents(ROOT / "package" / "rbac.yaml"))
    admin.apply_all(crossplane_rbac())
    for crd in crds:
        name = crd["metadata"]["name"]
        wait_for(
            lambda n=name: has_condition(
                admin.get("apiextensions.k8s.io/v1", "CustomResourceDefinition", n), "Established"
            ),
            STARTUP_TIMEOUT,
            f"CRD {name} Established",
        )

    log("kube-controller-manager: garbage collector, namespaces, service accounts, aggregation")
    _start(state, "kube-controller-manager", [
        tools["kube-controller-manager"], f"--kubeconfig={state.kubeconfig}",
        f"--controllers={KCM_CONTROLLERS}", "--leader-elect=false",
        f"--service-account-private-key-file={pki / 'sa.key'}",
        f"--root-ca-file={pki / 'ca.crt'}", "--use-service-account-credentials=false",
        "--bind-address=127.0.0.1", f"--secure-port={free_port()}",
        f"--cert-dir={d / 'kcm'}",
    ])  # fmt: skip

    wait_for(
        lambda: (
            _check_alive(state, "kube-controller-manager")
            or _aggregated(admin, "pkg.crossplane.io")
        ),
        STARTUP_TIMEOUT,
        "the crossplane ClusterRole to aggregate Crossplane's system rules",
    )

    # Crossplane's identity: a service-account token, as its pod would mount.
    token = admin.post(
        f"/api/v1/namespaces/{CROSSPLANE_NAMESPACE}/serviceaccounts/{CROSSPLANE_SA}/token",
        {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
         "spec": {"expirationSeconds": 7 * 24 * 3600}},
    )["status"]["token"]  # fmt: skip
    (d / "crossplane.token").write_text(token)
    sa_kubeconfig = d / "crossplane.kubeconfig"
    sa_kubeconfig.write_text(_kubeconfig(state.server, pki / "ca.crt", {"token": token}))

    log("crossplane rbac manager and crossplane core (as its service account)")
    metrics_port = free_port()
    state.crossplane_metrics = f"http://127.0.0.1:{metrics_port}/metrics"
    _start(state, "crossplane-rbac", [
        tools["crossplane-core"], "rbac", "start", "--leader-election=false",
    ], env)  # fmt: skip
    _start(state, "crossplane", [
        tools["crossplane-core"], "core", "start", "--enable-webhooks=false",
        "--package-runtime=External", f"--tls-client-certs-dir={pki / 'crossplane-client'}",
        f"--xpkg-cache-dir={d / 'xpkg-cache'}", f"--xfn-cache-dir={d / 'xfn-cache'}",
        f"--metrics-port={metrics_port}", f"--health-probe-port={free_port()}",
        f"--webhook-port={free_port()}",
        # Re-check composed resources often: tests move operator status around.
        "--poll-interval=5s",
    ], {**env, "KUBECONFIG": str(sa_kubeconfig)})  # fmt: skip

    for xrd in load_documents(xrd_file):
        admin.apply(xrd)
        wait_for(
            lambda x=xrd: _check_alive(state, "crossplane")
            or has_condition(admin.get(*_key(x)), "Established"),
            STARTUP_TIMEOUT,
            f"XRD {xrd['metadata']['name']} Established",
        )  # fmt: skip
    admin.apply_all(load_documents(ROOT / "compositions" / "xagent.yaml"))

    log("xagent serve (mTLS) and its FunctionRevision")
    fn_port = free_port()
    state.function_address = f"127.0.0.1:{fn_port}"
    xagent = Path(sys.executable).with_name("xagent")
    _start(state, "function", [
        xagent if xagent.is_file() else sys.executable,
        *([] if xagent.is_file() else ["-m", "function"]),
        "serve", f"--address={state.function_address}",
        f"--tls-certs-dir={pki / 'function'}",
    ])  # fmt: skip
    wait_for(
        lambda: _check_alive(state, "function") or _port_open(fn_port),
        STARTUP_TIMEOUT,
        "xagent serve listening",
    )
    register_function(admin, state.function_address)
    wait_for(
        lambda: (
            _check_alive(state, "crossplane")
            or _check_alive(state, "crossplane-rbac")
            or _aggregated(admin, "xagent.dev")
        ),
        STARTUP_TIMEOUT,
        "the crossplane ClusterRole to aggregate the XRD's rules",
    )
    # The RBAC manager has written the XRD's ClusterRoles; it may stop. It binds
    # controller-runtime's fixed metrics port :8080, which a second plane (tests/controlplane
    # test_legacy.py) or another process would otherwise find taken.
    stop(state, "crossplane-rbac")
    state.save()


def _key(obj: dict[str, Any]) -> tuple[str, str, str]:
    return obj["apiVersion"], obj["kind"], obj["metadata"]["name"]


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _aggregated(admin: Kube, group: str) -> bool:
    """Crossplane's ClusterRole has aggregated a rule for ``group``."""
    role = admin.get("rbac.authorization.k8s.io/v1", "ClusterRole", "crossplane") or {}
    return any(group in r.get("apiGroups", []) for r in role.get("rules", []) or [])


def crossplane_rbac() -> list[dict[str, Any]]:
    """Crossplane's service account and ClusterRoles as its Helm chart installs them."""
    return load_documents(Path(__file__).with_name("crossplane-rbac.yaml"))


def register_function(admin: Kube, address: str) -> None:
    """Point Crossplane at the function: a paused, Active FunctionRevision with an endpoint.

    With ``--package-runtime=External`` Crossplane never sets ``status.endpoint``; pausing
    stops the revision controller from resetting the status written here.
    """
    rev = {
        "apiVersion": "pkg.crossplane.io/v1",
        "kind": "FunctionRevision",
        "metadata": {
            "name": f"{FUNCTION_NAME}-local",
            "labels": {"pkg.crossplane.io/package": FUNCTION_NAME},
            "annotations": {"crossplane.io/paused": "true"},
        },
        "spec": {"desiredState": "Active", "image": FUNCTION_PACKAGE, "revision": 1},
    }
    admin.apply(rev)
    admin.patch_status(rev, {"endpoint": address, "capabilities": ["composition"]})


def down(directory: Path) -> None:
    state = State.load(directory)
    if state is None:
        log(f"nothing to stop in {directory}")
        return
    stop(state)
    log("down")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="controlplane", description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=["up", "down", "env"])
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR, help="state directory")
    parser.add_argument(
        "--legacy", action="store_true", help="install the legacy v1 XRD (Agent claims)"
    )
    args = parser.parse_args(argv)
    directory = args.dir.resolve()
    if args.command == "up":
        tools = find_tools()
        if isinstance(tools, str):
            log(tools)
            return 1
        try:
            state = up(directory, tools, LEGACY_XRD if args.legacy else XRD)
        except (ControlPlaneError, TimeoutError, KubeError, subprocess.CalledProcessError) as e:
            log(f"bring-up failed: {e}\nlogs: {directory / 'logs'}")
            return 1
        print(f"export KUBECONFIG={state.kubeconfig}")
    elif args.command == "down":
        down(directory)
    else:
        state = State.load(directory)
        if state is None:
            log(f"no control plane in {directory}: run up")
            return 1
        print(f"export KUBECONFIG={state.kubeconfig}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
