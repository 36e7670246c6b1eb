"""A rotated credential Secret rolls the runtime pods (function/rotation.py).

Through the whole function: Crossplane hands the credential Secrets back as required
resources, and the Deployment's pod template carries their fingerprint.
"""

from __future__ import annotations

from typing import Any

from crossplane.function import resource

from function import rotation
from function.fn import FunctionRunner
from tests.function.factories import make_ctx, make_spec
from tests.function.test_fn import Case, request, secret_requirement, xr

TOOLS = {
    "tools": {
        "allowed": [
            {"name": "github", "kind": "domain", "credentials": {"secretRef": {"name": "gh"}}},
            {
                "name": "jira",
                "kind": "domain",
                "credentials": {"remoteRef": {"key": "xagent/t1/jira"}},
            },
        ]
    }
}


def _secret(name: str, version: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": "agents", "resourceVersion": version},
        "data": {"api-key": "c2VjcmV0"},
    }


async def _run(
    required: dict[str, list[dict[str, Any]]] | None = None,
    observed: dict[str, dict[str, Any]] | None = None,
    spec: dict[str, Any] | None = None,
) -> tuple[dict[str, Any], list[str]]:
    case = Case(
        name="x", reason="", xr=xr(spec), want={}, required=required, observed=observed or {}
    )
    rsp = await FunctionRunner().RunFunction(request(case))
    deployment = resource.struct_to_dict(rsp.desired.resources["deployment"].resource)
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    return annotations, sorted(rsp.requirements.resources)


def _fetched(version: str) -> dict[str, list[dict[str, Any]]]:
    entry = secret_requirement()
    return {entry: [_secret(entry.removeprefix(rotation.PREFIX), version)]}


async def test_every_credential_secret_is_required() -> None:
    ctx = make_ctx(make_spec(**TOOLS))
    names = rotation.watched_secrets(ctx)
    # The provider key synced by ESO, the user's own Secret, the tool key synced by ESO.
    assert "gh" in names
    assert len(names) == 3
    _, requirements = await _run(spec=TOOLS)
    assert requirements == sorted(f"{rotation.PREFIX}{n}" for n in names)


def test_the_tracing_headers_secret_is_watched() -> None:
    """A rotated trace-backend key (Langfuse) rolls the pods like a model key does."""
    ref = {"name": "langfuse", "key": "headers"}
    tracing = {"endpoint": "https://lf/otel", "headersSecretRef": ref}
    ctx = make_ctx(make_spec(observability={"tracing": tracing}))
    assert "langfuse" in rotation.watched_secrets(ctx)
    assert "langfuse" not in rotation.watched_secrets(make_ctx())


async def test_a_rotated_secret_changes_the_template() -> None:
    before, _ = await _run(_fetched("100"))
    again, _ = await _run(_fetched("100"))
    after, _ = await _run(_fetched("101"))
    assert before[rotation.ANNOTATION] == again[rotation.ANNOTATION]
    assert before[rotation.ANNOTATION] != after[rotation.ANNOTATION]


async def test_values_never_reach_the_fingerprint() -> None:
    # Only the resourceVersion counts: the same version with other data is the same.
    fetched = _fetched("7")
    one, _ = await _run(fetched)
    (secret,) = next(iter(fetched.values()))
    secret["data"] = {"api-key": "b3RoZXI="}
    two, _ = await _run(fetched)
    assert one[rotation.ANNOTATION] == two[rotation.ANNOTATION]


async def test_a_missing_secret_has_a_fingerprint_too() -> None:
    # When ESO creates the Secret later, the fingerprint changes and the pods roll onto it.
    missing, _ = await _run({secret_requirement(): []})
    present, _ = await _run(_fetched("1"))
    assert missing[rotation.ANNOTATION] != present[rotation.ANNOTATION]


async def test_not_fetched_yet_keeps_the_running_value() -> None:
    observed = {
        "deployment": {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "support-bot"},
            "spec": {"template": {"metadata": {"annotations": {rotation.ANNOTATION: "abc"}}}},
        }
    }
    kept, _ = await _run(None, observed)
    assert kept[rotation.ANNOTATION] == "abc"
    fresh, _ = await _run(None)
    assert rotation.ANNOTATION not in fresh
