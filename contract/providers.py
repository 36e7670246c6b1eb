"""The model providers: one row each, read by the API, the function, the runtime and the docs.

A row says everything the two halves need to agree on: the provider's identifier (the API
enum), the LangChain chat model that talks to it and the package that ships it, the variable
its key travels in, which of endpoint, API version and region it needs, whether the function
composes a secret for it by default, and where its hosted API lives. The API's ``ModelProvider``
enum and validation, the function's ExternalSecrets and env, the runtime's model construction,
the README's provider table and the tests all read ``PROVIDERS``: a new provider is one row.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Final

__all__ = [
    "PROVIDERS",
    "ClientParams",
    "ModelProvider",
    "Need",
    "Provider",
    "provider",
]


class Need(StrEnum):
    """Whether a provider needs a setting."""

    REQUIRED = "required"
    OPTIONAL = "optional"
    UNUSED = "unused"


@dataclass(frozen=True)
class ClientParams:
    """Keyword names of the chat model's constructor, so one builder fits every provider.

    Identity settings (model, endpoint, key, API version, region) are always passed, None
    included, so a client never falls back to a variable of its own; sampling settings are
    passed only when set, so the client's own default applies otherwise.
    """

    model: str = "model"
    endpoint: str = "base_url"
    key: str | None = "api_key"
    """None: the key, if any, goes as ``Authorization: Bearer`` in ``client_kwargs.headers``."""
    max_tokens: str = "max_tokens"
    max_retries: str | None = "max_retries"
    api_version: str | None = None
    region: str | None = None
    placeholder_key: str | None = None
    """Sent when no key is configured, for clients that insist on one."""
    fixed: Mapping[str, object] = field(default_factory=lambda: MappingProxyType({}))
    """Always passed: streaming, with usage in streams where the client supports it."""


_STREAM_WITH_USAGE: Final = MappingProxyType({"streaming": True, "stream_usage": True})
_STREAM: Final = MappingProxyType({"streaming": True})


@dataclass(frozen=True)
class Provider:
    """One model provider."""

    id: str
    title: str
    package: str
    """The PyPI distribution that ships ``chat_model`` (a dependency of the runtime extra)."""
    chat_model: str
    """``module:Class`` of the LangChain chat model."""
    key_env: str
    """The variable that carries the key: the name the provider's own SDK reads."""
    key: Need
    """REQUIRED: the runtime refuses to start without a key."""
    needs_secret: bool
    """True: without credentials, the function syncs ``xagent/<tenantId>/<provider>``."""
    endpoint: Need
    default_endpoint: str | None
    hosted_endpoints: tuple[str, ...] | None
    """URL globs a tenant may call when its policy lists none; None: not restricted."""
    params: ClientParams
    api_version: Need = Need.UNUSED
    region: Need = Need.UNUSED
    note: str = ""

    def needs(self) -> dict[str, Need]:
        """The endpoint, API version and region needs, by API field name (camelCase)."""
        return {"endpoint": self.endpoint, "apiVersion": self.api_version, "region": self.region}


PROVIDERS: Final[tuple[Provider, ...]] = (
    Provider(
        id="openai",
        title="OpenAI",
        package="langchain-openai",
        chat_model="langchain_openai:ChatOpenAI",
        key_env="OPENAI_API_KEY",
        key=Need.REQUIRED,
        needs_secret=True,
        endpoint=Need.OPTIONAL,
        default_endpoint="https://api.openai.com/v1",
        hosted_endpoints=("https://api.openai.com",),
        params=ClientParams(max_tokens="max_completion_tokens", fixed=_STREAM_WITH_USAGE),
    ),
    Provider(
        id="anthropic",
        title="Anthropic",
        package="langchain-anthropic",
        chat_model="langchain_anthropic:ChatAnthropic",
        key_env="ANTHROPIC_API_KEY",
        key=Need.REQUIRED,
        needs_secret=True,
        endpoint=Need.OPTIONAL,
        default_endpoint="https://api.anthropic.com",
        hosted_endpoints=("https://api.anthropic.com",),
        params=ClientParams(fixed=_STREAM_WITH_USAGE),
    ),
    Provider(
        id="ollama",
        title="Ollama",
        package="langchain-ollama",
        chat_model="langchain_ollama:ChatOllama",
        key_env="OLLAMA_API_KEY",
        key=Need.OPTIONAL,
        needs_secret=False,
        endpoint=Need.REQUIRED,
        default_endpoint=None,
        hosted_endpoints=None,
        params=ClientParams(key=None, max_tokens="num_predict", max_retries=None),
        note="No key needed; one given is sent as a bearer token, for a proxy in front.",
    ),
    Provider(
        id="azure-openai",
        title="Azure OpenAI",
        package="langchain-openai",
        chat_model="langchain_openai:AzureChatOpenAI",
        key_env="AZURE_OPENAI_API_KEY",
        key=Need.REQUIRED,
        needs_secret=True,
        endpoint=Need.REQUIRED,
        default_endpoint=None,
        hosted_endpoints=(
            "https://*.openai.azure.com",
            "https://*.cognitiveservices.azure.com",
            "https://*.services.ai.azure.com",
        ),
        api_version=Need.REQUIRED,
        params=ClientParams(
            model="azure_deployment",
            endpoint="azure_endpoint",
            max_tokens="max_completion_tokens",
            api_version="api_version",
            fixed=_STREAM_WITH_USAGE,
        ),
        note="The model name is the deployment name.",
    ),
    Provider(
        id="bedrock",
        title="Amazon Bedrock",
        package="langchain-aws",
        chat_model="langchain_aws:ChatBedrockConverse",
        key_env="AWS_BEARER_TOKEN_BEDROCK",
        key=Need.OPTIONAL,
        needs_secret=False,
        endpoint=Need.OPTIONAL,
        default_endpoint=None,
        hosted_endpoints=("https://bedrock-runtime.*.amazonaws.com",),
        region=Need.REQUIRED,
        params=ClientParams(endpoint="endpoint_url", region="region_name", fixed=_STREAM),
        note="Credentials from the pod's cloud identity (a ServiceAccount annotation), or a "
        "Bedrock API key through credentials.",
    ),
    Provider(
        id="openai-compatible",
        title="OpenAI-compatible server",
        package="langchain-openai",
        chat_model="langchain_openai:ChatOpenAI",
        key_env="OPENAI_API_KEY",
        key=Need.OPTIONAL,
        needs_secret=True,
        endpoint=Need.REQUIRED,
        default_endpoint=None,
        hosted_endpoints=None,
        params=ClientParams(
            max_tokens="max_completion_tokens",
            placeholder_key="not-needed",
            fixed=_STREAM_WITH_USAGE,
        ),
        note="vLLM, LiteLLM, llama.cpp and the like; shares OPENAI_API_KEY with openai.",
    ),
    Provider(
        id="google-genai",
        title="Google Gemini",
        package="langchain-google-genai",
        chat_model="langchain_google_genai:ChatGoogleGenerativeAI",
        key_env="GOOGLE_API_KEY",
        key=Need.REQUIRED,
        needs_secret=True,
        endpoint=Need.OPTIONAL,
        default_endpoint="https://generativelanguage.googleapis.com",
        hosted_endpoints=("https://generativelanguage.googleapis.com",),
        params=ClientParams(fixed=_STREAM),
        note="The Gemini Developer API.",
    ),
)

_BY_ID: Final = {p.id: p for p in PROVIDERS}

ModelProvider = StrEnum(  # type: ignore[misc]
    "ModelProvider",
    [(p.id.upper().replace("-", "_"), p.id) for p in PROVIDERS],
    module=__name__,
)
ModelProvider.__doc__ = "LLM providers the runtime has a client for."


def provider(provider_id: str) -> Provider:
    """The row of ``provider_id``.

    Raises:
        KeyError: Naming the provider and the known ones.
    """
    try:
        return _BY_ID[str(provider_id)]
    except KeyError:
        known = ", ".join(_BY_ID)
        raise KeyError(f"unknown provider {provider_id!r} (one of {known})") from None
