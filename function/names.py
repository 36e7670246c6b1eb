"""Deterministic, injective, kind-valid names of everything an XAgent composes.

A name is a pure function of the XR's name (and, for names that leave the namespace, its
namespace), so a re-render produces the same objects. Three properties hold for every name:

- It fits the limit of the kind it names (the ``*_MAX`` constants, each with its source).
- It is injective per namespace: two XAgents never compose the same object. The runtime's
  own objects (Deployment, Service, ServiceAccount, ...) keep the XR's name when it is a
  *plain* name: a DNS-1035 label within the limit that does not end like a hashed name
  (``-`` and ``HASH_LEN`` hex digits). Every other name, and every child object
  (``<xr>-cache``, ``<xr>-pg``, ...), ends in a hash of the XR name and the child's role, so
  ``a.b`` and ``a-b``, ``1abc`` and ``x1abc``, or agent ``bot``'s cache and agent
  ``bot-cache``'s Deployment, can only meet through a hash collision.
- The readable part before the hash is only a hint for people; identity lives in the hash.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re

__all__ = [
    "CNPG_CLUSTER_MAX",
    "CRONJOB_MAX",
    "DNS_LABEL_MAX",
    "DRAGONFLY_MAX",
    "HASH_LEN",
    "NATS_NAME_MAX",
    "child_name",
    "nats_token",
    "root_name",
    "short_hash",
]

DNS_LABEL_MAX = 63
"""RFC 1123/1035 labels: Service names (apimachinery ``IsDNS1035Label``), label values
(``IsValidLabelValue``), and so every name that also becomes a label value."""

CNPG_CLUSTER_MAX = 50
"""cloudnative-pg ``api/v1/cluster_webhook.go`` ``validateName``: a Cluster name is at most
50 characters, leaving room for the ``-rw``/``-1``/``-app``... objects it derives."""

CRONJOB_MAX = 52
"""The CronJob controller names each Job ``<cronjob>-<scheduled minutes since the epoch>``
(11 characters more), and a Job's name becomes a label value of its pods (63), so the API
server refuses a CronJob name longer than 52 (``ValidateCronJobCreate``)."""

DRAGONFLY_MAX = 52
"""dragonfly-operator names its StatefulSet after the Dragonfly CR; a StatefulSet's pods get
the label ``controller-revision-hash: <name>-<10-char hash>``, a label value of at most 63
characters, so the StatefulSet name is at most 63 - 11 = 52 (kubernetes/kubernetes#64023)."""

NATS_NAME_MAX = 200
"""JetStream stream and consumer names become directory names on the server's file store
(255 bytes); stay well below. ``.``, ``*``, ``>`` and whitespace are forbidden in them
(nats-server ``server/stream.go`` ``isValidName``)."""

HASH_LEN = 10
"""Hex digits of the identity hash: 40 bits, so a collision among even 10^5 names in one
namespace has a probability below 1%."""

_PLAIN_ROOT = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_LOOKS_HASHED = re.compile(rf"-[0-9a-f]{{{HASH_LEN}}}$")
_NATS_SAFE = re.compile(r"^[A-Za-z0-9-]+$")


_CACHED_NAMES = 4096
"""Names are pure functions of their parts, and one XR's composition asks for the same few
dozen again and again (every reconcile, every builder that refers to a sibling): the JSON
and SHA-256 behind each were ~13% of a composition. A few hundred bytes per entry."""


@functools.lru_cache(maxsize=_CACHED_NAMES)
def short_hash(*parts: str) -> str:
    """A ``HASH_LEN``-hex-digit digest of ``parts`` (the tuple, not its concatenation)."""
    encoded = json.dumps(list(parts), ensure_ascii=True, separators=(",", ":"))
    return hashlib.sha256(encoded.encode()).hexdigest()[:HASH_LEN]


@functools.lru_cache(maxsize=_CACHED_NAMES)
def root_name(xr_name: str, max_length: int = DNS_LABEL_MAX) -> str:
    """Name of the runtime's own objects: the XR name itself when it is plain, else hashed."""
    if (
        len(xr_name) <= max_length
        and _PLAIN_ROOT.match(xr_name)
        and not _LOOKS_HASHED.search(xr_name)
    ):
        return xr_name
    return _hashed(_dns_safe(xr_name), short_hash(xr_name), max_length)


@functools.lru_cache(maxsize=_CACHED_NAMES)
def child_name(xr_name: str, *role: str, max_length: int = DNS_LABEL_MAX) -> str:
    """``<xr>-<role...>-<hash>`` as a DNS-1035 label of at most ``max_length`` characters.

    The hash covers the XR name and the role parts, so a child never shares a name with
    another XR's root or child (``bot`` + ``cache`` vs an XR named ``bot-cache``).
    """
    if not role:
        raise ValueError("a child name needs a role; use root_name for the runtime's objects")
    readable = "-".join(_dns_safe(p) for p in (xr_name, *role))
    return _hashed(readable, short_hash(xr_name, *role), max_length)


def nats_token(*parts: str, max_length: int = NATS_NAME_MAX) -> str:
    """A NATS stream/consumer name, subject token or SQL identifier from ``parts``.

    Parts are joined with ``_``. When every part is already letters, digits and ``-`` and
    the result fits, that is the name: injective, since no part contains ``_``. Otherwise
    each part is cleaned and the name ends in ``__<hash>``, which no plain name contains.
    """
    plain = "_".join(parts)
    if all(_NATS_SAFE.match(p) for p in parts) and len(plain) <= max_length:
        return plain
    cleaned = "_".join(re.sub(r"[^A-Za-z0-9-]", "-", p) or "x" for p in parts)
    digest = short_hash(*parts)
    keep = max_length - len(digest) - 2
    return f"{cleaned[:keep]}__{digest}"


def _hashed(readable: str, digest: str, max_length: int) -> str:
    keep = max_length - len(digest) - 1
    prefix = readable[:keep].rstrip("-")
    return f"{prefix}-{digest}"


def _dns_safe(part: str) -> str:
    cleaned = re.sub(r"-{2,}", "-", re.sub(r"[^a-z0-9-]", "-", part.lower())).strip("-")
    # Services (DNS-1035 labels) must start with a letter; an XR name may not.
    return cleaned if cleaned[:1].isalpha() else f"x{cleaned}"
