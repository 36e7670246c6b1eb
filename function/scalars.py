"""Scalars no Kubernetes object can carry, found before they reach a builder.

A NUL byte cannot be passed to a process in an env value (execve ends the string there), a
lone UTF-16 surrogate cannot be encoded as UTF-8 (what the API server and protobuf require),
and NaN or Infinity have no JSON form. Each is answered with the field path that holds it.
"""

from __future__ import annotations

import math
from typing import Any

from function.errors import format_path

__all__ = ["problems"]


def problems(data: Any, prefix: str, limit: int = 10) -> list[str]:
    """``path: reason`` for each bad scalar in ``data`` (at most ``limit``)."""
    out: list[str] = []
    stack: list[tuple[tuple[int | str, ...], Any]] = [((), data)]
    while stack and len(out) < limit:
        loc, value = stack.pop()
        if isinstance(value, dict):
            for key, item in value.items():
                if isinstance(key, str) and (why := _bad_text(key)):
                    out.append(f"{format_path(prefix, loc)}: a key {why}")
                stack.append(((*loc, key), item))
        elif isinstance(value, list):
            stack.extend(((*loc, i), item) for i, item in enumerate(value))
        elif isinstance(value, str):
            if why := _bad_text(value):
                out.append(f"{format_path(prefix, loc)}: {why}")
        elif isinstance(value, float) and not math.isfinite(value):
            out.append(f"{format_path(prefix, loc)}: {value} is not a finite number")
    return sorted(out)


def _bad_text(text: str) -> str | None:
    if "\x00" in text:
        return "contains a NUL byte"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "is not valid Unicode (a lone surrogate)"
    return None


def nonfinite_numbers(struct: Any, limit: int = 10) -> list[str]:
    """Paths of NaN/Infinity numbers in a protobuf ``Struct`` (which cannot become a dict).

    Paths are relative to the struct (``spec.model.temperature`` for an XR).
    """
    out: list[str] = []
    stack: list[tuple[tuple[int | str, ...], Any]] = [
        ((key,), value) for key, value in struct.fields.items()
    ]
    while stack and len(out) < limit:
        loc, value = stack.pop()
        kind = value.WhichOneof("kind")
        if kind == "struct_value":
            stack.extend(((*loc, k), v) for k, v in value.struct_value.fields.items())
        elif kind == "list_value":
            stack.extend(((*loc, i), v) for i, v in enumerate(value.list_value.values))
        elif kind == "number_value" and not math.isfinite(value.number_value):
            out.append(f"{format_path('', loc)}: {value.number_value} is not a finite number")
    return sorted(out)
