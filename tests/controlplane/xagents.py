"""Apply XAgents to the control plane and hold what it composed against `xagent render`.

The expectation is never written down here: it is what `xagent render` prints for the same
inputs (the example's XR with the live uid, the Composition, the live composed resources as
observed resources, the example's required resources), so these tests follow the function as
it evolves. A live object matches its rendered one when every field the function rendered is
there with the same value: the API server may add defaults, but must not prune, rewrite or
drop anything.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from function.input import FunctionInput, Policy
from function.render import (
    COMPOSITION_RESOURCE_NAME,
    DEFAULT_COMPOSITION,
    FUNCTION_NAME,
    RenderInputs,
    render,
)

__all__ = [
    "COMPOSITION_RESOURCE_NAME",
    "EXAMPLES",
    "SYNC_TIMEOUT",
    "Example",
    "composed",
    "differences",
    "live_xr",
    "mismatches",
    "rendered",
    "wait_condition",
    "wait_matches_render",
]
from tests.controlplane.kube import Kube, condition, load_documents, wait_for

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
SYNC_TIMEOUT = 90.0


@dataclass
class Example:
    """An examples/<name>/ folder, placed in a test's namespace."""

    name: str
    xr: dict[str, Any]
    composition: dict[str, Any]
    required: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def load(cls, folder: Path, namespace: str) -> Example:
        (xr,) = load_documents(folder / "xr.yaml")
        own = folder / "composition.yaml"
        (composition,) = load_documents(own if own.exists() else DEFAULT_COMPOSITION)
        required = (
            load_documents(folder / "required.yaml") if (folder / "required.yaml").exists() else []
        )
        example = cls(folder.name, xr, composition, required)
        example.move_to(namespace)
        return example

    def move_to(self, namespace: str) -> None:
        self._move_nats_names(namespace)
        for obj in (self.xr, *self.required):
            obj["metadata"]["namespace"] = namespace
            # An example may carry the server-set fields render needs for observed state.
            for k in ("uid", "resourceVersion", "generation", "creationTimestamp"):
                obj["metadata"].pop(k, None)
        # The XR names its Composition, as render is told which one to use.
        self.xr["spec"].setdefault("crossplane", {})["compositionRef"] = {
            "name": self.composition["metadata"]["name"]
        }

    def _move_nats_names(self, namespace: str) -> None:
        """Carry the XR's namespace-bound NATS names into ``namespace``.

        The policy confines trigger subjects, source streams and an explicit stream or
        subject prefix to names derived from the XAgent's namespace (queues.streamPrefixes,
        queues.subjectPrefixes); an example writes them for its own namespace, so left as
        they are, the moved XR breaks the policy and never composes.
        """
        spec, old = self.xr["spec"], self.xr["metadata"].get("namespace", "default")
        queues = self.policy().queues
        tenant = spec.get("tenantId", "")

        def move(value: str, prefixes: Callable[[str, str], list[str]]) -> str:
            pairs = zip(prefixes(old, tenant), prefixes(namespace, tenant), strict=True)
            return next((new + value[len(o) :] for o, new in pairs if value.startswith(o)), value)

        for trigger in spec.get("triggers", {}).get("subjects", []):
            trigger["subject"] = move(trigger["subject"], queues.subjects_in)
            if "stream" in trigger:
                trigger["stream"] = move(trigger["stream"], queues.streams_in)
        queue = spec.get("queue", {})
        for key, prefixes in (("stream", queues.streams_in), ("subjectPrefix", queues.subjects_in)):
            if key in queue:
                queue[key] = move(queue[key], prefixes)

    def policy(self) -> Policy:
        """The policy the Composition gives the xagent function step."""
        steps = self.composition["spec"].get("pipeline", [])
        ours = next(s for s in steps if s["functionRef"]["name"] == FUNCTION_NAME)
        return FunctionInput.model_validate(ours.get("input") or {}).policy

    @property
    def namespace(self) -> str:
        return self.xr["metadata"]["namespace"]

    def apply(self, kube: Kube) -> dict[str, Any]:
        """The Composition, the required resources, then the XR; returns the stored XR."""
        kube.apply(self.composition)
        kube.apply_all(self.required)
        return kube.apply(self.xr)


def live_xr(kube: Kube, xr: dict[str, Any]) -> dict[str, Any] | None:
    m = xr["metadata"]
    return kube.get(xr["apiVersion"], xr["kind"], m["name"], m.get("namespace"))


def wait_condition(
    kube: Kube, xr: dict[str, Any], type_: str, status: str = "True", timeout: float = SYNC_TIMEOUT
) -> dict[str, Any]:
    """Wait until the XR has condition ``type_`` with ``status``; return the XR."""

    last: list[Any] = []

    def probe() -> dict[str, Any] | None:
        obj = live_xr(kube, xr)
        last[:] = (obj or {}).get("status", {}).get("conditions", [])
        c = condition(obj, type_)
        return obj if c and c.get("status") == status else None

    try:
        return wait_for(probe, timeout, f"{xr['metadata']['name']}: {type_}={status}")
    except TimeoutError as e:
        # The XR's own conditions say why (a policy violation, a function Fatal, an apply
        # the API server refused); "last: None" alone does not.
        raise AssertionError(f"{e}; the XR's conditions: {conditions_text(last)}") from None


def conditions_text(conditions: list[dict[str, Any]]) -> str:
    """One line per condition: type=status (reason): message."""
    lines = [
        f"{c.get('type')}={c.get('status')} ({c.get('reason')}): {c.get('message', '')}"
        for c in conditions
    ]
    return "\n" + "\n".join(lines) if lines else "none"


def composed(kube: Kube, xr: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The live composed resources of an XR, keyed by composition-resource name."""
    spec = xr.get("spec", {})
    # v2 XRs keep Crossplane's fields under spec.crossplane; legacy (v1) XRs at spec's top.
    refs = spec.get("crossplane", {}).get("resourceRefs") or spec.get("resourceRefs") or []
    out: dict[str, dict[str, Any]] = {}
    for ref in refs:
        obj = kube.get(
            ref["apiVersion"],
            ref["kind"],
            ref["name"],
            ref.get("namespace") or xr["metadata"].get("namespace"),
        )
        if obj is not None:
            out[
                obj["metadata"].get("annotations", {}).get(COMPOSITION_RESOURCE_NAME, ref["name"])
            ] = obj
    return out


def rendered(
    example: Example, live: dict[str, Any], observed: list[dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    """What `xagent render` composes for the example, given the live XR's uid and observed state."""
    xr = copy.deepcopy(example.xr)
    xr["metadata"]["uid"] = live["metadata"]["uid"]
    docs = render(
        RenderInputs(
            xr=xr,
            composition=copy.deepcopy(example.composition),
            observed=copy.deepcopy(observed),
            required=copy.deepcopy(example.required),
        )
    )
    return {d["metadata"]["annotations"][COMPOSITION_RESOURCE_NAME]: d for d in docs[1:]}


def differences(want: Any, got: Any, path: str = "") -> list[str]:
    """Where ``got`` lacks or changes something ``want`` has (extra fields in ``got`` are fine)."""
    if isinstance(want, dict):
        if not isinstance(got, dict):
            return [f"{path or '.'}: want a map, got {got!r}"]
        out = []
        for k, v in want.items():
            if k not in got:
                if v not in (None, {}, []):  # SSA stores no empty values
                    out.append(f"{path}.{k}: missing (want {v!r})")
                continue
            out += differences(v, got[k], f"{path}.{k}")
        return out
    if isinstance(want, list):
        if not isinstance(got, list) or len(got) != len(want):
            return [f"{path}: want {want!r}, got {got!r}"]
        return [
            d
            for i, (w, g) in enumerate(zip(want, got, strict=True))
            for d in differences(w, g, f"{path}[{i}]")
        ]
    return [] if want == got else [f"{path}: want {want!r}, got {got!r}"]


def mismatches(kube: Kube, example: Example) -> list[str]:
    """Every way the live composed resources differ from `xagent render`; empty when equal."""
    live = live_xr(kube, example.xr)
    if live is None:
        return ["the XR does not exist"]
    objs = composed(kube, live)
    want = rendered(example, live, list(objs.values()))
    out = []
    if set(objs) != set(want):
        out.append(f"composed {sorted(objs)}, rendered {sorted(want)}")
    for key in sorted(set(want) & set(objs)):
        out += [f"{key}{d}" for d in differences(want[key], objs[key])]
    return out


def wait_matches_render(
    kube: Kube, example: Example, timeout: float = SYNC_TIMEOUT
) -> dict[str, dict[str, Any]]:
    """Wait until what is composed equals `xagent render`; return the live composed resources."""
    last: list[str] = []

    def probe() -> bool:
        last[:] = mismatches(kube, example)
        return not last

    try:
        wait_for(probe, timeout, f"{example.name} to match xagent render")
    except TimeoutError as e:
        raise AssertionError(f"{e}:\n" + "\n".join(last)) from None
    return composed(kube, live_xr(kube, example.xr) or {})
