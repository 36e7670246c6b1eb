"""Turns the pydantic models into structural OpenAPI schemas, XRDs and the input CRD.

Kubernetes wants a *structural* schema: no $ref, no anyOf-with-null, no
``additionalProperties: false``, OpenAPI 3.0 exclusive bounds, and free-form maps marked
``x-kubernetes-preserve-unknown-fields``. Every such conversion lives here, in one place.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from contract.providers import PROVIDERS, Need
from function.input import INPUT_GROUP, INPUT_KIND, INPUT_VERSION, FunctionInput
from function.spec import XAgentSpec, XAgentStatus

__all__ = [
    "GROUP",
    "KIND",
    "VERSION",
    "generated_files",
    "input_crd",
    "structural_schema",
    "write_all",
    "xrd_legacy",
    "xrd_v2",
]

GROUP = "xagent.dev"
VERSION = "v1alpha1"
KIND = "XAgent"
PLURAL = "xagents"
CLAIM_KIND = "Agent"
CLAIM_PLURAL = "agents"
COMPOSITION_NAME = "xagent"

_DROP_KEYS = {"title", "additionalProperties", "$defs", "examples", "discriminator"}


def _provider_rules() -> list[dict[str, str]]:
    """One CEL rule per setting some provider requires, from the provider table."""
    out = []
    for field in ("endpoint", "apiVersion", "region"):
        ids = [p.id for p in PROVIDERS if p.needs()[field] == Need.REQUIRED]
        if ids:
            listed = ", ".join(f"'{i}'" for i in ids)
            out.append(
                {
                    "rule": f"!(self.provider in [{listed}]) || has(self.{field})",
                    "message": f"this provider needs {field}",
                }
            )
    return out


_CEL_RULES: dict[str, list[dict[str, str]]] = {
    # pydantic validators cannot be expressed in JSON Schema; these CEL rules say the same
    # thing, so the API server rejects what the function would reject.
    "XAgentSpec": [
        {
            "rule": "!(has(self.definition) && has(self.definitionRef))",
            "message": "set at most one of definition or definitionRef",
        },
        {
            "rule": "has(self.task) == (has(self.mode) && self.mode == 'task')",
            "message": "task: set task exactly when mode is task",
        },
        {
            "rule": "!has(self.mode) || self.mode != 'task' || !has(self.triggers) "
            "|| ((!has(self.triggers.schedules) || size(self.triggers.schedules) == 0) "
            "&& (!has(self.triggers.subjects) || size(self.triggers.subjects) == 0))",
            "message": "triggers: not with mode task (nothing reads the queue)",
        },
        {
            "rule": "!has(self.mode) || self.mode != 'task' || !has(self.approvals)",
            "message": "approvals: not with mode task (a task serves no API to decide on)",
        },
    ],
    "Credentials": [
        {
            "rule": "has(self.secretRef) != has(self.remoteRef)",
            "message": "set exactly one of secretRef or remoteRef",
        },
    ],
    "ModelSpec": _provider_rules(),
    "EnvVar": [
        {
            # core/v1: valueFrom "may not be specified when `value` is not empty".
            "rule": "!has(self.valueFrom) || !has(self.value) || self.value == ''",
            "message": "set value or valueFrom, not both",
        },
    ],
    "EnvFromSource": [
        {
            "rule": "has(self.configMapRef) != has(self.secretRef)",
            "message": "set exactly one of configMapRef or secretRef",
        },
    ],
    "ScalingSpec": [
        {
            "rule": "!has(self.minReplicas) || !has(self.maxReplicas) "
            "|| self.minReplicas <= self.maxReplicas",
            "message": "minReplicas must not exceed maxReplicas",
        },
    ],
    "DatabaseSpec": [
        {
            "rule": "!has(self.engine) || self.engine != 'external' || has(self.external)",
            "message": "engine external needs external.secretName",
        },
    ],
    "CacheSpec": [
        {
            "rule": "!has(self.engine) || self.engine != 'external' || has(self.external)",
            "message": "engine external needs external.secretName",
        },
    ],
}


def structural_schema(model: type[BaseModel]) -> dict[str, Any]:
    """Return the structural OpenAPI v3 schema of ``model`` (camelCase field names)."""
    raw = model.model_json_schema(by_alias=True, mode="validation")
    defs = raw.get("$defs", {})
    return _convert(raw, defs, model.__name__)


def _convert(node: Any, defs: dict[str, Any], name: str | None = None) -> Any:
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        ref = node["$ref"].split("/")[-1]
        merged = {**copy.deepcopy(defs[ref]), **{k: v for k, v in node.items() if k != "$ref"}}
        return _convert(merged, defs, ref)
    if "anyOf" in node:
        options = [o for o in node["anyOf"] if o.get("type") != "null"]
        if len(options) != 1:
            raise ValueError(f"{name}: unions other than Optional cannot be structural")
        rest = {k: v for k, v in node.items() if k != "anyOf"}
        if rest.get("default", ...) is None:
            del rest["default"]
        return _convert({**options[0], **rest}, defs, name)

    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROP_KEYS:
            continue
        if key == "properties":
            out[key] = {k: _convert(v, defs) for k, v in value.items()}
        elif key == "items":
            out[key] = _convert(value, defs)
        elif key == "const":
            out["enum"] = [value]
        elif key in ("exclusiveMinimum", "exclusiveMaximum"):
            out[key.replace("exclusiveM", "m")] = value
            out[key] = True
        else:
            out[key] = copy.deepcopy(value)
    if out.get("type") == "object" and "properties" not in out:
        extra = node.get("additionalProperties")
        if isinstance(extra, dict) and extra.get("type") == "string":
            out["additionalProperties"] = {"type": "string"}
        else:
            out["x-kubernetes-preserve-unknown-fields"] = True
    if name in _CEL_RULES and "properties" in out:
        out["x-kubernetes-validations"] = _CEL_RULES[name]
    _tidy_default(out)
    return out


def _tidy_default(schema: dict[str, Any]) -> None:
    """Shrink a default to what nested defaults do not already say; drop empty lists."""
    if "default" not in schema:
        return
    default = schema["default"]
    if default == [] or default is None:
        del schema["default"]
    elif isinstance(default, dict) and "properties" in schema:
        props = schema["properties"]
        schema["default"] = {
            k: v
            for k, v in default.items()
            if v is not None
            and v != []
            and props.get(k, {}).get("default", ...) != v
            and not (isinstance(v, dict) and "default" in props.get(k, {}))
        }


def _openapi(spec_schema: dict[str, Any], status_schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "description": "XAgent is an AI agent: its LangGraph definition, model, tools, risk tier "
        "and the database, cache, queue and autoscaling it runs with.",
        "properties": {"spec": spec_schema, "status": status_schema},
        "required": ["spec"],
    }


_PRINTER_COLUMNS = [
    {"name": "TENANT", "type": "string", "jsonPath": ".spec.tenantId"},
    {"name": "MODEL", "type": "string", "jsonPath": ".status.resolvedModel"},
    {"name": "PHASE", "type": "string", "jsonPath": ".status.phase"},
    {
        "name": "READY",
        "type": "string",
        "jsonPath": ".status.conditions[?(@.type=='Ready')].status",
    },
    {"name": "AGE", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
]


def _version(schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": VERSION,
        "served": True,
        "referenceable": True,
        "additionalPrinterColumns": _PRINTER_COLUMNS,
        "schema": {"openAPIV3Schema": schema},
    }


def _schema() -> dict[str, Any]:
    status = structural_schema(XAgentStatus)
    status.pop("x-kubernetes-preserve-unknown-fields", None)
    return _openapi(structural_schema(XAgentSpec), status)


def xrd_v2() -> dict[str, Any]:
    """The Crossplane v2 XRD: a namespaced XAgent, no claims."""
    return {
        "apiVersion": "apiextensions.crossplane.io/v2",
        "kind": "CompositeResourceDefinition",
        "metadata": {"name": f"{PLURAL}.{GROUP}"},
        "spec": {
            "scope": "Namespaced",
            "group": GROUP,
            "names": {"kind": KIND, "plural": PLURAL, "categories": ["crossplane", "xagent"]},
            "defaultCompositionRef": {"name": COMPOSITION_NAME},
            "versions": [_version(_schema())],
        },
    }


def xrd_legacy() -> dict[str, Any]:
    """The Crossplane 1.x-style XRD: a cluster-scoped XAgent offering the claim ``Agent``."""
    return {
        "apiVersion": "apiextensions.crossplane.io/v1",
        "kind": "CompositeResourceDefinition",
        "metadata": {"name": f"{PLURAL}.{GROUP}"},
        "spec": {
            "group": GROUP,
            "names": {"kind": KIND, "plural": PLURAL, "categories": ["crossplane", "xagent"]},
            "claimNames": {"kind": CLAIM_KIND, "plural": CLAIM_PLURAL},
            "defaultCompositionRef": {"name": COMPOSITION_NAME},
            "versions": [_version(_schema())],
        },
    }


def input_crd() -> dict[str, Any]:
    """The CRD of the function's Input kind, for package/input/."""
    schema = structural_schema(FunctionInput)
    schema["description"] = FunctionInput.__doc__
    plural = INPUT_KIND.lower() + "s"
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{INPUT_GROUP}"},
        "spec": {
            "group": INPUT_GROUP,
            "names": {
                "kind": INPUT_KIND,
                "listKind": f"{INPUT_KIND}List",
                "plural": plural,
                "singular": INPUT_KIND.lower(),
                "categories": ["crossplane"],
            },
            "scope": "Namespaced",
            "versions": [
                {
                    "name": INPUT_VERSION,
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": schema},
                }
            ],
        },
    }


_HEADER = "# Generated by `xagent xrd` from function/spec.py. Do not edit by hand.\n"


def generated_files() -> dict[str, str]:
    """Every generated artifact: repository-relative path -> YAML text."""
    docs = {
        "xrds/xagent.yaml": xrd_v2(),
        "xrds/legacy/xagent.yaml": xrd_legacy(),
        f"package/function/input/{INPUT_GROUP}_{INPUT_KIND.lower()}s.yaml": input_crd(),
    }
    return {
        path: _HEADER + yaml.safe_dump(doc, sort_keys=False, width=100)
        for path, doc in docs.items()
    }


def write_all(root: Path) -> list[Path]:
    """Write every generated artifact under ``root``; return the paths written."""
    written = []
    for rel, text in generated_files().items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        written.append(path)
    return written


# --- API reference ------------------------------------------------------------------------

README = "README.md"
REFERENCE_START = "<!-- api-reference:start (generated by `xagent xrd`) -->"
REFERENCE_END = "<!-- api-reference:end -->"


def api_reference() -> str:
    """A Markdown table of every spec field: path, type, default, constraints, description."""
    rows = ["| field | type | default | description |", "| --- | --- | --- | --- |"]
    for path, node, required in walk_fields(structural_schema(XAgentSpec), "spec"):
        rows.append(
            "| `{}`{} | {} | {} | {} |".format(
                path,
                " (required)" if required else "",
                _type_of(node),
                _cell(node.get("default")),
                _describe(node),
            )
        )
    return "\n".join(rows) + "\n"


def walk_fields(node: dict[str, Any], path: str, required: bool = False):
    """Yield (path, schema, required) of a schema node and every property below it."""
    yield path, node, required
    props = node.get("properties") or (node.get("items") or {}).get("properties") or {}
    suffix = "[]" if node.get("type") == "array" else ""
    needed = set(node.get("required") or (node.get("items") or {}).get("required") or [])
    for name, child in props.items():
        yield from walk_fields(child, f"{path}{suffix}.{name}", name in needed)


def _type_of(node: dict[str, Any]) -> str:
    if "enum" in node:
        return " \\| ".join(f"`{v}`" for v in node["enum"])
    kind = node.get("type", "any")
    if kind == "array":
        return f"array of {(node.get('items') or {}).get('type', 'any')}"
    return kind


def _describe(node: dict[str, Any]) -> str:
    text = (node.get("description") or "").replace("\n", " ")
    limits = [
        f"{k} {node[k]}"
        for k in ("minimum", "maximum", "minLength", "maxLength", "minItems", "maxItems")
        if k in node
    ]
    if "pattern" in node:
        limits.append(f"pattern `{node['pattern']}`")
    return _cell_text(text + (f" ({', '.join(limits)})" if limits else ""))


def _cell(value: Any) -> str:
    if value is None:
        return ""
    return (
        "`"
        + yaml.safe_dump(value, default_flow_style=True).strip().removesuffix("...").strip()
        + "`"
    )


def _cell_text(text: str) -> str:
    return text.replace("|", "\\|")


def readme_with_reference(readme: str) -> str:
    """``readme`` with the tables between the reference and provider markers regenerated."""
    readme = _between(readme, REFERENCE_START, REFERENCE_END, api_reference())
    return _between(readme, PROVIDERS_START, PROVIDERS_END, provider_table())


PROVIDERS_START = "<!-- providers:start (generated by `xagent xrd`) -->"
PROVIDERS_END = "<!-- providers:end -->"


def provider_table() -> str:
    """A Markdown table of the provider table (contract.providers), one row per provider."""

    def need(value: Need) -> str:
        return "" if value == Need.UNUSED else value.value

    rows = [
        "| provider | chat model (package) | key variable | key | secret | endpoint | "
        "apiVersion | region | notes |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for p in PROVIDERS:
        endpoint = need(p.endpoint)
        if p.default_endpoint:
            endpoint += f" (`{p.default_endpoint}`)"
        cls = p.chat_model.partition(":")[2]
        rows.append(
            f"| `{p.id}` | `{cls}` ({p.package}) | `{p.key_env}` | {p.key.value} | "
            f"{'yes' if p.needs_secret else 'only with credentials'} | {endpoint} | "
            f"{need(p.api_version)} | {need(p.region)} | {_cell_text(p.note)} |"
        )
    return "\n".join(rows) + "\n"


def _between(text: str, start_marker: str, end_marker: str, body: str) -> str:
    start, end = text.find(start_marker), text.find(end_marker)
    if start < 0 or end < start:
        raise ValueError(f"{README}: markers {start_marker!r} ... {end_marker!r} are missing")
    return text[: start + len(start_marker)] + "\n\n" + body + "\n" + text[end:]
