"""ExternalSecrets for model keys and tool credentials, and the env that reads them."""

from __future__ import annotations

import pytest

from function.builders import external_secrets
from function.builders.external_secrets import (
    external_secret_keys,
    model_key_env,
    referenced_secrets,
    tool_credential_env,
    warnings,
)
from tests.function.factories import Case, case_ids, make_ctx, make_spec
from tests.function.schemas import assert_valid

KIND = external_secrets.KIND
TWO_NODES = {
    "nodes": [
        {"type": "orchestrator", "name": "main"},
        {"type": "sub-agent", "name": "writer", "model": {"provider": "anthropic"}},
        {"type": "sub-agent", "name": "coder", "model": {"provider": "openai"}},
    ],
    "edges": [{"source": "main", "target": "writer"}, {"source": "main", "target": "coder"}],
}


def _secret_env(name: str, secret: str, key: str) -> dict:
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}


def _external_secret(
    name: str,
    remote_ref: dict,
    secret_key: str = "api-key",
    store: tuple[str, str] = ("default", "ClusterSecretStore"),
    refresh: str = "1h",
) -> dict:
    """The ExternalSecret of XR agents/support-bot syncing ``remote_ref`` into ``name``."""
    return {
        "apiVersion": "external-secrets.io/v1",
        "kind": "ExternalSecret",
        "metadata": make_ctx().metadata(name, "runtime"),
        "spec": {
            "refreshInterval": refresh,
            "secretStoreRef": {"name": store[0], "kind": store[1]},
            "target": {"name": name, "creationPolicy": "Owner"},
            "data": [{"secretKey": secret_key, "remoteRef": remote_ref}],
        },
    }


BUILD_CASES = [
    Case(
        name="DefaultRemoteKey",
        reason="Without credentials the key is synced from xagent/<tenantId>/<provider>.",
        args={},
        want={
            "externalsecret-model-openai": _external_secret(
                "support-bot-model-openai-844a45f68f", {"key": "xagent/t1/openai"}
            )
        },
    ),
    Case(
        name="RemoteRefWithProperty",
        reason="spec.model.credentials.remoteRef names the key and property to sync.",
        args={"model": {"credentials": {"remoteRef": {"key": "llm/openai", "property": "k"}}}},
        want={
            "externalsecret-model-openai": _external_secret(
                "support-bot-model-openai-844a45f68f", {"key": "llm/openai", "property": "k"}
            )
        },
    ),
    Case(
        name="SecretRefComposesNothing",
        reason="An existing Secret is read directly; nothing is synced.",
        args={"model": {"credentials": {"secretRef": {"name": "my-openai"}}}},
        want={},
    ),
    Case(
        name="OllamaNeedsNoKey",
        reason="Providers without a key get no ExternalSecret.",
        args={"model": {"provider": "ollama", "name": "llama3", "endpoint": "http://o:11434"}},
        want={},
    ),
    Case(
        name="StoreSettings",
        reason="spec.secrets names the store and the refresh interval.",
        args={
            "secrets": {
                "storeName": "vault",
                "storeKind": "SecretStore",
                "refreshInterval": "15m",
            }
        },
        want={
            "externalsecret-model-openai": _external_secret(
                "support-bot-model-openai-844a45f68f",
                {"key": "xagent/t1/openai"},
                store=("vault", "SecretStore"),
                refresh="15m",
            )
        },
    ),
    Case(
        name="ToolRemoteRef",
        reason="A tool's remoteRef is synced into key 'token' of a Secret of its own.",
        args={
            "model": {"credentials": {"secretRef": {"name": "my-openai"}}},
            "tools": {
                "allowed": [
                    {
                        "name": "github",
                        "kind": "domain",
                        "credentials": {"remoteRef": {"key": "tools/github"}},
                    },
                    {"name": "clock", "kind": "primitive"},
                    {
                        "name": "jira",
                        "kind": "process",
                        "credentials": {"secretRef": {"name": "jira", "key": "pat"}},
                    },
                ]
            },
        },
        want={
            "externalsecret-tool-github": _external_secret(
                "support-bot-tool-github-6081befc5e", {"key": "tools/github"}, secret_key="token"
            )
        },
    ),
]


@pytest.mark.parametrize("case", BUILD_CASES, ids=case_ids(BUILD_CASES))
def test_build(case: Case) -> None:
    got = assert_valid(external_secrets.build(make_ctx(make_spec(**case.args))))
    assert got == case.want, case.reason


PROVIDER_CASES = [
    Case(
        name="SpecProviderOnly",
        reason="One ExternalSecret for spec.model.provider.",
        args={},
        want=["externalsecret-model-openai"],
    ),
    Case(
        name="NodeUsesAnthropic",
        reason="A node's other provider gets its own ExternalSecret; a repeated one does not.",
        args={"definition": TWO_NODES},
        want=["externalsecret-model-anthropic", "externalsecret-model-openai"],
    ),
    Case(
        name="NodeProviderUsesDefaultKey",
        reason="spec.model.credentials covers spec.model.provider only.",
        args={
            "definition": TWO_NODES,
            "model": {"credentials": {"secretRef": {"name": "my-openai"}}},
        },
        want=["externalsecret-model-anthropic"],
    ),
    Case(
        name="SharedVariable",
        reason="openai-compatible and openai both read OPENAI_API_KEY: the first one wins.",
        args={
            "model": {"provider": "openai-compatible", "endpoint": "http://vllm:8000/v1"},
            "definition": TWO_NODES,
        },
        want=["externalsecret-model-anthropic", "externalsecret-model-openai-compatible"],
    ),
]


@pytest.mark.parametrize("case", PROVIDER_CASES, ids=case_ids(PROVIDER_CASES))
def test_one_external_secret_per_provider(case: Case) -> None:
    desired = assert_valid(external_secrets.build(make_ctx(make_spec(**case.args))))
    assert sorted(desired) == case.want, case.reason


def test_node_provider_remote_key() -> None:
    desired = external_secrets.build(make_ctx(make_spec(definition=TWO_NODES)))
    spec = desired["externalsecret-model-anthropic"]["spec"]
    assert spec["data"] == [{"secretKey": "api-key", "remoteRef": {"key": "xagent/t1/anthropic"}}]
    assert spec["target"]["name"] == "support-bot-model-anthropic-7d11b5225d"


MODEL_ENV_CASES = [
    Case(
        name="SyncedSecret",
        reason="The provider's variable reads the synced Secret's api-key.",
        args={},
        want=[_secret_env("OPENAI_API_KEY", "support-bot-model-openai-844a45f68f", "api-key")],
    ),
    Case(
        name="UserSecret",
        reason="With secretRef the variable reads the user's Secret and key.",
        args={"model": {"credentials": {"secretRef": {"name": "my-openai", "key": "token"}}}},
        want=[_secret_env("OPENAI_API_KEY", "my-openai", "token")],
    ),
    Case(
        name="TwoProviders",
        reason="Each provider's key under the name its SDK reads.",
        args={"definition": TWO_NODES},
        want=[
            _secret_env("OPENAI_API_KEY", "support-bot-model-openai-844a45f68f", "api-key"),
            _secret_env("ANTHROPIC_API_KEY", "support-bot-model-anthropic-7d11b5225d", "api-key"),
        ],
    ),
    Case(
        name="Ollama",
        reason="No key, no variable.",
        args={"model": {"provider": "ollama", "name": "llama3", "endpoint": "http://o:11434"}},
        want=[],
    ),
]


@pytest.mark.parametrize("case", MODEL_ENV_CASES, ids=case_ids(MODEL_ENV_CASES))
def test_model_key_env(case: Case) -> None:
    assert model_key_env(make_ctx(make_spec(**case.args))) == case.want, case.reason


def _tool(name: str, credentials: dict | None = None) -> dict:
    return {"name": name, "kind": "domain"} | ({"credentials": credentials} if credentials else {})


TOOL_CASES = [
    Case(
        name="RemoteAndSecretRef",
        reason="Synced tools read the synced Secret's token; secretRef tools the user's.",
        args={
            "allowed": [
                _tool("github", {"remoteRef": {"key": "tools/github"}}),
                _tool("clock"),
                _tool("jira", {"secretRef": {"name": "jira", "key": "pat"}}),
            ]
        },
        want={
            "env": [
                _secret_env("TOOL_GITHUB_TOKEN", "support-bot-tool-github-6081befc5e", "token"),
                _secret_env("TOOL_JIRA_TOKEN", "jira", "pat"),
            ],
            "keys": ["externalsecret-model-openai", "externalsecret-tool-github"],
        },
    ),
    Case(
        name="ClashingVariables",
        reason="my-tool and my_tool map to one variable; the second gets a hashed variable "
        "and a hashed Secret name.",
        args={
            "allowed": [
                _tool("my-tool", {"remoteRef": {"key": "a"}}),
                _tool("my_tool", {"remoteRef": {"key": "b"}}),
            ]
        },
        want={
            "env_names": 2,
            "keys": [
                "externalsecret-model-openai",
                "externalsecret-tool-my-tool",
                "externalsecret-tool-my_tool",
            ],
        },
    ),
]


@pytest.mark.parametrize("case", TOOL_CASES, ids=case_ids(TOOL_CASES))
def test_tool_credentials(case: Case) -> None:
    ctx = make_ctx(make_spec(tools=case.args))
    env = tool_credential_env(ctx)
    desired = assert_valid(external_secrets.build(ctx))
    if "env" in case.want:
        assert env == case.want["env"], case.reason
    if "env_names" in case.want:
        assert len({e["name"] for e in env}) == case.want["env_names"], case.reason
        targets = {m["spec"]["target"]["name"] for m in desired.values()}
        assert len(targets) == len(desired), case.reason
    assert sorted(desired) == case.want["keys"], case.reason


def test_long_xr_name_fits() -> None:
    ctx = make_ctx(make_spec(definition=TWO_NODES), name="a" * 70)
    desired = assert_valid(external_secrets.build(ctx))
    for manifest in desired.values():
        assert len(manifest["metadata"]["name"]) <= 63
        assert manifest["spec"]["target"]["name"] == manifest["metadata"]["name"]
    names = [m["metadata"]["name"] for m in desired.values()]
    assert len(set(names)) == len(names)


def test_external_secret_keys() -> None:
    desired = {
        "externalsecret-model-openai": {"apiVersion": "external-secrets.io/v1", "kind": KIND},
        "deployment": {"apiVersion": "apps/v1", "kind": "Deployment"},
        "externalsecret-tool-a": {"apiVersion": "external-secrets.io/v1", "kind": KIND},
        "other": {"apiVersion": "example.com/v1", "kind": KIND},
    }
    assert external_secret_keys(desired) == [
        "externalsecret-model-openai",
        "externalsecret-tool-a",
    ]


def test_referenced_secrets() -> None:
    spec = make_spec(
        model={"credentials": {"secretRef": {"name": "my-openai"}}},
        tools={"allowed": [_tool("jira", {"secretRef": {"name": "jira"}})]},
    )
    assert referenced_secrets(make_ctx(spec)) == ["jira", "my-openai"]


WARNING_CASES = [
    Case(name="None", reason="A plain spec warns about nothing.", args={}, want=[]),
    Case(
        name="SharedVariable",
        reason="The provider that loses OPENAI_API_KEY is named.",
        args={
            "model": {"provider": "openai-compatible", "endpoint": "http://vllm:8000/v1"},
            "definition": TWO_NODES,
        },
        want=["providers openai-compatible and openai both read OPENAI_API_KEY"],
    ),
]


@pytest.mark.parametrize("case", WARNING_CASES, ids=case_ids(WARNING_CASES))
def test_warnings(case: Case) -> None:
    got = warnings(make_ctx(make_spec(**case.args)))
    assert len(got) == len(case.want), case.reason
    for message, prefix in zip(got, case.want, strict=True):
        assert message.startswith(prefix), case.reason


def test_mcp_credentials_are_composed_and_never_collide() -> None:
    # Server "a" header 0 and server "a-0"'s token would share a Secret name if both
    # used one family; tokens (mcp) and headers (mcph) keep them apart.
    spec = make_spec(
        tools={
            "mcpServers": [
                {
                    "name": "a",
                    "url": "https://a.example/mcp",
                    "headers": [{"name": "X-Key", "credentials": {"remoteRef": {"key": "k1"}}}],
                },
                {
                    "name": "a-0",
                    "url": "https://b.example/mcp",
                    "credentials": {"remoteRef": {"key": "k2", "property": "token"}},
                },
            ]
        }
    )
    ctx = make_ctx(spec)
    creds = {(server, header): c for server, header, c in external_secrets.mcp_credentials(ctx)}
    assert {k: c.env for k, c in creds.items()} == {
        ("a", "X-Key"): "MCP_A_HEADER_0",
        ("a-0", "Authorization"): "MCP_A_0_TOKEN",
    }
    names = [c.secret_name for c in creds.values()]
    assert len(set(names)) == len(names)
    desired = external_secrets.build(ctx)
    assert sorted(desired) == [
        "externalsecret-mcp-a-0",
        "externalsecret-mcph-a-0",
        "externalsecret-model-openai",
    ]
    synced = desired["externalsecret-mcp-a-0"]["spec"]["data"]
    assert synced == [{"secretKey": "token", "remoteRef": {"key": "k2", "property": "token"}}]
    env = {e["name"]: e for e in external_secrets.tool_credential_env(ctx)}
    assert set(env) == {"MCP_A_HEADER_0", "MCP_A_0_TOKEN"}
    assert_valid(desired)
