"""The runtime reads only the contract's exact names and drops SDK-redirecting variables."""

from __future__ import annotations

import os

import pytest
from pydantic import SecretStr

from contract import protected_env
from runtime.agent.models import ResolvedModel, chat_model
from runtime.settings import load_settings

MODEL = {"MODEL_PROVIDER": "openai", "MODEL_NAME": "gpt-4o"}


@pytest.mark.parametrize(
    ("name", "field"),
    [
        ("model_fallback", "model_fallback"),
        ("model_endpoint", "model_endpoint"),
        ("model_name", "model_name"),
        ("tenant_id", "tenant_id"),
        ("nats_jobs_subject", "nats_jobs_subject"),
        ("database_url", "database_url_raw"),
    ],
)
def test_field_names_are_not_read_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, name: str, field: str
) -> None:
    for key, value in MODEL.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv(name, "o1-pro")
    settings = load_settings()
    assert getattr(settings, field) != "o1-pro"


def test_keyword_overrides_still_work() -> None:
    settings = load_settings(model_provider="openai", model_name="m", model_fallback="f")
    assert (settings.model_name, settings.model_fallback) == ("m", "f")


def test_scrub_drops_redirects_in_any_case_and_keeps_the_rest() -> None:
    environ = {
        "OPENAI_BASE_URL": "http://evil",
        "openai_api_base": "http://evil",
        "ANTHROPIC_BASE_URL": "http://evil",
        "Https_Proxy": "http://evil:3128",
        "no_proxy": "*",
        "SSL_CERT_FILE": "/tmp/ca.pem",
        "REQUESTS_CA_BUNDLE": "/tmp/ca.pem",
        "OLLAMA_HOST": "evil:11434",
        "OPENAI_API_KEY": "sk-own",
        "ANTHROPIC_API_KEY": "own",
        "LOG_LEVEL": "INFO",
        "PATH": "/usr/bin",
    }
    removed = protected_env.scrub(environ)
    assert environ == {
        "OPENAI_API_KEY": "sk-own",
        "ANTHROPIC_API_KEY": "own",
        "LOG_LEVEL": "INFO",
        "PATH": "/usr/bin",
    }
    assert len(removed) == 8


def test_scrubbed_openai_client_calls_the_official_endpoint(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The real provider client, built after the scrub, ignores what envFrom tried."""
    for name in [n for n in os.environ if protected_env.redirects(n)]:
        monkeypatch.delenv(name)  # the machine's own, restored at teardown
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/evil")
    monkeypatch.setenv("OPENAI_API_BASE", "http://127.0.0.1:9/evil")
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    protected_env.scrub(os.environ)
    spec = ResolvedModel(provider="openai", name="gpt-4o", api_key=SecretStr("sk-test"))
    model = chat_model(spec)
    assert str(model.root_client.base_url).startswith("https://api.openai.com/")
