"""Chat models through the real LangChain provider packages.

`resolve_model` merges a node's DefinitionModel over the XAgent's spec.model (the settings);
`chat_model` builds one provider client; `bind_model` binds tools to the primary and the
fallback model and chains them with ``with_fallbacks``, so a provider error on the primary
model retries the same request on the fallback.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool
from pydantic import SecretStr

from contract import env as contract_env
from contract.definition import DefinitionModel
from runtime.settings import PROVIDERS, ConfigError, Settings

__all__ = ["PLACEHOLDER_API_KEY", "ResolvedModel", "bind_model", "chat_model", "resolve_model"]

_T = TypeVar("_T")

PLACEHOLDER_API_KEY = "not-needed"
"""Sent to OpenAI-compatible endpoints when no key is configured; the client insists on one."""


@dataclass(frozen=True)
class ResolvedModel:
    """Everything needed to build one node's chat model."""

    provider: str
    name: str
    endpoint: str | None = None
    fallback: str | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    top_p: float | None = None
    api_key: SecretStr | None = None
    api_version: str | None = None
    max_retries: int = 2


def resolve_model(settings: Settings, override: DefinitionModel | None = None) -> ResolvedModel:
    """The model of a node: its DefinitionModel fields over the spec model in ``settings``.

    A node that switches provider keeps neither the spec's endpoint, key nor fallback (they
    belong to the other provider); its key comes from that provider's own variable.
    """
    spec = ResolvedModel(
        provider=str(settings.model_provider),
        name=settings.model_name,
        endpoint=settings.model_endpoint,
        fallback=settings.model_fallback,
        temperature=settings.model_temperature,
        max_tokens=settings.model_max_tokens,
        top_p=settings.model_top_p,
        api_key=settings.model_api_key,
        api_version=settings.model_api_version,
        max_retries=settings.model_max_retries,
    )
    if override is None:
        return spec
    if override.provider and override.provider != spec.provider:
        key = os.environ.get(contract_env.provider_api_key_env(override.provider))
        spec = replace(
            spec,
            provider=override.provider,
            endpoint=None,
            fallback=None,
            api_key=SecretStr(key) if key else None,
        )
    return replace(
        spec,
        name=override.model_name or spec.name,
        temperature=_first(override.temperature, spec.temperature),
        max_tokens=_first(override.max_tokens, spec.max_tokens),
        top_p=_first(override.top_p, spec.top_p),
    )


def _first(value: _T | None, default: _T | None) -> _T | None:
    return default if value is None else value


def chat_model(spec: ResolvedModel, name: str | None = None) -> BaseChatModel:
    """Build the provider's chat model for ``spec`` (model ``name`` if given, e.g. fallback).

    Streaming is on, and usage is requested in streams, so token counts arrive with the
    final chunk even from OpenAI-compatible servers.

    Raises:
        ConfigError: Unknown or unsupported provider, or a provider setting is missing.
    """
    model = name or spec.name
    if spec.provider in ("openai", "openai-compatible"):
        return _openai(spec, model)
    if spec.provider == "azure-openai":
        return _azure(spec, model)
    if spec.provider == "anthropic":
        return _anthropic(spec, model)
    if spec.provider == "ollama":
        return _ollama(spec, model)
    if spec.provider == "bedrock":
        raise ConfigError(
            "MODEL_PROVIDER: bedrock needs the langchain-aws package, which this runtime image "
            "does not bundle; use openai, openai-compatible, azure-openai, anthropic or ollama"
        )
    raise ConfigError(
        f"MODEL_PROVIDER: unknown provider {spec.provider!r} (one of {', '.join(PROVIDERS)})"
    )


def bind_model(
    spec: ResolvedModel, tools: Sequence[BaseTool]
) -> Runnable[LanguageModelInput, AIMessage]:
    """The runnable a node calls: the model bound to ``tools``, with the fallback behind it.

    Tools are bound to each model before chaining, because a fallback chain has no
    ``bind_tools`` of its own.
    """
    primary = _bind(chat_model(spec), tools)
    if not spec.fallback or spec.fallback == spec.name:
        return primary
    fallback = _bind(chat_model(spec, spec.fallback), tools)
    return primary.with_fallbacks([fallback])


def _bind(
    model: BaseChatModel, tools: Sequence[BaseTool]
) -> Runnable[LanguageModelInput, AIMessage]:
    return model.bind_tools(list(tools)) if tools else model


def _key(spec: ResolvedModel) -> SecretStr | None:
    return spec.api_key if spec.api_key and spec.api_key.get_secret_value() else None


def _common_kwargs(spec: ResolvedModel) -> dict[str, Any]:
    """Sampling, retries and streaming with usage: what the OpenAI-style clients share.

    Each provider adds its own model, endpoint, key and token limit (Ollama takes none of these
    under the same names).
    """
    return {
        "temperature": spec.temperature,
        "top_p": spec.top_p,
        "max_retries": spec.max_retries,
        "streaming": True,
        "stream_usage": True,
    }


def _openai(spec: ResolvedModel, model: str) -> BaseChatModel:
    from langchain_openai import ChatOpenAI

    key = _key(spec)
    if key is None:
        if spec.provider == "openai":
            raise ConfigError(
                f"{contract_env.provider_api_key_env('openai')}: required for provider openai"
            )
        key = SecretStr(PLACEHOLDER_API_KEY)
    if spec.provider == "openai-compatible" and not spec.endpoint:
        raise ConfigError("MODEL_ENDPOINT: required for provider openai-compatible")
    return ChatOpenAI(
        model=model,
        base_url=spec.endpoint,
        api_key=key,
        max_completion_tokens=spec.max_tokens,
        **_common_kwargs(spec),
    )


def _azure(spec: ResolvedModel, model: str) -> BaseChatModel:
    from langchain_openai import AzureChatOpenAI

    if not spec.endpoint:
        raise ConfigError("MODEL_ENDPOINT: required for provider azure-openai")
    if not spec.api_version:
        raise ConfigError("MODEL_API_VERSION: required for provider azure-openai")
    return AzureChatOpenAI(
        azure_deployment=model,
        azure_endpoint=spec.endpoint,
        api_version=spec.api_version,
        api_key=_key(spec),
        max_completion_tokens=spec.max_tokens,
        **_common_kwargs(spec),
    )


def _anthropic(spec: ResolvedModel, model: str) -> BaseChatModel:
    from langchain_anthropic import ChatAnthropic

    key = _key(spec)
    if key is None:
        raise ConfigError(
            f"{contract_env.provider_api_key_env('anthropic')}: required for provider anthropic"
        )
    kwargs: dict[str, object] = {}
    if spec.max_tokens is not None:  # ChatAnthropic has its own default; keep it when unset
        kwargs["max_tokens"] = spec.max_tokens
    return ChatAnthropic(
        model=model,
        base_url=spec.endpoint,
        api_key=key,
        **_common_kwargs(spec),
        **kwargs,
    )


def _ollama(spec: ResolvedModel, model: str) -> BaseChatModel:
    from langchain_ollama import ChatOllama

    client_kwargs: dict[str, object] = {}
    if key := _key(spec):
        # Ollama itself needs no key; a proxy in front of it may want one.
        client_kwargs["headers"] = {"Authorization": f"Bearer {key.get_secret_value()}"}
    return ChatOllama(
        model=model,
        base_url=spec.endpoint,
        temperature=spec.temperature,
        num_predict=spec.max_tokens,
        top_p=spec.top_p,
        client_kwargs=client_kwargs,
    )
