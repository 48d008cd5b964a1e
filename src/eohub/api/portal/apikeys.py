"""The logged-in user's personal API keys: list, create (the key is shown once), revoke.

Forms and scripts that fetch both work: JSON callers get JSON answers (see ``posted``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from eohub.api.errors import plain_error, status_of
from eohub.api.portal.pages import render
from eohub.api.portal.posted import begin, wants_json
from eohub.api.portal.session import hub_of, require_user
from eohub.auth.apikeys import MAX_NAME
from eohub.auth.token_ports import ApiKey
from eohub.errors import HubError, InvalidQuery
from eohub.model.user import User

router = APIRouter(include_in_schema=False)

PAGE = "/account/api-keys"
MAX_DAYS = 3650


@dataclass(frozen=True)
class Row:
    """One key as the page shows it."""

    name: str
    shown: str
    created: str
    last_used: str
    expires: str


def _when(key: ApiKey) -> Row:
    def day(value: object) -> str:
        return "—" if value is None else f"{value:%Y-%m-%d %H:%M} UTC"

    return Row(key.name, key.shown, day(key.created), day(key.last_used), day(key.expires))


def _page(request: Request, user: User, *, status: int = 200, **context: object) -> Response:
    keys = hub_of(request).api_keys.list(user.username)
    return render(request, "account_api_keys.html", status=status, rows=[_when(k) for k in keys],
                  max_name=MAX_NAME, max_days=MAX_DAYS, **context)  # fmt: skip


@router.get(PAGE)
def keys_page(request: Request, done: str = "") -> Response:
    """The user's API keys."""
    user = require_user(request)
    message = "The API key is revoked." if done == "revoked" else None
    return _page(request, user, message=message)


def _lifetime(text: str) -> timedelta | None:
    text = text.strip()
    if not text:
        return None
    if not text.isdigit() or not 1 <= int(text) <= MAX_DAYS:
        raise InvalidQuery(f"Days of validity: a whole number from 1 to {MAX_DAYS}, or empty")
    return timedelta(days=int(text))


async def _failure(request: Request, user: User, error: HubError, name: str) -> Response:
    if wants_json(request):
        return plain_error(error)
    return await run_in_threadpool(
        lambda: _page(request, user, status=status_of(error), error=error.user_message,
                      form_name=name)
    )  # fmt: skip


@router.post(PAGE)
async def create(request: Request) -> Response:
    """Create a key: fields ``name`` and optional ``days`` of validity. The answer is the only
    time the key itself is shown."""
    begun = await begin(request, PAGE, plain_error)
    if isinstance(begun, Response):
        return begun
    posted, user = begun
    name = posted.get("name", "")
    try:
        lifetime = _lifetime(posted.get("days", ""))
        listed, key = await run_in_threadpool(
            lambda: hub_of(request).api_keys.create(user.username, name, lifetime=lifetime)
        )
    except ValueError as exc:
        return await _failure(request, user, InvalidQuery(f"The {exc}"), name)
    except HubError as exc:
        return await _failure(request, user, exc, name)
    if wants_json(request):
        expires = None if listed.expires is None else listed.expires.isoformat()
        body = {"name": listed.name, "key": key, "expires": expires}
        return JSONResponse(body, status_code=201, headers={"Cache-Control": "no-store"})
    return await run_in_threadpool(
        lambda: _page(request, user, status=201, new_key=key, new_name=listed.name)
    )


@router.post(PAGE + "/revoke")
async def revoke(request: Request) -> Response:
    """Revoke the key named in field ``name``: it stops working at once."""
    begun = await begin(request, PAGE, plain_error)
    if isinstance(begun, Response):
        return begun
    posted, user = begun
    name = posted.get("name", "")
    try:
        await run_in_threadpool(hub_of(request).api_keys.revoke, user.username, name)
    except HubError as exc:
        return await _failure(request, user, exc, "")
    if wants_json(request):
        return JSONResponse({"revoked": name})
    return RedirectResponse(PAGE + "?done=revoked", status_code=303)
