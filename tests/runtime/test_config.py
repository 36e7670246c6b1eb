"""Settings from the contract's environment, the definition file and the tool grants."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from contract.enums import ToolKind
from runtime.agent.files import DefinitionError, load_definition, load_tool_grants
from runtime.settings import ConfigError, load_settings
from tests.runtime.conftest import DEFINITIONS, SettingsFactory, example

MODEL = {"MODEL_PROVIDER": "openai-compatible", "MODEL_NAME": "m"}


EnvSetter = Callable[[dict[str, str]], None]


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> EnvSetter:
    """Set process variables for the test."""

    def set_env(values: dict[str, str]) -> None:
        for name, value in values.items():
            monkeypatch.setenv(name, value)

    return set_env


@dataclass
class BadEnvCase:
    name: str
    env: dict[str, str]
    want: str


BAD_ENV = [
    BadEnvCase("MissingModelName", {"MODEL_PROVIDER": "openai"}, "MODEL_NAME: Field required"),
    BadEnvCase("MissingProvider", {"MODEL_NAME": "m"}, "MODEL_PROVIDER: Field required"),
    BadEnvCase("TemperatureNotANumber", {**MODEL, "MODEL_TEMPERATURE": "abc"}, "MODEL_TEMPERATURE"),
    BadEnvCase("TemperatureTooHigh", {**MODEL, "MODEL_TEMPERATURE": "2.5"}, "MODEL_TEMPERATURE"),
    BadEnvCase("UnknownProvider", {**MODEL, "MODEL_PROVIDER": "acme"}, "MODEL_PROVIDER"),
    BadEnvCase("BadLogPrompts", {**MODEL, "LOG_PROMPTS": "some"}, "LOG_PROMPTS"),
    BadEnvCase("ZeroSessions", {**MODEL, "MAX_PARALLEL_SESSIONS": "0"}, "MAX_PARALLEL_SESSIONS"),
    BadEnvCase("BadMaxDeliver", {**MODEL, "NATS_MAX_DELIVER": "0"}, "NATS_MAX_DELIVER"),
    BadEnvCase("PgHostWithoutUser", {**MODEL, "PG_HOST": "db", "PG_DATABASE": "x"}, "PG_USER"),
    BadEnvCase("BadPgPort", {**MODEL, "PG_PORT": "hunter2"}, "PG_PORT"),
]


@pytest.mark.parametrize("case", BAD_ENV, ids=[c.name for c in BAD_ENV])
def test_bad_environment_names_the_variable(case: BadEnvCase, env: EnvSetter) -> None:
    env(case.env)
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert case.want in str(err.value)


def test_errors_never_echo_values(env: EnvSetter) -> None:
    env({**MODEL, "PG_PORT": "hunter2", "MODEL_TEMPERATURE": "s3cret"})
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert "hunter2" not in str(err.value)
    assert "s3cret" not in str(err.value)


def test_defaults_are_embedded(env: EnvSetter) -> None:
    env(MODEL)
    s = load_settings()
    assert (s.database_url, s.redis_url, s.nats_url) == (None, None, None)
    assert s.sqlite_path == Path("/tmp/xagent/checkpoints.sqlite")
    assert s.definition_path == Path("/etc/xagent/definition/definition.json")
    assert s.tool_grants_path == Path("/etc/xagent/tools/grants.json")
    assert (s.port, s.max_parallel_sessions, s.shutdown_grace_seconds) == (8080, 4, 25)
    assert (s.nats_ack_wait_seconds, s.nats_max_deliver) == (30, 5)
    assert (s.log_prompts, s.stream_tokens, s.model_api_key) == ("none", True, None)


def test_values_from_contract_names(env: EnvSetter) -> None:
    env(
        {
            **MODEL,
            "AGENT_NAME": "support",
            "AGENT_NAMESPACE": "team-a",
            "MODEL_ENDPOINT": "",  # the function writes "" for unset: same as absent
            "MODEL_TEMPERATURE": "0.2",
            "MAX_CONTEXT_MESSAGES": "20",
            "STREAM_TOKENS": "false",
            "OPENAI_API_KEY": "sk-test",
            "NATS_URL": "nats://n:4222",
        }
    )
    s = load_settings()
    assert (s.agent_name, s.agent_namespace, s.model_endpoint) == ("support", "team-a", None)
    assert (s.model_temperature, s.max_context_messages, s.stream_tokens) == (0.2, 20, False)
    assert s.model_api_key is not None
    assert s.model_api_key.get_secret_value() == "sk-test"
    assert s.nats_jobs_subject == "xagent.team-a.support.jobs"
    assert s.nats_consumer == "team-a-support"


@pytest.mark.parametrize(
    ("values", "want_db", "want_redis"),
    [
        pytest.param(
            {
                "PG_HOST": "db",
                "PG_USER": "app",
                "PG_PASSWORD": "p@ss/w:rd%",
                "PG_DATABASE": "agents",
                "REDIS_HOST": "cache",
                "REDIS_PASSWORD": "r@d:s",
            },
            "postgresql://app:p%40ss%2Fw%3Ard%25@db:5432/agents",
            "redis://:r%40d%3As@cache:6379/0",
            id="AssembledAndEncoded",
        ),
        pytest.param(
            {
                "DATABASE_URL": "postgresql://u@h/d",
                "PG_HOST": "ignored",
                "REDIS_URL": "redis://r:1/2",
                "REDIS_HOST": "ignored",
            },
            "postgresql://u@h/d",
            "redis://r:1/2",
            id="UrlsWin",
        ),
    ],
)
def test_database_and_redis_urls(
    values: dict[str, str], want_db: str, want_redis: str, env: EnvSetter
) -> None:
    env({**MODEL, **values})
    s = load_settings()
    assert (s.database_url, s.redis_url) == (want_db, want_redis)


@pytest.mark.parametrize(
    ("content", "want"),
    [
        pytest.param(None, "No such file", id="Missing"),
        pytest.param("{nodes", "not JSON or YAML", id="NotJsonOrYaml"),
        pytest.param(
            {"nodes": [{"type": "orchestrator", "name": "main", "tools": ["ghost"]}]},
            "node 'main' names unknown tool 'ghost'",
            id="UnknownTool",
        ),
        pytest.param(
            {
                "nodes": [{"type": "orchestrator", "name": "main"}],
                "edges": [{"source": "main", "target": "nobody"}],
            },
            "edges[0].target: unknown node 'nobody'",
            id="UnknownEdgeTarget",
        ),
        pytest.param(
            {"nodes": [{"type": "sub-agent", "name": "a"}]},
            "need exactly one orchestrator",
            id="NoOrchestrator",
        ),
        pytest.param(
            {"nodes": [{"type": "orchestrator", "name": "bad name"}]},
            "nodes.0.name",
            id="BadNodeName",
        ),
    ],
)
def test_bad_definitions_name_node_or_edge(
    content: Any, want: str, make_settings: SettingsFactory, tmp_path: Path
) -> None:
    path = tmp_path / "definition.json"
    if content is not None:
        path.write_text(content if isinstance(content, str) else json.dumps(content))
    with pytest.raises(DefinitionError) as err:
        load_definition(make_settings(definition_path=path))
    assert want in str(err.value)
    assert str(path) in str(err.value)


def test_definition_loads_from_its_path(make_settings: SettingsFactory) -> None:
    settings = make_settings(definition_path=DEFINITIONS / "research_team.json")
    assert load_definition(settings) == example("research_team")


def test_absent_grants_grant_nothing_in_cluster_and_everything_locally(
    make_settings: SettingsFactory,
) -> None:
    settings, definition = make_settings(), example("research_team")
    assert load_tool_grants(settings, definition).names() == set()
    local = load_tool_grants(settings, definition, grant_all=True)
    assert local.names() == {"calculator", "echo", "current_time"}


def test_grants_file_is_read(make_settings: SettingsFactory, tmp_path: Path) -> None:
    path = tmp_path / "grants.json"
    grants = {
        "tools": [
            {"name": "echo", "kind": "primitive"},
            {"name": "gh", "kind": "domain", "credentialEnv": "GH_TOKEN"},
        ]
    }
    path.write_text(json.dumps(grants))
    got = load_tool_grants(make_settings(tool_grants_path=path), grant_all=True)
    assert [(t.name, t.kind, t.credential_env) for t in got.tools] == [
        ("echo", ToolKind.PRIMITIVE, None),
        ("gh", ToolKind.DOMAIN, "GH_TOKEN"),
    ]


def test_invalid_grants_file_names_the_variable(
    make_settings: SettingsFactory, tmp_path: Path
) -> None:
    path = tmp_path / "grants.json"
    path.write_text('{"tools": [{"kind": "domain"}]}')
    with pytest.raises(ConfigError, match="TOOL_GRANTS_PATH"):
        load_tool_grants(make_settings(tool_grants_path=path))
