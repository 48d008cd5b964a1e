"""Changing and removing a synchroniser from the mirroring page (same roles as the page).

The edit form shows the stored definition without its password or token: left blank they
are kept. A refused form is shown again with each problem on its field, and nothing stored
changes. Removing asks for a confirmation first; the products the synchroniser catalogued
stay in this hub.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from eohub.api.portal.figures import FIGURES
from eohub.api.portal.mirroring import PAGE, _manager
from eohub.api.portal.mirroring_form import (
    LANGUAGES,
    MODES,
    VERIFY_MODES,
    form_values,
    read_edit_form,
)
from eohub.api.portal.pages import render
from eohub.api.portal.session import CSRF_FIELD, check_csrf
from eohub.api.portal.source_logins import masked
from eohub.api.sync_state import sync_service
from eohub.errors import Conflict, InvalidQuery, NotFound
from eohub.sync.model import Synchroniser

router = APIRouter(include_in_schema=False)

Csrf = Annotated[str, Form(alias=CSRF_FIELD, max_length=200)]
Text = Annotated[str, Form(max_length=4000)]
_SECRET = ("password", "token")


def _find(request: Request, key: str) -> Synchroniser:
    """The synchroniser of a page's path; NotFound for anything but a stored Id."""
    if not key.isdigit() or len(key) > 18:
        raise NotFound(f"Synchroniser '{key[:40]}' not found")
    return sync_service(request.app).get(int(key))


def _missing(request: Request, exc: NotFound) -> Response:
    return render(request, "message.html", status=404, heading="No such synchroniser",
                  text=exc.user_message, link=PAGE, link_text="Mirroring")  # fmt: skip


def _edit_page(
    request: Request,
    sync: Synchroniser,
    values: dict[str, str],
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    return render(request, "admin_mirroring_edit.html", status=status, sync=sync,
                  values=values, errors=errors or {}, languages=LANGUAGES, modes=MODES,
                  verify_modes=VERIFY_MODES, **FIGURES)  # fmt: skip


@router.get(PAGE + "/{key}/edit")
def edit_page(request: Request, key: str) -> Response:
    """The edit form, filled with the stored definition (no password, no token)."""
    _manager(request)
    try:
        sync = _find(request, key)
    except NotFound as exc:
        return _missing(request, exc)
    return _edit_page(request, sync, form_values(sync.definition))


@router.post(PAGE + "/{key}/edit")
def edit(
    request: Request,
    key: str,
    csrf: Csrf = "",
    label: Text = "",
    sources: Text = "",
    username: Text = "",
    password: Text = "",
    token: Text = "",
    token_url: Text = "",
    source_logins: Text = "",
    logins_field: Text = "",
    forget_credentials: Text = "",
    filter: Text = "",
    filter_language: Text = "",
    area: Text = "",
    mode: Text = "",
    schedule: Text = "",
    streams: Text = "",
    verify: Text = "",
    source_window: Text = "",
) -> Response:
    """Store the changed definition (cursors and records stay); the form again with its
    errors otherwise, nothing changed."""
    check_csrf(request, csrf)
    _manager(request)
    service = sync_service(request.app)
    try:
        sync = _find(request, key)
    except NotFound as exc:
        return _missing(request, exc)
    values = {"label": label, "sources": sources, "username": username, "password": password,
              "token": token, "token_url": token_url,
              "forget_credentials": forget_credentials, "filter": filter,
              "filter_language": filter_language, "area": area, "mode": mode,
              "schedule": schedule, "streams": streams, "verify": verify,
              "source_window": source_window}  # fmt: skip
    if logins_field:  # the form has the field (empty: no source has a login of its own)
        values["source_logins"] = source_logins
    definition, errors = read_edit_form(sync.definition, values)
    if definition is not None:
        try:
            service.update(sync.id, definition)
        except Conflict as exc:
            errors = {"label": exc.user_message}
        except InvalidQuery as exc:  # checked by the form already: a last word of the service
            errors = {"sources": exc.user_message}
        except NotFound as exc:  # removed meanwhile
            return _missing(request, exc)
    if errors:
        shown = {k: v for k, v in values.items() if k not in _SECRET}
        shown["source_logins"] = masked(source_logins)
        return _edit_page(request, sync, shown, errors, status=400)
    return RedirectResponse(f"{PAGE}?done=edited", status_code=303)


@router.get(PAGE + "/{key}/remove")
def remove_page(request: Request, key: str) -> Response:
    """The confirmation step: what removing does and keeps."""
    _manager(request)
    try:
        sync = _find(request, key)
    except NotFound as exc:
        return _missing(request, exc)
    return render(request, "admin_mirroring_remove.html", sync=sync, **FIGURES)


@router.post(PAGE + "/{key}/remove")
def remove(request: Request, key: str, csrf: Csrf = "") -> Response:
    """Remove the synchroniser (the products it catalogued stay)."""
    check_csrf(request, csrf)
    _manager(request)
    try:
        sync_service(request.app).remove(_find(request, key).id)
    except NotFound as exc:
        return _missing(request, exc)
    return RedirectResponse(f"{PAGE}?done=removed", status_code=303)
