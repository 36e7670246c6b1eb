"""A bounded memo of answers, for Crossplane's steady state.

Crossplane calls the function on every reconcile of every XAgent: each poll and each
watch event sends the same XR and the same observed resources again. The answer is a pure
function of the request, so the memo keys on a digest of the whole request (XR, observed
and required resources, desired state of earlier steps, input, context, credentials,
capabilities) except `meta.tag`, Crossplane's per-request label, which the answer echoes.
Any change anywhere in the request is a different key: the memo cannot answer stale.

Two keys lead to one answer:

- the canonical key, a digest of the decoded request serialized deterministically (maps
  sorted). It needs the request decoded and serialized again, and it is the one that
  matches across senders: Go (Crossplane) writes Struct maps in random order, so the same
  request arrives as different bytes.
- the received key, a digest of the bytes as they arrived, minus the tag. It costs one
  pass of a hash over the bytes, and matches whenever a sender repeats its bytes (a
  deterministic sender, or a retry). It is an alias of a canonical key, recorded once
  that request was decoded: identical bytes decode identically, so it cannot be stale.

Answers are kept serialized without their tag and go out as bytes with the new tag
spliced in, so a hit neither parses nor serializes a message. They are evicted least
recently used first, bounded by count and by bytes; aliases by count. A cluster of many
XAgents cannot grow the process.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass

from crossplane.function.proto.v1 import run_function_pb2 as fnv1

__all__ = ["Memo", "Received", "received"]

_META = 1
"""Field number of `meta` in RunFunctionRequest and RunFunctionResponse."""
_TAG = 1
"""Field number of `tag` in RequestMeta and ResponseMeta."""
_LEN = 2
"""Wire type of a length-delimited field (string, bytes, message)."""


@dataclass(frozen=True)
class Received:
    """A request's received key and its tag, read from the wire without decoding it."""

    key: bytes
    tag: str


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    """The varint at `pos` and the position after it; ValueError when malformed."""
    value = shift = 0
    while shift < 70:
        if pos >= len(data):
            raise ValueError("truncated varint")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
    raise ValueError("varint too long")


def _fields(data: bytes | memoryview) -> list[tuple[int, int, int, int]]:
    """Top-level fields as (number, wire type, start, end of the whole field).

    For a length-delimited field, the value is the last `len` bytes before `end`.
    ValueError for anything malformed, and for groups (no xagent message uses them).
    """
    fields = []
    pos, n = 0, len(data)
    while pos < n:
        start = pos
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise ValueError("field number 0")
        if wire == 0:
            _, pos = _varint(data, pos)
        elif wire == 1:
            pos += 8
        elif wire == _LEN:
            size, pos = _varint(data, pos)
            pos += size
        elif wire == 5:
            pos += 4
        else:
            raise ValueError(f"wire type {wire}")
        if pos > n:
            raise ValueError("truncated field")
        fields.append((number, wire, start, pos))
    return fields


def _value(data: bytes | memoryview, start: int, end: int) -> memoryview:
    """The value of the length-delimited field spanning data[start:end]."""
    _, pos = _varint(data, start)
    _, pos = _varint(data, pos)
    return memoryview(data)[pos:end]


def received(data: bytes) -> Received | None:
    """The received key of request bytes; None when they are not plainly one request.

    The key is a digest of everything but the tag's bytes. None (the caller decodes and
    uses the canonical key) for malformed bytes, a repeated meta or tag field (protobuf
    would merge them), or a tag that is not UTF-8 (protobuf refuses to decode it).
    """
    try:
        fields = _fields(data)
        metas = [f for f in fields if f[0] == _META]
        if len(metas) > 1 or any(wire != _LEN for _, wire, _, _ in metas):
            return None
        tag, digest = "", hashlib.sha256()
        if metas:
            _, _, start, end = metas[0]
            meta = _value(data, start, end)
            tags = [f for f in _fields(meta) if f[0] == _TAG]
            if len(tags) > 1 or any(wire != _LEN for _, wire, _, _ in tags):
                return None
            rest = meta
            if tags:
                _, _, t_start, t_end = tags[0]
                tag = str(_value(meta, t_start, t_end), "utf-8")
                rest = bytes(meta[:t_start]) + bytes(meta[t_end:])
            digest.update(b"m" + len(rest).to_bytes(8, "big"))
            digest.update(rest)
            digest.update(memoryview(data)[:start])
            digest.update(memoryview(data)[end:])
        else:
            digest.update(b"-")
            digest.update(data)
    except (ValueError, UnicodeDecodeError):
        return None
    return Received(digest.digest(), tag)


def _prefixed(number: int, value: bytes) -> bytes:
    """A length-delimited field."""
    return _encode_varint(number << 3 | _LEN) + _encode_varint(len(value)) + value


def _encode_varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


@dataclass(frozen=True)
class _Answer:
    """A serialized response without its meta, and its meta without the tag."""

    body: bytes
    meta: bytes | None  # None: the response had no meta field

    def __len__(self) -> int:
        return len(self.body) + len(self.meta or b"")

    def to(self, tag: str) -> bytes:
        """The response bytes carrying `tag` (as protobuf writes them: meta first)."""
        if self.meta is None and not tag:
            return self.body
        meta = (_prefixed(_TAG, tag.encode()) if tag else b"") + (self.meta or b"")
        return _prefixed(_META, meta) + self.body


class Memo:
    """Serialized answers by request digest; LRU, bounded by entries and by bytes."""

    def __init__(self, max_entries: int = 512, max_bytes: int = 8 << 20) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.max_aliases = 4 * max_entries
        self.size = 0
        self._answers: OrderedDict[bytes, _Answer] = OrderedDict()
        self._aliases: OrderedDict[bytes, bytes] = OrderedDict()

    def __len__(self) -> int:
        return len(self._answers)

    def __contains__(self, key: bytes) -> bool:
        return key in self._answers

    @property
    def aliases(self) -> int:
        """How many received keys are remembered."""
        return len(self._aliases)

    @staticmethod
    def key(req: fnv1.RunFunctionRequest) -> bytes:
        """Digest of everything in the request but its tag (deterministic: maps sorted)."""
        tag = req.meta.tag
        req.meta.tag = ""
        try:
            body = req.SerializeToString(deterministic=True)
        finally:
            req.meta.tag = tag
        return hashlib.sha256(body).digest()

    def get_bytes(self, key: bytes, tag: str) -> bytes | None:
        """The remembered answer for a canonical `key`, serialized with `tag`; None if unknown."""
        answer = self._answers.get(key)
        if answer is None:
            return None
        self._answers.move_to_end(key)
        return answer.to(tag)

    def get(self, key: bytes, tag: str) -> fnv1.RunFunctionResponse | None:
        """The remembered answer for a canonical `key`, carrying `tag`; None if unknown."""
        body = self.get_bytes(key, tag)
        return None if body is None else fnv1.RunFunctionResponse.FromString(body)

    def received(self, seen: Received) -> bytes | None:
        """The remembered answer for a received key, serialized with its tag; None if unknown."""
        key = self._aliases.get(seen.key)
        if key is None:
            return None
        self._aliases.move_to_end(seen.key)
        return self.get_bytes(key, seen.tag)

    def alias(self, seen: Received, key: bytes) -> None:
        """Remember that the received key `seen` is the request with canonical `key`."""
        self._aliases[seen.key] = key
        self._aliases.move_to_end(seen.key)
        while len(self._aliases) > self.max_aliases:
            self._aliases.popitem(last=False)

    def put(self, key: bytes, rsp: fnv1.RunFunctionResponse) -> None:
        """Remember an answer (without its tag); evict the least recently used beyond bounds."""
        answer = _split(rsp)
        if len(answer) > self.max_bytes:
            return
        old = self._answers.pop(key, None)
        if old is not None:
            self.size -= len(old)
        self._answers[key] = answer
        self.size += len(answer)
        while len(self._answers) > self.max_entries or self.size > self.max_bytes:
            _, evicted = self._answers.popitem(last=False)
            self.size -= len(evicted)


def _split(rsp: fnv1.RunFunctionResponse) -> _Answer:
    """The response serialized as its meta without the tag, and everything else."""
    if not rsp.HasField("meta"):
        return _Answer(rsp.SerializeToString(), None)
    meta = fnv1.ResponseMeta()
    meta.CopyFrom(rsp.meta)
    rsp.ClearField("meta")
    try:
        body = rsp.SerializeToString()
    finally:
        rsp.meta.CopyFrom(meta)
    meta.tag = ""
    return _Answer(body, meta.SerializeToString())
