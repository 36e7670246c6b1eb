"""The tool grants file: what the function's policy allows, and all the runtime may bind.

The function writes it into the tool grants ConfigMap (mounted at ``env.TOOL_GRANTS_MOUNT``);
the runtime reads it at startup and binds no tool outside ``tools`` and the granted tools of
``mcpServers``. The same read-only file carries the rest of the agent's policy that the
function checked against the platform policy: ``approvals`` (which tools' calls wait for a
human) and ``budgets`` (token and cost limits, prices), out of reach of ``spec.env``.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from contract.defaults import APPROVAL_TIMEOUT_SECONDS, MCP_TIMEOUT_SECONDS
from contract.enums import RiskTier, ToolKind
from contract.prices import Price, find_price

__all__ = [
    "ApprovalPolicy",
    "BudgetPolicy",
    "GrantedTool",
    "McpServerGrant",
    "McpToolGrant",
    "PriceEntry",
    "ToolGrants",
    "WindowLimit",
]

_CONFIG = ConfigDict(extra="ignore", validate_by_name=True, validate_by_alias=True)


class GrantedTool(BaseModel):
    """One tool the agent's policy allows."""

    model_config = _CONFIG

    name: str
    kind: ToolKind = ToolKind.DOMAIN
    credential_env: Annotated[str | None, Field(alias="credentialEnv")] = None


class McpToolGrant(BaseModel):
    """One tool granted from an MCP server."""

    model_config = _CONFIG

    name: str
    kind: ToolKind = ToolKind.DOMAIN


class McpServerGrant(BaseModel):
    """An MCP server (spec.tools.mcpServers) and the tools granted from it."""

    model_config = _CONFIG

    name: str
    url: str
    transport: Literal["streamable-http", "sse"] = "streamable-http"
    timeout_seconds: Annotated[float, Field(alias="timeoutSeconds", gt=0)] = MCP_TIMEOUT_SECONDS
    header_env: Annotated[dict[str, str], Field(alias="headerEnv")] = {}
    """Header name -> the variable that holds its value (never the value)."""
    tools: list[McpToolGrant] = []


class ApprovalPolicy(BaseModel):
    """spec.approvals, resolved by the function into the names of the gated tools."""

    model_config = _CONFIG

    tools: list[str] = []
    timeout_seconds: Annotated[float, Field(alias="timeoutSeconds", gt=0)] = (
        APPROVAL_TIMEOUT_SECONDS
    )
    timeout_action: Annotated[Literal["reject", "approve"], Field(alias="timeoutAction")] = "reject"


class WindowLimit(BaseModel):
    """A budget window's limit (spec.budgets.job/thread/daily); unset parts are unlimited."""

    model_config = _CONFIG

    tokens: int | None = None
    cost: float | None = None


class PriceEntry(BaseModel):
    """One spec.budgets.prices entry."""

    model_config = _CONFIG

    model: str
    input_per_million: Annotated[float, Field(alias="inputPerMillion")]
    output_per_million: Annotated[float, Field(alias="outputPerMillion")]


class BudgetPolicy(BaseModel):
    """spec.budgets."""

    model_config = _CONFIG

    job: WindowLimit | None = None
    thread: WindowLimit | None = None
    daily: WindowLimit | None = None
    prices: list[PriceEntry] = []

    @property
    def limited(self) -> bool:
        """Whether any window has a limit (else nothing is counted in the database)."""
        return any(w is not None for w in (self.job, self.thread, self.daily))

    def price(self, model: str) -> Price | None:
        """The price of ``model``: the spec's entries first, then the built-in table."""
        own = [Price(p.model, p.input_per_million, p.output_per_million) for p in self.prices]
        return find_price(model, own)


class ToolGrants(BaseModel):
    """The grants file: ``{"tools": [...], "riskTier", "tenantId", "mcpServers"?, ...}``."""

    model_config = _CONFIG

    tools: list[GrantedTool] = []
    risk_tier: Annotated[RiskTier | None, Field(alias="riskTier")] = None
    tenant_id: Annotated[str | None, Field(alias="tenantId")] = None
    mcp_servers: Annotated[list[McpServerGrant], Field(alias="mcpServers")] = []
    approvals: ApprovalPolicy | None = None
    budgets: BudgetPolicy | None = None

    def get(self, name: str) -> GrantedTool | None:
        """The grant of tool ``name``, or None when it is not granted."""
        return next((t for t in self.tools if t.name == name), None)

    def names(self) -> set[str]:
        """Names of every granted tool."""
        return {t.name for t in self.tools}

    def to_file(self) -> dict[str, object]:
        """The JSON form the runtime reads (camelCase keys; unset and empty sections left out)."""
        out = self.model_dump(mode="json", by_alias=True, exclude_none=True)
        if not self.mcp_servers:
            out.pop("mcpServers", None)
        return out
