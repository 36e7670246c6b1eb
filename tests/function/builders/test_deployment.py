"""The runtime Deployment: env, volumes, security, probes, replicas and the config checksum."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from contract import env as contract_env
from contract.env import ENV
from function.builders import configmaps, deployment
from function.builders.deployment import CHECKSUM_ANNOTATION, container_env
from runtime.settings import load_settings
from tests.function.factories import Case, case_ids, make_ctx, make_spec
from tests.function.schemas import assert_valid

NO_BACKENDS = {
    "persistence": {"database": {"engine": "none"}, "cache": {"engine": "none"}},
    "queue": {"engine": "none"},
}
"""Leaves only the env this module writes itself."""


def _deployment(name: str = "support-bot", **spec: object) -> dict:
    ctx = make_ctx(make_spec(**spec), name=name)
    return assert_valid(deployment.build(ctx))["deployment"]


def _pod(**spec: object) -> dict:
    return _deployment(**spec)["spec"]["template"]["spec"]


def _container(**spec: object) -> dict:
    return _pod(**spec)["containers"][0]


def _env(**spec: object) -> dict[str, dict]:
    return {e["name"]: e for e in _container(**spec)["env"]}


def _values(**spec: object) -> dict[str, str]:
    return {name: e.get("value") for name, e in _env(**spec).items()}


# --- env -----------------------------------------------------------------------------------


def test_unset_protected_variables_are_written_empty() -> None:
    """An envFrom source must not be able to supply a model endpoint the policy never saw."""
    # Written with no value (what the API server stores for ""): the container sees "".
    entries = {e["name"]: e for e in container_env(make_ctx(make_spec()))}
    assert entries[ENV.MODEL_ENDPOINT] == {"name": ENV.MODEL_ENDPOINT}
    assert entries[ENV.MODEL_FALLBACK] == {"name": ENV.MODEL_FALLBACK}


def test_default_env() -> None:
    env = container_env(make_ctx(make_spec(**NO_BACKENDS)))
    assert [e["name"] for e in env] == [
        "AGENT_NAME",
        "AGENT_NAMESPACE",
        "AGENT_DEFINITION_ID",
        "AGENT_DEFINITION_PATH",
        "TOOL_GRANTS_PATH",
        "TENANT_ID",
        "RISK_TIER",
        "MODEL_PROVIDER",
        "MODEL_NAME",
        "MODEL_ENDPOINT",
        "MODEL_FALLBACK",
        "MODEL_TEMPERATURE",
        "MODEL_API_VERSION",
        "MAX_PARALLEL_SESSIONS",
        "CONVERSATION_TTL_SECONDS",
        "RESULTS_TTL_SECONDS",
        "LOG_LEVEL",
        "LOG_PROMPTS",
        "STREAM_TOKENS",
        "OTEL_SERVICE_NAME",
        "XAGENT_STATE_DIR",
        "PORT",
        "SHUTDOWN_GRACE_SECONDS",
        "API_AUTH_MODE",
        "API_AUTH_AUDIENCE",
        "OPENAI_API_KEY",
        # Every other protected contract variable, empty, so envFrom cannot supply it.
        *sorted(
            deployment.PROTECTED_ENV
            - {"AGENT_NAME", "AGENT_NAMESPACE", "AGENT_DEFINITION_ID", "AGENT_DEFINITION_PATH"}
            - {"TOOL_GRANTS_PATH", "TENANT_ID", "RISK_TIER", "MODEL_PROVIDER", "MODEL_NAME"}
            - {"MODEL_ENDPOINT", "MODEL_FALLBACK", "MODEL_API_VERSION", "OPENAI_API_KEY"}
            - {"API_AUTH_MODE", "API_AUTH_AUDIENCE"}
        ),
    ]
    values = {e["name"]: e.get("value") for e in env}
    assert values == values | {
        ENV.AGENT_NAME: "support-bot",
        ENV.AGENT_NAMESPACE: "agents",
        ENV.AGENT_DEFINITION_ID: "support-bot",
        ENV.AGENT_DEFINITION_PATH: (
            f"{contract_env.DEFINITION_MOUNT}/{contract_env.DEFINITION_FILE}"
        ),
        ENV.TOOL_GRANTS_PATH: f"{contract_env.TOOL_GRANTS_MOUNT}/{contract_env.TOOL_GRANTS_FILE}",
        ENV.TENANT_ID: "t1",
        ENV.RISK_TIER: "low",
        ENV.MODEL_PROVIDER: "openai",
        ENV.MODEL_NAME: "gpt-4o",
        ENV.MODEL_TEMPERATURE: "0.7",
        ENV.MAX_PARALLEL_SESSIONS: "4",
        ENV.CONVERSATION_TTL_SECONDS: "86400",
        ENV.LOG_LEVEL: "INFO",
        ENV.LOG_PROMPTS: "none",
        ENV.STREAM_TOKENS: "true",
        ENV.OTEL_SERVICE_NAME: "xagent-support-bot",
        ENV.STATE_DIR: contract_env.STATE_DIR,
        ENV.PORT: "8080",
        ENV.SHUTDOWN_GRACE_SECONDS: "25",
    }
    assert all(isinstance(e.get("value", ""), str) for e in env)


def test_optional_env_when_set() -> None:
    values = _values(
        model={
            "provider": "azure-openai",
            "name": "gpt-4o",
            "endpoint": "https://x.openai.azure.com",
            "apiVersion": "2024-10-21",
            "fallbackModel": "gpt-4o-mini",
            "temperature": 0,
            "maxTokens": 2048,
            "topP": 0.9,
        },
        systemPrompt="Be brief.",
        behavior={"maxContextMessages": 50},
        observability={
            "tracing": {"endpoint": "http://otel:4317", "sampleRatio": 0.25},
            "streamTokens": False,
            "logPrompts": "redacted",
        },
    )
    assert values == values | {
        ENV.MODEL_PROVIDER: "azure-openai",
        ENV.MODEL_ENDPOINT: "https://x.openai.azure.com",
        ENV.MODEL_API_VERSION: "2024-10-21",
        ENV.MODEL_FALLBACK: "gpt-4o-mini",
        ENV.MODEL_TEMPERATURE: "0.0",
        ENV.MODEL_MAX_TOKENS: "2048",
        ENV.MODEL_TOP_P: "0.9",
        ENV.SYSTEM_PROMPT: "Be brief.",
        ENV.MAX_CONTEXT_MESSAGES: "50",
        ENV.OTEL_EXPORTER_OTLP_ENDPOINT: "http://otel:4317",
        ENV.OTEL_TRACES_SAMPLER_ARG: "0.25",
        ENV.OTEL_EXPORTER_OTLP_PROTOCOL: "grpc",
        ENV.STREAM_TOKENS: "false",
        ENV.LOG_PROMPTS: "redacted",
    }


def test_unset_optionals_are_omitted() -> None:
    names = set(_env())
    unset = {
        ENV.MODEL_MAX_TOKENS,
        ENV.MODEL_TOP_P,
        ENV.SYSTEM_PROMPT,
        ENV.MAX_CONTEXT_MESSAGES,
        ENV.OTEL_EXPORTER_OTLP_ENDPOINT,
        ENV.OTEL_TRACES_SAMPLER_ARG,
        ENV.OTEL_EXPORTER_OTLP_PROTOCOL,
        ENV.OTEL_EXPORTER_OTLP_HEADERS,
    }
    assert not names & unset
    # Blank is no value at all: the API server stores value "" as none.
    empty = {name for name, e in _env().items() if "value" not in e and "valueFrom" not in e}
    assert empty, "unset protected names are written blank"
    assert empty <= deployment.PROTECTED_ENV, "only protected names are blank"


TTL_CASES = [
    Case(name="Hour", reason="One hour.", args={"ttl": "1h"}, want="3600"),
    Case(name="Mixed", reason="Units add up.", args={"ttl": "1m30s"}, want="90"),
    Case(name="Decimal", reason="Decimals are allowed.", args={"ttl": "1.5h"}, want="5400"),
    Case(
        name="SubSecond",
        reason="Rounded up to the runtime's minimum.",
        args={"ttl": "500ms"},
        want="1",
    ),
]


@pytest.mark.parametrize("case", TTL_CASES, ids=case_ids(TTL_CASES))
def test_conversation_ttl_seconds(case: Case) -> None:
    values = _values(behavior={"conversationTTL": case.args["ttl"]})
    assert values[ENV.CONVERSATION_TTL_SECONDS] == case.want, case.reason


SECRET_ENV_CASES = [
    Case(
        name="ModelKey",
        reason="The provider key reads the ExternalSecret's target Secret.",
        args={},
        want={"OPENAI_API_KEY": ("support-bot-model-openai-844a45f68f", "api-key")},
    ),
    Case(
        name="UserSecretAndTool",
        reason="secretRef keys read the user's Secret; tool credentials their own variable.",
        args={
            "model": {"credentials": {"secretRef": {"name": "mine", "key": "k"}}},
            "tools": {
                "allowed": [
                    {"name": "gh", "kind": "domain", "credentials": {"remoteRef": {"key": "g"}}}
                ]
            },
        },
        want={
            "OPENAI_API_KEY": ("mine", "k"),
            "TOOL_GH_TOKEN": ("support-bot-tool-gh-4fe677de97", "token"),
        },
    ),
]


@pytest.mark.parametrize("case", SECRET_ENV_CASES, ids=case_ids(SECRET_ENV_CASES))
def test_secret_key_refs(case: Case) -> None:
    env = _env(**case.args)
    for name, (secret, key) in case.want.items():
        assert "value" not in env[name], case.reason
        assert env[name]["valueFrom"] == {"secretKeyRef": {"name": secret, "key": key}}, case.reason


def test_backend_env_is_included() -> None:
    names = set(_env())  # cnpg, dragonfly and nats by default
    assert {contract_env.DATABASE_ENV.HOST, contract_env.QUEUE_ENV.URL} <= names
    assert names & {contract_env.CACHE_ENV.URL, contract_env.CACHE_ENV.HOST}


USER_ENV_CASES = [
    Case(
        name="Append",
        reason="A new variable goes after the generated ones.",
        args={"env": [{"name": "FOO", "value": "bar"}]},
        want={"last": {"name": "FOO", "value": "bar"}},
    ),
    Case(
        name="OverrideInPlace",
        reason="A user entry replaces the generated one of its name, in its place.",
        args={"env": [{"name": "LOG_LEVEL", "value": "DEBUG"}]},
        want={"values": {"LOG_LEVEL": "DEBUG"}, "position": ("LOG_LEVEL", 16)},
    ),
    Case(
        name="ValueFrom",
        reason="valueFrom passes through camelCase.",
        args={"env": [{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "x"}}}]},
        want={"last": {"name": "X", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "x"}}}},
    ),
    Case(
        name="LastUserEntryWins",
        reason="A name twice in spec.env is kept once, with the later value.",
        args={"env": [{"name": "FOO", "value": "1"}, {"name": "FOO", "value": "2"}]},
        want={"last": {"name": "FOO", "value": "2"}},
    ),
]


@pytest.mark.parametrize("case", USER_ENV_CASES, ids=case_ids(USER_ENV_CASES))
def test_user_env(case: Case) -> None:
    env = container_env(make_ctx(make_spec(**NO_BACKENDS, **case.args)))
    names = [e["name"] for e in env]
    assert len(names) == len(set(names)), "a container env must not repeat a name"
    if "last" in case.want:
        assert env[-1] == case.want["last"], case.reason
    for name, value in case.want.get("values", {}).items():
        assert env[names.index(name)]["value"] == value, case.reason
    if "position" in case.want:
        name, index = case.want["position"]
        assert names.index(name) == index, case.reason


def test_env_names_unique_with_everything() -> None:
    env = _container(
        definition={
            "nodes": [
                {"type": "orchestrator", "name": "main", "model": {"provider": "anthropic"}},
            ]
        },
        tools={
            "allowed": [
                {"name": "a-b", "kind": "domain", "credentials": {"remoteRef": {"key": "1"}}},
                {"name": "a_b", "kind": "domain", "credentials": {"remoteRef": {"key": "2"}}},
            ]
        },
        env=[{"name": "LOG_LEVEL", "value": "DEBUG"}, {"name": "SYSTEM_PROMPT", "value": "h"}],
    )["env"]
    names = [e["name"] for e in env]
    assert len(names) == len(set(names))


def test_env_from() -> None:
    container = _container(envFrom=[{"configMapRef": {"name": "extra"}, "prefix": "X_"}])
    assert container["envFrom"] == [{"prefix": "X_", "configMapRef": {"name": "extra"}}]
    assert "envFrom" not in _container()


# --- replicas ------------------------------------------------------------------------------

REPLICA_CASES = [
    Case(
        name="Keda",
        reason="KEDA owns replicas: the Deployment must not reset them.",
        args={"scaling": {"autoscaler": "keda"}},
        want=None,
    ),
    Case(
        name="KedaFallbackHpa",
        reason="The fallback HPA owns replicas too.",
        args={"scaling": {"autoscaler": "keda"}, "queue": {"engine": "none"}},
        want=None,
    ),
    Case(
        name="Hpa",
        reason="The HPA owns replicas.",
        args={"scaling": {"autoscaler": "hpa"}},
        want=None,
    ),
    Case(
        name="Fixed",
        reason="Without an autoscaler replicas is minReplicas.",
        args={"scaling": {"autoscaler": "none", "minReplicas": 3}},
        want=3,
    ),
    Case(
        name="FixedZero",
        reason="minReplicas 0 parks the agent.",
        args={"scaling": {"autoscaler": "none", "minReplicas": 0}},
        want=0,
    ),
]


@pytest.mark.parametrize("case", REPLICA_CASES, ids=case_ids(REPLICA_CASES))
def test_replicas(case: Case) -> None:
    assert _deployment(**case.args)["spec"].get("replicas") == case.want, case.reason


# --- checksum ------------------------------------------------------------------------------


def _checksum(**spec: object) -> str:
    return _deployment(**spec)["spec"]["template"]["metadata"]["annotations"][CHECKSUM_ANNOTATION]


OTHER_DEFINITION = {"nodes": [{"type": "orchestrator", "name": "main", "systemPrompt": "Other."}]}
GRANTS = {"allowed": [{"name": "clock", "kind": "primitive"}]}

CHECKSUM_CASES = [
    Case(name="Same", reason="A re-render keeps the checksum.", args={}, want=False),
    Case(
        name="Scaling",
        reason="Scaling is not read by the pod.",
        args={"scaling": {"maxReplicas": 3, "lagThreshold": 9}},
        want=False,
    ),
    Case(
        name="Resources",
        reason="Resources change the template themselves.",
        args={"resources": {"limits": {"memory": "2Gi"}}},
        want=False,
    ),
    Case(
        name="Definition",
        reason="A new definition must roll the pods.",
        args={"definition": OTHER_DEFINITION},
        want=True,
    ),
    Case(name="Grants", reason="New grants must roll the pods.", args={"tools": GRANTS}, want=True),
    Case(
        name="Env",
        reason="The env is part of the checksum.",
        args={"observability": {"logLevel": "DEBUG"}},
        want=True,
    ),
]


@pytest.mark.parametrize("case", CHECKSUM_CASES, ids=case_ids(CHECKSUM_CASES))
def test_checksum(case: Case) -> None:
    assert (_checksum(**case.args) != _checksum()) is case.want, case.reason


def test_checksum_is_sha256() -> None:
    checksum = _checksum()
    assert len(checksum) == 64
    assert int(checksum, 16) >= 0


# --- pod -----------------------------------------------------------------------------------


def test_restricted_security() -> None:
    pod = _pod()
    assert pod["securityContext"] == {
        "runAsNonRoot": True,
        "runAsUser": 65532,
        "runAsGroup": 65532,
        "fsGroup": 65532,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    assert pod["containers"][0]["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
    }
    assert pod["automountServiceAccountToken"] is False
    assert pod["enableServiceLinks"] is False
    assert pod["serviceAccountName"] == "support-bot"


def test_volumes_match_contract_and_configmaps() -> None:
    ctx = make_ctx()
    pod = deployment.build(ctx)["deployment"]["spec"]["template"]["spec"]
    mounts = {m["mountPath"]: m for m in pod["containers"][0]["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    definition = volumes[mounts[contract_env.DEFINITION_MOUNT]["name"]]
    grants = volumes[mounts[contract_env.TOOL_GRANTS_MOUNT]["name"]]
    assert definition["configMap"]["name"] == configmaps.definition_configmap_name(ctx)
    assert grants["configMap"]["name"] == configmaps.tool_grants_configmap_name(ctx)
    assert mounts[contract_env.DEFINITION_MOUNT]["readOnly"] is True
    assert mounts[contract_env.TOOL_GRANTS_MOUNT]["readOnly"] is True
    # The state dir must be writable under the read-only root filesystem.
    tmp = next(path for path in mounts if contract_env.STATE_DIR.startswith(path + "/"))
    assert "sizeLimit" in volumes[mounts[tmp]["name"]]["emptyDir"]


def test_probes_and_grace() -> None:
    pod = _pod()
    container = pod["containers"][0]
    assert container["ports"] == [
        {"name": "http", "containerPort": contract_env.HTTP_PORT, "protocol": "TCP"}
    ]
    assert container["livenessProbe"]["httpGet"] == {"path": "/health", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/ready", "port": "http"}
    assert container["startupProbe"]["httpGet"]["path"] == "/health"
    grace = float(_values()[ENV.SHUTDOWN_GRACE_SECONDS])
    assert pod["terminationGracePeriodSeconds"] > grace


RESOURCE_CASES = [
    Case(
        name="Defaults",
        reason="The spec's default requests and limits.",
        args={},
        want={
            "requests": {"cpu": "250m", "memory": "512Mi"},
            "limits": {"cpu": "1", "memory": "1Gi"},
        },
    ),
    Case(
        name="PartlyUnset",
        reason="Unset quantities are left out, not written empty.",
        args={"resources": {"requests": {"cpu": "100m"}, "limits": {"memory": "2Gi"}}},
        want={"requests": {"cpu": "100m"}, "limits": {"memory": "2Gi"}},
    ),
    Case(
        name="AllUnset",
        reason="No quantities, no resources field.",
        args={"resources": {"requests": {}, "limits": {}}},
        want=None,
    ),
]


@pytest.mark.parametrize("case", RESOURCE_CASES, ids=case_ids(RESOURCE_CASES))
def test_resources(case: Case) -> None:
    assert _container(**case.args).get("resources") == case.want, case.reason


def test_image() -> None:
    digest = "sha256:" + "a" * 64
    pod = _pod(
        image={
            "repository": "reg.example/rt",
            "tag": digest,
            "pullPolicy": "Always",
            "imagePullSecrets": [{"name": "regcred"}],
        }
    )
    assert pod["containers"][0]["image"] == f"reg.example/rt@{digest}"
    assert pod["containers"][0]["imagePullPolicy"] == "Always"
    assert pod["imagePullSecrets"] == [{"name": "regcred"}]
    assert "imagePullSecrets" not in _pod()


def test_rollout_and_spread() -> None:
    ctx = make_ctx()
    spec = deployment.build(ctx)["deployment"]["spec"]
    assert spec["strategy"]["rollingUpdate"] == {"maxUnavailable": 0, "maxSurge": 1}
    assert spec["selector"] == {"matchLabels": ctx.selector_labels()}
    labels = spec["template"]["metadata"]["labels"]
    assert labels.items() >= ctx.selector_labels().items()
    (spread,) = spec["template"]["spec"]["topologySpreadConstraints"]
    assert spread["topologyKey"] == "kubernetes.io/hostname"
    assert spread["whenUnsatisfiable"] == "ScheduleAnyway"
    assert spread["labelSelector"] == {"matchLabels": ctx.selector_labels()}


def test_long_xr_name_fits() -> None:
    got = _deployment(name="c" * 70)
    assert len(got["metadata"]["name"]) <= 63
    assert all(len(v) <= 63 for v in got["spec"]["selector"]["matchLabels"].values())


def test_runtime_reads_the_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The runtime's own Settings accept every literal value the function writes."""
    spec = make_spec(
        model={"maxTokens": 100, "topP": 0.5, "fallbackModel": "gpt-4o-mini"},
        behavior={"conversationTTL": "2h", "maxContextMessages": 20},
        observability={"tracing": {"endpoint": "http://otel:4317"}, "streamTokens": False},
    )
    for entry in container_env(make_ctx(spec)):
        if "value" in entry:
            monkeypatch.setenv(entry["name"], entry["value"])
    settings = load_settings()
    assert settings.agent_name == "support-bot"
    assert settings.conversation_ttl_seconds == 7200
    assert settings.model_max_tokens == 100
    assert settings.stream_tokens is False
    assert settings.otel_endpoint == "http://otel:4317"
    assert (
        str(settings.definition_path)
        == f"{contract_env.DEFINITION_MOUNT}/{contract_env.DEFINITION_FILE}"
    )
    assert settings.nats_consumer == make_ctx().consumer_name


# --- API authentication ----------------------------------------------------------------------


def test_api_auth_defaults_to_audience_bound_serviceaccount_tokens() -> None:
    pod = _pod()
    values = {e["name"]: e.get("value") for e in pod["containers"][0]["env"]}
    assert values[ENV.API_AUTH_MODE] == "serviceAccount"
    assert values[ENV.API_AUTH_AUDIENCE] == "xagent.dev/agents/support-bot"
    # The pod automounts no token; the runtime's own one (for TokenReview) is projected.
    assert pod["automountServiceAccountToken"] is False
    [volume] = [v for v in pod["volumes"] if v["name"] == "kube-api-access"]
    sources = volume["projected"]["sources"]
    assert sources[0]["serviceAccountToken"]["path"] == "token"
    assert sources[1]["configMap"]["name"] == "kube-root-ca.crt"
    mounts = {m["name"]: m for m in pod["containers"][0]["volumeMounts"]}
    assert mounts["kube-api-access"]["mountPath"] == deployment.KUBE_API_MOUNT
    assert mounts["kube-api-access"]["readOnly"] is True


def test_api_auth_token_mode_mounts_the_secret_key_as_a_file() -> None:
    auth = {"mode": "token", "tokenSecretRef": {"name": "api-callers", "key": "list"}}
    pod = _pod(api={"auth": auth})
    values = {e["name"]: e.get("value") for e in pod["containers"][0]["env"]}
    assert values[ENV.API_AUTH_MODE] == "token"
    assert values[ENV.API_AUTH_TOKENS_PATH] == "/etc/xagent/api-auth/tokens"
    # Protected, so written even when unset: as a name with no value (the container sees "").
    assert ENV.API_AUTH_AUDIENCE in values
    assert values[ENV.API_AUTH_AUDIENCE] is None
    [volume] = [v for v in pod["volumes"] if v["name"] == "api-tokens"]
    assert volume["secret"] == {
        "secretName": "api-callers",
        "items": [{"key": "list", "path": "tokens"}],
    }
    assert not [v for v in pod["volumes"] if v["name"] == "kube-api-access"]
    # The token travels as a reference: no env value carries it.
    assert "api-callers" not in json.dumps(pod["containers"][0]["env"])


def test_api_auth_cannot_be_switched_off_through_spec_env() -> None:
    with pytest.raises(ValidationError, match="API_AUTH_MODE is set by xagent"):
        make_spec(env=[{"name": ENV.API_AUTH_MODE, "value": "none"}])


def test_api_auth_token_mode_needs_a_secret() -> None:
    with pytest.raises(ValidationError, match="tokenSecretRef is required"):
        make_spec(api={"auth": {"mode": "token"}})


def test_tracing_protocol_and_headers_secret() -> None:
    """Langfuse: OTLP over HTTP with Basic auth headers that only a Secret holds."""
    tracing = {
        "endpoint": "https://cloud.langfuse.com/api/public/otel",
        "protocol": "http/protobuf",
        "headersSecretRef": {"name": "langfuse", "key": "otlp-headers"},
    }
    env = _env(observability={"tracing": tracing})
    assert env[ENV.OTEL_EXPORTER_OTLP_PROTOCOL]["value"] == "http/protobuf"
    assert env[ENV.OTEL_EXPORTER_OTLP_HEADERS] == {
        "name": ENV.OTEL_EXPORTER_OTLP_HEADERS,
        "valueFrom": {"secretKeyRef": {"name": "langfuse", "key": "otlp-headers"}},
    }
    without = _env(observability={"tracing": {"endpoint": "http://otel:4317"}})
    assert ENV.OTEL_EXPORTER_OTLP_HEADERS not in without


@pytest.mark.parametrize(
    ("tracing", "error"),
    [
        ({"headersSecretRef": {"name": "lf"}}, "headersSecretRef needs an endpoint"),
        ({"endpoint": "http://otel:4317", "protocol": "http/json"}, "protocol"),
        ({"endpoint": "http://o:4317", "headersSecretRef": {"name": "Bad_Name"}}, "name"),
    ],
)
def test_tracing_fields_the_spec_refuses(tracing: dict, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        make_spec(observability={"tracing": tracing})
