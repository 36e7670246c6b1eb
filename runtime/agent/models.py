"""Chat models through the real LangChain provider packages.

`resolve_model` merges a node's DefinitionModel over the XAgent's spec.model (the settings);
`chat_model` builds one provider client; `bind_model` binds tools to the primary and the
fallback model and chains them with ``with_fallbacks``, so a provider error on the primary
model retries the same request on the fallback.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool
from pydantic import SecretStr

from contract.definition import DefinitionModel
from contract.env import ENV
from contract.providers import Need, Provider, provider
from runtime.settings import ConfigError, Settings

__all__ = ["ResolvedModel", "bind_model", "chat_model", "resolve_model"]

_T = TypeVar("_T")


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
    region: str | None = None
    max_retries: int = 2


def resolve_model(settings: Settings, override: DefinitionModel | None = None) -> ResolvedModel:
    """The model of a node: its DefinitionModel fields over the spec model in ``settings``.

    A node that switches provider keeps none of the spec's endpoint, key, fallback, API
    version or region (they belong to the other provider); its key comes from that
    provider's own variable.
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
        region=settings.model_region,
        max_retries=settings.model_max_retries,
    )
    if override is None:
        return spec
    if override.provider and override.provider != spec.provider:
        key = os.environ.get(provider(override.provider).key_env)
        spec = replace(
            spec,
            provider=override.provider,
            endpoint=None,
            fallback=None,
            api_key=SecretStr(key) if key else None,
            api_version=None,
            region=None,
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

    The provider's row in the contract's provider table names the LangChain class and its
    constructor's keywords. Streaming is on where the client has it, and usage is requested
    in streams, so token counts arrive with the final chunk even from OpenAI-compatible
    servers.

    Raises:
        ConfigError: Unknown provider, its package is not installed, or a setting it requires
            (key, endpoint, API version, region) is missing; the message names the variable.
    """
    try:
        row = provider(spec.provider)
    except KeyError as err:
        raise ConfigError(f"{ENV.MODEL_PROVIDER}: {err.args[0]}") from None
    _check_required(row, spec)
    return _client_class(row)(**_client_kwargs(row, spec, name or spec.name))


_SETTING_ENV = {
    "endpoint": ENV.MODEL_ENDPOINT,
    "apiVersion": ENV.MODEL_API_VERSION,
    "region": ENV.MODEL_REGION,
}


def _check_required(row: Provider, spec: ResolvedModel) -> None:
    if row.key == Need.REQUIRED and _key(spec) is None:
        raise ConfigError(f"{row.key_env}: required for provider {row.id}")
    values = {"endpoint": spec.endpoint, "apiVersion": spec.api_version, "region": spec.region}
    for field, need in row.needs().items():
        if need == Need.REQUIRED and not values[field]:
            raise ConfigError(f"{_SETTING_ENV[field]}: required for provider {row.id}")


def _client_class(row: Provider) -> type[BaseChatModel]:
    module_name, _, class_name = row.chat_model.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError:
        raise ConfigError(
            f"{ENV.MODEL_PROVIDER}: provider {row.id} needs the {row.package} package, "
            "which this runtime does not have"
        ) from None
    return getattr(module, class_name)


def _client_kwargs(row: Provider, spec: ResolvedModel, model: str) -> dict[str, Any]:
    """The constructor's keywords, named as the row's ClientParams say."""
    params = row.params
    key = _key(spec)
    kwargs: dict[str, Any] = {params.model: model, params.endpoint: spec.endpoint, **params.fixed}
    if params.key is not None:
        if key is None and params.placeholder_key:
            key = SecretStr(params.placeholder_key)
        kwargs[params.key] = key
    else:
        # The provider takes no key (Ollama); a proxy in front of it may want one.
        headers = {"Authorization": f"Bearer {key.get_secret_value()}"} if key else {}
        kwargs["client_kwargs"] = {"headers": headers} if headers else {}
    if params.api_version is not None:
        kwargs[params.api_version] = spec.api_version
    if params.region is not None:
        kwargs[params.region] = spec.region
    if params.max_retries is not None:
        kwargs[params.max_retries] = spec.max_retries
    # Sampling only when set: otherwise the client's own default applies.
    for name, value in (
        ("temperature", spec.temperature),
        ("top_p", spec.top_p),
        (params.max_tokens, spec.max_tokens),
    ):
        if value is not None:
            kwargs[name] = value
    return kwargs


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
