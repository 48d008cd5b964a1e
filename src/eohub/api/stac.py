"""The STAC API at ``/stac``: landing page, collections, items and item search (GET, POST).

Requests are parsed and documents rendered by :mod:`eohub.protocols.stac`; this module reads
HTTP, asks :func:`authorize` for the SEARCH role, runs the catalogue in the thread pool and
answers every error as STAC's ``{"code", "description"}`` document (400 for bad parameters, 404
for unknown collections and Items), never the plain envelope.
"""

from __future__ import annotations

import json
import logging
import urllib.parse
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from eohub import __version__
from eohub.api.auth import authorize, challenge_headers, is_access_error
from eohub.api.errors import status_of
from eohub.errors import HubError, InvalidQuery, NotFound
from eohub.model.user import Role
from eohub.protocols.stac import collections, items, landing, openapi, queryables
from eohub.protocols.stac.extents import Extents
from eohub.protocols.stac.files import product_files
from eohub.protocols.stac.search import PAGING_QUERY, Search, parse_search
from eohub.query.query import Query
from eohub.query.tree import In, and_
from eohub.wiring import Hub

log = logging.getLogger("eohub.api.stac")
PREFIX = "/stac"
MAX_BODY = 1 << 20  # a POST search larger than 1 MiB is refused
_EXTENTS = "eohub_stac_extents"

router = APIRouter(tags=["STAC"])


def _hub(request: Request) -> Hub:
    hub: Hub = request.app.state.hub
    return hub


def _urls(request: Request) -> items.Urls:
    public = _hub(request).settings.server.public_url
    hub = (public or str(request.base_url)).rstrip("/")
    return items.Urls(stac=f"{hub}{PREFIX}", hub=hub)


def _extents(request: Request) -> Extents:
    state = request.app.state
    found = getattr(state, _EXTENTS, None)
    if found is None:
        found = Extents(_hub(request).catalogue.search)
        setattr(state, _EXTENTS, found)
    assert isinstance(found, Extents)
    return found


def stac_error(request: Request, error: HubError) -> JSONResponse:
    """STAC API's error document with the error's status (and access headers)."""
    status = status_of(error)
    headers = challenge_headers(request, error) if is_access_error(error) else None
    if status >= 500:
        log.error("STAC request %s failed: %s", request.url.path, error.detail)
    body = {"code": error.code, "description": error.user_message}
    return JSONResponse(body, status_code=status, headers=headers)


Handler = Callable[[Request], Awaitable[Response]]


def _guarded(handler: Handler) -> Handler:
    """Authorize, run, and turn every error into a STAC error document."""

    async def endpoint(request: Request) -> Response:
        try:
            await authorize(request, Role.SEARCH)
            return await handler(request)
        except HubError as exc:
            return stac_error(request, exc)
        except Exception:  # a bug must still answer in the API's own shape
            log.exception("STAC request %s failed", request.url.path)
            body = {"code": "internal_error", "description": "Internal server error"}
            return JSONResponse(body, status_code=500)

    endpoint.__name__ = handler.__name__
    endpoint.__doc__ = handler.__doc__
    return endpoint


def _json(body: Any, media_type: str = landing.JSON) -> Response:
    # orjson: several times faster than the standard encoder on a page of items.
    return Response(orjson.dumps(body), media_type=media_type)


# -- service documents ------------------------------------------------------------------------


async def landing_page(request: Request) -> Response:
    """The landing page."""
    return _json(landing.landing_page(_urls(request).stac, "eohub STAC API"))


async def conformance(request: Request) -> Response:
    """The conformance classes."""
    return _json(landing.conformance())


async def service_desc(request: Request) -> Response:
    """The OpenAPI 3.0 description."""
    return _json(openapi.openapi(_urls(request).stac, __version__), landing.OPENAPI)


async def service_doc(request: Request) -> Response:
    """A short HTML description."""
    return HTMLResponse(openapi.service_doc(_urls(request).stac))


async def all_queryables(request: Request) -> Response:
    """Queryables of every collection."""
    url = f"{_urls(request).stac}/queryables"
    return _json(queryables.queryables(url), landing.SCHEMA_JSON)


async def collection_queryables(request: Request) -> Response:
    """Queryables of one collection."""
    cid = collections.get(request.path_params["collection_id"]).id
    url = f"{_urls(request).stac}/collections/{cid}/queryables"
    return _json(queryables.queryables(url, cid), landing.SCHEMA_JSON)


# -- collections ------------------------------------------------------------------------------


async def all_collections(request: Request) -> Response:
    """Every STAC collection of the table, with extents from the catalogue."""
    stac, extents = _urls(request).stac, _extents(request)

    def build() -> list[dict[str, Any]]:
        return [landing.collection_document(stac, c, extents.get(c.id))
                for c in collections.TABLE]  # fmt: skip

    documents = await run_in_threadpool(build)
    return _json(landing.collections_document(stac, documents))


async def one_collection(request: Request) -> Response:
    """One collection."""
    collection = collections.get(request.path_params["collection_id"])
    extent = await run_in_threadpool(_extents(request).get, collection.id)
    return _json(landing.collection_document(_urls(request).stac, collection, extent))


# -- items ------------------------------------------------------------------------------------


def _run(hub: Hub, search: Search, urls: items.Urls) -> tuple[list[Any], int, str | None]:
    if search.include is None and not search.exclude and items.serves_stored(urls):
        # Whole Items: read as stored (see items.ITEM_DOCUMENT), not rendered.
        stored = hub.catalogue.search_documents(search.query, items.ITEM_DOCUMENT.name)
        found = [items.stored_item(document, urls) for document in stored.items]
        total = stored.total if stored.total is not None else len(found)
        token = stored.next.encode() if stored.next is not None and found else None
        return found, total, token
    page = hub.catalogue.search(search.query)
    features: list[Any] = []
    for product in page.items:
        item = items.render_item(product, urls)
        if search.include is not None or search.exclude:
            items.apply_fields(item, search.include, search.exclude)
        features.append(item)
    total = page.total if page.total is not None else len(features)
    token = page.next.encode() if page.next is not None and features else None
    return features, total, token


def _collection_page(
    features: list[Any], total: int, links: list[dict[str, Any]]
) -> dict[str, Any]:
    return {
        "type": "FeatureCollection",
        "features": features,
        "links": links,
        "numberMatched": total,
        "numberReturned": len(features),
    }


def _query_params(request: Request) -> dict[str, str]:
    params: dict[str, str] = {}
    for key, value in request.query_params.multi_items():
        if key in params:
            raise InvalidQuery(f"parameter '{key}' given more than once", field=key)
        params[key] = value
    return params


def _get_links(request: Request, params: dict[str, str], token: str | None) -> list[Any]:
    base = f"{_urls(request).hub}{request.url.path}"
    query = urllib.parse.urlencode(params)
    links: list[dict[str, Any]] = [
        {"rel": "self", "href": f"{base}?{query}" if query else base, "type": landing.GEOJSON},
        {"rel": "root", "href": _urls(request).stac, "type": landing.JSON},
    ]
    if token is not None:
        nxt = urllib.parse.urlencode({**params, PAGING_QUERY: token})
        links.append({"rel": "next", "href": f"{base}?{nxt}", "type": landing.GEOJSON,
                      "method": "GET"})  # fmt: skip
    return links


async def _get_search(request: Request, collection: str | None) -> Response:
    params = _query_params(request)
    search = parse_search(params, collection=collection)
    features, total, token = await run_in_threadpool(_run, _hub(request), search, _urls(request))
    params.pop(PAGING_QUERY, None)  # a ``token`` (credentials) stays: the next page needs it
    links = _get_links(request, params, token)
    return _json(_collection_page(features, total, links), landing.GEOJSON)


async def search_get(request: Request) -> Response:
    """Item search (GET)."""
    return await _get_search(request, None)


async def search_post(request: Request) -> Response:
    """Item search (POST, JSON body)."""
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise InvalidQuery("request body too large", field="body")
    try:
        body = json.loads(raw) if raw.strip() else {}
    except ValueError:
        raise InvalidQuery("the request body is not valid JSON", field="body") from None
    if not isinstance(body, dict):
        raise InvalidQuery("the request body must be a JSON object", field="body")
    search = parse_search(body, post=True)
    urls = _urls(request)
    features, total, token = await run_in_threadpool(_run, _hub(request), search, urls)
    links: list[dict[str, Any]] = [
        {"rel": "root", "href": urls.stac, "type": landing.JSON},
    ]
    if token is not None:
        links.append({"rel": "next", "href": f"{urls.stac}/search", "type": landing.GEOJSON,
                      "method": "POST", "body": {**search.raw, "token": token},
                      "merge": False})  # fmt: skip
    return _json(_collection_page(features, total, links), landing.GEOJSON)


async def collection_items(request: Request) -> Response:
    """Items of one collection (``bbox``, ``datetime``, ``limit``, ``token`` and the rest of
    the search parameters but ``collections``)."""
    collection = collections.get(request.path_params["collection_id"])
    return await _get_search(request, collection.id)


def _find_item(hub: Hub, collection_id: str, item_id: str, urls: items.Urls) -> dict[str, Any]:
    where = and_(collections.tree(collections.get(collection_id)), In("name", (item_id,)))
    page = hub.catalogue.search(Query(filter=where, limit=1))
    if not page.items:
        raise NotFound(f"Item '{item_id}' not found in collection '{collection_id}'")
    product = page.items[0]
    files = product_files(product, hub.store.open_file, hub.catalogue.files(product))
    return items.render_item(product, urls, files=files)


async def one_item(request: Request) -> Response:
    """One Item, with one asset per file of a stored zipped product."""
    item = await run_in_threadpool(
        _find_item, _hub(request), request.path_params["collection_id"],
        request.path_params["item_id"], _urls(request),
    )  # fmt: skip
    return _json(item, landing.GEOJSON)


def _route(path: str, handler: Handler, method: str = "GET") -> None:
    router.add_api_route(f"{PREFIX}{path}", _guarded(handler), methods=[method],
                         name=f"stac_{handler.__name__}_{method.lower()}")  # fmt: skip


_route("", landing_page)
_route("/", landing_page)
_route("/conformance", conformance)
_route("/api", service_desc)
_route("/api.html", service_doc)
_route("/queryables", all_queryables)
_route("/collections", all_collections)
_route("/collections/{collection_id}", one_collection)
_route("/collections/{collection_id}/queryables", collection_queryables)
_route("/collections/{collection_id}/items", collection_items)
_route("/collections/{collection_id}/items/{item_id}", one_item)
_route("/search", search_get)
_route("/search", search_post, "POST")
