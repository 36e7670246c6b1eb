"""The built-in model price table, shared by the function's policy check and the runtime.

Prices are USD per million tokens, as the providers list them. ``spec.budgets.prices``
overrides or extends this table; a model found in neither costs nothing (its tokens still
count against token budgets, which is why a tenant's cost cap also forbids price overrides
that undercut this table). Standard library only, like the rest of the contract.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

__all__ = ["BUILTIN_PRICES", "Price", "find_price"]


@dataclass(frozen=True)
class Price:
    """Price of one model (or model glob), per million input and output tokens."""

    model: str
    input_per_million: float
    output_per_million: float

    def cost(self, input_tokens: int, output_tokens: int) -> float:
        """The cost of one call."""
        return (
            input_tokens * self.input_per_million + output_tokens * self.output_per_million
        ) / 1_000_000


BUILTIN_PRICES: Final[tuple[Price, ...]] = (
    Price("gpt-4o", 2.50, 10.00),
    Price("gpt-4o-2024-*", 2.50, 10.00),
    Price("gpt-4o-mini*", 0.15, 0.60),
    Price("gpt-4.1", 2.00, 8.00),
    Price("gpt-4.1-2025-*", 2.00, 8.00),
    Price("gpt-4.1-mini*", 0.40, 1.60),
    Price("gpt-4.1-nano*", 0.10, 0.40),
    Price("o3", 2.00, 8.00),
    Price("o3-2025-*", 2.00, 8.00),
    Price("o3-mini*", 1.10, 4.40),
    Price("o4-mini*", 1.10, 4.40),
    Price("claude-opus-4*", 15.00, 75.00),
    Price("claude-sonnet-4*", 3.00, 15.00),
    Price("claude-3-7-sonnet*", 3.00, 15.00),
    Price("claude-3-5-sonnet*", 3.00, 15.00),
    Price("claude-3-5-haiku*", 0.80, 4.00),
    Price("claude-haiku-4*", 1.00, 5.00),
)
"""Defaults; ``spec.budgets.prices`` entries take precedence."""


def find_price(model: str, *tables: Iterable[Price]) -> Price | None:
    """The price of ``model``: the first table with a match wins, then the built-in one.

    Within a table an exact name beats a glob, and a longer glob beats a shorter one, so
    ``gpt-4o-mini*`` prices gpt-4o-mini even though ``gpt-4o*`` would match it too.
    """
    for table in (*tables, BUILTIN_PRICES):
        matches = [p for p in table if fnmatch.fnmatchcase(model, p.model)]
        if matches:
            return max(matches, key=lambda p: (p.model == model, len(p.model)))
    return None
