"""Log in and log out (the same accounts and throttling as the APIs' HTTP Basic)."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from eohub.api.portal.pages import render
from eohub.api.portal.session import CSRF_FIELD, check_csrf, hub_of, log_in, log_out
from eohub.errors import Forbidden, TooManyRequests, Unauthenticated

router = APIRouter(include_in_schema=False)


def safe_next(target: str | None) -> str:
    """A redirect target on this site only (no open redirects)."""
    if not target:
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target


@router.get("/login")
def login_page(request: Request, next: str = "/") -> Response:
    """The login form."""
    return render(request, "login.html", next_url=safe_next(next))


@router.post("/login")
async def login(
    request: Request,
    username: Annotated[str, Form(max_length=200)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/",
    csrf: Annotated[str, Form(alias=CSRF_FIELD, max_length=200)] = "",
) -> Response:
    """Check the credentials; a new session on success, the form with the reason otherwise."""
    check_csrf(request, csrf)
    target = safe_next(next)
    try:
        user = await run_in_threadpool(hub_of(request).accounts.authenticate, username, password)
    except (Unauthenticated, Forbidden) as exc:
        status = 401 if isinstance(exc, Unauthenticated) else 403
        return render(request, "login.html", status=status, error=exc.user_message,
                      username=username, next_url=target)  # fmt: skip
    except TooManyRequests as exc:
        page = render(request, "login.html", status=429, error=exc.user_message,
                      username=username, next_url=target)  # fmt: skip
        page.headers["Retry-After"] = str(exc.retry_after)
        return page
    response = RedirectResponse(target, status_code=303)
    await run_in_threadpool(log_in, request, response, user)
    return response


@router.post("/logout")
async def logout(
    request: Request, csrf: Annotated[str, Form(alias=CSRF_FIELD, max_length=200)] = ""
) -> Response:
    """End the session."""
    check_csrf(request, csrf)
    response = RedirectResponse("/", status_code=303)
    await run_in_threadpool(log_out, request, response)
    return response
