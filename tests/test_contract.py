"""The contract is declared once: function/ and runtime/ import it and never restate it.

``contract/`` declares what the function writes and the runtime reads. This test walks both
packages' syntax trees and fails when one of them declares a contract class (an enum, a
model), a contract constant (a default, a mount path) or spells out a contract env name as a
string literal, instead of importing it.
"""

from __future__ import annotations

import ast
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from contract import env
from contract.builtins import BUILTIN_NAMES
from contract.providers import PROVIDERS

ROOT = Path(__file__).resolve().parent.parent
CONTRACT = ROOT / "contract"
SIDES = ("function", "runtime")


def _modules(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.py") if "proto" not in p.parts)


def _top_level_names(tree: ast.Module) -> Iterator[tuple[str, int]]:
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            yield node.name, node.lineno
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    yield target.id, node.lineno
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            yield node.target.id, node.lineno


def _is_contract_name(name: str) -> bool:
    # Classes and UPPER_CASE constants; functions of the same name may wrap the contract's.
    return not name.startswith("_") and name != "__all__" and (name[0].isupper())


def _contract_names() -> dict[str, str]:
    out = {}
    for path in _modules(CONTRACT):
        for name, _ in _top_level_names(ast.parse(path.read_text())):
            if _is_contract_name(name):
                out[name] = path.relative_to(ROOT).as_posix()
    return out


def _env_names() -> set[str]:
    groups = (
        env.ENV,
        env.DATABASE_ENV,
        env.CACHE_ENV,
        env.QUEUE_ENV,
        env.TRIGGER_ENV,
        env.TASK_ENV,
    )
    names = {v for g in groups for k, v in vars(g).items() if not k.startswith("_")}
    return names | {p.key_env for p in PROVIDERS}


def _not_code(tree: ast.Module) -> set[int]:
    """ids of string nodes that are no code: docstrings, and names listed in ``__all__``."""
    out = set()
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets
        ):
            out |= {id(n) for n in ast.walk(node.value)}
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list):
            for stmt in body:
                if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
                    out.add(id(stmt.value))
    return out


def _side_modules() -> list[Path]:
    return [p for side in SIDES for p in _modules(ROOT / side)]


def test_the_contract_has_names_to_guard() -> None:
    """Guards against a vacuous pass: the walk finds the contract's classes and constants."""
    names = _contract_names()
    assert {"ENV", "AgentDefinition", "RiskTier", "ToolKind", "LogPrompts", "ModelProvider"} <= set(
        names
    )
    assert {"DEFAULT_STREAM", "DUPLICATE_WINDOW", "PROVIDERS", "ToolGrants"} <= set(names)


@pytest.mark.parametrize("path", _side_modules(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_no_contract_name_is_declared_again(path: Path) -> None:
    names = _contract_names()
    tree = ast.parse(path.read_text())
    again = [
        f"{path.relative_to(ROOT)}:{line}: {name} (declared in {names[name]})"
        for name, line in _top_level_names(tree)
        if name in names
    ]
    assert not again, "import these from the contract instead:\n" + "\n".join(again)


@pytest.mark.parametrize("path", _side_modules(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_no_env_name_is_spelled_out(path: Path) -> None:
    names = _env_names()
    tree = ast.parse(path.read_text())
    skip = _not_code(tree)
    literal = [
        f"{path.relative_to(ROOT)}:{node.lineno}: {node.value!r}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and id(node) not in skip
        and isinstance(node.value, str)
        and node.value in names
    ]
    assert not literal, "use the contract's env names (contract.env):\n" + "\n".join(literal)


def test_every_provider_package_is_a_pinned_runtime_dependency() -> None:
    """The runtime can build every row's chat model: its package ships in the runtime extra."""
    extra = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    pinned = {dep.split("==")[0] for dep in extra["runtime"] if "==" in dep}
    assert {p.package for p in PROVIDERS} <= pinned


def test_the_contract_imports_neither_side() -> None:
    for path in _modules(CONTRACT):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom | ast.Import):
                modules = (
                    [node.module or ""]
                    if isinstance(node, ast.ImportFrom)
                    else [a.name for a in node.names]
                )
                for module in modules:
                    assert module.split(".")[0] not in SIDES, f"{path}: imports {module}"


def _imports(path: Path) -> Iterator[tuple[int, str]]:
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module
        elif isinstance(node, ast.Import):
            yield from ((node.lineno, alias.name) for alias in node.names)


CLI_RUNS_THE_RUNTIME = ("function/main.py", "runtime.cli")
"""The one exception: the ``xagent`` CLI hosts ``xagent run`` too, which imports the runtime
lazily (only for that command, and only with the runtime extra installed)."""


def test_the_function_imports_nothing_from_the_runtime() -> None:
    """The function reads shared facts from contract/, never from runtime machinery."""
    found = [
        f"{path.relative_to(ROOT)}:{line}: {module}"
        for path in _modules(ROOT / "function")
        for line, module in _imports(path)
        if module.split(".")[0] == "runtime"
        and (path.relative_to(ROOT).as_posix(), module) != CLI_RUNS_THE_RUNTIME
    ]
    assert not found, "import these facts from contract/ instead:\n" + "\n".join(found)


def test_the_runtime_ships_exactly_the_contract_builtins() -> None:
    """The function allows and kinds builtins by contract.builtins; the runtime runs them."""
    from runtime.agent._builtins import BUILTIN_SCHEMAS, BUILTINS

    assert set(BUILTINS) == BUILTIN_NAMES
    assert set(BUILTIN_SCHEMAS) <= BUILTIN_NAMES


# --- numeric defaults ----------------------------------------------------------------------

DEFAULT_MODULES = ("defaults.py", "queue.py")
"""The contract modules whose numbers are defaults both halves apply."""


def _distinctive(value: float) -> bool:
    """A number no other default has by chance (86400, 6379): the same number is a repeat
    under any name. Small or round numbers (5, 30, 1000) recur for unrelated reasons, so
    those count only under a name ending in the contract's (``nats_max_deliver``)."""
    return value >= 1000 and value % 1000 != 0


def _number(node: ast.AST | None) -> float | None:
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return node.value
    return None


def _contract_defaults() -> dict[str, float]:
    out = {}
    for name in DEFAULT_MODULES:
        module = __import__(f"contract.{name.removesuffix('.py')}", fromlist=["_"])
        for key, value in vars(module).items():
            if key.isupper() and not key.startswith("_") and type(value) in (int, float):
                out[key.lower()] = value
    return out


def _literal_defaults(tree: ast.Module) -> Iterator[tuple[str, float, int]]:
    """``(name, number, line)`` of every number written as a default: module constants,
    class fields (pydantic, dataclasses) and parameter defaults."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name) and (n := _number(node.value)) is not None:
                    yield target.id, n, node.lineno
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            if (n := _number(node.value)) is not None:
                yield node.target.id, n, node.lineno
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            args = node.args
            positional = [*args.posonlyargs, *args.args][-len(args.defaults) or len(args.args) :]
            pairs = [
                *zip(positional, args.defaults, strict=True),
                *zip(args.kwonlyargs, args.kw_defaults, strict=True),
            ]
            for arg, default in pairs:
                if (n := _number(default)) is not None:
                    yield arg.arg, n, node.lineno


def test_the_contract_has_defaults_to_guard() -> None:
    assert {"conversation_ttl_seconds", "max_deliver", "ack_wait_seconds", "redis_port"} <= set(
        _contract_defaults()
    )


@pytest.mark.parametrize("path", _side_modules(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_no_contract_default_is_written_again(path: Path) -> None:
    """A default both halves apply is imported from contract/, never written as a number."""
    defaults = _contract_defaults()
    again = [
        f"{path.relative_to(ROOT)}:{line}: {name} = {number} (contract.{key.upper()})"
        for name, number, line in _literal_defaults(ast.parse(path.read_text()))
        for key, value in defaults.items()
        if number == value
        and type(number) is type(value)
        and (_distinctive(value) or name.lower().endswith(key))
    ]
    assert not again, "import these defaults from contract/ instead:\n" + "\n".join(again)
