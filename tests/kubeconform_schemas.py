"""kubeconform's JSON schemas, generated offline: there is no internet for its default location.

Two sources, both pinned:

* the Kubernetes OpenAPI v3 documents of the version scripts/build-tools.sh pins
  (``api/openapi-spec/v3`` of ``k8s.io/kubernetes``, which the build copies beside the
  kubeconform binary as ``kubernetes-openapi-<version>/``);
* the CRDs vendored in function/schemas/crds/ (every served version).

Each kind becomes one standalone strict file, as openapi2jsonschema writes them: the kind's
schema at the root with every definition it reaches under ``definitions`` (refs rewritten to
``#/definitions/...``, so recursive types stay finite), ``additionalProperties: false`` on
every object that lists properties and does not preserve unknown fields (what the API
server's strict field validation does), ``nullable`` as a ``"null"`` type, ``apiVersion`` and
``kind`` as one-value enums. A CRD's ``metadata`` (left open by every CRD) is Kubernetes'
strict ObjectMeta.

Layout: ``OUT/<group>/<kind>-<version>.json`` (core kinds under ``v1/``), matched by
:data:`LOCATION`. kubeconform's usual ``{{.ResourceKind}}{{.KindSuffix}}`` names keep only
the group's first label, so provider-sql's cluster-scoped and namespaced ``Database``
(``postgresql.sql.crossplane.io`` and ``postgresql.sql.m.crossplane.io``) would share a file.

    python -m tests.kubeconform_schemas OPENAPI_DIR OUT_DIR
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
CRD_DIR = ROOT / "function" / "schemas" / "crds"
LOCATION = "{{ .Group }}/{{ .ResourceKind }}-{{ .ResourceAPIVersion }}.json"
"""kubeconform's -schema-location template, relative to the output directory."""
_OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
_COMPONENTS = "#/components/schemas/"
_DEFINITIONS = "#/definitions/"


def generate(openapi_dir: Path, out: Path) -> int:
    """Write every kind's schema under ``out``; the number of files written."""
    definitions = _kubernetes_definitions(openapi_dir)
    written: dict[Path, str] = {}
    for (group, version, kind), name in sorted(_kinds(definitions).items()):
        root = copy.deepcopy(definitions[name])
        root.pop("x-kubernetes-group-version-kind", None)
        _write(out, written, group or "v1", version, kind, root, definitions, source=name)
    for path in sorted(CRD_DIR.rglob("*.y*ml")):
        for crd in yaml.safe_load_all(path.read_text()):
            if not crd or crd.get("kind") != "CustomResourceDefinition":
                continue
            group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
            for served in crd["spec"]["versions"]:
                if not served.get("served", True):
                    continue
                root = copy.deepcopy(served["schema"]["openAPIV3Schema"])
                root.setdefault("properties", {})["metadata"] = {"$ref": _COMPONENTS + _OBJECT_META}
                source = str(path.relative_to(ROOT))
                _write(out, written, group, served["name"], kind, root, definitions, source)
    return len(written)


def cached(openapi_dir: Path, cache_root: Path) -> Path:
    """The generated directory for these inputs, generating it once into ``cache_root``.

    The key hashes this file and every input, so a new pin or a changed CRD regenerates.
    """
    digest = hashlib.sha256(Path(__file__).read_bytes())
    for path in sorted([*openapi_dir.glob("*.json"), *CRD_DIR.rglob("*.y*ml")]):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    target = cache_root / digest.hexdigest()[:16]
    if (target / ".complete").exists():
        return target
    cache_root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=cache_root))
    try:
        generate(openapi_dir, staging)
        (staging / ".complete").touch()
        try:
            staging.rename(target)
        except OSError:  # a concurrent run got there first; its output is the same
            if not (target / ".complete").exists():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


# --- Kubernetes ----------------------------------------------------------------------------


def _kubernetes_definitions(openapi_dir: Path) -> dict[str, Any]:
    documents = sorted(openapi_dir.glob("*_openapi.json"))
    if not documents:
        raise FileNotFoundError(f"no *_openapi.json in {openapi_dir}")
    merged: dict[str, Any] = {}
    for document in documents:
        # The same name means the same Go type in every document.
        merged.update(json.loads(document.read_text()).get("components", {}).get("schemas", {}))
    return merged


def _kinds(definitions: dict[str, Any]) -> dict[tuple[str, str, str], str]:
    """(group, version, kind) -> definition name, for each type the API serves as a kind.

    A shared type (DeleteOptions, WatchEvent) lists a GVK per group; the definition whose own
    package matches wins over those shared ones.
    """
    kinds: dict[tuple[str, str, str], str] = {}
    for name, schema in definitions.items():
        for gvk in schema.get("x-kubernetes-group-version-kind") or []:
            key = (gvk["group"], gvk["version"], gvk["kind"])
            if key not in kinds or f".{gvk['version']}.{gvk['kind']}" in name:
                kinds[key] = name
    return kinds


# --- conversion ----------------------------------------------------------------------------


def _write(
    out: Path,
    written: dict[Path, str],
    group: str,
    version: str,
    kind: str,
    root: dict[str, Any],
    definitions: dict[str, Any],
    source: str,
) -> None:
    path = out / group / f"{kind.lower()}-{version}.json"
    if path in written:
        raise ValueError(f"{path.relative_to(out)}: from both {written[path]} and {source}")
    written[path] = source
    api_version = f"{group}/{version}" if group != "v1" else "v1"
    props = root.setdefault("properties", {})
    props["apiVersion"] = {"type": "string", "enum": [api_version]}
    props["kind"] = {"type": "string", "enum": [kind]}
    root["required"] = sorted({*root.get("required", []), "apiVersion", "kind"})
    reached = {name: definitions[name] for name in _reachable(root, definitions)}
    schema = _strict(root)
    if reached:
        schema["definitions"] = {name: _strict(s) for name, s in sorted(reached.items())}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(schema, indent=1, sort_keys=True))


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(_COMPONENTS):
            yield ref.removeprefix(_COMPONENTS)
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def _reachable(root: dict[str, Any], definitions: dict[str, Any]) -> set[str]:
    seen: set[str] = set()
    todo = list(_refs(root))
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(_refs(definitions[name]))
    return seen


def _strict(node: Any) -> Any:
    """A JSON-schema (draft 4, kubeconform's default) copy of one OpenAPI v3 schema node."""
    if isinstance(node, list):
        return [_strict(v) for v in node]
    if not isinstance(node, dict):
        return node
    new = {k: _strict(v) for k, v in node.items() if k != "nullable"}
    ref = new.get("$ref")
    if isinstance(ref, str) and ref.startswith(_COMPONENTS):
        new["$ref"] = _DEFINITIONS + ref.removeprefix(_COMPONENTS)
    if node.get("nullable") is True and isinstance(new.get("type"), str):
        new["type"] = [new["type"], "null"]
    if node.get("x-kubernetes-int-or-string") and not ({"anyOf", "oneOf"} & new.keys()):
        new["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    open_object = node.get("x-kubernetes-preserve-unknown-fields") is True
    if "properties" in node and "additionalProperties" not in node and not open_object:
        new["additionalProperties"] = False
    return new


def main(argv: list[str]) -> int:
    """``python -m tests.kubeconform_schemas OPENAPI_DIR OUT_DIR``."""
    if len(argv) != 2:
        print(__doc__.rsplit("\n\n", 1)[-1].strip(), file=sys.stderr)
        return 2
    count = generate(Path(argv[0]), Path(argv[1]))
    print(f"{count} schemas in {argv[1]} (-schema-location '{os.path.join(argv[1], LOCATION)}')")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
