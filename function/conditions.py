"""The XR's condition types and reasons, and how they follow from composed readiness.

Ready and Synced belong to Crossplane: it derives Ready from the readiness this function
reports for each composed resource. The types here are the ones xagent adds.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from crossplane.function.resource import Condition

from function.readiness import Verdict

__all__ = [
    "DEFINITION_RESOLVED",
    "POLICY_COMPLIANT",
    "RUNTIME_READY",
    "SECRETS_READY",
    "Reason",
    "definition_resolved",
    "definition_unresolved",
    "policy_compliant",
    "policy_violated",
    "runtime_ready",
    "secrets_ready",
    "task_ready",
]

DEFINITION_RESOLVED = "DefinitionResolved"
SECRETS_READY = "SecretsReady"
RUNTIME_READY = "RuntimeReady"
POLICY_COMPLIANT = "PolicyCompliant"


class Reason:
    """CamelCase reasons, one constant each so tests and docs name the same strings."""

    INLINE = "InlineDefinition"
    MINIMAL = "SingleOrchestrator"
    CONFIG_MAP_FOUND = "ConfigMapFound"
    CONFIG_MAP_NOT_FOUND = "ConfigMapNotFound"
    CONFIG_MAP_KEY_MISSING = "ConfigMapKeyMissing"
    DEFINITION_INVALID = "DefinitionInvalid"
    WAITING_FOR_DEFINITION = "WaitingForDefinition"
    COMPLIANT = "Compliant"
    VIOLATION = "PolicyViolation"
    ALL_SYNCED = "AllSecretsSynced"
    NO_EXTERNAL_SECRETS = "NoExternalSecrets"
    SECRETS_PENDING = "SecretsPending"
    AVAILABLE = "DeploymentAvailable"
    UNAVAILABLE = "DeploymentUnavailable"
    NOT_COMPOSED = "RuntimeNotComposed"
    TASK_SUCCEEDED = "TaskSucceeded"
    TASK_NOT_DONE = "TaskNotDone"
    TASK_FAILED = "TaskFailed"


def _condition(typ: str, ok: bool, reason: str, message: str | None = None) -> Condition:
    return Condition(typ=typ, status="True" if ok else "False", reason=reason, message=message)


def definition_resolved(reason: str, message: str) -> Condition:
    """The definition was found and builds."""
    return _condition(DEFINITION_RESOLVED, True, reason, message)


def definition_unresolved(reason: str, message: str) -> Condition:
    """The definition is missing or invalid."""
    return _condition(DEFINITION_RESOLVED, False, reason, message)


def policy_compliant() -> Condition:
    """The XAgent obeys the platform policy."""
    return _condition(POLICY_COMPLIANT, True, Reason.COMPLIANT)


def policy_violated(violations: Iterable[str]) -> Condition:
    """The XAgent breaks the policy; the message lists every broken rule, one per line."""
    return _condition(POLICY_COMPLIANT, False, Reason.VIOLATION, "\n".join(violations))


def secrets_ready(verdicts: Mapping[str, Verdict]) -> Condition:
    """True once every ExternalSecret has synced, named by key while any has not."""
    if not verdicts:
        return _condition(
            SECRETS_READY, True, Reason.NO_EXTERNAL_SECRETS, "no ExternalSecret is composed"
        )
    pending = {k: v for k, v in sorted(verdicts.items()) if not v.ready}
    if not pending:
        return _condition(
            SECRETS_READY, True, Reason.ALL_SYNCED, f"{len(verdicts)} ExternalSecret(s) synced"
        )
    detail = ", ".join(f"{k}: {v}" for k, v in pending.items())
    return _condition(SECRETS_READY, False, Reason.SECRETS_PENDING, detail)


def runtime_ready(verdict: Verdict | None) -> Condition:
    """Follows the runtime Deployment's availability."""
    if verdict is None:
        return _condition(RUNTIME_READY, False, Reason.NOT_COMPOSED, "no runtime is composed")
    if verdict.ready:
        return _condition(RUNTIME_READY, True, Reason.AVAILABLE)
    return _condition(RUNTIME_READY, False, Reason.UNAVAILABLE, str(verdict))


def task_ready(verdict: Verdict, failed: bool) -> Condition:
    """Task mode: follows the task's Job; ``failed`` says the Job failed (for good)."""
    if verdict.ready:
        return _condition(RUNTIME_READY, True, Reason.TASK_SUCCEEDED, str(verdict))
    reason = Reason.TASK_FAILED if failed else Reason.TASK_NOT_DONE
    return _condition(RUNTIME_READY, False, reason, str(verdict))
