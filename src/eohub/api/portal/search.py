"""The search page at ``/`` (map, area of interest, criteria, results) and its word helper.

The page is HTML plus ``static/js/search.js``: the script reads the form, keeps the search in
the page URL (the plain API parameters, so a URL or a saved search re-runs it), calls
``/api/search`` and draws the results. ``/explain`` turns the same parameters into a sentence
and the equivalent API URLs (plain and DHuS OpenSearch) shown under the results.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from eohub.api.portal import pages
from eohub.api.portal.choices import ChoiceCache, Choices
from eohub.api.portal.opensearch_link import opensearch_link
from eohub.api.portal.pages import render
from eohub.api.portal.session import csrf_token, hub_of, session_user
from eohub.api.portal.wording import describe
from eohub.model.user import Role
from eohub.protocols import plain

router = APIRouter(include_in_schema=False)

MAX_VERTICES = 10_000
"""Largest area of interest the page accepts (vertices); bigger ones get a clear message."""
SEARCH_VERTICES = 500
"""Areas with more vertices are simplified to this many before searching (URL length)."""
PAGE_SIZES = (25, 50, 100)
SORTS = (
    ("-sensing_start", "Sensing date, newest first"),
    ("sensing_start", "Sensing date, oldest first"),
    ("-ingestion_date", "Ingestion date, newest first"),
    ("ingestion_date", "Ingestion date, oldest first"),
    ("cloud_cover", "Cloud cover, least first"),
    ("-cloud_cover", "Cloud cover, most first"),
    ("name", "Name, A to Z"),
    ("-name", "Name, Z to A"),
)


def may_search(request: Request) -> bool:
    """Whether the visitor may search (anonymous search allowed, or a user with SEARCH)."""
    if hub_of(request).settings.auth.anonymous_search:
        return True
    user = session_user(request)
    return user is not None and user.has(Role.SEARCH)


def _choices(request: Request) -> Choices:
    cache = getattr(request.app.state, "portal_choices", None)
    if cache is None:
        cache = ChoiceCache(hub_of(request).catalogue)
        request.app.state.portal_choices = cache
    found: Choices = cache.get()
    return found


@router.get("/")
def search_page(request: Request) -> Response:
    """The search page; the script runs the search in the URL's query string, if any."""
    settings = hub_of(request).settings
    allowed = may_search(request)
    user = session_user(request)
    config: dict[str, Any] = {
        "canSearch": allowed,
        "loggedIn": user is not None,
        "csrfToken": csrf_token(request),
        "tileUrl": settings.portal.tile_url,
        "tileAttribution": settings.portal.tile_attribution,
        "vendorReady": pages.vendor_ready(),
        "maxVertices": MAX_VERTICES,
        "searchVertices": SEARCH_VERTICES,
        "pageSizes": list(PAGE_SIZES),
        "maxRows": plain.MAX_LIMIT,
    }
    return render(request, "search.html", config=config, can_search=allowed,
                  choices=_choices(request) if allowed else Choices(),
                  sorts=SORTS, page_sizes=PAGE_SIZES)  # fmt: skip


@router.get("/explain")
def explain(request: Request) -> Response:
    """Plain search parameters -> ``{"sentence", "api", "opensearch", "opensearch_note"}``.

    Invalid parameters get the plain API's 400 answer (the same message the search gives).
    """
    params = dict(request.query_params)
    query = plain.parse(params)
    link = opensearch_link(query)
    body = {
        "sentence": describe(query),
        "api": "/api/search" + (f"?{request.url.query}" if request.url.query else ""),
        "opensearch": link.url,
        "opensearch_note": link.note,
    }
    return JSONResponse(body, headers={"Cache-Control": "no-store"})
