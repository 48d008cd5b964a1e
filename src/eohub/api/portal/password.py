"""Forgotten passwords: ask for a reset link by mail, then choose a new password with it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Form, Request
from fastapi.responses import RedirectResponse, Response

from eohub.api.portal.pages import render
from eohub.api.portal.registrations import mail_quietly, registrations, site_url
from eohub.api.portal.session import CSRF_FIELD, check_csrf, hub_of, log_out
from eohub.auth.rules import MAX_EMAIL, FormRejected
from eohub.auth.signup import InvalidLink

router = APIRouter(include_in_schema=False)

Csrf = Annotated[str, Form(alias=CSRF_FIELD, max_length=200)]
Text = Annotated[str, Form(max_length=2000)]
Secret = Annotated[str, Form(max_length=4096)]


@router.get("/password/forgot")
def forgot_page(request: Request) -> Response:
    """The form asking for a reset link."""
    return render(request, "password_forgot.html", values={}, errors={})


@router.post("/password/forgot")
def forgot(
    request: Request, background: BackgroundTasks, csrf: Csrf = "", login: Text = ""
) -> Response:
    """Mail a reset link to the matching account, if any; the answer is the same either way
    and comes before the mail is sent, so it reveals nothing about which accounts exist."""
    check_csrf(request, csrf)
    login = login.strip()
    if not login or len(login) > MAX_EMAIL:
        return render(
            request,
            "password_forgot.html",
            status=400,
            values={"login": login[:MAX_EMAIL]},
            errors={
                "login": f"Enter your username or e-mail address (at most {MAX_EMAIL} characters)"
            },
        )
    service = registrations(request)
    background.add_task(
        mail_quietly,
        "mailing a password reset link",
        service.request_reset,
        login,
        site_url(request),
    )
    hours = hub_of(request).settings.portal.link_hours
    return render(
        request,
        "message.html",
        heading="Check your mail",
        text="If an account matches, we sent a link to its e-mail address to choose a new "
        f"password. The link works once, within {hours} hours.",
        link="/login",
        link_text="Back to log in",
    )


@router.get("/password/reset/{token}")
def reset_page(request: Request, token: str) -> Response:
    """The new-password form (the link is used only when the form is sent)."""
    return render(request, "password_reset.html", token=token[:200], errors={})


@router.post("/password/reset/{token}")
def reset(
    request: Request, token: str, csrf: Csrf = "", password: Secret = "", repeat: Secret = ""
) -> Response:
    """Set the new password (every session of the account ends); an unusable link or a weak
    password changes nothing."""
    check_csrf(request, csrf)
    try:
        registrations(request).reset_password(token, password, repeat)
    except FormRejected as exc:
        return render(
            request,
            "password_reset.html",
            status=400,
            token=exc.token or token[:200],
            errors=exc.errors,
        )
    except InvalidLink as exc:
        return render(
            request,
            "message.html",
            status=400,
            heading="Link not valid",
            text=exc.user_message,
            link="/password/forgot",
            link_text="Ask for a new link",
        )
    response = RedirectResponse("/password/changed", status_code=303)
    log_out(request, response)  # this browser's session ended with the others
    return response


@router.get("/password/changed")
def changed(request: Request) -> Response:
    """Where a reset ends."""
    return render(
        request,
        "message.html",
        heading="Password changed",
        text="Your password is changed and every session of your account has ended: "
        "log in with the new password.",
        link="/login",
        link_text="Log in",
    )
