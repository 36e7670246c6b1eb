"""Table-driven tests of the whole function: a RunFunctionRequest in, a response summary out.

Each case states the XR, the function input, observed and required resources, and the
summary it wants: results, conditions, composed keys with readiness, requirements, phase.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
from crossplane.function import resource
from crossplane.function.proto.v1 import run_function_pb2 as fnv1

from contract.providers import PROVIDERS
from function import builders, rotation
from function.fn import FunctionRunner
from tests.function.factories import MINIMAL_SPEC, deep_merge, make_ctx, make_spec

DEFAULT_KEYS = sorted(
    [
        "cache",
        "cache-password-generator",
        "configmap-definition",
        "configmap-tool-grants",
        "consumer",
        "dashboard",
        "database",
        "deployment",
        "externalsecret-cache-password",
        "externalsecret-model-openai",
        "networkpolicy",
        "networkpolicy-cache",
        "networkpolicy-database",
        "pdb",
        "prometheusrule",
        "scaledobject",
        "service",
        "service-account",
        "servicemonitor",
        "stream",
    ]
)
"""What the minimal spec composes with every default on."""

CONDITIONS_OK_UNOBSERVED = [
    ("DefinitionResolved", "True", "InlineDefinition"),
    ("PolicyCompliant", "True", "Compliant"),
    ("SecretsReady", "False", "SecretsPending"),
    ("RuntimeReady", "False", "DeploymentUnavailable"),
]

STRICT_POLICY = {
    "apiVersion": "fn.xagent.dev/v1beta1",
    "kind": "Input",
    "policy": {
        "tenants": [
            {"tenantId": "t1", "allowedProviders": ["anthropic"], "allowedModels": ["claude-*"]}
        ],
        "tools": [{"tool": "shell", "minimumRiskTier": "high"}],
    },
}

DEFINITION_REF = {"definition": None, "definitionRef": {"name": "defs", "key": "agent.yaml"}}
"""Spec overrides that swap the inline definition for the ConfigMap below."""

DEFINITION_CM = {
    "apiVersion": "v1",
    "kind": "ConfigMap",
    "metadata": {"name": "defs", "namespace": "agents"},
    "data": {"agent.yaml": "nodes:\n  - type: orchestrator\n    name: main\n"},
}


def xr(spec_overrides: dict[str, Any] | None = None, **meta: Any) -> dict[str, Any]:
    """A namespaced XAgent named support-bot in namespace agents."""
    metadata = {"name": "support-bot", "namespace": "agents", **meta}
    return {
        "apiVersion": "xagent.dev/v1alpha1",
        "kind": "XAgent",
        "metadata": {k: v for k, v in metadata.items() if v is not None},
        "spec": deep_merge(MINIMAL_SPEC, spec_overrides or {}),
    }


API_VERSIONS = {
    "Dragonfly": "dragonflydb.io/v1alpha1",
    "ConfigMap": "v1",
    "Consumer": "jetstream.nats.io/v1beta2",
    "Stream": "jetstream.nats.io/v1beta2",
    "Cluster": "postgresql.cnpg.io/v1",
    "Deployment": "apps/v1",
    "ExternalSecret": "external-secrets.io/v1",
    "NetworkPolicy": "networking.k8s.io/v1",
    "PodDisruptionBudget": "policy/v1",
    "ScaledObject": "keda.sh/v1alpha1",
    "Service": "v1",
    "ServiceAccount": "v1",
    "ServiceMonitor": "monitoring.coreos.com/v1",
    "PrometheusRule": "monitoring.coreos.com/v1",
    "Password": "generators.external-secrets.io/v1alpha1",
}


def ready_observed(kind: str, name: str) -> dict[str, Any]:
    """An observed object of ``kind`` whose status says it is ready."""
    status: dict[str, Any] = {"conditions": [{"type": "Ready", "status": "True"}]}
    if kind == "Deployment":
        status = {
            "observedGeneration": 1,
            "replicas": 1,
            "updatedReplicas": 1,
            "availableReplicas": 1,
            "readyReplicas": 1,
            "conditions": [{"type": "Available", "status": "True"}],
        }
    if kind == "Dragonfly":
        status = {"phase": "ready"}
    if kind == "Cluster":
        status["phase"] = "Cluster in healthy state"
    return {
        "apiVersion": API_VERSIONS[kind],
        "kind": kind,
        "metadata": {"name": name, "generation": 1},
        "status": status,
    }


@dataclass
class Case:
    name: str
    reason: str
    xr: dict[str, Any]
    want: dict[str, Any]
    input: dict[str, Any] | None = None
    observed: dict[str, dict[str, Any]] = field(default_factory=dict)
    required: dict[str, list[dict[str, Any]]] | None = None


def request(case: Case) -> fnv1.RunFunctionRequest:
    req = fnv1.RunFunctionRequest(meta=fnv1.RequestMeta(tag="test"))
    resource.update(req.observed.composite, case.xr)
    for key, obj in case.observed.items():
        resource.update(req.observed.resources[key], obj)
    if case.input is not None:
        req.input.CopyFrom(resource.dict_to_struct(case.input))
    for name, objs in (case.required or {}).items():
        req.required_resources[name].SetInParent()
        for obj in objs:
            resource.update(req.required_resources[name].items.add(), obj)
    return req


def summary(rsp: fnv1.RunFunctionResponse) -> dict[str, Any]:
    """What a case asserts: the parts of a response that carry its decisions."""
    status = resource.struct_to_dict(rsp.desired.composite.resource).get("status", {})
    severity = {
        fnv1.SEVERITY_FATAL: "Fatal",
        fnv1.SEVERITY_WARNING: "Warning",
        fnv1.SEVERITY_NORMAL: "Normal",
    }
    cond_status = {
        fnv1.STATUS_CONDITION_TRUE: "True",
        fnv1.STATUS_CONDITION_FALSE: "False",
        fnv1.STATUS_CONDITION_UNKNOWN: "Unknown",
    }
    return {
        "results": [(severity[r.severity], r.message) for r in rsp.results],
        "conditions": [(c.type, cond_status[c.status], c.reason) for c in rsp.conditions],
        "resources": {k: r.ready == fnv1.READY_TRUE for k, r in rsp.desired.resources.items()},
        "requirements": sorted(rsp.requirements.resources),
        "phase": status.get("phase"),
    }


def not_ready(keys: list[str]) -> dict[str, bool]:
    return dict.fromkeys(keys, False)


def fatal(message: str, requirements: Sequence[str] = ()) -> dict[str, Any]:
    """The summary of one Fatal result: nothing composed, no conditions, no phase."""
    return {
        "results": [("Fatal", message)],
        "conditions": [],
        "resources": {},
        "requirements": list(requirements),
        "phase": None,
    }


def secret_requirement(provider: str = "openai") -> str:
    """The required-resources entry of a provider's key Secret (function/rotation.py)."""
    ctx = make_ctx(make_spec(model={"provider": provider, "name": "m"}))
    (name,) = rotation.watched_secrets(ctx)
    return f"{rotation.PREFIX}{name}"


def provisioning(
    keys: Sequence[str] | None = None,
    results: Sequence[tuple[str, str]] = (),
    requirements: Sequence[str] | None = None,
) -> dict[str, Any]:
    """A clean compose with nothing observed yet: ``keys`` (or DEFAULT_KEYS), none ready."""
    return {
        "results": list(results),
        "conditions": CONDITIONS_OK_UNOBSERVED,
        "resources": not_ready(DEFAULT_KEYS if keys is None else list(keys)),
        "requirements": [secret_requirement()] if requirements is None else list(requirements),
        "phase": "Provisioning",
    }


CASES = [
    Case(
        name="MinimalComposesEverythingUnobserved",
        reason="A fresh minimal XAgent composes every default resource, none ready yet.",
        xr=xr(),
        want=provisioning(),
    ),
    Case(
        name="ModelAndPromptAloneComposeAnAgent",
        reason="The smallest XAgent (tenantId, model, systemPrompt, a builtin grant) composes "
        "a single-orchestrator agent with every default resource.",
        xr=xr(
            {
                "definition": None,
                "systemPrompt": "You help.",
                "tools": {"allowed": [{"name": "calculator", "kind": "primitive"}]},
            }
        ),
        want={
            **provisioning(),
            "conditions": [
                ("DefinitionResolved", "True", "SingleOrchestrator"),
                *CONDITIONS_OK_UNOBSERVED[1:],
            ],
        },
    ),
    Case(
        name="MinimalAgentRefusesNonBuiltinTool",
        reason="Without a definition a granted tool must be a builtin; the error names it.",
        xr=xr({"definition": None, "tools": {"allowed": [{"name": "github", "kind": "domain"}]}}),
        want=fatal(
            "spec.tools.allowed[0].name: 'github' is not a builtin tool (calculator, "
            "current_time, echo); without a definition only builtins can be bound, so describe "
            "other tools in spec.definition.toolDefinitions"
        ),
    ),
    Case(
        name="ObservedReadyMakesEverythingReady",
        reason="When every composed object reports ready, so do the XR's conditions.",
        xr=xr(),
        observed={
            "cache": ready_observed("Dragonfly", "support-bot-cache-863ee341b0"),
            "cache-password-generator": ready_observed("Password", "n"),
            "configmap-definition": ready_observed("ConfigMap", "a"),
            "configmap-tool-grants": ready_observed("ConfigMap", "b"),
            "consumer": ready_observed("Consumer", "c"),
            "dashboard": ready_observed("ConfigMap", "l"),
            "database": ready_observed("Cluster", "support-bot-pg-324eee0abd"),
            "deployment": ready_observed("Deployment", "support-bot"),
            "externalsecret-cache-password": ready_observed("ExternalSecret", "o"),
            "externalsecret-model-openai": ready_observed("ExternalSecret", "d"),
            "networkpolicy": ready_observed("NetworkPolicy", "e"),
            "networkpolicy-cache": ready_observed("NetworkPolicy", "p"),
            "networkpolicy-database": ready_observed("NetworkPolicy", "q"),
            "pdb": ready_observed("PodDisruptionBudget", "k"),
            "prometheusrule": ready_observed("PrometheusRule", "m"),
            "scaledobject": ready_observed("ScaledObject", "f"),
            "service": ready_observed("Service", "g"),
            "service-account": ready_observed("ServiceAccount", "h"),
            "servicemonitor": ready_observed("ServiceMonitor", "i"),
            "stream": ready_observed("Stream", "j"),
        },
        want={
            "results": [],
            "conditions": [
                ("DefinitionResolved", "True", "InlineDefinition"),
                ("PolicyCompliant", "True", "Compliant"),
                ("SecretsReady", "True", "AllSecretsSynced"),
                ("RuntimeReady", "True", "DeploymentAvailable"),
            ],
            "resources": dict.fromkeys(DEFAULT_KEYS, True),
            "requirements": [secret_requirement()],
            "phase": "Ready",
        },
    ),
    Case(
        name="BadProviderNamesFieldPath",
        reason="An unknown provider is a Fatal result naming spec.model.provider.",
        xr=xr({"model": {"provider": "openia"}}),
        want=fatal(
            "spec.model.provider: Input should be "
            + ", ".join(f"'{p.id}'" for p in PROVIDERS[:-1])
            + f" or '{PROVIDERS[-1].id}'"
            + ", got 'openia'"
        ),
    ),
    Case(
        name="MissingTenantNamesFieldPath",
        reason="A missing required field is named by its path.",
        xr=xr({"tenantId": None}),
        want=fatal("spec.tenantId: required field is missing"),
    ),
    Case(
        name="UnknownFieldNamesFieldPath",
        reason="A typo in a nested field is an unknown field at its path.",
        xr=xr({"scaling": {"maxReplica": 3}}),
        want=fatal("spec.scaling.maxReplica: unknown field"),
    ),
    Case(
        name="BothDefinitionSourcesRejected",
        reason="definition and definitionRef are mutually exclusive.",
        xr=xr({"definitionRef": {"name": "defs"}}),
        want=fatal("spec: set at most one of definition or definitionRef"),
    ),
    Case(
        name="DefinitionUnknownToolNamesNode",
        reason="A node naming an undefined tool is rejected naming node and tool.",
        xr=xr(
            {
                "definition": {
                    "nodes": [{"type": "orchestrator", "name": "main", "tools": ["search"]}]
                }
            }
        ),
        want=fatal("spec.definition: nodes[0].tools: node 'main' names unknown tool 'search'"),
    ),
    Case(
        name="BadFunctionInputNamesInputPath",
        reason="A broken Composition input is named under input.",
        xr=xr(),
        input={
            "apiVersion": "fn.xagent.dev/v1beta1",
            "kind": "Input",
            "policy": {"tools": [{"tool": "x", "minimumRiskTier": "extreme"}]},
        },
        want=fatal(
            "input.policy.tools[0].minimumRiskTier: Input should be 'low', 'medium' or 'high', "
            "got 'extreme'"
        ),
    ),
    Case(
        name="PolicyViolationIsFatalAndComposesNothing",
        reason="A tenant outside its allow-list and a tool above the agent's tier: PolicyCompliant "
        "False, one Fatal naming both rules, no runtime.",
        xr=xr({"tools": {"allowed": [{"name": "shell", "kind": "primitive"}]}}),
        input=STRICT_POLICY,
        want={
            "results": [
                (
                    "Fatal",
                    "policy violation:\n"
                    "- spec.model.provider: provider 'openai' is not allowed for tenant 't1' "
                    "(policy rule tenants[0] (tenantId t1))\n"
                    "- spec.model.name: model 'gpt-4o' is not allowed for tenant 't1' "
                    "(policy rule tenants[0] (tenantId t1))\n"
                    "- spec.tools.allowed[0]: tool 'shell' needs riskTier high, the agent has low "
                    "(policy rule tools[0] (tool shell, minimumRiskTier high))",
                )
            ],
            "conditions": [
                ("DefinitionResolved", "True", "InlineDefinition"),
                ("PolicyCompliant", "False", "PolicyViolation"),
                ("RuntimeReady", "False", "RuntimeNotComposed"),
            ],
            "resources": {},
            "requirements": [],
            "phase": "Failed",
        },
    ),
    Case(
        name="PolicyAllowsListedTenant",
        reason="The same policy lets an anthropic claude agent with a high tier through.",
        xr=xr(
            {
                "model": {"provider": "anthropic", "name": "claude-sonnet-4-5"},
                "riskTier": "high",
                "tools": {"allowed": [{"name": "shell", "kind": "primitive"}]},
                "persistence": {"database": {"engine": "none"}, "cache": {"engine": "none"}},
                "queue": {"engine": "none"},
                "scaling": {"autoscaler": "none"},
            }
        ),
        input=STRICT_POLICY,
        want=provisioning(
            keys=sorted(
                [
                    "configmap-definition",
                    "configmap-tool-grants",
                    "dashboard",
                    "deployment",
                    "externalsecret-model-anthropic",
                    "networkpolicy",
                    "prometheusrule",
                    "service",
                    "service-account",
                    "servicemonitor",
                ]
            ),
            requirements=[secret_requirement("anthropic")],
        ),
    ),
    Case(
        name="DefinitionRefAsksForConfigMap",
        reason="Before Crossplane fetched it, the function requires the ConfigMap and waits, "
        "holding the XR not ready.",
        xr=xr(DEFINITION_REF),
        want={
            "results": [],
            "conditions": [
                ("DefinitionResolved", "False", "WaitingForDefinition"),
                ("RuntimeReady", "False", "RuntimeNotComposed"),
            ],
            "resources": {},
            "requirements": ["definition"],
            "phase": "Pending",
        },
    ),
    Case(
        name="DefinitionRefMissingKeepsExisting",
        reason="A ConfigMap that vanished must not delete what exists (the database): "
        "observed resources are carried forward.",
        xr=xr(DEFINITION_REF),
        observed={"database": ready_observed("Cluster", "support-bot-pg-324eee0abd")},
        required={"definition": []},
        want={
            "results": [],
            "conditions": [
                ("DefinitionResolved", "False", "ConfigMapNotFound"),
                ("RuntimeReady", "False", "RuntimeNotComposed"),
            ],
            "resources": {"database": True},
            "requirements": ["definition"],
            "phase": "Pending",
        },
    ),
    Case(
        name="DefinitionRefResolved",
        reason="With the ConfigMap fetched the agent composes as if inline.",
        xr=xr(DEFINITION_REF),
        required={"definition": [DEFINITION_CM]},
        want={
            "results": [],
            "conditions": [
                ("DefinitionResolved", "True", "ConfigMapFound"),
                *CONDITIONS_OK_UNOBSERVED[1:],
            ],
            "resources": not_ready(DEFAULT_KEYS),
            "requirements": ["definition", secret_requirement()],
            "phase": "Provisioning",
        },
    ),
    Case(
        name="DefinitionRefInvalidNamesConfigMap",
        reason="A ConfigMap holding a broken graph is a Fatal naming the ConfigMap and node.",
        xr=xr(DEFINITION_REF),
        required={
            "definition": [
                deep_merge(
                    DEFINITION_CM,
                    {"data": {"agent.yaml": "nodes:\n  - type: sub-agent\n    name: lonely\n"}},
                )
            ]
        },
        want=fatal(
            "spec.definitionRef (ConfigMap defs, key agent.yaml): "
            "nodes: need exactly one orchestrator, found 0",
            requirements=["definition"],
        ),
    ),
    Case(
        name="LegacyClaimNamespace",
        reason="A cluster-scoped XR composes into its claim's namespace.",
        xr=xr(namespace=None, labels={"crossplane.io/claim-namespace": "team-a"}),
        want=provisioning(),
    ),
    Case(
        name="CrossplaneOwnedSpecFieldsIgnored",
        reason="Crossplane adds spec.crossplane (v2) to every XR it sends; it is not ours to "
        "validate, and rejecting it would fail every XR in a real cluster.",
        xr=xr(
            {
                "crossplane": {
                    "compositionRef": {"name": "xagent"},
                    "resourceRefs": [
                        {"apiVersion": "v1", "kind": "Service", "name": "support-bot"}
                    ],
                }
            }
        ),
        want=provisioning(),
    ),
    Case(
        name="LegacyCrossplaneFieldsIgnored",
        reason="A legacy XR carries compositionRef, claimRef and resourceRefs beside our fields.",
        xr=xr(
            {
                "compositionRef": {"name": "xagent"},
                "claimRef": {
                    "apiVersion": "xagent.dev/v1alpha1",
                    "kind": "Agent",
                    "name": "bot",
                    "namespace": "team-a",
                },
                "resourceRefs": [],
            },
            namespace=None,
            labels={"crossplane.io/claim-namespace": "team-a"},
        ),
        want=provisioning(),
    ),
    Case(
        name="LegacyWithoutClaimIsFatal",
        reason="A cluster-scoped XR with no claim has nowhere to put namespaced objects.",
        xr=xr(namespace=None),
        want=fatal(
            "metadata.namespace: a cluster-scoped XAgent must be "
            "created through an Agent claim (label "
            "crossplane.io/claim-namespace), or use the namespaced v2 XRD"
        ),
    ),
    Case(
        name="UngrantedToolIsAWarning",
        reason="A tool the definition uses but the XR does not grant is composed with a "
        "warning: the runtime will not bind it.",
        xr=xr(
            {
                "definition": {
                    "toolDefinitions": [{"name": "calculator"}],
                    "nodes": [{"type": "orchestrator", "name": "main", "tools": ["calculator"]}],
                }
            }
        ),
        want=provisioning(
            results=[
                (
                    "Warning",
                    "spec.tools.allowed: tool 'calculator' is used by the "
                    "definition but not granted; the runtime will not bind it",
                )
            ]
        ),
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
async def test_run_function(case: Case) -> None:
    rsp = await FunctionRunner().RunFunction(request(case))
    got = summary(rsp)
    assert got == case.want, case.reason


async def test_unexpected_error_is_one_fatal(monkeypatch: pytest.MonkeyPatch) -> None:
    """A bug in a builder becomes one Fatal result, never a gRPC error."""

    def broken(_ctx: Any) -> dict[str, Any]:
        raise KeyError("boom")

    registry = tuple((n, broken if n == "service" else b) for n, b in builders.BUILDERS)
    monkeypatch.setattr(builders, "BUILDERS", registry)
    rsp = await FunctionRunner().RunFunction(request(CASES[0]))
    assert [(r.severity, r.message) for r in rsp.results] == [
        (fnv1.SEVERITY_FATAL, "internal error composing XAgent: KeyError: 'boom'")
    ]


async def test_response_keeps_earlier_pipeline_state() -> None:
    """Desired resources of an earlier pipeline step pass through untouched."""
    req = request(CASES[0])
    resource.update(
        req.desired.resources["from-earlier-step"],
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}},
    )
    rsp = await FunctionRunner().RunFunction(req)
    assert "from-earlier-step" in rsp.desired.resources
    assert "deployment" in rsp.desired.resources


async def test_status_reports_endpoint_model_and_subjects() -> None:
    rsp = await FunctionRunner().RunFunction(request(CASES[0]))
    status = resource.struct_to_dict(rsp.desired.composite.resource)["status"]
    assert status["serviceEndpoint"] == "http://support-bot.agents.svc.cluster.local"
    assert status["resolvedModel"] == "openai/gpt-4o"
    assert status["queueSubject"] == "xagent.agents.support-bot.jobs"
    assert status["resultsSubject"] == "xagent.agents.support-bot.results"
    assert status["definitionId"] == "support-bot"
    assert len(status["definitionChecksum"]) == 64


def test_cases_do_not_share_state() -> None:
    """Guard against a case mutating MINIMAL_SPEC through deep_merge."""
    before = copy.deepcopy(MINIMAL_SPEC)
    xr({"model": {"provider": "anthropic"}})
    assert before == MINIMAL_SPEC


async def test_policy_names_the_configmap_of_a_referenced_definition() -> None:
    """A node's model outside the allow-list points at the ConfigMap that holds the node."""
    node_model = (
        "nodes:\n  - type: orchestrator\n    name: main\n"
        "    model: {provider: anthropic, model_name: claude-x}\n"
    )
    case = Case(
        name="RefNodeViolation",
        reason="policy path of a definitionRef node",
        xr=xr({**DEFINITION_REF, "model": {"provider": "anthropic", "name": "claude-x"}}),
        input={
            "apiVersion": "fn.xagent.dev/v1beta1",
            "kind": "Input",
            "policy": {"tenants": [{"tenantId": "t1", "allowedModels": ["gpt-*"]}]},
        },
        required={"definition": [deep_merge(DEFINITION_CM, {"data": {"agent.yaml": node_model}})]},
        want={},
    )
    rsp = await FunctionRunner().RunFunction(request(case))
    (result,) = rsp.results
    assert (
        "spec.definitionRef (ConfigMap defs, key agent.yaml).nodes[0].model.modelName: model "
        "'claude-x' is not allowed" in result.message
    )
