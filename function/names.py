"""Deterministic, kind-valid names and labels of everything an XAgent composes.

A name is a pure function of the XR's namespace and name, so a re-render produces the same
objects, and it always fits the limits of the kind it names (63 characters for DNS labels
and label values, NATS stream names without dots).
"""

from __future__ import annotations

import hashlib
import re

__all__ = [
    "DNS_LABEL_MAX",
    "child_name",
    "nats_token",
    "short_hash",
]

DNS_LABEL_MAX = 63
_HASH_LEN = 8


def short_hash(*parts: str) -> str:
    """An 8-hex-digit digest of ``parts``, to keep truncated names unique."""
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:_HASH_LEN]


def child_name(base: str, *suffixes: str, max_length: int = DNS_LABEL_MAX) -> str:
    """``base-suffix...`` as a DNS label of at most ``max_length`` characters.

    A name that would be too long keeps a readable prefix and ends in a hash of the whole,
    so two long names never collide after truncation.
    """
    parts = [p for p in (base, *suffixes) if p]
    full = _starts_with_letter("-".join(_dns_safe(p) for p in parts))
    if len(full) <= max_length:
        return full
    digest = short_hash(full)
    keep = max_length - len(digest) - 1
    return f"{full[:keep].rstrip('-')}-{digest}"


def nats_token(*parts: str, max_length: int = 200) -> str:
    """A NATS stream/consumer name or subject token: letters, digits, - and _ only."""
    full = "_".join(re.sub(r"[^A-Za-z0-9_-]", "-", p) for p in parts if p)
    if len(full) <= max_length:
        return full
    digest = short_hash(full)
    return f"{full[: max_length - len(digest) - 1]}_{digest}"


def _dns_safe(part: str) -> str:
    cleaned = re.sub(r"[^a-z0-9-]", "-", part.lower()).strip("-")
    return cleaned or "x"


def _starts_with_letter(name: str) -> str:
    # Services (DNS-1035 labels) must start with a letter; an XR may not.
    return name if name[:1].isalpha() else f"x{name}"
