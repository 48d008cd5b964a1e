"""Requests that change a user's workspace: posted fields (HTML form or JSON), the logged-in
owner with a valid CSRF token, and the answer in the caller's terms (JSON for scripts that
fetch, a redirect for plain forms)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import quote, urlsplit

import orjson
from fastapi import Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from eohub.api.portal.login import safe_next
from eohub.api.portal.session import CSRF_FIELD, check_csrf, session_user
from eohub.errors import HubError, InvalidQuery
from eohub.model.user import User

MAX_BODY = 100_000
"""Largest posted body (a saved search with a drawn area fits easily)."""


class BodyTooLarge(InvalidQuery):
    """A posted body larger than :data:`MAX_BODY`."""


def wants_json(request: Request) -> bool:
    """True for callers that fetch (JSON body or ``Accept: application/json``)."""
    kind = request.headers.get("content-type", "")
    return kind.startswith("application/json") or (
        "application/json" in request.headers.get("accept", "")
    )


async def fields(request: Request) -> dict[str, str]:
    """The posted fields as text, from a JSON object or a form."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        raise BodyTooLarge(f"The request is too large (at most {MAX_BODY:,} bytes)")
    if request.headers.get("content-type", "").startswith("application/json"):
        body = await request.body()
        if len(body) > MAX_BODY:
            raise BodyTooLarge(f"The request is too large (at most {MAX_BODY:,} bytes)")
        try:
            data: Any = orjson.loads(body) if body else {}
        except orjson.JSONDecodeError:
            raise InvalidQuery("The request body is not JSON") from None
        if not isinstance(data, dict):
            raise InvalidQuery("The request body must be a JSON object")
        return {str(k): _text(v) for k, v in data.items()}
    form = await request.form(max_files=0, max_fields=50)
    return {k: v for k, v in form.items() if isinstance(v, str)}


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


async def owner(request: Request, posted: dict[str, str]) -> User | None:
    """The logged-in user once the CSRF token (field or header) is checked; None when nobody
    is logged in. CsrfRejected (403 page) when the token is missing or wrong."""
    user = await run_in_threadpool(session_user, request)
    if user is None:
        return None
    check_csrf(request, posted.get(CSRF_FIELD))
    return user


async def begin(
    request: Request, back_to: str, failed: Callable[[HubError], Response]
) -> tuple[dict[str, str], User] | Response:
    """The posted fields and their owner (CSRF checked), or the answer to give instead:
    ``failed(error)`` for an unreadable body, the login answer when nobody is logged in."""
    try:
        posted = await fields(request)
    except HubError as exc:
        return failed(exc)
    user = await owner(request, posted)
    if user is None:
        return login_answer(request, back_to)
    return posted, user


def login_answer(request: Request, back_to: str) -> Response:
    """What a logged-out caller gets: 401 JSON for scripts, the login page for forms."""
    if wants_json(request):
        body = {"error": {"code": "login_required", "message": "Please log in",
                          "login": f"/login?next={quote(back_to, safe='/')}"}}  # fmt: skip
        return JSONResponse(body, status_code=401)
    return RedirectResponse(f"/login?next={quote(back_to, safe='/')}", status_code=303)


def back(request: Request, posted: dict[str, str], default: str) -> str:
    """Where a plain form returns to: its ``next`` field, else the page it was on (this site
    only), else ``default``."""
    if posted.get("next"):
        return safe_next(posted["next"])
    referer = urlsplit(request.headers.get("referer", ""))
    if referer.netloc and referer.netloc == request.url.netloc and referer.path:
        return safe_next(referer.path + (f"?{referer.query}" if referer.query else ""))
    return default
