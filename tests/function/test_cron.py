"""Cron validation mirrors what the API server accepts for a CronJob schedule."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from function import cron

VALID = [
    "* * * * *",
    "0 2 * * *",
    "*/15 9-17 * * MON-FRI",
    "0 0 1,15 * ?",
    "30 4 * jan-mar sun",
    "5/10 * * * *",
    "@daily",
    "@HOURLY",
    "0 0 31 12 6",
]
INVALID = [
    "",
    "* * * *",
    "* * * * * *",
    "60 * * * *",
    "* 24 * * *",
    "* * 0 * *",
    "* * * 13 *",
    "* * * * 7",
    "*/0 * * * *",
    "5-1 * * * *",
    "? * * * *",
    "@every 5m",
    "@reboot",
    "TZ=UTC 0 * * * *",
    "* * * foo *",
    "1-2-3 * * * *",
]


@pytest.mark.parametrize("expr", VALID)
def test_valid(expr: str) -> None:
    assert cron.error(expr) is None


@pytest.mark.parametrize("expr", INVALID)
def test_invalid(expr: str) -> None:
    assert cron.error(expr) is not None


def test_with_seconds() -> None:
    assert cron.with_seconds("@weekly") == "0 0 0 * * 0"
    assert cron.with_seconds("5 4 * * *") == "0 5 4 * * *"


_FIELD = st.one_of(
    st.just("*"),
    st.integers(0, 70).map(str),
    st.tuples(st.integers(0, 40), st.integers(0, 40)).map(lambda t: f"{t[0]}-{t[1]}"),
    st.tuples(st.just("*"), st.integers(0, 5)).map(lambda t: f"*/{t[1]}"),
    st.text(alphabet="abcxyz?/-,*0123456789", min_size=1, max_size=6),
)


@given(st.lists(_FIELD, min_size=5, max_size=5))
def test_never_raises_and_bounds_hold(fields: list[str]) -> None:
    expr = " ".join(fields)
    problem = cron.error(expr)
    if problem is None:
        # Whatever passes has every plain number within its field's bounds.
        for text, (_, low, high, _names) in zip(fields, cron._FIELDS, strict=True):
            for part in text.replace("/", ",").replace("-", ",").split(","):
                if part.isdigit() and "/" not in text:
                    assert low <= int(part) <= high, expr
