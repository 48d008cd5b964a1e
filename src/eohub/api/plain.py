"""eohub's own plain JSON endpoints: health, version, search, one product."""

from __future__ import annotations

import uuid
from typing import Any

import orjson
from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from eohub import __version__
from eohub.api.auth import requires
from eohub.errors import NotFound
from eohub.model.user import Role
from eohub.protocols import plain
from eohub.query.query import Query
from eohub.wiring import Hub

router = APIRouter()
searching = [Depends(requires(Role.SEARCH))]


def _json(body: Any) -> Response:
    return Response(orjson.dumps(body), media_type="application/json")


def _hub(request: Request) -> Hub:
    hub: Hub = request.app.state.hub
    return hub


@router.get("/healthz")
def healthz(request: Request) -> Response:
    """200 when the hub can answer searches; ``search_index`` tells whether the in-memory
    search index is "ready" or still "building" (searches are answered either way)."""
    catalogue = _hub(request).catalogue
    catalogue.search(Query(limit=0))
    return _json({"status": "ok", "search_index": catalogue.prepare_search_index()})


def version() -> Response:
    """DHuS's ``api/stub/version``, answered without credentials (sentinelsat ``--info``)."""
    return _json({"value": __version__})


for _prefix in ("", "/dhus", "/apihub"):
    router.add_api_route(f"{_prefix}/api/stub/version", version, methods=["GET"])


@router.get("/api/search", dependencies=searching)
def search(request: Request) -> Response:
    """Plain JSON search (parameters: see ``eohub.protocols.plain``)."""
    query = plain.parse(dict(request.query_params))
    page = _hub(request).catalogue.search(query)
    return _json(plain.render(page))


@router.get("/api/products/{product_id}", dependencies=searching)
def product(request: Request, product_id: str) -> Response:
    """One product as plain JSON."""
    try:
        pid = uuid.UUID(product_id)
    except ValueError:
        raise NotFound(f"product {product_id!r} not found") from None
    return _json(plain.product_to_dict(_hub(request).catalogue.get(pid)))
