"""``spec.api.auth: serviceAccount`` against the real kube-apiserver, with the composed identity.

Crossplane composes examples/minimal (the default auth mode) in the test's namespace. The
runtime then runs in this process the way main.serve wires it, with the pod's token volume
reproduced from the composed Deployment: its own token minted by the TokenRequest API as the
projected ``serviceAccountToken`` source asks, and the CA from the ``kube-root-ca.crt``
ConfigMap. Callers are ServiceAccounts with tokens from the TokenRequest API, as
``kubectl create token --audience`` makes them. What is checked:

- the composed ServiceAccount alone may not create TokenReviews, and the runtime answers 503
  naming the ClusterRole the README says the platform binds (``system:auth-delegator``);
- with that binding (to the group ``system:serviceaccounts:<namespace>``, the README's
  example) it may, and nothing more is needed: the right audience gets 200, a token for the
  API server's audience or another agent's gets 401, no token 401, another ServiceAccount
  403 on the first one's run.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from contract import env as contract_env
from contract.env import ENV
from runtime.serve import auth
from tests.controlplane import plane
from tests.controlplane.kube import Kube, wait_for
from tests.controlplane.xagents import EXAMPLES, Example, wait_matches_render

# The in-process runtime and the real services it needs (tests/runtime/serving/conftest.py).
from tests.runtime.conftest import (  # noqa: F401 - fixtures
    _clean_env,
    llm,
    postgres_database,
    redis_agent,
    stub_llm,
)
from tests.runtime.serving.conftest import (  # noqa: F401 - fixtures
    TIMEOUT,
    agent_env,
    bus,
    jetstream,
    names,
    nats_url,
    start_agent,
)

pytestmark = [pytest.mark.controlplane, pytest.mark.services]

RBAC = "rbac.authorization.k8s.io/v1"
JOB = {
    "ce-specversion": "1.0",
    "ce-type": "dev.example.agent.execute",
    "ce-source": "tests",
    "ce-id": "e1",
    "content-type": "application/json",
}


def _token(kube: Kube, namespace: str, sa: str, spec: dict[str, Any]) -> str:
    """A token of ServiceAccount ``sa`` from the TokenRequest API."""
    review = kube.post(
        f"/api/v1/namespaces/{namespace}/serviceaccounts/{sa}/token",
        {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": spec},
    )
    return review["status"]["token"]


def _may_review_tokens(kube: Kube, namespace: str, sa: str) -> bool:
    review = kube.post(
        "/apis/authorization.k8s.io/v1/subjectaccessreviews",
        {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SubjectAccessReview",
            "spec": {
                "user": f"system:serviceaccount:{namespace}:{sa}",
                "groups": [
                    "system:serviceaccounts",
                    f"system:serviceaccounts:{namespace}",
                    "system:authenticated",
                ],
                "resourceAttributes": {
                    "group": "authentication.k8s.io",
                    "resource": "tokenreviews",
                    "verb": "create",
                },
            },
        },
    )
    return bool(review["status"].get("allowed"))


def _projected(deployment: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    """The mount path and sources of the runtime's kube-api-access volume."""
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    mounts = {m["name"]: m["mountPath"] for m in container.get("volumeMounts", [])}
    for volume in pod.get("volumes", []):
        sources = volume.get("projected", {}).get("sources", [])
        if any("serviceAccountToken" in s for s in sources):
            return mounts[volume["name"]], sources
    pytest.fail("the composed Deployment projects no ServiceAccount token")


def _env(deployment: dict[str, Any], name: str) -> str:
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return next(e.get("value", "") for e in container["env"] if e["name"] == name)


@pytest.fixture
def delegator_binding(kube: Kube, namespace: str) -> Iterator[dict[str, Any]]:
    """The README's binding, removed afterwards (it is cluster-scoped)."""
    binding = {
        "apiVersion": RBAC,
        "kind": "ClusterRoleBinding",
        "metadata": {"name": f"xagent-auth-delegator-{namespace}"},
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": "system:auth-delegator",
        },
        "subjects": [
            {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "Group",
                "name": f"system:serviceaccounts:{namespace}",
            }
        ],
    }
    yield binding
    kube.delete(binding)


async def test_serviceaccount_auth_against_the_api_server(
    control_plane: plane.State,
    kube: Kube,
    namespace: str,
    delegator_binding: dict[str, Any],
    start_agent,  # noqa: F811 - the imported fixture
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    example = Example.load(EXAMPLES / "minimal", namespace)
    assert "api" not in example.xr["spec"], "the example should use the default auth mode"
    example.apply(kube)
    objs = wait_matches_render(kube, example)
    sa = objs["service-account"]["metadata"]["name"]
    deployment = objs["deployment"]
    assert deployment["spec"]["template"]["spec"]["serviceAccountName"] == sa
    assert _env(deployment, ENV.API_AUTH_MODE) == "serviceAccount"
    audience = _env(deployment, ENV.API_AUTH_AUDIENCE)
    assert audience == contract_env.api_audience(namespace, example.xr["metadata"]["name"])

    # The pod's token volume, as the kubelet would fill it, where the runtime reads it.
    mount, sources = _projected(deployment)
    files: dict[str, Path] = {}
    for source in sources:
        if "serviceAccountToken" in source:
            projected = source["serviceAccountToken"]
            spec = {"expirationSeconds": projected["expirationSeconds"]}
            if projected.get("audience"):
                spec["audiences"] = [projected["audience"]]
            files[projected["path"]] = tmp_path / projected["path"]
            files[projected["path"]].write_text(_token(kube, namespace, sa, spec))
        elif "configMap" in source:
            name = source["configMap"]["name"]
            config = wait_for(
                lambda n=name: kube.get("v1", "ConfigMap", n, namespace), 60, f"ConfigMap {name}"
            )
            for item in source["configMap"]["items"]:
                files[item["path"]] = tmp_path / item["path"]
                files[item["path"]].write_text(config["data"][item["key"]])
    # What the runtime reads is what the Deployment mounts.
    assert {Path(mount) / f for f in files} == {auth.SA_TOKEN_PATH, auth.SA_CA_PATH}
    monkeypatch.setattr(auth, "SA_TOKEN_PATH", files[auth.SA_TOKEN_PATH.name])
    monkeypatch.setattr(auth, "SA_CA_PATH", files[auth.SA_CA_PATH.name])

    api_host, api_port = control_plane.server.removeprefix("https://").rsplit(":", 1)
    running = await start_agent(
        **{
            ENV.API_AUTH_MODE: "serviceAccount",
            ENV.API_AUTH_AUDIENCE: audience,
            "KUBERNETES_SERVICE_HOST": api_host,
            "KUBERNETES_SERVICE_PORT": api_port,
        }
    )
    for caller in ("caller", "intruder"):
        kube.apply({"apiVersion": "v1", "kind": "ServiceAccount",
                    "metadata": {"name": caller, "namespace": namespace}})  # fmt: skip
    hour = {"expirationSeconds": 3600}
    caller = _token(kube, namespace, "caller", {**hour, "audiences": [audience]})
    intruder = _token(kube, namespace, "intruder", {**hour, "audiences": [audience]})
    for_api_server = _token(kube, namespace, "caller", hour)
    other_agent = contract_env.api_audience(namespace, "another-agent")
    for_other_agent = _token(kube, namespace, "caller", {**hour, "audiences": [other_agent]})

    def bearer(token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    body = (
        '{"job_id": "sa-1", "thread_id": "t-sa", '
        '"input": {"messages": [{"role": "user", "content": "hi"}]}}'
    )
    async with httpx.AsyncClient(base_url=running.base_url, timeout=TIMEOUT) as http:
        # The composed identity alone may not review tokens: 503 names the missing role.
        assert not _may_review_tokens(kube, namespace, sa)
        refused = await http.get("/runs/sa-1", headers=bearer(caller))
        assert refused.status_code == 503, refused.text
        assert "system:auth-delegator" in refused.json()["error"]
        assert refused.headers["retry-after"] == "5"

        kube.apply(delegator_binding)
        wait_for(lambda: _may_review_tokens(kube, namespace, sa), 30, "the binding to apply")

        ok = await http.post("/?wait=true", headers={**JOB, **bearer(caller)}, content=body)
        assert ok.status_code == 200, ok.text
        run = await http.get("/runs/sa-1", headers=bearer(caller))
        assert run.status_code == 200, run.text
        assert run.json()["owner"] == f"system:serviceaccount:{namespace}:caller"
        assert run.json()["output"] == "stub answer: hi"

        for token in (for_api_server, for_other_agent, "not-a-token"):
            denied = await http.get("/runs/sa-1", headers=bearer(token))
            assert denied.status_code == 401, denied.text
            assert denied.headers["www-authenticate"].startswith("Bearer")
        assert (await http.get("/runs/sa-1")).status_code == 401

        foreign = await http.get("/runs/sa-1", headers=bearer(intruder))
        assert foreign.status_code == 403, foreign.text
        assert (await http.get("/threads/t-sa", headers=bearer(intruder))).status_code == 403
