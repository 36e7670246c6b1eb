"""A rotated credential Secret rolls the runtime pods (function/rotation.py).

Through the whole function: Crossplane hands the credential Secrets back as required
resources, and the Deployment's pod template carries their fingerprint.
"""

from __future__ import annotations

from typing import Any

from crossplane.function import resource
from hypothesis import given, settings
from hypothesis import strategies as st

from function import rotation
from function.builders import nats_auth
from function.fn import FunctionRunner
from function.input import Policy
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


# --- the queue's NATS credentials (spec.queue.auth) -------------------------------------

NATS_POLICY = {
    "apiVersion": "fn.xagent.dev/v1beta1",
    "kind": "Input",
    "policy": {"queues": {"authSecrets": ["nats-*"]}},
}
NATS_AUTH = {
    "queue": {
        "auth": {
            "method": "userPassword",
            "secret": {"secretName": "nats-creds"},
            "tls": {"secretName": "nats-tls"},
        }
    }
}


def test_the_queue_auth_secrets_are_watched() -> None:
    allow = Policy(queues={"authSecrets": ["nats-*"]})
    ctx = make_ctx(make_spec(**NATS_AUTH), policy=allow)
    assert {"nats-creds", "nats-tls"} <= set(rotation.watched_secrets(ctx))
    # A store key: the Secret this XR's ExternalSecret writes.
    synced = make_ctx(
        make_spec(queue={"auth": {"method": "nkey", "secret": {"remoteKey": "xagent/t1/nats"}}})
    )
    assert nats_auth.auth_secret_name(synced) in rotation.watched_secrets(synced)
    # No NATS connection, no NATS credentials to roll for.
    none = make_ctx(make_spec(queue={**NATS_AUTH["queue"], "engine": "none"}), policy=allow)
    assert not {"nats-creds", "nats-tls"} & set(rotation.watched_secrets(none))


def _all_fetched(versions: dict[str, str]) -> dict[str, list[dict[str, Any]]]:
    """Every watched Secret of NATS_AUTH at ``versions`` (default 1), plus what is given."""
    names = {secret_requirement().removeprefix(rotation.PREFIX), "nats-creds", "nats-tls"}
    names |= set(versions)
    return {f"{rotation.PREFIX}{n}": [_secret(n, versions.get(n, "1"))] for n in names}


async def _annotation(versions: dict[str, str]) -> str:
    case = Case(
        name="x",
        reason="",
        xr=xr(NATS_AUTH),
        want={},
        input=NATS_POLICY,
        required=_all_fetched(versions),
    )
    rsp = await FunctionRunner().RunFunction(request(case))
    assert "deployment" in rsp.desired.resources, rsp.results
    deployment = resource.struct_to_dict(rsp.desired.resources["deployment"].resource)
    assert sorted(rsp.requirements.resources) == sorted(
        [secret_requirement(), f"{rotation.PREFIX}nats-creds", f"{rotation.PREFIX}nats-tls"]
    )
    return deployment["spec"]["template"]["metadata"]["annotations"][rotation.ANNOTATION]


async def test_a_rotated_queue_auth_secret_rolls_the_runtime() -> None:
    """Before, a rotated NATS password left the pods on the old one (env is read once)."""
    base = await _annotation({})
    assert await _annotation({"nats-creds": "2"}) != base
    assert await _annotation({"nats-tls": "2"}) != base
    # A Secret nobody reads, even handed back, changes nothing.
    assert await _annotation({"unrelated": "9"}) == base


@settings(max_examples=30, deadline=None)
@given(
    name=st.from_regex(r"nats-[a-z0-9]([-a-z0-9]{0,30}[a-z0-9])?", fullmatch=True),
    method=st.sampled_from(["userPassword", "token", "creds", "nkey"]),
    one=st.integers(1, 10**6),
    two=st.integers(1, 10**6),
)
def test_the_fingerprint_follows_any_queue_auth_secret(
    name: str, method: str, one: int, two: int
) -> None:
    allow = Policy(queues={"authSecrets": ["nats-*"]})
    spec = make_spec(queue={"auth": {"method": method, "secret": {"secretName": name}}})
    ctx = make_ctx(spec, policy=allow)
    names = rotation.watched_secrets(ctx)
    assert name in names

    def fingerprint(version: int, unrelated: int) -> str | None:
        required = {f"{rotation.PREFIX}{n}": [_secret(n, "5")] for n in names}
        required[f"{rotation.PREFIX}{name}"] = [_secret(name, str(version))]
        required[f"{rotation.PREFIX}x-{name}"] = [_secret(f"x-{name}", str(unrelated))]
        return rotation.fingerprint(ctx, required)

    assert (fingerprint(one, 1) == fingerprint(two, 1)) == (one == two)
    assert fingerprint(one, one) == fingerprint(one, two)
