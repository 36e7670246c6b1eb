"""A generated corpus of bad files through `xagent render` and `xagent validate`.

Every file is something a user could hand the CLI by mistake: a truncated YAML or JSON copy of
a real example, a list or a scalar, binary bytes, text in another encoding, a huge or deeply
nested document, the wrong kind, an empty file, a directory, an unreadable or missing path.
The answer is always a non-zero exit that names the file on stderr, with no traceback. Only a
truncation that still happens to be a whole XR may succeed (then: exit 0 and a YAML stream).

Hypothesis drives the CLI in-process (typer's runner, the real entry point); a few cases also
run as subprocesses, where a traceback would reach stderr as text.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import Result
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from function.main import app

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted(ROOT.glob("examples/*/xr.yaml"))
COMMANDS = ("render", "validate")
runner = CliRunner()

CORPUS = settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _example(index: int) -> dict:
    return yaml.safe_load(EXAMPLES[index % len(EXAMPLES)].read_text())


def _invoke(command: str, path: Path) -> Result:
    return runner.invoke(app, [command, str(path)])


def _no_traceback(result: Result) -> None:
    # An exception typer's runner caught is one the CLI let escape: a traceback for a user.
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    assert "Traceback" not in result.stdout + result.stderr


def assert_refused(result: Result, path: Path) -> None:
    """Non-zero, the file named on stderr, no traceback and nothing on stdout."""
    _no_traceback(result)
    assert result.exit_code != 0, result.stdout[:500]
    assert str(path) in result.stderr, result.stderr
    assert result.stdout == ""


def assert_refused_or_whole(command: str, result: Result, path: Path) -> None:
    """Refused as above, or (a truncation that is still a whole XR) a clean success."""
    _no_traceback(result)
    if result.exit_code == 0:
        if command == "render":
            assert next(yaml.safe_load_all(result.stdout))["kind"] == "XAgent"
        return
    assert_refused(result, path)


# --- generated cases ------------------------------------------------------------------------

texts = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), texts)
not_objects = st.one_of(
    scalars,
    st.lists(st.recursive(scalars, lambda inner: st.lists(inner, max_size=3), max_leaves=8)),
)


@pytest.mark.parametrize("command", COMMANDS)
@CORPUS
@given(index=st.integers(0, 100), as_json=st.booleans(), cut=st.floats(0, 1, exclude_max=True))
def test_truncated_examples(
    tmp_path: Path, command: str, index: int, as_json: bool, cut: float
) -> None:
    doc = _example(index)
    text = json.dumps(doc) if as_json else yaml.safe_dump(doc)
    path = tmp_path / ("xr.json" if as_json else "xr.yaml")
    path.write_text(text[: int(len(text) * cut)])
    assert_refused_or_whole(command, _invoke(command, path), path)


@pytest.mark.parametrize("command", COMMANDS)
@CORPUS
@given(value=not_objects, as_json=st.booleans())
def test_lists_and_scalars(tmp_path: Path, command: str, value: object, as_json: bool) -> None:
    path = tmp_path / "not-an-object.yaml"
    path.write_text(json.dumps(value) if as_json else yaml.safe_dump(value))
    assert_refused(_invoke(command, path), path)


@pytest.mark.parametrize("command", COMMANDS)
@CORPUS
@given(data=st.binary(min_size=1, max_size=2000))
def test_binary(tmp_path: Path, command: str, data: bytes) -> None:
    path = tmp_path / "blob.yaml"
    path.write_bytes(data)
    assert_refused(_invoke(command, path), path)


@pytest.mark.parametrize("command", COMMANDS)
@CORPUS
@given(
    index=st.integers(0, 100),
    encoding=st.sampled_from(["latin-1", "cp1252", "utf-16", "utf-32"]),
    word=st.text(st.characters(min_codepoint=0xA0, max_codepoint=0xFF), min_size=1),
)
def test_other_encodings(
    tmp_path: Path, command: str, index: int, encoding: str, word: str
) -> None:
    """A real example, with a non-ASCII label, saved in an encoding that is not UTF-8."""
    doc = _example(index)
    doc["metadata"].setdefault("labels", {})["note"] = word
    path = tmp_path / "encoded.yaml"
    data = yaml.safe_dump(doc, allow_unicode=True).encode(encoding, "replace")
    try:
        data.decode()
        assume(False)  # e.g. latin-1 "Â\xa0" is UTF-8 for a no-break space: not this case
    except UnicodeDecodeError:
        pass
    path.write_bytes(data)
    assert_refused(_invoke(command, path), path)


@pytest.mark.slow
@pytest.mark.parametrize("command", COMMANDS)
@CORPUS
@given(depth=st.integers(200, 5_000), flow=st.sampled_from(["[", "{a: "]), where=st.booleans())
def test_deep_nesting(tmp_path: Path, command: str, depth: int, flow: str, where: bool) -> None:
    """Nested lists or maps, alone or as the value of a field in a real XR's spec."""
    closing = "]" if flow == "[" else "}"
    nested = flow * depth + "1" + closing * depth
    path = tmp_path / "deep.yaml"
    if where:
        path.write_text(EXAMPLES[0].read_text() + f"  extra: {nested}\n")
    else:
        path.write_text(nested + "\n")
    assert_refused(_invoke(command, path), path)


@pytest.mark.parametrize("command", COMMANDS)
@CORPUS
@given(
    index=st.integers(0, 100),
    api_version=st.sampled_from(["xagent.dev/v1alpha1", "xagent.dev/v2", "v1", "apps/v1", ""]),
    kind=st.sampled_from(["XAgentt", "Agent", "ConfigMap", "Deployment", "Secret", ""]),
)
def test_wrong_kinds(tmp_path: Path, command: str, index: int, api_version: str, kind: str) -> None:
    """A real XAgent's body under another apiVersion/kind: no schema admits it as that kind."""
    # The legacy claim has the XAgent's spec: validate admits it; render wants the XR's kind.
    assume(command == "render" or (api_version, kind) != ("xagent.dev/v1alpha1", "Agent"))
    doc = {**_example(index), "apiVersion": api_version, "kind": kind}
    path = tmp_path / "kind.yaml"
    path.write_text(yaml.safe_dump(doc))
    assert_refused(_invoke(command, path), path)


@pytest.mark.parametrize("command", COMMANDS)
@CORPUS
@given(
    index=st.integers(0, 100),
    field=st.sampled_from(["metadata", "spec", "metadata.labels", "metadata.name", "status"]),
    value=st.one_of(st.lists(st.integers(), max_size=2), st.integers(), texts, st.booleans()),
)
def test_wrong_types_where_objects_belong(
    tmp_path: Path, command: str, index: int, field: str, value: object
) -> None:
    doc = _example(index)
    *parents, leaf = field.split(".")
    target = doc
    for p in parents:
        target = target[p]
    if field == "metadata.name" and isinstance(value, str):
        value = [value]  # a string is a name (or, empty, none: generateName's case)
    target[leaf] = value
    path = tmp_path / "types.yaml"
    path.write_text(yaml.safe_dump(doc))
    assert_refused(_invoke(command, path), path)


@pytest.mark.parametrize("command", COMMANDS)
@CORPUS
@given(text=st.sampled_from(["", "\n", "   \n\t\n", "---\n", "---\n---\n", "# nothing\n", "~\n"]))
def test_empty(tmp_path: Path, command: str, text: str) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text(text)
    assert_refused(_invoke(command, path), path)


# --- fixed cases ----------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("command", COMMANDS)
def test_huge_files(tmp_path: Path, command: str) -> None:
    """An 8 MB scalar, 100,000 keys, and a real XR with a 3 MB system prompt."""
    cases = {
        "scalar.yaml": "a: " + "x" * 8_000_000 + "\n",
        "keys.yaml": "".join(f"k{i}: {i}\n" for i in range(100_000)),
    }
    doc = _example(0)
    doc["spec"]["systemPrompt"] = "y" * 3_000_000
    cases["prompt.yaml"] = yaml.safe_dump(doc)
    for name, text in cases.items():
        path = tmp_path / name
        path.write_text(text)
        assert_refused(_invoke(command, path), path)


@pytest.mark.parametrize("command", COMMANDS)
def test_directories_and_missing_paths(tmp_path: Path, command: str) -> None:
    empty = tmp_path / "empty-dir"
    empty.mkdir()
    no_yaml = tmp_path / "no-yaml"
    no_yaml.mkdir()
    (no_yaml / "notes.txt").write_text("hello\n")
    dangling = tmp_path / "dangling.yaml"
    dangling.symlink_to(tmp_path / "nowhere")
    for path in (empty, no_yaml, tmp_path / "missing.yaml", dangling):
        assert_refused(_invoke(command, path), path)


# --- as processes ---------------------------------------------------------------------------


def assert_refused_as_a_process(command: str, path: Path) -> None:
    """``python -m function <command> <path>`` exits 1 naming the file: no traceback, no stdout."""
    proc = subprocess.run(
        [sys.executable, "-m", "function", command, str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 1
    assert str(path) in proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stdout == ""


@pytest.mark.parametrize("command", COMMANDS)
def test_unreadable_paths_as_a_process(tmp_path: Path, command: str) -> None:
    """A symlink loop (unreadable even by root) and, when not root, a file of mode 000."""
    loop = tmp_path / "loop.yaml"
    loop.symlink_to(loop)
    paths = [loop]
    if os.geteuid() != 0:
        locked = tmp_path / "locked.yaml"
        locked.write_text(EXAMPLES[0].read_text())
        locked.chmod(0)
        paths.append(locked)
    for path in paths:
        assert_refused_as_a_process(command, path)


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize(
    "content",
    [b"\xff\xfe\x00\x00garbage", b"- a\n- b\n", b"{{{{", b"apiVersion: v1\nkind: [\n"],
    ids=["binary", "list", "broken-flow", "truncated"],
)
def test_bad_files_as_a_process(tmp_path: Path, command: str, content: bytes) -> None:
    path = tmp_path / "bad.yaml"
    path.write_bytes(content)
    assert_refused_as_a_process(command, path)
