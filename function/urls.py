"""URLs a tenant writes: credentials hidden in them, and the host/path patterns policy uses.

A URL the function copies into env values, NACK resources or ConfigMaps is readable by anyone
who can read those objects, so it must never carry a credential. Patterns match the parsed
URL, never the raw string, so ``https://api.openai.com@evil.example/`` or
``https://evil.example/api.openai.com`` cannot pass for the host they spell.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit

__all__ = ["SECRET_QUERY_KEYS", "ParsedURL", "credential_problem", "matches", "parse"]

SECRET_QUERY_KEYS = frozenset(
    {
        "access_token",
        "api-key",
        "api_key",
        "apikey",
        "auth",
        "authorization",
        "client_secret",
        "code",
        "credential",
        "credentials",
        "key",
        "pass",
        "passwd",
        "password",
        "pwd",
        "secret",
        "sig",
        "signature",
        "token",
        "x-api-key",
    }
)
"""Query parameter names (compared case-insensitively, - and _ alike) that carry a secret."""

_DEFAULT_PORTS = {"http": 80, "https": 443, "nats": 4222, "tls": 4222}


@dataclass(frozen=True)
class ParsedURL:
    """The parts of a URL that decide where a request goes."""

    scheme: str
    host: str
    port: int | None
    path: str


def parse(url: str) -> ParsedURL | None:
    """Scheme, lower-case host, effective port and path of ``url``; None when it has no host."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    if not parts.hostname:
        return None
    scheme = parts.scheme.lower()
    return ParsedURL(scheme, parts.hostname.lower(), port or _DEFAULT_PORTS.get(scheme), parts.path)


def credential_problem(url: str) -> str | None:
    """Why ``url`` carries a credential (user:password@, ?api_key=...), or None when it does not.

    The message never repeats the secret itself.
    """
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    if "@" in parts.netloc:
        return "carries credentials (user:password@); reference a Secret instead"
    for key, _ in parse_qsl(parts.query, keep_blank_values=True):
        normal = key.strip().lower().replace("-", "_")
        if normal in {k.replace("-", "_") for k in SECRET_QUERY_KEYS} or normal.endswith(
            ("_token", "_key", "_secret", "_password")
        ):
            return f"carries a credential in query parameter {key!r}; reference a Secret instead"
    return None


def matches(url: str, pattern: str) -> bool:
    """Whether ``url`` matches ``pattern`` (``scheme://host-glob[:port][/path-glob]``).

    Scheme and host compare case-insensitively; ``*`` in the host never reaches past it. A
    pattern without a path (or with ``/*``) matches every path; otherwise the path glob must
    match, a trailing ``/`` aside. A pattern scheme of ``*`` matches any scheme.
    """
    got, want = parse(url), _parse_pattern(pattern)
    if got is None or want is None:
        return False
    if want.scheme != "*" and got.scheme != want.scheme:
        return False
    if not fnmatch.fnmatchcase(got.host, want.host):
        return False
    if want.port is not None and got.port != want.port:
        return False
    if want.path in ("", "/", "/*"):
        return True
    path = got.path or "/"
    return fnmatch.fnmatchcase(path, want.path) or fnmatch.fnmatchcase(
        path.rstrip("/") or "/", want.path.rstrip("/") or "/"
    )


def _parse_pattern(pattern: str) -> ParsedURL | None:
    scheme, sep, rest = pattern.strip().partition("://")
    if not sep:
        return None
    authority, slash, path = rest.partition("/")
    host, colon, port = authority.rpartition(":") if ":" in authority else (authority, "", "")
    if colon and not port.isdigit():
        return None
    scheme = scheme.lower()
    effective = int(port) if colon else _DEFAULT_PORTS.get(scheme)
    return ParsedURL(scheme, host.lower(), effective, slash + path)
