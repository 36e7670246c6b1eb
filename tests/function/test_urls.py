"""URL patterns match the parsed host, and credentials inside URLs are found."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from function.urls import credential_problem, matches


@pytest.mark.parametrize(
    ("url", "pattern", "want"),
    [
        ("https://api.openai.com/v1", "https://api.openai.com", True),
        ("https://API.OpenAI.com:443/v1/", "https://api.openai.com/v1", True),
        ("https://api.openai.com:8443/v1", "https://api.openai.com", False),
        ("http://api.openai.com/v1", "https://api.openai.com", False),
        ("https://evil.example/api.openai.com/v1", "https://api.openai.com", False),
        ("https://api.openai.com.evil.example/", "https://api.openai.com", False),
        ("https://x.openai.azure.com/", "https://*.openai.azure.com", True),
        ("https://evil.example/x.openai.azure.com/", "https://*.openai.azure.com", False),
        ("http://svc/v1/chat", "http://svc/v1/*", True),
        ("http://svc/v2/chat", "http://svc/v1/*", False),
        ("not a url", "https://*", False),
    ],
)
def test_matches(url: str, pattern: str, want: bool) -> None:
    assert matches(url, pattern) is want


_host = st.from_regex(r"[a-z][a-z0-9-]{0,10}(\.[a-z][a-z0-9-]{0,10}){0,3}", fullmatch=True)


@given(
    host=_host,
    userinfo=st.sampled_from(["", "api.openai.com@", "u:p@api.openai.com@"]),
    path=st.sampled_from(["", "/", "/api.openai.com", "/v1/api.openai.com/x"]),
)
def test_pattern_host_is_the_parsed_host(host: str, userinfo: str, path: str) -> None:
    url = f"https://{userinfo}{host}{path}"
    if matches(url, "https://api.openai.com"):
        assert urlsplit(url).hostname == "api.openai.com"


@pytest.mark.parametrize(
    "url",
    [
        "https://user:pass@host/v1",
        "https://user@host/v1",
        "https://host/v1?api_key=1",
        "https://host/v1?x=1&TOKEN=2",
        "https://host/?access-token=2",
        "https://host/?my_secret=2",
        "nats://u:p@nats:4222",
    ],
)
def test_credentials_found(url: str) -> None:
    problem = credential_problem(url)
    assert problem is not None
    assert "pass" not in problem.split("(")[0] or "password@" in problem


@pytest.mark.parametrize(
    "url", ["https://host/v1", "https://host/v1?model=x&stream=true", "nats://nats:4222"]
)
def test_plain_urls_pass(url: str) -> None:
    assert credential_problem(url) is None
