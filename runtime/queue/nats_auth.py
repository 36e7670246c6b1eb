"""How the runtime authenticates to NATS: the options nats-py's ``connect`` takes.

The function mounts the secret material from Secrets (contract/env.py names the variables
and files), so nothing here is ever a literal from the spec. At most one identity is set:
user and password, a token, a creds file (user JWT and nkey seed, from ``nsc``) or an nkey
seed; TLS (a CA, and a client certificate for mutual TLS) goes with any of them. nats-py
signs the server's nonce with the ``nkeys`` package for the creds file and the seed.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from runtime.settings import NatsAuthSettings

__all__ = ["NatsAuth"]


@dataclass(frozen=True)
class NatsAuth:
    """Credentials and TLS files for one NATS connection; all unset means no auth."""

    user: str | None = None
    password: str | None = None
    token: str | None = None
    creds_path: Path | None = None
    nkey_seed_path: Path | None = None
    tls_ca_path: Path | None = None
    tls_cert_path: Path | None = None
    tls_key_path: Path | None = None

    @classmethod
    def from_settings(cls, settings: NatsAuthSettings) -> NatsAuth:
        """The credentials and TLS files the settings name (the server's Settings, or an
        enqueue pod's runtime.settings.nats_auth_settings)."""
        return cls(
            user=settings.nats_user,
            password=_secret(settings.nats_password),
            token=_secret(settings.nats_token),
            creds_path=settings.nats_creds_path,
            nkey_seed_path=settings.nats_nkey_seed_path,
            tls_ca_path=settings.nats_tls_ca_path,
            tls_cert_path=settings.nats_tls_cert_path,
            tls_key_path=settings.nats_tls_key_path,
        )

    @property
    def identity(self) -> bool:
        """Whether any credential is set (TLS alone authenticates nobody to the server)."""
        return any(
            v is not None for v in (self.user, self.token, self.creds_path, self.nkey_seed_path)
        )

    def connect_options(self) -> dict[str, Any]:
        """Keyword arguments for ``nats.connect``; empty without auth."""
        out: dict[str, Any] = {}
        if self.user is not None:
            out |= {"user": self.user, "password": self.password}
        if self.token is not None:
            out["token"] = self.token
        if self.creds_path is not None:
            out["user_credentials"] = str(self.creds_path)
        if self.nkey_seed_path is not None:
            out["nkeys_seed"] = str(self.nkey_seed_path)
        if self.tls_ca_path is not None or self.tls_cert_path is not None:
            out["tls"] = self.tls_context()
        return out

    def tls_context(self) -> ssl.SSLContext:
        """Verifies the server against the CA file (the system's when unset) and presents
        the client certificate when one is given."""
        context = ssl.create_default_context(
            cafile=str(self.tls_ca_path) if self.tls_ca_path else None
        )
        if self.tls_cert_path is not None and self.tls_key_path is not None:
            context.load_cert_chain(str(self.tls_cert_path), str(self.tls_key_path))
        return context


def _secret(value: Any) -> str | None:
    # A pydantic SecretStr; typed loosely so this module imports no pydantic.
    return value.get_secret_value() if value is not None else None
