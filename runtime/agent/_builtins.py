"""Builtin tool implementations shipped with the runtime (ToolDefinition type ``builtin``).

Each takes the model's arguments as a dict and returns text. Behaviour ships in the package;
nothing from a definition is ever evaluated as code.
"""

from __future__ import annotations

import ast
import json
import math
import operator
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

__all__ = ["BUILTINS", "BUILTIN_SCHEMAS", "safe_eval"]

_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY: dict[type[ast.unaryop], Callable[[Any], Any]] = {
    ast.UAdd: operator.pos,
    ast.USub: operator.neg,
}
_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "abs": abs,
    "round": round,
    "min": min,
    "max": max,
    "sqrt": math.sqrt,
    "log": math.log,
    "exp": math.exp,
    "sin": math.sin,
    "cos": math.cos,
    "tan": math.tan,
}
_CONSTANTS = {"pi": math.pi, "e": math.e}
_MAX_EXPRESSION = 500
_MAX_EXPONENT = 1000  # 9**9**9 would pin a CPU for minutes; no sane question needs it


def safe_eval(expression: str) -> float | int:
    """Evaluate an arithmetic expression by walking its AST; never calls eval.

    Raises:
        ValueError: The expression is too long, malformed or uses anything but numbers,
            arithmetic operators, parentheses and a few math functions and constants.
    """
    if len(expression) > _MAX_EXPRESSION:
        raise ValueError(f"expression longer than {_MAX_EXPRESSION} characters")
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError as err:
        raise ValueError(f"not an arithmetic expression: {err.msg}") from None
    return _eval(tree.body)


def _eval(node: ast.AST) -> Any:
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return node.value
    if isinstance(node, ast.Name) and node.id in _CONSTANTS:
        return _CONSTANTS[node.id]
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _UNARY[type(node.op)](_eval(node.operand))
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _eval(node.left), _eval(node.right)
        if isinstance(node.op, ast.Pow) and abs(right) > _MAX_EXPONENT:
            raise ValueError(f"exponent larger than {_MAX_EXPONENT}")
        try:
            return _BINARY[type(node.op)](left, right)
        except ZeroDivisionError:
            raise ValueError("division by zero") from None
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in _FUNCTIONS
        and not node.keywords
    ):
        return _FUNCTIONS[node.func.id](*(_eval(a) for a in node.args))
    raise ValueError(f"unsupported syntax: {ast.unparse(node)[:80]!r} ({type(node).__name__})")


def _first_text(args: dict[str, Any], *keys: str) -> str:
    # Definitions may give a builtin their own parameter names; fall back to the only value.
    for key in keys:
        if key in args:
            return str(args[key])
    if len(args) == 1:
        return str(next(iter(args.values())))
    raise ValueError(f"expected one of the arguments {', '.join(keys)}")


def _calculator(args: dict[str, Any]) -> str:
    value = safe_eval(_first_text(args, "expression", "input"))
    return str(value)


def _current_time(args: dict[str, Any]) -> str:
    return datetime.now(UTC).isoformat()


def _echo(args: dict[str, Any]) -> str:
    if "input" in args and len(args) == 1:
        return str(args["input"])
    return json.dumps(args, sort_keys=True)


BUILTINS: dict[str, Callable[[dict[str, Any]], str]] = {
    "calculator": _calculator,
    "current_time": _current_time,
    "echo": _echo,
}
"""Builtin implementations by name (ToolDefinition.builtin, defaulting to the tool name).

Exactly contract.builtins.BUILTIN_NAMES (a test holds them equal): the function refuses
grants and definitions by those names, and reads each builtin's kind from there."""

BUILTIN_SCHEMAS: dict[str, dict[str, Any]] = {
    "calculator": {
        "type": "object",
        "properties": {
            "expression": {
                "type": "string",
                "description": "Arithmetic expression, e.g. '(2 + 3) * 4' or 'sqrt(2)'.",
            }
        },
        "required": ["expression"],
    },
    "current_time": {"type": "object", "properties": {}},
    "echo": {
        "type": "object",
        "properties": {"input": {"type": "string", "description": "Text to echo back."}},
        "required": ["input"],
    },
}
"""Argument schemas used when a builtin's definition gives no ``parameters``."""
