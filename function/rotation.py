"""Rotated credentials reach running pods: the pod template carries a fingerprint of the
Secrets the runtime reads its credentials from, so a changed Secret rolls the Deployment.

The runtime reads model and tool credentials from environment variables, which a running
container never re-reads. The same goes for the queue's NATS credentials (spec.queue.auth):
user, password and token are env; the creds file, nkey seed and TLS files are mounted and
do update in place, but the runtime reads them when it connects (the TLS context once), so
a change to either NATS Secret rolls the pods too. A schedule's CronJob is not rolled: each
run is a new pod that reads the Secret afresh.

Kubernetes does not restart pods when a referenced Secret changes, and External Secrets
only rewrites the Secret when the store's value rotates. So the function asks Crossplane
for each credential Secret (required resources, like a referenced definition ConfigMap)
and writes a hash of their ``metadata.resourceVersion`` into the pod
template (ANNOTATION). A Secret's resourceVersion changes exactly when the Secret is
written, and ESO writes it only when the synced value changed; the function never reads
the values themselves.

Not the ExternalSecret's own status: ``status.syncedResourceVersion`` tracks the
ExternalSecret's generation and metadata, not the value, and ``status.refreshTime`` moves on
every refresh, changed or not, which would roll the pods every refreshInterval.

Latency: a rotation lands in the Secret within ``spec.secrets.refreshInterval`` and in the
pods at Crossplane's next reconcile of the XR (its poll interval, one minute by default).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from function.builders import nats_auth
from function.builders.base import AgentContext
from function.builders.external_secrets import model_credentials, tool_credentials

__all__ = ["ANNOTATION", "PREFIX", "fingerprint", "requirements", "watched_secrets"]

ANNOTATION = "xagent.dev/secrets-version"
PREFIX = "secret:"
"""Required-resources entries of credential Secrets are named ``secret:<name>``."""


def watched_secrets(ctx: AgentContext) -> list[str]:
    """Names of the Secrets the runtime reads credentials from, sorted and distinct."""
    names = {cred.secret_name for cred in (*model_credentials(ctx), *tool_credentials(ctx))}
    tracing = ctx.spec.observability.tracing
    if tracing.endpoint and tracing.headers_secret_ref is not None:
        names.add(tracing.headers_secret_ref.name)  # the trace backend's key rotates too
    names.update(nats_auth.watched_secrets(ctx))  # the queue's credentials and TLS files
    return sorted(names)


def requirements(ctx: AgentContext) -> dict[str, str]:
    """Required-resources entry name -> Secret name, for every watched Secret."""
    return {f"{PREFIX}{name}": name for name in watched_secrets(ctx)}


def fingerprint(ctx: AgentContext, required: Mapping[str, list[Mapping[str, Any]]]) -> str | None:
    """sha256 over each watched Secret's name and resourceVersion (``-`` when absent).

    None until Crossplane has fetched every watched Secret: a half-known fingerprint would
    roll the pods once more when the rest arrives.
    """
    parts = []
    for entry, name in requirements(ctx).items():
        if entry not in required:
            return None
        found = required[entry]
        version = (found[0].get("metadata") or {}).get("resourceVersion") if found else None
        parts.append(f"{name}={version or '-'}")
    if not parts:
        return None
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()
