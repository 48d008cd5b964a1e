"""OpenID Connect tokens as Keycloak issues them: password, refresh_token and
client_credentials grants; RS256-signed JWTs; one-time refresh tokens.

Every grant starts a token session (Keycloak's ``session_state``, the ``sid`` claim). Access
tokens are checked against it and against the account on every request, so a logout, a
password change or a lock (which end the user's sessions) and a locked account stop them at
once, and authorization always uses the account's current roles (the ``realm_access`` claim
tells other readers what they were at issue time). Refresh tokens are one-time: each refresh
answers a new one, and presenting a used one again is taken as theft: the whole session ends.

The signature check is cached per token for a short time (see :class:`_Verified`); the
session lookup is one indexed query, as cheap as the account lookup of HTTP Basic.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt

from eohub.auth.apikeys import ApiKeys
from eohub.auth.service import Accounts
from eohub.auth.signing import KeyRing
from eohub.auth.token_errors import GrantRejected, InvalidToken
from eohub.auth.token_ports import TokenSession, TokenStore
from eohub.errors import Forbidden, TooManyRequests, Unauthenticated
from eohub.model.user import User

_NAMESPACE = uuid.UUID("6b1f3c52-8e0a-4d1e-9a57-2f0c1e7d9b30")
_CACHE_SIZE = 4096
_CACHE_S = 60.0
BAD_CREDENTIALS = "Invalid user credentials"
BAD_CLIENT = "Invalid client or Invalid client credentials"


def subject(username: str) -> str:
    """The ``sub`` claim: a UUID derived from the username, stable across restarts and hubs."""
    return str(uuid.uuid5(_NAMESPACE, username.casefold()))


@dataclass(frozen=True)
class TokenPolicy:
    """Lifetimes, audiences and accepted clients."""

    access_lifetime: timedelta = timedelta(minutes=10)
    refresh_lifetime: timedelta = timedelta(hours=1)
    session_max: timedelta = timedelta(hours=10)
    audiences: tuple[str, ...] = ("account",)
    clients: frozenset[str] = frozenset()  # empty: any client_id


@dataclass(frozen=True)
class Grant:
    """The token endpoint's answer."""

    access_token: str
    expires_in: int
    refresh_token: str | None
    refresh_expires_in: int
    session_state: str | None
    scope: str

    def as_keycloak(self) -> dict[str, Any]:
        """The JSON body Keycloak answers."""
        body: dict[str, Any] = {
            "access_token": self.access_token,
            "expires_in": self.expires_in,
            "refresh_expires_in": self.refresh_expires_in,
        }
        if self.refresh_token is not None:
            body["refresh_token"] = self.refresh_token
        body.update({"token_type": "Bearer", "not-before-policy": 0})
        if self.session_state is not None:
            body["session_state"] = self.session_state
        body["scope"] = self.scope
        return body


class _Verified:
    """Claims of recently verified access tokens: RSA verification and claim checks are
    skipped for a token seen in the last minute (never beyond its ``exp``). A plain bounded
    dict, as the password cache: no library offers this small piece."""

    def __init__(self) -> None:
        self._entries: OrderedDict[str, tuple[float, dict[str, Any]]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, token: str) -> dict[str, Any] | None:
        with self._lock:
            entry = self._entries.get(token)
            if entry is None:
                return None
            if entry[0] <= time.time():
                del self._entries[token]
                return None
            self._entries.move_to_end(token)
            return entry[1]

    def put(self, token: str, claims: dict[str, Any]) -> None:
        until = min(time.time() + _CACHE_S, float(claims["exp"]))
        with self._lock:
            self._entries[token] = (until, claims)
            while len(self._entries) > _CACHE_SIZE:
                self._entries.popitem(last=False)


def _scope(requested: str) -> str:
    return "openid profile email" if "openid" in requested.split() else "profile email"


class Tokens:
    """Issue, refresh, verify and revoke tokens."""

    def __init__(
        self,
        store: TokenStore,
        accounts: Accounts,
        api_keys: ApiKeys,
        *,
        policy: TokenPolicy | None = None,
        keys: KeyRing | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store = store
        self._accounts = accounts
        self.api_keys = api_keys
        self.policy = policy or TokenPolicy()
        self.keys = keys or KeyRing(store, clock=clock)
        self._clock = clock
        self._verified = _Verified()

    # -- grants --------------------------------------------------------------------------------
    def password_grant(
        self, issuer: str, client_id: str, username: str, password: str, scope: str = ""
    ) -> Grant:
        """Tokens for a user's credentials (failures count and throttle as any login)."""
        if not client_id or (self.policy.clients and client_id not in self.policy.clients):
            raise GrantRejected("invalid_client", BAD_CLIENT, failure="credentials")
        try:
            user = self._accounts.authenticate(username, password)
        except TooManyRequests as exc:
            raise GrantRejected(
                "invalid_grant", exc.user_message, failure="throttled",
                retry_after=exc.retry_after,
            ) from None  # fmt: skip
        except Forbidden as exc:
            raise GrantRejected("invalid_grant", f"Account disabled: {exc.user_message}") from None
        except Unauthenticated:
            raise GrantRejected("invalid_grant", BAD_CREDENTIALS, failure="credentials") from None
        return self._start(issuer, client_id, user, _scope(scope), refresh=True)

    def client_credentials_grant(self, issuer: str, client_id: str, client_secret: str) -> Grant:
        """An access token for an API key (``client_id``: its owner's username); no refresh
        token, as Keycloak's client_credentials grant."""
        user = self.api_keys.user_of(client_secret) if client_secret else None
        if user is None or user.username.casefold() != client_id.casefold():
            raise GrantRejected("unauthorized_client", BAD_CLIENT, failure="credentials")
        return self._start(issuer, client_id, user, "profile email", refresh=False)

    def refresh_grant(self, issuer: str, client_id: str, refresh_token: str) -> Grant:
        """New tokens for a refresh token, which is thereby used up."""
        claims = self._refresh_claims(issuer, refresh_token)
        if client_id and claims.get("azp") != client_id:
            raise GrantRejected(
                "invalid_grant",
                "Invalid refresh token. Token client and authorized client don't match",
            )
        outcome = self._store.use_refresh(str(claims["jti"]))
        if outcome == "replayed":
            self._store.revoke_session(str(claims["sid"]))
            raise GrantRejected("invalid_grant", "Maximum allowed refresh token reuse exceeded")
        if outcome != "ok":
            raise GrantRejected("invalid_grant", "Token is not active")
        found = self._store.session_account(str(claims["sid"]))
        if found is None or found[0].revoked:
            raise GrantRejected("invalid_grant", "Session not active")
        session, account = found
        if account.user.locked or account.user.pending:
            raise GrantRejected("invalid_grant", "Account disabled")
        started = datetime.fromtimestamp(int(claims["auth_time"]), UTC)
        return self._issue(issuer, session, account.user, str(claims["scope"]), started)

    def logout(self, issuer: str, refresh_token: str) -> None:
        """End the session of a refresh token (its access and refresh tokens stop working)."""
        claims = self._refresh_claims(issuer, refresh_token)
        self._store.revoke_session(str(claims["sid"]))

    # -- verification ---------------------------------------------------------------------------
    def user_of(self, token: str, issuers: Collection[str]) -> User:
        """The active user of an access token issued by one of ``issuers``; InvalidToken
        (saying why) for a malformed, forged, tampered, expired or revoked token."""
        claims = self._verified.get(token)
        if claims is None:
            claims = self._decode(token, "Bearer", self.policy.audiences)
            self._verified.put(token, claims)
        if claims["iss"] not in issuers:
            raise InvalidToken("The token was issued by another issuer")
        found = self._store.session_account(str(claims["sid"]))
        if found is None or found[0].revoked:
            raise InvalidToken("The token was revoked: its session has ended")
        session, account = found
        if subject(account.user.username) != claims["sub"]:
            raise InvalidToken("The token was revoked: its session has ended")
        if account.user.locked or account.user.pending:
            raise InvalidToken(f"The account '{account.user.username}' is disabled")
        return account.user

    def jwks(self) -> dict[str, Any]:
        """The public keys that verify this hub's tokens."""
        return self.keys.jwks()

    # -- internals ------------------------------------------------------------------------------
    def _start(
        self, issuer: str, client_id: str, user: User, scope: str, *, refresh: bool
    ) -> Grant:
        now = self._clock()
        lifetime = self.policy.refresh_lifetime if refresh else self.policy.access_lifetime
        session = TokenSession(
            str(uuid.uuid4()), user.username, client_id, now + lifetime, revoked=False
        )
        self._store.start_session(session, now)
        return self._issue(issuer, session, user, scope, now, refresh=refresh)

    def _issue(
        self, issuer: str, session: TokenSession, user: User, scope: str, started: datetime,
        *, refresh: bool = True,
    ) -> Grant:  # fmt: skip
        now = self._clock()
        iat = int(now.timestamp())
        access_exp = iat + int(self.policy.access_lifetime.total_seconds())
        common = {
            "iat": iat, "auth_time": int(started.timestamp()), "iss": issuer,
            "sub": subject(user.username), "azp": session.client_id,
            "sid": session.id, "session_state": session.id, "scope": scope,
        }  # fmt: skip
        access = {
            **common,
            "exp": access_exp,
            "jti": str(uuid.uuid4()),
            "typ": "Bearer",
            "aud": list(self.policy.audiences),
            "preferred_username": user.username,
            "realm_access": {"roles": sorted(r.value for r in user.roles)},
            **_profile(user),
        }
        kid, key = self.keys.signing_key()
        access_token = jwt.encode(access, key, algorithm="RS256", headers={"kid": kid})
        if not refresh:
            return Grant(access_token, access_exp - iat, None, 0, None, scope)
        limit = int((started + self.policy.session_max).timestamp())
        refresh_exp = min(iat + int(self.policy.refresh_lifetime.total_seconds()), limit)
        if refresh_exp <= iat:
            raise GrantRejected("invalid_grant", "Session not active")
        jti = str(uuid.uuid4())
        claims = {**common, "exp": refresh_exp, "jti": jti, "typ": "Refresh", "aud": issuer}
        refresh_token = jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})
        expires = datetime.fromtimestamp(refresh_exp, UTC)
        self._store.add_refresh(jti, session.id, user.username, expires, extend=True)
        return Grant(
            access_token, access_exp - iat, refresh_token, refresh_exp - iat, session.id, scope
        )

    def _refresh_claims(self, issuer: str, token: str) -> dict[str, Any]:
        try:
            return self._decode(token, "Refresh", (issuer,))
        except InvalidToken as exc:
            raise GrantRejected(
                "invalid_grant", f"Invalid refresh token: {exc.user_message}"
            ) from None

    def _decode(self, token: str, typ: str, audiences: Collection[str]) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise InvalidToken("The token is not a well-formed JWT") from None
        kid = header.get("kid")
        if header.get("alg") != "RS256" or not isinstance(kid, str):
            raise InvalidToken("The token is not signed with this hub's keys (RS256)")
        key = self.keys.public_key(kid)
        if key is None:
            raise InvalidToken("The token is not signed with this hub's keys")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=["RS256"],
                audience=list(audiences),
                options={"require": ["exp", "iat", "iss", "sub", "jti", "sid", "typ"]},
            )
        except jwt.ExpiredSignatureError:
            raise InvalidToken("The token has expired") from None
        except jwt.InvalidSignatureError:
            raise InvalidToken("The token's signature does not match its content") from None
        except jwt.PyJWTError as exc:
            raise InvalidToken(f"The token is not valid: {exc}") from None
        if claims["typ"] != typ:
            raise InvalidToken(f"The token is not a {typ.lower()} token")
        return claims


def _profile(user: User) -> dict[str, Any]:
    claims: dict[str, Any] = {}
    if user.email:
        claims["email"] = user.email
        claims["email_verified"] = not user.pending
    if user.firstname:
        claims["given_name"] = user.firstname
    if user.lastname:
        claims["family_name"] = user.lastname
    name = " ".join(p for p in (user.firstname, user.lastname) if p)
    if name:
        claims["name"] = name
    return claims


def userinfo(user: User) -> dict[str, Any]:
    """The OpenID Connect UserInfo of a user."""
    return {"sub": subject(user.username), "preferred_username": user.username, **_profile(user)}
