"""Secrets travel as references: a marker put in a credential field never becomes a value.

A marker string goes into one credential field of a generated spec (tests/function/
test_fuzz.py's VALID specs, and the smallest spec so successes are common):

- in a secret reference (model and tool credentials, MCP token and headers, API tokens,
  database and cache Secrets, env valueFrom, envFrom, tracing headers): when the XAgent
  composes, the marker appears in manifests only inside references (``secretKeyRef``,
  ``secretRef``, ``remoteRef``, ``secretName``...), never as a value a reader of the object
  would see (env values, ConfigMap data, annotations, labels, args);
- inside a URL (userinfo or a secret query parameter of the model endpoint, queue URL, tracing
  endpoint, MCP server URL): nothing is composed, the smallest spec gets a Fatal naming the
  field (a generated one may stop earlier, e.g. waiting for its definitionRef), and neither a
  Fatal nor any condition repeats the marker.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

from crossplane.function import resource
from crossplane.function.proto.v1 import run_function_pb2 as fnv1
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.function.factories import MINIMAL_SPEC
from tests.function.test_fuzz import PROFILE, VALID, _run

MARKER = "xsecretmarker7q"
"""Valid as a Secret name and key, so a reference holding it passes the schema."""
REF = {"name": MARKER, "key": MARKER}
REMOTE = {"key": f"xagent/t1/{MARKER}"}
"""Remote keys are tenant-bound (``xagent/{tenantId}/``); t1 is MINIMAL_SPEC's tenant."""
REFERENCE_KEYS = {"secretKeyRef", "secretRef", "remoteRef", "secretName", "secret", "data"}
"""Manifest keys under which a secret's name or key may appear: references, not values.

``data`` is an ExternalSecret's list of remoteRefs; a ConfigMap's ``data`` is excluded below.
"""

REF_SLOTS: dict[str, dict[str, Any]] = {
    "model secretRef": {"model": {"credentials": {"secretRef": REF}}},
    "model remoteRef": {"model": {"credentials": {"remoteRef": REMOTE}}},
    "tool secretRef": {
        "tools": {
            "allowed": [{"name": "search", "kind": "domain", "credentials": {"secretRef": REF}}]
        }
    },
    "mcp token and header": {
        "tools": {
            "mcpServers": [
                {
                    "name": "docs",
                    "url": "https://mcp.example.com/mcp",
                    "credentials": {"secretRef": REF},
                    "headers": [{"name": "X-Key", "credentials": {"remoteRef": REMOTE}}],
                    "tools": [{"name": "lookup", "kind": "domain"}],
                }
            ]
        }
    },
    "api token": {"api": {"auth": {"mode": "token", "tokenSecretRef": REF}}},
    "external database": {
        "persistence": {"database": {"engine": "external", "external": {"secretName": MARKER}}}
    },
    "external cache": {
        "persistence": {"cache": {"engine": "external", "external": {"secretName": MARKER}}}
    },
    "env valueFrom": {"env": [{"name": "X", "valueFrom": {"secretKeyRef": REF}}]},
    "envFrom": {"envFrom": [{"secretRef": {"name": MARKER}}]},
    "tracing headers": {
        "observability": {
            "tracing": {"endpoint": "http://otel.example:4318", "headersSecretRef": REF}
        }
    },
}

URL_FORMS = [
    f"https://user:{MARKER}@host.example.com/v1",
    f"https://{MARKER}@host.example.com/v1",
    f"https://host.example.com/v1?api_key={MARKER}",
    f"https://host.example.com/v1?x=1&Token={MARKER}",
]
URL_SLOTS: dict[str, Any] = {
    "spec.model.endpoint": lambda url: {
        "model": {"provider": "openai-compatible", "endpoint": url}
    },
    "spec.queue.url": lambda url: {
        "queue": {"engine": "nats", "url": url.replace("https://", "nats://")}
    },
    "spec.observability.tracing.endpoint": lambda url: {
        "observability": {"tracing": {"endpoint": url}}
    },
    "spec.tools.mcpServers[0].url": lambda url: {
        "tools": {
            "mcpServers": [
                {"name": "docs", "url": url, "tools": [{"name": "lookup", "kind": "domain"}]}
            ]
        }
    },
}


def _merge(base: Any, overrides: dict[str, Any]) -> Any:
    if not isinstance(base, dict):
        return copy.deepcopy(overrides)
    out = copy.deepcopy(base)
    for key, value in overrides.items():
        out[key] = _merge(out.get(key), value) if isinstance(value, dict) else value
    return out


def _strings(node: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], str]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _strings(value, (*path, str(key)))
    elif isinstance(node, list):
        for value in node:
            yield from _strings(value, path)
    elif isinstance(node, str):
        yield path, node


def _as_value(manifest: dict[str, Any]) -> list[str]:
    """Where the marker shows up as a value rather than inside a reference."""
    leaks = []
    for path, text in _strings(manifest):
        if MARKER not in text:
            continue
        is_config_data = manifest.get("kind") == "ConfigMap" and path[:1] == ("data",)
        if is_config_data or not REFERENCE_KEYS & set(path):
            leaks.append(".".join(path))
    return leaks


BASES = st.one_of(st.just(MINIMAL_SPEC), VALID)


@settings(PROFILE)
@given(BASES, st.sampled_from(sorted(REF_SLOTS)))
def test_a_secret_reference_stays_a_reference(base: dict[str, Any], slot: str) -> None:
    rsp = _run(_merge(base, REF_SLOTS[slot]))
    for key, desired in rsp.desired.resources.items():
        manifest = resource.struct_to_dict(desired.resource)
        assert _as_value(manifest) == [], (slot, key)


@settings(PROFILE)
@given(BASES, st.sampled_from(sorted(URL_SLOTS)), st.sampled_from(URL_FORMS))
def test_a_url_carrying_a_credential_is_refused(base: dict[str, Any], slot: str, url: str) -> None:
    rsp = _run(_merge(base, URL_SLOTS[slot](url)))
    fatal = [r.message for r in rsp.results if r.severity == fnv1.SEVERITY_FATAL]
    assert len(rsp.desired.resources) == 0, (slot, url)
    for message in fatal:
        assert MARKER not in message, message
    if base is MINIMAL_SPEC:
        assert any(slot in message for message in fatal), (slot, fatal)
    conditions = resource.struct_to_dict(rsp.desired.composite.resource).get("status") or {}
    for condition in conditions.get("conditions") or []:
        assert MARKER not in condition.get("message", ""), condition
    for result in rsp.conditions:
        assert MARKER not in result.message, result
