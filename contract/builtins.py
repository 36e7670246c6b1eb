"""The builtin tools the runtime ships, as the function must know them: names and kinds.

The implementations and argument schemas stay in the runtime (runtime/agent/_builtins.py,
whose names a test holds equal to these); the function needs only which names are builtins
(a definition-less XAgent may grant nothing else) and what each builtin reaches, because
policy and the grants file take a builtin's kind from here, never from the grant: renaming
or re-kinding a grant of a builtin cannot lower the risk tier it needs.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

from contract.enums import ToolKind

__all__ = ["BUILTIN_KINDS", "BUILTIN_NAMES"]

BUILTIN_KINDS: Final[Mapping[str, ToolKind]] = MappingProxyType(
    {
        "calculator": ToolKind.PRIMITIVE,
        "current_time": ToolKind.PRIMITIVE,
        "echo": ToolKind.PRIMITIVE,
    }
)
"""Policy kind of each builtin (domain, process or primitive), by builtin name."""

BUILTIN_NAMES: Final[frozenset[str]] = frozenset(BUILTIN_KINDS)
"""Names of the builtin implementations the runtime ships."""
