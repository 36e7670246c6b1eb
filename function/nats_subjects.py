"""NATS subject filters: whether two can match one subject.

JetStream refuses a stream whose subjects overlap another stream's, and a consumer whose
filter subjects overlap each other; the policy refuses trigger subjects that would let the
agent consume its own results. All three need the same question answered statically.
"""

from __future__ import annotations

__all__ = ["overlap"]


def overlap(a: str, b: str) -> bool:
    """Whether some subject matches both filters ``a`` and ``b`` (``*`` one token, ``>`` the
    rest, at least one token)."""
    left, right = a.split("."), b.split(".")
    for i in range(max(len(left), len(right))):
        x = left[i] if i < len(left) else None
        y = right[i] if i < len(right) else None
        if x is None or y is None:
            # One ran out: only a '>' on the longer side could still match, and it needs a
            # token of its own, which the shorter side does not have.
            return False
        if x == ">" or y == ">":
            return True
        if x != y and "*" not in (x, y):
            return False
    return True
