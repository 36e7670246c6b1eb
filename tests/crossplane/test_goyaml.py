"""function/_goyaml.py against go-yaml v2's rules, without the binaries.

test_render_parity.py compares with the real CLI; these cases pin the rules it relies on
(go-yaml v2 resolve.go, sorter.go, emitterc.go; Go's strconv.FormatFloat) so a regression
shows up even where the binaries are missing.
"""

from __future__ import annotations

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from function import _goyaml
from function._goyaml import dump, go_float, go_resolve, load_all

STR, INT, FLOAT, BOOL, NULL, TIMESTAMP = (
    f"tag:yaml.org,2002:{t}" for t in ("str", "int", "float", "bool", "null", "timestamp")
)


@pytest.mark.parametrize(
    ("value", "tag"),
    [
        ("y", BOOL),
        ("On", BOOL),
        ("NO", BOOL),
        ("true", BOOL),
        ("", NULL),
        ("~", NULL),
        ("8080", INT),
        ("0x1F", INT),
        ("0755", INT),
        ("-0b101", INT),
        ("1_000", INT),
        ("08", FLOAT),
        ("1e3", FLOAT),
        (".5", FLOAT),
        ("-.inf", FLOAT),
        ("0.7", FLOAT),
        ("2024-01-01T00:00:00Z", TIMESTAMP),
        ("2024-1-2", TIMESTAMP),
        ("2024-02-30", STR),
        ("1.2.3", STR),
        ("yes please", STR),
        ("llama3.1:8b", STR),
        ("1:30", STR),
        ("99999999999999999999", FLOAT),
    ],
)
def test_resolve(value: str, tag: str) -> None:
    assert go_resolve(value) == tag


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.7, "0.7"),
        (1e-05, "1e-05"),
        (0.0001, "0.0001"),
        (123456.5, "123456.5"),
        (1234567.5, "1.2345675e+06"),
        (-2.5, "-2.5"),
        (1e21, "1e+21"),
        (float("inf"), ".inf"),
        (float("nan"), ".nan"),
    ],
)
def test_float(value: float, text: str) -> None:
    assert go_float(value) == text


def test_dump_orders_keys_like_go_and_quotes_like_go() -> None:
    out = dump({"x10": 1, "x9": 2, "aB": "on", "a_b": "0.7", "A": "", "y": "y", "t": 1.0})
    assert out == ('A: ""\na_b: "0.7"\naB: "on"\nt: 1\nx9: 2\nx10: 1\n"y": "y"\n')


def test_dump_escapes_and_folds_double_quoted_like_libyaml() -> None:
    assert dump({"e": "ship \U0001f680\ttab"}) == 'e: "ship \\U0001F680\\ttab"\n'
    long = "word " * 20 + "end\t"
    folded = dump({"k": long})
    assert folded.startswith('k: "word word')
    assert "\\\n" not in folded, "libyaml folds at a space, without an escaped line break"


def test_load_reads_yaml_1_1_like_go() -> None:
    assert load_all("a: y\nb: 0755\nc: 1e3\nd: 2024-01-01\ny: 1\n1.5: x\n---\n- on\n") == [
        {"a": True, "b": 493, "c": 1000, "d": "2024-01-01", "true": 1, "1.5": "x"},
        [True],
    ]


# --- libyaml's C emitter and parser, used where they print and read what the Python ones do --

_CHARS = [*(chr(c) for c in range(0x20, 0x7F)), "\n", "\t", "\r", "é", "中", "\x85", "\U0001f680"]
_PIECES = ["true", "y", "0755", "1e3", "~", ": ", " #", "- ", "|", "'", '"', "  ", "\n\n"]
_TEXT = st.lists(st.sampled_from(_CHARS) | st.sampled_from(_PIECES), max_size=12).map("".join)
_LONG_TEXT = st.lists(_TEXT, max_size=12).map(" ".join)
_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(2**40), 2**40)
    | st.floats(allow_nan=False, allow_infinity=False)
    | _TEXT
    | _LONG_TEXT
)
DOCS = st.dictionaries(
    _TEXT | _LONG_TEXT,
    st.recursive(
        _SCALARS,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_TEXT, inner, max_size=3),
        max_leaves=20,
    ),
    max_size=5,
)


def _python_dump(doc: dict) -> str:
    return yaml.dump(
        _goyaml._prepare(doc),
        Dumper=_goyaml._Dumper,
        sort_keys=False,
        allow_unicode=True,
        width=80,
        default_flow_style=False,
    )


@settings(max_examples=150, deadline=None)
@given(DOCS)
def test_dump_prints_what_the_python_emitter_prints(doc: dict) -> None:
    assert dump(doc) == _python_dump(doc)


@settings(max_examples=150, deadline=None)
@given(DOCS)
def test_load_reads_what_the_python_parser_reads(doc: dict) -> None:
    text = _python_dump(doc)
    assert load_all(text) == [_goyaml._as_json(d) for d in yaml.load_all(text, _goyaml._Loader)]


@pytest.mark.parametrize(
    "text",
    [
        "a: &x [1, 2]\nb: *x\n",
        "{a: 1, b: [on, off]}\n",
        "a: |\n  two\n  lines\nb: >\n  folded\n  text\n",
        "- a\n- b: c\n  d: e\n---\n--- x\n",
        "a: 'it''s'\nb: \"\\u00e9\"\n",
        "a: b: c\n",  # invalid: both parsers refuse, the Python one's message is kept
        "key: [unclosed\n",
    ],
)
def test_load_of_handwritten_yaml_matches_the_python_parser(text: str) -> None:
    try:
        want: object = [_goyaml._as_json(d) for d in yaml.load_all(text, _goyaml._Loader)]
    except yaml.YAMLError as e:
        want = str(e)
    try:
        got: object = load_all(text)
    except yaml.YAMLError as e:
        got = str(e)
    assert got == want
