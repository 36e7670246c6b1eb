"""Kubernetes quantities and Go durations: their grammar, and parsers that run in bounded time.

The XRD patterns below admit only what the consumers accept: a quantity is apimachinery's
``resource.Quantity`` grammar without a sign (``k8s.io/apimachinery/pkg/api/resource``
``quantity.go``), a duration is a sum of Go ``time.ParseDuration`` terms. Digit counts are
capped in the patterns, and the parsers scale with ``Decimal.scaleb`` instead of powers, so
``1e999`` costs as little as ``1`` (a 9-byte ``1e999999`` used to cost 70 s of CPU).
"""

from __future__ import annotations

import re
from decimal import Decimal

__all__ = [
    "DURATION",
    "GO_DURATION_MAX_SECONDS",
    "QUANTITY",
    "QUANTITY_MAX",
    "duration_seconds",
    "quantity_bytes",
    "quantity_value",
    "seconds",
]

QUANTITY = (
    r"^\+?([0-9]{1,30}(\.[0-9]{0,30})?|\.[0-9]{1,30})([KMGTPE]i|[numkMGTPE]|[eE][+-]?[0-9]{1,3})?$"
)
"""apimachinery's quantity grammar, unsigned, with bounded digits."""

QUANTITY_MAX = Decimal(2**63 - 1)
"""apimachinery caps a larger quantity silently at 2^63-1; refuse it instead."""

DURATION = r"^([0-9]{1,15}(\.[0-9]{1,9})?(ms|s|m|h)){1,8}$"
"""A Go duration (``1h30m``, ``500ms``) that NACK, ESO and Prometheus parse."""

GO_DURATION_MAX_SECONDS = Decimal(2**63 - 1) / Decimal(10**9)
"""time.Duration is an int64 of nanoseconds: about 292 years."""

_QUANTITY = re.compile(QUANTITY)
_DURATION = re.compile(DURATION)
_DURATION_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)")
_BINARY_EXP = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_DECIMAL_EXP = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_UNIT_SECONDS = {"ms": Decimal("0.001"), "s": Decimal(1), "m": Decimal(60), "h": Decimal(3600)}


def quantity_value(text: str) -> Decimal:
    """The value of a Kubernetes quantity (``512Mi`` -> 536870912).

    Raises:
        ValueError: Not a quantity of QUANTITY's grammar, or above QUANTITY_MAX.
    """
    match = _QUANTITY.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not a Kubernetes quantity (e.g. 500m, 1Gi, 2)")
    number, _, suffix = match.groups()
    value = Decimal(number.lstrip("+"))
    suffix = suffix or ""
    if suffix in _BINARY_EXP:
        value *= 2 ** _BINARY_EXP[suffix]
    elif suffix in _DECIMAL_EXP:
        value = value.scaleb(_DECIMAL_EXP[suffix])
    else:
        value = value.scaleb(int(suffix[1:]))
    if value > QUANTITY_MAX:
        raise ValueError(f"{text!r} is larger than a Kubernetes quantity holds (2^63-1)")
    return value


def quantity_bytes(quantity: str) -> int:
    """A Kubernetes quantity (``512Mi``, ``1G``, ``1.5Gi``, ``1e9``) in whole bytes.

    Raises:
        ValueError: If ``quantity`` is not a Kubernetes quantity.
    """
    return int(quantity_value(quantity))


def seconds(duration: str) -> float:
    """``1m30s`` -> 90.0: :func:`duration_seconds` as the float manifests and env carry."""
    return float(duration_seconds(duration))


def duration_seconds(text: str) -> Decimal:
    """The length of a Go duration in seconds (``1m30s`` -> 90).

    Raises:
        ValueError: Not a duration of DURATION's form, or longer than a time.Duration holds.
    """
    if not _DURATION.match(text):
        raise ValueError(f"{text!r} is not a duration (e.g. 30s, 1h30m, 500ms)")
    total = sum(
        (Decimal(n) * _UNIT_SECONDS[unit] for n, unit in _DURATION_PART.findall(text)),
        Decimal(0),
    )
    if total > GO_DURATION_MAX_SECONDS:
        raise ValueError(f"{text!r} is longer than a Go time.Duration holds (about 292 years)")
    return total
