"""`xagent render`: run the composition in-process and print what `crossplane render` prints.

It builds the RunFunctionRequest Crossplane would send (observed XR, observed composed
resources, the step's input, required resources), calls FunctionRunner directly, answers
its resource requirements the way Crossplane does (call again until they stabilise), and
prints the XR with its status and conditions, then each composed resource with the
metadata Crossplane adds, sorted by composition-resource name.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from crossplane.function import resource
from crossplane.function.proto.v1 import run_function_pb2 as fnv1
from google.protobuf import json_format

from function.fn import FunctionRunner
from function.schema import COMPOSITION_NAME

__all__ = [
    "COMPOSITION_RESOURCE_NAME",
    "DEFAULT_COMPOSITION",
    "FUNCTION_NAME",
    "RenderError",
    "RenderInputs",
    "render",
    "render_files",
]

FUNCTION_NAME = "function-xagent"
COMPOSITION_RESOURCE_NAME = "crossplane.io/composition-resource-name"
COMPOSITE_LABEL = "crossplane.io/composite"
CLAIM_NAME_LABEL = "crossplane.io/claim-name"
CLAIM_NAMESPACE_LABEL = "crossplane.io/claim-namespace"
CONDITION_TIME = "2024-01-01T00:00:00Z"
"""What `crossplane render` writes into every lastTransitionTime, for stable output."""

DEFAULT_COMPOSITION = (
    Path(__file__).resolve().parent.parent / "compositions" / (f"{COMPOSITION_NAME}.yaml")
)
_MAX_REQUIREMENT_ROUNDS = 5
_SEVERITY = {
    fnv1.SEVERITY_FATAL: "Fatal",
    fnv1.SEVERITY_WARNING: "Warning",
    fnv1.SEVERITY_NORMAL: "Normal",
}
_STATUS = {
    fnv1.STATUS_CONDITION_TRUE: "True",
    fnv1.STATUS_CONDITION_FALSE: "False",
    fnv1.STATUS_CONDITION_UNKNOWN: "Unknown",
}


class RenderError(Exception):
    """Rendering failed: unreadable input, or a Fatal result (its message names the field)."""


@dataclass
class RenderInputs:
    """Everything a render needs, already loaded."""

    xr: dict[str, Any]
    composition: dict[str, Any]
    function_input: dict[str, Any] | None = None
    observed: list[dict[str, Any]] = field(default_factory=list)
    required: list[dict[str, Any]] = field(default_factory=list)


def render_files(
    xr_file: Path,
    *,
    composition: Path | None = None,
    function_input: Path | None = None,
    observed: Path | None = None,
    required: Path | None = None,
    include_full_xr: bool = False,
) -> str:
    """Load the files and render; return the YAML stream."""
    docs = _load(xr_file)
    if len(docs) != 1:
        raise RenderError(f"{xr_file}: want exactly one XR document, found {len(docs)}")
    inputs = RenderInputs(
        xr=docs[0],
        composition=_single(composition or DEFAULT_COMPOSITION),
        function_input=_single(function_input) if function_input else None,
        observed=_load(observed) if observed else [],
        required=_load(required) if required else [],
    )
    return to_yaml(render(inputs, include_full_xr=include_full_xr))


def render(inputs: RenderInputs, *, include_full_xr: bool = False) -> list[dict[str, Any]]:
    """Render to a list of objects: the XR first, then composed resources."""
    step = _our_step(inputs.composition)
    fn_input = inputs.function_input or step.get("input") or {}
    observed = {_resource_name(o): o for o in inputs.observed}
    req = fnv1.RunFunctionRequest(meta=fnv1.RequestMeta(tag="xagent-render"))
    resource.update(req.observed.composite, inputs.xr)
    for key, obj in observed.items():
        resource.update(req.observed.resources[key], obj)
    if fn_input:
        req.input.CopyFrom(resource.dict_to_struct(fn_input))
    rsp = _run_until_stable(req, inputs.required)
    fatal = [r.message for r in rsp.results if r.severity == fnv1.SEVERITY_FATAL]
    if fatal:
        raise RenderError("; ".join(fatal))
    return [_xr_out(inputs.xr, rsp, include_full_xr), *_composed_out(inputs.xr, rsp)]


def _run_until_stable(
    req: fnv1.RunFunctionRequest, required: list[dict[str, Any]]
) -> fnv1.RunFunctionResponse:
    # Like Crossplane: call, fetch what the function requires, call again with it, until
    # the requirements stop changing.
    runner = FunctionRunner()
    previous = None
    for _ in range(_MAX_REQUIREMENT_ROUNDS):
        rsp = asyncio.run(runner.RunFunction(req))
        wanted = json_format.MessageToDict(rsp.requirements)
        if wanted == previous or not rsp.requirements.resources:
            return rsp
        previous = wanted
        for name, selector in rsp.requirements.resources.items():
            req.required_resources[name].Clear()
            for obj in _select(required, selector):
                resource.update(req.required_resources[name].items.add(), obj)
    raise RenderError("function requirements did not stabilise")


def _select(objects: Iterable[dict[str, Any]], sel: fnv1.ResourceSelector) -> list[dict]:
    out = []
    for obj in objects:
        meta = obj.get("metadata") or {}
        if obj.get("apiVersion") != sel.api_version or obj.get("kind") != sel.kind:
            continue
        if sel.namespace and meta.get("namespace", sel.namespace) != sel.namespace:
            continue
        if sel.HasField("match_name") and meta.get("name") != sel.match_name:
            continue
        labels = meta.get("labels") or {}
        if sel.HasField("match_labels") and any(
            labels.get(k) != v for k, v in sel.match_labels.labels.items()
        ):
            continue
        out.append(obj)
    return out


def _xr_out(xr: dict[str, Any], rsp: fnv1.RunFunctionResponse, full: bool) -> dict[str, Any]:
    meta = xr.get("metadata") or {}
    out: dict[str, Any] = (
        copy.deepcopy(xr)
        if full
        else {
            "apiVersion": xr["apiVersion"],
            "kind": xr["kind"],
            "metadata": {k: meta[k] for k in ("name", "namespace") if k in meta},
        }
    )
    status = resource.struct_to_dict(rsp.desired.composite.resource).get("status") or {}
    conditions = [_condition(c) for c in rsp.conditions]
    unready = sorted(k for k, r in rsp.desired.resources.items() if r.ready != fnv1.READY_TRUE)
    conditions.append(_ready_condition(unready, rsp.desired.composite.ready))
    out["status"] = {**(out.get("status") or {}), **status, "conditions": conditions}
    return out


def _ready_condition(unready: list[str], xr_ready: int) -> dict[str, Any]:
    if xr_ready == fnv1.READY_FALSE and not unready:
        return {
            "lastTransitionTime": CONDITION_TIME,
            "reason": "Creating",
            "status": "False",
            "type": "Ready",
        }
    if not unready:
        return {
            "lastTransitionTime": CONDITION_TIME,
            "reason": "Available",
            "status": "True",
            "type": "Ready",
        }
    return {
        "lastTransitionTime": CONDITION_TIME,
        "message": "Unready resources: " + ", ".join(unready),
        "reason": "Creating",
        "status": "False",
        "type": "Ready",
    }


def _condition(c: fnv1.Condition) -> dict[str, Any]:
    out = {
        "lastTransitionTime": CONDITION_TIME,
        "reason": c.reason,
        "status": _STATUS.get(c.status, "Unknown"),
        "type": c.type,
    }
    if c.HasField("message"):
        out["message"] = c.message
    return out


def _composed_out(xr: dict[str, Any], rsp: fnv1.RunFunctionResponse) -> list[dict[str, Any]]:
    meta = xr.get("metadata") or {}
    xr_labels = meta.get("labels") or {}
    out = []
    for key in sorted(rsp.desired.resources):
        obj = resource.struct_to_dict(rsp.desired.resources[key].resource)
        m = obj.setdefault("metadata", {})
        m.setdefault("annotations", {})[COMPOSITION_RESOURCE_NAME] = key
        labels = m.setdefault("labels", {})
        labels[COMPOSITE_LABEL] = meta.get("name", "")
        for claim_label in (CLAIM_NAME_LABEL, CLAIM_NAMESPACE_LABEL):
            if claim_label in xr_labels:
                labels[claim_label] = xr_labels[claim_label]
        if "name" not in m:
            m["generateName"] = f"{meta.get('name', '')}-"
        m["ownerReferences"] = [
            {
                "apiVersion": xr["apiVersion"],
                "blockOwnerDeletion": True,
                "controller": True,
                "kind": xr["kind"],
                "name": meta.get("name", ""),
                "uid": meta.get("uid", ""),
            }
        ]
        out.append(obj)
    return out


def results(rsp: fnv1.RunFunctionResponse) -> list[tuple[str, str]]:
    """(severity, message) of every result, for callers that show warnings."""
    return [(_SEVERITY.get(r.severity, "Unknown"), r.message) for r in rsp.results]


def _our_step(composition: dict[str, Any]) -> dict[str, Any]:
    spec = composition.get("spec") or {}
    if spec.get("mode", "Pipeline") != "Pipeline":
        raise RenderError("composition: spec.mode must be Pipeline")
    steps = spec.get("pipeline") or []
    ours = [s for s in steps if (s.get("functionRef") or {}).get("name") == FUNCTION_NAME]
    if len(ours) != 1 or len(steps) != 1:
        raise RenderError(
            f"composition: xagent render runs exactly one step, functionRef {FUNCTION_NAME}; "
            "use `crossplane render` for pipelines with other functions"
        )
    return ours[0]


def _resource_name(obj: dict[str, Any]) -> str:
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    if COMPOSITION_RESOURCE_NAME not in annotations:
        name = (obj.get("metadata") or {}).get("name", "?")
        raise RenderError(
            f"observed resource {obj.get('kind')}/{name}: metadata.annotations "
            f"needs {COMPOSITION_RESOURCE_NAME}"
        )
    return annotations[COMPOSITION_RESOURCE_NAME]


def _load(path: Path) -> list[dict[str, Any]]:
    files = (
        sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml"))
        if path.is_dir()
        else [path]
    )
    docs = []
    for f in files:
        try:
            docs += [d for d in yaml.safe_load_all(f.read_text()) if d]
        except (OSError, yaml.YAMLError) as e:
            raise RenderError(f"{f}: {e}") from e
    return docs


def _single(path: Path) -> dict[str, Any]:
    docs = _load(path)
    if len(docs) != 1:
        raise RenderError(f"{path}: want exactly one document, found {len(docs)}")
    return docs[0]


class _Dumper(yaml.SafeDumper):
    """Multi-line strings (a definition's JSON) as readable literal blocks."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def to_yaml(objects: list[dict[str, Any]]) -> str:
    """The `---`-separated stream `crossplane render` prints."""
    return "".join(
        "---\n" + yaml.dump(_integral(o), Dumper=_Dumper, sort_keys=True) for o in objects
    )


def _integral(value: Any) -> Any:
    # protobuf Structs carry every number as a double; Crossplane writes JSON numbers, so
    # 999.0 prints as 999 there. Do the same.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _integral(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_integral(v) for v in value]
    return value
