"""spec.env cannot set what the function checked, and spec.env/envFrom read only own Secrets."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from function import compose
from function.builders.deployment import PROTECTED_ENV, container_env
from function.definition_source import resolve
from function.errors import messages
from function.input import Policy
from function.spec import XAgentSpec
from tests.function.factories import MINIMAL_SPEC, deep_merge, make_ctx, make_spec


def _spec_errors(env: list[dict[str, Any]]) -> list[str]:
    with pytest.raises(ValidationError) as err:
        XAgentSpec.model_validate(deep_merge(MINIMAL_SPEC, {"env": env}))
    return messages(err.value, "spec")


@pytest.mark.parametrize(
    "name",
    [
        "MODEL_FALLBACK",
        "model_fallback",
        "Model_Endpoint",
        "TENANT_ID",
        "OPENAI_API_KEY",
        "OPENAI_BASE_URL",
        "openai_api_base",
        "ANTHROPIC_BASE_URL",
        "AZURE_OPENAI_ENDPOINT",
        "OLLAMA_HOST",
        "HTTPS_PROXY",
        "Https_Proxy",
        "all_proxy",
        "NO_PROXY",
        "REQUESTS_CA_BUNDLE",
        "SSL_CERT_FILE",
        "DATABASE_URL",
        "PG_PASSWORD",
        "REDIS_URL",
        "NATS_JOBS_SUBJECT",
        "TOOL_GITHUB_TOKEN",
        "LD_PRELOAD",
        "PYTHONPATH",
    ],
)
def test_protected_names_are_refused_with_the_field_path(name: str) -> None:
    errors = _spec_errors([{"name": "FOO", "value": "x"}, {"name": name, "value": "x"}])
    assert errors == [f"spec.env[1].name: {name} is set by xagent"]


@pytest.mark.parametrize("name", ["LOG_LEVEL", "SYSTEM_PROMPT", "FEATURE_FLAGS", "HOME"])
def test_tunables_may_be_set(name: str) -> None:
    env = container_env(make_ctx(make_spec(env=[{"name": name, "value": "v"}])))
    assert {"name": name, "value": "v"} in env


def test_every_protected_contract_name_is_written() -> None:
    """Explicit env wins over envFrom: each protected name written leaves envFrom nothing."""
    for spec in (make_spec(), make_spec(persistence={"database": {"engine": "none"}})):
        names = {e["name"] for e in container_env(make_ctx(spec))}
        assert names >= PROTECTED_ENV


def _violations(spec: dict[str, Any], policy: dict[str, Any] | None = None) -> list[str]:
    parsed = make_spec(**spec)
    outcome = compose.compose(
        "support-bot",
        "agents",
        parsed,
        resolve("support-bot", parsed, None),
        Policy.model_validate(policy or {}),
        {},
    )
    return [] if outcome.fatal is None else outcome.fatal.splitlines()[1:]


def _env_secret(name: str) -> dict[str, Any]:
    return {"env": [{"name": "X", "valueFrom": {"secretKeyRef": {"name": name, "key": "k"}}}]}


def test_env_may_not_read_another_agents_secret() -> None:
    (got,) = _violations(_env_secret("other-bot-model-openai-1234567890"))
    assert got == (
        "- spec.env[0].valueFrom.secretKeyRef.name: Secret "
        "'other-bot-model-openai-1234567890' is neither this XAgent's nor allowed by policy "
        "(policy rule credentials.envSecrets)"
    )


def test_env_from_secret_needs_policy() -> None:
    spec = {"envFrom": [{"secretRef": {"name": "shared-config"}}]}
    (got,) = _violations(spec)
    assert "spec.envFrom[0].secretRef.name: Secret 'shared-config'" in got
    assert _violations(spec, {"credentials": {"envSecrets": ["shared-*"]}}) == []


def test_env_may_read_own_secrets() -> None:
    own = container_env(make_ctx())
    (key,) = [e for e in own if e["name"] == "OPENAI_API_KEY"]
    assert _violations(_env_secret(key["valueFrom"]["secretKeyRef"]["name"])) == []
    spec = {"model": {"credentials": {"secretRef": {"name": "mine"}}}, **_env_secret("mine")}
    assert _violations(spec) == []


def test_unset_protected_names_have_no_empty_value() -> None:
    """EnvVar.value is omitempty: the API server stores ``value: ""`` as no value, so an
    empty value is rendered as none and the stored Deployment equals the rendered one."""
    for spec in (make_spec(), make_spec(persistence={"database": {"engine": "none"}})):
        empty = [e for e in container_env(make_ctx(spec)) if e.get("value") == ""]
        assert empty == []


# --- spec.observability.tracing.headersSecretRef: a secret reference, confined the same way ---


def _tracing_headers(secret: str) -> dict[str, Any]:
    ref = {"name": secret, "key": "headers"}
    return {"observability": {"tracing": {"endpoint": "https://lf/otel", "headersSecretRef": ref}}}


def _own_model_secret() -> str:
    (key,) = [e for e in container_env(make_ctx()) if e["name"] == "OPENAI_API_KEY"]
    return key["valueFrom"]["secretKeyRef"]["name"]


def test_tracing_headers_may_not_read_another_agents_secret() -> None:
    (got,) = _violations(_tracing_headers("other-bot-model-openai-1234567890"))
    assert got == (
        "- spec.observability.tracing.headersSecretRef.name: Secret "
        "'other-bot-model-openai-1234567890' is neither this XAgent's nor allowed by policy "
        "(policy rule credentials.envSecrets)"
    )


def test_tracing_headers_from_an_allowed_or_own_secret() -> None:
    spec = _tracing_headers("langfuse-support-bot")
    assert len(_violations(spec)) == 1
    assert _violations(spec, {"credentials": {"envSecrets": ["langfuse-{name}"]}}) == []
    own = {"model": {"credentials": {"secretRef": {"name": "mine"}}}, **_tracing_headers("mine")}
    assert _violations(own) == []


@given(secret=st.from_regex(r"[a-z0-9]([-a-z0-9]{0,40}[a-z0-9])?", fullmatch=True))
@settings(max_examples=50, deadline=None)
def test_tracing_headers_secret_outside_the_globs_is_always_refused(secret: str) -> None:
    """Whatever name a tenant writes, only policy's globs (or its own Secrets) admit it,
    and an admitted one reaches the pod only as a reference, never as a value."""
    policy = {"credentials": {"envSecrets": ["otlp-*"]}}
    got = _violations(_tracing_headers(secret), policy)
    if secret.startswith("otlp-") or secret == _own_model_secret():
        assert got == []
    else:
        assert len(got) == 1
        assert "spec.observability.tracing.headersSecretRef.name" in got[0]
    env = container_env(make_ctx(make_spec(**_tracing_headers(secret))))
    (headers,) = [e for e in env if e["name"] == "OTEL_EXPORTER_OTLP_HEADERS"]
    assert headers == {
        "name": "OTEL_EXPORTER_OTLP_HEADERS",
        "valueFrom": {"secretKeyRef": {"name": secret, "key": "headers"}},
    }


def test_user_env_cannot_replace_the_tracing_headers_reference() -> None:
    """A spec.env entry of the same name never replaces a generated secret reference."""
    spec = make_spec(
        **_tracing_headers("otlp-x"),
        env=[{"name": "OTEL_EXPORTER_OTLP_HEADERS", "value": "Authorization=forged"}],
    )
    (headers,) = [
        e for e in container_env(make_ctx(spec)) if e["name"].startswith("OTEL_EXPORTER_OTLP_H")
    ]
    assert headers["valueFrom"]["secretKeyRef"]["name"] == "otlp-x"


@pytest.mark.parametrize(
    "value",
    [
        "$(OPENAI_API_KEY)",
        "key=$(PG_PASSWORD);",
        "$$$(REDIS_PASSWORD)",  # $$ is a literal $, then a reference
        "$(NATS_PASSWORD)$(X)",
        "$(TOOL_GITHUB_TOKEN)",
    ],
)
def test_values_may_not_read_protected_variables_by_expansion(value: str) -> None:
    """The kubelet expands $(NAME) from the container's earlier variables: spec.env could
    read the credentials it may not name (SYSTEM_PROMPT=$(OPENAI_API_KEY) sends the key to
    the model with every prompt)."""
    [error] = _spec_errors([{"name": "SYSTEM_PROMPT", "value": value}])
    assert error.startswith("spec.env[0].value: $(")
    assert "which is set by xagent (write $$ for a literal $)" in error


@pytest.mark.parametrize("value", ["$$(OPENAI_API_KEY)", "$(MY_OWN)", "cost: $5", "$(", "$"])
def test_values_may_expand_other_variables_or_escape(value: str) -> None:
    spec = make_spec(env=[{"name": "SYSTEM_PROMPT", "value": value}])
    assert spec.env[0].value == value


def test_the_system_prompt_is_never_expanded() -> None:
    from tests.function.kubelet import expand as kubelet_expand

    prompt = "Never print $(OPENAI_API_KEY) or $$(PG_PASSWORD); prices in $."
    env = container_env(make_ctx(make_spec(systemPrompt=prompt)))
    seen: dict[str, str] = {}
    for entry in env:
        if "value" in entry:
            seen[entry["name"]] = kubelet_expand(entry["value"], {**seen, "OPENAI_API_KEY": "sk"})
    assert seen["SYSTEM_PROMPT"] == prompt


@settings(max_examples=300)
@given(st.text(alphabet="$()AB", max_size=24))
def test_env_references_are_what_the_kubelet_expands(value: str) -> None:
    from function.k8s_types import env_references
    from tests.function.kubelet import expand as kubelet_expand

    names = {n: f"<{n}>" for n in ("", "A", "B", "AB", "BA", "AA", "BB", "A(", "B(")}
    expanded = kubelet_expand(value, names)
    assert all(f"<{n}>" in expanded for n in env_references(value) if n in names)
    # Nothing expands that env_references does not report.
    assert kubelet_expand(value, {}) == kubelet_expand(
        value, {n: v for n, v in names.items() if n not in env_references(value)}
    )
