"""Offline validation of manifests: XAgents against the spec model and XRD schema, core kinds
against the Kubernetes JSON schemas (kubernetes-validate), composed CRD kinds against the
CRDs vendored in function/schemas/crds/.

Every problem is one line naming the document and the field path.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from kubernetes_validate import utils as k8s_schemas
from pydantic import ValidationError
from referencing import Registry, Resource

from function.errors import format_path, messages
from function.observed import CROSSPLANE_SPEC_FIELDS, xr_spec
from function.schema import CLAIM_KIND, GROUP, KIND, VERSION, xrd_v2
from function.spec import XAgentSpec

__all__ = [
    "CRD_DIR",
    "KUBERNETES_VERSION",
    "Report",
    "validate_documents",
    "validate_files",
    "validate_manifest",
]

CRD_DIR = Path(__file__).parent / "schemas" / "crds"
KUBERNETES_VERSION = "1.33.0"
"""The Kubernetes release whose core schemas manifests are checked against."""

_XAGENT_API = f"{GROUP}/{VERSION}"
# libyaml's parser when PyYAML has it: the pure-Python one takes minutes on a 30 MB file.
# Both build the same objects through the same SafeConstructor.
_SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass
class Report:
    """The outcome of validating documents: errors, and kinds no schema covers."""

    errors: list[str]
    skipped: list[str]


def validate_manifest(manifest: dict[str, Any]) -> list[str]:
    """Every schema violation of one manifest, as ``field.path: message`` lines.

    Raises:
        LookupError: No schema is known for the manifest's apiVersion and kind.
    """
    api_version, kind = manifest.get("apiVersion", ""), manifest.get("kind", "")
    if (api_version, kind) in {(_XAGENT_API, KIND), (_XAGENT_API, CLAIM_KIND)}:
        return _validate_xagent(manifest)
    crd_schema = _crd_schemas().get((api_version, kind))
    if crd_schema is not None:
        return _errors(_validator(crd_schema), manifest)
    return _validate_core(manifest)


def validate_documents(docs: Iterable[tuple[str, dict[str, Any]]]) -> Report:
    """Validate ``(label, manifest)`` pairs; the label prefixes every line."""
    report = Report(errors=[], skipped=[])
    for label, doc in docs:
        try:
            report.errors += [f"{label}: {line}" for line in validate_manifest(doc)]
        except LookupError as e:
            report.skipped.append(f"{label}: {e}")
    return report


def validate_files(paths: Iterable[Path]) -> Report:
    """Validate every YAML document in ``paths``.

    A path that cannot be read, is not YAML, holds no document, or holds a document that is
    not a Kubernetes object is an error naming the file, never a skip.
    """
    report = Report(errors=[], skipped=[])
    docs: list[tuple[str, dict[str, Any]]] = []
    for path in paths:
        found, problem = _documents(path)
        if problem:
            report.errors.append(f"{path}: {problem}")
        docs += found
    checked = validate_documents(docs)
    report.errors += checked.errors
    report.skipped += checked.skipped
    return report


def _documents(path: Path) -> tuple[list[tuple[str, dict[str, Any]]], str | None]:
    if path.is_dir():
        return [], "is a directory (name the files)"
    try:
        text = path.read_text()
    except FileNotFoundError:
        return [], "no such file"
    except (OSError, UnicodeDecodeError) as e:
        return [], f"cannot read: {e}"
    try:
        docs = [d for d in yaml.load_all(text, Loader=_SafeLoader) if d is not None]
    except yaml.YAMLError as e:
        return [], "not YAML: " + " ".join(str(e).split())
    except (ValueError, RecursionError) as e:
        return [], f"not YAML: {e or 'nested too deeply'}"
    if not docs:
        return [], "no YAML document"
    out = []
    for i, doc in enumerate(docs):
        if not isinstance(doc, dict):
            return [], f"document {i} is a {_kind_of(doc)}, not a Kubernetes object"
        if not doc.get("apiVersion") or not doc.get("kind"):
            return [], f"document {i} has no apiVersion and kind"
        metadata = doc.get("metadata")
        name = metadata.get("name", "?") if isinstance(metadata, dict) else "?"
        out.append((f"{path}#{i} {doc.get('kind', '?')}/{name}", doc))
    return out, None


def _kind_of(value: Any) -> str:
    return {list: "list", str: "string"}.get(type(value), type(value).__name__)


# --- XAgent ---------------------------------------------------------------------------------


def _validate_xagent(manifest: dict[str, Any]) -> list[str]:
    # The XRD schema catches what the API server would reject; the model adds the
    # cross-field rules that the XRD expresses in CEL, which jsonschema cannot run.
    errors = _errors(_validator(_xagent_schema()), manifest)
    if errors:
        return errors
    try:
        XAgentSpec.model_validate(xr_spec(manifest))
    except ValidationError as e:
        return messages(e, "spec")
    return []


@functools.cache
def _xagent_schema() -> dict[str, Any]:
    schema = xrd_v2()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    schema = _with_object_root(_json_schema(schema))
    # Crossplane adds these to the CRD of every XR: its machinery in the spec (under
    # spec.crossplane for v2, beside the XRD's fields for legacy XRs) and conditions in the
    # status. The XRD does not declare them.
    spec_props = schema["properties"]["spec"]["properties"]
    for name in CROSSPLANE_SPEC_FIELDS:
        spec_props[name] = {"type": "array" if name.endswith("Refs") else "object"}
    status_props = schema["properties"]["status"]["properties"]
    status_props["conditions"] = {
        "type": "array",
        "items": {"type": "object", "required": ["type", "status"]},
    }
    status_props["claimConditionTypes"] = {"type": "array", "items": {"type": "string"}}
    status_props["connectionDetails"] = {"type": "object"}
    return schema


def _with_object_root(schema: dict[str, Any]) -> dict[str, Any]:
    """Every Kubernetes object may carry apiVersion, kind and metadata, declared or not.

    A CRD's schema leaves metadata to the API server, which checks it as ObjectMeta: the
    fields a manifest names most (name, namespace, labels, annotations) are typed here.
    """
    props = schema.setdefault("properties", {})
    props.setdefault("apiVersion", {"type": "string"})
    props.setdefault("kind", {"type": "string"})
    meta = props.setdefault("metadata", {"type": "object"})
    meta_props = meta.setdefault("properties", {})
    for field in ("name", "namespace", "generateName"):
        meta_props.setdefault(field, {"type": "string"})
    for field in ("labels", "annotations"):
        meta_props.setdefault(field, {"type": "object", "additionalProperties": {"type": "string"}})
    return schema


# --- CRD kinds ------------------------------------------------------------------------------


@functools.cache
def _crd_schemas() -> dict[tuple[str, str], dict[str, Any]]:
    out = {}
    for path in sorted(CRD_DIR.rglob("*.y*ml")):
        for crd in yaml.safe_load_all(path.read_text()):
            if not crd or crd.get("kind") != "CustomResourceDefinition":
                continue
            group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
            for version in crd["spec"]["versions"]:
                if version.get("served", True):
                    schema = version["schema"]["openAPIV3Schema"]
                    out[(f"{group}/{version['name']}", kind)] = _with_object_root(
                        _json_schema(schema)
                    )
    return out


def _json_schema(node: Any) -> Any:
    """OpenAPI v3 (structural, with x-kubernetes extensions) -> JSON Schema 2020-12.

    Unknown fields are errors here, though the API server would prune them silently:
    a typo in a composed manifest is a bug we want to see.
    """
    if isinstance(node, list):
        return [_json_schema(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {
        k: _json_schema(v)
        for k, v in node.items()
        if not k.startswith("x-kubernetes-") and k not in ("nullable", "default", "properties")
    }
    if "properties" in node:
        # Property names are data, not keywords: a field called "default" stays.
        out["properties"] = {k: _json_schema(v) for k, v in node["properties"].items()}
    if node.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if node.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
        if "enum" in out:
            out["enum"] = [*out["enum"], None]
    for bound in ("Minimum", "Maximum"):
        if out.get(f"exclusive{bound}") is True:
            out[f"exclusive{bound}"] = out.pop(bound.lower())
        elif out.get(f"exclusive{bound}") is False:
            del out[f"exclusive{bound}"]
    if (
        "properties" in out
        and "additionalProperties" not in out
        and not node.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


# --- core kinds -----------------------------------------------------------------------------


def _validate_core(manifest: dict[str, Any]) -> list[str]:
    api_version, kind = manifest.get("apiVersion", ""), manifest.get("kind", "")
    if not api_version or not kind:
        raise LookupError("no apiVersion/kind")
    validator = _core_validator(api_version, kind)
    return _errors(validator, manifest)


@functools.cache
def _core_validator(api_version: str, kind: str) -> jsonschema.protocols.Validator:
    version = KUBERNETES_VERSION.rsplit(".", 1)[0] + ".0"
    schema_dir = f"kubernetes-json-schema/v{version}-local-strict"
    group_version = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    try:
        schema = k8s_schemas.schema_contents(
            f"{schema_dir}/{kind.lower()}-{group_version}.json", version
        )
    except FileNotFoundError as e:
        raise LookupError(f"no schema for {api_version} {kind}") from e
    definitions = k8s_schemas.schema_contents(f"{schema_dir}/_definitions.json", version)
    registry = Resource.from_contents(definitions) @ (Resource.from_contents(schema) @ Registry())
    return jsonschema.Draft202012Validator(schema, registry=registry)


# --- shared ---------------------------------------------------------------------------------


def _validator(schema: dict[str, Any]) -> jsonschema.protocols.Validator:
    return jsonschema.Draft202012Validator(schema)


def _errors(validator: jsonschema.protocols.Validator, manifest: dict[str, Any]) -> list[str]:
    found = sorted(validator.iter_errors(manifest), key=lambda e: list(map(str, e.absolute_path)))
    return [f"{format_path('', list(e.absolute_path)) or '<root>'}: {_short(e)}" for e in found]


def _short(error: jsonschema.ValidationError) -> str:
    if error.validator == "additionalProperties":
        return error.message.replace("Additional properties are not allowed", "unknown field")
    text = error.message
    return text if len(text) <= 200 else text[:197] + "..."
