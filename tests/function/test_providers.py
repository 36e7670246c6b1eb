"""The provider table on the function's side: API validation, XRD rules, secrets and env.

Every case is generated from ``contract.providers.PROVIDERS``, so a new row is tested here
without a new line (the runtime's side is tests/runtime/test_models.py).
"""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from contract.env import ENV
from contract.providers import PROVIDERS, Need, Provider
from function.builders import deployment, external_secrets
from function.schema import xrd_v2
from function.spec import ModelProvider
from tests.function.factories import make_ctx, make_spec

_VALUES = {
    "endpoint": "https://models.example.test/v1",
    "apiVersion": "2024-10-21",
    "region": "eu-west-1",
}
_ENV = {
    "endpoint": ENV.MODEL_ENDPOINT,
    "apiVersion": ENV.MODEL_API_VERSION,
    "region": ENV.MODEL_REGION,
}


def _model(row: Provider, **extra: Any) -> dict[str, Any]:
    """spec.model with every setting the row requires."""
    model = {"provider": row.id, "name": "m"}
    model |= {f: _VALUES[f] for f, need in row.needs().items() if need == Need.REQUIRED}
    return model | extra


def test_the_api_enum_is_the_table() -> None:
    assert [p.value for p in ModelProvider] == [p.id for p in PROVIDERS]
    xrd_enum = xrd_v2()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"][
        "properties"
    ]["model"]["properties"]["provider"]["enum"]
    assert xrd_enum == [p.id for p in PROVIDERS]


REQUIRED = [
    (row, field)
    for row in PROVIDERS
    for field, need in row.needs().items()
    if need == Need.REQUIRED
]


@pytest.mark.parametrize(("row", "field"), REQUIRED, ids=[f"{r.id}-{f}" for r, f in REQUIRED])
def test_a_required_setting_is_asked_for(row: Provider, field: str) -> None:
    model = _model(row)
    del model[field]
    with pytest.raises(ValidationError, match=f"provider {row.id} needs {field}"):
        make_spec(model=model)


@pytest.mark.parametrize(("row", "field"), REQUIRED, ids=[f"{r.id}-{f}" for r, f in REQUIRED])
def test_the_xrd_asks_for_what_the_function_asks_for(row: Provider, field: str) -> None:
    """The CEL rule of each required setting names the row, so the API server refuses too."""
    rules = xrd_v2()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"][
        "properties"
    ]["model"]["x-kubernetes-validations"]
    rule = next(r["rule"] for r in rules if r["message"] == f"this provider needs {field}")
    assert f"'{row.id}'" in rule


@pytest.mark.parametrize("row", PROVIDERS, ids=[p.id for p in PROVIDERS])
def test_each_provider_renders_its_env(row: Provider) -> None:
    ctx = make_ctx(make_spec(model=_model(row)))
    env = {e["name"]: e for e in deployment.container_env(ctx)}
    assert env[ENV.MODEL_PROVIDER]["value"] == row.id
    for field, need in row.needs().items():
        if need == Need.REQUIRED:
            assert env[_ENV[field]]["value"] == _VALUES[field]
    # The key travels under the variable the row names, from a Secret, iff the row needs one
    # (otherwise the protected variable is written empty).
    key = env[row.key_env]
    if row.needs_secret:
        assert "secretKeyRef" in key["valueFrom"]
    else:
        assert "valueFrom" not in key
        assert not key.get("value")


@pytest.mark.parametrize("row", PROVIDERS, ids=[p.id for p in PROVIDERS])
def test_a_secret_is_composed_by_default_iff_the_row_needs_one(row: Provider) -> None:
    ctx = make_ctx(make_spec(model=_model(row)))
    keys = external_secrets.external_secret_keys(external_secrets.build(ctx))
    assert bool(keys) is row.needs_secret


@pytest.mark.parametrize("row", PROVIDERS, ids=[p.id for p in PROVIDERS])
def test_credentials_always_bring_the_key(row: Provider) -> None:
    """Even a provider that runs without a secret (ollama, bedrock) gets the key it is given."""
    creds = {"secretRef": {"name": "my-key", "key": "token"}}
    ctx = make_ctx(make_spec(model=_model(row, credentials=creds)))
    env = {e["name"]: e for e in deployment.container_env(ctx)}
    assert env[row.key_env]["valueFrom"] == {"secretKeyRef": {"name": "my-key", "key": "token"}}
