"""Which failures earn another delivery: transient ones, by type and HTTP status."""

from __future__ import annotations

import anthropic
import httpx
import openai
import psycopg
import pytest

from runtime.agent._errors import is_retryable

REQUEST = httpx.Request("POST", "http://model.test/v1/chat/completions")


def _status(sdk, code: int) -> Exception:
    response = httpx.Response(code, request=REQUEST)
    return sdk.APIStatusError("boom", response=response, body=None)


def _chained(outer: Exception, cause: Exception) -> Exception:
    outer.__cause__ = cause
    return outer


CASES = [
    pytest.param(openai.APIConnectionError(request=REQUEST), True, id="OpenAIConnection"),
    pytest.param(openai.APITimeoutError(request=REQUEST), True, id="OpenAITimeout"),
    pytest.param(anthropic.APIConnectionError(request=REQUEST), True, id="AnthropicConnection"),
    pytest.param(_status(openai, 503), True, id="OpenAI503"),
    pytest.param(_status(anthropic, 429), True, id="AnthropicRateLimit"),
    pytest.param(_status(openai, 400), False, id="OpenAIBadRequest"),
    pytest.param(_status(anthropic, 401), False, id="AnthropicBadKey"),
    pytest.param(httpx.ConnectTimeout("slow"), True, id="HttpxTimeout"),
    pytest.param(
        httpx.HTTPStatusError("x", request=REQUEST, response=httpx.Response(502, request=REQUEST)),
        True,
        id="Http502",
    ),
    pytest.param(psycopg.OperationalError("gone"), True, id="DatabaseGone"),
    pytest.param(ValueError("bad definition"), False, id="PlainError"),
    pytest.param(_chained(RuntimeError("wrapped"), _status(openai, 500)), True, id="CauseChain"),
]


@pytest.mark.parametrize(("exc", "want"), CASES)
def test_is_retryable(exc: Exception, want: bool) -> None:
    assert is_retryable(exc) is want
