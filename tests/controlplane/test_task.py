"""Task mode on a real Crossplane and API server: the task example composes its Job, the test
plays the Job controller and the kubelet (no controller or node runs pods here), and the XR
reports the run in status.task from the Job and its pod's termination message.

It also shows the Job's immutable pod template survives Crossplane's repeated server-side
applies: the XR stays Synced after the Job's status and the pod change under it.
"""

from __future__ import annotations

import pytest

from contract.task import TaskSummary
from function.builders import task as task_builder
from tests.controlplane.kube import Kube, condition, wait_for
from tests.controlplane.operators import NOW, set_ready
from tests.controlplane.xagents import (
    EXAMPLES,
    SYNC_TIMEOUT,
    Example,
    composed,
    live_xr,
    wait_condition,
    wait_matches_render,
)

pytestmark = pytest.mark.controlplane

DONE = "2026-01-01T00:00:09Z"
SUMMARY = TaskSummary(
    job_id="task:ns:release-notes:0123456789abcdef",
    status="completed",
    output_ref="/runs/task:ns:release-notes:0123456789abcdef",
    input_tokens=1204,
    output_tokens=388,
    total_tokens=1592,
    cost=0.000413,
    model="gpt-4o-mini",
)


def _cond(type_: str) -> dict[str, str]:
    return {
        "type": type_,
        "status": "True",
        "reason": "FakedByTest",
        "message": "set by tests/controlplane",
        "lastProbeTime": DONE,
        "lastTransitionTime": DONE,
    }


def _pod(job: dict, message: str) -> dict:
    labels = job["spec"]["template"]["metadata"]["labels"]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": f"{job['metadata']['name']}-abcde",
            "namespace": job["metadata"]["namespace"],
            "labels": {
                k: labels[k] for k in ("app.kubernetes.io/instance", task_builder.RUN_LABEL)
            },
            # As the Job controller sets it: only the Job's own pods are read.
            "ownerReferences": [
                {
                    "apiVersion": "batch/v1",
                    "kind": "Job",
                    "name": job["metadata"]["name"],
                    "uid": job["metadata"]["uid"],
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": {
            "restartPolicy": "Never",
            "automountServiceAccountToken": False,
            "containers": [{"name": "runtime", "image": "runtime:test"}],
        },
    }, {
        "phase": "Succeeded",
        "containerStatuses": [
            {
                "name": "runtime",
                "image": "runtime:test",
                "imageID": "",
                "ready": False,
                "restartCount": 0,
                "state": {
                    "terminated": {
                        "exitCode": 0,
                        "reason": "Completed",
                        "message": message,
                        "startedAt": NOW,
                        "finishedAt": DONE,
                    }
                },
            }
        ],
    }


def test_a_finished_task_is_reported_in_status_task(kube: Kube, namespace: str) -> None:
    example = Example.load(EXAMPLES / "task", namespace)
    example.apply(kube)
    xr = wait_condition(kube, example.xr, "Synced")
    wait_matches_render(kube, example)
    objs = composed(kube, xr)
    key = task_builder.task_key(objs)
    assert key is not None, sorted(objs)
    job = objs[key]
    assert {o["kind"] for o in objs.values()}.isdisjoint({"Deployment", "Service", "Stream"})

    # The operators make the rest ready; the Job controller starts a pod, the kubelet runs it
    # to the end and keeps the runtime's summary; the Job controller marks the Job complete.
    for other in objs.values():
        if other["kind"] != "Job":
            set_ready(kube, other)
    pod, pod_status = _pod(job, SUMMARY.to_json())
    kube.patch_status(kube.create(pod), pod_status)
    kube.patch_status(
        job,
        {
            "startTime": NOW,
            "completionTime": DONE,
            "succeeded": 1,
            "conditions": [_cond("SuccessCriteriaMet"), _cond("Complete")],
        },
    )

    def reported() -> dict | None:
        live = live_xr(kube, example.xr) or {}
        task = live.get("status", {}).get("task", {})
        return live if task.get("phase") == "Succeeded" and task.get("runId") else None

    live = wait_for(reported, SYNC_TIMEOUT, "status.task reports the finished run")
    task = live["status"]["task"]
    assert task["jobName"] == job["metadata"]["name"]
    assert task["runId"] == SUMMARY.job_id
    assert task["outputRef"] == SUMMARY.output_ref
    assert (task["inputTokens"], task["outputTokens"], task["cost"]) == (1204, 388, 0.000413)
    assert task["completionTime"] == DONE
    live = wait_condition(kube, example.xr, "Ready")
    assert condition(live, "RuntimeReady")["reason"] == "TaskSucceeded"
    # Crossplane applied the Job again on every reconcile since: never refused as a change
    # to its immutable template.
    assert condition(live, "Synced")["status"] == "True", condition(live, "Synced")
