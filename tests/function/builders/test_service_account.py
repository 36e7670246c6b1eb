"""The runtime ServiceAccount."""

from __future__ import annotations

import pytest

from function.builders import service_account
from tests.function.factories import Case, case_ids, make_ctx, make_spec
from tests.function.schemas import assert_valid

LABELS = make_ctx().labels("runtime")

CASES = [
    Case(
        name="Default",
        reason="No annotations, and no API token: the runtime never calls the Kubernetes API.",
        args={},
        want={
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": "support-bot", "namespace": "agents", "labels": LABELS},
            "automountServiceAccountToken": False,
        },
    ),
    Case(
        name="WorkloadIdentity",
        reason="spec.serviceAccount.annotations reach the ServiceAccount (IRSA).",
        args={
            "serviceAccount": {
                "annotations": {"eks.amazonaws.com/role-arn": "arn:aws:iam::1:role/agent"}
            }
        },
        want={
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {
                "name": "support-bot",
                "namespace": "agents",
                "labels": LABELS,
                "annotations": {"eks.amazonaws.com/role-arn": "arn:aws:iam::1:role/agent"},
            },
            "automountServiceAccountToken": False,
        },
    ),
]


@pytest.mark.parametrize("case", CASES, ids=case_ids(CASES))
def test_build(case: Case) -> None:
    got = assert_valid(service_account.build(make_ctx(make_spec(**case.args))))
    assert got == {"service-account": case.want}, case.reason


def test_long_xr_name_fits() -> None:
    ctx = make_ctx(name="a" * 70)
    got = assert_valid(service_account.build(ctx))["service-account"]
    assert got["metadata"]["name"] == ctx.service_account_name
    assert len(got["metadata"]["name"]) <= 63
