"""Credential fields that name an existing Secret: allowed by policy, never another XAgent's.

Naming a Secret hands its keys to the agent's pods, and a tool's token to the tool's URL, so
a tenant who could name the Secrets xagent composed for a neighbour would read its model
keys, its cache password or its database credentials.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from function.builders.external_secrets import model_credentials
from function.names import HASH_LEN
from tests.function.factories import make_ctx
from tests.function.test_protected_env import _violations


def _neighbours_key() -> str:
    """The Secret xagent composes for another XAgent's OpenAI key."""
    (cred,) = model_credentials(make_ctx(name="other-bot"))
    assert cred.resource_key is not None
    return cred.secret_name


def _model_secret(name: str) -> dict[str, Any]:
    return {"model": {"credentials": {"secretRef": {"name": name}}}}


def test_model_secret_ref_may_not_name_another_agents_synced_key() -> None:
    stolen = _neighbours_key()
    (got,) = _violations(_model_secret(stolen))
    assert got.startswith(
        f"- spec.model.credentials.secretRef.name: Secret {stolen!r} looks like one xagent "
        "composes for another XAgent"
    )
    assert got.endswith("(policy rule credentials.existingSecrets)")


@pytest.mark.parametrize(
    ("spec", "path"),
    [
        (
            {"persistence": {"database": {"engine": "external", "external": {"secretName": "S"}}}},
            "spec.persistence.database.external.secretName",
        ),
        (
            {"persistence": {"cache": {"engine": "external", "external": {"secretName": "S"}}}},
            "spec.persistence.cache.external.secretName",
        ),
        (
            {"api": {"auth": {"mode": "token", "tokenSecretRef": {"name": "S"}}}},
            "spec.api.auth.tokenSecretRef.name",
        ),
        (
            {
                "tools": {
                    "mcpServers": [
                        {
                            "name": "docs",
                            "url": "https://mcp.example.com/mcp",
                            "credentials": {"secretRef": {"name": "S"}},
                        }
                    ]
                }
            },
            "spec.tools.mcpServers[0].credentials.secretRef.name",
        ),
    ],
)
def test_every_field_naming_a_secret_is_checked(spec: dict[str, Any], path: str) -> None:
    # CloudNativePG names its Secrets after the (hashed) Cluster: <cluster>-app.
    neighbours_db = f"other-bot-db-{'a1' * (HASH_LEN // 2)}-app"
    spec = _replace(spec, "S", neighbours_db)
    got = _violations(spec)
    assert any(line.startswith(f"- {path}: Secret {neighbours_db!r} looks like") for line in got)
    assert not any(path in line for line in _violations(_replace(spec, neighbours_db, "mine")))


def _replace(value: Any, old: str, new: str) -> Any:
    if isinstance(value, dict):
        return {k: _replace(v, old, new) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace(v, old, new) for v in value]
    return new if value == old else value


def test_policy_narrows_existing_secrets() -> None:
    policy = {"credentials": {"existingSecrets": ["{name}-*"]}}
    (got,) = _violations(_model_secret("vllm-token"), policy)
    assert got == (
        "- spec.model.credentials.secretRef.name: Secret 'vllm-token' is not allowed by policy "
        "(policy rule credentials.existingSecrets)"
    )
    assert _violations(_model_secret("support-bot-vllm"), policy) == []


@given(
    readable=st.from_regex(r"[a-z][a-z0-9-]{0,30}[a-z0-9]", fullmatch=True),
    digest=st.text("0123456789abcdef", min_size=HASH_LEN, max_size=HASH_LEN),
    role=st.sampled_from(["", "-app", "-superuser", "-ca", "-replication"]),
)
def test_any_name_shaped_like_a_composed_secret_is_refused(
    readable: str, digest: str, role: str
) -> None:
    name = f"{readable}-{digest}{role}"
    got = _violations(_model_secret(name), {"credentials": {"existingSecrets": ["*"]}})
    assert any("looks like one xagent composes" in line for line in got)


@given(st.from_regex(r"[a-z][a-z0-9]{0,20}(-[a-z]{1,8}){0,3}", fullmatch=True))
def test_plain_names_pass_the_default_policy(name: str) -> None:
    assert _violations(_model_secret(name)) == []
