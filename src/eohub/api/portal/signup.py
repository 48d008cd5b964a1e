"""Sign-up: the form, the mailed confirmation link and sending that link again."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Form, Request
from fastapi.responses import Response

from eohub.api.portal.pages import render
from eohub.api.portal.registrations import mail_quietly, purge_if_due, registrations, site_url
from eohub.api.portal.session import CSRF_FIELD, check_csrf, hub_of
from eohub.auth.countries import COUNTRIES
from eohub.auth.rules import USAGE_DOMAINS, FormRejected, SignUpForm, email_problem
from eohub.auth.signup import InvalidLink
from eohub.mail.errors import MailError

router = APIRouter(include_in_schema=False)

Csrf = Annotated[str, Form(alias=CSRF_FIELD, max_length=200)]
Text = Annotated[str, Form(max_length=2000)]
Secret = Annotated[str, Form(max_length=4096)]


def _closed(request: Request) -> Response | None:
    if hub_of(request).settings.portal.signup:
        return None
    return render(
        request,
        "message.html",
        status=404,
        heading="Sign-up is closed",
        text="This hub does not accept new accounts: ask its operators for one.",
    )


def _form(
    request: Request,
    values: dict[str, str],
    errors: dict[str, str],
    status: int,
    error: str | None = None,
) -> Response:
    return render(
        request,
        "signup.html",
        status=status,
        values=values,
        errors=errors,
        error=error,
        countries=[(c, c) for c in COUNTRIES],
        domains=list(USAGE_DOMAINS.items()),
    )


@router.get("/signup")
def signup_page(request: Request) -> Response:
    """The sign-up form."""
    return _closed(request) or _form(request, {}, {}, 200)


@router.post("/signup")
def signup(
    request: Request,
    csrf: Csrf = "",
    username: Text = "",
    email: Text = "",
    password: Secret = "",
    repeat: Secret = "",
    firstname: Text = "",
    lastname: Text = "",
    country: Text = "",
    domain: Text = "",
) -> Response:
    """Create a pending account and mail its confirmation link; the form with what is wrong
    otherwise."""
    check_csrf(request, csrf)
    closed = _closed(request)
    if closed:
        return closed
    purge_if_due(request)
    form = SignUpForm(username, email, password, repeat, firstname, lastname, country, domain)
    values: dict[str, Any] = {**form.cleaned().__dict__, "password": "", "repeat": ""}
    try:
        user = registrations(request).sign_up(form, site_url(request))
    except FormRejected as exc:
        return _form(request, values, exc.errors, 400)
    except MailError:
        return _form(
            request,
            values,
            {},
            503,
            error="The confirmation mail could not be sent, so no account was created: "
            "please try again later.",
        )
    hours = hub_of(request).settings.portal.link_hours
    return render(
        request,
        "message.html",
        heading="Check your mail",
        text=f"We sent a confirmation link to {user.email}. Open it within {hours} "
        f"hours to activate the account '{user.username}', then log in.",
    )


@router.get("/signup/confirm/{token}")
def confirm(request: Request, token: str) -> Response:
    """Confirm an account with the link mailed to it (each link works once)."""
    try:
        username = registrations(request).confirm(token)
    except InvalidLink as exc:
        return render(
            request,
            "message.html",
            status=400,
            heading="Link not valid",
            text=f"{exc.user_message}. If your account is not confirmed yet, ask for a new link.",
            link="/signup/resend",
            link_text="Send a new confirmation link",
        )
    return render(
        request,
        "message.html",
        heading="Account confirmed",
        text=f"Your account '{username}' is confirmed: you can log in now.",
        link="/login",
        link_text="Log in",
    )


@router.get("/signup/resend")
def resend_page(request: Request) -> Response:
    """The form asking for a new confirmation link."""
    return render(request, "signup_resend.html", values={}, errors={})


@router.post("/signup/resend")
def resend(
    request: Request, background: BackgroundTasks, csrf: Csrf = "", email: Text = ""
) -> Response:
    """Mail a new confirmation link (after answering, and saying the same either way)."""
    check_csrf(request, csrf)
    email = email.strip()
    problem = email_problem(email)
    if problem:
        return render(
            request,
            "signup_resend.html",
            status=400,
            values={"email": email},
            errors={"email": problem},
        )
    background.add_task(
        mail_quietly,
        "resending a confirmation link",
        registrations(request).resend_confirmation,
        email,
        site_url(request),
    )
    return render(
        request,
        "message.html",
        heading="Check your mail",
        text="If an unconfirmed account uses this address, a new confirmation link "
        "is on its way to it.",
        link="/login",
        link_text="Log in",
    )
