"""Portal sessions: the login cookie, the CSRF token of every form, and the login guard.

The session cookie holds a random token (only its hash is stored), is HttpOnly and SameSite=Lax,
and is replaced on every login (no session fixation). Every form and every state-changing
fetch carries a CSRF token: the session's secret when logged in, else a random value that
must match the ``eohub_csrf`` cookie (double submit).
"""

from __future__ import annotations

import hmac
import secrets
from datetime import timedelta
from typing import Any

from fastapi import Request
from fastapi.responses import Response

from eohub.api.auth import CSRF_HEADER, SESSION_COOKIE
from eohub.errors import Forbidden, HubError
from eohub.model.user import Role, User
from eohub.wiring import Hub

CSRF_COOKIE = "eohub_csrf"
CSRF_FIELD = "csrf_token"
_USER = "eohub_portal_user"
_CSRF = "eohub_portal_csrf"


class LoginRequired(HubError):
    """A portal page that needs a logged-in user; the app answers with a redirect to login."""

    code = "login_required"

    def __init__(self, next_url: str) -> None:
        super().__init__("Please log in")
        self.next_url = next_url


class PageForbidden(Forbidden):
    """A portal page the logged-in user lacks the role for (answered with a 403 page)."""


class CsrfRejected(HubError):
    """A form or request whose CSRF token is missing or wrong."""

    code = "csrf_rejected"


def hub_of(request: Request) -> Hub:
    """The hub serving the request."""
    hub: Hub = request.app.state.hub
    return hub


def _load(request: Request) -> None:
    if _USER in request.scope:
        return
    user, csrf = None, None
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        found = hub_of(request).accounts.session_user(token)
        if found is not None:
            user, csrf = found
    request.scope[_USER] = user
    request.scope[_CSRF] = csrf


def session_user(request: Request) -> User | None:
    """The logged-in user (None when anonymous). Runs a database query the first time."""
    _load(request)
    user: User | None = request.scope[_USER]
    return user


def csrf_token(request: Request) -> str:
    """The CSRF token forms of this page must send back."""
    _load(request)
    session_csrf: str | None = request.scope[_CSRF]
    if session_csrf:
        return session_csrf
    anonymous = request.cookies.get(CSRF_COOKIE) or request.scope.get("eohub_new_csrf")
    if not anonymous:
        anonymous = secrets.token_urlsafe(24)
        request.scope["eohub_new_csrf"] = anonymous  # set as a cookie by ``finish``
    return str(anonymous)


def check_csrf(request: Request, submitted: str | None) -> None:
    """CsrfRejected unless ``submitted`` (form field or header) matches this browser's token."""
    _load(request)
    expected = request.scope[_CSRF] or request.cookies.get(CSRF_COOKIE)
    submitted = submitted or request.headers.get(CSRF_HEADER)
    if not expected or not submitted or not hmac.compare_digest(expected, submitted):
        raise CsrfRejected(
            "This form has expired or did not come from this site: reload the page and try again"
        )


def require_user(request: Request, role: Role | None = None) -> User:
    """The logged-in user (with ``role`` when given); LoginRequired or PageForbidden otherwise."""
    user = session_user(request)
    if user is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise LoginRequired(target)
    if role is not None and not user.has(role):
        raise PageForbidden(f"This page needs the {role.name} role")
    return user


def finish(request: Request, response: Response) -> Response:
    """Set the anonymous CSRF cookie when this response handed out a new token."""
    new = request.scope.get("eohub_new_csrf")
    if new:
        response.set_cookie(CSRF_COOKIE, new, httponly=True, samesite="lax",
                            secure=_secure(request), path="/")  # fmt: skip
    return response


def _secure(request: Request) -> bool:
    return hub_of(request).settings.portal.secure_cookies


def log_in(request: Request, response: Response, user: User) -> None:
    """Start a session for ``user`` and set its cookie (ending the browser's old session)."""
    accounts = hub_of(request).accounts
    old = request.cookies.get(SESSION_COOKIE)
    if old:
        accounts.end_session(old)
    days = hub_of(request).settings.portal.session_days
    session = accounts.start_session(user, timedelta(days=days))
    response.set_cookie(SESSION_COOKIE, session.token, max_age=days * 86_400, httponly=True,
                        samesite="lax", secure=_secure(request), path="/")  # fmt: skip


def log_out(request: Request, response: Response) -> None:
    """End the browser's session and drop its cookie."""
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        hub_of(request).accounts.end_session(token)
    response.delete_cookie(SESSION_COOKIE, path="/")


def template_globals(request: Request) -> dict[str, Any]:
    """What every page template sees."""
    settings = hub_of(request).settings
    return {
        "request": request,
        "user": session_user(request),
        "csrf_token": csrf_token(request),
        "csrf_field": CSRF_FIELD,
        "portal": settings.portal,
        "Role": Role,
    }
