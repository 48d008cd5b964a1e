"""The mirroring administration page for SYSTEM_MANAGERs and DATA_MANAGERs: the synchronisers
with their sources and figures, pause / resume / run now / edit / remove (the last two in
:mod:`eohub.api.portal.mirroring_edit`), a form to add one, and the eviction
policies with a preview of what each would evict now (changing nothing)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from eohub.api.portal.figures import FIGURES
from eohub.api.portal.mirroring_form import LANGUAGES, MODES, read_form
from eohub.api.portal.pages import render
from eohub.api.portal.session import CSRF_FIELD, PageForbidden, check_csrf, hub_of, require_user
from eohub.api.portal.source_logins import masked
from eohub.api.sync_state import sync_service
from eohub.errors import Conflict, NotFound
from eohub.model.user import Role, User
from eohub.sync.evict import Evictor
from eohub.sync.model import SourceState, Synchroniser, SyncStatus
from eohub.sync.schedule import describe_schedule, planned_run

router = APIRouter(include_in_schema=False)

Csrf = Annotated[str, Form(alias=CSRF_FIELD, max_length=200)]
Text = Annotated[str, Form(max_length=4000)]
PAGE = "/admin/mirroring"
PREVIEW_LIMIT = 200
"""Products a preview lists (the count covers them all)."""
DONE = {
    "added": "Synchroniser added: it runs from its source's first product.",
    "paused": "Synchroniser paused: a run in progress stops after its current page.",
    "resumed": "Synchroniser resumed: it goes on from where it stopped.",
    "run": "The synchroniser runs within a few seconds.",
    "edited": "Synchroniser changed: the changes apply from its next run.",
    "removed": "Synchroniser removed: the products it synchronised stay in this hub.",
}


def _manager(request: Request) -> User:
    user = require_user(request)
    if not (user.has(Role.SYSTEM_MANAGER) or user.has(Role.DATA_MANAGER)):
        raise PageForbidden("This page needs the SYSTEM_MANAGER or the DATA_MANAGER role")
    return user


@dataclass(frozen=True)
class SourceRow:
    """One source of a synchroniser as the page lists it, in ranking order."""

    rank: int
    state: SourceState
    current: bool


def _sources(sync: Synchroniser) -> list[SourceRow]:
    current = sync.source or sync.definition.url
    return [SourceRow(rank, sync.source_state(url), url == current)
            for rank, url in enumerate(sync.ranked_sources(), start=1)]  # fmt: skip


def _evictor(request: Request) -> Evictor | None:
    return hub_of(request).evictor


def _page(
    request: Request,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    status: int = 200,
    message: str | None = None,
) -> Response:
    evictor = _evictor(request)
    return render(
        request,
        "admin_mirroring.html",
        status=status,
        syncs=sync_service(request.app).list_all(),
        sources=_sources,
        Status=SyncStatus,
        policies=evictor.policies() if evictor is not None else [],
        policy_runs=evictor.planned_runs() if evictor is not None else {},
        planned=planned_run,
        schedule_text=describe_schedule,
        errors=errors or {},
        values=values or {"filter_language": "odata", "mode": "metadata"},
        languages=LANGUAGES,
        modes=MODES,
        policy_link=policy_link,
        message=message,  # errors are listed above the form (its summary), not twice
        **FIGURES,
    )


@router.get(PAGE)
def mirroring(request: Request, done: str = "") -> Response:
    """The synchronisers, the form to add one and the eviction policies."""
    _manager(request)
    return _page(request, message=DONE.get(done))


@router.post(f"{PAGE}/add")
def add(
    request: Request,
    csrf: Csrf = "",
    label: Text = "",
    sources: Text = "",
    username: Text = "",
    password: Text = "",
    token: Text = "",
    token_url: Text = "",
    source_logins: Text = "",
    logins_field: Text = "",
    filter: Text = "",
    filter_language: Text = "",
    area: Text = "",
    mode: Text = "",
    schedule: Text = "",
) -> Response:
    """Check and store a new synchroniser; the form again with its errors otherwise."""
    check_csrf(request, csrf)
    _manager(request)
    values = {"label": label, "sources": sources, "username": username, "password": password,
              "token": token, "token_url": token_url, "filter": filter,
              "filter_language": filter_language,
              "area": area, "mode": mode, "schedule": schedule}  # fmt: skip
    if logins_field:  # the form has the field (empty: no source has a login of its own)
        values["source_logins"] = source_logins
    definition, errors = read_form(values)
    if definition is not None:
        try:
            sync_service(request.app).add(definition)
        except Conflict as exc:
            errors = {"label": exc.user_message}
    if errors:
        shown = {k: v for k, v in values.items() if k not in ("password", "token")}
        shown["source_logins"] = masked(source_logins)
        return _page(request, errors=errors, values=shown, status=400)
    return RedirectResponse(f"{PAGE}?done=added", status_code=303)


def _act(request: Request, key: str, csrf: str, done: str) -> Response:
    check_csrf(request, csrf)
    _manager(request)
    service = sync_service(request.app)
    try:
        if not key.isdigit() or len(key) > 18:
            raise NotFound(f"Synchroniser '{key[:40]}' not found")
        sync = service.get(int(key))
        if done == "paused":
            service.pause(sync.id)
        elif done == "resumed":
            service.resume(sync.id)
        else:  # the server's scheduler picks it up at its next look (a few seconds)
            service.store.set_next_run(sync.id, datetime.now(UTC))
    except NotFound as exc:
        return render(request, "message.html", status=404, heading="No such synchroniser",
                      text=exc.user_message, link=PAGE, link_text="Mirroring")  # fmt: skip
    return RedirectResponse(f"{PAGE}?done={done}", status_code=303)


@router.post(PAGE + "/{key}/pause")
def pause(request: Request, key: str, csrf: Csrf = "") -> Response:
    """Pause a synchroniser."""
    return _act(request, key, csrf, "paused")


@router.post(PAGE + "/{key}/resume")
def resume(request: Request, key: str, csrf: Csrf = "") -> Response:
    """Resume a paused synchroniser."""
    return _act(request, key, csrf, "resumed")


@router.post(PAGE + "/{key}/run")
def run_now(request: Request, key: str, csrf: Csrf = "") -> Response:
    """Bring a scheduled synchroniser's next run forward to now."""
    return _act(request, key, csrf, "run")


@router.get(PAGE + "/evictions/{name:path}")  # a policy name may hold a slash
def eviction_preview(request: Request, name: str) -> Response:
    """What the policy would evict now and why (a dry run: nothing changes)."""
    _manager(request)
    evictor = _evictor(request)
    try:
        if evictor is None:
            raise NotFound("This hub keeps no eviction policies")
        policy = evictor.get(name[:200])
    except NotFound as exc:
        return render(request, "message.html", status=404, heading="No such eviction policy",
                      text=exc.user_message, link=PAGE, link_text="Mirroring")  # fmt: skip
    planned = evictor.plan(policy)
    freed = sum(e.product.size for e in planned)
    return render(request, "admin_eviction_preview.html", policy=policy,
                  planned=planned[:PREVIEW_LIMIT], total=len(planned), freed=freed,
                  **FIGURES)  # fmt: skip


def policy_link(name: str) -> str:
    """The preview page of a policy."""
    return f"{PAGE}/evictions/{quote(name, safe='')}"
