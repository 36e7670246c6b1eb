"""Session-wide checks shared by every test folder."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests import kubeconform


@pytest.fixture(scope="session", autouse=True)
def kubeconform_batch() -> Iterator[None]:
    """When the run ends, kubeconform -strict checks every manifest a test asserted valid.

    One process for the whole batch (tests/kubeconform.py); an error here fails the run at
    the last test's teardown, naming each test and manifest.
    """
    yield
    batch = list(kubeconform.RECORDED.values())
    kubeconform.RECORDED.clear()
    if not batch:
        return
    if not kubeconform.available() and os.environ.get("CI", "").lower() != "true":
        return  # skipped locally; test_examples' kubeconform test reports the skip
    kubeconform.assert_conform(batch)
