"""YAML byte for byte as `crossplane render` prints it.

The CLI encodes every object to JSON and turns that into YAML with go-yaml v2 (through
sigs.k8s.io/yaml). This module makes PyYAML, which shares go-yaml's libyaml emitter logic,
print the same bytes:

- map keys in go-yaml's order: letters after other characters, digit runs compared as numbers;
- a string that would read back as another type (``"true"``, ``"8080"``, ``"0.7"``, a
  timestamp, ``"y"``) double-quoted, as go-yaml's resolver sees it, not PyYAML's;
- other strings plain where YAML allows it, else single-, else double-quoted; multi-line
  strings as literal blocks; lines folded at 80 columns; non-ASCII text as is;
- numbers as JSON leaves them: an integral float is an integer (below 1e21), other floats in
  Go's shortest ``%g`` form (``1e-05``, ``1.5e+06``).
"""

from __future__ import annotations

import datetime
import functools
import math
import re
from decimal import Decimal
from typing import Any

import yaml

__all__ = ["dump", "go_float", "go_resolve", "load_all"]

_STR = "tag:yaml.org,2002:str"
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_BOOL = "tag:yaml.org,2002:bool"
_NULL = "tag:yaml.org,2002:null"
_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_MERGE = "tag:yaml.org,2002:merge"

_MAPPED = {
    **dict.fromkeys(
        (
            "y",
            "Y",
            "yes",
            "Yes",
            "YES",
            "true",
            "True",
            "TRUE",
            "on",
            "On",
            "ON",
            "n",
            "N",
            "no",
            "No",
            "NO",
            "false",
            "False",
            "FALSE",
            "off",
            "Off",
            "OFF",
        ),
        _BOOL,
    ),
    **dict.fromkeys(("", "~", "null", "Null", "NULL"), _NULL),
    **dict.fromkeys(
        (
            ".nan",
            ".NaN",
            ".NAN",
            ".inf",
            ".Inf",
            ".INF",
            "+.inf",
            "+.Inf",
            "+.INF",
            "-.inf",
            "-.Inf",
            "-.INF",
        ),
        _FLOAT,
    ),
    "<<": _MERGE,
}
_YAML_FLOAT = re.compile(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$")
_BASE60_FLOAT = re.compile(r"^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$")
_GO_INT = re.compile(r"^[-+]?(0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+|0[0-7]*|[1-9][0-9]*)$")
_GO_FLOAT = re.compile(
    r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$|"
    r"^[-+]?(inf|infinity|nan)$",
    re.IGNORECASE,
)
_TIMESTAMPS = (
    re.compile(
        r"^(\d{4})-(\d{1,2})-(\d{1,2})[Tt](\d{1,2}):(\d{1,2}):(\d{1,2})(\.\d+)?"
        r"(Z|[+-]\d{2}:\d{2})$"
    ),
    re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2}) (\d{1,2}):(\d{1,2}):(\d{1,2})(\.\d+)?$"),
    re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$"),
)
_INT64 = 2**63
_TRUE = frozenset({"y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"})
_JSON_INT_LIMIT = 1e21
"""Go's encoding/json writes floats from 1e21 up in exponent form; below, integral ones
read back as integers."""


def load_all(text: str) -> list[Any]:
    """Every document of ``text``, read the way the Crossplane CLI reads its input files.

    sigs.k8s.io/yaml decodes with go-yaml v2 (YAML 1.1: an unquoted ``y``, ``on`` or ``no``
    is a boolean, ``0755`` an octal integer, ``1e3`` a float; timestamps stay strings), then
    goes through JSON: map keys become strings and integral floats integers.
    """
    if _CLoader is not None and _TAME_TEXT.match(text):
        # The C parser is ~10x faster. On plain text it reads what the Python one reads
        # (tests/crossplane/test_goyaml.py); on anything it refuses, the Python parser
        # decides, so errors and their messages stay the same.
        try:
            return [_as_json(doc) for doc in yaml.load_all(text, Loader=_CLoader)]
        except yaml.YAMLError:
            pass
    return [_as_json(doc) for doc in yaml.load_all(text, Loader=_Loader)]


def dump(obj: Any) -> str:
    """One object as go-yaml v2 prints it (no document marker)."""
    prepared = _prepare(obj)
    return yaml.dump(
        prepared,
        Dumper=_CDumper if _CDumper is not None and _tame(prepared) else _Dumper,
        sort_keys=False,
        allow_unicode=True,
        width=80,
        default_flow_style=False,
    )


_TAME_TEXT = re.compile(r"[\n\x20-\x7e\u00a1-\ud7ff\ue000-\ufefe\uff00-\ufffd]*\Z")
_TAME_KEY = re.compile(r"[\x20-\x7e\u00a1-\ud7ff\ue000-\ufefe\uff00-\ufffd]{1,100}\Z")


def _tame(value: Any) -> bool:
    """Whether libyaml's C emitter prints ``value`` exactly as _Dumper does.

    go-yaml v2 is a port of libyaml, and _Dumper corrects PyYAML's Python emitter towards
    it; the two emitters differ only on text this excludes: control characters other than
    a line break, NEL, BOM, line separators and characters beyond the BMP; empty keys, keys
    longer than 100 characters or with a line break; and text whose literal block keeps
    trailing line breaks (``|+``). tests/crossplane/test_goyaml.py compares both on
    generated documents.
    """
    if isinstance(value, dict):
        return all(
            isinstance(k, str) and _TAME_KEY.match(k) is not None and _tame(v)
            for k, v in value.items()
        )
    if isinstance(value, list):
        return all(_tame(v) for v in value)
    if isinstance(value, str):
        return _TAME_TEXT.match(value) is not None and not value.endswith("\n\n") and value != "\n"
    return True


def go_resolve(value: str) -> str:
    """The tag go-yaml v2 gives ``value`` as a plain scalar (its ``resolve``)."""
    if value in _MAPPED:
        return _MAPPED[value]
    first = value[0]
    if first == "." and _GO_FLOAT.match(value):
        return _FLOAT
    if first not in "+-0123456789":
        return _STR
    if _is_timestamp(value):
        return _TIMESTAMP
    plain = value.replace("_", "")
    if _GO_INT.match(plain) and _int_fits(plain):
        return _INT
    if _YAML_FLOAT.match(plain) and _finite_float(plain):
        return _FLOAT
    return _STR


def _go_int(plain: str) -> int:
    # strconv.ParseInt(plain, 0, 64) (or ParseUint) for a string _GO_INT matched.
    sign = -1 if plain.startswith("-") else 1
    digits = plain.lstrip("+-")
    if digits[:2].lower() in ("0x", "0o", "0b"):
        return sign * int(digits, 0)
    if len(digits) > 1 and digits.startswith("0"):
        return sign * int(digits, 8)
    return sign * int(digits)


def _is_timestamp(value: str) -> bool:
    for pattern in _TIMESTAMPS:
        m = pattern.match(value)
        if not m:
            continue
        year, month, day = (int(m.group(i)) for i in (1, 2, 3))
        try:
            datetime.date(year, month, day)
        except ValueError:
            return False
        if m.lastindex and m.lastindex >= 6:
            hour, minute, second = (int(m.group(i)) for i in (4, 5, 6))
            return hour < 24 and minute < 60 and second < 60
        return True
    return False


def _int_fits(plain: str) -> bool:
    number = _go_int(plain)
    # ParseInt, then ParseUint for unsigned values up to 2**64-1.
    return -_INT64 <= number < _INT64 or (not plain.startswith("+") and number < 2 * _INT64)


def _finite_float(plain: str) -> bool:
    try:
        return math.isfinite(float(plain))
    except (ValueError, OverflowError):
        return False


def go_float(value: float) -> str:
    """Go's ``strconv.FormatFloat(value, 'g', -1, 64)``, as go-yaml writes floats."""
    if math.isnan(value):
        return ".nan"
    if math.isinf(value):
        return ".inf" if value > 0 else "-.inf"
    if value == 0:
        return "-0" if math.copysign(1, value) < 0 else "0"
    sign, digit_tuple, exponent = Decimal(repr(value)).normalize().as_tuple()
    digits = "".join(map(str, digit_tuple))
    point = len(digits) + int(exponent)
    exp = point - 1
    prefix = "-" if sign else ""
    if exp < -4 or exp >= 6:
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{prefix}{mantissa}e{'-' if exp < 0 else '+'}{abs(exp):02d}"
    if point <= 0:
        return f"{prefix}0.{'0' * -point}{digits}"
    if point >= len(digits):
        return prefix + digits + "0" * (point - len(digits))
    return f"{prefix}{digits[:point]}.{digits[point:]}"


def _go_key_less(a: str, b: str) -> bool:
    # go-yaml v2 sorter.go keyList.Less, for string keys.
    for i, (ca, cb) in enumerate(zip(a, b, strict=False)):
        if ca == cb:
            continue
        la, lb = ca.isalpha(), cb.isalpha()
        if la and lb:
            return ca < cb
        if la or lb:
            return lb
        an = bn = 0
        if ca == "0" or cb == "0":
            j = i - 1
            while j >= 0 and a[j].isdigit():
                if a[j] != "0":
                    an = bn = 1
                    break
                j -= 1
        ai = i
        while ai < len(a) and a[ai].isdigit():
            an = an * 10 + int(a[ai])
            ai += 1
        bi = i
        while bi < len(b) and b[bi].isdigit():
            bn = bn * 10 + int(b[bi])
            bi += 1
        if an != bn:
            return an < bn
        if ai != bi:
            return ai < bi
        return ca < cb
    return len(a) < len(b)


def _go_key_cmp(a: str, b: str) -> int:
    if _go_key_less(a, b):
        return -1
    return 1 if _go_key_less(b, a) else 0


_KEY = functools.cmp_to_key(_go_key_cmp)


def _prepare(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _prepare(value[k]) for k in sorted(value, key=lambda k: _KEY(str(k)))}
    if isinstance(value, list | tuple):
        return [_prepare(v) for v in value]
    if isinstance(value, float) and value.is_integer() and abs(value) < _JSON_INT_LIMIT:
        return int(value)
    return value


class _GoScalars:
    """go-yaml v2's scalar resolution and no anchors, for either emitter."""

    def resolve(self, kind: type, value: Any, implicit: tuple[bool, bool]) -> str:
        if kind is yaml.ScalarNode and implicit[0]:
            return go_resolve(value)
        return super().resolve(kind, value, implicit)  # type: ignore[misc]

    def ignore_aliases(self, data: Any) -> bool:
        return True


class _Dumper(_GoScalars, yaml.SafeDumper):
    """PyYAML's safe dumper (its Python emitter) with go-yaml v2's scalars and no anchors."""

    def analyze_scalar(self, scalar: str) -> yaml.emitter.ScalarAnalysis:
        analysis = super().analyze_scalar(scalar)
        # libyaml's is_printable rejects NEL and characters beyond the BMP, which PyYAML
        # accepts: such a string can only be double-quoted (and is escaped there).
        if any(c == "\x85" or ord(c) > 0xFFFF for c in scalar):
            analysis.allow_flow_plain = analysis.allow_block_plain = False
            analysis.allow_single_quoted = analysis.allow_block = False
        return analysis

    def write_double_quoted(self, text: str, split: bool = True) -> None:
        # libyaml's yaml_emitter_write_double_quoted_scalar: escape what is not printable
        # and fold only at a single space, never after an escape.
        self.write_indicator('"', True)
        spaces = False
        for i, ch in enumerate(text):
            if not _go_printable(ch) or ch in '"\\\ufeff\r\n\x85\u2028\u2029':
                self._write("\\" + _go_escape(ch))
                spaces = False
            elif ch == " ":
                if split and not spaces and self.column > self.best_width and 0 < i < len(text) - 1:
                    self.write_indent()
                    if text[i + 1] == " ":
                        self._write("\\")
                else:
                    self._write(ch)
                spaces = True
            else:
                self._write(ch)
                spaces = False
        self.write_indicator('"', False)

    def _write(self, data: str) -> None:
        self.column += len(data)
        self.stream.write(data.encode(self.encoding) if self.encoding else data)


_GO_ESCAPES = {
    "\x00": "0",
    "\x07": "a",
    "\x08": "b",
    "\t": "t",
    "\n": "n",
    "\x0b": "v",
    "\x0c": "f",
    "\r": "r",
    "\x1b": "e",
    '"': '"',
    "\\": "\\",
    "\x85": "N",
    "\xa0": "_",
    "\u2028": "L",
    "\u2029": "P",
}


def _go_printable(ch: str) -> bool:
    code = ord(ch)
    return (
        code == 0x0A
        or 0x20 <= code <= 0x7E
        or 0xA0 <= code <= 0xD7FF
        or (0xE000 <= code <= 0xFFFD and code != 0xFEFF)
    )


def _go_escape(ch: str) -> str:
    if ch in _GO_ESCAPES:
        return _GO_ESCAPES[ch]
    code = ord(ch)
    if code <= 0xFF:
        return f"x{code:02X}"
    if code <= 0xFFFF:
        return f"u{code:04X}"
    return f"U{code:08X}"


class _Loader(_GoScalars, yaml.SafeLoader):
    """PyYAML's safe loader (its Python parser) with go-yaml v2's resolution of plain scalars."""


def _construct_bool(loader: _Loader, node: yaml.ScalarNode) -> bool:
    return loader.construct_scalar(node) in _TRUE


def _construct_int(loader: _Loader, node: yaml.ScalarNode) -> int:
    return _go_int(loader.construct_scalar(node).replace("_", ""))


def _construct_float(loader: _Loader, node: yaml.ScalarNode) -> float:
    value = loader.construct_scalar(node).replace("_", "")
    special = {".nan": math.nan, ".inf": math.inf, "+.inf": math.inf, "-.inf": -math.inf}
    return special[value.lower()] if value.lower() in special else float(value)


def _construct_str(loader: _Loader, node: yaml.ScalarNode) -> str:
    # go-yaml leaves timestamps as strings when decoding into interface{}.
    return loader.construct_scalar(node)


_CLoader: type | None = None
if yaml.__with_libyaml__:

    class _CLoader(_GoScalars, yaml.CSafeLoader):  # type: ignore[no-redef]
        """libyaml's C parser (go-yaml's origin) with the same resolution and constructors."""


for _loader in (_Loader, _CLoader) if _CLoader is not None else (_Loader,):
    _loader.add_constructor(_BOOL, _construct_bool)
    _loader.add_constructor(_INT, _construct_int)
    _loader.add_constructor(_FLOAT, _construct_float)
    _loader.add_constructor(_TIMESTAMP, _construct_str)


def _as_json(value: Any) -> Any:
    # sigs.k8s.io/yaml: keys to strings, then a JSON round trip.
    if isinstance(value, dict):
        return {_json_key(k): _as_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_as_json(v) for v in value]
    if isinstance(value, float) and value.is_integer() and abs(value) < _JSON_INT_LIMIT:
        return int(value)
    return value


def _json_key(key: Any) -> str:
    if isinstance(key, bool):
        return "true" if key else "false"
    if isinstance(key, int):
        return str(key)
    if isinstance(key, float):
        return go_float(key)
    if isinstance(key, str):
        return key
    raise ValueError(f"unsupported map key {key!r}")


def _represent_str(dumper: _Dumper, value: str) -> yaml.Node:
    if "\n" in value:
        style = "|"
    elif go_resolve(value) != _STR or _BASE60_FLOAT.match(value):
        style = '"'
    else:
        style = None
    return dumper.represent_scalar(_STR, value, style=style)


def _represent_float(dumper: _Dumper, value: float) -> yaml.Node:
    return dumper.represent_scalar(_FLOAT, go_float(value))


_Dumper.add_representer(str, _represent_str)
_Dumper.add_representer(float, _represent_float)

_CDumper: type | None = None
if yaml.__with_libyaml__:

    class _CDumper(_GoScalars, yaml.CSafeDumper):  # type: ignore[no-redef]
        """libyaml's C emitter with go-yaml v2's scalars: ~5x faster, for _tame text."""

    _CDumper.add_representer(str, _represent_str)
    _CDumper.add_representer(float, _represent_float)
