"""The two files the runtime reads at startup: its agent definition and its tool grants.

Both are rendered canonically (sorted keys, fixed indentation), so the same spec always
gives byte-identical ConfigMaps and the Deployment's config checksum moves only when the
content does.
"""

from __future__ import annotations

import json
import math
from typing import Any

from contract import env as contract_env
from contract.grants import (
    ApprovalPolicy,
    BudgetPolicy,
    GrantedTool,
    McpServerGrant,
    McpToolGrant,
    ToolGrants,
)
from function import units
from function.builders.base import AgentContext, Desired, Manifest, Mount, RuntimeAdditions
from function.builders.external_secrets import mcp_credentials, tool_credential_env_names
from function.policy import approval_tools, bound_tools

__all__ = [
    "DEFINITION_CHECKSUM_ANNOTATION",
    "DEFINITION_ID_ANNOTATION",
    "DEFINITION_KEY",
    "RUNTIME",
    "TOOL_GRANTS_KEY",
    "build",
    "definition_configmap_name",
    "definition_data",
    "runtime_config",
    "runtime_mounts",
    "tool_grants",
    "tool_grants_configmap_name",
    "tool_grants_data",
]

DEFINITION_KEY = "configmap-definition"
TOOL_GRANTS_KEY = "configmap-tool-grants"
COMPONENT = "runtime"
DEFINITION_ID_ANNOTATION = "xagent.dev/definition-id"
DEFINITION_CHECKSUM_ANNOTATION = "xagent.dev/definition-checksum"


def build(ctx: AgentContext) -> Desired:
    """The definition ConfigMap and the tool grants ConfigMap."""
    # The ID and checksum are annotations, not data: every data key becomes a file in the
    # mounted directory, and the runtime takes its ID from AGENT_DEFINITION_ID.
    annotations = {
        DEFINITION_ID_ANNOTATION: ctx.definition_id,
        DEFINITION_CHECKSUM_ANNOTATION: ctx.definition_checksum,
    }
    return {
        DEFINITION_KEY: _configmap(
            ctx, definition_configmap_name(ctx), definition_data(ctx), annotations
        ),
        TOOL_GRANTS_KEY: _configmap(ctx, tool_grants_configmap_name(ctx), tool_grants_data(ctx)),
    }


def definition_configmap_name(ctx: AgentContext) -> str:
    """The ConfigMap mounted at contract_env.DEFINITION_MOUNT."""
    return ctx.child("definition")


def tool_grants_configmap_name(ctx: AgentContext) -> str:
    """The ConfigMap mounted at contract_env.TOOL_GRANTS_MOUNT."""
    return ctx.child("tool-grants")


def definition_data(ctx: AgentContext) -> dict[str, str]:
    """``data`` of the definition ConfigMap: the seed-001 (snake_case) JSON of the graph."""
    return {contract_env.DEFINITION_FILE: _canonical(ctx.definition.to_runtime_json())}


def tool_grants(ctx: AgentContext) -> dict[str, Any]:
    """The grants the runtime enforces: no tool outside ``tools`` is ever bound to a model.

    ``credentialEnv`` names the variable that carries a tool's credential
    (``GrantedTool.credential_env``); it is present only for grants with credentials.
    """
    envs = tool_credential_env_names(ctx)
    kinds = {b.grant: b.kind for b in bound_tools(ctx.spec, ctx.definition)}
    # A builtin's kind is its own (contract.builtins), whatever the grant says.
    grants = ToolGrants(
        tools=[
            GrantedTool(name=grant.name, kind=kinds[i], credential_env=envs.get(grant.name))
            for i, grant in enumerate(ctx.spec.tools.allowed)
        ],
        risk_tier=ctx.spec.risk_tier,
        tenant_id=ctx.spec.tenant_id,
        mcp_servers=_mcp_servers(ctx),
        approvals=_approvals(ctx),
        # Budgets are policy like the grants (a tenant's caps were checked on these values),
        # so they travel in the same read-only file, out of reach of spec.env.
        budgets=BudgetPolicy.model_validate(ctx.spec.budgets.model_dump(by_alias=True))
        if ctx.spec.budgets is not None
        else None,
    )
    return grants.to_file()


def _mcp_servers(ctx: AgentContext) -> list[McpServerGrant]:
    # Header values travel as the names of the variables that hold them, never as values.
    header_envs: dict[str, dict[str, str]] = {}
    for server, header, cred in mcp_credentials(ctx):
        header_envs.setdefault(server, {})[header] = cred.env
    return [
        McpServerGrant(
            name=server.name,
            url=server.url,
            transport=server.transport,
            timeout_seconds=server.timeout_seconds,
            header_env=header_envs.get(server.name, {}),
            tools=[McpToolGrant(name=t.name, kind=t.kind) for t in server.tools],
        )
        for server in ctx.spec.tools.mcp_servers
    ]


def _approvals(ctx: AgentContext) -> ApprovalPolicy | None:
    """Which tools need approval, resolved here so the runtime only gates named tools."""
    approvals = ctx.spec.approvals
    if approvals is None:
        return None
    return ApprovalPolicy(
        tools=approval_tools(ctx.spec, ctx.definition, ctx.policy),
        # Whole seconds, rounded up: a sub-second timeout ("6ms") must not become 0, which the
        # grants file refuses (the runtime's sweeper counts in seconds anyway).
        timeout_seconds=math.ceil(units.seconds(approvals.timeout)),
        timeout_action=approvals.timeout_action,
    )


def tool_grants_data(ctx: AgentContext) -> dict[str, str]:
    """``data`` of the tool grants ConfigMap."""
    return {contract_env.TOOL_GRANTS_FILE: _canonical(tool_grants(ctx))}


def runtime_mounts(ctx: AgentContext) -> list[Mount]:
    """Both ConfigMaps, mounted read-only where contract/env.py says the runtime reads them."""
    return [
        (
            {"name": volume, "configMap": {"name": name}},
            {"name": volume, "mountPath": path, "readOnly": True},
        )
        for volume, name, path in (
            ("definition", definition_configmap_name(ctx), contract_env.DEFINITION_MOUNT),
            ("tool-grants", tool_grants_configmap_name(ctx), contract_env.TOOL_GRANTS_MOUNT),
        )
    ]


def runtime_config(ctx: AgentContext) -> dict[str, Any]:
    """Both files' content: a new definition or new grants must roll the pods."""
    return {"definition": definition_data(ctx), "toolGrants": tool_grants_data(ctx)}


RUNTIME = RuntimeAdditions(mounts=runtime_mounts, config=runtime_config)


def _canonical(value: Any) -> str:
    # Indented for `kubectl get -o yaml` readers; sorted so equal content is equal text.
    return json.dumps(value, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def _configmap(
    ctx: AgentContext, name: str, data: dict[str, str], annotations: dict[str, str] | None = None
) -> Manifest:
    extra = {"annotations": annotations} if annotations else {}
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": ctx.metadata(name, COMPONENT, **extra),
        "data": data,
    }
