"""The two mounted files the agent is built from: its definition and its tool grants.

Both formats are the contract's (``contract.definition``, ``contract.grants``); this module
reads them, and turns what it cannot read into one error naming the file and each field.
"""

from __future__ import annotations

import logging
from pathlib import Path

import yaml
from pydantic import ValidationError

from contract.definition import AgentDefinition
from contract.env import ENV
from contract.grants import GrantedTool, ToolGrants
from runtime.settings import ConfigError, Settings

__all__ = [
    "DefinitionError",
    "load_definition",
    "load_tool_grants",
    "read_definition",
]

log = logging.getLogger(__name__)


class DefinitionError(ValueError):
    """The agent definition cannot be read or built; the message names the node or edge."""


def load_definition(settings: Settings) -> AgentDefinition:
    """Read and validate the agent definition at ``settings.definition_path``.

    Raises:
        DefinitionError: The file is missing or not JSON, or the graph is invalid; the message
            names the path and each offending node, edge or tool.
    """
    return read_definition(settings.definition_path)


def read_definition(path: Path) -> AgentDefinition:
    """Read and validate the agent definition (seed-001 JSON, or the same as YAML) at ``path``.

    Raises:
        DefinitionError: As for load_definition.
    """
    try:
        # JSON is YAML, so one parser reads both the mounted JSON and hand-written YAML.
        raw = yaml.safe_load(path.read_text())
    except OSError as err:
        raise DefinitionError(f"agent definition {path}: {err.strerror or err}") from None
    except yaml.YAMLError as err:
        raise DefinitionError(f"agent definition {path}: not JSON or YAML: {err}") from None
    try:
        return AgentDefinition.model_validate(raw)
    except ValidationError as err:
        raise DefinitionError(f"agent definition {path}: {_describe_definition(err)}") from None


def _describe_definition(err: ValidationError) -> str:
    out = []
    for e in err.errors(include_input=False, include_url=False):
        loc = ".".join(str(p) for p in e["loc"])
        message = e["msg"].removeprefix("Value error, ")
        out.append(f"{loc}: {message}" if loc else message)
    return "; ".join(out)


def load_tool_grants(
    settings: Settings, definition: AgentDefinition | None = None, *, grant_all: bool = False
) -> ToolGrants:
    """Read the tool grants the policy wrote next to the definition.

    Args:
        settings: Names the grants file (TOOL_GRANTS_PATH).
        definition: The definition whose tools ``grant_all`` grants.
        grant_all: Only for local runs (``xagent run``): when the grants file is absent, grant
            every tool the definition defines. In a cluster an absent file grants nothing, so a
            missing ConfigMap can never widen what an agent may do.

    Raises:
        ConfigError: The grants file exists but cannot be read or parsed.
    """
    path = settings.tool_grants_path
    if not path.exists():
        if grant_all and definition is not None:
            return ToolGrants(tools=[GrantedTool(name=t.name) for t in definition.tool_definitions])
        log.info("no tool grants file; no tools granted", extra={"path": str(path)})
        return ToolGrants()
    try:
        return ToolGrants.model_validate_json(path.read_text())
    except OSError as err:
        raise ConfigError(f"{ENV.TOOL_GRANTS_PATH} {path}: {err.strerror or err}") from None
    except ValidationError as err:
        raise ConfigError(f"{ENV.TOOL_GRANTS_PATH} {path}: {_describe_definition(err)}") from None
