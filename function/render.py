"""`xagent render`: run the composition in-process and print what `crossplane render` prints.

`crossplane render` (CLI v2.5, `--crossplane-binary` core v2.4) runs one real XR reconcile
against an in-memory API server. This module plays the same reconcile for our single-step
pipeline, without Go or a gRPC hop, and prints the same YAML stream byte for byte
(tests/crossplane/test_render_parity.py holds it to that):

1. The XR as Crossplane sends it to the function: a deterministic uid when it has none
   (UUIDv5 of ``"<group>/<version>, Kind=<kind>\\0<namespace>\\0<name>"``), resourceVersion
   999, the ``crossplane.io/composite`` label, ``spec.crossplane.compositionRef``,
   ``spec.crossplane.resourceRefs`` of the observed resources, and a ``Responsive``
   condition. Observed resources must be in the XR's namespace and not controlled by
   another owner, as Crossplane checks.
2. The function is called again with the required resources it asks for until its
   requirements stop changing (Crossplane's FetchingFunctionRunner).
3. The XR is printed as the reconciler leaves it: apiVersion, kind, metadata.name and
   namespace, ``spec.crossplane.resourceRefs`` of every desired resource (sorted like
   Crossplane: by apiVersion+kind+name+namespace), and a status that is the function's
   desired status plus the conditions: the XR's own, ``Responsive``, the function's,
   ``Synced`` and ``Ready`` (``Unready resources: a, b, c, and N more``), each timestamp
   2024-01-01T00:00:00Z. ``--include-full-xr`` merges that into the input XR the way the CLI
   does (mergo with override: maps merge, lists and scalars replace, an empty list keeps
   what was there).
4. Each composed resource gets Crossplane's metadata: an observed one keeps its observed
   name; one with neither name nor generateName gets ``generateName: <xr name>-`` and
   Crossplane's deterministic name (``<generateName>`` + 12 hex of sha256(XR uid + resource
   key)); then the composition-resource-name annotation, the ``crossplane.io/composite``
   label (and the claim labels when the XR has both), the XR's namespace for a namespaced
   XR, and the controller ownerReference; sorted by composition-resource name.
5. Input files are read and objects printed the way the CLI's go-yaml v2 does
   (function/_goyaml.py): an unquoted ``on`` or ``y`` is a boolean, ``0755`` an octal
   integer, and strings are quoted where go-yaml quotes them.

Normalisation left between the two: none. The parity test compares every example and the
edge cases in tests/crossplane/cases/ as data and as text. Not emulated, because xagent
render has no flags for them: ``--xrd`` (legacy XR schema, XRD defaults), ``-r`` (function
results), context, credentials, and pipelines with steps other than function-xagent.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from crossplane.function import resource
from crossplane.function.proto.v1 import run_function_pb2 as fnv1
from google.protobuf import json_format

from function import _goyaml, _struct
from function.fn import FunctionRunner
from function.project_files import project_file
from function.schema import COMPOSITION_NAME

__all__ = [
    "COMPOSITION_RESOURCE_NAME",
    "DEFAULT_COMPOSITION",
    "FUNCTION_NAME",
    "RenderError",
    "RenderInputs",
    "first_request",
    "load_inputs",
    "render",
    "render_files",
    "render_many",
    "to_yaml",
]

FUNCTION_NAME = "function-xagent"
COMPOSITION_RESOURCE_NAME = "crossplane.io/composition-resource-name"
COMPOSITE_LABEL = "crossplane.io/composite"
CLAIM_NAME_LABEL = "crossplane.io/claim-name"
CLAIM_NAMESPACE_LABEL = "crossplane.io/claim-namespace"
CONDITION_TIME = "2024-01-01T00:00:00Z"
"""What `crossplane render` writes into every lastTransitionTime, for stable output."""
RESOURCE_VERSION = "999"

DEFAULT_COMPOSITION = project_file(f"compositions/{COMPOSITION_NAME}.yaml")
_MAX_REQUIREMENT_ROUNDS = 6
_STATUS = {
    fnv1.STATUS_CONDITION_TRUE: "True",
    fnv1.STATUS_CONDITION_FALSE: "False",
    fnv1.STATUS_CONDITION_UNKNOWN: "Unknown",
}
_SYSTEM_CONDITIONS = frozenset({"Ready", "Synced", "Healthy", "UpToDate", "Responsive"})
_RESPONSIVE = {"type": "Responsive", "status": "True", "reason": "WatchCircuitClosed"}
_SYNCED = {"type": "Synced", "status": "True", "reason": "ReconcileSuccess"}
_CAPABILITIES = (
    fnv1.CAPABILITY_CAPABILITIES,
    fnv1.CAPABILITY_REQUIRED_RESOURCES,
    fnv1.CAPABILITY_CREDENTIALS,
    fnv1.CAPABILITY_CONDITIONS,
    fnv1.CAPABILITY_REQUIRED_SCHEMAS,
)
_UNREADY_SHOWN = 3
_NAME_HASH_LENGTH = 12
_MAX_NAME_LENGTH = 63


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
    inputs = load_inputs(
        xr_file,
        composition=composition,
        function_input=function_input,
        observed=observed,
        required=required,
    )
    return to_yaml(render(inputs, include_full_xr=include_full_xr))


def render_many(
    xr_paths: Iterable[Path],
    *,
    composition: Path | None = None,
    function_input: Path | None = None,
    observed: Path | None = None,
    required: Path | None = None,
    include_full_xr: bool = False,
) -> Iterator[str]:
    """Render many XRs in one process: each path a file of one XR or a directory of them.

    The shared files are read once; yields each XR's stream in order (files of a directory
    sorted by path). With more than one XR, a failure names the file it belongs to.
    """
    shared = load_inputs(
        None,
        composition=composition,
        function_input=function_input,
        observed=observed,
        required=required,
    )
    files = list(_yaml_files(xr_paths))
    for path in files:
        try:
            inputs = dataclasses.replace(shared, xr=_single_xr(path, shared.composition))
            yield to_yaml(render(inputs, include_full_xr=include_full_xr))
        except RenderError as e:
            if str(e).startswith(str(path)):
                raise
            raise RenderError(f"{path}: {e}") from e


def _yaml_files(paths: Iterable[Path]) -> Iterator[Path]:
    for path in paths:
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml"))
            if not found:
                raise RenderError(f"{path}: a directory with no .yaml or .yml file")
            yield from found
        else:
            yield path


def load_inputs(
    xr_file: Path | None,
    *,
    composition: Path | None = None,
    function_input: Path | None = None,
    observed: Path | None = None,
    required: Path | None = None,
) -> RenderInputs:
    """Read the files of one render (no XR file: an empty XR, for render_many to fill)."""
    comp = _single(composition or DEFAULT_COMPOSITION)
    return RenderInputs(
        xr=_single_xr(xr_file, comp) if xr_file is not None else {},
        composition=comp,
        function_input=_single(function_input) if function_input else None,
        observed=_load(observed) if observed else [],
        required=_load(required) if required else [],
    )


def render(inputs: RenderInputs, *, include_full_xr: bool = False) -> list[dict[str, Any]]:
    """Render to a list of objects: the XR first, then composed resources."""
    sent = _xr_as_sent(inputs.xr, inputs.composition, inputs.observed)
    _check_observed(sent, inputs.observed)
    req = _request(inputs, sent)
    observed = {_resource_name(obj): obj for obj in inputs.observed}
    rsp = _run_until_stable(req, inputs.required)
    fatal = [r.message for r in rsp.results if r.severity == fnv1.SEVERITY_FATAL]
    if fatal:
        raise RenderError("\n".join(fatal))  # a policy Fatal is already one rule per line
    composed = _composed_out(sent, rsp, observed)
    xr = _xr_out(sent, rsp, composed)
    if include_full_xr:
        xr = _merge(copy.deepcopy(inputs.xr), xr)
    _stable_condition_times(xr)
    for obj in composed:
        _stable_condition_times(obj)
    return [xr, *composed]


def first_request(inputs: RenderInputs) -> fnv1.RunFunctionRequest:
    """The first RunFunctionRequest Crossplane sends for these inputs (bench/ drives it)."""
    sent = _xr_as_sent(inputs.xr, inputs.composition, inputs.observed)
    _check_observed(sent, inputs.observed)
    return _request(inputs, sent)


def _request(inputs: RenderInputs, sent: dict[str, Any]) -> fnv1.RunFunctionRequest:
    step = _our_step(inputs.composition)
    fn_input = inputs.function_input or step.get("input") or {}
    req = fnv1.RunFunctionRequest(
        meta=fnv1.RequestMeta(tag="xagent-render", capabilities=_CAPABILITIES)
    )
    try:
        resource.update(req.observed.composite, sent)
        for obj in inputs.observed:
            resource.update(req.observed.resources[_resource_name(obj)], obj)
        if fn_input:
            req.input.CopyFrom(resource.dict_to_struct(fn_input))
    except RecursionError:
        # protobuf's Struct conversion recurses per level; Crossplane could not send it either.
        raise RenderError("nested too deeply to send to the function") from None
    return req


# --- the XR Crossplane sends ----------------------------------------------------------------


def render_uid(xr: dict[str, Any]) -> str:
    """The uid `crossplane render` gives an XR that has none (Go's uuid.NewSHA1)."""
    meta = xr.get("metadata") or {}
    group, _, version = str(xr.get("apiVersion", "")).rpartition("/")
    gvk = f"{group}/{version}, Kind={xr.get('kind', '')}"
    return str(
        uuid.uuid5(
            uuid.UUID(int=0), f"{gvk}\x00{meta.get('namespace', '')}\x00{meta.get('name', '')}"
        )
    )


def _xr_as_sent(
    xr: dict[str, Any], composition: dict[str, Any], observed: list[dict[str, Any]]
) -> dict[str, Any]:
    sent = copy.deepcopy(xr)
    meta = sent.setdefault("metadata", {})
    meta["uid"] = meta.get("uid") or render_uid(xr)
    meta["resourceVersion"] = RESOURCE_VERSION
    labels = meta["labels"] = meta.get("labels") or {}  # `labels:` (null) is none yet
    labels[COMPOSITE_LABEL] = labels.get(COMPOSITE_LABEL) or meta.get("name", "")
    spec = sent.get("spec")
    if not isinstance(spec, dict):
        spec = sent["spec"] = {}
    machinery = spec.setdefault("crossplane", {})
    machinery["compositionRef"] = {"name": (composition.get("metadata") or {}).get("name", "")}
    if observed:
        machinery["resourceRefs"] = [_reference(o, sent) for o in observed]
    status = sent["status"] = sent.get("status") or {}
    status["conditions"] = _set_condition(
        [_condition_from_dict(c) for c in status.get("conditions") or []],
        _with_generation(_RESPONSIVE, meta.get("generation")),
    )
    return sent


def _check_observed(xr: dict[str, Any], observed: list[dict[str, Any]]) -> None:
    meta = xr["metadata"]
    problems = []
    for obj in observed:
        m = obj.get("metadata") or {}
        controllers = [r for r in m.get("ownerReferences") or [] if r.get("controller")]
        if controllers and controllers[0].get("uid") != meta["uid"]:
            problems.append(
                f"observed resource {m.get('name', '')} has a controller ref but "
                "is not controlled by the XR"
            )
        if meta.get("namespace") and m.get("namespace", "") != meta["namespace"]:
            problems.append(
                f"observed resource {m.get('name', '')} is not in the same namespace as the XR"
            )
    if problems:
        raise RenderError("invalid observed resources: " + "\n".join(problems))


def _run_until_stable(
    req: fnv1.RunFunctionRequest, required: list[dict[str, Any]]
) -> fnv1.RunFunctionResponse:
    # Crossplane's FetchingFunctionRunner: call, fetch what the function requires, call
    # again with it, until the requirements stop changing or a result is fatal.
    runner = FunctionRunner()
    previous = None
    for _ in range(_MAX_REQUIREMENT_ROUNDS):
        rsp = runner.compose(req)
        if any(r.severity == fnv1.SEVERITY_FATAL for r in rsp.results):
            return rsp
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
        if meta.get("namespace", "") != sel.namespace:
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


# --- what the reconciler leaves -------------------------------------------------------------


def _xr_out(
    sent: dict[str, Any], rsp: fnv1.RunFunctionResponse, composed: list[dict[str, Any]]
) -> dict[str, Any]:
    meta = sent["metadata"]
    conditions = list(sent["status"]["conditions"])
    for c in rsp.conditions:
        if c.type not in _SYSTEM_CONDITIONS:
            conditions = _set_condition(conditions, _condition(c))
    unready = [k for k, r in rsp.desired.resources.items() if r.ready != fnv1.READY_TRUE]
    conditions = _set_condition(conditions, _SYNCED)
    conditions = _set_condition(conditions, _ready_condition(unready, rsp.desired.composite.ready))
    status = _struct.to_dict(rsp.desired.composite.resource).get("status") or {}
    refs = sorted(
        (_reference(o, sent) for o in composed),
        key=lambda r: r["apiVersion"] + r["kind"] + r["name"] + r.get("namespace", ""),
    )
    return {
        "apiVersion": sent["apiVersion"],
        "kind": sent["kind"],
        "metadata": {k: meta[k] for k in ("name", "namespace") if meta.get(k)},
        "spec": {"crossplane": {"resourceRefs": refs}},
        "status": {**status, "conditions": conditions},
    }


def _reference(obj: dict[str, Any], xr: dict[str, Any]) -> dict[str, Any]:
    meta = obj.get("metadata") or {}
    ref = {
        "apiVersion": obj.get("apiVersion", ""),
        "kind": obj.get("kind", ""),
        "name": meta.get("name", ""),
    }
    # Only a cluster-scoped XR records where its composed resources live.
    if not (xr.get("metadata") or {}).get("namespace") and meta.get("namespace"):
        ref["namespace"] = meta["namespace"]
    return ref


def _ready_condition(unready: list[str], xr_ready: int) -> dict[str, Any]:
    # The function's word on the XR's readiness overrides its composed resources'.
    if xr_ready == fnv1.READY_TRUE or (xr_ready != fnv1.READY_FALSE and not unready):
        return {"type": "Ready", "status": "True", "reason": "Available"}
    ready = {"type": "Ready", "status": "False", "reason": "Creating"}
    if xr_ready != fnv1.READY_FALSE:
        ready["message"] = "Unready resources: " + _first_and_more(sorted(unready))
    return ready


def _first_and_more(names: list[str]) -> str:
    # crossplane-runtime resource.FirstNAndSomeMore with n=3.
    n = _UNREADY_SHOWN
    if len(names) > n:
        return f"{', '.join(names[:n])}, and {len(names) - n} more"
    if len(names) == n:
        return f"{', '.join(names[: n - 1])}, and {names[n - 1]}"
    return ", ".join(names)


def _condition(c: fnv1.Condition) -> dict[str, Any]:
    out = {"type": c.type, "status": _STATUS.get(c.status, "Unknown"), "reason": c.reason}
    if c.message:
        out["message"] = c.message
    return out


def _condition_from_dict(c: dict[str, Any]) -> dict[str, Any]:
    # Crossplane reads conditions into its Condition type: unknown keys are dropped,
    # reason is always written, message and observedGeneration only when set.
    out = {"type": c.get("type", ""), "status": c.get("status", ""), "reason": c.get("reason", "")}
    if c.get("message"):
        out["message"] = c["message"]
    if c.get("observedGeneration"):
        out["observedGeneration"] = c["observedGeneration"]
    return out


def _with_generation(c: dict[str, Any], generation: Any) -> dict[str, Any]:
    return {**c, "observedGeneration": generation} if generation else dict(c)


def _set_condition(conditions: list[dict[str, Any]], new: dict[str, Any]) -> list[dict]:
    # ConditionedStatus.SetConditions: replace in place unless equal, else append.
    out, seen = [], False
    for c in conditions:
        if c["type"] == new["type"]:
            seen = True
            out.append(c if _same_condition(c, new) else new)
        else:
            out.append(c)
    return out if seen else [*out, new]


def _same_condition(a: dict[str, Any], b: dict[str, Any]) -> bool:
    keys = ["type", "status", "reason", "message"]
    if a.get("observedGeneration") and b.get("observedGeneration"):
        keys.append("observedGeneration")
    return all(a.get(k, "") == b.get(k, "") for k in keys)


def _stable_condition_times(obj: dict[str, Any]) -> None:
    # render.ReplaceConditionTimestamps: every object with a status gets its conditions
    # re-encoded with the fixed time (null when it has none).
    status = obj.get("status")
    if not isinstance(status, dict):
        return
    conditions = status.get("conditions")
    if conditions is None:
        status["conditions"] = None
        return
    status["conditions"] = [
        {**_condition_from_dict(c), "lastTransitionTime": CONDITION_TIME} for c in conditions
    ]


def _composed_out(
    xr: dict[str, Any], rsp: fnv1.RunFunctionResponse, observed: dict[str, dict[str, Any]]
) -> list[dict[str, Any]]:
    # FunctionComposer.Compose: an observed resource keeps its name; then
    # RenderComposedResourceMetadata and the name generator.
    meta = xr["metadata"]
    xr_labels = meta.get("labels") or {}
    prefix = xr_labels[COMPOSITE_LABEL]
    owner = {
        "apiVersion": xr["apiVersion"],
        "blockOwnerDeletion": True,
        "controller": True,
        "kind": xr["kind"],
        "name": meta.get("name", ""),
        "uid": meta["uid"],
    }
    out = []
    for key in sorted(rsp.desired.resources):
        obj = _struct.to_dict(rsp.desired.resources[key].resource)
        m = obj.setdefault("metadata", {})
        if key in observed:
            seen = observed[key].get("metadata") or {}
            for f in ("name", "namespace", "generateName"):
                m.pop(f, None)
                if seen.get(f):
                    m[f] = seen[f]
        if not m.get("name") and not m.get("generateName"):
            m["generateName"] = f"{prefix}-"
        if meta.get("namespace"):
            m["namespace"] = meta["namespace"]
        m.setdefault("annotations", {})[COMPOSITION_RESOURCE_NAME] = key
        labels = m.setdefault("labels", {})
        labels[COMPOSITE_LABEL] = prefix
        if xr_labels.get(CLAIM_NAME_LABEL) and xr_labels.get(CLAIM_NAMESPACE_LABEL):
            labels[CLAIM_NAME_LABEL] = xr_labels[CLAIM_NAME_LABEL]
            labels[CLAIM_NAMESPACE_LABEL] = xr_labels[CLAIM_NAMESPACE_LABEL]
        refs = [r for r in m.get("ownerReferences") or [] if r.get("uid") != owner["uid"]]
        m["ownerReferences"] = [*refs, owner]
        if not m.get("name"):
            m["name"] = generated_name(m["generateName"], owner["uid"], key)
        out.append(obj)
    return out


def generated_name(parent: str, parent_uid: str, child: str) -> str:
    """The name Crossplane gives a composed resource that has only a generateName."""
    suffix = hashlib.sha256((parent_uid + child).encode()).hexdigest()[:_NAME_HASH_LENGTH]
    if parent and not parent.endswith("-"):
        parent += "-"
    if len(parent) + len(suffix) <= _MAX_NAME_LENGTH:
        return parent + suffix
    keep = _MAX_NAME_LENGTH - _NAME_HASH_LENGTH
    if keep > 0 and not parent[:keep].endswith("-"):
        return parent[: keep - 1] + "-" + suffix
    return parent[:keep] + suffix


def _merge(dst: dict[str, Any], src: dict[str, Any]) -> dict[str, Any]:
    # mergo.Merge(dst, src, mergo.WithOverride) on map[string]any, as `-x` does.
    for key, value in src.items():
        current = dst.get(key)
        if isinstance(value, dict) and isinstance(current, dict) and current:
            _merge(current, value)
        elif isinstance(value, list) and not value and current:
            continue
        else:
            dst[key] = value
    return dst


# --- input files ----------------------------------------------------------------------------


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
            found = [d for d in _goyaml.load_all(f.read_text()) if d]
        except (OSError, ValueError, RecursionError, yaml.YAMLError) as e:
            raise RenderError(f"{f}: {' '.join(str(e).split()) or 'nested too deeply'}") from e
        for i, doc in enumerate(found):
            if not isinstance(doc, dict):
                kind = {list: "list", str: "string"}.get(type(doc), type(doc).__name__)
                raise RenderError(f"{f}: document {i} is a {kind}, not a Kubernetes object")
        docs += found
    return docs


def _single_xr(path: Path, composition: dict[str, Any]) -> dict[str, Any]:
    docs = _load(path)
    if len(docs) != 1:
        raise RenderError(f"{path}: want exactly one XR document, found {len(docs)}")
    _check_xr(path, docs[0], composition)
    return docs[0]


_METADATA_FIELDS = frozenset(
    {
        "name",
        "namespace",
        "generateName",
        "labels",
        "annotations",
        "uid",
        "resourceVersion",
        "generation",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "finalizers",
        "ownerReferences",
        "managedFields",
        "selfLink",
    }
)
"""ObjectMeta's fields: any other key under metadata is a typo the API server would prune."""


def _check_xr(path: Path, xr: Any, composition: dict[str, Any]) -> None:
    """Refuse what `crossplane render` refuses, with its words, and name metadata typos."""
    ref = (composition.get("spec") or {}).get("compositeTypeRef") or {}
    if ref.get("kind") and xr.get("kind") != ref["kind"]:
        raise RenderError(
            f"{path}: composition's compositeTypeRef.kind ({ref['kind']}) does not match "
            f"XR's kind ({xr.get('kind')})"
        )
    if ref.get("apiVersion") and xr.get("apiVersion") != ref["apiVersion"]:
        raise RenderError(
            f"{path}: composition's compositeTypeRef.apiVersion ({ref['apiVersion']}) does not "
            f"match XR's apiVersion ({xr.get('apiVersion')})"
        )
    meta = xr.get("metadata")
    if not isinstance(meta, dict):
        raise RenderError(f"{path}: metadata must be a mapping")
    unknown = sorted(str(k) for k in meta if k not in _METADATA_FIELDS)
    if unknown:
        raise RenderError(f"{path}: metadata.{unknown[0]}: unknown field")
    # What render reads must have the type the API server would have insisted on.
    if not isinstance(meta.get("name"), str) or not meta["name"]:
        raise RenderError(f"{path}: metadata.name: want a non-empty string")
    if not isinstance(meta.get("namespace") or "", str):
        raise RenderError(f"{path}: metadata.namespace: want a string")
    for part in ("labels", "annotations"):
        value = meta.get(part)
        if value is None:  # `labels:` with nothing under it: none
            continue
        if not isinstance(value, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()
        ):
            raise RenderError(f"{path}: metadata.{part}: want a map of strings to strings")
    for part in ("spec", "status"):
        if xr.get(part) is not None and not isinstance(xr[part], dict):
            raise RenderError(f"{path}: {part}: want a mapping")
    conditions = (xr.get("status") or {}).get("conditions") or []
    if not isinstance(conditions, list) or not all(isinstance(c, dict) for c in conditions):
        raise RenderError(f"{path}: status.conditions: want a list of mappings")


def _single(path: Path) -> dict[str, Any]:
    docs = _load(path)
    if len(docs) != 1:
        raise RenderError(f"{path}: want exactly one document, found {len(docs)}")
    return docs[0]


def to_yaml(objects: list[dict[str, Any]]) -> str:
    """The `---`-separated stream `crossplane render` prints, in go-yaml's formatting."""
    return "".join("---\n" + _goyaml.dump(o) for o in objects)
