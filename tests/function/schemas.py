"""Validate rendered manifests in tests: the function's own schema check, plus what it skips.

``validate_manifest(manifest)`` returns every problem as ``path: message`` (empty when
valid). The schema part is function.validate.validate_manifest (core kinds against the
strict kubernetes-validate schemas, composed CRD kinds against the CRDs vendored in
function/schemas/crds/, unknown fields being errors), so tests and ``xagent validate`` judge
a manifest the same way. On top of it, for tests only:

* ``metadata`` of CRD kinds is checked as an ObjectMeta (a CRD schema leaves it open);
* names, namespaces and labels are checked for syntax and length, which no JSON schema
  does: a 64-character label value passes every schema and is still rejected by the API.

``assert_valid`` also hands each manifest to tests/kubeconform.py's session batch: kubeconform
-strict, an independent validator, checks them all in one process when the run ends.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from typing import Any

import jsonschema
from kubernetes_validate import utils as kv
from referencing import Registry, Resource

from function import validate
from tests import kubeconform

__all__ = ["assert_valid", "validate_desired", "validate_manifest"]

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS_1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL_NAME = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")
_DNS_1035_KINDS = {("v1", "Service")}
"""Kinds whose names must be DNS-1035 labels (start with a letter, at most 63)."""
_OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"


def validate_manifest(manifest: dict[str, Any]) -> list[str]:
    """Every reason ``manifest`` would be rejected, as ``path: message``; empty when valid."""
    api_version, kind = manifest.get("apiVersion"), manifest.get("kind")
    if not api_version or not kind:
        return ["apiVersion and kind are required"]
    try:
        errors = validate.validate_manifest(manifest)
    except LookupError as e:
        return [str(e)]
    if not _is_core(api_version, kind):
        meta = manifest.get("metadata") or {}
        errors += _errors(_object_meta_validator(), meta, "metadata")
    return errors + list(_metadata_errors(manifest))


def validate_desired(desired: dict[str, dict[str, Any]]) -> dict[str, list[str]]:
    """Composition-resource key -> errors, for each manifest of ``desired`` that is invalid."""
    return {key: errs for key, manifest in desired.items() if (errs := validate_manifest(manifest))}


def assert_valid(desired: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """``desired`` itself, after failing with every error when any manifest is invalid."""
    invalid = validate_desired(desired)
    if invalid:
        raise AssertionError(
            "invalid manifests:\n"
            + "\n".join(f"  {key}: {err}" for key, errs in invalid.items() for err in errs)
        )
    kubeconform.record(desired.items())
    return desired


# --- ObjectMeta of CRD kinds ---------------------------------------------------------------


def _schema_dir() -> str:
    version = validate.KUBERNETES_VERSION.rsplit(".", 1)[0] + ".0"
    return f"kubernetes-json-schema/v{version}-local-strict"


@functools.cache
def _is_core(api_version: str, kind: str) -> bool:
    group_version = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    try:
        kv.schema_contents(f"{_schema_dir()}/{kind.lower()}-{group_version}.json", "")
    except FileNotFoundError:
        return False
    return True


@functools.cache
def _object_meta_validator() -> jsonschema.protocols.Validator:
    definitions = kv.schema_contents(f"{_schema_dir()}/_definitions.json", "")
    ref = f"{definitions['$id']}#/$defs/{_OBJECT_META}"
    registry = Resource.from_contents(definitions) @ Registry()
    return jsonschema.Draft202012Validator({"$ref": ref}, registry=registry)


def _errors(validator: jsonschema.protocols.Validator, instance: Any, prefix: str) -> list[str]:
    found = sorted(validator.iter_errors(instance), key=lambda e: list(map(str, e.absolute_path)))
    return [f"{'.'.join(map(str, [prefix, *e.absolute_path]))}: {e.message}" for e in found]


# --- names and labels ----------------------------------------------------------------------


def _metadata_errors(manifest: dict[str, Any]) -> Iterator[str]:
    meta = manifest.get("metadata") or {}
    name = meta.get("name", "")
    if (manifest["apiVersion"], manifest["kind"]) in _DNS_1035_KINDS:
        if len(name) > 63 or not _DNS_1035_LABEL.match(name):
            yield f"metadata.name: {name!r} is not a DNS-1035 label"
    elif len(name) > 253 or not _DNS_SUBDOMAIN.match(name):
        yield f"metadata.name: {name!r} is not a DNS subdomain"
    namespace = meta.get("namespace")
    if namespace is not None and (len(namespace) > 63 or not _DNS_LABEL.match(namespace)):
        yield f"metadata.namespace: {namespace!r} is not a DNS label"
    yield from _label_errors(meta.get("labels") or {}, "metadata.labels")
    template = ((manifest.get("spec") or {}).get("template") or {}).get("metadata") or {}
    yield from _label_errors(template.get("labels") or {}, "spec.template.metadata.labels")


def _label_errors(labels: dict[str, Any], where: str) -> Iterator[str]:
    for key, value in labels.items():
        prefix, _, name = key.rpartition("/")
        bad_prefix = bool(prefix) and (len(prefix) > 253 or not _DNS_SUBDOMAIN.match(prefix))
        if bad_prefix or not (0 < len(name) <= 63 and _LABEL_NAME.match(name)):
            yield f"{where}: invalid key {key!r}"
        if not isinstance(value, str) or len(value) > 63 or not _LABEL_NAME.match(value):
            yield f"{where}.{key}: invalid value {value!r}"
