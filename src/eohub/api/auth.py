"""Who is calling and what they may do: credentials, roles, anonymous access, quotas.

Every API accepts the same credentials: HTTP Basic (with the password or a personal API key),
an OpenID Connect access token or an API key as ``Authorization: Bearer`` or as the ``token``
query parameter (as CDSE's download service and eodag use it), and the portal's session
cookie. A bad token is a 401 with a ``WWW-Authenticate: Bearer error="invalid_token"``
challenge.

Every API asks :func:`authorize` for the role a request needs. Without credentials a request
is anonymous, allowed where the hub's settings allow it (``auth.anonymous_search``,
``auth.anonymous_download``); otherwise it gets 401 with a ``WWW-Authenticate: Basic``
challenge, which wget needs before it sends credentials and sentinelsat maps to "Invalid user
name or password". A known user without the role gets 403.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import html
from collections.abc import Awaitable, Callable

from fastapi import Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from eohub.auth.apikeys import is_api_key
from eohub.auth.token_errors import InvalidToken
from eohub.errors import Forbidden, HubError, TooManyRequests, Unauthenticated
from eohub.model.user import ANONYMOUS, Role, User
from eohub.wiring import Hub

_STATE = "eohub_user"
SESSION_COOKIE = "eohub_session"
"""The portal's login cookie (see ``eohub.api.portal.session``); the APIs accept it too."""
CSRF_HEADER = "x-csrf-token"


def _hub(request: Request) -> Hub:
    hub: Hub = request.app.state.hub
    return hub


def basic_credentials(header: str | None) -> tuple[str, str] | None:
    """(username, password) of an ``Authorization: Basic`` header; None for other schemes."""
    if not header:
        return None
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise Unauthenticated("Malformed Basic credentials") from None
    try:
        text = decoded.decode("utf-8")
    except UnicodeDecodeError:
        text = decoded.decode("latin-1")  # what older clients send
    username, colon, password = text.partition(":")
    if not colon:
        raise Unauthenticated("Malformed Basic credentials")
    return username, password


async def current_user(request: Request) -> User | None:
    """The authenticated user of the request, None when it carries no credentials."""
    if _STATE in request.scope:
        cached: User | None = request.scope[_STATE]
        return cached
    header = request.headers.get("authorization")
    credentials = basic_credentials(header)
    token = bearer_token(header, request.query_params.get("token"))
    user = None
    if credentials is not None:
        user = await run_in_threadpool(_basic_user, _hub(request), *credentials)
    elif token is not None:
        user = await run_in_threadpool(_token_user, request, token)
    elif request.cookies.get(SESSION_COOKIE):
        user = await run_in_threadpool(_session_user, request)
    request.scope[_STATE] = user
    return user


def bearer_token(header: str | None, query: str | None) -> str | None:
    """The token of an ``Authorization: Bearer`` header, else of the ``token`` parameter."""
    if header:
        scheme, _, value = header.strip().partition(" ")
        if scheme.lower() == "bearer":
            if not value.strip():
                raise InvalidToken("The Bearer token is empty")
            return value.strip()
    if query is not None:
        if not query.strip():
            raise InvalidToken("The token parameter is empty")
        return query.strip()
    return None


def _basic_user(hub: Hub, username: str, password: str) -> User:
    """HTTP Basic: a personal API key of ``username`` may take the place of the password
    (for wget, sentinelsat and other Basic-only clients)."""
    if is_api_key(password):
        user = hub.api_keys.user_of(password)
        if user is not None and user.username.casefold() == username.casefold():
            return user
    return hub.accounts.authenticate(username, password)


def issuer(request: Request, realm: str) -> str:
    """The token issuer of a realm: the public URL when configured, else this request's."""
    base = _hub(request).settings.server.public_url or str(request.base_url)
    return f"{base.rstrip('/')}/auth/realms/{realm}"


def _token_user(request: Request, token: str) -> User:
    hub = _hub(request)
    if is_api_key(token):
        user = hub.api_keys.user_of(token)
        if user is None:
            raise InvalidToken("The API key is unknown, expired or revoked")
        return user
    issuers = {issuer(request, realm) for realm in hub.settings.auth.tokens.realms}
    return hub.tokens.user_of(token, issuers)


def _session_user(request: Request) -> User | None:
    """The portal user of a session cookie; a state-changing request must also carry the
    session's CSRF token in ``X-CSRF-Token`` (a cookie alone could come from another site)."""
    found = _hub(request).accounts.session_user(request.cookies[SESSION_COOKIE])
    if found is None:
        return None
    user, csrf = found
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        sent = request.headers.get(CSRF_HEADER, "")
        if not sent or not hmac.compare_digest(sent, csrf):
            raise Forbidden("A request with a session cookie needs its X-CSRF-Token header")
    return user


def _anonymous_allowed(hub: Hub, role: Role) -> bool:
    if role is Role.SEARCH:
        return hub.settings.auth.anonymous_search
    if role is Role.DOWNLOAD:
        return hub.settings.auth.anonymous_download
    return False


async def authorize(request: Request, role: Role) -> User:
    """The caller when they may act with ``role``; else Unauthenticated or Forbidden."""
    user = await current_user(request)
    hub = _hub(request)
    if _anonymous_allowed(hub, role):
        return user or ANONYMOUS
    if user is None:
        raise Unauthenticated("Full authentication is required to access this resource")
    if not user.has(role):
        raise Forbidden(
            f"Insufficient permissions: user '{user.username}' needs the {role.name} role"
        )
    return user


def requires(role: Role) -> Callable[[Request], Awaitable[User]]:
    """A FastAPI dependency admitting callers with ``role``."""

    async def dependency(request: Request) -> User:
        return await authorize(request, role)

    dependency.__name__ = f"requires_{role.value}"
    return dependency


def challenge_headers(request: Request, error: HubError) -> dict[str, str]:
    """The headers an access error carries: the Basic challenge, Retry-After, cause-message."""
    headers = {"cause-message": _latin1(f"{type(error).__name__} : {error.user_message}")}
    if isinstance(error, Unauthenticated):
        realm = _hub(request).settings.auth.realm.replace('"', "")
        headers["WWW-Authenticate"] = f'Basic realm="{realm}"'
        if isinstance(error, InvalidToken):  # RFC 6750: tell the client its token is bad
            why = _latin1(error.user_message).replace('"', "'").replace("\\", "/")
            headers["WWW-Authenticate"] = (
                f'Bearer realm="{realm}", error="invalid_token", error_description="{why}"'
            )
    if isinstance(error, TooManyRequests):
        headers["Retry-After"] = str(error.retry_after)
    return headers


def _latin1(text: str) -> str:
    return text.encode("latin-1", "replace").decode("latin-1")


_TITLES = {401: "Unauthorized", 403: "Forbidden", 429: "Too Many Requests"}


def html_error(status: int, error: HubError, headers: dict[str, str]) -> Response:
    """The servlet container's HTML error page DHuS clients see on 401/403/429."""
    title = f"HTTP Status {status} – {_TITLES.get(status, 'Error')}"
    body = (
        f'<!doctype html><html lang="en"><head><title>{title}</title></head><body>'
        f'<h1>{title}</h1><hr class="line" /><p><b>Type</b> Status Report</p>'
        f"<p><b>Message</b> {html.escape(error.user_message)}</p>"
        '<hr class="line" /></body></html>'
    )
    return Response(
        body,
        status_code=status,
        media_type="text/html;charset=utf-8",
        headers={**headers, "Cache-Control": "no-cache, no-store, max-age=0, must-revalidate"},
    )


def is_access_error(error: HubError) -> bool:
    """Whether ``error`` is about credentials, roles, quotas or throttling."""
    return isinstance(error, Unauthenticated | Forbidden | TooManyRequests)
