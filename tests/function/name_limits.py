"""Name limits the API server and the operators enforce, checked independently of names.py.

Each limit is written from its source, not imported from function.names, so a wrong constant
there is caught here.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["name_problems"]

_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_DNS1123_SUBDOMAIN = re.compile(
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
)
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_NATS_FORBIDDEN = re.compile(r"[.*>\s]")

# kind -> (max name length, name grammar, source)
_LIMITS: dict[str, tuple[int, re.Pattern[str], str]] = {
    # cloudnative-pg api/v1 cluster_webhook.go validateName
    "Cluster": (50, _DNS1123_LABEL, "CNPG Cluster"),
    # StatefulSet <name>-<10-char hash> is a label value (controller-revision-hash)
    "Dragonfly": (52, _DNS1123_LABEL, "Dragonfly StatefulSet"),
    # apimachinery ValidateServiceName: a DNS-1035 label
    "Service": (63, _DNS1035_LABEL, "Service"),
    # batch validation ValidateCronJobCreate: 63 - len("-<minutes since epoch>") = 52
    "CronJob": (52, _DNS1123_SUBDOMAIN, "CronJob"),
    # the Deployment name prefixes ReplicaSet and pod names; keep it a label
    "Deployment": (63, _DNS1123_LABEL, "Deployment"),
}


def name_problems(manifest: dict[str, Any]) -> list[str]:
    """Every name or label in ``manifest`` that the cluster or an operator would reject."""
    kind = manifest.get("kind", "")
    meta = manifest.get("metadata") or {}
    name = meta.get("name", "")
    out: list[str] = []
    limit, grammar, what = _LIMITS.get(kind, (253, _DNS1123_SUBDOMAIN, kind))
    if len(name) > limit or not grammar.match(name):
        out.append(f"{kind} {name!r}: not a valid {what} name (max {limit})")
    for key, value in (meta.get("labels") or {}).items():
        if len(value) > 63 or not _LABEL_VALUE.match(value):
            out.append(f"{kind} {name!r}: label {key}={value!r} is not a label value")
    spec = manifest.get("spec") or {}
    if kind == "Dragonfly" and (spec.get("serviceSpec") or {}).get("name"):
        svc = spec["serviceSpec"]["name"]
        if len(svc) > 63 or not _DNS1035_LABEL.match(svc):
            out.append(f"Dragonfly service {svc!r}: not a DNS-1035 label")
    if kind in ("Stream", "Consumer"):
        for field in ("name", "durableName", "streamName"):
            value = spec.get(field)
            if value is not None and (not value or _NATS_FORBIDDEN.search(value)):
                out.append(f"{kind} spec.{field} {value!r}: not a NATS name")
    if kind == "ExternalSecret":
        target = ((spec.get("target") or {}).get("name")) or ""
        if len(target) > 253 or not _DNS1123_SUBDOMAIN.match(target):
            out.append(f"ExternalSecret target {target!r}: not a Secret name")
    return out
