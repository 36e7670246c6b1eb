"""Policy oracle: whatever a tenant writes, the runtime never holds what policy forbids.

For generated specs under a generated policy, every spec the function composes is turned into
the runtime container's environment the way the kubelet builds it (a hostile envFrom source
first, supplying every protected name in several spellings, then the explicit env), scrubbed
as the runtime's entry point scrubs it, and read by the runtime's own Settings. The oracle
checks the result with plain rules written here, not with the function's policy code.
"""

from __future__ import annotations

import fnmatch
import os
from typing import Any
from unittest import mock
from urllib.parse import urlsplit

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from contract import protected_env
from contract.providers import provider as provider_row
from function import compose
from function.definition_source import resolve
from function.input import Policy
from function.spec import XAgentSpec
from runtime.settings import ConfigError, Settings, load_settings

NAMESPACE = "agents"
PROVIDERS = ["openai", "anthropic", "openai-compatible"]
OFFICIAL_HOSTS = {"openai": "api.openai.com", "anthropic": "api.anthropic.com"}
MODELS = ["gpt-4o", "gpt-4o-mini", "claude-x", "o1-pro", "llama3"]
ENDPOINTS = [
    None,
    "https://api.openai.com/v1",
    "https://api.anthropic.com",
    "http://vllm.models.svc:8000/v1",
    "https://evil.example/v1",
    "https://api.openai.com@evil.example/v1",
    "https://evil.example/api.openai.com",
    "https://api.openai.com/v1?api_key=sk-x",
]
CREDENTIALS = [
    None,
    {"remoteRef": {"key": "xagent/t1/openai"}},
    {"remoteRef": {"key": "xagent/acme/openai"}},
    {"remoteRef": {"key": "xagent/t1/../acme/openai"}},
    {"secretRef": {"name": "mine"}},
]
ENV_NAMES = [
    "model_fallback",
    "MODEL_FALLBACK",
    "MODEL_ENDPOINT",
    "model_name",
    "OPENAI_BASE_URL",
    "openai_api_base",
    "Https_Proxy",
    "OPENAI_API_KEY",
    "NATS_JOBS_SUBJECT",
    "LOG_LEVEL",
    "FOO",
]
EVIL = "o1-pro"
EVIL_URL = "https://evil.example/v1"

_HOSTILE_ENV_FROM: dict[str, str] = {}
for _name in [*protected_env.CONTRACT_NAMES, "OPENAI_BASE_URL", "OPENAI_API_BASE", "HTTPS_PROXY"]:
    for _variant in (_name, _name.lower()):
        _HOSTILE_ENV_FROM[_variant] = EVIL_URL if "URL" in _name or "PROXY" in _name else EVIL
_HOSTILE_ENV_FROM |= {"MODEL_ENDPOINT": EVIL_URL, "model_endpoint": EVIL_URL}


@st.composite
def policies(draw: st.DrawFn) -> dict[str, Any]:
    tenant: dict[str, Any] = {"tenantId": draw(st.sampled_from(["t1", "*"]))}
    tenant["allowedProviders"] = draw(
        st.lists(st.sampled_from(PROVIDERS), min_size=1, max_size=3, unique=True)
    )
    tenant["allowedModels"] = draw(
        st.lists(st.sampled_from(["gpt-4o*", "claude-*", "llama*"]), unique=True)
    )
    if draw(st.booleans()):
        tenant["allowedEndpoints"] = [
            {"provider": "openai-compatible", "urls": ["http://vllm.models.svc:8000"]}
        ]
    return {"tenants": [tenant]}


@st.composite
def specs(draw: st.DrawFn) -> dict[str, Any]:
    model: dict[str, Any] = {
        "provider": draw(st.sampled_from(PROVIDERS)),
        "name": draw(st.sampled_from(MODELS)),
    }
    for key, pool in (
        ("fallbackModel", [None, *MODELS]),
        ("endpoint", ENDPOINTS),
        ("credentials", CREDENTIALS),
    ):
        value = draw(st.sampled_from(pool))
        if value is not None:
            model[key] = value
    env = [
        {"name": name, "value": EVIL}
        for name in draw(
            st.one_of(st.just([]), st.lists(st.sampled_from(ENV_NAMES), max_size=2, unique=True))
        )
    ]
    if draw(st.booleans()):
        ref = {"name": draw(st.sampled_from(["other-bot-model-openai", "mine"])), "key": "k"}
        env.append({"name": "STOLEN", "valueFrom": {"secretKeyRef": ref}})
    spec: dict[str, Any] = {
        "tenantId": "t1",
        "model": model,
        "definition": {"nodes": [{"type": "orchestrator", "name": "main"}]},
        "env": env,
        "envFrom": [{"configMapRef": {"name": "hostile"}}],
    }
    if draw(st.booleans()):
        spec["queue"] = {"subjectPrefix": draw(st.sampled_from(["xagent.agents.x", "xagent.b.x"]))}
    return spec


def _container_env(outcome: compose.Outcome) -> dict[str, str]:
    """What the process sees: envFrom first, then explicit env over it (kubelet order)."""
    environ = dict(_HOSTILE_ENV_FROM)
    (container,) = outcome.desired["deployment"]["spec"]["template"]["spec"]["containers"]
    for entry in container["env"]:
        if "valueFrom" not in entry:
            # No value is the empty string (EnvVar.value is omitempty).
            environ[entry["name"]] = entry.get("value", "")
        else:
            ref = entry["valueFrom"].get("secretKeyRef")
            # A Secret's value stands for where it came from; ports must still parse.
            port = entry["name"].endswith("_PORT")
            environ[entry["name"]] = "5432" if port else f"<secret {ref['name']}>"
    return environ


def _allowed(policy: dict[str, Any], provider: str, model: str | None) -> bool:
    tenant = policy["tenants"][0]
    providers, models = tenant["allowedProviders"], tenant["allowedModels"]
    return (not providers or provider in providers) and (
        model is None or not models or any(fnmatch.fnmatchcase(model, g) for g in models)
    )


def _settings(environ: dict[str, str]) -> Settings | None:
    with mock.patch.dict(os.environ, environ, clear=True):
        try:
            return load_settings()
        except ConfigError:
            return None  # the runtime refuses to start: it holds nothing


def test_oracle_is_not_vacuous() -> None:
    """A compliant spec under the hostile envFrom reaches the runtime's Settings."""
    spec = XAgentSpec.model_validate(
        {
            "tenantId": "t1",
            "model": {"provider": "openai", "name": "gpt-4o"},
            "definition": {"nodes": [{"type": "orchestrator", "name": "main"}]},
            "envFrom": [{"configMapRef": {"name": "hostile"}}],
        }
    )
    policy = Policy.model_validate({"tenants": [{"tenantId": "t1"}]})
    outcome = compose.compose("bot", NAMESPACE, spec, resolve("bot", spec, None), policy, {})
    environ = _container_env(outcome)
    protected_env.scrub(environ)
    got = _settings(environ)
    assert got is not None
    assert (got.model_name, got.model_fallback, got.model_endpoint) == ("gpt-4o", None, None)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec_data=specs(), policy_data=policies())
def test_runtime_settings_hold_only_what_policy_allows(
    spec_data: dict[str, Any], policy_data: dict[str, Any]
) -> None:
    try:
        spec = XAgentSpec.model_validate(spec_data)
    except ValidationError:
        return  # refused with a field path: nothing composed
    outcome = compose.compose(
        "bot", NAMESPACE, spec, resolve("bot", spec, None), Policy.model_validate(policy_data), {}
    )
    if outcome.fatal:
        return  # refused: nothing composed
    environ = _container_env(outcome)
    protected_env.scrub(environ)
    assert not [n for n in environ if protected_env.redirects(n) and "API_KEY" not in n]
    got = _settings(environ)
    if got is None:
        return
    provider = str(got.model_provider)
    assert _allowed(policy_data, provider, got.model_name)
    assert _allowed(policy_data, provider, got.model_fallback)
    assert (provider, got.model_name) == (spec.model.provider, spec.model.name)
    if got.model_endpoint is not None:
        parts = urlsplit(got.model_endpoint)
        assert "@" not in parts.netloc
        assert "api_key" not in parts.query
        if provider in OFFICIAL_HOSTS:
            assert parts.hostname == OFFICIAL_HOSTS[provider]
        elif "allowedEndpoints" in policy_data["tenants"][0]:
            assert parts.hostname == "vllm.models.svc"
    # The API key is read from a Secret this XAgent composes or names as its credential.
    key = environ.get(provider_row(provider).key_env, "")
    own = {
        m["spec"]["target"]["name"]
        for m in outcome.desired.values()
        if m["kind"] == "ExternalSecret"
        and "data" in m["spec"]  # the cache password comes from a generator (dataFrom)
        and m["spec"]["data"][0]["remoteRef"]["key"].startswith("xagent/t1/")
        and ".." not in m["spec"]["data"][0]["remoteRef"]["key"]
    }
    creds = spec.model.credentials
    if creds is not None and creds.secret_ref is not None:
        own.add(creds.secret_ref.name)
    assert key in {f"<secret {name}>" for name in own}
    if "STOLEN" in environ:
        assert environ["STOLEN"] in {f"<secret {name}>" for name in own}
    assert (got.nats_jobs_subject or "").startswith(f"xagent.{NAMESPACE}.")
