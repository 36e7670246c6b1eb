"""``status.task`` of an XAgent in task mode: the Job's phase and times, and the run's summary
from its pod's termination message.

The Job's status is written by the Job controller. The termination message is written by
the tenant's own pod (runtime/task.py writes a contract.task.TaskSummary there, but any code
in the image can write anything), so it is read as hostile input: only a string of at most
TERMINATION_LIMIT bytes, only through the TaskSummary model (bounded fields, unknown keys
ignored), and a message that does not validate is no summary at all. Nothing here raises
on a malformed object.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from contract.task import TERMINATION_LIMIT, TaskSummary
from function.builders.deployment import CONTAINER_NAME
from function.spec import TaskStatus

__all__ = ["PODS_REQUIREMENT", "Phase", "status", "summary"]

PODS_REQUIREMENT = "task-pods"
"""The required-resources entry of the task Job's pods (compose.py asks Crossplane)."""
_TEXT_LIMIT = 1000


class Phase:
    """status.task.phase values."""

    PENDING = "Pending"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"


def status(job_name: str, job: Mapping[str, Any] | None, pods: Sequence[Any]) -> dict[str, Any]:
    """status.task from the observed Job (None before it exists) and its pods."""
    job_status = _mapping(_mapping(job).get("status"))
    out = TaskStatus(job_name=job_name, phase=Phase.PENDING)
    updates: dict[str, Any] = {}
    done = _true_condition(job_status, "Complete")
    failed = _true_condition(job_status, "Failed") or _true_condition(job_status, "FailureTarget")
    if done is not None:
        updates["phase"] = Phase.SUCCEEDED
    elif failed is not None:
        updates["phase"] = Phase.FAILED
        updates["reason"] = _text(failed.get("reason")) or "Failed"
        updates["message"] = _text(failed.get("message"))
    elif job_status.get("startTime") or _int(job_status.get("active")):
        updates["phase"] = Phase.RUNNING
    for field, key in (("start_time", "startTime"), ("completion_time", "completionTime")):
        if value := _text(job_status.get(key), 64):
            updates[field] = value
    uid = _text(_mapping(_mapping(job).get("metadata")).get("uid"), 64)
    if (found := summary([pod for pod in pods if _owned(pod, job_name, uid)])) is not None:
        updates |= {
            "run_id": found.job_id,
            "output_ref": found.output_ref,
            "result": found.status,
            "input_tokens": found.input_tokens,
            "output_tokens": found.output_tokens,
            "total_tokens": found.total_tokens,
            "cost": found.cost,
            "model": found.model,
        }
        if found.error and updates.get("phase") == Phase.FAILED and not updates.get("message"):
            updates["message"] = found.error
    return out.model_copy(update=updates).model_dump(by_alias=True, exclude_none=True)


def summary(pods: Sequence[Any]) -> TaskSummary | None:
    """The run's summary: a completed run's if any pod has one, else the newest pod's."""
    found: list[tuple[bool, str, TaskSummary]] = []
    for pod in pods:
        parsed = _pod_summary(_mapping(pod))
        if parsed is not None:
            created = _text(_mapping(_mapping(pod).get("metadata")).get("creationTimestamp"), 64)
            found.append((parsed.status == "completed", created or "", parsed))
    if not found:
        return None
    return max(found, key=lambda item: (item[0], item[1]))[2]


def _owned(pod: Any, job_name: str, uid: str | None) -> bool:
    """Whether the Job controls ``pod``: the labels the function asks for are the tenant's to
    set on any pod, its controller reference names this Job (and its uid, once observed)."""
    refs = _mapping(_mapping(pod).get("metadata")).get("ownerReferences")
    for ref in refs if isinstance(refs, list) else []:
        ref = _mapping(ref)
        if (
            ref.get("controller") is True
            and ref.get("kind") == "Job"
            and ref.get("name") == job_name
            and (uid is None or ref.get("uid") == uid)
        ):
            return True
    return False


def _pod_summary(pod: Mapping[str, Any]) -> TaskSummary | None:
    statuses = _mapping(pod.get("status")).get("containerStatuses")
    if not isinstance(statuses, list):
        return None
    for container in statuses:
        container = _mapping(container)
        if container.get("name") != CONTAINER_NAME:
            continue
        terminated = _mapping(_mapping(container.get("state")).get("terminated"))
        message = terminated.get("message")
        if not isinstance(message, str) or len(message.encode(errors="replace")) > (
            TERMINATION_LIMIT
        ):
            return None
        try:
            return TaskSummary.model_validate_json(message)
        except ValidationError:
            return None
    return None


def _true_condition(status: Mapping[str, Any], type_: str) -> Mapping[str, Any] | None:
    conditions = status.get("conditions")
    if not isinstance(conditions, list):
        return None
    for cond in conditions:
        cond = _mapping(cond)
        if cond.get("type") == type_ and cond.get("status") == "True":
            return cond
    return None


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _text(value: Any, limit: int = _TEXT_LIMIT) -> str | None:
    return value[:limit] if isinstance(value, str) and value else None


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
