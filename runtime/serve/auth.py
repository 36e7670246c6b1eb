"""Who is calling: bearer tokens from a mounted Secret, or Kubernetes ServiceAccount tokens.

Every route but /health, /ready and /metrics needs ``Authorization: Bearer <token>``. An
``Authenticator`` turns the token into a principal (the name that owns the caller's threads
and runs) or raises ``AuthError`` with the HTTP status and a reason:

- ``StaticTokens`` reads a file (a Secret key the function mounts): one ``principal:token``
  per line, or a bare token (principal ``api``). It re-reads the file when it changes, so a
  rotated Secret takes effect without a restart. Tokens are compared in constant time.
- ``TokenReviewer`` asks the Kubernetes API (``TokenReview``, with the pod's own
  ServiceAccount token) whether a token is valid *for this agent's audience*; the principal
  is the token's username (``system:serviceaccount:<ns>:<name>``). Verdicts are cached
  briefly, keyed by the token's hash.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import ssl
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import httpx

__all__ = [
    "SA_CA_PATH",
    "SA_TOKEN_PATH",
    "AuthError",
    "Authenticator",
    "StaticTokens",
    "TokenReviewer",
    "bearer_token",
]

log = logging.getLogger(__name__)

SA_TOKEN_PATH = Path("/var/run/secrets/kubernetes.io/serviceaccount/token")
SA_CA_PATH = Path("/var/run/secrets/kubernetes.io/serviceaccount/ca.crt")
TOKEN_REVIEW_PATH = "/apis/authentication.k8s.io/v1/tokenreviews"  # noqa: S105 - a URL path
_DEFAULT_PRINCIPAL = "api"
_CACHE_SIZE = 1024


class AuthError(Exception):
    """Authentication failed: ``status`` is 401 (who are you?), 403 or 503 (cannot tell)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class Authenticator(Protocol):
    """Turns a bearer token into the caller's principal."""

    async def authenticate(self, token: str) -> str:
        """The principal ``token`` stands for; raises AuthError otherwise."""
        ...


def bearer_token(authorization: str | None) -> str:
    """The token of an ``Authorization: Bearer`` header; AuthError(401) naming what is wrong."""
    if not authorization:
        raise AuthError(401, "missing Authorization header: send 'Authorization: Bearer <token>'")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthError(401, "the Authorization header must be 'Bearer <token>'")
    return token.strip()


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


class StaticTokens:
    """Tokens from a mounted Secret file: ``principal:token`` per line, or a bare token."""

    def __init__(self, path: Path) -> None:
        """Read tokens from ``path`` (re-read whenever its modification time changes)."""
        self._path = path
        self._stamp: float | None = None
        self._tokens: list[tuple[bytes, str]] = []

    def _load(self) -> list[tuple[bytes, str]]:
        try:
            stamp = self._path.stat().st_mtime
        except OSError as err:
            raise AuthError(503, f"API tokens unavailable: {err.strerror or err}") from None
        if stamp != self._stamp:
            tokens = []
            for line in self._path.read_text().splitlines():
                line = line.strip()
                if not line or line.startswith("#"):
                    continue
                principal, sep, token = line.rpartition(":")
                if not sep:
                    principal, token = _DEFAULT_PRINCIPAL, line
                tokens.append((_digest(token.strip()), principal.strip() or _DEFAULT_PRINCIPAL))
            self._tokens, self._stamp = tokens, stamp
        return self._tokens

    async def authenticate(self, token: str) -> str:
        """See Authenticator."""
        given = _digest(token)
        found = None
        for digest, principal in self._load():
            # Compare against every entry: the time taken says nothing about which matched.
            if hmac.compare_digest(digest, given) and found is None:
                found = principal
        if found is None:
            raise AuthError(401, "invalid bearer token")
        return found


@dataclass(frozen=True)
class _Verdict:
    principal: str | None
    reason: str
    expires: float


class TokenReviewer:
    """ServiceAccount tokens verified by the Kubernetes API (TokenReview), audience-bound."""

    def __init__(
        self,
        audience: str,
        *,
        api_url: str | None = None,
        own_token_path: Path | None = None,
        ca_path: Path | None = None,
        cache_seconds: float = 60.0,
        timeout_seconds: float = 5.0,
    ) -> None:
        """Verify tokens for ``audience`` against ``api_url`` (the in-cluster API by default).

        ``own_token_path`` and ``ca_path`` default to the pod's mounted ServiceAccount.
        """
        if api_url is None:
            host = os.environ.get("KUBERNETES_SERVICE_HOST", "kubernetes.default.svc")
            port = os.environ.get("KUBERNETES_SERVICE_PORT", "443")
            api_url = f"https://{host}:{port}"
        self.audience = audience
        self._url = api_url.rstrip("/") + TOKEN_REVIEW_PATH
        self._own_token_path = own_token_path or SA_TOKEN_PATH
        self._ca_path = ca_path or SA_CA_PATH
        self._cache_seconds = cache_seconds
        self._timeout = timeout_seconds
        self._cache: OrderedDict[bytes, _Verdict] = OrderedDict()
        self._client: httpx.AsyncClient | None = None

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            verify: Any = True
            if self._ca_path.exists():
                verify = ssl.create_default_context(cafile=str(self._ca_path))
            self._client = httpx.AsyncClient(verify=verify, timeout=self._timeout)
        return self._client

    async def aclose(self) -> None:
        """Close the HTTP client."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def authenticate(self, token: str) -> str:
        """See Authenticator."""
        key = _digest(token)
        verdict = self._cache.get(key)
        if verdict is None or verdict.expires < time.monotonic():
            verdict = await self._review(token)
            self._cache[key] = verdict
            while len(self._cache) > _CACHE_SIZE:
                self._cache.popitem(last=False)
        if verdict.principal is None:
            raise AuthError(401, verdict.reason)
        return verdict.principal

    async def _review(self, token: str) -> _Verdict:
        body = {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenReview",
            "spec": {"token": token, "audiences": [self.audience]},
        }
        try:
            own = self._own_token_path.read_text().strip()
            reply = await self._http().post(
                self._url, json=body, headers={"Authorization": f"Bearer {own}"}
            )
        except (OSError, httpx.HTTPError) as err:
            log.warning("TokenReview failed: %s", err)
            raise AuthError(503, f"cannot verify the token now: {err}") from None
        if reply.status_code in (401, 403):
            # Our own ServiceAccount may not review tokens: an operator must bind it.
            raise AuthError(
                503,
                f"TokenReview refused ({reply.status_code}): the runtime's ServiceAccount "
                "needs the system:auth-delegator ClusterRole",
            )
        if reply.status_code >= 300:
            raise AuthError(503, f"TokenReview failed with HTTP {reply.status_code}")
        status = (reply.json() or {}).get("status") or {}
        expires = time.monotonic() + self._cache_seconds
        if not status.get("authenticated"):
            reason = status.get("error") or "token not authenticated"
            return _Verdict(None, f"invalid ServiceAccount token: {reason}", expires)
        if self.audience not in (status.get("audiences") or []):
            return _Verdict(None, f"token not valid for audience {self.audience!r}", expires)
        username = (status.get("user") or {}).get("username")
        if not username:
            return _Verdict(None, "TokenReview named no user", expires)
        return _Verdict(username, "", expires)
