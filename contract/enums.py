"""Enums the XAgent API declares and the runtime reads back from its environment or files.

The provider enum is generated from the provider table (``contract.providers``).
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["LogPrompts", "OtlpProtocol", "RiskTier", "ToolKind"]


class RiskTier(StrEnum):
    """How much an agent is trusted; tools may demand a minimum tier."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"

    @property
    def rank(self) -> int:
        """Order of the tiers: low < medium < high."""
        return list(RiskTier).index(self)


class ToolKind(StrEnum):
    """What a granted tool reaches (seed 000: domain, process or primitive)."""

    DOMAIN = "domain"
    PROCESS = "process"
    PRIMITIVE = "primitive"


class LogPrompts(StrEnum):
    """How much of a prompt the runtime may log."""

    NONE = "none"
    REDACTED = "redacted"
    FULL = "full"


class OtlpProtocol(StrEnum):
    """How the runtime exports traces (``OTEL_EXPORTER_OTLP_PROTOCOL``)."""

    GRPC = "grpc"
    HTTP_PROTOBUF = "http/protobuf"
