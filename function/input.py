"""The function's input: platform policy, set by whoever writes the Composition.

It is a versioned kind (like the Go functions' input/v1beta1) whose CRD in package/input/
is generated from this model by `xagent xrd`.
"""

from __future__ import annotations

import fnmatch
from typing import Annotated, Literal

from pydantic import Field

from function.spec import ModelProvider, RiskTier, ToolKind
from runtime.definition import CamelModel

__all__ = ["INPUT_API_VERSION", "INPUT_KIND", "FunctionInput", "Policy", "TenantPolicy", "ToolRule"]

INPUT_GROUP = "fn.xagent.dev"
INPUT_VERSION = "v1beta1"
INPUT_API_VERSION = f"{INPUT_GROUP}/{INPUT_VERSION}"
INPUT_KIND = "Input"


class TenantPolicy(CamelModel):
    """Which providers and models a tenant may use."""

    tenant_id: Annotated[
        str, Field(min_length=1, description="Tenant ID, or * for every tenant not listed.")
    ]
    allowed_providers: Annotated[
        list[ModelProvider], Field(description="Providers the tenant may use; any when empty.")
    ] = []
    allowed_models: Annotated[
        list[str], Field(description="Model name globs (gpt-4o*); any when empty.")
    ] = []

    def allows_provider(self, provider: str) -> bool:
        """Whether ``provider`` is allowed."""
        return not self.allowed_providers or provider in self.allowed_providers

    def allows_model(self, model: str) -> bool:
        """Whether ``model`` matches an allowed glob."""
        return not self.allowed_models or any(
            fnmatch.fnmatchcase(model, pattern) for pattern in self.allowed_models
        )


class ToolRule(CamelModel):
    """The minimum risk tier an agent needs to be granted matching tools."""

    tool: Annotated[str, Field(description="Tool name glob.")] = "*"
    kind: Annotated[ToolKind | None, Field(description="Only tools of this kind.")] = None
    minimum_risk_tier: Annotated[RiskTier, Field(description="Lowest tier allowed.")]

    def matches(self, name: str, kind: str) -> bool:
        """Whether the rule covers a tool called ``name`` of ``kind``."""
        return fnmatch.fnmatchcase(name, self.tool) and (self.kind is None or self.kind == kind)


class Policy(CamelModel):
    """Platform policy. With no tenants listed, every tenant may use every model."""

    tenants: Annotated[
        list[TenantPolicy],
        Field(
            description="Per-tenant model allow-lists. "
            "When any is listed, a tenant that matches "
            "none is denied."
        ),
    ] = []
    tools: Annotated[list[ToolRule], Field(description="Minimum risk tier per tool.")] = []

    def tenant(self, tenant_id: str) -> TenantPolicy | None:
        """The tenant's entry, else the * entry, else None."""
        exact = next((t for t in self.tenants if t.tenant_id == tenant_id), None)
        return exact or next((t for t in self.tenants if t.tenant_id == "*"), None)


class FunctionInput(CamelModel):
    """Input of the xagent composition function."""

    api_version: Annotated[Literal["fn.xagent.dev/v1beta1"], Field(alias="apiVersion")] = (
        "fn.xagent.dev/v1beta1"
    )
    kind: Literal["Input"] = "Input"
    metadata: dict[str, object] | None = None
    policy: Policy = Policy()
