"""Struct <-> dict conversions for the hot path, with the SDK's exact semantics, faster.

The SDK converts through `json_format.MessageToDict` and protobuf's `Struct.update`,
both generic pure-Python walks that dominate a RunFunction profile even with the upb
backend. These do the same walk specialised to Struct/Value: the same dicts (numbers stay
floats; key order is the map's), the same messages (`update` merges top-level keys and
replaces nested values, as `Struct.update` does). tests/function/test_struct.py holds
them equal to the SDK's conversions on generated documents.
"""

from __future__ import annotations

import math
from typing import Any

from google.protobuf import struct_pb2

__all__ = ["to_dict", "update"]


def to_dict(s: struct_pb2.Struct) -> dict[str, Any]:
    """`resource.struct_to_dict`: a Struct as a plain dict."""
    return {k: _py(v) for k, v in s.fields.items()}


def _py(v: struct_pb2.Value) -> Any:
    kind = v.WhichOneof("kind")
    if kind == "string_value":
        return v.string_value
    if kind == "struct_value":
        return {k: _py(x) for k, x in v.struct_value.fields.items()}
    if kind == "list_value":
        return [_py(x) for x in v.list_value.values]
    if kind == "number_value":
        n = v.number_value
        if math.isinf(n) or math.isnan(n):
            # What MessageToDict raises: JSON has no such numbers.
            raise ValueError(f"Fail to serialize {n} for Value.number_value")
        return n
    if kind == "bool_value":
        return v.bool_value
    return None


def update(s: struct_pb2.Struct, source: dict[str, Any]) -> None:
    """`Struct.update`: set each top-level key of `s` from `source`."""
    fields = s.fields
    for k, v in source.items():
        _set(fields[k], v)


def _set(m: struct_pb2.Value, v: Any) -> None:
    t = type(v)
    if t is str:
        m.string_value = v
    elif t is dict:
        sv = m.struct_value
        sv.Clear()
        fields = sv.fields
        for k, x in v.items():
            _set(fields[k], x)
    elif t is list:
        lv = m.list_value
        lv.Clear()
        add = lv.values.add
        for x in v:
            _set(add(), x)
    elif t is bool:
        m.bool_value = v
    elif t is int or t is float:
        m.number_value = v
    elif v is None:
        m.null_value = struct_pb2.NULL_VALUE
    else:
        _set_any(m, v)


def _set_any(m: struct_pb2.Value, v: Any) -> None:
    # Everything that is not exactly a builtin type (StrEnum members, OrderedDict, tuples,
    # Structs...), in protobuf's own order of checks (well_known_types._SetStructValue).
    if isinstance(v, bool):
        m.bool_value = v
    elif isinstance(v, str):
        m.string_value = v
    elif isinstance(v, int | float):
        m.number_value = v
    elif isinstance(v, dict | struct_pb2.Struct):
        m.struct_value.Clear()
        m.struct_value.update(v)
    elif isinstance(v, list | tuple | struct_pb2.ListValue):
        m.list_value.Clear()
        m.list_value.extend(v)
    else:
        raise ValueError("Unexpected type")
