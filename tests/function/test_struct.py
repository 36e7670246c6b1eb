"""function/_struct.py converts exactly as the SDK and protobuf do, on any JSON document."""

from __future__ import annotations

import enum
import math
from typing import Any

import pytest
from crossplane.function import resource
from google.protobuf import struct_pb2
from hypothesis import given, settings
from hypothesis import strategies as st

from function import _struct

_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53), max_value=2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
JSON = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=30,
)
DOCS = st.dictionaries(st.text(max_size=8), JSON, max_size=6)


def _typed(value: Any) -> Any:
    """The value with every type spelled out, so 1 and 1.0 and True differ."""
    if isinstance(value, dict):
        return {k: _typed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_typed(v) for v in value]
    return (type(value).__name__, value)


def _sdk_struct(doc: dict[str, Any], into: struct_pb2.Struct | None = None) -> struct_pb2.Struct:
    s = into if into is not None else struct_pb2.Struct()
    s.update(doc)
    return s


@settings(max_examples=60, deadline=None)
@given(DOCS)
def test_update_builds_the_struct_protobuf_builds(doc: dict[str, Any]) -> None:
    mine = struct_pb2.Struct()
    _struct.update(mine, doc)
    assert mine.SerializeToString(deterministic=True) == _sdk_struct(doc).SerializeToString(
        deterministic=True
    )


@settings(max_examples=60, deadline=None)
@given(DOCS, DOCS)
def test_update_over_an_existing_struct_merges_like_protobuf(
    old: dict[str, Any], new: dict[str, Any]
) -> None:
    mine = _sdk_struct(old)
    _struct.update(mine, new)
    want = _sdk_struct(new, into=_sdk_struct(old))
    assert mine.SerializeToString(deterministic=True) == want.SerializeToString(deterministic=True)


@settings(max_examples=60, deadline=None)
@given(DOCS)
def test_to_dict_reads_what_the_sdk_reads(doc: dict[str, Any]) -> None:
    s = _sdk_struct(doc)
    mine = _struct.to_dict(s)
    assert _typed(mine) == _typed(resource.struct_to_dict(s))
    assert list(mine) == list(resource.struct_to_dict(s))  # same key order


class Color(enum.StrEnum):
    RED = "red"


def test_subclasses_and_tuples_take_protobufs_path() -> None:
    doc = {"c": Color.RED, "t": (1, "a"), "n": {"i": enum.IntEnum("N", "ONE").ONE}}
    mine = struct_pb2.Struct()
    _struct.update(mine, doc)
    assert mine == _sdk_struct(doc)


def test_unsupported_values_fail_like_protobuf() -> None:
    with pytest.raises(ValueError, match="Unexpected type"):
        _struct.update(struct_pb2.Struct(), {"x": object()})


@pytest.mark.parametrize("number", [math.inf, -math.inf, math.nan])
def test_non_json_numbers_fail_like_the_sdk(number: float) -> None:
    s = _sdk_struct({"x": number})
    with pytest.raises(ValueError, match="Fail to serialize"):
        resource.struct_to_dict(s)
    with pytest.raises(ValueError, match="Fail to serialize"):
        _struct.to_dict(s)
