"""Environment variables a tenant may never set: the function refuses them in spec.env, writes
the contract's own always (so an envFrom source cannot supply them), and the runtime drops the
SDK-redirecting ones from its environment before any provider client starts.

Three families:

* the contract's names that carry identity, model, endpoint, credentials, policy, grants and
  backends (contract/env.py): the function checked or composed their values;
* names the provider SDKs and HTTP stacks read to redirect or intercept calls: base URLs,
  proxies, CA bundles, custom headers (openai, anthropic, langchain-openai/-anthropic,
  ollama, httpx and urllib read every ``*_proxy`` in any case, requests, grpc);
* names the dynamic loader and the interpreter read to run other code at startup.

Names compare case-insensitively: urllib reads ``https_proxy`` and ``HTTPS_PROXY`` alike, and
a lower-case variant of a contract name is refused too rather than reasoned about. Standard
library only, like the contract.
"""

from __future__ import annotations

import re
from collections.abc import MutableMapping

from contract.env import CACHE_ENV, DATABASE_ENV, ENV, QUEUE_ENV, TASK_ENV
from contract.providers import PROVIDERS

__all__ = [
    "CONTRACT_NAMES",
    "CREDENTIAL_NAMES",
    "protected",
    "redirects",
    "scrub",
]

CREDENTIAL_NAMES = frozenset(p.key_env for p in PROVIDERS)
"""Provider API keys, under the names their SDKs read; only ever from a composed secretKeyRef."""

CONTRACT_NAMES = frozenset(
    {
        ENV.AGENT_NAME,
        ENV.AGENT_NAMESPACE,
        ENV.AGENT_DEFINITION_ID,
        ENV.AGENT_DEFINITION_PATH,
        ENV.TOOL_GRANTS_PATH,
        ENV.TENANT_ID,
        ENV.RISK_TIER,
        ENV.MODEL_PROVIDER,
        ENV.MODEL_NAME,
        ENV.MODEL_ENDPOINT,
        ENV.MODEL_FALLBACK,
        ENV.MODEL_API_VERSION,
        ENV.API_AUTH_MODE,
        ENV.API_AUTH_AUDIENCE,
        ENV.API_AUTH_TOKENS_PATH,
        *(v for k, v in vars(DATABASE_ENV).items() if k.isupper()),
        *(v for k, v in vars(CACHE_ENV).items() if k.isupper()),
        *(v for k, v in vars(QUEUE_ENV).items() if k.isupper()),
        *CREDENTIAL_NAMES,
    }
)
"""What the function always writes (empty when unset) and spec.env may never name."""

_TASK_NAMES = frozenset(v for k, v in vars(TASK_ENV).items() if k.isupper())
"""Task mode's input: only from spec.task (bounded, and the same for every retry); the task
Job's explicit entries win over envFrom, and a service's pod does not read them."""

_TOOL_CREDENTIAL = re.compile(r"^TOOL_[A-Z0-9_]+_TOKEN$")
"""contract.tool_credential_env names, hashed variants included."""

_SDK_EXACT = frozenset(
    {
        "AWS_BEDROCK_BASE_URL",
        "AWS_CA_BUNDLE",
        "CURL_CA_BUNDLE",
        "GRPC_DEFAULT_SSL_ROOTS_FILE_PATH",
        "REQUESTS_CA_BUNDLE",
        "SSLKEYLOGFILE",
        "SSL_CERT_DIR",
        "SSL_CERT_FILE",
    }
)
_SDK_PREFIXES = (
    "OPENAI_",
    "ANTHROPIC_",
    "AZURE_OPENAI_",
    "OLLAMA_",
    "AWS_ENDPOINT_URL",
    # google-genai: GOOGLE_GENAI_USE_VERTEXAI and GEMINI_API_KEY switch backend or key.
    "GOOGLE_GENAI_",
    "GOOGLE_GEMINI_",
    "GEMINI_",
)
"""Every variable of these SDKs: base URLs, proxies, headers, organisations, API types."""
_SDK_SUFFIXES = ("_PROXY",)
"""urllib (and so httpx) takes a proxy from every ``<scheme>_proxy`` and NO_PROXY."""

_STARTUP = frozenset(
    {
        "LD_AUDIT",
        "LD_LIBRARY_PATH",
        "LD_PRELOAD",
        "PYTHONBREAKPOINT",
        "PYTHONHOME",
        "PYTHONINSPECT",
        "PYTHONPATH",
        "PYTHONSTARTUP",
        "PYTHONUSERBASE",
        "PYTHONWARNINGS",
    }
)
"""Variables that make the loader or the interpreter run code the image does not ship."""


def redirects(name: str) -> bool:
    """Whether an SDK or HTTP stack reads ``name`` to send calls elsewhere or intercept them."""
    upper = name.upper()
    return (
        upper in _SDK_EXACT
        or upper == "NO_PROXY"
        or upper.startswith(_SDK_PREFIXES)
        or upper.endswith(_SDK_SUFFIXES)
    )


def protected(name: str) -> bool:
    """Whether spec.env may not set ``name`` (in any letter case)."""
    upper = name.upper()
    return (
        upper in CONTRACT_NAMES
        or upper in _TASK_NAMES
        or bool(_TOOL_CREDENTIAL.match(upper))
        or upper in _STARTUP
        or redirects(name)
    )


def scrub(environ: MutableMapping[str, str]) -> list[str]:
    """Remove every SDK-redirecting variable from ``environ``; return the names removed.

    The runtime passes each provider client its endpoint and key explicitly, so it never
    needs them; whatever an envFrom source put there is dropped before any client reads it.
    Provider keys under their exact contract names stay (composed secretKeyRefs).
    """
    removed = sorted(n for n in environ if redirects(n) and n not in CREDENTIAL_NAMES)
    for name in removed:
        del environ[name]
    return removed
