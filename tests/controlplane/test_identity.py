"""Crossplane composes as its own service account, with only the RBAC a real install gives it.

The control plane runs Crossplane core with a token of ``crossplane-system/crossplane``, bound
only to the ``crossplane`` ClusterRole that aggregates Crossplane's system rules, the RBAC
manager's per-XRD rules and package/rbac.yaml, as the Helm chart does. Every other test in
this folder therefore composes as that identity; these tests pin the identity itself and
that package/rbac.yaml covers every kind the examples compose.
"""

from __future__ import annotations

import pytest

from function.render import RenderInputs, render
from tests.controlplane import plane
from tests.controlplane.kube import Kube, load_documents
from tests.controlplane.xagents import EXAMPLES

pytestmark = pytest.mark.controlplane

SA_USER = f"system:serviceaccount:{plane.CROSSPLANE_NAMESPACE}:{plane.CROSSPLANE_SA}"
SA_GROUPS = [
    "system:serviceaccounts",
    f"system:serviceaccounts:{plane.CROSSPLANE_NAMESPACE}",
    "system:authenticated",
]
VERBS = ("get", "list", "watch", "create", "update", "patch", "delete")


def test_crossplane_is_a_service_account_without_masters(control_plane: plane.State) -> None:
    client = control_plane.as_crossplane()
    try:
        review = client.post(
            "/apis/authentication.k8s.io/v1/selfsubjectreviews",
            {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"},
        )
    finally:
        client.close()
    user = review["status"]["userInfo"]
    assert user["username"] == SA_USER
    assert "system:masters" not in user.get("groups", [])


def test_crossplane_is_bound_only_to_the_aggregated_cluster_role(kube: Kube) -> None:
    def bound(binding: dict) -> bool:
        return any(
            s.get("kind") == "ServiceAccount"
            and s.get("name") == plane.CROSSPLANE_SA
            and s.get("namespace") == plane.CROSSPLANE_NAMESPACE
            for s in binding.get("subjects") or []
        )

    rbac = "rbac.authorization.k8s.io/v1"
    cluster = [b["roleRef"]["name"] for b in kube.list(rbac, "ClusterRoleBinding") if bound(b)]
    namespaced = [b["metadata"]["name"] for b in kube.list(rbac, "RoleBinding") if bound(b)]
    assert (cluster, namespaced) == (["crossplane"], [])
    role = kube.get(rbac, "ClusterRole", "crossplane")
    assert role["aggregationRule"]["clusterRoleSelectors"] == [
        {"matchLabels": {"rbac.crossplane.io/aggregate-to-crossplane": "true"}}
    ]


def _composed_kinds() -> set[tuple[str, str]]:
    """Every (apiVersion, kind) `xagent render` composes for the examples."""
    (composition,) = load_documents(plane.ROOT / "compositions" / "xagent.yaml")
    kinds = set()
    for xr_file in sorted(EXAMPLES.glob("*/xr.yaml")):
        folder = xr_file.parent
        if folder.name == "policy-violation":  # composes nothing
            continue
        required = folder / "required.yaml"
        inputs = RenderInputs(
            xr=load_documents(xr_file)[0],
            composition=composition,
            required=load_documents(required) if required.exists() else [],
        )
        kinds |= {(d["apiVersion"], d["kind"]) for d in render(inputs)[1:]}
    return kinds


@pytest.mark.parametrize(("api_version", "kind"), sorted(_composed_kinds()))
def test_crossplane_may_manage_every_composed_kind(kube: Kube, api_version: str, kind: str) -> None:
    resource = kube.resource(api_version, kind)
    group = api_version.rpartition("/")[0]
    denied = []
    for verb in VERBS:
        review = kube.post(
            "/apis/authorization.k8s.io/v1/subjectaccessreviews",
            {
                "apiVersion": "authorization.k8s.io/v1",
                "kind": "SubjectAccessReview",
                "spec": {
                    "user": SA_USER,
                    "groups": SA_GROUPS,
                    "resourceAttributes": {
                        "group": group,
                        "resource": resource.plural,
                        "verb": verb,
                        "namespace": "agents",
                    },
                },
            },
        )
        if not review["status"].get("allowed"):
            denied.append(verb)
    assert denied == [], f"{SA_USER} may not {denied} {resource.plural}.{group}"
