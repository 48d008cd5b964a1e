"""The RSA keys that sign tokens, kept in the account database so that every server process
signs and verifies with the same keys and they survive restarts.

The first process that needs a key makes one; a unique index on the active key makes a second
process that raced it adopt the stored one. A token naming a key this process has not seen
(made by another process, or after a rotation) reloads the keys, at most every few seconds.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from eohub.auth.token_ports import SigningKey, TokenStore

_RELOAD_S = 5.0


def _thumbprint(public: rsa.RSAPublicKey) -> str:
    """The RFC 7638 JWK thumbprint, used as ``kid`` (PyJWT has no helper for it)."""
    jwk = RSAAlgorithm.to_jwk(public, as_dict=True)
    canonical = json.dumps({k: jwk[k] for k in ("e", "kty", "n")}, separators=(",", ":"))
    digest = hashlib.sha256(canonical.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def new_signing_key(now: datetime) -> SigningKey:
    """A fresh 2048-bit RSA key, active."""
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return SigningKey(_thumbprint(private.public_key()), pem, now, active=True)


class KeyRing:
    """The signing key and every verification key, loaded from a :class:`TokenStore`."""

    def __init__(
        self, store: TokenStore, *, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        self._store = store
        self._clock = clock
        self._lock = threading.Lock()
        self._private: dict[str, rsa.RSAPrivateKey] = {}
        self._active: str | None = None
        self._loaded_at = float("-inf")

    def _load(self) -> None:
        keys = self._store.signing_keys()
        if not any(k.active for k in keys):
            self._store.add_signing_key(new_signing_key(self._clock()))
            keys = self._store.signing_keys()
        private: dict[str, rsa.RSAPrivateKey] = {}
        for key in keys:
            loaded = serialization.load_pem_private_key(key.private_pem.encode(), password=None)
            if isinstance(loaded, rsa.RSAPrivateKey):
                private[key.kid] = loaded
        self._private = private
        self._active = next((k.kid for k in keys if k.active), None)
        self._loaded_at = time.monotonic()

    def signing_key(self) -> tuple[str, rsa.RSAPrivateKey]:
        """The ``kid`` and private key new tokens are signed with."""
        with self._lock:
            if self._active is None:
                self._load()
            assert self._active is not None
            return self._active, self._private[self._active]

    def public_key(self, kid: str) -> rsa.RSAPublicKey | None:
        """The key named ``kid`` (None when this hub has no such key)."""
        with self._lock:
            if kid not in self._private and time.monotonic() - self._loaded_at > _RELOAD_S:
                self._load()
            found = self._private.get(kid)
        return None if found is None else found.public_key()

    def jwks(self) -> dict[str, Any]:
        """The JSON Web Key Set of every verification key."""
        self.signing_key()  # makes the first key when there is none yet
        with self._lock:
            if time.monotonic() - self._loaded_at > _RELOAD_S:
                self._load()
            keys = []
            for kid, private in self._private.items():
                jwk = RSAAlgorithm.to_jwk(private.public_key(), as_dict=True)
                keys.append({"kid": kid, "kty": "RSA", "alg": "RS256", "use": "sig",
                             "n": jwk["n"], "e": jwk["e"]})  # fmt: skip
        return {"keys": keys}
