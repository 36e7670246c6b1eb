"""Validate a rendered manifest against the schema Kubernetes would check it with.

``validate_manifest(manifest)`` returns every problem as ``path: message`` (empty when
valid), dispatching on apiVersion and kind:

* built-in kinds: the strict JSON schemas kubernetes-validate ships (unknown fields are
  errors), for K8S_VERSION;
* custom kinds: the ``openAPIV3Schema`` of the CRD serving that group and version, found
  in CRD_DIRS, converted to JSON Schema by :func:`crd_json_schema`, with ``metadata``
  checked as an ObjectMeta;
* every kind: name, namespace and label syntax, which neither schema checks.

CRD_DIRS: the repo's vendored ``schemas/crds/`` first, then ``$XAGENT_SHARED_DIR/crds``,
then ``../shared/crds`` beside the repo.
"""

from __future__ import annotations

import copy
import functools
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from kubernetes_validate import utils as kv
from referencing import Registry, Resource

__all__ = [
    "CRD_DIRS",
    "K8S_VERSION",
    "assert_valid",
    "crd_json_schema",
    "crd_schemas",
    "validate_desired",
    "validate_manifest",
]

K8S_VERSION = "1.33.0"
"""The oldest Kubernetes the composed manifests must be valid for."""

_REPO = Path(__file__).resolve().parents[2]


def _crd_dirs() -> tuple[Path, ...]:
    dirs = [_REPO / "schemas" / "crds"]
    if shared := os.environ.get("XAGENT_SHARED_DIR"):
        dirs.append(Path(shared) / "crds")
    dirs.append(_REPO.parent / "shared" / "crds")
    return tuple(d for d in dirs if d.is_dir())


CRD_DIRS = _crd_dirs()

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS_1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL_NAME = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")
_DNS_1035_KINDS = {("v1", "Service")}
"""Kinds whose names must be DNS-1035 labels (start with a letter, at most 63)."""


def validate_manifest(manifest: dict[str, Any]) -> list[str]:
    """Every reason ``manifest`` would be rejected, as ``path: message``; empty when valid."""
    api_version, kind = manifest.get("apiVersion"), manifest.get("kind")
    if not api_version or not kind:
        return ["apiVersion and kind are required"]
    errors = list(_metadata_errors(manifest))
    crd = crd_schemas().get((api_version, kind))
    if crd is not None:
        errors += _errors(jsonschema.Draft4Validator(crd), manifest)
        errors += _errors(_object_meta_validator(), manifest.get("metadata", {}), "metadata")
        return errors
    try:
        validator = _core_validator(api_version, kind)
    except kv.SchemaNotFoundError:
        return [*errors, f"no schema for {api_version} {kind} (core or in {CRD_DIRS})"]
    return errors + _errors(validator, manifest)


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
    return desired


# --- CRDs ----------------------------------------------------------------------------------


@functools.cache
def crd_schemas() -> dict[tuple[str, str], dict[str, Any]]:
    """(apiVersion, kind) -> JSON Schema, for every served version of every CRD found.

    A directory earlier in CRD_DIRS wins over a later one for the same group and version.
    """
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for directory in reversed(CRD_DIRS):
        for path in sorted([*directory.rglob("*.yaml"), *directory.rglob("*.yml")]):
            for doc in _load_all(path):
                if doc.get("kind") != "CustomResourceDefinition":
                    continue
                group, kind = doc["spec"]["group"], doc["spec"]["names"]["kind"]
                for version in doc["spec"]["versions"]:
                    schema = version.get("schema", {}).get("openAPIV3Schema")
                    if version.get("served", True) and schema is not None:
                        out[(f"{group}/{version['name']}", kind)] = _with_root_fields(
                            crd_json_schema(schema)
                        )
    return out


def crd_json_schema(openapi: dict[str, Any]) -> dict[str, Any]:
    """A CRD's OpenAPI v3 schema as a Draft 4 JSON Schema that rejects unknown fields.

    * ``nullable: true`` -> the type also admits null;
    * ``x-kubernetes-int-or-string`` -> integer or string;
    * ``x-kubernetes-preserve-unknown-fields`` and ``x-kubernetes-embedded-resource`` keep
      unknown fields; every other object with ``properties`` gets
      ``additionalProperties: false``: the API server would silently prune such a field,
      which in a rendered manifest is always a typo;
    * CEL rules (``x-kubernetes-validations``) are not evaluated.
    """
    return _convert(copy.deepcopy(openapi))


def _with_root_fields(schema: dict[str, Any]) -> dict[str, Any]:
    # The API server accepts apiVersion, kind and metadata on every object, whether or not
    # the CRD's schema lists them (NACK's do not).
    root = {
        "apiVersion": {"type": "string"},
        "kind": {"type": "string"},
        "metadata": {"type": "object"},
    }
    schema["properties"] = {**root, **schema.get("properties", {})}
    return schema


def _convert(node: Any) -> Any:
    if isinstance(node, list):
        return [_convert(item) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key.startswith("x-kubernetes-") or key in ("nullable", "description"):
            continue
        if key == "properties":  # a map of names to schemas, not a schema itself
            out[key] = {name: _convert(sub) for name, sub in value.items()}
        elif key in ("enum", "default", "example"):  # values, not schemas
            out[key] = value
        else:
            out[key] = _convert(value)
    if node.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out.setdefault("anyOf", [{"type": "integer"}, {"type": "string"}])
    if node.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
        if "enum" in out:
            out["enum"] = [*out["enum"], None]
    keeps_unknown = node.get("x-kubernetes-preserve-unknown-fields") or node.get(
        "x-kubernetes-embedded-resource"
    )
    if "properties" in node and "additionalProperties" not in node and not keeps_unknown:
        out["additionalProperties"] = False
    return out


def _load_all(path: Path) -> Iterator[dict[str, Any]]:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with path.open() as f:
        yield from (doc for doc in yaml.load_all(f, Loader=loader) if isinstance(doc, dict))


# --- core kinds ----------------------------------------------------------------------------


def _schema_dir() -> str:
    version = [
        v
        for v in kv.all_versions()
        if kv.Version(kv.major_minor(v)) <= kv.Version(kv.major_minor(K8S_VERSION))
    ][-1]
    return f"kubernetes-json-schema/v{version}-local-strict"


@functools.cache
def _registry() -> Registry:
    definitions = kv.schema_contents(f"{_schema_dir()}/_definitions.json", K8S_VERSION)
    return Resource.from_contents(definitions) @ Registry()


@functools.cache
def _core_validator(api_version: str, kind: str) -> jsonschema.Validator:
    # kubernetes-validate's own naming: rbac.authorization.k8s.io/v1 -> rbac-v1.
    group_version = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    try:
        schema = kv.schema_contents(
            f"{_schema_dir()}/{kind.lower()}-{group_version}.json", K8S_VERSION
        )
    except FileNotFoundError:
        raise kv.SchemaNotFoundError(
            kind=kind, version=K8S_VERSION, api_version=api_version
        ) from None
    return jsonschema.Draft202012Validator(schema, registry=_registry())


@functools.cache
def _object_meta_validator() -> jsonschema.Validator:
    ref = "https://kubernetes.io/api/_definitions.json#/$defs/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
    return jsonschema.Draft202012Validator({"$ref": ref}, registry=_registry())


# --- shared --------------------------------------------------------------------------------


def _errors(validator: jsonschema.Validator, instance: Any, prefix: str = "") -> list[str]:
    out = []
    for error in sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path)):
        path = ".".join(str(p) for p in (prefix, *error.absolute_path) if p != "")
        out.append(f"{path or '<root>'}: {error.message}")
    return out


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
    template_labels = (
        ((manifest.get("spec") or {}).get("template") or {}).get("metadata") or {}
    ).get("labels")
    if template_labels:
        yield from _label_errors(template_labels, "spec.template.metadata.labels")


def _label_errors(labels: dict[str, Any], where: str) -> Iterator[str]:
    for key, value in labels.items():
        prefix, _, name = key.rpartition("/")
        if (prefix and (len(prefix) > 253 or not _DNS_SUBDOMAIN.match(prefix))) or not (
            0 < len(name) <= 63 and _LABEL_NAME.match(name)
        ):
            yield f"{where}: invalid key {key!r}"
        if not isinstance(value, str) or len(value) > 63 or not _LABEL_NAME.match(value):
            yield f"{where}.{key}: invalid value {value!r}"
