"""The tool grants file: what the function's policy allows, and all the runtime may bind.

The function writes it into the tool grants ConfigMap (mounted at ``env.TOOL_GRANTS_MOUNT``);
the runtime reads it at startup and binds no tool outside ``tools``.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from contract.enums import RiskTier, ToolKind

__all__ = ["GrantedTool", "ToolGrants"]


class GrantedTool(BaseModel):
    """One tool the agent's policy allows."""

    model_config = ConfigDict(extra="ignore", validate_by_name=True, validate_by_alias=True)

    name: str
    kind: ToolKind = ToolKind.DOMAIN
    credential_env: Annotated[str | None, Field(alias="credentialEnv")] = None


class ToolGrants(BaseModel):
    """The grants file: ``{"tools": [{"name", "kind", "credentialEnv"?}], "riskTier", ...}``."""

    model_config = ConfigDict(extra="ignore", validate_by_name=True, validate_by_alias=True)

    tools: list[GrantedTool] = []
    risk_tier: Annotated[RiskTier | None, Field(alias="riskTier")] = None
    tenant_id: Annotated[str | None, Field(alias="tenantId")] = None

    def get(self, name: str) -> GrantedTool | None:
        """The grant of tool ``name``, or None when it is not granted."""
        return next((t for t in self.tools if t.name == name), None)

    def names(self) -> set[str]:
        """Names of every granted tool."""
        return {t.name for t in self.tools}

    def to_file(self) -> dict[str, object]:
        """The JSON form the runtime reads (camelCase keys; unset fields left out)."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)
