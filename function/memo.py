"""A bounded memo of answers, for Crossplane's steady state.

Crossplane calls the function on every reconcile of every XAgent: each poll and each
watch event sends the same XR and the same observed resources again. The answer is a pure
function of the request, so the memo keys on a digest of the whole request (XR, observed
and required resources, desired state of earlier steps, input, context, credentials,
capabilities) except `meta.tag`, Crossplane's per-request label, which the answer echoes.
Any change anywhere in the request is a different key: the memo cannot answer stale.

It holds serialized responses, least recently used first out, bounded both by count and
by bytes, so a cluster of many XAgents cannot grow the process.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict

from crossplane.function.proto.v1 import run_function_pb2 as fnv1

__all__ = ["Memo"]


class Memo:
    """Serialized answers by request digest; LRU, bounded by entries and by bytes."""

    def __init__(self, max_entries: int = 512, max_bytes: int = 8 << 20) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.size = 0
        self._answers: OrderedDict[bytes, bytes] = OrderedDict()

    def __len__(self) -> int:
        return len(self._answers)

    @staticmethod
    def key(req: fnv1.RunFunctionRequest) -> bytes:
        """Digest of everything in the request but its tag (deterministic: maps sorted)."""
        tag = req.meta.tag
        req.meta.tag = ""
        try:
            body = req.SerializeToString(deterministic=True)
        finally:
            req.meta.tag = tag
        return hashlib.blake2b(body, digest_size=32).digest()

    def get(self, key: bytes, tag: str) -> fnv1.RunFunctionResponse | None:
        """The remembered answer for `key`, carrying this request's tag; None if unknown."""
        body = self._answers.get(key)
        if body is None:
            return None
        self._answers.move_to_end(key)
        rsp = fnv1.RunFunctionResponse.FromString(body)
        rsp.meta.tag = tag
        return rsp

    def put(self, key: bytes, rsp: fnv1.RunFunctionResponse) -> None:
        """Remember an answer (without its tag); evict the least recently used beyond bounds."""
        tag = rsp.meta.tag
        rsp.meta.tag = ""
        try:
            body = rsp.SerializeToString()
        finally:
            rsp.meta.tag = tag
        if len(body) > self.max_bytes:
            return
        old = self._answers.pop(key, None)
        if old is not None:
            self.size -= len(old)
        self._answers[key] = body
        self.size += len(body)
        while len(self._answers) > self.max_entries or self.size > self.max_bytes:
            _, evicted = self._answers.popitem(last=False)
            self.size -= len(evicted)
