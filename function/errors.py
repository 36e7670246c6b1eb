"""Turns validation errors into messages that name the offending field path."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import ValidationError

__all__ = ["InputError", "format_path", "messages"]

_PREFIXES = ("Value error, ", "Assertion failed, ")


class InputError(Exception):
    """Input the function cannot compose from; its message names the field path."""


def format_path(prefix: str, loc: Sequence[int | str]) -> str:
    """``("spec", "tools", "allowed", 0, "kind")`` -> ``spec.tools.allowed[0].kind``."""
    out = prefix
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def messages(exc: ValidationError, prefix: str) -> list[str]:
    """One ``path: message`` line per error, in the order pydantic found them."""
    lines = []
    for err in exc.errors(include_url=False):
        msg = err["msg"]
        for p in _PREFIXES:
            if msg.startswith(p):
                msg = msg[len(p) :]
        if err["type"] == "missing":
            msg = "required field is missing"
        elif err["type"] == "extra_forbidden":
            msg = "unknown field"
        elif err["type"] in ("enum", "literal_error"):
            msg = f"{msg}, got {err['input']!r}"
        path = format_path(prefix, err["loc"])
        lines.append(f"{path}: {msg}" if path else msg)
    return lines
