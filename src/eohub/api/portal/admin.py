"""User administration for USER_MANAGERs: list, roles, lock/unlock, quotas, confirm, delete.

Managers cannot lock or delete their own account nor take their own USER_MANAGER role, so a
hub always keeps someone able to manage it from here.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from eohub.api.portal.pages import render
from eohub.api.portal.session import CSRF_FIELD, check_csrf, hub_of, require_user
from eohub.auth.rules import USAGE_DOMAINS, text_problem
from eohub.errors import NotFound
from eohub.model.user import USERNAME, Quota, Role, User

router = APIRouter(include_in_schema=False)

Csrf = Annotated[str, Form(alias=CSRF_FIELD, max_length=200)]
Number = Annotated[str, Form(max_length=40)]
LIST_LIMIT = 500
MAX_LIMIT = 10**18
QUOTA_FIELDS = {
    "max_concurrent": ("Downloads at once", 1),
    "max_count": ("Downloads per period", 1),
    "max_volume": ("Bytes per period", 1),
    "max_size": ("Largest download (bytes)", 1),
    "max_bandwidth": ("Bandwidth (bytes/s)", 1024),
    "period_s": ("Period (seconds)", 1),
}
"""Quota field -> (label, smallest value)."""
DONE = {
    "roles": "Roles saved.",
    "locked": "Account locked: its sessions have ended.",
    "unlocked": "Account unlocked.",
    "quota": "Download limits saved.",
    "confirmed": "Account confirmed.",
    "deleted": "Account deleted.",
}


def _manager(request: Request) -> User:
    return require_user(request, Role.USER_MANAGER)


def _state(user: User) -> str:
    return "unconfirmed" if user.pending else "locked" if user.locked else "active"


def _target(request: Request, name: str) -> User:
    if not USERNAME.match(name):
        raise NotFound(f"User '{name[:64]}' not found")
    return hub_of(request).accounts.user(name)


def _missing(request: Request, exc: NotFound) -> Response:
    return render(
        request,
        "message.html",
        status=404,
        heading="No such user",
        text=exc.user_message,
        link="/admin/users",
        link_text="All users",
    )


def _back(name: str, done: str) -> Response:
    return RedirectResponse(f"/admin/users/{quote(name, safe='')}?done={done}", status_code=303)


@router.get("/admin/users")
def users(request: Request, q: str = "", done: str = "") -> Response:
    """Every account (or those whose name or e-mail contains ``q``)."""
    _manager(request)
    needle = q.strip()[:200].casefold()
    found = [
        u
        for u in hub_of(request).accounts.users()
        if not needle or needle in u.username.casefold() or needle in (u.email or "").casefold()
    ]
    return render(
        request,
        "admin_users.html",
        users=found[:LIST_LIMIT],
        total=len(found),
        q=q[:200],
        state=_state,
        message=DONE.get(done),
    )


def _page(
    request: Request,
    user: User,
    *,
    errors: dict[str, str] | None = None,
    quota_values: dict[str, str] | None = None,
    status: int = 200,
    message: str | None = None,
) -> Response:
    if quota_values is None:
        own = user.quota.__dict__ if user.quota else {}
        quota_values = {k: "" if own.get(k) is None else str(own[k]) for k in QUOTA_FIELDS}
    defaults = hub_of(request).downloads.defaults
    return render(
        request,
        "admin_user.html",
        status=status,
        target=user,
        state=_state(user),
        roles=list(Role),
        errors=errors or {},
        quota_values=quota_values,
        quota_fields=QUOTA_FIELDS,
        defaults=defaults,
        domains=USAGE_DOMAINS,
        message=message,
        error=next(iter((errors or {}).values()), None),
    )


@router.get("/admin/users/{name}")
def user_page(request: Request, name: str, done: str = "") -> Response:
    """One account with the forms that change it."""
    _manager(request)
    try:
        return _page(request, _target(request, name), message=DONE.get(done))
    except NotFound as exc:
        return _missing(request, exc)


@router.post("/admin/users/{name}/roles")
def set_roles(
    request: Request,
    name: str,
    csrf: Csrf = "",
    role: Annotated[list[str] | None, Form(max_length=40)] = None,
) -> Response:
    """Replace the roles with the ticked ones."""
    check_csrf(request, csrf)
    me = _manager(request)
    try:
        user = _target(request, name)
    except NotFound as exc:
        return _missing(request, exc)
    try:
        chosen = frozenset(Role.parse(r) for r in role or [])
    except ValueError as exc:
        return _page(request, user, errors={"roles": str(exc)}, status=400)
    if _same(me, user) and Role.USER_MANAGER not in chosen:
        problem = "You cannot take your own user_manager role: ask another user manager"
        return _page(request, user, errors={"roles": problem}, status=400)
    hub_of(request).accounts.set_roles(user.username, chosen)
    return _back(user.username, "roles")


@router.post("/admin/users/{name}/lock")
def lock(
    request: Request,
    name: str,
    csrf: Csrf = "",
    reason: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """Lock the account (its sessions end at once)."""
    check_csrf(request, csrf)
    me = _manager(request)
    try:
        user = _target(request, name)
    except NotFound as exc:
        return _missing(request, exc)
    reason = reason.strip()
    problem = text_problem(reason, required=False, limit=200)
    if _same(me, user):
        problem = "You cannot lock your own account"
    if problem:
        return _page(request, user, errors={"reason": problem}, status=400)
    hub_of(request).accounts.lock(user.username, reason or None)
    return _back(user.username, "locked")


@router.post("/admin/users/{name}/unlock")
def unlock(request: Request, name: str, csrf: Csrf = "") -> Response:
    """Unlock the account (and forget its failed logins)."""
    return _act(request, name, csrf, "unlocked")


@router.post("/admin/users/{name}/confirm")
def confirm(request: Request, name: str, csrf: Csrf = "") -> Response:
    """Confirm a signed-up account without its mailed link."""
    return _act(request, name, csrf, "confirmed")


def _act(request: Request, name: str, csrf: str, done: str) -> Response:
    check_csrf(request, csrf)
    _manager(request)
    accounts = hub_of(request).accounts
    try:
        user = _target(request, name)
        (accounts.unlock if done == "unlocked" else accounts.confirm)(user.username)
    except NotFound as exc:
        return _missing(request, exc)
    return _back(user.username, done)


@router.post("/admin/users/{name}/quota")
def set_quota(
    request: Request,
    name: str,
    csrf: Csrf = "",
    max_concurrent: Number = "",
    max_count: Number = "",
    max_volume: Number = "",
    max_size: Number = "",
    max_bandwidth: Number = "",
    period_s: Number = "",
) -> Response:
    """Set the account's own limits; empty fields keep the hub's defaults."""
    check_csrf(request, csrf)
    _manager(request)
    try:
        user = _target(request, name)
    except NotFound as exc:
        return _missing(request, exc)
    values = {
        "max_concurrent": max_concurrent,
        "max_count": max_count,
        "max_volume": max_volume,
        "max_size": max_size,
        "max_bandwidth": max_bandwidth,
        "period_s": period_s,
    }
    values = {k: v.strip() for k, v in values.items()}
    limits, errors = _limits(values)
    if errors:
        return _page(request, user, errors=errors, quota_values=values, status=400)
    quota = None
    if any(v is not None for v in limits.values()):
        period = limits.pop("period_s") or hub_of(request).downloads.defaults.period_s
        quota = Quota(**limits, period_s=period)
    hub_of(request).accounts.set_quota(user.username, quota)
    return _back(user.username, "quota")


def _limits(values: dict[str, str]) -> tuple[dict[str, int | None], dict[str, str]]:
    limits: dict[str, int | None] = {}
    errors = {}
    for field, (label, smallest) in QUOTA_FIELDS.items():
        text = values[field].replace("_", "").replace(",", "")
        if not text:
            limits[field] = None
        elif text.isascii() and text.isdigit() and smallest <= int(text) <= MAX_LIMIT:
            limits[field] = int(text)
        else:
            errors[field] = f"{label}: a whole number from {smallest:,}, or empty for the default"
    return limits, errors


@router.get("/admin/users/{name}/delete")
def delete_page(request: Request, name: str) -> Response:
    """Ask for confirmation before deleting an account."""
    _manager(request)
    try:
        user = _target(request, name)
    except NotFound as exc:
        return _missing(request, exc)
    return render(request, "admin_delete.html", target=user)


@router.post("/admin/users/{name}/delete")
def delete(request: Request, name: str, csrf: Csrf = "") -> Response:
    """Delete the account and everything of it (sessions, cart, saved searches)."""
    check_csrf(request, csrf)
    me = _manager(request)
    try:
        user = _target(request, name)
        if _same(me, user):
            return _page(
                request, user, errors={"delete": "You cannot delete your own account"}, status=400
            )
        hub_of(request).accounts.remove(user.username)
    except NotFound as exc:
        return _missing(request, exc)
    return RedirectResponse("/admin/users?done=deleted", status_code=303)


def _same(a: User, b: User) -> bool:
    return a.username.casefold() == b.username.casefold()
