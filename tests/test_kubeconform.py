"""The kubeconform check itself: it must reject what the API server would, or it proves nothing."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests import kubeconform, kubeconform_schemas

DEPLOYMENT: dict[str, Any] = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "a", "namespace": "agents"},
    "spec": {
        "selector": {"matchLabels": {"app": "a"}},
        "template": {
            "metadata": {"labels": {"app": "a"}},
            "spec": {"containers": [{"name": "c", "image": "busybox:1"}]},
        },
    },
}
STREAM: dict[str, Any] = {
    "apiVersion": "jetstream.nats.io/v1beta2",
    "kind": "Stream",
    "metadata": {"name": "s", "namespace": "agents"},
    "spec": {"name": "s", "subjects": ["a.>"]},
}
DATABASE_NAMESPACED: dict[str, Any] = {
    "apiVersion": "postgresql.sql.m.crossplane.io/v1alpha1",
    "kind": "Database",
    "metadata": {"name": "d", "namespace": "agents"},
    "spec": {"forProvider": {}, "providerConfigRef": {"name": "p", "kind": "ProviderConfig"}},
}


def _with(manifest: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    out = copy.deepcopy(manifest)
    *parents, last = path.split(".")
    node = out
    for part in parents:
        node = node[int(part)] if part.isdigit() else node[part]
    node[last] = value
    return out


def test_accepts_valid_core_and_crd_kinds() -> None:
    assert kubeconform.check([("d", DEPLOYMENT), ("s", STREAM), ("db", DATABASE_NAMESPACED)]) == {}


@pytest.mark.parametrize(
    ("label", "manifest"),
    [
        ("unknown spec field", _with(DEPLOYMENT, "spec.replicaz", 1)),
        ("unknown container field", _with(DEPLOYMENT, "spec.template.spec.containers.0.img", "x")),
        ("wrong type", _with(DEPLOYMENT, "spec.replicas", "two")),
        ("env with neither field", _with(DEPLOYMENT, "spec.template.spec.containers.0.env", [{}])),
        ("unknown CRD field", _with(STREAM, "spec.subject", "a")),
        ("CRD metadata is ObjectMeta", _with(STREAM, "metadata.labelz", {})),
        ("wrong apiVersion for the kind", _with(STREAM, "apiVersion", "jetstream.nats.io/v1beta1")),
        ("kind without a schema", _with(DEPLOYMENT, "kind", "Deploymnt")),
        ("null where the API wants an object", _with(DEPLOYMENT, "spec.template", None)),
    ],
)
def test_rejects(label: str, manifest: dict[str, Any]) -> None:
    assert label in kubeconform.check([(label, manifest)])


def test_one_process_reports_each_bad_manifest_by_label() -> None:
    batch = [("good", DEPLOYMENT), ("bad", _with(STREAM, "spec.x", 1)), ("good2", STREAM)]
    assert set(kubeconform.check(batch)) == {"bad"}


def test_namespaced_and_cluster_scoped_provider_sql_kinds_have_their_own_schemas() -> None:
    # kubeconform's default layout keeps only the group's first label, so these two would
    # share one file; ours keeps the whole group.
    _, schemas = kubeconform.require()
    namespaced = schemas / "postgresql.sql.m.crossplane.io" / "database-v1alpha1.json"
    cluster_scoped = schemas / "postgresql.sql.crossplane.io" / "database-v1alpha1.json"
    assert namespaced.read_text() != cluster_scoped.read_text()


@pytest.mark.parametrize(
    ("node", "want"),
    [
        ({"properties": {"a": {}}}, {"properties": {"a": {}}, "additionalProperties": False}),
        (
            {"properties": {}, "x-kubernetes-preserve-unknown-fields": True},
            {"properties": {}, "x-kubernetes-preserve-unknown-fields": True},
        ),
        ({"type": "string", "nullable": True}, {"type": ["string", "null"]}),
        (
            {"x-kubernetes-int-or-string": True},
            {
                "x-kubernetes-int-or-string": True,
                "anyOf": [{"type": "integer"}, {"type": "string"}],
            },
        ),
        ({"$ref": "#/components/schemas/A"}, {"$ref": "#/definitions/A"}),
    ],
)
def test_strict_conversion(node: dict[str, Any], want: dict[str, Any]) -> None:
    assert kubeconform_schemas._strict(node) == want


def test_strings_reach_kubeconform_as_strings() -> None:
    # PyYAML's dumper writes the string "1e-05" plain, and go-yaml reads that as a number:
    # the check must not report its own serialization (found by the fuzz test).
    env = [{"name": "T", "value": v} for v in ("1e-05", "0x1F", "1_000", "true", "y", "~")]
    manifest = _with(DEPLOYMENT, "spec.template.spec.containers.0.env", env)
    assert kubeconform.check([("strings", manifest)]) == {}
