"""Saved searches: save, rename, re-run, delete, and the opt-in mail about new matches."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from eohub.api.errors import plain_error, status_of
from eohub.api.portal.pages import render
from eohub.api.portal.posted import begin, wants_json
from eohub.api.portal.session import hub_of, require_user
from eohub.api.portal.wording import describe
from eohub.errors import HubError, InvalidQuery, NotFound
from eohub.model.user import User
from eohub.protocols import plain
from eohub.workspace import SavedSearch
from eohub.workspace.params import split_params
from eohub.workspace.service import MAX_NAME

router = APIRouter(include_in_schema=False)

DONE = {
    "saved": "Search saved.",
    "renamed": "Search renamed.",
    "deleted": "Search deleted.",
    "notify-on": "You will get an e-mail when new products match this search.",
    "notify-off": "E-mails for this search are turned off.",
}
"""Messages shown after a form, chosen by a fixed key (no text travels in the URL)."""


@dataclass(frozen=True)
class Row:
    """One saved search on the page."""

    id: int
    name: str
    params: str
    words: str
    notify: bool
    created: str
    last_notified: str | None

    @property
    def rerun(self) -> str:
        """The search page with this search's parameters."""
        return f"/?{self.params}" if self.params else "/"


def in_words(params: str) -> str:
    """What a saved search looks for, in the words of the search page."""
    try:
        return describe(plain.parse(split_params(params)))
    except HubError:
        return "This search can no longer be run (its parameters are not valid any more)."


def _row(search: SavedSearch) -> Row:
    last = search.last_notified
    return Row(
        search.id, search.name, search.params, in_words(search.params), search.notify,
        f"{search.created:%Y-%m-%d %H:%M} UTC", f"{last:%Y-%m-%d %H:%M} UTC" if last else None,
    )  # fmt: skip


def _page(request: Request, user: User, *, status: int = 200, **context: object) -> Response:
    searches = hub_of(request).workspace.searches(user.username)
    return render(request, "searches.html", status=status, rows=[_row(s) for s in searches],
                  has_email=bool(user.email), max_name=MAX_NAME, **context)  # fmt: skip


@router.get("/searches")
def searches_page(request: Request, done: str = "") -> Response:
    """The user's saved searches."""
    user = require_user(request)
    return _page(request, user, message=DONE.get(done))


def _search_id(text: str) -> int:
    if not text.isdigit() or len(text) > 18:
        raise NotFound(f"Saved search {text[:40]!r} not found")
    return int(text)


async def _failure(request: Request, user: User | None, error: HubError,
                   posted: dict[str, str]) -> Response:  # fmt: skip
    if wants_json(request) or user is None:
        return plain_error(error)
    return await run_in_threadpool(
        lambda: _page(request, user, status=status_of(error), error=error.user_message,
                      form_name=posted.get("name", ""), form_params=posted.get("params", ""))
    )  # fmt: skip


def _done(request: Request, done: str, body: dict[str, object], status: int = 200) -> Response:
    if wants_json(request):
        return JSONResponse(body, status_code=status)
    return RedirectResponse(f"/searches?done={done}", status_code=303)


async def _begin(request: Request) -> tuple[dict[str, str], User] | Response:
    return await begin(request, "/searches", plain_error)


@router.post("/searches")
async def save(request: Request) -> Response:
    """Save a search: fields ``name`` and ``params`` (the plain API query string)."""
    begun = await _begin(request)
    if isinstance(begun, Response):
        return begun
    posted, user = begun
    workspace = hub_of(request).workspace
    try:
        saved = await run_in_threadpool(
            workspace.save_search, user.username, posted.get("name", ""), posted.get("params", "")
        )
    except HubError as exc:
        return await _failure(request, user, exc, posted)
    body = {"id": saved.id, "name": saved.name, "params": saved.params, "url": "/searches"}
    return _done(request, "saved", body, status=201)


@router.post("/searches/{search_id}/rename")
async def rename(request: Request, search_id: str) -> Response:
    """Give a saved search a new name (field ``name``)."""
    begun = await _begin(request)
    if isinstance(begun, Response):
        return begun
    posted, user = begun
    workspace = hub_of(request).workspace
    try:
        sid = _search_id(search_id)
        saved = await run_in_threadpool(
            workspace.rename_search, user.username, sid, posted.get("name", "")
        )
    except HubError as exc:
        return await _failure(request, user, exc, {})
    return _done(request, "renamed", {"id": saved.id, "name": saved.name})


@router.post("/searches/{search_id}/delete")
async def delete(request: Request, search_id: str) -> Response:
    """Delete a saved search."""
    begun = await _begin(request)
    if isinstance(begun, Response):
        return begun
    _, user = begun
    workspace = hub_of(request).workspace
    try:
        sid = _search_id(search_id)
        await run_in_threadpool(workspace.delete_search, user.username, sid)
    except HubError as exc:
        return await _failure(request, user, exc, {})
    return _done(request, "deleted", {"deleted": sid})


def _notify_value(text: str, current: bool) -> bool:
    value = text.strip().lower()
    if value in ("on", "true", "1", "yes"):
        return True
    if value in ("off", "false", "0", "no"):
        return False
    if value:
        raise InvalidQuery("notify must be 'on' or 'off'", field="notify")
    return not current


@router.post("/searches/{search_id}/notify")
async def notify(request: Request, search_id: str) -> Response:
    """Turn the mail about new matches on or off (field ``notify``: on | off; none: toggle)."""
    begun = await _begin(request)
    if isinstance(begun, Response):
        return begun
    posted, user = begun
    workspace = hub_of(request).workspace

    def change() -> SavedSearch:
        sid = _search_id(search_id)
        current = workspace.search(user.username, sid).notify
        wanted = _notify_value(posted.get("notify", ""), current)
        return workspace.set_notify(user.username, sid, wanted)

    try:
        saved = await run_in_threadpool(change)
    except HubError as exc:
        return await _failure(request, user, exc, {})
    done = "notify-on" if saved.notify else "notify-off"
    return _done(request, done, {"id": saved.id, "notify": saved.notify})
