"""Password hashing with argon2id (argon2-cffi), plus a cache of recent verifications.

Argon2 is slow on purpose (tens of milliseconds), and HTTP Basic sends the password with every
request: a script paging through results would pay that on each page. Successful
verifications are therefore remembered in memory under a keyed digest of the password and the
stored hash, so a password change or a new hash invalidates them at once. No library offers
this small cache, hence the hand-written code.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections import OrderedDict

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_CACHE_SIZE = 4096


class Passwords:
    """Hash and verify passwords; ``cache_s`` bounds how long a verification is remembered."""

    def __init__(self, hasher: PasswordHasher | None = None, *, cache_s: float = 300.0) -> None:
        self._hasher = hasher or PasswordHasher()
        self._cache_s = cache_s
        self._key = secrets.token_bytes(32)
        self._cache: OrderedDict[bytes, float] = OrderedDict()
        self._lock = threading.Lock()

    def hash(self, password: str) -> str:
        """An argon2id hash of ``password`` (salted, with the parameters encoded)."""
        return self._hasher.hash(password)

    def verify(self, stored_hash: str, password: str) -> bool:
        """Whether ``password`` matches ``stored_hash``; never raises for a bad hash."""
        key = hmac.new(
            self._key,
            stored_hash.encode() + b"\0" + password.encode("utf-8", "replace"),
            hashlib.sha256,
        ).digest()
        now = time.monotonic()
        with self._lock:
            expires = self._cache.get(key)
            if expires is not None and expires > now:
                self._cache.move_to_end(key)
                return True
        try:
            self._hasher.verify(stored_hash, password)
        except (VerificationError, InvalidHashError):
            return False
        with self._lock:
            self._cache[key] = now + self._cache_s
            while len(self._cache) > _CACHE_SIZE:
                self._cache.popitem(last=False)
        return True

    def needs_rehash(self, stored_hash: str) -> bool:
        """Whether the hash was made with weaker parameters than the current ones."""
        try:
            return self._hasher.check_needs_rehash(stored_hash)
        except InvalidHashError:
            return True
