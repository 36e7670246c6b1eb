"""The model factory: provider clients, sampling parameters, per-node overrides, fallback."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

import pytest
from langchain_anthropic import ChatAnthropic
from langchain_core.messages import HumanMessage
from langchain_ollama import ChatOllama
from langchain_openai import AzureChatOpenAI, ChatOpenAI

from contract.definition import DefinitionModel
from contract.providers import PROVIDERS as PROVIDER_TABLE
from contract.providers import Need, provider
from runtime.agent.models import bind_model, chat_model, resolve_model
from runtime.settings import ConfigError
from tests.runtime.conftest import STUB_MODEL, SettingsFactory
from tests.runtime.stub_llm import StubLLM


async def test_sampling_parameters_are_sent_to_the_provider(
    llm: StubLLM, make_settings: SettingsFactory
) -> None:
    settings = make_settings(model_temperature=0.25, model_max_tokens=321, model_top_p=0.5)
    await bind_model(resolve_model(settings), []).ainvoke([HumanMessage("hi")])

    sent = llm.requests[-1]
    assert (sent["temperature"], sent["max_completion_tokens"], sent["top_p"]) == (0.25, 321, 0.5)
    assert sent["stream"] is True
    assert sent["stream_options"] == {"include_usage": True}


async def test_unset_sampling_parameters_are_not_sent(
    llm: StubLLM, make_settings: SettingsFactory
) -> None:
    await bind_model(resolve_model(make_settings()), []).ainvoke([HumanMessage("hi")])
    assert not {"temperature", "max_completion_tokens", "max_tokens", "top_p"} & set(
        llm.requests[-1]
    )


async def test_fallback_model_answers_when_primary_fails(
    llm: StubLLM, make_settings: SettingsFactory
) -> None:
    settings = make_settings(model_name="broken-model", model_fallback=STUB_MODEL)
    answer = await bind_model(resolve_model(settings), []).ainvoke([HumanMessage("hi")])

    assert answer.content == "stub answer: hi"
    assert [r["model"] for r in llm.requests] == ["broken-model", STUB_MODEL]
    assert llm.requests[0]["messages"] == llm.requests[1]["messages"]


@dataclass
class OverrideCase:
    name: str
    override: DefinitionModel | None
    want: dict[str, Any]


OVERRIDES = [
    OverrideCase(
        "NoOverrideKeepsSpec",
        None,
        {"name": "spec-model", "temperature": 0.1, "max_tokens": 100, "top_p": 0.9},
    ),
    OverrideCase(
        "NodeFieldsWin",
        DefinitionModel(model_name="node-model", temperature=0.0, max_tokens=7),
        {"name": "node-model", "temperature": 0.0, "max_tokens": 7, "top_p": 0.9},
    ),
    OverrideCase(
        "OtherProviderDropsSpecEndpointAndFallback",
        DefinitionModel(provider="anthropic", model_name="claude"),
        {"provider": "anthropic", "endpoint": None, "fallback": None, "name": "claude"},
    ),
]


@pytest.mark.parametrize("case", OVERRIDES, ids=[c.name for c in OVERRIDES])
def test_node_model_overrides_spec_model(
    case: OverrideCase, make_settings: SettingsFactory
) -> None:
    settings = make_settings(
        model_name="spec-model",
        model_temperature=0.1,
        model_max_tokens=100,
        model_top_p=0.9,
        model_fallback="spec-fallback",
    )
    spec = resolve_model(settings, case.override)
    assert {k: getattr(spec, k) for k in case.want} == case.want


def test_node_on_other_provider_reads_that_providers_key(
    make_settings: SettingsFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
    spec = resolve_model(make_settings(), DefinitionModel(provider="anthropic"))
    assert spec.api_key is not None
    assert spec.api_key.get_secret_value() == "sk-ant-test"


@dataclass
class ProviderCase:
    name: str
    settings: dict[str, Any]
    cls: type
    want: dict[str, Any]


PROVIDERS = [
    ProviderCase(
        "OpenAICompatibleWithoutKeyUsesPlaceholder",
        {"model_provider": "openai-compatible", "model_endpoint": "http://127.0.0.1:8000/v1"},
        ChatOpenAI,
        {"openai_api_base": "http://127.0.0.1:8000/v1", "streaming": True, "stream_usage": True},
    ),
    ProviderCase(
        "Anthropic",
        {"model_provider": "anthropic", "model_api_key": "k", "model_max_tokens": 50},
        ChatAnthropic,
        {"max_tokens": 50, "streaming": True, "stream_usage": True},
    ),
    ProviderCase(
        "Ollama",
        {
            "model_provider": "ollama",
            "model_endpoint": "http://ollama:11434",
            "model_max_tokens": 64,
        },
        ChatOllama,
        {"base_url": "http://ollama:11434", "num_predict": 64},
    ),
    ProviderCase(
        "AzureOpenAI",
        {
            "model_provider": "azure-openai",
            "model_endpoint": "https://x.openai.azure.com",
            "model_api_version": "2024-10-21",
            "model_api_key": "k",
        },
        AzureChatOpenAI,
        {"deployment_name": "m", "openai_api_version": "2024-10-21"},
    ),
]


@pytest.mark.parametrize("case", PROVIDERS, ids=[c.name for c in PROVIDERS])
def test_provider_clients(case: ProviderCase, make_settings: SettingsFactory) -> None:
    model = chat_model(resolve_model(make_settings(model_name="m", **case.settings)))
    assert type(model) is case.cls
    assert {k: getattr(model, k) for k in case.want} == case.want


def test_openai_compatible_without_key_sends_placeholder(make_settings: SettingsFactory) -> None:
    model = chat_model(resolve_model(make_settings()))
    assert isinstance(model, ChatOpenAI)
    assert model.openai_api_key is not None
    assert model.openai_api_key.get_secret_value() == (
        provider("openai-compatible").params.placeholder_key
    )


@pytest.mark.parametrize(
    ("settings", "want"),
    [
        pytest.param({"model_provider": "bedrock"}, "MODEL_REGION", id="BedrockWithoutRegion"),
        pytest.param({"model_provider": "google-genai"}, "GOOGLE_API_KEY", id="GeminiWithoutKey"),
        pytest.param({"model_provider": "openai"}, "OPENAI_API_KEY", id="OpenAIWithoutKey"),
        pytest.param({"model_provider": "anthropic"}, "ANTHROPIC_API_KEY", id="AnthropicNoKey"),
        pytest.param(
            {"model_provider": "openai-compatible", "model_endpoint": ""},
            "MODEL_ENDPOINT",
            id="CompatibleWithoutEndpoint",
        ),
        pytest.param(
            {"model_provider": "azure-openai", "model_endpoint": "https://x", "model_api_key": "k"},
            "MODEL_API_VERSION",
            id="AzureWithoutApiVersion",
        ),
    ],
)
def test_unusable_provider_settings_name_the_variable(
    settings: dict[str, Any], want: str, make_settings: SettingsFactory
) -> None:
    with pytest.raises(ConfigError, match=want):
        chat_model(resolve_model(make_settings(**settings)))


# --- every row of the provider table ---------------------------------------------------------

_REQUIRED_SETTINGS = {
    "endpoint": ("model_endpoint", "https://models.example.test/v1"),
    "apiVersion": ("model_api_version", "2024-10-21"),
    "region": ("model_region", "eu-west-1"),
}


def _complete_settings(row_id: str) -> dict[str, Any]:
    """Settings that satisfy every requirement the row declares, with a key."""
    row = provider(row_id)
    out: dict[str, Any] = {"model_provider": row.id, "model_api_key": "k"}
    for field, need in row.needs().items():
        if need == Need.REQUIRED:
            name, value = _REQUIRED_SETTINGS[field]
            out[name] = value
    return out


@pytest.mark.parametrize("row", PROVIDER_TABLE, ids=[p.id for p in PROVIDER_TABLE])
def test_every_provider_row_builds_its_chat_model(row: Any, make_settings: SettingsFactory) -> None:
    """The row's class, built offline from the row's keywords: a new provider is one row."""
    settings = make_settings(
        model_name="m",
        model_temperature=0.3,
        model_top_p=0.5,
        model_max_tokens=42,
        **_complete_settings(row.id),
    )
    model = chat_model(resolve_model(settings))

    module, _, cls = row.chat_model.partition(":")
    assert type(model) is getattr(importlib.import_module(module), cls)
    assert getattr(model, "temperature", None) == 0.3
    assert getattr(model, "top_p", None) == 0.5
    # Model name, token limit, endpoint, API version and region each reach the client under
    # the keyword the row names (max_completion_tokens, num_predict, region_name, ...).
    dumped = model.model_dump()
    sent = {"m", 42} | {
        v
        for k, v in _complete_settings(row.id).items()
        if k not in ("model_provider", "model_api_key")
    }
    assert sent <= {v for v in dumped.values() if isinstance(v, str | int | float)}


@pytest.mark.parametrize(
    ("row", "field"),
    [
        (p, field)
        for p in PROVIDER_TABLE
        for field, need in p.needs().items()
        if need == Need.REQUIRED
    ],
    ids=lambda v: v.id if hasattr(v, "id") else v,
)
def test_every_required_setting_is_checked_at_startup(
    row: Any, field: str, make_settings: SettingsFactory
) -> None:
    settings = _complete_settings(row.id)
    env_field, _ = _REQUIRED_SETTINGS[field]
    settings[env_field] = ""  # unset, over the stub endpoint the fixture sets
    with pytest.raises(ConfigError, match=f"required for provider {row.id}"):
        chat_model(resolve_model(make_settings(model_name="m", **settings)))


@pytest.mark.parametrize(
    "row",
    [p for p in PROVIDER_TABLE if p.key == Need.REQUIRED],
    ids=lambda p: p.id,
)
def test_a_required_key_is_checked_at_startup(row: Any, make_settings: SettingsFactory) -> None:
    settings = _complete_settings(row.id)
    del settings["model_api_key"]
    with pytest.raises(ConfigError, match=row.key_env):
        chat_model(resolve_model(make_settings(model_name="m", **settings)))
