"""Cron expressions as Kubernetes CronJobs and CloudNativePG accept them.

The API server parses ``CronJob.spec.schedule`` with robfig/cron's standard parser (five
fields, or a descriptor such as ``@daily``) and rejects anything else, so the XRD must
refuse what it would: a spec the XRD admits must never render a manifest the API server
rejects. :func:`error` mirrors that parser's rules (robfig/cron v3 ``parser.go``):
comma-separated parts, each ``*``, ``?`` (day fields), ``N``, ``N-M`` or a name (months,
weekdays), optionally with ``/step``; values within the field's bounds.
"""

from __future__ import annotations

import re

__all__ = ["DESCRIPTORS", "error", "expand", "with_seconds"]

DESCRIPTORS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
"""The descriptors robfig's standard parser accepts (not ``@every``, which CronJobs refuse)."""

_MONTH_NAMES = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_MONTHS = {m: i + 1 for i, m in enumerate(_MONTH_NAMES)}
_DAYS = {d: i for i, d in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))}
_FIELDS = (
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day of month", 1, 31, {}),
    ("month", 1, 12, _MONTHS),
    ("day of week", 0, 6, _DAYS),
)
_PART = re.compile(r"^(\*|\?|[A-Za-z0-9]+(?:-[A-Za-z0-9]+)?)(?:/([0-9]+))?$")


def expand(expr: str) -> str:
    """The five-field form of ``expr`` (descriptors spelled out)."""
    return DESCRIPTORS.get(expr.strip().lower(), expr.strip())


def with_seconds(expr: str) -> str:
    """``expr`` with a leading seconds field, for parsers that want six (CNPG backups)."""
    return f"0 {expand(expr)}"


def error(expr: str) -> str | None:
    """Why a CronJob would refuse ``expr``; None when it is valid."""
    fields = expand(expr).split()
    if len(fields) != len(_FIELDS):
        return f"{expr!r}: want 5 fields (minute hour day month weekday) or a descriptor"
    for text, (name, low, high, names) in zip(fields, _FIELDS, strict=True):
        for part in text.split(","):
            problem = _part_error(part, low, high, names, day=name.startswith("day"))
            if problem:
                return f"{expr!r}: {name} {part!r}: {problem}"
    return None


def _part_error(part: str, low: int, high: int, names: dict[str, int], *, day: bool) -> str | None:
    match = _PART.match(part)
    if not match:
        return "not N, N-M, * or a name, with an optional /step"
    body, step = match.groups()
    if body == "?" and not day:
        return "? is only for the day fields"
    if step is not None and int(step) == 0:
        return "step must be positive"
    if body in ("*", "?"):
        return None
    bounds = body.split("-")
    values = []
    for value in bounds:
        number = names.get(value.lower()) if not value.isdigit() else int(value)
        if number is None:
            return f"{value!r} is not a number or a name"
        if not low <= number <= high:
            return f"{number} is outside {low}-{high}"
        values.append(number)
    if len(values) == 2 and values[0] > values[1]:
        return f"range {values[0]}-{values[1]} runs backwards"
    return None
