"""DHuS-compatible OpenSearch: ``/search`` (also under ``/dhus`` and ``/apihub``), GET and POST.

Parameters are decoded from the raw query string (UTF-8, else Latin-1, as DHuS clients send
them). Query errors answer HTTP 200 with DHuS's error feed; ``rows`` over 100 and a missing
``q`` answer 400 and an over-long query 500 with a ``cause-message`` header, as DHuS does.

Every route needs the SEARCH role (or anonymous search allowed by the settings);
:func:`clock` gives the time ``NOW`` stands for in date math.
"""

from __future__ import annotations

import html
import inspect
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from functools import cache
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from eohub.api.auth import authorize
from eohub.errors import InvalidQuery
from eohub.model.user import Role
from eohub.protocols.dhus import opensearch_atom, opensearch_json
from eohub.protocols.dhus.opensearch import (
    HUB_NAME,
    DhusHttpError,
    build_feed,
    decode_params,
    parse_request,
)
from eohub.protocols.dhus.opensearch_json import ENTRY_DOCUMENT
from eohub.query.query import Page
from eohub.wiring import Hub

PREFIXES = ("", "/dhus", "/apihub")
JSON_TYPE = "application/json"
XML_TYPE = "application/xml"


async def clock() -> datetime:
    """The current time (UTC); tests override it to pin ``NOW`` (see :func:`_resolve`)."""
    return datetime.now(UTC)


async def search_access(request: Request) -> None:
    """Access check of the search routes: the SEARCH role."""
    await authorize(request, Role.SEARCH)


def _base(request: Request, prefix: str) -> str:
    """The hub URL the links start with: the public URL when set, else the request's."""
    hub: Hub = request.app.state.hub
    root = hub.settings.server.public_url or str(request.base_url)
    return f"{root.rstrip('/')}{prefix}/"


def _wants_json(params: Mapping[str, str]) -> bool:
    return (params.get("format") or "").strip().lower() == "json"


def error_feed(message: str, as_json: bool) -> Response:
    """DHuS's error feed: HTTP 200 with ``feed.error`` (code 400)."""
    if as_json:
        return Response(opensearch_json.render_error(message), media_type=JSON_TYPE)
    return Response(opensearch_atom.render_error(message), media_type=XML_TYPE)


_REASONS = {400: "Bad Request", 500: "Internal Server Error"}


def error_page(exc: DhusHttpError) -> Response:
    """An HTML error page like the one of DHuS's servlet container."""
    title = f"HTTP Status {exc.status} – {_REASONS.get(exc.status, 'Error')}"
    body = (
        f'<!doctype html><html lang="en"><head><title>{title}</title></head><body>'
        f'<h1>{title}</h1><hr class="line" /><p><b>Type</b> Status Report</p>'
        f"<p><b>Message</b> {html.escape(exc.user_message)}</p>"
        "<p><b>Description</b> The request could not be processed.</p>"
        '<hr class="line" /></body></html>'
    )
    headers = {"cause-message": exc.cause} if exc.cause else None
    return Response(
        body, status_code=exc.status, media_type="text/html;charset=utf-8", headers=headers
    )


async def _params(request: Request) -> dict[str, str]:
    params = decode_params(request.scope.get("query_string", b""))
    if request.method == "POST":
        form = decode_params(await request.body())
        params = {**form, **params}  # the query string wins, as with the servlet API
    return params


def run_search(hub: Hub, params: Mapping[str, str], now: datetime, base: str) -> tuple[bytes, bool]:
    """Parse, search and render (blocking: runs in the thread pool). JSON pages are joined
    from the stored entries (see opensearch_json.ENTRY_DOCUMENT), Atom pages rendered."""
    search = parse_request(params, now)
    started = time.perf_counter()
    page: Page[Any] = (
        hub.catalogue.search_documents(search.query, ENTRY_DOCUMENT.name)
        if search.json
        else hub.catalogue.search(search.query)
    )
    millis = int((time.perf_counter() - started) * 1000)
    feed = build_feed(
        search,
        () if search.json else page.items,
        page.total if page.total is not None else len(page.items),
        base=base,
        seconds=millis / 1000,
        updated=now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z",
        hub_name=HUB_NAME,
    )
    if search.json:
        return opensearch_json.render_feed_of_entries(feed, page.items, base), True
    return opensearch_atom.render_feed(feed), False


@cache
def _takes_request(func: Callable[..., Any]) -> bool:
    return "request" in inspect.signature(func).parameters


async def _resolve(request: Request, dependency: Callable[..., Any]) -> Any:
    """A dependency of the search routes called as FastAPI would call it, overrides included
    (``app.dependency_overrides``: tests pin the clock or the access check with them)."""
    func = request.app.dependency_overrides.get(dependency, dependency)
    result = func(request) if _takes_request(func) else func()
    return await result if inspect.isawaitable(result) else result


def _search_endpoint(prefix: str) -> Callable[[Request], Awaitable[Response]]:
    async def search(request: Request) -> Response:
        """OpenSearch search: ``q``, ``rows``, ``start``, ``orderby``, ``format``."""
        await _resolve(request, search_access)
        now: datetime = await _resolve(request, clock)
        params = await _params(request)
        hub: Hub = request.app.state.hub
        try:
            body, as_json = await run_in_threadpool(
                run_search, hub, params, now, _base(request, prefix)
            )
        except DhusHttpError as exc:
            return error_page(exc)
        except InvalidQuery as exc:
            return error_feed(exc.user_message, _wants_json(params))
        return Response(body, media_type=JSON_TYPE if as_json else XML_TYPE)

    return search


def _description_endpoint(prefix: str) -> Callable[..., Awaitable[Response]]:
    async def description(request: Request) -> Response:
        """The OpenSearch description document."""
        body = opensearch_atom.render_description(_base(request, prefix) + "search", HUB_NAME)
        return Response(body, media_type="application/opensearchdescription+xml")

    return description


router = APIRouter(dependencies=[Depends(search_access)], tags=["DHuS OpenSearch"])
for _prefix in PREFIXES:
    _name = _prefix.strip("/") or "root"
    # A plain Starlette route: FastAPI's request handling (dependency solving, parameter
    # parsing) cost 0.5 ms of the 5 ms CPU of a 100-row page at 1M, and a search declares no
    # parameter for it to check. Not in the OpenAPI document: the OpenSearch description
    # document describes it, as DHuS's does.
    router.add_route(
        f"{_prefix}/search",
        _search_endpoint(_prefix),
        methods=["GET", "POST"],
        name=f"opensearch_{_name}",
        include_in_schema=False,
    )
    for _path, _kind in (("search/description", ""), ("opensearch_description.xml", "_file")):
        # The feeds link the document as "opensearch_description.xml", relative to search.
        router.add_api_route(
            f"{_prefix}/{_path}",
            _description_endpoint(_prefix),
            methods=["GET"],
            name=f"opensearch_description{_kind}_{_name}",
        )
