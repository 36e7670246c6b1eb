"""What the XRD admits, the cluster accepts: each input class found by fuzzing is a case.

Every case was composed (or ended in ``internal error composing XAgent``) before; now each is
one Fatal naming the field, with no desired resources.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from crossplane.function import resource
from crossplane.function.proto.v1 import run_function_pb2 as fnv1

from function import compose
from function.fn import FunctionRunner
from tests.function.factories import MINIMAL_SPEC, deep_merge


@dataclass
class Case:
    name: str
    spec: dict[str, Any]
    path: str
    definition: str | None = None
    """A referenced definition's text, instead of the inline one."""


def _cm(text: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "d", "namespace": "n"},
        "data": {"definition.json": text},
    }


def request(spec: dict[str, Any], definition: str | None = None) -> fnv1.RunFunctionRequest:
    req = fnv1.RunFunctionRequest()
    body = deep_merge(MINIMAL_SPEC, spec)
    if definition is not None:
        body.pop("definition")
        body["definitionRef"] = {"name": "d"}
        req.required_resources["definition"].SetInParent()
        resource.update(req.required_resources["definition"].items.add(), _cm(definition))
    resource.update(
        req.observed.composite,
        {
            "apiVersion": "xagent.dev/v1alpha1",
            "kind": "XAgent",
            "metadata": {"name": "a", "namespace": "n"},
            "spec": body,
        },
    )
    return req


REF = "spec.definitionRef (ConfigMap d, key definition.json)"
CASES = [
    Case("QueueUrlUnparsable", {"queue": {"url": "nats://["}}, "spec.queue: url"),
    Case("QueueUrlBadPort", {"queue": {"url": "nats://n:99999"}}, "spec.queue: url"),
    Case("NaN", {"model": {"temperature": float("nan")}}, "spec.model.temperature"),
    Case("Infinity", {"scaling": {"lagThreshold": float("inf")}}, "spec.scaling.lagThreshold"),
    Case("NulInEnv", {"env": [{"name": "X", "value": "a\x00b"}]}, "spec.env[0].value"),
    Case("NulInPrompt", {"systemPrompt": "a\x00"}, "spec.systemPrompt"),
    Case("ImageWhitespace", {"image": {"repository": " repo "}}, "spec.image.repository"),
    Case(
        "RedisImageWhitespace", {"persistence": {"cache": {"image": "redis "}}}, "spec.persistence"
    ),
    Case(
        "StorageClassSpace",
        {"persistence": {"database": {"storage": {"storageClass": "a b"}}}},
        "spec.persistence.database.storage.storageClass",
    ),
    Case(
        "IngressStar",
        {"networkPolicy": {"ingressNamespaces": ["*"]}},
        "spec.networkPolicy.ingressNamespaces[0]",
    ),
    Case(
        "ServiceMonitorLabelKey",
        {"observability": {"serviceMonitor": {"labels": {"a b": "c"}}}},
        "spec.observability.serviceMonitor.labels",
    ),
    Case(
        "ServiceMonitorLabelValue",
        {"observability": {"serviceMonitor": {"labels": {"release": "x" * 64}}}},
        "spec.observability.serviceMonitor.labels",
    ),
    Case(
        "AnnotationKey",
        {"serviceAccount": {"annotations": {"bad key!": "v"}}},
        "spec.serviceAccount.annotations",
    ),
    Case("MaxUnavailableInt32", {"disruption": {"maxUnavailable": 2**40}}, "spec.disruption"),
    Case("EnvFromNoSource", {"envFrom": [{}]}, "spec.envFrom[0]"),
    Case(
        "EnvFromTwoSources",
        {"envFrom": [{"configMapRef": {"name": "a"}, "secretRef": {"name": "b"}}]},
        "spec.envFrom[0]",
    ),
    Case("EnvFromNoName", {"envFrom": [{"configMapRef": {}}]}, "spec.envFrom[0].configMapRef"),
    Case(
        "EnvFromUnknownField",
        {"envFrom": [{"secretRef": {"name": "a", "nme": "b"}}]},
        "spec.envFrom[0].secretRef",
    ),
    Case(
        "EnvFromPrefix",
        {"envFrom": [{"prefix": "1 x", "configMapRef": {"name": "a"}}]},
        "spec.envFrom[0].prefix",
    ),
    Case(
        "EnvValueAndValueFrom",
        {
            "env": [
                {
                    "name": "X",
                    "value": "a",
                    "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}},
                }
            ]
        },
        "spec.env[0]",
    ),
    Case("EnvEmptyValueFrom", {"env": [{"name": "X", "valueFrom": {}}]}, "spec.env[0].valueFrom"),
    Case(
        "EnvSecretKey",
        {"env": [{"name": "X", "valueFrom": {"secretKeyRef": {"name": "s", "key": "bad key"}}}]},
        "spec.env[0].valueFrom",
    ),
    Case(
        "CredentialSecretKey",
        {"model": {"credentials": {"secretRef": {"name": "s", "key": "bad key"}}}},
        "spec.model.credentials.secretRef.key",
    ),
    Case(
        "DefinitionNaN",
        {},
        REF,
        definition='{"nodes": [{"type": "orchestrator", "name": "m"}], '
        '"toolDefinitions": [{"name": "t", "timeoutSeconds": NaN}]}',
    ),
    Case("DefinitionHugeInt", {}, REF, definition='{"nodes": [' + "1" * 5000 + "]}"),
    Case("DefinitionDeep", {}, REF, definition="[" * 100_000 + "]" * 100_000),
    Case(
        "DefinitionLoneSurrogate",
        {},
        REF,
        definition='{"nodes": [{"type": "orchestrator", "name": "m", "systemPrompt": "\\ud83d"}]}',
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
async def test_bad_input_is_one_fatal_naming_the_field(case: Case) -> None:
    rsp = await FunctionRunner().RunFunction(request(case.spec, case.definition))
    messages = [r.message for r in rsp.results]
    assert [r.severity for r in rsp.results] == [fnv1.SEVERITY_FATAL], messages
    assert messages[0].startswith(case.path), messages[0]
    assert "internal error" not in messages[0]
    assert len(rsp.desired.resources) == 0


async def test_surrogate_pair_escapes_in_a_referenced_definition_compose() -> None:
    """``json.dump`` writes an emoji as a surrogate pair; it must reach the ConfigMap whole."""
    text = '{"nodes": [{"type": "orchestrator", "name": "m", "systemPrompt": "hi \\ud83d\\ude42"}]}'
    rsp = await FunctionRunner().RunFunction(request({}, text))
    assert [r.message for r in rsp.results if r.severity == fnv1.SEVERITY_FATAL] == []
    cm = resource.struct_to_dict(rsp.desired.resources["configmap-definition"].resource)
    assert "hi \U0001f642" in cm["data"]["definition.json"]


async def test_a_fatal_after_partial_output_carries_no_resources(monkeypatch) -> None:
    real_apply = compose.apply

    def apply_then_fail(outcome, rsp):
        real_apply(outcome, rsp)
        raise RuntimeError("boom after writing")

    monkeypatch.setattr(compose, "apply", apply_then_fail)
    rsp = await FunctionRunner().RunFunction(request({}))
    assert [r.severity for r in rsp.results] == [fnv1.SEVERITY_FATAL]
    assert len(rsp.desired.resources) == 0
