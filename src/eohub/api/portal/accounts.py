"""The logged-in user's own account: profile, profile editing and password change.

No route here takes a username: every page shows and changes the account of the session.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from eohub.api.portal.pages import render
from eohub.api.portal.session import CSRF_FIELD, check_csrf, hub_of, log_in, require_user
from eohub.auth.countries import COUNTRIES
from eohub.auth.ports import Profile
from eohub.auth.rules import USAGE_DOMAINS, new_password_problems, profile_problems
from eohub.errors import Conflict, TooManyRequests, Unauthenticated
from eohub.model.user import User

router = APIRouter(include_in_schema=False)

Csrf = Annotated[str, Form(alias=CSRF_FIELD, max_length=200)]
Text = Annotated[str, Form(max_length=2000)]
Secret = Annotated[str, Form(max_length=4096)]

SAVED = {
    "profile": "Your profile is saved.",
    "password": "Your password is changed; your other sessions have ended.",
}


@router.get("/account")
def account(request: Request, saved: str = "") -> Response:
    """The user's profile, roles and download limits."""
    user = require_user(request)
    hub = hub_of(request)
    return render(
        request,
        "account.html",
        account=user,
        quota=hub.downloads.quota_of(user),
        domains=USAGE_DOMAINS,
        message=SAVED.get(saved),
    )


def _profile_form(
    request: Request, values: Profile, errors: dict[str, str], status: int = 200
) -> Response:
    return render(
        request,
        "account_profile.html",
        status=status,
        values=values,
        errors=errors,
        countries=[(c, c) for c in COUNTRIES],
        domains=list(USAGE_DOMAINS.items()),
    )


@router.get("/account/profile")
def profile_page(request: Request) -> Response:
    """The profile form, filled in."""
    user = require_user(request)
    return _profile_form(request, _profile_of(user), {})


@router.post("/account/profile")
def save_profile(
    request: Request,
    csrf: Csrf = "",
    email: Text = "",
    firstname: Text = "",
    lastname: Text = "",
    country: Text = "",
    domain: Text = "",
) -> Response:
    """Save the profile; an e-mail address must not belong to another account."""
    check_csrf(request, csrf)
    user = require_user(request)
    profile = Profile(
        email=email.strip(),
        firstname=firstname.strip(),
        lastname=lastname.strip(),
        country=country.strip(),
        domain=domain.strip(),
        usage=user.usage,
    )
    errors = profile_problems(profile)
    if not errors:
        try:
            hub_of(request).accounts.store.set_profile(user.username, profile)
        except Conflict:
            errors["email"] = "Another account uses this e-mail address"
    if errors:
        return _profile_form(request, profile, errors, 400)
    return RedirectResponse("/account?saved=profile", status_code=303)


def _profile_of(user: User) -> Profile:
    return Profile(
        email=user.email,
        firstname=user.firstname,
        lastname=user.lastname,
        country=user.country,
        domain=user.domain,
        usage=user.usage,
    )


@router.get("/account/password")
def password_page(request: Request) -> Response:
    """The password change form."""
    require_user(request)
    return render(request, "account_password.html", errors={})


@router.post("/account/password")
def change_password(
    request: Request,
    csrf: Csrf = "",
    current: Secret = "",
    password: Secret = "",
    repeat: Secret = "",
) -> Response:
    """Change the password after checking the current one (as a login: failures count and
    are throttled); every session ends and this browser gets a new one."""
    check_csrf(request, csrf)
    user = require_user(request)
    accounts = hub_of(request).accounts
    errors = new_password_problems(password, repeat, user.username)
    status = 400
    try:
        accounts.authenticate(user.username, current)
    except Unauthenticated:
        errors = {"current": "The current password is wrong", **errors}
    except TooManyRequests as exc:
        errors, status = {"current": exc.user_message, **errors}, 429
    if errors:
        return render(request, "account_password.html", status=status, errors=errors)
    accounts.change_password(user.username, password)  # ends every session of the user
    response = RedirectResponse("/account?saved=password", status_code=303)
    log_in(request, response, user)
    return response
