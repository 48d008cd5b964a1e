"""The OpenAPI 3.0 description of the STAC API (``service-desc``) and a short HTML page
(``service-doc``). Written out here rather than taken from the web framework's generated
schema, which describes every API of the hub and not the STAC parameters."""

from __future__ import annotations

import html
from typing import Any

from eohub.protocols.stac.landing import CONFORMANCE
from eohub.protocols.stac.search import DEFAULT_LIMIT, MAX_LIMIT


def _param(name: str, where: str, description: str, schema: dict[str, Any] | None = None,
           required: bool = False) -> dict[str, Any]:  # fmt: skip
    return {"name": name, "in": where, "required": required, "description": description,
            "schema": schema or {"type": "string"}}  # fmt: skip


_JSON = {"application/json": {"schema": {"type": "object"}}}
_GEOJSON = {"application/geo+json": {"schema": {"type": "object"}}}
_ERROR = {"description": "Bad request", "content": _JSON}


def _ok(content: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"200": {"description": description, "content": content}, "400": _ERROR}


_SEARCH_PARAMS = [
    _param("bbox", "query", "west,south,east,north (or 6 numbers with heights)"),
    _param("intersects", "query", "GeoJSON geometry (JSON text)"),
    _param("datetime", "query", "RFC 3339 instant or interval, open ends .. or empty"),
    _param("ids", "query", "comma-separated Item ids"),
    _param("collections", "query", "comma-separated collection ids"),
    _param(
        "limit",
        "query",
        f"page size (default {DEFAULT_LIMIT}, capped at {MAX_LIMIT})",
        {"type": "integer", "minimum": 1},
    ),  # fmt: skip
    _param("sortby", "query", "+field,-field"),
    _param("fields", "query", "field,-field"),
    _param("filter", "query", "CQL2 filter"),
    _param(
        "filter-lang",
        "query",
        "cql2-text (default) or cql2-json",
        {"type": "string", "enum": ["cql2-text", "cql2-json"]},
    ),  # fmt: skip
    _param("query", "query", "query extension object (JSON text)"),
    _param("q", "query", "free-text terms, comma-separated"),
    _param("cursor", "query", "paging cursor of a next link"),
    _param("token", "query", "an access token or API key (credentials, not paging)"),
]
_COLLECTION = _param("collectionId", "path", "collection id", required=True)
_ITEM = _param("itemId", "path", "Item id (product name)", required=True)


def openapi(stac: str, version: str) -> dict[str, Any]:
    """The OpenAPI document of the API rooted at ``stac``."""
    return {
        "openapi": "3.0.3",
        "info": {"title": "eohub STAC API", "version": version,
                 "description": "Conformance: " + ", ".join(CONFORMANCE)},  # fmt: skip
        "servers": [{"url": stac}],
        "paths": {
            "/": {"get": {"summary": "Landing page", "responses": _ok(_JSON)}},
            "/conformance": {"get": {"summary": "Conformance classes", "responses": _ok(_JSON)}},
            "/api": {"get": {"summary": "This document", "responses": _ok(_JSON)}},
            "/queryables": {"get": {"summary": "Queryables", "responses": _ok(_JSON)}},
            "/collections": {"get": {"summary": "Collections", "responses": _ok(_JSON)}},
            "/collections/{collectionId}": {"get": {
                "summary": "One collection", "parameters": [_COLLECTION],
                "responses": _ok(_JSON)}},
            "/collections/{collectionId}/queryables": {"get": {
                "summary": "Queryables of a collection", "parameters": [_COLLECTION],
                "responses": _ok(_JSON)}},
            "/collections/{collectionId}/items": {"get": {
                "summary": "Items of a collection",
                "parameters": [_COLLECTION, *_SEARCH_PARAMS], "responses": _ok(_GEOJSON)}},
            "/collections/{collectionId}/items/{itemId}": {"get": {
                "summary": "One Item", "parameters": [_COLLECTION, _ITEM],
                "responses": _ok(_GEOJSON)}},
            "/search": {
                "get": {"summary": "Item search", "parameters": _SEARCH_PARAMS,
                        "responses": _ok(_GEOJSON)},
                "post": {"summary": "Item search", "requestBody": {"content": _JSON},
                         "responses": _ok(_GEOJSON)},
            },
        },
    }  # fmt: skip


def service_doc(stac: str) -> str:
    """A short HTML page pointing at the OpenAPI document and the entry points."""
    root = html.escape(stac)
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        "<title>eohub STAC API</title></head><body><h1>eohub STAC API</h1>"
        f'<p>Landing page: <a href="{root}">{root}</a>. OpenAPI description: '
        f'<a href="{root}/api">{root}/api</a>.</p>'
        f"<p>Search: <code>{root}/search?bbox=...&amp;datetime=...&amp;collections=..."
        "&amp;filter=...</code> (GET or POST). See the project documentation, docs/stac.md.</p>"
        "</body></html>"
    )
