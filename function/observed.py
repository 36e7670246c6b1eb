"""Reads the request: the observed XR, its namespace, and observed composed resources."""

from __future__ import annotations

from typing import Any

from crossplane.function.proto.v1 import run_function_pb2 as fnv1

from function import _struct
from function.errors import InputError

__all__ = [
    "CLAIM_NAMESPACE_LABEL",
    "CROSSPLANE_SPEC_FIELDS",
    "carry_forward",
    "composed",
    "xr",
    "xr_namespace",
    "xr_spec",
]

CLAIM_NAMESPACE_LABEL = "crossplane.io/claim-namespace"

CROSSPLANE_SPEC_FIELDS = (
    # v2 (namespaced and cluster XRs): everything Crossplane owns lives under spec.crossplane.
    "crossplane",
    # Legacy (v1-style) XRs: Crossplane's machinery sits next to the XRD's own fields.
    "claimRef",
    "compositionRef",
    "compositionRevisionRef",
    "compositionRevisionSelector",
    "compositionSelector",
    "compositionUpdatePolicy",
    "environmentConfigRefs",
    "publishConnectionDetailsTo",
    "resourceRefs",
    "writeConnectionSecretToRef",
)
"""Spec fields Crossplane adds to every XR (composition and resource refs); not the API's."""

# Fields of an observed object that the API server owns; sending them back as desired
# state would fight the server.
_SERVER_FIELDS = (
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "managedFields",
    "ownerReferences",
    "deletionTimestamp",
    "selfLink",
)


def xr(req: fnv1.RunFunctionRequest) -> dict[str, Any]:
    """The observed composite resource as a dict."""
    return _struct.to_dict(req.observed.composite.resource)


def xr_spec(observed_xr: dict[str, Any]) -> dict[str, Any]:
    """The XR's spec without the fields Crossplane owns (see CROSSPLANE_SPEC_FIELDS).

    A real Crossplane sets spec.crossplane.compositionRef (v2) or spec.compositionRef and
    spec.resourceRefs (legacy) before it calls the function; they are not XAgent fields.
    """
    spec = observed_xr.get("spec") or {}
    return {k: v for k, v in spec.items() if k not in CROSSPLANE_SPEC_FIELDS}


def xr_namespace(observed_xr: dict[str, Any]) -> str:
    """Where composed objects go: the XR's namespace (v2), else its claim's (legacy v1)."""
    meta = observed_xr.get("metadata") or {}
    namespace = meta.get("namespace") or (meta.get("labels") or {}).get(CLAIM_NAMESPACE_LABEL)
    if not namespace:
        raise InputError(
            "metadata.namespace: a cluster-scoped XAgent must be created through an Agent "
            "claim (label crossplane.io/claim-namespace), or use the namespaced v2 XRD"
        )
    return namespace


def composed(req: fnv1.RunFunctionRequest) -> dict[str, dict[str, Any]]:
    """Observed composed resources by composition-resource name."""
    return {key: _struct.to_dict(r.resource) for key, r in req.observed.resources.items()}


def carry_forward(observed: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Desired state that keeps what exists, for when a new desired state cannot be built.

    Returning no desired resources would make Crossplane delete every composed object,
    database included; re-asserting what is observed keeps them while the XR waits.
    """
    out = {}
    for key, obj in observed.items():
        kept = {k: v for k, v in obj.items() if k != "status"}
        meta = dict(kept.get("metadata") or {})
        for f in _SERVER_FIELDS:
            meta.pop(f, None)
        kept["metadata"] = meta
        out[key] = kept
    return out
